//! The external conformance suite: county-style files made with office software, kept in
//! `../shared/fixtures/` (outside this repository). `.ci/run` points FAYUAN_FIXTURES at it;
//! without the variable (a new user's clone) these tests have nothing to check and say so —
//! except under CI, where a missing suite is a failure.

use crate::support::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn suite() -> Option<PathBuf> {
    match std::env::var_os("FAYUAN_FIXTURES") {
        Some(dir) => {
            let dir = PathBuf::from(dir).join("luan-2025-q1");
            assert!(
                dir.is_dir(),
                "FAYUAN_FIXTURES has no luan-2025-q1/: {}",
                dir.display()
            );
            Some(dir)
        }
        None => {
            crate::support::skipped(
                "the shared conformance suite",
                "FAYUAN_FIXTURES pointing at shared/fixtures",
                "FAYUAN_FIXTURES=../shared/fixtures, as .ci/run sets it",
            );
            None
        }
    }
}

fn truth(path: &std::path::Path) -> Vec<BTreeMap<String, String>> {
    let mut rows = crate::indicators::csv_rows(csv::Reader::from_path(path).unwrap());
    rows.sort_by(|a, b| (&a["unit_code"], &a["period"]).cmp(&(&b["unit_code"], &b["period"])));
    rows
}

/// Every truth field equals the stored one: text exactly, numbers as numbers.
fn assert_matches_truth(stored: &[BTreeMap<String, String>], truth: &[BTreeMap<String, String>]) {
    assert_eq!(stored.len(), truth.len(), "row count");
    for (s, t) in stored.iter().zip(truth) {
        for (key, want) in t {
            let got = &s[key];
            let same = match (want.parse::<f64>(), got.parse::<f64>()) {
                (Ok(a), Ok(b)) if key != "unit_code" => (a - b).abs() < 1e-9,
                _ => got == want,
            };
            assert!(
                same,
                "{} {} {key}: stored {got:?}, truth {want:?}",
                t["unit_code"], t["period"]
            );
        }
    }
}

#[test]
fn inbox_ingests_to_truth_then_the_correction_supersedes() {
    let Some(suite) = suite() else { return };
    let env = Env::new();
    assert_eq!(env.copy_in(&suite.join("inbox")), 24);
    let r = env.run(&["--as-of", "2025-04-03 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("接收 24"), "{}", r.stdout);
    assert_matches_truth(
        &latest_rows(&env.store()),
        &truth(&suite.join("truth-initial.csv")),
    );

    // Archived byte for byte, each under its SHA-256; the inbox is empty.
    let archived = env.files_under("archive");
    for e in std::fs::read_dir(suite.join("inbox")).unwrap() {
        let src = e.unwrap().path();
        let sha = sha256_of(&src);
        let name = src.file_name().unwrap().to_string_lossy().to_string();
        let copy = archived
            .iter()
            .find(|p| {
                p.file_name().unwrap().to_string_lossy() == format!("{}_{}", &sha[..12], name)
            })
            .unwrap_or_else(|| panic!("{name} not archived"));
        assert_eq!(std::fs::read(copy).unwrap(), std::fs::read(&src).unwrap());
    }
    assert!(env.files_under("inbox").is_empty());

    // The same inbox again: recognised, nothing new taken.
    let before = env.store().rows().unwrap().height();
    env.copy_in(&suite.join("inbox"));
    let r = env.run(&["--as-of", "2025-04-03 11:00", "ingest"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("重复 24"), "{}", r.stdout);
    assert_eq!(env.store().rows().unwrap().height(), before);
    assert!(env.files_under("inbox").is_empty());

    // The correction of 舒城县 2025-02 supersedes; the first version is kept.
    env.copy_in(&suite.join("inbox-later"));
    let r = env.run(&["--as-of", "2025-04-08 15:00", "ingest"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_matches_truth(&latest_rows(&env.store()), &truth(&suite.join("truth.csv")));
    let all = frame_as_text(&env.store().rows().unwrap());
    let shucheng_feb: Vec<_> = all
        .iter()
        .filter(|r| r["unit_code"] == "341523" && r["period"] == "2025-02")
        .collect();
    assert_eq!(shucheng_feb.len(), 2);
    let initial = truth(&suite.join("truth-initial.csv"));
    let old = initial
        .iter()
        .find(|r| r["unit_code"] == "341523" && r["period"] == "2025-02")
        .unwrap();
    assert_eq!(shucheng_feb[0]["version"], "1");
    assert_eq!(shucheng_feb[0]["cases_approved"], old["cases_approved"]);
    assert_eq!(shucheng_feb[0]["latest"], "false");
    assert_eq!(shucheng_feb[1]["version"], "2");
    assert!(shucheng_feb[1]["source_file"].contains("更正"));

    let r = env.run(&[
        "--as-of",
        "2025-04-09 09:00",
        "status",
        "--period",
        "2025-02",
    ]);
    assert_eq!(r.code, 0);
    let line = r.stdout.lines().find(|l| l.contains("舒城县")).unwrap();
    assert!(line.contains("第2版") && line.contains("更正"), "{line}");
}

/// Each bad file, with what its rejection must say (the column, and the place or reason).
const BAD: &[(&str, &[&str])] = &[
    (
        "negative.csv",
        &["D2 受理审批案件数", "不能为负数", "F2 其中：民事"],
    ),
    ("breakdown.xlsx", &["!D", "受理审批案件数", "相差 2"]),
    ("unknown_unit.csv", &["A2 单位代码", "341599"]),
    (
        "text_in_number.xlsx",
        &["!D", "受理审批案件数", "十二", "不是整数"],
    ),
    (
        "spend_case_gt_total.csv",
        &["L2 办案补贴及直接费用", "业务经费支出"],
    ),
    (
        "satisfied_gt_surveyed.json",
        &["第1条记录 满意人数", "回访人数"],
    ),
    ("missing_column.csv", &["办结案件数", "缺少必填列"]),
    ("wrong_year.csv", &["C2 统计月份", "2024-12", "2025"]),
    ("name_mismatch.csv", &["B2 单位名称", "金寨县", "霍邱县"]),
    ("duplicate_rows.csv", &["第3行", "重复", "第2行"]),
    ("corrupt.xlsx", &["损坏"]),
    ("empty.csv", &["文件为空"]),
    ("notes.docx", &["不支持的文件格式", ".docx"]),
];

#[test]
fn bad_files_are_rejected_for_their_reason_and_quarantined_unchanged() {
    let Some(suite) = suite() else { return };
    let bad = suite.join("bad");
    let names: Vec<String> = std::fs::read_dir(&bad)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names.len(),
        BAD.len(),
        "every bad fixture has an expectation"
    );
    let env = Env::new();
    for (name, expected) in BAD {
        let path = bad.join(name);
        let r = env.run(&["validate", path.to_str().unwrap()]);
        assert_eq!(r.code, 3, "{name}: {}", r.stdout);
        for want in *expected {
            assert!(
                r.stdout.contains(want),
                "{name}: expected {want:?} in\n{}",
                r.stdout
            );
        }
        assert!(
            r.stdout.contains(name),
            "{name}: the message names the file"
        );
    }
    env.copy_in(&bad);
    let r = env.run(&["--as-of", "2025-04-03 10:00", "ingest"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("拒收 {}", BAD.len())),
        "{}",
        r.stdout
    );
    assert_eq!(
        env.store().rows().unwrap().height(),
        0,
        "nothing from bad/ reaches the store"
    );
    let quarantined = env.files_under("quarantine");
    for (name, expected) in BAD {
        let src = bad.join(name);
        let stored = format!("{}_{}", &sha256_of(&src)[..12], name);
        let copy = quarantined
            .iter()
            .find(|p| p.file_name().unwrap().to_string_lossy() == stored)
            .unwrap_or_else(|| panic!("{name} not in quarantine"));
        assert_eq!(
            std::fs::read(copy).unwrap(),
            std::fs::read(&src).unwrap(),
            "{name} unchanged"
        );
        let report =
            std::fs::read_to_string(copy.with_file_name(format!("{stored}.错误报告.txt"))).unwrap();
        assert!(report.contains("已拒收"), "{report}");
        for want in *expected {
            assert!(
                report.contains(want),
                "{name} report lacks {want:?}:\n{report}"
            );
        }
    }
    assert!(env.files_under("inbox").is_empty());
    assert!(env.files_under("archive").is_empty());
}

#[test]
fn indicators_for_march_match_the_spec_on_the_fixtures() {
    let Some(suite) = suite() else { return };
    let env = Env::new();
    env.copy_in(&suite.join("inbox"));
    assert_eq!(env.run(&["--as-of", "2025-04-03 10:00", "ingest"]).code, 0);
    env.copy_in(&suite.join("inbox-later"));
    let r = env.run(&[
        "--as-of",
        "2025-04-08 10:00",
        "run",
        "--period",
        "2025-03",
        "--no-email",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let truth = truth(&suite.join("truth.csv"));
    let dir = env.tmp.path().join("output/luan-2025/2025-03");
    crate::indicators::assert_twins(&dir, &crate::indicators::expected(&truth, 3));
    // February's report uses months 1–2 only.
    assert_eq!(
        env.run(&["--as-of", "2025-04-08 10:00", "run", "--period", "2025-02"])
            .code,
        0
    );
    crate::indicators::assert_twins(
        &env.tmp.path().join("output/luan-2025/2025-02"),
        &crate::indicators::expected(&truth, 2),
    );
}
