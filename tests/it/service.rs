//! The daemon as a service: the notify protocol (READY, WATCHDOG, STATUS, STOPPING) played as
//! systemd would, and `fayuan health` telling a beating daemon from a stopped one.

use crate::support::daemon::*;

use crate::support::*;
use std::time::{Duration, Instant};

/// The notify protocol of a `Type=notify` service (issue 36 §2), played by the test as systemd
/// would: a datagram socket in `NOTIFY_SOCKET`, a watchdog of one second. The daemon says
/// READY=1, then WATCHDOG=1 about every half second, and STOPPING=1 on SIGTERM. With its
/// wake-up loop hung (an ingest stopped at a fault point), the pings stop within the watchdog's
/// interval, so that the service manager restarts it.
#[test]
fn the_daemon_tells_its_service_manager_ready_alive_and_stopping_and_a_hung_loop_stops_the_pings() {
    use std::os::unix::net::UnixDatagram;
    use std::sync::{Arc, Mutex};
    let listen = |env: &Env| {
        let path = env.tmp.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let got: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let g = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => g.lock().unwrap().push((
                        Instant::now(),
                        String::from_utf8_lossy(&buf[..n]).into_owned(),
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
                if Arc::strong_count(&g) == 1 {
                    return;
                }
            }
        });
        (path, got)
    };
    let ready_at = |got: &Arc<Mutex<Vec<(Instant, String)>>>| {
        let mut at = None;
        wait_for("READY=1", Duration::from_secs(30), || {
            at = got
                .lock()
                .unwrap()
                .iter()
                .find(|(_, m)| m.contains("READY=1"))
                .map(|(t, _)| *t);
            at.is_some()
        });
        at.unwrap()
    };
    let pings = |got: &Arc<Mutex<Vec<(Instant, String)>>>, from: Instant, to: Instant| {
        got.lock()
            .unwrap()
            .iter()
            .filter(|(t, m)| *t >= from && *t < to && m == "WATCHDOG=1")
            .count()
    };
    // A healthy daemon.
    let env = Env::new();
    let (path, got) = listen(&env);
    let socket = path.to_str().unwrap();
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-04 09:00"],
        &[("NOTIFY_SOCKET", socket), ("WATCHDOG_USEC", "1000000")],
    );
    let ready = ready_at(&got);
    std::thread::sleep(Duration::from_millis(3200));
    let n = pings(&got, ready, ready + Duration::from_secs(3));
    assert!(
        (4..=8).contains(&n),
        "{n} pings in 3 s: {:?}",
        got.lock().unwrap()
    );
    assert_eq!(d.stop(), 0);
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|(_, m)| m.contains("STOPPING=1")),
        "{:?}",
        got.lock().unwrap()
    );
    // Its wake-up loop hung: an ingest that never ends.
    let env = Env::new();
    env.drop_samples_except(&[]);
    let (path, got) = listen(&env);
    let socket = path.to_str().unwrap();
    let mut d = Daemon::start(
        &env,
        &["--as-of", "2025-07-04 09:00"],
        &[
            ("NOTIFY_SOCKET", socket),
            ("WATCHDOG_USEC", "1000000"),
            ("FAYUAN_TEST_FAULT", "hang@read"),
        ],
    );
    let ready = ready_at(&got);
    std::thread::sleep(Duration::from_millis(4200));
    assert!(!d.exited(), "the daemon should hang, not end");
    let late = pings(
        &got,
        ready + Duration::from_millis(2500),
        ready + Duration::from_secs(4),
    );
    assert_eq!(late, 0, "pings while hung: {:?}", got.lock().unwrap());
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|(_, m)| m.contains("处理中")),
        "{:?}",
        got.lock().unwrap()
    );
    let log = std::fs::read_to_string(env.tmp.path().join("daemon.log")).unwrap_or_default();
    assert!(
        log.contains("busy longer than the watchdog allows"),
        "{log}"
    );
}

/// Health (issue 36 §3): `fayuan health` exits 2 with no daemon (no heartbeat), 0 while it beats
/// (and `/healthz` and `/readyz` answer 200 without a token), 2 when the heartbeat is older than
/// twice its interval, 1 for a job whose last run failed (its error shown by the command only,
/// never on the tokenless `/readyz`, which answers 503 with one line per reason).
#[test]
fn health_tells_a_beating_daemon_from_a_stopped_one_and_a_failed_job() {
    let (_dir, port, env) = crate::support::web::web_env("");
    let health = |at: &str| env.run(&["--as-of", at, "health"]);
    let r = health("2025-07-04 09:00");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("严重：守护进程没有心跳"), "{}", r.stdout);
    let d = Daemon::start(&env, &["--as-of", "2025-07-04 09:00"], &[]);
    wait_for("the heartbeat", Duration::from_secs(30), || {
        env.data().join("daemon/heartbeat.json").exists()
    });
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str| {
        crate::support::web::rt().block_on(async {
            let r = reqwest::get(format!("{base}{path}")).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    wait_for("the pages", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert_eq!(get("/healthz"), (200, "ok\n".to_string()));
    let (code, body) = get("/readyz");
    assert_eq!((code, body.as_str()), (200, "ready\n"));
    let r = health("2025-07-04 09:00");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.trim(), "正常 / ok");
    // A job that failed, as the run ledger records it (a report whose folder could not be made).
    let runs = env.data().join("runs/luan-2025.jsonl");
    let mut ledger = std::fs::read_to_string(&runs).unwrap();
    ledger.push_str(r#"{"at":"2025-07-04T09:00:30+08:00","job":"report","period":"2025-06","fired":null,"ok":false,"detail":"/srv/secret/path: permission denied"}"#);
    ledger.push('\n');
    std::fs::write(&runs, ledger).unwrap();
    let (code, body) = get("/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("注意：任务 report 最近一次运行失败")
            && body.contains("warning: job report failed at its last run"),
        "{body}"
    );
    assert!(!body.contains("/srv/secret"), "details on /readyz: {body}");
    let r = health("2025-07-04 09:00");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("/srv/secret/path: permission denied"),
        "{}",
        r.stdout
    );
    assert_eq!(d.stop(), 0);
    // Two hours later with no daemon: its heartbeat stopped (more than twice 60 s).
    let r = health("2025-07-04 11:00");
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("严重：守护进程的心跳停在"),
        "{}",
        r.stdout
    );
}
