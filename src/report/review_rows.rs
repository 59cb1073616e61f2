//! The year's review in words (考核验收, SPEC §11): the `review` frame's rows read for
//! sentences, each requirement's words, the memo, and the December digest's lines — what the
//! workbook (`review_book.rs`), the report (`review_doc.rs`) and the review's folder
//! (`review.rs`) all say.
//!
//! Invariant: nothing here decides a requirement; the verdicts are the `review` frame's
//! (sql/review/). The memo only puts the frame's figures into sentences, with the same rounding
//! as the workbook, and says nothing the frame does not hold.

use super::RunMeta;
use crate::analyze::{Analysis, Group, REQUIREMENTS};
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::format;
use crate::layout::OutputDir;
use crate::period::{self, Period};
use std::path::PathBuf;

/// `output/<pipeline>/review-<Y>/`.
pub fn dir(output_dir: &OutputDir, pipeline: &Pipeline, year: i32) -> PathBuf {
    output_dir.review(pipeline.name(), year)
}

/// `六安市法律援助民生实事考核验收_2025.xlsx`.
pub fn file_name(pipeline: &Pipeline, year: i32, provisional: bool) -> String {
    format!(
        "{}{}考核验收_{year}{}.xlsx",
        pipeline.def.pipeline.city,
        pipeline.def.pipeline.title,
        if provisional { "_暂定" } else { "" }
    )
}

/// A review made before December's deadline has passed is 暂定 (provisional): the year is not
/// over, and only the months already due are counted.
pub fn provisional(pipeline: &Pipeline, as_of: &chrono::DateTime<chrono_tz::Tz>) -> bool {
    Period::new(pipeline.year(), 12).is_some_and(|dec| !pipeline.is_due(dec, as_of))
}

/// One row of the `review` frame, as read for sentences.
#[derive(Debug, Clone)]
pub struct Row {
    pub code: String,
    pub name: String,
    pub target: Option<f64>,
    pub ytd_approved: Option<f64>,
    /// (requirement id, its figure, met)
    pub figures: Vec<(&'static str, Option<f64>, bool)>,
    pub months_late: i64,
    pub months_missing: i64,
    pub months_due: i64,
    pub checks: i64,
    pub checks_unexplained: i64,
    /// 总体结论: the requirements `[review] verdict_includes` names all met.
    pub pass: bool,
    /// The plan's own requirements all met; the bureau's management requirements all met.
    pub plan_pass: bool,
    pub bureau_pass: bool,
}

fn err(e: polars::prelude::PolarsError) -> Error {
    Error::Analysis {
        query: "review".into(),
        source: e.into(),
    }
}

/// The `review` frame's rows (units in plan order, then 合计).
pub fn rows(a: &Analysis) -> Result<Vec<Row>> {
    let df = a.frame("review")?;
    // Each requirement's figure and verdict, by the columns `requirements.rs` names.
    let mut figures = Vec::new();
    for r in REQUIREMENTS {
        figures.push((
            r.id,
            crate::frame::floats(df, r.figure).map_err(err)?,
            crate::frame::flags(df, r.pass).map_err(err)?,
        ));
    }
    Ok(a.rows::<crate::analyze::rows::Review>()?
        .into_iter()
        .enumerate()
        .map(|(k, r)| Row {
            code: r.unit_code,
            name: r.unit_name,
            target: r.target,
            ytd_approved: r.ytd_approved,
            figures: figures.iter().map(|(id, f, p)| (*id, f[k], p[k])).collect(),
            months_late: r.months_late.unwrap_or(0),
            months_missing: r.months_missing.unwrap_or(0),
            months_due: r.months_due.unwrap_or(0),
            checks: r.checks.unwrap_or(0),
            checks_unexplained: r.checks_unexplained.unwrap_or(0),
            pass: r.verdict.as_deref() == Some("pass"),
            plan_pass: r.plan_pass == Some(true),
            bureau_pass: r.bureau_pass == Some(true),
        })
        .collect())
}

/// The least a rate must reach (a fraction), for the requirements that are a rate with a floor.
fn floor_of(p: &Pipeline, id: &str) -> Option<f64> {
    let rv = &p.def.review;
    match id {
        "completion" => Some(rv.completion_min),
        "case_share" => Some(p.def.alerts.case_share_min),
        "satisfaction" => Some(rv.satisfaction_min),
        "complaint_resolution" => Some(rv.complaint_resolution_min),
        _ => None,
    }
}

/// A requirement's threshold as people read it: `≥ 100%`, `100%`, `≥ 700.00 元/件`, ….
pub fn requirement_words(p: &Pipeline, id: &str) -> String {
    match (id, floor_of(p, id)) {
        // a floor of 100% is the figure itself: "100%", not "不低于100%"
        (_, Some(min)) if min >= 1.0 => format::pct0(Some(min)),
        (_, Some(min)) => format!("不低于{}", format::pct0(Some(min))),
        ("arrival" | "expenditure", _) => "100%".to_string(),
        ("per_case_input", _) => format!(
            "不低于{}元/件",
            format::num(Some(p.def.funding.per_case_standard))
        ),
        ("on_time", _) => "无逾期、无未报送月份".to_string(),
        ("checks", _) => "核实事项均已说明".to_string(),
        _ => String::new(),
    }
}

/// A failed requirement in words: `资金到位率99.00%（要求100%）`.
pub(crate) fn failure(p: &Pipeline, r: &Row, id: &str, figure: Option<f64>) -> String {
    let name = REQUIREMENTS
        .iter()
        .find(|q| q.id == id)
        .map_or(id, |q| q.name);
    match (id, floor_of(p, id)) {
        ("satisfaction", _) if figure.is_none() => format!("{name}无法计算（全年无回访记录）"),
        (_, Some(_)) => format!(
            "{name}{}（要求{}）",
            format::pct(figure),
            requirement_words(p, id)
        ),
        ("arrival" | "expenditure", _) => format!("{name}{}（要求100%）", format::pct(figure)),
        ("per_case_input", _) => format!(
            "{name}{}/件（要求{}）",
            format::yuan(figure),
            requirement_words(p, id)
        ),
        ("on_time", _) => {
            let mut parts = Vec::new();
            if r.months_late > 0 {
                parts.push(format!("逾期报送{}个月", r.months_late));
            }
            if r.months_missing > 0 {
                parts.push(format!("未报送{}个月", r.months_missing));
            }
            parts.join("、")
        }
        ("checks", _) => format!("核实事项{}项未说明", r.checks_unexplained),
        _ => name.to_string(),
    }
}

/// What a unit failed, in words, `；`-separated (empty: every requirement met).
pub fn failures(p: &Pipeline, r: &Row) -> String {
    r.figures
        .iter()
        .filter(|(_, _, pass)| !pass)
        .map(|(id, fig, _)| failure(p, r, id, *fig))
        .collect::<Vec<_>>()
        .join("；")
}

/// "方案考核要求（…）：8个单位中X个达标；管理要求（…）：8个单位中Y个达标。"
fn group_line(units: &[&Row]) -> String {
    let names = |g: Group| {
        REQUIREMENTS
            .iter()
            .filter(|q| q.group == g)
            .map(|q| q.name)
            .collect::<Vec<_>>()
            .join("、")
    };
    let count = |f: fn(&Row) -> bool| units.iter().filter(|r| f(r)).count();
    format!(
        "{}（{}）：{}个单位中{}个达标；{}（{}）：{}个单位中{}个达标。",
        Group::Plan.zh(),
        names(Group::Plan),
        units.len(),
        count(|r| r.plan_pass),
        Group::Bureau.zh(),
        names(Group::Bureau),
        units.len(),
        count(|r| r.bureau_pass)
    )
}

/// The body of the memo: the year's result in numbers, each from the `review` frame.
pub fn summary_lines(p: &Pipeline, rows: &[Row]) -> Vec<String> {
    let Some(total) = rows.iter().find(|r| r.code == "total") else {
        return Vec::new();
    };
    let units: Vec<&Row> = rows.iter().filter(|r| r.code != "total").collect();
    let passed: Vec<&str> = units
        .iter()
        .filter(|r| r.pass)
        .map(|r| r.name.as_str())
        .collect();
    let fig = |id: &str| {
        total
            .figures
            .iter()
            .find(|(i, _, _)| *i == id)
            .and_then(|(_, f, _)| *f)
    };
    let mut out = Vec::new();
    let outcome = if passed.len() == units.len() {
        format!("{}个单位总体结论均为达标", units.len())
    } else if passed.is_empty() {
        format!("{}个单位总体结论均为未达标", units.len())
    } else {
        format!(
            "{}个单位中{}个达标（{}），{}个未达标",
            units.len(),
            passed.len(),
            passed.join("、"),
            units.len() - passed.len()
        )
    };
    out.push(format!(
        "{}全年受理审批法律援助案件{}件，完成年度目标（{}件）的{}；{}。",
        p.area(),
        format::count(total.ytd_approved),
        format::count(total.target),
        format::pct(fig("completion")),
        outcome
    ));
    out.push(format!(
        "{}资金到位率{}，业务经费支出率{}，办案补贴及直接费用占比{}，案均投入{}/件；满意度{}，投诉办结率{}。",
        p.area(),
        format::pct(fig("arrival")),
        format::pct(fig("expenditure")),
        format::pct(fig("case_share")),
        format::yuan(fig("per_case_input")),
        format::pct(fig("satisfaction")),
        format::pct(fig("complaint_resolution")),
    ));
    out.push(format!(
        "全年应报送月报{}份，逾期报送{}份，未报送{}份；核实事项{}项，未说明{}项。",
        total.months_due,
        total.months_late,
        total.months_missing,
        total.checks,
        total.checks_unexplained
    ));
    out.push(group_line(&units));
    let counts = |id: &str| p.def.review.verdict_includes.iter().any(|i| i == id);
    out.extend(unmet_lines(p, &units));
    let counted: Vec<&str> = REQUIREMENTS
        .iter()
        .filter(|q| counts(q.id))
        .map(|q| q.name)
        .collect();
    let reasons = if total.pass {
        String::new()
    } else {
        format!("；未达到的：{}", failures_where(p, total, &counts))
    };
    out.push(format!(
        "{}总体结论：{}（计入总体结论的：{}）{reasons}。",
        p.area(),
        if total.pass { "达标" } else { "未达标" },
        counted.join("、")
    ));
    out
}

/// 未达标事项: only the units whose verdict is 未达标, only the requirements the verdict counts;
/// the other requirements missed are listed apart, under their own heading.
fn unmet_lines(p: &Pipeline, units: &[&Row]) -> Vec<String> {
    let counts = |id: &str| p.def.review.verdict_includes.iter().any(|i| i == id);
    let numbered = |rows: &[&&Row], which: &dyn Fn(&str) -> bool| -> Vec<String> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| format!("{}. {}：{}。", i + 1, r.name, failures_where(p, r, which)))
            .collect()
    };
    let mut out = Vec::new();
    let failing: Vec<&&Row> = units.iter().filter(|r| !r.pass).collect();
    if failing.is_empty() {
        out.push("未达标事项：无。".into());
    } else {
        out.push("未达标事项：".into());
        out.extend(numbered(&failing, &counts));
    }
    let other: Vec<&&Row> = units
        .iter()
        .filter(|r| r.figures.iter().any(|(id, _, pass)| !pass && !counts(id)))
        .collect();
    if !other.is_empty() {
        out.push("不计入总体结论的要求未达到的：".into());
        out.extend(numbered(&other, &|id| !counts(id)));
    }
    out
}

/// The requirements a row missed among those `which` picks, in words, `；`-joined.
fn failures_where(p: &Pipeline, r: &Row, which: &dyn Fn(&str) -> bool) -> String {
    r.figures
        .iter()
        .filter(|(id, _, pass)| !pass && which(id))
        .map(|(id, fig, _)| failure(p, r, id, *fig))
        .collect::<Vec<_>>()
        .join("；")
}

/// `memo.txt`: title, the summary, where the figures come from.
pub fn memo(meta: &RunMeta, rows: &[Row]) -> String {
    let p = meta.pipeline;
    let year = meta.period.year();
    let draft = provisional(p, &meta.as_of);
    let mut text = format!(
        "{}{year}年度{}考核验收情况（{}）\n\n",
        p.def.pipeline.city,
        p.def.pipeline.title,
        if draft {
            "暂定，年度未结束"
        } else {
            "初稿"
        }
    );
    for line in summary_lines(p, rows) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(&format!(
        "\n（本稿由 fayuan 根据{}汇总的数据（截至 {}）自动生成，数字均取自《{}》，请核对后使用。）\n",
        meta.period.zh(),
        period::instant_zh(&meta.as_of),
        file_name(p, year, draft)
    ));
    text
}

/// The December report this review agrees with (or not).
/// The December digest's section: the memo's sentences and each unit's verdict.
pub fn digest_lines(p: &Pipeline, a: &Analysis) -> Result<Option<Vec<String>>> {
    if !a.frames.contains_key("review") {
        return Ok(None);
    }
    // The summary names each failing item once (未达标事项) and the units that passed.
    Ok(Some(summary_lines(p, &rows(a)?)))
}

/// The verdict a December subject carries: "考核验收：8个单位中N个达标".
pub fn verdict(a: &Analysis) -> Result<Option<String>> {
    if !a.frames.contains_key("review") {
        return Ok(None);
    }
    let rows = rows(a)?;
    let units: Vec<&Row> = rows.iter().filter(|r| r.code != "total").collect();
    let passed = units.iter().filter(|r| r.pass).count();
    Ok(Some(format!(
        "考核验收：{}个单位中{}个达标",
        units.len(),
        passed
    )))
}

/// The year of a `--year` argument, checked against the pipeline.
pub fn december(pipeline: &Pipeline, year: i32) -> Result<Period> {
    if year != pipeline.year() {
        return Err(Error::Usage(format!(
            "--year {year}: the pipeline {} is for {}",
            pipeline.name(),
            pipeline.year()
        )));
    }
    Period::new(year, 12).ok_or_else(|| Error::Usage(format!("--year {year}")))
}
