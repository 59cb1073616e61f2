//! Upgrades (issue 36 §6): the data folder carries its format; a newer fayuan migrates an older
//! folder once, an older fayuan refuses a newer one.

use crate::support::*;

/// Copies a folder, as it is, into `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// A data folder made by the binary of main on 5 December 2026, before the format mark (format
/// 0; `tests/data/format-0`, made from the shipped samples: the 48 files of January to June taken,
/// June's report made with its digest undelivered — the mail server refused — and 霍邱县's June
/// returned, its notice undelivered too) opened by this binary: marked as format 1 once, and
/// every file, version, record line and undelivered message is there.
#[test]
fn a_data_folder_of_the_format_before_opens_with_nothing_lost() {
    if !crate::support::smtp::python_ready() {
        return;
    }
    let env = Env::new();
    copy_tree(&repo().join("tests/data/format-0/data"), &env.data());
    assert!(!env.data().join("FORMAT").exists());
    let r = env.run_env(
        &["--as-of", "2025-07-08 09:00", "status"],
        &[("FAYUAN_LOG", "info")],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("migrated to this format"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(env.data().join("FORMAT")).unwrap(),
        "1\n"
    );
    // Every file: the 48 samples, each archived byte for byte.
    let files = env.store().files().unwrap();
    assert_eq!(files.len(), 48);
    for e in std::fs::read_dir(repo().join("samples/luan-2025"))
        .unwrap()
        .flatten()
    {
        let sha = fayuan::fsutil::sha256_hex(&std::fs::read(e.path()).unwrap());
        let f = files
            .iter()
            .find(|f| f.sha256 == sha)
            .expect("every sample taken");
        assert_eq!(f.outcome, fayuan::store::Outcome::Accepted);
        let kept = std::fs::read(env.data().join(&f.stored_as)).unwrap();
        assert_eq!(fayuan::fsutil::sha256_hex(&kept), sha);
    }
    // Every version: eight units × six months, each its first.
    let rows = latest_rows(&env.store());
    assert_eq!(rows.len(), 48);
    // Every record line: 48 files taken and one return, the chain whole.
    let verify = env.run(&["audit", "--verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let lines = std::fs::read_to_string(env.data().join("audit/2025.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 49);
    // Every undelivered message: the digest to the leader and the staff, the 退回通知 to 霍邱县
    // and the staff — delivered now, once.
    let mail = crate::support::smtp::Server::start(
        "smtp",
        crate::support::smtp::free_port(),
        &env.tmp.path().join("mail"),
        &[],
    );
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    for at in ["2025-07-08 09:10", "2025-07-08 09:20"] {
        let r = env.run_env(&["--as-of", at, "send"], &[("FAYUAN_SMTP_URL", &url)]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let mut got: Vec<String> = mail.received().into_iter().map(|(rcpt, _)| rcpt).collect();
    got.sort();
    assert_eq!(got.len(), 4, "{got:?}");
    for who in ["leader@", "huoqiu@"] {
        assert_eq!(got.iter().filter(|g| g.contains(who)).count(), 1, "{got:?}");
    }
    assert_eq!(got.iter().filter(|g| g.contains("data-staff@")).count(), 2);
    // Once: the next command finds the mark and migrates nothing.
    let r = env.run_env(
        &["--as-of", "2025-07-08 10:00", "status"],
        &[("FAYUAN_LOG", "info")],
    );
    assert_eq!(r.code, 0);
    assert!(!r.stderr.contains("migrated"), "{}", r.stderr);
}

/// A folder of a newer format (written by a newer fayuan) is refused by this one, in words, and
/// left as it is.
#[test]
fn a_data_folder_of_a_newer_format_is_refused_and_left_alone() {
    let env = Env::new();
    copy_tree(&repo().join("tests/data/format-0/data"), &env.data());
    std::fs::write(env.data().join("FORMAT"), "2\n").unwrap();
    let before = env.files_under("");
    for args in [
        vec!["--as-of", "2025-07-08 09:00", "status"],
        vec!["--as-of", "2025-07-08 09:00", "ingest"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("第 2 版格式") && r.stderr.contains("请使用更新的 fayuan"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(env.files_under(""), before);
    assert_eq!(
        std::fs::read_to_string(env.data().join("FORMAT")).unwrap(),
        "2\n"
    );
}
