//! The daemon as a real process: catch-up at start with a real SMTP server, a clean stop on
//! SIGTERM, nothing twice after a restart, a real-time seconds schedule, HTTP sources against a
//! real HTTP server, and the CLI and the daemon writing at the same time.

use crate::support::daemon::*;
use crate::support::smtp::{Server, free_port, pipeline, python_ready};
use crate::support::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn run_ledger(env: &Env) -> String {
    std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl")).unwrap_or_default()
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with(".tmp") || name.contains(".tmp-") {
                out.push(p.display().to_string());
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn a_missed_report_is_made_at_start_once_and_sigterm_stops_cleanly() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    let mail = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    let vars = [("FAYUAN_SMTP_URL", url.as_str())];
    // Five minutes after the June report was due (day 6, 09:00), the daemon starts.
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-06 09:05", "--output-dir", "output"],
        &vars,
    );
    wait_for("the June report", Duration::from_secs(90), || {
        run_ledger(&env).contains("\"job\":\"report\"")
    });
    wait_for("the start record", Duration::from_secs(30), || {
        run_ledger(&env).contains("\"job\":\"start\"")
    });
    assert_eq!(d.stop(), 0);
    let ledger = run_ledger(&env);
    assert!(ledger.contains("\"job\":\"report\",\"period\":\"2025-06\",\"fired\":\"2025-07-06T09:00:00+08:00\",\"ok\":true"), "{ledger}");
    assert!(ledger.contains("\"job\":\"stop\""), "{ledger}");
    assert_eq!(mail.received().len(), 2, "one digest to each recipient");
    assert!(
        env.tmp
            .path()
            .join("output/luan-2025/2025-06/manifest.json")
            .exists()
    );
    assert!(
        leftovers(env.tmp.path()).is_empty(),
        "{:?}",
        leftovers(env.tmp.path())
    );
    assert!(env.data().join("daemon/heartbeat.json").exists());

    // Started again a little later: nothing is sent twice.
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-06 09:20", "--output-dir", "output"],
        &vars,
    );
    wait_for("the second start", Duration::from_secs(60), || {
        run_ledger(&env).matches("\"job\":\"start\"").count() == 2
    });
    assert_eq!(d.stop(), 0);
    assert_eq!(run_ledger(&env).matches("\"job\":\"report\"").count(), 1);
    assert_eq!(mail.received().len(), 2);
    // status shows the schedules and their last results.
    let st = env.run(&[
        "--as-of",
        "2025-07-06 09:30",
        "status",
        "--period",
        "2025-06",
    ]);
    assert!(
        st.stdout
            .contains("定时任务 报告（report）：下次 2025-08-06 09:00")
            && st.stdout.contains("成功"),
        "{}",
        st.stdout
    );
    assert!(st.stdout.contains("守护进程心跳"), "{}", st.stdout);
}

/// Issue 31: a report schedule set before the deadline (day 4) makes a 暂定 report — built and
/// kept, never mailed as the month's digest.
#[test]
fn a_report_made_before_the_deadline_is_a_draft_and_not_mailed() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[("report = \"0 0 9 6 * *\"", "report = \"0 0 9 4 * *\"")],
    ));
    env.drop_samples_except(&[]);
    let mail = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-04 09:05", "--output-dir", "output"],
        &[("FAYUAN_SMTP_URL", url.as_str())],
    );
    wait_for("the June report", Duration::from_secs(90), || {
        run_ledger(&env).contains("\"job\":\"report\"")
    });
    assert_eq!(d.stop(), 0);
    let ledger = run_ledger(&env);
    assert!(ledger.contains("暂定"), "{ledger}");
    let run = env.tmp.path().join("output/luan-2025/2025-06");
    assert!(
        run.join("六安市法律援助民生实事汇总_2025-06_暂定.xlsx")
            .exists()
    );
    // No digest queued, none received.
    let digests: Vec<_> = env
        .files_under("outbox")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("2025-06"))
        .collect();
    assert!(digests.is_empty(), "{digests:?}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(mail.received().len(), 0);
}

#[test]
fn a_seconds_schedule_ingests_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[
            ("ingest = \"0 */10 * * * *\"", "ingest = \"*/1 * * * * *\""),
            ("heartbeat_seconds = 60", "heartbeat_seconds = 1"),
        ],
    ));
    std::fs::create_dir_all(env.inbox()).unwrap();
    let d = Daemon::start(&env, &[], &[]);
    wait_for("the daemon to start", Duration::from_secs(60), || {
        run_ledger(&env).contains("\"job\":\"start\"")
    });
    let sample = repo().join("samples/luan-2025/金寨县_2025-01.csv");
    env.drop_in("金寨县_2025-01.csv", &std::fs::read(&sample).unwrap());
    wait_for("the file to be taken", Duration::from_secs(30), || {
        env.files_under("inbox").is_empty()
    });
    wait_for("the heartbeat", Duration::from_secs(10), || {
        env.data().join("daemon/heartbeat.json").exists()
    });
    assert_eq!(d.stop(), 0);
    assert_eq!(latest_rows(&env.store()).len(), 1);
}

#[test]
fn http_sources_are_taken_like_inbox_files_and_every_failure_is_reported() {
    if !python_ready() {
        return;
    }
    let port = free_port();
    let samples = repo().join("samples/luan-2025");
    let f = |n: &str| samples.join(n).display().to_string();
    let routes = serde_json::json!({
        "/xlsx/2025-06": [{"status": 200, "file": f("霍邱县_2025-06.xlsx"), "etag": "\"x1\""}, {"status": 304}],
        "/csv/2025-06": [{"status": 200, "file": f("金寨县_2025-06.csv")}],
        "/json/2025-06": [{"status": 200, "file": f("金安区_2025-06.json")}],
        "/flaky/2025-06": [{"status": 500}, {"status": 200, "file": f("舒城县_2025-06.csv")}],
        "/hang/2025-06": [{"status": 200, "delay": 20, "file": f("裕安区_2025-06.csv")}],
        "/garbage/2025-06": [{"status": 200, "random": 3000}],
        "/huge/2025-06": [{"status": 200, "random": 300000}],
    });
    let dir = tempfile::tempdir().unwrap();
    let routes_file = dir.path().join("routes.json");
    std::fs::write(&routes_file, routes.to_string()).unwrap();
    let mut sources = String::new();
    for (name, format, max) in [
        ("xlsx", "xlsx", 100000),
        ("csv", "csv", 100000),
        ("json", "json", 100000),
        ("flaky", "csv", 100000),
        ("hang", "csv", 100000),
        ("garbage", "xlsx", 100000),
        ("huge", "csv", 100000),
    ] {
        sources.push_str(&format!(
            "[[sources]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/{name}/{{period}}\"\nformat = \"{format}\"\nheaders = {{ Authorization = \"Bearer {{env:FAYUAN_TEST_TOKEN}}\" }}\ntimeout_seconds = 2\nmax_bytes = {max}\nattempts = 2\n\n"
        ));
    }
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[(
            "# The units in the plan's order.",
            &format!("{sources}# The units in the plan's order."),
        )],
    ));
    let http = Server::start(
        "http",
        port,
        &env.tmp.path().join("requests"),
        &["--routes", routes_file.to_str().unwrap()],
    );
    let vars = [("FAYUAN_TEST_TOKEN", "t0k")];
    let r = env.run_env(&["--as-of", "2025-07-03 09:00", "ingest"], &vars);
    assert_eq!(
        r.code, 3,
        "the garbage file is rejected: {}{}",
        r.stdout, r.stderr
    );
    for want in [
        "数据源 xlsx：已获取",
        "数据源 csv：已获取",
        "数据源 json：已获取",
        "数据源 flaky：已获取",
        "数据源 hang：失败（no answer within 2 s）",
        "数据源 garbage：已获取",
        "数据源 huge：失败",
    ] {
        assert!(
            r.stdout.contains(want),
            "expected {want:?} in\n{}",
            r.stdout
        );
    }
    let stored: Vec<String> = latest_rows(&env.store())
        .iter()
        .map(|r| r["unit_code"].clone())
        .collect();
    assert_eq!(stored.len(), 4, "{stored:?}");
    // Each came with its arrival note, door `source` (taken without waiting for quiet_seconds).
    let files = env.store().files().unwrap();
    assert!(
        files
            .iter()
            .filter(|f| f.file_name.starts_with("csv_") || f.file_name.starts_with("xlsx_"))
            .all(|f| f.door == Some(fayuan::door::Door::Source)),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.file_name.starts_with("csv_")));
    assert_eq!(
        env.files_under("quarantine")
            .iter()
            .filter(|p| p.to_string_lossy().ends_with("garbage_2025-06.xlsx"))
            .count(),
        1
    );
    // The token came from the environment, and the second poll is conditional.
    let r = env.run_env(&["--as-of", "2025-07-03 09:10", "ingest"], &vars);
    assert!(r.stdout.contains("数据源 xlsx：无更新"), "{}", r.stdout);
    let requests: Vec<serde_json::Value> = http
        .received()
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let xlsx: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|q| q["path"] == "/xlsx/2025-06")
        .collect();
    assert_eq!(xlsx.len(), 2);
    assert_eq!(xlsx[0]["headers"]["authorization"], "Bearer t0k");
    assert_eq!(xlsx[1]["headers"]["if-none-match"], "\"x1\"");
    assert_eq!(
        requests
            .iter()
            .filter(|q| q["path"] == "/flaky/2025-06")
            .count(),
        2 + 1,
        "500, retried to 200, then polled again"
    );
    // Status and the digest both report the failing sources.
    let st = env.run(&[
        "--as-of",
        "2025-07-03 09:20",
        "status",
        "--period",
        "2025-06",
    ]);
    assert!(
        st.stdout
            .lines()
            .any(|l| l.starts_with("数据源 hang：") && l.contains("失败")),
        "{}",
        st.stdout
    );
    let r = env.run_env(
        &[
            "--as-of",
            "2025-07-06 09:00",
            "run",
            "--no-email",
            "--period",
            "2025-06",
        ],
        &vars,
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let alerts =
        crate::indicators::read_twin(&env.tmp.path().join("output/luan-2025/2025-06/alerts.csv"));
    let source_alerts: Vec<&str> = alerts
        .iter()
        .filter(|a| a["rule"] == "source")
        .map(|a| a["message"].as_str())
        .collect();
    assert_eq!(source_alerts.len(), 2, "{source_alerts:?}");
    assert!(
        source_alerts.iter().any(|m| m.contains("hang"))
            && source_alerts.iter().any(|m| m.contains("huge"))
    );
}

#[test]
fn the_cli_and_the_daemon_never_write_at_the_same_moment() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[("ingest = \"0 */10 * * * *\"", "ingest = \"*/1 * * * * *\"")],
    ));
    std::fs::create_dir_all(env.inbox()).unwrap();
    let d = Daemon::start(&env, &[], &[]);
    wait_for("the daemon to start", Duration::from_secs(60), || {
        run_ledger(&env).contains("\"job\":\"start\"")
    });
    let samples: Vec<_> = std::fs::read_dir(repo().join("samples/luan-2025"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for chunk in samples.chunks(6).take(6) {
        for p in chunk {
            env.drop_in(
                &p.file_name().unwrap().to_string_lossy(),
                &std::fs::read(p).unwrap(),
            );
        }
        let r = env.run(&["ingest"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    wait_for("the inbox to empty", Duration::from_secs(30), || {
        env.files_under("inbox").is_empty()
    });
    assert_eq!(d.stop(), 0);
    // Every file taken exactly once: 36 rows, all version 1, batches numbered without gaps.
    let all = frame_as_text(&env.store().rows().unwrap());
    assert_eq!(all.len(), 36);
    assert!(all.iter().all(|r| r["version"] == "1"));
    let mut batches: Vec<String> = std::fs::read_dir(env.data().join("store/batches"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    batches.sort();
    let want: Vec<String> = (1..=batches.len()).map(|n| format!("b{n:06}")).collect();
    assert_eq!(batches, want);
    let files = env.store().files().unwrap();
    assert_eq!(files.len(), 36, "no file seen twice");
    assert!(
        leftovers(&env.data()).is_empty(),
        "{:?}",
        leftovers(&env.data())
    );
}

#[test]
fn reminders_go_only_to_units_that_have_not_reported_and_only_once() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    // Everything but 霍山县's and 市本级's June.
    env.drop_samples_except(&["霍山县_2025-06.xlsx", "市本级_2025-06.csv"]);
    let mail = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    let vars = [
        ("FAYUAN_SMTP_URL", url.as_str()),
        ("FAYUAN_WEB_SECRET", "reminder-secret-0123456789"),
    ];
    // Just after 09:00 on day 3: the first reminder round for June.
    let d = Daemon::start(&env, &["--as-of", "2025-07-03 09:01"], &vars);
    wait_for("the reminders", Duration::from_secs(60), || {
        run_ledger(&env).contains("\"job\":\"remind\"")
    });
    wait_for("the start record", Duration::from_secs(30), || {
        run_ledger(&env).contains("\"job\":\"start\"")
    });
    assert_eq!(d.stop(), 0);
    let mut got = mail.recipients();
    got.sort();
    // Each reminder to the unit's contact, the data staff in copy.
    assert_eq!(
        got,
        [
            "data-staff@example.gov.cn",
            "data-staff@example.gov.cn",
            "huoshan@example.gov.cn",
            "shibenji@example.gov.cn"
        ]
    );
    let first = mail.received();
    let msg = mail_parser::MessageParser::default()
        .parse(&first[0].1)
        .unwrap();
    assert!(
        msg.subject().unwrap().contains("请报送霍山县2025年6月月报"),
        "{:?}",
        msg.subject()
    );
    let body = msg.body_text(0).unwrap();
    assert!(
        body.contains("2025-07-05 24:00") && body.contains("发送至"),
        "{body}"
    );
    // The unit's own page (its link derived from the secret).
    let link = format!(
        "/u/341525/{}",
        crate::support::hmac_token(b"reminder-secret-0123456789", "341525")
    );
    assert!(
        body.contains(&format!("网上报送：http://127.0.0.1:8080{link}")),
        "{body}"
    );
    // The unit's template for the month is attached under its Chinese name, and it is the
    // template: 霍山县, June, this pipeline (its hidden sheet, read back).
    let att = msg.attachments().next().expect("the template is attached");
    assert_eq!(
        mail_parser::MimeHeaders::attachment_name(att),
        Some("霍山县_2025-06_月报表.xlsx")
    );
    let path = env.tmp.path().join("attached.xlsx");
    std::fs::write(&path, att.contents()).unwrap();
    let mut book = calamine::open_workbook_auto(&path).unwrap();
    let meta = calamine::Reader::worksheet_range(&mut book, "模板信息").unwrap();
    let values: Vec<String> = meta.rows().skip(1).map(|r| r[1].to_string()).collect();
    assert_eq!(values, ["341525", "霍山县", "2025-06", "luan-2025", "1"]);
    // Restarted the same morning: no second reminder.
    let d = Daemon::start(&env, &["--as-of", "2025-07-03 09:30"], &vars);
    wait_for("the second start", Duration::from_secs(60), || {
        run_ledger(&env).matches("\"job\":\"start\"").count() == 2
    });
    assert_eq!(d.stop(), 0);
    assert_eq!(mail.received().len(), 4);
}

#[test]
fn a_second_writer_waits_then_gives_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[("lock_wait_seconds = 60", "lock_wait_seconds = 1")],
    ));
    std::fs::create_dir_all(env.data()).unwrap();
    // Another process holds the lock (this test, as the OS sees it).
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(env.data().join(".fayuan.lock"))
        .unwrap();
    held.lock().unwrap();
    let start = Instant::now();
    let r = env.run(&["ingest"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(start.elapsed() >= Duration::from_secs(1), "it waited");
    assert!(
        r.stderr.contains("another fayuan process") && r.stderr.contains("try again later"),
        "{}",
        r.stderr
    );
    held.unlock().unwrap();
    assert_eq!(env.run(&["ingest"]).code, 0);
}

/// Issue 20: a report built while the mail server is down is not built again; its delivery is
/// retried, the staff hear of the failing delivery once and of its recovery once.
#[test]
fn a_report_that_reached_nobody_is_delivered_later_not_built_again() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let vars = [("FAYUAN_SMTP_URL", url.as_str())];
    // The mail server is down at report time: the report is made and queued, its delivery fails,
    // the daemon carries on.
    let d = Daemon::start(&env, &["--as-of", "2025-07-06 09:05"], &vars);
    wait_for("the failed delivery", Duration::from_secs(90), || {
        run_ledger(&env).contains("\"job\":\"deliver\"")
    });
    wait_for("the start record", Duration::from_secs(30), || {
        run_ledger(&env).contains("\"job\":\"start\"")
    });
    assert_eq!(d.stop(), 0, "a failed job does not stop the daemon");
    let ledger = run_ledger(&env);
    assert!(ledger.contains("\"job\":\"report\",\"period\":\"2025-06\",\"fired\":\"2025-07-06T09:00:00+08:00\",\"ok\":true"), "{ledger}");
    assert!(
        ledger.contains("\"job\":\"deliver\",\"ok\":false"),
        "{ledger}"
    );
    // One notice to the data staff waits in the outbox, with the digest.
    let waiting = |what: &str| {
        env.files_under("outbox")
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(what) && p.ends_with("message.eml"))
            .count()
    };
    assert_eq!(waiting("failure-deliver"), 1);
    assert_eq!(waiting("2025-06-01"), 1);
    // `status` lists what waits: the digest to both, the notice to the staff.
    let st = env.run_env(
        &[
            "--as-of",
            "2025-07-06 09:30",
            "status",
            "--period",
            "2025-06",
        ],
        &vars,
    );
    assert!(
        st.stdout.contains("发件箱：3 封（收件人）待发送"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout
            .contains("摘要邮件（2025-06-01）→ leader@example.gov.cn：已等待 25 分钟"),
        "{}",
        st.stdout
    );
    // Restarted an hour later, still down: no second notice, no second report.
    let d = Daemon::start(&env, &["--as-of", "2025-07-06 10:05"], &vars);
    wait_for("a second delivery round", Duration::from_secs(90), || {
        run_ledger(&env).matches("\"job\":\"deliver\"").count() >= 2
    });
    assert_eq!(d.stop(), 0);
    assert_eq!(waiting("failure-"), 1, "one incident, one notice");
    // The server is back; the next start delivers what waited and says it recovered.
    let mail = Server::start("smtp", port, &env.tmp.path().join("mail"), &[]);
    let d = Daemon::start(&env, &["--as-of", "2025-07-06 11:00"], &vars);
    wait_for("the delivery", Duration::from_secs(90), || {
        run_ledger(&env).contains("\"job\":\"deliver\",\"ok\":true")
    });
    wait_for("the recovery notice", Duration::from_secs(30), || {
        mail.received().len() >= 4
    });
    assert_eq!(d.stop(), 0);
    let ledger = run_ledger(&env);
    assert_eq!(
        ledger.matches("\"job\":\"report\"").count(),
        1,
        "built once: {ledger}"
    );
    assert_eq!(env.files_under("output/.history").len(), 0);
    // The digest to leader and staff, the failure notice and the recovery notice to the staff.
    let mut got: Vec<(String, String)> = mail
        .received()
        .iter()
        .map(|(name, raw)| {
            let m = mail_parser::MessageParser::default().parse(raw).unwrap();
            (name[4..].to_string(), m.subject().unwrap_or("").to_string())
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got.iter()
            .any(|(r, s)| r.starts_with("leader@") && s.contains("2025年6月汇总"))
    );
    assert!(
        got.iter()
            .any(|(r, s)| r.starts_with("data-staff@") && s.contains("2025年6月汇总"))
    );
    assert!(
        got.iter()
            .any(|(r, s)| r.starts_with("data-staff@") && s.contains("定时任务失败：deliver"))
    );
    assert!(
        got.iter()
            .any(|(r, s)| r.starts_with("data-staff@") && s.contains("定时任务已恢复：deliver"))
    );
    // The next digest tells leadership about the failure, once for the whole incident.
    let r = env.run_env(
        &[
            "--as-of",
            "2025-07-06 11:30",
            "run",
            "--period",
            "2025-06",
            "--force",
        ],
        &vars,
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(mail.received().len(), 6);
    let all = mail.received();
    let msg = mail_parser::MessageParser::default()
        .parse(&all[4].1)
        .unwrap();
    let text = msg.body_text(0).unwrap();
    assert!(
        text.contains(
            "定时任务 deliver 自 2025-07-06 09:05 起失败 2 次（最近一次 2025-07-06 10:05）"
        ),
        "{text}"
    );
    assert_eq!(text.matches("定时任务 deliver").count(), 1, "{text}");
}

#[test]
fn on_a_fast_clock_every_ingest_fire_runs_once() {
    // Issue 33 §7: at --clock-rate 600 (a heartbeat every real second, an ingest fire every
    // real second) a fire that meets a heartbeat is not dropped. 15 simulated hours with ingest
    // every 10 minutes: the start's catch-up tick and the 90 fires of 00:10 … 15:00.
    let env = Env::new();
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-10 00:00", "--clock-rate", "600"],
        &[],
    );
    let heartbeat = env.data().join("daemon/heartbeat.json");
    wait_for(
        "15:05 on the daemon's clock",
        Duration::from_secs(150),
        || {
            std::fs::read_to_string(&heartbeat).is_ok_and(|t| {
                t.split("\"at\":\"")
                    .nth(1)
                    .is_some_and(|at| at[..16] >= *"2025-07-10T15:05")
            })
        },
    );
    assert_eq!(d.stop(), 0);
    let log = std::fs::read_to_string(env.tmp.path().join("daemon.log")).unwrap();
    let ingests = log
        .lines()
        .filter(|l| l.contains("job starting") && l.contains("job=\"ingest\""))
        .count();
    assert!(
        (91..=93).contains(&ingests),
        "{ingests} ingests in 15 h 05 min"
    );
}
