//! What happened, read from the store and the ledgers that other parts of fayuan write (issue
//! 37 §1): a reader below every part that asks, so that supervision, status, the pages and the
//! mailbox ask here instead of each other's files. A ledger that cannot be read is an error
//! naming it, never an empty answer.

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::period::{self, Moment, Period};
use crate::store::{FileEntry, Outcome, Store, meta};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// The store as one operation reads it: its files and its rows, read once (a receipt, an
/// upload's answer), narrowed to one unit where the question is about one unit.
pub struct Records {
    data_dir: DataDir,
    files: Vec<FileEntry>,
    rows: DataFrame,
}

impl Records {
    /// Reads the store's record of files and its rows, once.
    pub fn open(data_dir: &DataDir) -> Result<Records> {
        let store = Store::open(data_dir);
        Ok(Records {
            data_dir: data_dir.clone(),
            files: store.files()?,
            rows: store.rows()?,
        })
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// Every file seen, in arrival order.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Every accepted row of every version, with `version` and `latest` (`Store::rows`).
    pub fn rows(&self) -> &DataFrame {
        &self.rows
    }

    /// What the store holds of one unit only: the files that name it (and the same bytes sent
    /// again, which the store records without units: a 补录 of a mailed file marks it) and its
    /// rows — what a question about that unit needs, without an analysis of every unit.
    pub fn of_unit(&self, code: &str) -> Result<Records> {
        let rows = self
            .rows
            .clone()
            .lazy()
            .filter(col("unit_code").eq(lit(code)))
            .collect()
            .map_err(|e| Error::store(&self.data_dir.store(), e))?;
        Ok(Records {
            data_dir: self.data_dir.clone(),
            files: {
                let shas: std::collections::HashSet<&str> = self
                    .files
                    .iter()
                    .filter(|f| f.names_unit(code))
                    .map(|f| f.sha256.as_str())
                    .collect();
                self.files
                    .iter()
                    .filter(|f| f.names_unit(code) || shas.contains(f.sha256.as_str()))
                    .cloned()
                    .collect()
            },
            rows,
        })
    }

    /// The months a file's rows are for (by its SHA-256), each with the version it became, in
    /// month order.
    pub fn versions_of(&self, sha: &str) -> Result<Vec<(Period, i64)>> {
        let err = |e| Error::store(&self.data_dir.store(), e);
        let df = &self.rows;
        let shas = crate::frame::strings(df, meta::SHA256).map_err(err)?;
        let periods = crate::frame::strings(df, "period").map_err(err)?;
        let versions: Vec<Option<i64>> = df
            .column(meta::VERSION)
            .and_then(|c| c.cast(&DataType::Int64))
            .and_then(|c| c.i64().map(|ca| ca.iter().collect()))
            .map_err(err)?;
        let mut out: Vec<(Period, i64)> = (0..df.height())
            .filter(|&k| shas[k].as_deref() == Some(sha))
            .filter_map(|k| Some((Period::parse(periods[k].as_deref()?)?, versions[k]?)))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl Records {
    /// The returns open as of `as_of` (None: everything), from the returns' ledger and these
    /// files.
    pub fn open_returns(&self, as_of: Option<DateTime<Tz>>) -> Result<Vec<OpenReturn>> {
        open_returns_as_of(&self.data_dir, &self.files, as_of)
    }

    /// The 说明 given on the pages in force as of `as_of` (None: every step).
    pub fn explained(&self, as_of: Option<DateTime<Tz>>) -> Result<Vec<Explained>> {
        explained_as_of(&self.data_dir, as_of)
    }

    /// The months confirmed by `as_of` (None: every confirmation): (unit, month, when).
    pub fn locks(&self, as_of: Option<DateTime<Tz>>) -> Result<Vec<(String, String, String)>> {
        locks_as_of(&self.data_dir, as_of)
    }
}

/// One line of the returns ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnRecord {
    pub at: Moment,
    pub unit: String,
    pub period: String,
    pub reason: String,
    /// The staff member who returned (or withdrew) it.
    pub by: String,
    /// A withdrawal of the return before it.
    #[serde(default)]
    pub cancel: bool,
}

/// A return still waiting for the unit's new version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenReturn {
    pub unit: String,
    pub period: String,
    pub reason: String,
    pub by: String,
    /// When it was returned (`2025-07-08 10:00`).
    pub at: String,
}

/// The returns' ledger (`supervision/returns.jsonl`), which 指导督促 appends to.
pub fn returns_ledger(data_dir: &DataDir) -> Ledger<ReturnRecord> {
    Ledger::at(data_dir.returns())
}

/// The last word on each unit-month of the returns' ledger (a return or its withdrawal).
pub fn last_words(records: &[ReturnRecord]) -> Vec<&ReturnRecord> {
    let mut last: Vec<&ReturnRecord> = Vec::new();
    for r in records {
        last.retain(|x| !(x.unit == r.unit && x.period == r.period));
        last.push(r);
    }
    last
}

/// The files accepted (wholly or in part) for a unit's month after `at` (RFC 3339).
pub fn accepted_after<'f>(
    files: &'f [FileEntry],
    unit: &'f str,
    month: &'f str,
    at: &'f str,
) -> impl Iterator<Item = &'f FileEntry> {
    files.iter().filter(move |f| {
        matches!(f.outcome, Outcome::Accepted | Outcome::Partial)
            && f.arrived_at.to_string().as_str() > at
            && f.names_unit(unit)
            && f.periods.iter().any(|p| p.to_string() == month)
    })
}

/// The returns still open, from the ledger and the store's files.
pub fn open_returns(data_dir: &DataDir, files: &[FileEntry]) -> Result<Vec<OpenReturn>> {
    open_returns_as_of(data_dir, files, None)
}

/// The returns open as of `as_of` (a report rebuilt as of a past moment sees only what had
/// happened by then; None: everything).
pub fn open_returns_as_of(
    data_dir: &DataDir,
    files: &[FileEntry],
    as_of: Option<DateTime<Tz>>,
) -> Result<Vec<OpenReturn>> {
    let mut records = returns_ledger(data_dir).read()?;
    records.retain(|r| as_of.is_none_or(|t| r.at.0 <= t));
    Ok(last_words(&records)
        .into_iter()
        .filter(|r| !r.cancel)
        .filter(|r| {
            let at = period::instant_text(&r.at.0);
            accepted_after(files, &r.unit, &r.period, &at)
                .next()
                .is_none()
        })
        .map(|r| OpenReturn {
            unit: r.unit.clone(),
            period: r.period.clone(),
            reason: r.reason.clone(),
            by: r.by.clone(),
            at: r.at.minute(),
        })
        .collect())
}

/// One line of the confirmations' ledger (确认).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfirmRecord {
    pub at: Moment,
    pub unit: String,
    pub period: String,
    pub by: String,
}

/// The confirmations' ledger (`supervision/confirms.jsonl`), which 指导督促 appends to.
pub fn confirms_ledger(data_dir: &DataDir) -> Ledger<ConfirmRecord> {
    Ledger::at(data_dir.confirms())
}

/// The confirmed months: (unit, month, the latest confirmation — RFC 3339), for the analyses.
pub fn locks(data_dir: &DataDir) -> Result<Vec<(String, String, String)>> {
    locks_as_of(data_dir, None)
}

/// The months confirmed by `as_of` (None: every confirmation).
pub fn locks_as_of(
    data_dir: &DataDir,
    as_of: Option<DateTime<Tz>>,
) -> Result<Vec<(String, String, String)>> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for r in confirms_ledger(data_dir)
        .read()?
        .into_iter()
        .filter(|r| as_of.is_none_or(|t| r.at.0 <= t))
    {
        out.retain(|l| !(l.0 == r.unit && l.1 == r.period));
        out.push((r.unit, r.period, period::instant_text(&r.at.0)));
    }
    Ok(out)
}

/// A unit's 说明 of one soft check in one month, given on its page rather than in the file's
/// 说明 cell (which, when present, is the one shown).
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub unit_code: String,
    pub month: u32,
    pub check_id: String,
    pub text: String,
}

/// One line of the 说明 ledger: a 说明 of a check for months, or its sending back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoteRecord {
    pub at: Moment,
    pub unit: String,
    pub check_id: String,
    pub months: Vec<u32>,
    /// The 说明, or the reason it was sent back.
    pub text: String,
    pub by: String,
    /// A sending back (退回说明) of the 说明 of these months.
    #[serde(default)]
    pub sent_back: bool,
}

/// The 说明 ledger (`supervision/notes.jsonl`), which the pages append to.
pub fn notes_ledger(data_dir: &DataDir) -> Ledger<NoteRecord> {
    Ledger::at(data_dir.notes())
}

/// The 说明 in force as of `as_of` (None: every step), one per (unit, check, month).
pub fn explained_as_of(data_dir: &DataDir, as_of: Option<DateTime<Tz>>) -> Result<Vec<Explained>> {
    let mut out: Vec<Explained> = Vec::new();
    for r in notes_ledger(data_dir)
        .read()?
        .into_iter()
        .filter(|r| as_of.is_none_or(|t| r.at.0 <= t))
    {
        out.retain(|x| {
            !(x.unit_code == r.unit && x.check_id == r.check_id && r.months.contains(&x.month))
        });
        if !r.sent_back {
            out.extend(r.months.iter().map(|&m| Explained {
                unit_code: r.unit.clone(),
                month: m,
                check_id: r.check_id.clone(),
                text: r.text.clone(),
            }));
        }
    }
    Ok(out)
}

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
