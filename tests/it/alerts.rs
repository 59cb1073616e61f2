//! Each alert rule of SPEC §4 triggered and not triggered, on small hand-made frames run
//! through the analyses directly (no files, no clock).

use crate::support::*;
use fayuan::analyze::{self, Inputs, UsedRow};
use fayuan::period::{Period, parse_instant};
use fayuan::schema::{FIELDS, idx};
use fayuan::schema::{Row, Value};
use fayuan::store::{self, FileEntry, Outcome};
use std::collections::BTreeMap;

/// A row for a unit and month with figures that trigger nothing on their own: 100 cases a
/// month, funds arriving a little ahead of schedule, 80% of spending on cases.
fn row(code: &str, month: u32) -> Row {
    let p = luan();
    let u = p.unit(code).unwrap();
    let mut values = vec![Value::Missing; FIELDS.len()];
    values[idx("unit_code")] = Value::Text(code.into());
    values[idx("period")] = Value::Period(Period::new(2025, month).unwrap());
    for (k, n) in [
        ("cases_approved", 100),
        ("cases_criminal", 100),
        ("cases_civil", 0),
        ("cases_admin", 0),
        ("cases_closed", 50),
        ("legal_help", 0),
        ("complaints", 0),
        ("complaints_resolved", 0),
        ("surveyed", 10),
        ("satisfied", 10),
    ] {
        values[idx(k)] = Value::Count(n);
    }
    let monthly_fen = (u.budget * 100.0 / 12.0).ceil() as i64 + 10_000;
    values[idx("funds_received")] = Value::Fen(monthly_fen);
    values[idx("spend_total")] = Value::Fen(monthly_fen);
    values[idx("spend_case")] = Value::Fen(monthly_fen * 8 / 10);
    Row {
        values,
        sheet: None,
        source_row: 2,
    }
}

fn set(mut r: Row, key: &str, v: i64) -> Row {
    r.values[idx(key)] = match r.values[idx(key)] {
        Value::Fen(_) => Value::Fen(v),
        _ => Value::Count(v),
    };
    r
}

/// A row arrived on time: day 2 of the next month.
fn on_time(r: Row) -> (String, Row) {
    let p = match r.values[idx("period")] {
        Value::Period(p) => p,
        _ => unreachable!(),
    };
    (format!("{}-02T10:00:00+08:00", p.next()), r)
}

struct Case {
    rows: Vec<(String, Row)>,
    rejected: Vec<FileEntry>,
    previous: Option<Vec<UsedRow>>,
}

impl Case {
    fn new(rows: Vec<(String, Row)>) -> Case {
        Case {
            rows,
            rejected: Vec::new(),
            previous: None,
        }
    }

    /// The alerts for `period` as of `as_of`: (rule, severity, unit_code, message).
    fn alerts(&self, period: &str, as_of: &str) -> Vec<BTreeMap<String, String>> {
        frame_as_text(self.analysis(period, as_of).frame("alerts").unwrap())
    }

    fn analysis(&self, period: &str, as_of: &str) -> analyze::Analysis {
        let pipeline = luan();
        let mut files: Vec<FileEntry> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, (at, _))| FileEntry {
                batch: i as i64 + 1,
                seq: 1,
                sha256: format!("{i:064}"),
                file_name: format!("f{i}.csv"),
                size: 1,
                arrived_at: at.clone(),
                outcome: Outcome::Accepted,
                stored_as: String::new(),
                rows_accepted: 1,
                rows_rejected: 0,
                problems: String::new(),
                unit_codes: String::new(),
            })
            .collect();
        let pairs: Vec<(usize, &Row)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, (_, r))| (i, r))
            .collect();
        let subs = store::table_of(&files, &pairs).unwrap();
        files.extend(self.rejected.iter().cloned());

        analyze::analyze(&Inputs {
            pipeline: &pipeline,
            period: Period::parse(period).unwrap(),
            as_of: parse_instant(as_of).unwrap(),
            submissions: &subs,
            files: &files,
            previous: self.previous.as_deref(),
            extra_alerts: Vec::new(),
        })
        .unwrap()
    }
}

fn has(
    alerts: &[BTreeMap<String, String>],
    rule: &str,
    unit: &str,
) -> Option<BTreeMap<String, String>> {
    alerts
        .iter()
        .find(|a| a["rule"] == rule && a["unit_code"] == unit)
        .cloned()
}

const HQ: &str = "341522"; // 霍邱县: target 1300

fn months(code: &str, cases: &[i64]) -> Vec<(String, Row)> {
    cases
        .iter()
        .enumerate()
        .map(|(k, n)| on_time(set(row(code, k as u32 + 1), "cases_approved", *n)))
        .map(|(at, r)| {
            let n = match r.values[idx("cases_approved")] {
                Value::Count(n) => n,
                _ => 0,
            };
            (at, set(r, "cases_criminal", n))
        })
        .collect()
}

#[test]
fn spike_needs_history_and_a_robust_outlier() {
    let as_of = "2025-06-01 09:00";
    // Identical months: the MAD floor of one case keeps small changes quiet, big ones not.
    let a = Case::new(months(HQ, &[100, 100, 100, 102])).alerts("2025-04", as_of);
    assert!(has(&a, "spike", HQ).is_none(), "z = 0.6745·2/1 = 1.35");
    let a = Case::new(months(HQ, &[100, 100, 100, 120])).alerts("2025-04", as_of);
    let s = has(&a, "spike", HQ).expect("z = 0.6745·20/1 = 13.5");
    assert_eq!(
        (
            s["severity"].as_str(),
            s["figure"].as_str(),
            s["threshold"].as_str()
        ),
        ("warning", "120.0", "100.0")
    );
    // MAD 4: 110 gives z = 1.69 (quiet), 130 gives z = 5.06.
    assert!(
        has(
            &Case::new(months(HQ, &[100, 104, 96, 110])).alerts("2025-04", as_of),
            "spike",
            HQ
        )
        .is_none()
    );
    assert!(
        has(
            &Case::new(months(HQ, &[100, 104, 96, 130])).alerts("2025-04", as_of),
            "spike",
            HQ
        )
        .is_some()
    );
    // Two earlier months are not enough history, however far off the third is.
    assert!(
        has(
            &Case::new(months(HQ, &[100, 100, 400])).alerts("2025-03", as_of),
            "spike",
            HQ
        )
        .is_none()
    );
    // Zero cases: a spike when the earlier median is at least 5, not below.
    let z = has(
        &Case::new(months(HQ, &[6, 6, 6, 0])).alerts("2025-04", as_of),
        "spike",
        HQ,
    )
    .expect("0 after a median of 6");
    assert!(z["message"].contains("0 件"), "{z:?}");
    assert!(
        has(
            &Case::new(months(HQ, &[3, 3, 4, 0])).alerts("2025-04", as_of),
            "spike",
            HQ
        )
        .is_none()
    );
}

#[test]
fn case_share_below_seventy_percent() {
    let at = |spend_case: i64| {
        let r = set(
            set(row(HQ, 1), "spend_total", 1_000_000),
            "spend_case",
            spend_case,
        );
        Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00")
    };
    let a = has(&at(699_900), "case_share", HQ).expect("69.99% is below 70%");
    assert_eq!(a["severity"], "critical");
    assert!(
        a["message"].contains("69.99%") && a["message"].contains("70.00%"),
        "{a:?}"
    );
    assert!(
        has(&at(700_000), "case_share", HQ).is_none(),
        "70% meets the rule"
    );
}

#[test]
fn missing_and_late_around_the_deadline() {
    // The March deadline is the end of 5 April, Beijing time: 2025-04-05T16:00Z.
    let r = row(HQ, 3);
    let just_in = ("2025-04-05T23:59:59+08:00".to_string(), r.clone());
    let just_late = (
        "2025-04-06T00:00:00+08:00".to_string(),
        set(r.clone(), "cases_closed", 50),
    );
    let a = Case::new(vec![just_in]).alerts("2025-03", "2025-04-06 09:00");
    assert!(has(&a, "late", HQ).is_none());
    assert!(has(&a, "missing", HQ).is_none());
    assert!(
        has(&a, "missing", "341524").is_some_and(|m| m["severity"] == "critical"),
        "金寨县 sent nothing"
    );
    let a = Case::new(vec![just_late.clone()]).alerts("2025-03", "2025-04-06 09:00");
    let late = has(&a, "late", HQ).expect("arrived at 24:00");
    assert_eq!(late["severity"], "info");
    assert!(late["message"].contains("2025-04-05 24:00"), "{late:?}");
    // As of a moment before it arrived, the unit is missing.
    let a = Case::new(vec![just_late]).alerts("2025-03", "2025-04-05 23:00");
    assert!(has(&a, "missing", HQ).is_some());
}

#[test]
fn behind_schedule_warning_and_critical() {
    // June: 序时进度 50%. 霍邱县 target 1300.
    let at = |ytd: i64| {
        let mut cases = vec![ytd / 6; 6];
        cases[5] += ytd - ytd / 6 * 6;
        Case::new(months(HQ, &cases)).alerts("2025-06", "2025-07-06 09:00")
    };
    assert!(
        has(&at(598), "behind_schedule", HQ).is_none(),
        "46.0%: 4 pp behind"
    );
    let w = has(&at(572), "behind_schedule", HQ).expect("44.0%: 6 pp behind");
    assert_eq!(w["severity"], "warning");
    assert!(w["message"].contains("6.00个百分点"), "{w:?}");
    assert_eq!(
        has(&at(442), "behind_schedule", HQ).unwrap()["severity"],
        "critical",
        "34.0%: 16 pp behind"
    );
}

#[test]
fn funding_rules() {
    let p = luan();
    let budget_fen = (p.unit(HQ).unwrap().budget * 100.0) as i64;
    // Overspend: spending more than has arrived.
    let r = set(
        set(row(HQ, 1), "funds_received", 1_000_000),
        "spend_total",
        1_000_001,
    );
    let r = set(r, "spend_case", 800_000);
    let a = Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00");
    assert_eq!(has(&a, "overspend", HQ).unwrap()["severity"], "warning");
    assert!(
        has(
            &Case::new(vec![on_time(row(HQ, 1))]).alerts("2025-01", "2025-02-10 09:00"),
            "overspend",
            HQ
        )
        .is_none()
    );

    // Arrival: June, half the budget is the schedule; below it a warning.
    let six = |received: i64| -> Vec<(String, Row)> {
        (1..=6)
            .map(|m| {
                on_time(set(
                    set(
                        set(
                            row(HQ, m),
                            "funds_received",
                            if m == 6 { received } else { 0 },
                        ),
                        "spend_total",
                        0,
                    ),
                    "spend_case",
                    0,
                ))
            })
            .collect()
    };
    let a = Case::new(six(budget_fen / 2 - 100)).alerts("2025-06", "2025-07-06 09:00");
    assert_eq!(has(&a, "arrival", HQ).unwrap()["severity"], "warning");
    assert!(
        has(
            &Case::new(six(budget_fen / 2)).alerts("2025-06", "2025-07-06 09:00"),
            "arrival",
            HQ
        )
        .is_none()
    );

    // December: anything short of 100% arrival or spending is critical.
    let year = |received_dec: i64, spend_dec: i64| -> Vec<(String, Row)> {
        (1..=12)
            .map(|m| {
                let (recv, spend) = if m == 12 {
                    (received_dec, spend_dec)
                } else {
                    (0, 0)
                };
                on_time(set(
                    set(
                        set(row(HQ, m), "funds_received", recv),
                        "spend_total",
                        spend,
                    ),
                    "spend_case",
                    spend * 8 / 10,
                ))
            })
            .collect()
    };
    let a = Case::new(year(budget_fen, budget_fen - 100)).alerts("2025-12", "2026-01-06 09:00");
    assert!(has(&a, "arrival", HQ).is_none());
    assert_eq!(has(&a, "expenditure", HQ).unwrap()["severity"], "critical");
    let a =
        Case::new(year(budget_fen - 100, budget_fen - 100)).alerts("2025-12", "2026-01-06 09:00");
    assert_eq!(has(&a, "arrival", HQ).unwrap()["severity"], "critical");
    assert!(
        has(&a, "expenditure", HQ).is_none(),
        "all that arrived was spent"
    );
    // Before December, spending below 100% is no alert.
    let a = Case::new(year(budget_fen, budget_fen - 100)[..11].to_vec())
        .alerts("2025-11", "2025-12-06 09:00");
    assert!(has(&a, "expenditure", HQ).is_none());

    // Input per case below 700 元.
    let r = set(
        set(
            set(row(HQ, 1), "funds_received", 100 * 69_999),
            "spend_total",
            0,
        ),
        "spend_case",
        0,
    );
    let a = Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00");
    let w = has(&a, "per_case_input", HQ).expect("699.99 元 per case");
    assert!(
        w["message"].contains("699.99元") && w["message"].contains("700.00元"),
        "{w:?}"
    );
    let r = set(
        set(
            set(row(HQ, 1), "funds_received", 100 * 70_000),
            "spend_total",
            0,
        ),
        "spend_case",
        0,
    );
    assert!(
        has(
            &Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00"),
            "per_case_input",
            HQ
        )
        .is_none()
    );
}

#[test]
fn inconsistent_complaints_and_closures() {
    let r = set(set(row(HQ, 1), "complaints", 1), "complaints_resolved", 2);
    let a = Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00");
    assert!(has(&a, "inconsistent", HQ).is_some_and(|w| w["message"].contains("投诉")));
    // More closed than approved (carry-over 0 in the shipped pipeline).
    let r = set(row(HQ, 1), "cases_closed", 101);
    let a = Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00");
    assert!(has(&a, "inconsistent", HQ).is_some_and(|w| w["message"].contains("101")));
    let r = set(row(HQ, 1), "cases_closed", 100);
    assert!(
        has(
            &Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00"),
            "inconsistent",
            HQ
        )
        .is_none()
    );
}

#[test]
fn rejected_files_and_restated_months() {
    let mut case = Case::new(vec![on_time(row(HQ, 1))]);
    case.rejected.push(FileEntry {
        batch: 99, seq: 1, sha256: "e".repeat(64), file_name: "霍邱县_2025-01.xlsx".into(), size: 10,
        arrived_at: "2025-02-03T08:00:00+08:00".into(), outcome: Outcome::Rejected, stored_as: "quarantine/x".into(),
        rows_accepted: 0, rows_rejected: 1,
        problems: "霍邱县_2025-01.xlsx 月报!D5 受理审批案件数：“十二”不是整数\n霍邱县_2025-01.xlsx 月报!E5 其中：刑事：“三”不是整数".into(),
        unit_codes: HQ.into(),
    });
    let a = case.alerts("2025-01", "2025-02-10 09:00");
    let r = has(&a, "rejected", HQ).expect("the rejected file is reported");
    assert_eq!(r["severity"], "critical");
    assert!(
        r["message"].contains("月报!D5") && r["message"].contains("等 2 个问题"),
        "{r:?}"
    );
    // A file rejected before the month ended is about an earlier month: not in this report.
    case.rejected[0].arrived_at = "2025-01-20T08:00:00+08:00".into();
    assert!(has(&case.alerts("2025-01", "2025-02-10 09:00"), "rejected", HQ).is_none());

    // Restated: the last report used version 1 of January; now version 2 is in force.
    let v1 = on_time(row(HQ, 1));
    let v2 = (
        "2025-02-20T10:00:00+08:00".to_string(),
        set(
            set(row(HQ, 1), "cases_approved", 103),
            "cases_criminal",
            103,
        ),
    );
    let mut case = Case::new(vec![v1, v2]);
    case.previous = Some(vec![UsedRow {
        unit_code: HQ.into(),
        period: "2025-01".into(),
        version: 1,
        sha256: format!("{:064}", 0),
    }]);
    let a = case.alerts("2025-01", "2025-02-21 09:00");
    let r = has(&a, "restated", HQ).expect("January changed since the last report");
    assert!(
        r["message"].contains("受理审批案件数 100 → 103")
            && r["message"].contains("其中：刑事 100 → 103"),
        "{r:?}"
    );
    assert!(
        !r["message"].contains("办结"),
        "unchanged fields are not named: {r:?}"
    );
    // Without a previous report, nothing is restated.
    case.previous = None;
    assert!(has(&case.alerts("2025-01", "2025-02-21 09:00"), "restated", HQ).is_none());
}

#[test]
fn alerts_come_most_severe_first_in_plan_order() {
    let a = Case::new(vec![("2025-04-07T10:00:00+08:00".into(), row("341500", 3))])
        .alerts("2025-03", "2025-04-08 09:00");
    let sev: Vec<&str> = a.iter().map(|x| x["severity"].as_str()).collect();
    let mut sorted = sev.clone();
    sorted.sort_by_key(|s| ["critical", "warning", "info"].iter().position(|x| x == s));
    assert_eq!(sev, sorted);
    let missing: Vec<&str> = a
        .iter()
        .filter(|x| x["rule"] == "missing")
        .map(|x| x["unit_code"].as_str())
        .collect();
    assert_eq!(
        missing,
        [
            "341522", "341524", "341525", "341523", "341502", "341503", "341504"
        ]
    );
    assert!(has(&a, "late", "341500").is_some());
}

#[test]
fn ranks_share_the_lowest_on_ties_and_empty_denominators_are_null() {
    // 霍邱县 1300 and 金寨县 780: 130 and 78 cases are both 10%; 霍山县 (430) 86 cases is 20%.
    let rows = vec![
        on_time(set(
            set(row("341522", 1), "cases_approved", 130),
            "cases_criminal",
            130,
        )),
        on_time(set(
            set(row("341524", 1), "cases_approved", 78),
            "cases_criminal",
            78,
        )),
        on_time(set(
            set(row("341525", 1), "cases_approved", 86),
            "cases_criminal",
            86,
        )),
    ];
    let a = Case::new(rows).analysis("2025-01", "2025-02-10 09:00");
    let c = frame_as_text(a.frame("completion").unwrap());
    let get =
        |code: &str, key: &str| c.iter().find(|r| r["unit_code"] == code).unwrap()[key].clone();
    assert_eq!(get("341525", "rank_completion"), "1");
    assert_eq!(get("341522", "rank_completion"), "2");
    assert_eq!(get("341524", "rank_completion"), "2");
    // Units that sent nothing have 0%: they share the next rank after the two ties (4).
    assert_eq!(get("341523", "rank_completion"), "4");
    assert_eq!(get("341500", "rank_completion"), "4");
    // No cases: no closure rate, no input per case, no shares — null, not 0 or infinity.
    assert_eq!(get("341523", "closure_rate"), "");
    let f = frame_as_text(a.frame("funding").unwrap());
    let fget =
        |code: &str, key: &str| f.iter().find(|r| r["unit_code"] == code).unwrap()[key].clone();
    for key in ["expenditure_rate", "case_share", "per_case_input"] {
        assert_eq!(fget("341523", key), "", "{key}");
    }
    assert_eq!(fget("341523", "arrival_rate"), "0.0");
    let q = frame_as_text(a.frame("quality").unwrap());
    let qrow = q.iter().find(|r| r["unit_code"] == "341522").unwrap();
    assert_eq!(
        qrow["complaint_resolution_rate"], "",
        "no complaints: no rate"
    );
    assert_eq!(qrow["satisfaction_rate"], "1.0");
}
