//! A power cut (issue 35 §2): the real binary killed at a fault point on the filesystem that
//! forgets (`forgetful.rs`), every write not synced dropped, a restart; then no county file the
//! program answered for is lost or taken twice, no message is sent twice or never, the record
//! verifies and a report folder is whole or absent.

use crate::forgetful::{Forgetful, fuse_ready};
use crate::support::*;
use std::process::Command;

/// A power cut after a kill at each step of an ingest and of a report (issue 35 §2): the
/// unsynced writes dropped, a restart; then every county file is in the store, accepted once and
/// archived byte for byte (its SHA-256) with its record line, none left in the inbox; the record
/// verifies; the report folder is whole.
#[test]
fn a_power_cut_at_every_step_loses_no_county_file_and_no_report_is_half_there() {
    if !fuse_ready() {
        return;
    }
    let june: Vec<(String, Vec<u8>)> = std::fs::read_dir(repo().join("samples/luan-2025"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("2025-06"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    assert_eq!(june.len(), 8);
    let pipeline = luan_pipeline_path();
    for stage in [
        "kept",
        "reports",
        "sync-dir#3",
        "store",
        "unindexed",
        "committed",
        // the record's lines of the batch, synced, its folder not yet
        "record",
        "removing",
        "report",
    ] {
        let fs = Forgetful::start(|b| {
            std::fs::create_dir_all(b.join("data/inbox")).unwrap();
            for (name, bytes) in &june {
                std::fs::write(b.join("data/inbox").join(name), bytes).unwrap();
            }
        });
        let fault = format!("crash@{stage}");
        let (first, then): (&[&str], &[&str]) = if stage == "report" {
            let r = fs.fayuan(&pipeline, &["--as-of", "2025-07-04 09:00", "ingest"], None);
            assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
            (
                &[
                    "--as-of",
                    "2025-07-06 09:00",
                    "run",
                    "--no-email",
                    "--period",
                    "2025-06",
                ],
                &[
                    "--as-of",
                    "2025-07-06 09:10",
                    "run",
                    "--no-email",
                    "--period",
                    "2025-06",
                ],
            )
        } else {
            (
                &["--as-of", "2025-07-04 09:00", "ingest"],
                &["--as-of", "2025-07-04 09:10", "ingest"],
            )
        };
        let killed = fs.fayuan(&pipeline, first, Some(&fault));
        assert_ne!(
            killed.code, 0,
            "{stage}: not killed: {}{}",
            killed.stdout, killed.stderr
        );
        fs.cut();
        if stage == "report" {
            // What the finished ingest answered 已接收 for survived the cut itself, before any
            // restart could take it again.
            let data = fayuan::layout::DataDir::new(fs.mount.join("data"));
            let kept = fayuan::store::Store::open(&data)
                .files()
                .unwrap_or_default();
            assert_eq!(
                kept.iter()
                    .filter(|f| f.outcome == fayuan::store::Outcome::Accepted)
                    .count(),
                8,
                "{stage}: files answered 已接收 lost in the cut"
            );
        }
        let r = fs.fayuan(&pipeline, then, None);
        assert_eq!(r.code, 0, "{stage}: the restart: {}{}", r.stdout, r.stderr);
        let data = fs.mount.join("data");
        let store = fayuan::store::Store::open(&fayuan::layout::DataDir::new(data.clone()));
        let files = store.files().unwrap();
        for (name, bytes) in &june {
            let sha = fayuan::fsutil::sha256_hex(bytes);
            let accepted: Vec<_> = files
                .iter()
                .filter(|f| f.sha256 == sha && f.outcome == fayuan::store::Outcome::Accepted)
                .collect();
            assert_eq!(
                accepted.len(),
                1,
                "{stage}: {name} accepted {} times",
                accepted.len()
            );
            let kept = std::fs::read(data.join(&accepted[0].stored_as)).unwrap_or_default();
            assert_eq!(
                fayuan::fsutil::sha256_hex(&kept),
                sha,
                "{stage}: {name} archived byte for byte"
            );
        }
        let left: Vec<_> = std::fs::read_dir(data.join("inbox"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{stage}: left in the inbox: {left:?}");
        let verify = fs.fayuan(&pipeline, &["audit", "--verify"], None);
        assert_eq!(
            verify.code, 0,
            "{stage}: {}{}",
            verify.stdout, verify.stderr
        );
        let record = fs.fayuan(&pipeline, &["audit"], None).stdout;
        for (name, _) in &june {
            assert!(
                record.contains(name.as_str()),
                "{stage}: {name} not on the record:\n{record}"
            );
        }
        if stage == "report" {
            let dir = fs.mount.join("output/luan-2025/2025-06");
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
            for o in manifest["outputs"].as_array().unwrap() {
                let f = dir.join(o["file"].as_str().unwrap());
                let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                assert!(len > 0, "{stage}: {} missing or empty", f.display());
            }
        }
    }
}

/// A power cut after a kill while the month's digest is put in the outbox and recorded (issue
/// 35 §2, the outbox and its ledger): after the restart every recipient gets the digest exactly
/// once, from a real SMTP server's point of view.
#[test]
fn a_power_cut_while_the_digest_is_queued_sends_it_once() {
    if !fuse_ready() || !crate::support::smtp::python_ready() {
        return;
    }
    let pipeline = luan_pipeline_path();
    for stage in ["outbox-written", "append-deliveries", "sync-dir#6"] {
        let mail_dir = tempfile::tempdir().unwrap();
        let mail = crate::support::smtp::Server::start(
            "smtp",
            crate::support::smtp::free_port(),
            mail_dir.path(),
            &[],
        );
        let url = format!("smtp://127.0.0.1:{}", mail.port);
        let fs = Forgetful::start(|b| {
            std::fs::create_dir_all(b.join("data/inbox")).unwrap();
            for e in std::fs::read_dir(repo().join("samples/luan-2025"))
                .unwrap()
                .flatten()
            {
                if e.file_name().to_string_lossy().contains("2025-06") {
                    std::fs::copy(e.path(), b.join("data/inbox").join(e.file_name())).unwrap();
                }
            }
        });
        let run = |fault: Option<&str>, at: &str| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_fayuan"));
            cmd.current_dir(&fs.mount)
                .arg("--pipeline")
                .arg(&pipeline)
                .arg("--data-dir")
                .arg(fs.mount.join("data"))
                .arg("--output-dir")
                .arg(fs.mount.join("output"))
                .args(["--as-of", at, "run", "--period", "2025-06"])
                .env("FAYUAN_TEST_KERNEL", "4.19")
                .env("FAYUAN_SMTP_URL", &url)
                .env_remove("FAYUAN_TEST_FAULT")
                .env_remove("FAYUAN_AS_OF");
            if let Some(f) = fault {
                cmd.env("FAYUAN_TEST_FAULT", f);
            }
            output(cmd.output().unwrap())
        };
        let killed = run(Some(&format!("crash@{stage}")), "2025-07-06 09:00");
        assert_ne!(
            killed.code, 0,
            "{stage}: not killed: {}{}",
            killed.stdout, killed.stderr
        );
        fs.cut();
        let r = run(None, "2025-07-06 09:10");
        assert!(
            r.code == 0,
            "{stage}: the restart: {}{}",
            r.stdout,
            r.stderr
        );
        for rcpt in ["leader@example.gov.cn", "data-staff@example.gov.cn"] {
            let digests = mail
                .received()
                .into_iter()
                .filter(|(to, raw)| {
                    to.contains(rcpt)
                        && mail_parser::MessageParser::default()
                            .parse(raw)
                            .and_then(|m| m.subject().map(|s| s.contains("2025年6月汇总")))
                            .unwrap_or(false)
                })
                .count();
            assert_eq!(digests, 1, "{stage}: {rcpt} got the digest {digests} times");
        }
    }
}

/// A power cut after a kill at each step of taking a county's mail in (issue 35 §2, the
/// mailbox): after the message is archived, after its file is taken in, after the receipt went
/// out. After the restart the file is in the store once, archived byte for byte, the sender and
/// the unit's other contact each have exactly one receipt, the message is in the done folder
/// and a further look takes nothing; the record verifies.
#[test]
fn a_power_cut_while_mail_is_taken_in_answers_it_once() {
    use crate::support::imap::{
        HEADER, HUOQIU, PASSWORD, csv_row, dovecot_ready, message, rfc2231,
    };
    if !fuse_ready() || !dovecot_ready() {
        return;
    }
    // ("": no kill — the mail handled whole, then the power cut: its archived copy must be there)
    for stage in ["mail-archived", "mail-receipt", "mail-delivered", ""] {
        let s = crate::support::imap::setup();
        let fs = Forgetful::over(
            &s.env.tmp.path().join("backing"),
            &s.env.data(),
            &s.env.tmp.path().join("forgetfs.log"),
        );
        let csv = format!("{HEADER}\r\n{}\r\n", csv_row("341522", 7, 33));
        let mail = message(
            HUOQIU,
            "霍邱县7月报表",
            "",
            &[(&rfc2231("霍邱县_2025-07.csv"), csv.as_bytes())],
        );
        s.imap.deliver(&mail);
        let url = format!("smtp://127.0.0.1:{}", s.smtp.port);
        let ca = s.imap.ca.to_str().unwrap().to_string();
        let fault = if stage.is_empty() {
            String::new()
        } else {
            format!("crash@{stage}")
        };
        let ingest = |at: &str, fault: &str| {
            s.env.run_env(
                &["--as-of", at, "ingest"],
                &[
                    ("FAYUAN_IMAP_PASSWORD", PASSWORD),
                    ("FAYUAN_IMAP_CA_FILE", &ca),
                    ("FAYUAN_SMTP_URL", &url),
                    // syncfs does not reach a FUSE filesystem: each file and folder is synced.
                    ("FAYUAN_TEST_KERNEL", "4.19"),
                    ("FAYUAN_TEST_FAULT", fault),
                ],
            )
        };
        let r = ingest("2025-08-03 10:00", &fault);
        assert_eq!(
            r.code == 0,
            stage.is_empty(),
            "{stage}: killed: {}{}",
            r.stdout,
            r.stderr
        );
        fs.cut();
        for at in ["2025-08-03 10:05", "2025-08-03 10:10"] {
            let r = ingest(at, "");
            assert_eq!(r.code, 0, "{stage}: {}{}", r.stdout, r.stderr);
        }
        let got = s.receipts();
        for rcpt in [HUOQIU, "huoqiu-2@example.gov.cn"] {
            let n = got.iter().filter(|g| g.0 == rcpt).count();
            assert_eq!(n, 1, "{stage}: {rcpt} got {n} receipts: {got:?}");
        }
        let files = s.env.store().files().unwrap();
        assert_eq!(files.len(), 1, "{stage}: {files:?}");
        let kept = std::fs::read(s.env.data().join(&files[0].stored_as)).unwrap_or_default();
        assert_eq!(kept, csv.as_bytes(), "{stage}: archived byte for byte");
        assert_eq!(s.imap.count("INBOX"), 0, "{stage}");
        // The message itself, archived byte for byte (it left the mailbox's inbox).
        let mut archived = Vec::new();
        let mut stack = vec![s.env.data().join("mail")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "eml") {
                    archived.push(fayuan::fsutil::sha256_hex(&std::fs::read(&p).unwrap()));
                }
            }
        }
        assert!(
            archived.contains(&fayuan::fsutil::sha256_hex(&mail)),
            "{stage}: the message not archived whole ({} .eml)",
            archived.len()
        );
        assert_eq!(s.imap.count("fayuan-processed"), 1, "{stage}");
        let verify = s
            .env
            .run_env(&["audit", "--verify"], &[("FAYUAN_TEST_KERNEL", "4.19")]);
        assert_eq!(
            verify.code, 0,
            "{stage}: {}{}",
            verify.stdout, verify.stderr
        );
        drop(fs);
    }
}

/// A power cut after a kill while the staff return a month and open a 督办事项 (issue 35 §2,
/// the supervision ledgers): the line written survives the cut (it was synced before the step
/// went on), the next command puts it on the record once, and its notice is delivered once.
#[test]
fn a_power_cut_while_a_month_is_returned_keeps_the_return_and_sends_its_notice_once() {
    if !fuse_ready() || !crate::support::smtp::python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&crate::support::smtp::pipeline(dir.path(), &[]));
    let fs = Forgetful::over(
        &env.tmp.path().join("backing"),
        &env.data(),
        &env.tmp.path().join("forgetfs.log"),
    );
    let server = crate::support::smtp::Server::start(
        "smtp",
        crate::support::smtp::free_port(),
        &env.tmp.path().join("mail"),
        &[],
    );
    let url = format!("smtp://127.0.0.1:{}", server.port);
    let run = |args: &[&str], fault: &str| {
        env.run_env(
            args,
            &[
                ("FAYUAN_SMTP_URL", &url),
                ("FAYUAN_TEST_KERNEL", "4.19"),
                ("FAYUAN_TEST_FAULT", fault),
            ],
        )
    };
    env.drop_in(
        "霍邱县_2025-06.xlsx",
        &std::fs::read(repo().join("samples/luan-2025/霍邱县_2025-06.xlsx")).unwrap(),
    );
    let r = run(&["--as-of", "2025-07-04 09:00", "ingest"], "");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let give_back = [
        "--as-of",
        "2025-07-08 10:00",
        "return",
        "--unit",
        "341522",
        "--period",
        "2025-06",
        "--reason",
        "办结案件数与台账不符",
        "--by",
        "张三",
    ];
    let r = run(&give_back, "crash@supervision-ledger");
    assert_ne!(r.code, 0, "killed: {}{}", r.stdout, r.stderr);
    fs.cut();
    let item = [
        "--as-of",
        "2025-07-09 10:00",
        "supervise",
        "--unit",
        "341522",
        "--text",
        "请说明",
        "--due",
        "2025-07-31",
    ];
    let r = run(&item, "crash@supervision-ledger");
    assert_ne!(r.code, 0, "killed: {}{}", r.stdout, r.stderr);
    fs.cut();
    // The next command (here: audit) puts the steps on the record and makes the notices the
    // crash left unmade; then whatever waits is sent, twice over.
    let audit = run(
        &["--as-of", "2025-07-09 11:00", "audit", "--unit", "341522"],
        "",
    )
    .stdout;
    for at in ["2025-07-09 11:10", "2025-07-09 11:20"] {
        let r = run(&["--as-of", at, "send"], "");
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    assert_eq!(
        audit
            .matches("退回霍邱县2025年6月：办结案件数与台账不符")
            .count(),
        1,
        "{audit}"
    );
    assert_eq!(
        audit.matches("交办督办事项 1：请说明").count(),
        1,
        "{audit}"
    );
    let verify = run(&["audit", "--verify"], "");
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let to_huoqiu: Vec<String> = server
        .received()
        .into_iter()
        .filter(|(rcpt, _)| rcpt.ends_with("huoqiu@example.gov.cn.eml"))
        .map(|(_, raw)| String::from_utf8_lossy(&raw).into_owned())
        .collect();
    let returned = to_huoqiu
        .iter()
        .filter(|raw| {
            mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .and_then(|m| m.subject().map(|s| s.contains("月报退回修改")))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(returned, 1, "the 退回通知 once");
    let items = to_huoqiu
        .iter()
        .filter(|raw| raw.contains("item-1.luan-2025@fayuan"))
        .count();
    assert_eq!(items, 1, "the 督办通知 once");
    drop(fs);
}
