//! The answers a county waits for (issue 37): a receipt from the IMAP APPEND of its mail to the
//! receipt at the SMTP server (real Dovecot, real aiosmtpd, the release daemon idling on the
//! mailbox), and an upload's answer from `fayuan serve` — each median and p95 of 20, on Lu'an's
//! store with half a year in it (every unit, January–June). Run with
//! `cargo bench --bench answers`; it needs what the mail tests need (Dovecot, Python with
//! aiosmtpd) and says SKIPPED without them. Prints Markdown rows for BENCHMARKS.md.

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::time::{Duration, Instant};
use support::daemon::{Daemon, wait_for};
use support::imap::{self, HEADER, HUOQIU, csv_row, dovecot_ready, message, rfc2231};
use support::outbox::{SECRET, TOKEN, mailbox_vars, post_file, with};
use support::*;

/// Half a year of every unit in the store (the months' own rows, one file per unit and month).
fn half_a_year(env: &Env) {
    let codes: Vec<String> = luan().units.iter().map(|u| u.code.clone()).collect();
    for code in &codes {
        for month in 1..=6 {
            let csv = format!(
                "{HEADER}\r\n{}\r\n",
                csv_row(code, month, 30 + month as i64)
            );
            env.drop_in(&format!("{code}_2025-{month:02}.csv"), csv.as_bytes());
        }
    }
    let r = env.run(&["--as-of", "2025-07-04 09:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

fn median_p95(mut t: Vec<Duration>) -> (f64, f64) {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(t[t.len() / 2]), ms(t[(t.len() * 95).div_ceil(100) - 1]))
}

/// fayuan's own part of each receipt, from its log: from the end of the IDLE that announced the
/// mail to the receipt's first delivery (the rest is the server's announcement and the APPEND).
fn own_parts(log: &str) -> Vec<Duration> {
    let at =
        |line: &str| chrono::DateTime::parse_from_rfc3339(line.split_whitespace().next()?).ok();
    let mut woken = None;
    let mut out = Vec::new();
    for line in log.lines() {
        if line.contains("mailbox: idle ended") {
            woken = at(line);
        } else if line.contains(&format!("message sent recipient={HUOQIU}"))
            && let (Some(w), Some(t)) = (woken.take(), at(line))
        {
            out.push((t - w).to_std().unwrap());
        }
    }
    out
}

/// 20 mails of 霍邱县's July, one at a time, each waited for until its receipt reached the SMTP
/// server. Returns (from the APPEND's start, from the APPEND's end, fayuan's own part) per mail.
fn receipts() -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
    let s = imap::setup();
    half_a_year(&s.env);
    let vars = mailbox_vars(&s, &format!("smtp://127.0.0.1:{}", s.smtp.port));
    let d = Daemon::start(
        &s.env,
        &["--as-of", "2025-08-03 10:00"],
        &with(&vars, &[("FAYUAN_LOG", "warn,fayuan=debug")]),
    );
    wait_for("the mailbox", Duration::from_secs(60), || {
        std::fs::read_to_string(s.env.tmp.path().join("daemon.log"))
            .is_ok_and(|l| l.contains("mailbox connected"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut from_start = Vec::new();
    let mut from_end = Vec::new();
    let to_huoqiu = |s: &imap::Setup| {
        s.smtp
            .received()
            .iter()
            .filter(|(name, _)| name.ends_with(&format!("-{HUOQIU}.eml")))
            .count()
    };
    for k in 0..20 {
        let before = to_huoqiu(&s);
        let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 40 + k));
        let mail = message(
            HUOQIU,
            "霍邱县7月",
            "",
            &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
        );
        let start = Instant::now();
        s.imap.deliver(&mail);
        let appended = Instant::now();
        wait_for("the receipt", Duration::from_secs(60), || {
            to_huoqiu(&s) > before
        });
        let got = Instant::now();
        from_start.push(got - start);
        from_end.push(got - appended);
    }
    assert_eq!(d.stop(), 0);
    let log = std::fs::read_to_string(s.env.tmp.path().join("daemon.log")).unwrap();
    let own = own_parts(&log);
    assert_eq!(own.len(), 20, "each receipt's part in the log");
    (from_start, from_end, own)
}

/// An upload through the county's page, not following the answer's redirect: the time until the
/// upload is taken and its answer kept (303).
async fn post_only(url: &str, name: &str, bytes: Vec<u8>) -> u16 {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.post(url).multipart(form).send().await.unwrap();
    r.status().as_u16()
}

/// 20 uploads of 霍邱县's July through its page, one at a time, each answered twice over: the time
/// until the answer is kept (the redirect), and until the page showing it is read (the redirect
/// followed, as a browser does).
fn uploads() -> (Vec<Duration>, Vec<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let port = support::smtp::free_port();
    let path = support::smtp::pipeline(dir.path(), &[]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n"));
    std::fs::write(&path, text).unwrap();
    let env = Env::with_pipeline(&path);
    half_a_year(&env);
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_fayuan"))
        .current_dir(env.tmp.path())
        .arg("--pipeline")
        .arg(&env.pipeline)
        .arg("--data-dir")
        .arg(env.data())
        .args(["--as-of", "2025-08-03 10:00", "serve"])
        .env("FAYUAN_WEB_TOKEN", TOKEN)
        .env("FAYUAN_WEB_SECRET", SECRET)
        .env("FAYUAN_LOG", "error")
        .env_remove("FAYUAN_AS_OF")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    support::web::wait_served(port, &mut server, &env.tmp.path().join("none.log"));
    let url = format!(
        "http://127.0.0.1:{port}/u/341522/{}",
        hmac_token(SECRET.as_bytes(), "341522")
    );
    let rt = support::web::rt();
    let kept = (0..20)
        .map(|k| {
            let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 100 + k));
            let start = Instant::now();
            let status = rt.block_on(post_only(&url, "霍邱县_2025-07.csv", csv.into_bytes()));
            let took = start.elapsed();
            assert_eq!(status, 303);
            took
        })
        .collect();
    let shown = (0..20)
        .map(|k| {
            let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 40 + k));
            let start = Instant::now();
            let (status, body) =
                rt.block_on(post_file(&url, "霍邱县_2025-07.csv", csv.into_bytes()));
            let took = start.elapsed();
            assert_eq!(status, 200, "{body}");
            assert!(body.contains("已接收"), "{body}");
            took
        })
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    (kept, shown)
}

fn main() {
    if !dovecot_ready() || !support::smtp::python_ready() {
        println!("SKIPPED: the answers benchmark needs Dovecot and Python with aiosmtpd");
        return;
    }
    println!("| Lu'an, half a year stored, 20 each, one at a time | median | p95 |");
    println!("|---|---|---|");
    let (from_start, from_end, own) = receipts();
    let (m, p) = median_p95(from_start);
    println!("| receipt: APPEND's start → at the SMTP server | {m:.0} ms | {p:.0} ms |");
    let (m, p) = median_p95(from_end);
    println!("| receipt: APPEND's end → at the SMTP server | {m:.0} ms | {p:.0} ms |");
    let (m, p) = median_p95(own);
    println!("| receipt: fayuan's part (IDLE's end → first delivery) | {m:.0} ms | {p:.0} ms |");
    let (kept, shown) = uploads();
    let (m, p) = median_p95(kept);
    println!("| upload → its answer kept (303) | {m:.0} ms | {p:.0} ms |");
    let (m, p) = median_p95(shown);
    println!("| upload → the page showing its answer | {m:.0} ms | {p:.0} ms |");
}
