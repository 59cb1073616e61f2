//! Issue 20: nothing jams, nothing vanishes. The outbox, the ledgers, email-in and the web pages
//! tried as an operator would: kill -9 at chosen points, a full disk, a mail server down for two
//! days or refusing for good, a thousand idle connections — against the real binary and the real
//! servers (aiosmtpd, Dovecot). Every count below is worked out from what the test itself sent.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::imap::{self, HEADER, HUOQIU, PASSWORD, csv_row, dovecot_ready, rfc2231};
use crate::support::smtp::{Server, free_port, pipeline, python_ready};
use crate::support::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const LEADER: &str = "leader@example.gov.cn";
const STAFF: &str = "data-staff@example.gov.cn";

/// One message as an SMTP server received it: (recipient, Message-ID, subject, the whole message).
type Received = (String, String, String, Vec<u8>);

/// What an SMTP server received.
fn delivered(server: &Server) -> Vec<Received> {
    server
        .received()
        .into_iter()
        .map(|(file, raw)| {
            let rcpt = file[4..file.len() - 4].to_string();
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            (
                rcpt,
                m.message_id().unwrap_or("").to_string(),
                m.subject().unwrap_or("").to_string(),
                raw.clone(),
            )
        })
        .collect()
}

/// How many times each (recipient, Message-ID) was delivered; every value must be 1.
fn copies(server: &Server) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (r, id, _, _) in delivered(server) {
        *out.entry((r, id)).or_default() += 1;
    }
    out
}

fn exactly_once(server: &Server) {
    let twice: Vec<_> = copies(server)
        .into_iter()
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

fn ledger_text(env: &Env) -> String {
    std::fs::read_to_string(env.data().join("deliveries/luan-2025.jsonl")).unwrap_or_default()
}

fn smtp_env(url: &str) -> Vec<(&'static str, String)> {
    vec![("FAYUAN_SMTP_URL", url.to_string())]
}

fn with<'a>(
    vars: &'a [(&'static str, String)],
    more: &[(&'static str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    vars.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

/// Killed between the outbox and the ledger: the digest's folder is fayuan's own leftover, made
/// again by the next run; the digest reaches each recipient once and `--force` still works.
#[test]
fn a_digest_killed_between_outbox_and_ledger_is_sent_once_later() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    let server = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let vars = smtp_env(&format!("smtp://127.0.0.1:{}", server.port));
    let args = ["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"];
    let r = env.run_env(
        &args,
        &with(&vars, &[("FAYUAN_TEST_FAULT", "crash@outbox-written")]),
    );
    assert_eq!(r.code, -1, "killed: {}{}", r.stdout, r.stderr);
    assert!(
        env.data()
            .join("outbox/luan-2025/2025-06/2025-06-01/message.eml")
            .exists()
    );
    assert!(
        !ledger_text(&env).contains("\"created\""),
        "{}",
        ledger_text(&env)
    );
    assert!(server.received().is_empty());
    // Again, as a person would: the leftover is replaced, the digest made and sent.
    let r = env.run_env(&args, &with(&vars, &[]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.received().len(), 2);
    let r = env.run_env(
        &[
            "--as-of",
            "2025-07-06 09:30",
            "run",
            "--period",
            "2025-06",
            "--force",
        ],
        &with(&vars, &[]),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.received().len(), 4);
    exactly_once(&server);
    let ids: std::collections::BTreeSet<String> =
        delivered(&server).into_iter().map(|d| d.1).collect();
    assert_eq!(ids.len(), 2, "two digests: {ids:?}");
}

/// A reminder round killed between the outbox and the ledger: the daemon, started again, reminds
/// every unit once.
#[test]
fn reminders_killed_between_outbox_and_ledger_go_once_after_a_restart() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    // Five units have reported June; 霍山县, 舒城县 and 金寨县 have not.
    env.drop_samples_except(&[
        "霍山县_2025-06.xlsx",
        "舒城县_2025-06.csv",
        "金寨县_2025-06.csv",
    ]);
    assert_eq!(env.run(&["--as-of", "2025-07-02 10:00", "ingest"]).code, 0);
    let server = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let vars = smtp_env(&format!("smtp://127.0.0.1:{}", server.port));
    // The second reminder's files are written, then the process dies.
    let mut d = Daemon::start(
        &env,
        &["--as-of", "2025-07-03 09:00:30"],
        &with(&vars, &[("FAYUAN_TEST_FAULT", "crash@outbox-written#2")]),
    );
    wait_for("the kill", Duration::from_secs(60), || d.exited());
    let d = Daemon::start(&env, &["--as-of", "2025-07-03 09:01"], &with(&vars, &[]));
    wait_for("the reminders", Duration::from_secs(60), || {
        server.received().len() >= 6
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.stop(), 0);
    exactly_once(&server);
    let mut to: Vec<String> = delivered(&server).into_iter().map(|d| d.0).collect();
    to.sort();
    assert_eq!(
        to,
        [
            STAFF,
            STAFF,
            STAFF,
            "huoshan@example.gov.cn",
            "jinzhai@example.gov.cn",
            "shucheng@example.gov.cn",
        ]
    );
}

/// A receipt killed between the outbox and the ledger: the mailbox does not jam. The same message
/// is answered once after the restart, and a second county mail goes through.
#[test]
fn a_receipt_killed_between_outbox_and_ledger_does_not_jam_the_mailbox() {
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 33));
    s.imap.deliver(&imap::message(
        HUOQIU,
        "霍邱县7月",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
    ));
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let ca = s.imap.ca.to_str().unwrap().to_string();
    let vars = [
        ("FAYUAN_IMAP_PASSWORD", PASSWORD),
        ("FAYUAN_IMAP_CA_FILE", ca.as_str()),
        ("FAYUAN_SMTP_URL", url.as_str()),
    ];
    let mut killed = vars.to_vec();
    killed.push(("FAYUAN_TEST_FAULT", "crash@outbox-written"));
    let r = s
        .env
        .run_env(&["--as-of", "2025-08-03 10:00", "ingest"], &killed);
    assert_eq!(r.code, -1, "{}{}", r.stdout, r.stderr);
    assert!(s.receipts().is_empty());
    // A second county mail arrives meanwhile.
    let csv2 = format!("{HEADER}\r\n{}\r\n", csv_row("341524", 7, 20));
    let second = imap::message(
        "jinzhai@example.gov.cn",
        "金寨县7月",
        "",
        &[(&rfc2231("金寨县_2025-07.csv"), csv2.as_bytes())],
    );
    s.imap.deliver(&second);
    let r = s.ingest("2025-08-03 10:05");
    assert!(
        r.stdout.contains("新邮件 2 封，回执 2 封"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let got = s.receipts();
    // 霍邱县's receipt to its two addresses, 金寨县's to its one: once each.
    let mut to: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    to.sort();
    assert_eq!(
        to,
        ["huoqiu-2@example.gov.cn", HUOQIU, "jinzhai@example.gov.cn"]
    );
    exactly_once(&s.smtp);
    assert_eq!(s.imap.count("fayuan-processed"), 2);
    assert_eq!(latest_rows(&s.env.store()).len(), 2);
}

/// A ledger line torn by a full disk (the fault point writes half the record, then fails as a
/// full disk does): the next record is not glued to it, nothing is lost, each recipient gets
/// the digest once.
#[test]
fn a_torn_ledger_line_swallows_nothing() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    let server = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let vars = smtp_env(&format!("smtp://127.0.0.1:{}", server.port));
    // The 2nd append to the delivery ledger is the leader's `attempt`: torn, nothing sent.
    let args = ["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"];
    let r = env.run_env(
        &args,
        &with(&vars, &[("FAYUAN_TEST_FAULT", "torn@append-deliveries#2")]),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    let text = ledger_text(&env);
    assert!(!text.ends_with('\n'), "torn: {text}");
    assert!(server.received().is_empty());
    let r = env.run_env(&["--as-of", "2025-07-06 09:10", "send"], &with(&vars, &[]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.received().len(), 2);
    exactly_once(&server);
    // Every whole line reads; the fragment stands alone on its line.
    let text = ledger_text(&env);
    let unreadable: Vec<&str> = text
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .collect();
    assert_eq!(unreadable.len(), 1, "{text}");
    assert_eq!(text.matches("\"event\":\"sent\"").count(), 2, "{text}");
    let r = env.run_env(&["--as-of", "2025-07-06 09:20", "send"], &with(&vars, &[]));
    assert!(r.stdout.contains("没有待发送的邮件"), "{}", r.stdout);
    assert_eq!(server.received().len(), 2);
}

/// The disk really full (a tmpfs) while the digest is put into the outbox: the run fails; once
/// there is room, the next run sends it, once to each.
#[test]
fn a_real_full_disk_while_queueing_loses_nothing() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    let data = env.data();
    std::fs::create_dir_all(&data).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        skipped(
            "a_real_full_disk_while_queueing_loses_nothing",
            "root, to mount an 8 MB tmpfs",
            "run the tests as root, as CI does",
        );
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(data.clone());
    env.drop_samples_except(&[]);
    assert_eq!(env.run(&["--as-of", "2025-07-05 10:00", "ingest"]).code, 0);
    let server = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    let vars = smtp_env(&format!("smtp://127.0.0.1:{}", server.port));
    // Leave 16 KB: the digest (a workbook attached, well over 16 KB) cannot be kept.
    let filler = data.join("filler");
    let free = free_bytes(&data);
    std::fs::write(&filler, vec![0u8; (free - 16_384) as usize]).unwrap();
    let args = ["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"];
    let r = env.run_env(&args, &with(&vars, &[]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    assert!(server.received().is_empty());
    std::fs::remove_file(&filler).unwrap();
    let r = env.run_env(&args, &with(&vars, &[]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.received().len(), 2);
    exactly_once(&server);
    let temps: Vec<_> = env
        .files_under("outbox")
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

pub fn free_bytes(path: &Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A message that cannot be delivered for three days is given up, and the staff get one notice
/// listing it; `status` says so. A later round gives nothing up twice.
#[test]
fn a_message_undelivered_for_give_up_hours_is_told_once() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    let port = free_port();
    let vars = smtp_env(&format!("smtp://127.0.0.1:{port}"));
    let r = env.run_env(
        &["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"],
        &with(&vars, &[]),
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // 71 hours on: still tried, not given up.
    let r = env.run_env(&["--as-of", "2025-07-09 08:00", "send"], &with(&vars, &[]));
    assert_eq!(r.code, 1);
    assert!(!ledger_text(&env).contains("gaveup"));
    let st = env.run_env(
        &[
            "--as-of",
            "2025-07-09 08:00",
            "status",
            "--period",
            "2025-06",
        ],
        &with(&vars, &[]),
    );
    assert!(
        st.stdout
            .contains("摘要邮件（2025-06-01）→ leader@example.gov.cn：已等待 2 天 23 小时"),
        "{}",
        st.stdout
    );
    // 73 hours on: both recipients given up; one notice to the staff (which waits in turn).
    let r = env.run_env(&["--as-of", "2025-07-09 10:00", "send"], &with(&vars, &[]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(
            "已停止重试：摘要邮件（2025-06-01）→ leader@example.gov.cn：超过 72 小时仍未送达"
        ),
        "{}",
        r.stdout
    );
    let text = ledger_text(&env);
    assert_eq!(text.matches("\"event\":\"gaveup\"").count(), 2, "{text}");
    let notices: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"notice\""))
        .collect();
    assert_eq!(notices.len(), 1, "{text}");
    let st = env.run_env(
        &[
            "--as-of",
            "2025-07-09 10:05",
            "status",
            "--period",
            "2025-06",
        ],
        &with(&vars, &[]),
    );
    assert!(
        st.stdout
            .contains("已送达 0/2；未送达 leader@example.gov.cn（已停止重试）"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout
            .contains("近 30 天未能送达、已停止重试的邮件 2 封"),
        "{}",
        st.stdout
    );
    // The server stays down three more days: the notice about the failure is not given up by
    // that same failure (issue 33 §4) — it waits for the server like any message.
    let r = env.run_env(&["--as-of", "2025-07-12 12:00", "send"], &with(&vars, &[]));
    assert_eq!(r.code, 1);
    assert_eq!(
        ledger_text(&env).matches("\"event\":\"gaveup\"").count(),
        2,
        "{}",
        ledger_text(&env)
    );
    // The server comes back: the notice goes to the staff; the digest is not sent by itself.
    let server = Server::start("smtp", port, &env.tmp.path().join("mail"), &[]);
    let r = env.run_env(&["--as-of", "2025-07-12 13:00", "send"], &with(&vars, &[]));
    let got = delivered(&server);
    assert_eq!(got.len(), 1, "{}", r.stdout);
    assert_eq!(got[0].0, STAFF);
    assert_eq!(got[0].2, "【法律援助民生实事】有邮件未能正常送达");
    let body = mail_parser::MessageParser::default()
        .parse(&got[0].3)
        .unwrap()
        .body_text(0)
        .unwrap()
        .to_string();
    assert!(
        body.contains("摘要邮件（2025-06-01）") && body.contains(LEADER) && body.contains(STAFF),
        "{body}"
    );
    assert_eq!(ledger_text(&env).matches("\"kind\":\"notice\"").count(), 1);
}

/// A server that refuses the digest as too large (552): it is sent once more without the
/// workbook, saying where the workbook is; the staff get one notice. Never tried again.
#[test]
fn a_digest_refused_as_too_large_goes_once_without_its_workbook() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    // The June digest is about 120 KB with its workbook (44 KB, base64) and 60 KB without (the
    // chart and the bodies); the server takes 80 KB.
    let server = Server::start(
        "smtp",
        free_port(),
        &env.tmp.path().join("mail"),
        &["--max-size", "80000"],
    );
    let vars = smtp_env(&format!("smtp://127.0.0.1:{}", server.port));
    let r = env.run_env(
        &["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"],
        &with(&vars, &[]),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("附件过大被拒收，已改为不带工作簿发送"),
        "{}",
        r.stdout
    );
    let got = delivered(&server);
    let digests: Vec<_> = got
        .iter()
        .filter(|g| g.2.contains("2025年6月汇总"))
        .collect();
    assert_eq!(
        digests.len(),
        2,
        "{:?}",
        got.iter().map(|g| (&g.0, &g.2)).collect::<Vec<_>>()
    );
    for d in &digests {
        let m = mail_parser::MessageParser::default().parse(&d.3).unwrap();
        assert_eq!(
            m.attachments()
                .filter(|a| mail_parser::MimeHeaders::attachment_name(*a)
                    .is_some_and(|n| n.ends_with(".xlsx")))
                .count(),
            0
        );
        let text = m.body_text(0).unwrap();
        assert!(
            text.starts_with("邮件服务器拒收了带工作簿的邮件（邮件过大）"),
            "{text}"
        );
        assert!(
            text.contains("output/luan-2025/2025-06/六安市法律援助民生实事汇总_2025-06.xlsx"),
            "{text}"
        );
    }
    let notices: Vec<_> = got
        .iter()
        .filter(|g| g.2.contains("有邮件未能正常送达"))
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].0, STAFF);
    // A later round (the daemon's, or a person's) sends nothing again.
    let r = env.run_env(&["--as-of", "2025-07-06 10:00", "send"], &with(&vars, &[]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(server.received().len(), 3);
    exactly_once(&server);
    let text = ledger_text(&env);
    assert_eq!(text.matches("\"detail\":\"small\"").count(), 2, "{text}");
}

/// The daemon's own "now", from its heartbeat (written at every wake-up).
fn daemon_now(env: &Env) -> Option<chrono::DateTime<chrono_tz::Tz>> {
    let b = std::fs::read(env.data().join("daemon/heartbeat.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
    fayuan::period::parse_instant(v["at"].as_str()?)
}

fn mailbox_vars(s: &imap::Setup, smtp_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FAYUAN_IMAP_PASSWORD", PASSWORD.to_string()),
        (
            "FAYUAN_IMAP_CA_FILE",
            s.imap.ca.to_str().unwrap().to_string(),
        ),
        ("FAYUAN_SMTP_URL", smtp_url.to_string()),
    ]
}

/// The mail server down for two days (the daemon's clock run fast, 5,000 s a second) across a
/// reminder round, a county's mail and the report day, then up: every reminder, the receipt and
/// the digest reach each recipient exactly once, the staff get one failure notice and one
/// recovery notice, and `status` listed what waited while it waited.
#[test]
fn smtp_down_for_two_days_then_everything_once_and_one_notice_each_way() {
    if !dovecot_ready() {
        return;
    }
    let s = imap::setup();
    let port = free_port();
    let vars = mailbox_vars(&s, &format!("smtp://127.0.0.1:{port}"));
    let d = Daemon::start(
        &s.env,
        &["--as-of", "2025-07-04 09:30", "--clock-rate", "5000"],
        &with(&vars, &[]),
    );
    let env = &s.env;
    let past = |t: &str| {
        let t = fayuan::period::parse_instant(t).unwrap();
        move || daemon_now(env).is_some_and(|n| n >= t)
    };
    // 霍邱县 sends June on the 4th, before the reminder round of the 5th.
    wait_for(
        "4 July 15:00",
        Duration::from_secs(60),
        past("2025-07-04 15:00"),
    );
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 6, 40));
    s.imap.deliver_at(
        &imap::message(
            HUOQIU,
            "霍邱县6月",
            "",
            &[(&rfc2231("霍邱县_2025-06.csv"), csv.as_bytes())],
        ),
        "2025-07-04 15:00 +0800",
    );
    wait_for(
        "the report day",
        Duration::from_secs(90),
        past("2025-07-06 09:30"),
    );
    // Waiting: the reminders of the 5th (7 units: 霍邱县 had sent), each to the unit's contact
    // and the staff; the receipt to 霍邱县's two addresses; the digest to leader and staff; the
    // failure notice to the staff: 14 + 2 + 2 + 1.
    let now = fayuan::period::instant_text(&daemon_now(env).unwrap());
    let st = s.env.run_env(
        &["--as-of", &now, "status", "--period", "2025-06"],
        &with(&vars, &[]),
    );
    assert!(
        st.stdout.contains("发件箱：19 封（收件人）待发送"),
        "{}",
        st.stdout
    );
    assert!(st.stdout.contains("回执（receipt-data-"), "{}", st.stdout);
    assert!(
        st.stdout
            .contains("最近错误：Connection error: Connection refused"),
        "{}",
        st.stdout
    );
    assert_eq!(s.imap.count("fayuan-processed"), 1);
    let smtp = Server::start("smtp", port, &s.env.tmp.path().join("mail-up"), &[]);
    wait_for("everything delivered", Duration::from_secs(90), || {
        smtp.received().len() >= 20
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.stop(), 0);
    exactly_once(&smtp);
    let got = delivered(&smtp);
    let count = |pred: &dyn Fn(&Received) -> bool| got.iter().filter(|g| pred(g)).count();
    assert_eq!(
        count(&|g| g.2.contains("请报送") && g.2.contains("2025年6月")),
        14
    );
    assert_eq!(count(&|g| g.2.contains("请报送") && g.0 == STAFF), 7);
    assert_eq!(
        count(&|g| g.2.contains("请报送霍邱县")),
        0,
        "霍邱县 had sent"
    );
    assert_eq!(count(&|g| g.2 == "回执：霍邱县6月"), 2);
    assert_eq!(count(&|g| g.2.contains("2025年6月汇总")), 2);
    assert_eq!(count(&|g| g.2.contains("定时任务失败：deliver")), 1);
    assert_eq!(count(&|g| g.2.contains("定时任务已恢复：deliver")), 1);
    assert_eq!(
        got.len(),
        20,
        "{:?}",
        got.iter().map(|g| (&g.0, &g.2)).collect::<Vec<_>>()
    );
    // The receipt is in the county's thread.
    let receipt = got.iter().find(|g| g.2 == "回执：霍邱县6月").unwrap();
    assert!(String::from_utf8_lossy(&receipt.3).contains("In-Reply-To: <t"));
    let st = s.env.run_env(
        &[
            "--as-of",
            "2025-07-07 12:00",
            "status",
            "--period",
            "2025-06",
        ],
        &with(&vars, &[]),
    );
    assert!(
        st.stdout.contains("发件箱：没有待发送的邮件"),
        "{}",
        st.stdout
    );
    // 霍邱县's June: sent (INTERNALDATE) on the 4th.
    assert!(
        st.stdout
            .contains("341522 霍邱县  已报送  第1版  收到 2025-07-04 15:00"),
        "{}",
        st.stdout
    );
}

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

const TOKEN: &str = "bureau-token-for-tests-0123456789";
const SECRET: &str = "server-secret-for-tests-0123456789";

/// `fayuan serve` on its own port, with `args` before `serve` (none: the real clock).
struct Served {
    env: Env,
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(args: &[&str], web: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = pipeline(dir.path(), &[]);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n{web}"));
        std::fs::write(&path, text).unwrap();
        let env = Env::with_pipeline(&path);
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_fayuan"))
            .current_dir(env.tmp.path())
            .arg("--pipeline")
            .arg(&env.pipeline)
            .arg("--data-dir")
            .arg(env.data())
            .args(args)
            .arg("serve")
            .env("FAYUAN_WEB_TOKEN", TOKEN)
            .env("FAYUAN_WEB_SECRET", SECRET)
            .env("FAYUAN_LOG", "info")
            .env_remove("FAYUAN_AS_OF")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(
                std::fs::File::create(env.tmp.path().join("serve.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "not served");
            std::thread::sleep(Duration::from_millis(50));
        }
        Served {
            env,
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A county's page, its link derived here with an HMAC of our own (not fayuan's function).
    fn county(&self, code: &str) -> String {
        self.url(&format!(
            "/u/{code}/{}",
            hmac_token(SECRET.as_bytes(), code)
        ))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

pub async fn post_file(url: &str, name: &str, bytes: Vec<u8>) -> (u16, String) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let r = reqwest::Client::new()
        .post(url)
        .multipart(form)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `serve` on the real clock: an upload arrives when it is made. Fifty uploads at once are all
/// answered (no 5xx), all kept, each taken exactly once, in the order they came.
#[test]
fn fifty_uploads_at_once_are_all_answered_kept_and_taken_once() {
    let s = Served::start(&[], "");
    let rt = runtime();
    let before = chrono::Utc::now();
    let url = s.county("341522");
    let answers: Vec<(u16, String)> = rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|k| {
                let url = url.clone();
                // Fifty different files of 霍邱县's July (the cases differ), as fifty clerks might.
                let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 10 + k));
                tokio::spawn(async move {
                    post_file(&url, &format!("霍邱县_7月_{k}.csv"), csv.into_bytes()).await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let after = chrono::Utc::now();
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, vec![200; 50]);
    // Each answer names the version its file became: fifty uploads of one month, fifty
    // different versions, 1 to 50.
    let mut versions = Vec::new();
    for (k, (_, body)) in answers.iter().enumerate() {
        let head = format!("霍邱县_7月_{k}.csv：已接收，1 行（7月第");
        let at = body.find(&head).unwrap_or_else(|| panic!("{k}: {body}")) + head.len();
        let v: u32 = body[at..].split('版').next().unwrap().parse().unwrap();
        assert!(
            body.contains("id=\"result\" class=\"accepted\""),
            "green: {body}"
        );
        versions.push(v);
    }
    versions.sort();
    assert_eq!(versions, (1..=50).collect::<Vec<u32>>());
    let files = s.env.store().files().unwrap();
    assert_eq!(files.len(), 50, "each taken once");
    assert!(
        files
            .iter()
            .all(|f| f.outcome == fayuan::store::Outcome::Accepted)
    );
    let shas: std::collections::BTreeSet<&str> = files.iter().map(|f| f.sha256.as_str()).collect();
    assert_eq!(shas.len(), 50);
    for f in &files {
        let at = chrono::DateTime::parse_from_rfc3339(&f.arrived_at)
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert!(
            at >= before - chrono::Duration::seconds(1) && at <= after,
            "{}",
            f.arrived_at
        );
        assert!(s.env.data().join(&f.stored_as).exists());
    }
    // 50 versions of July: the latest arrival is in force.
    let rows = latest_rows(&s.env.store());
    assert_eq!(rows.len(), 1);
    assert!(s.env.files_under("inbox").is_empty());
}

/// Refused at the door but kept: a file named like an Office lock file goes to quarantine with the
/// reason (never "received" and left in the inbox); a form that is not multipart is answered as
/// such; pages are not cached or framed; unknown and unauthorised pages are small Chinese pages.
#[test]
fn refused_uploads_are_kept_with_their_reason_and_answers_are_plain() {
    let s = Served::start(&["--as-of", "2025-08-03 10:00"], "");
    let rt = runtime();
    rt.block_on(async {
        let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 12));
        let (code, body) = post_file(
            &s.county("341522"),
            "~$霍邱县_2025-07.xlsx",
            csv.clone().into_bytes(),
        )
        .await;
        assert_eq!(code, 200);
        assert!(
            body.contains("未接收（文件已保存备查）")
                && body.contains("Office 打开文件时生成的锁文件"),
            "{body}"
        );
        assert!(s.env.files_under("inbox").is_empty());
        let f = s.env.store().files().unwrap();
        assert_eq!(f.len(), 1);
        assert!(f[0].stored_as.starts_with("quarantine/"));
        // The same bytes under a proper name: accepted (what was refused for its name was never
        // "received before").
        let (code, body) =
            post_file(&s.county("341522"), "霍邱县_2025-07.csv", csv.into_bytes()).await;
        assert_eq!(code, 200);
        assert!(
            body.contains("霍邱县_2025-07.csv：已接收，1 行（7月第1版）。"),
            "{body}"
        );
        // Not a multipart form.
        let r = reqwest::Client::new()
            .post(s.county("341522"))
            .header("Content-Type", "multipart/form-data; boundary=XYZ")
            .body("--XYZ\r\nthis is not a part")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let body = r.text().await.unwrap();
        assert!(body.contains("上传格式有误"), "{body}");
        // Not multipart at all (issue 34 §7): the same Chinese page, not the framework's English.
        for (ctype, bytes) in [
            ("application/x-www-form-urlencoded", "file=x"),
            ("text/plain", "hello"),
            ("multipart/form-data", "no boundary"),
        ] {
            let r = reqwest::Client::new()
                .post(s.county("341522"))
                .header("Content-Type", ctype)
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 400, "{ctype}");
            let body = r.text().await.unwrap();
            assert!(body.contains("上传格式有误"), "{ctype}: {body}");
        }
        // Headers of a page behind a token.
        let r = reqwest::get(s.url(&format!("/?token={TOKEN}")))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        for (k, v) in [
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(
                r.headers().get(k).map(|v| v.to_str().unwrap()),
                Some(v),
                "{k}"
            );
        }
        // 401 and 404: small Chinese pages.
        for (url, want) in [(s.url("/"), 401u16), (s.url("/nothing-here"), 404)] {
            let r = reqwest::get(&url).await.unwrap();
            assert_eq!(r.status().as_u16(), want);
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let body = r.text().await.unwrap();
            assert!(
                body.len() < 4000 && body.contains("lang=\"zh-CN\""),
                "{body}"
            );
        }
    });
}

/// A thousand and one hundred connections held open and silent: a page still answers within two
/// seconds, and the silent ones are closed after the header timeout.
#[test]
fn eleven_hundred_idle_connections_do_not_stop_a_page() {
    let s = Served::start(
        &["--as-of", "2025-08-03 10:00"],
        "header_timeout_seconds = 3\n",
    );
    // This process needs the files too.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    if lim.rlim_cur < 1300 {
        skipped(
            "eleven_hundred_idle_connections_do_not_stop_a_page",
            "an open-file limit of at least 1300",
            "ulimit -Hn 4096",
        );
        return;
    }
    // The page once before (its figures are then kept in memory, as on any busy day).
    let warm = runtime().block_on(async {
        reqwest::get(s.url(&format!("/?token={TOKEN}")))
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(warm, 200);
    let idle: Vec<std::net::TcpStream> = (0..1100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    let start = Instant::now();
    let status = runtime().block_on(async {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
            .get(s.url(&format!("/?token={TOKEN}")))
            .send()
            .await
            .expect("answered within 2 s")
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
    assert!(start.elapsed() < Duration::from_secs(2));
    // After the header timeout the server has closed them: a read sees the end.
    std::thread::sleep(Duration::from_secs(5));
    let mut closed = 0;
    for mut c in idle {
        use std::io::Read;
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut b = [0u8; 1];
        if matches!(c.read(&mut b), Ok(0))
            || matches!(c.read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset)
        {
            closed += 1;
        }
    }
    assert_eq!(closed, 1100);
}

/// A download never goes through a symbolic link or outside the report folder, even when a
/// manifest lists such a name.
#[test]
fn downloads_never_follow_a_link_or_leave_the_folder() {
    let s = Served::start(&["--as-of", "2025-07-10 09:00"], "");
    s.env.drop_samples_except(&[]);
    let r = s.env.run(&[
        "--as-of",
        "2025-07-09 09:00",
        "run",
        "--no-email",
        "--period",
        "2025-06",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let run = s.env.tmp.path().join("output/luan-2025/2025-06");
    std::fs::write(s.env.tmp.path().join("secret.txt"), "not for the web").unwrap();
    std::os::unix::fs::symlink(s.env.tmp.path().join("secret.txt"), run.join("link.csv")).unwrap();
    let manifest = run.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    for name in ["link.csv", "../../../secret.txt", "/etc/passwd"] {
        m["outputs"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"file": name, "sha256": "", "bytes": 0}));
    }
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    runtime().block_on(async {
        for name in ["link.csv", "..%2F..%2F..%2Fsecret.txt", "%2Fetc%2Fpasswd"] {
            let r = reqwest::get(s.url(&format!("/bureau/file/2025-06/{name}?token={TOKEN}")))
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 404, "{name}");
            assert!(!r.text().await.unwrap().contains("not for the web"));
        }
        let r = reqwest::get(s.url(&format!(
            "/bureau/file/2025-06/completion.csv?token={TOKEN}"
        )))
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    });
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

/// A CSV named `.xlsx` is rejected for its format; the same bytes sent again as `.csv` are taken
/// (rejected bytes were never "received before"). The same bytes rejected for their content get
/// the same answer again, not "already received".
#[test]
fn bytes_rejected_for_their_name_are_taken_under_a_usable_one() {
    let env = Env::new();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 6, 40));
    env.drop_in("霍邱县_2025-06.xlsx", csv.as_bytes());
    let r = env.run(&["--as-of", "2025-07-04 10:00", "ingest"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("拒收 1"), "{}", r.stdout);
    env.drop_in("霍邱县_2025-06.csv", csv.as_bytes());
    let r = env.run(&["--as-of", "2025-07-04 11:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("接收 1，部分接收 0，拒收 0，重复 0"),
        "{}",
        r.stdout
    );
    assert_eq!(latest_rows(&env.store()).len(), 1);
    // Bad content twice: rejected twice, with its problem both times.
    let bad = format!("{HEADER}\r\n341524,2025-06,十二,1,0,0,5,80000,70000,56000,0,0,10,10\r\n");
    for (k, at) in ["2025-07-04 12:00", "2025-07-04 13:00"]
        .into_iter()
        .enumerate()
    {
        env.drop_in(&format!("金寨县_2025-06_{k}.csv"), bad.as_bytes());
        let r = env.run(&["--as-of", at, "ingest"]);
        assert_eq!(r.code, 3);
        assert!(
            r.stdout.contains("“十二”不是整数") && r.stdout.contains("拒收 1，重复 0"),
            "{}",
            r.stdout
        );
    }
}

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

/// The server's own peak memory (VmHWM) in MB.
fn peak_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

/// Eight 19 MB uploads at once (under the 20 MB limit, so each is kept and read): every one is
/// answered and kept, and the server's memory stays bounded — uploads are streamed to disk, not
/// held whole (before issue 20 this took the server to 690 MB).
#[test]
fn eight_large_uploads_at_once_keep_memory_bounded() {
    let s = Served::start(&["--as-of", "2025-08-03 10:00"], "");
    let rt = runtime();
    let url = s.county("341522");
    let codes: Vec<u16> = rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|k| {
                let url = url.clone();
                // 19,000,000 bytes: a header and then one enormous cell, as a broken export.
                let mut csv = format!("{HEADER}\r\n341522,2025-07,").into_bytes();
                csv.resize(19_000_000, b'9');
                tokio::spawn(async move { post_file(&url, &format!("大文件{k}.csv"), csv).await.0 })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(codes, vec![200; 8]);
    let files = s.env.store().files().unwrap();
    assert_eq!(files.len(), 8);
    assert!(files.iter().all(|f| f.size == 19_000_000));
    let peak = peak_mb(s.child.id());
    eprintln!("serve peak memory: {peak} MB");
    assert!(peak < 400, "peak {peak} MB");
}

// Findings of the year in simulation (issue 21), each with a test of its own.

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

/// Issue 33 §6: give-ups in several rounds of one outage are one notice to the staff. The
/// digest (made 6 July) and a 退回通知 (7 July) are given up on 9 and 10 July while the server is
/// down; the first notice, never delivered, is replaced by one listing both; when the server is
/// back, the staff get that one notice, once.
#[test]
fn give_ups_in_several_rounds_of_one_outage_are_one_notice() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(dir.path(), &[]));
    env.drop_samples_except(&[]);
    let port = free_port();
    let vars = smtp_env(&format!("smtp://127.0.0.1:{port}"));
    let run = |at: &str, args: &[&str]| {
        let mut all = vec!["--as-of", at];
        all.extend_from_slice(args);
        env.run_env(&all, &with(&vars, &[]))
    };
    assert_eq!(
        run("2025-07-06 09:00", &["run", "--period", "2025-06"]).code,
        1
    );
    let r = run(
        "2025-07-07 09:00",
        &[
            "return",
            "--unit",
            "霍邱县",
            "--period",
            "2025-06",
            "--reason",
            "请核实",
            "--by",
            "张三",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    run("2025-07-09 10:00", &["send"]);
    run("2025-07-10 10:00", &["send"]);
    let text = ledger_text(&env);
    assert_eq!(text.matches("\"kind\":\"notice\"").count(), 2, "{text}");
    assert!(
        text.contains("已由通知 notice-20250710T100000 取代"),
        "{text}"
    );
    let server = Server::start("smtp", port, &env.tmp.path().join("mail"), &[]);
    run("2025-07-10 11:00", &["send"]);
    run("2025-07-10 12:00", &["send"]);
    let got = delivered(&server);
    let notices: Vec<_> = got
        .iter()
        .filter(|g| g.2 == "【法律援助民生实事】有邮件未能正常送达")
        .collect();
    assert_eq!(notices.len(), 1, "{got:?}");
    let body = mail_parser::MessageParser::default()
        .parse(&notices[0].3)
        .unwrap()
        .body_text(0)
        .unwrap()
        .to_string();
    assert!(
        body.contains("摘要邮件（2025-06-01）") && body.contains("huoqiu@example.gov.cn"),
        "{body}"
    );
}

/// Two hundred uploads of one unit under one name, all at once (issue 35 §5: 400 in 0.02 s lost
/// one when two got the same inbox folder): every one answered, every one kept and taken — one
/// accepted, the others the same bytes seen before — none replaced by another.
#[test]
fn two_hundred_same_name_uploads_at_once_are_all_kept() {
    let s = Served::start(&[], "");
    let rt = runtime();
    let url = s.county("341522");
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 12));
    let answers: Vec<(u16, String)> = rt.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (url, csv) = (url.clone(), csv.clone());
                tokio::spawn(async move {
                    post_file(&url, "霍邱县_7月.csv", csv.into_bytes()).await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert!(
        answers.iter().all(|a| a.0 == 200),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let files = s.env.store().files().unwrap();
    let ours: Vec<_> = files
        .iter()
        .filter(|f| f.file_name.ends_with("/霍邱县_7月.csv"))
        .collect();
    assert_eq!(ours.len(), 200, "each upload taken once");
    let folders: std::collections::BTreeSet<&str> = ours
        .iter()
        .map(|f| f.file_name.split('/').next().unwrap())
        .collect();
    assert_eq!(folders.len(), 200, "no two in one inbox folder");
    assert_eq!(
        ours.iter()
            .filter(|f| f.outcome == fayuan::store::Outcome::Accepted)
            .count(),
        1
    );
    assert_eq!(
        ours.iter()
            .filter(|f| f.outcome == fayuan::store::Outcome::Duplicate)
            .count(),
        199
    );
    assert!(std::fs::read_dir(s.env.inbox()).unwrap().all(|e| {
        // nothing left waiting (folders emptied or removed)
        let p = e.unwrap().path();
        !p.is_file() && std::fs::read_dir(&p).map_or(true, |mut d| d.next().is_none())
    }));
}

/// A request head without its body (issue 35 §6: 70 of them on one county link took every page
/// down for 90 s): the pages answer meanwhile, and each such form is refused with 408 after
/// `form_timeout_seconds`, nothing done.
#[test]
fn forms_whose_body_never_comes_stall_nothing() {
    use std::io::{Read, Write};
    let s = Served::start(&[], "form_timeout_seconds = 2\n");
    let token = hmac_token(SECRET.as_bytes(), "341522");
    let mut stuck: Vec<std::net::TcpStream> = (0..70)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            write!(
                c,
                "POST /u/341522/{token}/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nitem=1"
            )
            .unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    let rt = runtime();
    let (code, page) = rt.block_on(async {
        let r = reqwest::get(s.url(&format!("/bureau?token={TOKEN}")))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(code, 200, "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the bureau's page waited {:?}",
        started.elapsed()
    );
    for c in &mut stuck {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 12];
        c.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 408");
    }
    let record = s.env.run(&["audit"]).stdout;
    assert!(!record.contains("答复督办事项"), "{record}");
}

/// Uploads that trickle on one county's link (issue 35 §6: eight at a byte a second held every
/// upload slot for five minutes) hold only that unit's slots: another county's upload is taken
/// at once.
#[test]
fn slow_uploads_on_one_link_do_not_make_other_counties_wait() {
    use std::io::Write;
    let s = Served::start(&[], "");
    let token = hmac_token(SECRET.as_bytes(), "341522");
    let _slow: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            write!(
                c,
                "POST /u/341522/{token} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n单位"
            )
            .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let rt = runtime();
    let started = Instant::now();
    let (code, body) = rt.block_on(post_file(
        &s.county("341524"),
        "金寨县_7月.csv",
        format!("{HEADER}\r\n{}\r\n", csv_row("341524", 7, 9)).into_bytes(),
    ));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("金寨县_7月.csv：已接收，1 行"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
}
