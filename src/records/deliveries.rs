//! The delivery ledger (`deliveries/<pipeline>.jsonl`), read: what became of each message fayuan
//! sent, recipient by recipient, and what leadership has been told (the digests that reached
//! anyone, with the manifests kept beside them in the outbox). Notify writes it.

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::period::{self, Moment};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One line of the delivery ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub at: Moment,
    pub period: String,
    pub digest: String,
    pub event: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient: Option<bool>,
    /// With `created`: what the message is (absent in old ledgers: a digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageKind>,
    /// With `failed`: the server's reply code, when it gave one (552: too large).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// What happened to a message (for one recipient, but `created`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Kept whole in the outbox, with `recipients`.
    Created,
    /// A send to one recipient begins (recorded before it, so a crash errs towards a resend);
    /// `detail` is `small` when the form without the workbook is sent.
    Attempt,
    Sent,
    /// Written as .eml (no SMTP server configured): done for that recipient.
    Outbox,
    /// With `detail`; `transient` says whether a later try may succeed.
    Failed,
    /// No more tries for that recipient (refused for good, or too old); the staff are told.
    #[serde(rename = "gaveup")]
    GaveUp,
}

/// What a message is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// The monthly digest to leadership.
    #[default]
    Digest,
    /// A reminder to a unit that has not reported.
    Reminder,
    /// A failed job (or its recovery), to the data staff.
    Failure,
    /// A receipt to a county for a message it sent (email-in).
    Receipt,
    /// A message held for the data staff (unknown sender, auto-reply, too large).
    Held,
    /// Messages that could not be delivered, to the data staff (never noticed in turn).
    Notice,
    /// A unit's month returned for correction (退回), to the unit's contacts.
    Return,
    /// A supervision item (督办事项) opened on a unit, to the unit's contacts.
    Supervision,
    /// A unit's own results after a monthly report (`[notify] unit_feedback`).
    Feedback,
}

impl MessageKind {
    /// A notice to the data staff about what failed (a job, a delivery): kept until delivered.
    pub fn reports_failures(self) -> bool {
        matches!(self, MessageKind::Failure | MessageKind::Notice)
    }

    /// The kind as people read it in `status`.
    pub fn zh(self) -> &'static str {
        match self {
            MessageKind::Digest => "摘要邮件",
            MessageKind::Reminder => "催报提醒",
            MessageKind::Failure => "任务通知",
            MessageKind::Receipt => "回执",
            MessageKind::Held => "转人工通知",
            MessageKind::Notice => "未送达通知",
            MessageKind::Return => "退回通知",
            MessageKind::Supervision => "督办通知",
            MessageKind::Feedback => "本单位情况",
        }
    }
}

/// The delivery ledger of a pipeline.
pub fn ledger(data_dir: &DataDir, pipeline: &Pipeline) -> Ledger<Event> {
    Ledger::at(data_dir.deliveries(pipeline.name()))
}

/// The last failure of a send to one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct LastFailure {
    pub at: Moment,
    pub detail: String,
    pub transient: bool,
    pub code: Option<u16>,
}

impl LastFailure {
    /// The server refused the message as too large (552, or the enhanced code 5.3.4).
    pub fn too_large(&self) -> bool {
        !self.transient
            && (self.code == Some(552)
                || self.detail.contains("5.3.4")
                || self
                    .detail
                    .to_ascii_lowercase()
                    .contains("too much mail data")
                || self.detail.to_ascii_lowercase().contains("too large"))
    }
}

/// Where one recipient of a message stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recipient {
    pub address: String,
    /// `sent` or `outbox`.
    pub done: bool,
    /// Done by writing it to the outbox only (no SMTP server): nobody was sent it.
    pub outbox_only: bool,
    /// Given up, and why.
    pub gave_up: Option<String>,
    /// Sends begun.
    pub attempts: u32,
    /// Sends failed.
    pub failures: u32,
    pub last_failure: Option<LastFailure>,
    /// The form without the workbook was tried (after a refusal as too large).
    pub small: bool,
}

impl Recipient {
    pub fn pending(&self) -> bool {
        !self.done && self.gave_up.is_none()
    }
}

/// The state of one message (a digest, a receipt, a reminder, a notice).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageState {
    pub id: String,
    pub kind: MessageKind,
    pub period: String,
    pub subject: String,
    pub created: Moment,
    pub recipients: Vec<Recipient>,
}

impl MessageState {
    /// Recipients that have it.
    pub fn done(&self) -> Vec<&str> {
        self.recipients
            .iter()
            .filter(|r| r.done)
            .map(|r| r.address.as_str())
            .collect()
    }

    /// Whether anyone has it.
    pub fn reached_anyone(&self) -> bool {
        self.recipients.iter().any(|r| r.done)
    }

    pub fn pending(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(|r| r.pending())
    }
}

/// The digests of the ledger (not reminders or notices), oldest first.
pub fn digests(events: &[Event]) -> Vec<MessageState> {
    messages(events)
        .into_iter()
        .filter(|d| d.kind == MessageKind::Digest)
        .collect()
}

/// Every message of the ledger with each recipient's standing, oldest first (one pass).
pub fn messages(events: &[Event]) -> Vec<MessageState> {
    let mut out: Vec<MessageState> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for e in events {
        if e.event == EventKind::Created {
            if index.contains_key(e.digest.as_str()) {
                continue;
            }
            index.insert(&e.digest, out.len());
            out.push(MessageState {
                id: e.digest.clone(),
                kind: e.kind.unwrap_or_default(),
                period: e.period.clone(),
                subject: e.detail.clone(),
                created: e.at,
                recipients: e
                    .recipients
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|address| Recipient {
                        address,
                        ..Recipient::default()
                    })
                    .collect(),
            });
            continue;
        }
        let (Some(&k), Some(who)) = (index.get(e.digest.as_str()), e.recipient.as_deref()) else {
            continue;
        };
        let Some(r) = out[k].recipients.iter_mut().find(|r| r.address == who) else {
            continue;
        };
        match e.event {
            EventKind::Created => {}
            EventKind::Attempt => {
                r.attempts += 1;
                if e.detail == "small" {
                    r.small = true;
                }
            }
            EventKind::Sent => r.done = true,
            EventKind::Outbox => {
                r.done = true;
                r.outbox_only = true;
            }
            EventKind::Failed => {
                r.failures += 1;
                r.last_failure = Some(LastFailure {
                    at: e.at,
                    detail: e.detail.clone(),
                    transient: e.transient.unwrap_or(true),
                    code: e.code,
                });
            }
            EventKind::GaveUp => r.gave_up = Some(e.detail.clone()),
        }
    }
    out
}

/// Which version of a (unit, month) a report used (recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedRow {
    pub unit_code: String,
    pub period: String,
    pub version: i64,
    pub sha256: String,
}

/// A digest that reached anyone, as its manifest in the outbox says: what leadership has seen.
#[derive(Debug, Clone)]
pub struct SentDigest {
    pub period: String,
    pub id: String,
    /// The moment the report was made as of.
    pub as_of: Moment,
    /// Which version of each (unit, month) it used.
    pub rows_used: Vec<UsedRow>,
}

/// The part of a run's `manifest.json` (`report::Manifest`) a sent digest is read by.
#[derive(Deserialize)]
struct Seen {
    as_of: String,
    rows_used: Vec<UsedRow>,
}

/// The digests that reached anyone, oldest first, each read from the manifest kept with it in
/// the outbox. A manifest that cannot be read is an error naming it: the outbox keeps it from
/// before the digest's `created` line, so it is never absent from a digest that was sent.
pub fn sent_digests(data_dir: &DataDir, pipeline: &Pipeline) -> Result<Vec<SentDigest>> {
    let events = ledger(data_dir, pipeline).read()?;
    digests(&events)
        .into_iter()
        .filter(|d| d.reached_anyone())
        .map(|d| {
            let path = data_dir
                .outbox_message(pipeline.name(), &d.period, &d.id)
                .join(crate::layout::MANIFEST);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let damaged = |what: String| Error::io(&path, std::io::Error::other(what));
            let seen: Seen = serde_json::from_slice(&bytes)
                .map_err(|e| damaged(format!("已发送摘要的清单无法读取：{e}")))?;
            let as_of = period::parse_instant(&seen.as_of)
                .map(Moment)
                .ok_or_else(|| damaged(format!("清单的 as_of 不是时间：{}", seen.as_of)))?;
            Ok(SentDigest {
                period: d.period,
                id: d.id,
                as_of,
                rows_used: seen.rows_used,
            })
        })
        .collect()
}

/// The rows used by the digests that reached anyone, latest first wins: what leadership has
/// seen, for the `restated` alert. `None`: no digest has reached anyone.
pub fn rows_last_sent(sent: &[SentDigest]) -> Option<Vec<UsedRow>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for d in sent.iter().rev() {
        for r in &d.rows_used {
            if seen.insert((r.unit_code.as_str(), r.period.as_str())) {
                out.push(r.clone());
            }
        }
    }
    (!sent.is_empty()).then_some(out)
}

/// The as-of time of the latest digest that reached anyone, among those made for an as-of time
/// before `before`: what leadership has been told up to. Rejected files and failures after it
/// are news for the next digest.
pub fn last_sent_as_of(sent: &[SentDigest], before: Moment) -> Option<Moment> {
    sent.iter().map(|d| d.as_of).filter(|t| *t < before).max()
}
