//! One writer at a time: every command that writes the store, the ledgers or the outbox holds
//! `<data-dir>/.fayuan.lock` (an OS file lock, released when the process ends, even by a crash).

use crate::error::{Error, Result};
use crate::layout::DataDir;
use std::fs::{self, File, TryLockError};
use std::io::{Read, Seek, Write};
use std::time::{Duration, Instant};

pub struct WriteLock {
    _file: File,
}

/// Takes the lock, waiting at most `wait` for another fayuan process to let go of it.
pub fn acquire(data_dir: &DataDir, wait: Duration, what: &str) -> Result<WriteLock> {
    fs::create_dir_all(data_dir.root()).map_err(|e| Error::io(data_dir, e))?;
    let path = data_dir.lock();
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Busy(format!(
                    "another fayuan process ({}) has been writing to {} for more than {} s; {what} not started — try again later",
                    holder.trim(),
                    data_dir.display(),
                    wait.as_secs()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
    let note = format!("pid {} ({what})", std::process::id());
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(note.as_bytes()))
        .and_then(|_| file.flush());
    Ok(WriteLock { _file: file })
}
