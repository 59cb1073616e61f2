//! The record (工作台账, issue 25 §5) through the real binary: every file taken is on it once,
//! even across a crash between the store's commit and the record, and `fayuan audit --verify`
//! names a line changed by one byte.

use crate::support::*;

#[test]
fn every_file_is_on_the_record_once_and_an_edit_is_found_at_its_line() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    // The first ingest is killed right after its commit, before the record is written.
    let r = env.run_env(
        &["--as-of", "2025-07-04 09:00", "ingest"],
        &[("FAYUAN_TEST_FAULT", "crash@committed")],
    );
    assert_ne!(r.code, 0, "the crash: {}{}", r.stdout, r.stderr);
    assert!(
        env.files_under("audit").is_empty()
            || std::fs::read_to_string(env.data().join("audit/2025.jsonl"))
                .unwrap_or_default()
                .is_empty()
    );
    // The next ingest (nothing new in the inbox) records the batch the crash left unrecorded.
    let r = env.run(&["--as-of", "2025-07-04 09:05", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let log = std::fs::read_to_string(env.data().join("audit/2025.jsonl")).unwrap();
    // The shipped samples: 8 units × 6 months, each file accepted once; the copies the crash
    // left in the inbox were recognised as the same files (the store's duplicates), and the
    // record says so too — one line per file the store holds.
    assert_eq!(
        log.matches("\"kind\":\"file_accepted\"").count(),
        48,
        "{log}"
    );
    let files = env.store().files().unwrap().len();
    assert_eq!(log.lines().count(), files);
    // And once only: a third ingest adds nothing.
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:10", "ingest"]).code, 0);
    let log = std::fs::read_to_string(env.data().join("audit/2025.jsonl")).unwrap();
    assert_eq!(log.lines().count(), files);
    let r = env.run(&["audit", "--verify"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("{files} 条记录")),
        "{}",
        r.stdout
    );
    // One unit's lines, in words.
    let r = env.run(&["audit", "--unit", "341522"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.lines().count(), 6, "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .all(|l| l.contains("霍邱县") && l.contains("已接收，1 行")),
        "{}",
        r.stdout
    );
    // Since a day: the files were all taken on 4 July.
    let since = |d: &str| env.run(&["audit", "--unit", "341522", "--since", d]);
    assert_eq!(since("2025-07-04").stdout.lines().count(), 6);
    // Nothing since the 5th: no line, and a word on where the record ends.
    let none = since("2025-07-05").stdout;
    assert!(
        !none.contains("已接收")
            && none.contains("没有 2025-07-05 以后的记录，最后一条记于 2025-07-04"),
        "{none}"
    );
    assert_eq!(since("7月5日").code, 2);
    // One byte of line 5 changed (a digit of a time): the check names line 5.
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    lines[4] = lines[4].replacen("2025-07-04T09:0", "2025-07-04T08:0", 1);
    assert_ne!(lines[4], log.lines().nth(4).unwrap());
    std::fs::write(env.data().join("audit/2025.jsonl"), lines.join("\n") + "\n").unwrap();
    let r = env.run(&["audit", "--verify"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("第 5 行"), "{}", r.stdout);
    // A line damaged past reading (a byte that is not UTF-8) stops nothing: the next file is
    // taken and recorded after it, and the check still names the damaged line.
    let mut bytes = std::fs::read(env.data().join("audit/2025.jsonl")).unwrap();
    let third = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 10;
    bytes[third] = 0xFF;
    std::fs::write(env.data().join("audit/2025.jsonl"), &bytes).unwrap();
    env.drop_in(
        "市本级_2025-07.csv",
        "单位代码,统计月份\n341500,2025-07\n".as_bytes(),
    );
    let r = env.run(&["--as-of", "2025-08-03 09:00", "ingest"]);
    assert_eq!(r.code, 3, "refused, but taken: {}{}", r.stdout, r.stderr);
    let log = std::fs::read(env.data().join("audit/2025.jsonl")).unwrap();
    assert_eq!(
        log.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(),
        files + 1
    );
    let r = env.run(&["audit", "--verify"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("第 3 行"), "{}", r.stdout);
}
