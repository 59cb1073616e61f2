//! Email-in (issue 13) against real servers: Dovecot on 127.0.0.1 (IMAP over TLS, started here
//! with a temporary configuration and a password file) and the SMTP server the email tests use
//! (aiosmtpd, `tests/servers.py`) for the receipts.

use crate::support::imap::*;
use crate::support::*;
use base64::Engine;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_county_emails_its_files_and_gets_a_receipt() {
    if !dovecot_ready() {
        return;
    }
    if !Command::new("soffice")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        skipped(
            "a_county_emails_its_files_and_gets_a_receipt",
            "LibreOffice, which writes the .xls and .ods attachments",
            "apt-get install libreoffice-calc-nogui",
        );
        return;
    }
    let s = setup();
    let p = luan();
    let row = fayuan::sample::figures(
        p.unit("341522").unwrap(),
        fayuan::period::Period::new(2025, 7).unwrap(),
        &mut fayuan::sample::Rng::new(7),
    );
    let xlsx =
        fayuan::sample::render(fayuan::sample::Style::XlsxTitled, "霍邱县月报", &[row]).unwrap();
    let csv = encoding_rs::GB18030
        .encode(&format!("{HEADER}\r\n{}\r\n", csv_row("341522", 6, 40)))
        .0
        .into_owned();
    let json = serde_json::json!([{
        "unit_code": "341522", "period": "2025-05", "cases_approved": 3, "cases_criminal": 3,
        "cases_civil": 0, "cases_admin": 0, "cases_closed": 1, "funds_received": 0,
        "spend_total": 0, "spend_case": 0, "complaints": 0, "complaints_resolved": 0,
        "surveyed": 0, "satisfied": 0
    }])
    .to_string();
    let bad = format!("{HEADER}\r\n341522,2025-04,十二,1,0,0,5,80000,70000,56000,0,0,10,10\r\n");
    // .xls and .ods as older office software saves them: the March and February workbooks
    // converted by LibreOffice.
    let older = |month: u32, ext: &str| -> Vec<u8> {
        let row = fayuan::sample::figures(
            p.unit("341522").unwrap(),
            fayuan::period::Period::new(2025, month).unwrap(),
            &mut fayuan::sample::Rng::new(u64::from(month)),
        );
        let book = fayuan::sample::render(fayuan::sample::Style::XlsxPlain, "", &[row]).unwrap();
        let dir = s.env.tmp.path().join(format!("lo-{month}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("book.xlsx"), book).unwrap();
        let filter = if ext == "xls" {
            "xls:MS Excel 97"
        } else {
            "ods"
        };
        let o = Command::new("soffice")
            .arg(format!(
                "-env:UserInstallation=file://{}/profile",
                dir.display()
            ))
            .args([
                "--headless",
                "--norestore",
                "--convert-to",
                filter,
                "--outdir",
            ])
            .arg(&dir)
            .arg(dir.join("book.xlsx"))
            .output()
            .expect("LibreOffice (soffice) converts the workbook");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(dir.join(format!("book.{ext}"))).unwrap()
    };
    let (xls, ods) = (older(3, "xls"), older(2, "ods"));
    let sent = message(
        &format!("霍邱县司法局 <{HUOQIU}>"),
        "霍邱县7月月报",
        "",
        &[
            (&rfc2231("霍邱县_2025-07.xlsx"), &xlsx),
            (&gbk("霍邱县_2025-06.csv"), &csv),
            (&rfc2231("霍邱县_2025-05.json"), json.as_bytes()),
            (&rfc2231("霍邱县_2025-04.csv"), bad.as_bytes()),
            (&rfc2231("霍邱县_2025-03.xls"), &xls),
            (&gbk("霍邱县_2025-02.ods"), &ods),
            (&rfc2231("说明.docx"), b"PK\x03\x04"),
        ],
    );
    // June had come in (by the inbox) and been returned for correction (退回) before the mail
    // came: the mail's version closes the return, and the receipt says so.
    s.env.drop_in(
        "霍邱县_2025-06.csv",
        format!("{HEADER}\r\n{}\r\n", csv_row("341522", 6, 17)).as_bytes(),
    );
    let r = s.env.run(&["--as-of", "2025-07-04 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = s.env.run(&[
        "--as-of",
        "2025-08-02 10:00",
        "return",
        "--unit",
        "341522",
        "--period",
        "2025-06",
        "--reason",
        "请补报6月数据",
        "--by",
        "张三",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    s.imap.deliver(&sent);
    let r = s.ingest("2025-08-03 10:00");
    assert!(
        r.stdout
            .contains("邮箱 data：新邮件 1 封，回执 1 封，转人工 0 封，收取附件 6 个"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // The rows are in the store, from the message.
    let stored = latest_rows(&s.env.store());
    let months: Vec<&str> = stored
        .iter()
        .filter(|r| r["unit_code"] == "341522")
        .map(|r| r["period"].as_str())
        .collect();
    assert_eq!(
        months,
        ["2025-02", "2025-03", "2025-05", "2025-06", "2025-07"]
    );
    // The receipt: to the sender, the unit's other contact in copy, in the thread, automatic.
    let got = s.receipts();
    let mut rcpts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["huoqiu-2@example.gov.cn", HUOQIU]);
    let (_, subject, text, head) = &got[0];
    assert_eq!(subject, "回执：霍邱县7月月报");
    assert!(
        head.contains("In-Reply-To: <t") && head.contains("Auto-Submitted: auto-replied"),
        "{head}"
    );
    for want in [
        "1. 霍邱县_2025-07.xlsx：已接收，1 行：2025年7月（第1版）。",
        "2. 霍邱县_2025-06.csv：已接收，1 行：2025年6月（第2版，替代第1版）。",
        "3. 霍邱县_2025-05.json：已接收，1 行：2025年5月（第1版）。",
        "4. 霍邱县_2025-04.csv：未接收。",
        "   霍邱县_2025-04.csv C2 受理审批案件数：“十二”不是整数",
        "说明.docx：不是报送文件",
        "5. 霍邱县_2025-03.xls：已接收，1 行：2025年3月（第1版）。",
        "6. 霍邱县_2025-02.ods：已接收，1 行：2025年2月（第1版）。",
        "霍邱县的2025年7月数据已收到。",
        "2025年6月数据此前被退回修改（请补报6月数据），本次报送的新版本已收到，该退回已办结。",
    ] {
        assert!(text.contains(want), "expected {want:?} in\n{text}");
    }
    // The message is archived byte for byte and moved to the processed folder.
    let archived = s.env.files_under("mail");
    assert!(
        archived
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "eml")),
        "{archived:?}"
    );
    assert_eq!(s.imap.count("INBOX"), 0);
    assert_eq!(s.imap.count("fayuan-processed"), 1);

    // Looked at again (a restart, the same mailbox): nothing twice.
    let r = s.ingest("2025-08-03 10:10");
    assert!(r.stdout.contains("新邮件 0 封"), "{}", r.stdout);
    assert_eq!(s.receipts().len(), 2);
    assert_eq!(latest_rows(&s.env.store()).len(), 5);
    // The very same message found again under a new UID (copied back into the inbox): known by
    // its Message-ID and bytes, moved along, not answered again.
    s.imap.deliver(&sent);
    let r = s.ingest("2025-08-03 10:20");
    assert!(
        r.stdout.contains("新邮件 1 封，回执 0 封"),
        "{}\n{}",
        r.stdout,
        std::fs::read_to_string(s.env.data().join("mail/data/ledger.jsonl")).unwrap_or_default()
    );
    assert_eq!(s.receipts().len(), 2);
    assert_eq!(s.imap.count("fayuan-processed"), 2);
    // `fayuan status` tells the mailbox's last look.
    let r = s.env.run(&["--as-of", "2025-08-03 10:30", "status"]);
    assert!(
        r.stdout.contains("邮箱 data（data@example.gov.cn）：最近处理 2025-08-03 10:20；共处理 2 封，其中转人工 0 封"),
        "{}",
        r.stdout
    );
}

#[test]
fn strangers_machines_and_other_units_rows_are_not_answered_or_taken() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let row = |code: &str| format!("{HEADER}\r\n{}\r\n", csv_row(code, 7, 12)).into_bytes();
    // An unknown sender.
    s.imap.deliver(&message(
        "someone@elsewhere.example",
        "月报",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), &row("341522"))],
    ));
    // A bounce.
    s.imap.deliver(&message(
        "MAILER-DAEMON@example.gov.cn",
        "Undelivered Mail Returned to Sender",
        "Auto-Submitted: auto-replied\r\n",
        &[],
    ));
    // A registered sender sending another unit's rows.
    s.imap.deliver(&message(
        HUOQIU,
        "金寨县月报（代发）",
        "",
        &[(&rfc2231("金寨县_2025-07.csv"), &row("341524"))],
    ));
    // A message with no attachment.
    s.imap.deliver(&message(HUOQIU, "请问报送格式", "", &[]));
    let r = s.ingest("2025-08-03 10:00");
    assert!(
        r.stdout.contains("新邮件 4 封，回执 2 封，转人工 2 封"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(latest_rows(&s.env.store()).is_empty(), "nothing taken");
    assert_eq!(s.imap.count("fayuan-held"), 2);
    assert_eq!(s.imap.count("fayuan-processed"), 2);
    let got = s.receipts();
    // No receipt to the stranger or the daemon; the data staff told of both.
    assert!(
        got.iter()
            .all(|g| g.0 != "someone@elsewhere.example" && !g.0.starts_with("MAILER"))
    );
    let staff: Vec<&(String, String, String, String)> = got
        .iter()
        .filter(|g| g.0 == "data-staff@example.gov.cn")
        .collect();
    assert_eq!(staff.len(), 2, "{got:?}");
    assert!(
        staff
            .iter()
            .any(|g| g.2.contains("发件人不是已登记的报送联系人"))
    );
    assert!(
        staff
            .iter()
            .any(|g| g.2.contains("自动回复、退信或群发邮件"))
    );
    let to_huoqiu: Vec<&String> = got.iter().filter(|g| g.0 == HUOQIU).map(|g| &g.2).collect();
    assert!(
        to_huoqiu
            .iter()
            .any(|t| t.contains("含有其他单位（341524）的数据")
                && t.contains("只能报送霍邱县的数据")),
        "{to_huoqiu:?}"
    );
    assert!(
        to_huoqiu.iter().any(|t| t.contains("邮件中没有附件")),
        "{to_huoqiu:?}"
    );
}

#[test]
fn a_message_over_the_size_limit_is_held_without_being_read() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    // A 31.6 MB message against the default `max_message_mb = 25` (MB = 1,000,000 bytes): 22 MiB
    // of attachment, base64 (4/3) in lines of 76 characters and CRLF (78/76).
    let big = vec![b'x'; 22 * 1024 * 1024];
    s.imap.deliver(&message(
        HUOQIU,
        "大文件",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), &big)],
    ));
    let r = s.ingest("2025-08-03 10:00");
    assert!(
        r.stdout.contains("新邮件 1 封，回执 1 封，转人工 1 封"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(s.imap.count("fayuan-held"), 1);
    let got = s.receipts();
    // The registered sender (and the unit's other contact) is told why; the staff too.
    let staff: Vec<&String> = got
        .iter()
        .filter(|g| g.0 == "data-staff@example.gov.cn")
        .map(|g| &g.2)
        .collect();
    assert_eq!(staff.len(), 1, "{got:?}");
    assert!(
        staff[0].contains("邮件过大（31.6 MB，上限 25 MB）") && staff[0].contains(HUOQIU),
        "{}",
        staff[0]
    );
    // The notice tells the truth about the answer the sender got.
    assert!(
        staff[0].contains("已向发件人回复") && !staff[0].contains("未向发件人回复"),
        "{}",
        staff[0]
    );
    let county = got.iter().find(|g| g.0 == HUOQIU).expect("a receipt");
    assert_eq!(county.1, "回执：大文件");
    assert!(
        county.2.contains("上限 25 MB") && county.2.contains("每个不超过 20 MB"),
        "{}",
        county.2
    );
    assert!(latest_rows(&s.env.store()).is_empty());
}

#[test]
fn killed_at_any_step_it_resumes_without_losing_or_repeating() {
    if !dovecot_ready() {
        return;
    }
    // Killed (SIGKILL, at a known moment) after the message is archived, after its file is
    // taken in, and after the receipt went out but before the message was moved.
    for (stage, taken, receipts) in [
        ("mail-archived", 0, 0),
        ("mail-receipt", 1, 0),
        ("mail-delivered", 1, 2),
    ] {
        killed_at(stage, taken, receipts);
    }
}

fn killed_at(stage: &str, taken_before: usize, receipts_before: usize) {
    let s = setup();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 33));
    // Subject and file name in GBK (RFC 2047), as older Chinese mail programs send them.
    let subject = format!(
        "=?GBK?B?{}?=",
        base64::engine::general_purpose::STANDARD
            .encode(encoding_rs::GBK.encode("霍邱县7月报表").0)
    );
    s.imap.deliver(&message(
        HUOQIU,
        &subject,
        "",
        &[(&gbk("霍邱县_2025-07.csv"), csv.as_bytes())],
    ));
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let ca = s.imap.ca.to_str().unwrap().to_string();
    let r = s.env.run_env(
        &["--as-of", "2025-08-03 10:00", "ingest"],
        &[
            ("FAYUAN_IMAP_PASSWORD", PASSWORD),
            ("FAYUAN_IMAP_CA_FILE", &ca),
            ("FAYUAN_SMTP_URL", &url),
            ("FAYUAN_TEST_FAULT", &format!("crash@{stage}")),
        ],
    );
    assert_ne!(r.code, 0, "{stage}: killed: {}{}", r.stdout, r.stderr);
    assert_eq!(latest_rows(&s.env.store()).len(), taken_before, "{stage}");
    assert_eq!(s.receipts().len(), receipts_before, "{stage}");
    assert_eq!(s.imap.count("INBOX"), 1, "{stage}: the message waits");
    // Started again: the receipt goes once per recipient, the file is not taken again.
    let r = s.ingest("2025-08-03 10:05");
    assert!(
        r.stdout.contains("回执 1 封"),
        "{stage}: {}{}",
        r.stdout,
        r.stderr
    );
    let got = s.receipts();
    assert_eq!(got.len(), 2, "{stage}: sender and copy, once each");
    assert_eq!(got[0].1, "回执：霍邱县7月报表");
    assert!(
        got[0]
            .2
            .contains("霍邱县_2025-07.csv：已接收，1 行：2025年7月（第1版）"),
        "{}",
        got[0].2
    );
    let files = s.env.store().files().unwrap();
    assert_eq!(files.len(), 1, "{stage}: {files:?}");
    let r = s.ingest("2025-08-03 10:10");
    assert!(r.stdout.contains("新邮件 0 封"), "{}", r.stdout);
    assert_eq!(s.receipts().len(), 2);
    assert_eq!(s.imap.count("fayuan-processed"), 1);
}

#[test]
fn the_daemon_picks_a_new_message_up_with_idle() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let ca = s.imap.ca.to_str().unwrap().to_string();
    // Polling every 300 s (the default); IDLE must bring the message in long before: the wait for
    // the receipt below gives it 60 s.
    let d = crate::support::daemon::Daemon::start(
        &s.env,
        &["--as-of", "2025-08-03 10:00"],
        &[
            ("FAYUAN_IMAP_PASSWORD", PASSWORD),
            ("FAYUAN_IMAP_CA_FILE", &ca),
            ("FAYUAN_SMTP_URL", &url),
        ],
    );
    // Let it connect and go idle on an empty mailbox first.
    crate::support::daemon::wait_for("the mailbox watch", Duration::from_secs(30), || {
        std::fs::read_to_string(s.imap.dir.join("dovecot.log"))
            .is_ok_and(|l| l.contains("Login: user=<data@example.gov.cn>"))
    });
    std::thread::sleep(Duration::from_secs(1));
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 21));
    s.imap.deliver(&message(
        HUOQIU,
        "7月月报",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    // (The daemon also sends its reminders and catch-up reports: receipts are told by subject.)
    let receipts = || {
        s.receipts()
            .into_iter()
            .filter(|g| g.1.starts_with("回执："))
            .collect::<Vec<_>>()
    };
    while receipts().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no receipt; daemon.log:\n{}\ndovecot.log:\n{}",
            std::fs::read_to_string(s.env.tmp.path().join("daemon.log")).unwrap_or_default(),
            std::fs::read_to_string(s.imap.dir.join("dovecot.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The server goes away and comes back: the daemon reconnects (2 s, then 4 s, …) and the
    // next message is taken too.
    let mut s = s;
    s.imap.restart();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 6, 19));
    s.imap.deliver(&message(
        HUOQIU,
        "6月月报",
        "",
        &[(&rfc2231("霍邱县_2025-06.csv"), csv.as_bytes())],
    ));
    let receipts = || {
        s.receipts()
            .into_iter()
            .filter(|g| g.1.starts_with("回执："))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while receipts().len() < 4 {
        assert!(
            Instant::now() < deadline,
            "no receipt after the restart; daemon.log:\n{}",
            std::fs::read_to_string(s.env.tmp.path().join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(d.stop(), 0, "stops cleanly with its mailbox watch");
    assert_eq!(latest_rows(&s.env.store()).len(), 2);
    let got = receipts();
    assert!(
        got[0]
            .2
            .contains("霍邱县_2025-07.csv：已接收，1 行：2025年7月（第1版）"),
        "{}",
        got[0].2
    );
}

#[test]
fn the_same_file_twice_and_a_bulk_sheet_from_the_data_staff() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 12));
    for _ in 0..2 {
        s.imap.deliver(&message(
            HUOQIU,
            "7月",
            "",
            &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
        ));
    }
    // The city's data staff (a bulk sender) may send every unit's rows in one sheet.
    let p = luan();
    let rows: Vec<String> = p.units.iter().map(|u| csv_row(&u.code, 6, 10)).collect();
    let bulk = format!("{HEADER}\r\n{}\r\n", rows.join("\r\n"));
    s.imap.deliver(&message(
        "data-staff@example.gov.cn",
        "6月全市汇总",
        "",
        &[(&rfc2231("全市_2025-06.csv"), bulk.as_bytes())],
    ));
    let r = s.ingest("2025-08-03 10:00");
    assert!(
        r.stdout.contains("新邮件 3 封，回执 3 封"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let texts: Vec<String> = s.receipts().into_iter().map(|g| g.2).collect();
    assert!(
        texts.iter().any(|t| t.contains(
            "霍邱县_2025-07.csv：此前已收到完全相同的文件（2025-08-03 10:00 收到），未重复收取"
        )),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("全市_2025-06.csv：已接收，8 行")),
        "{texts:?}"
    );
    assert_eq!(latest_rows(&s.env.store()).len(), 9);
}

#[test]
fn the_daemon_killed_before_the_receipt_sends_it_once_after_a_restart() {
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
    let ca = s.imap.ca.to_str().unwrap().to_string();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 17));
    s.imap.deliver(&message(
        HUOQIU,
        "7月月报",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
    ));
    let vars = |fault: &'static str| {
        vec![
            ("FAYUAN_IMAP_PASSWORD", PASSWORD.to_string()),
            ("FAYUAN_IMAP_CA_FILE", ca.clone()),
            ("FAYUAN_SMTP_URL", url.clone()),
            ("FAYUAN_TEST_FAULT", fault.to_string()),
        ]
    };
    let receipts = || {
        s.receipts()
            .into_iter()
            .filter(|g| g.1.starts_with("回执："))
            .count()
    };
    // The daemon takes the file in and is killed before the receipt.
    let v = vars("crash@mail-receipt");
    let v: Vec<(&str, &str)> = v.iter().map(|(k, x)| (*k, x.as_str())).collect();
    let mut d = crate::support::daemon::Daemon::start(&s.env, &["--as-of", "2025-08-10 10:00"], &v);
    crate::support::daemon::wait_for(
        "the daemon to die at the fault",
        Duration::from_secs(60),
        || d.exited(),
    );
    assert_eq!(latest_rows(&s.env.store()).len(), 1);
    assert_eq!(receipts(), 0);
    // Started again: the receipt goes out once to each recipient, nothing is taken twice.
    let v = vars("");
    let v: Vec<(&str, &str)> = v.iter().map(|(k, x)| (*k, x.as_str())).collect();
    let d = crate::support::daemon::Daemon::start(&s.env, &["--as-of", "2025-08-10 10:05"], &v);
    crate::support::daemon::wait_for("the receipt", Duration::from_secs(60), || receipts() == 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.stop(), 0);
    assert_eq!(receipts(), 2);
    assert_eq!(s.env.store().files().unwrap().len(), 1);
    assert_eq!(s.imap.count("fayuan-processed"), 1);
}

#[test]
fn starttls_and_the_default_chinese_folders() {
    if !dovecot_ready() {
        return;
    }
    // `imap://` (SPEC §9): plain IMAP upgraded with STARTTLS before the login; no folder
    // settings, so the defaults 已处理 and 待人工处理 (modified UTF-7 on the wire).
    let s = setup_with(
        |imap| format!("imap://127.0.0.1:{}", imap.starttls_port),
        "",
    );
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 9));
    s.imap.deliver(&message(
        HUOQIU,
        "7月",
        "",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
    ));
    s.imap
        .deliver(&message("stranger@elsewhere.example", "hi", "", &[]));
    let r = s.ingest("2025-08-03 10:00");
    assert!(
        r.stdout.contains("新邮件 2 封，回执 1 封，转人工 1 封"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // 已处理 = U+5DF2 U+5904 U+7406: UTF-16BE 5D F2 59 04 74 06, base64 "XfJZBHQG".
    assert_eq!(fayuan::mailin::imap_folder("已处理"), "&XfJZBHQG-");
    assert_eq!(s.imap.count(&fayuan::mailin::imap_folder("已处理")), 1);
    assert_eq!(s.imap.count(&fayuan::mailin::imap_folder("待人工处理")), 1);
    assert_eq!(latest_rows(&s.env.store()).len(), 1);
    // The login went over TLS (Dovecot refuses a plain-text login here anyway).
    let log = std::fs::read_to_string(s.imap.dir.join("dovecot.log")).unwrap();
    assert!(log.contains("method=PLAIN") && log.contains("TLS"), "{log}");
}

#[test]
fn a_forged_sender_that_the_bureaus_server_failed_is_not_a_county() {
    // Issue 33 §3: with `authserv_id`, a mail "from" 霍邱县 that the bureau's own server marked
    // dmarc=fail is held (nothing taken, the staff told, no receipt to the forged address);
    // another server's "pass" written by the sender is not believed; a pass is taken.
    if !dovecot_ready() {
        return;
    }
    let s = setup_with(
        |imap| format!("imaps://127.0.0.1:{}", imap.port),
        "done_folder = \"fayuan-processed\"\nheld_folder = \"fayuan-held\"\nauthserv_id = \"mx.bureau.test\"\n",
    );
    let csv = |cases: i64| format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, cases));
    s.imap.deliver(&message(
        HUOQIU,
        "霍邱县7月月报",
        "Authentication-Results: evil.example; dmarc=pass header.from=example.gov.cn\r\nAuthentication-Results: mx.bureau.test;\r\n spf=fail smtp.mailfrom=forger.example;\r\n dmarc=fail (p=none) header.from=example.gov.cn\r\n",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv(99).as_bytes())],
    ));
    let r = s.ingest("2025-08-03 10:00");
    assert!(
        r.stdout.contains("新邮件 1 封，回执 0 封，转人工 1 封"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(latest_rows(&s.env.store()).is_empty(), "nothing taken");
    assert_eq!(s.imap.count("fayuan-held"), 1);
    let got = s.receipts();
    assert!(got.iter().all(|g| g.0 != HUOQIU), "{got:?}");
    assert!(
        got.iter().any(|g| g.0 == "data-staff@example.gov.cn"
            && g.2.contains("发件人认证未通过")
            && g.2.contains("dmarc 检查：fail")),
        "{got:?}"
    );
    s.imap.deliver(&message(
        HUOQIU,
        "霍邱县7月月报",
        "Authentication-Results: mx.bureau.test; spf=pass smtp.mailfrom=example.gov.cn; dmarc=pass header.from=example.gov.cn\r\n",
        &[(&rfc2231("霍邱县_2025-07.csv"), csv(40).as_bytes())],
    ));
    let r = s.ingest("2025-08-03 10:10");
    assert!(
        r.stdout.contains("新邮件 1 封，回执 1 封，转人工 0 封"),
        "{}",
        r.stdout
    );
    let rows = latest_rows(&s.env.store());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["cases_approved"], "40");
    // `check` warns of a mailbox without authserv_id.
    let plain = setup();
    let c = plain.env.run(&["check"]);
    assert!(c.stdout.contains("no authserv_id"), "{}", c.stdout);
}

#[test]
fn a_receipt_says_when_the_mail_arrived_not_when_it_was_handled() {
    // Issue 33 §6: a mail that reached the server at 20:00 on 5 July (on time) and was handled
    // the next morning: the receipt says 2025-07-05 20:00, as the store records its arrival.
    if !dovecot_ready() {
        return;
    }
    let s = setup();
    let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 6, 40));
    s.imap.deliver_at(
        &message(
            HUOQIU,
            "霍邱县6月",
            "",
            &[(&rfc2231("霍邱县_2025-06.csv"), csv.as_bytes())],
        ),
        "2025-07-05 20:00 +0800",
    );
    let r = s.ingest("2025-07-06 10:00");
    assert!(r.stdout.contains("回执 1 封"), "{}{}", r.stdout, r.stderr);
    let got = s.receipts();
    let to_huoqiu = got.iter().find(|g| g.0 == HUOQIU).expect("the receipt");
    assert!(
        to_huoqiu
            .2
            .contains("已收到您的邮件“霍邱县6月”（2025-07-05 20:00）"),
        "{}",
        to_huoqiu.2
    );
    let st = s.env.run(&[
        "--as-of",
        "2025-07-06 10:30",
        "status",
        "--period",
        "2025-06",
    ]);
    let line = st
        .stdout
        .lines()
        .find(|l| l.contains("霍邱县"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("收到 2025-07-05 20:00") && !line.contains("逾期"),
        "{line}"
    );
}
