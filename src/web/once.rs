//! One-time keys of the pages' forms (issue 34 §5): every state-changing form carries a fresh
//! key; the first POST with it does the work and keeps what it came to; a second POST of the same
//! form (F5 on the answer, a double click on 交办) does nothing and shows that first result.
//!
//! Invariants: a key is 32 hex digits (anything else is no key: the form acts as before); the
//! first POST claims the key by creating its file (create-new, so two at once cannot both act);
//! a claim left empty by a crash for more than `STALE_SECONDS` may be taken over.

use crate::layout::DataDir;
use serde::{Deserialize, Serialize};
use std::io::Write;

/// Longer than any action takes (the write lock's wait, a notice's send with its timeout).
const STALE_SECONDS: u64 = 600;

/// A fresh key for a form on a page being rendered.
pub fn fresh() -> String {
    // Unique, not secret: the POST still needs its tokens (fastrand is seeded at random per
    // thread).
    format!("{:032x}", fastrand::u128(..))
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
        Err(_) => {
            // Claimed before: wait a little for its result (a double click).
            for _ in 0..50 {
                if let Ok(b) = std::fs::read(&path)
                    && let Ok(came) = serde_json::from_slice::<Came>(&b)
                {
                    // A failure of the machine (the lock, the disk) is not the form's answer:
                    // the same form may try again.
                    if matches!(came, Came::Failed(_)) {
                        return Some(Claim::First(key));
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
                Claim::First(key)
            } else {
                Claim::Busy
            })
        }
    }
}

/// Keeps what the form with `key` came to (synced: a restart shows it too).
pub fn keep(data_dir: &DataDir, key: &str, came: &Came) {
    let path = data_dir.form_result(key);
    let wrote = serde_json::to_vec(came)
        .map_err(std::io::Error::other)
        .and_then(|b| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)?;
            f.write_all(&b)?;
            f.sync_all()
        });
    if let Err(e) = wrote {
        tracing::error!(file = %path.display(), error = %e, "a form's result not kept");
    }
}
