//! 督办事项 (supervision items): opened on a unit with a due day and told to it (its 督办通知),
//! answered by the unit (its page, or a reply to that mail), closed by the staff. Every step in
//! `supervision/items.jsonl` and on the record.

use super::{catch_up_or_log, on_record};
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::{self, Period};
use crate::records::{ItemRecord, items_ledger as items, open_items};
use chrono::DateTime;
use chrono_tz::Tz;

/// A 督办 item's due day as typed (`2025-08-15`, `2025-8-15`, `2025/8/15`, `2025年8月15日`):
/// a real day of the pipeline's year or the next (January's follow-up of December), else a
/// refusal.
pub fn due_day(pipeline: &Pipeline, typed: &str) -> Result<chrono::NaiveDate> {
    let t = typed.trim();
    let parts: Vec<&str> = t
        .trim_end_matches('日')
        .split(['-', '/', '.', '年', '月'])
        .collect();
    let number = |s: &str, most: usize| {
        (!s.is_empty() && s.len() <= most && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let day = match parts.as_slice() {
        [y, m, d] if y.len() == 4 => number(y, 4)
            .zip(number(m, 2))
            .zip(number(d, 2))
            .and_then(|((y, m), d)| chrono::NaiveDate::from_ymd_opt(y as i32, m, d)),
        _ => None,
    };
    let year = pipeline.year();
    match day {
        Some(d) if (year..=year + 1).contains(&chrono::Datelike::year(&d)) => Ok(d),
        _ => Err(Error::Usage(format!(
            "--due {typed:?}: 期限应为{year}年或{}年的一天，如 {year}-08-15",
            year + 1
        ))),
    }
}

/// What `fayuan supervise` was given for a new item.
pub struct Item<'a> {
    pub unit: Option<&'a str>,
    pub text: Option<&'a str>,
    pub due: Option<&'a str>,
}

/// An item's opening, answer or closing as the record says it.
/// One step of an item: on its ledger, then on the record (a kill between the two is mended by
/// the record's catch-up from the ledger).
fn take_step(data_dir: &DataDir, year: i32, r: &ItemRecord) -> Result<()> {
    items(data_dir).append(r)?;
    crate::faults::point("supervision-ledger", &data_dir.supervision_items())?;
    let all = items(data_dir).read()?;
    let k = all.len().saturating_sub(1);
    on_record(data_dir, year, r.at, item_event(&all, k))
}

pub(super) fn item_event(records: &[ItemRecord], k: usize) -> crate::audit::New {
    let r = &records[k];
    let (kind, key, what) = if r.answer {
        (
            "supervision_answered",
            super::distinct(records, k, |x| {
                if x.answer {
                    format!("item {} answered {}", x.id, x.at.minute())
                } else {
                    String::new()
                }
            }),
            format!("答复督办事项 {}：{}", r.id, r.text),
        )
    } else if r.close {
        (
            "supervision_closed",
            format!("item {} closed", r.id),
            format!("办结督办事项 {}：{}", r.id, r.text),
        )
    } else {
        (
            "supervision_opened",
            format!("item {} opened", r.id),
            format!("交办督办事项 {}：{}（期限 {}）", r.id, r.text, r.due),
        )
    };
    crate::audit::New {
        kind,
        key,
        unit: r.unit.clone(),
        period: String::new(),
        who: r.by.clone(),
        what,
    }
}

/// `fayuan supervise`: opens an item on a unit (its unit, text and due day), closes item
/// `close`, or (given neither) lists the open ones. Every opening and closing is on the record.
pub fn supervise(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    item: Item,
    close: Option<u32>,
    by: &str,
    now: DateTime<Tz>,
) -> Result<(String, Option<String>)> {
    catch_up_or_log(data_dir, pipeline);
    let name = |code: &str| {
        pipeline
            .unit(code)
            .map_or(code.to_string(), |u| u.name.clone())
    };
    if let Some(id) = close {
        let Some(open) = open_items(data_dir, now)?.into_iter().find(|i| i.id == id) else {
            return Err(Error::Usage(format!(
                "--close {id}: no open supervision item {id}"
            )));
        };
        let r = ItemRecord {
            at: now.into(),
            id,
            unit: open.unit.clone(),
            text: open.text.clone(),
            due: open.due.clone(),
            by: by.to_string(),
            close: true,
            answer: false,
        };
        take_step(data_dir, pipeline.year(), &r)?;
        return Ok((
            format!("督办事项 {id}（{}）已办结。", name(&open.unit)),
            None,
        ));
    }
    let (Some(unit), Some(text), Some(due)) = (item.unit, item.text, item.due) else {
        return Ok((list_items(data_dir, now, &name)?, None));
    };
    let unit = super::known_unit(pipeline, unit)?.code.as_str();
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 500 {
        return Err(Error::Usage("--text: the item, 1 to 500 characters".into()));
    }
    let due = due_day(pipeline, due)?.format("%Y-%m-%d").to_string();
    let id = items(data_dir)
        .read()?
        .iter()
        .map(|r| r.id)
        .max()
        .unwrap_or(0)
        + 1;
    let r = ItemRecord {
        at: now.into(),
        id,
        unit: unit.to_string(),
        text: text.to_string(),
        due: due.to_string(),
        by: by.to_string(),
        close: false,
        answer: false,
    };
    take_step(data_dir, pipeline.year(), &r)?;
    let notice = item_notice(data_dir, pipeline, &r, now)?;
    Ok((
        format!(
            "已交办督办事项 {id}：{}——{text}（期限 {due}）。",
            name(unit)
        ),
        notice,
    ))
}

/// The outbox id of an item's 督办通知 (its Message-ID names it, so a reply finds the item).
pub fn item_notice_id(id: u32) -> String {
    format!("item-{id}")
}

/// The item a message answers: the one whose 督办通知 its In-Reply-To or References name.
pub fn item_in_thread(pipeline: &Pipeline, headers: &str) -> Option<u32> {
    let tail = format!(".{}@fayuan>", pipeline.name());
    headers.split('<').skip(1).find_map(|h| {
        let inner = h.split('>').next()?;
        let id = format!("<{inner}>")
            .strip_suffix(&tail)?
            .strip_prefix("<item-")?
            .to_string();
        id.parse().ok()
    })
}

/// The unit's 督办通知 (texts/supervision.txt) in the outbox, to its contact with the data staff
/// in copy (none when the unit has no contact: the item is on its page).
pub(super) fn item_notice(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    r: &ItemRecord,
    now: DateTime<Tz>,
) -> Result<Option<String>> {
    let Some(u) = pipeline.unit(&r.unit) else {
        return Ok(None);
    };
    let Some(contact) = u.contact.clone() else {
        return Ok(None);
    };
    let id = item_notice_id(r.id);
    let (subject, text) = pipeline.texts.send(&crate::texts::contexts::Supervision {
        heading: pipeline.heading(),
        id: r.id,
        unit: u.name.clone(),
        due: r.due.clone(),
        text: r.text.clone(),
        now: period::instant_zh(&now),
    })?;
    crate::notify::post(
        data_dir,
        pipeline,
        crate::notify::Letter {
            id: &id,
            kind: crate::notify::MessageKind::Supervision,
            period: Period::of(now.date_naive()),
            to: std::slice::from_ref(&contact),
            cc: &pipeline.addresses.cc,
            subject: &subject,
            text: &text,
            attachment: None,
            in_reply_to: None,
        },
        now,
    )?;
    Ok(Some(id))
}

/// The most an answer keeps of what the unit wrote.
pub const MAX_ANSWER_CHARS: usize = 2000;

/// A unit's answer to an open item of its own (through its page, or a reply to the item's
/// mail): recorded and on the record, with who. An item that is not open, or not the unit's,
/// takes no answer.
pub fn answer_item(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    id: u32,
    unit: &str,
    text: &str,
    by: &str,
    now: DateTime<Tz>,
) -> Result<String> {
    catch_up_or_log(data_dir, pipeline);
    let Some(open) = open_items(data_dir, now)?
        .into_iter()
        .find(|i| i.id == id && i.unit == unit)
    else {
        return Err(Error::Refused(format!(
            "督办事项 {id} 不是本单位未办结的事项"
        )));
    };
    let text: String = text.trim().chars().take(MAX_ANSWER_CHARS).collect();
    if text.is_empty() {
        return Err(Error::Refused("答复内容为空".into()));
    }
    let said = format!("督办事项 {id} 的答复已收到，待市局审阅后办结。");
    // The same answer again (a message handled again after a crash): recorded once.
    if items(data_dir)
        .read()?
        .iter()
        .any(|a| a.answer && a.id == id && a.by == by && a.text == text)
    {
        return Ok(said);
    }
    let r = ItemRecord {
        at: now.into(),
        id,
        unit: unit.to_string(),
        text,
        due: open.due,
        by: by.to_string(),
        close: false,
        answer: true,
    };
    take_step(data_dir, pipeline.year(), &r)?;
    Ok(said)
}

/// The open items, a line each.
fn list_items(
    data_dir: &DataDir,
    now: DateTime<Tz>,
    name: &dyn Fn(&str) -> String,
) -> Result<String> {
    let open = open_items(data_dir, now)?;
    if open.is_empty() {
        return Ok("没有未办结的督办事项。".into());
    }
    Ok(open
        .iter()
        .map(|i| {
            format!(
                "{}. {}：{}（期限 {}{}；{} 于 {} 交办）",
                i.id,
                name(&i.unit),
                i.text,
                i.due,
                if i.overdue { "，已逾期" } else { "" },
                i.by,
                i.opened
            ) + &i
                .answers
                .iter()
                .map(|a| format!("\n   答复：{a}"))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n"))
}
