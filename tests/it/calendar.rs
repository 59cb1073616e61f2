//! The bureau's calendar (issue 32): deadlines that roll over statutory holidays, reminders and
//! reports off days off, `check` asking for next year's calendar in November, and a year's
//! follow-up (January's return of December) kept in that year's record — all through the real
//! binary with `--received` and `--as-of`.
//!
//! The expected days are worked out from 国办发明电〔2024〕12号 by hand: 清明 4–6 April, 劳动节
//! 1–5 May, 国庆 1–8 October 2025; 5 July 2025 is a Saturday.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HEADER: &str = "单位代码,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数";

fn csv(code: &str, month: &str) -> String {
    format!("{HEADER}\n{code},{month},40,10,28,2,30,80000,70000,56000,0,0,10,10\n")
}

/// The shipped pipeline in `dir` with `edits`, and the calendar beside it.
fn pipeline_in(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(luan_pipeline_path()).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    let path = dir.join("luan-2025.toml");
    std::fs::write(&path, text).unwrap();
    calendar_beside(dir);
    path
}

/// Takes in `code`'s figures for `month` as sent at `sent`, and returns its line of `status`.
fn sent_at(env: &Env, code: &str, month: &str, sent: &str) -> String {
    let file = env.tmp.path().join(format!("{code}_{month}.csv"));
    std::fs::write(&file, csv(code, month)).unwrap();
    let r = env.run(&[
        "--as-of",
        "2025-12-20 09:00",
        "ingest",
        "--received",
        sent,
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let st = env.run(&["--as-of", "2025-12-20 10:00", "status", "--period", month]);
    assert_eq!(st.code, 0, "{}", st.stderr);
    st.stdout
        .lines()
        .find(|l| l.trim_start().starts_with(code))
        .unwrap_or_else(|| panic!("{code} in {}", st.stdout))
        .to_string()
}

#[test]
fn deadlines_on_statutory_holidays_roll_to_the_next_working_day_and_weekends_do_not() {
    let env = Env::new();
    // March: 5 April is 清明; the next working day is Monday 7 April.
    let march = sent_at(&env, "341522", "2025-03", "2025-04-07 10:00");
    assert!(!march.contains("逾期"), "{march}");
    // April: 5 May is 劳动节; Tuesday 6 May is the last day.
    let april = sent_at(&env, "341522", "2025-04", "2025-05-06 10:00");
    assert!(!april.contains("逾期"), "{april}");
    // June: 5 July is a plain Saturday — no roll under the default; Monday 7 July is late.
    let june = sent_at(&env, "341522", "2025-06", "2025-07-07 10:00");
    assert!(june.contains("逾期"), "{june}");
    // September: 5 October is 国庆 (1–8 October); Thursday 9 October is on time.
    let september = sent_at(&env, "341522", "2025-09", "2025-10-09 16:00");
    assert!(!september.contains("逾期"), "{september}");
    // A day later is late.
    let late = sent_at(&env, "341524", "2025-09", "2025-10-10 00:00");
    assert!(late.contains("逾期"), "{late}");
    // Status names the rolled deadline and why it moved.
    let st = env.run(&[
        "--as-of",
        "2025-05-06 12:00",
        "status",
        "--period",
        "2025-04",
    ]);
    assert!(
        st.stdout
            .contains("报送截止 2025-05-06 24:00（因法定节假日顺延）"),
        "{}",
        st.stdout
    );
    // The month is not due yet on 6 May: a missing unit is a 提示, not 未报送 (严重).
    let missing = st
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("341524"))
        .unwrap_or_else(|| panic!("{}", st.stdout));
    assert!(
        !missing.contains("逾期") && !missing.contains("未报送（"),
        "{missing}"
    );
}

#[test]
fn roll_days_off_moves_a_saturday_deadline_and_none_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let days_off = Env::with_pipeline(&pipeline_in(
        dir.path(),
        &[("roll = \"holidays\"", "roll = \"days_off\"")],
    ));
    let june = sent_at(&days_off, "341522", "2025-06", "2025-07-07 10:00");
    assert!(!june.contains("逾期"), "{june}");
    let dir2 = tempfile::tempdir().unwrap();
    let none = Env::with_pipeline(&pipeline_in(
        dir2.path(),
        &[("roll = \"holidays\"", "roll = \"none\"")],
    ));
    let april = sent_at(&none, "341522", "2025-04", "2025-05-06 10:00");
    assert!(april.contains("逾期"), "{april}");
}

#[test]
fn the_months_template_names_the_rolled_deadline() {
    let env = Env::new();
    let out = env.tmp.path().join("templates");
    let r = env.run(&[
        "--as-of",
        "2025-05-01 09:00",
        "template",
        "--period",
        "2025-04",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let book = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("霍邱县"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let mut wb = calamine::open_workbook_auto(&book).unwrap();
    let first = calamine::Reader::sheet_names(&wb)[0].clone();
    let sheet = calamine::Reader::worksheet_range(&mut wb, &first).unwrap();
    let text: String = sheet.rows().flatten().map(|c| c.to_string()).collect();
    assert!(
        text.contains("本表请于 2025-05-06 24:00（因法定节假日顺延） 前报送"),
        "{text}"
    );
}

/// A calendar file holding only `years` of the shipped one, beside a copy of the pipeline.
fn with_calendar(dir: &Path, calendar: &str) -> Env {
    let p = pipeline_in(dir, &[]);
    std::fs::write(dir.join("calendar.toml"), calendar).unwrap();
    Env::with_pipeline(&p)
}

#[test]
fn check_asks_for_next_years_calendar_from_november_and_refuses_a_wrong_one() {
    let shipped = std::fs::read_to_string(repo().join("pipelines/calendar.toml")).unwrap();
    let only_2025 = &shipped[..shipped.rfind("[[year]]").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let env = with_calendar(dir.path(), only_2025);
    let october = env.run(&["--as-of", "2025-10-31 23:00", "check"]);
    assert_eq!(october.code, 0, "{}{}", october.stdout, october.stderr);
    assert!(
        !october.stdout.contains("2026年的节假日安排"),
        "{}",
        october.stdout
    );
    assert!(
        october.stdout.contains("工作日历：2025年"),
        "{}",
        october.stdout
    );
    let november = env.run(&["--as-of", "2025-11-01 00:00", "check"]);
    assert_eq!(november.code, 0, "{}", november.stderr);
    assert!(
        november
            .stdout
            .contains("warning: calendar: 工作日历中没有2026年的节假日安排"),
        "{}",
        november.stdout
    );
    // The shipped calendar has 2026: no warning in November 2025.
    let shipped_env = Env::new();
    let r = shipped_env.run(&["--as-of", "2025-11-01 00:00", "check"]);
    assert!(!r.stdout.contains("节假日安排（"), "{}", r.stdout);
    // A day outside its year, and a day listed both ways, are refused with the file named.
    let wrong = only_2025
        .replace("\"2025-01-01\",", "\"2026-01-01\",")
        .replace("\"2025-10-11\"]", "\"2025-10-11\", \"2025-10-03\"]");
    let dir2 = tempfile::tempdir().unwrap();
    let bad = with_calendar(dir2.path(), &wrong).run(&["check"]);
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    for want in [
        "calendar.toml year 2025: holidays 2026-01-01 is not a day of 2025",
        "2025-10-03 is listed both as a holiday and as a working day",
    ] {
        assert!(bad.stderr.contains(want), "{want} in {}", bad.stderr);
    }
}

#[test]
fn a_reminder_due_on_labour_day_goes_on_the_first_working_day_after_it_once() {
    // The daemon on a fast clock from 2 May to 7 May 2025 (remind on days 3 and 5 at 09:00,
    // both in 劳动节): one reminder round, on Tuesday 6 May at 09:00, and nothing before.
    let env = Env::new();
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-05-02 08:00", "--clock-rate", "6000"],
        &[],
    );
    let runs =
        || std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl")).unwrap_or_default();
    wait_for("7 May", Duration::from_secs(120), || {
        std::fs::read_to_string(env.data().join("daemon/heartbeat.json"))
            .is_ok_and(|t| t.contains("2025-05-07"))
    });
    assert_eq!(d.stop(), 0);
    let text = runs();
    let rounds: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"job\":\"remind\""))
        .collect();
    assert_eq!(rounds.len(), 1, "{text}");
    assert!(
        rounds[0].contains("\"fired\":\"2025-05-06T09:00:00+08:00\""),
        "{}",
        rounds[0]
    );
    // The reminders say the rolled deadline.
    let eml: Vec<String> = env
        .files_under("outbox")
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read(p).unwrap_or_default())
        .filter_map(|b| {
            let m = mail_parser::MessageParser::default().parse(&b)?;
            Some(format!("{} {}", m.subject().unwrap_or(""), m.body_text(0)?))
        })
        .collect();
    assert!(!eml.is_empty(), "no reminder written");
    let decoded = eml;
    assert!(
        decoded.iter().any(|b| b.contains("2025-05-06 24:00")),
        "{decoded:?}"
    );
}

#[test]
fn januarys_follow_up_of_december_stays_in_the_years_record() {
    let env = Env::new();
    // December's file arrives on 4 January 2026 (the deadline is 5 January).
    let file = env.tmp.path().join("霍邱县_2025-12.csv");
    std::fs::write(&file, csv("341522", "2025-12")).unwrap();
    let r = env.run(&[
        "--as-of",
        "2026-01-04 10:00",
        "ingest",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // On 7 January the office returns it, naming the unit by its name, and opens a 督办事项
    // with a due day typed loosely.
    let ret = env.run(&[
        "--as-of",
        "2026-01-07 10:00",
        "return",
        "--unit",
        "霍邱县",
        "--period",
        "2025-12",
        "--reason",
        "12月办结数与省系统不一致",
        "--by",
        "张三",
    ]);
    assert_eq!(ret.code, 0, "{}{}", ret.stdout, ret.stderr);
    let sup = env.run(&[
        "--as-of",
        "2026-01-07 10:05",
        "supervise",
        "--unit",
        "霍邱县",
        "--text",
        "核实12月办结数",
        "--due",
        "2026/1/15",
        "--by",
        "张三",
    ]);
    assert_eq!(sup.code, 0, "{}{}", sup.stdout, sup.stderr);
    assert!(sup.stdout.contains("期限 2026-01-15"), "{}", sup.stdout);
    // The 2025 record holds all of it; with no mail server the notices were only written to
    // the outbox, and the record says so.
    let audit = env.run(&["--as-of", "2026-01-08 09:00", "audit"]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    for want in [
        "退回霍邱县2025年12月",
        "核实12月办结数",
        "已写入发件箱，未发出",
    ] {
        assert!(audit.stdout.contains(want), "{want} in {}", audit.stdout);
    }
    assert!(!audit.stdout.contains("已发送至"), "{}", audit.stdout);
    let since = env.run(&[
        "--as-of",
        "2026-01-08 09:00",
        "audit",
        "--since",
        "2026-01-01",
    ]);
    assert!(
        since.stdout.contains("退回霍邱县2025年12月"),
        "{}",
        since.stdout
    );
    let other = env.run(&[
        "--as-of",
        "2026-01-08 09:00",
        "audit",
        "--year",
        "2026",
        "--since",
        "2026-01-01",
    ]);
    assert!(
        other.stdout.contains("2026年工作台账中尚无记录")
            && other.stdout.contains("2026-01-01 以后的记录见 --year 2025"),
        "{}",
        other.stdout
    );
    let later = env.run(&[
        "--as-of",
        "2026-01-08 09:00",
        "audit",
        "--since",
        "2026-02-01",
    ]);
    assert!(
        later
            .stdout
            .contains("2025年工作台账中没有 2026-02-01 以后的记录，最后一条记于 2026-01-07"),
        "{}",
        later.stdout
    );
    assert!(
        !env.data().join("audit/2026.jsonl").exists(),
        "the year's follow-up went to 2026's record"
    );
    // The review's 督促记录: one return, one item opened.
    let (huoqiu, steps) = crate::actions::supervision_record(&env, "2026-01-08 09:00", "霍邱县");
    assert_eq!(&huoqiu[..3], ["1", "0", "1"], "{steps:?}");
    // Rebuilt as of 6 January, the review shows neither.
    let (before, _) = crate::actions::supervision_record(&env, "2026-01-06 09:00", "霍邱县");
    assert_eq!(&before[..3], ["0", "0", "0"]);
    // Status after the year's last deadline announces no reminder in 2026.
    let st = env.run(&[
        "--as-of",
        "2026-01-20 09:00",
        "status",
        "--period",
        "2025-12",
    ]);
    assert!(
        st.stdout
            .contains("催报（remind）：下次 —（2025年各月均已截止）"),
        "{}",
        st.stdout
    );
}

#[test]
fn returns_and_items_outside_the_year_or_of_nothing_are_refused() {
    let env = Env::new();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "return", "--unit", "341522", "--period", "2099-01", "--reason", "x", "--by",
                "张三",
            ],
            "不是 luan-2025 的统计月份",
        ),
        (
            &[
                "return",
                "--unit",
                "霍邱县",
                "--period",
                "2025-06",
                "--reason",
                "x",
                "--by",
                "张三",
            ],
            "霍邱县2025年6月尚未报送",
        ),
        (
            &[
                "confirm",
                "--unit",
                "霍邱县",
                "--period",
                "2024-12",
                "--by",
                "张三",
            ],
            "不是 luan-2025 的统计月份",
        ),
        (
            &[
                "supervise",
                "--unit",
                "霍邱县",
                "--text",
                "x",
                "--due=-0001-01-01",
                "--by",
                "张三",
            ],
            "期限应为2025年或2026年的一天",
        ),
        (
            &[
                "supervise",
                "--unit",
                "不存在县",
                "--text",
                "x",
                "--due",
                "2025-08-15",
                "--by",
                "张三",
            ],
            "341522 霍邱县",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["--as-of", "2025-07-10 09:00"];
        all.extend_from_slice(args);
        let r = env.run(&all);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {want} in {}", r.stderr);
    }
    let due = env.run(&[
        "--as-of",
        "2025-07-10 09:00",
        "supervise",
        "--unit",
        "霍邱县",
        "--text",
        "x",
        "--due",
        "2025-\r\n08-\r\n15",
        "--by",
        "张三",
    ]);
    assert_eq!(due.code, 2, "{}", due.stdout);
    assert!(
        env.data()
            .join("audit")
            .read_dir()
            .map_or(true, |mut d| d.next().is_none())
    );
}
