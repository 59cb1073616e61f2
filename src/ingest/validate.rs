//! The rules of SPEC §2 applied to tables: find the header, map the columns, parse every
//! cell, check every row and the file as a whole. Every problem of a file is gathered in one
//! pass, in Chinese, each naming its place (sheet and cell, or JSON record) and column.
//!
//! Invariant: pure — bytes and the pipeline in, rows and problems out; no files, no clock.

use super::read::{self, Cell, Table};
use crate::config::Pipeline;
use crate::period::Period;
use crate::schema::{self, FIELDS, Kind, Row, Rule, Value};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::fmt;

/// A problem found in a file, for county staff.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `月报!D5`, `D5`, `第3条记录`; empty for a problem of the whole file.
    pub place: String,
    /// The column's Chinese header, when the problem is about one column.
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lead = self.place.clone();
        if let Some(c) = &self.column {
            if !lead.is_empty() {
                lead.push(' ');
            }
            lead.push_str(c);
        }
        if lead.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{lead}：{}", self.message)
        }
    }
}

/// The outcome of checking one file.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Rows that passed every rule.
    pub rows: Vec<Row>,
    /// Rows that broke at least one rule.
    pub bad_rows: usize,
    /// The problems, in the order found, at most `limits.max_problems` of them.
    pub problems: Vec<Problem>,
    /// Every problem found, also those not listed.
    pub problem_count: usize,
    /// How many problems are listed at most.
    max_listed: usize,
    /// The file as a whole could not be used (unreadable, no header, a required column missing).
    pub unusable: bool,
    /// The known units the file's rows name, valid or not, in order of first appearance (so
    /// that a rejected file can be attributed to its unit).
    pub unit_codes: Vec<String>,
}

impl Checked {
    /// A file that cannot be used at all, for the reason given.
    pub fn unreadable(message: String) -> Checked {
        Checked {
            unusable: true,
            problems: vec![Problem {
                place: String::new(),
                column: None,
                message,
            }],
            problem_count: 1,
            ..Checked::default()
        }
    }

    /// The same file refused as a whole, for `message` first (the other problems follow): no
    /// row of it is taken, and it still names its units.
    pub fn refused(mut self, message: String) -> Checked {
        self.unusable = true;
        self.problems.insert(
            0,
            Problem {
                place: String::new(),
                column: None,
                message,
            },
        );
        self.problem_count += 1;
        self
    }

    /// Records a problem; beyond `max` only counts it (an error report stays readable and
    /// small however broken the file is).
    fn push(&mut self, p: Problem) {
        self.problem_count += 1;
        if self.problems.len() < self.max_listed {
            self.problems.push(p);
        }
    }

    /// Problems found but not listed.
    pub fn unlisted(&self) -> usize {
        self.problem_count.saturating_sub(self.problems.len())
    }
}

/// What one row's values may be, from the pipeline: upper bounds that keep every sum exact.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_count: i64,
    /// In 分.
    pub max_fen: i64,
    pub max_text_chars: usize,
    pub max_narrative_chars: usize,
}

impl Bounds {
    pub fn of(pipeline: &Pipeline) -> Bounds {
        let s = &pipeline.def.submission;
        Bounds {
            max_count: s.max_count,
            max_fen: s.max_money_yuan.saturating_mul(100),
            max_text_chars: s.max_text_chars,
            max_narrative_chars: s.max_narrative_chars,
        }
    }
}

/// How much of a cell's text a message quotes.
const QUOTE_CHARS: usize = 40;

/// Checks a file's bytes against the submission format and the pipeline's reference data.
pub fn check(name: &str, bytes: &[u8], pipeline: &Pipeline) -> Checked {
    let limits = read::Limits::of(&pipeline.def.limits);
    let tables = match super::isolate::read(name, bytes, &limits) {
        Ok(t) => t,
        Err(e) => return Checked::unreadable(e.0),
    };
    // The sheet named 月报 if there is one, else the first table that has a header row.
    let chosen = tables
        .iter()
        .find(|t| t.sheet().is_some_and(|s| s.trim() == "月报"))
        .or_else(|| tables.iter().find(|t| header_row(t).is_some()));
    let mut out = match chosen {
        Some(t) => check_table(t, pipeline),
        None => {
            return Checked::unreadable(
                "未找到表头行：表中须有一行包含“单位代码”（或 unit_code）列名".into(),
            );
        }
    };
    template_sheets(&tables, pipeline, &mut out);
    out
}

/// The sheets of fayuan's fill-in template beside 月报: the hidden 模板信息 (the template must be
/// this pipeline's, and its rows the unit and month it was made for) and 执行情况 (the month's
/// progress in words, which becomes the rows' `narrative`). A problem in either rejects the
/// rows, since it concerns all of them.
fn template_sheets(tables: &[Table], pipeline: &Pipeline, out: &mut Checked) {
    let before = out.problem_count;
    let labelled = |t: &Table| -> Vec<(String, usize, usize)> {
        // (label in column A, row, column of the value beside it)
        t.rows
            .iter()
            .enumerate()
            .filter_map(|(r, row)| match row.first() {
                Some(Cell::Text(s)) => Some((s.trim().to_string(), r, 1)),
                _ => None,
            })
            .collect()
    };
    if let Some(meta) = tables
        .iter()
        .find(|t| t.sheet() == Some(schema::TEMPLATE_META_SHEET))
    {
        let value = |key: &str| {
            labelled(meta)
                .into_iter()
                .find(|(k, ..)| k == key)
                .and_then(|(_, r, c)| meta.rows[r].get(c))
                .map(|c| c.shown().trim().to_string())
                .unwrap_or_default()
        };
        let (code, month, name) = (value("单位代码"), value("统计月份"), value("流水线"));
        if name != pipeline.name() {
            let r = labelled(meta)
                .into_iter()
                .find(|(k, ..)| k == "流水线")
                .map_or(0, |(_, r, _)| r);
            out.push(Problem {
                place: meta.place(r, 1),
                column: None,
                message: format!(
                    "此模板属于“{}”，不是本次报送的“{}”，请使用本年度下发的模板",
                    read::shorten(&name, 40),
                    pipeline.name()
                ),
            });
        }
        let rows: Vec<(String, String, u32)> = out
            .rows
            .iter()
            .filter_map(|row| {
                match (
                    &row.values[schema::idx("unit_code")],
                    &row.values[schema::idx("period")],
                ) {
                    (Value::Text(c), Value::Period(p)) => {
                        Some((c.clone(), p.to_string(), row.source_row))
                    }
                    _ => None,
                }
            })
            .collect();
        for (c, p, source_row) in rows {
            if c != code || p != month {
                out.push(Problem {
                    place: format!("月报!第{source_row}行"),
                    column: None,
                    message: format!(
                        "此模板为 {code} {month} 的模板，表中却填了 {c} {p}：请勿修改单位和月份，另取对应模板填写"
                    ),
                });
            }
        }
    }
    if let Some(sheet) = tables
        .iter()
        .find(|t| t.sheet() == Some(schema::NARRATIVE_SHEET))
    {
        let max = pipeline.def.submission.max_narrative_chars;
        let mut parts = Vec::new();
        for (label, r, c) in labelled(sheet) {
            if !schema::NARRATIVE_PARTS.contains(&label.as_str()) {
                continue;
            }
            let text = sheet.rows[r].get(c).map(Cell::shown).unwrap_or_default();
            match parse_long_text(&text, max) {
                Ok(t) if t.is_empty() => {}
                Ok(t) => parts.push(format!("{label}：{t}")),
                Err(message) => out.push(Problem {
                    place: sheet.place(r, c),
                    column: Some(label.clone()),
                    message,
                }),
            }
        }
        let narrative = parts.join("\n");
        if narrative.chars().count() > max {
            out.push(Problem {
                place: format!("{}!B2", schema::NARRATIVE_SHEET),
                column: None,
                message: format!(
                    "执行情况共{}个字符，最多 {max} 个，请精简后重新报送",
                    narrative.chars().count()
                ),
            });
        } else if !narrative.is_empty() {
            let f = schema::idx("narrative");
            for row in &mut out.rows {
                if row.values[f] == Value::Missing {
                    row.values[f] = Value::Text(narrative.clone());
                }
            }
        }
    }
    if out.problem_count > before {
        out.bad_rows += out.rows.len();
        out.rows.clear();
    }
}

fn header_row(t: &Table) -> Option<usize> {
    t.rows.iter().position(|row| {
        row.iter().any(|c| match c {
            Cell::Text(s) => schema::field_for_header(s) == Some(0),
            _ => false,
        })
    })
}

fn check_table(t: &Table, pipeline: &Pipeline) -> Checked {
    let Some(h) = header_row(t) else {
        let at = t
            .sheet()
            .map(|s| format!("工作表“{s}”中"))
            .unwrap_or_default();
        return Checked::unreadable(format!(
            "{at}未找到表头行：须有一行包含“单位代码”（或 unit_code）列名"
        ));
    };
    let mut out = Checked {
        max_listed: pipeline.def.limits.max_problems,
        ..Checked::default()
    };
    let column_of = map_columns(t, h, &mut out);
    if out.problem_count > 0 {
        out.unusable = true;
        return out;
    }
    let rows = Rows {
        t,
        pipeline,
        column_of,
        bounds: Bounds::of(pipeline),
    };
    let mut seen: HashMap<(String, Period), usize> = HashMap::new();
    for r in h + 1..t.rows.len() {
        // A row with no month and no figures is a note or a blank line, not data.
        if !rows.is_data(r) {
            continue;
        }
        let before = out.problem_count;
        let values = rows.values(r, &mut out);
        let unit_known = rows.reference(r, &values, &mut out);
        rows.cross_field(r, &values, &mut out);
        if unit_known {
            rows.once_per_file(r, &values, &mut seen, &mut out);
        }
        if out.problem_count > before {
            out.bad_rows += 1;
        } else {
            out.rows.push(Row {
                values,
                sheet: t.sheet().map(str::to_string),
                source_row: t.row_number(r),
            });
        }
    }
    if out.rows.is_empty() && out.bad_rows == 0 {
        out.unusable = true;
        out.push(Problem {
            place: String::new(),
            column: None,
            message: "表头下没有任何数据行".into(),
        });
    }
    out
}

/// Which column holds each field (by the header row `h`); duplicate and missing required
/// columns are problems.
fn map_columns(t: &Table, h: usize, out: &mut Checked) -> Vec<Option<usize>> {
    let mut column_of: Vec<Option<usize>> = vec![None; FIELDS.len()];
    for (c, cell) in t.rows[h].iter().enumerate() {
        let Cell::Text(s) = cell else { continue };
        let Some(f) = schema::field_for_header(s) else {
            continue;
        };
        if let Some(first) = column_of[f] {
            out.push(Problem {
                place: t.place(h, c),
                column: Some(FIELDS[f].label.into()),
                message: format!(
                    "列名重复（与 {} 重复），每列只能出现一次",
                    t.place(h, first)
                ),
            });
        } else {
            column_of[f] = Some(c);
        }
    }
    for (f, field) in FIELDS.iter().enumerate() {
        if field.required && column_of[f].is_none() {
            out.push(Problem {
                place: t.row_place(h),
                column: Some(field.label.into()),
                message: format!("缺少必填列“{}”（或 {}）", field.label, field.key),
            });
        }
    }
    column_of
}

/// The data rows of a table with its columns mapped: each check of SPEC §2 on one row.
struct Rows<'a> {
    t: &'a Table,
    pipeline: &'a Pipeline,
    column_of: Vec<Option<usize>>,
    bounds: Bounds,
}

impl Rows<'_> {
    fn cell(&self, r: usize, f: usize) -> &Cell {
        self.column_of[f]
            .and_then(|c| self.t.rows[r].get(c))
            .unwrap_or(&Cell::Empty)
    }

    /// Where field `key` of row `r` is, for a person.
    fn at(&self, r: usize, key: &str) -> String {
        self.t
            .place(r, self.column_of[schema::idx(key)].unwrap_or(0))
    }

    fn problem(&self, r: usize, key: &str, message: String) -> Problem {
        Problem {
            place: self.at(r, key),
            column: Some(FIELDS[schema::idx(key)].label.into()),
            message,
        }
    }

    fn is_data(&self, r: usize) -> bool {
        FIELDS.iter().enumerate().any(|(f, field)| {
            matches!(field.kind, Kind::Count | Kind::Money | Kind::Period)
                && !self.cell(r, f).is_empty()
        })
    }

    /// Every cell parsed by its field's kind and bounds (a bad one is a problem and Missing).
    fn values(&self, r: usize, out: &mut Checked) -> Vec<Value> {
        FIELDS
            .iter()
            .enumerate()
            .map(|(f, field)| {
                match parse_value(field.kind, self.cell(r, f), field.required, &self.bounds) {
                    Ok(v) => v,
                    Err(message) => {
                        out.push(self.problem(r, field.key, message));
                        Value::Missing
                    }
                }
            })
            .collect()
    }

    /// Reference data: the unit is one of the pipeline's, its name matches, the month is in the
    /// pipeline's year. True when the unit is known.
    fn reference(&self, r: usize, values: &[Value], out: &mut Checked) -> bool {
        let known = self.unit(r, values, out);
        let year = self.pipeline.year();
        if let Value::Period(p) = values[schema::idx("period")]
            && p.year != year
        {
            out.push(self.problem(r, "period", format!("{p} 不在本流水线的年度（{year}年）内")));
        }
        known
    }

    /// The unit is one of the pipeline's and its name (if given) matches its code.
    fn unit(&self, r: usize, values: &[Value], out: &mut Checked) -> bool {
        let Value::Text(code) = &values[schema::idx("unit_code")] else {
            return false;
        };
        let Some(unit) = self.pipeline.unit(code) else {
            out.push(self.problem(
                r,
                "unit_code",
                format!(
                    "“{code}”不是本流水线（{}）的报送单位",
                    self.pipeline.def.pipeline.city
                ),
            ));
            return false;
        };
        if !out.unit_codes.contains(code) {
            out.unit_codes.push(code.clone());
        }
        if let Value::Text(name) = &values[schema::idx("unit_name")]
            && name.trim() != unit.name
        {
            out.push(self.problem(
                r,
                "unit_name",
                format!(
                    "“{}”与单位代码 {code} 不符（应为“{}”）",
                    read::shorten(name.trim(), QUOTE_CHARS),
                    unit.name
                ),
            ));
        }
        true
    }

    /// The cross-field rules of `schema::RULES`, where every value involved was read.
    fn cross_field(&self, r: usize, values: &[Value], out: &mut Checked) {
        let num = |key: &str| match &values[schema::idx(key)] {
            Value::Count(n) | Value::Fen(n) => Some(*n),
            _ => None,
        };
        for rule in schema::RULES {
            match rule {
                Rule::Sum(total, parts) => {
                    let got: Option<Vec<i64>> = parts.iter().map(|p| num(p)).collect();
                    let (Some(whole), Some(parts_v)) = (num(total), got) else {
                        continue;
                    };
                    // In i128: no sum of i64 values can overflow it.
                    let sum: i128 = parts_v.iter().map(|&v| i128::from(v)).sum();
                    if sum == i128::from(whole) {
                        continue;
                    }
                    let names: Vec<&str> = parts
                        .iter()
                        .map(|p| FIELDS[schema::idx(p)].label.trim_start_matches("其中："))
                        .collect();
                    let terms: Vec<String> = parts_v.iter().map(|v| v.to_string()).collect();
                    out.push(self.problem(
                        r,
                        total,
                        format!(
                            "{whole} 不等于{}之和 {sum}（{}），相差 {}",
                            names.join("、"),
                            terms.join("+"),
                            (i128::from(whole) - sum).abs()
                        ),
                    ));
                }
                Rule::NotAbove(a, b) => {
                    let (Some(x), Some(y)) = (num(a), num(b)) else {
                        continue;
                    };
                    if x <= y {
                        continue;
                    }
                    let (fa, fb) = (&FIELDS[schema::idx(a)], &FIELDS[schema::idx(b)]);
                    let show = |f: &schema::Field, v: i64| match f.kind {
                        Kind::Money => fen_text(v),
                        _ => v.to_string(),
                    };
                    let other = if self.at(r, b) == self.at(r, a) {
                        String::new()
                    } else {
                        format!("（{}）", self.at(r, b))
                    };
                    out.push(self.problem(
                        r,
                        a,
                        format!("{} 大于{} {}{other}", show(fa, x), fb.label, show(fb, y)),
                    ));
                }
            }
        }
    }

    /// The same unit and month at most once in a file.
    fn once_per_file(
        &self,
        r: usize,
        values: &[Value],
        seen: &mut HashMap<(String, Period), usize>,
        out: &mut Checked,
    ) {
        if let (Value::Text(code), Value::Period(p)) = (
            &values[schema::idx("unit_code")],
            &values[schema::idx("period")],
        ) && let Some(first) = seen.insert((code.clone(), *p), r)
        {
            out.push(Problem {
                place: self.t.row_place(r),
                column: None,
                message: format!(
                    "单位 {code} {p} 的数据重复出现（已在第{}{}填报）；同一单位同一月份每个文件只能有一行",
                    self.t.row_number(first),
                    self.t.row_word()
                ),
            });
        }
    }
}

/// 分 as 元 text: `1234567` → `12,345.67`.
pub fn fen_text(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let grouped = crate::format::group_digits(&(fen / 100).to_string());
    format!("{sign}{grouped}.{:02}", fen % 100)
}

/// Full-width digits and punctuation that Chinese input methods produce, made ASCII;
/// thousands separators and spaces removed.
fn clean_number(s: &str) -> String {
    s.trim()
        .chars()
        .filter_map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            '．' | '。' => Some('.'),
            '－' | '−' => Some('-'),
            ',' | '，' | ' ' | '\u{3000}' | '\u{a0}' | '_' => None,
            c => Some(c),
        })
        .collect()
}

/// Excel's serial day number to a date (the 1900 system; serials before 1900-03-01 are not
/// plausible here).
fn excel_serial_date(n: f64) -> Option<NaiveDate> {
    if n.fract() != 0.0 || !(36526.0..=73050.0).contains(&n) {
        return None; // 2000-01-01 ..= 2099-12-31
    }
    NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(chrono::Days::new(n as u64))
}

fn parse_value(kind: Kind, cell: &Cell, required: bool, bounds: &Bounds) -> Result<Value, String> {
    if cell.is_empty() {
        return match kind {
            Kind::Count if !required => Ok(Value::Count(0)),
            _ if required => Err(match kind {
                Kind::Count => "未填写（应为不小于0的整数，没有请填 0）".into(),
                Kind::Money => "未填写（应为金额，单位元，没有请填 0）".into(),
                _ => "未填写".into(),
            }),
            _ => Ok(Value::Missing),
        };
    }
    let full = cell.shown();
    // What a message quotes of the cell: never a whole 40,000-character paste.
    let shown = read::shorten(&full, QUOTE_CHARS);
    match kind {
        Kind::Code => {
            let s = match cell {
                Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
                _ => clean_number(&full),
            };
            if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Value::Text(s))
            } else {
                Err(format!("“{shown}”不是6位单位代码（应如 341522）"))
            }
        }
        Kind::Text => parse_text(&full, bounds.max_text_chars).map(Value::Text),
        Kind::LongText => parse_long_text(&full, bounds.max_narrative_chars).map(Value::Text),
        Kind::Period => {
            let p = match cell {
                Cell::Date(d) => Some(Period::of(*d)),
                // A whole number in the range of Excel's day serials is a date cell whose date
                // format was lost: unambiguous. Any other plain number (2025.1, 202506) is not
                // read: Excel stores 2025.10 as 2025.1 (SPEC §2).
                Cell::Number(n) => match excel_serial_date(*n) {
                    Some(d) => Some(Period::of(d)),
                    None => return Err(plain_number_period(&shown)),
                },
                // The same number as text, as Excel writes it into a CSV.
                _ if looks_like_excel_decimal_month(&full) => {
                    return Err(plain_number_period(&shown));
                }
                _ => Period::parse(&full),
            };
            p.map(Value::Period).ok_or_else(|| {
                format!("“{shown}”不是有效的统计月份（应如 2025-06、2025/6 或 2025年6月）")
            })
        }
        Kind::Date => {
            let d = match cell {
                Cell::Date(d) => Some(*d),
                Cell::Number(n) => excel_serial_date(*n),
                _ => parse_date(&full),
            };
            d.map(Value::Date)
                .ok_or_else(|| format!("“{shown}”不是有效日期（应如 2025-07-03）"))
        }
        Kind::Count => {
            let n: Option<f64> = match cell {
                Cell::Number(n) => Some(*n),
                Cell::Text(_) => {
                    let s = clean_number(&full);
                    // "12.0" as some software writes whole numbers.
                    s.parse::<f64>().ok().filter(|_| {
                        s.bytes()
                            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
                    })
                }
                _ => None,
            };
            match n {
                Some(n) if !n.is_finite() || n.fract() != 0.0 => Err(format!("“{shown}”不是整数")),
                Some(n) if n < 0.0 => Err(format!("{shown} 不能为负数")),
                Some(n) if n > bounds.max_count as f64 => Err(format!(
                    "{shown} 超出合理范围（一个单位一个月最多 {}），请核对是否多输了位数",
                    bounds.max_count
                )),
                Some(n) => Ok(Value::Count(n as i64)),
                None => Err(format!("“{shown}”不是整数")),
            }
        }
        Kind::Money => {
            let fen = match cell {
                Cell::Number(n) if !n.is_finite() => None,
                Cell::Number(n) if n.abs() * 100.0 > bounds.max_fen as f64 => {
                    return Err(money_too_large(&shown, bounds));
                }
                // The number as Excel keeps it (15 significant digits), read as a decimal:
                // 12345678.123 has three decimals however large it is.
                Cell::Number(n) => parse_fen(&excel_decimal(*n)).map_err(|e| {
                    if e.is_empty() {
                        money_too_large(&shown, bounds)
                    } else {
                        format!("{shown} {e}")
                    }
                })?,
                Cell::Text(_) => parse_fen(&clean_number(&full)).map_err(|e| {
                    if e.is_empty() {
                        money_too_large(&shown, bounds)
                    } else {
                        format!("{shown} {e}")
                    }
                })?,
                _ => None,
            };
            match fen {
                Some(f) if f < 0 => Err(format!("{shown} 不能为负数")),
                Some(f) if f > bounds.max_fen => Err(money_too_large(&shown, bounds)),
                Some(f) => Ok(Value::Fen(f)),
                None => Err(format!(
                    "“{shown}”不是金额（应如 12345.60 或 12,345.60，单位元）"
                )),
            }
        }
    }
}

fn plain_number_period(shown: &str) -> String {
    format!(
        "“{shown}”是数字，无法确定月份（Excel 会把 2025.10 存成 2025.1）。请填写文本如 2025-10，或设置为日期格式"
    )
}

/// `2025.1`: a year and a one-digit month after a dot, which is how a number cell holding
/// 2025.10 reaches a CSV. (`2025.06` or `2025.12` cannot be a shortened October and are read.)
fn looks_like_excel_decimal_month(text: &str) -> bool {
    let t = text.trim();
    t.split_once('.')
        .is_some_and(|(y, m)| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) && m == "1")
}

fn money_too_large(shown: &str, bounds: &Bounds) -> String {
    format!(
        "{shown} 超出合理范围（一个单位一个月最多 {} 元），请核对是否多输了位数",
        bounds.max_fen / 100
    )
}

/// Long free text (执行情况) as sent: line breaks kept (CR LF → LF), surrounding blanks trimmed;
/// other control characters and over-long text are errors.
fn parse_long_text(s: &str, max_chars: usize) -> Result<String, String> {
    checked_text(
        s.trim().replace("\r\n", "\n").replace('\r', "\n"),
        max_chars,
    )
}

/// Free text as kept: line breaks and tabs (Alt+Enter in a cell) become spaces; other control
/// characters (a NUL from a broken export) and over-long text are errors, never silently cut.
fn parse_text(s: &str, max_chars: usize) -> Result<String, String> {
    let one_line = s
        .trim()
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    checked_text(one_line, max_chars)
}

/// Text without control characters (line breaks and tabs aside) and within `max_chars`.
fn checked_text(text: String, max_chars: usize) -> Result<String, String> {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(format!(
            "含有不可见的控制字符（U+{:04X}），请删除后重新报送",
            u32::from(c)
        ));
    }
    let n = text.chars().count();
    if n > max_chars {
        return Err(format!(
            "内容过长（共{n}个字符，最多 {max_chars} 个），请精简后重新报送：“{}”",
            read::shorten(&text, 20)
        ));
    }
    Ok(text)
}

/// Exact decimal text to 分: `"1234.5"` → 123450. Err for more than two decimals.
fn parse_fen(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim_end_matches('元').trim_start_matches(['¥', '￥']);
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(None);
    }
    if int.trim_start_matches('0').len() > 15 {
        // More than any bound allows; the caller says so.
        return Err(String::new());
    }
    if frac.trim_end_matches('0').len() > 2 {
        return Err("最多保留两位小数（金额单位为元）".into());
    }
    let yuan: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| String::new())?
    };
    let frac2: String = frac.chars().chain("00".chars()).take(2).collect();
    let fen = yuan * 100 + frac2.parse::<i64>().unwrap_or(0);
    Ok(Some(if neg { -fen } else { fen }))
}

/// A finite number in decimal notation with 15 significant digits — Excel's precision, so
/// that 5946.4800000000005 (a formula's binary rest) reads as 5946.48.
fn excel_decimal(n: f64) -> String {
    let sci = format!("{:.14e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    if n < 0.0 { format!("-{body}") } else { body }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, fmt) {
            return Some(d);
        }
    }
    // "2025-07-03 00:00:00" as some software writes dates.
    t.get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        max_count: 1_000_000,
        max_fen: 100_000_000_000,
        max_text_chars: 200,
        max_narrative_chars: 2000,
    };

    #[test]
    fn money_is_exact() {
        assert_eq!(parse_fen("1234.5"), Ok(Some(123450)));
        assert_eq!(parse_fen("34300.00"), Ok(Some(3430000)));
        assert_eq!(parse_fen("0.07"), Ok(Some(7)));
        assert_eq!(parse_fen("12元"), Ok(Some(1200)));
        assert!(parse_fen("1.234").is_err());
        assert_eq!(parse_fen("1.230"), Ok(Some(123)));
        assert_eq!(parse_fen("abc"), Ok(None));
        assert_eq!(clean_number("34,300.00"), "34300.00");
        assert_eq!(clean_number("１２"), "12");
        assert_eq!(
            parse_value(Kind::Money, &Cell::Number(19635.76), true, &B),
            Ok(Value::Fen(1963576))
        );
        assert!(parse_value(Kind::Money, &Cell::Number(1.005), true, &B).is_err());
        // SPEC v2 §2: three decimals are an error in a number cell however large the amount
        // (a relative tolerance used to round 12345678.123 to 12345678.12).
        let e = parse_value(Kind::Money, &Cell::Number(12_345_678.123), true, &B).unwrap_err();
        assert!(e.contains("最多保留两位小数"), "{e}");
        // A formula's binary rest is not a third decimal: 0.1 + 0.2 and 8494.97 × 0.7.
        assert_eq!(
            parse_value(Kind::Money, &Cell::Number(0.1 + 0.2), true, &B),
            Ok(Value::Fen(30))
        );
        assert_eq!(
            parse_value(Kind::Money, &Cell::Number(5946.4800000000005), true, &B),
            Ok(Value::Fen(594_648))
        );
        assert_eq!(
            parse_value(Kind::Money, &Cell::Number(999_999_999.99), true, &B),
            Ok(Value::Fen(99_999_999_999))
        );
        assert_eq!(excel_decimal(0.05), "0.0500000000000000");
        assert_eq!(excel_decimal(1.5e9), "1500000000.00000");
        assert_eq!(excel_decimal(-2.0), "-2.00000000000000");
        assert_eq!(fen_text(4862299), "48,622.99");
        assert_eq!(fen_text(5), "0.05");
    }

    #[test]
    fn bounds_and_text() {
        let big = Cell::Text("9223372036854775807".into());
        assert!(
            parse_value(Kind::Count, &big, true, &B)
                .unwrap_err()
                .contains("超出合理范围")
        );
        assert_eq!(
            parse_value(Kind::Count, &Cell::Number(1e6), true, &B),
            Ok(Value::Count(1_000_000))
        );
        assert!(parse_value(Kind::Count, &Cell::Number(1e6 + 1.0), true, &B).is_err());
        assert!(parse_value(Kind::Count, &Cell::Number(f64::INFINITY), true, &B).is_err());
        assert!(
            parse_value(
                Kind::Money,
                &Cell::Text("99999999999999999999".into()),
                true,
                &B
            )
            .unwrap_err()
            .contains("超出合理范围")
        );
        assert_eq!(
            parse_value(Kind::Money, &Cell::Text("1000000000".into()), true, &B),
            Ok(Value::Fen(100_000_000_000))
        );
        assert!(parse_value(Kind::Money, &Cell::Number(1_000_000_000.01), true, &B).is_err());
        let long = "张".repeat(40_000);
        let e = parse_value(Kind::Text, &Cell::Text(long), false, &B).unwrap_err();
        assert!(e.contains("共40000个字符") && e.chars().count() < 80, "{e}");
        assert!(
            parse_value(Kind::Text, &Cell::Text("张\u{0}三".into()), false, &B)
                .unwrap_err()
                .contains("U+0000")
        );
        assert_eq!(
            parse_value(Kind::Text, &Cell::Text(" 张\n三 ".into()), false, &B),
            Ok(Value::Text("张 三".into()))
        );
        let e = parse_value(Kind::Code, &Cell::Text("x".repeat(40_000)), true, &B).unwrap_err();
        assert!(e.chars().count() < 100, "{e}");
    }

    #[test]
    fn counts_reject_text_fractions_and_negatives() {
        assert_eq!(
            parse_value(Kind::Count, &Cell::Text("1,234".into()), true, &B),
            Ok(Value::Count(1234))
        );
        assert_eq!(
            parse_value(Kind::Count, &Cell::Number(55.0), true, &B),
            Ok(Value::Count(55))
        );
        assert_eq!(
            parse_value(Kind::Count, &Cell::Text("十二".into()), true, &B),
            Err("“十二”不是整数".into())
        );
        assert_eq!(
            parse_value(Kind::Count, &Cell::Text("-5".into()), true, &B),
            Err("-5 不能为负数".into())
        );
        assert!(parse_value(Kind::Count, &Cell::Number(2.5), true, &B).is_err());
        assert_eq!(
            parse_value(Kind::Count, &Cell::Empty, false, &B),
            Ok(Value::Count(0))
        );
        assert!(parse_value(Kind::Count, &Cell::Empty, true, &B).is_err());
    }

    #[test]
    fn periods_from_cells() {
        let jan = Value::Period(Period::new(2025, 1).unwrap());
        assert_eq!(
            parse_value(Kind::Period, &Cell::Number(45658.0), true, &B),
            Ok(jan.clone())
        );
        // SPEC v2 §2: a plain number is never guessed (Excel stores 2025.10 as 2025.1).
        for n in [2025.1, 202501.0, 2025.06, 2025.0] {
            let e = parse_value(Kind::Period, &Cell::Number(n), true, &B).unwrap_err();
            assert!(
                e.contains("无法确定月份") && e.contains("2025-10"),
                "{n}: {e}"
            );
        }
        let e = parse_value(Kind::Period, &Cell::Text("2025.1".into()), true, &B).unwrap_err();
        assert!(e.contains("无法确定月份"), "{e}");
        assert_eq!(
            parse_value(Kind::Period, &Cell::Text("2025.01".into()), true, &B),
            Ok(jan.clone())
        );
        assert_eq!(
            parse_value(Kind::Period, &Cell::Text("2025-10".into()), true, &B),
            Ok(Value::Period(Period::new(2025, 10).unwrap()))
        );
        assert_eq!(
            parse_value(
                Kind::Period,
                &Cell::Date(NaiveDate::from_ymd_opt(2025, 1, 31).unwrap()),
                true,
                &B
            ),
            Ok(jan)
        );
        assert_eq!(
            parse_value(Kind::Code, &Cell::Number(341522.0), true, &B),
            Ok(Value::Text("341522".into()))
        );
        assert!(parse_value(Kind::Code, &Cell::Text("合计".into()), true, &B).is_err());
    }
}
