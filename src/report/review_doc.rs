//! The year's 考核验收报告 (issue 24): a Word document in 公文 layout (`docx.rs`) following the
//! memo's structure — 全年完成情况, each requirement with the units that met and missed it,
//! 总体结论 — from the `review` frame's rows, as the memo and the workbook read them. The words
//! are `texts/acceptance-report.txt`.
//!
//! Invariant: a unit is named as missing a requirement exactly when review.csv says it failed it.

use super::RunMeta;
use super::docx::{self, Block};
use super::review_rows::{self as review, Row};
use crate::error::Result;
use crate::format;
use crate::requirements::{Group, REQUIREMENTS};
use crate::texts::documents::{AcceptanceValues, Requirement, RequirementGroup};

/// `六安市法律援助民生实事考核验收报告_2025.docx` (`_暂定` before the year is over).
pub fn file_name(meta: &RunMeta, provisional: bool) -> String {
    let p = &meta.pipeline.def.pipeline;
    format!(
        "{}{}考核验收报告_{}{}.docx",
        p.city,
        p.title,
        meta.period.year(),
        if provisional { "_暂定" } else { "" }
    )
}

/// A unit's figure for a requirement it missed, without the requirement's name or its line:
/// `霍山县97.10%`, `市本级逾期报送1个月`.
fn missed(meta: &RunMeta, r: &Row, id: &str, name: &str, figure: Option<f64>) -> String {
    let words = review::failure(meta.pipeline, r, id, figure);
    let words = words.strip_prefix(name).unwrap_or(&words);
    let words = words.split("（要求").next().unwrap_or(words);
    format!("{}（{}）", r.name, words)
}

/// 发文机关: `[docs] issuer`, or the pipeline's office.
fn issuer(p: &crate::config::Pipeline) -> String {
    if p.def.docs.issuer.trim().is_empty() {
        p.def.pipeline.office.clone()
    } else {
        p.def.docs.issuer.trim().to_string()
    }
}

/// The project's headline indicator for the year against its target, in the 通报's words.
fn per100k_line(p: &crate::config::Pipeline, a: &crate::analyze::Analysis) -> Result<String> {
    let total = a
        .total::<crate::analyze::rows::Per100k>()?
        .unwrap_or_default();
    Ok(match (total.per100k_ytd, total.per100k_target) {
        (Some(v), Some(t)) => format!(
            "{}全年每10万人法律援助供给量{}件，{}年度目标（{}件）。",
            p.area(),
            format::dec2(Some(v)),
            if format::round_half_away(v, 2) >= format::round_half_away(t, 2) {
                "达到"
            } else {
                "未达到"
            },
            format::dec2(Some(t))
        ),
        _ => String::new(),
    })
}

/// Section 二: each group of requirements, each requirement with the units that met and missed it.
fn groups(meta: &RunMeta, units: &[&Row]) -> Vec<RequirementGroup> {
    let p = meta.pipeline;
    [Group::Plan, Group::Bureau]
        .into_iter()
        .enumerate()
        .map(|(k, g)| {
            let requirements: Vec<Requirement> = REQUIREMENTS
                .iter()
                .filter(|q| q.group == g)
                .map(|q| {
                    let pass = |r: &Row| r.figures.iter().find(|f| f.0 == q.id).map(|f| (f.1, f.2));
                    let met: Vec<String> = units
                        .iter()
                        .filter(|r| pass(r).is_some_and(|(_, ok)| ok))
                        .map(|r| r.name.clone())
                        .collect();
                    let missed: Vec<String> = units
                        .iter()
                        .filter_map(|r| match pass(r) {
                            Some((fig, false)) => Some(missed(meta, r, q.id, q.name, fig)),
                            _ => None,
                        })
                        .collect();
                    Requirement {
                        name: q.name,
                        words: review::requirement_words(p, q.id),
                        met,
                        missed,
                    }
                })
                .collect();
            RequirementGroup {
                number: ["一", "二"][k],
                name: g.zh(),
                requirements,
            }
        })
        .collect()
}

/// The report as `.docx` bytes.
pub fn render(
    meta: &RunMeta,
    rows: &[Row],
    provisional: bool,
    a: &crate::analyze::Analysis,
) -> Result<Vec<u8>> {
    let p = meta.pipeline;
    let units: Vec<&Row> = rows.iter().filter(|r| r.code != "total").collect();
    let total = rows.iter().find(|r| r.code == "total");
    let groups = groups(meta, &units);
    // The memo's sentences, without its list of what each unit missed (section 二 says it, by
    // requirement).
    let summary: Vec<String> = review::summary_lines(p, rows)
        .into_iter()
        .filter(|l| {
            !l.starts_with("未达标事项")
                && !l.starts_with("不计入总体结论")
                && !l.starts_with(|c: char| c.is_ascii_digit())
        })
        .collect();
    // The memo's last line is 总体结论; the report has a section of its own for it.
    let (verdict, summary) = match summary.split_last() {
        Some((last, rest)) if last.contains("总体结论") => (last.clone(), rest.to_vec()),
        _ => (
            total
                .map(|t| if t.pass { "达标" } else { "未达标" })
                .unwrap_or("")
                .to_string(),
            summary,
        ),
    };
    let per100k_line = per100k_line(p, a)?;
    let values = crate::texts::contexts::value_of(AcceptanceValues {
        heading: p.heading(),
        year: meta.period.year(),
        provisional,
        to: p.def.docs.acceptance_to.clone(),
        per100k_line,
        summary,
        groups,
        verdict,
        unsigned: super::unsigned_months(a)?,
    });
    let texts = &p.texts;
    let mut blocks = vec![
        Block::Title(
            texts
                .block("acceptance-report.txt", "title", &values)?
                .trim()
                .to_string(),
        ),
        Block::Blank,
        Block::To(
            texts
                .block("acceptance-report.txt", "to", &values)?
                .trim()
                .to_string(),
        ),
    ];
    blocks.extend(super::notice::body_blocks(
        &texts.body("acceptance-report.txt", &values)?,
        &[],
        &[],
    ));
    blocks.push(Block::Blank);
    blocks.push(Block::Signature {
        office: issuer(p),
        date: super::notice::date_zh(&meta.as_of),
    });
    docx::render(
        &blocks,
        &file_name(meta, provisional),
        &p.def.pipeline.office,
    )
}
