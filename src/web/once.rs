//! One-time keys of the pages' forms (issue 34 §5): every state-changing form carries a fresh
//! key; the first POST with it does the work and keeps what it came to; a second POST of the same
//! form (F5 on the answer, a double click on 交办) does nothing and shows that first result.
//!
//! Invariants: a key is 32 hex digits (anything else is no key: the form acts as before); the
//! first POST claims the key by creating its file (create-new, so two at once cannot both act);
//! a claim left empty by a crash for more than `STALE_SECONDS` may be taken over.

use crate::layout::DataDir;
use serde::{Deserialize, Serialize};

/// Longer than any action takes (the write lock's wait, a notice's send with its timeout).
const STALE_SECONDS: u64 = 600;

/// A fresh key for a form on a page being rendered: 128 bits from the OS, so no one can guess
/// (and claim first) the key of another person's form.
pub fn fresh() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // (never on Linux; still unique)
        b = fastrand::u128(..).to_le_bytes();
    }
    hex::encode(b)
}

/// What a form came to, kept under its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Came {
    Done(String),
    Refused(String),
    Usage(String),
    Failed(String),
    /// An upload's result (the county page shows it): accepted or not, the words, and whether
    /// it was over the size limit (413).
    Upload {
        ok: bool,
        text: String,
        over: bool,
    },
}

impl Came {
    /// The HTTP status its result page answers with.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Came::Done(_) => StatusCode::OK,
            Came::Refused(_) => StatusCode::FORBIDDEN,
            Came::Usage(_) => StatusCode::BAD_REQUEST,
            Came::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Came::Upload { over: true, .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Came::Upload { .. } => StatusCode::OK,
        }
    }
}

/// What a POST with a key may do.
pub enum Claim {
    /// The first: act, then `keep` what it came to.
    First(String),
    /// Done before: show this.
    Again,
    /// Being done by another request right now.
    Busy,
    /// The key cannot be kept (the disk): nothing may be done now.
    Unavailable,
}

/// The form's own key if it carries a usable one, else a fresh one (a form posted by hand still
/// gets its result page; only a second POST of the very same form is stopped).
pub fn key_of(given: Option<&String>) -> String {
    given.filter(|k| usable(k)).cloned().unwrap_or_else(fresh)
}

/// What the form with `key` came to: None when no such form was posted (or its key is not one);
/// Some(None) while it is being done.
pub fn read(data_dir: &DataDir, key: &str) -> Option<Option<Came>> {
    if !usable(key) {
        return None;
    }
    let b = std::fs::read(data_dir.form_result(key)).ok()?;
    Some(serde_json::from_slice::<Came>(&b).ok())
}

pub fn usable(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Claims the form's key (None: not a usable key).
pub fn claim(data_dir: &DataDir, key: &str) -> Option<Claim> {
    if !usable(key) {
        return None;
    }
    let key = key.to_string();
    let path = data_dir.form_result(&key);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(_) => Some(Claim::First(key)),
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            tracing::error!(file = %path.display(), error = %e, "a form's key cannot be kept");
            Some(Claim::Unavailable)
        }
        Err(_) => {
            // Claimed before: wait a little for its result (a double click).
            for _ in 0..50 {
                if let Ok(b) = std::fs::read(&path)
                    && let Ok(came) = serde_json::from_slice::<Came>(&b)
                {
                    // A failure of the machine (the lock, the disk) is not the form's answer:
                    // the same form may try again — one request only (the rename is atomic).
                    if matches!(came, Came::Failed(_)) {
                        return Some(take_over(&path, key));
                    }
                    return Some(Claim::Again);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let stale = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|e| e.as_secs() > STALE_SECONDS);
            Some(if stale {
                take_over(&path, key)
            } else {
                Claim::Busy
            })
        }
    }
}

/// Takes over a key whose claim failed or was left by a crash: the one request whose rename of
/// the old claim succeeds claims it anew.
fn take_over(path: &std::path::Path, key: String) -> Claim {
    let aside = crate::fsutil::temp_name(path);
    if std::fs::rename(path, &aside).is_err() {
        return Claim::Busy;
    }
    let _ = std::fs::remove_file(&aside);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Claim::First(key),
        Err(_) => Claim::Busy,
    }
}

/// Lets a key go whose form did nothing (an upload that could not be kept): the same form may
/// be sent again.
pub fn forget(data_dir: &DataDir, key: &str) {
    if usable(key) {
        let _ = std::fs::remove_file(data_dir.form_result(key));
    }
}

/// Keeps what the form with `key` came to, whole (written aside, synced, renamed over the
/// claim): a restart shows it too, and a crash never leaves half a result.
pub fn keep(data_dir: &DataDir, key: &str, came: &Came) {
    let path = data_dir.form_result(key);
    let wrote = serde_json::to_vec(came)
        .map_err(std::io::Error::other)
        .and_then(|b| crate::fsutil::replace_synced(&path, &b).map_err(std::io::Error::other));
    if let Err(e) = wrote {
        tracing::error!(file = %path.display(), error = %e, "a form's result not kept");
    }
}
