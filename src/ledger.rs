//! An append-only ledger of typed records: one JSON line per record, each synced before
//! `append` returns. The delivery ledger and the daemon's run ledger are ledgers; so is
//! whatever comes next that must survive a crash.
//!
//! Invariants: a record once appended is never rewritten; a crash can only tear the last line,
//! which reading skips (the step it recorded is redone, never lost); reading a ledger that does
//! not exist yet gives no records.

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

    /// Appends one record and makes it durable.
    pub fn append(&self, record: &T) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut line = serde_json::to_string(record)
            .map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
        line.push('\n');
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| Error::io(&self.path, e))
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
    }
}
