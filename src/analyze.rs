//! The plan's indicators and alerts, as the SQL files in `sql/` run by polars over the stored
//! submissions and the pipeline's reference data.
//!
//! Invariant: pure — (submissions, files seen, reference data, period, as-of, the rows the last
//! report used) in, DataFrames out; no files, no network, no clock. The SQL files are embedded
//! at build time and run in file-name order; each result is registered under its name (the file
//! name without its number prefix and `.sql`) for the files after it.

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::format;
use crate::period::{self, Period};
use crate::schema::{FIELDS, Kind};
use crate::store::{FileEntry, Outcome, meta};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;
use polars::sql::SQLContext;
use std::collections::{BTreeMap, HashMap};

include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));

/// How a column is shown in the workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Text,
    Int,
    Number,
    Money,
    Percent,
    /// A difference of fractions, shown in percentage points.
    Pp,
    Bool,
    /// An RFC 3339 instant, shown as `2025-07-06 09:00`.
    Time,
    /// A requirement met or not: `true`/`pass` shown as 达标, `false`/`fail` as 未达标.
    Verdict,
}

#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub key: String,
    pub label: String,
    pub fmt: Fmt,
}

/// One SQL file: its name, text, and the declared outputs from its header comments
/// (`-- twin: x.csv`, `-- column: key | 中文列名 | fmt`).
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub sql: &'static str,
    pub twin: Option<String>,
    pub columns: Vec<ColumnSpec>,
    /// `-- requires: previous`: shown (sheet, twin) only for a pipeline that names the previous
    /// year's.
    pub requires_previous: bool,
}

/// The embedded SQL files, with their headers parsed. A malformed header is an error naming
/// the file and line.
pub fn queries() -> Result<Vec<Query>> {
    SQL_FILES
        .iter()
        .map(|(file, sql)| parse_query(file, sql))
        .collect()
}

/// The year's review (`sql/review/*.sql`): run after every other analysis of a December report.
pub fn review_queries() -> Result<Vec<Query>> {
    REVIEW_SQL_FILES
        .iter()
        .map(|(file, sql)| parse_query(file, sql))
        .collect()
}

fn parse_query(file: &str, sql: &'static str) -> Result<Query> {
    let stem = file.trim_end_matches(".sql");
    let name = match stem.split_once('_') {
        Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => stem,
    }
    .to_string();
    let bad = |line: usize, why: &str| Error::Analysis {
        query: file.to_string(),
        message: format!("line {}: {why}", line + 1),
    };
    let mut twin = None;
    let mut columns = Vec::new();
    let mut requires_previous = false;
    for (i, line) in sql.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("--") else {
            continue;
        };
        let rest = rest.trim();
        if let Some(t) = rest.strip_prefix("twin:") {
            twin = Some(t.trim().to_string());
        } else if rest == "requires: previous" {
            requires_previous = true;
        } else if rest == "columns: submission fields" {
            // The submission's fields, from the one list of them (schema.rs).
            columns.extend(crate::schema::FIELDS.iter().map(|f| ColumnSpec {
                key: f.key.to_string(),
                label: f.label.to_string(),
                fmt: match f.kind {
                    Kind::Count => Fmt::Int,
                    Kind::Money => Fmt::Money,
                    _ => Fmt::Text,
                },
            }));
        } else if let Some(c) = rest.strip_prefix("column:") {
            let parts: Vec<&str> = c.split('|').map(str::trim).collect();
            let [key, label, fmt] = parts.as_slice() else {
                return Err(bad(i, "expected `-- column: key | 中文列名 | fmt`"));
            };
            let fmt = match *fmt {
                "text" => Fmt::Text,
                "int" => Fmt::Int,
                "number" => Fmt::Number,
                "money" => Fmt::Money,
                "percent" => Fmt::Percent,
                "pp" => Fmt::Pp,
                "bool" => Fmt::Bool,
                "time" => Fmt::Time,
                "verdict" => Fmt::Verdict,
                other => {
                    return Err(bad(
                        i,
                        &format!(
                            "unknown format {other:?} (text, int, number, money, percent, pp, bool, time, verdict)"
                        ),
                    ));
                }
            };
            columns.push(ColumnSpec {
                key: key.to_string(),
                label: label.to_string(),
                fmt,
            });
        }
    }
    Ok(Query {
        name,
        sql,
        twin,
        columns,
        requires_previous,
    })
}

/// Everything an analysis needs.
pub struct Inputs<'a> {
    pub pipeline: &'a Pipeline,
    pub period: Period,
    pub as_of: DateTime<Tz>,
    /// Every stored version (the store's rows table).
    pub submissions: &'a DataFrame,
    /// Every file seen (for the `rejected` alert).
    pub files: &'a [FileEntry],
    /// Which version of each (unit, month) leadership has already been sent (digests that reached
    /// anyone, latest first); `None` when nothing was sent yet.
    pub previous: Option<&'a [UsedRow]>,
    /// Alerts about the machinery rather than the data (failed sources, failed jobs).
    pub extra_alerts: Vec<Alert>,
    /// The as-of time of the last digest that reached anyone before this one: files rejected
    /// after it are news (`None`: nothing was sent yet).
    pub rejected_after: Option<DateTime<Tz>>,
    /// The previous year's stored rows (the store of `pipeline.previous`), for the
    /// year-over-year columns, the carry-over proposal and the spike rule.
    pub last_year: Option<&'a DataFrame>,
}

/// Which version of a (unit, month) a report used (recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsedRow {
    pub unit_code: String,
    pub period: String,
    pub version: i64,
    pub sha256: String,
}

/// The frames of one analysis, by name (completion, per100k, funding, quality, monthly,
/// submissions, alerts, used, …), with the queries that made them.
pub struct Analysis {
    pub frames: BTreeMap<String, DataFrame>,
    pub queries: Vec<Query>,
}

impl Analysis {
    pub fn frame(&self, name: &str) -> Result<&DataFrame> {
        self.frames.get(name).ok_or_else(|| Error::Analysis {
            query: name.to_string(),
            message: "no such result (is the sql/ file missing?)".into(),
        })
    }

    pub fn query(&self, name: &str) -> Option<&Query> {
        self.queries.iter().find(|q| q.name == name)
    }

    /// The rows used, as recorded in the manifest.
    pub fn used_rows(&self) -> Result<Vec<UsedRow>> {
        let df = self.frame("used")?;
        let err = |e: PolarsError| Error::Analysis {
            query: "used".into(),
            message: e.to_string(),
        };
        let s = |n: &str| -> Result<Vec<String>> {
            Ok(df
                .column(n)
                .and_then(|c| c.str().cloned())
                .map_err(err)?
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect())
        };
        let (units, periods, shas) = (s("unit_code")?, s("period")?, s(meta::SHA256)?);
        let versions: Vec<i64> = df
            .column(meta::VERSION)
            .and_then(|c| c.i64().cloned())
            .map_err(err)?
            .iter()
            .map(|v| v.unwrap_or_default())
            .collect();
        Ok((0..df.height())
            .map(|k| UsedRow {
                unit_code: units[k].clone(),
                period: periods[k].clone(),
                version: versions[k],
                sha256: shas[k].clone(),
            })
            .collect())
    }
}

/// A soft check still waiting for the county's 说明 (sql/17_checks.sql).
#[derive(Debug, Clone, PartialEq)]
pub struct Unexplained {
    pub unit_code: String,
    pub unit_name: String,
    /// `7月 本月满意度低于90%（满意 7 人，回访 8 人）`.
    pub text: String,
}

impl Analysis {
    /// Every soft check of months 1..m not yet explained, in plan and month order.
    pub fn unexplained_checks(&self) -> Result<Vec<Unexplained>> {
        let df = self.frame("checks")?;
        let err = |e: PolarsError| Error::Analysis {
            query: "checks".into(),
            message: e.to_string(),
        };
        let text = |n: &str| -> Result<Vec<String>> {
            Ok(crate::frame::strings(df, n)
                .map_err(err)?
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect())
        };
        let (codes, names, months) = (text("unit_code")?, text("unit_name")?, text("month_num")?);
        let (checks, details) = (text("check_text")?, text("detail")?);
        let explained: Vec<bool> = df
            .column("explained")
            .and_then(|c| {
                c.bool()
                    .map(|b| b.iter().map(|v| v.unwrap_or(false)).collect())
            })
            .map_err(err)?;
        Ok((0..df.height())
            .filter(|&k| !explained[k])
            .map(|k| Unexplained {
                unit_code: codes[k].clone(),
                unit_name: names[k].clone(),
                text: format!("{}月 {}（{}）", months[k], checks[k], details[k]),
            })
            .collect())
    }
}

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
    let deadline = period.deadline(pipeline.def.submission.deadline_day);
    df!(
        "year" => [i64::from(period.year)],
        "month" => [i64::from(period.month)],
        "period" => [period.to_string()],
        "period_zh" => [period.zh()],
        "year_start" => [Period { year: period.year, month: 1 }.to_string()],
        "as_of" => [period::instant_text(as_of)],
        "as_of_zh" => [period::instant_zh(as_of)],
        "deadline" => [period::instant_text(&deadline)],
        "deadline_zh" => [period::deadline_zh(&deadline)],
        "per_case_standard" => [pipeline.def.funding.per_case_standard],
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
        "last_year_start" => [Period { year: period.year - 1, month: 1 }.to_string()],
        "last_year_end" => [Period { year: period.year - 1, month: 12 }.to_string()],
        "spike_last_year_milli" => [scaled(a.spike_last_year_band, 1000.0)],
    )
}

/// The table `last_year_units`: the previous year's units and the open cases they carried over
/// into it (none without a previous year).
fn last_year_units_frame(pipeline: &Pipeline) -> PolarsResult<DataFrame> {
    let units: &[crate::config::Unit] = pipeline.previous.as_deref().map_or(&[], |p| &p.units);
    df!(
        "unit_code" => units.iter().map(|u| u.code.clone()).collect::<Vec<_>>(),
        "carry_over" => units.iter().map(|u| u.carry_over).collect::<Vec<_>>(),
    )
}

/// The table `deadlines`: each month of the report's year and its deadline (the year's review
/// counts the months reported late).
pub fn deadlines_frame(pipeline: &Pipeline, year: i32) -> PolarsResult<DataFrame> {
    let day = pipeline.def.submission.deadline_day;
    let months: Vec<Period> = (1..=12).filter_map(|m| Period::new(year, m)).collect();
    df!(
        "month_num" => months.iter().map(|p| i64::from(p.month)).collect::<Vec<_>>(),
        "deadline" => months.iter().map(|p| period::instant_text(&p.deadline(day))).collect::<Vec<_>>(),
    )
}

/// A threshold as a whole number of `unit`s (rounded: 5.0 pp → 500 bp, 0.70 → 7000 bp).
fn scaled(value: f64, unit: f64) -> i64 {
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
        "arrived_at" => r.iter().map(|f| f.arrived_at.clone()).collect::<Vec<_>>(),
        "outcome" => r.iter().map(|f| f.outcome.as_str()).collect::<Vec<_>>(),
        "rows_rejected" => r.iter().map(|f| f.rows_rejected).collect::<Vec<_>>(),
        "unit_codes" => r.iter().map(|f| f.unit_codes.clone()).collect::<Vec<_>>(),
        "first_problem" => r.iter().map(|f| {
            // Drop the file name that starts each line: the message names the file already.
            let line = f.problems.lines().next().unwrap_or("");
            line.strip_prefix(&format!("{} ", f.file_name)).unwrap_or(line).to_string()
        }).collect::<Vec<_>>(),
        "problem_count" => r.iter().map(|f| f.problems.lines().count() as i64).collect::<Vec<_>>(),
    )
}

/// Stack for the thread that plans and runs the SQL: polars' planner recurses deeply over a
/// query as large as `alerts.sql` (past the 2 MiB of a test or tokio worker thread in a debug
/// build).
const ANALYSIS_STACK: usize = 64 << 20;

/// Runs every SQL file, then adds the `restated` alerts and fills in the alert messages.
pub fn analyze(inputs: &Inputs) -> Result<Analysis> {
    analyze_only(inputs, None)
}

/// Runs only the SQL files the named analyses read (e.g. `submissions` and `checks` for who has
/// reported and what waits for a 说明), in order: the same rules, without the work no one asked
/// for. `None`: everything.
pub fn analyze_only(inputs: &Inputs, wanted: Option<&[&str]>) -> Result<Analysis> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("analyze".into())
            .stack_size(ANALYSIS_STACK)
            .spawn_scoped(scope, || analyze_here(inputs, wanted))
            .map_err(|e| Error::Analysis {
                query: "(thread)".into(),
                message: e.to_string(),
            })?
            .join()
            .map_err(|_| Error::Analysis {
                query: "(thread)".into(),
                message: "the analysis panicked".into(),
            })?
    })
}

/// The names a query's SQL mentions (its words), to find what it reads.
fn words(sql: &str) -> std::collections::HashSet<&str> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

fn analyze_here(inputs: &Inputs, wanted: Option<&[&str]>) -> Result<Analysis> {
    let mut queries = queries()?;
    // A December report is also the year's review.
    if inputs.period.month == 12 {
        queries.extend(review_queries()?);
    }
    // 同比 only for a pipeline that names the previous year's.
    if inputs.pipeline.previous.is_none() {
        queries.retain(|q| !q.requires_previous);
    }
    if let Some(wanted) = wanted {
        // What the wanted ones read, and what that reads, back to the inputs.
        let mut needed: std::collections::HashSet<String> = std::collections::HashSet::new();
        for w in wanted {
            if !queries.iter().any(|q| q.name == *w) {
                return Err(Error::Analysis {
                    query: w.to_string(),
                    message: "no such analysis".into(),
                });
            }
            needed.insert(w.to_string());
        }
        for (k, q) in queries.iter().enumerate().rev() {
            if needed.contains(&q.name) {
                let read = words(q.sql);
                for earlier in &queries[..k] {
                    if read.contains(earlier.name.as_str()) {
                        needed.insert(earlier.name.clone());
                    }
                }
            }
        }
        queries.retain(|q| needed.contains(&q.name));
    }
    let err = |q: &str| {
        let q = q.to_string();
        move |e: PolarsError| Error::Analysis {
            query: q.clone(),
            message: e.to_string(),
        }
    };
    let mut ctx = SQLContext::new();
    ctx.register("submissions", inputs.submissions.clone().lazy());
    // Without a previous year, the same columns and no rows.
    ctx.register(
        "last_year_submissions",
        inputs
            .last_year
            .cloned()
            .unwrap_or_else(|| inputs.submissions.clear())
            .lazy(),
    );
    ctx.register(
        "last_year_units",
        last_year_units_frame(inputs.pipeline)
            .map_err(err("last_year_units"))?
            .lazy(),
    );
    ctx.register(
        "units",
        units_frame(inputs.pipeline).map_err(err("units"))?.lazy(),
    );
    ctx.register(
        "params",
        params_frame(
            inputs.pipeline,
            inputs.period,
            &inputs.as_of,
            inputs.rejected_after,
        )
        .map_err(err("params"))?
        .lazy(),
    );
    ctx.register(
        "severities",
        severities_frame().map_err(err("severities"))?.lazy(),
    );
    ctx.register("rules", rules_frame().map_err(err("rules"))?.lazy());
    ctx.register(
        "deadlines",
        deadlines_frame(inputs.pipeline, inputs.period.year)
            .map_err(err("deadlines"))?
            .lazy(),
    );
    ctx.register(
        "soft_checks",
        soft_checks_frame(inputs.pipeline)
            .map_err(err("soft_checks"))?
            .lazy(),
    );
    ctx.register(
        "rejections",
        rejections_frame(inputs.files)
            .map_err(err("rejections"))?
            .lazy(),
    );
    let mut frames = BTreeMap::new();
    for q in &queries {
        let started = std::time::Instant::now();
        let df = ctx
            .execute(q.sql)
            .and_then(|lf| lf.collect())
            .map_err(err(&q.name))?;
        tracing::debug!(query = %q.name, rows = df.height(), ms = started.elapsed().as_secs_f64() * 1e3, "analysis");
        ctx.register(&q.name, df.clone().lazy());
        frames.insert(q.name.clone(), df);
    }
    let mut analysis = Analysis { frames, queries };
    if wanted.is_some() {
        return Ok(analysis);
    }
    let mut restated = restated(inputs, &analysis)?;
    restated.extend(inputs.extra_alerts.iter().cloned());
    let alerts = analysis.frame("alerts")?.clone();
    let alerts = add_alerts(alerts, &restated).map_err(err("alerts"))?;
    let alerts = fill_messages(alerts).map_err(err("alerts"))?;
    analysis.frames.insert("alerts".into(), alerts);
    Ok(analysis)
}

/// How serious an alert is (SPEC §4). The SQL emits the code; the words and the order people
/// see them in live here only (the SQL reads them from the `severities` table made from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    /// The code in frames and CSV twins.
    pub fn code(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(code: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.code() == code)
    }

    /// 严重 / 警告 / 提示.
    pub fn zh(self) -> &'static str {
        match self {
            Severity::Critical => "严重",
            Severity::Warning => "警告",
            Severity::Info => "提示",
        }
    }

    /// Most serious first.
    pub fn order(self) -> i32 {
        match self {
            Severity::Critical => 1,
            Severity::Warning => 2,
            Severity::Info => 3,
        }
    }
}

/// Every alert rule's id (in frames and CSV twins) and the name people read (the workbook's
/// 预警类型 column): the one list of them; the alerts SQL joins it as `rules`.
pub const RULES: [(&str, &str); 15] = [
    ("missing", "未报送"),
    ("late", "逾期报送"),
    ("rejected", "文件被拒收"),
    ("behind_schedule", "进度落后"),
    ("case_share", "办案补贴占比不足"),
    ("overspend", "支出超过到位经费"),
    ("arrival", "资金到位不足"),
    ("expenditure", "经费支出不足"),
    ("per_case_input", "案均投入不足"),
    ("spike", "数据异常波动"),
    ("restated", "数据更正"),
    ("inconsistent", "数据不一致"),
    ("source", "数据源获取失败"),
    ("job_failed", "定时任务失败"),
    ("soft_check", "待核实（说明）"),
];

/// The name people read for a rule id.
pub fn rule_zh(rule: &str) -> &'static str {
    RULES
        .iter()
        .find(|(id, _)| *id == rule)
        .map_or("其他", |(_, zh)| zh)
}

fn rules_frame() -> PolarsResult<DataFrame> {
    df!(
        "rule" => RULES.map(|r| r.0).to_vec(),
        "rule_zh" => RULES.map(|r| r.1).to_vec(),
    )
}

/// The `soft_checks` reference table: the pipeline's soft checks with their wording filled in
/// and their thresholds as thousandths (for exact comparisons).
fn soft_checks_frame(pipeline: &Pipeline) -> PolarsResult<DataFrame> {
    let c = &pipeline.def.soft_checks;
    df!(
        "check_id" => c.iter().map(|x| x.id.clone()).collect::<Vec<_>>(),
        "wording" => c.iter().map(|x| format::fill(&x.wording, None, Some(x.threshold))).collect::<Vec<_>>(),
        "threshold_milli" => c.iter().map(|x| scaled(x.threshold, 1000.0)).collect::<Vec<_>>(),
    )
}

/// The `severities` reference table the alerts SQL joins.
fn severities_frame() -> PolarsResult<DataFrame> {
    df!(
        "severity" => Severity::ALL.map(Severity::code).to_vec(),
        "severity_zh" => Severity::ALL.map(Severity::zh).to_vec(),
        "severity_order" => Severity::ALL.map(Severity::order).to_vec(),
    )
}

/// One alert made outside SQL.
#[derive(Debug, Clone)]
pub struct Alert {
    pub rule: &'static str,
    pub severity: Severity,
    pub unit_code: String,
    pub unit_name: String,
    pub ord: i64,
    pub message: String,
}

/// `restated`: a month already in a digest that was sent has a different figure since (SPEC §4),
/// naming the fields with old → new. A later version with the same figures is no alert.
fn restated(inputs: &Inputs, analysis: &Analysis) -> Result<Vec<Alert>> {
    let Some(previous) = inputs.previous else {
        return Ok(Vec::new());
    };
    let now = analysis.used_rows()?;
    let before: HashMap<(&str, &str), &UsedRow> = previous
        .iter()
        .map(|r| ((r.unit_code.as_str(), r.period.as_str()), r))
        .collect();
    let subs = inputs.submissions;
    let err = |e: PolarsError| Error::Analysis {
        query: "restated".into(),
        message: e.to_string(),
    };
    let text = |n: &str| -> Result<Vec<Option<String>>> {
        Ok(subs
            .column(n)
            .and_then(|c| c.str().cloned())
            .map_err(err)?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let (units, periods) = (text("unit_code")?, text("period")?);
    let versions: Vec<Option<i64>> = subs
        .column(meta::VERSION)
        .and_then(|c| c.i64().cloned())
        .map_err(err)?
        .iter()
        .collect();
    let index: HashMap<(&str, &str, i64), usize> = (0..subs.height())
        .filter_map(|k| {
            Some((
                (units[k].as_deref()?, periods[k].as_deref()?, versions[k]?),
                k,
            ))
        })
        .collect();
    let find = |u: &str, p: &str, v: i64| index.get(&(u, p, v)).copied();
    let mut out = Vec::new();
    for row in &now {
        let Some(old) = before.get(&(row.unit_code.as_str(), row.period.as_str())) else {
            continue;
        };
        if old.version == row.version {
            continue;
        }
        let (Some(a), Some(b)) = (
            find(&row.unit_code, &row.period, old.version),
            find(&row.unit_code, &row.period, row.version),
        ) else {
            continue;
        };
        let mut changes = Vec::new();
        for field in FIELDS
            .iter()
            .filter(|f| matches!(f.kind, Kind::Count | Kind::Money))
        {
            let col = subs.column(field.key).map_err(err)?;
            let (x, y) = (col.get(a).map_err(err)?, col.get(b).map_err(err)?);
            if x != y {
                let show = |v: &AnyValue| match v {
                    AnyValue::Float64(f) if field.kind == Kind::Money => format::grouped(*f, 2),
                    AnyValue::Null => format::DASH.to_string(),
                    other => other.to_string(),
                };
                changes.push(format!("{} {} → {}", field.label, show(&x), show(&y)));
            }
        }
        // A resend with the same figures (a running Jan..m sheet) is no restatement.
        if changes.is_empty() {
            continue;
        }
        let unit = inputs.pipeline.unit(&row.unit_code);
        let p = Period::parse(&row.period)
            .map(|p| p.zh())
            .unwrap_or_else(|| row.period.clone());
        out.push(Alert {
            rule: "restated",
            severity: Severity::Info,
            unit_code: row.unit_code.clone(),
            unit_name: unit.map(|u| u.name.clone()).unwrap_or_default(),
            ord: inputs
                .pipeline
                .units
                .iter()
                .position(|u| u.code == row.unit_code)
                .unwrap_or(999_999) as i64,
            message: format!(
                "{p}数据已更正（第{}版 → 第{}版）：{}",
                old.version,
                row.version,
                changes.join("；")
            ),
        });
    }
    Ok(out)
}

fn add_alerts(alerts: DataFrame, extra: &[Alert]) -> PolarsResult<DataFrame> {
    if extra.is_empty() {
        return Ok(alerts);
    }
    let more = df!(
        "rule" => extra.iter().map(|a| a.rule).collect::<Vec<_>>(),
        "rule_zh" => extra.iter().map(|a| rule_zh(a.rule)).collect::<Vec<_>>(),
        "severity" => extra.iter().map(|a| a.severity.code()).collect::<Vec<_>>(),
        "severity_zh" => extra.iter().map(|a| a.severity.zh()).collect::<Vec<_>>(),
        "unit_code" => extra.iter().map(|a| a.unit_code.clone()).collect::<Vec<_>>(),
        "unit_name" => extra.iter().map(|a| a.unit_name.clone()).collect::<Vec<_>>(),
        "figure" => extra.iter().map(|_| None::<f64>).collect::<Vec<_>>(),
        "threshold" => extra.iter().map(|_| None::<f64>).collect::<Vec<_>>(),
        "message" => extra.iter().map(|a| a.message.clone()).collect::<Vec<_>>(),
        "severity_order" => extra.iter().map(|a| a.severity.order()).collect::<Vec<_>>(),
        "ord" => extra.iter().map(|a| a.ord).collect::<Vec<_>>(),
    )?;
    // Same columns, same types as the SQL result, then the same order.
    let more = more.select(alerts.get_column_names().into_iter().cloned())?;
    let mut more_cast = Vec::new();
    for (c, want) in more.columns().iter().zip(alerts.columns()) {
        more_cast.push(c.cast(want.dtype())?);
    }
    let mut all = alerts;
    all.vstack_mut(&DataFrame::new(extra.len(), more_cast)?)?;
    all.sort(
        ["severity_order", "ord", "rule"],
        SortMultipleOptions::default().with_maintain_order(true),
    )
}

fn fill_messages(mut alerts: DataFrame) -> PolarsResult<DataFrame> {
    let templates: Vec<Option<String>> = alerts
        .column("message")?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect();
    let figure: Vec<Option<f64>> = alerts
        .column("figure")?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect();
    let threshold: Vec<Option<f64>> = alerts
        .column("threshold")?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect();
    let filled: Vec<String> = templates
        .iter()
        .zip(figure.iter().zip(&threshold))
        .map(|(t, (f, th))| format::fill(t.as_deref().unwrap_or(""), *f, *th))
        .collect();
    alerts.with_column(Column::new("message".into(), filled))?;
    Ok(alerts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_has_a_well_formed_header() {
        let qs = queries().unwrap();
        let names: Vec<&str> = qs.iter().map(|q| q.name.as_str()).collect();
        for want in [
            "used",
            "completion",
            "per100k",
            "funding",
            "quality",
            "monthly",
            "submissions",
            "alerts",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for q in &qs {
            if q.twin.is_some() {
                assert!(
                    q.columns.iter().any(|c| c.key == "unit_code"),
                    "{}: a twin names its unit",
                    q.name
                );
            }
        }
    }

    #[test]
    fn malformed_headers_are_named() {
        let e = parse_query("30_x.sql", "-- column: a | b\nSELECT 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("30_x.sql") && e.contains("line 1"), "{e}");
        let e = parse_query("30_x.sql", "SELECT 1\n-- column: a | b | percentage")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("percentage"), "{e}");
        assert_eq!(
            parse_query("30_extra_thing.sql", "SELECT 1").unwrap().name,
            "extra_thing"
        );
    }
}
