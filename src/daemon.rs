//! `fayuan daemon`: tokio-cron-scheduler wakes the process on the pipeline's schedules; at each
//! wake-up (and once at start, to catch up) `schedule::due` decides what to run, from the run
//! ledger and the delivery ledger. Jobs run one at a time, each holding the write lock.
//!
//! Invariants: a failed job is logged, recorded in the run ledger, reported (a notice to the
//! data staff now, an alert in the next digest) and never stops the daemon; SIGTERM/SIGINT let
//! the job in hand finish, then the daemon exits 0; a heartbeat file proves it is alive.

use crate::app::Context;
use crate::error::{Error, Result};
use crate::jobs::{self, JobKind, RunEvent};
use crate::layout::DataDir;
use crate::period::{self, Clock, Moment, Period, TZ};
use crate::schedule::{self, History, Job, Schedules};
use crate::{ingest, lock, notify, run, sources, status};
use chrono::DateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::path::Path;

fn record(ctx: &Context, e: &RunEvent) -> Result<()> {
    jobs::ledger(&ctx.data_dir, ctx.pipeline.name()).append(e)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    pub at: Moment,
    pub pid: u32,
}

pub fn read_heartbeat(data_dir: &DataDir) -> Option<Heartbeat> {
    std::fs::read(data_dir.heartbeat())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

fn beat(data_dir: &DataDir, now: DateTime<Tz>) -> Result<()> {
    write_time(&data_dir.heartbeat(), now)
}

fn write_time(path: &Path, now: DateTime<Tz>) -> Result<()> {
    let hb = Heartbeat {
        at: now.into(),
        pid: std::process::id(),
    };
    let bytes = serde_json::to_vec(&hb).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    crate::fsutil::replace_unsynced(path, &bytes)
}

/// What has run: the run ledger, the heartbeat and the digests sent by anyone.
pub fn history(ctx: &Context) -> Result<History> {
    let events = jobs::run_events(&ctx.data_dir, ctx.pipeline.name());
    let mut h = History::default();
    let seen = events
        .iter()
        .map(|e| e.at.0)
        .chain(
            std::fs::read(ctx.data_dir.last_look())
                .ok()
                .and_then(|b| serde_json::from_slice::<Heartbeat>(&b).ok())
                .map(|b| b.at.0),
        )
        .max();
    h.last_seen = seen;
    for e in &events {
        let p = e.period.as_deref().and_then(Period::parse);
        let fired = e.fired.map(|f| f.0);
        match (e.job, e.ok, p, fired) {
            (JobKind::Report, true, Some(p), _) => {
                h.reported.insert(p);
            }
            (JobKind::Report, false, Some(p), Some(f)) => h.failed_reports.push((p, f)),
            (JobKind::Remind, true, _, Some(f)) => {
                h.reminded.insert(f);
            }
            _ => {}
        }
    }
    for d in notify::digests(&notify::ledger(&ctx.data_dir, &ctx.pipeline).read()?) {
        if !d.done.is_empty()
            && let Some(p) = Period::parse(&d.period)
        {
            h.reported.insert(p);
        }
    }
    Ok(h)
}

/// The daemon for one pipeline or several (every pipeline in `pipelines/`): each keeps its own
/// schedules, data folder, outbox, ledgers, mailboxes and web port, and runs as its own task;
/// SIGTERM stops them all. They must not share a data folder, a web port or a mailbox folder.
pub fn daemon_all(ctxs: Vec<Context>) -> Result<i32> {
    let problems = shared_resources(&ctxs);
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "these pipelines cannot run in one daemon:\n  {}",
            problems.join("\n  ")
        )));
    }
    for c in &ctxs {
        tracing::info!(pipeline = %c.pipeline.name(), file = %c.pipeline.file.display(), "pipeline");
    }
    crate::app::runtime()?.block_on(async move {
        let tasks: Vec<_> = ctxs
            .into_iter()
            .map(|c| tokio::spawn(main_loop(c)))
            .collect();
        let mut code = crate::error::exit::OK;
        for t in tasks {
            match t.await {
                Ok(Ok(c)) => code = code.max(c),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(Error::Runtime(format!("pipeline task: {e}"))),
            }
        }
        Ok(code)
    })
}

/// What two pipelines of one daemon would share and must not: a data folder, a web address,
/// a mailbox folder.
fn shared_resources(ctxs: &[Context]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, a) in ctxs.iter().enumerate() {
        for b in &ctxs[i + 1..] {
            let (x, y) = (a.pipeline.name(), b.pipeline.name());
            if x == y {
                problems.push(format!(
                    "{} and {}: both are named {x}",
                    a.pipeline.file.display(),
                    b.pipeline.file.display()
                ));
            }
            if a.data_dir.root() == b.data_dir.root() {
                problems.push(format!(
                    "{x} and {y}: the same data folder {}",
                    a.data_dir.display()
                ));
            }
            if a.pipeline.def.web.listen == b.pipeline.def.web.listen {
                problems.push(format!(
                    "{x} and {y}: the same web.listen {} (give each pipeline its own port in [web])",
                    a.pipeline.def.web.listen
                ));
            }
            for m in &a.pipeline.def.mailboxes {
                if b.pipeline
                    .def
                    .mailboxes
                    .iter()
                    .any(|n| n.url == m.url && n.user == m.user && n.folder == m.folder)
                {
                    problems.push(format!(
                        "{x} and {y}: both read {} {} {} (one pipeline per mailbox folder)",
                        m.url, m.user, m.folder
                    ));
                }
            }
        }
    }
    problems
}

async fn main_loop(ctx: Context) -> Result<i32> {
    use tokio_cron_scheduler::{Job as CronJob, JobScheduler};
    // The daemon's clock runs: from --as-of if given (tests, replays), else the system's.
    let clock = if ctx.as_of_given {
        Clock::running_from(ctx.now())
    } else {
        Clock::system()
    };
    let ctx = Context { clock, ..ctx };
    let sch = &ctx.pipeline.def.schedule;
    let schedules = Schedules::from(sch).map_err(Error::Usage)?;
    let bad =
        |e: tokio_cron_scheduler::JobSchedulerError| Error::Runtime(format!("scheduler: {e}"));
    let (wake_tx, mut wake) = tokio::sync::mpsc::channel::<&'static str>(8);
    let mut scheduler = JobScheduler::new().await.map_err(bad)?;
    for (name, expr) in [
        ("ingest", &sch.ingest),
        ("remind", &sch.remind),
        ("report", &sch.report),
    ] {
        let tx = wake_tx.clone();
        let job = CronJob::new_async_tz(expr.as_str(), TZ, move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.try_send(name);
            })
        })
        .map_err(bad)?;
        scheduler.add(job).await.map_err(bad)?;
    }
    scheduler.start().await.map_err(bad)?;
    // Each mailbox is watched by its own task (IDLE), stopped with the daemon.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut watchers = Vec::new();
    for m in &ctx.pipeline.def.mailboxes {
        watchers.push(tokio::spawn(crate::mailin::watch(
            ctx.pipeline.clone(),
            ctx.data_dir.clone(),
            m.clone(),
            clock,
            std::time::Duration::from_secs(sch.lock_wait_seconds),
            stop_rx.clone(),
        )));
    }
    // The web pages, stopped with the daemon.
    watchers.push(tokio::spawn({
        let ctx = Context {
            clock,
            ..ctx.clone()
        };
        let stop = stop_rx.clone();
        async move {
            if let Err(e) = crate::web::serve(ctx, status_lines, stop).await {
                tracing::error!(error = %e, "web pages not served");
            }
        }
    }));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Runtime(format!("cannot watch SIGTERM: {e}")))?;
    let mut heartbeat =
        tokio::time::interval(std::time::Duration::from_secs(sch.heartbeat_seconds));
    tracing::info!(pid = std::process::id(), now = %period::instant_text(&clock.now()), "daemon started");
    // Catch up at start: whatever was due while the daemon was down (the history is read
    // before this start is recorded).
    tick(&ctx, &schedules, clock.now()).await;
    record(
        &ctx,
        &RunEvent {
            at: clock.now().into(),
            job: JobKind::Start,
            period: None,
            fired: None,
            ok: true,
            detail: format!("pid {}", std::process::id()),
        },
    )?;
    loop {
        tokio::select! {
            Some(name) = wake.recv() => {
                tracing::debug!(schedule = name, "woken");
                tick(&ctx, &schedules, clock.now()).await;
            }
            _ = heartbeat.tick() => {
                let now = clock.now();
                if let Err(e) = beat(&ctx.data_dir, now) {
                    tracing::error!(error = %e, "heartbeat not written");
                }
                tracing::info!(at = %period::instant_text(&now), "heartbeat");
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!("stopping: no job in hand");
    let _ = stop_tx.send(true);
    for w in watchers {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), w).await;
    }
    let _ = scheduler.shutdown().await;
    record(
        &ctx,
        &RunEvent {
            at: clock.now().into(),
            job: JobKind::Stop,
            period: None,
            fired: None,
            ok: true,
            detail: String::new(),
        },
    )?;
    Ok(crate::error::exit::OK)
}

/// Runs everything due at `now`, one job at a time. Never fails: a failed job is recorded,
/// reported and left for the next wake-up.
async fn tick(ctx: &Context, schedules: &Schedules, now: DateTime<Tz>) {
    let h = match history(ctx) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the run ledger");
            return;
        }
    };
    // A pipeline reminds and reports only the months of its own year (the previous year's keeps
    // ingesting late figures; the new year's starts with January).
    let year = ctx.pipeline.year();
    let jobs: Vec<Job> = schedule::due(schedules, &h, now)
        .into_iter()
        .filter(|j| match j {
            Job::Ingest => true,
            Job::Remind { period, .. } | Job::Report { period, .. } => {
                let inside = period.year == year;
                if !inside {
                    tracing::debug!(pipeline = %ctx.pipeline.name(), period = %period, "outside the pipeline's year: skipped");
                }
                inside
            }
        })
        .collect();
    if let Err(e) =
        write_time(&ctx.data_dir.last_look(), now).and_then(|_| beat(&ctx.data_dir, now))
    {
        tracing::error!(error = %e, "heartbeat not written");
    }
    for job in jobs {
        let (kind, period, fired) = match &job {
            Job::Ingest => (JobKind::Ingest, None, None),
            Job::Remind { period, fired } => (JobKind::Remind, Some(*period), Some(*fired)),
            Job::Report { period, fired } => (JobKind::Report, Some(*period), Some(*fired)),
        };
        let name = kind.as_str();
        tracing::info!(job = name, period = ?period.map(|p| p.to_string()), "job starting");
        let result = run_job(ctx, &job, now).await;
        let event = RunEvent {
            at: now.into(),
            job: kind,
            period: period.map(|p| p.to_string()),
            fired: fired.map(Moment::from),
            ok: result.is_ok(),
            detail: match &result {
                Ok(d) => d.clone(),
                Err(e) => e.to_string(),
            },
        };
        if let Err(e) = record(ctx, &event) {
            tracing::error!(error = %e, "cannot record the job in the run ledger");
        }
        match result {
            Ok(detail) => tracing::info!(job = name, %detail, "job done"),
            Err(e) => {
                tracing::error!(job = name, error = %e, "job failed");
                failure_notice(ctx, name, period, &e, now).await;
            }
        }
    }
}

async fn run_job(ctx: &Context, job: &Job, now: DateTime<Tz>) -> Result<String> {
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
            // The lock is held through delivery too: the ledger has one writer at a time.
            let _lock = tokio::task::block_in_place(|| {
                lock::acquire(&ctx.data_dir, wait, "daemon report")
            })?;
            let built = tokio::task::block_in_place(|| {
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
            let settings = notify::Settings::resolve(&ctx.pipeline, ctx.clock)?;
            let d = notify::deliver(&ctx.data_dir, &ctx.pipeline, *period, &settings).await?;
            run::webhooks(&ctx_now, &built).await;
            if !d.failed.is_empty() {
                return Err(Error::Undelivered(format!(
                    "report for {period} built, but not delivered to {} (kept in the outbox)",
                    d.failed
                        .iter()
                        .map(|(r, why)| format!("{r}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
            Ok(format!(
                "{} — sent to {}",
                built.subject,
                d.sent.len() + d.to_outbox.len()
            ))
        }
    }
}

/// Reminds each unit that has not reported for `period`, at most once per (unit, period, day).
async fn remind(
    ctx: &Context,
    period: Period,
    fired: DateTime<Tz>,
    now: DateTime<Tz>,
    wait: std::time::Duration,
) -> Result<String> {
    let p = &ctx.pipeline;
    let store = crate::store::Store::open(&ctx.data_dir);
    let statuses = status::unit_status(p, &store, period, &now)?;
    let deadline = period::deadline_zh(&period.deadline(p.def.submission.deadline_day));
    let settings = notify::Settings::resolve(p, ctx.clock)?;
    let mut sent = Vec::new();
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
        let subject = format!(
            "【{}】请报送{}{}月报（截止 {}）",
            p.def.pipeline.title,
            s.name,
            period.zh(),
            deadline
        );
        let text = format!(
            "{}：\n\n截至 {}，{}尚未收到贵单位{}的{}月报。请于 {} 前报送（北京时间）。\n\n{}\n\n表头须包含“单位代码”等规定列名；每行为一个单位一个月的本月数（非累计数）；金额单位为元。\n附件为贵单位{}的月报表模板（填写区为黄色，随填随查；执行情况请填在“执行情况”工作表）。\n{}如已报送，请忽略本提醒。\n\n{}\n（本邮件由 fayuan 自动发送）\n",
            s.name,
            period::instant_zh(&now),
            p.def.pipeline.office,
            period.zh(),
            p.def.pipeline.title,
            deadline,
            p.def.submission.how_to_send,
            period.zh(),
            unit_link(p, &s.code),
            p.def.pipeline.office
        );
        // The unit's fill-in template for the month rides along.
        let unit = p
            .unit(&s.code)
            .ok_or_else(|| Error::Usage(format!("unit {}", s.code)))?;
        let template = crate::report::template::render(p, unit, period)?;
        let template_name = crate::report::template::file_name(unit, period);
        let msg = notify::plain_message(
            p,
            &id,
            std::slice::from_ref(&contact),
            &p.def.email.cc,
            &subject,
            &text,
            Some((&template_name, template)),
            now,
        )?;
        let recipients: Vec<String> = std::iter::once(contact.clone())
            .chain(p.def.email.cc.iter().cloned())
            .collect();
        let _lock =
            tokio::task::block_in_place(|| lock::acquire(&ctx.data_dir, wait, "daemon reminder"))?;
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
                    manifest: None,
                },
                now,
            )
        })?;
        let d = notify::deliver_message(&ctx.data_dir, p, &id, &settings).await?;
        for (r, why) in d.failed {
            problems.push(format!("{r}: {why}"));
        }
        sent.push(s.name.clone());
    }
    if !problems.is_empty() {
        return Err(Error::Undelivered(format!(
            "reminders for {period}: {}",
            problems.join("; ")
        )));
    }
    Ok(format!(
        "reminded {} unit(s): {}",
        sent.len(),
        sent.join("、")
    ))
}

/// The line of a reminder with the unit's own page (when the pages are on).
fn unit_link(p: &crate::config::Pipeline, code: &str) -> String {
    match crate::web::secret(p) {
        Some(secret) => format!(
            "本单位报送情况、模板下载和网上报送：{}\n",
            crate::web::unit_url(p, &secret, code)
        ),
        None => String::new(),
    }
}

/// Tells the data staff that a job failed (best effort: a failure here is only logged).
async fn failure_notice(
    ctx: &Context,
    job: &str,
    period: Option<Period>,
    e: &Error,
    now: DateTime<Tz>,
) {
    let p = &ctx.pipeline;
    let staff = notify::staff(p);
    let id = format!("failure-{job}-{}", now.format("%Y%m%dT%H%M%S"));
    let subject = format!(
        "【{}】fayuan 定时任务失败：{job}{}",
        p.def.pipeline.title,
        period
            .map(|x| format!("（{}）", x.zh()))
            .unwrap_or_default()
    );
    let text = format!(
        "fayuan 定时任务 {job} 于 {} 失败：\n\n{e}\n\n守护进程继续运行；该任务将在下次调度时重试。请用 fayuan status 查看详情。\n",
        period::instant_zh(&now)
    );
    let attempt = async {
        let msg = notify::plain_message(p, &id, &staff, &[], &subject, &text, None, now)?;
        let period = period.unwrap_or_else(|| Period::of(now.date_naive()));
        notify::put_in_outbox(
            &ctx.data_dir,
            p,
            &notify::Outgoing {
                id: &id,
                kind: notify::MessageKind::Failure,
                period,
                recipients: &staff,
                subject: &subject,
                message: &msg,
                manifest: None,
            },
            now,
        )?;
        notify::deliver_message(
            &ctx.data_dir,
            p,
            &id,
            &notify::Settings::resolve(p, ctx.clock)?,
        )
        .await
    };
    if let Err(err) = attempt.await {
        tracing::error!(error = %err, "failure notice not sent");
    }
}

/// Lines for `fayuan status`: heartbeat, next run and last result of each schedule, sources.
pub fn status_lines(ctx: &Context) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(schedules) = Schedules::from(&ctx.pipeline.def.schedule) else {
        return out;
    };
    match read_heartbeat(&ctx.data_dir) {
        Some(hb) => out.push(format!(
            "守护进程心跳：{}（pid {}）",
            hb.at.minute(),
            hb.pid
        )),
        None => out.push("守护进程：尚无心跳记录（未运行过 fayuan daemon）".into()),
    }
    let events = jobs::run_events(&ctx.data_dir, ctx.pipeline.name());
    for (name, zh, cron) in [
        (JobKind::Ingest, "收取", &schedules.ingest),
        (JobKind::Remind, "催报", &schedules.remind),
        (JobKind::Report, "报告", &schedules.report),
    ] {
        let next = schedule::next(cron, ctx.now())
            .map(|t| period::instant_zh(&t))
            .unwrap_or_else(|| "—".into());
        let last = events.iter().rev().find(|e| e.job == name).map(|e| {
            format!(
                "上次 {} {}{}",
                e.at.minute(),
                if e.ok { "成功" } else { "失败" },
                if e.detail.is_empty() {
                    String::new()
                } else {
                    format!("：{}", e.detail)
                }
            )
        });
        out.push(format!(
            "定时任务 {zh}（{name}）：下次 {next}；{}",
            last.unwrap_or_else(|| "尚未运行".into())
        ));
    }
    for (name, s) in sources::load_state(&ctx.data_dir) {
        out.push(format!(
            "数据源 {name}：{} {}{}",
            s.checked_at.minute(),
            s.result.zh(),
            if s.detail.is_empty() {
                String::new()
            } else {
                format!("（{}）", s.detail)
            }
        ));
    }
    for m in &ctx.pipeline.def.mailboxes {
        out.push(crate::mailin::status_line(&ctx.data_dir, m));
    }
    out
}
