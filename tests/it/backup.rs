//! Backup and restore (issue 36 §5): `fayuan backup --to DIR` while a daemon ingests and mails,
//! `restore --check`, `restore FILE --to DIR`; what is restored has the same status, the same
//! record and the same reports, byte for byte. A damaged, truncated, foreign or newer archive is
//! refused with nothing left behind, and nothing is ever restored over a file.

use crate::support::daemon::{Daemon, wait_for};
use crate::support::smtp::{Server, free_port, pipeline, python_ready};
use crate::support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The binary with no pipeline of its own (a restore needs none), in `dir`.
fn bare(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_fayuan"))
        .current_dir(dir)
        .args(args)
        .env_remove("FAYUAN_PIPELINE")
        .env_remove("FAYUAN_DATA_DIR")
        .env_remove("FAYUAN_AS_OF")
        .env("TMPDIR", dir)
        .env("FAYUAN_LOG", "warn")
        .output()
        .unwrap();
    output(out)
}

/// Every file under `root` (relative name → bytes), but the data folder's two lock files.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                let name = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                if name != ".fayuan.lock" && name != ".fayuan-deliver.lock" {
                    out.insert(name, std::fs::read(&p).unwrap());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The archives in a folder, oldest first (by when each was written: two of the same second
/// are `…-231015.tar` and `…-231015-2.tar`).
fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// The record's lines of files taken, and the files the store holds, in a data folder.
fn files_on_record_and_in_store(data: &Path) -> (usize, usize) {
    let record = std::fs::read_to_string(data.join("audit/2025.jsonl")).unwrap_or_default();
    let on_record = record
        .lines()
        .filter(|l| l.contains("\"kind\":\"file_"))
        .count();
    let store = fayuan::store::Store::open(&fayuan::layout::DataDir::new(data));
    (on_record, store.files().map(|f| f.len()).unwrap_or(0))
}

fn samples(months: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("samples/luan-2025"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            months.split(',').any(|m| n.contains(&format!("_2025-{m}")))
        })
        .collect();
    v.sort();
    v
}

/// Backups taken again and again while the daemon takes June's files and sends June's digest
/// (each waits for the write and the delivery lock, so each is a moment between two steps);
/// each restores and reads as a whole folder; the last, after the daemon stopped, restores to
/// the same status, the same record and the same reports, byte for byte.
#[test]
fn backups_taken_while_the_daemon_ingests_and_mails_restore_whole() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with_pipeline(&pipeline(
        dir.path(),
        &[("ingest = \"0 */10 * * * *\"", "ingest = \"*/20 * * * * *\"")],
    ));
    for p in samples("01,02,03,04,05") {
        env.drop_in(
            &p.file_name().unwrap().to_string_lossy(),
            &std::fs::read(&p).unwrap(),
        );
    }
    let june = samples("06");
    assert_eq!(june.len(), 8);
    let port = free_port();
    let mail = Server::start("smtp", port, &env.tmp.path().join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{port}");
    let backups = dir.path().join("backups");
    // Ten simulated seconds a real one: an ingest every 2 s, the report at 09:00 after 3 s.
    let d = Daemon::start(
        &env,
        &["--as-of", "2025-07-06 08:59:30", "--clock-rate", "10"],
        &[("FAYUAN_SMTP_URL", &url)],
    );
    let mut taken = 0;
    let mut k = 0;
    wait_for(
        "June's files taken and the digest sent",
        Duration::from_secs(120),
        || {
            if k < june.len() {
                let p = &june[k];
                env.fresh_in(
                    &p.file_name().unwrap().to_string_lossy(),
                    &std::fs::read(p).unwrap(),
                );
                k += 1;
            }
            let r = env.run(&["backup", "--to", backups.to_str().unwrap()]);
            assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
            assert!(r.stdout.contains("备份已完成并核验"), "{}", r.stdout);
            taken += 1;
            let files = env.store().files().map(|f| f.len()).unwrap_or(0);
            taken >= 4 && files == 48 && mail.received().len() >= 2
        },
    );
    assert_eq!(d.stop(), 0);
    let during = archives(&backups);
    assert_eq!(
        during.len(),
        taken,
        "one archive per backup, none overwritten"
    );
    // Each backup taken meanwhile reads whole, and is one moment: the files on the record are
    // the files in the store, and each later one holds at least as much.
    let mut before = 0;
    for (i, a) in during.iter().enumerate() {
        let r = bare(dir.path(), &["restore", "--check", a.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}: {}{}", a.display(), r.stdout, r.stderr);
        assert!(r.stdout.contains("逐一核对 SHA-256 无误"), "{}", r.stdout);
        let to = dir.path().join(format!("during-{i}"));
        let r = bare(
            dir.path(),
            &["restore", a.to_str().unwrap(), "--to", to.to_str().unwrap()],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let (on_record, in_store) = files_on_record_and_in_store(&to.join("data"));
        assert_eq!(on_record, in_store, "{}", a.display());
        assert!(in_store >= before, "{}: {in_store} < {before}", a.display());
        before = in_store;
    }
    assert_eq!(
        before, 48,
        "the last backup during the run holds every file"
    );
    // No scratch folder of `restore --check` is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("restore-check"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    the_last_backup_restores_the_same(&env, dir.path(), &backups);
}

/// After the daemon stopped: a backup, restored, is the same folder, status, record and reports.
fn the_last_backup_restores_the_same(env: &Env, dir: &Path, backups: &Path) {
    let r = env.run(&[
        "--as-of",
        "2025-07-06 12:00",
        "backup",
        "--to",
        backups.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let last = backups.join("fayuan-pipeline-20250706-120000.tar");
    assert!(last.is_file(), "{}", r.stdout);
    // Every file: the data folder's (but its locks), the pipeline folder's, the reports', and
    // BACKUP.json.
    let data = tree(&env.data());
    let pipelines = tree(dir)
        .into_iter()
        .filter(|(n, _)| !n.contains('/'))
        .count();
    let output = tree(&env.tmp.path().join("output"));
    let files = data.len() + pipelines + output.len() + 1;
    assert!(
        r.stdout.contains(&format!("共 {files} 个文件")),
        "{files}: {}",
        r.stdout
    );
    let to = dir.join("restored");
    let r = bare(
        dir,
        &[
            "restore",
            last.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        tree(&to.join("data")) == data,
        "the data folder, byte for byte"
    );
    assert!(
        tree(&to.join("output")) == output,
        "the reports, byte for byte"
    );
    assert!(!output.is_empty());
    assert_eq!(
        std::fs::read(to.join("pipelines/pipeline.toml")).unwrap(),
        std::fs::read(&env.pipeline).unwrap()
    );
    // The same status and the same record, read by fayuan from each folder.
    let restored = |args: &[&str]| {
        let mut all: Vec<String> = vec![
            "--pipeline".into(),
            to.join("pipelines/pipeline.toml")
                .to_str()
                .unwrap()
                .to_string(),
            "--data-dir".into(),
            to.join("data").to_str().unwrap().to_string(),
            "--output-dir".into(),
            to.join("output").to_str().unwrap().to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        bare(dir, &all)
    };
    for args in [
        &[
            "--as-of",
            "2025-07-06 12:30",
            "status",
            "--period",
            "2025-06",
        ][..],
        &["--as-of", "2025-07-06 12:30", "audit"][..],
        &["--as-of", "2025-07-06 12:30", "audit", "--verify"][..],
    ] {
        let a = env.run(args);
        let b = restored(args);
        assert_eq!(a.code, 0, "{}{}", a.stdout, a.stderr);
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
    // `sha256sum -c` checks the restored copy too (the list is in its format).
    let ok = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// An archive made by hand with Python's tarfile: the real backup's entries, then `extra`
/// (name, kind, bytes or link target), then its SHA256SUMS — so only `extra` is wrong.
fn forged(real: &Path, out: &Path, extra: &str, data_format: Option<u32>) {
    let script = r#"
import hashlib, io, json, sys, tarfile
real, out, extra, fmt = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
src = tarfile.open(real)
dst = tarfile.open(out, "w", format=tarfile.GNU_FORMAT)
sums = src.extractfile("SHA256SUMS").read().decode("utf-8", "surrogateescape").splitlines(True)
def add(name, data):
    info = tarfile.TarInfo(name); info.size = len(data)
    dst.addfile(info, io.BytesIO(data))
    sums.append("%s  %s\n" % (hashlib.sha256(data).hexdigest(), name))
for m in src.getmembers():
    if m.name == "SHA256SUMS":
        continue
    if m.isfile():
        data = src.extractfile(m).read()
        if m.name == "BACKUP.json" and fmt:
            about = json.loads(data); about["data_format"] = int(fmt)
            data = json.dumps(about).encode()
            sums = [l for l in sums if not l.endswith("  BACKUP.json\n")]
            add(m.name, data)
        else:
            info = tarfile.TarInfo(m.name); info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    else:
        dst.addfile(m)
for name, kind, value in extra:
    if kind == "file":
        add(name, value.encode())
    elif kind == "ages":
        # a time no clock can hold (tar's base-256 field, 2^63 s and more)
        info = tarfile.TarInfo(name); data = value.encode(); info.size = len(data)
        info.mtime = 2**63 + 5
        dst.addfile(info, io.BytesIO(data))
        sums.append("%s  %s\n" % (hashlib.sha256(data).hexdigest(), name))
    else:
        info = tarfile.TarInfo(name); info.type = tarfile.SYMTYPE; info.linkname = value
        dst.addfile(info)
info = tarfile.TarInfo("SHA256SUMS"); data = "".join(sums).encode("utf-8", "surrogateescape"); info.size = len(data)
dst.addfile(info, io.BytesIO(data))
dst.close()
"#;
    let ok = Command::new("python3")
        .args(["-c", script])
        .arg(real)
        .arg(out)
        .arg(extra)
        .arg(data_format.map(|f| f.to_string()).unwrap_or_default())
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// What a restore refuses, with a clear line and nothing written: a folder not empty, a byte
/// changed, an archive cut short, a name outside the backup, a link, a newer fayuan's format,
/// and a backup folder inside the data folder.
#[test]
fn a_restore_refuses_what_it_cannot_trust_and_leaves_nothing_behind() {
    let env = Env::new();
    let r = env.run(&[
        "--as-of",
        "2025-07-04 09:00",
        "ingest",
        repo().join("samples/luan-2025").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dir = env.tmp.path().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let backups = dir.join("backups");
    // A backup folder inside the data folder would back itself up: refused, named absolute or
    // relative, made or not.
    for inside in [
        env.data().join("backups"),
        std::path::PathBuf::from("data/new/backups"),
    ] {
        let r = env.run(&["backup", "--to", inside.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("在数据目录"), "{}", r.stderr);
    }
    assert!(!env.data().join("backups").exists() && !env.data().join("new").exists());
    // Names as they come: a backslash before an n, a carriage return, GBK bytes (a file copied
    // from a Windows share) — each backed up and restored under its own name.
    use std::os::unix::ffi::OsStrExt;
    let odd: [&[u8]; 3] = [
        b"a\\new.csv",
        "行\r尾.csv".as_bytes(),
        b"\xb1\xa8\xb1\xed.csv",
    ];
    for (k, name) in odd.iter().enumerate() {
        let path = env.inbox().join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&path, format!("odd {k}")).unwrap();
    }
    let r = env.run(&[
        "--as-of",
        "2025-07-04 10:00",
        "backup",
        "--to",
        backups.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("2025年工作台账完整：48 条记录"),
        "{}",
        r.stdout
    );
    let real = archives(&backups).pop().unwrap();
    let real_s = real.to_str().unwrap();
    // Restored whole, the odd names too, and `sha256sum -c` agrees.
    let ok = dir.join("ok");
    let r = bare(&dir, &["restore", real_s, "--to", ok.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(tree(&ok.join("data")) == tree(&env.data()));
    for name in odd {
        let path = ok
            .join("data/inbox")
            .join(std::ffi::OsStr::from_bytes(name));
        assert!(path.is_file(), "{}", path.display());
    }
    let sums = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&ok)
        .output()
        .unwrap();
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );
    // Into a folder that holds a file: refused, the file untouched, nothing added.
    let full = dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    let r = bare(&dir, &["restore", real_s, "--to", full.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("不是空文件夹"), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(full.join("keep.txt")).unwrap(),
        "mine"
    );
    // One byte changed in a county's file: named, refused, the new folder left empty.
    let mut bytes = std::fs::read(&real).unwrap();
    let at = bytes
        .windows("受理审批".len())
        .position(|w| w == "受理审批".as_bytes())
        .unwrap();
    bytes[at + 1] ^= 1;
    let damaged = dir.join("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let fresh = dir.join("fresh");
    let r = bare(
        &dir,
        &[
            "restore",
            damaged.to_str().unwrap(),
            "--to",
            fresh.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("的 SHA-256 与 SHA256SUMS 不符（文件已损坏）")
            && r.stderr.contains("data/archive/"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_dir(&fresh).unwrap().count(), 0);
    let r = bare(&dir, &["restore", "--check", damaged.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // Cut short (a copy that did not finish).
    let short = dir.join("short.tar");
    std::fs::write(&short, &std::fs::read(&real).unwrap()[..bytes.len() / 2]).unwrap();
    let r = bare(&dir, &["restore", "--check", short.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("不完整"), "{}", r.stderr);
    refuses_forged_entries(&dir, &real);
    // No scratch folder of `restore --check` is left behind.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("restore-check"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn refuses_forged_entries(dir: &Path, real: &Path) {
    let cases: [(&str, &str, Option<u32>); 5] = [
        (
            r#"[["data/inbox/late.csv", "ages", "x"]]"#,
            "不是可能的时间",
            None,
        ),
        (
            r#"[["data/../../evil.txt", "file", "x"]]"#,
            "指向备份之外",
            None,
        ),
        (
            r#"[["data/link", "link", "/etc/passwd"]]"#,
            "不是普通文件或文件夹",
            None,
        ),
        (
            r#"[["elsewhere/x.txt", "file", "x"]]"#,
            "不属于 fayuan 的备份",
            None,
        ),
        ("[]", "请用更新的 fayuan 恢复", Some(99)),
    ];
    for (k, (extra, said, format)) in cases.into_iter().enumerate() {
        let forged_tar = dir.join(format!("forged-{k}.tar"));
        forged(real, &forged_tar, extra, format);
        let to = dir.join(format!("forged-{k}"));
        let r = bare(
            dir,
            &[
                "restore",
                forged_tar.to_str().unwrap(),
                "--to",
                to.to_str().unwrap(),
            ],
        );
        assert_eq!(r.code, 1, "{extra}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(said), "{extra}: {}", r.stderr);
        assert_eq!(std::fs::read_dir(&to).unwrap().count(), 0, "{extra}");
    }
    assert!(!dir.parent().unwrap().join("evil.txt").exists());
    assert!(!dir.join("evil.txt").exists());
}
