//! Small filesystem helpers for durable, never-overwriting file handling.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::path::Path;

/// Makes a directory's entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Copies `bytes` to `dest` so that `dest` appears whole or not at all: written to a
/// temporary name beside it, synced, then renamed. An existing `dest` with the same bytes is
/// left as it is; one with other bytes is never overwritten (an error).
pub fn write_new(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_new_inner(dest, bytes, true)
}

/// [`write_new`] without the sync: for many files at once, made durable together by one
/// [`sync_filesystem`] (a group commit) before anything depends on them.
pub fn write_new_unsynced(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_new_inner(dest, bytes, false)
}

/// Keeps `src` (whose bytes are `bytes`) as `dest` too, never overwriting: a hard link where
/// the filesystem allows it (no copy: the archive holds the very bytes that arrived), else an
/// unsynced copy. An existing `dest` with the same bytes is fine; with other bytes, an error.
/// Durable after the next [`sync_filesystem`].
pub fn keep_new(src: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // Already there (compared, never overwritten) or another filesystem: fall back to a copy.
    match fs::hard_link(src, dest) {
        Ok(()) => Ok(()),
        Err(_) => write_new_inner(dest, bytes, false),
    }
}

/// Flushes everything written on the filesystem that holds `path` (syncfs).
pub fn sync_filesystem(path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: syncfs only reads the descriptor, which stays open for the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(Error::io(path, std::io::Error::last_os_error()));
    }
    Ok(())
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
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        dest.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync { f.sync_all() } else { Ok(()) }
    };
    write().map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))
}
