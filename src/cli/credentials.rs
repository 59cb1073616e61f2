//! Secrets as systemd credentials (issue 36 §2). With `LoadCredential=FAYUAN_WEB_TOKEN:/etc/…` in
//! the unit, systemd gives the service each secret as a file `$CREDENTIALS_DIRECTORY/<NAME>`
//! that only the service can read, and the secret never stands in the unit's environment. A
//! variable not set in the environment is taken from there, once, when the program starts
//! (before any thread): every part that reads a secret finds it where it always looked.
//!
//! Only names that read as environment variables (`A-Z`, `0-9`, `_`) are taken, each file at most
//! 64 KB; a trailing newline is not part of the secret. Values are never logged; names are.

use std::ffi::OsString;

/// The largest credential file taken (a token, a password, a URL: a few hundred bytes).
const MAX_BYTES: u64 = 64 * 1024;

/// Sets each credential of `dir` not already in the environment; returns the names set.
/// Call it first thing in `main`, while the program has one thread.
pub fn load(dir: Option<OsString>) -> Vec<String> {
    let Some(dir) = dir.filter(|d| !d.is_empty()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut set = Vec::new();
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let env_like = name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !env_like || std::env::var_os(&name).is_some() {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_BYTES {
            continue;
        }
        let Ok(value) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let value = value.trim_end_matches(['\n', '\r']);
        // SAFETY: called first thing in `main`, before any thread is started (the contract
        // above), so no other thread reads or writes the environment meanwhile.
        unsafe { std::env::set_var(&name, value) };
        set.push(name);
    }
    set.sort();
    set
}
