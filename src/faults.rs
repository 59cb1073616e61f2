//! Fault points for the crash-recovery tests and the year in simulation (fayuan's BUGGIFY):
//! `FAYUAN_TEST_FAULT=crash@STAGE` kills the process with SIGKILL when it reaches STAGE (as
//! `kill -9` would, but at a known moment, not by luck); `full@STAGE` makes STAGE fail as a full
//! disk does; `hang@STAGE` stops there for an hour (a reader that never answers); `torn@STAGE`
//! (at a ledger's append) writes half the record, then fails as a full disk does; `panic@STAGE`
//! panics there (a bug, or a message no code path expected). `STAGE#N`
//! fires only the Nth time the point is passed in this process. Without the variable a point
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
}

/// The fault set for `stage` now, counting this pass (see the module's `STAGE#N`).
pub fn armed(stage: &str) -> Option<Fault> {
    let spec = std::env::var("FAYUAN_TEST_FAULT").ok()?;
    let (kind, at) = spec.split_once('@')?;
    let (name, nth) = match at.split_once('#') {
        Some((n, k)) => (n, k.parse::<u64>().ok()?),
        None => (at, 0),
    };
    if name != stage {
        return None;
    }
    if nth > 0 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static PASSED: AtomicU64 = AtomicU64::new(0);
        if PASSED.fetch_add(1, Ordering::SeqCst) + 1 != nth {
            return None;
        }
    }
    match kind {
        "crash" => Some(Fault::Crash),
        "full" => Some(Fault::Full),
        "hang" => Some(Fault::Hang),
        "torn" => Some(Fault::Torn),
        "panic" => Some(Fault::Panic),
        _ => None,
    }
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
        None => Ok(()),
    }
}
