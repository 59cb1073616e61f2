//! The fill-in template a county uses for its monthly report (`fayuan template`): one workbook
//! per unit and month, `<单位>_<P>_月报表.xlsx`.
//!
//! Sheet 月报: a title, the SPEC §2 headers in Chinese, one row with the unit's code, name and the
//! month filled in and locked; every input cell unlocked, with data validation and a Chinese input
//! message saying its rule; a live check cell (the cross-field rules of `schema::RULES` as
//! formulas) and a 说明 cell. Sheet 执行情况: 本月工作进展 / 存在问题 / 下月计划. A hidden sheet
//! 模板信息 names the unit, month, pipeline and template version, so ingest knows what it reads.
//! Every sheet is protected so that only the input cells can change.
//!
//! Invariant: the layout comes from `schema` (fields, kinds, rules, sheet names): a field added
//! there appears here; ingest reads a filled-in template back exactly like any other workbook.

use super::xlsx::*;
use crate::config::{Pipeline, Unit};
use crate::error::{Error, Result};
use crate::period::Period;
use crate::schema::{self, FIELDS, Kind, Rule};

const FONT: &str = "宋体";
const INPUT_FILL: u32 = crate::palette::INPUT_FILL.0;
const HEADER_FILL: u32 = crate::palette::HEADER.0;
/// The sheet row (0-based) of the header and of the unit's row.
const HEADER_ROW: u32 = 2;
const DATA_ROW: u32 = 3;
/// The label of the live check column (not a submission field: ingest ignores it).
const CHECK_LABEL: &str = "自动检查";

/// `霍邱县_2025-07_月报表.xlsx`.
pub fn file_name(unit: &Unit, period: Period) -> String {
    format!("{}_{}_月报表.xlsx", unit.name, period)
}

fn x(e: XlsxError) -> Error {
    Error::Report {
        path: "template.xlsx".into(),
        source: e.into(),
    }
}

/// The fields a county fills in on sheet 月报 (執行情况 has its own sheet).
fn sheet_fields() -> Vec<usize> {
    (0..FIELDS.len())
        .filter(|&f| FIELDS[f].kind != Kind::LongText)
        .collect()
}

/// The cell of field `key` in the unit's row, e.g. `D4`.
fn cell_of(cols: &[usize], key: &str) -> String {
    let f = schema::idx(key);
    let c = cols.iter().position(|&x| x == f).unwrap_or(0) as u16;
    format!("{}{}", column_number_to_name(c), DATA_ROW + 1)
}

/// A field's name in a check message: 其中：刑事 → 刑事, 到位经费（元） → 到位经费.
fn short(key: &str) -> String {
    let label = FIELDS[schema::idx(key)].label;
    let label = label.trim_start_matches("其中：");
    label.split('（').next().unwrap_or(label).to_string()
}

/// The live check: one formula with every cross-field rule of `schema::RULES`.
fn check_formula(cols: &[usize]) -> String {
    let mut parts = Vec::new();
    for rule in schema::RULES {
        match rule {
            Rule::Sum(total, items) => {
                let sum = items
                    .iter()
                    .map(|k| cell_of(cols, k))
                    .collect::<Vec<_>>()
                    .join("+");
                let words = items.iter().map(|k| short(k)).collect::<Vec<_>>().join("+");
                parts.push(format!(
                    "IF({}<>{sum},CHAR(10)&\"· {words}≠{}\",\"\")",
                    cell_of(cols, total),
                    short(total)
                ));
            }
            Rule::NotAbove(a, b) => parts.push(format!(
                "IF({}>{},CHAR(10)&\"· {}大于{}\",\"\")",
                cell_of(cols, a),
                cell_of(cols, b),
                short(a),
                short(b)
            )),
        }
    }
    let problems = parts.join("&");
    let first = cell_of(cols, "cases_approved");
    let last = cell_of(cols, "satisfied");
    format!(
        "=IF(COUNT({first}:{last})=0,\"填写后自动检查\",IF({problems}=\"\",\"✓ 通过\",\"✗ 请核对：\"&{problems}))"
    )
}

/// The data validation and input message of an input cell, by the field's kind.
fn validation(field: &schema::Field, pipeline: &Pipeline, cell: &str) -> Result<DataValidation> {
    let s = &pipeline.def.submission;
    let v = match field.kind {
        Kind::Count => DataValidation::new()
            .allow_whole_number(DataValidationRule::Between(
                0,
                i32::try_from(s.max_count).unwrap_or(i32::MAX),
            ))
            .set_input_message(format!(
                "填整数，不小于 0（没有请填 0），一个月最多 {}。",
                s.max_count
            ))
            .map_err(x)?
            .set_error_message("请填写不小于 0 的整数。")
            .map_err(x)?,
        Kind::Money => DataValidation::new()
            .allow_custom(Formula::new(format!(
                "=AND(ISNUMBER({cell}),{cell}>=0,{cell}<={},ROUND({cell},2)={cell})",
                s.max_money_yuan
            )))
            .set_input_message("填金额，单位元，不小于 0，最多两位小数（没有请填 0）。")
            .map_err(x)?
            .set_error_message("金额须不小于 0，最多两位小数（单位元）。")
            .map_err(x)?,
        Kind::Date => DataValidation::new()
            .allow_date(DataValidationRule::Between(
                ExcelDateTime::from_ymd(2000, 1, 1).map_err(x)?,
                ExcelDateTime::from_ymd(2099, 12, 31).map_err(x)?,
            ))
            .set_input_message("填日期，如 2025-08-03。")
            .map_err(x)?
            .set_error_message("请填写日期，如 2025-08-03。")
            .map_err(x)?,
        Kind::Text | Kind::LongText | Kind::Code | Kind::Period => DataValidation::new()
            .allow_text_length(DataValidationRule::LessThanOrEqualTo(
                u32::try_from(s.max_text_chars).unwrap_or(u32::MAX),
            ))
            .set_input_message(if field.key == "note" {
                format!(
                    "数据有异常（如系统提示“待说明”）时，请在此写明原因，最多 {} 字。",
                    s.max_text_chars
                )
            } else {
                format!("最多 {} 字。", s.max_text_chars)
            })
            .map_err(x)?
            .set_error_message(format!("最多 {} 字。", s.max_text_chars))
            .map_err(x)?,
    };
    v.set_input_title(field.label.to_string()).map_err(x)
}

/// The template's bytes for one unit and month.
pub fn render(pipeline: &Pipeline, unit: &Unit, period: Period) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    book.set_properties(
        &DocProperties::new()
            .set_title(format!("{}{}月报表", unit.name, period.zh()))
            .set_author(pipeline.def.pipeline.office.clone()),
    );
    report_sheet(book.add_worksheet(), pipeline, unit, period)?;
    narrative_sheet(book.add_worksheet(), pipeline)?;
    meta_sheet(book.add_worksheet(), pipeline, unit, period)?;
    book.save_to_buffer().map_err(x)
}

/// A header as it wraps in a narrow column: never inside its brackets ("业务经费支出\n（元）").
fn header_label(label: &str) -> String {
    match label.find('（') {
        Some(i) if i > 0 => format!("{}\n{}", &label[..i], &label[i..]),
        _ => label.to_string(),
    }
}

/// The report sheet's font size: it prints at about 60% (one A4 landscape page for twenty
/// columns), so 17 pt prints at about 9 pt or more.
const REPORT_PT: f64 = 17.0;

/// A column's width (characters): counts narrow, money wider, the 说明 wider still.
fn column_width(field: &schema::Field) -> f64 {
    match (field.key, field.kind) {
        ("note", _) => 16.0,
        ("unit_code" | "unit_name" | "period", _) => 9.0,
        ("reported_on", _) => 12.0,
        ("reporter", _) => 8.0,
        (_, Kind::Money) => 13.0,
        _ => 7.0,
    }
}

fn report_sheet(
    sheet: &mut Worksheet,
    pipeline: &Pipeline,
    unit: &Unit,
    period: Period,
) -> Result<()> {
    let cols = sheet_fields();
    let base = Format::new()
        .set_font_name(FONT)
        .set_font_size(REPORT_PT)
        .set_border(FormatBorder::Thin);
    let header = base
        .clone()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_background_color(Color::RGB(HEADER_FILL));
    let locked = base
        .clone()
        .set_background_color(Color::RGB(crate::palette::LOCKED_FILL.0));
    let input = base
        .clone()
        .set_unlocked()
        .set_background_color(Color::RGB(INPUT_FILL));
    sheet.set_name("月报").map_err(x)?;
    let last = cols.len() as u16; // the check column
    report_titles(sheet, pipeline, unit, period, last)?;
    sheet.set_row_height(1, 45).map_err(x)?;
    sheet
        .set_row_height(HEADER_ROW, 5.0 * REPORT_PT * 1.3)
        .map_err(x)?;
    // Room for the check's problems, a line each.
    sheet
        .set_row_height(DATA_ROW, 4.0 * REPORT_PT * 1.3)
        .map_err(x)?;
    for (c, &f) in cols.iter().enumerate() {
        let c = c as u16;
        let field = &FIELDS[f];
        sheet
            .write_string_with_format(HEADER_ROW, c, header_label(field.label), &header)
            .map_err(x)?;
        sheet.set_column_width(c, column_width(field)).map_err(x)?;
        let cell = format!("{}{}", column_number_to_name(c), DATA_ROW + 1);
        match field.key {
            "unit_code" => sheet.write_string_with_format(DATA_ROW, c, &unit.code, &locked),
            "unit_name" => sheet.write_string_with_format(DATA_ROW, c, &unit.name, &locked),
            "period" => sheet.write_string_with_format(DATA_ROW, c, period.to_string(), &locked),
            _ => {
                sheet
                    .add_data_validation(
                        DATA_ROW,
                        c,
                        DATA_ROW,
                        c,
                        &validation(field, pipeline, &cell)?,
                    )
                    .map_err(x)?;
                // The 说明 wraps within its cell.
                let f = if field.key == "note" {
                    input.clone().set_text_wrap().set_align(FormatAlign::Top)
                } else {
                    input.clone()
                };
                sheet.write_blank(DATA_ROW, c, &f)
            }
        }
        .map_err(x)?;
    }
    sheet
        .write_string_with_format(HEADER_ROW, last, CHECK_LABEL, &header)
        .map_err(x)?;
    sheet.set_column_width(last, 20.0).map_err(x)?;
    check_cell(sheet, &base, &cols, last)?;
    sheet.set_freeze_panes(DATA_ROW, 3).map_err(x)?;
    sheet.set_paper_size(9);
    sheet.set_landscape();
    sheet.set_margins(0.4, 0.4, 0.6, 0.6, 0.3, 0.3);
    // One page: the columns are narrow enough that it prints at about 85% (≥ 9 pt).
    sheet.set_print_fit_to_pages(1, 1);
    sheet.set_active(true);
    sheet.protect();
    Ok(())
}

/// The live check: each problem on its own line, the cell red while any is open.
fn check_cell(sheet: &mut Worksheet, base: &Format, cols: &[usize], last: u16) -> Result<()> {
    let check = base.clone().set_text_wrap().set_align(FormatAlign::Top);
    sheet
        .write_formula_with_format(
            DATA_ROW,
            last,
            Formula::new(check_formula(cols)).set_result("填写后自动检查"),
            &check,
        )
        .map_err(x)?;
    // Red while any problem is open.
    let red = ConditionalFormatText::new()
        .set_rule(ConditionalFormatTextRule::BeginsWith("✗".to_string()))
        .set_format(
            Format::new()
                .set_font_color(Color::RGB(crate::palette::CRITICAL_TEXT.0))
                .set_background_color(Color::RGB(crate::palette::CRITICAL_FILL.0)),
        );
    sheet
        .add_conditional_format(DATA_ROW, last, DATA_ROW, last, &red)
        .map_err(x)?;
    Ok(())
}

/// The sheet's title and how to fill it in, over every column.
fn report_titles(
    sheet: &mut Worksheet,
    pipeline: &Pipeline,
    unit: &Unit,
    period: Period,
    last: u16,
) -> Result<()> {
    sheet
        .merge_range(
            0,
            0,
            0,
            last,
            &format!(
                "{}{}月报表（{}，{}）",
                pipeline.def.pipeline.city,
                pipeline.def.pipeline.title,
                unit.name,
                period.zh()
            ),
            &Format::new()
                .set_font_name("黑体")
                .set_font_size(16)
                .set_bold(),
        )
        .map_err(x)?;
    sheet
        .merge_range(
            1,
            0,
            1,
            last,
            &format!(
                "填写说明：本表请于 {} 前报送。黄色单元格为填写区（本月数，不是累计数）；单位和月份已填好，不能修改。没有的项目请填 0。\
                 金额单位为元，最多两位小数。“自动检查”一栏随填随查；数据有异常时请在“说明”栏写明原因。\
                 本月工作进展、存在问题和下月计划请填在“执行情况”工作表。",
                pipeline.deadline_zh(period)
            ),
            &Format::new()
                .set_font_name(FONT)
                .set_font_size(10)
                .set_text_wrap(),
        )
        .map_err(x)?;
    Ok(())
}

fn narrative_sheet(sheet: &mut Worksheet, pipeline: &Pipeline) -> Result<()> {
    let max = pipeline.def.submission.max_narrative_chars;
    let label = Format::new()
        .set_font_name(FONT)
        .set_font_size(11)
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::VerticalCenter)
        .set_background_color(Color::RGB(HEADER_FILL));
    let input = Format::new()
        .set_font_name(FONT)
        .set_font_size(11)
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Top)
        .set_unlocked()
        .set_background_color(Color::RGB(INPUT_FILL));
    sheet.set_name(schema::NARRATIVE_SHEET).map_err(x)?;
    sheet
        .write_string_with_format(
            0,
            0,
            "本月执行情况（文字，随月报一并报送）",
            &Format::new()
                .set_font_name("黑体")
                .set_font_size(14)
                .set_bold(),
        )
        .map_err(x)?;
    sheet
        .write_string(
            1,
            0,
            format!("每项可分行填写（Alt+回车换行），三项合计最多 {max} 字。"),
        )
        .map_err(x)?;
    sheet.set_column_width(0, 16).map_err(x)?;
    sheet.set_column_width(1, 90).map_err(x)?;
    for (k, part) in schema::NARRATIVE_PARTS.iter().enumerate() {
        let r = 2 + k as u32;
        sheet.set_row_height(r, 110).map_err(x)?;
        sheet
            .write_string_with_format(r, 0, *part, &label)
            .map_err(x)?;
        sheet.write_blank(r, 1, &input).map_err(x)?;
        let v = DataValidation::new()
            .allow_text_length(DataValidationRule::LessThanOrEqualTo(
                u32::try_from(max).unwrap_or(u32::MAX),
            ))
            .set_input_title(part.to_string())
            .map_err(x)?
            .set_input_message(format!("请用文字填写{part}，最多 {max} 字。"))
            .map_err(x)?;
        sheet.add_data_validation(r, 1, r, 1, &v).map_err(x)?;
    }
    // Labels and their boxes on one page.
    sheet.set_paper_size(9);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 1);
    sheet.protect();
    Ok(())
}

fn meta_sheet(
    sheet: &mut Worksheet,
    pipeline: &Pipeline,
    unit: &Unit,
    period: Period,
) -> Result<()> {
    sheet.set_name(schema::TEMPLATE_META_SHEET).map_err(x)?;
    sheet.write_string(0, 0, "项目").map_err(x)?;
    sheet.write_string(0, 1, "值").map_err(x)?;
    let values = [
        unit.code.clone(),
        unit.name.clone(),
        period.to_string(),
        pipeline.name().to_string(),
        schema::TEMPLATE_VERSION.to_string(),
    ];
    for (k, (key, value)) in schema::TEMPLATE_META_KEYS.iter().zip(values).enumerate() {
        sheet.write_string(1 + k as u32, 0, *key).map_err(x)?;
        sheet.write_string(1 + k as u32, 1, value).map_err(x)?;
    }
    sheet.set_hidden(true);
    sheet.protect();
    Ok(())
}
