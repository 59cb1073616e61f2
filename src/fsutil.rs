//! Small filesystem helpers for durable, never-overwriting file handling.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The SHA-256 of bytes, in lower-case hex: what names a county's file everywhere.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Creates `dir` and every missing folder above it, each made durable in its parent (the parent
/// synced after the folder is made): a file synced in a new folder is reachable after a power
/// cut. A folder that already exists (made by an earlier process, perhaps killed before it synced
/// the folder's parent) has its parent synced once per process too; after that it costs nothing.
pub fn make_dirs(dir: &Path) -> Result<()> {
    static DURABLE: std::sync::Mutex<Option<std::collections::HashSet<std::path::PathBuf>>> =
        std::sync::Mutex::new(None);
    let known = |d: &Path| {
        DURABLE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|s| s.contains(d))
    };
    let durable = |d: &Path| {
        DURABLE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Default::default)
            .insert(d.to_path_buf());
    };
    if known(dir) && dir.is_dir() {
        return Ok(());
    }
    let parent_of = |d: &Path| {
        d.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || (known(d) && d.is_dir()) {
            break;
        }
        if d.is_dir() {
            // The deepest folder that exists: its name made durable in its parent (those above it
            // were synced before it was made) — where the parent can be opened and synced at all
            // (a parent above the data folder may be one the service may only pass through).
            sync_existing_parent(&parent_of(d))?;
            durable(d);
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    for d in missing.into_iter().rev() {
        if let Err(e) = fs::create_dir(d)
            && !d.is_dir()
        {
            return Err(Error::io(d, e));
        }
        sync_dir(&parent_of(d))?;
        durable(d);
    }
    Ok(())
}

/// [`sync_dir`] of a folder fayuan did not make (the parent of a folder that was there): one it
/// may not open, or whose filesystem cannot sync folders, is left as it is; a sync that fails is
/// still [`Error::SyncFailed`].
fn sync_existing_parent(dir: &Path) -> Result<()> {
    let Ok(f) = File::open(dir) else {
        return Ok(());
    };
    match f.sync_all() {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::EBADF)
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::sync(dir, e)),
    }
}

/// The bytes free for an unprivileged writer on the filesystem of `path` (None: unknown).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` a buffer statvfs fills on success.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the buffer.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Makes a directory's entries (new names, renames) durable; a failed sync is
/// [`Error::SyncFailed`], never retried over.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(|e| Error::io(dir, e))?;
    crate::faults::point("sync-dir", dir)?;
    f.sync_all().map_err(|e| Error::sync(dir, e))
}

/// Whether `syncfs` reports write-back errors here: Linux 5.8 and later (before, it returned 0
/// after a failed write-back, and a lost write would be taken for a committed one). Read once
/// from the kernel's release (`FAYUAN_TEST_KERNEL` stands in for it in tests).
pub fn syncfs_reports_errors() -> bool {
    static TRUSTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRUSTED.get_or_init(|| {
        let release = std::env::var("FAYUAN_TEST_KERNEL").unwrap_or_else(|_| kernel_release());
        let mut parts = release
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse::<u32>().ok());
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        let trusted = (major, minor) >= (5, 8);
        if !trusted {
            tracing::warn!(kernel = %release, "syncfs does not report write-back errors before Linux 5.8: each file and folder written is synced on its own");
        }
        trusted
    })
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> String {
    // SAFETY: uname fills the struct it is given; a zeroed utsname is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    u.release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect()
}

/// Copies `bytes` to `dest` so that `dest` appears whole or not at all: written to a
/// temporary name beside it, synced, then renamed. An existing `dest` with the same bytes is
/// left as it is; one with other bytes is never overwritten (an error).
pub fn write_new(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_new_inner(dest, bytes, true)
}

/// Creates `dest` with `bytes` in a folder being built under a temporary name, which is synced
/// whole ([`sync_filesystem`]: one group commit instead of a `fsync` per file) before it is
/// renamed into place: no temporary name and no sync of its own. Never overwrites.
pub fn create_in_new_folder(dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .and_then(|mut f| f.write_all(bytes));
    written.map_err(|e| Error::io(dest, e))
}

/// Writes `bytes` beside `dest` under a temporary name (not synced) and returns that name: the
/// first half of replacing a derived file inside a group commit — synced with the rest, then put
/// in place by [`place_staged`], so that no name ever points at bytes not yet on the disk.
pub fn stage(dest: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    make_dirs(dir)?;
    let tmp = temp_name(dest);
    if let Err(e) = fs::write(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(dest, e));
    }
    Ok(tmp)
}

/// The second half: staged files (already synced) renamed into place, replacing what a killed
/// run left, then their folders synced.
pub fn place_staged(staged: &[(PathBuf, PathBuf)]) -> Result<()> {
    for (tmp, dest) in staged {
        fs::rename(tmp, dest).map_err(|e| Error::io(dest, e))?;
    }
    let mut dirs: Vec<&Path> = staged.iter().filter_map(|(_, d)| d.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        sync_dir(d)?;
    }
    Ok(())
}

/// Writes `bytes` as `dest` whole or not at all, replacing what was there: for fayuan's own
/// derived files (error reports, checksum lists), which a run killed before its commit may have
/// left with other contents. Never for a county's bytes. Durable after the next
/// [`sync_filesystem`].
pub fn replace_unsynced(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    make_dirs(dir)?;
    let tmp = temp_name(dest);
    if let Err(e) = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, dest)) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(dest, e));
    }
    Ok(())
}

/// Writes `bytes` as `dest` whole or not at all, replacing what was there, and makes it durable
/// (the file and its folder synced): for fayuan's own files that must survive a crash, such as a
/// message in the outbox, which a killed run may have left with other contents.
pub fn replace_synced(dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = dest.parent().unwrap_or(Path::new("."));
    make_dirs(dir)?;
    let tmp = temp_name(dest);
    let written = File::create(&tmp).and_then(|mut f| f.write_all(bytes).map(|()| f));
    let f = match written {
        Ok(f) => f,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(dest, e));
        }
    };
    if let Err(e) = f.sync_all() {
        let _ = fs::remove_file(&tmp);
        return Err(Error::sync(dest, e));
    }
    if let Err(e) = fs::rename(&tmp, dest) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(dest, e));
    }
    sync_dir(dir)
}

/// The name a file is written under before it is renamed into place: hidden, and ending in
/// `.tmp-<pid>` so that [`is_temp_name`] recognises a leftover of a killed process.
pub fn temp_name(dest: &Path) -> std::path::PathBuf {
    let dir = dest.parent().unwrap_or(Path::new("."));
    dir.join(format!(
        ".{}.tmp-{}",
        dest.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ))
}

/// True for a name [`write_new`] and friends write before renaming: `.NAME.tmp-1234`.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp-")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the temporary files a killed process left below `dir` (a few levels deep). Only
/// names of [`is_temp_name`]'s form are touched, and only those of a process no longer running:
/// each is an unfinished copy whose original is still where it came from (or a file fayuan will
/// write again).
pub fn sweep_temp_files(dir: &Path, depth: u32) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().to_string();
        if kind.is_dir() && depth > 0 {
            removed += sweep_temp_files(&e.path(), depth - 1);
        } else if kind.is_file()
            && is_temp_name(&name)
            && !writer_alive(&name)
            && fs::remove_file(e.path()).is_ok()
        {
            tracing::info!(file = %e.path().display(), "removed a leftover temporary file");
            removed += 1;
        }
    }
    removed
}

/// Whether the process that names a temporary file (`.NAME.tmp-<pid>`) still runs (then it is
/// still writing it). This process counts as running only for files it could still be writing:
/// a sweep in this process runs before it writes any.
fn writer_alive(name: &str) -> bool {
    let Some(pid) = name
        .rsplit_once(".tmp-")
        .and_then(|(_, p)| p.parse::<i32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() as i32 {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Keeps a county's bytes as `dest`, a name that carries (a prefix of) their SHA-256 `sha`:
/// created new and written in place — no temporary name, since nothing reads an archive copy
/// before the store commits it, after the next [`sync_filesystem`]. A file already there with
/// these bytes is left alone; one with other bytes can only be a copy torn by a killed run (its
/// name says which bytes belong there), and is replaced whole. Folders are made on demand.
pub fn keep_copy(dest: &Path, bytes: &[u8], sha: &str) -> Result<()> {
    use std::io::Write;
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
    };
    let file = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = dest.parent().unwrap_or(Path::new("."));
            make_dirs(dir)?;
            create()
        }
        other => other,
    };
    match file {
        Ok(mut f) => {
            if let Err(e) = f.write_all(bytes) {
                // A full disk leaves no torn copy behind.
                let _ = fs::remove_file(dest);
                return Err(Error::io(dest, e));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = fs::read(dest).map_err(|e| Error::io(dest, e))?;
            if sha256_hex(&existing) == sha {
                return Ok(());
            }
            tracing::info!(file = %dest.display(), "replacing a copy torn by a killed run");
            replace_unsynced(dest, bytes)
        }
        Err(e) => Err(Error::io(dest, e)),
    }
}

/// [`keep_copy`] made durable at once (the file and its folder synced): for a copy kept outside a
/// group commit — a mail's archived message, before the mail leaves the mailbox's inbox.
pub fn keep_copy_synced(dest: &Path, bytes: &[u8], sha: &str) -> Result<()> {
    keep_copy(dest, bytes, sha)?;
    let f = File::open(dest).map_err(|e| Error::io(dest, e))?;
    f.sync_all().map_err(|e| Error::sync(dest, e))?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")))
}

/// Every file and folder under `dir` (a report folder being built), for a sync of each.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
                out.push(p.join("."));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Makes durable at once what a step wrote: `syncfs` of the filesystem that holds `path` (one
/// group commit); where `syncfs` does not report write-back errors (before Linux 5.8), each of
/// `written` and each folder holding one, and `path`. A failed sync is [`Error::SyncFailed`].
pub fn sync_filesystem(path: &Path, written: &[PathBuf]) -> Result<()> {
    use std::os::fd::AsRawFd;
    if !syncfs_reports_errors() {
        // Each file written, then each folder that holds one (and `path` itself).
        for f in written.iter().filter(|f| f.is_file()) {
            let file = File::open(f).map_err(|e| Error::io(f, e))?;
            file.sync_all().map_err(|e| Error::sync(f, e))?;
        }
        let mut dirs: Vec<&Path> = written.iter().filter_map(|f| f.parent()).collect();
        dirs.push(path);
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            sync_dir(d)?;
        }
        return Ok(());
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    crate::faults::point("syncfs", path)?;
    // SAFETY: syncfs only reads the descriptor, which stays open for the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(Error::sync(path, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// 64 bits from the OS as 16 hex digits: a name part no two arrivals share, however close in
/// time (the clock's second is not enough: 400 uploads came in 0.02 s).
pub fn unique_tag() -> String {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        b = fastrand::u64(..).to_le_bytes();
    }
    hex::encode(b)
}

/// Moves `from` to `to` only if nothing is at `to` (`renameat2(RENAME_NOREPLACE)`; where the
/// filesystem lacks it, a hard link then the unlink of `from`): an `AlreadyExists` error rather
/// than a file replaced — a county's file is never overwritten by a move into the inbox or the
/// archive, whatever two moves at the same instant do.
pub fn rename_new(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths; renameat2 only reads them.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::ENOSYS) {
        return Err(e);
    }
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

fn write_new_inner(dest: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    if let Ok(existing) = fs::read(dest) {
        if existing == bytes {
            return Ok(());
        }
        return Err(Error::io(
            dest,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a different file already has this name; refusing to overwrite it",
            ),
        ));
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    make_dirs(dir)?;
    let tmp = temp_name(dest);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync { f.sync_all() } else { Ok(()) }
    };
    match write().and_then(|()| rename_new(&tmp, dest)) {
        // Its name durable too (a file written new is one a later step relies on).
        Ok(()) if sync => sync_dir(dir),
        Ok(()) => Ok(()),
        // Written meanwhile by another: the same bytes are this file; others are never replaced.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&tmp);
            match fs::read(dest) {
                Ok(existing) if existing == bytes => Ok(()),
                _ => Err(Error::io(dest, e)),
            }
        }
        Err(e) => {
            // A full disk leaves no half-written file behind.
            let _ = fs::remove_file(&tmp);
            Err(Error::io(dest, e))
        }
    }
}
