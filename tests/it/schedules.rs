//! One scheduler path (issue 37 §5): the real-time daemon and the simulated one decide and wake
//! through the same code — the next fire of any schedule is waited for, and in real time
//! tokio-cron-scheduler's wake comes first. Run here in real time, on per-second schedules.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::smtp::pipeline;
use crate::support::*;
use std::collections::BTreeSet;
use std::time::Duration;

/// The ingest runs the daemon's log shows (an ingest that finds nothing is not on the run
/// ledger): the UTC second each started, after the one at start (the catch-up).
fn fires(env: &Env) -> Vec<String> {
    let log = std::fs::read_to_string(env.tmp.path().join("daemon.log")).unwrap();
    let mut runs: Vec<String> = log
        .lines()
        .filter(|l| l.contains("job starting") && l.contains("job=\"ingest\""))
        .map(|l| l[..19].to_string())
        .collect();
    assert!(!runs.is_empty(), "{log}");
    runs.remove(0);
    runs
}

/// Twenty seconds of real time with an ingest every two: each fire runs once — no second twice,
/// none missed — woken by the cron, decided by the same tick as on a fast clock.
#[test]
fn the_real_time_daemon_runs_each_fire_of_a_per_second_schedule_once() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[
            ("ingest = \"0 */10 * * * *\"", "ingest = \"*/2 * * * * *\""),
            ("heartbeat_seconds = 60", "heartbeat_seconds = 1"),
        ],
    ));
    std::fs::create_dir_all(env.inbox()).unwrap();
    let d = Daemon::start(&env, &[], &[]);
    wait_for("the daemon to start", Duration::from_secs(60), || {
        std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl"))
            .is_ok_and(|t| t.contains("\"job\":\"start\""))
    });
    // A file in the middle: taken by the next fire, as every fire takes what waits.
    std::thread::sleep(Duration::from_secs(5));
    env.drop_in(
        "金寨县_2025-01.csv",
        &std::fs::read(repo().join("samples/luan-2025/金寨县_2025-01.csv")).unwrap(),
    );
    std::thread::sleep(Duration::from_secs(15));
    assert_eq!(d.stop(), 0);
    assert_eq!(latest_rows(&env.store()).len(), 1);
    let ingests = fires(&env);
    // Every run at its own second, none twice.
    let seconds: BTreeSet<&String> = ingests.iter().collect();
    assert_eq!(
        seconds.len(),
        ingests.len(),
        "a fire ran twice: {ingests:?}"
    );
    // Each at an even second (the fire's), and as many as even seconds passed: 20 s after the
    // start (the catch-up's run left out) is 10 fires, give or take the one at each edge.
    for a in &ingests {
        let sec: u32 = a[17..19].parse().unwrap();
        assert_eq!(sec % 2, 0, "a run off its fire: {a} ({ingests:?})");
    }
    assert!(
        (9..=12).contains(&ingests.len()),
        "{} fires in 20 s: {ingests:?}",
        ingests.len()
    );
    // No gap of more than one fire between two runs (none missed).
    let secs: Vec<i64> = ingests
        .iter()
        .map(|a| {
            chrono::NaiveDateTime::parse_from_str(a, "%Y-%m-%dT%H:%M:%S")
                .unwrap_or_else(|e| panic!("{a:?}: {e}"))
                .and_utc()
                .timestamp()
        })
        .collect();
    for w in secs.windows(2) {
        assert_eq!(
            w[1] - w[0],
            2,
            "a fire missed between {} and {}",
            w[0],
            w[1]
        );
    }
}
