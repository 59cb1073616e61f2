//! The analyses' inputs besides the submissions: the units and their reference data, the
//! thresholds scaled to whole numbers (`params`), the months' deadlines, the rules' and
//! severities' names, the soft checks, the files rejected — each a small DataFrame the SQL joins.

use super::*;

/// The reference table `units`: the pipeline's units in plan order.
pub fn units_frame(pipeline: &Pipeline) -> PolarsResult<DataFrame> {
    let u = &pipeline.units;
    df!(
        "ord" => (0..u.len() as i64).collect::<Vec<_>>(),
        "unit_code" => u.iter().map(|x| x.code.clone()).collect::<Vec<_>>(),
        "unit_name" => u.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        "target" => u.iter().map(|x| x.target).collect::<Vec<_>>(),
        "population" => u.iter().map(|x| x.population).collect::<Vec<_>>(),
        "whole_city" => u.iter().map(|x| x.whole_city).collect::<Vec<_>>(),
        "budget" => u.iter().map(|x| x.budget).collect::<Vec<_>>(),
        "budget_derived" => u.iter().map(|x| x.budget_derived).collect::<Vec<_>>(),
        "carry_over" => u.iter().map(|x| x.carry_over).collect::<Vec<_>>(),
    )
}

/// The one-row table `params`: the period, the as-of time, and the thresholds.
pub fn params_frame(
    pipeline: &Pipeline,
    period: Period,
    as_of: &DateTime<Tz>,
    rejected_after: Option<DateTime<Tz>>,
) -> PolarsResult<DataFrame> {
    let a = &pipeline.def.alerts;
    let r = &pipeline.def.review;
    let deadline = pipeline.deadline(period);
    df!(
        "year" => [i64::from(period.year())],
        "month" => [i64::from(period.month())],
        "period" => [period.to_string()],
        "period_zh" => [period.zh()],
        "area" => [pipeline.area()],
        "year_start" => [period.january().to_string()],
        "as_of" => [period::instant_text(as_of)],
        "as_of_zh" => [period::instant_zh(as_of)],
        "deadline" => [period::instant_text(&deadline)],
        "deadline_zh" => [pipeline.deadline_zh(period)],
        "per_case_standard" => [pipeline.def.funding.per_case_standard],
        // The months due: a report made before the month's deadline (暂定) judges months 1..m−1
        // only — the month itself is not late and not behind until its deadline has passed.
        "due_month" => [i64::from(due_month(pipeline, period, as_of))],
        // 到位率 is judged against the schedule of the last checkpoint due (0: none yet).
        // (December's is the year's 100% whenever the report is made: the year's review reads it.)
        "arrival_month" => [i64::from(if period.month() == 12 { 12 } else { pipeline.def.funding.arrival_month(due_month(pipeline, period, as_of)) })],
        "behind_warning" => [a.behind_schedule_warning_pp / 100.0],
        "behind_critical" => [a.behind_schedule_critical_pp / 100.0],
        "case_share_min" => [a.case_share_min],
        // The same thresholds as whole numbers, for exact comparisons (SPEC §4): basis points
        // (1 pp = 100 bp), 分, thousandths, and doubled medians (a median is a whole or a half).
        "per_case_standard_fen" => [scaled(pipeline.def.funding.per_case_standard, 100.0)],
        "behind_warning_bp" => [scaled(a.behind_schedule_warning_pp, 100.0)],
        "behind_critical_bp" => [scaled(a.behind_schedule_critical_pp, 100.0)],
        "case_share_min_bp" => [scaled(a.case_share_min, 10_000.0)],
        "spike_z_milli" => [scaled(a.spike_z, 1000.0)],
        "spike_min_history" => [i64::from(a.spike_min_history)],
        "spike_zero_median2" => [scaled(a.spike_zero_median, 2.0)],
        "spike_mad_floor2" => [scaled(a.spike_mad_floor, 2.0)],
        "spike_above_milli" => [scaled(a.spike_above_largest, 1000.0)],
        "spike_below_milli" => [scaled(a.spike_below_smallest, 1000.0)],
        // The year's review (sql/review/): its own thresholds, in basis points.
        "review_completion_bp" => [scaled(r.completion_min, 10_000.0)],
        "review_satisfaction_bp" => [scaled(r.satisfaction_min, 10_000.0)],
        "review_complaint_bp" => [scaled(r.complaint_resolution_min, 10_000.0)],
        // `rejected` lists the files rejected after this instant (the as-of time of the last
        // digest that reached anyone; empty: none was sent, so every rejection is news).
        "rejected_after" => [rejected_after.map(|t| period::instant_text(&t)).unwrap_or_default()],
        // The previous year (sql/03_last_year.sql) and the spike rule's band around last year's
        // same month (thousandths).
        "last_year_start" => [period.a_year_earlier().january().to_string()],
        "last_year_end" => [period.a_year_earlier().december().to_string()],
        "spike_last_year_milli" => [scaled(a.spike_last_year_band, 1000.0)],
    )
}

/// The months of `period`'s year that are due as of `as_of`: m after its deadline, m − 1 before
/// (`Period::is_due`; a report made then is 暂定, `report::draft`).
pub(crate) fn due_month(
    pipeline: &Pipeline,
    period: Period,
    as_of: &chrono::DateTime<chrono_tz::Tz>,
) -> u32 {
    if pipeline.is_due(period, as_of) {
        period.month()
    } else {
        period.month() - 1
    }
}

/// The table `last_year_units`: the previous year's units and the open cases they carried over
/// into it (none without a previous year).
pub(super) fn last_year_units_frame(pipeline: &Pipeline) -> PolarsResult<DataFrame> {
    let units: &[crate::config::Unit] = pipeline.previous.as_deref().map_or(&[], |p| &p.units);
    df!(
        "unit_code" => units.iter().map(|u| u.code.clone()).collect::<Vec<_>>(),
        "carry_over" => units.iter().map(|u| u.carry_over).collect::<Vec<_>>(),
    )
}

/// The table `deadlines`: each month of the report's year, its deadline (the year's review
/// counts the months reported late) and the month it is collected in (`2025-07` for June).
pub fn deadlines_frame(pipeline: &Pipeline, year: i32) -> PolarsResult<DataFrame> {
    let months: Vec<Period> = (1..=12).filter_map(|m| Period::new(year, m)).collect();
    df!(
        "month_num" => months.iter().map(|p| i64::from(p.month())).collect::<Vec<_>>(),
        "deadline" => months.iter().map(|p| period::instant_text(&pipeline.deadline(*p))).collect::<Vec<_>>(),
        "collected_in" => months.iter().map(|p| p.next().to_string()).collect::<Vec<_>>(),
    )
}

/// A threshold as a whole number of `unit`s (rounded: 5.0 pp → 500 bp, 0.70 → 7000 bp).
pub(super) fn scaled(value: f64, unit: f64) -> i64 {
    (value * unit).round() as i64
}

/// The table `rejections`: files rejected in whole or in part.
pub fn rejections_frame(files: &[FileEntry]) -> PolarsResult<DataFrame> {
    let r: Vec<&FileEntry> = files
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Rejected | Outcome::Partial))
        .collect();
    df!(
        "file_name" => r.iter().map(|f| f.file_name.clone()).collect::<Vec<_>>(),
        "arrived_at" => r.iter().map(|f| f.arrived_at.to_string()).collect::<Vec<_>>(),
        "outcome" => r.iter().map(|f| f.outcome.as_str()).collect::<Vec<_>>(),
        "rows_rejected" => r.iter().map(|f| f.rows_rejected).collect::<Vec<_>>(),
        "unit_codes" => r.iter().map(|f| f.unit_codes_text()).collect::<Vec<_>>(),
        "periods" => r.iter().map(|f| f.periods_text()).collect::<Vec<_>>(),
        "first_problem" => r.iter().map(|f| {
            // Drop the file name that starts each line: the message names the file already.
            let line = f.problems.lines().next().unwrap_or("");
            line.strip_prefix(&format!("{} ", f.file_name)).unwrap_or(line).to_string()
        }).collect::<Vec<_>>(),
        "problem_count" => r.iter().map(|f| f.problems.lines().count() as i64).collect::<Vec<_>>(),
    )
}

/// The table `backfilled`: the files the data staff typed in for a backlog (补录), by SHA-256.
pub(super) fn backfilled_frame(files: &[FileEntry]) -> PolarsResult<DataFrame> {
    df!(
        "sha256" => files
            .iter()
            .filter(|f| f.door == Some(crate::door::Door::Backfill))
            .map(|f| f.sha256.clone())
            .collect::<Vec<_>>(),
    )
}

pub(super) fn rules_frame() -> PolarsResult<DataFrame> {
    df!(
        "rule" => RULES.map(|r| r.0).to_vec(),
        "rule_zh" => RULES.map(|r| r.1).to_vec(),
    )
}

/// The `soft_checks` reference table: the pipeline's soft checks with their wording filled in
/// and their thresholds as thousandths (for exact comparisons).
pub(super) fn soft_checks_frame(pipeline: &Pipeline) -> PolarsResult<DataFrame> {
    let c = &pipeline.def.soft_checks;
    df!(
        "check_id" => c.iter().map(|x| x.id.clone()).collect::<Vec<_>>(),
        "wording" => c.iter().map(|x| format::fill(&x.wording, None, Some(x.threshold))).collect::<Vec<_>>(),
        "threshold_milli" => c.iter().map(|x| scaled(x.threshold, 1000.0)).collect::<Vec<_>>(),
        // The smallest sample each judges (doubled median, as check_facts keeps it).
        "min_surveyed" => c.iter().map(|x| i64::from(x.sample().min_surveyed)).collect::<Vec<_>>(),
        "min_dissatisfied" => c.iter().map(|x| i64::from(x.sample().min_dissatisfied)).collect::<Vec<_>>(),
        "min_median2" => c.iter().map(|x| scaled(x.sample().min_median, 2.0)).collect::<Vec<_>>(),
    )
}

/// The `severities` reference table the alerts SQL joins.
pub(super) fn severities_frame() -> PolarsResult<DataFrame> {
    df!(
        "severity" => Severity::ALL.map(Severity::code).to_vec(),
        "severity_zh" => Severity::ALL.map(Severity::zh).to_vec(),
        "severity_order" => Severity::ALL.map(Severity::order).to_vec(),
    )
}
