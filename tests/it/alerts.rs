//! Each alert rule of SPEC §4 triggered and not triggered, on small hand-made frames run
//! through the analyses directly (no files, no clock).

use crate::support::frames::*;
use crate::support::*;
use fayuan::analyze::UsedRow;
use fayuan::schema::Row;
use fayuan::store::{FileEntry, Outcome};
use std::collections::BTreeMap;

fn spike(cases: &[i64]) -> Option<BTreeMap<String, String>> {
    let period = format!("2025-{:02}", cases.len());
    has(
        &Case::new(months(HQ, cases)).alerts(&period, "2026-01-10 09:00"),
        "spike",
        HQ,
    )
}

#[test]
fn spike_needs_history_and_a_robust_outlier() {
    // Identical months: the MAD floor of one case keeps small changes quiet.
    assert!(
        spike(&[100, 100, 100, 102]).is_none(),
        "z = 0.6745·2/1 = 1.35"
    );
    // SPEC v2: z = 0.6745·20/1 = 13.5, but 120 is not above 1.5 × the largest month (150).
    assert!(spike(&[100, 100, 100, 120]).is_none());
    assert!(
        spike(&[100, 100, 100, 150]).is_none(),
        "150 is not above 150"
    );
    let s = spike(&[100, 100, 100, 151]).expect("z = 34.4 and 151 > 150");
    assert_eq!(
        (
            s["severity"].as_str(),
            s["figure"].as_str(),
            s["threshold"].as_str()
        ),
        ("warning", "151.0", "100.0")
    );
    assert!(s["message"].contains("最多100件"), "{s:?}");
    // Spread months [10, 20, 30]: median 20, MAD 10; above 45 and z > 3.5 needs x − 20 > 51.9:
    // 71 gives z = 0.6745·51/10 = 3.44 (quiet), 72 gives 3.51.
    assert!(spike(&[10, 20, 30, 71]).is_none());
    assert!(spike(&[10, 20, 30, 72]).is_some());
    // A December push: 140 after eleven months around 100 (largest 104) is no spike
    // (median 100, MAD 1: z = 0.6745·40/1 = 27, but 140 < 1.5 × 104 = 156).
    assert!(spike(&[100, 104, 96, 100, 102, 98, 100, 101, 99, 100, 103, 140]).is_none());
    // Downward only below half the smallest month: 49 < 50 is, 50 and 60 are not.
    assert!(spike(&[100, 100, 100, 49]).is_some_and(|s| s["message"].contains("明显低于")));
    assert!(spike(&[100, 100, 100, 50]).is_none());
    assert!(spike(&[100, 100, 100, 60]).is_none(), "z = −27 but 60 ≥ 50");
    // Two earlier months are not enough history, however far off the third is.
    assert!(spike(&[100, 100, 400]).is_none());
    // Zero cases: a spike when the earlier median is at least 5, not below.
    let z = spike(&[6, 6, 6, 0]).expect("0 after a median of 6");
    assert!(z["message"].contains("0件"), "{z:?}");
    assert!(spike(&[3, 3, 4, 0]).is_none());
    assert!(spike(&[5, 5, 4, 0]).is_some(), "median exactly 5");
}

#[test]
fn a_cumulative_figure_typed_as_the_month_is_named() {
    // January–March 100 + 110 + 90 = 300; April's 400 is that total plus an ordinary month
    // of 100: z = 0.6745·300/10 = 20.2 and 400 > 165.
    let s = spike(&[100, 110, 90, 400]).expect("a spike");
    assert!(
        s["message"].contains("疑似将累计数误填为本月数")
            && s["message"].contains("累计300件")
            && s["message"].contains("本月应为100件"),
        "{s:?}"
    );
    // 900 is no running total (300 + 600, and 600 would itself be a spike).
    let s = spike(&[100, 110, 90, 900]).expect("a spike");
    assert!(!s["message"].contains("累计"), "{s:?}");
    assert!(s["message"].contains("明显高于"), "{s:?}");
}

#[test]
fn thresholds_are_compared_exactly() {
    // 霍邱县 (target 1300) with 910 cases by September: 70% against 序时 75%, a gap of exactly
    // −5.00 pp — not below −5 pp (in floating point 0.7 − 0.75 = −0.05000000000000004).
    let by = |ytd: i64, m: usize| {
        let mut cases = vec![ytd / m as i64; m];
        cases[m - 1] += ytd - ytd / m as i64 * m as i64;
        let as_of = "2026-01-10 09:00";
        Case::new(months(HQ, &cases)).alerts(&format!("2025-{m:02}"), as_of)
    };
    assert!(has(&by(910, 9), "behind_schedule", HQ).is_none());
    assert_eq!(
        has(&by(909, 9), "behind_schedule", HQ).unwrap()["severity"],
        "warning"
    );
    // 455 by June: 35% against 50%, exactly −15 pp: a warning, not critical.
    assert_eq!(
        has(&by(455, 6), "behind_schedule", HQ).unwrap()["severity"],
        "warning"
    );
    assert_eq!(
        has(&by(454, 6), "behind_schedule", HQ).unwrap()["severity"],
        "critical"
    );
    // A case share of exactly 70% where the division is not exact in binary:
    // 7,000.07 / 10,000.10 元.
    let share = |spend_case: i64, spend: i64| {
        let r = set(
            set(row(HQ, 1), "spend_total", spend),
            "spend_case",
            spend_case,
        );
        let r = set(r, "funds_received", 2_000_000);
        Case::new(vec![on_time(r)]).alerts("2025-01", "2025-02-10 09:00")
    };
    assert!(has(&share(700_007, 1_000_010), "case_share", HQ).is_none());
    assert!(has(&share(700_006, 1_000_010), "case_share", HQ).is_some());
    // Arrival by March: exactly a quarter of the budget (910,000 元 / 4 = 227,500 元) is on
    // schedule; one 分 less is behind.
    let p = luan();
    let budget_fen = (p.unit(HQ).unwrap().budget * 100.0).round() as i64;
    assert_eq!(budget_fen, 91_000_000);
    let q1 = |march: i64| {
        let rows = (1..=3)
            .map(|m| {
                let got = if m == 3 { march } else { 0 };
                let r = set(row(HQ, m), "funds_received", got);
                on_time(set(set(r, "spend_total", 0), "spend_case", 0))
            })
            .collect();
        Case::new(rows).alerts("2025-03", "2025-04-10 09:00")
    };
    assert!(has(&q1(22_750_000), "arrival", HQ).is_none());
    assert!(has(&q1(22_749_999), "arrival", HQ).is_some());
    // Input per case: 300 cases and exactly 210,000 元 is 700 元/件.
    let per_case = |fen: i64| {
        let r = set(
            set(row(HQ, 1), "cases_approved", 300),
            "cases_criminal",
            300,
        );
        let r = set(
            set(set(r, "funds_received", fen), "spend_total", 0),
            "spend_case",
            0,
        );
        // 700 元/件 is a year's figure: judged in December's report (here of January's row).
        Case::new(vec![on_time(r)]).alerts("2025-12", "2026-01-10 09:00")
    };
    assert!(has(&per_case(21_000_000), "per_case_input", HQ).is_none());
    assert!(has(&per_case(20_999_999), "per_case_input", HQ).is_some());
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
        a["message"].contains("69.99%") && a["message"].contains("低于70%的要求"),
        "{a:?}"
    );
    assert!(
        has(&at(700_000), "case_share", HQ).is_none(),
        "70% meets the rule"
    );
}

#[test]
fn missing_and_late_around_the_deadline() {
    // The May deadline is the end of Thursday 5 June, Beijing time: 2025-06-05T16:00Z (no
    // holiday moves it; the March deadline, moved by 清明, is tested with the calendar).
    let r = row(HQ, 5);
    let just_in = ("2025-06-05T23:59:59+08:00".to_string(), r.clone());
    let just_late = (
        "2025-06-06T00:00:00+08:00".to_string(),
        set(r.clone(), "cases_closed", 50),
    );
    let a = Case::new(vec![just_in]).alerts("2025-05", "2025-06-06 09:00");
    assert!(has(&a, "late", HQ).is_none());
    assert!(has(&a, "missing", HQ).is_none());
    assert!(
        has(&a, "missing", "341524").is_some_and(|m| m["severity"] == "critical"),
        "金寨县 sent nothing"
    );
    let a = Case::new(vec![just_late.clone()]).alerts("2025-05", "2025-06-06 09:00");
    let late = has(&a, "late", HQ).expect("arrived at 24:00");
    assert_eq!(late["severity"], "info");
    assert!(late["message"].contains("2025-06-05 24:00"), "{late:?}");
    // As of a moment before it arrived — and before the deadline — the unit is not yet in: a
    // 提示 saying when the deadline is, not 严重.
    let a = Case::new(vec![just_late.clone()]).alerts("2025-05", "2025-06-05 23:00");
    let early = has(&a, "missing", HQ).expect("not yet in");
    assert_eq!(early["severity"], "info");
    assert!(
        early["message"].contains("尚未报送，截止 2025-06-05 24:00"),
        "{early:?}"
    );
    // Exactly at the deadline (24:00 of the 5th) still 提示; a second later 严重.
    let a = Case::new(vec![just_late.clone()]).alerts("2025-05", "2025-06-05 23:59:59");
    assert_eq!(has(&a, "missing", HQ).unwrap()["severity"], "info");
    let a = Case::new(vec![on_time(row("341524", 5))]).alerts("2025-05", "2025-06-06 00:00:01");
    assert_eq!(has(&a, "missing", HQ).unwrap()["severity"], "critical");
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
    // Overspend: spending more than has arrived, judged where 到位率 is (March, a checkpoint);
    // in January, before the first quarter's transfer, it is no alert.
    let over = |m: u32| {
        let r = set(
            set(row(HQ, m), "funds_received", 1_000_000),
            "spend_total",
            1_000_001,
        );
        on_time(set(r, "spend_case", 800_000))
    };
    let a = Case::new(vec![over(3)]).alerts("2025-03", "2025-04-10 09:00");
    assert_eq!(has(&a, "overspend", HQ).unwrap()["severity"], "warning");
    let a = Case::new(vec![over(1)]).alerts("2025-01", "2025-02-10 09:00");
    assert!(has(&a, "overspend", HQ).is_none());
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
    // May, between the checkpoints: the same shortfall (nothing at all arrived) is shown, not
    // alerted (issue 31: funds come by the quarter).
    let five: Vec<(String, Row)> = six(0).into_iter().take(5).collect();
    assert!(
        has(
            &Case::new(five).alerts("2025-05", "2025-06-06 09:00"),
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
    // In the plan's words (SPEC v2 §4).
    let a =
        Case::new(year(budget_fen - 100, budget_fen - 200)).alerts("2025-12", "2026-01-06 09:00");
    assert!(has(&a, "arrival", HQ).unwrap()["message"].contains("资金到位率未达100%"));
    assert!(has(&a, "expenditure", HQ).unwrap()["message"].contains("业务经费支出率未达100%"));
    // Nothing arrived all year: `arrival` says it; the expenditure rate cannot be computed.
    let a = Case::new(year(0, 0)).alerts("2025-12", "2026-01-06 09:00");
    assert!(has(&a, "arrival", HQ).is_some_and(|x| x["message"].contains("0.00%")));
    assert!(has(&a, "expenditure", HQ).is_none());
    // A year-end case share below 70%, in the plan's words.
    let r = set(
        set(row(HQ, 12), "spend_total", 1_000_000),
        "spend_case",
        600_000,
    );
    let a = Case::new(vec![on_time(r)]).alerts("2025-12", "2026-01-06 09:00");
    assert!(
        has(&a, "case_share", HQ)
            .is_some_and(|x| x["message"].contains("办案补贴及直接费用占比低于70%")),
        "{a:?}"
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
    let a = Case::new(vec![on_time(r)]).alerts("2025-12", "2026-01-10 09:00");
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
            &Case::new(vec![on_time(r)]).alerts("2025-12", "2026-01-10 09:00"),
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
    // January's accepted version arrived on the 15th (early, so that files refused before and
    // after it can be told apart).
    let mut case = Case::new(vec![("2025-01-15T10:00:00+08:00".to_string(), row(HQ, 1))]);
    case.rejected.push(FileEntry {
        batch: 99, seq: 1, sha256: "e".repeat(64), file_name: "霍邱县_2025-01.xlsx".into(), size: 10,
        arrived_at: moment("2025-02-03T08:00:00+08:00"), outcome: Outcome::Rejected, stored_as: "quarantine/x".into(),
        rows_accepted: 0, rows_rejected: 1,
        problems: "霍邱县_2025-01.xlsx 月报!D5 受理审批案件数：“十二”不是整数\n霍邱县_2025-01.xlsx 月报!E5 其中：刑事：“三”不是整数".into(),
        unit_codes: vec![fayuan::unit_code::UnitCode::parse(HQ).unwrap()],
        door: None,
        periods: vec![fayuan::period::Period::parse("2025-01").unwrap()],
    });
    let a = case.alerts("2025-01", "2025-02-10 09:00");
    let r = has(&a, "rejected", HQ).expect("the rejected file is reported");
    assert_eq!(r["severity"], "critical");
    assert!(
        r["message"].contains("月报!D5") && r["message"].contains("等 2 个问题"),
        "{r:?}"
    );
    // SPEC v2: every file rejected since the last digest sent, whenever in the month. The
    // December digest went out as of 2025-01-06 09:00: a file rejected on 20 January is news.
    case.rejected[0].arrived_at = moment("2025-01-20T08:00:00+08:00");
    case.rejected_after = Some("2025-01-06 09:00".into());
    assert!(has(&case.alerts("2025-01", "2025-02-10 09:00"), "rejected", HQ).is_some());
    // Refused on the 10th and corrected on the 15th by the accepted version: no alert (issue 31).
    case.rejected[0].arrived_at = moment("2025-01-10T08:00:00+08:00");
    assert!(has(&case.alerts("2025-01", "2025-02-10 09:00"), "rejected", HQ).is_none());
    // Rejected before that digest: it was in that digest already.
    case.rejected[0].arrived_at = moment("2025-01-06T08:59:00+08:00");
    assert!(has(&case.alerts("2025-01", "2025-02-10 09:00"), "rejected", HQ).is_none());
    // Rejected on the 15th, after this month's digest (as of the 6th): not yet in a digest ...
    case.rejected[0].arrived_at = moment("2025-02-15T08:00:00+08:00");
    case.rejected_after = Some("2025-02-06 09:00".into());
    assert!(has(&case.alerts("2025-01", "2025-02-10 09:00"), "rejected", HQ).is_none());
    // ... and in the next one.
    assert!(has(&case.alerts("2025-02", "2025-03-06 09:00"), "rejected", HQ).is_some());

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
    // A resend with the same figures (a running Jan..m sheet resent each month) is a new
    // version but no restatement.
    let same = ("2025-03-02T10:00:00+08:00".to_string(), row(HQ, 1));
    let mut resent = Case::new(vec![on_time(row(HQ, 1)), same]);
    resent.previous = case.previous.clone();
    let a = resent.alerts("2025-02", "2025-03-06 09:00");
    assert!(has(&a, "restated", HQ).is_none(), "{a:?}");
    // Without a previous report, nothing is restated.
    case.previous = None;
    assert!(has(&case.alerts("2025-01", "2025-02-21 09:00"), "restated", HQ).is_none());
}

#[test]
fn alerts_come_most_severe_first_in_plan_order() {
    // March's deadline rolled over 清明 to the end of Monday 7 April: the 8th is late.
    let a = Case::new(vec![("2025-04-08T10:00:00+08:00".into(), row("341500", 3))])
        .alerts("2025-03", "2025-04-09 09:00");
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

#[test]
fn december_measures_the_year_and_october_projects_it() {
    // 霍邱县's target is 1,300. December with 1,299 cases: red, and the annual alert says how
    // many short; with 1,300 nothing.
    let year = |total: i64, m: u32| {
        // m months, the total spread as evenly as whole cases allow, the rest in the last.
        let each = total / i64::from(m);
        let mut cases: Vec<i64> = vec![each; m as usize];
        *cases.last_mut().unwrap() += total - each * i64::from(m);
        Case::new(months(HQ, &cases))
    };
    let a = year(1299, 12).alerts("2025-12", "2026-01-10 09:00");
    let short = has(&a, "annual_target", HQ).expect("one case short");
    assert_eq!(short["severity"], "critical");
    assert!(short["message"].contains("完成1299件，差1件"), "{short:?}");
    assert!(
        has(&a, "behind_schedule", HQ).is_none(),
        "said once, by annual_target"
    );
    let c = frame_as_text(
        year(1299, 12)
            .analysis("2025-12", "2026-01-10 09:00")
            .frame("completion")
            .unwrap(),
    );
    let hq = c.iter().find(|r| r["unit_code"] == HQ).unwrap();
    assert_eq!(hq["schedule_gap_band"], "critical", "1,299 of 1,300 is red");
    assert!(
        has(
            &year(1300, 12).alerts("2025-12", "2026-01-10 09:00"),
            "annual_target",
            HQ
        )
        .is_none()
    );
    // October: 1,080 cases in ten months project 1,296 (1,080 × 12 / 10), 4 short; 1,084
    // project 1,300.8, enough. September says nothing of the year yet.
    let a = year(1080, 10).alerts("2025-10", "2025-11-10 09:00");
    let p = has(&a, "projected_shortfall", HQ).expect("short at this pace");
    assert_eq!(p["severity"], "warning");
    assert!(p["message"].contains("预计全年1296件，差4件"), "{p:?}");
    assert!(
        has(
            &year(1084, 10).alerts("2025-10", "2025-11-10 09:00"),
            "projected_shortfall",
            HQ
        )
        .is_none()
    );
    assert!(
        has(
            &year(900, 9).alerts("2025-09", "2025-10-10 09:00"),
            "projected_shortfall",
            HQ
        )
        .is_none()
    );
}
