//! The consolidated workbook (SPEC §5): cover, 汇总, 完成进度, 每10万人供给量, 经费合规, 质量,
//! 月度明细, 异常预警, 原始数据.
//!
//! Invariant: written with the xlsx kit (`report/xlsx.rs`). Figures are written as numbers, rounded
//! half away from zero to what is shown (percentages to two decimals of a percent), so that what
//! Excel displays and what it sums agree; an undefined figure is the text "—".

use super::xlsx::*;
use crate::analyze::{Analysis, ColumnSpec, Severity};
use crate::config::Pipeline;
use crate::error::Result;
use crate::format;
use crate::period::{self, Period};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;
use std::path::Path;

pub struct Meta<'a> {
    pub pipeline: &'a Pipeline,
    pub period: Period,
    pub as_of: DateTime<Tz>,
    pub generated_at: DateTime<Tz>,
}

/// The workbook's file name: `六安市法律援助民生实事汇总_2025-06.xlsx`.
pub fn file_name(pipeline: &Pipeline, period: Period, draft: bool) -> String {
    format!(
        "{}{}汇总_{}{}.xlsx",
        pipeline.def.pipeline.city,
        pipeline.def.pipeline.title,
        period,
        if draft { "_暂定" } else { "" }
    )
}

/// Builds the workbook's bytes.
pub fn render(meta: &Meta, a: &Analysis, path: &Path) -> Result<Vec<u8>> {
    let p = meta.pipeline;
    let mut book = Workbook::new();
    // The fastest deflate: the workbook is a few hundred KB at most, and writing it was a fifth
    // of a report's time at level 6 (BENCHMARKS.md).
    book.set_zip_compression_level(1);
    book.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "{}{}汇总（{}）",
                p.def.pipeline.city,
                p.def.pipeline.title,
                meta.period.zh()
            ))
            .set_author("fayuan")
            .set_company(p.def.pipeline.city.clone()),
    );
    let w = Sheets {
        st: Styles::new(),
        meta,
        a,
        ytd: meta.period.ytd_zh(),
        path,
    };
    cover(&mut book, &w.st, meta, a, &w.ytd, path)?;
    summary(&mut book, &w.st, meta, a, &w.ytd, NONE, path)?;
    w.completion(&mut book)?;
    w.per100k(&mut book)?;
    w.funding_and_quality(&mut book)?;
    w.monthly(&mut book)?;
    if let Some(prev) = &p.previous {
        // 同比: this year against the previous pipeline's.
        let title = format!(
            "同比：{}与上年（{}）同期，受理审批案件数；建议上年结转 = 上年结转 + 上年受理审批 − 上年办结",
            w.ytd,
            prev.year()
        );
        w.sheet(&mut book, "同比", &title, "yoy")?;
    }
    w.alerts(&mut book)?;
    w.narrative(&mut book)?;
    w.rows_used(&mut book)?;
    book.save_to_buffer().map_err(xerr(path))
}

/// What every sheet of the workbook is made from.
struct Sheets<'a> {
    st: Styles,
    meta: &'a Meta<'a>,
    a: &'a Analysis,
    /// The months the figures cover: `2025年1—6月`.
    ytd: String,
    path: &'a Path,
}

impl Sheets<'_> {
    /// The columns people read: a check's id is for the CSV twin (its words are 检查项).
    fn spec(&self, q: &str) -> Vec<ColumnSpec> {
        self.a
            .query(q)
            .map(|q| q.columns.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.key != "check_id")
            .map(|c| year_end_label(c, self.meta.period))
            .collect()
    }

    /// A sheet of one analysis with its declared columns; returns the row after the table.
    fn sheet(&self, book: &mut Workbook, name: &str, title: &str, q: &str) -> Result<u32> {
        frame_sheet(
            book,
            &self.st,
            name,
            title,
            self.a.frame(q)?,
            &self.spec(q),
            NONE,
            self.path,
        )
    }

    /// Puts a chart below the table that ends at row `end` of a sheet.
    fn place_chart(
        &self,
        book: &mut Workbook,
        sheet: &str,
        end: u32,
        chart: &mut Chart,
    ) -> Result<()> {
        let x = xerr(self.path);
        chart.set_width(720).set_height(340);
        let sheet = book.worksheet_from_name(sheet).map_err(&x)?;
        sheet.insert_chart(end + 2, 1, chart).map_err(&x)?;
        Ok(())
    }

    fn units(&self) -> u32 {
        self.meta.pipeline.units.len() as u32
    }

    /// 完成进度, with the completion rate against 序时进度 as a chart.
    fn completion(&self, book: &mut Workbook) -> Result<()> {
        let year_end = self.meta.period.month() == 12;
        let title = if year_end {
            format!("完成进度（{}，全年）", self.ytd)
        } else {
            format!(
                "完成进度（{}累计，序时进度 {}）",
                self.ytd,
                format::pct(Some(self.meta.period.month() as f64 / 12.0))
            )
        };
        let end = self.sheet(book, "完成进度", &title, "completion")?;
        let df = self.a.frame("completion")?;
        let spec = self.spec("completion");
        let cols = |key| column_index(&spec, df, key);
        let mut chart = Chart::new(ChartType::Column);
        chart.title().set_name(if year_end {
            "全年完成率"
        } else {
            "完成率与序时进度"
        });
        series(
            &mut chart,
            "完成进度",
            "完成率",
            cols("unit_name"),
            cols("completion_rate"),
            self.units(),
        );
        let mut line = Chart::new(ChartType::Line);
        series(
            &mut line,
            "完成进度",
            if year_end {
                "年度目标"
            } else {
                "序时进度"
            },
            cols("unit_name"),
            cols("schedule_rate"),
            self.units(),
        );
        chart.combine(&line);
        // From 0: an axis from 40% makes 45.6% look a quarter of 53.7%.
        chart.y_axis().set_num_format("0%").set_min(0.0);
        self.place_chart(book, "完成进度", end, &mut chart)
    }

    /// 每10万人供给量, with the annualised supply against the target as a chart.
    fn per100k(&self, book: &mut Workbook) -> Result<()> {
        let title = format!("每10万人法律援助供给量（{}，件/10万人）", self.ytd);
        let end = self.sheet(book, "每10万人供给量", &title, "per100k")?;
        let df = self.a.frame("per100k")?;
        let spec = self.spec("per100k");
        let cols = |key| column_index(&spec, df, key);
        let mut chart = Chart::new(ChartType::Column);
        chart.title().set_name("每10万人供给量：按全年折算与目标");
        let sheet_name = "每10万人供给量";
        series(
            &mut chart,
            sheet_name,
            "按全年折算",
            cols("unit_name"),
            cols("per100k_annualized"),
            self.units(),
        );
        series(
            &mut chart,
            sheet_name,
            "目标供给量",
            cols("unit_name"),
            cols("per100k_target"),
            self.units(),
        );
        chart.y_axis().set_min(0.0);
        self.place_chart(book, sheet_name, end, &mut chart)
    }

    /// 经费合规 and 质量.
    fn funding_and_quality(&self, book: &mut Workbook) -> Result<()> {
        let funding = format!(
            "经费合规（{}累计；要求：资金到位率、支出率年底达100%，办案补贴及直接费用占比不低于{}）",
            self.ytd,
            format::pct0(Some(self.meta.pipeline.def.alerts.case_share_min))
        );
        self.sheet(book, "经费合规", &funding, "funding")?;
        self.sheet(
            book,
            "质量",
            &format!("质量（{}累计）", self.ytd),
            "quality",
        )?;
        Ok(())
    }

    /// 月度明细: the unit × month matrix, months up to the period's.
    fn monthly(&self, book: &mut Workbook) -> Result<()> {
        let month = self.meta.period.month();
        let specs: Vec<ColumnSpec> = self
            .spec("monthly")
            .into_iter()
            .filter(
                |s| match s.key.strip_prefix('m').and_then(|m| m.parse::<u32>().ok()) {
                    Some(m) => m <= month,
                    None => true,
                },
            )
            .collect();
        let title = format!("月度明细：受理审批案件数（件），{}", self.ytd);
        frame_sheet(
            book,
            &self.st,
            "月度明细",
            &title,
            self.a.frame("monthly")?,
            &specs,
            NONE,
            self.path,
        )?;
        Ok(())
    }

    /// 异常预警, the severity's words coloured.
    fn alerts(&self, book: &mut Workbook) -> Result<()> {
        let x = xerr(self.path);
        let alerts = self.a.frame("alerts")?;
        let specs: Vec<ColumnSpec> = self
            .spec("alerts")
            .into_iter()
            // People read the names (预警类型, 级别); the ids stay in alerts.csv.
            .filter(|s| !matches!(s.key.as_str(), "rule" | "severity" | "figure" | "threshold"))
            .collect();
        let colour = |key: &str, v: &AnyValue| -> Option<u32> {
            let ("severity_zh", AnyValue::String(zh)) = (key, v) else {
                return None;
            };
            match Severity::ALL.into_iter().find(|s| s.zh() == *zh) {
                Some(Severity::Critical) => Some(RED),
                Some(Severity::Warning) => Some(AMBER),
                _ => None,
            }
        };
        let title = format!(
            "异常预警（{}，共 {} 条）",
            self.meta.period.zh(),
            alerts.height()
        );
        let end = frame_sheet(
            book,
            &self.st,
            "异常预警",
            &title,
            alerts,
            &specs,
            &colour,
            self.path,
        )?;
        // The 说明 column takes the rest of the landscape page, so that a soft check's sentence
        // wraps into at most two lines and the sheet prints on as few pages as it can.
        if let Some(k) = specs.iter().position(|s| s.key == "message") {
            const WIDTH: f64 = 112.0;
            let sheet = book.worksheet_from_name("异常预警").map_err(&x)?;
            sheet.set_column_width(k as u16, WIDTH).map_err(&x)?;
            // A wrapped row is as tall as its lines (spreadsheets do not grow it on opening).
            let first = end - alerts.height() as u32;
            let lines = self.a.rows::<crate::analyze::rows::AlertLine>()?;
            for (r, line) in lines.iter().enumerate() {
                // (a wide character prints a little narrower than two digit widths)
                let lines = (text_width(&line.message) / (WIDTH * 1.15)).ceil();
                if lines > 1.0 {
                    sheet
                        .set_row_height(first + r as u32, lines * 14.5 + 2.0)
                        .map_err(&x)?;
                }
            }
        }
        if alerts.height() == 0 {
            let sheet = book.worksheet_from_name("异常预警").map_err(&x)?;
            sheet
                .write_string_with_format(end, 0, "本期无预警。", &self.st.subtitle)
                .map_err(&x)?;
        }
        Ok(())
    }

    /// 执行情况: each unit's words for the month, as sent, wrapped in a wide column.
    fn narrative(&self, book: &mut Workbook) -> Result<()> {
        const WIDTH: f64 = 90.0;
        let x = xerr(self.path);
        let title = format!("各单位执行情况（{}）", self.meta.period.zh());
        self.sheet(book, "执行情况", &title, "narrative")?;
        let df = self.a.frame("narrative")?;
        let texts = self.a.rows::<crate::analyze::rows::Narrative>()?;
        let col = column_index(&self.spec("narrative"), df, "narrative");
        let wrap = self
            .st
            .text
            .clone()
            .set_text_wrap()
            .set_align(FormatAlign::Top);
        let sheet = book.worksheet_from_name("执行情况").map_err(&x)?;
        sheet.set_column_width(col, WIDTH).map_err(&x)?;
        for (k, n) in texts.iter().enumerate() {
            let text = format::cell_text(n.narrative.as_deref().unwrap_or(""));
            let r = 3 + k as u32;
            sheet
                .write_string_with_format(r, col, &text, &wrap)
                .map_err(&x)?;
            let lines: f64 = text
                .lines()
                .map(|l| (text_width(l) / WIDTH).ceil().max(1.0))
                .sum();
            sheet
                .set_row_height(r, 15.0 * lines.clamp(1.0, 20.0) + 3.0)
                .map_err(&x)?;
        }
        Ok(())
    }

    /// 原始数据: the rows the report used.
    fn rows_used(&self, book: &mut Workbook) -> Result<()> {
        let rows = self.a.frame("used")?.height();
        let title = format!(
            "原始数据：本报告采用的各单位各月数据（{}，每单位每月采用最新版本；共{rows}行，供筛选核对，不随报告打印）",
            self.ytd
        );
        self.sheet(book, "原始数据", &title, "used")?;
        // Out of the print (issue 31: the December workbook printed 22 pages, 12 of them raw
        // rows): the sheet's print area is one empty cell beside the table, a page that
        // LibreOffice and Excel leave out.
        let x = xerr(self.path);
        let cols = self.spec("used").len() as u16;
        let sheet = book.worksheet_from_name("原始数据").map_err(&x)?;
        sheet.set_print_area(0, cols + 2, 0, cols + 2).map_err(&x)?;
        Ok(())
    }
}

fn cover(
    book: &mut Workbook,
    st: &Styles,
    meta: &Meta,
    a: &Analysis,
    ytd: &str,
    path: &Path,
) -> Result<()> {
    let x = xerr(path);
    let p = meta.pipeline;
    let sheet = book.add_worksheet();
    sheet.set_name("封面").map_err(&x)?;
    let title = format!("{}{}汇总", p.def.pipeline.city, p.def.pipeline.title);
    sheet
        .write_string_with_format(0, 0, &title, &st.title)
        .map_err(&x)?;
    let lines = [
        ("报告期", format!("{}（累计 {ytd}）", meta.period.zh())),
        ("数据截至", period::instant_zh(&meta.as_of)),
        ("生成时间", period::instant_zh(&meta.generated_at)),
        ("报送截止", p.deadline_zh(meta.period)),
    ];
    for (i, (k, v)) in lines.iter().enumerate() {
        sheet
            .write_string_with_format(2 + i as u32, 0, *k, &st.header)
            .map_err(&x)?;
        sheet
            .write_string_with_format(2 + i as u32, 1, format::cell_text(v), &st.text)
            .map_err(&x)?;
    }
    let top = 2 + lines.len() as u32 + 1;
    sheet
        .write_string_with_format(top, 0, "各单位报送情况", &st.subtitle.clone().set_bold())
        .map_err(&x)?;
    let subs = a.frame("submissions")?;
    let specs = a
        .query("submissions")
        .map(|q| q.columns.clone())
        .unwrap_or_default();
    let specs: Vec<ColumnSpec> = specs.into_iter().filter(|s| s.key != "deadline").collect();
    let late_colour = |key: &str, v: &AnyValue| -> Option<u32> {
        match (key, v) {
            ("reported", AnyValue::Boolean(false)) => Some(RED),
            ("late", AnyValue::Boolean(true)) => Some(AMBER),
            _ => None,
        }
    };
    let mut widths = vec![12.0, 40.0];
    let end = table(
        sheet,
        st,
        top + 1,
        subs,
        &specs,
        &late_colour,
        &mut widths,
        path,
    )?;
    let notes = cover_notes(meta, subs, path)?;
    sheet
        .write_string_with_format(end + 1, 0, "说明", &st.subtitle.clone().set_bold())
        .map_err(&x)?;
    for (i, n) in notes.iter().enumerate() {
        let r = end + 2 + i as u32;
        sheet
            .merge_range(r, 0, r, 8, &format!("{}. {n}", i + 1), &st.note)
            .map_err(&x)?;
        sheet.set_row_height(r, 30).map_err(&x)?;
    }
    for (c, w) in widths.iter().enumerate() {
        sheet
            .set_column_width(c as u16, (w + 2.0).clamp(8.0, 44.0))
            .map_err(&x)?;
    }
    sheet.set_paper_size(9);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

/// The cover's notes on completeness and reference data: who has not reported, derived budgets,
/// missing populations, units that serve the whole city, the populations' source.
fn cover_notes(meta: &Meta, subs: &DataFrame, path: &Path) -> Result<Vec<String>> {
    let p = meta.pipeline;
    let mut notes = Vec::new();
    let missing: Vec<String> = p
        .units
        .iter()
        .zip(
            subs.column("reported")
                .and_then(|c| c.bool().cloned())
                .map_err(perr(path))?
                .iter(),
        )
        .filter(|(_, r)| *r != Some(true))
        .map(|(u, _)| u.name.clone())
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "{}未报送{}数据，本期数字为初步数，待补报后更新。",
            missing.join("、"),
            meta.period.zh()
        ));
    }
    let derived: Vec<String> = p
        .units
        .iter()
        .filter(|u| u.budget_derived)
        .map(|u| u.name.clone())
        .collect();
    if !derived.is_empty() {
        notes.push(format!(
            "计划安排经费为推算数（年度目标 × {} 元/件）：{}。",
            format::num(Some(p.def.funding.per_case_standard)),
            derived.join("、")
        ));
    }
    let nopop: Vec<String> = p
        .units
        .iter()
        .filter(|u| u.population.is_none() && !u.whole_city)
        .map(|u| u.name.clone())
        .collect();
    if !nopop.is_empty() {
        notes.push(format!(
            "常住人口数据缺失：{}（流水线定义中未填写）。其每10万人供给量显示为“—”，{}合计暂不计算。",
            nopop.join("、"),
            p.area()
        ));
    }
    for u in p.units.iter().filter(|u| u.whole_city) {
        notes.push(format!(
            "{}服务{area}，无单独常住人口；其案件计入{area}合计的每10万人供给量。",
            u.name,
            area = p.area()
        ));
    }
    if let Some(src) = p.units.iter().find_map(|u| u.population_source.clone()) {
        notes.push(format!("常住人口来源：{src}。"));
    }
    notes.push("百分比按四舍五入保留两位小数；“—”表示分母为0或数据缺失，无法计算。".into());
    Ok(notes)
}

/// 汇总: one row per unit and 合计 with the headline figures from several analyses.
/// From December the year has closed: a column of 序时进度 speaks of the annual target, an
/// annualised figure is the year's (issue 31).
fn year_end_label(mut c: ColumnSpec, period: Period) -> ColumnSpec {
    if period.month() == 12 {
        c.label = c
            .label
            .replace("与序时进度差距", "与年度目标差距")
            .replace("序时进度", "全年进度要求")
            .replace("（按全年折算）", "（全年）");
    }
    c
}

fn summary(
    book: &mut Workbook,
    st: &Styles,
    meta: &Meta,
    a: &Analysis,
    ytd: &str,
    colour: Colorer,
    path: &Path,
) -> Result<()> {
    // (analysis, column) of the headline figures, in order.
    const HEADLINE: [(&str, &str); 13] = [
        ("completion", "unit_name"),
        ("completion", "target"),
        ("completion", "ytd_approved"),
        ("completion", "completion_rate"),
        ("completion", "schedule_gap"),
        ("completion", "rank_completion"),
        ("per100k", "per100k_ytd"),
        ("funding", "arrival_rate"),
        ("funding", "expenditure_rate"),
        ("funding", "case_share"),
        ("funding", "per_case_input"),
        ("quality", "satisfaction_rate"),
        ("submissions", "reported"),
    ];
    let mut columns = Vec::new();
    let mut specs = Vec::new();
    let height = a.frame("completion")?.height();
    for (q, key) in HEADLINE {
        let df = a.frame(q)?;
        let Some(spec) = a
            .query(q)
            .and_then(|q| q.columns.iter().find(|s| s.key == key))
            .map(|s| year_end_label(s.clone(), meta.period))
        else {
            continue;
        };
        let mut col = df.column(key).map_err(perr(path))?.clone();
        if col.len() < height {
            // submissions has no 合计 row.
            col = col
                .extend_constant(AnyValue::Null, height - col.len())
                .map_err(perr(path))?;
        }
        columns.push(col);
        specs.push(spec.clone());
        // The figure's band, where the analysis emits one, colours it here too.
        if let Ok(band) = df.column(&format!("{key}_band")) {
            columns.push(band.clone());
        }
    }
    columns.push(
        a.frame("completion")?
            .column("unit_code")
            .map_err(perr(path))?
            .clone()
            .with_name("unit_code".into()),
    );
    let df = DataFrame::new(height, columns).map_err(perr(path))?;
    let title = format!(
        "{}{}汇总（{}，累计 {ytd}）",
        meta.pipeline.def.pipeline.city,
        meta.pipeline.def.pipeline.title,
        meta.period.zh()
    );
    frame_sheet(book, st, "汇总", &title, &df, &specs, colour, path)?;
    Ok(())
}
