//! The daemon's jobs — ingest (with the HTTP sources), the reminder rounds, the monthly report —
//! and its notices to the data staff. Each job only puts messages into the outbox; the delivery
//! round after the jobs sends them.

use crate::app::Context;
use crate::config::Address;
use crate::error::{Error, Result};
use crate::period::{self, Period};
use crate::schedule::Job;
use crate::texts::contexts::{Message, NoticeFailure, NoticeMailbox, NoticeRecovered, Reminder};
use crate::{ingest, ladder, lock, notify, run, sources, status};
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
                // A 指导督促 step a crash left off the record goes there now (logged if not).
                crate::supervision::catch_up_or_log(&ctx.data_dir, &ctx.pipeline);
                ingest::ingest(&ctx.pipeline, &ctx.data_dir, now)
            })?;
            // Workbooks that no reader could open wait in the inbox: the ingest failed (the
            // staff are told once, and once when it recovers), never read in this process.
            summary.all_read()?;
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
                // A report without the workbooks that wait for a reader would say their units
                // had not reported: it waits (the job fails and is tried at the next wake-up).
                ingest::ingest(&ctx.pipeline, &ctx.data_dir, now)?.ready_for_report()?;
                let built = run::build_report(&ctx_now, *period)?;
                // A report made before the month's deadline (a schedule set too early) is a
                // draft: built and kept, never mailed as the month's digest.
                if crate::report::draft(&ctx.pipeline, *period, &now) {
                    return Ok::<_, Error>((built, false));
                }
                notify::queue(
                    &ctx.data_dir,
                    &ctx.pipeline,
                    *period,
                    &built.dir,
                    now,
                    false,
                )?;
                // Each unit's own results, with its page's link (once per unit and month).
                let p = &ctx.pipeline;
                let url =
                    |code: &str| crate::web::secret(p).map(|s| crate::web::unit_url(p, &s, code));
                run::queue_feedback(&ctx_now, *period, &built.dir, &url)?;
                Ok::<_, Error>((built, true))
            })?;
            let (built, queued) = built;
            if !queued {
                return Ok(format!(
                    "{} — 暂定（报送截止前生成），不作为本月摘要发送",
                    built.subject
                ));
            }
            run::webhooks(&ctx_now, &built).await;
            Ok(format!("{} — queued for delivery", built.subject))
        }
    }
}

/// A reminder round: puts into the outbox, for each unit that has not reported, the reminder
/// due — with a ladder (`[[reminders]]`) the latest step reached, once per unit, month and
/// step; without one a reminder for the month being collected, once per unit and day. The
/// delivery round sends them.
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
    let records = crate::records::Records::open(&ctx.data_dir)?;
    // (month, the step, or None for a plain reminder round)
    let months: Vec<(Period, Option<&crate::config::ReminderStep>)> = if p.def.reminders.is_empty()
    {
        vec![(period, None)]
    } else {
        // A step may fall in the month after the deadline's, or (before it) in the month collected.
        [period.next(), period, period.prev()]
            .into_iter()
            .filter_map(|m| ladder::due_step(p, m, fired.date_naive()).map(|s| (m, Some(s))))
            .collect()
    };
    let mut queued = Vec::new();
    let mut problems = Vec::new();
    // A mailbox that cannot be read may hold a unit's mail: that unit is not reminded now.
    let unread = unreadable_mailboxes(ctx);
    let mut waited = Vec::new();
    for (month, step) in months {
        let statuses = status::unit_status(p, &records, month, &now)?;
        for s in statuses.iter().filter(|s| s.latest.is_none()) {
            if !unread.is_empty() && p.unit(&s.code).is_some_and(|u| !u.senders.is_empty()) {
                waited.push(s.name.clone());
                continue;
            }
            let (id, to, cc, template) = addressing(p, month, step, &s.code, fired);
            if to.is_empty() {
                // A ladder's step may go to the leader, whom a unit may not have.
                let roles = step.map_or("contact".to_string(), |st| st.to.join("/"));
                problems.push(format!("{} has no {roles} address", s.name));
                continue;
            }
            if notify::exists(&ctx.data_dir, p, &id)? {
                continue;
            }
            let mut values = reminder_values(p, &s.code, &s.name, month, now);
            if let Some(step) = step {
                values.step = Some(step.name.clone());
                values.days_late =
                    Some((fired.date_naive() - ladder::last_day(p, month)).num_days());
                values.leader_cc = step.cc.iter().chain(&step.to).any(|r| r == "leader")
                    && p.unit(&s.code).is_some_and(|u| u.leader.is_some());
            }
            let (subject, text) = p.texts.send_as(template, &values)?;
            // The unit's fill-in template for the month rides along.
            let unit = p.unit(&s.code).ok_or_else(|| {
                Error::Runtime(format!("unit {} is not the pipeline's", s.code).into())
            })?;
            let attachment = crate::report::template::render(p, unit, month)?;
            let attachment_name = crate::report::template::file_name(unit, month);
            tokio::task::block_in_place(|| {
                notify::post(
                    &ctx.data_dir,
                    p,
                    notify::Letter {
                        id: &id,
                        kind: notify::MessageKind::Reminder,
                        period: month,
                        to: &to,
                        cc: &cc,
                        subject: &subject,
                        text: &text,
                        attachment: Some((&attachment_name, attachment)),
                        in_reply_to: None,
                    },
                    now,
                )
            })?;
            queued.push(match step {
                Some(step) => format!("{}（{}）", s.name, step.name),
                None => s.name.clone(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(Error::Undelivered(format!(
            "reminders for {period}: {}",
            problems.join("; ")
        )));
    }
    Ok(round_said(&queued, &waited, &unread))
}

/// A reminder round's line in the run ledger: who was reminded, and who waits for a mailbox.
fn round_said(queued: &[String], waited: &[String], unread: &[String]) -> String {
    let mut out = format!("reminders queued for {} unit(s)", queued.len());
    if !queued.is_empty() {
        out.push_str(&format!(": {}", queued.join("、")));
    }
    if !waited.is_empty() {
        out.push_str(&format!(
            "；催报暂缓（{}）：{}",
            unread.join("；"),
            waited.join("、")
        ));
    }
    out
}

/// The pipeline's mailboxes that cannot be read now, in words ("邮箱 data 自 … 起无法读取").
fn unreadable_mailboxes(ctx: &Context) -> Vec<String> {
    ctx.pipeline
        .def
        .mailboxes
        .iter()
        .filter_map(|m| {
            let h = crate::mailin::health::read(&ctx.data_dir, m);
            crate::mailin::health::unreadable(&h)
                .map(|(since, _)| format!("邮箱 {} 自 {} 起无法读取", m.name, since.minute()))
        })
        .collect()
}

/// Before anyone is judged (a reminder round, a report): what waits in every mailbox is taken
/// first, each mailbox read once (bounded by its IMAP timeouts). A mailbox that cannot be read
/// is recorded as such (its units then wait for their reminders) and the jobs go on.
pub(super) async fn read_mailboxes(ctx: &Context, now: DateTime<Tz>) {
    let p = &ctx.pipeline;
    let wait = std::time::Duration::from_secs(p.def.schedule.lock_wait_seconds);
    for m in &p.def.mailboxes {
        let read = async {
            let settings = notify::Settings::resolve(p, ctx.clock)?;
            crate::mailin::fetch_once(p, &ctx.data_dir, m, &settings, now, Some(wait)).await
        };
        match read.await {
            Ok(f) => {
                tracing::info!(mailbox = %m.name, messages = f.messages, "mailbox read before judging")
            }
            Err(e) => {
                tracing::warn!(mailbox = %m.name, error = %e, "mailbox not read before judging")
            }
        }
    }
}

/// One notice to the data staff when a mailbox has not been readable for
/// `alert_after_minutes`, and one when it can be read again.
pub(super) async fn mailbox_notices(ctx: &Context, now: DateTime<Tz>) {
    use crate::mailin::health;
    for m in &ctx.pipeline.def.mailboxes {
        let h = health::read(&ctx.data_dir, m);
        let notice = |since: String, now: String, cause: Option<String>| NoticeMailbox {
            heading: ctx.pipeline.heading(),
            mailbox: m.name.clone(),
            user: m.user.clone(),
            since,
            now,
            recovered: cause.is_none(),
            cause,
        };
        if let Some((since, until)) = h.recovered {
            let id = format!("mailbox-up-{}-{}", m.name, since.0.format("%Y%m%dT%H%M%S"));
            let values = notice(since.minute(), until.minute(), None);
            staff_notice(ctx, &id, &values, Period::of(now.date_naive())).await;
            health::told(&ctx.data_dir, m, true);
            continue;
        }
        let Some((since, cause)) = health::unreadable(&h) else {
            continue;
        };
        let after = chrono::Duration::minutes(m.alert_after_minutes as i64);
        if h.told || now - since.0 < after {
            continue;
        }
        let id = format!(
            "mailbox-down-{}-{}",
            m.name,
            since.0.format("%Y%m%dT%H%M%S")
        );
        let values = notice(
            since.minute(),
            period::instant_zh(&now),
            Some(cause.to_string()),
        );
        staff_notice(ctx, &id, &values, Period::of(now.date_naive())).await;
        health::told(&ctx.data_dir, m, false);
    }
}

/// A reminder's outbox id, people and template: a ladder's step, or a plain round's reminder
/// (once per unit and day, to the contact, the data staff in copy).
fn addressing<'a>(
    p: &'a crate::config::Pipeline,
    month: Period,
    step: Option<&'a crate::config::ReminderStep>,
    code: &str,
    fired: DateTime<Tz>,
) -> (String, Vec<Address>, Vec<Address>, &'a str) {
    match step {
        None => (
            format!(
                "remind-{month}-d{:02}-{code}",
                chrono::Datelike::day(&fired)
            ),
            ladder::people(p, code, &["contact".into()]),
            p.addresses.cc.clone(),
            "reminder.txt",
        ),
        Some(step) => (
            ladder::message_id(month, step, code),
            ladder::people(p, code, &step.to),
            ladder::people(p, code, &step.cc),
            step.template.as_str(),
        ),
    }
}

/// The values of a reminder (texts/reminder.txt) to a unit that has not reported `period` by
/// `now`.
fn reminder_values(
    p: &crate::config::Pipeline,
    code: &str,
    name: &str,
    period: Period,
    now: DateTime<Tz>,
) -> Reminder {
    Reminder {
        heading: p.heading(),
        unit: name.to_string(),
        period_zh: period.zh(),
        deadline: p.deadline_zh(period),
        now: period::instant_zh(&now),
        how_to_send: p.def.submission.how_to_send.clone(),
        unit_url: crate::web::secret(p).map(|secret| crate::web::unit_url(p, &secret, code)),
        step: None,
        days_late: None,
        leader_cc: false,
    }
}

/// A notice to the data staff from its template, through the outbox (best effort: a failure
/// here is only logged; what is put in the outbox is delivered by later rounds).
pub(super) async fn staff_notice<M: Message>(ctx: &Context, id: &str, values: &M, period: Period) {
    let p = &ctx.pipeline;
    let staff = notify::staff(p);
    let attempt = async {
        let (subject, text) = p.texts.send(values)?;
        let wait = std::time::Duration::from_secs(p.def.schedule.lock_wait_seconds);
        let settings = notify::Settings::resolve(p, ctx.clock)?;
        // Into the outbox under the write lock; sent after it is let go.
        tokio::task::block_in_place(|| {
            let _lock = lock::acquire(&ctx.data_dir, wait, "daemon notice")?;
            notify::post(
                &ctx.data_dir,
                p,
                notify::Letter::notice(
                    id,
                    notify::MessageKind::Failure,
                    period,
                    &staff,
                    &subject,
                    &text,
                ),
                settings.clock.now(),
            )
        })?;
        notify::deliver_message(&ctx.data_dir, p, id, &settings).await
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
    let id = format!("failure-{job}-{}", now.format("%Y%m%dT%H%M%S"));
    let values = NoticeFailure {
        heading: ctx.pipeline.heading(),
        job: job.to_string(),
        period_zh: period.map(|x| x.zh()),
        now: period::instant_zh(&now),
        error: e.to_string(),
    };
    let month = period.unwrap_or_else(|| Period::of(now.date_naive()));
    staff_notice(ctx, &id, &values, month).await;
}

/// Tells the data staff that a job that was failing works again.
pub(super) async fn recovery_notice(ctx: &Context, job: &str, now: DateTime<Tz>) {
    let id = format!("recovered-{job}-{}", now.format("%Y%m%dT%H%M%S"));
    let values = NoticeRecovered {
        heading: ctx.pipeline.heading(),
        job: job.to_string(),
        now: period::instant_zh(&now),
    };
    let month = Period::of(now.date_naive());
    staff_notice(ctx, &id, &values, month).await;
}
