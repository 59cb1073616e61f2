//! One cell read as a field's value: counts and money exact (money in whole 分, Excel's binary
//! rests and thousands separators understood), months and dates in the forms county staff write
//! them, text cleaned and bounded — or a problem in Chinese that quotes the cell, at most
//! `QUOTE_CHARS` characters of it.

use super::super::read::{self, Cell};
use crate::config::Pipeline;
use crate::period::Period;
use crate::schema::{Kind, Value};
use chrono::NaiveDate;

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
pub(super) const QUOTE_CHARS: usize = 40;

/// 分 as 元 text: `1234567` → `12,345.67`.
pub fn fen_text(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let grouped = crate::format::group_digits(&(fen / 100).to_string());
    format!("{sign}{grouped}.{:02}", fen % 100)
}

/// Full-width digits and punctuation that Chinese input methods produce, made ASCII;
/// thousands separators and spaces removed.
pub(super) fn clean_number(s: &str) -> String {
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
pub(super) fn excel_serial_date(n: f64) -> Option<NaiveDate> {
    if n.fract() != 0.0 || !(36526.0..=73050.0).contains(&n) {
        return None; // 2000-01-01 ..= 2099-12-31
    }
    NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(chrono::Days::new(n as u64))
}

pub(super) fn parse_value(
    kind: Kind,
    cell: &Cell,
    required: bool,
    bounds: &Bounds,
) -> Result<Value, String> {
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
        Kind::Count => parse_count(cell, &full, &shown, bounds),
        Kind::Money => parse_money(cell, &full, &shown, bounds),
    }
}

/// A count: a whole number from 0 to `max_count` (12.0 as some software writes whole numbers).
fn parse_count(cell: &Cell, full: &str, shown: &str, bounds: &Bounds) -> Result<Value, String> {
    let n: Option<f64> = match cell {
        Cell::Number(n) => Some(*n),
        Cell::Text(_) => {
            let s = clean_number(full);
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

/// Money in whole 分: at most two decimals, from 0 to `max_money_yuan`.
fn parse_money(cell: &Cell, full: &str, shown: &str, bounds: &Bounds) -> Result<Value, String> {
    let explain = |e: String| {
        if e.is_empty() {
            money_too_large(shown, bounds)
        } else {
            format!("{shown} {e}")
        }
    };
    let fen = match cell {
        Cell::Number(n) if !n.is_finite() => None,
        Cell::Number(n) if n.abs() * 100.0 > bounds.max_fen as f64 => {
            return Err(money_too_large(shown, bounds));
        }
        // The number as Excel keeps it (15 significant digits), read as a decimal:
        // 12345678.123 has three decimals however large it is.
        Cell::Number(n) => parse_fen(&excel_decimal(*n)).map_err(explain)?,
        Cell::Text(_) => parse_fen(&clean_number(full)).map_err(explain)?,
        _ => None,
    };
    match fen {
        Some(f) if f < 0 => Err(format!("{shown} 不能为负数")),
        Some(f) if f > bounds.max_fen => Err(money_too_large(shown, bounds)),
        Some(f) => Ok(Value::Fen(f)),
        None => Err(format!(
            "“{shown}”不是金额（应如 12345.60 或 12,345.60，单位元）"
        )),
    }
}

pub(super) fn plain_number_period(shown: &str) -> String {
    format!(
        "“{shown}”是数字，无法确定月份（Excel 会把 2025.10 存成 2025.1）。请填写文本如 2025-10，或设置为日期格式"
    )
}

/// `2025.1`: a year and a one-digit month after a dot, which is how a number cell holding
/// 2025.10 reaches a CSV. (`2025.06` or `2025.12` cannot be a shortened October and are read.)
pub(super) fn looks_like_excel_decimal_month(text: &str) -> bool {
    let t = text.trim();
    t.split_once('.')
        .is_some_and(|(y, m)| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) && m == "1")
}

pub(super) fn money_too_large(shown: &str, bounds: &Bounds) -> String {
    format!(
        "{shown} 超出合理范围（一个单位一个月最多 {} 元），请核对是否多输了位数",
        bounds.max_fen / 100
    )
}

/// Long free text (执行情况) as sent: line breaks kept (CR LF → LF), surrounding blanks trimmed;
/// other control characters and over-long text are errors.
pub(super) fn parse_long_text(s: &str, max_chars: usize) -> Result<String, String> {
    checked_text(
        s.trim().replace("\r\n", "\n").replace('\r', "\n"),
        max_chars,
    )
}

/// Free text as kept: line breaks and tabs (Alt+Enter in a cell) become spaces; other control
/// characters (a NUL from a broken export) and over-long text are errors, never silently cut.
pub(super) fn parse_text(s: &str, max_chars: usize) -> Result<String, String> {
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
pub(super) fn checked_text(text: String, max_chars: usize) -> Result<String, String> {
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
pub(super) fn parse_fen(s: &str) -> Result<Option<i64>, String> {
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
pub(super) fn excel_decimal(n: f64) -> String {
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

pub(super) fn parse_date(s: &str) -> Option<NaiveDate> {
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
