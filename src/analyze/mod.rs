//! The plan's indicators and alerts, as the SQL files in `sql/` run by polars over the stored
//! submissions and the pipeline's reference data.
//!
//! Invariant: pure — (submissions, files seen, reference data, period, as-of, the rows the last
//! report used) in, DataFrames out; no files, no network, no clock. The SQL files are embedded
//! at build time and run as if in file-name order (each as soon as the earlier files it names
//! are done, side by side); each result is registered under its name (the file
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
use std::collections::{BTreeMap, HashMap};

mod alerts;
mod frames;
mod requirements;
pub mod rows;
mod runner;

pub use alerts::Alert;
use alerts::{add_alerts, fill_messages, restated};
use frames::*;
pub use requirements::{Group, REQUIREMENTS, Requirement};
use runner::run_all;

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
        source: format!("line {}: {why}", line + 1).into(),
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
    /// Confirmed months (确认, issue 25): (unit code, month, confirmed at — RFC 3339). A version
    /// that arrived after its month was confirmed is not used until the month is confirmed again.
    pub locks: &'a [(String, String, String)],
    /// Months returned for correction and not corrected yet (退回, issue 25): (unit code, month
    /// `2025-06`). The grid shows them 已退回.
    pub returned: &'a [(String, String)],
    /// 说明 typed on the unit's page for a soft check's months (issue 34 §3), in force now.
    pub explained: &'a [Explained],
    /// `[web] county_signoff`: each unit's months its 负责人 has not signed (unit code, months),
    /// kept as the frame `unsigned` (`rows::UnsignedLine`) for the 通报 and the review.
    pub unsigned: &'a [(String, Vec<u32>)],
}

/// A unit's 说明 of one soft check in one month, given on its page (read by `records.rs`).
pub use crate::records::Explained;

/// Which version of a (unit, month) a report used (recorded in the manifest; `records.rs`).
pub use crate::records::UsedRow;

/// The frames of one analysis, by name (completion, per100k, funding, quality, monthly,
/// submissions, alerts, used, …), with the queries that made them.
pub struct Analysis {
    pub frames: BTreeMap<String, DataFrame>,
    pub queries: Vec<Query>,
    /// The month the analyses judge.
    pub period: Period,
}

impl Analysis {
    pub fn frame(&self, name: &str) -> Result<&DataFrame> {
        self.frames.get(name).ok_or_else(|| Error::Analysis {
            query: name.to_string(),
            source: "no such result (is the sql/ file missing?)".into(),
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
            source: e.into(),
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

/// A soft check still waiting for the county's 说明 (sql/17_checks.sql): one rule failing for one
/// unit, with every month it failed in — one problem, one sentence (issue 31).
#[derive(Debug, Clone, PartialEq)]
pub struct Unexplained {
    pub unit_code: String,
    pub unit_name: String,
    pub check_id: String,
    /// `7月满意度低于90%（满意7人，回访8人）`, or for several months
    /// `1—12月（共12个月）办案补贴及直接费用占业务经费支出不足70%，全年占比66.17%` (during the
    /// year `累计占比`).
    pub text: String,
    /// The months it is about (1 to 12), ascending.
    pub months: Vec<u32>,
}

impl Analysis {
    /// Every soft check of months 1..m not yet explained, grouped per unit and rule, in plan
    /// order and the order of the rule's first month. The figure of the year so far comes from
    /// the same analyses the workbook shows (`funding`, `quality`) where they were run.
    pub fn unexplained_checks(&self) -> Result<Vec<Unexplained>> {
        let lines: Vec<rows::CheckLine> = self
            .rows::<rows::CheckLine>()?
            .into_iter()
            .filter(|l| l.explained != Some(true))
            .collect();
        let mut groups: Vec<(usize, Vec<u32>)> = Vec::new();
        for (k, l) in lines.iter().enumerate() {
            let m = u32::try_from(l.month_num).unwrap_or(0);
            match groups.iter_mut().find(|(first, _)| {
                lines[*first].unit_code == l.unit_code && lines[*first].check_id == l.check_id
            }) {
                Some((_, ms)) => ms.push(m),
                None => groups.push((k, vec![m])),
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (k, mut ms) in groups {
            let l = &lines[k];
            ms.sort_unstable();
            ms.dedup();
            // "1月本月…" says the month twice: the rule's words without their 本月.
            let words = l.check_text.strip_prefix("本月").unwrap_or(&l.check_text);
            let text = if ms.len() == 1 {
                format!(
                    "{}月{words}（{}）",
                    ms[0],
                    l.detail.as_deref().unwrap_or("")
                )
            } else {
                let mut t = format!(
                    "{}月（共{}个月）{words}",
                    crate::format::months_zh(&ms),
                    ms.len()
                );
                if let Some((label, figure)) = self.year_figure(&l.check_id, &l.unit_code)? {
                    let upto = self.period.month();
                    let span = if upto == 12 { "全年" } else { "累计" };
                    t.push_str(&format!("，{span}{label}{figure}"));
                }
                t
            };
            out.push(Unexplained {
                unit_code: l.unit_code.clone(),
                unit_name: l.unit_name.clone(),
                check_id: l.check_id.clone(),
                text,
                months: ms,
            });
        }
        Ok(out)
    }

    /// The year-so-far figure a soft check's months add up to, where an analysis shows one.
    fn year_figure(
        &self,
        check_id: &str,
        unit_code: &str,
    ) -> Result<Option<(&'static str, String)>> {
        let (query, col, label) = match check_id {
            "case_share_month" => ("funding", "case_share", "占比"),
            "satisfaction_month" => ("quality", "satisfaction_rate", "满意度"),
            _ => return Ok(None),
        };
        let Some(df) = self.frames.get(query) else {
            return Ok(None);
        };
        let err = |e: PolarsError| Error::Analysis {
            query: query.into(),
            source: e.into(),
        };
        let codes = crate::frame::strings(df, "unit_code").map_err(err)?;
        let values = crate::frame::floats(df, col).map_err(err)?;
        Ok(codes
            .iter()
            .position(|c| c.as_deref() == Some(unit_code))
            .and_then(|k| values[k])
            .map(|v| (label, crate::format::pct(Some(v)))))
    }
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
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|k| format!("analyze-{k}"))
        .stack_size(ANALYSIS_STACK)
        .build()
        .map_err(|e| Error::Analysis {
            query: "(threads)".into(),
            source: e.into(),
        })?;
    pool.install(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            analyze_here(inputs, wanted)
        }))
        .map_err(|_| Error::Analysis {
            query: "(thread)".into(),
            source: "the analysis panicked".into(),
        })?
    })
}

/// The names a query's SQL mentions (its words outside `--` comments), to find what it reads:
/// a comment saying "the same rules as the alerts" does not make a query wait for `alerts`.
fn words(sql: &str) -> std::collections::HashSet<&str> {
    let mut out = std::collections::HashSet::new();
    let mut in_string = false;
    for line in sql.lines() {
        let mut code = line;
        let bytes = line.as_bytes();
        for k in 0..bytes.len() {
            match bytes[k] {
                b'\'' => in_string = !in_string,
                b'-' if !in_string && bytes.get(k + 1) == Some(&b'-') => {
                    code = &line[..k];
                    break;
                }
                _ => {}
            }
        }
        out.extend(
            code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty()),
        );
    }
    out
}

/// The queries the wanted ones read, and what those read, back to the inputs — in order.
fn only_what_is_read(queries: Vec<Query>, wanted: &[&str]) -> Result<Vec<Query>> {
    let mut needed: std::collections::HashSet<String> = std::collections::HashSet::new();
    for w in wanted {
        if !queries.iter().any(|q| q.name == *w) {
            return Err(Error::Analysis {
                query: w.to_string(),
                source: "no such analysis".into(),
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
    Ok(queries
        .into_iter()
        .filter(|q| needed.contains(&q.name))
        .collect())
}

fn analyze_here(inputs: &Inputs, wanted: Option<&[&str]>) -> Result<Analysis> {
    let mut queries = queries()?;
    // A December report is also the year's review.
    if inputs.period.month() == 12 {
        queries.extend(review_queries()?);
    }
    // 同比 only for a pipeline that names the previous year's.
    if inputs.pipeline.previous.is_none() {
        queries.retain(|q| !q.requires_previous);
    }
    if let Some(wanted) = wanted {
        queries = only_what_is_read(queries, wanted)?;
    }
    let err = |q: &str| {
        let q = q.to_string();
        move |e: PolarsError| Error::Analysis {
            query: q.clone(),
            source: e.into(),
        }
    };
    let tables = input_tables(inputs)?;
    let mut frames = run_all(&queries, &tables)?;
    if let Some(checks) = frames.remove("checks") {
        let checks = alerts::fill_text(checks, "detail").map_err(err("checks"))?;
        frames.insert("checks".into(), checks);
    }
    let mut analysis = Analysis {
        frames,
        queries,
        period: inputs.period,
    };
    if wanted.is_some() {
        return Ok(analysis);
    }
    let mut restated = restated(inputs, &analysis)?;
    restated.extend(inputs.extra_alerts.iter().cloned());
    let alerts = analysis.frame("alerts")?.clone();
    let alerts = add_alerts(alerts, &restated).map_err(err("alerts"))?;
    let alerts = fill_messages(alerts).map_err(err("alerts"))?;
    analysis.frames.insert("alerts".into(), alerts);
    let unsigned = unsigned_frame(inputs).map_err(err("unsigned"))?;
    analysis
        .frames
        .insert(<rows::UnsignedLine as rows::Output>::QUERY.into(), unsigned);
    Ok(analysis)
}

/// The analyses' inputs, by the names the SQL reads them by: the submissions (this year's and last year's), the units
/// and the reference tables, the parameters, the files rejected.
fn input_tables(inputs: &Inputs) -> Result<Vec<(&'static str, LazyFrame)>> {
    let mut tables: Vec<(&'static str, LazyFrame)> = Vec::new();
    let err = |q: &str| {
        let q = q.to_string();
        move |e: PolarsError| Error::Analysis {
            query: q.clone(),
            source: e.into(),
        }
    };
    tables.push(("submissions", inputs.submissions.clone().lazy()));
    for (name, frame) in supervision_frames(inputs) {
        tables.push((name, frame.map_err(err(name))?.lazy()));
    }
    // Without a previous year, the same columns and no rows.
    tables.push((
        "last_year_submissions",
        inputs
            .last_year
            .cloned()
            .unwrap_or_else(|| inputs.submissions.clear())
            .lazy(),
    ));
    tables.push((
        "last_year_units",
        last_year_units_frame(inputs.pipeline)
            .map_err(err("last_year_units"))?
            .lazy(),
    ));
    tables.push((
        "units",
        units_frame(inputs.pipeline).map_err(err("units"))?.lazy(),
    ));
    tables.push((
        "params",
        params_frame(
            inputs.pipeline,
            inputs.period,
            &inputs.as_of,
            inputs.rejected_after,
        )
        .map_err(err("params"))?
        .lazy(),
    ));
    tables.push((
        "severities",
        severities_frame().map_err(err("severities"))?.lazy(),
    ));
    tables.push(("rules", rules_frame().map_err(err("rules"))?.lazy()));
    tables.push((
        "requirement_names",
        requirements::requirement_names_frame(inputs.pipeline)
            .map_err(err("requirement_names"))?
            .lazy(),
    ));
    tables.push((
        "deadlines",
        deadlines_frame(inputs.pipeline, inputs.period.year())
            .map_err(err("deadlines"))?
            .lazy(),
    ));
    tables.push((
        "soft_checks",
        soft_checks_frame(inputs.pipeline)
            .map_err(err("soft_checks"))?
            .lazy(),
    ));
    tables.push((
        "rejections",
        rejections_frame(inputs.files)
            .map_err(err("rejections"))?
            .lazy(),
    ));
    tables.push((
        "backfilled",
        backfilled_frame(inputs.files)
            .map_err(err("backfilled"))?
            .lazy(),
    ));
    Ok(tables)
}

/// The tables of 指导督促: the confirmed months (`locks`), the months returned (`returned`), the
/// 说明 typed on the units' pages (`explained`).
/// The months not signed by each unit's 负责人, in plan order: unit code, name, months (`1—5`).
fn unsigned_frame(inputs: &Inputs) -> PolarsResult<DataFrame> {
    let lines: Vec<(&str, &str, String)> = inputs
        .unsigned
        .iter()
        .filter_map(|(code, months)| {
            let u = inputs.pipeline.unit(code)?;
            Some((
                u.code.as_str(),
                u.name.as_str(),
                crate::format::months_zh(months),
            ))
        })
        .collect();
    df!(
        "unit_code" => lines.iter().map(|l| l.0).collect::<Vec<_>>(),
        "unit_name" => lines.iter().map(|l| l.1).collect::<Vec<_>>(),
        "months" => lines.iter().map(|l| l.2.clone()).collect::<Vec<_>>(),
    )
}

fn supervision_frames(inputs: &Inputs) -> [(&'static str, PolarsResult<DataFrame>); 3] {
    [
        (
            "locks",
            df!(
                "unit_code" => inputs.locks.iter().map(|l| l.0.clone()).collect::<Vec<_>>(),
                "period" => inputs.locks.iter().map(|l| l.1.clone()).collect::<Vec<_>>(),
                "locked_at" => inputs.locks.iter().map(|l| l.2.clone()).collect::<Vec<_>>(),
            ),
        ),
        (
            "returned",
            df!(
                "unit_code" => inputs.returned.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
                "period" => inputs.returned.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            ),
        ),
        ("explained", explained_frame(inputs.explained)),
    ]
}

/// The `explained` table: the 说明 typed on the units' pages, per unit, month and check.
fn explained_frame(x: &[Explained]) -> PolarsResult<DataFrame> {
    df!(
        "unit_code" => x.iter().map(|x| x.unit_code.clone()).collect::<Vec<_>>(),
        "month_num" => x.iter().map(|x| x.month as i32).collect::<Vec<_>>(),
        "check_id" => x.iter().map(|x| x.check_id.clone()).collect::<Vec<_>>(),
        "note" => x.iter().map(|x| x.text.clone()).collect::<Vec<_>>(),
    )
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
pub const RULES: [(&str, &str); 21] = [
    ("missing", "未报送"),
    ("late", "逾期报送"),
    ("rejected", "文件被拒收"),
    ("behind_schedule", "进度落后"),
    ("annual_target", "年度目标未完成"),
    ("projected_shortfall", "预计完不成年度目标"),
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
    ("returned", "已退回待修改"),
    ("supervision", "督办事项"),
    ("unconfirmed", "待确认"),
    ("unsigned", "待负责人确认"),
];

/// The name people read for a rule id.
pub fn rule_zh(rule: &str) -> &'static str {
    RULES
        .iter()
        .find(|(id, _)| *id == rule)
        .map_or("其他", |(_, zh)| zh)
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
