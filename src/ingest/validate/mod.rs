//! The rules of SPEC §2 applied to tables: find the header, map the columns, parse every
//! cell, check every row and the file as a whole. Every problem of a file is gathered in one
//! pass, in Chinese, each naming its place (sheet and cell, or JSON record) and column.
//!
//! Invariant: pure — bytes and the pipeline in, rows and problems out; no files, no clock.

use super::read::{self, Cell, Table};
use crate::config::Pipeline;
use crate::period::Period;
use crate::schema::{self, FIELDS, Kind, Row, Rule, Value};
use crate::unit_code::UnitCode;
use std::collections::HashMap;
use std::fmt;
pub use values::fen_text;
use values::{Bounds, QUOTE_CHARS, parse_long_text, parse_value};

mod values;

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
    pub unit_codes: Vec<UnitCode>,
    /// The months the file's rows name (`2025-07`), valid or not, in order of first appearance
    /// (so that a county sees which month a refused file was for, and when it was replaced).
    pub periods: Vec<String>,
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
    if let Some(meta) = tables
        .iter()
        .find(|t| t.sheet() == Some(schema::TEMPLATE_META_SHEET))
    {
        template_meta(meta, pipeline, out);
    }
    if let Some(sheet) = tables
        .iter()
        .find(|t| t.sheet() == Some(schema::NARRATIVE_SHEET))
    {
        narrative(sheet, pipeline, out);
    }
    if out.problem_count > before {
        out.bad_rows += out.rows.len();
        out.rows.clear();
    }
}

/// (label in column A, row, column of the value beside it) of a labelled sheet.
fn labelled(t: &Table) -> Vec<(String, usize, usize)> {
    t.rows
        .iter()
        .enumerate()
        .filter_map(|(r, row)| match row.first() {
            Some(Cell::Text(s)) => Some((s.trim().to_string(), r, 1)),
            _ => None,
        })
        .collect()
}

/// The hidden 模板信息: the template must be this pipeline's, its rows its unit's and month's.
fn template_meta(meta: &Table, pipeline: &Pipeline, out: &mut Checked) {
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

/// The 执行情况 sheet: its parts joined, bounded, given to every row without a narrative.
fn narrative(sheet: &Table, pipeline: &Pipeline, out: &mut Checked) {
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
        if let Value::Period(p) = values[schema::idx("period")] {
            let p = p.to_string();
            if !out.periods.contains(&p) {
                out.periods.push(p);
            }
        }
        let year = self.pipeline.year();
        if let Value::Period(p) = values[schema::idx("period")]
            && p.year() != year
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
        if let Some(code) = UnitCode::parse(code)
            && !out.unit_codes.contains(&code)
        {
            out.unit_codes.push(code);
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
