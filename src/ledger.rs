//! An append-only ledger of typed records: one JSON line per record, each synced before
//! `append` returns. The delivery ledger and the daemon's run ledger are ledgers; so is
//! whatever comes next that must survive a crash.
//!
//! Invariants: a record once appended is never rewritten; a crash or a full disk can only tear
//! the last line, which reading skips (the step it recorded is redone, never lost), and the next
//! append first ends it with a newline, so no record is ever glued to a fragment; reading a
//! ledger that does not exist yet gives no records.

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

pub struct Ledger<T> {
    path: PathBuf,
    record: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Ledger<T> {
    pub fn at(path: PathBuf) -> Ledger<T> {
        Ledger {
            path,
            record: PhantomData,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record, oldest first.
    pub fn read(&self) -> Result<Vec<T>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(ledger = %self.path.display(), error = %e, "unreadable ledger line skipped");
                    None
                }
            })
            .collect())
    }

    /// Appends one record and makes it durable. A torn last line (a write cut short by a crash
    /// or a full disk) is ended first, so that this record stands on a line of its own.
    pub fn append(&self, record: &T) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::fsutil::make_dirs(dir)?;
        let mut line = serde_json::to_string(record)
            .map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
        line.push('\n');
        let new = !self.path.exists();
        let mut f = fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        if new {
            // A ledger's first line: its name durable in its folder too.
            f.sync_all().map_err(|e| Error::sync(&self.path, e))?;
            crate::fsutil::sync_dir(dir)?;
        }
        let len = f.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))
                .and_then(|_| f.read_exact(&mut last))
                .map_err(|e| Error::io(&self.path, e))?;
            if last[0] != b'\n' {
                tracing::warn!(ledger = %self.path.display(), "a torn last line was ended before appending");
                line.insert(0, '\n');
            }
        }
        let stage = self.fault_stage();
        match crate::faults::armed(&stage) {
            Some(crate::faults::Fault::Torn) => {
                let _ = f.write_all(&line.as_bytes()[..line.len() / 2]);
                let _ = f.sync_data();
                return Err(crate::faults::disk_full(&self.path));
            }
            Some(crate::faults::Fault::Crash) => {
                let _ = f.write_all(&line.as_bytes()[..line.len() / 2]);
                let _ = f.sync_data();
                crate::faults::crash(&stage);
            }
            Some(crate::faults::Fault::Full) => return Err(crate::faults::disk_full(&self.path)),
            _ => {}
        }
        f.write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))?;
        // A failed sync is never retried over (the line may be gone although written).
        f.sync_data().map_err(|e| Error::sync(&self.path, e))
    }

    /// The fault point inside [`Ledger::append`]: `append-deliveries`, `append-runs`,
    /// `append-mail` (every mailbox's ledger), …
    fn fault_stage(&self) -> String {
        let mut parts = self
            .path
            .components()
            .rev()
            .skip(1)
            .map(|c| c.as_os_str().to_string_lossy().to_string());
        let parent = parts.next().unwrap_or_default();
        if parts.next().as_deref() == Some("mail") {
            "append-mail".into()
        } else {
            format!("append-{parent}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct R {
        n: u32,
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let ledger: Ledger<R> = Ledger::at(dir.path().join("x/l.jsonl"));
        assert!(ledger.read().unwrap().is_empty());
        ledger.append(&R { n: 1 }).unwrap();
        ledger.append(&R { n: 2 }).unwrap();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(ledger.path())
            .unwrap();
        f.write_all(b"{\"n\": 3").unwrap();
        assert_eq!(ledger.read().unwrap(), vec![R { n: 1 }, R { n: 2 }]);
        // The next record is not glued to the fragment: it is read, and the fragment skipped.
        ledger.append(&R { n: 4 }).unwrap();
        assert_eq!(
            ledger.read().unwrap(),
            vec![R { n: 1 }, R { n: 2 }, R { n: 4 }]
        );
        let text = fs::read_to_string(ledger.path()).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}
