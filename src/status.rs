//! Who has reported for a month: per unit, the version in force, when it arrived, from which
//! file, and whether it was late.

use crate::analyze::rows::{Completion, Funding, GridCell, Per100k, Submission};
use crate::config::Pipeline;
use crate::error::Result;
use crate::layout::DataDir;
use crate::period::{self, Period};
use crate::records::Records;
use crate::store::{FileEntry, Outcome};
use crate::texts::contexts::value_of;
use crate::texts::documents::{Correction, RefusedFile, ReturnedMonth, StatusUnit, StatusValues};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct UnitStatus {
    pub code: String,
    pub name: String,
    /// The version in force, if any: (version, how many versions, arrived_at, source file).
    pub latest: Option<Latest>,
    /// Soft checks of months up to the period still waiting for a 说明 (待说明), one per rule
    /// failing (`analyze::Unexplained`): `7月满意度低于90%（满意7人，回访8人）`.
    pub pending: Vec<String>,
    /// The months of each of `pending`, in the same order.
    pub pending_months: Vec<Vec<u32>>,
    /// The check of each of `pending` (its `check_id`), in the same order.
    pub pending_checks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// 1 for the first submission of the month, 2 after one correction, …
    pub version: i64,
    pub arrived_at: String,
    pub source_file: String,
    pub late: bool,
    /// Typed in by the data staff for a backlog (补录), with the time the county sent it.
    pub backfilled: bool,
}

/// The status of every unit for `period`, counting only what had arrived by `now`: the
/// `submissions` analysis (sql/15_submissions.sql, the one home of the `late` rule), read back.
pub fn unit_status(
    pipeline: &Pipeline,
    records: &Records,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Vec<UnitStatus>> {
    let locks = records.locks(Some(*now))?;
    let explained = records.explained(Some(*now))?;
    unit_status_of(
        pipeline,
        (records.rows(), &locks, &explained),
        records.files(),
        period,
        now,
    )
}

/// One unit's status for `period` as of `now`, from what the store holds of that unit only (a
/// receipt, an upload's answer): the analyses of [`unit_status`] over the unit's rows and files,
/// not every unit's. `None`: not a unit of the pipeline.
pub fn one_unit_status(
    pipeline: &Pipeline,
    records: &crate::records::Records,
    code: &str,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Option<UnitStatus>> {
    let locks: Vec<_> = records
        .locks(Some(*now))?
        .into_iter()
        .filter(|(unit, _, _)| unit == code)
        .collect();
    let explained: Vec<_> = records
        .explained(Some(*now))?
        .into_iter()
        .filter(|e| e.unit_code == code)
        .collect();
    let own = records.of_unit(code)?;
    Ok(unit_status_of(
        pipeline,
        (own.rows(), &locks, &explained),
        own.files(),
        period,
        now,
    )?
    .into_iter()
    .find(|s| s.code == code))
}

/// [`unit_status`] from the store's rows and files read once (for several months at a time).
pub fn unit_status_of(
    pipeline: &Pipeline,
    (rows, locks, explained): (
        &DataFrame,
        &[(String, String, String)],
        &[crate::analyze::Explained],
    ),
    files: &[FileEntry],
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Vec<UnitStatus>> {
    let a = analysis(
        pipeline,
        (rows, locks, &[], explained),
        files,
        period,
        now,
        &["submissions", "checks", "funding", "quality"],
    )?;
    units_of(&a)
}

/// Who has reported, from one analysis of the store: each unit's status for `period` and the
/// units × months grid of months 1..=`period`, as of `now`.
pub struct Board {
    pub units: Vec<UnitStatus>,
    pub grid: Vec<UnitRow>,
    /// Each unit's own figures of the year so far, as its page shows them (code, figures).
    pub figures: Vec<(String, Vec<Figure>)>,
    /// Every file seen, in arrival order (the store's record).
    pub files: Vec<FileEntry>,
}

/// The [`Board`] of `period` from the store's rows and files as `records` read them (every
/// unit's, or one unit's: `Records::of_unit`).
pub fn board(
    pipeline: &Pipeline,
    records: &crate::records::Records,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Board> {
    let files = records.files();
    let locks = records.locks(Some(*now))?;
    let returned: Vec<(String, String)> = records
        .open_returns(Some(*now))?
        .into_iter()
        .map(|r| (r.unit, r.period))
        .collect();
    let explained = records.explained(Some(*now))?;
    let a = analysis(
        pipeline,
        (records.rows(), &locks, &returned, &explained),
        files,
        period,
        now,
        // (funding and quality: the year's figure of a 待说明 item; completion and per100k: the
        // unit's own figures on its page)
        &[
            "submissions",
            "grid",
            "funding",
            "quality",
            "completion",
            "per100k",
        ],
    )?;
    Ok(Board {
        units: units_of(&a)?,
        grid: grid_of(&a)?,
        figures: figures_of(&a, pipeline)?,
        files: files.to_vec(),
    })
}

/// What the analyses of the status read besides the files: the stored rows, the confirmed
/// months (unit, month, when) and the open returns (unit, month).
type Stored<'a> = (
    &'a DataFrame,
    &'a [(String, String, String)],
    &'a [(String, String)],
    &'a [crate::analyze::Explained],
);

/// The analyses `wanted` (and what they read) of `period` as of `now`.
fn analysis(
    pipeline: &Pipeline,
    (rows, locks, returned, explained): Stored,
    files: &[FileEntry],
    period: Period,
    now: &DateTime<Tz>,
    wanted: &[&str],
) -> Result<crate::analyze::Analysis> {
    crate::analyze::analyze_only(
        &crate::analyze::Inputs {
            pipeline,
            period,
            as_of: *now,
            submissions: rows,
            files,
            previous: None,
            extra_alerts: Vec::new(),
            rejected_after: None,
            last_year: None,
            locks,
            returned,
            explained,
            unsigned: &[],
        },
        Some(wanted),
    )
}

/// The `submissions` and `checks` analyses read back, a [`UnitStatus`] per unit.
fn units_of(analysis: &crate::analyze::Analysis) -> Result<Vec<UnitStatus>> {
    let pending = analysis.unexplained_checks()?;
    Ok(analysis
        .rows::<Submission>()?
        .into_iter()
        .map(|s| {
            let own: Vec<_> = pending
                .iter()
                .filter(|u| u.unit_code == s.unit_code)
                .collect();
            UnitStatus {
                pending: own.iter().map(|u| u.text.clone()).collect(),
                pending_months: own.iter().map(|u| u.months.clone()).collect(),
                pending_checks: own.iter().map(|u| u.check_id.clone()).collect(),
                latest: s.version.map(|version| Latest {
                    version,
                    arrived_at: s.arrived_at.unwrap_or_default(),
                    source_file: s.source_file.unwrap_or_default(),
                    late: s.late.unwrap_or(false),
                    backfilled: s.backfilled.unwrap_or(false),
                }),
                code: s.unit_code,
                name: s.unit_name,
            }
        })
        .collect())
}

/// One cell of the grid: the state (sql/22_grid.sql decides it), in words and as a code.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CellState {
    pub month: u32,
    /// 已报 / 逾期 / 未报 / 被拒 / 待说明 / — (not yet due)
    pub state: String,
    /// ok / late / missing / rejected / pending / none.
    #[serde(skip)]
    pub code: String,
    pub version: Option<i64>,
}

/// A unit's row of the grid.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub months: Vec<CellState>,
}

/// The soft checks a unit's month would still wait a 说明 for if `rows` (the stored rows with a
/// submission in hand added, `Store::rows_with`) were the store: the words of each, for a form
/// that asks for the 说明 before anything is kept.
pub fn checks_if(
    pipeline: &Pipeline,
    records: &Records,
    rows: &DataFrame,
    unit: &str,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Vec<String>> {
    let files = records.files();
    let locks = records.locks(Some(*now))?;
    let explained = records.explained(Some(*now))?;
    let a = analysis(
        pipeline,
        (rows, &locks, &[], &explained),
        files,
        period,
        now,
        &["checks", "funding", "quality"],
    )?;
    Ok(a.unexplained_checks()?
        .into_iter()
        .filter(|u| u.unit_code == unit && u.months.contains(&period.month()))
        .map(|u| u.text)
        .collect())
}

/// One of a unit's own figures on its page: what, and the figure as people write it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub label: &'static str,
    pub value: String,
}

/// Each unit's figures of the year so far, from the analyses the workbook shows (`completion`,
/// `per100k`, `funding`): 完成率 with its rank, the gap to the schedule (in December, to the
/// year's target), 到位率, 支出率, 占比, 每10万人 with its target.
fn figures_of(
    a: &crate::analyze::Analysis,
    pipeline: &Pipeline,
) -> Result<Vec<(String, Vec<Figure>)>> {
    use crate::format;
    let units = pipeline.units.len();
    let year_end = a.period.month() == 12;
    let funding = a.rows::<Funding>()?;
    let per100k = a.rows::<Per100k>()?;
    let mut out = Vec::new();
    for c in a.rows::<Completion>()? {
        if c.unit_code == "total" {
            continue;
        }
        let code = c.unit_code;
        let f = funding.iter().find(|f| f.unit_code == code);
        let p = per100k.iter().find(|p| p.unit_code == code);
        let (ytd, target) = (c.ytd_approved, c.target);
        let gap = gap_words(year_end, c.remaining, c.schedule_gap, c.schedule_rate);
        let rank = c.rank_completion.map_or(format::DASH.to_string(), |r| {
            format!("第{}名（共{units}个单位）", format::count(Some(r)))
        });
        let per100k = per100k_words(
            year_end,
            p.and_then(|p| p.per100k_ytd),
            p.and_then(|p| p.per100k_annualized),
            p.and_then(|p| p.per100k_target),
        );
        let figures = vec![
            Figure {
                label: "累计受理审批",
                value: format!(
                    "{}件（年度目标{}件）",
                    format::count(ytd),
                    format::count(target)
                ),
            },
            Figure {
                label: "完成率",
                value: format::pct(c.completion_rate),
            },
            Figure {
                label: if year_end {
                    "与年度目标差距"
                } else {
                    "与序时进度差距"
                },
                value: gap,
            },
            Figure {
                label: "完成率排名",
                value: rank,
            },
            Figure {
                label: "资金到位率",
                value: format::pct(f.and_then(|f| f.arrival_rate)),
            },
            Figure {
                label: "业务经费支出率",
                value: format::pct(f.and_then(|f| f.expenditure_rate)),
            },
            Figure {
                label: "办案补贴及直接费用占比",
                value: format!(
                    "{}（方案要求不低于{}）",
                    format::pct(f.and_then(|f| f.case_share)),
                    format::pct0(Some(pipeline.def.alerts.case_share_min))
                ),
            },
            Figure {
                label: "每10万人法律援助供给量",
                value: per100k,
            },
        ];
        out.push((code, figures));
    }
    Ok(out)
}

/// A unit's gap in words: to the schedule during the year, to the year's target in December.
fn gap_words(
    year_end: bool,
    remaining: Option<f64>,
    gap: Option<f64>,
    schedule: Option<f64>,
) -> String {
    use crate::format;
    if year_end {
        return match remaining {
            Some(r) if r > 0.0 => format!("距年度目标尚差{}件", format::count(Some(r))),
            Some(_) => "已完成年度目标".to_string(),
            None => format::DASH.to_string(),
        };
    }
    let schedule = format::pct(schedule);
    match gap {
        Some(g) if format::round_half_away(g * 100.0, 2) == 0.0 => {
            format!("与序时进度持平（序时进度{schedule}）")
        }
        Some(g) if g < 0.0 => format!("落后序时进度{}（序时进度{schedule}）", format::pp(Some(g))),
        Some(g) => format!("超序时进度{}（序时进度{schedule}）", format::pp(Some(g))),
        None => format::DASH.to_string(),
    }
}

/// A unit's supply per 100,000 residents in words, with its target.
fn per100k_words(
    year_end: bool,
    ytd: Option<f64>,
    annualized: Option<f64>,
    target: Option<f64>,
) -> String {
    use crate::format::dec2;
    if year_end {
        format!("{}件（目标{}件）", dec2(ytd), dec2(target))
    } else {
        format!(
            "累计{}件，按全年折算{}件（目标{}件）",
            dec2(ytd),
            dec2(annualized),
            dec2(target)
        )
    }
}

/// The `grid` analysis read back, a row per unit in plan order.
fn grid_of(analysis: &crate::analyze::Analysis) -> Result<Vec<UnitRow>> {
    let mut rows: Vec<UnitRow> = Vec::new();
    for c in analysis.rows::<GridCell>()? {
        if rows.last().is_none_or(|l| l.code != c.unit_code) {
            rows.push(UnitRow {
                code: c.unit_code.clone(),
                name: c.unit_name.clone(),
                months: Vec::new(),
            });
        }
        if let Some(row) = rows.last_mut() {
            row.months.push(CellState {
                month: u32::try_from(c.month_num).unwrap_or_default(),
                state: c.state_zh,
                code: c.state,
                version: c.version,
            });
        }
    }
    Ok(rows)
}

/// The text `fayuan status` prints.
pub fn render(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    output_dir: &crate::layout::OutputDir,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<String> {
    let records = Records::open(data_dir)?;
    let status = unit_status(pipeline, &records, period, now)?;
    let files = records.files();
    let mut out = render_from(pipeline, &records, period, now, &status)?;
    if let Some(line) = stale_line(output_dir, pipeline, period, files) {
        out.push_str(&line);
    }
    Ok(out)
}

/// The month's report, if files were accepted after it was made: "报告生成后又收到N份数据，请
/// 重新生成" (None when there is no report or it is current). Files count when they hold a month
/// of the report's year up to its month and arrived after the report's as-of time.
pub fn stale_line(
    output_dir: &crate::layout::OutputDir,
    pipeline: &Pipeline,
    period: Period,
    files: &[FileEntry],
) -> Option<String> {
    let path = output_dir
        .run(pipeline.name(), period)
        .join(crate::layout::MANIFEST);
    let text = std::fs::read(path).ok()?;
    let m: crate::report::Manifest = serde_json::from_slice(&text).ok()?;
    let as_of = period::parse_instant(&m.as_of)?;
    let later = files
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Accepted | Outcome::Partial))
        .filter(|f| f.arrived_at.0 > as_of)
        .filter(|f| {
            f.periods
                .iter()
                .any(|p| p.year() == period.year() && p.month() <= period.month())
        })
        .count();
    (later > 0).then(|| {
        format!(
            "{}报告（数据截至 {}）生成后又收到{later}份数据，请重新生成（fayuan run --period {period}）\n",
            period.zh(),
            period::instant_zh(&as_of)
        )
    })
}

/// `[supervision] confirm_required`: the months reported and not yet confirmed, per unit, in a
/// line (None when there are none or confirmation is not asked for): texts/status.txt's block
/// `unconfirmed`.
pub fn unconfirmed_line(
    pipeline: &Pipeline,
    records: &Records,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Option<String>> {
    let unconfirmed = unconfirmed_units(pipeline, records, period, now)?;
    if unconfirmed.is_empty() {
        return Ok(None);
    }
    let values = StatusValues {
        unconfirmed,
        ..StatusValues::default()
    };
    pipeline
        .texts
        .block("status.txt", "unconfirmed", &value_of(values))
        .map(Some)
}

/// "霍邱县 1月、2月" for each unit with months waiting for 确认.
fn unconfirmed_units(
    pipeline: &Pipeline,
    records: &Records,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Vec<String>> {
    Ok(records
        .unconfirmed(pipeline, period, *now)?
        .iter()
        .map(|(i, months)| format!("{} {months}", pipeline.units[*i].name))
        .collect())
}

/// [`render`] from the units' status and the files seen, already read: texts/status.txt.
pub fn render_from(
    pipeline: &Pipeline,
    records: &Records,
    period: Period,
    now: &DateTime<Tz>,
    status: &[UnitStatus],
) -> Result<String> {
    let zh = |m: &str| Period::parse(m).map_or(m.to_string(), |p| p.zh());
    let returns = records.open_returns(Some(*now))?;
    let waiting = records.pending_corrections(*now)?;
    let units: Vec<StatusUnit> = status
        .iter()
        .map(|s| {
            let latest = s.latest.as_ref();
            StatusUnit {
                code: s.code.clone(),
                name: s.name.clone(),
                reported: latest.is_some(),
                late: latest.is_some_and(|l| l.late),
                version: latest.map_or(0, |l| l.version),
                arrived: latest.map_or(String::new(), |l| period::minute_text(&l.arrived_at)),
                backfilled: latest.is_some_and(|l| l.backfilled),
                file: latest.map_or(String::new(), |l| l.source_file.clone()),
                pending: s.pending.clone(),
                corrections: waiting
                    .iter()
                    .filter(|w| w.0 == s.code)
                    .map(|(_, month, file, at)| Correction {
                        month_zh: zh(month),
                        file: file.clone(),
                        at: at.clone(),
                    })
                    .collect(),
                returned: returns
                    .iter()
                    .filter(|r| r.unit == s.code)
                    .map(|r| ReturnedMonth {
                        month_zh: zh(&r.period),
                        reason: r.reason.clone(),
                        by: r.by.clone(),
                        at: r.at.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let rejected: Vec<&FileEntry> = records
        .files()
        .iter()
        .filter(|f| f.outcome == Outcome::Rejected)
        .collect();
    let values = StatusValues {
        heading: pipeline.heading(),
        period_zh: period.zh(),
        now: period::instant_zh(now),
        deadline: pipeline.deadline_zh(period),
        reported: units.iter().filter(|u| u.reported).count(),
        missing: units
            .iter()
            .filter(|u| !u.reported)
            .map(|u| u.name.clone())
            .collect(),
        to_explain: units
            .iter()
            .filter(|u| !u.pending.is_empty())
            .map(|u| u.name.clone())
            .collect(),
        units,
        unconfirmed: Vec::new(),
        unconfirmed_line: unconfirmed_line(pipeline, records, period, now)?.unwrap_or_default(),
        outbox: crate::notify::status_lines(records.data_dir(), pipeline, period, now)?,
        rejected_count: rejected.len(),
        rejected: rejected
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(|f| RefusedFile {
                at: f.arrived_at.minute(),
                name: f.file_name.clone(),
                stored_as: f.stored_as.clone(),
                problem: f.problems.lines().next().unwrap_or("").to_string(),
            })
            .collect(),
    };
    pipeline.texts.body("status.txt", &value_of(values))
}
