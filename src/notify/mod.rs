//! Notify: every message fayuan sends — the monthly digest, receipts, reminders, notices to the
//! data staff — goes one way: composed, kept whole in the outbox, recorded in the delivery
//! ledger, then delivered to each recipient over SMTP (or left as an .eml in the outbox when no
//! server is configured), and critical alerts to group-robot webhooks.
//!
//! The delivery ledger (`<data-dir>/deliveries/<pipeline>.jsonl`, append-only, one synced line
//! per event) records each message's `created` and, per recipient, each `attempt`, `sent`,
//! `failed` and `gaveup`. Each message is kept in `<data-dir>/outbox/<pipeline>/<P>/<id>/`.
//!
//! Invariants:
//! - a message is never dropped: a recipient is done only when the ledger says `sent` (or
//!   `outbox` without a server), or `gaveup` — and a recipient given up is told to the data
//!   staff in one notice;
//! - putting a message is repeatable after a crash at any point: a message folder without its
//!   `created` line is fayuan's own leftover and is replaced; one with it is never touched;
//! - whatever is pending is tried again by every delivery round (each daemon wake-up, each
//!   `fayuan send`), with a per-recipient back-off, until it is delivered, refused for good, or
//!   older than `[email] give_up_hours`; a permanent refusal (5xx) is not retried as if
//!   transient — only a digest refused as too large is sent once more without its workbook;
//! - `attempt` is recorded before a send and `sent` after, so a crash in between sends that
//!   recipient once more rather than never (the one window that errs towards a duplicate);
//! - only `smtp` knows SMTP, only `mime` builds messages.

mod deliver;
mod mime;
mod smtp;
mod status;
pub mod webhook;

pub use deliver::{Delivered, Round, Settings, backoff, deliver_due, deliver_message, send_now};
pub use status::status_lines;

use crate::config::{Address, Pipeline};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::layout::DataDir;
use crate::period::Period;
pub use crate::records::{
    Event, EventKind, LastFailure, MessageKind, MessageState, Recipient, delivery_ledger as ledger,
    digests, messages,
};
use crate::report::Manifest;
use chrono::DateTime;
use chrono_tz::Tz;
use std::fs;
use std::path::{Path, PathBuf};

/// The data staff: `email.cc`, or `email.to` when there is no copy list.
pub fn staff(pipeline: &Pipeline) -> Vec<Address> {
    let a = &pipeline.addresses;
    if a.cc.is_empty() {
        a.to.clone()
    } else {
        a.cc.clone()
    }
}

/// The recipients as the ledger records them: each address as written.
fn written(addresses: &[&[Address]]) -> Vec<String> {
    addresses
        .iter()
        .flat_map(|list| list.iter().map(Address::to_string))
        .collect()
}

pub fn outbox_dir(data_dir: &DataDir, pipeline: &Pipeline, period: &str, digest: &str) -> PathBuf {
    data_dir.outbox_message(pipeline.name(), period, digest)
}

/// The file of a message's form without the workbook, beside `message.eml` (digests with a
/// workbook attached only).
const SMALL: &str = "message-small.eml";

const MESSAGE: &str = "message.eml";

/// Puts the digest of a run folder into the outbox as a new digest for every recipient, unless
/// one was already made for the period (then nothing: it is delivered, or pending, already) and
/// `force` is not given. Returns the new digest's id.
pub fn queue(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    period: Period,
    run_dir: &Path,
    now: DateTime<Tz>,
    force: bool,
) -> Result<Option<String>> {
    let ledger = ledger(data_dir, pipeline);
    let p = period.to_string();
    let existing: Vec<MessageState> = digests(&ledger.read()?)
        .into_iter()
        .filter(|d| d.period == p)
        .collect();
    if !existing.is_empty() && !force {
        return Ok(None);
    }
    // Numbered by the digests recorded: an id whose folder a killed run left without its
    // `created` line is made again (and its folder replaced).
    let id = format!("{p}-{:02}", existing.len() + 1);
    let manifest_path = run_dir.join(crate::layout::MANIFEST);
    let manifest_bytes = fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Report {
            path: manifest_path.clone(),
            source: e.into(),
        })?;
    let e = &pipeline.addresses;
    let envelope = mime::Envelope {
        id: &id,
        to: &e.to,
        cc: &e.cc,
        subject: &manifest.digest.subject,
        now,
    };
    let message = mime::digest(pipeline, &manifest, run_dir, &envelope, None)?;
    // The form without the workbook, for a server that refuses the whole as too large.
    let small = match &manifest.digest.attachment {
        Some(book) => Some(mime::digest(
            pipeline,
            &manifest,
            run_dir,
            &envelope,
            Some(&pipeline.texts.block(
                "digest.txt",
                "without_workbook",
                &crate::texts::contexts::value_of(crate::texts::documents::WithoutWorkbook {
                    book: book.clone(),
                    run_dir: run_dir.display().to_string(),
                    on_the_web: pipeline.def.web.public_url.is_some()
                        || pipeline.env().bureau_token().is_some(),
                }),
            )?),
        )?),
        None => None,
    };
    let recipients = written(&[&e.to, &e.cc]);
    let outgoing = Outgoing {
        id: &id,
        kind: MessageKind::Digest,
        period,
        recipients: &recipients,
        subject: &manifest.digest.subject,
        message: &message,
        small: small.as_deref(),
        manifest: Some(&manifest_bytes),
    };
    put_in_outbox(data_dir, pipeline, &outgoing, now)?;
    Ok(Some(id))
}

/// A message ready to go.
pub struct Outgoing<'a> {
    pub id: &'a str,
    pub kind: MessageKind,
    pub period: Period,
    pub recipients: &'a [String],
    pub subject: &'a str,
    /// The whole MIME message.
    pub message: &'a [u8],
    /// The digest without its workbook (sent once to a server that refuses the whole as too
    /// large).
    pub small: Option<&'a [u8]>,
    /// The run's manifest (digests only: `restated` reads it).
    pub manifest: Option<&'a [u8]>,
}

/// A plain message — every kind but the digest (which is made from its run folder by [`queue`]).
pub struct Letter<'a> {
    pub id: &'a str,
    pub kind: MessageKind,
    pub period: Period,
    pub to: &'a [Address],
    pub cc: &'a [Address],
    /// From its template (crate::texts), like the text.
    pub subject: &'a str,
    pub text: &'a str,
    /// A file that rides along (a reminder's fill-in template).
    pub attachment: Option<(&'a str, Vec<u8>)>,
    /// The message this one answers (a receipt goes into the county's thread).
    pub in_reply_to: Option<&'a str>,
}

impl<'a> Letter<'a> {
    /// A plain letter: no copy, no attachment, not an answer (a notice to the data staff, a
    /// unit's receipt of its form or its own results).
    pub fn notice(
        id: &'a str,
        kind: MessageKind,
        period: Period,
        to: &'a [Address],
        subject: &'a str,
        text: &'a str,
    ) -> Letter<'a> {
        Letter {
            id,
            kind,
            period,
            to,
            cc: &[],
            subject,
            text,
            attachment: None,
            in_reply_to: None,
        }
    }
}

/// Composes a letter and keeps it in the outbox, once (see [`put_in_outbox`]): the one way a
/// message other than the digest gets there. Delivery is the rounds' (or [`send_now`]'s).
pub fn post(data_dir: &DataDir, pipeline: &Pipeline, l: Letter, now: DateTime<Tz>) -> Result<bool> {
    if exists(data_dir, pipeline, l.id)? {
        return Ok(false);
    }
    let envelope = mime::Envelope {
        id: l.id,
        to: l.to,
        cc: l.cc,
        subject: l.subject,
        now,
    };
    // A receipt is an automatic answer; anything else in a thread (a return answering the
    // mail that brought the figures) is a person's message with its attachment.
    let message = match (l.kind, l.in_reply_to) {
        (MessageKind::Receipt, Some(thread)) => mime::receipt(pipeline, &envelope, l.text, thread)?,
        (_, thread) => mime::plain(pipeline, &envelope, l.text, l.attachment, thread)?,
    };
    let recipients = written(&[l.to, l.cc]);
    put_in_outbox(
        data_dir,
        pipeline,
        &Outgoing {
            id: l.id,
            kind: l.kind,
            period: l.period,
            recipients: &recipients,
            subject: l.subject,
            message: &message,
            small: None,
            manifest: None,
        },
        now,
    )
}

/// Keeps a message whole in the outbox and records it in the ledger — once: a message already
/// recorded is left as it is (its delivery goes on); a folder left without its record by a
/// killed run is fayuan's own leftover and is written anew. Returns whether it was put now.
pub fn put_in_outbox(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    m: &Outgoing,
    now: DateTime<Tz>,
) -> Result<bool> {
    if exists(data_dir, pipeline, m.id)? {
        return Ok(false);
    }
    let p = m.period.to_string();
    let dir = outbox_dir(data_dir, pipeline, &p, m.id);
    if let Some(manifest) = m.manifest {
        fsutil::replace_synced(&dir.join(crate::layout::MANIFEST), manifest)?;
    }
    if let Some(small) = m.small {
        fsutil::replace_synced(&dir.join(SMALL), small)?;
    }
    fsutil::replace_synced(&dir.join(MESSAGE), m.message)?;
    crate::faults::point("outbox-written", &dir)?;
    ledger(data_dir, pipeline).append(&Event {
        at: now.into(),
        period: p,
        digest: m.id.to_string(),
        event: EventKind::Created,
        recipient: None,
        recipients: Some(m.recipients.to_vec()),
        detail: m.subject.to_string(),
        transient: None,
        kind: Some(m.kind),
        code: None,
    })?;
    Ok(true)
}

/// Whether a message with this id was ever made.
pub fn exists(data_dir: &DataDir, pipeline: &Pipeline, id: &str) -> Result<bool> {
    Ok(ledger(data_dir, pipeline)
        .read()?
        .iter()
        .any(|e| e.event == EventKind::Created && e.digest == id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::Moment;

    #[test]
    fn ledger_state() {
        let ev = |event: EventKind, r: Option<&str>| Event {
            at: Moment::default(),
            period: "2025-06".into(),
            digest: "2025-06-01".into(),
            event,
            recipient: r.map(str::to_string),
            recipients: (event == EventKind::Created)
                .then(|| vec!["a@x.cn".to_string(), "b@x.cn".to_string()]),
            detail: if event == EventKind::Failed {
                "550 no".into()
            } else {
                String::new()
            },
            transient: (event == EventKind::Failed).then_some(false),
            kind: None,
            code: None,
        };
        let events = vec![
            ev(EventKind::Created, None),
            ev(EventKind::Attempt, Some("a@x.cn")),
            ev(EventKind::Sent, Some("a@x.cn")),
            ev(EventKind::Attempt, Some("b@x.cn")),
            ev(EventKind::Failed, Some("b@x.cn")),
        ];
        let d = &digests(&events)[0];
        assert_eq!(d.done(), ["a@x.cn"]);
        let b: Vec<&Recipient> = d.pending().collect();
        assert_eq!(b.len(), 1);
        assert_eq!(
            (b[0].address.as_str(), b[0].attempts, b[0].failures),
            ("b@x.cn", 1, 1)
        );
        assert_eq!(b[0].last_failure.as_ref().unwrap().detail, "550 no");
        // An attempt without an outcome (a crash mid-send) leaves the recipient pending.
        let d = &digests(&events[..4])[0];
        assert_eq!(d.pending().count(), 1);
        // Given up: no longer pending, and not done either.
        let mut more = events.clone();
        more.push(Event {
            detail: "被邮件服务器拒收".into(),
            transient: None,
            ..ev(EventKind::GaveUp, Some("b@x.cn"))
        });
        let d = &digests(&more)[0];
        assert_eq!((d.pending().count(), d.done().len()), (0, 1));
    }

    #[test]
    fn back_off_doubles_to_an_hour() {
        let mins: Vec<i64> = (1..=9).map(|k| backoff(k).num_minutes()).collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn too_large_is_a_552_or_5_3_4() {
        let f = |code: Option<u16>, detail: &str, transient: bool| LastFailure {
            at: Moment::default(),
            detail: detail.into(),
            transient,
            code,
        };
        assert!(f(Some(552), "552: Error: Too much mail data", false).too_large());
        assert!(f(None, "554 5.3.4 Message too big for system", false).too_large());
        assert!(!f(Some(550), "550 5.1.1 mailbox unavailable", false).too_large());
        assert!(!f(Some(452), "452 too large for now", true).too_large());
    }

    #[test]
    fn a_ledger_line_written_before_the_types_reads() {
        let line = r#"{"at":"2025-07-06T09:00:03+08:00","period":"2025-06","digest":"2025-06-01","event":"created","recipients":["a@x.cn"]}"#;
        let e: Event = serde_json::from_str(line).unwrap();
        assert_eq!((e.event, e.kind), (EventKind::Created, None));
        assert_eq!(e.at.minute(), "2025-07-06 09:00");
        assert_eq!(serde_json::to_string(&e).unwrap(), line);
    }
}
