//! Notify: the digest of a run goes to its recipients exactly once — over SMTP, or as an .eml
//! in the outbox when no server is configured — and critical alerts to group-robot webhooks.
//!
//! The delivery ledger (`<data-dir>/deliveries/<pipeline>.jsonl`, append-only, one synced line
//! per event) is keyed by (pipeline, period, recipient). Each digest is kept whole in
//! `<data-dir>/outbox/<pipeline>/<period>/<digest>/` (the exact message bytes and the run's
//! manifest) until every recipient has it, and after.
//!
//! Invariants: a digest is never dropped — a recipient is done only when the ledger says `sent`
//! (or `outbox` without a server); a send is recorded as `attempt` before and `sent` after, so a
//! crash in between sends that recipient once more rather than never (the window errs towards a
//! duplicate); only `smtp` knows SMTP.

pub mod smtp;
pub mod webhook;

use crate::analyze::UsedRow;
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::period::{self, Moment, Period};
use crate::report::Manifest;
use crate::retry::{Failure, Retry};
use chrono::DateTime;
use chrono_tz::Tz;
use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Mailbox, Message, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

/// What happened to a message (for one recipient, but `created`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Kept whole in the outbox, with `recipients`.
    Created,
    /// A send to one recipient begins (recorded before it, so a crash errs towards a resend).
    Attempt,
    Sent,
    /// Written as .eml (no SMTP server configured): done for that recipient.
    Outbox,
    /// With `detail`; `transient` says whether a later try may succeed.
    Failed,
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
    /// A failed job, to the data staff.
    Failure,
    /// A receipt to a county for a message it sent (email-in).
    Receipt,
    /// A message held for the data staff (unknown sender, auto-reply, too large).
    Held,
}

/// The data staff: `email.cc`, or `email.to` when there is no copy list.
pub fn staff(pipeline: &Pipeline) -> Vec<String> {
    if pipeline.def.email.cc.is_empty() {
        pipeline.def.email.to.clone()
    } else {
        pipeline.def.email.cc.clone()
    }
}

/// `Auto-Submitted: auto-replied` (RFC 3834): other machines do not answer it.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "auto-replied".into())
    }
}

/// A receipt: plain text in the thread of the county's message (In-Reply-To, References),
/// marked `Auto-Submitted: auto-replied`.
#[allow(clippy::too_many_arguments)] // the message's parts; one call site
pub fn receipt_message(
    pipeline: &Pipeline,
    id: &str,
    to: &[String],
    cc: &[String],
    subject: &str,
    text: &str,
    in_reply_to: &str,
    now: DateTime<Tz>,
) -> Result<Vec<u8>> {
    let thread = format!("<{}>", in_reply_to.trim_matches(['<', '>']));
    let b = addressed(pipeline, id, to, cc, subject, now)?
        .in_reply_to(thread.clone())
        .references(thread)
        .header(AutoSubmitted);
    let msg = b
        .singlepart(SinglePart::plain(text.to_string()))
        .map_err(|e| message_error(id, e.to_string()))?;
    Ok(msg.formatted())
}

fn message_error(id: &str, message: String) -> Error {
    Error::Message {
        id: id.to_string(),
        message,
    }
}

/// A message's envelope from the pipeline's sender: subject, Message-ID, date, recipients.
fn addressed(
    pipeline: &Pipeline,
    id: &str,
    to: &[String],
    cc: &[String],
    subject: &str,
    now: DateTime<Tz>,
) -> Result<lettre::message::MessageBuilder> {
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|err| message_error(id, format!("{a}: {err}")))
    };
    let mut b = Message::builder()
        .from(mailbox(&pipeline.def.email.from)?)
        .subject(subject)
        .message_id(Some(format!("<{id}.{}@fayuan>", pipeline.name())))
        .date(now.into());
    for a in to {
        b = b.to(mailbox(a)?);
    }
    for a in cc {
        b = b.cc(mailbox(a)?);
    }
    Ok(b)
}

/// The delivery ledger of a pipeline.
pub fn ledger(data_dir: &DataDir, pipeline: &Pipeline) -> Ledger<Event> {
    Ledger::at(data_dir.deliveries(pipeline.name()))
}

/// The state of one message (a digest, a reminder, a failure notice).
#[derive(Debug, Clone, PartialEq)]
pub struct DigestState {
    pub id: String,
    pub kind: MessageKind,
    pub period: String,
    pub recipients: Vec<String>,
    /// Recipients that have it (`sent` or `outbox`).
    pub done: Vec<String>,
    /// Recipients still waiting, with the last failure if any.
    pub pending: Vec<(String, Option<String>)>,
}

/// The digests of the ledger (not reminders or failure notices), oldest first.
pub fn digests(events: &[Event]) -> Vec<DigestState> {
    messages(events)
        .into_iter()
        .filter(|d| d.kind == MessageKind::Digest)
        .collect()
}

/// Every message of the ledger, oldest first.
pub fn messages(events: &[Event]) -> Vec<DigestState> {
    let mut out: Vec<DigestState> = Vec::new();
    for e in events {
        if e.event == EventKind::Created {
            out.push(DigestState {
                id: e.digest.clone(),
                kind: e.kind.unwrap_or_default(),
                period: e.period.clone(),
                recipients: e.recipients.clone().unwrap_or_default(),
                done: Vec::new(),
                pending: Vec::new(),
            });
        }
    }
    for d in &mut out {
        for r in &d.recipients {
            let mine: Vec<&Event> = events
                .iter()
                .filter(|e| e.digest == d.id && e.recipient.as_deref() == Some(r.as_str()))
                .collect();
            if mine
                .iter()
                .any(|e| e.event == EventKind::Sent || e.event == EventKind::Outbox)
            {
                d.done.push(r.clone());
            } else {
                let last_failure = mine
                    .iter()
                    .rev()
                    .find(|e| e.event == EventKind::Failed)
                    .map(|e| e.detail.clone());
                d.pending.push((r.clone(), last_failure));
            }
        }
    }
    out
}

/// The rows used by the digests that reached anyone, latest first wins: what leadership has
/// seen, for the `restated` alert.
pub fn rows_last_sent(data_dir: &DataDir, pipeline: &Pipeline) -> Result<Option<Vec<UsedRow>>> {
    let events = ledger(data_dir, pipeline).read()?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut any = false;
    for d in digests(&events).iter().rev().filter(|d| !d.done.is_empty()) {
        let path = outbox_dir(data_dir, pipeline, &d.period, &d.id).join("manifest.json");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Ok(m) = serde_json::from_str::<Manifest>(&text) else {
            continue;
        };
        any = true;
        for r in m.rows_used {
            if seen.insert((r.unit_code.clone(), r.period.clone())) {
                out.push(r);
            }
        }
    }
    Ok(any.then_some(out))
}

/// The as-of time of the latest digest that reached anyone, among those made for an as-of time
/// before `before`: what leadership has been told up to. Rejected files and failures after it
/// are news for the next digest.
pub fn last_sent_as_of(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    before: Moment,
) -> Result<Option<Moment>> {
    let events = ledger(data_dir, pipeline).read()?;
    Ok(digests(&events)
        .iter()
        .filter(|d| !d.done.is_empty())
        .filter_map(|d| {
            let path = outbox_dir(data_dir, pipeline, &d.period, &d.id).join("manifest.json");
            let m: Manifest = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
            period::parse_instant(&m.as_of).map(Moment)
        })
        .filter(|t| *t < before)
        .max())
}

pub fn outbox_dir(data_dir: &DataDir, pipeline: &Pipeline, period: &str, digest: &str) -> PathBuf {
    data_dir.outbox(pipeline.name()).join(period).join(digest)
}

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
    let existing: Vec<DigestState> = digests(&ledger.read()?)
        .into_iter()
        .filter(|d| d.period == p)
        .collect();
    if !existing.is_empty() && !force {
        return Ok(None);
    }
    let id = format!("{p}-{:02}", existing.len() + 1);
    let manifest_path = run_dir.join("manifest.json");
    let manifest_bytes = fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Report {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?;
    let message = compose(pipeline, &manifest, run_dir, &id, now)?;
    let e = &pipeline.def.email;
    let recipients: Vec<String> = e.to.iter().chain(&e.cc).cloned().collect();
    let outgoing = Outgoing {
        id: &id,
        kind: MessageKind::Digest,
        period,
        recipients: &recipients,
        subject: &manifest.digest.subject,
        message: &message,
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
    /// The run's manifest (digests only: `restated` reads it).
    pub manifest: Option<&'a [u8]>,
}

/// Keeps a message whole in the outbox and records it in the ledger.
pub fn put_in_outbox(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    m: &Outgoing,
    now: DateTime<Tz>,
) -> Result<()> {
    let p = m.period.to_string();
    let dir = outbox_dir(data_dir, pipeline, &p, m.id);
    if let Some(manifest) = m.manifest {
        fsutil::write_new(&dir.join("manifest.json"), manifest)?;
    }
    fsutil::write_new(&dir.join("message.eml"), m.message)?;
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
    })
}

/// Whether a message with this id was ever made.
pub fn exists(data_dir: &DataDir, pipeline: &Pipeline, id: &str) -> Result<bool> {
    Ok(ledger(data_dir, pipeline)
        .read()?
        .iter()
        .any(|e| e.event == EventKind::Created && e.digest == id))
}

/// A plain-text message (reminders, failure notices), with a workbook attached when one is
/// given (a reminder carries the unit's template for the month).
#[allow(clippy::too_many_arguments)] // the message's parts; two call sites
pub fn plain_message(
    pipeline: &Pipeline,
    id: &str,
    to: &[String],
    cc: &[String],
    subject: &str,
    text: &str,
    attachment: Option<(&str, Vec<u8>)>,
    now: DateTime<Tz>,
) -> Result<Vec<u8>> {
    let bad = |message: String| message_error(id, message);
    let b = addressed(pipeline, id, to, cc, subject, now)?;
    let msg = match attachment {
        None => b.singlepart(SinglePart::plain(text.to_string())),
        Some((name, bytes)) => b.multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text.to_string()))
                .singlepart(xlsx_part(name, bytes).map_err(bad)?),
        ),
    }
    .map_err(|e| bad(e.to_string()))?;
    Ok(msg.formatted())
}

/// A workbook as an attachment under its Chinese name (RFC 2231 in Content-Disposition, an RFC
/// 2047 `name=` in Content-Type for older clients).
fn xlsx_part(name: &str, bytes: Vec<u8>) -> std::result::Result<SinglePart, String> {
    let ct = ContentType::parse(&format!(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name=\"{}\"",
        encoded_word(name)
    ))
    .map_err(|e| e.to_string())?;
    Ok(SinglePart::builder()
        .header(ct)
        .header(ContentDisposition::attachment(name))
        .header(ContentTransferEncoding::Base64)
        .body(bytes))
}

/// `=?UTF-8?B?…?=`: a header word any mail program decodes.
fn encoded_word(s: &str) -> String {
    use base64::Engine;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s)
    )
}

/// The whole MIME message: text and HTML alternatives, the chart inline (cid:chart), the
/// workbook attached under its Chinese name (RFC 2231 in Content-Disposition, an RFC 2047
/// `name=` in Content-Type for older clients).
fn compose(
    pipeline: &Pipeline,
    m: &Manifest,
    run_dir: &Path,
    id: &str,
    now: DateTime<Tz>,
) -> Result<Vec<u8>> {
    let e = &pipeline.def.email;
    let read = |name: &str| {
        fs::read(run_dir.join(name)).map_err(|err| Error::io(&run_dir.join(name), err))
    };
    let bad = |what: String| Error::Report {
        path: run_dir.to_path_buf(),
        message: what,
    };
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|err| bad(format!("{a}: {err}")))
    };
    let mut b = Message::builder()
        .from(mailbox(&e.from)?)
        .subject(m.digest.subject.clone())
        .message_id(Some(format!("<{id}.{}@fayuan>", pipeline.name())))
        .date(now.into());
    for a in &e.to {
        b = b.to(mailbox(a)?);
    }
    for a in &e.cc {
        b = b.cc(mailbox(a)?);
    }
    let html = String::from_utf8_lossy(&read(&m.digest.html)?)
        .replace("src=\"chart.png\"", "src=\"cid:chart\"");
    let text = String::from_utf8_lossy(&read(&m.digest.text)?).into_owned();
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(text))
        .singlepart(SinglePart::html(html));
    let body = match &m.digest.chart {
        Some(chart) => MultiPart::related().multipart(alternative).singlepart(
            Attachment::new_inline("chart".into()).body(
                read(chart)?,
                ContentType::parse("image/png").map_err(|e| bad(e.to_string()))?,
            ),
        ),
        None => alternative,
    };
    let mut mixed = MultiPart::mixed().multipart(body);
    if let Some(name) = &m.digest.attachment {
        mixed = mixed.singlepart(xlsx_part(name, read(name)?).map_err(bad)?);
    }
    let msg = b.multipart(mixed).map_err(|e| bad(e.to_string()))?;
    Ok(msg.formatted())
}

/// How to reach the server, from the pipeline and the environment.
pub struct Settings {
    /// Times the ledger's events.
    pub clock: period::Clock,
    pub server: Option<smtp::ServerUrl>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Tries per recipient for transient failures.
    pub retry: Retry,
}

impl Settings {
    /// `FAYUAN_SMTP_URL` overrides the server; the password only from `FAYUAN_SMTP_PASSWORD`;
    /// `FAYUAN_SMTP_CA_FILE` overrides `tls_ca_file`.
    pub fn resolve(pipeline: &Pipeline, clock: period::Clock) -> Result<Settings> {
        let e = &pipeline.def.email;
        let url = std::env::var("FAYUAN_SMTP_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| e.server.clone());
        let server = match url {
            Some(u) => Some(
                smtp::ServerUrl::parse(&u)
                    .map_err(|why| Error::Usage(format!("SMTP server {u:?}: {why}")))?,
            ),
            None => None,
        };
        let ca = std::env::var_os("FAYUAN_SMTP_CA_FILE")
            .map(PathBuf::from)
            .or_else(|| e.tls_ca_file.clone());
        let ca_pem = match ca {
            Some(p) => Some(fs::read(&p).map_err(|err| Error::io(&p, err))?),
            None => None,
        };
        Ok(Settings {
            clock,
            server,
            username: e.username.clone(),
            password: std::env::var("FAYUAN_SMTP_PASSWORD").ok(),
            ca_pem,
            timeout: Duration::from_secs(e.timeout_seconds),
            retry: e.retry(),
        })
    }
}

/// What one delivery round did.
#[derive(Debug, Default)]
pub struct Delivered {
    pub sent: Vec<String>,
    pub to_outbox: Vec<String>,
    /// (recipient, why) — still pending.
    pub failed: Vec<(String, String)>,
}

/// Delivers every pending recipient of the period's latest digest.
pub async fn deliver(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    period: Period,
    settings: &Settings,
) -> Result<Delivered> {
    let p = period.to_string();
    let events = ledger(data_dir, pipeline).read()?;
    match digests(&events).into_iter().rev().find(|d| d.period == p) {
        Some(d) => deliver_message(data_dir, pipeline, &d.id, settings).await,
        None => Ok(Delivered::default()),
    }
}

/// Delivers every pending recipient of one message.
pub async fn deliver_message(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    id: &str,
    settings: &Settings,
) -> Result<Delivered> {
    let ledger = ledger(data_dir, pipeline);
    let Some(d) = messages(&ledger.read()?).into_iter().find(|d| d.id == id) else {
        return Ok(Delivered::default());
    };
    let p = d.period.clone();
    let mut out = Delivered::default();
    if d.pending.is_empty() {
        return Ok(out);
    }
    let dir = outbox_dir(data_dir, pipeline, &p, &d.id);
    let eml = dir.join("message.eml");
    let message = fs::read(&eml).map_err(|e| Error::io(&eml, e))?;
    let event = |kind: EventKind, r: &str, detail: String, transient: Option<bool>| Event {
        at: settings.clock.now().into(),
        period: p.clone(),
        digest: d.id.clone(),
        event: kind,
        recipient: Some(r.to_string()),
        recipients: None,
        detail,
        transient,
        kind: None,
    };
    let Some(server) = &settings.server else {
        for (r, _) in &d.pending {
            ledger.append(&event(
                EventKind::Outbox,
                r,
                eml.display().to_string(),
                None,
            ))?;
            out.to_outbox.push(r.clone());
        }
        return Ok(out);
    };
    let transport = smtp::Smtp::new(
        server,
        settings.username.as_deref(),
        settings.password.as_deref(),
        settings.ca_pem.as_deref(),
        settings.timeout,
    )
    .map_err(|why| Error::Usage(format!("SMTP: {why}")))?;
    let from = pipeline
        .def
        .email
        .from
        .parse::<Mailbox>()
        .map_err(|e| Error::Usage(e.to_string()))?
        .email;
    for (r, _) in &d.pending {
        let to = match r.parse::<Mailbox>() {
            Ok(m) => m.email,
            Err(e) => {
                ledger.append(&event(EventKind::Failed, r, e.to_string(), Some(false)))?;
                out.failed.push((r.clone(), e.to_string()));
                continue;
            }
        };
        let sent = settings
            .retry
            .run("smtp", |attempt| {
                let (ledger, transport, event) = (&ledger, &transport, &event);
                let (from, to, message) = (&from, &to, &message);
                async move {
                    ledger
                        .append(&event(EventKind::Attempt, r, format!("{attempt}"), None))
                        .map_err(|e| Failure::permanent(Sending::Ledger(e)))?;
                    transport
                        .send(from, to, message)
                        .await
                        .map_err(|e| Failure {
                            transient: e.transient,
                            error: Sending::Smtp(e),
                        })
                }
            })
            .await;
        match sent {
            Ok(()) => {
                ledger.append(&event(EventKind::Sent, r, String::new(), None))?;
                tracing::info!(recipient = %r, digest = %d.id, "digest sent");
                out.sent.push(r.clone());
            }
            Err(Failure {
                error: Sending::Ledger(e),
                ..
            }) => return Err(e),
            Err(Failure {
                error: Sending::Smtp(e),
                transient,
            }) => {
                tracing::error!(recipient = %r, error = %e.message, transient, "digest not delivered; kept in the outbox");
                ledger.append(&event(
                    EventKind::Failed,
                    r,
                    e.message.clone(),
                    Some(transient),
                ))?;
                out.failed.push((r.clone(), e.message));
            }
        }
    }
    Ok(out)
}

/// Why one try to send failed: the server (maybe worth another try), or the ledger (never).
enum Sending {
    Smtp(smtp::SendError),
    Ledger(Error),
}

impl std::fmt::Display for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sending::Smtp(e) => f.write_str(&e.message),
            Sending::Ledger(e) => write!(f, "{e}"),
        }
    }
}

/// One line per digest of a period for `fayuan status`.
pub fn status_lines(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    period: Period,
) -> Result<Vec<String>> {
    let events = ledger(data_dir, pipeline).read()?;
    let p = period.to_string();
    Ok(digests(&events)
        .into_iter()
        .filter(|d| d.period == p)
        .map(|d| {
            let mut line = format!(
                "摘要邮件 {}：已送达 {}/{}",
                d.id,
                d.done.len(),
                d.recipients.len()
            );
            for (r, why) in &d.pending {
                line.push_str(&format!(
                    "；待发送 {r}{}",
                    why.as_ref().map(|w| format!("（{w}）")).unwrap_or_default()
                ));
            }
            if !d.pending.is_empty() {
                line.push_str("——留在发件箱中，可用 fayuan send --period 重发");
            }
            line
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            transient: None,
            kind: None,
        };
        let events = vec![
            ev(EventKind::Created, None),
            ev(EventKind::Attempt, Some("a@x.cn")),
            ev(EventKind::Sent, Some("a@x.cn")),
            ev(EventKind::Attempt, Some("b@x.cn")),
            ev(EventKind::Failed, Some("b@x.cn")),
        ];
        let d = &digests(&events)[0];
        assert_eq!(d.done, ["a@x.cn"]);
        assert_eq!(
            d.pending,
            [("b@x.cn".to_string(), Some("550 no".to_string()))]
        );
        // An attempt without an outcome (a crash mid-send) leaves the recipient pending.
        let d = &digests(&events[..4])[0];
        assert_eq!(d.pending.len(), 1);
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
