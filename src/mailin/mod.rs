//! Email-in (issue 13): fayuan reads the bureau's data mailbox over IMAP, takes the attachments
//! of registered senders through the same ingest as inbox files, and answers each county with a
//! receipt in Chinese.
//!
//! For each message, in this order (each step repeatable, so a crash at any point resumes
//! without losing or repeating anything):
//! 1. fetched by UID (never by sequence number) with its INTERNALDATE, its bytes archived under
//!    `<data-dir>/mail/<mailbox>/<yyyy-mm>/<sha12>.eml` (an immutable copy, SHA-256 in the
//!    ledger) before anything else;
//! 2. classified: auto-replies, bounces and list mail are held without a receipt; unknown
//!    senders are held and the data staff are told; a registered sender's attachments
//!    (.xlsx .xls .ods .csv .json) are put into `inbox/mail-<mailbox>-<sha12>/` with a note of
//!    their arrival (the server's INTERNALDATE, never later than now) and, for a county's
//!    address, of its unit (the ingest refuses other units' rows, keeping the file in
//!    quarantine) — then ingested;
//! 3. the receipt (id `receipt-<mailbox>-<sha16>`: the message's own bytes name it) goes through
//!    the outbox and the delivery ledger (exactly once per recipient), in the message's thread,
//!    `Auto-Submitted`;
//! 4. the message is moved to the processed (or held) folder, and the ledger says `done`.
//!
//! Invariants: a message is known by its bytes (SHA-256), so neither a new UID nor a UIDVALIDITY
//! change takes a file or sends a receipt twice; a message whose handling fails `max_failures`
//! times is held with a notice to the staff, and the mailbox moves on; after each message and
//! each wake-up the server is asked for what is new, and `poll_seconds` bounds every wait; the
//! mailbox is never emptied; the password comes only from the environment.

mod classify;
pub mod health;
mod imap;
mod receipt;
mod watch;

pub use health::status_line;
pub use imap::{connect, imap_folder};
pub use watch::watch;

use crate::config::{MailboxDef, Pipeline};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::ingest;
use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::notify;
use crate::period::{self, Moment, Period};
use crate::records::Records;
use crate::store::{FileEntry, Store};
use chrono::DateTime;
use chrono_tz::Tz;
use classify::{Class, Envelope, classify, envelope, held_for_failing};
use imap::{Session, fetch_body, fetch_meta, fetch_part, imap_err, uids};
use receipt::{Said, answered_item, attachment, data_dir_relative, queue_receipt};
use std::collections::HashSet;
use std::path::PathBuf;

pub use crate::records::{MailEvent, MailStep};

fn mail_dir(data_dir: &DataDir, m: &MailboxDef) -> PathBuf {
    data_dir.mail(&m.name)
}

pub fn ledger(data_dir: &DataDir, m: &MailboxDef) -> Ledger<MailEvent> {
    crate::records::mail_ledger(data_dir, &m.name)
}

/// What one look at a mailbox did.
#[derive(Debug, Default)]
pub struct Fetched {
    pub messages: usize,
    pub held: usize,
    pub receipts: usize,
    pub files: usize,
}

/// Looks at a mailbox once: every message in the folder not yet done, then what came meanwhile.
pub async fn fetch_once(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    settings: &notify::Settings,
    now: DateTime<Tz>,
    lock_wait: Option<std::time::Duration>,
) -> Result<Fetched> {
    let _reader = reader(data_dir, m).await;
    let result = fetch_once_unrecorded(pipeline, data_dir, m, settings, now, lock_wait).await;
    match &result {
        Ok(_) => health::worked(data_dir, m, now),
        Err(e) => health::failed(data_dir, m, now, &e.to_string()),
    }
    result
}

async fn fetch_once_unrecorded(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    settings: &notify::Settings,
    now: DateTime<Tz>,
    lock_wait: Option<std::time::Duration>,
) -> Result<Fetched> {
    let (mut session, validity) = connect(m, pipeline.env()).await?;
    let mut out = Fetched::default();
    let mut after = None;
    let result = loop {
        match handle_new(
            &Desk {
                pipeline,
                data_dir,
                m,
                settings,
                lock_wait,
            },
            &mut session,
            validity,
            now,
            after,
        )
        .await
        {
            Ok((f, last)) => {
                let more = f.messages > 0;
                out.add(f);
                after = last.or(after);
                if !more {
                    break Ok(out);
                }
            }
            Err(e) => break Err(e),
        }
    };
    let _ = session.logout().await;
    result
}

impl Fetched {
    fn add(&mut self, o: Fetched) {
        self.messages += o.messages;
        self.held += o.held;
        self.receipts += o.receipts;
        self.files += o.files;
    }
}

/// Handles every message of the selected folder not yet done (above `after`, when given).
/// Returns what it did and the highest UID it looked at. An error is the server's (the caller
/// reconnects) or the machine's (a full disk: nothing is counted against the message); a
/// message's own failure is recorded and, after `max_failures`, the message is held.
pub async fn handle_new(
    desk: &Desk<'_>,
    session: &mut Session,
    validity: u32,
    now: DateTime<Tz>,
    after: Option<u32>,
) -> Result<(Fetched, Option<u32>)> {
    let (pipeline, data_dir, m, settings) = (desk.pipeline, desk.data_dir, desk.m, desk.settings);
    let events = ledger(data_dir, m).read()?;
    let done: HashSet<(u32, u32)> = events
        .iter()
        .filter(|e| e.step == MailStep::Done)
        .map(|e| (e.validity, e.uid))
        .collect();
    let mut out = Fetched::default();
    let mut last = None;
    for uid in uids(session, m, after).await? {
        last = Some(uid);
        if done.contains(&(validity, uid)) {
            // Done but still here (a crash between the ledger and the move): move it now.
            // A refusal is left alone (moved already); a server that does not answer is not.
            imap::within(m, "move", async {
                let _ = session
                    .uid_mv(uid.to_string(), imap_folder(&m.processed_folder))
                    .await;
                Ok(())
            })
            .await?;
            continue;
        }
        out.messages += 1;
        let (size, internal) = fetch_meta(session, m, uid).await?;
        // When the county sent it: the server's INTERNALDATE, never later than now.
        let arrived = internal.map_or(now, |t| t.min(now));
        let at = Place {
            validity,
            uid,
            arrived,
            now,
        };
        let max_bytes = crate::config::mb_bytes(m.max_message_mb).min(u64::from(u32::MAX)) as u32;
        if size > max_bytes {
            if desk.oversize(session, &at, size).await? {
                out.receipts += 1;
            }
            out.held += 1;
            continue;
        }
        let bytes = fetch_body(session, m, uid).await?;
        let sha = fsutil::sha256_hex(&bytes);
        // A message that failed too often is held, with the reason, and the mailbox moves on.
        let (failures, last_error) = failures_of(&events, &sha);
        if failures >= m.max_failures as usize {
            let h = held_for_failing(&bytes, validity, uid, sha, failures, &last_error);
            desk.hold(session, &at, &h).await?;
            out.held += 1;
            continue;
        }
        let handled = tokio::task::block_in_place(|| {
            let _lock = desk.local()?;
            guarded(uid, || handle_message(pipeline, data_dir, m, &at, &bytes))
        });
        let handled = match handled {
            Ok(h) => h,
            // The machine, not the message (a full disk, the lock): tried again later as it is.
            Err(e @ (Error::Io { .. } | Error::Busy(_) | Error::Store { .. })) => return Err(e),
            Err(e) => {
                if desk.failed(session, &at, &bytes, sha, failures, &e).await? {
                    out.held += 1;
                }
                continue;
            }
        };
        match handled {
            Handled::Held(h) => {
                desk.hold(session, &at, &h).await?;
                out.held += 1;
            }
            Handled::Again => {
                desk.finish(session, &at, &m.processed_folder, "again")
                    .await?;
            }
            Handled::Receipt { id, files } => {
                let d = notify::deliver_message(data_dir, pipeline, &id, settings).await?;
                for (_, r, why) in &d.failed {
                    tracing::warn!(mailbox = %m.name, recipient = %r, "receipt not delivered yet (retried by the delivery rounds): {why}");
                }
                crate::faults::point("mail-delivered", &data_dir.mail(&m.name))?;
                out.receipts += 1;
                out.files += files;
                desk.finish(session, &at, &m.processed_folder, "processed")
                    .await?;
            }
        }
    }
    Ok((out, last))
}

/// Where a message is and when it came.
pub struct Place {
    pub validity: u32,
    pub uid: u32,
    /// When the county sent it (the server's INTERNALDATE, never later than `now`).
    pub arrived: DateTime<Tz>,
    /// When it is handled.
    pub now: DateTime<Tz>,
}

/// One mailbox at work: what every step of a message needs.
pub struct Desk<'a> {
    pub pipeline: &'a Pipeline,
    pub data_dir: &'a DataDir,
    pub m: &'a MailboxDef,
    pub settings: &'a notify::Settings,
    /// Some: the desk takes the write lock itself, only for the local steps of a message (its
    /// archive, ingest and receipt into the outbox) — never while it talks to the IMAP or SMTP
    /// server. None: the caller holds it throughout (`fayuan ingest`, a person's command).
    pub lock_wait: Option<std::time::Duration>,
}

/// One reader of a mailbox at a time within the process (the daemon's watcher and its read
/// before judging): held while a reader goes through the folder.
pub(crate) async fn reader(data_dir: &DataDir, m: &MailboxDef) -> tokio::sync::OwnedMutexGuard<()> {
    static READERS: std::sync::LazyLock<
        std::sync::Mutex<
            std::collections::HashMap<PathBuf, std::sync::Arc<tokio::sync::Mutex<()>>>,
        >,
    > = std::sync::LazyLock::new(Default::default);
    let one = {
        let mut all = READERS.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(mail_dir(data_dir, m)).or_default().clone()
    };
    one.lock_owned().await
}

impl Desk<'_> {
    /// The write lock for a local step, when the desk takes it itself.
    fn local(&self) -> Result<Option<crate::lock::WriteLock>> {
        self.lock_wait
            .map(|wait| crate::lock::acquire(self.data_dir, wait, "mail"))
            .transpose()
    }

    /// A message's handling failed: recorded; after `max_failures` it is held (true then).
    async fn failed(
        &self,
        session: &mut Session,
        at: &Place,
        bytes: &[u8],
        sha: String,
        before: usize,
        e: &Error,
    ) -> Result<bool> {
        tracing::error!(mailbox = %self.m.name, uid = at.uid, error = %e, "message not handled");
        ledger(self.data_dir, self.m).append(&MailEvent {
            at: Moment(at.now),
            validity: at.validity,
            uid: at.uid,
            message_id: String::new(),
            sha256: sha.clone(),
            step: MailStep::Failed,
            detail: e.to_string(),
        })?;
        if before + 1 < self.m.max_failures as usize {
            return Ok(false);
        }
        let h = held_for_failing(bytes, at.validity, at.uid, sha, before + 1, &e.to_string());
        self.hold(session, at, &h).await?;
        Ok(true)
    }

    /// A message over the size limit: only its header is read; a registered sender is told (true
    /// then), the message held. Known by its header's bytes.
    async fn oversize(&self, session: &mut Session, at: &Place, size: u32) -> Result<bool> {
        let (pipeline, data_dir, m, settings) =
            (self.pipeline, self.data_dir, self.m, self.settings);
        let head = fetch_part(session, m, at.uid, "BODY.PEEK[HEADER]").await?;
        // Not downloaded: known by the SHA-256 of its header, marked as such.
        let sha = format!("header-{}", fsutil::sha256_hex(&head));
        let parsed = mail_parser::MessageParser::default().parse(&head);
        let Envelope {
            from,
            subject,
            message_id,
        } = envelope(parsed.as_ref(), at.validity, at.uid);
        let why = format!(
            "邮件过大（{:.1} MB，上限 {} MB），未下载",
            f64::from(size) / 1e6,
            m.max_message_mb
        );
        // A registered sender is told; a stranger is not (no backscatter).
        let unit = pipeline.units.iter().find(|u| u.senders.contains(&from));
        if let Some(unit) = unit {
            let said = Said {
                notes: vec![format!(
                    "{why}。请只附月报表文件（每个不超过 {} MB）后重新发送。",
                    pipeline.def.limits.max_file_mb
                )],
                ..Said::default()
            };
            let id = tokio::task::block_in_place(|| {
                let _lock = self.local()?;
                queue_receipt(
                    pipeline,
                    (data_dir, None),
                    m,
                    &sha,
                    at,
                    Some(unit),
                    (&from, &subject, &message_id),
                    said,
                )
            })?;
            notify::deliver_message(data_dir, pipeline, &id, settings).await?;
        }
        self.hold(
            session,
            at,
            &Held {
                message_id,
                sha256: sha,
                from,
                subject,
                why,
                answered: unit.is_some(),
            },
        )
        .await?;
        Ok(unit.is_some())
    }

    /// Moves the message and records it done.
    async fn finish(
        &self,
        session: &mut Session,
        at: &Place,
        folder: &str,
        detail: &str,
    ) -> Result<()> {
        let (data_dir, m) = (self.data_dir, self.m);
        let (validity, uid) = (at.validity, at.uid);
        imap::within(m, "move", async {
            session
                .uid_mv(uid.to_string(), imap_folder(folder))
                .await
                .map_err(|e| imap_err(m, format!("move UID {uid} to {folder}: {e}")))
        })
        .await?;
        // The message's identity, from its archiving, so that the same message found again under
        // another UID (copied back, or after a UIDVALIDITY change) is recognised.
        let ledger = ledger(data_dir, m);
        let (message_id, sha256) = ledger
            .read()?
            .into_iter()
            .rev()
            .find(|e| {
                e.validity == validity
                    && e.uid == uid
                    && matches!(e.step, MailStep::Archived | MailStep::Held)
            })
            .map(|e| (e.message_id, e.sha256))
            .unwrap_or_default();
        ledger.append(&MailEvent {
            at: Moment(at.now),
            validity,
            uid,
            message_id,
            sha256,
            step: MailStep::Done,
            detail: detail.to_string(),
        })
    }

    /// Tells the data staff (once: the notice's id is the message's) and moves it to the held folder.
    async fn hold(&self, session: &mut Session, at: &Place, h: &Held) -> Result<()> {
        let (pipeline, data_dir, m, settings) =
            (self.pipeline, self.data_dir, self.m, self.settings);
        let key = h.sha256.trim_start_matches("header-");
        let id = format!("held-{}-{}", m.name, &key[..16.min(key.len())]);
        let staff = notify::staff(pipeline);
        let (subject, text) = pipeline.texts.send(&crate::texts::contexts::NoticeHeld {
            heading: pipeline.heading(),
            mailbox: m.name.clone(),
            user: m.user.clone(),
            held_folder: m.held_folder.clone(),
            from: h.from.clone(),
            mail_subject: h.subject.clone(),
            received: period::instant_zh(&at.arrived),
            why: h.why.clone(),
            answered: h.answered,
            sha256: (!(h.sha256.is_empty() || h.sha256.starts_with("header-")))
                .then(|| h.sha256.clone()),
        })?;
        tokio::task::block_in_place(|| {
            let _lock = self.local()?;
            notify::post(
                data_dir,
                pipeline,
                notify::Letter::notice(
                    &id,
                    notify::MessageKind::Held,
                    Period::of(at.now.date_naive()),
                    &staff,
                    &subject,
                    &text,
                ),
                at.now,
            )
        })?;
        notify::deliver_message(data_dir, pipeline, &id, settings).await?;
        ledger(data_dir, m).append(&MailEvent {
            at: Moment(at.now),
            validity: at.validity,
            uid: at.uid,
            message_id: h.message_id.clone(),
            sha256: h.sha256.clone(),
            step: MailStep::Held,
            detail: h.why.clone(),
        })?;
        self.finish(session, at, &m.held_folder, "held").await
    }
}

/// How often a message (by its bytes) failed before, and the last reason.
fn failures_of(events: &[MailEvent], sha: &str) -> (usize, String) {
    let failed: Vec<&MailEvent> = events
        .iter()
        .filter(|e| e.step == MailStep::Failed && e.sha256 == sha)
        .collect();
    let last = failed.last().map(|e| e.detail.clone()).unwrap_or_default();
    (failed.len(), last)
}

/// Runs a message's handling so that a panic in it (a library, a message no one expected) is
/// that message's failure, not the mailbox's end.
fn guarded(uid: u32, handle: impl FnOnce() -> Result<Handled>) -> Result<Handled> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(handle)).unwrap_or_else(|panic| {
        Err(Error::Message {
            id: format!("UID {uid}"),
            source: format!(
                "处理时出现内部错误：{}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("panic")
            )
            .into(),
        })
    })
}

/// A message that gets no receipt, and why.
#[derive(Debug, Clone)]
pub struct Held {
    pub message_id: String,
    pub sha256: String,
    pub from: String,
    pub subject: String,
    pub why: String,
    /// The sender was answered (a registered sender's oversize mail): the notice says so.
    pub answered: bool,
}

/// What to do with a message once its bytes are archived.
pub enum Handled {
    Held(Held),
    /// The same message (Message-ID and bytes) was handled before under another UID.
    Again,
    /// The receipt is in the outbox under this id; `files` attachments were taken in.
    Receipt {
        id: String,
        files: usize,
    },
}

/// The synchronous part: archive, classify, ingest, queue the receipt. Repeatable: a message is
/// known by its bytes, so handling it again (after a crash, under another UID or UIDVALIDITY)
/// takes no file twice and makes no second receipt.
pub fn handle_message(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    at: &Place,
    bytes: &[u8],
) -> Result<Handled> {
    let (validity, uid, now) = (at.validity, at.uid, at.now);
    let sha = fsutil::sha256_hex(bytes);
    let month = at.arrived.format("%Y-%m").to_string();
    let stored = mail_dir(data_dir, m)
        .join(&month)
        .join(format!("{}.eml", &sha[..12]));
    // Durable before anything else is done for the message (a power cut after it left the
    // mailbox's inbox must not leave an empty copy: found by the year in simulation).
    fsutil::keep_copy_synced(&stored, bytes, &sha)?;
    tracing::debug!(mailbox = %m.name, uid, "mail: kept");
    let parsed = mail_parser::MessageParser::default().parse(bytes);
    let Envelope {
        from,
        subject,
        message_id,
    } = envelope(parsed.as_ref(), validity, uid);
    let seen_before = ledger(data_dir, m).read()?.into_iter().any(|e| {
        e.step == MailStep::Done && e.sha256 == sha && (e.validity, e.uid) != (validity, uid)
    });
    if seen_before {
        return Ok(Handled::Again);
    }
    ledger(data_dir, m).append(&MailEvent {
        at: Moment(now),
        validity,
        uid,
        message_id: message_id.clone(),
        sha256: sha.clone(),
        step: MailStep::Archived,
        detail: format!("{} from {from}", data_dir_relative(data_dir, &stored)),
    })?;
    crate::faults::point("mail-archived", &stored)?;
    // A message no code path expected: `mail-poison` (any message), `mail-poison-<sha12>` (this
    // one: the simulation's poison mail).
    crate::faults::point("mail-poison", &stored)?;
    crate::faults::point(&format!("mail-poison-{}", &sha[..12]), &stored)?;
    let (unit, bulk, taken, skipped) = match classify(parsed.as_ref(), &from, pipeline, m) {
        Class::Hold(why) => {
            return Ok(Handled::Held(Held {
                message_id,
                sha256: sha,
                from,
                subject,
                why,
                answered: false,
            }));
        }
        Class::Take {
            unit,
            bulk,
            taken,
            skipped,
        } => (unit, bulk, taken, skipped),
    };
    let folder = DataDir::mail_inbox_folder(&m.name, &sha[..12]);
    let only_unit = unit
        .filter(|_| !bulk)
        .map(|u| (u.code.clone(), u.name.clone()));
    put_attachments(data_dir, &folder, &taken, only_unit, at)?;
    tracing::debug!(mailbox = %m.name, uid, "mail: attachments in the inbox");
    ingest::ingest(pipeline, data_dir, now)?;
    crate::faults::point("mail-receipt", &stored)?;
    // The store read once for the whole receipt.
    let records = Records::open(data_dir)?;
    let mut notes = supervision_notes(data_dir, records.files(), &taken)?;
    notes.extend(answered_item(
        pipeline,
        data_dir,
        parsed.as_ref(),
        unit,
        &from,
        now,
    )?);
    let said = Said {
        attachments: attachments(&records, &folder, &taken)?,
        skipped,
        notes,
    };
    let id = queue_receipt(
        pipeline,
        (data_dir, Some(&records)),
        m,
        &sha,
        at,
        unit,
        (&from, &subject, &message_id),
        said,
    )?;
    Ok(Handled::Receipt {
        id,
        files: taken.len(),
    })
}

/// The inbox name of a message's `k`th attachment (from 1).
fn inbox_name(folder: &str, k: usize, name: &str) -> String {
    format!("{folder}/{k}-{}", ingest::disk_name(name, 120))
}

/// Puts the attachments into the inbox with their arrival note (when the county sent them, for
/// which unit) — except those the store recorded already (a run killed after its ingest).
fn put_attachments(
    data_dir: &DataDir,
    folder: &str,
    taken: &[(String, Vec<u8>)],
    only_unit: Option<(String, String)>,
    at: &Place,
) -> Result<()> {
    let recorded: HashSet<(String, String)> = Store::open(data_dir)
        .files()?
        .into_iter()
        .map(|f| (f.file_name, f.sha256))
        .collect();
    for (k, (name, body)) in taken.iter().enumerate() {
        let name_in = inbox_name(folder, k + 1, name);
        let body_sha = fsutil::sha256_hex(body);
        if recorded.contains(&(name_in.clone(), body_sha.clone())) {
            continue;
        }
        ingest::arrival::put(
            data_dir,
            body,
            &ingest::arrival::Arrival {
                name: name_in,
                sha256: body_sha,
                at: Moment(at.arrived),
                door: crate::door::Door::Mail,
                only_unit: only_unit.clone(),
                original_name: name.clone(),
                refuse: None,
            },
        )?;
    }
    Ok(())
}

/// What 指导督促 says of this message's files, in words for the receipt (returns closed,
/// corrections of confirmed months waiting).
fn supervision_notes(
    data_dir: &DataDir,
    files: &[FileEntry],
    taken: &[(String, Vec<u8>)],
) -> Result<Vec<String>> {
    let shas: Vec<String> = taken.iter().map(|(_, b)| fsutil::sha256_hex(b)).collect();
    crate::supervision::notes_for(data_dir, files, &shas)
}

fn attachments(
    records: &Records,
    folder: &str,
    taken: &[(String, Vec<u8>)],
) -> Result<Vec<crate::texts::contexts::Attachment>> {
    taken
        .iter()
        .enumerate()
        .map(|(k, (name, body))| {
            let recorded = inbox_name(folder, k + 1, name);
            attachment(k + 1, name, &recorded, &fsutil::sha256_hex(body), records)
        })
        .collect()
}
