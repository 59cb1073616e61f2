//! Taking county files in: from `<data-dir>/inbox/` to the archive (accepted, byte for byte,
//! named by SHA-256) or to quarantine (rejected, with a Chinese error report beside it), and
//! their rows into the store.
//!
//! Invariants:
//! - nothing a county sends is deleted or overwritten: a file leaves the inbox only after its
//!   bytes are safely in the archive or quarantine *and* the store has recorded it;
//! - a crash at any point loses nothing: a file still in the inbox is taken again on the next
//!   run, and one already recorded is recognised by its SHA-256;
//! - the same bytes are never taken twice: bytes accepted before are set aside as a duplicate;
//!   bytes rejected before are checked again (a file rejected for its name is taken when it
//!   comes back under a usable one, and one rejected for its content gets the same answer);
//! - a file's arrival is when the county sent it, as its door noted it (`arrival`), else its
//!   first sighting here — never later than the moment it is taken.

pub mod arrival;
mod inbox;
pub mod isolate;
mod problems;
pub mod read;
mod summary;
pub mod validate;

pub use inbox::{
    copy_into_inbox, disk_name, drop_from_source, drop_into_inbox, left_in_inbox, office_lock,
};
pub use problems::problem_lines;

use inbox::{Found, Stamp, leave_inbox, remove_empty_folders, scan, settled};
use problems::{error_report, recorded_problems};
pub use summary::{LeftAside, Summary};

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::layout::DataDir;
use crate::period::{self, TZ};
use crate::store::{FileEntry, Known, Outcome, Store, sha_key};
use chrono::DateTime;
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use validate::Checked;

/// How many files one batch takes at most: one commit and one filesystem sync per batch, and
/// a bound on the memory held.
pub const BATCH_FILES: usize = 4096;

/// How many bytes of files one batch reads into memory at most (a file over the size limit is
/// streamed, never held, and counts nothing): with a batch's files read at once, this is what
/// bounds an ingest's memory however large the files waiting (eight 19 MB uploads are three
/// batches, not one of 152 MB).
pub const BATCH_BYTES: u64 = 48_000_000;

/// What a file takes in memory when read: its size, or nothing when over the size limit.
fn max_read_bytes(limits: &crate::config::Limits) -> u64 {
    crate::config::mb_bytes(limits.max_file_mb)
}

/// The files in batches of at most [`BATCH_FILES`] files and [`BATCH_BYTES`] bytes read (at
/// least one file each), in order.
fn batches(files: &[Found], max_file: u64) -> Vec<&[Found]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (k, f) in files.iter().enumerate() {
        let size = if f.seen.len > max_file { 0 } else { f.seen.len };
        if k > start && (k - start >= BATCH_FILES || bytes + size > BATCH_BYTES) {
            out.push(&files[start..k]);
            (start, bytes) = (k, 0);
        }
        bytes += size;
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

/// Something to tell about progress (a progress bar on a terminal; nothing in the daemon).
pub trait Progress: Sync {
    fn start(&self, total: usize);
    fn advance(&self, files: usize);
}

/// Takes every file waiting in the inbox, in batches of [`BATCH_FILES`].
pub fn ingest(pipeline: &Pipeline, data_dir: &DataDir, now: DateTime<Tz>) -> Result<Summary> {
    ingest_with(pipeline, data_dir, now, None)
}

pub fn ingest_with(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    now: DateTime<Tz>,
    progress: Option<&dyn Progress>,
) -> Result<Summary> {
    // After a failed sync in this process nothing is taken: a copy "already there" may be one
    // the disk lost, and the originals would leave the inbox over it. The restart takes them.
    if let Some(e) = crate::error::failed_sync() {
        return Err(e);
    }
    let (inbox, archive, quarantine) =
        (data_dir.inbox(), data_dir.archive(), data_dir.quarantine());
    for dir in [&inbox, &archive, &quarantine] {
        crate::fsutil::make_dirs(dir)?;
    }
    // A run killed before its commit may have left unfinished copies (it left its marker); the
    // originals are still in the inbox, so the copies are only clutter. Without a marker there
    // is nothing to sweep, and the archive (which grows with the years) is not walked.
    if data_dir.batch_marker().exists() {
        for dir in [&archive, &quarantine] {
            fsutil::sweep_temp_files(dir, 3);
        }
        // The record (audit.rs) of the newest batch, if a crash came between its commit and
        // its record (or its record failed): recorded once (the record skips what it has).
        // Without a marker the last batch is on the record, and the record is not read.
        if record_batch(data_dir, pipeline.year(), &Store::open(data_dir), None, now)? {
            let _ = fs::remove_file(data_dir.batch_marker());
        }
    }
    let (mut found, mut left) = scan(&inbox)?;
    for f in &mut found {
        f.note = arrival::read(data_dir, &f.name);
    }
    let quiet = Duration::from_secs_f64(pipeline.def.limits.quiet_seconds);
    let (mut paths, young) = settled(found, quiet);
    // In arrival order: what a door noted first, then the rest as they were last written.
    paths.sort_by(|a, b| {
        let at = |f: &Found| f.note.as_ref().map(|n| n.at.0.min(now)).unwrap_or(now);
        (at(a), a.seen.modified, &a.name).cmp(&(at(b), b.seen.modified, &b.name))
    });
    left.extend(young);
    // Workbooks no reader can open wait, before a batch is begun for them (no empty batch at
    // every ingest while it lasts).
    if paths.iter().any(|f| isolate::is_workbook(&f.name))
        && let Err(isolate::NoReader(reason)) = isolate::workers_can_start()
    {
        let (books, rest): (Vec<Found>, Vec<Found>) = paths
            .into_iter()
            .partition(|f| isolate::is_workbook(&f.name));
        paths = rest;
        left.extend(books.into_iter().map(|f| LeftAside {
            name: f.name,
            reason: reason.clone(),
            waits_for_reader: true,
        }));
    }
    for l in &left {
        tracing::warn!(file = %l.name, reason = %l.reason, "left in the inbox");
    }
    let mut summary = Summary {
        left,
        ..Summary::default()
    };
    if paths.is_empty() {
        return Ok(summary);
    }
    if let Some(p) = progress {
        p.start(paths.len());
    }
    let store = Store::open(data_dir);
    // SHA-256 → (arrived_at, file name) of every file taken before.
    // SHA-256 → where the file is recorded (batch, seq) of every file taken before.
    let mut known: Known = store.known()?;
    let mut done = Vec::with_capacity(paths.len());
    for chunk in batches(&paths, max_read_bytes(&pipeline.def.limits)) {
        let batch = take_batch(pipeline, data_dir, &store, &mut known, chunk, now)?;
        if let Some(p) = progress {
            p.advance(chunk.len());
        }
        summary.files.extend(batch.summary.files);
        summary.left.extend(batch.summary.left);
        done.extend(batch.done);
    }
    // Only now, with every batch's bytes kept and committed, do the files leave the inbox.
    leave_inbox(&done, data_dir)?;
    let noted: Vec<&Found> = done.iter().filter(|f| f.note.is_some()).collect();
    for f in &noted {
        arrival::remove(data_dir, &f.name);
    }
    if !noted.is_empty() {
        // Their removal made durable: a note a power cut brought back could be taken for a
        // later file's of the same name.
        fsutil::sync_dir(&data_dir.arrivals())?;
    }
    remove_empty_folders(&inbox)?;
    Ok(summary)
}

/// A file's bytes as read: in memory, or (over the size limit) copied aside while hashed, so
/// that what the SHA-256 names is exactly what is kept.
enum Bytes {
    Memory(Vec<u8>),
    Staged(PathBuf),
}

/// A file read and checked (in parallel, before anything is decided).
struct Read {
    found: Found,
    bytes: Bytes,
    size: u64,
    sha: String,
    checked: Option<Checked>,
}

/// Reads one file: all of it into memory, or, when larger than the limit, streamed into a
/// staging copy in quarantine (it will only be kept, never parsed). `None` when the file
/// changed while it was read (still being written): it is left for the next ingest.
fn read_one(f: &Found, max_bytes: u64, staging: &Path) -> Result<Option<(Bytes, u64, String)>> {
    if f.seen.len > max_bytes {
        use std::io::{Read as _, Write as _};
        crate::fsutil::make_dirs(staging)?;
        let tmp = fsutil::temp_name(&staging.join(fsutil::sha256_hex(f.name.as_bytes())));
        let copy = || -> std::io::Result<(u64, String)> {
            let mut src = fs::File::open(&f.path)?;
            let mut dst = fs::File::create(&tmp)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = src.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                dst.write_all(&buf[..n])?;
                size += n as u64;
            }
            Ok((size, hex::encode(hasher.finalize())))
        };
        return match copy() {
            Ok((size, sha)) if Stamp::now(&f.path) == Some(f.seen) => {
                Ok(Some((Bytes::Staged(tmp), size, sha)))
            }
            Ok(_) => {
                let _ = fs::remove_file(&tmp);
                Ok(None)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(Error::io(&f.path, e))
            }
        };
    }
    let bytes = fs::read(&f.path).map_err(|e| Error::io(&f.path, e))?;
    if Stamp::now(&f.path) != Some(f.seen) || bytes.len() as u64 != f.seen.len {
        return Ok(None);
    }
    let sha = fsutil::sha256_hex(&bytes);
    Ok(Some((Bytes::Memory(bytes), f.seen.len, sha)))
}

fn take_batch(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    store: &Store,
    known: &mut Known,
    found: &[Found],
    now: DateTime<Tz>,
) -> Result<Taken> {
    let month_dir = now.with_timezone(&TZ).format("%Y-%m").to_string();
    let b = Batch {
        pipeline,
        data_dir,
        store,
        number: store.next_batch()?,
        now,
        limits: read::Limits::of(&pipeline.def.limits),
        staging: data_dir.quarantine_month(&month_dir),
        month_dir,
        rejected: std::sync::OnceLock::new(),
    };
    let marker = data_dir.batch_marker();
    crate::fsutil::make_dirs(&data_dir.store())?;
    fsutil::replace_synced(&marker, std::process::id().to_string().as_bytes())?;
    let (read, left) = b.read_all(found, known)?;
    crate::faults::point("read", data_dir)?;
    let decided = b.decide(&read, known)?;
    b.keep(&decided)?;
    let rows: Vec<(usize, &crate::schema::Row)> = decided
        .rows
        .iter()
        .map(|(seq, r)| ((*seq - 1) as usize, r))
        .collect();
    store.commit(b.number, &decided.entries, &rows)?;
    crate::faults::point("committed", data_dir)?;
    // A record that fails leaves the marker: the next ingest records the batch first.
    if record_batch(
        data_dir,
        pipeline.year(),
        store,
        Some(&decided.entries),
        b.now,
    )? {
        fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
        // Its removal made durable: a power cut does not bring the marker back.
        fsutil::sync_dir(&data_dir.store())?;
    }
    let accepted = decided
        .entries
        .iter()
        .filter(|e| e.outcome == Outcome::Accepted)
        .count();
    tracing::info!(
        batch = b.number,
        files = decided.entries.len(),
        accepted,
        rows = rows.len(),
        "batch committed"
    );
    Ok(Taken {
        summary: Summary {
            files: decided.entries,
            left,
        },
        done: read.into_iter().map(|r| r.found).collect(),
    })
}

/// One batch in the making: what every step needs to know.
struct Batch<'a> {
    pipeline: &'a Pipeline,
    data_dir: &'a DataDir,
    store: &'a Store,
    number: i64,
    /// When the batch is taken: the arrival of a file no door noted (its first sighting).
    now: DateTime<Tz>,
    limits: read::Limits,
    /// `archive/…/<month>` and `quarantine/…/<month>`: the month the files arrived in.
    month_dir: String,
    /// Where files over the size limit are copied while they are hashed.
    staging: PathBuf,
    /// (name, SHA-256) of every file recorded as rejected, read when first needed.
    rejected: std::sync::OnceLock<std::collections::HashSet<(String, String)>>,
}

/// What a batch decided: the record of every file, the rows taken, and what to write.
struct Decided<'r> {
    entries: Vec<FileEntry>,
    /// (the file's seq, a row it gave)
    rows: Vec<(i64, crate::schema::Row)>,
    /// (the bytes, their SHA-256, where they are kept)
    keeps: Vec<(&'r Bytes, &'r str, PathBuf)>,
    /// (where, the text) of each error report
    reports: Vec<(PathBuf, String)>,
    /// a `SHA256SUMS` list per archive folder
    sums: HashMap<PathBuf, String>,
    /// The records of earlier batches that duplicates were first sent in, read once each.
    earlier: HashMap<i64, Vec<FileEntry>>,
}

impl Batch<'_> {
    /// 1. Reads, hashes and checks every file, in parallel. Files already known are not parsed;
    ///    files that changed while read are left aside.
    fn read_all(&self, found: &[Found], known: &Known) -> Result<(Vec<Read>, Vec<LeftAside>)> {
        use rayon::prelude::*;
        let results: Vec<Result<std::result::Result<Read, LeftAside>>> = found
            .par_iter()
            .map(|f| {
                if isolate::is_workbook(&f.name)
                    && let Err(isolate::NoReader(reason)) = isolate::workers_ready()
                {
                    return Ok(Err(LeftAside {
                        name: f.name.clone(),
                        reason,
                        waits_for_reader: true,
                    }));
                }
                let Some((bytes, size, sha)) =
                    read_one(f, self.limits.max_file_bytes, &self.staging)?
                else {
                    return Ok(Err(LeftAside {
                        name: f.name.clone(),
                        reason: "读取时文件仍在变化（正在写入），写完后下次收取".into(),
                        waits_for_reader: false,
                    }));
                };
                let checked = (!is_known(known, &sha)).then(|| self.check(f, &bytes, size, &sha));
                Ok(Ok(Read {
                    found: f.clone(),
                    bytes,
                    size,
                    sha,
                    checked,
                }))
            })
            .collect();
        let mut read = Vec::with_capacity(results.len());
        let mut left = Vec::new();
        for r in results {
            match r? {
                Ok(r) => read.push(r),
                Err(l) => left.push(l),
            }
        }
        Ok((read, left))
    }

    /// The checks of one file's bytes (a file over the size limit is not parsed), and what
    /// its door asked: a file refused at the door is not read; one from a county's own door
    /// may hold only that unit's rows.
    fn check(&self, f: &Found, bytes: &Bytes, size: u64, sha: &str) -> Checked {
        let note = f.note.as_ref().filter(|n| n.sha256 == sha);
        if let Some(why) = note.and_then(|n| n.refuse.clone()) {
            return Checked::unreadable(why);
        }
        let checked = match bytes {
            Bytes::Memory(b) => validate::check(&f.name, b, self.pipeline),
            Bytes::Staged(_) => {
                let e = read::precheck(&f.name, size, &self.limits)
                    .err()
                    .unwrap_or_else(|| read::FileError("文件过大".into()));
                Checked::unreadable(e.0)
            }
        };
        match note.and_then(|n| n.only_unit.as_ref().map(|u| (n.door, u))) {
            Some((door, (code, name))) => {
                let others: Vec<&str> = checked
                    .unit_codes
                    .iter()
                    .filter(|c| *c != code)
                    .map(|c| c.as_str())
                    .collect();
                if others.is_empty() {
                    checked
                } else {
                    let why = format!(
                        "文件中含有其他单位（{}）的数据，{}只能报送{name}的数据。请只保留本单位的行后重新报送。",
                        others.join("、"),
                        door.zh()
                    );
                    checked.refused(why)
                }
            }
            None => checked,
        }
    }

    /// When a file arrived: as its door noted (never later than now), else now.
    fn arrived_at(&self, f: &Found, sha: &str) -> period::Moment {
        let at = f
            .note
            .as_ref()
            .filter(|n| n.sha256 == sha)
            .map(|n| n.at.0.min(self.now))
            .unwrap_or(self.now);
        period::Moment(at)
    }

    /// 2. Decides, in arrival order, what becomes of each file (a file may repeat one earlier
    ///    in the same batch).
    fn decide<'r>(&self, read: &'r [Read], known: &mut Known) -> Result<Decided<'r>> {
        let mut d = Decided {
            entries: Vec::with_capacity(read.len()),
            rows: Vec::new(),
            keeps: Vec::with_capacity(read.len()),
            reports: Vec::new(),
            sums: HashMap::new(),
            earlier: HashMap::new(),
        };
        for r in read {
            let seq = d.entries.len() as i64 + 1;
            // Bounded and safe on disk; the records keep the county's own name.
            let stored_name = format!("{}_{}", &r.sha[..12], disk_name(&r.found.name, 150));
            let mut entry = FileEntry {
                batch: self.number,
                seq,
                sha256: r.sha.clone(),
                file_name: r.found.name.clone(),
                size: r.size as i64,
                arrived_at: self.arrived_at(&r.found, &r.sha),
                outcome: Outcome::Duplicate,
                stored_as: String::new(),
                rows_accepted: 0,
                rows_rejected: 0,
                problems: String::new(),
                unit_codes: Vec::new(),
                door: note_of(r).map(|n| n.door),
                periods: Vec::new(),
            };
            if let Some(&first) = sha_key(&r.sha).and_then(|k| known.get(&k)) {
                self.duplicate(&mut d, r, entry, first, &stored_name)?;
                continue;
            }
            let checked = match &r.checked {
                Some(c) => c.clone(),
                None => self.check(&r.found, &r.bytes, r.size, &r.sha),
            };
            let outcome = self.outcome(&checked);
            // The very file recorded as rejected before, still in the inbox (a run killed after
            // its commit): recorded once; it leaves the inbox now.
            if outcome == Outcome::Rejected && self.rejected_before(&r.found.name, &r.sha)? {
                tracing::info!(file = %r.found.name, "already recorded as rejected; leaves the inbox");
                continue;
            }
            let rel = match outcome {
                Outcome::Rejected => DataDir::quarantined(&self.month_dir, &stored_name),
                _ => DataDir::archived(&self.month_dir, &stored_name),
            };
            let dest = self.data_dir.resolve(&rel);
            entry.outcome = outcome;
            entry.stored_as = rel;
            let (all, bad) = (checked.rows.len(), checked.bad_rows);
            (entry.rows_accepted, entry.rows_rejected) = match outcome {
                Outcome::Rejected => (0, (all + bad) as i64),
                _ => (all as i64, bad as i64),
            };
            entry.problems = recorded_problems(&r.found.name, &checked);
            entry.unit_codes = checked.unit_codes.clone();
            // A file from a unit's own door that names no unit (unreadable, no header) is still
            // that unit's: its page lists it.
            if entry.unit_codes.is_empty()
                && let Some((code, _)) = note_of(r).and_then(|n| n.only_unit.as_ref())
            {
                entry.unit_codes = crate::unit_code::UnitCode::parse(code)
                    .into_iter()
                    .collect();
            }
            entry.periods = checked
                .periods
                .iter()
                .filter_map(|p| period::Period::parse(p))
                .collect();
            if !checked.problems.is_empty() {
                d.reports.push((
                    dest.with_file_name(format!("{stored_name}.错误报告.txt")),
                    error_report(self.pipeline, &entry, &checked)?,
                ));
            }
            if outcome != Outcome::Rejected {
                d.sums
                    .entry(dest.parent().map(Path::to_path_buf).unwrap_or_default())
                    .or_default()
                    .push_str(&format!("{}  {stored_name}\n", r.sha));
                d.rows
                    .extend(checked.rows.into_iter().map(|row| (seq, row)));
            }
            tracing::debug!(file = %r.found.name, outcome = outcome.as_str(), rows = entry.rows_accepted, "file checked");
            d.keeps.push((&r.bytes, &r.sha, dest));
            // Only bytes taken in make a later copy a duplicate: rejected bytes are checked again.
            if outcome != Outcome::Rejected
                && let Some(k) = sha_key(&r.sha)
            {
                known.insert(k, (self.number, seq));
            }
            d.entries.push(entry);
        }
        Ok(d)
    }

    /// Whether this name with these bytes was recorded as rejected by an earlier batch.
    fn rejected_before(&self, name: &str, sha: &str) -> Result<bool> {
        if self.rejected.get().is_none() {
            let set = self
                .store
                .files()?
                .into_iter()
                .filter(|f| f.outcome == Outcome::Rejected)
                .map(|f| (f.file_name, f.sha256))
                .collect();
            let _ = self.rejected.set(set);
        }
        Ok(self
            .rejected
            .get()
            .is_some_and(|s| s.contains(&(name.to_string(), sha.to_string()))))
    }

    fn outcome(&self, checked: &Checked) -> Outcome {
        let reject_whole = self.pipeline.def.submission.reject_whole_file_on_error;
        if checked.unusable
            || checked.rows.is_empty()
            || (reject_whole && !checked.problems.is_empty())
        {
            Outcome::Rejected
        } else if checked.problems.is_empty() {
            Outcome::Accepted
        } else {
            Outcome::Partial
        }
    }

    /// Same bytes as before: this copy is kept beside the archive, nothing taken.
    fn duplicate<'r>(
        &self,
        d: &mut Decided<'r>,
        r: &'r Read,
        mut entry: FileEntry,
        (first_batch, first_seq): (i64, i64),
        stored_name: &str,
    ) -> Result<()> {
        // Who sent these bytes first: from this batch, or from the store (each earlier batch's
        // records read once, however many duplicates point into it).
        let first = if first_batch == self.number {
            d.entries.iter().find(|e| e.seq == first_seq).cloned()
        } else {
            use std::collections::hash_map::Entry;
            let earlier = match d.earlier.entry(first_batch) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => v.insert(self.store.batch_files(first_batch)?),
            };
            earlier.iter().find(|e| e.seq == first_seq).cloned()
        };
        let (first_at, first_name) = first
            .map(|e| (e.arrived_at, e.file_name))
            .unwrap_or_default();
        let rel = DataDir::duplicate(&self.month_dir, &stored_name);
        d.keeps
            .push((&r.bytes, &r.sha, self.data_dir.resolve(&rel)));
        entry.stored_as = rel;
        entry.problems = format!(
            "与 {} 收到的文件“{}”完全相同（SHA-256 {}），已忽略",
            first_at,
            read::shorten(&first_name, 80),
            &r.sha[..12]
        );
        tracing::info!(file = %r.found.name, first = %first_name, "duplicate file ignored");
        d.entries.push(entry);
        Ok(())
    }

    /// 3. Keeps every file's bytes — a copy of exactly what was hashed, never a link to the
    ///    inbox file, which its writer could still change — and fayuan's own reports and
    ///    checksum lists (a killed run's leftovers are replaced), then makes it all durable
    ///    together.
    fn keep(&self, d: &Decided) -> Result<()> {
        use rayon::prelude::*;
        d.keeps
            .par_iter()
            .try_for_each(|(bytes, sha, dest)| match bytes {
                Bytes::Memory(b) => fsutil::keep_copy(dest, b, sha),
                Bytes::Staged(tmp) => keep_staged(tmp, dest),
            })?;
        crate::faults::point("kept", self.data_dir)?;
        // fayuan's own reports and checksum lists: written aside, synced with the county files,
        // then put in place (a name never points at bytes not yet on the disk).
        let sums: Vec<(std::path::PathBuf, &String)> = d
            .sums
            .iter()
            .map(|(dir, text)| (dir.join(format!("SHA256SUMS-b{:06}", self.number)), text))
            .collect();
        let staged: Vec<(std::path::PathBuf, std::path::PathBuf)> = d
            .reports
            .par_iter()
            .map(|(dest, text)| (dest, text))
            .chain(sums.par_iter().map(|(dest, text)| (dest, *text)))
            .map(|(dest, text)| fsutil::stage(dest, text.as_bytes()).map(|tmp| (tmp, dest.clone())))
            .collect::<Result<_>>()?;
        crate::faults::point("reports", self.data_dir)?;
        let written: Vec<std::path::PathBuf> = d
            .keeps
            .iter()
            .map(|(_, _, dest)| dest.clone())
            .chain(staged.iter().map(|(tmp, _)| tmp.clone()))
            .collect();
        fsutil::sync_filesystem(self.data_dir, &written)?;
        fsutil::place_staged(&staged)
    }
}

fn is_known(known: &Known, sha: &str) -> bool {
    sha_key(sha).is_some_and(|k| known.contains_key(&k))
}

/// What one batch took, and the inbox files it is done with.
struct Taken {
    summary: Summary,
    done: Vec<Found>,
}

/// Puts a staged copy (of a file over the size limit) in its place; an identical copy already
/// there (from a run killed after this step) is kept and the staged one dropped; a copy there
/// that differs (torn by a power cut before its sync) is replaced.
fn keep_staged(tmp: &Path, dest: &Path) -> Result<()> {
    match crate::fsutil::rename_new(tmp, dest) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let same = |p: &Path| fs::read(p).map(|b| fsutil::sha256_hex(&b)).ok();
            if same(tmp).is_some() && same(tmp) == same(dest) {
                fs::remove_file(tmp).map_err(|e| Error::io(tmp, e))
            } else {
                tracing::info!(file = %dest.display(), "replacing a copy torn by a killed run");
                fs::rename(tmp, dest).map_err(|e| Error::io(dest, e))
            }
        }
        r => r.map_err(|e| Error::io(dest, e)),
    }
}

/// The door's note about these very bytes, if there is one.
fn note_of(r: &Read) -> Option<&arrival::Arrival> {
    r.found.note.as_ref().filter(|n| n.sha256 == r.sha)
}

/// Records a batch's files in the record (工作台账): `entries`, or else the store's newest batch.
/// `false` when the record could not be written (logged): the ingest goes on, and the batch's
/// marker stays so that the next ingest records it first.
fn record_batch(
    data_dir: &DataDir,
    year: i32,
    store: &Store,
    entries: Option<&[FileEntry]>,
    now: DateTime<Tz>,
) -> Result<bool> {
    let owned;
    let entries = match entries {
        Some(e) => e,
        None => {
            let newest = store.generation()?;
            if newest == 0 {
                return Ok(true);
            }
            owned = store.batch_files(newest)?;
            &owned
        }
    };
    let events = entries
        .iter()
        .map(|f| {
            let (kind, words) = match f.outcome {
                Outcome::Accepted => ("file_accepted", format!("已接收，{} 行", f.rows_accepted)),
                Outcome::Partial => (
                    "file_partial",
                    format!(
                        "部分接收，{} 行接收，{} 行被拒收",
                        f.rows_accepted, f.rows_rejected
                    ),
                ),
                Outcome::Rejected => (
                    "file_refused",
                    format!("被拒收：{}", f.problems.lines().next().unwrap_or("")),
                ),
                Outcome::Duplicate => (
                    "file_duplicate",
                    "与此前已接收的文件相同，未重复收取".to_string(),
                ),
            };
            crate::audit::New {
                kind,
                key: format!("file {} batch {} seq {}", f.sha256, f.batch, f.seq),
                unit: f.unit_codes_text(),
                period: f.periods_text(),
                who: f.door.map_or("inbox", crate::door::Door::code).to_string(),
                what: format!("{}（收到 {}）：{words}", f.file_name, f.arrived_at.minute()),
            }
        })
        .collect();
    match crate::audit::record(data_dir, year, now.into(), events) {
        Ok(_) => Ok(true),
        Err(e) => {
            tracing::error!(error = %e, "audit: the batch is not on the record yet; the next ingest records it");
            Ok(false)
        }
    }
}
