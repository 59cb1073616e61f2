//! The inbox folder: what waits there and what is left aside with the reason (links, Office lock
//! files, files still being written, folders too deep), files put there by the command line or a
//! source, names made safe for the disk, and the files leaving once they are kept.

use super::LeftAside;
use super::arrival;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::layout::DataDir;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A file found in the inbox, as it was when found.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) path: PathBuf,
    /// Relative to the inbox, with `/` between folders: what the records call the file.
    pub(super) name: String,
    pub(super) seen: Stamp,
    /// What the door that put it here noted (mail, web), if it was one.
    pub(super) note: Option<arrival::Arrival>,
}

/// Enough of a file's metadata to tell whether it changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stamp {
    pub(super) len: u64,
    pub(super) modified: Option<std::time::SystemTime>,
    pub(super) inode: u64,
}

impl Stamp {
    pub(super) fn of(md: &fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: md.len(),
            modified: md.modified().ok(),
            inode: md.ino(),
        }
    }

    pub(super) fn now(path: &Path) -> Option<Stamp> {
        fs::symlink_metadata(path).ok().map(|m| Stamp::of(&m))
    }
}

/// Folders inside the inbox are looked into this deep (a county may drop a folder of files).
pub(super) const INBOX_DEPTH: u32 = 3;

/// Office writes these beside a document it has open; they are not submissions.
pub fn office_lock(name: &str) -> bool {
    name.starts_with("~$") || (name.starts_with(".~lock.") && name.ends_with('#'))
}

/// Everything in the inbox: the files to take, oldest first (by modification time, then name),
/// and what is left aside with the reason.
pub(super) fn scan(inbox: &Path) -> Result<(Vec<Found>, Vec<LeftAside>)> {
    let mut found = Vec::new();
    let mut left = Vec::new();
    match fs::read_dir(inbox) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, left)),
        Err(e) => return Err(Error::io(inbox, e)),
        Ok(_) => scan_dir(inbox, "", INBOX_DEPTH, &mut found, &mut left)?,
    }
    found.sort_by(|a, b| (a.seen.modified, &a.name).cmp(&(b.seen.modified, &b.name)));
    Ok((found, left))
}

pub(super) fn scan_dir(
    dir: &Path,
    prefix: &str,
    depth: u32,
    found: &mut Vec<Found>,
    left: &mut Vec<LeftAside>,
) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let base = e.file_name().to_string_lossy().to_string();
        let name = format!("{prefix}{base}");
        let aside = |reason: &str| LeftAside {
            name: name.clone(),
            reason: reason.into(),
            waits_for_reader: false,
        };
        // symlink_metadata: a link is never followed out of the inbox.
        let md = match fs::symlink_metadata(e.path()) {
            Ok(md) => md,
            Err(_) => continue, // gone since the listing
        };
        let kind = md.file_type();
        if fsutil::is_temp_name(&base) {
            left.push(aside("正在写入的临时文件，写完后自动收取"));
        } else if office_lock(&base) {
            left.push(aside(
                "Office 打开文件时生成的锁文件，不是报表（关闭文件后自动消失）",
            ));
        } else if kind.is_symlink() {
            left.push(aside("符号链接，未收取：请把文件本身放入收件箱"));
        } else if kind.is_dir() && depth == 0 {
            left.push(aside("文件夹层级过深，未收取：请把文件直接放入收件箱"));
        } else if kind.is_dir() {
            scan_dir(&e.path(), &format!("{name}/"), depth - 1, found, left)?;
        } else if !kind.is_file() {
            left.push(aside("不是普通文件（管道、设备等），未收取"));
        } else {
            found.push(Found {
                path: e.path(),
                name,
                seen: Stamp::of(&md),
                note: None,
            });
        }
    }
    Ok(())
}

/// What waits in the inbox and will not be taken as it is (links, Office lock files, folders
/// too deep…), for `status`: the staff hear of it even when only the daemon ingests.
pub fn left_in_inbox(data_dir: &DataDir) -> Result<Vec<LeftAside>> {
    Ok(scan(&data_dir.inbox())?.1)
}

/// Keeps only the files that have stopped changing. A file modified within `quiet` is waited
/// for (once, at most `quiet`) and looked at again; one that changed meanwhile is still being
/// written (an upload, a copy) and stays in the inbox for the next ingest. A file a door of
/// fayuan wrote (it has a note) was written whole and is never waited for.
pub(super) fn settled(found: Vec<Found>, quiet: Duration) -> (Vec<Found>, Vec<LeftAside>) {
    let age = |f: &Found| {
        if f.note.is_some() {
            return quiet;
        }
        f.seen
            .modified
            .and_then(|m| m.elapsed().ok())
            .unwrap_or(quiet)
    };
    let youngest = found.iter().map(age).min().unwrap_or(quiet);
    if youngest >= quiet {
        return (found, Vec::new());
    }
    let was_quiet: Vec<bool> = found.iter().map(|f| age(f) >= quiet).collect();
    std::thread::sleep(quiet - youngest);
    let mut left = Vec::new();
    let mut keep = Vec::new();
    for (f, was_quiet) in found.into_iter().zip(was_quiet) {
        // A file quiet at the listing is looked at again when it is read; a young one is kept
        // only if it did not change while we waited.
        if was_quiet || Stamp::now(&f.path) == Some(f.seen) {
            keep.push(f);
        } else {
            left.push(LeftAside {
                name: f.name,
                reason: format!(
                    "文件仍在写入（{:.0} 秒内有变化），写完后下次收取",
                    quiet.as_secs_f64().max(1.0)
                ),
                waits_for_reader: false,
            });
        }
    }
    (keep, left)
}

/// Copies files (and the files directly inside folders) into the inbox, as if a county had
/// put them there. The originals are not touched; a different file already waiting under the
/// same name is kept, and the copy gets a numbered name instead. The copy keeps the original's
/// modification time (a finished file is not waited for).
///
/// With `received` (补录: a backlog typed in by the data staff), each file goes in with an arrival
/// note saying when the county sent it; otherwise it arrives when the ingest first sees it.
pub fn copy_into_inbox(
    data_dir: &DataDir,
    paths: &[PathBuf],
    received: Option<crate::period::Moment>,
) -> Result<Vec<PathBuf>> {
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
        let dest = match received {
            Some(at) => {
                let inbox_name = free_name(data_dir, &name, &bytes);
                super::arrival::put(
                    data_dir,
                    &bytes,
                    &super::arrival::Arrival {
                        name: inbox_name,
                        sha256: crate::fsutil::sha256_hex(&bytes),
                        at,
                        door: crate::door::Door::Backfill,
                        only_unit: None,
                        original_name: name.clone(),
                        refuse: None,
                    },
                )?
            }
            None => drop_into_inbox(data_dir, &name, &bytes)?,
        };
        if let Ok(modified) = fs::metadata(&src).and_then(|m| m.modified()) {
            let _ = fs::File::options()
                .write(true)
                .open(&dest)
                .and_then(|f| f.set_modified(modified));
        }
        copied.push(dest);
    }
    Ok(copied)
}

/// Puts what an HTTP source returned into the inbox with its arrival note (door `source`, at
/// `at`, the time it was fetched): written whole by fayuan, it is taken at the next ingest without
/// waiting for `quiet_seconds` (found by the year in simulation: two seconds of real time a
/// fetch, a day and more on a fast clock).
pub fn drop_from_source(
    data_dir: &DataDir,
    name: &str,
    bytes: &[u8],
    at: crate::period::Moment,
) -> Result<PathBuf> {
    let inbox_name = free_name(data_dir, name, bytes);
    super::arrival::put(
        data_dir,
        bytes,
        &super::arrival::Arrival {
            name: inbox_name,
            sha256: crate::fsutil::sha256_hex(bytes),
            at,
            door: crate::door::Door::Source,
            only_unit: None,
            original_name: name.to_string(),
            refuse: None,
        },
    )
}

/// Puts bytes into the inbox under `name`, as if a county had sent them. A different file
/// already waiting under that name is kept; the new one gets a numbered name instead.
pub fn drop_into_inbox(data_dir: &DataDir, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let free = free_name(data_dir, name, bytes);
    let dest = data_dir
        .in_inbox(&free)
        .map_err(|e| Error::io(&data_dir.inbox(), e))?;
    fsutil::write_new(&dest, bytes)?;
    Ok(dest)
}

/// The inbox name for these bytes: the county's name made safe, numbered when a different file
/// waits under it.
fn free_name(data_dir: &DataDir, name: &str, bytes: &[u8]) -> String {
    let inbox = data_dir.inbox();
    let name = disk_name(name, 120);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.to_string(), String::new()),
    };
    let mut candidate = name.clone();
    let mut n = 1;
    while fs::read(inbox.join(&candidate)).is_ok_and(|existing| existing != bytes) {
        n += 1;
        candidate = format!("{stem}({n}){ext}");
    }
    candidate
}

/// A county's file name made safe to use as (part of) a file name on disk: no folder
/// separators or control characters, no leading dot, at most `max_bytes` bytes (cut at a
/// character boundary, the extension kept). The records keep the original name.
pub fn disk_name(name: &str, max_bytes: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let clean = clean.trim_start_matches('.');
    let clean = if clean.is_empty() { "_" } else { clean };
    if clean.len() <= max_bytes {
        return clean.to_string();
    }
    let ext = clean
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| e.len() <= 10)
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let mut stem = String::new();
    for c in clean.chars() {
        if stem.len() + c.len_utf8() + ext.len() + 1 > max_bytes {
            break;
        }
        stem.push(c);
    }
    format!("{stem}~{ext}")
}

/// Folders a county dropped into the inbox go once every file in them is taken.
pub(super) fn remove_empty_folders(inbox: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(inbox) else {
        return Ok(());
    };
    let mut removed = false;
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_folders(&e.path())?;
            // Fails, harmlessly, unless empty.
            removed |= fs::remove_dir(e.path()).is_ok();
        }
    }
    if removed {
        // The removals made durable (a folder a power cut brought back would only be empty).
        crate::fsutil::sync_dir(inbox)?;
    }
    Ok(())
}

/// The files of committed batches leave the inbox — unless one changed since it was read: those
/// new bytes are taken next time. Done once after all batches: unlinking between batches would
/// make the filesystem slower at creating the next batch's archive copies.
pub(super) fn leave_inbox(done: &[Found], data_dir: &DataDir) -> Result<()> {
    for (k, f) in done.iter().enumerate() {
        if Stamp::now(&f.path) == Some(f.seen) {
            fs::remove_file(&f.path).map_err(|e| Error::io(&f.path, e))?;
        } else {
            tracing::warn!(file = %f.name, "changed after it was read; left for the next ingest");
        }
        if k == 0 {
            crate::faults::point("removing", data_dir)?;
        }
    }
    // The removals durable: a file taken does not come back after a power cut.
    let mut dirs: Vec<&Path> = done.iter().filter_map(|f| f.path.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs.into_iter().filter(|d| d.is_dir()) {
        crate::fsutil::sync_dir(d)?;
    }
    Ok(())
}
