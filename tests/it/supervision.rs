//! 指导督促 (issue 25): a month returned for correction, through the real binary and a real SMTP
//! server — the notice, status and the unit's page, the record, closed by the new version.

use crate::email::setup;
use crate::support::smtp::{Server, free_port, python_ready};
use fayuan::store::FileEntry;

#[test]
fn a_returned_month_is_told_shown_recorded_and_closed_by_the_new_version() {
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let env = &s.env;
    let server = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let reason = "刑事案件数与台账不符，请核实";
    let r = env.run_env(
        &[
            "--as-of",
            "2025-07-08 10:00",
            "return",
            "--unit",
            "341522",
            "--period",
            "2025-06",
            "--reason",
            reason,
            "--by",
            "张三",
        ],
        &[("FAYUAN_SMTP_URL", &url)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("已退回霍邱县2025年6月，退回通知已发出"),
        "{}",
        r.stdout
    );
    // One notice, to 霍邱县's contact (the data staff in copy), with the reason and the template.
    let got = server.received();
    let to_county: Vec<_> = got
        .iter()
        .filter(|(rcpt, _)| {
            rcpt.ends_with("huoqiu@example.gov.cn.eml") || rcpt == "huoqiu@example.gov.cn"
        })
        .collect();
    assert_eq!(
        to_county.len(),
        1,
        "{:?}",
        got.iter().map(|g| &g.0).collect::<Vec<_>>()
    );
    let msg = mail_parser::MessageParser::default()
        .parse(&to_county[0].1)
        .unwrap();
    assert_eq!(
        msg.subject(),
        Some("【法律援助民生实事】霍邱县2025年6月月报退回修改")
    );
    assert!(msg.body_text(0).unwrap().contains(reason));
    use mail_parser::MimeHeaders;
    assert!(
        msg.attachments()
            .any(|a| a.attachment_name() == Some("霍邱县_2025-06_月报表.xlsx"))
    );
    // status and the record say so.
    let status = |at: &str| {
        env.run(&["--as-of", at, "status", "--period", "2025-06"])
            .stdout
    };
    let st = status("2025-07-08 11:00");
    assert!(
        st.contains(&format!(
            "已退回待修改：2025年6月——{reason}（张三，2025-07-08 10:00）"
        )),
        "{st}"
    );
    let audit = env.run(&["audit", "--unit", "341522"]).stdout;
    assert!(
        audit
            .lines()
            .any(|l| l.contains("张三") && l.contains(reason)),
        "{audit}"
    );
    // The report marks the figures in use: an alert the digest and the workbook carry.
    let report = |at: &str| {
        let r = env.run(&["--as-of", at, "run", "--no-email", "--period", "2025-06"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        std::fs::read_to_string(env.tmp.path().join("output/luan-2025/2025-06/digest.txt")).unwrap()
    };
    let digest = report("2025-07-08 11:30");
    assert!(
        digest.contains(&format!(
            "霍邱县：2025年6月数据已退回待修改：{reason}（张三，2025-07-08 10:00 退回）"
        )),
        "{digest}"
    );
    // Nothing to withdraw for another month.
    let r = env.run(&[
        "--as-of",
        "2025-07-08 12:00",
        "return",
        "--unit",
        "341522",
        "--period",
        "2025-05",
        "--cancel",
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    // The corrected June arrives (one case moved from civil to criminal): the return is closed.
    let criminal = corrected_june(
        env,
        "霍邱县_2025-06_更正.csv",
        &[("cases_criminal", 1), ("cases_civil", -1)],
    );
    assert_eq!(
        criminal,
        1 + crate::shipped::shipped_rows(6)
            .into_iter()
            .find(|r| r["unit_code"] == "341522" && r["period"] == "2025-06")
            .unwrap()["cases_criminal"]
            .parse::<i64>()
            .unwrap()
    );
    let r = env.run(&["--as-of", "2025-07-09 09:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let files: Vec<FileEntry> = env.store().files().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.file_name == "霍邱县_2025-06_更正.csv" && f.periods_text() == "2025-06")
    );
    let st = status("2025-07-09 10:00");
    assert!(!st.contains("已退回待修改"), "{st}");
    assert!(!report("2025-07-09 10:30").contains("已退回待修改"));
    // A second return, withdrawn: shown, then gone; both on the record.
    let r = env.run_env(
        &[
            "--as-of",
            "2025-07-10 10:00",
            "return",
            "--unit",
            "341522",
            "--period",
            "2025-06",
            "--reason",
            "满意人数请核对",
            "--by",
            "李四",
        ],
        &[("FAYUAN_SMTP_URL", &url)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(status("2025-07-10 11:00").contains("满意人数请核对"));
    let r = env.run(&[
        "--as-of",
        "2025-07-10 12:00",
        "return",
        "--unit",
        "341522",
        "--period",
        "2025-06",
        "--cancel",
        "--by",
        "李四",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!status("2025-07-10 13:00").contains("已退回待修改"));
    let audit = env.run(&["audit", "--unit", "341522"]).stdout;
    assert!(audit.contains("撤销对霍邱县2025年6月的退回"), "{audit}");
    assert_eq!(env.run(&["audit", "--verify"]).code, 0);
}

#[test]
fn a_supervision_item_stays_in_every_report_until_closed_and_is_critical_when_overdue() {
    let env = crate::support::Env::new();
    env.drop_samples_except(&[]);
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:00", "ingest"]).code, 0);
    let text = "支出率连续三个月低于序时进度，请书面说明原因及整改措施";
    let r = env.run(&[
        "--as-of",
        "2025-07-06 10:00",
        "supervise",
        "--unit",
        "341503",
        "--text",
        text,
        "--due",
        "2025-07-20",
        "--by",
        "王五",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("已交办督办事项 1：裕安区"),
        "{}",
        r.stdout
    );
    // A bad due day or an unknown unit: refused, nothing opened.
    assert_eq!(
        env.run(&[
            "supervise",
            "--unit",
            "341503",
            "--text",
            "x",
            "--due",
            "下周"
        ])
        .code,
        2
    );
    assert_eq!(
        env.run(&[
            "supervise",
            "--unit",
            "999999",
            "--text",
            "x",
            "--due",
            "2025-07-20"
        ])
        .code,
        2
    );
    let report = |at: &str| {
        let r = env.run(&["--as-of", at, "run", "--no-email", "--period", "2025-06"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        crate::indicators::read_twin(&env.tmp.path().join("output/luan-2025/2025-06/alerts.csv"))
            .into_iter()
            .filter(|a| a["rule"] == "supervision")
            .collect::<Vec<_>>()
    };
    // Before the due day: a 提示 in the report; the day after it: 严重, 已逾期.
    let a = report("2025-07-10 09:00");
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["severity"], "info");
    assert!(a[0]["message"].contains(text), "{a:?}");
    let a = report("2025-07-21 09:00");
    assert_eq!(a[0]["severity"], "critical");
    assert!(a[0]["message"].contains("督办事项 1已逾期"), "{a:?}");
    // The list, then the close; closed items leave the report; both on the record, with who.
    let r = env.run(&["--as-of", "2025-07-21 10:00", "supervise"]);
    assert!(
        r.stdout.contains("1. 裕安区：") && r.stdout.contains("已逾期"),
        "{}",
        r.stdout
    );
    let r = env.run(&[
        "--as-of",
        "2025-07-22 10:00",
        "supervise",
        "--close",
        "1",
        "--by",
        "王五",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        env.run(&["supervise", "--close", "1"]).code,
        2,
        "closed already"
    );
    assert!(report("2025-07-23 09:00").is_empty());
    let audit = env.run(&["audit", "--unit", "341503"]).stdout;
    assert!(
        audit.contains("交办督办事项 1") && audit.contains("办结督办事项 1"),
        "{audit}"
    );
    assert_eq!(env.run(&["audit", "--verify"]).code, 0);
}

#[test]
fn a_confirmed_month_keeps_its_figures_until_a_correction_is_confirmed() {
    let env = crate::support::Env::new();
    env.drop_samples_except(&[]);
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:00", "ingest"]).code, 0);
    let r = env.run(&[
        "--as-of",
        "2025-07-06 10:00",
        "confirm",
        "--unit",
        "341522",
        "--period",
        "2025-06",
        "--by",
        "张三",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("已确认霍邱县2025年6月"), "{}", r.stdout);
    // Nothing received for 2025-07: nothing to confirm.
    assert_eq!(
        env.run(&["confirm", "--unit", "341522", "--period", "2025-07"])
            .code,
        2
    );
    // A correction arrives after the confirmation: 5 more cases in June.
    let approved = corrected_june(
        &env,
        "霍邱县_2025-06_更正.csv",
        &[("cases_approved", 5), ("cases_civil", 5)],
    ) - 5;
    assert_eq!(env.run(&["--as-of", "2025-07-07 09:00", "ingest"]).code, 0);
    // The first report goes to leadership (a real SMTP server): what they saw is the confirmed
    // June; the second, after the correction is confirmed, says what changed (`restated`).
    let server = python_ready()
        .then(|| Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]));
    let url = server
        .as_ref()
        .map(|s| format!("smtp://127.0.0.1:{}", s.port))
        .unwrap_or_default();
    let used = |at: &str| -> String {
        let mut args = vec!["--as-of", at, "run", "--period", "2025-06"];
        if server.is_none() {
            args.push("--no-email");
        }
        let r = env.run_env(&args, &[("FAYUAN_SMTP_URL", &url)]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        crate::indicators::read_twin(
            &env.tmp
                .path()
                .join("output/luan-2025/2025-06/rows_used.csv"),
        )
        .into_iter()
        .find(|r| r["unit_code"] == "341522" && r["period"] == "2025-06")
        .unwrap()["cases_approved"]
            .clone()
    };
    // The report keeps the confirmed figures; status shows the correction waiting.
    assert_eq!(used("2025-07-07 10:00"), approved.to_string());
    let st = env
        .run(&[
            "--as-of",
            "2025-07-07 10:30",
            "status",
            "--period",
            "2025-06",
        ])
        .stdout;
    assert!(
        st.contains("待确认的更正：2025年6月——霍邱县_2025-06_更正.csv"),
        "{st}"
    );
    // Confirmed again: the correction is used, and waits no more.
    let r = env.run(&[
        "--as-of",
        "2025-07-08 09:00",
        "confirm",
        "--unit",
        "341522",
        "--period",
        "2025-06",
        "--by",
        "张三",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(used("2025-07-08 10:00"), (approved + 5).to_string());
    if server.is_some() {
        let alerts =
            std::fs::read_to_string(env.tmp.path().join("output/luan-2025/2025-06/alerts.csv"))
                .unwrap();
        let restated: Vec<&str> = alerts
            .lines()
            .filter(|l| l.contains("restated") && l.contains("霍邱县"))
            .collect();
        assert_eq!(restated.len(), 1, "{alerts}");
        assert!(
            restated[0].contains(&format!("受理审批案件数 {approved} → {}", approved + 5)),
            "{}",
            restated[0]
        );
    }
    let st = env
        .run(&[
            "--as-of",
            "2025-07-08 10:30",
            "status",
            "--period",
            "2025-06",
        ])
        .stdout;
    assert!(!st.contains("待确认的更正"), "{st}");
    let audit = env.run(&["audit", "--unit", "341522"]).stdout;
    assert_eq!(audit.matches("确认霍邱县2025年6月").count(), 2, "{audit}");
}

/// 霍邱县's June as shipped, with `changes` (field, amount added), dropped into the inbox as a
/// CSV under `name`; returns the changed value of the first field.
fn corrected_june(env: &crate::support::Env, name: &str, changes: &[(&str, i64)]) -> i64 {
    let row = crate::shipped::shipped_rows(6)
        .into_iter()
        .find(|r| r["unit_code"] == "341522" && r["period"] == "2025-06")
        .unwrap();
    let keys = [
        "unit_code",
        "period",
        "cases_approved",
        "cases_criminal",
        "cases_civil",
        "cases_admin",
        "cases_closed",
        "funds_received",
        "spend_total",
        "spend_case",
        "complaints",
        "complaints_resolved",
        "surveyed",
        "satisfied",
    ];
    let value = |k: &str| -> String {
        match changes.iter().find(|c| c.0 == k) {
            Some((_, d)) => (row[k].parse::<i64>().unwrap() + d).to_string(),
            None => row[k].clone(),
        }
    };
    let values: Vec<String> = keys.iter().map(|k| value(k)).collect();
    env.drop_in(
        name,
        format!("{}\n{}\n", keys.join(","), values.join(",")).as_bytes(),
    );
    value(changes[0].0).parse().unwrap()
}

/// `[supervision] confirm_required`: every month reported waits as 待确认 (status, an alert in
/// the report) until the staff confirm it; confirmed months are no longer listed.
#[test]
fn with_confirmation_required_every_reported_month_waits_until_confirmed() {
    let s = setup(&[(
        "[schedule]",
        "[supervision]\nconfirm_required = true\n\n[schedule]",
    )]);
    let env = &s.env;
    let status = || {
        env.run(&[
            "--as-of",
            "2025-07-08 10:00",
            "status",
            "--period",
            "2025-06",
        ])
        .stdout
    };
    let st = status();
    let line = st
        .lines()
        .find(|l| l.starts_with("待确认（fayuan confirm 确认后锁定）："))
        .unwrap_or_else(|| panic!("{st}"));
    // Eight units, January to June each.
    assert_eq!(
        line.matches("1月、2月、3月、4月、5月、6月").count(),
        8,
        "{line}"
    );
    for m in 1..=6 {
        let r = env.run(&[
            "--as-of",
            "2025-07-08 09:00",
            "confirm",
            "--unit",
            "341522",
            "--period",
            &format!("2025-{m:02}"),
            "--by",
            "张三",
        ]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let st = status();
    assert!(
        !st.contains("霍邱县 1月") && st.contains("金寨县 1月"),
        "{st}"
    );
    let r = env.run(&[
        "--as-of",
        "2025-07-08 11:00",
        "run",
        "--no-email",
        "--period",
        "2025-06",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let alerts =
        std::fs::read_to_string(env.tmp.path().join("output/luan-2025/2025-06/alerts.csv"))
            .unwrap();
    let unconfirmed: Vec<&str> = alerts
        .lines()
        .filter(|l| l.contains("unconfirmed"))
        .collect();
    // Seven units wait (霍邱县 confirmed), a line each.
    assert_eq!(unconfirmed.len(), 7, "{alerts}");
    assert!(!unconfirmed.iter().any(|l| l.contains("霍邱县")));
    assert!(
        unconfirmed.iter().any(|l| l.contains("金寨县")
            && l.contains("2025年1月、2月、3月、4月、5月、6月数据待市局确认")),
        "{unconfirmed:?}"
    );
    // Without the setting (the default), nothing waits.
    let plain = setup(&[]);
    let st = plain
        .env
        .run(&[
            "--as-of",
            "2025-07-08 10:00",
            "status",
            "--period",
            "2025-06",
        ])
        .stdout;
    assert!(!st.contains("待确认（"), "{st}");
}

/// Killed between a step's ledger and the record (and the unit's notice): the next command puts
/// the step on the record and the notice in the outbox, once, and the notice is delivered once.
#[test]
fn a_return_killed_before_its_record_and_notice_is_finished_once_by_the_next_command() {
    if !python_ready() {
        return;
    }
    let s = setup(&[]);
    let env = &s.env;
    let server = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let give_back = |faults: &str| {
        env.run_env(
            &[
                "--as-of",
                "2025-07-08 10:00",
                "return",
                "--unit",
                "341522",
                "--period",
                "2025-06",
                "--reason",
                "办结案件数与台账不符",
                "--by",
                "张三",
            ],
            &[("FAYUAN_SMTP_URL", &url), ("FAYUAN_TEST_FAULT", faults)],
        )
    };
    let r = give_back("crash@supervision-ledger");
    assert_ne!(r.code, 0, "killed: {}{}", r.stdout, r.stderr);
    let audit =
        |what: &[&str]| env.run(&[&["--as-of", "2025-07-08 11:00", "audit"], what].concat());
    // The record had no line of it; the next command (here: audit) adds it, once.
    assert!(
        !std::fs::read_to_string(env.data().join("audit/2025.jsonl"))
            .unwrap()
            .contains("退回霍邱县")
    );
    for _ in 0..2 {
        let out = audit(&["--unit", "341522"]).stdout;
        assert_eq!(
            out.matches("退回霍邱县2025年6月：办结案件数与台账不符")
                .count(),
            1,
            "{out}"
        );
        assert!(
            out.contains("2025-07-08 10:00"),
            "at the return's own time: {out}"
        );
    }
    assert_eq!(audit(&["--verify"]).code, 0);
    // The notice the crash left unmade is in the outbox now; delivered once.
    for at in ["2025-07-08 11:10", "2025-07-08 11:20"] {
        let r = env.run_env(&["--as-of", at, "send"], &[("FAYUAN_SMTP_URL", &url)]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let notices: Vec<_> = server
        .received()
        .into_iter()
        .filter(|(rcpt, raw)| {
            rcpt.ends_with("huoqiu@example.gov.cn.eml")
                && mail_parser::MessageParser::default()
                    .parse(raw)
                    .and_then(|m| m.subject().map(|s| s.contains("月报退回修改")))
                    .unwrap_or(false)
        })
        .collect();
    assert_eq!(notices.len(), 1);
    // An item opened and killed the same way: on the record once, its 督办通知 made.
    let r = env.run_env(
        &[
            "--as-of",
            "2025-07-09 10:00",
            "supervise",
            "--unit",
            "341522",
            "--text",
            "请说明",
            "--due",
            "2025-07-31",
        ],
        &[("FAYUAN_TEST_FAULT", "crash@supervision-ledger")],
    );
    assert_ne!(r.code, 0);
    let out = audit(&["--unit", "341522"]).stdout;
    assert_eq!(out.matches("交办督办事项 1：请说明").count(), 1, "{out}");
    let r = env.run_env(
        &["--as-of", "2025-07-09 11:00", "send"],
        &[("FAYUAN_SMTP_URL", &url)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let items = server
        .received()
        .into_iter()
        .filter(|(rcpt, raw)| {
            rcpt.ends_with("huoqiu@example.gov.cn.eml")
                && String::from_utf8_lossy(raw).contains("item-1.luan-2025@fayuan")
        })
        .count();
    assert_eq!(items, 1);
}

/// A busy office (issue 35 §5): three returns and two withdrawals of one month, two
/// confirmations, all in the same second. Every step is on the record (keys came from the
/// clock's minute, and four of five were dropped), the record verifies, and each of the three
/// returns has its own 退回通知 (ids came from the second).
#[test]
fn steps_in_the_same_second_are_all_recorded_and_each_return_has_its_notice() {
    let s = setup(&[]);
    let env = &s.env;
    let at = "2025-07-08 10:00:00";
    let ret = |reason: &str| {
        vec![
            "--as-of", at, "return", "--unit", "341522", "--period", "2025-06", "--reason", reason,
            "--by", "张三",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    let cancel: Vec<String> = [
        "--as-of", at, "return", "--cancel", "--unit", "341522", "--period", "2025-06", "--by",
        "张三",
    ]
    .map(str::to_string)
    .to_vec();
    let confirm: Vec<String> = [
        "--as-of", at, "confirm", "--unit", "341522", "--period", "2025-06", "--by", "李四",
    ]
    .map(str::to_string)
    .to_vec();
    for args in [
        ret("第一次"),
        cancel.clone(),
        ret("第二次"),
        cancel,
        ret("第三次"),
        confirm.clone(),
        confirm,
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = env.run(&a);
        assert_eq!(r.code, 0, "{a:?}: {}{}", r.stdout, r.stderr);
    }
    let record = env.run(&["audit", "--unit", "341522"]).stdout;
    for reason in ["第一次", "第二次", "第三次"] {
        assert_eq!(
            record
                .matches(&format!("退回霍邱县2025年6月：{reason}"))
                .count(),
            1,
            "{record}"
        );
    }
    assert_eq!(
        record.matches("撤销对霍邱县2025年6月的退回").count(),
        2,
        "{record}"
    );
    assert_eq!(record.matches("确认霍邱县2025年6月").count(), 2, "{record}");
    let verify = env.run(&["audit", "--verify"]);
    assert!(
        verify.stdout.contains("2025年工作台账完整"),
        "{}{}",
        verify.stdout,
        verify.stderr
    );
    let notices: std::collections::BTreeSet<String> = env
        .files_under("outbox")
        .into_iter()
        .filter_map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .find(|c| c.starts_with("return-341522-2025-06"))
        })
        .collect();
    assert_eq!(notices.len(), 3, "{notices:?}");
}

/// The alerts fayuan's own records raise are worded in texts/alerts.txt: a returned month in the
/// built-in words, then in the bureau's own (its alerts.txt beside the pipeline).
#[test]
fn a_returned_months_alert_is_worded_by_the_texts_and_a_bureau_rewords_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("luan-2025.toml");
    std::fs::copy(crate::support::luan_pipeline_path(), &path).unwrap();
    crate::support::calendar_beside(dir.path());
    let env = crate::support::Env::with_pipeline(&path);
    env.drop_samples_except(&[]);
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:00", "ingest"]).code, 0);
    let r = env.run(&[
        "--as-of",
        "2025-07-08 10:00",
        "return",
        "--unit",
        "341522",
        "--period",
        "2025-06",
        "--reason",
        "刑事案件数与台账不符",
        "--by",
        "张三",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let returned = || {
        let r = env.run(&[
            "--as-of",
            "2025-07-09 09:00",
            "run",
            "--no-email",
            "--period",
            "2025-06",
        ]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        crate::indicators::read_twin(&env.tmp.path().join("output/luan-2025/2025-06/alerts.csv"))
            .into_iter()
            .filter(|a| a["rule"] == "returned")
            .map(|a| (a["unit_name"].clone(), a["message"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        returned(),
        [(
            "霍邱县".to_string(),
            "2025年6月数据已退回待修改：刑事案件数与台账不符（张三，2025-07-08 10:00 退回）"
                .to_string()
        )]
    );
    let texts = dir.path().join("texts");
    std::fs::create_dir(&texts).unwrap();
    let builtin =
        std::fs::read_to_string(crate::support::repo().join("src/texts/alerts.txt")).unwrap();
    let start = builtin.find("{% block returned %}").unwrap();
    let end = start + builtin[start..].find("{% endblock %}").unwrap();
    let ours = format!(
        "{}{{% block returned %}}{{{{ month_zh }}}}报表已退回，请按“{{{{ reason }}}}”更正后重报{}",
        &builtin[..start],
        &builtin[end..]
    );
    std::fs::write(texts.join("alerts.txt"), ours).unwrap();
    assert_eq!(env.run(&["check"]).code, 0);
    assert_eq!(
        returned(),
        [(
            "霍邱县".to_string(),
            "2025年6月报表已退回，请按“刑事案件数与台账不符”更正后重报".to_string()
        )]
    );
}
