//! What one ingest run did: the files it recorded and what it left in the inbox, and whether a
//! report may be made from it (no workbook waiting for a reader).

use crate::error::{Error, Result};
use crate::store::{FileEntry, Outcome};

/// Something in the inbox that was not taken this time, and why (in Chinese, for the staff).
#[derive(Debug, Clone, PartialEq)]
pub struct LeftAside {
    /// The name as found, relative to the inbox.
    pub name: String,
    pub reason: String,
    /// Left because no reader worker could start (fayuan's trouble, not the file's): the
    /// daemon counts the ingest as failed and tells the staff once.
    pub waits_for_reader: bool,
}

/// What one ingest run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: Vec<FileEntry>,
    /// What stays in the inbox, with the reason; nothing is ever ignored without a word.
    pub left: Vec<LeftAside>,
}

impl Summary {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.files.iter().filter(|f| f.outcome == outcome).count()
    }

    /// The workbooks left in the inbox because no reader worker could start.
    pub fn waiting_for_reader(&self) -> Vec<&LeftAside> {
        self.left.iter().filter(|l| l.waits_for_reader).collect()
    }

    /// `Err` when workbooks wait for a reader: the ingest counts as failed (the daemon tells
    /// the staff once), and no report is made without them — one home for the CLI's `ingest`
    /// and `run` and the daemon's ingest and report.
    pub fn all_read(&self) -> Result<()> {
        let waiting = self.waiting_for_reader();
        match waiting.first() {
            None => Ok(()),
            Some(first) => Err(Error::Runtime(crate::error::during(
                format!(
                    "{} 个工作簿留在收件箱（{} 个文件已收取）",
                    waiting.len(),
                    self.files.len()
                ),
                std::io::Error::other(first.reason.clone()),
            ))),
        }
    }

    /// As [`Summary::all_read`], for a report about to be made from what was taken.
    pub fn ready_for_report(&self) -> Result<()> {
        self.all_read()
            .map_err(|e| Error::Runtime(crate::error::during("报告未生成", e)))
    }
}
