//! The email digest's body (SPEC §6): subject, HTML that reads well on a phone, and plain text,
//! rendered with minijinja from the analysis frames.
//!
//! Invariant: presentation only — every figure comes from the analyses, formatted by `format`.

use crate::analyze::rows::{AlertLine, Completion, Funding, Narrative, Per100k, Submission};
use crate::analyze::{Analysis, Severity};
use crate::config::Pipeline;
use crate::error::Result;
use crate::format;
use crate::palette;
use crate::period::{self, Period};
use crate::texts::documents::{
    AlertItem, DigestValues, Group, Headline, UnitLine, WithoutWorkbook,
};
use chrono::DateTime;
use chrono_tz::Tz;

/// The colour of a severity's heading in the digest (the words say it too).
fn severity_colour(s: Severity) -> String {
    match s {
        Severity::Critical => palette::CRITICAL_TEXT,
        Severity::Warning => palette::WARNING_TEXT,
        Severity::Info => palette::PLAIN_TEXT,
    }
    .css()
}

/// The colours of a band (ok, warning, critical) the analyses emit: (text, cell background).
fn band_colour(band: &str) -> (String, String) {
    (
        palette::band_text(band).css(),
        palette::band_fill(band).css(),
    )
}

/// A rendered digest.
pub struct Digest {
    pub subject: String,
    /// The same body with the chart as `chart.png` beside it (saved in the run folder).
    pub html_file: String,
    pub text: String,
}

pub struct Meta<'a> {
    pub pipeline: &'a Pipeline,
    pub period: Period,
    pub as_of: DateTime<Tz>,
    /// Why the chart is missing, if it is.
    pub chart_note: Option<String>,
    /// Why the workbook is not attached, if it is not.
    pub attachment_note: Option<String>,
    /// December: the review workbook's name when it is attached.
    pub review_book: Option<String>,
}

/// The digest of an analysis: its subject, HTML and plain text, from the templates
/// `digest.txt` and `digest.html` (crate::texts).
pub fn render(meta: &Meta, a: &Analysis) -> Result<Digest> {
    let p = meta.pipeline;
    let total = a.total::<Completion>()?.unwrap_or_default();
    let (completion, schedule) = (total.completion_rate, total.schedule_rate);
    let (alerts, notes) = alert_counts(a)?;
    let headline = headline(meta, a)?;
    let year_end = year_end(meta);
    let units = unit_lines(a, year_end)?;
    let groups = alert_groups(a)?;
    let missing: Vec<String> = units
        .iter()
        .filter(|u| u.reported == "未报")
        .map(|u| u.name.clone())
        .collect();
    let (pending, narratives) = (pending(a)?, narratives(a)?);
    let review = super::review::digest_lines(p, a)?.unwrap_or_default();
    let verdict = super::review::verdict(a)?;
    let mut values = DigestValues {
        heading: p.heading(),
        year: meta.period.year(),
        period_zh: meta.period.zh(),
        ytd: meta.period.ytd_zh(),
        as_of: period::instant_zh(&meta.as_of),
        deadline: p.deadline_zh(meta.period),
        completion: format::pct(completion),
        schedule: format::pct(schedule),
        provisional: !missing.is_empty(),
        missing,
        headline,
        units,
        groups,
        alert_count: alerts,
        info_count: notes,
        year_end,
        draft: super::draft(p, meta.period, &meta.as_of),
        gap_header: if year_end {
            "与年度目标"
        } else {
            "与序时"
        },
        verdict,
        review,
        review_book: meta.review_book.clone(),
        pending,
        narratives,
        palette: palette::for_templates(),
        chart_note: meta.chart_note.clone().unwrap_or_default(),
        attachment_note: meta.attachment_note.clone().unwrap_or_default(),
        subject: String::new(),
        chart_src: String::new(),
        without: WithoutWorkbook::default(),
    };
    let value = |v: &DigestValues| crate::texts::contexts::value_of(v);
    let subject = p.texts.block("digest.txt", "subject", &value(&values))?;
    values.subject = subject.clone();
    let text = p.texts.body("digest.txt", &value(&values))?;
    if meta.chart_note.is_none() {
        values.chart_src = "chart.png".into();
    }
    Ok(Digest {
        html_file: p.texts.body("digest.html", &value(&values))?,
        text,
        subject,
    })
}

/// Soft checks still waiting for the county's 说明 (any month so far): `霍邱县：7月满意度低于90%（…）`.
fn pending(a: &Analysis) -> Result<Vec<String>> {
    Ok(a.unexplained_checks()?
        .into_iter()
        .map(|u| format!("{}：{}", u.unit_name, u.text))
        .collect())
}

/// Each unit's 执行情况 for the month, its first two lines (at most 80 characters).
fn narratives(a: &Analysis) -> Result<Vec<String>> {
    Ok(a.rows::<Narrative>()?
        .into_iter()
        .map(|n| {
            let (u, w) = (n.unit_name, n.narrative.unwrap_or_default());
            let head: Vec<&str> = w.lines().filter(|l| !l.trim().is_empty()).take(2).collect();
            let mut text: String = head.join(" ").chars().take(80).collect();
            if text.chars().count() < w.chars().count() && !w.is_empty() {
                text.push('…');
            }
            format!("{u}：{text}")
        })
        .collect())
}

/// (预警, 提示): 预警 counts 严重 and 警告 — the subject's count and the card's.
fn alert_counts(a: &Analysis) -> Result<(usize, usize)> {
    let alerts = a.rows::<AlertLine>()?;
    let infos = alerts
        .iter()
        .filter(|l| l.severity == Severity::Info.code())
        .count();
    Ok((alerts.len() - infos, infos))
}

/// The year has closed: a December report made after December's deadline speaks of the annual
/// target, never of 序时进度.
fn year_end(meta: &Meta) -> bool {
    meta.period.month() == 12 && !super::draft(meta.pipeline, meta.period, &meta.as_of)
}

/// The headline indicator's card, on the basis the 通报 gives it: so far (截至m月累计), with the
/// annualised figure and the plan's target beside it; December the year's, reached or not.
fn per100k_card(meta: &Meta, a: &Analysis, year_end: bool) -> Result<Headline> {
    let total = a.total::<Per100k>()?.unwrap_or_default();
    let (per100k, per100k_annual, per100k_target) = (
        total.per100k_ytd,
        total.per100k_annualized,
        total.per100k_target,
    );
    Ok(Headline {
        note: if per100k.is_none() {
            "部分单位人口数据缺失".into()
        } else if year_end {
            format!(
                "件/10万人，年度目标{}，{}",
                format::dec2(per100k_target),
                if per100k.zip(per100k_target).is_some_and(|(v, t)| {
                    format::round_half_away(v, 2) >= format::round_half_away(t, 2)
                }) {
                    "已达到"
                } else {
                    "未达到"
                }
            )
        } else {
            format!(
                "件/10万人，按全年折算{}，年度目标{}",
                format::dec2(per100k_annual),
                format::dec2(per100k_target)
            )
        },
        label: if year_end {
            "每10万人供给量（全年）".to_string()
        } else {
            format!("每10万人供给量（截至{}月累计）", meta.period.month())
        },
        value: format::dec2(per100k),
        colour: palette::PLAIN_TEXT.css(),
    })
}

/// The tiles at the top: the city's headline figures, coloured by the bands the analyses emit.
fn headline(meta: &Meta, a: &Analysis) -> Result<Vec<Headline>> {
    let total = a.total::<Completion>()?.unwrap_or_default();
    let funds = a.total::<Funding>()?.unwrap_or_default();
    let (completion, schedule) = (total.completion_rate, total.schedule_rate);
    // The card counts what the subject counts: 预警 (严重 and 警告), 提示 apart in its note.
    let (alerts, infos) = alert_counts(a)?;
    let year_end = year_end(meta);
    let plain = |label, value| Headline {
        label,
        value,
        colour: palette::PLAIN_TEXT.css(),
        note: String::new(),
    };
    Ok(vec![
        Headline {
            label: "累计完成率".to_string(),
            value: format::pct(completion),
            colour: band_colour(total.schedule_gap_band.as_deref().unwrap_or("")).0,
            note: if year_end {
                "年度目标 100%".to_string()
            } else {
                format!("序时进度 {}", format::pct(schedule))
            },
        },
        per100k_card(meta, a, year_end)?,
        Headline {
            colour: if alerts > 0 {
                palette::WARNING_TEXT
            } else {
                palette::OK_TEXT
            }
            .css(),
            note: if infos > 0 {
                format!("另有提示{infos}条")
            } else {
                String::new()
            },
            ..plain("预警".to_string(), format!("{alerts}条"))
        },
        plain("资金到位率".to_string(), format::pct(funds.arrival_rate)),
        plain(
            "业务经费支出率".to_string(),
            format::pct(funds.expenditure_rate),
        ),
        Headline {
            label: "办案补贴占比".to_string(),
            value: format::pct(funds.case_share),
            colour: band_colour(funds.case_share_band.as_deref().unwrap_or("")).0,
            note: format!(
                "要求不低于{}",
                format::pct0(Some(meta.pipeline.def.alerts.case_share_min))
            ),
        },
    ])
}

/// One line per unit and 合计: cases, target, completion, the gap (coloured by its band),
/// reported or not.
fn unit_lines(a: &Analysis, year_end: bool) -> Result<Vec<UnitLine>> {
    let subs = a.rows::<Submission>()?;
    Ok(a.rows::<Completion>()?
        .into_iter()
        .map(|c| {
            // (the total's line says nothing of reporting)
            let rep = subs
                .iter()
                .find(|s| s.unit_code == c.unit_code)
                .map(|s| s.reported == Some(true));
            UnitLine {
                name: c.unit_name.clone(),
                ytd: format::int(c.ytd_approved),
                target: format::int(c.target),
                rate: format::pct(c.completion_rate),
                gap: if year_end {
                    match (c.target, c.ytd_approved) {
                        (Some(t), Some(y)) if y < t => {
                            format!("差{}件", format::count(Some(t - y)))
                        }
                        (Some(_), Some(_)) => "已完成".to_string(),
                        _ => format::DASH.into(),
                    }
                } else {
                    c.schedule_gap.map_or(format::DASH.into(), |g| {
                        format!("{}{}", if g < 0.0 { "−" } else { "+" }, format::pp(Some(g)))
                    })
                },
                colour: band_colour(c.schedule_gap_band.as_deref().unwrap_or("")).1,
                reported: match rep {
                    Some(true) => "已报",
                    Some(false) => "未报",
                    None => "",
                },
                reported_colour: if rep == Some(false) {
                    palette::CRITICAL_TEXT
                } else {
                    palette::OK_TEXT
                }
                .css(),
                total: c.unit_code == "total",
            }
        })
        .collect())
}

/// The alerts grouped by severity, most serious first (empty groups left out).
/// The alerts by severity, each once: the soft checks are the 待说明 section's, not repeated here.
fn alert_groups(a: &Analysis) -> Result<Vec<Group>> {
    let alerts = a.rows::<AlertLine>()?;
    Ok(Severity::ALL
        .into_iter()
        .filter_map(|s| {
            let items: Vec<AlertItem> = alerts
                .iter()
                .filter(|l| l.severity == s.code() && l.rule != "soft_check")
                .map(|l| AlertItem {
                    unit: l.unit_name.clone().unwrap_or_default(),
                    message: l.message.clone(),
                })
                .collect();
            (!items.is_empty()).then_some(Group {
                name: s.zh(),
                colour: severity_colour(s),
                items,
            })
        })
        .collect())
}
