//! The indicators of SPEC §3, computed here from the submitted figures with the spec's formulas
//! and the spec's reference table (§1), and compared with fayuan's CSV twins cell by cell.

use std::collections::BTreeMap;
use std::path::Path;

/// SPEC §1 (v2): code, name, target, population (None for 市本级, which serves the whole city).
pub const UNITS: [(&str, &str, f64, Option<f64>); 8] = [
    ("341522", "霍邱县", 1300.0, Some(944_985.0)),
    ("341524", "金寨县", 780.0, Some(496_501.0)),
    ("341525", "霍山县", 430.0, Some(286_197.0)),
    ("341523", "舒城县", 980.0, Some(697_250.0)),
    ("341502", "金安区", 900.0, Some(829_236.0)),
    ("341503", "裕安区", 1004.0, Some(923_301.0)),
    ("341504", "叶集区", 260.0, Some(216_229.0)),
    ("341500", "市本级", 410.0, None),
];
const PER_CASE: f64 = 700.0;

pub type Rows = Vec<BTreeMap<String, String>>;
/// (twin, unit_code, column) → expected value (None = empty cell).
pub type Expected = BTreeMap<(String, String, String), Option<f64>>;

fn div(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

/// Expected figures for month `m` from the submitted rows (latest versions, English keys).
pub fn expected(rows: &Rows, m: u32) -> Expected {
    let mut e = Expected::new();
    let mut put = |twin: &str, unit: &str, col: &str, v: Option<f64>| {
        e.insert((twin.into(), unit.into(), col.into()), v);
    };
    let sum = |code: Option<&str>, key: &str| -> f64 {
        rows.iter()
            .filter(|r| code.is_none_or(|c| r["unit_code"] == c))
            .filter(|r| r["period"][5..7].parse::<u32>().unwrap() <= m)
            .map(|r| r[key].parse::<f64>().unwrap_or(0.0))
            .sum()
    };
    let mf = m as f64;
    let rates: Vec<f64> = UNITS
        .iter()
        .map(|u| sum(Some(u.0), "cases_approved") / u.2)
        .collect();
    let mut all = UNITS
        .iter()
        .map(|u| (u.0, Some(u.0), u.2, u.3))
        .collect::<Vec<_>>();
    let city_pop = if UNITS.iter().any(|u| u.3.is_none() && u.1 != "市本级") {
        None
    } else {
        Some(UNITS.iter().filter_map(|u| u.3).sum())
    };
    all.push(("total", None, UNITS.iter().map(|u| u.2).sum(), city_pop));
    for (k, (unit, code, target, pop)) in all.into_iter().enumerate() {
        let ytd = sum(code, "cases_approved");
        let closed = sum(code, "cases_closed");
        let months = rows
            .iter()
            .filter(|r| {
                code.is_some_and(|c| r["unit_code"] == c)
                    && r["period"][5..7].parse::<u32>().unwrap() <= m
            })
            .count();
        put("completion.csv", unit, "target", Some(target));
        put("completion.csv", unit, "ytd_approved", Some(ytd));
        put("completion.csv", unit, "ytd_closed", Some(closed));
        put(
            "completion.csv",
            unit,
            "completion_rate",
            Some(ytd / target),
        );
        put("completion.csv", unit, "schedule_rate", Some(mf / 12.0));
        put(
            "completion.csv",
            unit,
            "schedule_gap",
            Some(ytd / target - mf / 12.0),
        );
        put("completion.csv", unit, "closure_rate", div(closed, ytd));
        put(
            "completion.csv",
            unit,
            "remaining",
            Some((target - ytd).max(0.0)),
        );
        put(
            "completion.csv",
            unit,
            "required_monthly",
            (m < 12).then(|| (target - ytd).max(0.0) / (12.0 - mf)),
        );
        put(
            "completion.csv",
            unit,
            "projected_year_end",
            Some(ytd * 12.0 / mf),
        );
        if code.is_some() {
            put(
                "completion.csv",
                unit,
                "months_reported",
                Some(months as f64),
            );
            let rank = 1 + rates.iter().filter(|r| **r > rates[k]).count();
            put("completion.csv", unit, "rank_completion", Some(rank as f64));
        } else {
            put("completion.csv", unit, "months_reported", None);
            put("completion.csv", unit, "rank_completion", None);
        }
        put("per100k.csv", unit, "population", pop);
        put("per100k.csv", unit, "ytd_approved", Some(ytd));
        put(
            "per100k.csv",
            unit,
            "per100k_ytd",
            pop.map(|p| ytd / p * 100_000.0),
        );
        put(
            "per100k.csv",
            unit,
            "per100k_annualized",
            pop.map(|p| ytd / p * 100_000.0 * 12.0 / mf),
        );
        put(
            "per100k.csv",
            unit,
            "per100k_target",
            pop.map(|p| target / p * 100_000.0),
        );
        let budget = target * PER_CASE;
        let (recv, spend, spend_case) = (
            sum(code, "funds_received"),
            sum(code, "spend_total"),
            sum(code, "spend_case"),
        );
        put("funding.csv", unit, "budget", Some(budget));
        put("funding.csv", unit, "ytd_received", Some(recv));
        put("funding.csv", unit, "arrival_rate", div(recv, budget));
        put("funding.csv", unit, "ytd_spend", Some(spend));
        put("funding.csv", unit, "expenditure_rate", div(spend, recv));
        put("funding.csv", unit, "ytd_spend_case", Some(spend_case));
        put("funding.csv", unit, "case_share", div(spend_case, spend));
        put("funding.csv", unit, "per_case_input", div(recv, ytd));
        put("funding.csv", unit, "per_case_standard", Some(PER_CASE));
        let (c, cr, sv, sa) = (
            sum(code, "complaints"),
            sum(code, "complaints_resolved"),
            sum(code, "surveyed"),
            sum(code, "satisfied"),
        );
        put("quality.csv", unit, "complaints", Some(c));
        put("quality.csv", unit, "complaints_resolved", Some(cr));
        put("quality.csv", unit, "complaint_resolution_rate", div(cr, c));
        put("quality.csv", unit, "surveyed", Some(sv));
        put("quality.csv", unit, "satisfied", Some(sa));
        put("quality.csv", unit, "satisfaction_rate", div(sa, sv));
        put(
            "quality.csv",
            unit,
            "legal_help",
            Some(sum(code, "legal_help")),
        );
    }
    e
}

/// A CSV twin as rows of text (the BOM checked and removed).
pub fn read_twin(path: &Path) -> Rows {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "{} has no BOM",
        path.display()
    );
    csv_rows(csv::Reader::from_reader(&bytes[3..]))
}

/// Every record of a CSV as a map from header to text.
pub fn csv_rows<R: std::io::Read>(mut r: csv::Reader<R>) -> Rows {
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Every expected figure equals the twin's (relative 1e-9), every expected null is empty; the
/// twins list the units in plan order, then `total`.
pub fn assert_twins(dir: &Path, expected: &Expected) {
    let mut twins: Vec<&str> = expected.keys().map(|k| k.0.as_str()).collect();
    twins.dedup();
    for twin in twins {
        let rows = read_twin(&dir.join(twin));
        let order: Vec<&str> = rows.iter().map(|r| r["unit_code"].as_str()).collect();
        let mut want: Vec<&str> = UNITS.iter().map(|u| u.0).collect();
        want.push("total");
        assert_eq!(order, want, "{twin}: unit order");
        for ((t, unit, col), value) in expected.iter().filter(|k| k.0.0 == twin) {
            let row = rows.iter().find(|r| r["unit_code"] == *unit).unwrap();
            let got = row
                .get(col)
                .unwrap_or_else(|| panic!("{t} has no column {col}"));
            match value {
                None => assert!(
                    got.is_empty(),
                    "{t} {unit} {col}: expected empty, got {got:?}"
                ),
                Some(v) => {
                    let g: f64 = got
                        .parse()
                        .unwrap_or_else(|_| panic!("{t} {unit} {col}: {got:?} is not a number"));
                    assert!(
                        (g - v).abs() <= 1e-9 * v.abs().max(1.0),
                        "{t} {unit} {col}: got {g}, expected {v}"
                    );
                }
            }
        }
    }
}
