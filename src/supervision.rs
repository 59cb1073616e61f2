//! 指导督促 (issue 25): a unit's month returned for correction (退回). The data staff return it
//! with a reason (`fayuan return`); the unit's contacts get a 退回通知 with the month's template;
//! `status` and the unit's page show 已退回待修改 with the reason until a new version of that month
//! arrives, which closes it; `fayuan return --cancel` withdraws it. Every return and withdrawal is
//! on the record (工作台账).
//!
//! Invariants: the returns are an append-only ledger (`supervision/returns.jsonl`); whether a
//! return is open is decided from that ledger and the store alone (the last word on the
//! unit-month is a return, and no file with that unit's rows for that month was accepted after
//! it); a return's notice is one message, made once (its id is the return's).

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::{self, Moment, Period};
use crate::records::{
    ConfirmRecord, ReturnRecord, accepted_after, confirms_ledger as confirms, last_words, locks,
    open_returns, returns_ledger as ledger,
};
use crate::store::{FileEntry, Store};
use chrono::DateTime;
use chrono_tz::Tz;

mod items;
mod notes;

use crate::records::items_ledger as items;
pub use items::*;
use items::{item_event, item_notice};
pub use notes::*;

/// A unit named by a person (its code or name), or a refusal that says which units there are.
pub(crate) fn known_unit<'p>(
    pipeline: &'p Pipeline,
    unit: &str,
) -> Result<&'p crate::config::Unit> {
    pipeline.find_unit(unit).ok_or_else(|| {
        Error::Usage(format!(
            "--unit {unit}: 不是 {} 的报送单位（可用单位代码或名称：{}）",
            pipeline.name(),
            pipeline
                .units
                .iter()
                .map(|u| format!("{} {}", u.code, u.name))
                .collect::<Vec<_>>()
                .join("、")
        ))
    })
}

/// A month of the pipeline's year, or a refusal: a return or confirmation of another year's
/// month is not this pipeline's to make.
fn month_of_the_year(pipeline: &Pipeline, period: Period) -> Result<()> {
    if period.year() != pipeline.year() {
        return Err(Error::Usage(format!(
            "--period {period}: 不是 {} 的统计月份（{}年1—12月）",
            pipeline.name(),
            pipeline.year()
        )));
    }
    Ok(())
}

/// `fayuan return` from the command line: the return, its notice sent at once (what cannot be
/// sent now waits in the outbox for the delivery rounds), and what happened, in words.
pub fn run_return(
    ctx: &crate::app::Context,
    unit: &str,
    period: Period,
    reason: &str,
    by: &str,
    cancel: bool,
) -> Result<String> {
    let p = &ctx.pipeline;
    let id = return_month(
        &ctx.data_dir,
        p,
        Returned {
            unit,
            period,
            reason,
            by,
            cancel,
        },
        ctx.now(),
    )?;
    let name = p.unit(unit).map_or(unit.to_string(), |u| u.name.clone());
    let Some(id) = id else {
        return Ok(if cancel {
            format!("已撤销对{name}{}的退回。", period.zh())
        } else {
            format!(
                "已退回{name}{}（该单位无联系邮箱，未发通知）。",
                period.zh()
            )
        });
    };
    Ok(match deliver_now(ctx, &id) {
        Ok(false) => format!(
            "已退回{name}{}；未配置 SMTP 服务器，退回通知已写入发件箱（{id}）。",
            period.zh()
        ),
        Ok(true) => format!("已退回{name}{}，退回通知已发出（{id}）。", period.zh()),
        Err(e) => format!(
            "已退回{name}{}；退回通知暂未送达，已留在发件箱中自动重试（{e}）。",
            period.zh()
        ),
    })
}

/// A return as a person asks for it: the unit, the month, why, who, whether it withdraws one.
#[derive(Debug, Clone, Copy)]
pub struct Returned<'a> {
    pub unit: &'a str,
    pub period: Period,
    pub reason: &'a str,
    pub by: &'a str,
    pub cancel: bool,
}

/// Sends a message of the outbox at once: Ok when it reached every recipient (Ok(false): no
/// SMTP server is set, it was written to the outbox as .eml); else why not (what was not sent
/// waits in the outbox for the delivery rounds). Called under the write lock, as every delivery
/// is (so the daemon's round never sends the same message at the same time).
pub fn deliver_now(ctx: &crate::app::Context, id: &str) -> Result<bool> {
    let settings = crate::notify::Settings::resolve(&ctx.pipeline, ctx.clock)?;
    let done = crate::app::runtime()?.block_on(crate::notify::deliver_message(
        &ctx.data_dir,
        &ctx.pipeline,
        id,
        &settings,
    ))?;
    let why: Vec<String> = done
        .failed
        .iter()
        .chain(&done.gave_up)
        .map(|(_, to, why)| format!("{to}: {why}"))
        .collect();
    if done.unreachable || !why.is_empty() {
        return Err(Error::Undelivered(if why.is_empty() {
            "the mail server could not be reached".into()
        } else {
            why.join("; ")
        }));
    }
    Ok(done.to_outbox.is_empty())
}

/// `fayuan return`: records the return (or, with `cancel`, its withdrawal), puts it on the
/// record, and (a return) makes the unit's 退回通知 with the month's template. Returns the
/// notice's id, if one was made.
pub fn return_month(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    r: Returned,
    now: DateTime<Tz>,
) -> Result<Option<String>> {
    let Returned {
        unit,
        period,
        reason,
        by,
        cancel,
    } = r;
    catch_up_or_log(data_dir, pipeline);
    let u = known_unit(pipeline, unit)?;
    let unit = u.code.as_str();
    month_of_the_year(pipeline, period)?;
    let reason = reason.trim();
    if !cancel && (reason.is_empty() || reason.chars().count() > 500) {
        return Err(Error::Usage(
            "--reason: why the month is returned, 1 to 500 characters".into(),
        ));
    }
    let files = Store::open(data_dir).files()?;
    if !cancel
        && accepted_after(&files, unit, &period.to_string(), "")
            .next()
            .is_none()
    {
        return Err(Error::Usage(format!(
            "{}{}尚未报送，没有可退回的数据（--unit {unit} --period {period}）",
            u.name,
            period.zh()
        )));
    }
    let open = open_returns(data_dir, &files)?
        .into_iter()
        .any(|r| r.unit == unit && r.period == period.to_string());
    if cancel && !open {
        return Err(Error::Usage(format!(
            "{} {}: no open return to withdraw",
            u.name,
            period.zh()
        )));
    }
    let record = ReturnRecord {
        at: now.into(),
        unit: unit.to_string(),
        period: period.to_string(),
        reason: reason.to_string(),
        by: by.to_string(),
        cancel,
    };
    ledger(data_dir).append(&record)?;
    crate::faults::point("supervision-ledger", &data_dir.returns())?;
    let all = ledger(data_dir).read()?;
    let k = all.len().saturating_sub(1);
    on_record(
        data_dir,
        pipeline.year(),
        record.at,
        return_event(pipeline, &all, k),
    )?;
    if cancel {
        return Ok(None);
    }
    let id = return_notice_id(&all, k);
    return_notice(data_dir, pipeline, u, period, reason, &files, (now, &id))
}

/// The unit's 退回通知 (texts/return.txt) with the month's template, in the outbox — in the
/// thread of the mail that brought the unit's figures for the month, when they came by mail:
/// its id, or None when the unit has no contact.
fn return_notice(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    u: &crate::config::Unit,
    period: Period,
    reason: &str,
    files: &[FileEntry],
    (now, id): (DateTime<Tz>, &str),
) -> Result<Option<String>> {
    let unit = u.code.as_str();
    let thread = crate::records::thread_of(pipeline, data_dir, files, unit, &period.to_string())?;
    let Some(contact) = u.contact.clone() else {
        tracing::warn!(unit = %u.name, "no contact: the return is recorded, no notice sent");
        return Ok(None);
    };
    let (subject, text) = pipeline.texts.send(&crate::texts::contexts::Return {
        heading: pipeline.heading(),
        unit: u.name.clone(),
        period_zh: period.zh(),
        reason: reason.to_string(),
        now: period::instant_zh(&now),
    })?;
    let template = crate::report::template::render(pipeline, u, period)?;
    let template_name = crate::report::template::file_name(u, period);
    crate::notify::post(
        data_dir,
        pipeline,
        crate::notify::Letter {
            id: &id,
            kind: crate::notify::MessageKind::Return,
            period,
            to: std::slice::from_ref(&contact),
            cc: &pipeline.addresses.cc,
            subject: &subject,
            text: &text,
            attachment: Some((&template_name, template)),
            in_reply_to: thread.as_deref(),
        },
        now,
    )?;
    Ok(Some(id.to_string()))
}

/// A return or its withdrawal as the record says it.
fn return_event(pipeline: &Pipeline, records: &[ReturnRecord], k: usize) -> crate::audit::New {
    let r = &records[k];
    let name = pipeline
        .unit(&r.unit)
        .map_or(r.unit.clone(), |u| u.name.clone());
    let month = Period::parse(&r.period).map_or(r.period.clone(), |p| p.zh());
    crate::audit::New {
        kind: if r.cancel {
            "return_cancelled"
        } else {
            "returned"
        },
        key: distinct(records, k, |r| {
            format!("return {} {} {}", r.unit, r.period, r.at.minute())
        }),
        unit: r.unit.clone(),
        period: r.period.clone(),
        who: r.by.clone(),
        what: if r.cancel {
            format!("撤销对{name}{month}的退回")
        } else {
            format!("退回{name}{month}：{}", r.reason)
        },
    }
}

/// A confirmation as the record says it.
fn confirm_event(pipeline: &Pipeline, records: &[ConfirmRecord], k: usize) -> crate::audit::New {
    let r = &records[k];
    let name = pipeline
        .unit(&r.unit)
        .map_or(r.unit.clone(), |u| u.name.clone());
    let month = Period::parse(&r.period).map_or(r.period.clone(), |p| p.zh());
    crate::audit::New {
        kind: "confirmed",
        key: distinct(records, k, |r| {
            format!("confirm {} {} {}", r.unit, r.period, r.at.minute())
        }),
        unit: r.unit.clone(),
        period: r.period.clone(),
        who: r.by.clone(),
        what: format!("确认{name}{month}（此前收到的版本锁定使用）"),
    }
}

/// A step's key (on the record, in the outbox) from what identifies it: `base` of the ledger's
/// line `k` — and, when an earlier line has the same base (two steps in the same minute or
/// second), its place in the ledger too, so no step is taken for another and dropped.
pub(crate) fn distinct<T>(records: &[T], k: usize, base: impl Fn(&T) -> String) -> String {
    let b = base(&records[k]);
    if records[..k].iter().any(|r| base(r) == b) {
        format!("{b} #{k}")
    } else {
        b
    }
}

/// Puts one step on the record at the time it was taken.
fn on_record(data_dir: &DataDir, year: i32, at: Moment, e: crate::audit::New) -> Result<()> {
    crate::audit::record(data_dir, year, at, vec![e]).map(|_| ())
}

/// Every step of the three ledgers (returns, confirmations, items) on the record: a step whose
/// record a crash (or a full disk) left out between its ledger and the record is recorded now,
/// once, at its own time. Run before each new step. Returns how many were missing.
pub fn catch_up_record(data_dir: &DataDir, pipeline: &Pipeline) -> Result<usize> {
    let mut steps: Vec<(Moment, crate::audit::New)> = Vec::new();
    let (returns, confirmed, all_items) = (
        ledger(data_dir).read()?,
        confirms(data_dir).read()?,
        items(data_dir).read()?,
    );
    steps.extend(
        returns
            .iter()
            .enumerate()
            .map(|(k, r)| (r.at, return_event(pipeline, &returns, k))),
    );
    steps.extend(
        confirmed
            .iter()
            .enumerate()
            .map(|(k, r)| (r.at, confirm_event(pipeline, &confirmed, k))),
    );
    steps.extend(
        all_items
            .iter()
            .enumerate()
            .map(|(k, r)| (r.at, item_event(&all_items, k))),
    );
    let (given, signed) = (notes::note_steps(data_dir)?, notes::sign_steps(data_dir)?);
    steps.extend(
        given
            .iter()
            .enumerate()
            .map(|(k, r)| (r.at, notes::note_event(pipeline, &given, k))),
    );
    steps.extend(
        signed
            .iter()
            .enumerate()
            .map(|(k, r)| (r.at, notes::sign_event(pipeline, &signed, k))),
    );
    // The pipeline's year holds its follow-up; its neighbours what was recorded by date before.
    let year = pipeline.year();
    let mut keys = std::collections::HashSet::new();
    for y in [year - 1, year, year + 1] {
        keys.extend(
            crate::audit::events(data_dir, y)?
                .into_iter()
                .map(|e| e.key),
        );
    }
    let mut missing = 0;
    for (at, e) in steps {
        if keys.contains(&e.key) {
            continue;
        }
        tracing::warn!(key = %e.key, "the record lacked a 指导督促 step: recorded now");
        on_record(data_dir, pipeline.year(), at, e)?;
        missing += 1;
    }
    catch_up_notices(data_dir, pipeline)?;
    Ok(missing)
}

/// [`catch_up_record`] before a new step: a catch-up that fails (a notice that cannot be made,
/// the record unreadable) is logged and tried again at the next step or daemon ingest — it
/// never stops the step a person asked for.
pub(crate) fn catch_up_or_log(data_dir: &DataDir, pipeline: &Pipeline) {
    if let Err(e) = catch_up_record(data_dir, pipeline) {
        tracing::error!(error = %e, "the record's catch-up of 指导督促 failed; tried again later");
    }
}

/// The 退回通知 of every open return and the 督办通知 of every open item in the outbox: one a crash
/// left unmade between the ledger and the outbox is made now, with the id it would have had (the
/// step's own time), so it is never made twice.
fn catch_up_notices(data_dir: &DataDir, pipeline: &Pipeline) -> Result<()> {
    let records = ledger(data_dir).read()?;
    let all = items(data_dir).read()?;
    // Most of the time there is nothing to look at: the store is not read for it.
    if records.is_empty() && all.is_empty() {
        return Ok(());
    }
    let files = Store::open(data_dir).files()?;
    // The messages ever made (the delivery ledger, read once).
    let made: std::collections::HashSet<String> =
        crate::notify::messages(&crate::notify::ledger(data_dir, pipeline).read()?)
            .into_iter()
            .map(|m| m.id)
            .collect();
    for r in last_words(&records).into_iter().filter(|r| !r.cancel) {
        let (Some(u), Some(period)) = (pipeline.unit(&r.unit), Period::parse(&r.period)) else {
            continue;
        };
        let at = period::instant_text(&r.at.0);
        let still_open = accepted_after(&files, &r.unit, &r.period, &at)
            .next()
            .is_none();
        let k = records
            .iter()
            .position(|x| std::ptr::eq(x, r))
            .unwrap_or_default();
        let id = return_notice_id(&records, k);
        if still_open && !made.contains(&id) {
            return_notice(
                data_dir,
                pipeline,
                u,
                period,
                &r.reason,
                &files,
                (r.at.0, &id),
            )?;
        }
    }
    for r in all.iter().filter(|r| !r.close && !r.answer) {
        let closed = all.iter().any(|c| c.close && c.id == r.id);
        if !closed && !made.contains(&item_notice_id(r.id)) {
            item_notice(data_dir, pipeline, r, r.at.0)?;
        }
    }
    Ok(())
}

/// The outbox id of the 退回通知 of the returns' ledger line `k` (the time of the return; its
/// place in the ledger too when an earlier return has the same second).
fn return_notice_id(records: &[ReturnRecord], k: usize) -> String {
    distinct(records, k, |r| {
        format!(
            "return-{}-{}-{}",
            r.unit,
            r.period,
            r.at.0.format("%Y%m%dT%H%M%S")
        )
    })
    .replace(" #", "-")
}

/// `fayuan confirm`: the unit's month as it stands now is accepted and locked (已确认); a later
/// version waits as 待确认的更正 until the month is confirmed again. On the record.
pub fn confirm(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    unit: &str,
    period: Period,
    by: &str,
    now: DateTime<Tz>,
) -> Result<String> {
    catch_up_or_log(data_dir, pipeline);
    let u = known_unit(pipeline, unit)?;
    let unit = u.code.as_str();
    month_of_the_year(pipeline, period)?;
    let files = Store::open(data_dir).files()?;
    let month = period.to_string();
    let has = accepted_after(&files, unit, &month, "").next().is_some();
    if !has {
        return Err(Error::Usage(format!(
            "{}{}: nothing received to confirm",
            u.name,
            period.zh()
        )));
    }
    let r = ConfirmRecord {
        at: now.into(),
        unit: unit.to_string(),
        period: period.to_string(),
        by: by.to_string(),
    };
    confirms(data_dir).append(&r)?;
    crate::faults::point("supervision-ledger", &data_dir.confirms())?;
    let all = confirms(data_dir).read()?;
    let k = all.len().saturating_sub(1);
    on_record(
        data_dir,
        pipeline.year(),
        r.at,
        confirm_event(pipeline, &all, k),
    )?;
    Ok(format!("已确认{}{}。", u.name, period.zh()))
}

/// What a county is told of the files it just sent (receipt, upload result), as 指导督促 sees
/// them: the returns they closed, and the months they correct that were confirmed (the new
/// version waits for the staff).
pub fn notes_for(data_dir: &DataDir, files: &[FileEntry], shas: &[String]) -> Result<Vec<String>> {
    let zh = |m: &str| Period::parse(m).map_or(m.to_string(), |p| p.zh());
    let mut out: Vec<String> = closed_by(data_dir, files, shas)?
        .into_iter()
        .map(|(_, month, reason)| {
            format!(
                "{}数据此前被退回修改（{reason}），本次报送的新版本已收到，该退回已办结。",
                zh(&month)
            )
        })
        .collect();
    for (unit, month, at) in locks(data_dir)? {
        if accepted_after(files, &unit, &month, &at).any(|f| shas.contains(&f.sha256)) {
            out.push(format!(
                "{}数据此前已经市局确认，本次报送的新版本已收到，作为待确认的更正，经市局确认后采用。",
                zh(&month)
            ));
        }
    }
    Ok(out)
}

/// The returns that files with these SHA-256s closed (the first file accepted for the returned
/// unit-month after the return is one of them): (unit, month, reason).
pub fn closed_by(
    data_dir: &DataDir,
    files: &[FileEntry],
    shas: &[String],
) -> Result<Vec<(String, String, String)>> {
    let records = ledger(data_dir).read()?;
    Ok(last_words(&records)
        .into_iter()
        .filter(|r| !r.cancel)
        .filter(|r| {
            let at = period::instant_text(&r.at.0);
            accepted_after(files, &r.unit, &r.period, &at)
                .min_by(|a, b| a.arrived_at.cmp(&b.arrived_at))
                .is_some_and(|f| shas.contains(&f.sha256))
        })
        .map(|r| (r.unit.clone(), r.period.clone(), r.reason.clone()))
        .collect())
}
