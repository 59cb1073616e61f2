//! Messages as bytes: the digest (text and HTML, the chart inline, the workbook attached), plain
//! notices with an optional workbook, and receipts in a county's thread. lettre's builder does
//! the MIME; this module only says what goes where.

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::report::Manifest;
use chrono::DateTime;
use chrono_tz::Tz;
use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Message, MultiPart, SinglePart};
use std::fs;
use std::path::Path;

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

fn message_error(id: &str, message: String) -> Error {
    Error::Message {
        id: id.to_string(),
        source: message.into(),
    }
}

/// Who a message is from and to, and what it is about.
pub struct Envelope<'a> {
    pub id: &'a str,
    pub to: &'a [crate::config::Address],
    pub cc: &'a [crate::config::Address],
    pub subject: &'a str,
    pub now: DateTime<Tz>,
}

/// A message's envelope from the pipeline's sender: subject, Message-ID, date, recipients.
fn addressed(pipeline: &Pipeline, e: &Envelope) -> Result<lettre::message::MessageBuilder> {
    let mut b = Message::builder()
        .from(pipeline.addresses.from.mailbox().clone())
        .subject(e.subject)
        .message_id(Some(message_id(pipeline, e.id)))
        .date(e.now.into());
    for a in e.to {
        b = b.to(a.mailbox().clone());
    }
    for a in e.cc {
        b = b.cc(a.mailbox().clone());
    }
    Ok(b)
}

/// The Message-ID fayuan gives a message of its outbox: `<id.pipeline@fayuan>`.
pub fn message_id(pipeline: &Pipeline, id: &str) -> String {
    format!("<{id}.{}@fayuan>", pipeline.name())
}

/// A receipt: plain text in the thread of the county's message (In-Reply-To, References),
/// marked `Auto-Submitted: auto-replied`.
pub fn receipt(
    pipeline: &Pipeline,
    e: &Envelope,
    text: &str,
    in_reply_to: &str,
) -> Result<Vec<u8>> {
    let thread = format!("<{}>", in_reply_to.trim_matches(['<', '>']));
    let b = addressed(pipeline, e)?
        .in_reply_to(thread.clone())
        .references(thread)
        .header(AutoSubmitted);
    let msg = b
        .singlepart(SinglePart::plain(text.to_string()))
        .map_err(|err| message_error(e.id, err.to_string()))?;
    Ok(msg.formatted())
}

/// A plain-text message (reminders, notices, returns), with a workbook attached when one is
/// given (a reminder carries the unit's template for the month), in a thread when one is given.
pub fn plain(
    pipeline: &Pipeline,
    e: &Envelope,
    text: &str,
    attachment: Option<(&str, Vec<u8>)>,
    in_reply_to: Option<&str>,
) -> Result<Vec<u8>> {
    let bad = |message: String| message_error(e.id, message);
    let mut b = addressed(pipeline, e)?;
    if let Some(t) = in_reply_to {
        let thread = format!("<{}>", t.trim_matches(['<', '>']));
        b = b.in_reply_to(thread.clone()).references(thread);
    }
    let msg = match attachment {
        None => b.singlepart(SinglePart::plain(text.to_string())),
        Some((name, bytes)) => b.multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text.to_string()))
                .singlepart(office_part(name, XLSX, bytes).map_err(bad)?),
        ),
    }
    .map_err(|err| bad(err.to_string()))?;
    Ok(msg.formatted())
}

/// A workbook as an attachment under its Chinese name (RFC 2231 in Content-Disposition, an RFC
/// 2047 `name=` in Content-Type for older clients).
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

fn office_part(name: &str, mime: &str, bytes: Vec<u8>) -> std::result::Result<SinglePart, String> {
    let ct = ContentType::parse(&format!("{mime}; name=\"{}\"", encoded_word(name)))
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

/// The digest as a whole MIME message: text and HTML alternatives, the chart inline
/// (cid:chart), the workbook attached under its Chinese name. With `without_workbook`, the
/// workbook stays behind and both bodies begin with `without_workbook`'s words (the form sent
/// when a server refuses the message as too large).
pub fn digest(
    pipeline: &Pipeline,
    m: &Manifest,
    run_dir: &Path,
    e: &Envelope,
    without_workbook: Option<&str>,
) -> Result<Vec<u8>> {
    let read = |name: &str| {
        fs::read(run_dir.join(name)).map_err(|err| Error::io(&run_dir.join(name), err))
    };
    let bad = |what: String| Error::Report {
        path: run_dir.to_path_buf(),
        source: what.into(),
    };
    let b = addressed(pipeline, e)?;
    let mut html = String::from_utf8_lossy(&read(&m.digest.html)?)
        .replace("src=\"chart.png\"", "src=\"cid:chart\"");
    let mut text = String::from_utf8_lossy(&read(&m.digest.text)?).into_owned();
    if let Some(note) = without_workbook {
        text = format!("{note}\n\n{text}");
        let escaped = note
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let p = format!(
            "<p style=\"background:{};padding:8px;\">{escaped}</p>",
            crate::palette::INPUT_FILL.css()
        );
        html = match html
            .find("<body")
            .and_then(|i| html[i..].find('>').map(|j| i + j + 1))
        {
            Some(at) => format!("{}{p}{}", &html[..at], &html[at..]),
            None => format!("{p}{html}"),
        };
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(text))
        .singlepart(SinglePart::html(html));
    let body = match &m.digest.chart {
        Some(chart) => MultiPart::related().multipart(alternative).singlepart(
            Attachment::new_inline("chart".into()).body(
                read(chart)?,
                ContentType::parse("image/png").map_err(|err| bad(err.to_string()))?,
            ),
        ),
        None => alternative,
    };
    let mut mixed = MultiPart::mixed().multipart(body);
    if without_workbook.is_none() {
        for name in m
            .digest
            .attachment
            .iter()
            .chain(&m.digest.review_attachment)
        {
            mixed = mixed.singlepart(office_part(name, XLSX, read(name)?).map_err(bad)?);
        }
        for name in m
            .digest
            .notice_attachment
            .iter()
            .chain(&m.digest.acceptance_attachment)
        {
            mixed = mixed.singlepart(office_part(name, DOCX, read(name)?).map_err(bad)?);
        }
    }
    let msg = b.multipart(mixed).map_err(|err| bad(err.to_string()))?;
    Ok(msg.formatted())
}
