//! How figures are shown to people: rounded half away from zero (四舍五入), percentages with
//! two decimals, money in 元 with two decimals, per-100k with two decimals, counts as integers,
//! "—" where a figure is undefined. In prose (公文 sentences, alert messages, digests, pages) no
//! thousands separators (GB/T 15835-2011 for non-technical text: `33567.77元`, `6064件`); in the
//! cells of tables and workbooks with them (`int`, `yuan_cell`, `grouped`).
//!
//! Invariant: pure; the only place that rounds for presentation (exported fractions are never
//! rounded); no float reaches a text except through here (test `no_float_reaches_a_text`).

/// Rounds half away from zero to `decimals` places. The tiny nudge absorbs binary noise such as
/// 52.305 being stored as 52.30499999…, which a person reading the decimal expects to round up.
pub fn round_half_away(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    let y = x * f;
    let r = (y.abs() * (1.0 + 1e-12) + 0.5).floor();
    r.copysign(y) / f
}

pub const DASH: &str = "—";

/// `0.52305` → `52.31%`.
pub fn pct(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| {
        format!("{:.2}%", round_half_away(v * 100.0, 2))
    })
}

/// A threshold in the plan's words: `0.7` → `70%`, `1.0` → `100%` (two decimals only where
/// the percentage is not whole: `0.655` → `65.50%`).
pub fn pct0(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| {
        let p = round_half_away(v * 100.0, 2);
        if p.fract() == 0.0 {
            format!("{p:.0}%")
        } else {
            format!("{p:.2}%")
        }
    })
}

/// A difference of fractions in percentage points, without sign: `-0.052` → `5.20个百分点`.
pub fn pp(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| {
        format!("{:.2}个百分点", round_half_away(v.abs() * 100.0, 2))
    })
}

/// Money in prose: `1234.5` → `1234.50元` (no separators).
pub fn yuan(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| format!("{:.2}元", round_half_away(v, 2)))
}

/// Money in a table's cell: `1234.5` → `1,234.50`.
pub fn yuan_cell(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| grouped(round_half_away(v, 2), 2))
}

/// A count in a table's cell: `6064` → `6,064`.
pub fn int(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| grouped(round_half_away(v, 0), 0))
}

/// A count in prose: `6064` → `6064`.
pub fn count(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| format!("{:.0}", round_half_away(v, 0)))
}

/// Two decimals as they are (per-100k figures): `66.6` → `66.60`.
pub fn dec2(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| format!("{:.2}", round_half_away(v, 2)))
}

/// Two decimals, trailing zeros dropped: `12.5` → `12.5`, `12.0` → `12`.
pub fn num(x: Option<f64>) -> String {
    finite(x).map_or(DASH.into(), |v| {
        let s = format!("{:.2}", round_half_away(v, 2));
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    })
}

/// Months as the bureau writes a list of them: `[1,2,3,5,7,8]` → `1—3、5、7—8` (a run of two is
/// written with the dash too: `7—8`).
pub fn months_zh(months: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut k = 0;
    while k < months.len() {
        let mut j = k;
        while j + 1 < months.len() && months[j + 1] == months[j] + 1 {
            j += 1;
        }
        parts.push(if j == k {
            months[k].to_string()
        } else {
            format!("{}—{}", months[k], months[j])
        });
        k = j + 1;
    }
    parts.join("、")
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

/// Digits with thousands separators: `"1234567"` → `1,234,567` (the one place that groups).
pub fn group_digits(int: &str) -> String {
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Thousands separators: `1234567.5` with 2 decimals → `1,234,567.50`.
pub fn grouped(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = group_digits(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if v < 0.0 && out.chars().any(|c| c != '0' && c != '.' && c != ',') {
        out.insert(0, '-');
    }
    out
}

/// Fills `{figure:FMT}` and `{threshold:FMT}` in a message template (prose: counts and money
/// without separators).
pub fn fill(template: &str, figure: Option<f64>, threshold: Option<f64>) -> String {
    let mut out = template.to_string();
    for (name, value) in [("figure", figure), ("threshold", threshold)] {
        for (fmt, f) in [
            ("pct", pct as fn(Option<f64>) -> String),
            ("pct0", pct0),
            ("pp", pp),
            ("yuan", yuan),
            ("int", count),
            ("num", num),
            ("dec2", dec2),
        ] {
            let key = format!("{{{name}:{fmt}}}");
            if out.contains(&key) {
                out = out.replace(&key, &f(value));
            }
        }
    }
    out
}

/// A spreadsheet cell holds at most 32,767 characters; longer text (a county's paste, a long
/// list of problems) is cut with a note rather than failing the whole workbook.
pub fn cell_text(s: &str) -> String {
    const MAX: usize = 32_000;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let head: String = s.chars().take(MAX).collect();
    format!("{head}……（内容过长，已截断）")
}

/// A text field as written to a CSV twin: one that a spreadsheet would run as a formula (it
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'` (OWASP's rule
/// against CSV injection), unless it reads as a plain number; NUL characters are dropped.
pub fn csv_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let s: std::borrow::Cow<'_, str> = if s.contains('\0') {
        s.replace('\0', "").into()
    } else {
        s.into()
    };
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && s.trim().parse::<f64>().is_err() {
        format!("'{s}").into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_never_run_as_formulas() {
        assert_eq!(
            csv_safe("=HYPERLINK(\"http:evil\",\"x\")"),
            "'=HYPERLINK(\"http:evil\",\"x\")"
        );
        for risky in ["+1+2", "-1+A1", "@SUM(A1)", "\tx", "\r=1"] {
            assert!(csv_safe(risky).starts_with('\''), "{risky:?}");
        }
        assert_eq!(csv_safe("-5"), "-5");
        assert_eq!(csv_safe("-0.25"), "-0.25");
        assert_eq!(csv_safe("霍邱县"), "霍邱县");
        assert_eq!(csv_safe("a\0b"), "ab");
        assert_eq!(
            cell_text(&"张".repeat(40_000)).chars().count(),
            32_000 + "……（内容过长，已截断）".chars().count()
        );
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_half_away(0.125, 2), 0.13); // half-even would give 0.12
        assert_eq!(round_half_away(-0.125, 2), -0.13);
        assert_eq!(round_half_away(52.305, 2), 52.31);
        assert_eq!(round_half_away(2.5, 0), 3.0);
        assert_eq!(pct(Some(0.523049)), "52.30%");
        assert_eq!(pct(Some(0.52305)), "52.31%");
        assert_eq!(pct(None), "—");
        assert_eq!(pct(Some(f64::INFINITY)), "—");
        assert_eq!(pp(Some(-0.052)), "5.20个百分点");
        assert_eq!(yuan(Some(1234567.5)), "1234567.50元");
        assert_eq!(yuan_cell(Some(1234567.5)), "1,234,567.50");
        assert_eq!(yuan(Some(0.1 + 0.2)), "0.30元");
        assert_eq!(yuan(Some(33567.770000000004)), "33567.77元");
        assert_eq!(count(Some(6064.0)), "6064");
        assert_eq!(months_zh(&[1, 2, 3, 5, 7, 8]), "1—3、5、7—8");
        assert_eq!(months_zh(&[4]), "4");
        assert_eq!(int(Some(6064.0)), "6,064");
        assert_eq!(num(Some(12.5)), "12.5");
        assert_eq!(num(Some(12.0)), "12");
    }

    #[test]
    fn fills_templates() {
        assert_eq!(
            fill(
                "占比 {figure:pct}，低于 {threshold:pct}",
                Some(0.6999),
                Some(0.7)
            ),
            "占比 69.99%，低于 70.00%"
        );
    }
}
