//! What a door knows of a file it puts into the inbox, beyond its bytes: when the county sent it
//! (the mail server's INTERNALDATE, the upload's request time), through which door, and whether
//! it may hold rows of one unit only (a county's mail or page). A note is written before the
//! file, read when the file is taken, and removed once the store has recorded it.
//!
//! Invariants: a note is used only for the bytes it names (its SHA-256) — a file replaced in the
//! inbox under the same name is a new arrival; an arrival is never later than the moment the file
//! is taken; a file with a note was written whole by fayuan (temporary name, sync, rename), so
//! ingest does not wait for it to settle.

use crate::door::Door;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::layout::DataDir;
use crate::period::Moment;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One file's note.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Arrival {
    /// The file's name in the inbox (relative, `/` between folders).
    pub name: String,
    /// The bytes this note is about.
    pub sha256: String,
    /// When the county sent it.
    pub at: Moment,
    pub door: Door,
    /// Only this unit's rows may be taken from the file (a county's own door).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_unit: Option<(String, String)>,
    /// The name the county gave it.
    pub original_name: String,
    /// The door refused it already (e.g. named like an Office lock file): kept in quarantine
    /// with this reason, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse: Option<String>,
}

fn note_path(data_dir: &DataDir, name: &str) -> PathBuf {
    data_dir.arrival_note(&fsutil::sha256_hex(name.as_bytes()))
}

/// Writes the note, then the file as `inbox/<name>` (whole, synced, its folder synced); returns
/// the file's path. The same bytes put again under the same name change nothing.
pub fn put(data_dir: &DataDir, bytes: &[u8], note: &Arrival) -> Result<PathBuf> {
    let text = serde_json::to_vec(note)
        .map_err(|e| Error::io(&data_dir.arrivals(), std::io::Error::other(e)))?;
    let dest = data_dir
        .in_inbox(&note.name)
        .map_err(|e| Error::io(&data_dir.inbox(), e))?;
    fsutil::replace_synced(&note_path(data_dir, &note.name), &text)?;
    let dir = dest.parent().unwrap_or(data_dir.root());
    into_folder(dir, || fsutil::write_new(&dest, bytes))?;
    fsutil::sync_dir(dir)?;
    Ok(dest)
}

/// Writes the note, then moves a file already written whole and synced (an upload received to a
/// temporary file on the same disk) into the inbox as `inbox/<name>`; its folder is synced.
pub fn put_file(data_dir: &DataDir, tmp: &std::path::Path, note: &Arrival) -> Result<PathBuf> {
    let text = serde_json::to_vec(note)
        .map_err(|e| Error::io(&data_dir.arrivals(), std::io::Error::other(e)))?;
    let dest = data_dir
        .in_inbox(&note.name)
        .map_err(|e| Error::io(&data_dir.inbox(), e))?;
    fsutil::replace_synced(&note_path(data_dir, &note.name), &text)?;
    let dir = dest.parent().unwrap_or(data_dir.root());
    // Never over another upload of the same name (two at the same instant): refused, not lost.
    into_folder(dir, || {
        fsutil::rename_new(tmp, &dest).map_err(|e| Error::io(&dest, e))
    })?;
    fsutil::sync_dir(dir)?;
    Ok(dest)
}

/// `place` into the inbox's folder `dir`, made first. An ingest removes the inbox's empty folders
/// (`remove_empty_folders`) without the doors' lock: one removed between its making and `place`
/// is made again (a few times) — never a county's file refused for it.
fn into_folder(dir: &std::path::Path, mut place: impl FnMut() -> Result<()>) -> Result<()> {
    let mut tries = 0;
    loop {
        crate::fsutil::make_dirs(dir)?;
        match place() {
            Err(_) if tries < 5 && !dir.is_dir() => tries += 1,
            r => return r,
        }
    }
}

/// The note of a file in the inbox, if its door left one.
pub fn read(data_dir: &DataDir, name: &str) -> Option<Arrival> {
    let bytes = std::fs::read(note_path(data_dir, name)).ok()?;
    serde_json::from_slice::<Arrival>(&bytes)
        .ok()
        .filter(|a| a.name == name)
}

/// Forgets the note of a file the store has recorded.
pub fn remove(data_dir: &DataDir, name: &str) {
    let _ = std::fs::remove_file(note_path(data_dir, name));
}
