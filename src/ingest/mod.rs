//! Taking county files in: from `<data-dir>/inbox/` to the archive (accepted, byte for byte,
//! named by SHA-256) or to quarantine (rejected, with a Chinese error report beside it), and
//! their rows into the store.
//!
//! Invariants:
//! - nothing a county sends is deleted or overwritten: a file leaves the inbox only after its
//!   bytes are safely in the archive or quarantine *and* the store has recorded it;
//! - a crash at any point loses nothing: a file still in the inbox is taken again on the next
//!   run, and one already recorded is recognised by its SHA-256;
//! - the same bytes are never taken twice.

pub mod read;
pub mod validate;

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::period::{self, TZ};
use crate::store::{FileEntry, Outcome, Store};
use chrono::DateTime;
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use validate::Checked;

/// The folders under a data directory.
pub struct Folders {
    pub inbox: PathBuf,
    pub archive: PathBuf,
    pub quarantine: PathBuf,
}

impl Folders {
    pub fn of(data_dir: &Path) -> Folders {
        Folders {
            inbox: data_dir.join("inbox"),
            archive: data_dir.join("archive"),
            quarantine: data_dir.join("quarantine"),
        }
    }
}

/// What one ingest run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub batch: Option<i64>,
    pub files: Vec<FileEntry>,
}

impl Summary {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.files.iter().filter(|f| f.outcome == outcome).count()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Files waiting in the inbox, oldest first (by modification time, then name). Hidden files
/// and the lock files office software leaves (`~$…`) are not submissions.
pub fn waiting(inbox: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(inbox) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(inbox, e)),
    };
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::io(inbox, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.starts_with("~$") {
            continue;
        }
        let md = e.metadata().map_err(|err| Error::io(&e.path(), err))?;
        if md.is_file() {
            files.push((md.modified().ok(), name, e.path()));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, _, p)| p).collect())
}

/// Copies files (and the files directly inside folders) into the inbox, as if a county had
/// put them there. The originals are not touched; a different file already waiting under the
/// same name is kept, and the copy gets a numbered name instead.
pub fn copy_into_inbox(data_dir: &Path, paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|q| q.is_file())
                .collect();
            inside.sort();
            sources.extend(inside);
        } else {
            sources.push(p.clone());
        }
    }
    let mut copied = Vec::new();
    for src in sources {
        let bytes = fs::read(&src).map_err(|e| Error::io(&src, e))?;
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        copied.push(drop_into_inbox(data_dir, &name, &bytes)?);
    }
    Ok(copied)
}

/// Puts bytes into the inbox under `name`, as if a county had sent them. A different file
/// already waiting under that name is kept; the new one gets a numbered name instead.
pub fn drop_into_inbox(data_dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let inbox = Folders::of(data_dir).inbox;
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s.to_string(), format!(".{e}")),
        None => (name.to_string(), String::new()),
    };
    let mut dest = inbox.join(name);
    let mut n = 1;
    while fs::read(&dest).is_ok_and(|existing| existing != bytes) {
        n += 1;
        dest = inbox.join(format!("{stem}({n}){ext}"));
    }
    fsutil::write_new(&dest, bytes)?;
    Ok(dest)
}

/// How many files one batch takes at most: one commit and one filesystem sync per batch, and
/// a bound on the memory held.
pub const BATCH_FILES: usize = 4096;

/// Something to tell about progress (a progress bar on a terminal; nothing in the daemon).
pub trait Progress: Sync {
    fn start(&self, total: usize);
    fn advance(&self, files: usize);
}

/// Takes every file waiting in the inbox, in batches of [`BATCH_FILES`].
pub fn ingest(pipeline: &Pipeline, data_dir: &Path, now: DateTime<Tz>) -> Result<Summary> {
    ingest_with(pipeline, data_dir, now, None)
}

pub fn ingest_with(
    pipeline: &Pipeline,
    data_dir: &Path,
    now: DateTime<Tz>,
    progress: Option<&dyn Progress>,
) -> Result<Summary> {
    let folders = Folders::of(data_dir);
    for dir in [&folders.inbox, &folders.archive, &folders.quarantine] {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let paths = waiting(&folders.inbox)?;
    if paths.is_empty() {
        return Ok(Summary::default());
    }
    if let Some(p) = progress {
        p.start(paths.len());
    }
    let store = Store::open(data_dir);
    // SHA-256 → (arrived_at, file name) of every file taken before.
    let mut known: HashMap<String, (String, String)> = store.known()?;
    let mut summary = Summary::default();
    for chunk in paths.chunks(BATCH_FILES) {
        let batch = take_batch(pipeline, data_dir, &store, &mut known, chunk, now)?;
        if let Some(p) = progress {
            p.advance(chunk.len());
        }
        summary.batch = batch.batch;
        summary.files.extend(batch.files);
    }
    Ok(summary)
}

/// A file read and checked (in parallel, before anything is decided).
struct Read {
    path: PathBuf,
    name: String,
    bytes: Vec<u8>,
    sha: String,
    checked: Option<Checked>,
}

fn take_batch(
    pipeline: &Pipeline,
    data_dir: &Path,
    store: &Store,
    known: &mut HashMap<String, (String, String)>,
    paths: &[PathBuf],
    now: DateTime<Tz>,
) -> Result<Summary> {
    use rayon::prelude::*;
    let batch = store.next_batch()?;
    let arrived_at = period::instant_text(&now);
    let month_dir = now.with_timezone(&TZ).format("%Y-%m").to_string();
    let reject_whole = pipeline.def.submission.reject_whole_file_on_error;

    // 1. Read, hash and check every file, in parallel. Files already known are not parsed.
    let read: Vec<Read> = paths
        .par_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
            let sha = sha256_hex(&bytes);
            let checked =
                (!known.contains_key(&sha)).then(|| validate::check(&name, &bytes, pipeline));
            Ok(Read {
                path: path.clone(),
                name,
                bytes,
                sha,
                checked,
            })
        })
        .collect::<Result<Vec<Read>>>()?;

    // 2. Decide, in arrival order (a file may repeat one earlier in the same batch).
    let mut entries: Vec<FileEntry> = Vec::with_capacity(read.len());
    let mut checked_rows: Vec<(i64, validate::Row)> = Vec::new();
    // (source in the inbox, where to keep it, its bytes)
    let mut writes: Vec<(&Path, PathBuf, &[u8])> = Vec::with_capacity(read.len());
    let mut reports: Vec<(PathBuf, String)> = Vec::new();
    let mut sums: HashMap<PathBuf, String> = HashMap::new();
    for (k, r) in read.iter().enumerate() {
        let seq = k as i64 + 1;
        let stored_name = format!("{}_{}", &r.sha[..12], r.name);
        let mut entry = FileEntry {
            batch,
            seq,
            sha256: r.sha.clone(),
            file_name: r.name.clone(),
            size: r.bytes.len() as i64,
            arrived_at: arrived_at.clone(),
            outcome: Outcome::Duplicate,
            stored_as: String::new(),
            rows_accepted: 0,
            rows_rejected: 0,
            problems: String::new(),
            unit_codes: String::new(),
        };
        let checked = match (known.get(&r.sha), &r.checked) {
            (Some((first_at, first_name)), _) => {
                // Same bytes as before: keep this copy beside the archive, take nothing.
                let rel = format!("archive/duplicates/{month_dir}/{stored_name}");
                writes.push((&r.path, data_dir.join(&rel), &r.bytes));
                entry.stored_as = rel;
                entry.problems = format!(
                    "与 {} 收到的文件“{}”完全相同（SHA-256 {}），已忽略",
                    first_at,
                    first_name,
                    &r.sha[..12]
                );
                tracing::info!(file = %r.name, first = %first_name, "duplicate file ignored");
                entries.push(entry);
                continue;
            }
            (None, Some(c)) => c.clone(),
            (None, None) => validate::check(&r.name, &r.bytes, pipeline),
        };
        let outcome = if checked.unusable
            || checked.rows.is_empty()
            || (reject_whole && !checked.problems.is_empty())
        {
            Outcome::Rejected
        } else if checked.problems.is_empty() {
            Outcome::Accepted
        } else {
            Outcome::Partial
        };
        let rel = match outcome {
            Outcome::Rejected => format!("quarantine/{month_dir}/{stored_name}"),
            _ => format!("archive/{month_dir}/{stored_name}"),
        };
        let dest = data_dir.join(&rel);
        entry.outcome = outcome;
        entry.stored_as = rel;
        entry.rows_accepted = if outcome == Outcome::Rejected {
            0
        } else {
            checked.rows.len() as i64
        };
        entry.rows_rejected = if outcome == Outcome::Rejected {
            (checked.rows.len() + checked.bad_rows) as i64
        } else {
            checked.bad_rows as i64
        };
        entry.problems = problem_lines(&r.name, &checked).join("\n");
        entry.unit_codes = checked.unit_codes.join(",");
        if !checked.problems.is_empty() {
            reports.push((
                dest.with_file_name(format!("{stored_name}.错误报告.txt")),
                error_report(&entry, &checked),
            ));
        }
        if outcome != Outcome::Rejected {
            sums.entry(dest.parent().map(Path::to_path_buf).unwrap_or_default())
                .or_default()
                .push_str(&format!("{}  {stored_name}\n", r.sha));
            checked_rows.extend(checked.rows.into_iter().map(|row| (seq, row)));
        }
        tracing::debug!(file = %r.name, outcome = outcome.as_str(), rows = entry.rows_accepted, "file checked");
        writes.push((&r.path, dest, &r.bytes));
        known.insert(
            r.sha.clone(),
            (entry.arrived_at.clone(), entry.file_name.clone()),
        );
        entries.push(entry);
    }

    // 3. Keep every file's bytes (in parallel), then make them durable together.
    writes
        .par_iter()
        .try_for_each(|(src, dest, bytes)| fsutil::keep_new(src, dest, bytes))?;
    reports
        .par_iter()
        .try_for_each(|(dest, text)| fsutil::write_new_unsynced(dest, text.as_bytes()))?;
    // A checksum list per archive folder and batch, verifiable with `sha256sum -c`.
    for (dir, text) in &sums {
        fsutil::write_new_unsynced(
            &dir.join(format!("SHA256SUMS-b{batch:06}")),
            text.as_bytes(),
        )?;
    }
    fsutil::sync_filesystem(data_dir)?;
    let rows: Vec<(usize, &validate::Row)> = checked_rows
        .iter()
        .map(|(seq, r)| ((*seq - 1) as usize, r))
        .collect();
    store.commit(batch, &entries, &rows)?;
    // Only now, with the bytes kept and the store committed, do the files leave the inbox.
    for r in &read {
        fs::remove_file(&r.path).map_err(|e| Error::io(&r.path, e))?;
    }
    let accepted = entries
        .iter()
        .filter(|e| e.outcome == Outcome::Accepted)
        .count();
    tracing::info!(
        batch,
        files = entries.len(),
        accepted,
        rows = rows.len(),
        "batch committed"
    );
    Ok(Summary {
        batch: Some(batch),
        files: entries,
    })
}

/// Each problem as one line that names the file: `霍邱县_2025-06.xlsx 月报!D5 受理审批案件数：…`.
pub fn problem_lines(name: &str, checked: &Checked) -> Vec<String> {
    checked
        .problems
        .iter()
        .map(|p| format!("{name} {p}"))
        .collect()
}

/// The error report placed beside a rejected (or partly accepted) file, for county staff.
fn error_report(entry: &FileEntry, checked: &Checked) -> String {
    let verdict = match entry.outcome {
        Outcome::Partial => format!(
            "部分接收：已导入 {} 行，以下问题所在的 {} 行未导入。请更正后重新报送。",
            entry.rows_accepted, entry.rows_rejected
        ),
        _ => "已拒收，本文件的数据均未导入。请更正以下全部问题后重新报送整个文件。".into(),
    };
    let mut out = format!(
        "法律援助民生实事月报 数据校验报告\n\n文件：{}\n收到时间：{}\nSHA-256：{}\n结论：{}\n\n问题清单（共 {} 个）：\n",
        entry.file_name,
        entry.arrived_at,
        entry.sha256,
        verdict,
        checked.problems.len()
    );
    for (i, line) in problem_lines(&entry.file_name, checked).iter().enumerate() {
        out.push_str(&format!("{}. {line}\n", i + 1));
    }
    out.push_str(
        "\n报送要求：每行为一个单位一个月的本月数（非累计数）；表头须包含“单位代码”等规定列名；\n金额单位为元，最多两位小数；案件数为不小于0的整数。\n",
    );
    out
}
