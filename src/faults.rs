//! Fault points for the crash-recovery tests and the year in simulation (fayuan's BUGGIFY):
//! `FAYUAN_TEST_FAULT=crash@STAGE` kills the process with SIGKILL when it reaches STAGE (as
//! `kill -9` would, but at a known moment, not by luck); `full@STAGE` makes STAGE fail as a full
//! disk does; `hang@STAGE` stops there for an hour (a reader that never answers); `torn@STAGE`
//! (at a ledger's append) writes half the record, then fails as a full disk does; `panic@STAGE`
//! panics there (a bug, or a message no code path expected); `eio@STAGE` makes the sync at STAGE
//! (`syncfs`, `sync-dir`) fail with EIO, as a disk that lost what it was given. `STAGE#N`
//! fires only the Nth time the point is passed in this process; several faults are separated by
//! commas. Without the variable a point
//! costs one environment lookup and does nothing.

use crate::error::{Error, Result};
use std::path::Path;

/// What a fault point asks for, when its fault is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Crash,
    Full,
    Hang,
    Torn,
    Panic,
    /// A sync that fails with EIO (a disk that lost what it was given).
    Eio,
}

/// The fault set for `stage` now, counting this pass (see the module's `STAGE#N`). Several faults
/// may be set at once, separated by commas (the simulation sets a poison mail and a kill).
pub fn armed(stage: &str) -> Option<Fault> {
    let specs = std::env::var("FAYUAN_TEST_FAULT").ok()?;
    let mut passed = None;
    for spec in specs.split(',') {
        let Some((kind, at)) = spec.trim().split_once('@') else {
            continue;
        };
        let (name, nth) = match at.split_once('#') {
            Some((n, k)) => (n, k.parse::<u64>().ok()?),
            None => (at, 0),
        };
        if name != stage {
            continue;
        }
        if nth > 0 {
            // Passes of this stage in this process, counted once per pass.
            let n = *passed.get_or_insert_with(|| {
                use std::collections::HashMap;
                use std::sync::Mutex;
                static PASSES: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
                let mut m = PASSES.lock().unwrap_or_else(|e| e.into_inner());
                let count = m
                    .get_or_insert_with(HashMap::new)
                    .entry(stage.to_string())
                    .or_default();
                *count += 1;
                *count
            });
            if n != nth {
                continue;
            }
        }
        return match kind {
            "crash" => Some(Fault::Crash),
            "full" => Some(Fault::Full),
            "hang" => Some(Fault::Hang),
            "torn" => Some(Fault::Torn),
            "panic" => Some(Fault::Panic),
            "eio" => Some(Fault::Eio),
            _ => None,
        };
    }
    None
}

/// Kills this process at once, as `kill -9` does.
pub fn crash(stage: &str) {
    tracing::warn!(stage, "test fault: killing this process");
    // SAFETY: sends a signal to this very process; nothing is read or written.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

/// The error a full disk gives, for `path`.
pub fn disk_full(path: &Path) -> Error {
    Error::io(path, std::io::Error::from_raw_os_error(libc::ENOSPC))
}

/// Passes a fault point named `stage`; `path` names what a simulated failure was writing.
pub fn point(stage: &str, path: &Path) -> Result<()> {
    match armed(stage) {
        Some(Fault::Crash) => {
            crash(stage);
            Ok(())
        }
        Some(Fault::Hang) => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Ok(())
        }
        Some(Fault::Full | Fault::Torn) => Err(disk_full(path)),
        Some(Fault::Panic) => panic!("test fault at {stage}"),
        Some(Fault::Eio) => Err(Error::sync(
            path,
            std::io::Error::from_raw_os_error(libc::EIO),
        )),
        None => Ok(()),
    }
}
