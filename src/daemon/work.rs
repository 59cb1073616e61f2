//! The daemon's jobs — ingest (with the HTTP sources), the reminder rounds, the monthly report —
//! and its notices to the data staff. Each job only puts messages into the outbox; the delivery
//! round after the jobs sends them.

use crate::app::Context;
use crate::error::{Error, Result};
use crate::period::{self, Period};
use crate::schedule::Job;
use crate::{ingest, lock, notify, run, sources, status};
use chrono::DateTime;
use chrono_tz::Tz;

pub(super) async fn run_job(ctx: &Context, job: &Job, now: DateTime<Tz>) -> Result<String> {
    let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
    match job {
        Job::Ingest => {
            let polled = sources::poll(
                &ctx.pipeline,
                &ctx.data_dir,
                Period::of(now.date_naive()).prev(),
                now,
            )
            .await?;
            let summary = tokio::task::block_in_place(|| {
                let _lock = lock::acquire(&ctx.data_dir, wait, "daemon ingest")?;
                ingest::ingest(&ctx.pipeline, &ctx.data_dir, now)
            })?;
            let failed: Vec<String> = polled
                .iter()
                .filter(|(_, s)| s.result == sources::Polled::Failed)
                .map(|(n, s)| format!("{n}: {}", s.detail))
                .collect();
            Ok(format!(
                "{} files taken; sources: {} polled{}",
                summary.files.len(),
                polled.len(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(", failed: {}", failed.join("; "))
                }
            ))
        }
        Job::Remind { period, fired } => remind(ctx, *period, *fired, now, wait).await,
        Job::Report { period, .. } => {
            let ctx_now = ctx.at(now);
            // Built and queued under the lock; delivered by the round that follows (and, if
            // that fails, by later rounds — the report is never built again for it).
            let built = tokio::task::block_in_place(|| {
                let _lock = lock::acquire(&ctx.data_dir, wait, "daemon report")?;
                ingest::ingest(&ctx.pipeline, &ctx.data_dir, now)?;
                let built = run::build_report(&ctx_now, *period)?;
                notify::queue(
                    &ctx.data_dir,
                    &ctx.pipeline,
                    *period,
                    &built.dir,
                    now,
                    false,
                )?;
                Ok::<_, Error>(built)
            })?;
            run::webhooks(&ctx_now, &built).await;
            Ok(format!("{} — queued for delivery", built.subject))
        }
    }
}

/// Puts a reminder into the outbox for each unit that has not reported for `period`, at most once
/// per (unit, period, day); the delivery round sends them.
pub(super) async fn remind(
    ctx: &Context,
    period: Period,
    fired: DateTime<Tz>,
    now: DateTime<Tz>,
    wait: std::time::Duration,
) -> Result<String> {
    let p = &ctx.pipeline;
    let _lock =
        tokio::task::block_in_place(|| lock::acquire(&ctx.data_dir, wait, "daemon reminder"))?;
    let store = crate::store::Store::open(&ctx.data_dir);
    let statuses = status::unit_status(p, &store, period, &now)?;
    let mut queued = Vec::new();
    let mut problems = Vec::new();
    for s in statuses.iter().filter(|s| s.latest.is_none()) {
        let Some(contact) = p.unit(&s.code).and_then(|u| u.contact.clone()) else {
            problems.push(format!("{} has no contact", s.name));
            continue;
        };
        let id = format!(
            "remind-{period}-d{:02}-{}",
            chrono::Datelike::day(&fired),
            s.code
        );
        if notify::exists(&ctx.data_dir, p, &id)? {
            continue;
        }
        let (subject, text) = reminder_text(p, &s.code, &s.name, period, now);
        // The unit's fill-in template for the month rides along.
        let unit = p
            .unit(&s.code)
            .ok_or_else(|| Error::Usage(format!("unit {}", s.code)))?;
        let template = crate::report::template::render(p, unit, period)?;
        let template_name = crate::report::template::file_name(unit, period);
        let to = std::slice::from_ref(&contact);
        let msg = notify::mime::plain(
            p,
            &notify::mime::Envelope {
                id: &id,
                to,
                cc: &p.def.email.cc,
                subject: &subject,
                now,
            },
            &text,
            Some((&template_name, template)),
        )?;
        let recipients: Vec<String> = std::iter::once(contact.clone())
            .chain(p.def.email.cc.iter().cloned())
            .collect();
        tokio::task::block_in_place(|| {
            notify::put_in_outbox(
                &ctx.data_dir,
                p,
                &notify::Outgoing {
                    id: &id,
                    kind: notify::MessageKind::Reminder,
                    period,
                    recipients: &recipients,
                    subject: &subject,
                    message: &msg,
                    small: None,
                    manifest: None,
                },
                now,
            )
        })?;
        queued.push(s.name.clone());
    }
    if !problems.is_empty() {
        return Err(Error::Undelivered(format!(
            "reminders for {period}: {}",
            problems.join("; ")
        )));
    }
    Ok(format!(
        "reminders queued for {} unit(s): {}",
        queued.len(),
        queued.join("、")
    ))
}

/// A reminder's subject and text, for a unit that has not reported `period` by `now`.
fn reminder_text(
    p: &crate::config::Pipeline,
    code: &str,
    name: &str,
    period: Period,
    now: DateTime<Tz>,
) -> (String, String) {
    let deadline = period::deadline_zh(&period.deadline(p.def.submission.deadline_day));
    let subject = format!(
        "【{}】请报送{}{}月报（截止 {}）",
        p.def.pipeline.title,
        name,
        period.zh(),
        deadline
    );
    let text = format!(
        "{}：\n\n截至 {}，{}尚未收到贵单位{}的{}月报。请于 {} 前报送（北京时间）。\n\n{}\n\n表头须包含“单位代码”等规定列名；每行为一个单位一个月的本月数（非累计数）；金额单位为元。\n附件为贵单位{}的月报表模板（填写区为黄色，随填随查；执行情况请填在“执行情况”工作表）。\n{}如已报送，请忽略本提醒。\n\n{}\n（本邮件由 fayuan 自动发送）\n",
        name,
        period::instant_zh(&now),
        p.def.pipeline.office,
        period.zh(),
        p.def.pipeline.title,
        deadline,
        p.def.submission.how_to_send,
        period.zh(),
        unit_link(p, code),
        p.def.pipeline.office
    );
    (subject, text)
}

/// The line of a reminder with the unit's own page (when the pages are on).
pub(super) fn unit_link(p: &crate::config::Pipeline, code: &str) -> String {
    match crate::web::secret(p) {
        Some(secret) => format!(
            "本单位报送情况、模板下载和网上报送：{}\n",
            crate::web::unit_url(p, &secret, code)
        ),
        None => String::new(),
    }
}

/// A notice to the data staff, through the outbox (best effort: a failure here is only logged;
/// what is put in the outbox is delivered by later rounds).
pub(super) async fn staff_notice(
    ctx: &Context,
    id: &str,
    subject: &str,
    text: &str,
    period: Period,
    now: DateTime<Tz>,
) {
    let p = &ctx.pipeline;
    let staff = notify::staff(p);
    let attempt = async {
        let msg = notify::mime::plain(
            p,
            &notify::mime::Envelope {
                id,
                to: &staff,
                cc: &[],
                subject,
                now,
            },
            text,
            None,
        )?;
        let wait = std::time::Duration::from_secs(p.def.schedule.lock_wait_seconds);
        let _lock =
            tokio::task::block_in_place(|| lock::acquire(&ctx.data_dir, wait, "daemon notice"))?;
        notify::send_now(
            &ctx.data_dir,
            p,
            &notify::Outgoing {
                id,
                kind: notify::MessageKind::Failure,
                period,
                recipients: &staff,
                subject,
                message: &msg,
                small: None,
                manifest: None,
            },
            &notify::Settings::resolve(p, ctx.clock)?,
        )
        .await
    };
    if let Err(err) = attempt.await {
        tracing::error!(error = %err, "notice to the data staff not sent");
    }
}

/// Tells the data staff that a job started failing (once per incident).
pub(super) async fn failure_notice(
    ctx: &Context,
    job: &str,
    period: Option<Period>,
    e: &str,
    now: DateTime<Tz>,
) {
    let p = &ctx.pipeline;
    let id = format!("failure-{job}-{}", now.format("%Y%m%dT%H%M%S"));
    let subject = format!(
        "【{}】fayuan 定时任务失败：{job}{}",
        p.def.pipeline.title,
        period
            .map(|x| format!("（{}）", x.zh()))
            .unwrap_or_default()
    );
    let text = format!(
        "fayuan 定时任务 {job} 于 {} 失败：\n\n{e}\n\n守护进程继续运行，每次唤醒都会重试；恢复正常时会再发一封通知，期间不再重复提醒。请用 fayuan status 查看详情。\n",
        period::instant_zh(&now)
    );
    let month = period.unwrap_or_else(|| Period::of(now.date_naive()));
    staff_notice(ctx, &id, &subject, &text, month, now).await;
}

/// Tells the data staff that a job that was failing works again.
pub(super) async fn recovery_notice(ctx: &Context, job: &str, now: DateTime<Tz>) {
    let p = &ctx.pipeline;
    let id = format!("recovered-{job}-{}", now.format("%Y%m%dT%H%M%S"));
    let subject = format!("【{}】fayuan 定时任务已恢复：{job}", p.def.pipeline.title);
    let text = format!(
        "fayuan 定时任务 {job} 于 {} 恢复正常。此前未完成的工作（如待发送的邮件）已补做或仍在自动重试，详见 fayuan status。\n",
        period::instant_zh(&now)
    );
    staff_notice(ctx, &id, &subject, &text, Period::of(now.date_naive()), now).await;
}
