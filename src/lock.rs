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
    let (path, mut file) = open(data_dir, data_dir.lock())?;
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

fn open(data_dir: &DataDir, path: std::path::PathBuf) -> Result<(std::path::PathBuf, File)> {
    crate::fsutil::make_dirs(data_dir.root())?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    Ok((path, file))
}

/// One sender at a time (`<data-dir>/.fayuan-deliver.lock`): every delivery — a round, a message
/// sent at once — holds it while it talks to the mail server, so no message is sent twice; the
/// write lock is not held for it, so a slow mail server does not stall the doors, the reports
/// or the ingest. Taken after the write lock when both are held, never before it.
pub struct DeliveryLock {
    _file: File,
}

/// Takes the delivery lock, waiting (on the runtime, not blocking it) at most `wait`.
pub async fn acquire_delivery(data_dir: &DataDir, wait: Duration) -> Result<DeliveryLock> {
    let (path, file) = open(data_dir, data_dir.delivery_lock())?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(DeliveryLock { _file: file }),
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Busy(format!(
                    "another fayuan process has been sending mail from {} for more than {} s; tried again later",
                    data_dir.display(),
                    wait.as_secs()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
}
