//! Email-in under real conditions: a mail sent before the deadline and taken after it, two mails
//! a second apart, a poison mail, a new UIDVALIDITY after a kill, a server that hangs up.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::imap::{self, HEADER, HUOQIU, csv_row, dovecot_ready, rfc2231};
use crate::support::outbox::*;
use crate::support::smtp::{pipeline, python_ready};
use crate::support::*;
use std::time::{Duration, Instant};

/// A county mail sent before the deadline (the server's INTERNALDATE) but processed after it
/// (the daemon was down) is on time.
#[test]
fn a_mail_sent_before_the_deadline_and_taken_after_it_is_on_time() {
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 6, 40));
    s.imap.deliver_at(
        &imap::message(
            HUOQIU,
            "霍邱县6月",
            "",
            &[(&rfc2231("霍邱县_2025-06.csv"), csv.as_bytes())],
        ),
        "2025-07-04 10:00 +0800",
    );
    // The deadline is the end of 5 July; fayuan looks on the 8th.
    let r = s.ingest("2025-07-08 09:00");
    assert!(r.stdout.contains("回执 1 封"), "{}{}", r.stdout, r.stderr);
    let st = s.env.run(&[
        "--as-of",
        "2025-07-08 09:05",
        "status",
        "--period",
        "2025-06",
    ]);
    assert!(
        st.stdout
            .contains("341522 霍邱县  已报送  第1版  收到 2025-07-04 10:00"),
        "{}",
        st.stdout
    );
    // A later INTERNALDATE than now is taken as now (a server clock ahead is not believed).
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 5, 30));
    s.imap.deliver_at(
        &imap::message(
            HUOQIU,
            "霍邱县5月",
            "",
            &[(&rfc2231("霍邱县_2025-05.csv"), csv.as_bytes())],
        ),
        "2025-07-20 10:00 +0800",
    );
    let r = s.ingest("2025-07-09 09:00");
    assert!(r.stdout.contains("回执 1 封"), "{}{}", r.stdout, r.stderr);
    let st = s.env.run(&[
        "--as-of",
        "2025-07-09 09:05",
        "status",
        "--period",
        "2025-05",
    ]);
    assert!(
        st.stdout
            .contains("341522 霍邱县  已报送（逾期）  第1版  收到 2025-07-09 09:00"),
        "{}",
        st.stdout
    );
}

/// Two county mails a second apart, with the default `poll_seconds` (300): both are answered
/// within a minute (the second came while the first was handled).
#[test]
fn two_mails_a_second_apart_are_both_answered_within_a_minute() {
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    let vars = mailbox_vars(&s, &format!("smtp://127.0.0.1:{}", s.smtp.port));
    let d = Daemon::start(&s.env, &["--as-of", "2025-08-03 10:00"], &with(&vars, &[]));
    // Connected and idle on an empty mailbox first.
    wait_for("the mailbox", Duration::from_secs(30), || {
        std::fs::read_to_string(s.env.tmp.path().join("daemon.log"))
            .is_ok_and(|l| l.contains("mailbox connected"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let start = Instant::now();
    for (code, unit, cases) in [("341522", "霍邱县", 40), ("341524", "金寨县", 20)] {
        let csv = format!("{HEADER}\r\n{}\r\n", csv_row(code, 7, cases));
        let from = if code == "341522" {
            HUOQIU
        } else {
            "jinzhai@example.gov.cn"
        };
        s.imap.deliver(&imap::message(
            from,
            &format!("{unit}7月"),
            "",
            &[(&rfc2231(&format!("{unit}_2025-07.csv")), csv.as_bytes())],
        ));
        std::thread::sleep(Duration::from_secs(1));
    }
    wait_for("both receipts", Duration::from_secs(60), || {
        s.receipts()
            .iter()
            .filter(|r| r.1.starts_with("回执："))
            .count()
            >= 3
    });
    assert!(start.elapsed() < Duration::from_secs(61));
    assert_eq!(d.stop(), 0);
    exactly_once(&s.smtp);
    assert_eq!(latest_rows(&s.env.store()).len(), 2);
}

/// A message whose handling fails (here: it panics, as a message no code path expected would) is
/// tried three times, then held with a notice to the staff; the mail behind it is not held up.
#[test]
fn a_poison_mail_is_held_after_three_failures_and_the_mailbox_moves_on() {
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    let csv = |code: &str, cases: i64| {
        format!("{HEADER}\r\n{}\r\n", csv_row(code, 7, cases)).into_bytes()
    };
    s.imap.deliver(&imap::message(
        HUOQIU,
        "霍邱县7月（坏）",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), &csv("341522", 30))],
    ));
    s.imap.deliver(&imap::message(
        "jinzhai@example.gov.cn",
        "金寨县7月",
        "",
        &[(&rfc2231("金寨县_2025-07.csv"), &csv("341524", 20))],
    ));
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let vars = mailbox_vars(&s, &url);
    // Each look: the first message handled (the bad one, lowest UID) panics.
    for (k, at) in ["2025-08-03 10:00", "2025-08-03 10:10", "2025-08-03 10:20"]
        .into_iter()
        .enumerate()
    {
        let r = s.env.run_env(
            &["--as-of", at, "ingest"],
            &with(&vars, &[("FAYUAN_TEST_FAULT", "panic@mail-poison#1")]),
        );
        assert_eq!(r.code, 0, "{k}: {}{}", r.stdout, r.stderr);
        if k == 0 {
            assert!(
                r.stdout.contains("新邮件 2 封，回执 1 封，转人工 0 封"),
                "{}",
                r.stdout
            );
            let st = s.env.run(&["--as-of", at, "status"]);
            assert!(
                st.stdout
                    .contains("1 封处理失败，等待重试（失败 3 次即转人工）"),
                "{}",
                st.stdout
            );
        }
    }
    assert_eq!(s.imap.count("fayuan-held"), 1);
    assert_eq!(s.imap.count("fayuan-processed"), 1);
    assert_eq!(s.imap.count("INBOX"), 0);
    let got = s.receipts();
    let staff: Vec<_> = got.iter().filter(|g| g.0 == STAFF).collect();
    assert_eq!(staff.len(), 1, "{got:?}");
    assert!(
        staff[0].2.contains("处理失败 3 次") && staff[0].2.contains("霍邱县7月（坏）"),
        "{}",
        staff[0].2
    );
    // No receipt to 霍邱县 (its message is with the staff); 金寨县 answered once.
    assert!(got.iter().all(|g| g.0 != HUOQIU));
    assert_eq!(
        got.iter()
            .filter(|g| g.0 == "jinzhai@example.gov.cn")
            .count(),
        1
    );
    // Nothing more on the next look.
    let r = s.env.run_env(
        &["--as-of", "2025-08-03 10:30", "ingest"],
        &with(&vars, &[]),
    );
    assert!(r.stdout.contains("新邮件 0 封"), "{}", r.stdout);
}

/// Killed after the receipt went out but before the message was moved, then the server renumbers
/// its messages (a new UIDVALIDITY): the message is recognised by its bytes — no second file, no
/// second receipt calling it a duplicate.
#[test]
fn a_new_uidvalidity_after_a_kill_answers_nothing_twice() {
    if !dovecot_ready() {
        return;
    }
    let mut s = imap::setup();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 33));
    s.imap.deliver(&imap::message(
        HUOQIU,
        "霍邱县7月",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
    ));
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let vars = mailbox_vars(&s, &url);
    let r = s.env.run_env(
        &["--as-of", "2025-08-03 10:00", "ingest"],
        &with(&vars, &[("FAYUAN_TEST_FAULT", "crash@mail-delivered")]),
    );
    assert_eq!(r.code, -1, "{}{}", r.stdout, r.stderr);
    assert_eq!(s.receipts().len(), 2, "the receipt went out");
    assert_eq!(s.imap.count("INBOX"), 1, "not moved");
    let before = s.imap.tool(&["validity", "INBOX"]);
    s.imap.renumber();
    assert_ne!(
        s.imap.tool(&["validity", "INBOX"]),
        before,
        "a new UIDVALIDITY"
    );
    let r = s.ingest("2025-08-03 10:10");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        s.receipts().len(),
        2,
        "no second receipt: {:?}",
        s.receipts()
    );
    assert_eq!(s.imap.count("INBOX"), 0);
    assert_eq!(s.imap.count("fayuan-processed"), 1);
    let files = s.env.store().files().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].outcome, fayuan::store::Outcome::Accepted);
}

/// Found by the simulation: a daemon writing to a mail server that closed the connection must
/// not die of SIGPIPE (the daemon "exited by itself" twice in a quarter). A server that accepts
/// and closes at once, then a real one: the daemon lives on and delivers.
#[test]
fn a_mail_server_that_hangs_up_does_not_end_the_daemon() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    // A "server" that greets, reads a line and hangs up, over and over.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rude = std::thread::spawn(move || {
        use std::io::{Read, Write};
        listener.set_nonblocking(false).unwrap();
        for c in listener.incoming().take(20) {
            let Ok(mut c) = c else { continue };
            let _ = c.write_all(b"220 rude.example ESMTP\r\n");
            let mut b = [0u8; 64];
            let _ = c.read(&mut b);
        }
    });
    let vars = smtp_env(&format!("smtp://127.0.0.1:{port}"));
    let mut d = Daemon::start(&env, &["--as-of", "2025-07-06 09:05"], &with(&vars, &[]));
    wait_for("a failed delivery", Duration::from_secs(60), || {
        std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl"))
            .is_ok_and(|l| l.contains("\"job\":\"deliver\",\"ok\":false"))
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !d.exited(),
        "the daemon died: {}",
        std::fs::read_to_string(env.tmp.path().join("daemon.log")).unwrap_or_default()
    );
    assert_eq!(d.stop(), 0);
    drop(rude);
}
