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

pub mod mime;
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
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
}

impl MessageKind {
    /// The kind as people read it in `status`.
    pub fn zh(self) -> &'static str {
        match self {
            MessageKind::Digest => "摘要邮件",
            MessageKind::Reminder => "催报提醒",
            MessageKind::Failure => "任务通知",
            MessageKind::Receipt => "回执",
            MessageKind::Held => "转人工通知",
            MessageKind::Notice => "未送达通知",
        }
    }
}

/// The data staff: `email.cc`, or `email.to` when there is no copy list.
pub fn staff(pipeline: &Pipeline) -> Vec<String> {
    if pipeline.def.email.cc.is_empty() {
        pipeline.def.email.to.clone()
    } else {
        pipeline.def.email.cc.clone()
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
            EventKind::Sent | EventKind::Outbox => r.done = true,
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

/// The rows used by the digests that reached anyone, latest first wins: what leadership has
/// seen, for the `restated` alert.
pub fn rows_last_sent(data_dir: &DataDir, pipeline: &Pipeline) -> Result<Option<Vec<UsedRow>>> {
    let events = ledger(data_dir, pipeline).read()?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut any = false;
    for d in digests(&events).iter().rev().filter(|d| d.reached_anyone()) {
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
        .filter(|d| d.reached_anyone())
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
    let manifest_path = run_dir.join("manifest.json");
    let manifest_bytes = fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Report {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?;
    let e = &pipeline.def.email;
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
            Some(&format!(
                "邮件服务器拒收了带工作簿的邮件（邮件过大），本邮件未附工作簿“{book}”。工作簿在报告目录 {}/{book}{}。",
                run_dir.display(),
                if pipeline.def.web.public_url.is_some()
                    || std::env::var_os(&pipeline.def.web.token_env).is_some()
                {
                    "，也可在市局网页的“报告与下载”中下载"
                } else {
                    ""
                }
            )),
        )?),
        None => None,
    };
    let recipients: Vec<String> = e.to.iter().chain(&e.cc).cloned().collect();
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
        fsutil::replace_synced(&dir.join("manifest.json"), manifest)?;
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
    /// Tries for a message sent the moment it is made: on a running clock (the daemon), one —
    /// the delivery rounds try again, so a down server does not hold up a county's mail; for a
    /// command, `retry`.
    pub immediate: Retry,
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
            immediate: match clock {
                period::Clock::Fixed(_) => e.retry(),
                period::Clock::Running { .. } => Retry::new(1, 0),
            },
        })
    }
}

/// What one delivery round did, per (message id, recipient).
#[derive(Debug, Default)]
pub struct Delivered {
    pub sent: Vec<(String, String)>,
    pub to_outbox: Vec<(String, String)>,
    /// Still pending after this round: (id, recipient, why).
    pub failed: Vec<(String, String, String)>,
    /// Given up in this round (and told to the staff): (id, recipient, why).
    pub gave_up: Vec<(String, String, String)>,
    /// Sent without the workbook after a refusal as too large.
    pub small: Vec<(String, String)>,
    /// The round stopped early: the server could not be reached.
    pub unreachable: bool,
    /// The last refusal of a single send (what `send_or_small` looks at).
    refused: Option<smtp::SendError>,
}

impl Delivered {
    /// Whether this round tried anything at all.
    pub fn tried(&self) -> bool {
        !(self.sent.is_empty()
            && self.to_outbox.is_empty()
            && self.failed.is_empty()
            && self.gave_up.is_empty()
            && self.small.is_empty())
    }

    fn add(&mut self, other: Delivered) {
        self.sent.extend(other.sent);
        self.to_outbox.extend(other.to_outbox);
        self.failed.extend(other.failed);
        self.gave_up.extend(other.gave_up);
        self.small.extend(other.small);
        self.unreachable |= other.unreachable;
    }
}

/// How a delivery round treats what is pending.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// Wait out each recipient's back-off (the daemon); `false` when a person asks (`fayuan send`).
    pub respect_backoff: bool,
    /// Tries per recipient within this round (transient failures only).
    pub retry: Retry,
}

/// The pause before trying a recipient again after `failures` failed rounds: a minute, doubling,
/// at most an hour (on the daemon's clock).
pub fn backoff(failures: u32) -> chrono::Duration {
    chrono::Duration::minutes(1i64 << failures.saturating_sub(1).min(6))
        .min(chrono::Duration::hours(1))
}

/// One delivery round over every message with a pending recipient, oldest first: each is tried
/// (unless its back-off has not passed), a permanent refusal is given up (a digest refused as too
/// large is first sent once without its workbook), anything older than `give_up_hours` is given
/// up; then the data staff get one notice of what was given up or sent without its workbook in
/// this round. Stops early when the server cannot be reached.
pub async fn deliver_due(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    settings: &Settings,
    round: Round,
) -> Result<Delivered> {
    let now = settings.clock.now();
    let events = ledger(data_dir, pipeline).read()?;
    let give_up = chrono::Duration::hours(i64::from(pipeline.def.email.give_up_hours));
    let mut out = Delivered::default();
    let mut conn = Connection::open(pipeline, settings)?;
    for m in messages(&events) {
        if m.pending().next().is_none() {
            continue;
        }
        for r in m.recipients.iter().filter(|r| r.pending()) {
            // A refusal as too large still has the form without the workbook to try (once).
            let small_left = |f: &LastFailure| {
                m.kind == MessageKind::Digest
                    && f.too_large()
                    && !r.small
                    && has_small(data_dir, pipeline, &m)
            };
            let why_give_up = match &r.last_failure {
                Some(f) if !f.transient && !small_left(f) => {
                    Some(format!("被邮件服务器拒收：{}", f.detail))
                }
                _ if now - m.created.0 > give_up => Some(format!(
                    "超过 {} 小时仍未送达{}",
                    pipeline.def.email.give_up_hours,
                    r.last_failure
                        .as_ref()
                        .map(|f| format!("（最后一次：{}）", f.detail))
                        .unwrap_or_default()
                )),
                _ => None,
            };
            if let Some(why) = why_give_up {
                record(
                    data_dir,
                    pipeline,
                    settings,
                    &m,
                    &r.address,
                    EventKind::GaveUp,
                    why.clone(),
                    None,
                    None,
                )?;
                tracing::error!(message = %m.id, recipient = %r.address, reason = %why, "message given up");
                out.gave_up.push((m.id.clone(), r.address.clone(), why));
                continue;
            }
            if round.respect_backoff
                && let Some(f) = &r.last_failure
                && now < f.at.0 + backoff(r.failures)
            {
                continue;
            }
            // The daemon does not knock on a door that is shut; a person asking waits it out.
            if out.unreachable && round.respect_backoff {
                continue;
            }
            let small = r.small
                || r.last_failure
                    .as_ref()
                    .is_some_and(|f| m.kind == MessageKind::Digest && f.too_large());
            out.add(
                conn.send_or_small(
                    data_dir,
                    pipeline,
                    settings,
                    &m,
                    &r.address,
                    small,
                    round.retry,
                )
                .await?,
            );
        }
    }
    notice_undelivered(data_dir, pipeline, settings, &mut conn, &out, &events).await?;
    Ok(out)
}

fn has_small(data_dir: &DataDir, pipeline: &Pipeline, m: &MessageState) -> bool {
    outbox_dir(data_dir, pipeline, &m.period, &m.id)
        .join(SMALL)
        .exists()
}

/// Tells the data staff, in one message, what this round gave up or sent without the workbook
/// (never about a notice of this kind itself).
async fn notice_undelivered(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    settings: &Settings,
    conn: &mut Connection,
    round: &Delivered,
    events: &[Event],
) -> Result<()> {
    let kinds: HashMap<String, (MessageKind, String)> = messages(events)
        .into_iter()
        .map(|m| (m.id.clone(), (m.kind, m.subject.clone())))
        .collect();
    let worth = |id: &String| {
        kinds
            .get(id)
            .is_some_and(|(k, _)| *k != MessageKind::Notice)
    };
    let gave_up: Vec<&(String, String, String)> = round
        .gave_up
        .iter()
        .filter(|(id, _, _)| worth(id))
        .collect();
    let small: Vec<&(String, String)> = round.small.iter().filter(|(id, _)| worth(id)).collect();
    if gave_up.is_empty() && small.is_empty() {
        return Ok(());
    }
    let now = settings.clock.now();
    let id = format!("notice-{}", now.format("%Y%m%dT%H%M%S"));
    let mut text = format!("fayuan 于 {} 处理发件箱时：\n\n", period::instant_zh(&now));
    if !gave_up.is_empty() {
        text.push_str("以下邮件未能送达，已停止重试（邮件保存在发件箱中，可用 fayuan send 重新投递或手工转发）：\n");
        for (m, r, why) in &gave_up {
            let (kind, subject) = &kinds[m.as_str()];
            text.push_str(&format!("- {}（{m}）“{subject}” → {r}：{why}\n", kind.zh()));
        }
        text.push('\n');
    }
    if !small.is_empty() {
        text.push_str("以下摘要邮件因附件过大被邮件服务器拒收，已改为不带工作簿发送（工作簿在报告目录和市局网页中）：\n");
        for (m, r) in &small {
            let (kind, subject) = &kinds[m.as_str()];
            text.push_str(&format!("- {}（{m}）“{subject}” → {r}\n", kind.zh()));
        }
        text.push('\n');
    }
    text.push_str("详情见 fayuan status。\n");
    let subject = format!("【{}】有邮件未能正常送达", pipeline.def.pipeline.title);
    let staff = staff(pipeline);
    let msg = mime::plain(
        pipeline,
        &mime::Envelope {
            id: &id,
            to: &staff,
            cc: &[],
            subject: &subject,
            now,
        },
        &text,
        None,
    )?;
    put_in_outbox(
        data_dir,
        pipeline,
        &Outgoing {
            id: &id,
            kind: MessageKind::Notice,
            period: Period::of(now.date_naive()),
            recipients: &staff,
            subject: &subject,
            message: &msg,
            small: None,
            manifest: None,
        },
        now,
    )?;
    let events = ledger(data_dir, pipeline).read()?;
    if let Some(m) = messages(&events).into_iter().find(|m| m.id == id) {
        for r in staff {
            let _ = conn
                .send(
                    data_dir,
                    pipeline,
                    settings,
                    &m,
                    &r,
                    false,
                    Retry::new(1, 0),
                )
                .await?;
        }
    }
    Ok(())
}

/// Composes nothing: puts a message made by the caller into the outbox (once) and tries to
/// deliver it at once; what is not delivered now waits for the next round. The one sequence
/// every kind of message goes through.
pub async fn send_now(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    m: &Outgoing<'_>,
    settings: &Settings,
) -> Result<Delivered> {
    put_in_outbox(data_dir, pipeline, m, settings.clock.now())?;
    deliver_message(data_dir, pipeline, m.id, settings).await
}

/// Delivers every pending recipient of one message now (with the in-call retries), ignoring
/// back-off; give-ups are left to the next round.
pub async fn deliver_message(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    id: &str,
    settings: &Settings,
) -> Result<Delivered> {
    let events = ledger(data_dir, pipeline).read()?;
    let Some(m) = messages(&events).into_iter().find(|d| d.id == id) else {
        return Ok(Delivered::default());
    };
    let mut out = Delivered::default();
    let mut conn = Connection::open(pipeline, settings)?;
    for r in m.recipients.iter().filter(|r| r.pending()) {
        if out.unreachable || r.last_failure.as_ref().is_some_and(|f| !f.transient) {
            continue;
        }
        out.add(
            conn.send_or_small(
                data_dir,
                pipeline,
                settings,
                &m,
                &r.address,
                r.small,
                settings.immediate,
            )
            .await?,
        );
    }
    Ok(out)
}

/// Records one event of one recipient.
#[allow(clippy::too_many_arguments)] // the event's fields
fn record(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    settings: &Settings,
    m: &MessageState,
    recipient: &str,
    event: EventKind,
    detail: String,
    transient: Option<bool>,
    code: Option<u16>,
) -> Result<()> {
    ledger(data_dir, pipeline).append(&Event {
        at: settings.clock.now().into(),
        period: m.period.clone(),
        digest: m.id.clone(),
        event,
        recipient: Some(recipient.to_string()),
        recipients: None,
        detail,
        transient,
        kind: None,
        code,
    })
}

/// The way out for one round: the SMTP server (one transport for the round), or the outbox.
struct Connection {
    smtp: Option<(smtp::Smtp, lettre::Address)>,
}

impl Connection {
    fn open(pipeline: &Pipeline, settings: &Settings) -> Result<Connection> {
        let Some(server) = &settings.server else {
            return Ok(Connection { smtp: None });
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
        Ok(Connection {
            smtp: Some((transport, from)),
        })
    }

    /// Sends one message to one recipient; a digest the server refuses as too large is sent
    /// again at once without its workbook (once: `small` says it was tried already).
    #[allow(clippy::too_many_arguments)] // the round's context and the one send
    async fn send_or_small(
        &mut self,
        data_dir: &DataDir,
        pipeline: &Pipeline,
        settings: &Settings,
        m: &MessageState,
        r: &str,
        small: bool,
        retry: Retry,
    ) -> Result<Delivered> {
        let out = self
            .send(data_dir, pipeline, settings, m, r, small, retry)
            .await?;
        let too_large = out.refused.as_ref().is_some_and(|e| {
            LastFailure {
                at: Moment::default(),
                detail: e.message.clone(),
                transient: e.later,
                code: e.code,
            }
            .too_large()
        });
        if small || !too_large || m.kind != MessageKind::Digest || !has_small(data_dir, pipeline, m)
        {
            return Ok(out);
        }
        tracing::warn!(message = %m.id, recipient = %r, "refused as too large; sending it without the workbook");
        self.send(data_dir, pipeline, settings, m, r, true, retry)
            .await
    }

    /// Sends one message to one recipient (the form without the workbook when `small`).
    #[allow(clippy::too_many_arguments)] // the round's context and the one send
    async fn send(
        &mut self,
        data_dir: &DataDir,
        pipeline: &Pipeline,
        settings: &Settings,
        m: &MessageState,
        r: &str,
        small: bool,
        retry: Retry,
    ) -> Result<Delivered> {
        let mut out = Delivered::default();
        let dir = outbox_dir(data_dir, pipeline, &m.period, &m.id);
        let eml = dir.join(if small { SMALL } else { MESSAGE });
        let key = (m.id.clone(), r.to_string());
        let Some((transport, from)) = &self.smtp else {
            record(
                data_dir,
                pipeline,
                settings,
                m,
                r,
                EventKind::Outbox,
                eml.display().to_string(),
                None,
                None,
            )?;
            out.to_outbox.push(key);
            return Ok(out);
        };
        let message = fs::read(&eml).map_err(|e| Error::io(&eml, e))?;
        let to = match r.parse::<Mailbox>() {
            Ok(mb) => mb.email,
            Err(e) => {
                record(
                    data_dir,
                    pipeline,
                    settings,
                    m,
                    r,
                    EventKind::Failed,
                    e.to_string(),
                    Some(false),
                    None,
                )?;
                out.failed
                    .push((m.id.clone(), r.to_string(), e.to_string()));
                return Ok(out);
            }
        };
        let sent = retry
            .run("smtp", |attempt| {
                let (message, to) = (&message, &to);
                async move {
                    record(
                        data_dir,
                        pipeline,
                        settings,
                        m,
                        r,
                        EventKind::Attempt,
                        if small {
                            "small".to_string()
                        } else {
                            format!("{attempt}")
                        },
                        None,
                        None,
                    )
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
                crate::faults::point("smtp-sent", &eml)?;
                record(
                    data_dir,
                    pipeline,
                    settings,
                    m,
                    r,
                    EventKind::Sent,
                    String::new(),
                    None,
                    None,
                )?;
                tracing::info!(recipient = %r, message = %m.id, small, "message sent");
                if small {
                    out.small.push(key.clone());
                }
                out.sent.push(key);
            }
            Err(Failure {
                error: Sending::Ledger(e),
                ..
            }) => return Err(e),
            Err(Failure {
                error: Sending::Smtp(e),
                ..
            }) => {
                let later = e.later;
                tracing::warn!(recipient = %r, message = %m.id, error = %e.message, later, "not delivered; kept in the outbox");
                record(
                    data_dir,
                    pipeline,
                    settings,
                    m,
                    r,
                    EventKind::Failed,
                    e.message.clone(),
                    Some(later),
                    e.code,
                )?;
                // No connection, or one fayuan's settings cannot use: the other recipients would
                // fare no better now.
                out.unreachable |= later && (e.code.is_none() || !e.transient);
                out.failed
                    .push((m.id.clone(), r.to_string(), e.message.clone()));
                out.refused = Some(e);
            }
        }
        Ok(out)
    }
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

/// For `fayuan status` and the bureau's page: each digest of the period, then every message of
/// any period not yet delivered to everyone — kind, recipient, age, attempts, last error — and
/// what was given up in the last 30 days.
pub fn status_lines(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Vec<String>> {
    let events = ledger(data_dir, pipeline).read()?;
    let all = messages(&events);
    let p = period.to_string();
    let mut out: Vec<String> = all
        .iter()
        .filter(|d| d.kind == MessageKind::Digest && d.period == p)
        .map(|d| {
            let pending: Vec<&Recipient> = d.pending().collect();
            let mut line = format!(
                "摘要邮件 {}：已送达 {}/{}",
                d.id,
                d.done().len(),
                d.recipients.len()
            );
            for r in &pending {
                line.push_str(&format!(
                    "；待发送 {}{}",
                    r.address,
                    r.last_failure
                        .as_ref()
                        .map(|f| format!("（{}）", f.detail))
                        .unwrap_or_default()
                ));
            }
            for r in d.recipients.iter().filter(|r| r.gave_up.is_some()) {
                line.push_str(&format!("；未送达 {}（已停止重试）", r.address));
            }
            if !pending.is_empty() {
                line.push_str("——留在发件箱中，可用 fayuan send 重发");
            }
            line
        })
        .collect();
    let waiting: Vec<String> = all
        .iter()
        .flat_map(|m| m.pending().map(move |r| (m, r)))
        .map(|(m, r)| {
            format!(
                "  {}（{}）→ {}：已等待 {}，尝试 {} 次{}",
                m.kind.zh(),
                m.id,
                r.address,
                age_zh(*now - m.created.0),
                r.attempts,
                r.last_failure
                    .as_ref()
                    .map(|f| format!("，最近错误：{}", f.detail))
                    .unwrap_or_default()
            )
        })
        .collect();
    if waiting.is_empty() {
        out.push("发件箱：没有待发送的邮件".into());
    } else {
        out.push(format!(
            "发件箱：{} 封（收件人）待发送，每次唤醒自动重试，超过 {} 小时未送达即停止并通知数据人员：",
            waiting.len(),
            pipeline.def.email.give_up_hours
        ));
        out.extend(waiting);
    }
    let recent = *now - chrono::Duration::days(30);
    let given: Vec<String> = all
        .iter()
        .flat_map(|m| m.recipients.iter().map(move |r| (m, r)))
        .filter(|(m, r)| r.gave_up.is_some() && m.created.0 >= recent)
        .map(|(m, r)| {
            format!(
                "  {}（{}）→ {}：{}",
                m.kind.zh(),
                m.id,
                r.address,
                r.gave_up.as_deref().unwrap_or("")
            )
        })
        .collect();
    if !given.is_empty() {
        out.push(format!(
            "近 30 天未能送达、已停止重试的邮件 {} 封（收件人）：",
            given.len()
        ));
        out.extend(given);
    }
    Ok(out)
}

/// A duration as people say it: `3 分钟`, `5 小时 10 分`, `2 天 3 小时`.
fn age_zh(d: chrono::Duration) -> String {
    let m = d.num_minutes().max(0);
    match m {
        0..60 => format!("{m} 分钟"),
        60..1440 => format!("{} 小时 {} 分", m / 60, m % 60),
        _ => format!("{} 天 {} 小时", m / 1440, m % 1440 / 60),
    }
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
