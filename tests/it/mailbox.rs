//! The mailbox watched and trusted (issue 33), with the real daemon, real Dovecot and aiosmtpd:
//! what waits in the mailbox is read before anyone is judged; a mailbox that cannot be read is
//! told to the staff once (and once on recovery), shown in `status`, and its units are not
//! reminded meanwhile; a server that accepts and never answers does not hold the watcher.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::imap::{
    self, HEADER, HUOQIU, PASSWORD, csv_row, dovecot_ready, message, rfc2231,
};
use crate::support::*;
use std::time::Duration;

fn vars(s: &imap::Setup, password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FAYUAN_IMAP_PASSWORD", password.to_string()),
        (
            "FAYUAN_IMAP_CA_FILE",
            s.imap.ca.to_str().unwrap().to_string(),
        ),
        (
            "FAYUAN_SMTP_URL",
            format!("smtp://127.0.0.1:{}", s.smtp.port),
        ),
    ]
}

fn with<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    v.iter().map(|(k, x)| (*k, x.as_str())).collect()
}

fn june_mail(code: &str) -> Vec<u8> {
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row(code, 6, 40));
    message(
        HUOQIU,
        "霍邱县6月月报",
        "",
        &[(&rfc2231("霍邱县_2025-06.csv"), csv.as_bytes())],
    )
}

fn runs(env: &Env) -> String {
    std::fs::read_to_string(env.data().join("runs/luan-2025.jsonl")).unwrap_or_default()
}

#[test]
fn the_report_made_at_start_counts_the_on_time_mail_that_waited() {
    // The daemon was down over the report hour (6 July 09:00); 霍邱县's June mail reached the
    // server on time (5 July 20:00) and waits unread. Started at 09:30, the daemon reads the
    // mailbox before it builds the report: the digest does not list 霍邱县 as not reported.
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    s.env.drop_samples_except(&[
        "霍邱县_2025-01.csv",
        "霍邱县_2025-02.csv",
        "霍邱县_2025-03.csv",
        "霍邱县_2025-04.csv",
        "霍邱县_2025-05.csv",
        "霍邱县_2025-06.csv",
    ]);
    s.imap
        .deliver_at(&june_mail("341522"), "2025-07-05 20:00 +0800");
    let v = vars(&s, PASSWORD);
    let d = Daemon::start(&s.env, &["--as-of", "2025-07-06 09:30"], &with(&v));
    wait_for("the June report", Duration::from_secs(120), || {
        runs(&s.env).contains("\"job\":\"report\"")
    });
    assert_eq!(d.stop(), 0);
    let digest =
        std::fs::read_to_string(s.env.tmp.path().join("output/luan-2025/2025-06/digest.txt"))
            .unwrap();
    let missing = digest
        .lines()
        .find(|l| l.starts_with("未报送单位："))
        .unwrap_or_else(|| panic!("{digest}"));
    assert!(!missing.contains("霍邱县"), "{missing}");
    assert!(digest.contains("- 霍邱县："), "{digest}");
}

#[test]
fn no_reminder_to_a_unit_whose_mail_waits_and_an_unreadable_mailbox_is_told_once() {
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    // 5 July 09:30, after the day-5 reminder hour: 霍邱县's mail of the 4th waits unread. The
    // daemon reads it before the reminder round: 霍邱县 is not reminded, the others are.
    s.imap
        .deliver_at(&june_mail("341522"), "2025-07-04 15:00 +0800");
    let good = vars(&s, PASSWORD);
    let d = Daemon::start(&s.env, &["--as-of", "2025-07-05 09:30"], &with(&good));
    wait_for("the reminder round", Duration::from_secs(120), || {
        runs(&s.env).contains("\"job\":\"remind\"")
    });
    wait_for("the reminders sent", Duration::from_secs(60), || {
        s.smtp
            .recipients()
            .iter()
            .any(|r| r == "jinzhai@example.gov.cn")
    });
    assert_eq!(d.stop(), 0);
    let to = s.smtp.recipients();
    assert!(to.iter().any(|r| r == "jinzhai@example.gov.cn"), "{to:?}");
    let reminded_huoqiu = s
        .smtp
        .received()
        .iter()
        .any(|(name, bytes)| name.contains(HUOQIU) && mail_subject(bytes).contains("请报送"));
    assert!(!reminded_huoqiu, "霍邱县's mail waited: it is not reminded");

    // Now a wrong password for hours (the daemon's clock fast): one notice to the staff with
    // the cause, status says so, and the day-3 round of August waits for every unit with a
    // registered address; with the password right again, one recovery notice.
    let before = s.smtp.received().len();
    let bad = vars(&s, "not-the-password");
    let d = Daemon::start(
        &s.env,
        &["--as-of", "2025-08-02 20:00", "--clock-rate", "600"],
        &with(&bad),
    );
    let now = || {
        std::fs::read_to_string(s.env.data().join("daemon/heartbeat.json"))
            .ok()
            .and_then(|t| {
                let v: serde_json::Value = serde_json::from_str(&t).ok()?;
                fayuan::period::parse_instant(v["at"].as_str()?)
            })
    };
    let past = |t: &str| {
        let t = fayuan::period::parse_instant(t).unwrap();
        move || now().is_some_and(|n| n >= t)
    };
    wait_for(
        "3 August 09:30",
        Duration::from_secs(150),
        past("2025-08-03 09:30"),
    );
    let st = s
        .env
        .run_env(&["--as-of", "2025-08-03 09:30", "status"], &with(&bad));
    assert!(
        // (Dovecot answers a wrong password after a pause: minutes on this clock.)
        st.stdout
            .contains("邮箱 data（data@example.gov.cn）：自 2025-08-02 2")
            && st.stdout.contains("起无法读取（登录失败"),
        "{}",
        st.stdout
    );
    assert_eq!(d.stop(), 0);
    let staff_notices = |word: &str| {
        s.smtp
            .received()
            .iter()
            .skip(before)
            .filter(|(name, bytes)| {
                name.contains("data-staff@example.gov.cn") && mail_subject(bytes).contains(word)
            })
            .count()
    };
    assert_eq!(staff_notices("邮箱 data 无法读取"), 1);
    // No reminder went to a unit in August (each has a registered address).
    let reminders = s
        .smtp
        .received()
        .iter()
        .skip(before)
        .filter(|(_, bytes)| mail_subject(bytes).contains("请报送"))
        .count();
    assert_eq!(reminders, 0);
    let log = runs(&s.env);
    assert!(log.contains("催报暂缓（邮箱 data 自 2025-08-02 2"), "{log}");
    // The password right again: one recovery notice.
    let d = Daemon::start(
        &s.env,
        &["--as-of", "2025-08-03 10:00", "--clock-rate", "600"],
        &with(&good),
    );
    wait_for("the recovery notice", Duration::from_secs(120), || {
        staff_notices("邮箱 data 已恢复读取") == 1
    });
    assert_eq!(d.stop(), 0);
    assert_eq!(staff_notices("邮箱 data 无法读取"), 1, "told once");
}

fn mail_subject(bytes: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(bytes)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn a_mailbox_server_that_never_answers_is_dropped_and_tried_again() {
    // A "server" that accepts connections and never says a word: `fayuan ingest` gives up on it
    // within its timeout and says why; status shows the mailbox as unreadable.
    if !dovecot_ready() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for c in listener.incoming().flatten() {
            open.push(c); // accepted, never answered
        }
    });
    let s = imap::setup_with(
        move |_| format!("imaps://127.0.0.1:{port}"),
        "done_folder = \"fayuan-processed\"\ntimeout_seconds = 3\n",
    );
    let started = std::time::Instant::now();
    let r = s.ingest("2025-08-03 10:00");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("no answer within 3 s"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let st = s.env.run(&["--as-of", "2025-08-03 10:05", "status"]);
    assert!(
        st.stdout.contains("起无法读取（服务器无响应"),
        "{}",
        st.stdout
    );
}

/// A mail server that accepts connections and never says a word, until `stop` is set.
fn tarpit(
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            match listener.accept() {
                Ok((c, _)) => held.push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })
}

#[test]
fn a_mail_server_that_never_answers_does_not_stall_reports_and_every_receipt_goes_once() {
    // Issue 33 §5: four county mails come in while the SMTP server accepts and never answers
    // (each receipt's send waits its 10 s timeout). Receipts are sent without the write lock,
    // so a report made meanwhile (with lock_wait_seconds 5) is not Busy; when the server
    // answers again, every receipt reaches each recipient once.
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    let text = std::fs::read_to_string(&s.env.pipeline)
        .unwrap()
        .replace("lock_wait_seconds = 60", "lock_wait_seconds = 5");
    std::fs::write(&s.env.pipeline, text).unwrap();
    s.env.drop_samples_except(&[]);
    let port = crate::support::smtp::free_port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pit = tarpit(port, stop.clone());
    let mut v = vars(&s, PASSWORD);
    v.retain(|(k, _)| *k != "FAYUAN_SMTP_URL");
    v.push(("FAYUAN_SMTP_URL", format!("smtp://127.0.0.1:{port}")));
    let d = Daemon::start(
        &s.env,
        &["--as-of", "2025-08-03 10:00", "--clock-rate", "60"],
        &with(&v),
    );
    for month in [3, 4, 5, 7] {
        let csv = format!(
            "{HEADER}\r\n{}\r\n",
            csv_row("341522", month, 30 + month as i64)
        );
        s.imap.deliver(&message(
            HUOQIU,
            &format!("霍邱县{month}月"),
            "",
            &[(
                &rfc2231(&format!("霍邱县_2025-{month:02}.csv")),
                csv.as_bytes(),
            )],
        ));
    }
    // The watcher is at work (a receipt's send hangs); a report is asked for meanwhile.
    wait_for("a mail taken", Duration::from_secs(60), || {
        std::fs::read_to_string(s.env.data().join("mail/data/ledger.jsonl"))
            .is_ok_and(|t| t.contains("\"step\":\"archived\""))
    });
    let started = std::time::Instant::now();
    let r = s.env.run_env(
        &[
            "--as-of",
            "2025-08-03 10:30",
            "run",
            "--period",
            "2025-06",
            "--no-email",
        ],
        &with(&v),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The server answers again: every receipt once, to the sender and the unit's other address.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    pit.join().unwrap();
    let smtp =
        crate::support::smtp::Server::start("smtp", port, &s.env.tmp.path().join("mail-up"), &[]);
    wait_for(
        "four receipts to two people",
        Duration::from_secs(120),
        || smtp.recipients().len() >= 8,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.stop(), 0);
    let mut got: Vec<(String, String)> = smtp
        .received()
        .iter()
        .map(|(name, bytes)| {
            (
                name.split_once('-').unwrap().1.to_string(),
                mail_subject(bytes),
            )
        })
        .filter(|(_, subject)| subject.starts_with("回执"))
        .collect();
    got.sort();
    let before = got.len();
    got.dedup();
    assert_eq!(before, got.len(), "a receipt twice: {got:?}");
    assert_eq!(got.len(), 8, "{got:?}");
}
