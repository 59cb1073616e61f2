//! The fuzz target for the readers: a structure-aware mutation fuzzer on stable Rust. Seeds are
//! the shipped samples (and the shared fixtures when `FAYUAN_FUZZ_FIXTURES`… see below); each
//! input is a seed mutated at the byte level, at the CSV/JSON field level, or inside a
//! workbook's zip (sheet and shared-string XML edited, then packed again). Every input goes
//! the product's way — `validate::check`, workbooks through the reader worker process — and
//! must come back with rows or a Chinese reason. A panic on a CSV or JSON input (fayuan's own
//! reader) fails the test; library panics on workbooks (caught, the file reported as damaged)
//! and reader crashes (the worker dies, the file is rejected) are counted as findings.
//!
//! `FAYUAN_FUZZ_ITERS` sets the number of inputs (default 10,000: seconds in CI);
//! `FAYUAN_FUZZ_SEED` the random seed. Findings are written to `FAYUAN_FUZZ_OUT` if set.

use crate::support::*;
use fayuan::ingest::{isolate, read, validate};
use std::io::{Read, Write};

const INTERESTING: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "-1",
    "NaN",
    "inf",
    "",
    "=1+2",
    "\u{0}",
    "2025.1",
    "2025-13",
    "１２",
    "1,234.567",
    "0.001",
    "341522",
    "XFD1048576",
    "\"",
    "\r\n",
    "4294967296",
];

fn mutate_text(rng: &mut fastrand::Rng, text: &str) -> String {
    let mut parts: Vec<String> = text
        .split_inclusive([',', '\n', '"', '<', '>', ':'])
        .map(String::from)
        .collect();
    if parts.is_empty() {
        return text.to_string();
    }
    for _ in 0..rng.usize(1..4) {
        let k = rng.usize(..parts.len());
        match rng.u8(..5) {
            0 => parts[k] = INTERESTING[rng.usize(..INTERESTING.len())].to_string(),
            1 => parts[k].push_str(INTERESTING[rng.usize(..INTERESTING.len())]),
            2 => {
                let n = rng.usize(1..2000);
                let dup = parts[k].repeat(n.min(50_000 / parts[k].len().max(1)));
                parts[k] = dup;
            }
            3 => {
                parts.remove(k);
                if parts.is_empty() {
                    break;
                }
            }
            _ => {
                let j = rng.usize(..parts.len());
                parts.swap(k, j);
            }
        }
    }
    parts.concat()
}

fn mutate_bytes(rng: &mut fastrand::Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.usize(1..8) {
        if b.is_empty() {
            b.push(rng.u8(..));
            continue;
        }
        let k = rng.usize(..b.len());
        match rng.u8(..6) {
            0 => b[k] ^= 1 << rng.u8(..8),
            1 => b[k] = [0, 0xff, b'\n', b',', b'"', b'=', 0x80, b'<'][rng.usize(..8)],
            2 => {
                let end = (k + rng.usize(1..64)).min(b.len());
                b.drain(k..end);
            }
            3 => {
                let end = (k + rng.usize(1..256)).min(b.len());
                let chunk = b[k..end].to_vec();
                b.splice(k..k, chunk);
            }
            4 => b.truncate(k),
            _ => b.insert(k, rng.u8(..)),
        }
    }
    b
}

/// Unpacks a workbook, mutates one XML part as text, packs it again.
fn mutate_zip(rng: &mut fastrand::Rng, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let target = rng.usize(..zin.len());
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if rng.bool() {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for i in 0..zin.len() {
        let mut part = zin.by_index(i).ok()?;
        let name = part.name().ok()?.to_string();
        let mut data = Vec::new();
        part.read_to_end(&mut data).ok()?;
        if i == target {
            data = match String::from_utf8(data) {
                Ok(text) => mutate_text(rng, &text).into_bytes(),
                Err(e) => mutate_bytes(rng, e.into_bytes()),
            };
        }
        out.start_file(&name, options).ok()?;
        out.write_all(&data).ok()?;
    }
    Some(out.finish().ok()?.into_inner())
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![repo().join("samples/luan-2025")];
    if let Some(f) = std::env::var_os("FAYUAN_FIXTURES") {
        let f = std::path::PathBuf::from(f).join("luan-2025-q1");
        dirs.extend(["inbox", "inbox-later", "bad"].map(|d| f.join(d)));
    }
    for d in dirs {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push((name, bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn readers_survive_mutated_files() {
    isolate::enable(env!("CARGO_BIN_EXE_fayuan").into(), 1024);
    let iters: usize = std::env::var("FAYUAN_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("FAYUAN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2025);
    let out = std::env::var_os("FAYUAN_FUZZ_OUT").map(std::path::PathBuf::from);
    let pipeline = luan();
    let seeds = seeds();
    assert!(seeds.len() >= 48);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut accepted, mut rejected, mut panics, mut crashes, mut timeouts) = (0, 0, 0, 0, 0);
    let start = std::time::Instant::now();
    for i in 0..iters {
        let (name, bytes) = &seeds[rng.usize(..seeds.len())];
        let zipped = bytes.starts_with(b"PK");
        let input = match rng.u8(..3) {
            0 => mutate_bytes(&mut rng, bytes.clone()),
            1 if zipped => mutate_zip(&mut rng, bytes).unwrap_or_else(|| bytes.clone()),
            _ => match std::str::from_utf8(bytes) {
                Ok(t) => mutate_text(&mut rng, t).into_bytes(),
                Err(_) if zipped => mutate_zip(&mut rng, bytes).unwrap_or_else(|| bytes.clone()),
                Err(_) => mutate_bytes(&mut rng, bytes.clone()),
            },
        };
        let checked = validate::check(name, &input, &pipeline);
        let first = checked
            .problems
            .first()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let workbook = read::format_of(name) == Some(read::Format::Workbook);
        let finding = if first.contains(read::INTERNAL) {
            // CSV and JSON are read by fayuan's own code: a panic there is a bug to fix.
            assert!(workbook, "a panic reading {name}: {first}");
            panics += 1;
            Some("panic")
        } else if first.contains("读取时超出内存限制或无法解析") {
            crashes += 1;
            Some("crash")
        } else if first.contains("读取超时") {
            timeouts += 1;
            Some("timeout")
        } else {
            None
        };
        if let (Some(kind), Some(dir)) = (finding, &out) {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("{kind}-{i}-{name}")), &input).unwrap();
        }
        if checked.problem_count == 0 {
            accepted += 1;
            assert!(!checked.rows.is_empty());
        } else {
            rejected += 1;
            // Every problem is said in Chinese and is short enough to read.
            for p in &checked.problems {
                let text = p.to_string();
                assert!(
                    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                    "{text}"
                );
                assert!(
                    text.chars().count() < 2_000,
                    "{} chars",
                    text.chars().count()
                );
            }
        }
    }
    println!(
        "fuzz: {iters} inputs in {:.1} s (seed {seed}): {accepted} accepted, {rejected} rejected; findings: {panics} library panics caught, {crashes} reader crashes contained, {timeouts} timeouts",
        start.elapsed().as_secs_f64()
    );
    // A panic in fayuan's own code fails this test above. A panic inside the spreadsheet
    // library (e.g. calamine's unchecked addition on a cell reference like `A99999999999`) is
    // contained: caught, and the file rejected as damaged — counted here as a finding.
    assert!(accepted > 0 && rejected > 0);
}
