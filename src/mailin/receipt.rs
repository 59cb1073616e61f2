//! The receipt a county gets for its mail (texts/receipt.txt): per attachment what the store
//! recorded of it, what is still missing and what waits for a 说明 — in the message's thread,
//! through the outbox.

use super::Place;
use crate::config::{MailboxDef, Pipeline};
use crate::error::Result;
use crate::layout::DataDir;
use crate::notify;
use crate::period::{self, Period};
use crate::store::{FileEntry, Outcome, Store};
use chrono::DateTime;
use chrono_tz::Tz;
use minijinja::{Value, context};

/// What a receipt says besides its attachments: reasons a message's files were not taken
/// (`skipped`, one line each) and notes about the message as a whole (`notes`).
#[derive(Default)]
pub(super) struct Said {
    pub attachments: Vec<Value>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

/// Puts the receipt for a message into the outbox (once: its id is the message's bytes'), to the
/// sender with the unit's other contacts in copy. Returns its id.
#[allow(clippy::too_many_arguments)]
pub(super) fn queue_receipt(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    sha: &str,
    at: &Place,
    unit: Option<&crate::config::Unit>,
    (from, subject, message_id): (&str, &str, &str),
    said: Said,
) -> Result<String> {
    let now = at.now;
    let key = sha.trim_start_matches("header-");
    let id = format!("receipt-{}-{}", m.name, &key[..16.min(key.len())]);
    if !notify::exists(data_dir, pipeline, &id)? {
        let to = vec![from.to_string()];
        let cc: Vec<String> = unit
            .map(|u| u.senders.iter().filter(|a| **a != from).cloned().collect())
            .unwrap_or_default();
        let values = receipt_values(
            pipeline,
            data_dir,
            unit.map(|u| u.code.as_str()),
            subject,
            said,
            now,
        )?;
        let (reply_subject, text) = pipeline.texts.message("receipt.txt", &values)?;
        notify::post(
            data_dir,
            pipeline,
            notify::Letter {
                id: &id,
                kind: notify::MessageKind::Receipt,
                period: Period::of(now.date_naive()),
                to: &to,
                cc: &cc,
                subject: &reply_subject,
                text: &text,
                attachment: None,
                in_reply_to: Some(message_id),
            },
            now,
        )?;
    }
    Ok(id)
}

pub(super) fn data_dir_relative(data_dir: &DataDir, p: &std::path::Path) -> String {
    p.strip_prefix(data_dir.root())
        .unwrap_or(p)
        .to_string_lossy()
        .to_string()
}

/// One attachment of the receipt (number `n`), from what the store recorded of it.
pub(super) fn attachment(
    n: usize,
    name: &str,
    recorded: &str,
    sha: &str,
    files: &[FileEntry],
    rows: &[Vec<String>],
) -> Value {
    let Some(f) = files
        .iter()
        .find(|f| f.file_name == recorded && f.sha256 == sha)
    else {
        return context! { n, name, outcome => "waiting" };
    };
    // The months the file brought, each with its version, in month order.
    let mut months: Vec<(String, i64)> = rows
        .iter()
        .filter(|r| r[0] == sha)
        .map(|r| (r[1].clone(), r[2].parse().unwrap_or(1)))
        .collect();
    months.sort();
    let months: Vec<Value> = months
        .into_iter()
        .map(|(p, version)| {
            let period_zh = Period::parse(&p).map(|p| p.zh()).unwrap_or(p);
            context! { period_zh, version }
        })
        .collect();
    let first_seen = files
        .iter()
        .find(|e| e.sha256 == sha && e.outcome != Outcome::Duplicate)
        .map(|e| period::minute_text(&e.arrived_at));
    context! {
        n,
        name,
        outcome => f.outcome.as_str(),
        rows_accepted => f.rows_accepted,
        rows_rejected => f.rows_rejected,
        months,
        problems => f.problems.replace(recorded, name),
        first_seen,
    }
}

/// The receipt's values: the attachments, what waits for a 说明 and what is still missing.
pub(super) fn receipt_values(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    unit: Option<&str>,
    subject: &str,
    said: Said,
    now: DateTime<Tz>,
) -> Result<Value> {
    let p = pipeline;
    // The month being collected now: the one before this one.
    let period = Period::of(now.date_naive()).prev();
    let mut unit_status = None;
    if period.year() == p.year()
        && let Some(code) = unit
    {
        let store = Store::open(data_dir);
        let status = crate::status::unit_status(p, &store, period, &now)?;
        unit_status = status.iter().find(|s| s.code == code).map(|s| {
            context! {
                name => s.name.clone(),
                reported => s.latest.is_some(),
                pending => s.pending.clone(),
            }
        });
    }
    let d = &p.def.pipeline;
    Ok(context! {
        title => d.title.clone(),
        city => d.city.clone(),
        office => d.office.clone(),
        mail_subject => subject,
        received => period::instant_zh(&now),
        period_zh => period.zh(),
        attachments => said.attachments,
        skipped => said.skipped,
        notes => said.notes,
        unit_status,
    })
}

/// A reply to an item's 督办通知 (its In-Reply-To or References name the notice) from the unit's
/// own address is the unit's answer: recorded, and told in the receipt. Repeatable (the same
/// message handled again records nothing twice).
pub(super) fn answered_item(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    parsed: Option<&mail_parser::Message>,
    unit: Option<&crate::config::Unit>,
    from: &str,
    now: DateTime<Tz>,
) -> Result<Vec<String>> {
    let (Some(msg), Some(unit)) = (parsed, unit) else {
        return Ok(Vec::new());
    };
    let thread: Vec<&str> = msg
        .headers_raw()
        .filter(|(k, _)| {
            k.eq_ignore_ascii_case("In-Reply-To") || k.eq_ignore_ascii_case("References")
        })
        .map(|(_, v)| v)
        .collect();
    let Some(id) = crate::supervision::item_in_thread(pipeline, &thread.join(" ")) else {
        return Ok(Vec::new());
    };
    // What the unit wrote, without the quoted notice below it.
    let text: String = msg
        .body_text(0)
        .map(|t| {
            t.lines()
                .take_while(|l| {
                    !(l.starts_with("-----") || l.starts_with("在 ") && l.ends_with("写道："))
                })
                .filter(|l| !l.starts_with('>'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    match crate::supervision::answer_item(data_dir, pipeline, id, &unit.code, &text, from, now) {
        Ok(said) => Ok(vec![said]),
        Err(crate::error::Error::Refused(why)) => Ok(vec![format!(
            "本邮件是对督办事项 {id} 的回复，未记为答复：{why}。"
        )]),
        Err(e) => Err(e),
    }
}
