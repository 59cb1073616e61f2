//! Fault points for the crash-recovery tests: `FAYUAN_TEST_FAULT=crash@STAGE` kills the process
//! with SIGKILL when it reaches STAGE (as `kill -9` would, but at a known moment, not by luck);
//! `full@STAGE` makes STAGE fail as a full disk does. Without the variable a point costs one
//! environment lookup and does nothing. `hang@STAGE` stops there for an hour (a reader that
//! never answers).

use crate::error::{Error, Result};
use std::path::Path;

/// Passes a fault point named `stage`; `path` names what a simulated failure was writing.
pub fn point(stage: &str, path: &Path) -> Result<()> {
    let Ok(fault) = std::env::var("FAYUAN_TEST_FAULT") else {
        return Ok(());
    };
    match fault.split_once('@') {
        Some(("crash", at)) if at == stage => {
            tracing::warn!(stage, "test fault: killing this process");
            // SAFETY: sends a signal to this very process; nothing is read or written.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            Ok(())
        }
        Some(("hang", at)) if at == stage => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Ok(())
        }
        Some(("full", at)) if at == stage => Err(Error::io(
            path,
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        )),
        _ => Ok(()),
    }
}
