//! Running it day to day: reruns' history kept short, `--clock-rate` only where it means
//! something, a broken previous year's pipeline, a pipeline that dies in a shared daemon, `status`
//! into a closed pipe, a killed daemon's leftovers, a source not published yet.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::outbox::*;
use crate::support::smtp::{Server, free_port, pipeline, python_ready};
use crate::support::*;
use std::time::Duration;

/// A period's report made again and again keeps the last `[output] keep_history` versions.
#[test]
fn history_keeps_the_last_versions_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = pipeline(dir.path(), &[]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[output]\nkeep_history = 3\n");
    std::fs::write(&path, text).unwrap();
    let env = Env::with_pipeline(&path);
    env.drop_samples_except(&[]);
    for minute in 0..6 {
        let at = format!("2025-07-06 09:{minute:02}");
        let r = env.run(&["--as-of", &at, "run", "--no-email", "--period", "2025-06"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let history = env.tmp.path().join("output/luan-2025/.history/2025-06");
    let mut kept: Vec<String> = std::fs::read_dir(&history)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    kept.sort();
    // Six runs replace five folders; the newest three replaced are kept (named by the run that
    // replaced them: 09:03, 09:04, 09:05).
    assert_eq!(
        kept,
        ["20250706T090300", "20250706T090400", "20250706T090500"]
    );
}

/// `--clock-rate` belongs to the daemon and the web server, and needs a start.
#[test]
fn clock_rate_is_refused_where_it_means_nothing() {
    let env = Env::new();
    for (args, why) in [
        (
            vec!["--clock-rate", "60", "daemon"],
            "--clock-rate needs --as-of",
        ),
        (
            vec![
                "--as-of",
                "2025-07-01 00:00",
                "--clock-rate",
                "60",
                "status",
            ],
            "only `fayuan daemon` and `fayuan serve` run on a clock",
        ),
        (
            vec!["--as-of", "2025-07-01 00:00", "--clock-rate", "0", "serve"],
            "expected a number more than 0",
        ),
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
    }
}

/// A previous year's pipeline that does not load is reported with its own problems.
#[test]
fn a_broken_previous_pipeline_is_told_with_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    calendar_beside(dir.path());
    let this = std::fs::read_to_string(repo().join("pipelines/luan-2025.toml")).unwrap();
    std::fs::write(
        dir.path().join("luan-2025.toml"),
        this.replace("year = 2025", "year = 2025\nprevious = \"luan-2024\""),
    )
    .unwrap();
    let last = this
        .replace("name = \"luan-2025\"", "name = \"luan-2024\"")
        .replace("year = 2025", "year = 2024")
        .replace("deadline_day = 5", "deadline_day = 40");
    std::fs::write(dir.path().join("luan-2024.toml"), last).unwrap();
    let env = Env::with_pipeline(&dir.path().join("luan-2025.toml"));
    let r = env.run(&["check"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("pipeline.previous \"luan-2024\""),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("luan-2024.toml does not load"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("submission.deadline_day 40"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("no other pipeline named so"),
        "{}",
        r.stderr
    );
}

/// In a daemon of two pipelines, one that dies is told to its staff at once; the other goes on.
#[test]
fn a_pipeline_that_dies_in_a_shared_daemon_is_told_at_once() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pipes = dir.path().join("pipelines");
    std::fs::create_dir_all(&pipes).unwrap();
    let server = Server::start("smtp", free_port(), &dir.path().join("mail"), &[]);
    let base = std::fs::read_to_string(pipeline(dir.path(), &[])).unwrap();
    for (name, port) in [("luan-2025", free_port()), ("other-2025", free_port())] {
        let text = base
            .replace("name = \"luan-2025\"", &format!("name = \"{name}\""))
            .replace(
                "data_dir = \"../data/luan-2025\"",
                &format!("data_dir = \"../data/{name}\""),
            )
            + &format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n");
        std::fs::write(pipes.join(format!("{name}.toml")), text).unwrap();
    }
    calendar_beside(&pipes);
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let d = Daemon::start_all(
        dir.path(),
        &["--as-of", "2025-07-10 10:00"],
        &[
            ("FAYUAN_SMTP_URL", url.as_str()),
            ("FAYUAN_TEST_FAULT", "full@daemon-start-other-2025"),
        ],
    );
    wait_for("the notice", Duration::from_secs(60), || {
        !server.received().is_empty()
    });
    let got = delivered(&server);
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(|g| (&g.0, &g.2)).collect::<Vec<_>>()
    );
    assert_eq!(got[0].0, STAFF);
    assert!(got[0].2.contains("定时任务失败：daemon"), "{}", got[0].2);
    let body = mail_parser::MessageParser::default()
        .parse(&got[0].3)
        .unwrap()
        .body_text(0)
        .unwrap()
        .to_string();
    assert!(body.contains("No space left on device"), "{body}");
    // The other pipeline goes on: its heartbeat is written.
    wait_for("the live pipeline", Duration::from_secs(30), || {
        dir.path()
            .join("data/luan-2025/daemon/heartbeat.json")
            .exists()
    });
    assert!(
        !dir.path()
            .join("data/other-2025/daemon/heartbeat.json")
            .exists()
    );
    assert_eq!(
        d.stop(),
        1,
        "a pipeline stopped: the daemon says so when it ends"
    );
}

/// Found by the simulation: `fayuan status | head -1` ends quietly (a closed pipe is no panic).
#[test]
fn status_into_a_closed_pipe_ends_quietly() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    assert_eq!(env.run(&["--as-of", "2025-07-10 09:00", "ingest"]).code, 0);
    // The reader closes the pipe before fayuan writes a word: every write meets a broken pipe.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' --pipeline '{}' --data-dir '{}' --as-of '2025-07-10 09:00' status | (exec 0<&-; sleep 1); echo \"code=${{PIPESTATUS[0]}}\"",
            env!("CARGO_BIN_EXE_fayuan"),
            env.pipeline.display(),
            env.data().display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "code=0");
}

/// Found by the simulation: a heartbeat (or a message) half-written by a killed daemon is swept
/// when the daemon starts; a temporary file of a process still running is left alone.
#[test]
fn leftovers_of_a_killed_daemon_are_swept_at_start() {
    let env = Env::new();
    let daemon_dir = env.data().join("daemon");
    let outbox = env.data().join("outbox/luan-2025/2025-06/2025-06-01");
    std::fs::create_dir_all(&daemon_dir).unwrap();
    std::fs::create_dir_all(&outbox).unwrap();
    // pid 2^22 + 1 is above Linux's highest pid: no such process.
    let dead = daemon_dir.join(".heartbeat.json.tmp-4194305");
    let dead_message = outbox.join(".message.eml.tmp-4194305");
    let live = daemon_dir.join(format!(".last_look.json.tmp-{}", std::process::id()));
    for p in [&dead, &dead_message, &live] {
        std::fs::write(p, b"half").unwrap();
    }
    let d = Daemon::start(&env, &["--as-of", "2025-07-10 09:00"], &[]);
    wait_for("the daemon's first look", Duration::from_secs(60), || {
        daemon_dir.join("last_look.json").exists()
    });
    assert_eq!(d.stop(), 0);
    assert!(!dead.exists() && !dead_message.exists());
    assert!(
        live.exists(),
        "a running process's file is its own business"
    );
}

/// Found by the simulation: a source that has not published the month yet (404) is not a failing
/// source — no failure notice every month, no alert; it is asked again at the next poll.
#[test]
fn a_source_that_has_not_published_yet_is_not_failing() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("exports");
    std::fs::create_dir_all(&files).unwrap();
    let http = Server::start(
        "http",
        free_port(),
        &dir.path().join("requests"),
        &["--files", files.to_str().unwrap()],
    );
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[(
            "# The units in the plan's order.",
            &format!(
                "[[sources]]\nname = \"province\"\nurl = \"http://127.0.0.1:{}/{{period}}.csv\"\nformat = \"csv\"\ntimeout_seconds = 5\nmax_bytes = 100000\nattempts = 1\n\n# The units in the plan's order.",
                http.port
            ),
        )],
    ));
    let r = env.run(&["--as-of", "2025-07-02 09:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("数据源 province：尚未发布"),
        "{}",
        r.stdout
    );
    // Published: taken; asked again, the same export is not taken twice (ETag, 304).
    std::fs::copy(
        repo().join("samples/luan-2025/市本级_2025-06.csv"),
        files.join("2025-06.csv"),
    )
    .unwrap();
    let r = env.run(&["--as-of", "2025-07-02 10:00", "ingest"]);
    assert!(
        r.stdout.contains("数据源 province：已获取") && r.stdout.contains("接收 1"),
        "{}",
        r.stdout
    );
    let r = env.run(&["--as-of", "2025-07-02 11:00", "ingest"]);
    assert!(
        r.stdout.contains("数据源 province：无更新") && r.stdout.contains("收件箱中没有新文件"),
        "{}",
        r.stdout
    );
    // No alert about a failing source in the month's report.
    let r = env.run(&[
        "--as-of",
        "2025-07-06 09:00",
        "run",
        "--no-email",
        "--period",
        "2025-06",
    ]);
    assert_eq!(r.code, 0);
    let alerts =
        std::fs::read_to_string(env.tmp.path().join("output/luan-2025/2025-06/alerts.csv"))
            .unwrap();
    assert!(!alerts.contains("province"), "{alerts}");
}
