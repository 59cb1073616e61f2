//! No silent fallback (issue 37 §4): what fayuan cannot do or read it says, and waits. A workbook
//! no reader worker can open stays in the inbox (never read in fayuan's own process), the ingest
//! counts as failed and the staff are told once, and once when it recovers; a run ledger or a
//! sources' state that cannot be read is an error in `status`, `health` and `/readyz`, never "no
//! failures".

use crate::support::daemon::{Daemon, wait_for};
use crate::support::smtp::{Server, free_port, pipeline, python_ready};
use crate::support::*;
use std::time::Duration;

/// The fault that makes every start of a reader worker fail (as after the binary was removed).
const NO_READER: (&str, &str) = ("FAYUAN_TEST_FAULT", "full@reader-spawn");

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("samples/luan-2025").join(name)).unwrap()
}

#[test]
fn a_workbook_no_reader_can_open_waits_in_the_inbox_and_no_report_is_made_without_it() {
    let env = Env::new();
    env.drop_in("霍邱县_2025-06.xlsx", &sample("霍邱县_2025-06.xlsx"));
    env.drop_in("金寨县_2025-06.csv", &sample("金寨县_2025-06.csv"));
    let r = env.run_env(&["--as-of", "2025-07-04 09:00", "ingest"], &[NO_READER]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("霍邱县_2025-06.xlsx：暂未收取——读取工作簿的进程无法启动"),
        "{}",
        r.stdout
    );
    // The CSV is taken (read by fayuan's own bounded code); the workbook waits, untouched.
    let files = env.store().files().unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].file_name.ends_with(".csv"), "{files:?}");
    assert!(env.inbox().join("霍邱县_2025-06.xlsx").is_file());
    assert!(env.files_under("quarantine").is_empty());
    // A report would say 霍邱县 had not reported: none is made.
    let r = env.run_env(
        &[
            "--as-of",
            "2025-07-06 09:00",
            "run",
            "--period",
            "2025-06",
            "--no-email",
        ],
        &[NO_READER],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("报告未生成"), "{}", r.stderr);
    assert!(!env.tmp.path().join("output/luan-2025/2025-06").exists());
    // A reader again: the workbook is taken.
    let r = env.run(&["--as-of", "2025-07-06 09:10", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.store().files().unwrap().len(), 2);
    assert!(!env.inbox().join("霍邱县_2025-06.xlsx").exists());
}

/// The daemon: every ingest while no reader can start fails, the staff get one notice for the
/// whole time, `status` says why; started again with readers, the workbook is taken and the
/// staff are told it recovered.
#[test]
fn the_daemon_tells_the_staff_once_that_workbooks_wait_for_a_reader_and_once_when_they_are_taken() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[("ingest = \"0 */10 * * * *\"", "ingest = \"*/20 * * * * *\"")],
    ));
    env.drop_in("霍邱县_2025-06.xlsx", &sample("霍邱县_2025-06.xlsx"));
    let port = free_port();
    let mail = Server::start("smtp", port, &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{port}");
    let runs =
        || std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl")).unwrap_or_default();
    let failed = || {
        runs()
            .lines()
            .filter(|l| l.contains("\"job\":\"ingest\"") && l.contains("\"ok\":false"))
            .count()
    };
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-10 10:00", "--clock-rate", "10"],
        &[("FAYUAN_SMTP_URL", &url), NO_READER],
    );
    wait_for("three failed ingests", Duration::from_secs(60), || {
        failed() >= 3
    });
    wait_for("the notice", Duration::from_secs(30), || {
        !mail.received().is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.stop(), 0);
    let subjects = || -> Vec<(String, String)> {
        mail.received()
            .iter()
            .map(|(name, raw)| {
                let m = mail_parser::MessageParser::default().parse(raw).unwrap();
                (name[4..].to_string(), m.subject().unwrap_or("").to_string())
            })
            .collect()
    };
    let told = subjects();
    assert_eq!(told.len(), 1, "one notice for the incident: {told:?}");
    assert!(told[0].0.starts_with("data-staff@"), "{told:?}");
    assert!(told[0].1.contains("定时任务失败：ingest"), "{told:?}");
    assert!(env.inbox().join("霍邱县_2025-06.xlsx").is_file());
    assert!(runs().contains("读取工作簿的进程无法启动"), "{}", runs());
    // No batch was begun for a file that waits: no empty batch at every ingest.
    let batches = std::fs::read_dir(env.data().join("store/batches"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(batches, 0);
    let st = env.run(&[
        "--as-of",
        "2025-07-10 10:30",
        "status",
        "--period",
        "2025-06",
    ]);
    assert!(st.stdout.contains("1 个工作簿留在收件箱"), "{}", st.stdout);
    // Readers again: taken, and one recovery notice.
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-10 11:00", "--clock-rate", "10"],
        &[("FAYUAN_SMTP_URL", &url)],
    );
    wait_for("the workbook taken", Duration::from_secs(60), || {
        !env.inbox().join("霍邱县_2025-06.xlsx").exists()
    });
    wait_for("the recovery notice", Duration::from_secs(30), || {
        mail.received().len() >= 2
    });
    assert_eq!(d.stop(), 0);
    let told = subjects();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told.iter()
            .any(|(_, s)| s.contains("定时任务已恢复：ingest")),
        "{told:?}"
    );
    assert_eq!(env.store().files().unwrap().len(), 1);
}

/// A run ledger that cannot be read and a sources' state that does not parse: `health` is
/// critical and names each, `status` says the last results are unknown.
#[test]
fn a_state_file_that_cannot_be_read_is_critical_not_all_well() {
    let env = Env::new();
    // The run ledger a folder (as a restore gone wrong leaves it): reading it fails.
    std::fs::create_dir_all(env.data().join("runs/luan-2025.jsonl")).unwrap();
    std::fs::create_dir_all(env.data().join("sources")).unwrap();
    std::fs::write(env.data().join("sources/state.json"), "{ not json").unwrap();
    let r = env.run(&["--as-of", "2025-07-10 10:00", "health"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("严重：运行记录无法读取"), "{}", r.stdout);
    assert!(
        r.stdout.contains("严重：数据源状态无法读取"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("runs/luan-2025.jsonl"), "{}", r.stdout);
    let st = env.run(&["--as-of", "2025-07-10 10:00", "status"]);
    assert_eq!(st.code, 0, "{}{}", st.stdout, st.stderr);
    assert!(
        st.stdout
            .contains("运行记录无法读取，以下各任务的上次结果不明"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout
            .contains("数据源状态无法读取，各数据源的上次结果不明"),
        "{}",
        st.stdout
    );
}

/// The daemon's report day with a workbook no reader can open: the report is not made (it would
/// say 霍邱县 had not reported), the job fails and is tried again at the next wake-up.
#[test]
fn the_daemons_report_waits_for_a_workbook_no_reader_can_open() {
    // Reports as scheduled (6 July 2025 is a Sunday: the shipped pipeline would wait a day).
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_in("霍邱县_2025-06.xlsx", &sample("霍邱县_2025-06.xlsx"));
    let runs =
        || std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl")).unwrap_or_default();
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-06 08:59:50", "--clock-rate", "10"],
        &[NO_READER],
    );
    wait_for("the report's run", Duration::from_secs(60), || {
        runs().contains("\"job\":\"report\"")
    });
    assert_eq!(d.stop(), 0);
    let report = runs()
        .lines()
        .find(|l| l.contains("\"job\":\"report\""))
        .unwrap()
        .to_string();
    assert!(report.contains("\"ok\":false"), "{report}");
    assert!(report.contains("报告未生成"), "{report}");
    assert!(report.contains("读取工作簿的进程无法启动"), "{report}");
    assert!(!env.tmp.path().join("output/luan-2025/2025-06").exists());
    assert!(env.inbox().join("霍邱县_2025-06.xlsx").is_file());
}

/// What leadership has been told is read from the manifests kept with the digests sent: one that
/// cannot be read stops the next report with an error naming it (before, it was skipped, and the
/// report said nothing of 重报 or rejected files already told).
#[test]
fn a_sent_digests_manifest_that_cannot_be_read_stops_the_report() {
    let env = Env::new();
    for name in ["霍邱县_2025-06.xlsx", "金寨县_2025-06.csv"] {
        env.drop_in(name, &sample(name));
    }
    let r = env.run(&["--as-of", "2025-07-04 09:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // No mail server: the digest is kept as .eml in the outbox, done for every recipient.
    let r = env.run(&["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let manifest = env
        .data()
        .join("outbox/luan-2025/2025-06/2025-06-01/manifest.json");
    assert!(manifest.is_file(), "{}", manifest.display());
    std::fs::write(&manifest, "{ not json").unwrap();
    let r = env.run(&[
        "--as-of",
        "2025-08-06 09:00",
        "run",
        "--period",
        "2025-07",
        "--no-email",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("已发送摘要的清单无法读取"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("2025-06-01/manifest.json"),
        "{}",
        r.stderr
    );
    assert!(!env.tmp.path().join("output/luan-2025/2025-07").exists());
}

/// `/metrics` while the pages serve: a delivery ledger, then a run ledger, that cannot be read
/// fail the scrape (503, naming the file) — never series that say nothing waits or failed.
#[test]
fn metrics_fail_when_a_ledger_cannot_be_read() {
    use crate::support::web::{rt, served_with};
    let token = "metrics-token-0123456789";
    let s = served_with("", &[("FAYUAN_METRICS_TOKEN", token)]);
    let scrape = || {
        rt().block_on(async {
            let r = reqwest::Client::new()
                .get(s.url("/metrics"))
                .header("Authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (status, body) = scrape();
    assert_eq!(status, 200, "{body}");
    // Each ledger a folder in turn (as a restore gone wrong leaves it), then mended.
    for ledger in ["deliveries/luan-2025.jsonl", "runs/luan-2025.jsonl"] {
        let path = s.env.data().join(ledger);
        let kept = std::fs::read(&path).ok();
        let _ = std::fs::remove_file(&path);
        std::fs::create_dir_all(&path).unwrap();
        let (status, body) = scrape();
        assert_eq!(status, 503, "{body}");
        assert!(body.contains(ledger), "{body}");
        std::fs::remove_dir(&path).unwrap();
        if let Some(bytes) = kept {
            std::fs::write(&path, bytes).unwrap();
        }
        assert_eq!(scrape().0, 200, "{ledger} mended");
    }
}
