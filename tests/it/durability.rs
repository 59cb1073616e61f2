//! Sync that cannot lie (issue 35 §3): a failed sync of the data folder is never retried over.
//! `FAYUAN_TEST_FAULT=eio@syncfs` (or `eio@sync-dir`) makes a sync fail as a disk that lost what
//! it was given does; `FAYUAN_TEST_KERNEL` stands in for the kernel's release (before 5.8,
//! `syncfs` did not report write-back errors, so each file and folder is synced on its own).

use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The number of distinct outbox messages whose id starts with `prefix`.
fn notices(env: &Env, prefix: &str) -> usize {
    env.files_under("outbox")
        .into_iter()
        .filter_map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .find(|c| c.starts_with(prefix))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn inbox_files(env: &Env) -> usize {
    std::fs::read_dir(env.inbox())
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

fn stored(env: &Env) -> usize {
    env.store().files().map(|f| f.len()).unwrap_or(0)
}

/// The daemon as of 4 July 2025 with `vars`: its exit code when it stops by itself within 60 s,
/// or, when `until` is given, once `until` holds it is asked to stop (SIGTERM).
fn daemon(env: &Env, vars: &[(&str, &str)], until: Option<&dyn Fn() -> bool>) -> i32 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fayuan"))
        .current_dir(env.tmp.path())
        .arg("--pipeline")
        .arg(&env.pipeline)
        .arg("--data-dir")
        .arg(env.data())
        .args(["--as-of", "2025-07-04 09:00", "daemon"])
        .env("FAYUAN_LOG", "info")
        .env_remove("FAYUAN_AS_OF")
        .env_remove("FAYUAN_TEST_FAULT")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(env.tmp.path().join("daemon.log"))
                .unwrap(),
        ))
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if let Some(done) = until
            && done()
        {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            return child.wait().unwrap().code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_failed_sync_stops_the_daemon_tells_the_staff_once_and_a_restart_recovers() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    let waiting = inbox_files(&env);
    assert_eq!(waiting, 48);
    // The ingest's group commit fails: nothing is taken for kept, the daemon stops (1).
    for _ in 0..2 {
        let code = daemon(&env, &[("FAYUAN_TEST_FAULT", "eio@syncfs")], None);
        assert_eq!(code, 1);
        assert_eq!(
            inbox_files(&env),
            waiting,
            "every county file still in the inbox"
        );
        assert_eq!(stored(&env), 0, "nothing committed over a failed sync");
        // The staff are told once, however often the service manager restarts it.
        assert_eq!(notices(&env, "failure-ingest"), 1);
    }
    let log = std::fs::read_to_string(env.tmp.path().join("daemon.log")).unwrap();
    assert!(log.contains("数据写入磁盘失败"), "{log}");
    // The disk works again: the restart takes every file, once, and says the job recovered.
    let code = daemon(
        &env,
        &[],
        Some(&|| stored(&env) == 48 && inbox_files(&env) == 0),
    );
    assert_eq!(code, 0);
    assert_eq!(
        env.files_under("archive")
            .iter()
            .filter(|p| !p.to_string_lossy().contains("SHA256SUMS"))
            .count(),
        48
    );
    assert_eq!(notices(&env, "recovered-ingest"), 1);
    assert_eq!(notices(&env, "failure-ingest"), 1);
}

#[test]
fn before_linux_5_8_each_file_and_folder_is_synced_and_a_failure_is_not_taken_for_kept() {
    // An old kernel: syncfs is not trusted; the files and folders written are synced one by one.
    let env = Env::new();
    env.drop_samples_except(&[]);
    let r = env.run_env(
        &["--as-of", "2025-07-04 09:00", "ingest"],
        &[
            ("FAYUAN_TEST_KERNEL", "4.19.90-2102.2.0.0062.ctl2.x86_64"),
            ("FAYUAN_LOG", "info"),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("before Linux 5.8"), "{}", r.stderr);
    assert_eq!(stored(&env), 48);
    // A folder's sync fails there: the command fails (1) in Chinese, nothing taken.
    let env = Env::new();
    env.drop_samples_except(&[]);
    let r = env.run_env(
        &["--as-of", "2025-07-04 09:00", "ingest"],
        &[
            ("FAYUAN_TEST_KERNEL", "4.19.90"),
            ("FAYUAN_TEST_FAULT", "eio@sync-dir"),
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("数据写入磁盘失败"), "{}", r.stderr);
    assert_eq!(stored(&env), 0);
    assert_eq!(inbox_files(&env), 48);
    // A new kernel's syncfs failing: the same.
    let r = env.run_env(
        &["--as-of", "2025-07-04 09:00", "ingest"],
        &[("FAYUAN_TEST_FAULT", "eio@syncfs")],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(stored(&env), 0);
    assert_eq!(inbox_files(&env), 48);
}
