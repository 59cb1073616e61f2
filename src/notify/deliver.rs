//! Delivery: every message of the outbox to each of its recipients — at once when it is made,
//! then at every round (each daemon wake-up, each `fayuan send`) with a back-off per recipient,
//! until it is delivered, refused for good or too old, when the data staff are told once.

use super::{
    Event, EventKind, LastFailure, Letter, MESSAGE, MessageKind, MessageState, SMALL, ledger,
    messages, outbox_dir, post, smtp, staff,
};
use crate::config::Address;
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::{self, Moment, Period};
use crate::retry::{Failure, Retry};
use lettre::message::Mailbox;
use std::collections::HashMap;
use std::fs;
use std::time::Duration;

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
        // The environment's URL over the definition's, both parsed when the pipeline loaded.
        let env = pipeline.env();
        let server = env.smtp_url().or(e.server_url.as_ref()).cloned();
        let ca = env.smtp_ca_file().or(e.tls_ca_file.as_ref()).cloned();
        let ca_pem = match ca {
            Some(p) => Some(fs::read(&p).map_err(|err| Error::io(&p, err))?),
            None => None,
        };
        Ok(Settings {
            clock,
            server,
            username: e.username.clone(),
            password: env.smtp_password().map(|p| p.expose().to_string()),
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
    let _sending = sending(data_dir, pipeline).await?;
    let now = settings.clock.now();
    let events = ledger(data_dir, pipeline).read()?;
    let give_up = chrono::Duration::hours(i64::from(pipeline.def.email.give_up_hours));
    let mut out = Delivered::default();
    let conn = Connection::open(data_dir, pipeline, settings)?;
    let all = messages(&events);
    record_sent(data_dir, pipeline.year(), &all, now)?;
    for m in all {
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
                // A notice to the staff about failures is not given up for age: the failure it
                // reports (a server down) must not silence it; it waits like any message.
                _ if now - m.created.0 > give_up && !m.kind.reports_failures() => Some(format!(
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
                conn.send_or_small(&m, &r.address, small, round.retry)
                    .await?,
            );
        }
    }
    notice_undelivered(data_dir, pipeline, settings, &conn, &out).await?;
    Ok(out)
}

/// The delivery lock: one sender at a time, so that no message is sent twice (the write lock is
/// not needed to send, and a slow server must not hold it).
async fn sending(data_dir: &DataDir, pipeline: &Pipeline) -> Result<crate::lock::DeliveryLock> {
    let wait = std::time::Duration::from_secs(pipeline.def.schedule.lock_wait_seconds);
    crate::lock::acquire_delivery(data_dir, wait).await
}

pub(super) fn has_small(data_dir: &DataDir, pipeline: &Pipeline, m: &MessageState) -> bool {
    outbox_dir(data_dir, pipeline, &m.period, &m.id)
        .join(SMALL)
        .exists()
}

/// Tells the data staff, in one message, what was given up or sent without the workbook (never
/// about a notice of this kind itself). While an earlier such notice has reached nobody (the
/// server down), a new round's give-ups do not make a second one: the earlier is replaced by one
/// listing everything since the last notice that reached anyone — an outage is one notice.
async fn notice_undelivered(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    settings: &Settings,
    conn: &Connection<'_>,
    round: &Delivered,
) -> Result<()> {
    let events = ledger(data_dir, pipeline).read()?;
    let all = messages(&events);
    let kinds: HashMap<String, (MessageKind, String)> = all
        .iter()
        .map(|m| (m.id.clone(), (m.kind, m.subject.clone())))
        .collect();
    let worth = |id: &String| {
        kinds
            .get(id)
            .is_some_and(|(k, _)| *k != MessageKind::Notice)
    };
    let small: Vec<&(String, String)> = round.small.iter().filter(|(id, _)| worth(id)).collect();
    if !round.gave_up.iter().any(|(id, _, _)| worth(id)) && small.is_empty() {
        return Ok(());
    }
    // The notices of this kind that reached nobody yet, and since when the staff know nothing.
    let notices: Vec<&MessageState> = all
        .iter()
        .filter(|m| m.kind == MessageKind::Notice && m.id.starts_with("notice-"))
        .collect();
    let told_until = notices
        .iter()
        .filter(|m| m.reached_anyone())
        .map(|m| m.created.0)
        .max();
    let unsent: Vec<&&MessageState> = notices
        .iter()
        .filter(|m| !m.reached_anyone() && m.pending().next().is_some())
        .collect();
    let gave_up: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e.event == EventKind::GaveUp && worth(&e.digest))
        .filter(|e| told_until.is_none_or(|t| e.at.0 > t))
        .filter_map(|e| Some((e.digest.clone(), e.recipient.clone()?, e.detail.clone())))
        .collect();
    let now = settings.clock.now();
    let id = format!("notice-{}", now.format("%Y%m%dT%H%M%S"));
    for old in unsent {
        for r in old.pending() {
            record(
                data_dir,
                pipeline,
                settings,
                old,
                &r.address,
                EventKind::GaveUp,
                format!("已由通知 {id} 取代（一并列出）"),
                None,
                None,
            )?;
        }
    }
    let (subject, text) = undelivered_words(pipeline, &kinds, &gave_up, &small, now)?;
    let staff = staff(pipeline);
    post(
        data_dir,
        pipeline,
        Letter::notice(
            &id,
            MessageKind::Notice,
            Period::of(now.date_naive()),
            &staff,
            &subject,
            &text,
        ),
        now,
    )?;
    let events = ledger(data_dir, pipeline).read()?;
    if let Some(m) = messages(&events).into_iter().find(|m| m.id == id) {
        // Only those who do not have it yet (a notice of the same second posted before).
        for r in staff
            .iter()
            .map(Address::as_str)
            .filter(|a| m.recipients.iter().any(|r| r.address == *a && r.pending()))
        {
            let _ = conn.send(&m, r, false, Retry::new(1, 0)).await?;
        }
    }
    Ok(())
}

/// The staff's notice of what a round gave up (message, recipient, why) and what went without
/// its workbook (message, recipient): subject and text (texts/notice-undelivered.txt).
fn undelivered_words(
    pipeline: &Pipeline,
    kinds: &HashMap<String, (MessageKind, String)>,
    gave_up: &[(String, String, String)],
    small: &[&(String, String)],
    now: chrono::DateTime<chrono_tz::Tz>,
) -> Result<(String, String)> {
    let item = |m: &str, r: &str, why: Option<&str>| {
        let (kind, subject) = &kinds[m];
        crate::texts::contexts::Undelivered {
            kind: kind.zh().to_string(),
            id: m.to_string(),
            subject: subject.clone(),
            to: r.to_string(),
            why: why.map(str::to_string),
        }
    };
    pipeline
        .texts
        .send(&crate::texts::contexts::NoticeUndelivered {
            heading: pipeline.heading(),
            now: period::instant_zh(&now),
            gave_up: gave_up
                .iter()
                .map(|(m, r, why)| item(m, r, Some(why)))
                .collect(),
            small: small.iter().map(|(m, r)| item(m, r, None)).collect(),
        })
}

/// Posts a letter (once) and tries to deliver it at once; what is not delivered now waits for
/// the next round.
pub async fn send_now(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    letter: Letter<'_>,
    settings: &Settings,
) -> Result<Delivered> {
    let id = letter.id.to_string();
    post(data_dir, pipeline, letter, settings.clock.now())?;
    deliver_message(data_dir, pipeline, &id, settings).await
}

/// Delivers every pending recipient of one message now (with the in-call retries), ignoring
/// back-off; give-ups are left to the next round.
pub async fn deliver_message(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    id: &str,
    settings: &Settings,
) -> Result<Delivered> {
    let _sending = sending(data_dir, pipeline).await?;
    let events = ledger(data_dir, pipeline).read()?;
    let Some(m) = messages(&events).into_iter().find(|d| d.id == id) else {
        return Ok(Delivered::default());
    };
    let mut out = Delivered::default();
    let conn = Connection::open(data_dir, pipeline, settings)?;
    for r in m.recipients.iter().filter(|r| r.pending()) {
        if out.unreachable || r.last_failure.as_ref().is_some_and(|f| !f.transient) {
            continue;
        }
        out.add(
            conn.send_or_small(&m, &r.address, r.small, settings.immediate)
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
    let done = matches!(event, EventKind::Sent | EventKind::Outbox);
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
    })?;
    if done {
        crate::audit::record_or_log(
            data_dir,
            pipeline.year(),
            settings.clock.now().into(),
            vec![sent_event(m, recipient, event == EventKind::Outbox)],
        );
    }
    Ok(())
}

/// The unit a message to a county concerns, from its id: a reminder's ends with the unit's code
/// (`remind-2025-06-t+3-341522`), a return's names it second (`return-341522-2025-06-…`).
fn unit_of(m: &MessageState) -> String {
    let code = match m.kind {
        MessageKind::Reminder => m.id.rsplit('-').next(),
        MessageKind::Return => m.id.split('-').nth(1),
        _ => None,
    };
    code.filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
        .unwrap_or_default()
        .to_string()
}

/// A message that reached a recipient — or, with no mail server, was only written to the
/// outbox for them — for the record (工作台账): it says which.
fn sent_event(m: &MessageState, recipient: &str, outbox_only: bool) -> crate::audit::New {
    crate::audit::New {
        kind: if outbox_only {
            "message_outbox"
        } else {
            "message_sent"
        },
        key: format!("message {} to {recipient}", m.id),
        unit: unit_of(m),
        period: m.period.clone(),
        who: "fayuan".into(),
        what: if outbox_only {
            format!(
                "{}“{}”（收件人 {recipient}）已写入发件箱，未发出（未配置邮件服务器）",
                m.kind.zh(),
                m.subject
            )
        } else {
            format!("{}“{}”已发送至 {recipient}", m.kind.zh(), m.subject)
        },
    }
}

/// Every message the ledger says reached someone, on the record — what a crash between the
/// ledger and the record left out is recorded now, once.
fn record_sent(
    data_dir: &DataDir,
    year: i32,
    messages: &[MessageState],
    now: chrono::DateTime<chrono_tz::Tz>,
) -> Result<()> {
    let events: Vec<crate::audit::New> = messages
        .iter()
        .flat_map(|m| {
            m.recipients
                .iter()
                .filter(|r| r.done)
                .map(move |r| sent_event(m, &r.address, r.outbox_only))
        })
        .collect();
    crate::audit::record_or_log(data_dir, year, now.into(), events);
    Ok(())
}

/// The way out for one round: the SMTP server (one transport for the round), or the outbox.
struct Connection<'a> {
    data_dir: &'a DataDir,
    pipeline: &'a Pipeline,
    settings: &'a Settings,
    smtp: Option<(smtp::Smtp, lettre::Address)>,
}

impl<'a> Connection<'a> {
    fn open(
        data_dir: &'a DataDir,
        pipeline: &'a Pipeline,
        settings: &'a Settings,
    ) -> Result<Connection<'a>> {
        let mut conn = Connection {
            data_dir,
            pipeline,
            settings,
            smtp: None,
        };
        let Some(server) = &settings.server else {
            return Ok(conn);
        };
        let transport = smtp::Smtp::new(
            server,
            settings.username.as_deref(),
            settings.password.as_deref(),
            settings.ca_pem.as_deref(),
            settings.timeout,
        )
        .map_err(|why| Error::Usage(format!("SMTP: {why}")))?; // the CA file named by the settings
        let from = pipeline.addresses.from.mailbox().email.clone();
        conn.smtp = Some((transport, from));
        Ok(conn)
    }

    /// Records one event of one recipient.
    fn record(
        &self,
        m: &MessageState,
        r: &str,
        event: EventKind,
        detail: String,
        transient: Option<bool>,
        code: Option<u16>,
    ) -> Result<()> {
        record(
            self.data_dir,
            self.pipeline,
            self.settings,
            m,
            r,
            event,
            detail,
            transient,
            code,
        )
    }

    /// Sends one message to one recipient; a digest the server refuses as too large is sent
    /// again at once without its workbook (once: `small` says it was tried already).
    #[allow(clippy::too_many_arguments)] // the round's context and the one send
    async fn send_or_small(
        &self,
        m: &MessageState,
        r: &str,
        small: bool,
        retry: Retry,
    ) -> Result<Delivered> {
        let (data_dir, pipeline) = (self.data_dir, self.pipeline);
        let out = self.send(m, r, small, retry).await?;
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
        self.send(m, r, true, retry).await
    }

    /// Sends one message to one recipient (the form without the workbook when `small`).
    #[allow(clippy::too_many_arguments)] // the round's context and the one send
    async fn send(
        &self,
        m: &MessageState,
        r: &str,
        small: bool,
        retry: Retry,
    ) -> Result<Delivered> {
        let (data_dir, pipeline) = (self.data_dir, self.pipeline);
        let mut out = Delivered::default();
        let dir = outbox_dir(data_dir, pipeline, &m.period, &m.id);
        let eml = dir.join(if small { SMALL } else { MESSAGE });
        let key = (m.id.clone(), r.to_string());
        let Some((transport, from)) = &self.smtp else {
            self.record(
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
                self.record(m, r, EventKind::Failed, e.to_string(), Some(false), None)?;
                out.failed
                    .push((m.id.clone(), r.to_string(), e.to_string()));
                return Ok(out);
            }
        };
        let sent = retry
            .run("smtp", |attempt| {
                let (message, to) = (&message, &to);
                async move {
                    self.record(
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
                self.record(m, r, EventKind::Sent, String::new(), None, None)?;
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
                self.record(
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
