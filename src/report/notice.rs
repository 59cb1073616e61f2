//! The monthly 工作通报 (issue 24): a Word document in 公文 layout whose every figure is the run's —
//! read from the same analysis frames the workbook shows, formatted as the workbook shows them
//! (`format.rs`), never computed again. The words are `texts/notice.txt` (a bureau may reword it);
//! the layout is `docx.rs`.
//!
//! Invariant: the units named as behind schedule are exactly those whose gap the workbook colours
//! (`schedule_gap_band` not ok; in December those below their annual target); each sentence about
//! money names exactly the units whose band for its one rule is not ok (`sql/12_funding.sql`):
//! 到位率, 支出率 and 占比 each have their own (test `every_unit_named_has_that_problem`).

use super::docx::{self, Block};
use crate::analyze::Analysis;
use crate::analyze::rows::{Completion, Funding, Per100k};
use crate::config::Pipeline;
use crate::error::Result;
use crate::format::{self, round_half_away};
use crate::period::Period;
use crate::texts::documents::{Finding, NoticeValues};
use chrono::DateTime;
use chrono_tz::Tz;

/// `六安市法律援助民生实事工作通报_2025-06.docx`.
pub fn file_name(pipeline: &Pipeline, period: Period, draft: bool) -> String {
    format!(
        "{}{}工作通报_{period}{}.docx",
        pipeline.def.pipeline.city,
        pipeline.def.pipeline.title,
        if draft { "_暂定" } else { "" }
    )
}

/// The units' table's header: during the year the gap to 序时进度 (percentage points), from
/// December the gap to the annual target (cases) — the year has closed, no schedule is left.
fn table_header(year_end: bool) -> Vec<String> {
    [
        "单位",
        "年度目标（件）",
        "累计受理审批（件）",
        "完成率",
        if year_end {
            "与年度目标差距（件）"
        } else {
            "与序时进度差距（百分点）"
        },
        // the body says the rank is by 完成率
        "排名",
    ]
    .map(str::to_string)
    .to_vec()
}

/// Whole cases with their sign: `+99`, `-130`, `0`.
fn signed_count(v: f64) -> String {
    let n = round_half_away(v, 0);
    if n > 0.0 {
        format!("+{}", format::int(Some(n)))
    } else {
        format::int(Some(n))
    }
}

/// The gap as the workbook's cell shows it: percentage points, two decimals (`-5.20`).
pub fn gap_cell(g: Option<f64>) -> String {
    g.filter(|g| g.is_finite())
        .map_or(format::DASH.into(), |g| {
            format!("{:.2}", round_half_away(g * 100.0, 2))
        })
}

/// The units' table rows, the units behind (with how far) and their names.
type Progress = (Vec<Vec<String>>, Vec<String>, Vec<String>);

/// The units' table rows (plan order, then 合计) and the units behind: during the year those
/// whose gap to 序时进度 the workbook colours (`schedule_gap_band` not ok), named with the gap;
/// in December those below their annual target, named with the shortfall in cases.
fn progress(a: &Analysis, year_end: bool) -> Result<Progress> {
    let mut rows = Vec::new();
    let (mut behind, mut behind_names) = (Vec::new(), Vec::new());
    for c in a.rows::<Completion>()? {
        let shortfall = match (c.target, c.ytd_approved) {
            (Some(t), Some(y)) => Some(t - y),
            _ => None,
        };
        rows.push(vec![
            c.unit_name.clone(),
            format::int(c.target),
            format::int(c.ytd_approved),
            format::pct(c.completion_rate),
            if year_end {
                // cases above (+) or below (−) the target, as the workbook signs a gap
                shortfall.map_or(format::DASH.into(), |s| signed_count(-s))
            } else {
                gap_cell(c.schedule_gap)
            },
            c.rank_completion
                .map_or(format::DASH.into(), |r| format!("{r:.0}")),
        ]);
        if c.unit_code == "total" {
            continue;
        }
        if year_end {
            if let Some(s) = shortfall.filter(|s| *s > 0.0) {
                behind.push(format!("{}（差{}件）", c.unit_name, format::count(Some(s))));
                behind_names.push(c.unit_name.clone());
            }
        } else if c.schedule_gap_band.as_deref().unwrap_or("") != "ok" {
            behind.push(format!(
                "{}（落后{}）",
                c.unit_name,
                format::pp(c.schedule_gap)
            ));
            behind_names.push(c.unit_name.clone());
        }
    }
    Ok((rows, behind, behind_names))
}

/// The units below the plan's money lines, rule by rule (`sql/12_funding.sql`'s bands):
/// 到位率, 支出率, 办案补贴及直接费用占比.
fn funding(a: &Analysis) -> Result<[Finding; 3]> {
    type Rule = fn(&Funding) -> (&Option<String>, Option<f64>);
    let rules: [Rule; 3] = [
        |f| (&f.arrival_band, f.arrival_rate),
        |f| (&f.expenditure_band, f.expenditure_rate),
        |f| (&f.case_share_band, f.case_share),
    ];
    let lines = a.rows::<Funding>()?;
    let mut out: [Finding; 3] = Default::default();
    for (slot, rule) in out.iter_mut().zip(rules) {
        for f in lines.iter().filter(|f| f.unit_code != "total") {
            let (band, figure) = rule(f);
            if band.as_deref().is_some_and(|b| !b.is_empty() && b != "ok") {
                slot.items
                    .push(format!("{}（{}）", f.unit_name, format::pct(figure)));
                slot.names.push(f.unit_name.clone());
            }
        }
    }
    Ok(out)
}

/// The months at whose end 到位率 is judged, as the 通报 names them: `3、6、9、12`.
fn checkpoints_zh(pipeline: &Pipeline) -> String {
    let mut c = pipeline.def.funding.arrival_checkpoints.clone();
    c.push(12);
    c.sort_unstable();
    c.dedup();
    c.iter().map(u32::to_string).collect::<Vec<_>>().join("、")
}

/// The notice's blocks, from the run's analysis.
pub fn blocks(
    pipeline: &Pipeline,
    period: Period,
    as_of: &DateTime<Tz>,
    a: &Analysis,
) -> Result<Vec<Block>> {
    let (values, rows, year_end) = values(pipeline, period, as_of, a)?;
    let values = crate::texts::contexts::value_of(values);
    let texts = &pipeline.texts;
    let mut out = vec![
        Block::Title(
            texts
                .block("notice.txt", "title", &values)?
                .trim()
                .to_string(),
        ),
        Block::Blank,
        Block::To(texts.block("notice.txt", "to", &values)?.trim().to_string()),
    ];
    out.extend(body_blocks(
        &texts.body("notice.txt", &values)?,
        &table_header(year_end),
        &rows,
    ));
    out.push(Block::Blank);
    out.push(Block::Signature {
        office: pipeline.def.pipeline.office.clone(),
        date: date_zh(as_of),
    });
    Ok(out)
}

/// The notice's values (texts/notice.txt), its progress table's rows, and whether the year has
/// closed.
fn values(
    pipeline: &Pipeline,
    period: Period,
    as_of: &DateTime<Tz>,
    a: &Analysis,
) -> Result<(NoticeValues, Vec<Vec<String>>, bool)> {
    let completion = a.total::<Completion>()?.unwrap_or_default();
    let per100k = a.total::<Per100k>()?.unwrap_or_default();
    let funds = a.total::<Funding>()?.unwrap_or_default();
    let draft = super::draft(pipeline, period, as_of);
    // The year has closed when December is due (a draft December still speaks of the schedule).
    let year_end = period.month() == 12 && !draft;
    let (rows, behind, behind_names) = progress(a, year_end)?;
    let [arrival_f, expenditure_f, share_f] = funding(a)?;
    let gap = completion.schedule_gap;
    let (ytd, target) = (completion.ytd_approved, completion.target);
    let shortfall = ytd.zip(target).map(|(y, t)| (t - y).max(0.0));
    let (per100k, per100k_annual, per100k_target) = (
        per100k.per100k_ytd,
        per100k.per100k_annualized,
        per100k.per100k_target,
    );
    let arrival_month = pipeline.def.funding.arrival_month(period.month());
    let subs = a.rows::<crate::analyze::rows::Submission>()?;
    let names_where = |flag: fn(&crate::analyze::rows::Submission) -> bool| -> Vec<String> {
        subs.iter()
            .filter(|s| flag(s))
            .map(|s| s.unit_name.clone())
            .collect()
    };
    let values = NoticeValues {
        heading: pipeline.heading(),
        year: period.year(),
        month: period.month(),
        year_end,
        draft,
        deadline_zh: pipeline.deadline_zh(period),
        period_zh: period.zh(),
        ytd_zh: period.ytd_zh(),
        area: pipeline.area(),
        ytd: format::count(ytd),
        target: format::count(target),
        reached: shortfall.is_some_and(|s| s == 0.0),
        over: ytd.zip(target).is_some_and(|(y, t)| y > t),
        shortfall: format::count(shortfall),
        completion: format::pct(completion.completion_rate),
        schedule: format::pct(completion.schedule_rate),
        gap: gap_cell(gap.map(f64::abs)),
        behind_total: gap.is_some_and(|g| g < 0.0),
        per100k: format::dec2(per100k),
        per100k_annual: format::dec2(per100k_annual),
        per100k_target: format::dec2(per100k_target),
        per100k_reached: per100k
            .zip(per100k_target)
            .is_some_and(|(a, t)| round_half_away(a, 2) >= round_half_away(t, 2)),
        warning_pp: format::num(Some(pipeline.def.alerts.behind_schedule_warning_pp)),
        behind,
        behind_names,
        arrival_month,
        checkpoints: checkpoints_zh(pipeline),
        arrival_schedule: format::pct(Some(f64::from(arrival_month) / 12.0)),
        arrival_f,
        expenditure_f,
        share_f,
        share_min: format::pct0(Some(pipeline.def.alerts.case_share_min)),
        arrival: format::pct(funds.arrival_rate),
        expenditure: format::pct(funds.expenditure_rate),
        case_share: format::pct(funds.case_share),
        missing: names_where(|s| s.reported != Some(true)),
        late: names_where(|s| s.late == Some(true)),
        pending: a
            .unexplained_checks()?
            .into_iter()
            .map(|u| format!("{}{}", u.unit_name, u.text))
            .collect(),
        as_of: date_zh(as_of),
        unsigned: super::unsigned_months(a)?,
        deadline_day: pipeline.def.submission.deadline_day,
        deadline_rule: crate::calendar::rule_zh(pipeline.days().roll()),
    };
    Ok((values, rows, year_end))
}

/// A template's body as blocks: "# " a first-level heading, "## " a second-level one,
/// "[[各单位进展表]]" the units' table (`rows`), anything else a paragraph; blank lines dropped.
pub(crate) fn body_blocks(body: &str, header: &[String], rows: &[Vec<String>]) -> Vec<Block> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            if let Some(h) = line.strip_prefix("## ") {
                Block::Heading2(h.to_string())
            } else if let Some(h) = line.strip_prefix("# ") {
                Block::Heading1(h.to_string())
            } else if line == "[[各单位进展表]]" {
                Block::Table {
                    header: header.to_vec(),
                    rows: rows.to_vec(),
                }
            } else {
                Block::Para(line.to_string())
            }
        })
        .collect()
}

/// 成文日期 in Arabic numerals: `2025年7月6日`.
pub fn date_zh(t: &DateTime<Tz>) -> String {
    use chrono::Datelike;
    format!("{}年{}月{}日", t.year(), t.month(), t.day())
}

/// The notice as `.docx` bytes.
pub fn render(
    pipeline: &Pipeline,
    period: Period,
    as_of: &DateTime<Tz>,
    a: &Analysis,
) -> Result<Vec<u8>> {
    let blocks = blocks(pipeline, period, as_of, a)?;
    docx::render(
        &blocks,
        &file_name(pipeline, period, super::draft(pipeline, period, as_of)),
        &pipeline.def.pipeline.office,
    )
}
