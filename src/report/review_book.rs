//! The year's review workbook (考核验收): the first sheet one row per unit with each requirement's
//! figure and verdict, then the requirements, the soft checks of the year and the memo.

use super::workbook::Meta;
use super::xlsx::*;
use crate::analyze::Analysis;
use crate::error::Result;
use crate::{format, period};
use polars::prelude::*;
use std::path::Path;

/// Green for a requirement met, red for one not met (the verdicts are the review SQL's).
fn verdict_fill(key: &str, v: &AnyValue) -> Option<u32> {
    if !(key.ends_with("_pass") || key == "verdict") {
        return None;
    }
    match v {
        AnyValue::Boolean(true) => Some(GREEN),
        AnyValue::Boolean(false) => Some(RED),
        other => match other.get_str() {
            Some("pass") => Some(GREEN),
            Some("fail") => Some(RED),
            _ => None,
        },
    }
}

/// The 考核验收 sheet's second line: the data's date, whether it agrees with December's
/// report, and how the verdict is reached (in words, never a configuration key).
fn subtitle(meta: &Meta, same_rows: Option<bool>) -> String {
    let source = match same_rows {
        Some(true) => format!("与{}汇总所用数据一致", meta.period.zh()),
        Some(false) => format!(
            "注意：{}汇总之后有新报送或更正，本表按最新数据",
            meta.period.zh()
        ),
        None => format!("{}汇总尚未生成", meta.period.zh()),
    };
    let counted: Vec<&str> = crate::analyze::REQUIREMENTS
        .iter()
        .filter(|q| {
            meta.pipeline
                .def
                .review
                .verdict_includes
                .iter()
                .any(|i| i == q.id)
        })
        .map(|q| q.name)
        .collect();
    format!(
        "全年（{}）；数据截至 {}；生成于 {}；{}。各项逐一精确比较；方案考核要求与管理要求分别给出结论，{}均达标的，总体结论为达标。",
        meta.period.ytd_zh(),
        period::instant_zh(&meta.as_of),
        period::instant_zh(&meta.generated_at),
        source,
        counted.join("、")
    )
}

/// The year's review workbook (SPEC §11): 考核验收 (one row per unit and 合计, each requirement's
/// figure and verdict, 总体结论 last), 考核要求 (the requirements and their thresholds), 核实事项
/// (every soft check of the year with the county's 说明), 报告初稿 (the memo's text) and 督促记录
/// (the year's returns, confirmations, supervision items and reminders, per unit and in order).
/// `same_rows`: whether the December report used the same rows (None: no December report).
pub fn render_review(
    meta: &Meta,
    a: &Analysis,
    memo: &str,
    same_rows: Option<bool>,
    record: &[RecordLine],
    path: &Path,
) -> Result<Vec<u8>> {
    let x = xerr(path);
    let p = meta.pipeline;
    let st = Styles::new();
    let mut book = Workbook::new();
    book.set_zip_compression_level(1);
    let title = format!(
        "{}{}年度{}考核验收{}",
        p.def.pipeline.city,
        meta.period.year(),
        p.def.pipeline.title,
        if super::review_rows::provisional(p, &meta.as_of) {
            "（暂定：年度未结束，只计已到报送截止的月份）"
        } else {
            ""
        }
    );
    book.set_properties(
        &DocProperties::new()
            .set_title(title.clone())
            .set_author("fayuan")
            .set_company(p.def.pipeline.city.clone()),
    );
    let spec = |q: &str| a.query(q).map(|q| q.columns.clone()).unwrap_or_default();
    // 考核验收
    let sheet = book.add_worksheet();
    sheet.set_name("考核验收").map_err(&x)?;
    sheet
        .write_string_with_format(0, 0, &title, &st.title)
        .map_err(&x)?;
    let sub = subtitle(meta, same_rows);
    sheet
        .write_string_with_format(1, 0, &sub, &st.subtitle)
        .map_err(&x)?;
    let mut widths = Vec::new();
    table(
        sheet,
        &st,
        3,
        a.frame("review")?,
        &spec("review"),
        &verdict_fill,
        &mut widths,
        path,
    )?;
    let scale = finish_printing(sheet, &widths, 3, 2, widths.len(), path)?;
    // On paper: the conclusions next to each unit on the first page, the whole in two pages.
    sheet.set_print_fit_to_pages(2, 1);
    fit_title(
        sheet,
        0,
        (&title, &st.title, TITLE_PT),
        &widths,
        scale,
        path,
    )?;
    fit_title(sheet, 1, (&sub, &st.subtitle, 11.0), &widths, scale, path)?;
    requirements_sheet(&mut book, &st, &requirements(p), path)?;
    // 核实事项
    frame_sheet(
        &mut book,
        &st,
        "核实事项",
        "全年数据核实事项及说明",
        a.frame("checks")?,
        // The check's id is for the twin; people read its words (检查项).
        &spec("checks")
            .into_iter()
            .filter(|c| c.key != "check_id")
            .collect::<Vec<_>>(),
        NONE,
        path,
    )?;
    memo_sheet(&mut book, &st, memo, path)?;
    record_sheet(&mut book, &st, p, meta.period.year(), record, path)?;
    book.save_to_buffer().map_err(xerr(path))
}

/// One step of 指导督促 from the record: when, which unit, what kind, who, what.
#[derive(Debug, Clone)]
pub struct RecordLine {
    pub at: String,
    pub unit: String,
    pub kind: &'static str,
    pub who: String,
    pub what: String,
}

/// The kinds of the record that are 指导督促, as the sheet names them (messages: reminders).
const SUPERVISING: [(&str, &str); 6] = [
    ("returned", "退回"),
    ("return_cancelled", "撤销退回"),
    ("confirmed", "确认"),
    ("supervision_opened", "交办督办"),
    ("supervision_answered", "答复督办"),
    ("supervision_closed", "办结督办"),
];

/// The year's 指导督促 from the record, as of the review's "now": returns, confirmations,
/// supervision items and their answers, and every reminder (催报) that reached a unit.
pub fn record_lines(meta: &super::RunMeta) -> Vec<RecordLine> {
    let mut out: Vec<RecordLine> = Vec::new();
    // A reminder is one line however many people it reached (its recipients joined).
    let mut messages: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for e in meta
        .record
        .iter()
        .filter(|e| e.at.0 <= meta.as_of && !e.unit.is_empty())
    {
        if let Some((_, zh)) = SUPERVISING.iter().find(|(k, _)| *k == e.kind) {
            out.push(RecordLine {
                at: e.at.minute(),
                unit: e.unit.clone(),
                kind: zh,
                who: e.who.clone(),
                what: e.what.clone(),
            });
            continue;
        }
        let Some(rest) = e.key.strip_prefix("message remind-") else {
            continue;
        };
        if e.kind != "message_sent" {
            continue;
        }
        let (id, to) = rest.split_once(" to ").unwrap_or((rest, ""));
        match messages.get(id) {
            Some(&k) => {
                out[k].what.push('、');
                out[k].what.push_str(to);
            }
            None => {
                messages.insert(id, out.len());
                out.push(RecordLine {
                    at: e.at.minute(),
                    unit: e.unit.clone(),
                    kind: "催报",
                    who: e.who.clone(),
                    what: e.what.clone(),
                });
            }
        }
    }
    out
}

/// The sheet 督促记录: per unit the returns, supervision items and reminders of the year, then
/// every step in order.
fn record_sheet(
    book: &mut Workbook,
    st: &Styles,
    p: &crate::config::Pipeline,
    year: i32,
    lines: &[RecordLine],
    path: &Path,
) -> Result<()> {
    let x = xerr(path);
    let sheet = book.add_worksheet();
    sheet.set_name("督促记录").map_err(&x)?;
    sheet
        .write_string_with_format(0, 0, format!("{year}年指导督促记录"), &st.title)
        .map_err(&x)?;
    let heads = [
        "单位",
        "退回",
        "确认",
        "交办督办",
        "答复督办",
        "办结督办",
        "催报",
    ];
    for (c, h) in heads.iter().enumerate() {
        sheet
            .write_string_with_format(2, c as u16, *h, &st.header)
            .map_err(&x)?;
    }
    for (i, u) in p.units.iter().enumerate() {
        let r = 3 + i as u32;
        sheet
            .write_string_with_format(r, 0, &u.name, &st.text)
            .map_err(&x)?;
        for (c, kind) in heads.iter().enumerate().skip(1) {
            let n = lines
                .iter()
                .filter(|l| l.unit == u.code && l.kind == *kind)
                .count();
            sheet
                .write_number_with_format(r, c as u16, n as f64, &st.text)
                .map_err(&x)?;
        }
    }
    let mut r = 4 + p.units.len() as u32;
    for (c, h) in ["时间", "单位", "类别", "经办", "内容"].iter().enumerate() {
        sheet
            .write_string_with_format(r, c as u16, *h, &st.header)
            .map_err(&x)?;
    }
    for l in lines {
        r += 1;
        let name = p.unit(&l.unit).map_or(l.unit.clone(), |u| u.name.clone());
        for (c, v) in [&l.at, &name, &l.kind.to_string(), &l.who, &l.what]
            .iter()
            .enumerate()
        {
            sheet
                .write_string_with_format(r, c as u16, format::cell_text(v), &st.text)
                .map_err(&x)?;
        }
    }
    finish_sheet(
        sheet,
        &[18.0, 12.0, 10.0, 14.0, 60.0, 10.0, 10.0],
        2,
        1,
        path,
    )?;
    Ok(())
}

/// The review's requirements as people read them: (what, the requirement, how it is computed),
/// in the order of the 考核验收 sheet.
pub(crate) fn requirements(
    p: &crate::config::Pipeline,
) -> Vec<(&'static str, String, &'static str)> {
    crate::analyze::REQUIREMENTS
        .iter()
        .map(|r| {
            (
                r.name,
                super::review_rows::requirement_words(p, r.id),
                r.method,
            )
        })
        .collect()
}

/// The sheet 考核要求: each requirement, its threshold and how it is computed.
fn requirements_sheet(
    book: &mut Workbook,
    st: &Styles,
    requirements: &[(&str, String, &str)],
    path: &Path,
) -> Result<()> {
    let x = xerr(path);
    let sheet = book.add_worksheet();
    sheet.set_name("考核要求").map_err(&x)?;
    sheet
        .write_string_with_format(0, 0, "考核要求及口径", &st.title)
        .map_err(&x)?;
    for (c, h) in ["考核事项", "要求", "口径"].iter().enumerate() {
        sheet
            .write_string_with_format(2, c as u16, *h, &st.header)
            .map_err(&x)?;
    }
    for (i, (name, req, how)) in requirements.iter().enumerate() {
        let r = 3 + i as u32;
        sheet
            .write_string_with_format(r, 0, *name, &st.text)
            .map_err(&x)?;
        sheet
            .write_string_with_format(r, 1, req, &st.text)
            .map_err(&x)?;
        sheet
            .write_string_with_format(r, 2, *how, &st.text)
            .map_err(&x)?;
    }
    finish_sheet(sheet, &[24.0, 28.0, 50.0], 2, 1, path)?;
    Ok(())
}

/// The sheet 报告初稿: the memo's text, a line a row.
fn memo_sheet(book: &mut Workbook, st: &Styles, memo: &str, path: &Path) -> Result<()> {
    let x = xerr(path);
    let sheet = book.add_worksheet();
    sheet.set_name("报告初稿").map_err(&x)?;
    const WIDTH: f64 = 72.0;
    sheet.set_column_width(0, WIDTH).map_err(&x)?;
    for (i, line) in memo.lines().enumerate() {
        let (f, pt) = if i == 0 {
            (&st.title, TITLE_PT)
        } else {
            (&st.note, 11.0)
        };
        // Each line wraps within the column, its row as tall as its lines: every item prints
        // whole ("说明。" alone was the end of a line cut off).
        let wrapped = f.clone().set_text_wrap().set_align(FormatAlign::Top);
        sheet
            .write_string_with_format(i as u32, 0, format::cell_text(line), &wrapped)
            .map_err(&x)?;
        let per_line = WIDTH * 11.0 / pt * 0.9;
        let lines = (text_width(line) / per_line).ceil().max(1.0);
        sheet
            .set_row_height(i as u32, lines * pt * 1.5 + 3.0)
            .map_err(&x)?;
    }
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}
