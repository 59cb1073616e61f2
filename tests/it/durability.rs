//! Sync that cannot lie (issue 35 §3): a failed sync of the data folder is never retried over.
//! `FAYUAN_TEST_FAULT=eio@syncfs` (or `eio@sync-dir`) makes a sync fail as a disk that lost what
//! it was given does; `FAYUAN_TEST_KERNEL` stands in for the kernel's release (before 5.8,
//! `syncfs` did not report write-back errors, so each file and folder is synced on its own).

use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The number of distinct outbox messages whose id starts with `prefix`.
fn notices(env: &Env, prefix: &str) -> usize {
    env.files_under("outbox")
        .into_iter()
        .filter_map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .find(|c| c.starts_with(prefix))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn inbox_files(env: &Env) -> usize {
    std::fs::read_dir(env.inbox())
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

fn stored(env: &Env) -> usize {
    env.store().files().map(|f| f.len()).unwrap_or(0)
}

/// The daemon as of 4 July 2025 with `vars`: its exit code when it stops by itself within 60 s,
/// or, when `until` is given, once `until` holds it is asked to stop (SIGTERM).
fn daemon(env: &Env, vars: &[(&str, &str)], until: Option<&dyn Fn() -> bool>) -> i32 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fayuan"))
        .current_dir(env.tmp.path())
        .arg("--pipeline")
        .arg(&env.pipeline)
        .arg("--data-dir")
        .arg(env.data())
        .args(["--as-of", "2025-07-04 09:00", "daemon"])
        .env("FAYUAN_LOG", "info")
        .env_remove("FAYUAN_AS_OF")
        .env_remove("FAYUAN_TEST_FAULT")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(env.tmp.path().join("daemon.log"))
                .unwrap(),
        ))
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if let Some(done) = until
            && done()
        {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            return child.wait().unwrap().code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_failed_sync_stops_the_daemon_tells_the_staff_once_and_a_restart_recovers() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    let waiting = inbox_files(&env);
    assert_eq!(waiting, 48);
    // The ingest's group commit fails: nothing is taken for kept, the daemon stops (1).
    for _ in 0..2 {
        let code = daemon(&env, &[("FAYUAN_TEST_FAULT", "eio@syncfs")], None);
        assert_eq!(code, 1);
        assert_eq!(
            inbox_files(&env),
            waiting,
            "every county file still in the inbox"
        );
        assert_eq!(stored(&env), 0, "nothing committed over a failed sync");
        // The staff are told once, however often the service manager restarts it.
        assert_eq!(notices(&env, "failure-ingest"), 1);
    }
    let log = std::fs::read_to_string(env.tmp.path().join("daemon.log")).unwrap();
    assert!(log.contains("数据写入磁盘失败"), "{log}");
    // The disk works again: the restart takes every file, once, and says the job recovered.
    let code = daemon(
        &env,
        &[],
        Some(&|| stored(&env) == 48 && inbox_files(&env) == 0),
    );
    assert_eq!(code, 0);
    assert_eq!(
        env.files_under("archive")
            .iter()
            .filter(|p| !p.to_string_lossy().contains("SHA256SUMS"))
            .count(),
        48
    );
    assert_eq!(notices(&env, "recovered-ingest"), 1);
    assert_eq!(notices(&env, "failure-ingest"), 1);
}

/// A sync that fails in the pages' own ingest of an upload (not a job of the daemon): the daemon,
/// and `fayuan serve` alone, stop and exit 1, the county's file waits in the inbox (the county was told it is
/// kept, to be processed), the staff are told once however often it is restarted, and the
/// daemon's restart takes the file and says the ingest works again.
#[test]
fn a_failed_sync_in_an_uploads_ingest_stops_the_pages_tells_the_staff_once() {
    let (_dir, port, env) = crate::support::web::web_env("");
    let serve_and_upload = |command: &str, code: &str, name: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fayuan"))
            .current_dir(env.tmp.path())
            .arg("--pipeline")
            .arg(&env.pipeline)
            .arg("--data-dir")
            .arg(env.data())
            .args(["--as-of", "2025-07-04 09:00", command])
            .env("FAYUAN_WEB_SECRET", crate::support::web::SECRET)
            .env("FAYUAN_WEB_TOKEN", crate::support::web::TOKEN)
            .env("FAYUAN_TEST_FAULT", "eio@syncfs")
            .env("FAYUAN_LOG", "info")
            .env_remove("FAYUAN_AS_OF")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(env.tmp.path().join("serve.log"))
                    .unwrap(),
            ))
            .spawn()
            .unwrap();
        crate::support::web::wait_served(port, &mut child, &env.tmp.path().join("serve.log"));
        let url = format!(
            "http://127.0.0.1:{port}/u/{code}/{}",
            hmac_token(crate::support::web::SECRET.as_bytes(), code)
        );
        let bytes = std::fs::read(repo().join("samples/luan-2025").join(name)).unwrap();
        let (status, body) = crate::support::web::rt().block_on(async {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
            // Not followed: the pages stop at once, the result is shown after the restart.
            let r = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(url)
                .multipart(form)
                .send()
                .await;
            match r {
                Ok(r) => (
                    r.status().as_u16(),
                    r.headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                ),
                Err(e) => (0, e.to_string()),
            }
        });
        let log = std::fs::read_to_string(env.tmp.path().join("serve.log")).unwrap_or_default();
        // The upload was answered (303 to its result) although its ingest failed: it is kept.
        assert_eq!(status, 303, "{body}\n{log}");
        assert!(body.contains("?result="), "{body}");
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the pages did not stop after the failed sync"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The daemon's pages first, then `fayuan serve` alone: each stops (1), the staff told once.
    for (n, (command, code, name)) in [
        ("daemon", "341522", "霍邱县_2025-06.xlsx"),
        ("serve", "341523", "舒城县_2025-06.csv"),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            serve_and_upload(command, code, name),
            1,
            "{command} exits 1"
        );
        assert_eq!(
            env.files_under("inbox").len(),
            n + 1,
            "the upload waits in the inbox"
        );
        assert_eq!(stored(&env), 0, "nothing committed over a failed sync");
        assert_eq!(notices(&env, "failure-ingest"), 1, "told once");
    }
    let log = std::fs::read_to_string(env.tmp.path().join("serve.log")).unwrap();
    assert!(log.contains("数据写入磁盘失败"), "{log}");
    // The daemon (the disk works again) takes both at once and says the ingest recovered.
    let code = daemon(
        &env,
        &[
            ("FAYUAN_WEB_TOKEN", crate::support::web::TOKEN),
            ("FAYUAN_WEB_SECRET", crate::support::web::SECRET),
        ],
        Some(&|| stored(&env) == 2 && env.files_under("inbox").is_empty()),
    );
    assert_eq!(code, 0);
    assert_eq!(notices(&env, "recovered-ingest"), 1);
    assert_eq!(notices(&env, "failure-ingest"), 1);
}

#[test]
fn before_linux_5_8_each_file_and_folder_is_synced_and_a_failure_is_not_taken_for_kept() {
    // An old kernel: syncfs is not trusted; the files and folders written are synced one by one.
    let env = Env::new();
    env.drop_samples_except(&[]);
    let r = env.run_env(
        &["--as-of", "2025-07-04 09:00", "ingest"],
        &[
            ("FAYUAN_TEST_KERNEL", "4.19.90-2102.2.0.0062.ctl2.x86_64"),
            ("FAYUAN_LOG", "info"),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("before Linux 5.8"), "{}", r.stderr);
    assert_eq!(stored(&env), 48);
    // A folder's sync fails there: the command fails (1) in Chinese, nothing taken.
    let env = Env::new();
    env.drop_samples_except(&[]);
    let r = env.run_env(
        &["--as-of", "2025-07-04 09:00", "ingest"],
        &[
            ("FAYUAN_TEST_KERNEL", "4.19.90"),
            ("FAYUAN_TEST_FAULT", "eio@sync-dir"),
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("数据写入磁盘失败"), "{}", r.stderr);
    assert_eq!(stored(&env), 0);
    assert_eq!(inbox_files(&env), 48);
    // A new kernel's syncfs failing: the same.
    let r = env.run_env(
        &["--as-of", "2025-07-04 09:00", "ingest"],
        &[("FAYUAN_TEST_FAULT", "eio@syncfs")],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(stored(&env), 0);
    assert_eq!(inbox_files(&env), 48);
}

/// One syscall of an strace log (`-f -y`), in the order it completed.
#[derive(Debug)]
enum Call {
    /// A write to a file (its path, from `-y`).
    Write(String),
    /// fsync/fdatasync of a file or folder.
    Sync(String),
    /// syncfs: everything written before it is on the disk.
    SyncFs,
    /// A rename (or link) into place: from, to.
    Rename(String, String),
    /// A folder made.
    Mkdir(String),
    /// A name removed (unlink, rmdir).
    Unlink(String),
}

/// The calls of an `strace -f -y` log: unfinished calls joined with their resumption, each at
/// the moment it returned; failed calls left out.
fn calls(log: &str, cwd: &std::path::Path) -> Vec<Call> {
    let abs = |p: &str| {
        let p = std::path::Path::new(p);
        if p.is_absolute() {
            p.to_string_lossy().into_owned()
        } else {
            cwd.join(p).to_string_lossy().into_owned()
        }
    };
    // `"a", "b"` → the quoted strings, unescaped enough for paths (strace escapes non-ASCII as
    // octal: decoded here).
    let strings = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(a) = rest.find('"') {
            let tail = &rest[a + 1..];
            let Some(b) = tail.find('"') else { break };
            out.push(unoctal(&tail[..b]));
            rest = &tail[b + 1..];
        }
        out
    };
    let fd_path = |s: &str| -> Option<String> {
        let a = s.find('<')?;
        let b = s[a..].find('>')? + a;
        Some(unoctal(&s[a + 1..b]))
    };
    let mut partial: std::collections::HashMap<String, String> = Default::default();
    let mut out = Vec::new();
    for line in log.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        let full = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            partial.insert(pid.to_string(), head.to_string());
            continue;
        } else if rest.starts_with("<... ") {
            let Some(head) = partial.remove(pid) else {
                continue;
            };
            let tail = rest.split_once("resumed>").map_or("", |t| t.1);
            format!("{head}{tail}")
        } else {
            rest.to_string()
        };
        let Some((call, ret)) = full.rsplit_once(" = ") else {
            continue;
        };
        if ret.trim_start().starts_with('-') {
            continue;
        }
        let name = call.split('(').next().unwrap_or("");
        match name {
            "write" | "pwrite64" | "writev" | "pwritev" => {
                if let Some(p) = fd_path(call) {
                    out.push(Call::Write(p));
                }
            }
            "fsync" | "fdatasync" => {
                if let Some(p) = fd_path(call) {
                    out.push(Call::Sync(p));
                }
            }
            "syncfs" => out.push(Call::SyncFs),
            "rename" | "renameat" | "renameat2" | "link" | "linkat" => {
                let s = strings(call);
                if s.len() >= 2 {
                    out.push(Call::Rename(abs(&s[0]), abs(&s[1])));
                }
            }
            "mkdir" | "mkdirat" => {
                if let Some(p) = strings(call).first() {
                    out.push(Call::Mkdir(abs(p)));
                }
            }
            "unlink" | "unlinkat" | "rmdir" => {
                if let Some(p) = strings(call).first() {
                    out.push(Call::Unlink(abs(p)));
                }
            }
            _ => {}
        }
    }
    out
}

/// strace's octal escapes (`\345\217\227`) back to UTF-8.
fn unoctal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'\\'
            && k + 3 < b.len() + 0
            && b[k + 1..k + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[k + 1..k + 4]).unwrap(), 8).unwrap(),
            );
            k += 4;
        } else {
            out.push(b[k]);
            k += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every rename into place under `roots` that breaks the order: not after a sync of what it
/// renames (since that was last written), or not followed by a sync of its folder.
fn out_of_order(calls: &[Call], roots: &[String]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (r, c) in calls.iter().enumerate() {
        let Call::Rename(from, to) = c else { continue };
        if !roots.iter().any(|root| to.starts_with(root.as_str())) {
            continue;
        }
        let under = |p: &str| p == from || p.starts_with(&format!("{from}/"));
        // (a) each path written under `from` synced (itself or by syncfs) after its last write.
        let written: std::collections::BTreeSet<&str> = calls[..r]
            .iter()
            .filter_map(|c| match c {
                Call::Write(p) if under(p) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        for p in written {
            let last = calls[..r]
                .iter()
                .rposition(|c| matches!(c, Call::Write(q) if q == p))
                .unwrap_or(0);
            let synced = calls[last..r].iter().any(|c| match c {
                Call::SyncFs => true,
                Call::Sync(q) => q == p,
                _ => false,
            });
            if !synced {
                wrong.push(format!("{to}: renamed before {p} was synced"));
            }
        }
        // (b) its folder synced (or syncfs) after the rename.
        let dir = std::path::Path::new(to)
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let after = calls[r + 1..].iter().any(|c| match c {
            Call::SyncFs => true,
            Call::Sync(q) => *q == dir,
            _ => false,
        });
        if !after {
            wrong.push(format!(
                "{to}: its folder {dir} never synced after the rename"
            ));
        }
    }
    // (c) a folder made, and a name removed (but a temporary one's: it is renamed into place,
    // or swept), followed by a sync of the folder it was made or removed in.
    for (r, c) in calls.iter().enumerate() {
        let (path, what) = match c {
            Call::Mkdir(p) if !p.contains(".tmp-") => (p, "made"),
            Call::Unlink(p) if !p.contains(".tmp-") => (p, "removed"),
            _ => continue,
        };
        if !roots.iter().any(|root| path.starts_with(root.as_str())) {
            continue;
        }
        let dir = std::path::Path::new(path)
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let after = calls[r + 1..].iter().any(|c| match c {
            Call::SyncFs => true,
            Call::Sync(q) => *q == dir,
            _ => false,
        });
        if !after {
            wrong.push(format!(
                "{path} {what}: its folder {dir} never synced after"
            ));
        }
    }
    wrong
}

/// Ordering checked from the system calls (issue 35 §4): one ingest (a refused file among the
/// accepted ones), one report and one delivery round, one file taken in by hand (into the inbox
/// with its arrival note), each under `strace -f`: every rename into place in the data and
/// output folders comes after a sync of what it renames and is followed by a sync of its folder;
/// every folder made and every name removed (but a temporary file's) is followed by a sync of
/// its folder.
#[test]
fn every_rename_into_place_follows_a_sync_and_is_followed_by_one() {
    let strace = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !strace {
        skipped("the ordering test", "strace", "apt-get install strace");
        return;
    }
    let env = Env::new();
    env.drop_samples_except(&[]);
    env.drop_in("坏文件.csv", "not,a,report\n1,2,3\n".as_bytes());
    let data = env.data().to_string_lossy().into_owned();
    let output = env.tmp.path().join("output").to_string_lossy().into_owned();
    let roots = [
        // (the daemon's own state files — heartbeat, last look — are rewritten at the next beat,
        // not promised durable; they live under daemon/)
        format!("{data}/archive"),
        format!("{data}/quarantine"),
        format!("{data}/store"),
        format!("{data}/outbox"),
        format!("{data}/audit"),
        format!("{data}/deliveries"),
        format!("{data}/supervision"),
        format!("{data}/inbox"),
        format!("{data}/arrivals"),
        output.clone(),
    ];
    // A file the staff take in by hand (补录): copied into the inbox with its arrival note.
    let late = env.tmp.path().join("霍邱县_2025-07.csv");
    std::fs::write(
        &late,
        format!(
            "{}\r\n{}\r\n",
            crate::support::imap::HEADER,
            crate::support::imap::csv_row("341522", 7, 33)
        ),
    )
    .unwrap();
    let late = late.to_string_lossy().into_owned();
    // (`run` queues the digest and the units' messages and then delivers them: the delivery
    // round; with no mail server they are kept as .eml.)
    for args in [
        vec!["--as-of", "2025-07-04 09:00", "ingest"],
        vec!["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"],
        vec![
            "--as-of",
            "2025-08-04 09:00",
            "ingest",
            late.as_str(),
            "--received",
            "2025-08-03 10:00",
        ],
    ] {
        let log = env.tmp.path().join("trace.txt");
        let o = Command::new("strace")
            .args(["-f", "-qq", "-y", "-s", "4096", "-e"])
            .arg("trace=write,pwrite64,writev,pwritev,fsync,fdatasync,syncfs,rename,renameat,renameat2,link,linkat,mkdir,mkdirat,unlink,unlinkat,rmdir")
            .arg("-o")
            .arg(&log)
            .arg(env!("CARGO_BIN_EXE_fayuan"))
            .arg("--pipeline")
            .arg(&env.pipeline)
            .arg("--data-dir")
            .arg(env.data())
            .args(&args)
            .current_dir(env.tmp.path())
            .env_remove("FAYUAN_TEST_FAULT")
            .output()
            .unwrap();
        assert!(
            o.status.code().is_some_and(|c| c == 0 || c == 3),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let calls = calls(&text, env.tmp.path());
        let renames = calls.iter().filter(|c| matches!(c, Call::Rename(_, t) if roots.iter().any(|r| t.starts_with(r.as_str())))).count();
        assert!(renames > 0, "{args:?}: no rename into place seen");
        let wrong = out_of_order(&calls, &roots);
        assert!(wrong.is_empty(), "{args:?}:\n{}", wrong.join("\n"));
    }
}
