//! The ledgers 指导督促 writes (returns, confirmations, 说明, sign-offs, 督办事项), read: their
//! records' types, their handles, and the answers made from them as of a moment.

use crate::error::Result;
use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::period::{self, Moment};
use crate::store::{FileEntry, Outcome};
use chrono::DateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

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

/// One line of the supervision items' ledger (督办事项): opened, or closed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemRecord {
    pub at: Moment,
    /// 1, 2, … in the order opened.
    pub id: u32,
    pub unit: String,
    pub text: String,
    /// The day it is due (`2025-08-15`).
    pub due: String,
    pub by: String,
    #[serde(default)]
    pub close: bool,
    /// The unit's answer (its text in `text`, who in `by`: the mail sender or the unit's page).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answer: bool,
}

/// An item still open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenItem {
    pub id: u32,
    pub unit: String,
    pub text: String,
    pub due: String,
    pub by: String,
    pub opened: String,
    /// Past its due day (the end of it, Beijing time).
    pub overdue: bool,
    /// The unit's answers: "2025-07-20 10:00 huoqiu@…：text".
    pub answers: Vec<String>,
}

/// The 督办事项' ledger (`supervision/items.jsonl`), which 指导督促 appends to.
pub fn items_ledger(data_dir: &DataDir) -> Ledger<ItemRecord> {
    Ledger::at(data_dir.supervision_items())
}

/// The items still open, as of `now`.
pub fn open_items(data_dir: &DataDir, now: DateTime<Tz>) -> Result<Vec<OpenItem>> {
    // As of `now`: an item opened, answered or closed later has not happened yet.
    let mut records = items_ledger(data_dir).read()?;
    records.retain(|r| r.at.0 <= now);
    let today = now.date_naive();
    Ok(records
        .iter()
        .filter(|r| !r.close && !r.answer && !records.iter().any(|c| c.close && c.id == r.id))
        .map(|r| OpenItem {
            answers: records
                .iter()
                .filter(|a| a.answer && a.id == r.id)
                .map(|a| format!("{} {}：{}", a.at.minute(), a.by, a.text))
                .collect(),
            id: r.id,
            unit: r.unit.clone(),
            text: r.text.clone(),
            due: r.due.clone(),
            by: r.by.clone(),
            opened: r.at.minute(),
            overdue: chrono::NaiveDate::parse_from_str(&r.due, "%Y-%m-%d").is_ok_and(|d| today > d),
        })
        .collect())
}

/// One line of the sign-offs' ledger: the unit's 负责人 confirms the version of a month.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignRecord {
    pub at: Moment,
    pub unit: String,
    pub period: String,
    pub version: i64,
    /// The SHA-256 of the file that version came in: what was signed, whatever number a later
    /// backfill gives the version.
    #[serde(default)]
    pub sha256: String,
    /// The 负责人's name as typed.
    pub name: String,
}

/// A month whose latest version waits for the 负责人: the month, the version's number and the
/// SHA-256 of the file it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsigned {
    pub month: u32,
    pub version: i64,
    pub sha256: String,
}

/// The sign-offs' ledger (`supervision/signoffs.jsonl`), which the pages append to.
pub fn signoffs_ledger(data_dir: &DataDir) -> Ledger<SignRecord> {
    Ledger::at(data_dir.signoffs())
}

/// The versions signed as of `as_of`: (unit, month `2025-07`, version).
pub fn signed_as_of(data_dir: &DataDir, as_of: Option<DateTime<Tz>>) -> Result<Vec<SignRecord>> {
    Ok(signoffs_ledger(data_dir)
        .read()?
        .into_iter()
        .filter(|r| as_of.is_none_or(|t| r.at.0 <= t))
        .collect())
}
