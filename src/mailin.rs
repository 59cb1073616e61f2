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

use crate::config::{MailboxDef, Pipeline};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::ingest;
use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::notify;
use crate::period::{self, Moment, Period};
use crate::store::{FileEntry, Outcome, Store};
use chrono::DateTime;
use chrono_tz::Tz;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// The file kinds taken from a message (calamine reads .xls and .ods too).
const TAKEN: [&str; 5] = ["xlsx", "xls", "ods", "csv", "json"];

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

fn mail_dir(data_dir: &DataDir, m: &MailboxDef) -> PathBuf {
    data_dir.root().join("mail").join(&m.name)
}

pub fn ledger(data_dir: &DataDir, m: &MailboxDef) -> Ledger<MailEvent> {
    Ledger::at(mail_dir(data_dir, m).join("ledger.jsonl"))
}

/// What one look at a mailbox did.
#[derive(Debug, Default)]
pub struct Fetched {
    pub messages: usize,
    pub held: usize,
    pub receipts: usize,
    pub files: usize,
}

type Session = async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

fn imap_err(m: &MailboxDef, e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("mailbox {}: {e}", m.name))
}

/// TLS to the server: the system's roots, plus `FAYUAN_IMAP_CA_FILE` (a PEM file) if set.
fn tls_config() -> Result<Arc<tokio_rustls::rustls::ClientConfig>> {
    use tokio_rustls::rustls::{self, RootCertStore, pki_types::CertificateDer};
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Ok(path) = std::env::var("FAYUAN_IMAP_CA_FILE") {
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(&path)
            .map_err(|e| Error::Usage(format!("FAYUAN_IMAP_CA_FILE {path}: {e}")))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| Error::Usage(format!("FAYUAN_IMAP_CA_FILE {path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Usage(format!("FAYUAN_IMAP_CA_FILE {path}: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Runtime(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A folder name as IMAP spells it: modified UTF-7 (RFC 3501 §5.1.3), so that 已处理 works.
pub fn imap_folder(name: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut wide: Vec<u16> = Vec::new();
    let flush = |wide: &mut Vec<u16>, out: &mut String| {
        if wide.is_empty() {
            return;
        }
        let bytes: Vec<u8> = wide.iter().flat_map(|u| u.to_be_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(bytes)
            .replace('/', ",");
        out.push('&');
        out.push_str(&b64);
        out.push('-');
        wide.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut wide, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            wide.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut wide, &mut out);
    out
}

/// Connects, logs in and selects the folder; returns the session and the UID validity.
pub async fn connect(m: &MailboxDef) -> Result<(Session, u32)> {
    let (host, port, implicit) = m.host_port().map_err(Error::Usage)?;
    let password = std::env::var(&m.password_env)
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "mailbox {}: the password is read from {} only, and it is not set",
                m.name, m.password_env
            ))
        })?;
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| imap_err(m, "connection timed out"))?
    .map_err(|e| imap_err(m, e))?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| imap_err(m, e))?;
    // imap://: the greeting in plain text, then STARTTLS — never a login without TLS.
    let tcp = if implicit {
        tcp
    } else {
        let mut plain = async_imap::Client::new(tcp);
        plain
            .read_response()
            .await
            .map_err(|e| imap_err(m, e))?
            .ok_or_else(|| imap_err(m, "no greeting"))?;
        plain
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(|e| imap_err(m, format!("STARTTLS refused: {e}")))?;
        plain.into_inner()
    };
    let tls = tokio_rustls::TlsConnector::from(tls_config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| imap_err(m, e))?;
    let mut client = async_imap::Client::new(tls);
    if implicit {
        client
            .read_response()
            .await
            .map_err(|e| imap_err(m, e))?
            .ok_or_else(|| imap_err(m, "no greeting"))?;
    }
    let mut session = client
        .login(&m.user, &password)
        .await
        .map_err(|(e, _)| imap_err(m, format!("login: {e}")))?;
    let mailbox = session
        .select(imap_folder(&m.folder))
        .await
        .map_err(|e| imap_err(m, e))?;
    for folder in [&m.processed_folder, &m.held_folder] {
        // Exists already, or is made now; either way the MOVE below names it.
        let _ = session.create(imap_folder(folder)).await;
    }
    Ok((session, mailbox.uid_validity.unwrap_or(0)))
}

/// Looks at a mailbox once: every message in the folder not yet done, then what came meanwhile.
pub async fn fetch_once(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    settings: &notify::Settings,
    now: DateTime<Tz>,
) -> Result<Fetched> {
    let (mut session, validity) = connect(m).await?;
    let mut out = Fetched::default();
    let mut after = None;
    let result = loop {
        match handle_new(
            &mut session,
            validity,
            pipeline,
            data_dir,
            m,
            settings,
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

/// The UIDs to look at: every message of the folder, or those above `after` (the last one this
/// connection handled: what arrived since). `n:*` always names the newest message, even one
/// below `n`, so those are left out.
async fn uids(session: &mut Session, m: &MailboxDef, after: Option<u32>) -> Result<Vec<u32>> {
    let query = match after {
        Some(last) => format!("UID {}:*", last.saturating_add(1)),
        None => "ALL".to_string(),
    };
    let mut uids: Vec<u32> = session
        .uid_search(&query)
        .await
        .map_err(|e| imap_err(m, e))?
        .into_iter()
        .filter(|u| after.is_none_or(|a| *u > a))
        .collect();
    uids.sort_unstable();
    Ok(uids)
}

/// Handles every message of the selected folder not yet done (above `after`, when given).
/// Returns what it did and the highest UID it looked at. An error is the server's (the caller
/// reconnects) or the machine's (a full disk: nothing is counted against the message); a
/// message's own failure is recorded and, after `max_failures`, the message is held.
#[allow(clippy::too_many_arguments)] // the mailbox's context, and where to start
pub async fn handle_new(
    session: &mut Session,
    validity: u32,
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    settings: &notify::Settings,
    now: DateTime<Tz>,
    after: Option<u32>,
) -> Result<(Fetched, Option<u32>)> {
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
            let _ = session
                .uid_mv(uid.to_string(), imap_folder(&m.processed_folder))
                .await;
            continue;
        }
        out.messages += 1;
        let (size, internal) = fetch_meta(session, m, uid).await?;
        // When the county sent it: the server's INTERNALDATE, never later than now.
        let arrived = internal.map(|t| t.min(now)).unwrap_or(now);
        let at = Place {
            validity,
            uid,
            arrived,
            now,
        };
        let max_bytes = crate::config::mb_bytes(m.max_message_mb).min(u64::from(u32::MAX)) as u32;
        if size > max_bytes {
            if oversize(session, pipeline, data_dir, m, settings, &at, size).await? {
                out.receipts += 1;
            }
            out.held += 1;
            continue;
        }
        let bytes = fetch_body(session, m, uid).await?;
        let sha = fsutil::sha256_hex(&bytes);
        // A message that failed too often is held, with the reason, and the mailbox moves on.
        let failures: Vec<&MailEvent> = events
            .iter()
            .filter(|e| e.step == MailStep::Failed && e.sha256 == sha)
            .collect();
        if failures.len() >= m.max_failures as usize {
            let last = failures
                .last()
                .map(|e| e.detail.clone())
                .unwrap_or_default();
            let h = held_for_failing(&bytes, validity, uid, sha, failures.len(), &last);
            hold(session, pipeline, data_dir, m, settings, &at, &h).await?;
            out.held += 1;
            continue;
        }
        let handled = tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handle_message(pipeline, data_dir, m, &at, &bytes)
            }))
            .unwrap_or_else(|panic| {
                Err(Error::Message {
                    id: format!("UID {uid}"),
                    message: format!(
                        "处理时出现内部错误：{}",
                        panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("panic")
                    ),
                })
            })
        });
        let handled = match handled {
            Ok(h) => h,
            // The machine, not the message (a full disk, the lock): tried again later as it is.
            Err(e @ (Error::Io { .. } | Error::Busy(_) | Error::Store { .. })) => return Err(e),
            Err(e) => {
                tracing::error!(mailbox = %m.name, uid, error = %e, "message not handled");
                ledger(data_dir, m).append(&MailEvent {
                    at: Moment(now),
                    validity,
                    uid,
                    message_id: String::new(),
                    sha256: sha.clone(),
                    step: MailStep::Failed,
                    detail: e.to_string(),
                })?;
                if failures.len() + 1 >= m.max_failures as usize {
                    let h = held_for_failing(
                        &bytes,
                        validity,
                        uid,
                        sha,
                        failures.len() + 1,
                        &e.to_string(),
                    );
                    hold(session, pipeline, data_dir, m, settings, &at, &h).await?;
                    out.held += 1;
                }
                continue;
            }
        };
        match handled {
            Handled::Held(h) => {
                hold(session, pipeline, data_dir, m, settings, &at, &h).await?;
                out.held += 1;
            }
            Handled::Again => {
                finish(session, data_dir, m, &at, &m.processed_folder, "again").await?;
            }
            Handled::Receipt { id, files } => {
                let d = notify::deliver_message(data_dir, pipeline, &id, settings).await?;
                for (_, r, why) in &d.failed {
                    tracing::warn!(mailbox = %m.name, recipient = %r, "receipt not delivered yet (retried by the delivery rounds): {why}");
                }
                crate::faults::point("mail-delivered", &data_dir.root().join("mail"))?;
                out.receipts += 1;
                out.files += files;
                finish(session, data_dir, m, &at, &m.processed_folder, "processed").await?;
            }
        }
    }
    Ok((out, last))
}

/// A message held because its handling failed `count` times, the last time for `last`.
fn held_for_failing(
    bytes: &[u8],
    validity: u32,
    uid: u32,
    sha: String,
    count: usize,
    last: &str,
) -> Held {
    let parsed = mail_parser::MessageParser::default().parse(bytes);
    let Envelope {
        from,
        subject,
        message_id,
    } = envelope(parsed.as_ref(), validity, uid);
    Held {
        message_id,
        sha256: sha,
        from,
        subject,
        why: format!("处理失败 {count} 次（最近一次：{last}），已停止自动处理"),
    }
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

/// A message over the size limit: only its header is read; a registered sender is told (true
/// then), the message held. Known by its header's bytes.
#[allow(clippy::too_many_arguments)]
async fn oversize(
    session: &mut Session,
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    settings: &notify::Settings,
    at: &Place,
    size: u32,
) -> Result<bool> {
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
        let lines = [format!(
            "{why}。请只附月报表文件（每个不超过 {} MB）后重新发送。",
            pipeline.def.limits.max_file_mb
        )];
        let id = tokio::task::block_in_place(|| {
            queue_receipt(
                pipeline,
                data_dir,
                m,
                &sha,
                at,
                Some(unit),
                (&from, &subject, &message_id),
                &lines,
            )
        })?;
        notify::deliver_message(data_dir, pipeline, &id, settings).await?;
    }
    hold(
        session,
        pipeline,
        data_dir,
        m,
        settings,
        at,
        &Held {
            message_id,
            sha256: sha,
            from,
            subject,
            why,
        },
    )
    .await?;
    Ok(unit.is_some())
}

/// A message's size and INTERNALDATE (when the server received it), by UID.
async fn fetch_meta(
    session: &mut Session,
    m: &MailboxDef,
    uid: u32,
) -> Result<(u32, Option<DateTime<Tz>>)> {
    let fetched: Vec<_> = session
        .uid_fetch(uid.to_string(), "(UID RFC822.SIZE INTERNALDATE)")
        .await
        .map_err(|e| imap_err(m, e))?
        .try_collect()
        .await
        .map_err(|e| imap_err(m, e))?;
    Ok((
        fetched.iter().find_map(|f| f.size).unwrap_or(0),
        fetched
            .iter()
            .find_map(|f| f.internal_date())
            .map(|t| t.with_timezone(&period::TZ)),
    ))
}

async fn fetch_body(session: &mut Session, m: &MailboxDef, uid: u32) -> Result<Vec<u8>> {
    fetch_part(session, m, uid, "BODY.PEEK[]").await
}

/// One part of a message by UID (`BODY.PEEK[]`, `BODY.PEEK[HEADER]`), leaving it unread.
async fn fetch_part(
    session: &mut Session,
    m: &MailboxDef,
    uid: u32,
    part: &str,
) -> Result<Vec<u8>> {
    let fetched: Vec<_> = session
        .uid_fetch(uid.to_string(), format!("(UID {part})"))
        .await
        .map_err(|e| imap_err(m, e))?
        .try_collect()
        .await
        .map_err(|e| imap_err(m, e))?;
    fetched
        .iter()
        .find_map(|f| f.body().or_else(|| f.header()).map(<[u8]>::to_vec))
        .ok_or_else(|| imap_err(m, format!("UID {uid}: no body")))
}

/// Moves the message and records it done.
async fn finish(
    session: &mut Session,
    data_dir: &DataDir,
    m: &MailboxDef,
    at: &Place,
    folder: &str,
    detail: &str,
) -> Result<()> {
    let (validity, uid) = (at.validity, at.uid);
    session
        .uid_mv(uid.to_string(), imap_folder(folder))
        .await
        .map_err(|e| imap_err(m, format!("move UID {uid} to {folder}: {e}")))?;
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

/// A message that gets no receipt, and why.
#[derive(Debug, Clone)]
pub struct Held {
    pub message_id: String,
    pub sha256: String,
    pub from: String,
    pub subject: String,
    pub why: String,
}

/// Tells the data staff (once: the notice's id is the message's) and moves it to the held folder.
async fn hold(
    session: &mut Session,
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    settings: &notify::Settings,
    at: &Place,
    h: &Held,
) -> Result<()> {
    let key = h.sha256.trim_start_matches("header-");
    let id = format!("held-{}-{}", m.name, &key[..16.min(key.len())]);
    let staff = notify::staff(pipeline);
    let subject = format!(
        "【{}】邮箱 {} 中有一封邮件待人工处理",
        pipeline.def.pipeline.title, m.name
    );
    let text = format!(
        "fayuan 未处理邮箱 {} 中的一封邮件，已移至文件夹“{}”：\n\n发件人：{}\n主题：{}\n收到时间：{}\n原因：{}\n存档：{}\n\n未向发件人回复。\n",
        m.user,
        m.held_folder,
        h.from,
        h.subject,
        period::instant_zh(&at.arrived),
        h.why,
        if h.sha256.is_empty() || h.sha256.starts_with("header-") {
            "（未下载）".to_string()
        } else {
            format!("SHA-256 {}", h.sha256)
        }
    );
    let msg = notify::mime::plain(
        pipeline,
        &notify::mime::Envelope {
            id: &id,
            to: &staff,
            cc: &[],
            subject: &subject,
            now: at.now,
        },
        &text,
        None,
    )?;
    tokio::task::block_in_place(|| {
        notify::put_in_outbox(
            data_dir,
            pipeline,
            &notify::Outgoing {
                id: &id,
                kind: notify::MessageKind::Held,
                period: Period::of(at.now.date_naive()),
                recipients: &staff,
                subject: &subject,
                message: &msg,
                small: None,
                manifest: None,
            },
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
    finish(session, data_dir, m, at, &m.held_folder, "held").await
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

/// Who sent a message, about what, under which Message-ID (the header is enough).
struct Envelope {
    /// The bare address, lower-cased, as registered senders are kept.
    from: String,
    subject: String,
    message_id: String,
}

fn envelope(parsed: Option<&mail_parser::Message>, validity: u32, uid: u32) -> Envelope {
    Envelope {
        from: parsed
            .and_then(|p| p.from())
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(crate::config::sender_address)
            .unwrap_or_default(),
        subject: parsed.and_then(|p| p.subject()).unwrap_or("").to_string(),
        message_id: parsed
            .and_then(|p| p.message_id())
            .map(str::to_string)
            .unwrap_or_else(|| format!("uid-{validity}-{uid}")),
    }
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
    fsutil::keep_copy(&stored, bytes, &sha)?;
    let parsed = mail_parser::MessageParser::default().parse(bytes);
    let header = |name: &str| -> Option<String> {
        parsed.as_ref().and_then(|p| {
            p.headers_raw()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    };
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
    let held = |why: &str| {
        Ok(Handled::Held(Held {
            message_id: message_id.clone(),
            sha256: sha.clone(),
            from: from.clone(),
            subject: subject.clone(),
            why: why.to_string(),
        }))
    };
    let Some(msg) = parsed.as_ref() else {
        return held("邮件格式无法解析");
    };
    // Never answer machines: auto-replies, bounces, mailing lists.
    let auto = header("Auto-Submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no"));
    let bounce = header("Content-Type")
        .is_some_and(|v| v.to_ascii_lowercase().contains("multipart/report"))
        || from.starts_with("mailer-daemon@")
        || from.starts_with("postmaster@")
        || header("Return-Path").is_some_and(|v| v == "<>");
    let list = header("List-Id").is_some()
        || header("List-Unsubscribe").is_some()
        || header("Precedence")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "bulk" | "list" | "junk"));
    if auto || bounce || list {
        return held("自动回复、退信或群发邮件，不予处理");
    }
    // Bulk sheets: the staff in `[email] cc` (SPEC §9) and any listed `bulk_senders`.
    let bulk = m
        .bulk_senders
        .iter()
        .chain(&pipeline.def.email.cc)
        .any(|b| crate::config::sender_address(b) == from);
    let unit = pipeline.units.iter().find(|u| u.senders.contains(&from));
    if unit.is_none() && !bulk {
        return held("发件人不是已登记的报送联系人");
    }
    // The attachments fayuan takes, in order.
    let mut taken = Vec::new();
    let mut skipped = Vec::new();
    for part in msg.attachments() {
        let name = mail_parser::MimeHeaders::attachment_name(part)
            .unwrap_or("未命名附件")
            .to_string();
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if !TAKEN.contains(&ext.as_str()) {
            skipped.push(format!(
                "{name}：不是报送文件（须为 .xlsx、.xls、.ods、.csv 或 .json），未处理"
            ));
            continue;
        }
        if taken.len() >= m.max_attachments {
            skipped.push(format!("{name}：附件超过 {} 个，未处理", m.max_attachments));
            continue;
        }
        taken.push((name, part.contents().to_vec()));
    }
    let folder = format!("mail-{}-{}", m.name, &sha[..12]);
    // Attachments taken in already (a run killed after its ingest): not written again.
    let recorded: HashSet<(String, String)> = Store::open(data_dir)
        .files()?
        .into_iter()
        .map(|f| (f.file_name, f.sha256))
        .collect();
    let only_unit = unit
        .filter(|_| !bulk)
        .map(|u| (u.code.clone(), u.name.clone()));
    for (k, (name, body)) in taken.iter().enumerate() {
        let inbox_name = format!("{folder}/{}-{}", k + 1, ingest::disk_name(name, 120));
        let body_sha = fsutil::sha256_hex(body);
        if recorded.contains(&(inbox_name.clone(), body_sha.clone())) {
            continue;
        }
        ingest::arrival::put(
            data_dir,
            body,
            &ingest::arrival::Arrival {
                name: inbox_name,
                sha256: body_sha,
                at: Moment(at.arrived),
                door: ingest::arrival::Door::Mail,
                only_unit: only_unit.clone(),
                original_name: name.clone(),
                refuse: None,
            },
        )?;
    }
    ingest::ingest(pipeline, data_dir, now)?;
    crate::faults::point("mail-receipt", &stored)?;
    let store = Store::open(data_dir);
    let files = store.files()?;
    let rows = crate::frame::strings_table(&store.rows()?, &["sha256", "period", "version"])
        .map_err(|e| Error::store(&data_dir.store(), e))?;
    let mut lines = Vec::new();
    for (k, (name, body)) in taken.iter().enumerate() {
        let recorded = format!("{folder}/{}-{}", k + 1, ingest::disk_name(name, 120));
        lines.push(attachment_line(
            k + 1,
            name,
            &recorded,
            &fsutil::sha256_hex(body),
            &files,
            &rows,
        ));
    }
    for s in &skipped {
        lines.push(format!("- {s}"));
    }
    let id = queue_receipt(
        pipeline,
        data_dir,
        m,
        &sha,
        at,
        unit,
        (&from, &subject, &message_id),
        &lines,
    )?;
    Ok(Handled::Receipt {
        id,
        files: taken.len(),
    })
}

/// Puts the receipt for a message into the outbox (once: its id is the message's bytes'), to the
/// sender with the unit's other contacts in copy. Returns its id.
#[allow(clippy::too_many_arguments)]
fn queue_receipt(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    sha: &str,
    at: &Place,
    unit: Option<&crate::config::Unit>,
    (from, subject, message_id): (&str, &str, &str),
    lines: &[String],
) -> Result<String> {
    let now = at.now;
    let key = sha.trim_start_matches("header-");
    let id = format!("receipt-{}-{}", m.name, &key[..16.min(key.len())]);
    if !notify::exists(data_dir, pipeline, &id)? {
        let to = vec![from.to_string()];
        let cc: Vec<String> = unit
            .map(|u| u.senders.iter().filter(|a| **a != from).cloned().collect())
            .unwrap_or_default();
        let text = receipt_text(
            pipeline,
            data_dir,
            unit.map(|u| u.code.as_str()),
            subject,
            lines,
            now,
        )?;
        let reply_subject = format!(
            "回执：{}",
            if subject.is_empty() {
                "（无主题）"
            } else {
                subject
            }
        );
        let msg = notify::mime::receipt(
            pipeline,
            &notify::mime::Envelope {
                id: &id,
                to: &to,
                cc: &cc,
                subject: &reply_subject,
                now,
            },
            &text,
            message_id,
        )?;
        let recipients: Vec<String> = to.iter().chain(&cc).cloned().collect();
        notify::put_in_outbox(
            data_dir,
            pipeline,
            &notify::Outgoing {
                id: &id,
                kind: notify::MessageKind::Receipt,
                period: Period::of(now.date_naive()),
                recipients: &recipients,
                subject: &reply_subject,
                message: &msg,
                small: None,
                manifest: None,
            },
            now,
        )?;
    }
    Ok(id)
}

fn data_dir_relative(data_dir: &DataDir, p: &std::path::Path) -> String {
    p.strip_prefix(data_dir.root())
        .unwrap_or(p)
        .to_string_lossy()
        .to_string()
}

/// One attachment's line of the receipt, from what the store recorded of it.
fn attachment_line(
    n: usize,
    name: &str,
    recorded: &str,
    sha: &str,
    files: &[FileEntry],
    rows: &[Vec<String>],
) -> String {
    let mine = files
        .iter()
        .find(|f| f.file_name == recorded && f.sha256 == sha);
    let Some(f) = mine else {
        return format!(
            "{n}. {name}：已收到，等待处理（文件仍在写入或排队），稍后的回执或汇总会说明结果。"
        );
    };
    match f.outcome {
        Outcome::Accepted | Outcome::Partial => {
            let mut months: Vec<String> = rows
                .iter()
                .filter(|r| r[0] == sha)
                .map(|r| {
                    let p = Period::parse(&r[1])
                        .map(|p| p.zh())
                        .unwrap_or_else(|| r[1].clone());
                    let v: i64 = r[2].parse().unwrap_or(1);
                    if v > 1 {
                        format!("{p}（第{v}版，替代第{}版）", v - 1)
                    } else {
                        format!("{p}（第1版）")
                    }
                })
                .collect();
            months.sort();
            let head = if f.outcome == Outcome::Partial {
                format!(
                    "部分接收：{} 行接收，{} 行被拒收",
                    f.rows_accepted, f.rows_rejected
                )
            } else {
                format!("已接收，{} 行", f.rows_accepted)
            };
            let mut line = format!("{n}. {name}：{head}：{}。", months.join("、"));
            if f.outcome == Outcome::Partial {
                line.push_str(&format!(
                    "\n   被拒收的问题：\n{}",
                    indent(&f.problems.replace(recorded, name))
                ));
            }
            line
        }
        Outcome::Rejected => format!(
            "{n}. {name}：未接收。问题如下，请改正后重新发送整个文件：\n{}",
            indent(&f.problems.replace(recorded, name))
        ),
        Outcome::Duplicate => {
            let first = files
                .iter()
                .find(|e| e.sha256 == sha && e.outcome != Outcome::Duplicate);
            format!(
                "{n}. {name}：此前已收到完全相同的文件{}，未重复收取。",
                first
                    .map(|e| format!("（{} 收到）", period::minute_text(&e.arrived_at)))
                    .unwrap_or_default()
            )
        }
    }
}

fn indent(problems: &str) -> String {
    problems
        .lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The receipt's text: per attachment, soft checks waiting for a 说明, what is still missing.
fn receipt_text(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    unit: Option<&str>,
    subject: &str,
    lines: &[String],
    now: DateTime<Tz>,
) -> Result<String> {
    let p = pipeline;
    let mut text = format!(
        "您好：\n\n{}已收到您的邮件“{}”（{}）。处理结果如下：\n\n",
        p.def.pipeline.office,
        if subject.is_empty() {
            "（无主题）"
        } else {
            subject
        },
        period::instant_zh(&now)
    );
    if lines.is_empty() {
        text.push_str("邮件中没有附件。请将月报表（Excel、CSV 或 JSON）作为附件发送。\n");
    }
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    // The month being collected now: the one before this one.
    let period = Period::of(now.date_naive()).prev();
    if period.year == p.year()
        && let Some(code) = unit
    {
        let store = Store::open(data_dir);
        let status = crate::status::unit_status(p, &store, period, &now)?;
        if let Some(s) = status.iter().find(|s| s.code == code) {
            text.push('\n');
            if s.latest.is_none() {
                text.push_str(&format!("{}的{}数据尚未收到。\n", s.name, period.zh()));
            } else {
                text.push_str(&format!("{}的{}数据已收到。\n", s.name, period.zh()));
            }
            if !s.pending.is_empty() {
                text.push_str("以下数据异常，已接收，但须在“说明”栏写明原因后重新发送（数字不变不算更正）：\n");
                for x in &s.pending {
                    text.push_str(&format!("   待说明：{x}\n"));
                }
            }
        }
    }
    text.push_str(&format!(
        "\n{}\n（本邮件由 fayuan 自动发送；如有疑问请联系市局数据人员。）\n",
        p.def.pipeline.office
    ));
    Ok(text)
}

/// The daemon's watch of one mailbox: handle what is new, ask again until nothing more came,
/// then wait with IDLE — at most `poll_seconds` on the daemon's clock, whatever keepalives the
/// server sends — until the server says something changed; on any failure reconnect after a
/// pause (2 s doubling to 5 minutes, back to 2 s after a connection that worked). Ends when
/// `stop` turns true.
pub async fn watch(
    pipeline: Pipeline,
    data_dir: DataDir,
    m: MailboxDef,
    clock: period::Clock,
    lock_wait: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const FIRST_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
    let mut pause = FIRST_PAUSE;
    loop {
        if *stop.borrow() {
            return;
        }
        let mut worked = false;
        // A panic anywhere in a round (a library, a message no one expected) ends that round
        // like any failure: logged, then a new connection — never a watcher silently gone.
        let round = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(session_round(
            &pipeline,
            &data_dir,
            &m,
            clock,
            lock_wait,
            &mut stop,
            &mut worked,
        )))
        .await
        .unwrap_or_else(|_| Err(imap_err(&m, "the mailbox's watcher panicked")));
        match round {
            Ok(()) => return,
            Err(e) => {
                if worked {
                    pause = FIRST_PAUSE;
                }
                tracing::warn!(mailbox = %m.name, error = %e, pause_s = pause.as_secs(), "mailbox: reconnecting");
                tokio::select! {
                    _ = clock.sleep(pause) => {}
                    _ = stop.changed() => return,
                }
                pause = (pause * 2).min(std::time::Duration::from_secs(300));
            }
        }
    }
}

/// Whether the server announced new mail in what it sent unasked (drained).
fn new_mail_announced(session: &mut Session) -> bool {
    let mut any = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        if matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        ) {
            any = true;
        }
    }
    any
}

/// One connection: rounds of (handle new, IDLE) until stopped (Ok) or a failure (Err). `worked`
/// turns true once a round went through.
async fn session_round(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    clock: period::Clock,
    lock_wait: std::time::Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    worked: &mut bool,
) -> Result<()> {
    let (mut session, validity) = connect(m).await?;
    tracing::info!(mailbox = %m.name, validity, "mailbox connected");
    loop {
        // Everything in the folder, then what came while handling it, until nothing more.
        let mut after = None;
        loop {
            let settings = notify::Settings::resolve(pipeline, clock)?;
            let _lock = tokio::task::block_in_place(|| {
                crate::lock::acquire(data_dir, lock_wait, "daemon mail")
            })?;
            let (f, last) = handle_new(
                &mut session,
                validity,
                pipeline,
                data_dir,
                m,
                &settings,
                clock.now(),
                after,
            )
            .await?;
            *worked = true;
            if f.messages > 0 {
                tracing::info!(mailbox = %m.name, messages = f.messages, receipts = f.receipts, held = f.held, "mailbox handled");
            }
            after = last.or(after);
            if f.messages == 0 {
                break;
            }
        }
        // Mail announced while we were busy: look again before going idle.
        if new_mail_announced(&mut session) {
            continue;
        }
        let mut idle = session.idle();
        idle.init()
            .await
            .map_err(|e| imap_err(m, format!("IDLE: {e}")))?;
        let stopped = {
            let (wait, interrupt) = idle.wait();
            // The poll bound on our own clock: a server's keepalives do not push it back.
            let poll = clock.sleep(std::time::Duration::from_secs(m.poll_seconds));
            let stopped = tokio::select! {
                r = wait => {
                    r.map_err(|e| imap_err(m, format!("IDLE: {e}")))?;
                    false
                }
                _ = poll => false,
                _ = stop.changed() => true,
            };
            drop(interrupt);
            stopped
        };
        session = idle
            .done()
            .await
            .map_err(|e| imap_err(m, format!("IDLE done: {e}")))?;
        if stopped {
            let _ = session.logout().await;
            return Ok(());
        }
    }
}

/// One line for `fayuan status` and the bureau's page: the mailbox's last step, and any message
/// whose handling failed and waits for another try.
pub fn status_line(data_dir: &DataDir, m: &MailboxDef) -> String {
    let events = ledger(data_dir, m).read().unwrap_or_default();
    let done = events.iter().filter(|e| e.step == MailStep::Done).count();
    let held = events.iter().filter(|e| e.step == MailStep::Held).count();
    let finished: HashSet<&str> = events
        .iter()
        .filter(|e| matches!(e.step, MailStep::Done | MailStep::Held))
        .map(|e| e.sha256.as_str())
        .collect();
    let failing: HashSet<&str> = events
        .iter()
        .filter(|e| e.step == MailStep::Failed && !finished.contains(e.sha256.as_str()))
        .map(|e| e.sha256.as_str())
        .collect();
    let failing = if failing.is_empty() {
        String::new()
    } else {
        format!(
            "；{} 封处理失败，等待重试（失败 {} 次即转人工）",
            failing.len(),
            m.max_failures
        )
    };
    match events.last() {
        Some(e) => format!(
            "邮箱 {}（{}）：最近处理 {}；共处理 {done} 封，其中转人工 {held} 封{failing}",
            m.name,
            m.user,
            e.at.minute()
        ),
        None => format!("邮箱 {}（{}）：尚未处理过邮件", m.name, m.user),
    }
}
