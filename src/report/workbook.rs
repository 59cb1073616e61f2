//! The consolidated workbook (SPEC §5): cover, 汇总, 完成进度, 每10万人供给量, 经费合规, 质量,
//! 月度明细, 异常预警, 原始数据.
//!
//! Invariant: only this module knows rust_xlsxwriter. Figures are written as numbers, rounded
//! half away from zero to what is shown (percentages to two decimals of a percent), so that what
//! Excel displays and what it sums agree; an undefined figure is the text "—".

use crate::analyze::{Analysis, ColumnSpec, Fmt, Severity};
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::format::{self, DASH, round_half_away};
use crate::period::{self, Period};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;
use rust_xlsxwriter::{
    Chart, ChartType, Color, DocProperties, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
};
use std::path::Path;

const FONT: &str = "宋体";
const TITLE_FONT: &str = "黑体";
const HEADER_FILL: u32 = 0xDDEBF7;
const RED: u32 = 0xF8CBAD;
const AMBER: u32 = 0xFFE699;
const GREEN: u32 = 0xC6EFCE;
/// What people read for the total row (its code is `total` in the data and the CSV twins).
const TOTAL_ZH: &str = "合计";

pub struct Meta<'a> {
    pub pipeline: &'a Pipeline,
    pub period: Period,
    pub as_of: DateTime<Tz>,
    pub generated_at: DateTime<Tz>,
}

/// The workbook's file name: `六安市法律援助民生实事汇总_2025-06.xlsx`.
pub fn file_name(pipeline: &Pipeline, period: Period) -> String {
    format!(
        "{}{}汇总_{}.xlsx",
        pipeline.def.pipeline.city, pipeline.def.pipeline.title, period
    )
}

/// Display width of text in character cells: CJK and full-width characters count two (Excel's
/// autofit undercounts them).
pub fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = (0x1100..=0x115F).contains(&u)
                || (0x2E80..=0xA4CF).contains(&u)
                || (0xAC00..=0xD7A3).contains(&u)
                || (0xF900..=0xFAFF).contains(&u)
                || (0xFE30..=0xFE4F).contains(&u)
                || (0xFF00..=0xFF60).contains(&u)
                || (0xFFE0..=0xFFE6).contains(&u)
                || u == 0x2014;
            if wide { 2.0 } else { 1.0 }
        })
        .sum()
}

fn xerr(path: &Path) -> impl Fn(rust_xlsxwriter::XlsxError) -> Error + '_ {
    move |e| Error::Report {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn perr(path: &Path) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Report {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

struct Styles {
    title: Format,
    subtitle: Format,
    header: Format,
    text: Format,
    int: Format,
    number: Format,
    money: Format,
    percent: Format,
    pp: Format,
    dash: Format,
    note: Format,
}

impl Styles {
    fn new() -> Styles {
        let base = Format::new()
            .set_font_name(FONT)
            .set_font_size(11)
            .set_border(FormatBorder::Thin);
        Styles {
            title: Format::new()
                .set_font_name(TITLE_FONT)
                .set_font_size(16)
                .set_bold(),
            subtitle: Format::new().set_font_name(FONT).set_font_size(11),
            header: base
                .clone()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(HEADER_FILL)),
            text: base.clone(),
            int: base.clone().set_num_format("#,##0"),
            number: base.clone().set_num_format("#,##0.00"),
            money: base.clone().set_num_format("#,##0.00"),
            percent: base.clone().set_num_format("0.00%"),
            pp: base.clone().set_num_format("+0.00;-0.00;0.00"),
            dash: base.clone().set_align(FormatAlign::Center),
            note: Format::new()
                .set_font_name(FONT)
                .set_font_size(10)
                .set_text_wrap(),
        }
    }

    fn for_fmt(&self, fmt: Fmt) -> &Format {
        match fmt {
            Fmt::Text | Fmt::Bool | Fmt::Time => &self.text,
            Fmt::Verdict => &self.dash,
            Fmt::Int => &self.int,
            Fmt::Number => &self.number,
            Fmt::Money => &self.money,
            Fmt::Percent => &self.percent,
            Fmt::Pp => &self.pp,
        }
    }
}

/// A cell value as it is written: a number (already rounded for display) or text.
enum Out {
    Num(f64),
    Text(String),
}

/// The value of a cell for display: rounded half away from zero; percentages as fractions
/// rounded to 0.01%; percentage points as points rounded to 0.01; null → "—".
fn cell(v: AnyValue, fmt: Fmt) -> Out {
    if let (Fmt::Time, Some(s)) = (fmt, v.get_str()) {
        return Out::Text(period::minute_text(s));
    }
    if fmt == Fmt::Verdict {
        return Out::Text(match &v {
            AnyValue::Boolean(true) => "达标".into(),
            AnyValue::Boolean(false) => "未达标".into(),
            other => match other.get_str() {
                Some("pass") => "达标".into(),
                Some("fail") => "未达标".into(),
                _ => DASH.into(),
            },
        });
    }
    let num = match &v {
        AnyValue::Null => return Out::Text(DASH.into()),
        AnyValue::Boolean(b) => return Out::Text(if *b { "是" } else { "否" }.into()),
        AnyValue::String(s) => return Out::Text(format::cell_text(s)),
        AnyValue::StringOwned(s) => return Out::Text(format::cell_text(s)),
        other => other.extract::<f64>(),
    };
    let Some(x) = num.filter(|x| x.is_finite()) else {
        return Out::Text(DASH.into());
    };
    Out::Num(match fmt {
        Fmt::Percent => round_half_away(x, 4),
        Fmt::Pp => round_half_away(x * 100.0, 2),
        Fmt::Int => round_half_away(x, 0),
        Fmt::Number | Fmt::Money => round_half_away(x, 2),
        Fmt::Text | Fmt::Bool | Fmt::Time | Fmt::Verdict => x,
    })
}

/// Fill colour for a cell besides its band (the alerts' severity words).
type Colorer<'a> = &'a dyn Fn(&str, &AnyValue) -> Option<u32>;

/// The colour of a band the analyses emit beside a figure (`<column>_band`: ok, warning,
/// critical). The rules live in the SQL; this only paints them.
fn band_fill(band: &str) -> Option<u32> {
    match band {
        "critical" => Some(RED),
        "warning" => Some(AMBER),
        "ok" => Some(GREEN),
        _ => None,
    }
}

/// A column's header as printed: the name, and its unit or note in brackets on a line of its
/// own when the whole would be wider than a figure column (`累计受理审批\n（件）`).
fn header_label(spec: &ColumnSpec) -> String {
    let label = if spec.fmt == Fmt::Pp {
        format!("{}（百分点）", spec.label)
    } else {
        spec.label.clone()
    };
    match label.find('（') {
        Some(at) if at > 0 && text_width(&label) > HEADER_LINE => {
            format!("{}\n{}", &label[..at], &label[at..])
        }
        _ => label,
    }
}

/// The printable width of A4 landscape with Excel's default margins (297 mm − 2 × 0.7 in), in
/// pixels at 96 dpi, and the smallest print scale that stays readable.
const A4_LANDSCAPE_PIXELS: f64 = 10.3 * 96.0;
const MIN_PRINT_SCALE: f64 = 0.75;

/// Header text up to this width (four Chinese characters) stays on one line; a longer one breaks
/// before its bracket, so the columns stay as narrow as their figures.
const HEADER_LINE: f64 = 8.0;

/// Writes a frame as a table: header at `top`, then one row per frame row. Returns the row after
/// the table. Columns are the specs (a spec naming a missing column is skipped).
#[allow(clippy::too_many_arguments)] // one call site per sheet; a struct would only rename them
fn table(
    sheet: &mut Worksheet,
    st: &Styles,
    top: u32,
    df: &DataFrame,
    specs: &[ColumnSpec],
    colour: Colorer,
    widths: &mut Vec<f64>,
    path: &Path,
) -> Result<u32> {
    let x = xerr(path);
    let specs: Vec<&ColumnSpec> = specs.iter().filter(|s| df.column(&s.key).is_ok()).collect();
    let mut lines = 1;
    for (c, spec) in specs.iter().enumerate() {
        let label = header_label(spec);
        sheet
            .write_string_with_format(top, c as u16, &label, &st.header)
            .map_err(&x)?;
        // The column is as wide as the widest line of its header: a line never wraps, so a
        // closing bracket is never left alone on a line.
        let widest = label.lines().map(text_width).fold(0.0, f64::max);
        grow(widths, c, widest);
        lines = lines.max(label.lines().count());
    }
    sheet
        .set_row_height(top, 16.0 * lines as f64 + 6.0)
        .map_err(&x)?;
    let is_total: Vec<bool> = match df.column("unit_code").and_then(|c| c.str().cloned()) {
        Ok(ca) => ca.iter().map(|v| v == Some("total")).collect(),
        Err(_) => vec![false; df.height()],
    };
    // Columns are read once; formats are shared and only copied for a coloured or total cell.
    let columns: Vec<&Column> = specs
        .iter()
        .map(|spec| df.column(&spec.key))
        .collect::<PolarsResult<_>>()
        .map_err(perr(path))?;
    let bands: Vec<Option<&Column>> = specs
        .iter()
        .map(|spec| df.column(&format!("{}_band", spec.key)).ok())
        .collect();
    for (k, &total) in is_total.iter().enumerate() {
        let r = top + 1 + k as u32;
        for (c, spec) in specs.iter().enumerate() {
            let v = columns[c].get(k).map_err(perr(path))?;
            // The total row's code is the machine's `total` (CSV twins); people read 合计.
            let out = if total && spec.key == "unit_code" {
                Out::Text(TOTAL_ZH.into())
            } else {
                cell(v.clone(), spec.fmt)
            };
            let base = match out {
                Out::Text(_)
                    if matches!(
                        spec.fmt,
                        Fmt::Int | Fmt::Number | Fmt::Money | Fmt::Percent | Fmt::Pp
                    ) =>
                {
                    &st.dash
                }
                // A figure that is a whole number (1,282 cases projected) prints without
                // decimals; money keeps its 分.
                Out::Num(n) if spec.fmt == Fmt::Number && n.fract() == 0.0 => &st.int,
                _ => st.for_fmt(spec.fmt),
            };
            let band = match bands[c] {
                Some(b) => b.get(k).map_err(perr(path))?.get_str().and_then(band_fill),
                None => None,
            };
            let fill = band.or_else(|| colour(&spec.key, &v));
            let special = (total || fill.is_some()).then(|| {
                let mut f = base.clone();
                if total {
                    f = f.set_bold().set_border_top(FormatBorder::Double);
                }
                if let Some(rgb) = fill {
                    f = f.set_background_color(Color::RGB(rgb));
                }
                f
            });
            let f = special.as_ref().unwrap_or(base);
            match out {
                Out::Num(n) => {
                    sheet
                        .write_number_with_format(r, c as u16, n, f)
                        .map_err(&x)?;
                    let shown = match spec.fmt {
                        Fmt::Percent => format::pct(Some(n)),
                        Fmt::Money => format::grouped(n, 2),
                        Fmt::Number if n.fract() != 0.0 => format::grouped(n, 2),
                        _ => format::grouped(n, 0),
                    };
                    grow(widths, c, text_width(&shown));
                }
                Out::Text(s) => {
                    sheet
                        .write_string_with_format(r, c as u16, &s, f)
                        .map_err(&x)?;
                    grow(widths, c, text_width(&s).min(60.0));
                }
            }
        }
    }
    Ok(top + 1 + df.height() as u32)
}

fn grow(widths: &mut Vec<f64>, c: usize, w: f64) {
    if widths.len() <= c {
        widths.resize(c + 1, 0.0);
    }
    widths[c] = widths[c].max(w);
}

fn finish_sheet(
    sheet: &mut Worksheet,
    widths: &[f64],
    header_row: u32,
    freeze_cols: u16,
    path: &Path,
) -> Result<()> {
    let x = xerr(path);
    for (c, w) in widths.iter().enumerate() {
        sheet
            .set_column_width(c as u16, (w + 2.0).clamp(6.0, 62.0))
            .map_err(&x)?;
    }
    sheet.set_paper_size(9); // A4
    sheet.set_landscape();
    // One page wide when that keeps the print at least 75% of its size (11 pt reads as 8 pt);
    // a wider table (原始数据) prints at 75% over several pages, its first columns repeated.
    let pixels: f64 = widths
        .iter()
        .map(|w| (w + 2.0).clamp(6.0, 62.0) * 7.0 + 5.0)
        .sum();
    if pixels * MIN_PRINT_SCALE <= A4_LANDSCAPE_PIXELS {
        sheet.set_print_fit_to_pages(1, 0);
    } else {
        sheet.set_print_scale((MIN_PRINT_SCALE * 100.0) as u16);
        if freeze_cols > 0 {
            sheet.set_repeat_columns(0, freeze_cols - 1).map_err(&x)?;
        }
    }
    sheet.set_repeat_rows(header_row, header_row).map_err(&x)?;
    sheet
        .set_freeze_panes(header_row + 1, freeze_cols)
        .map_err(&x)?;
    sheet.set_footer("&C第 &P 页，共 &N 页");
    Ok(())
}

/// A sheet holding one analysis frame under a title line.
#[allow(clippy::too_many_arguments)]
fn frame_sheet(
    book: &mut Workbook,
    st: &Styles,
    name: &str,
    title: &str,
    df: &DataFrame,
    specs: &[ColumnSpec],
    colour: Colorer,
    path: &Path,
) -> Result<u32> {
    let x = xerr(path);
    let sheet = book.add_worksheet();
    sheet.set_name(name).map_err(&x)?;
    sheet
        .write_string_with_format(0, 0, title, &st.title)
        .map_err(&x)?;
    let mut widths = Vec::new();
    let end = table(sheet, st, 2, df, specs, colour, &mut widths, path)?;
    finish_sheet(sheet, &widths, 2, 2, path)?;
    Ok(end)
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

/// No colour besides the bands.
const NONE: Colorer = &|_, _| None;

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
    fn spec(&self, q: &str) -> Vec<ColumnSpec> {
        self.a
            .query(q)
            .map(|q| q.columns.clone())
            .unwrap_or_default()
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
        let title = format!(
            "完成进度（{}累计，序时进度 {}）",
            self.ytd,
            format::pct(Some(self.meta.period.month as f64 / 12.0))
        );
        let end = self.sheet(book, "完成进度", &title, "completion")?;
        let df = self.a.frame("completion")?;
        let spec = self.spec("completion");
        let cols = |key| column_index(&spec, df, key);
        let mut chart = Chart::new(ChartType::Column);
        chart.title().set_name("完成率与序时进度");
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
            "序时进度",
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
        chart.title().set_name("每10万人供给量：年化与目标");
        let sheet_name = "每10万人供给量";
        series(
            &mut chart,
            sheet_name,
            "年化供给量",
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
            "经费合规（{}累计；要求：资金到位率、支出率年底达100%，办案补贴及直接费用占比≥{}）",
            self.ytd,
            format::pct(Some(self.meta.pipeline.def.alerts.case_share_min))
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
        let month = self.meta.period.month;
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
        let texts = crate::frame::strings(df, "narrative").map_err(perr(self.path))?;
        let col = column_index(&self.spec("narrative"), df, "narrative");
        let wrap = self
            .st
            .text
            .clone()
            .set_text_wrap()
            .set_align(FormatAlign::Top);
        let sheet = book.worksheet_from_name("执行情况").map_err(&x)?;
        sheet.set_column_width(col, WIDTH).map_err(&x)?;
        for (k, text) in texts.iter().enumerate() {
            let text = format::cell_text(text.as_deref().unwrap_or(""));
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
        let title = format!(
            "原始数据：本报告采用的各单位各月数据（{}，每单位每月采用最新版本）",
            self.ytd
        );
        self.sheet(book, "原始数据", &title, "used")?;
        Ok(())
    }
}

/// The sheet column of `key` in a table written by [`table`] (which skips specs whose column
/// is missing from the frame).
fn column_index(specs: &[ColumnSpec], df: &DataFrame, key: &str) -> u16 {
    specs
        .iter()
        .filter(|s| df.column(&s.key).is_ok())
        .position(|s| s.key == key)
        .unwrap_or(0) as u16
}

/// A chart series over the unit rows of a table whose header is on row 2 (data from row 3,
/// one row per unit; the 合计 row is left out of charts).
fn series(chart: &mut Chart, sheet: &str, name: &str, categories: u16, values: u16, units: u32) {
    chart
        .add_series()
        .set_name(name)
        .set_categories((sheet, 3, categories, 2 + units, categories))
        .set_values((sheet, 3, values, 2 + units, values));
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
        (
            "报送截止",
            period::deadline_zh(&meta.period.deadline(p.def.submission.deadline_day)),
        ),
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
            "常住人口数据缺失：{}（流水线定义中未填写）。其每10万人供给量显示为“—”，全市合计暂不计算。",
            nopop.join("、")
        ));
    }
    for u in p.units.iter().filter(|u| u.whole_city) {
        notes.push(format!(
            "{}服务全市，无单独常住人口；其案件计入全市合计的每10万人供给量。",
            u.name
        ));
    }
    if let Some(src) = p.units.iter().find_map(|u| u.population_source.clone()) {
        notes.push(format!("常住人口来源：{src}。"));
    }
    notes.push("百分比按四舍五入保留两位小数；“—”表示分母为0或数据缺失，无法计算。".into());
    Ok(notes)
}

/// 汇总: one row per unit and 合计 with the headline figures from several analyses.
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
        ("per100k", "per100k_annualized"),
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

/// The year's review workbook (SPEC §11): 考核验收 (one row per unit and 合计, each requirement's
/// figure and verdict, 总体结论 last), 考核要求 (the requirements and their thresholds), 核实事项
/// (every soft check of the year with the county's 说明) and 报告初稿 (the memo's text).
/// `same_rows`: whether the December report used the same rows (None: no December report).
pub fn render_review(
    meta: &Meta,
    a: &Analysis,
    memo: &str,
    same_rows: Option<bool>,
    path: &Path,
) -> Result<Vec<u8>> {
    let x = xerr(path);
    let p = meta.pipeline;
    let st = Styles::new();
    let mut book = Workbook::new();
    book.set_zip_compression_level(1);
    let title = format!(
        "{}{}年度{}考核验收",
        p.def.pipeline.city, meta.period.year, p.def.pipeline.title
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
    let source = match same_rows {
        Some(true) => format!("与{}汇总所用数据一致", meta.period.zh()),
        Some(false) => format!(
            "注意：{}汇总之后有新报送或更正，本表按最新数据",
            meta.period.zh()
        ),
        None => format!("{}汇总尚未生成", meta.period.zh()),
    };
    let sub = format!(
        "全年（{}）；数据截至 {}；生成于 {}；{}。各项逐一精确比较，总体结论为“达标”须各项均达标。",
        meta.period.ytd_zh(),
        period::instant_zh(&meta.as_of),
        period::instant_zh(&meta.generated_at),
        source
    );
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
    finish_sheet(sheet, &widths, 3, 2, path)?;
    // 考核要求
    let rv = &p.def.review;
    let std_yuan = format::yuan(Some(p.def.funding.per_case_standard));
    let requirements = [
        (
            "年度目标完成率",
            format!("≥ {}", format::pct0(Some(rv.completion_min))),
            "全年受理审批案件数 ÷ 年度目标",
        ),
        (
            "资金到位率",
            "100%".to_string(),
            "全年到位经费 ÷ 计划安排经费",
        ),
        (
            "业务经费支出率",
            "100%".to_string(),
            "全年业务经费支出 ÷ 全年到位经费",
        ),
        (
            "办案补贴及直接费用占比",
            format!("≥ {}", format::pct0(Some(p.def.alerts.case_share_min))),
            "全年办案补贴及直接费用 ÷ 全年业务经费支出",
        ),
        (
            "案均投入",
            format!("≥ {std_yuan}/件"),
            "全年到位经费 ÷ 全年受理审批案件数",
        ),
        (
            "满意度",
            format!("≥ {}", format::pct0(Some(rv.satisfaction_min))),
            "全年满意人数 ÷ 全年回访人数（无回访记录为未达标）",
        ),
        (
            "投诉办结率",
            format!("≥ {}", format::pct0(Some(rv.complaint_resolution_min))),
            "全年投诉办结件数 ÷ 全年投诉件数（无投诉为达标）",
        ),
        (
            "按时报送",
            "逾期 0 个月、未报送 0 个月".to_string(),
            "每月数据首次报送时间不晚于报送截止时间",
        ),
        (
            "核实事项说明",
            "未说明 0 项".to_string(),
            "数据核实提示均已在“说明”栏写明原因",
        ),
    ];
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
    // 核实事项
    frame_sheet(
        &mut book,
        &st,
        "核实事项",
        "全年数据核实事项及说明",
        a.frame("checks")?,
        &spec("checks"),
        NONE,
        path,
    )?;
    // 报告初稿
    let sheet = book.add_worksheet();
    sheet.set_name("报告初稿").map_err(&x)?;
    sheet.set_column_width(0, 100.0).map_err(&x)?;
    for (i, line) in memo.lines().enumerate() {
        let f = if i == 0 { &st.title } else { &st.note };
        sheet
            .write_string_with_format(i as u32, 0, format::cell_text(line), f)
            .map_err(&x)?;
    }
    sheet.set_paper_size(9);
    book.save_to_buffer().map_err(xerr(path))
}
