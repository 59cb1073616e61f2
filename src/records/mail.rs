//! The mailboxes' ledgers, read: one line per step of each message, and the thread of a unit's
//! month.

use crate::config::Pipeline;
use crate::error::Result;
use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::period::Moment;
use crate::store::{FileEntry, Outcome};
use serde::{Deserialize, Serialize};

/// One step of one message, in the mail ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailEvent {
    pub at: Moment,
    pub validity: u32,
    pub uid: u32,
    pub message_id: String,
    pub sha256: String,
    pub step: MailStep,
    /// Where the bytes are, who sent them, what happened (for `status` and people).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailStep {
    Archived,
    /// Moved to the held folder (unknown sender, auto-reply, bounce, too large, failing).
    Held,
    Done,
    /// Its handling failed (`detail` says why); after `max_failures` of these it is held.
    Failed,
}

/// A mailbox's ledger (`mail/<mailbox>/ledger.jsonl`): one line per step of each message.
pub fn mail_ledger(data_dir: &DataDir, mailbox: &str) -> Ledger<MailEvent> {
    Ledger::at(data_dir.mail_ledger(mailbox))
}

/// The Message-ID of the mail that brought a unit's latest accepted figures for `month`
/// (`2025-06`), when they came by mail: a message to the unit about that month (a return)
/// answers it, in its thread. `None`: they did not come by mail.
pub fn thread_of(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    files: &[FileEntry],
    unit: &str,
    month: &str,
) -> Result<Option<String>> {
    let latest = files
        .iter()
        .filter(|f| {
            matches!(f.outcome, Outcome::Accepted | Outcome::Partial)
                && f.names_unit(unit)
                && f.periods.iter().any(|p| p.to_string() == month)
        })
        .max_by(|a, b| a.arrived_at.cmp(&b.arrived_at));
    // Attachments are taken in as `mail-<mailbox>-<sha12>/<k>-<name>`.
    let Some((mailbox, sha12)) = latest
        .and_then(|f| f.file_name.split('/').next())
        .and_then(DataDir::mail_of_inbox_folder)
    else {
        return Ok(None);
    };
    if !pipeline.def.mailboxes.iter().any(|m| m.name == mailbox) {
        return Ok(None);
    }
    Ok(mail_ledger(data_dir, mailbox)
        .read()?
        .into_iter()
        .find(|e| e.sha256.starts_with(sha12) && !e.message_id.is_empty())
        .map(|e| e.message_id))
}
