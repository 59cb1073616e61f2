//! The soft checks of sql/17_checks.sql on hand-made frames: exact at their thresholds, and
//! explained by a note in the row (待说明 → 已说明).

use crate::support::frames::*;
use crate::support::*;
use fayuan::schema::{Row, Value, idx};

/// The soft checks tripped (sql/17_checks.sql): (check_id, period, explained, note).
fn checks(case: &Case, period: &str) -> Vec<(String, String, String, String)> {
    frame_as_text(
        case.analysis(period, "2026-01-10 09:00")
            .frame("checks")
            .unwrap(),
    )
    .into_iter()
    .map(|r| {
        (
            r["check_id"].clone(),
            r["period"].clone(),
            r["explained"].clone(),
            r["note"].clone(),
        )
    })
    .collect()
}

fn note(mut r: Row, text: &str) -> Row {
    r.values[idx("note")] = Value::Text(text.into());
    r
}

#[test]
fn soft_checks_are_exact_and_explained_by_a_note() {
    let ids = |case: &Case, period: &str| -> Vec<String> {
        checks(case, period).into_iter().map(|c| c.0).collect()
    };
    // approvals_jump: above 3 × the earlier median (100): 300 is not, 301 is.
    assert!(ids(&Case::new(months(HQ, &[100, 100, 100, 300])), "2025-04").is_empty());
    assert_eq!(
        ids(&Case::new(months(HQ, &[100, 100, 100, 301])), "2025-04"),
        ["approvals_jump"]
    );
    // approvals_drop: under a third of the median (99): 33 is not (33 × 3 = 99), 32 is.
    assert!(ids(&Case::new(months(HQ, &[99, 99, 99, 33])), "2025-04").is_empty());
    assert_eq!(
        ids(&Case::new(months(HQ, &[99, 99, 99, 32])), "2025-04"),
        ["approvals_drop"]
    );
    // no_cases.
    assert!(ids(&Case::new(months(HQ, &[0])), "2025-01").contains(&"no_cases".to_string()));
    // satisfaction_month: 9 of 10 is 90% (passes), 8 of 9 is 88.9%.
    let sat = |satisfied: i64, surveyed: i64| {
        let r = set(
            set(row(HQ, 1), "surveyed", surveyed),
            "satisfied",
            satisfied,
        );
        ids(&Case::new(vec![on_time(r)]), "2025-01")
    };
    assert!(sat(9, 10).is_empty());
    // …but only on a sample large enough to judge (at least 20 surveyed, or at least 3 not
    // satisfied): 3 of 4 (75%) and 8 of 9 ask for nothing; 12 of 40 (30%) does, 18 of 20 (90%)
    // passes, 17 of 19 (2 not satisfied, 19 surveyed) is too small, 7 of 10 (3 not) is judged.
    assert!(sat(3, 4).is_empty());
    assert!(sat(8, 9).is_empty());
    assert_eq!(sat(12, 40), ["satisfaction_month"]);
    assert!(sat(18, 20).is_empty());
    assert!(sat(17, 19).is_empty());
    assert_eq!(sat(7, 10), ["satisfaction_month"]);
    // The month-jump checks judge only an earlier median of at least 5 cases: 2, 2, 2 then 30
    // is ten times the median and asks for nothing; 5, 5, 5 then 16 does.
    assert!(ids(&Case::new(months(HQ, &[2, 2, 2, 30])), "2025-04").is_empty());
    assert_eq!(
        ids(&Case::new(months(HQ, &[5, 5, 5, 16])), "2025-04"),
        ["approvals_jump"]
    );
    assert!(ids(&Case::new(months(HQ, &[4, 4, 4, 1])), "2025-04").is_empty());
    // case_share_month: exactly 70% of the month's spending passes, one 分 less does not.
    let share = |spend_case: i64| {
        let r = set(
            set(row(HQ, 1), "spend_total", 1_000_000),
            "spend_case",
            spend_case,
        );
        ids(&Case::new(vec![on_time(r)]), "2025-01")
    };
    assert!(share(700_000).is_empty());
    assert_eq!(share(699_999), ["case_share_month"]);
    // funds_over_budget: 霍邱县's budget is 910,000 元; exactly that passes.
    let funds = |fen: i64| {
        let r = set(row(HQ, 1), "funds_received", fen);
        ids(&Case::new(vec![on_time(r)]), "2025-01")
    };
    assert!(funds(91_000_000).is_empty());
    assert_eq!(funds(91_000_001), ["funds_over_budget"]);

    // Explained: the row's 说明 is carried, and the alerts about the month say so.
    let mut rows = months(HQ, &[100, 100, 100]);
    let (at, april) = on_time(set(
        set(row(HQ, 4), "cases_approved", 400),
        "cases_criminal",
        400,
    ));
    rows.push((at.clone(), april.clone()));
    let case = Case::new(rows.clone());
    assert_eq!(
        checks(&case, "2025-04"),
        [(
            "approvals_jump".to_string(),
            "2025-04".to_string(),
            "false".to_string(),
            String::new()
        )]
    );
    let a = case.alerts("2025-04", "2026-01-10 09:00");
    let s = has(&a, "soft_check", HQ).unwrap();
    assert!(s["message"].ends_with("；待说明"), "{s:?}");
    rows.pop();
    rows.push((at, note(april, "4月开展集中援助专项行动")));
    let a = Case::new(rows).alerts("2025-04", "2026-01-10 09:00");
    let s = has(&a, "soft_check", HQ).unwrap();
    assert!(
        s["message"].contains("本月受理审批数超过此前各月中位数的3倍")
            && s["message"].ends_with("；已说明：4月开展集中援助专项行动"),
        "{s:?}"
    );
    let spike = has(&a, "spike", HQ).expect("400 after 100s is also a spike");
    assert!(
        spike["message"].ends_with("（已说明：4月开展集中援助专项行动）"),
        "{spike:?}"
    );
}
