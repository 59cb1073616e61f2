//! The receipt a county gets for its mail (texts/receipt.txt): per attachment what the store
//! recorded of it, what is still missing and what waits for a 说明 — in the message's thread,
//! through the outbox.

use super::Place;
use crate::config::{Address, MailboxDef, Pipeline};
use crate::error::Result;
use crate::layout::DataDir;
use crate::notify;
use crate::period::{self, Period};
use crate::records::Records;
use crate::store::Outcome;
use crate::texts::contexts::{Attachment, MonthVersion, Receipt, ReceiptUnit};
use chrono::DateTime;
use chrono_tz::Tz;

/// What a receipt says besides its attachments: reasons a message's files were not taken
/// (`skipped`, one line each) and notes about the message as a whole (`notes`).
#[derive(Default)]
pub(super) struct Said {
    pub attachments: Vec<Attachment>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

/// Puts the receipt for a message into the outbox (once: its id is the message's bytes'), to the
/// sender with the unit's other contacts in copy. Returns its id. `records`: the store as read
/// for this message (None: read it here, only if the receipt is not made yet).
#[allow(clippy::too_many_arguments)]
pub(super) fn queue_receipt(
    pipeline: &Pipeline,
    (data_dir, records): (&DataDir, Option<&Records>),
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
        let read;
        let records = match records {
            Some(r) => r,
            None => {
                read = Records::open(data_dir)?;
                &read
            }
        };
        // The sender's address as its mail gave it, and the unit's others (read at load).
        let to = vec![Address::parse(from).map_err(|e| {
            crate::error::Error::Runtime(
                format!("回执：发件人 {from:?} 不是邮件地址（{}）", e.0).into(),
            )
        })?];
        let cc: Vec<Address> = unit
            .map(|u| {
                u.senders
                    .iter()
                    .filter(|a| **a != from)
                    .filter_map(|a| Address::parse(a).ok())
                    .collect()
            })
            .unwrap_or_default();
        let values = receipt_values(
            pipeline,
            records,
            unit.map(|u| u.code.as_str()),
            subject,
            said,
            (at.arrived, now),
        )?;
        let (reply_subject, text) = pipeline.texts.send(&values)?;
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
    records: &Records,
) -> Result<Attachment> {
    let files = records.files();
    let Some(f) = files
        .iter()
        .find(|f| f.file_name == recorded && f.sha256 == sha)
    else {
        return Ok(Attachment {
            n,
            name: name.to_string(),
            outcome: "waiting",
            ..Attachment::default()
        });
    };
    // The months the file brought, each with its version, in month order.
    let months: Vec<MonthVersion> = records
        .versions_of(sha)?
        .into_iter()
        .map(|(p, version)| MonthVersion {
            period_zh: p.zh(),
            version,
        })
        .collect();
    let first_seen = files
        .iter()
        .find(|e| e.sha256 == sha && e.outcome != Outcome::Duplicate)
        .map(|e| e.arrived_at.minute());
    Ok(Attachment {
        n,
        name: name.to_string(),
        outcome: f.outcome.as_str(),
        rows_accepted: f.rows_accepted,
        rows_rejected: f.rows_rejected,
        months,
        problems: f.problems.replace(recorded, name),
        first_seen,
    })
}

/// The receipt's values: the attachments, what waits for a 说明 and what is still missing.
pub(super) fn receipt_values(
    pipeline: &Pipeline,
    records: &Records,
    unit: Option<&str>,
    subject: &str,
    said: Said,
    (arrived, now): (DateTime<Tz>, DateTime<Tz>),
) -> Result<Receipt> {
    let p = pipeline;
    // The month being collected now: the one before this one.
    let period = Period::of(now.date_naive()).prev();
    let mut unit_status = None;
    if period.year() == p.year()
        && let Some(code) = unit
    {
        // That unit's own figures only: a receipt runs no analysis of every unit.
        unit_status =
            crate::status::one_unit_status(p, records, code, period, &now)?.map(|s| ReceiptUnit {
                name: s.name,
                reported: s.latest.is_some(),
                pending: s.pending,
            });
    }
    Ok(Receipt {
        heading: p.heading(),
        mail_subject: subject.to_string(),
        // When the mail reached the server (its INTERNALDATE, as the store records the
        // arrival), not when fayuan handled it.
        received: period::instant_zh(&arrived),
        period_zh: period.zh(),
        attachments: said.attachments,
        skipped: said.skipped,
        notes: said.notes,
        unit_status,
    })
}

/// What the sender wrote above the quoted message: everything before the first quote marker of
/// the usual mail programs — Outlook ("From:" / "发件人:" header block, a line of underscores),
/// Foxmail and QQ Mail ("------------------ 原始邮件 ------------------", "发件人："), NetEase
/// ("在 2025-08-03 10:00:00，"…" <…> 写道："), Gmail ("On … wrote:", "2025年8月3日周日 10:00，… 写道：")
/// — without ">" lines and trailing blank lines.
pub(super) fn own_words(body: &str) -> String {
    let marker = |l: &str| {
        let t = l.trim().trim_start_matches('\u{feff}');
        let header = |names: &[&str]| {
            names.iter().any(|n| {
                t.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('：'))
            })
        };
        t.starts_with("-----")
            || t.len() >= 8 && t.chars().all(|c| c == '_')
            || t.ends_with("写道：")
            || t.ends_with("写道:")
            || (t.starts_with("On ") && t.ends_with("wrote:"))
            || header(&["发件人", "From", "寄件者", "发件人 ", "From "])
    };
    let mut kept: Vec<&str> = body
        .lines()
        .take_while(|l| !marker(l))
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect();
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    kept.join("\n")
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
    let text: String = msg.body_text(0).map(|t| own_words(&t)).unwrap_or_default();
    match crate::supervision::answer_item(data_dir, pipeline, id, &unit.code, &text, from, now) {
        Ok(said) => Ok(vec![said]),
        Err(crate::error::Error::Refused(why)) => Ok(vec![format!(
            "本邮件是对督办事项 {id} 的回复，未记为答复：{why}。"
        )]),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::own_words;

    #[test]
    fn answers_are_cut_at_every_mail_programs_quote() {
        let answer = "已核实，12月办结数以省系统为准，已重新报送。\n\n霍邱县司法局 王芳";
        let quoted = [
            // Outlook (Chinese and English)
            "________________________________\r\n发件人: 六安市司法局 <fayuan@example.gov.cn>\r\n发送时间: 2026年1月7日 10:05\r\n主题: 督办事项 1",
            "From: 六安市司法局 <fayuan@example.gov.cn>\nSent: Wednesday, January 7, 2026 10:05 AM\nSubject: 督办事项 1",
            // Foxmail
            "发件人：\"六安市司法局\"<fayuan@example.gov.cn>\n发送时间：2026年1月7日(星期三) 上午10:05",
            // QQ Mail
            "------------------&nbsp;原始邮件&nbsp;------------------\n发件人: \"六安市司法局\"<fayuan@example.gov.cn>;",
            "------------------ 原始邮件 ------------------\n发件人: \"六安市司法局\"<fayuan@example.gov.cn>;",
            // NetEase (163/126)
            "在 2026-01-07 10:05:00，\"六安市司法局\" <fayuan@example.gov.cn> 写道：\n>督办事项 1",
            // Gmail (Chinese and English)
            "2026年1月7日周三 10:05，六安市司法局 <fayuan@example.gov.cn> 写道：\n> 督办事项 1",
            "On Wed, Jan 7, 2026 at 10:05 AM 六安市司法局 <fayuan@example.gov.cn> wrote:\n> 督办事项 1",
            // Thunderbird / plain
            "-----Original Message-----\nFrom: fayuan@example.gov.cn",
        ];
        for q in quoted {
            let body = format!("{answer}\n\n{q}\n督办事项 1：核实12月办结数（期限 2026-01-15）\n");
            assert_eq!(own_words(&body), answer, "{q}");
        }
        // Quoted lines alone ("> …") are dropped too.
        assert_eq!(own_words("好的\n> 督办事项 1\n"), "好的");
    }
}
