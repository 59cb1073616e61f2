//! The xlsx kit: the one place that knows rust_xlsxwriter. The palette and fonts, Chinese-aware
//! column widths, a table writer (header, rows formatted by column spec, bands painted, print
//! setup for A4 landscape, frozen header) used by the monthly workbook, the year's review and the
//! fill-in template. The others use its vocabulary (re-exported below), never the library.

use crate::analyze::{ColumnSpec, Fmt};
use crate::error::{Error, Result};
use crate::format::{self, DASH, round_half_away};
use crate::palette;
use crate::period;
use polars::prelude::*;
pub use rust_xlsxwriter::utility::column_number_to_name;
pub use rust_xlsxwriter::{
    Chart, ChartType, Color, ConditionalFormatText, ConditionalFormatTextRule, DataValidation,
    DataValidationRule, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Formula,
    Workbook, Worksheet, XlsxError,
};
use std::path::Path;

pub(crate) const FONT: &str = "宋体";

pub(crate) const TITLE_FONT: &str = "黑体";

pub(crate) const HEADER_FILL: u32 = palette::HEADER.0;

pub(crate) const RED: u32 = palette::CRITICAL_FILL.0;

pub(crate) const AMBER: u32 = palette::WARNING_FILL.0;

pub(crate) const GREEN: u32 = palette::OK_FILL.0;

/// What people read for the total row (its code is `total` in the data and the CSV twins).
pub(crate) const TOTAL_ZH: &str = "合计";

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

pub(crate) fn xerr(path: &Path) -> impl Fn(rust_xlsxwriter::XlsxError) -> Error + '_ {
    move |e| Error::Report {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

pub(crate) fn perr(path: &Path) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Report {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

pub(crate) struct Styles {
    pub(crate) title: Format,
    pub(crate) subtitle: Format,
    pub(crate) header: Format,
    pub(crate) text: Format,
    pub(crate) int: Format,
    pub(crate) number: Format,
    pub(crate) money: Format,
    pub(crate) percent: Format,
    pub(crate) pp: Format,
    pub(crate) dash: Format,
    pub(crate) note: Format,
}

impl Styles {
    pub(crate) fn new() -> Styles {
        let base = Format::new()
            .set_font_name(FONT)
            .set_font_size(11)
            .set_border(FormatBorder::Thin);
        Styles {
            title: Format::new()
                .set_font_name(TITLE_FONT)
                .set_font_size(TITLE_PT)
                .set_bold(),
            subtitle: Format::new().set_font_name(FONT).set_font_size(11),
            header: base
                .clone()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(HEADER_FILL)),
            // Long text (an alert's 说明, a county's words) wraps inside its column.
            text: base
                .clone()
                .set_text_wrap()
                .set_align(FormatAlign::VerticalCenter),
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

    pub(crate) fn for_fmt(&self, fmt: Fmt) -> &Format {
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
pub(crate) enum Out {
    Num(f64),
    Text(String),
}

/// The value of a cell for display: rounded half away from zero; percentages as fractions
/// rounded to 0.01%; percentage points as points rounded to 0.01; null → "—".
pub(crate) fn cell(v: AnyValue, fmt: Fmt) -> Out {
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
pub(crate) type Colorer<'a> = &'a dyn Fn(&str, &AnyValue) -> Option<u32>;

/// The colour of a band the analyses emit beside a figure (`<column>_band`: ok, warning,
/// critical). The rules live in the SQL; this only paints them.
pub(crate) fn band_fill(band: &str) -> Option<u32> {
    match band {
        "critical" => Some(RED),
        "warning" => Some(AMBER),
        "ok" => Some(GREEN),
        _ => None,
    }
}

/// A column's header as printed: the name, and its unit or note in brackets on a line of its
/// own when the whole would be wider than a figure column (`累计受理审批\n（件）`).
pub(crate) fn header_label(spec: &ColumnSpec) -> String {
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
pub(crate) const A4_LANDSCAPE_PIXELS: f64 = 10.3 * 96.0;

pub(crate) const MIN_PRINT_SCALE: f64 = 0.75;
/// The titles' font size (points).
pub(crate) const TITLE_PT: f64 = 16.0;

/// Header text up to this width (four Chinese characters) stays on one line; a longer one breaks
/// before its bracket, so the columns stay as narrow as their figures.
pub(crate) const HEADER_LINE: f64 = 8.0;

/// Writes a frame as a table: header at `top`, then one row per frame row. Returns the row after
/// the table. Columns are the specs (a spec naming a missing column is skipped).
#[allow(clippy::too_many_arguments)] // one call site per sheet; a struct would only rename them
pub(crate) fn table(
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
    header_row(sheet, st, top, &specs, widths, path)?;
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

/// A table's header row: each column as wide as the widest line of its label (a line never
/// wraps, so a closing bracket is never left alone on a line), the row as tall as its lines.
fn header_row(
    sheet: &mut Worksheet,
    st: &Styles,
    top: u32,
    specs: &[&ColumnSpec],
    widths: &mut Vec<f64>,
    path: &Path,
) -> Result<()> {
    let x = xerr(path);
    let mut lines = 1;
    for (c, spec) in specs.iter().enumerate() {
        let label = header_label(spec);
        sheet
            .write_string_with_format(top, c as u16, &label, &st.header)
            .map_err(&x)?;
        let widest = label.lines().map(text_width).fold(0.0, f64::max);
        grow(widths, c, widest);
        lines = lines.max(label.lines().count());
    }
    sheet
        .set_row_height(top, 16.0 * lines as f64 + 6.0)
        .map_err(&x)?;
    Ok(())
}

pub(crate) fn grow(widths: &mut Vec<f64>, c: usize, w: f64) {
    if widths.len() <= c {
        widths.resize(c + 1, 0.0);
    }
    widths[c] = widths[c].max(w);
}

pub(crate) fn finish_sheet(
    sheet: &mut Worksheet,
    widths: &[f64],
    header_row: u32,
    freeze_cols: u16,
    path: &Path,
) -> Result<()> {
    finish_printing(sheet, widths, header_row, freeze_cols, widths.len(), path).map(|_| ())
}

/// A column's width on screen, in pixels (as `finish_printing` sets it).
fn column_pixels(w: f64) -> f64 {
    (w + 2.0).clamp(6.0, 62.0) * 7.0 + 5.0
}

/// Like [`finish_sheet`], printing only the first `print_cols` columns (the rest — hashes,
/// file paths — stay in the sheet, out of the print area). Returns the print scale.
pub(crate) fn finish_printing(
    sheet: &mut Worksheet,
    widths: &[f64],
    header_row: u32,
    freeze_cols: u16,
    print_cols: usize,
    path: &Path,
) -> Result<f64> {
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
    let printed = &widths[..print_cols.min(widths.len())];
    let pixels: f64 = printed.iter().map(|w| column_pixels(*w)).sum();
    let scale = if pixels * MIN_PRINT_SCALE <= A4_LANDSCAPE_PIXELS {
        sheet.set_print_fit_to_pages(1, 0);
        (A4_LANDSCAPE_PIXELS / pixels).min(1.0)
    } else {
        sheet.set_print_scale((MIN_PRINT_SCALE * 100.0) as u16);
        if freeze_cols > 0 {
            sheet.set_repeat_columns(0, freeze_cols - 1).map_err(&x)?;
        }
        MIN_PRINT_SCALE
    };
    if print_cols < widths.len() && print_cols > 0 {
        sheet
            .set_print_area(0, 0, 1_048_575, print_cols as u16 - 1)
            .map_err(&x)?;
    }
    // The title block and the header repeat, whole, on every page.
    sheet.set_repeat_rows(0, header_row).map_err(&x)?;
    sheet
        .set_freeze_panes(header_row + 1, freeze_cols)
        .map_err(&x)?;
    sheet.set_footer("&C第 &P 页，共 &N 页");
    Ok(scale)
}

/// The title of row `row`: merged across the columns the first printed page holds, wrapped,
/// the row as tall as its lines — never clipped, never cut at a page's edge.
/// `(text, format, size in points)`.
pub(crate) fn fit_title(
    sheet: &mut Worksheet,
    row: u32,
    (text, format, size_pt): (&str, &Format, f64),
    widths: &[f64],
    scale: f64,
    path: &Path,
) -> Result<()> {
    let x = xerr(path);
    // What a page holds, with room to spare: office suites lay columns out wider than the
    // 7-pixel character (LibreOffice fits A–H of 经费合规 where this counts A–I).
    let page = A4_LANDSCAPE_PIXELS / scale * 0.6;
    let (mut cols, mut px) = (0usize, 0.0);
    for w in widths {
        if px + column_pixels(*w) > page {
            break;
        }
        px += column_pixels(*w);
        cols += 1;
    }
    let cols = cols.max(1);
    // A wide character of `size_pt` is about size_pt × 4/3 pixels.
    let text_px = text_width(text) / 2.0 * size_pt * 4.0 / 3.0 * 1.05;
    let lines = (text_px / px.max(1.0)).ceil().max(1.0);
    let wrapped = format.clone().set_text_wrap().set_align(FormatAlign::Top);
    if cols > 1 {
        sheet
            .merge_range(row, 0, row, cols as u16 - 1, text, &wrapped)
            .map_err(&x)?;
    } else {
        sheet
            .write_string_with_format(row, 0, text, &wrapped)
            .map_err(&x)?;
    }
    sheet
        .set_row_height(row, lines * size_pt * 1.45 + 4.0)
        .map_err(&x)?;
    Ok(())
}

/// A sheet holding one analysis frame under a title line.
#[allow(clippy::too_many_arguments)]
pub(crate) fn frame_sheet(
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
    // Hashes and file paths (the last columns, where a frame has them) stay out of print.
    let unprinted = specs
        .iter()
        .filter(|s| df.column(&s.key).is_ok())
        .filter(|s| matches!(s.key.as_str(), "sha256" | "source_file" | "stored_as"))
        .count();
    let scale = finish_printing(sheet, &widths, 2, 2, widths.len() - unprinted, path)?;
    fit_title(sheet, 0, (title, &st.title, TITLE_PT), &widths, scale, path)?;
    Ok(end)
}

/// No colour besides the bands.
pub(crate) const NONE: Colorer = &|_, _| None;

/// The sheet column of `key` in a table written by [`table`] (which skips specs whose column
/// is missing from the frame).
pub(crate) fn column_index(specs: &[ColumnSpec], df: &DataFrame, key: &str) -> u16 {
    specs
        .iter()
        .filter(|s| df.column(&s.key).is_ok())
        .position(|s| s.key == key)
        .unwrap_or(0) as u16
}

/// A chart series over the unit rows of a table whose header is on row 2 (data from row 3,
/// one row per unit; the 合计 row is left out of charts).
pub(crate) fn series(
    chart: &mut Chart,
    sheet: &str,
    name: &str,
    categories: u16,
    values: u16,
    units: u32,
) {
    chart
        .add_series()
        .set_name(name)
        .set_categories((sheet, 3, categories, 2 + units, categories))
        .set_values((sheet, 3, values, 2 + units, values));
}
