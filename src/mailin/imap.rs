//! The IMAP client: TLS (rustls, the system's roots and `FAYUAN_IMAP_CA_FILE`), STARTTLS for
//! `imap://`, login, folders in modified UTF-7, and the few commands the mailbox needs — all by
//! UID, never by sequence number.
//!
//! Invariant: the only part of fayuan that speaks IMAP; the password only from the environment.

use crate::config::MailboxDef;
use crate::config::env::Environment;
use crate::error::{Error, Result};
use crate::period;
use chrono::DateTime;
use chrono_tz::Tz;
use futures::TryStreamExt;
use std::sync::Arc;

pub(super) type Session =
    async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

pub(super) fn imap_err(m: &MailboxDef, e: impl Into<crate::error::Cause>) -> Error {
    Error::Runtime(crate::error::during(format!("mailbox {}", m.name), e))
}

/// TLS to the server: the system's roots, plus `FAYUAN_IMAP_CA_FILE` (a PEM file) if set.
pub(super) fn tls_config(env: &Environment) -> Result<Arc<tokio_rustls::rustls::ClientConfig>> {
    use tokio_rustls::rustls::{self, RootCertStore, pki_types::CertificateDer};
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(file) = env.imap_ca_file() {
        use rustls::pki_types::pem::PemObject;
        let path = file.display();
        let certs = CertificateDer::pem_file_iter(file)
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
        .map_err(|e| Error::Runtime(e.into()))?
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

/// One IMAP step, bounded by `timeout_seconds`: a server that accepts and answers nothing is a
/// failure like any other (the caller drops the connection and tries again).
pub(super) async fn within<T>(
    m: &MailboxDef,
    what: &str,
    step: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(std::time::Duration::from_secs(m.timeout_seconds), step)
        .await
        .map_err(|_| {
            imap_err(
                m,
                format!("{what}: no answer within {} s", m.timeout_seconds),
            )
        })?
}

/// Connects, logs in and selects the folder; returns the session and the UID validity. Every
/// step together is bounded by `timeout_seconds`.
pub async fn connect(m: &MailboxDef, env: &Environment) -> Result<(Session, u32)> {
    within(m, "connect", connect_unbounded(m, env)).await
}

async fn connect_unbounded(m: &MailboxDef, env: &Environment) -> Result<(Session, u32)> {
    let (host, port, implicit) = (&m.endpoint.host, m.endpoint.port, m.endpoint.implicit_tls);
    let password = env
        .mailbox_password(&m.name)
        .map(|p| p.expose().to_string())
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
    let tls = tokio_rustls::TlsConnector::from(tls_config(env)?)
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

/// The UIDs to look at: every message of the folder, or those above `after` (the last one this
/// connection handled: what arrived since). `n:*` always names the newest message, even one
/// below `n`, so those are left out.
pub(super) async fn uids(
    session: &mut Session,
    m: &MailboxDef,
    after: Option<u32>,
) -> Result<Vec<u32>> {
    let query = match after {
        Some(last) => format!("UID {}:*", last.saturating_add(1)),
        None => "ALL".to_string(),
    };
    let mut uids: Vec<u32> = within(m, "search", async {
        session.uid_search(&query).await.map_err(|e| imap_err(m, e))
    })
    .await?
    .into_iter()
    .filter(|u| after.is_none_or(|a| *u > a))
    .collect();
    uids.sort_unstable();
    Ok(uids)
}

/// A message's size and INTERNALDATE (when the server received it), by UID.
pub(super) async fn fetch_meta(
    session: &mut Session,
    m: &MailboxDef,
    uid: u32,
) -> Result<(u32, Option<DateTime<Tz>>)> {
    let fetched = fetch(session, m, uid, "RFC822.SIZE INTERNALDATE").await?;
    Ok((
        fetched.iter().find_map(|f| f.size).unwrap_or(0),
        fetched
            .iter()
            .find_map(|f| f.internal_date())
            .map(|t| t.with_timezone(&period::TZ)),
    ))
}

/// `UID FETCH uid (UID items)`, every answer collected, bounded by the step timeout.
async fn fetch(
    session: &mut Session,
    m: &MailboxDef,
    uid: u32,
    items: &str,
) -> Result<Vec<async_imap::types::Fetch>> {
    within(m, "fetch", async {
        session
            .uid_fetch(uid.to_string(), format!("(UID {items})"))
            .await
            .map_err(|e| imap_err(m, e))?
            .try_collect()
            .await
            .map_err(|e| imap_err(m, e))
    })
    .await
}

pub(super) async fn fetch_body(session: &mut Session, m: &MailboxDef, uid: u32) -> Result<Vec<u8>> {
    fetch_part(session, m, uid, "BODY.PEEK[]").await
}

/// One part of a message by UID (`BODY.PEEK[]`, `BODY.PEEK[HEADER]`), leaving it unread.
pub(super) async fn fetch_part(
    session: &mut Session,
    m: &MailboxDef,
    uid: u32,
    part: &str,
) -> Result<Vec<u8>> {
    let fetched = fetch(session, m, uid, part).await?;
    fetched
        .iter()
        .find_map(|f| f.body().or_else(|| f.header()).map(<[u8]>::to_vec))
        .ok_or_else(|| imap_err(m, format!("UID {uid}: no body")))
}

/// Whether the server announced new mail in what it sent unasked (drained).
pub(super) fn new_mail_announced(session: &mut Session) -> bool {
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
