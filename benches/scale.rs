//! The scale benchmark (issue 6): Lu'an (8 units), a province (120) and the country (3,000),
//! each × 12 months, through the real release binary. Run with `cargo bench --bench scale`
//! (add `-- --quick` to skip the national scale). Prints a Markdown table for BENCHMARKS.md.
//!
//! Measures, per scale: cold ingest (wall time, files/s, MB/s, peak RSS), one month's report
//! from the store (wall, peak RSS), ingest + report; and 8 new files into an empty store vs. a
//! full one; and the daemon's idle RSS and CPU.

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fayuan");

struct Measured {
    wall: Duration,
    max_rss_kb: i64,
    ok: bool,
}

/// Runs the binary and measures it (wall time; peak RSS of that child via wait4).
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its rusage
fn measure(dir: &Path, args: &[&str]) -> Measured {
    let start = Instant::now();
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("FAYUAN_LOG", "error")
        .env("CI", "1") // no progress bar
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the release binary runs");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it in for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our child's; status and usage are valid for writes.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let code = libc::WEXITSTATUS(status);
    Measured {
        wall: start.elapsed(),
        max_rss_kb: usage.ru_maxrss,
        ok: code == 0 || code == 3,
    }
}

fn dir_bytes(dir: &Path) -> (usize, u64) {
    let mut n = 0;
    let mut b = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let m = e.unwrap().metadata().unwrap();
        if m.is_file() {
            n += 1;
            b += m.len();
        }
    }
    (n, b)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn sample(out: &Path, units: usize, months: u32, seed: u64) {
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/luan-2025.toml");
    let ok = Command::new(BIN)
        .args([
            "--pipeline",
            pipeline.to_str().unwrap(),
            "sample",
            "--units",
            &units.to_string(),
            "--months",
            &months.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("FAYUAN_LOG", "error")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "sample generation failed");
}

/// The generated files are complete: the inbox's quiet period (a wait for files still being
/// written, not work) is set to 0 so that the figures measure work only.
fn no_quiet(pipeline: &Path) {
    let text = std::fs::read_to_string(pipeline).unwrap();
    assert!(
        text.contains("quiet_seconds = 2.0"),
        "the pipeline's quiet period"
    );
    std::fs::write(
        pipeline,
        text.replace("quiet_seconds = 2.0", "quiet_seconds = 0.0"),
    )
    .unwrap();
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mb(kb: i64) -> String {
    format!("{:.0} MB", kb as f64 / 1024.0)
}

/// Eight new files for units of a scale's pipeline (corrections of month 1, other figures).
fn eight_new(base: &Path, units: usize) -> PathBuf {
    let extra = base.join(format!("extra-{units}"));
    if !extra.exists() {
        sample(&extra, 8, 1, 4242);
    }
    let only = base.join(format!("eight-{units}"));
    std::fs::create_dir_all(&only).unwrap();
    for e in std::fs::read_dir(extra.join("inbox")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("bad_") {
            std::fs::copy(&p, only.join(&name)).unwrap();
        }
    }
    only
}

/// Copies, hashes (SHA-256), syncs and unlinks every file of `inbox` — what any ingest must do
/// at least — into `work/`: the floor an ingest is compared with (issue 22 §7). Synced as
/// fayuan syncs, once for the lot (`syncfs`: group commit), or (`per_file`) one `fsync` per
/// file as a naive copy would.
fn copy_hash_sync_unlink(inbox: &Path, work: &Path, per_file: bool) -> Duration {
    use sha2::{Digest, Sha256};
    let staged = work.join("staged");
    let kept = work.join("kept");
    copy_dir(inbox, &staged);
    std::fs::create_dir_all(&kept).unwrap();
    // Both read warm files: the ingest's come from the generator just written, these from the
    // copy just made.
    let start = Instant::now();
    for e in std::fs::read_dir(&staged).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let digest = Sha256::digest(&bytes);
        let to = kept.join(hex::encode(&digest[..8]));
        std::fs::write(&to, &bytes).unwrap();
        if per_file {
            std::fs::File::open(&to).unwrap().sync_all().unwrap();
        }
        std::fs::remove_file(&p).unwrap();
    }
    let dir = std::fs::File::open(&kept).unwrap();
    // SAFETY: a valid open descriptor; syncfs only flushes.
    assert_eq!(
        unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) },
        0
    );
    start.elapsed()
}

/// The same sums by pandas + openpyxl (`benches/same_sums.py`): None when python3 with pandas
/// and openpyxl is not here.
fn pandas_same_sums(inbox: &Path, work: &Path) -> Option<Duration> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/same_sums.py");
    let copy = work.join("pandas-inbox");
    copy_dir(inbox, &copy);
    let start = Instant::now();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&copy)
        .arg(work.join("pandas.xlsx"))
        .output()
        .ok()?;
    let wall = start.elapsed();
    if !out.status.success() {
        eprintln!("same_sums.py: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(wall)
}

/// One GET over a fresh connection; the answer's status line must say 200.
fn get(port: u16, path: &str, token: Option<&str>) -> Duration {
    use std::io::{Read, Write};
    let start = Instant::now();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).unwrap();
    let wall = start.elapsed();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    wall
}

fn p95(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 95).div_ceil(100) - 1])
}

/// The pages on the shipped sample data (Lu'an, January to June): 100 requests each to the
/// bureau's page, its JSON and a county's page, through `fayuan serve`; median and p95.
fn pages(base: &Path) {
    let dir = base.join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(repo.join("pipelines/luan-2025.toml")).unwrap();
    std::fs::copy(
        repo.join("pipelines/calendar.toml"),
        dir.join("calendar.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("pipeline.toml"),
        format!("{text}\n[web]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let samples = repo.join("samples/luan-2025");
    let ingest = measure(
        &dir,
        &[
            "--pipeline",
            "pipeline.toml",
            "--as-of",
            "2025-07-04 09:00",
            "ingest",
            samples.to_str().unwrap(),
        ],
    );
    assert!(ingest.ok, "pages: ingest failed");
    let token = "bench-token-0123456789abcdef";
    let secret = "bench-secret-0123456789abcdef";
    let mut server = Command::new(BIN)
        .current_dir(&dir)
        .args(["--pipeline", "pipeline.toml", "serve"])
        .env("FAYUAN_LOG", "error")
        .env("FAYUAN_WEB_TOKEN", token)
        .env("FAYUAN_WEB_SECRET", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let county = fayuan::web::unit_path(secret.as_bytes(), "341522");
    println!();
    println!("| page (sample data, 100 requests) | median | p95 |");
    println!("|---|---|---|");
    for (name, path, auth) in [
        ("bureau page `/`", "/", Some(token)),
        ("`/api/status`", "/api/status", Some(token)),
        ("county page `/u/341522/…`", county.as_str(), None),
    ] {
        let times: Vec<Duration> = (0..100).map(|_| get(port, path, auth)).collect();
        let (median, p95) = p95(times);
        println!(
            "| {name} | {:.1} ms | {:.1} ms |",
            median.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

/// The province's pages under load (issue 35 §6): all twelve monthly reports made, then 20
/// clients at once, 20 requests each, to the bureau's page and to a small download (a run's
/// `alerts.csv`), through `fayuan serve`; median and p95 of each.
fn busy_pages(dir: &Path, pipeline: &Path) {
    let p = pipeline.to_str().unwrap();
    for m in 1..=11 {
        let period = format!("2025-{m:02}");
        let r = measure(
            dir,
            &[
                "--pipeline",
                p,
                "--as-of",
                "2026-01-06 09:00",
                "run",
                "--no-email",
                "--period",
                &period,
            ],
        );
        assert!(r.ok, "busy pages: report {period} failed");
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let busy = dir.join("busy.toml");
    let text = std::fs::read_to_string(pipeline).unwrap();
    // (the synthetic pipeline has its [web] already: only its address changes)
    let text = if text.contains("\n[web]\n") {
        text.replace(
            "listen = \"127.0.0.1:8080\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
    } else {
        format!("{text}\n[web]\nlisten = \"127.0.0.1:{port}\"\n")
    };
    std::fs::write(&busy, text).unwrap();
    let token = "bench-token-0123456789abcdef";
    let mut server = Command::new(BIN)
        .current_dir(dir)
        .args([
            "--pipeline",
            busy.to_str().unwrap(),
            "--as-of",
            "2026-01-06 10:00",
            "serve",
        ])
        .env("FAYUAN_LOG", "error")
        .env("FAYUAN_WEB_TOKEN", token)
        .env("FAYUAN_WEB_SECRET", "bench-secret-0123456789abcdef")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first asks compute the board once (as the first page of the minute does).
    get(port, "/bureau?period=2025-12", Some(token));
    println!();
    println!("| province, 20 clients × 20 requests | median | p95 |");
    println!("|---|---|---|");
    for (name, path) in [
        ("bureau page", "/bureau?period=2025-12"),
        ("a run's alerts.csv", "/bureau/file/2025-12/alerts.csv"),
    ] {
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let path = path.to_string();
                std::thread::spawn(move || {
                    (0..20)
                        .map(|_| get(port, &path, Some(token)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let times: Vec<Duration> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let (median, p95) = p95(times);
        println!(
            "| {name} | {:.1} ms | {:.1} ms |",
            median.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
    // An upload's answer (issue 37): 20 Decembers of one unit through its page, one at a time.
    let url = format!(
        "http://127.0.0.1:{port}/u/100007/{}",
        support::hmac_token(b"bench-secret-0123456789abcdef", "100007")
    );
    let rt = support::web::rt();
    let times: Vec<Duration> = (0..20)
        .map(|k| {
            let row = support::imap::csv_row("100007", 12, 40 + k);
            let csv = format!("{}\r\n{row}\r\n", support::imap::HEADER);
            let start = Instant::now();
            let (status, body) = rt.block_on(support::outbox::post_file(
                &url,
                "100007_2025-12.csv",
                csv.into_bytes(),
            ));
            let took = start.elapsed();
            assert!(status == 200 && body.contains("已接收"), "{status}: {body}");
            took
        })
        .collect();
    let (median, p95) = p95(times);
    println!(
        "| an upload's answer (20, one at a time) | {:.1} ms | {:.1} ms |",
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let base = tempfile::tempdir_in(
        std::env::var("FAYUAN_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()),
    )
    .unwrap();
    println!(
        "| scale | files | MB | cold ingest | files/s | MB/s | ingest RSS | report (1 month) | report RSS | ingest + report |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let scales: &[(&str, usize)] = if quick {
        &[("Lu'an", 8), ("province", 120)]
    } else {
        &[("Lu'an", 8), ("province", 120), ("national", 3000)]
    };
    let mut incremental = Vec::new();
    let mut comparisons: Vec<String> = Vec::new();
    for (name, units) in scales {
        let dir = base.path().join(format!("s{units}"));
        sample(&dir, *units, 12, 2025);
        let (files, bytes) = dir_bytes(&dir.join("inbox"));
        let pipeline = dir.join("pipeline.toml");
        no_quiet(&pipeline);
        let floor = (*units == 120).then(|| {
            let work = base.path().join(format!("floor-{units}"));
            (
                copy_hash_sync_unlink(&dir.join("inbox"), &work.join("group"), false),
                copy_hash_sync_unlink(&dir.join("inbox"), &work.join("each"), true),
                pandas_same_sums(&dir.join("inbox"), &work),
            )
        });
        let p = pipeline.to_str().unwrap();
        let ingest = measure(
            &dir,
            &["--pipeline", p, "--as-of", "2026-01-05 09:00", "ingest"],
        );
        assert!(ingest.ok, "{name}: ingest failed");
        let report = measure(
            &dir,
            &[
                "--pipeline",
                p,
                "--as-of",
                "2026-01-06 09:00",
                "run",
                "--no-email",
                "--period",
                "2025-12",
            ],
        );
        assert!(report.ok, "{name}: report failed");
        println!(
            "| {name} ({units} units × 12) | {files} | {:.1} | {} | {:.0} | {:.1} | {} | {} | {} | {} |",
            bytes as f64 / 1e6,
            secs(ingest.wall),
            files as f64 / ingest.wall.as_secs_f64(),
            bytes as f64 / 1e6 / ingest.wall.as_secs_f64(),
            mb(ingest.max_rss_kb),
            secs(report.wall),
            mb(report.max_rss_kb),
            secs(ingest.wall + report.wall)
        );
        if let Some((floor, each, pandas)) = floor {
            let ours = ingest.wall + report.wall;
            comparisons.push(format!(
                "{name}: ingest + December report {} = {:.2}× copying, hashing, syncing (once, syncfs) and unlinking the same files ({}), {:.2}× the same with one fsync per file ({}); pandas + openpyxl doing the same sums: {}",
                secs(ours),
                ours.as_secs_f64() / floor.as_secs_f64(),
                secs(floor),
                ours.as_secs_f64() / each.as_secs_f64(),
                secs(each),
                match pandas {
                    Some(p) => format!("{} ({:.0}× as long)", secs(p), p.as_secs_f64() / ours.as_secs_f64()),
                    None => "not measured (needs python3 with pandas and openpyxl)".into(),
                }
            ));
        }
        if *units == 120 {
            busy_pages(&dir, &pipeline);
        }
        // 8 new files: into this full store, and into an empty store of the same pipeline.
        let eight = eight_new(base.path(), *units);
        copy_dir(&eight, &dir.join("inbox"));
        let full = measure(
            &dir,
            &["--pipeline", p, "--as-of", "2026-01-07 09:00", "ingest"],
        );
        let empty_dir = base.path().join(format!("empty-{units}"));
        std::fs::create_dir_all(&empty_dir).unwrap();
        std::fs::copy(&pipeline, empty_dir.join("pipeline.toml")).unwrap();
        copy_dir(&eight, &empty_dir.join("inbox"));
        let empty = measure(
            &empty_dir,
            &[
                "--pipeline",
                empty_dir.join("pipeline.toml").to_str().unwrap(),
                "--as-of",
                "2026-01-07 09:00",
                "ingest",
            ],
        );
        incremental.push((name.to_string(), empty.wall, full.wall));
    }
    println!();
    for c in &comparisons {
        println!("{c}");
    }
    pages(base.path());
    println!();
    println!("| 8 new files into | empty store | full store (12 months) | ratio |");
    println!("|---|---|---|---|");
    for (name, empty, full) in &incremental {
        println!(
            "| {name} | {} | {} | {:.2}× |",
            secs(*empty),
            secs(*full),
            full.as_secs_f64() / empty.as_secs_f64()
        );
    }
    // The daemon at rest, on the Lu'an-sized data: RSS and CPU over 10 s.
    let dir = base.path().join("s8");
    let mut d = Command::new(BIN)
        .current_dir(&dir)
        .args(["--pipeline", "pipeline.toml", "daemon"])
        .env("FAYUAN_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let cpu = |pid: u32| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
    };
    let c0 = cpu(d.id());
    std::thread::sleep(Duration::from_secs(10));
    let c1 = cpu(d.id());
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.id())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or("VmRSS: ? kB")
        .to_string();
    let _ = Command::new("kill")
        .args(["-TERM", &d.id().to_string()])
        .status();
    let _ = d.wait();
    println!();
    println!(
        "daemon idle: {} , CPU {:.2}% over 10 s",
        rss.replace("VmRSS:", "RSS")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        (c1 - c0) / 10.0 * 100.0
    );
}
