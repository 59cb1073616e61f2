//! The submission format (月报表) of SPEC §2: one place that names every field, its Chinese
//! header, its type and whether it must be present. Parsing, validation, the store and the
//! sample writer all walk this table instead of naming fields again.

/// What kind of value a field holds; decides how a cell is parsed and how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 6-digit GB/T 2260 unit code.
    Code,
    /// Free text on one line (单位名称, 填报人, 说明): line breaks become spaces.
    Text,
    /// Free text that keeps its line breaks (执行情况), with its own length bound.
    LongText,
    /// A calendar month.
    Period,
    /// A whole number ≥ 0.
    Count,
    /// An amount of money in 元, ≥ 0, at most two decimals (kept as whole 分).
    Money,
    /// A calendar date.
    Date,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// The column must be present in every submission.
    pub required: bool,
}

const fn f(key: &'static str, label: &'static str, kind: Kind, required: bool) -> Field {
    Field {
        key,
        label,
        kind,
        required,
    }
}

/// Every field of a submission row, in the order of the official form.
pub const FIELDS: [Field; 20] = [
    f("unit_code", "单位代码", Kind::Code, true),
    f("unit_name", "单位名称", Kind::Text, false),
    f("period", "统计月份", Kind::Period, true),
    f("cases_approved", "受理审批案件数", Kind::Count, true),
    f("cases_criminal", "其中：刑事", Kind::Count, true),
    f("cases_civil", "其中：民事", Kind::Count, true),
    f("cases_admin", "其中：行政", Kind::Count, true),
    f("cases_closed", "办结案件数", Kind::Count, true),
    f("legal_help", "法律帮助人次", Kind::Count, false),
    f("funds_received", "到位经费（元）", Kind::Money, true),
    f("spend_total", "业务经费支出（元）", Kind::Money, true),
    f("spend_case", "办案补贴及直接费用（元）", Kind::Money, true),
    f("complaints", "投诉件数", Kind::Count, true),
    f("complaints_resolved", "投诉办结件数", Kind::Count, true),
    f("surveyed", "回访人数", Kind::Count, true),
    f("satisfied", "满意人数", Kind::Count, true),
    f("reporter", "填报人", Kind::Text, false),
    f("reported_on", "填报日期", Kind::Date, false),
    // The county's explanation of a figure a soft check finds unusual (核实性审核).
    f("note", "说明", Kind::Text, false),
    // The month's progress in words (执行情况: 本月工作进展 / 存在问题 / 下月计划).
    f("narrative", "执行情况", Kind::LongText, false),
];

/// The fill-in template's sheets beside 月报 (SPEC §2, templates): the month's progress in words,
/// in three parts, and a hidden sheet saying which unit, month and pipeline the template is for.
pub const NARRATIVE_SHEET: &str = "执行情况";
pub const NARRATIVE_PARTS: [&str; 3] = ["本月工作进展", "存在问题", "下月计划"];
pub const TEMPLATE_META_SHEET: &str = "模板信息";
/// The template layout's version, written into the hidden sheet.
pub const TEMPLATE_VERSION: &str = "1";
/// The rows of the hidden sheet: (label, what it holds).
pub const TEMPLATE_META_KEYS: [&str; 5] =
    ["单位代码", "单位名称", "统计月份", "流水线", "模板版本"];

/// Index of a field in [`FIELDS`] by its key. Panics only on a key that is not in the table,
/// which is a programming error caught by the unit tests, never by user input.
pub fn idx(key: &str) -> usize {
    FIELDS
        .iter()
        .position(|f| f.key == key)
        .unwrap_or_else(|| panic!("no field named {key}"))
}

use crate::period::Period;
use chrono::NaiveDate;

/// One parsed value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Missing,
    Text(String),
    Period(Period),
    Count(i64),
    /// Money in 分 (hundredths of a 元), exact.
    Fen(i64),
    Date(NaiveDate),
}

/// One accepted row: a value for every field of [`FIELDS`], and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub values: Vec<Value>,
    pub sheet: Option<String>,
    /// The row as a person counts it in the source (sheet row, or JSON record number).
    pub source_row: u32,
}

/// Cross-field rules of SPEC §2: (left, right, relation). `Sum` means the first key equals the
/// sum of the others; `NotAbove` means the first is at most the second.
pub enum Rule {
    Sum(&'static str, &'static [&'static str]),
    NotAbove(&'static str, &'static str),
}

pub const RULES: &[Rule] = &[
    Rule::Sum(
        "cases_approved",
        &["cases_criminal", "cases_civil", "cases_admin"],
    ),
    Rule::NotAbove("spend_case", "spend_total"),
    Rule::NotAbove("satisfied", "surveyed"),
];

/// Normalises a header cell so that "  其中(刑事) " and "其中：刑事" and "Cases_Approved" compare
/// equal to their canonical forms: full-width brackets and colons become half-width, white
/// space (also the ideographic space) is removed, ASCII is lower-cased.
pub fn normalize_header(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '：' => ':',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Which field a header cell names, if any. Accepts the key, the Chinese label, and the label
/// without its unit suffix "（元）" or its "其中：" prefix.
pub fn field_for_header(cell: &str) -> Option<usize> {
    static ALIASES: std::sync::OnceLock<Vec<(String, usize)>> = std::sync::OnceLock::new();
    let aliases = ALIASES.get_or_init(|| {
        let mut v = Vec::new();
        for (i, f) in FIELDS.iter().enumerate() {
            let label = normalize_header(f.label);
            let short = label.trim_end_matches("(元)").to_string();
            let bare = short.trim_start_matches("其中:").to_string();
            for alias in [f.key.to_string(), label, short, bare] {
                v.push((alias, i));
            }
        }
        v
    });
    let h = normalize_header(cell);
    if h.is_empty() {
        return None;
    }
    aliases.iter().find(|(a, _)| *a == h).map(|(_, i)| *i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_with_tolerance() {
        assert_eq!(field_for_header(" 其中:刑事 "), Some(idx("cases_criminal")));
        assert_eq!(field_for_header("其中（刑事）"), None);
        assert_eq!(
            field_for_header("到位经费(元)"),
            Some(idx("funds_received"))
        );
        assert_eq!(field_for_header("到位经费"), Some(idx("funds_received")));
        assert_eq!(field_for_header("Unit_Code"), Some(idx("unit_code")));
        assert_eq!(field_for_header("单 位 代 码"), Some(idx("unit_code")));
        assert_eq!(field_for_header("备注"), None);
        assert_eq!(field_for_header(""), None);
    }

    #[test]
    fn every_rule_names_real_fields() {
        for r in RULES {
            match r {
                Rule::Sum(a, parts) => {
                    idx(a);
                    parts.iter().for_each(|p| {
                        idx(p);
                    });
                }
                Rule::NotAbove(a, b) => {
                    idx(a);
                    idx(b);
                }
            }
        }
    }
}
