//! The record (工作台账, issue 25 §5): every event — a file arriving through any door and what
//! became of it, every message sent — in an append-only, hash-chained log
//! `<data-dir>/audit/<year>.jsonl`. Each line carries the SHA-256 of the line before it (the first
//! line of a year, 64 zeros), so an edit or a deletion anywhere breaks the chain at that line:
//! `fayuan audit --verify`.
//!
//! Invariants: lines are only appended (under an OS lock on the file, synced); a line torn by a
//! crash mid-append (no newline at the end) was never part of the record and is cut off before
//! the next append; each event has a key (the store's batch and file, a message and recipient),
//! and an event whose key is in the log already is not recorded again — so a restart that
//! records what a crash left unrecorded (`catch_up`) records it exactly once.

use crate::error::{Error, Result};
use crate::fsutil::sha256_hex;
use crate::layout::DataDir;
use crate::period::Moment;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The hash before a year's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event of the record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// 1, 2, … within the year's file.
    pub seq: u64,
    pub at: Moment,
    /// `file_accepted`, `file_partial`, `file_refused`, `file_duplicate`, `message_sent`.
    pub kind: String,
    /// What makes the event unique (`batch 3 file 2`, `message 2025-06-01 to a@b`).
    pub key: String,
    /// The unit(s) it concerns (codes, comma-separated), if any.
    #[serde(default)]
    pub unit: String,
    /// The month(s) it concerns (`2025-06`, comma-separated), if any.
    #[serde(default)]
    pub period: String,
    /// Who: a door (`mail`, `web`, `backfill`, `inbox`), a staff name, `fayuan`.
    pub who: String,
    /// What, in words.
    pub what: String,
    /// SHA-256 (hex) of the previous line's bytes, without its newline.
    pub prev: String,
    /// SHA-256 (hex) of this line as written with `own` empty: an edit of the line itself is
    /// found at the line, not only at the next one.
    #[serde(default)]
    pub own: String,
}

impl Event {
    /// The line as written: compact JSON, `own` filled in.
    fn line(mut self) -> std::result::Result<String, serde_json::Error> {
        self.own = String::new();
        let blank = serde_json::to_string(&self)?;
        self.own = sha256_hex(blank.as_bytes());
        serde_json::to_string(&self)
    }
}

/// An event before it has its place in the chain.
#[derive(Debug, Clone)]
pub struct New {
    pub kind: &'static str,
    pub key: String,
    pub unit: String,
    pub period: String,
    pub who: String,
    pub what: String,
}

fn file_of(data_dir: &DataDir, year: i32) -> PathBuf {
    data_dir.audit_year(year)
}

/// A line's key, read without the rest of the event (a year's record is read at every ingest:
/// 36,000 events are 0.05 s read whole, a fraction of that for their keys). A line without a
/// readable key (damaged by hand; `verify` names it) has none.
fn key_of(line: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(Deserialize)]
    struct KeyOnly<'a> {
        #[serde(borrow)]
        key: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<KeyOnly>(line).ok().map(|k| k.key)
}

/// A file's complete lines (a torn last line left out).
fn lines(path: &Path) -> Result<Vec<String>> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => "",
    };
    Ok(complete
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Appends the events not recorded yet (by key) to the record of `year` — the pipeline's year,
/// whatever the date: January's follow-up of December is part of the year it follows up — chained.
pub fn record(data_dir: &DataDir, year: i32, at: Moment, events: Vec<New>) -> Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let path = file_of(data_dir, year);
    let dir = data_dir.audit();
    crate::fsutil::make_dirs(&dir)?;
    let new_file = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    lock(&f, &path)?;
    // A line torn by a crash is cut off: it never completed, so it was never in the record.
    let mut bytes = Vec::new();
    f.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(&path, e))?;
    f.read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if keep < bytes.len() {
        tracing::warn!(file = %path.display(), "audit: a torn last line is cut off");
        f.set_len(keep as u64).map_err(|e| Error::io(&path, e))?;
    }
    // Bytes, not text: a line damaged by hand must not stop the record (`verify` names it).
    // Only the new events' keys are looked for (the year's record is read at every ingest: no
    // set of all its keys is built).
    let (mut prev, mut seq): (String, u64);
    let mut known: HashSet<String> = HashSet::new();
    {
        let wanted: HashSet<&str> = events.iter().map(|e| e.key.as_str()).collect();
        let mut look = |line: &[u8]| {
            if let Some(k) = key_of(line).filter(|k| wanted.contains(k.as_ref())) {
                known.insert(k.into_owned());
            }
        };
        for y in [year - 1, year + 1] {
            // The neighbours' too: an event recorded by date before a year kept its follow-up.
            for line in lines(&file_of(data_dir, y))? {
                look(line.as_bytes());
            }
        }
        let mut last: Option<&[u8]> = None;
        let mut count = 0u64;
        for line in bytes[..keep]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
        {
            look(line);
            last = Some(line);
            count += 1;
        }
        (prev, seq) = (last.map_or(GENESIS.to_string(), sha256_hex), count);
    }
    let mut out = String::new();
    let mut n = 0;
    for e in events {
        if !known.insert(e.key.clone()) {
            continue;
        }
        seq += 1;
        let line = Event {
            seq,
            at,
            kind: e.kind.to_string(),
            key: e.key,
            unit: e.unit,
            period: e.period,
            who: e.who,
            what: e.what,
            prev: prev.clone(),
            own: String::new(),
        }
        .line()
        .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        prev = sha256_hex(line.as_bytes());
        out.push_str(&line);
        out.push('\n');
        n += 1;
    }
    f.write_all(out.as_bytes())
        .map_err(|e| Error::io(&path, e))?;
    f.sync_all().map_err(|e| Error::sync(&path, e))?;
    crate::faults::point("record", &path)?;
    // A year's first lines: the file's name durable in its folder too.
    if new_file && let Some(dir) = path.parent() {
        crate::fsutil::sync_dir(dir)?;
    }
    Ok(n)
}

/// [`record`] for work that must go on whatever happens to the record (an ingest, a delivery
/// round): a failure is logged, and what was not recorded is recorded by the next catch-up.
pub fn record_or_log(data_dir: &DataDir, year: i32, at: Moment, events: Vec<New>) {
    if let Err(e) = record(data_dir, year, at, events) {
        tracing::error!(error = %e, "audit: not recorded now; the next catch-up records it");
    }
}

/// An exclusive OS lock on the log, released when the file closes.
fn lock(f: &std::fs::File, path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; flock only locks.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io(path, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    /// Every line chained to the one before: how many.
    Whole(usize),
    /// The first line (1-based) that does not follow from the one before, and why.
    Broken { line: usize, why: String },
}

impl Verified {
    pub fn is_whole(&self) -> bool {
        matches!(self, Verified::Whole(_))
    }
}

/// What `verify` found, in words (one line).
pub fn verdict(year: i32, verified: &Verified) -> String {
    match verified {
        Verified::Whole(n) => format!("{year}年工作台账完整：{n} 条记录，逐条校验无误。\n"),
        Verified::Broken { line, why } => {
            format!("{year}年工作台账第 {line} 行有误：{why}。该行或其前一行已被改动或删除。\n")
        }
    }
}

/// Checks a year's chain from its first line.
pub fn verify(data_dir: &DataDir, year: i32) -> Result<Verified> {
    let path = file_of(data_dir, year);
    match std::fs::read(&path) {
        Ok(text) => Ok(verify_lines(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Verified::Whole(0)),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// The year of a record file's name (`2025.jsonl` → 2025).
pub fn year_of_file(name: &str) -> Option<i32> {
    name.strip_suffix(".jsonl")?.parse().ok()
}

/// Checks a year's chain in the bytes of its file (as read from the disk or from a backup).
pub fn verify_lines(text: &[u8]) -> Verified {
    let mut prev = GENESIS.to_string();
    let mut n = 0;
    for (k, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() && k > 0 && k == text.split(|b| *b == b'\n').count() - 1 {
            break;
        }
        let broken = |why: String| Verified::Broken { line: k + 1, why };
        let Ok(e) = serde_json::from_slice::<Event>(line) else {
            return broken("不是一条完整的记录".into());
        };
        if e.prev != prev {
            return broken("与上一行的校验值不符（上一行被改动、删除，或本行被插入）".into());
        }
        if e.seq != k as u64 + 1 {
            return broken(format!("序号 {} 应为 {}", e.seq, k + 1));
        }
        // The line must be exactly what was written.
        if e.clone().line().ok().as_deref().map(str::as_bytes) != Some(line) {
            return broken("本行内容被改动".into());
        }
        prev = sha256_hex(line);
        n += 1;
    }
    Verified::Whole(n)
}

/// Every event of a year, in order (unreadable lines left out: `verify` names them).
pub fn events(data_dir: &DataDir, year: i32) -> Result<Vec<Event>> {
    Ok(lines(&file_of(data_dir, year))?
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// `fayuan audit`'s text: the record in words (optionally one unit's), or with `verify` the
/// check's verdict; and whether the record is whole.
pub fn report(
    data_dir: &DataDir,
    year: i32,
    unit: Option<&str>,
    since: Option<chrono::NaiveDate>,
    verify: bool,
    name_of: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, bool)> {
    if verify {
        let verified = self::verify(data_dir, year)?;
        return Ok((verdict(year, &verified), verified.is_whole()));
    }
    let mut out = String::new();
    let all = events(data_dir, year)?;
    if let Some(d) = since
        && !all.iter().any(|e| e.at.0.date_naive() >= d)
    {
        out.push_str(&since_hint(data_dir, year, d, all.last())?);
    }
    for e in all {
        if unit.is_some_and(|u| !e.unit.split(',').any(|c| c == u))
            || since.is_some_and(|d| e.at.0.date_naive() < d)
        {
            continue;
        }
        let names: Vec<String> = e.unit.split(',').filter_map(name_of).collect();
        out.push_str(&format!(
            "{}  {}  {}  {}  {}\n",
            e.at.minute(),
            if names.is_empty() {
                "—".to_string()
            } else {
                names.join("、")
            },
            e.period,
            e.who,
            e.what
        ));
    }
    Ok((out, true))
}

/// What `audit --since` says when the year read has nothing from that day on: where the last
/// line is, and which other year's record (by its file) has lines from then.
fn since_hint(
    data_dir: &DataDir,
    year: i32,
    since: chrono::NaiveDate,
    last: Option<&Event>,
) -> Result<String> {
    let mut out = match last {
        Some(e) => format!(
            "（{year}年工作台账中没有 {since} 以后的记录，最后一条记于 {}。",
            e.at.minute()
        ),
        None => format!("（{year}年工作台账中尚无记录。"),
    };
    let mut others: Vec<i32> = std::fs::read_dir(data_dir.audit())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".jsonl")?.parse::<i32>().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    let mut found = Vec::new();
    for y in others.into_iter().filter(|y| *y != year) {
        if events(data_dir, y)?
            .iter()
            .any(|e| e.at.0.date_naive() >= since)
        {
            found.push(format!("--year {y}"));
        }
    }
    if found.is_empty() {
        out.push_str(
            "一个年度的后续工作（如次年1月对12月数据的退回、督办）记入该年度的工作台账；查看其他年度请用 --year。）\n",
        );
    } else {
        out.push_str(&format!("{since} 以后的记录见 {}。）\n", found.join("、")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(key: &str) -> New {
        New {
            kind: "file_accepted",
            key: key.into(),
            unit: "341522".into(),
            period: "2025-06".into(),
            who: "inbox".into(),
            what: "霍邱县_2025-06.csv".into(),
        }
    }

    #[test]
    fn a_chain_verifies_skips_known_keys_and_breaks_where_edited() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::new(dir.path());
        let at = Moment(crate::period::parse_instant("2025-07-03 10:00").unwrap());
        assert_eq!(record(&d, 2025, at, vec![new("a"), new("b")]).unwrap(), 2);
        assert_eq!(record(&d, 2025, at, vec![new("b"), new("c")]).unwrap(), 1);
        assert_eq!(verify(&d, 2025).unwrap(), Verified::Whole(3));
        let path = file_of(&d, 2025);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"b\"", "\"x\"", 1)).unwrap();
        // The edited line itself is named.
        assert!(matches!(
            verify(&d, 2025).unwrap(),
            Verified::Broken { line: 2, .. }
        ));
        // A deleted line: the next one no longer follows.
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(
            verify(&d, 2025).unwrap(),
            Verified::Broken { line: 2, .. }
        ));
    }

    #[test]
    fn a_key_of_last_year_or_twice_in_one_call_is_recorded_once_and_the_chain_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::new(dir.path());
        let dec = Moment(crate::period::parse_instant("2025-12-31 23:00").unwrap());
        let jan = Moment(crate::period::parse_instant("2026-01-01 01:00").unwrap());
        assert_eq!(record(&d, 2025, dec, vec![new("a")]).unwrap(), 1);
        // "a" is in last year's file; "b" comes twice in one call.
        assert_eq!(
            record(&d, 2026, jan, vec![new("a"), new("b"), new("b"), new("c")]).unwrap(),
            2
        );
        assert_eq!(record(&d, 2026, jan, vec![new("c"), new("d")]).unwrap(), 1);
        assert_eq!(verify(&d, 2026).unwrap(), Verified::Whole(3));
        let keys: Vec<String> = events(&d, 2026)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["b", "c", "d"]);
    }
}
