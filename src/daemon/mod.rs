//! `fayuan daemon`: it waits for the next fire of any schedule (as the calendar moves it) — in
//! real time tokio-cron-scheduler wakes it at a cron time, otherwise a sleep on its clock does —
//! and at each wake-up (and once at start, to catch up) `schedule::due` decides what to run, from
//! the run ledger and the delivery ledger: one path for the real and the simulated clock. Jobs run one at a time, each holding the write lock.
//!
//! Invariants: a failed job is logged, recorded in the run ledger, reported (a notice to the
//! data staff now, an alert in the next digest) and never stops the daemon; SIGTERM/SIGINT let
//! the job in hand finish, then the daemon exits 0; a heartbeat file proves it is alive.

mod lines;
mod work;

pub use lines::status_lines;
use work::{failure_notice, recovery_notice, run_job};

use crate::app::Context;
use crate::error::{Error, Result};
use crate::jobs::{self, JobKind, RunEvent};
use crate::layout::DataDir;
use crate::notify;
use crate::period::{self, Moment, Period, TZ};
use crate::schedule::{self, History, Job, Schedules};
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
    let events = jobs::run_events(&ctx.data_dir, ctx.pipeline.name())?;
    let mut h = History::default();
    // Where the planner got to: the end of the last tick that finished (a tick killed midway
    // leaves it where it was, so that what it had not done is due again; what it had done is
    // in the ledgers and not done twice). Without it, a first start.
    let seen = std::fs::read(ctx.data_dir.last_look())
        .ok()
        .and_then(|b| serde_json::from_slice::<Heartbeat>(&b).ok())
        .map(|b| b.at.0);
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
    // A digest made for a period (delivered or still waiting in the outbox): the report is
    // not built again for it — only its delivery is retried.
    for d in notify::digests(&notify::ledger(&ctx.data_dir, &ctx.pipeline).read()?) {
        if let Some(p) = Period::parse(&d.period) {
            h.reported.insert(p);
        }
    }
    Ok(h)
}

/// The daemon for one pipeline or several (every pipeline in `pipelines/`): each keeps its own
/// schedules, data folder, outbox, ledgers, mailboxes and web port, and runs as its own task;
/// SIGTERM stops them all. They must not share a data folder, a web port or a mailbox folder.
/// A pipeline whose task dies is logged and told to its data staff at once; the others go on.
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
    // The service manager's notify protocol (Type=notify; the command line gave its settings):
    // ready once the pipelines are checked and their data folders open (each loop sweeps its
    // own first).
    for c in &ctxs {
        prepare(c);
    }
    crate::service::ready(&format!("{} 条流水线运行中", ctxs.len()));
    crate::app::runtime()?.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        let count = ctxs.len();
        for c in ctxs {
            tasks.spawn(async move {
                let outcome = tokio::spawn(main_loop(c.clone())).await;
                (c, outcome)
            });
        }
        let mut code = crate::error::exit::OK;
        let mut died = 0;
        while let Some(joined) = tasks.join_next().await {
            let Ok((c, outcome)) = joined else { continue };
            let why = match outcome {
                Ok(Ok(c)) => {
                    code = code.max(c);
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("the pipeline's task ended abnormally: {e}"),
            };
            died += 1;
            code = crate::error::exit::FAILED;
            tracing::error!(pipeline = %c.pipeline.name(), error = %why, "pipeline stopped; the others go on");
            let now = c.now();
            failure_notice(&c, "daemon", None, &why, now).await;
        }
        if died == count && died > 0 {
            return Err(Error::Runtime("every pipeline of the daemon stopped".into()));
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
    crate::faults::point(
        &format!("daemon-start-{}", ctx.pipeline.name()),
        ctx.data_dir.root(),
    )?;
    // The daemon's clock runs (the command line made it: the system's, or from --as-of at
    // --clock-rate); every "now" below is read from it.
    let clock = ctx.clock;
    let schedules = &ctx.pipeline.schedules;
    let (wake_tx, mut wake) = tokio::sync::mpsc::channel::<&'static str>(8);
    let scheduler = cron_waker(&ctx, wake_tx).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watchers = helpers(&ctx, &stop_rx);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Runtime(crate::error::during("cannot watch SIGTERM", e)))?;
    // The heartbeat on the daemon's clock, but not more often than once a real second.
    let beat_every = clock
        .real(std::time::Duration::from_secs(
            ctx.pipeline.def.schedule.heartbeat_seconds,
        ))
        .max(std::time::Duration::from_secs(1));
    let mut heartbeat = tokio::time::interval(beat_every);
    tracing::info!(pid = std::process::id(), now = %period::instant_text(&clock.now()), rate = clock.rate(), "daemon started");
    for w in ctx.pipeline.calendar_warnings(&clock.now()) {
        tracing::warn!("{w}");
    }
    let mut failing = catch_up(&ctx).await?;
    // The next fire on the daemon's own clock, kept across wake-ups: a heartbeat that comes
    // first does not push it back, so every fire runs its own tick.
    let mut next = next_fire_after(&ctx, clock.now());
    loop {
        if sync_failed() {
            tell_sync_failure(&ctx, clock.now(), &mut failing).await;
            break;
        }
        // One path for both clocks (issue 37 §5): the next fire of any schedule, as the calendar
        // moves it, is waited for; in real time tokio-cron-scheduler's wake at a cron time comes
        // first (the sleep is the waker of a time the calendar moved off the cron). Either way the
        // same tick decides what is due from the ledgers, so a fire woken twice runs once.
        let woken = wake_at(&ctx, &mut wake, next);
        tokio::select! {
            _ = woken => {
                let now = clock.now();
                tick(&ctx, schedules, now, &mut failing).await;
                // One fire at a time (each its own tick); a cron that woke a hair before the
                // fire leaves it to the sleep that follows at once.
                if now >= next {
                    next = next_fire_after(&ctx, next);
                }
            }
            _ = heartbeat.tick() => {
                let now = clock.now();
                if let Err(e) = beat(&ctx.data_dir, now) {
                    tracing::error!(error = %e, "heartbeat not written");
                }
                tracing::info!(at = %period::instant_text(&now), "heartbeat");
            }
            // A sync failed outside the jobs (the pages' ingest of an upload): stop at once.
            _ = crate::error::writing_stops() => {}
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!("stopping: no job in hand");
    crate::service::stopping();
    let _ = stop_tx.send(true);
    for w in watchers {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), w).await;
    }
    if let Some(mut s) = scheduler {
        let _ = s.shutdown().await;
    }
    record_stop(&ctx, clock.now());
    Ok(if sync_failed() {
        crate::error::exit::FAILED
    } else {
        crate::error::exit::OK
    })
}

/// Catches up at start: whatever was due while the daemon was down (the history is read before
/// this start is recorded). An ingest that was failing when the daemon stopped (a failed sync
/// stops it on purpose) is tried again at once: the restart recovers from the inbox, as after a
/// crash.
async fn catch_up(ctx: &Context) -> Result<Failing> {
    let mut failing = Failing::from_ledger(ctx)?;
    let now = ctx.clock.now();
    let retry = failing.jobs.contains(&JobKind::Ingest);
    tick_with(ctx, &ctx.pipeline.schedules, now, &mut failing, retry).await;
    let start = RunEvent {
        at: ctx.clock.now().into(),
        job: JobKind::Start,
        period: None,
        fired: None,
        ok: true,
        detail: format!("pid {}", std::process::id()),
    };
    record(ctx, &start).unwrap_or_else(|e| tracing::error!(error = %e, "cannot record the start"));
    Ok(failing)
}

/// A sync failed in this process: the daemon stops. When it failed outside the jobs (the pages'
/// ingest of an upload), the staff are told here, once, as of a failed ingest: the run ledger
/// keeps the ingest failing, so the restart takes the inbox again at once and says when it
/// works again.
async fn tell_sync_failure(ctx: &Context, now: DateTime<Tz>, failing: &mut Failing) {
    tracing::error!(
        "a sync of the data folder failed: stopping, so that a restart recovers from the inbox and the outbox"
    );
    if !failing.sync_told
        && let Some(e) = crate::error::failed_sync()
    {
        done(ctx, JobKind::Ingest, None, None, Err(e), now, failing).await;
    }
}

/// `fayuan serve`: the web pages alone, until SIGTERM or Ctrl-C. Stopped by a failed sync in its
/// ingest of an upload, it tells the staff once (as the daemon would, the run ledger keeping the
/// ingest failing) and exits non-zero for its service manager to restart it.
pub fn serve_alone(ctx: Context) -> Result<i32> {
    crate::app::runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(crate::web::serve(ctx.clone(), status_lines, stop_rx));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Runtime(crate::error::during("cannot watch SIGTERM", e)))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            r = server => {
                return match r {
                    Ok(Ok(())) => Ok(crate::error::exit::OK),
                    Ok(Err(e)) if e.is_sync_failure() => {
                        // Stopping on a failed sync: a run ledger that cannot be read now is
                        // logged; the failure is told as a new one.
                        let mut failing = Failing::from_ledger(&ctx).unwrap_or_else(|e| {
                            tracing::error!(error = %e, "the run ledger cannot be read");
                            Failing::default()
                        });
                        let now = ctx.clock.now();
                        done(&ctx, JobKind::Ingest, None, None, Err(e), now, &mut failing).await;
                        Ok(crate::error::exit::FAILED)
                    }
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(Error::Runtime(crate::error::during("web", e))),
                };
            }
        }
        let _ = stop_tx.send(true);
        Ok(crate::error::exit::OK)
    })
}

/// Runs everything due at `now`, one job at a time, then a delivery round for whatever waits in
/// the outbox. Never fails: a failed job is recorded and left for the next wake-up; the data staff
/// hear of it once when it starts failing and once when it recovers.
/// Before the first wake-up: pauses between tries (sources, webhooks, SMTP) on the daemon's
/// clock, and what a killed process left half-written (a heartbeat, a message, an upload) swept.
fn prepare(ctx: &Context) {
    crate::retry::set_rate(ctx.clock.rate());
    for (dir, depth) in ctx.data_dir.scratch() {
        crate::fsutil::sweep_temp_files(&dir, depth);
    }
}

/// In real time the cron scheduler wakes the daemon; on a clock of its own (--as-of,
/// --clock-rate) the daemon sleeps until the next fire time of that clock (None here). Either way
/// the jobs are the same: `schedule::due` decides.
async fn cron_waker(
    ctx: &Context,
    wake_tx: tokio::sync::mpsc::Sender<&'static str>,
) -> Result<Option<tokio_cron_scheduler::JobScheduler>> {
    use tokio_cron_scheduler::{Job as CronJob, JobScheduler};
    if !ctx.clock.is_real_time() {
        return Ok(None);
    }
    let bad = |e: tokio_cron_scheduler::JobSchedulerError| {
        Error::Runtime(crate::error::during("scheduler", e))
    };
    let sch = &ctx.pipeline.def.schedule;
    let s = JobScheduler::new().await.map_err(bad)?;
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
        s.add(job).await.map_err(bad)?;
    }
    s.start().await.map_err(bad)?;
    Ok(Some(s))
}

/// The daemon's helpers, each its own task stopped with it: a watcher per mailbox (IDLE) and
/// the web pages.
fn helpers(
    ctx: &Context,
    stop_rx: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut watchers = Vec::new();
    for m in &ctx.pipeline.def.mailboxes {
        watchers.push(tokio::spawn(crate::mailin::watch(
            ctx.pipeline.clone(),
            ctx.data_dir.clone(),
            m.clone(),
            ctx.clock,
            std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds),
            stop_rx.clone(),
        )));
    }
    watchers.push(tokio::spawn({
        let ctx = ctx.clone();
        let stop = stop_rx.clone();
        async move {
            if let Err(e) = crate::web::serve(ctx, status_lines, stop).await {
                tracing::error!(error = %e, "web pages not served");
            }
        }
    }));
    watchers
}

/// The first fire time of any schedule (as the calendar moves it) after `t`.
fn next_fire_after(ctx: &Context, t: DateTime<Tz>) -> DateTime<Tz> {
    schedule::next_wake(&ctx.pipeline.schedules, ctx.pipeline.days(), t)
        .unwrap_or(t + chrono::Duration::hours(1))
}

/// Until the next fire: the cron's wake (real time), or `next` reached on the daemon's clock.
async fn wake_at(
    ctx: &Context,
    cron: &mut tokio::sync::mpsc::Receiver<&'static str>,
    next: DateTime<Tz>,
) {
    tokio::select! {
        Some(name) = cron.recv() => tracing::debug!(schedule = name, "woken by the cron"),
        _ = until(ctx, next) => {}
    }
}

/// Sleeps until `next` on the daemon's own clock (at once if it has passed). In real time a
/// second longer: the cron wakes a fire at its time, the sleep only one it does not know (a day
/// the calendar moved to) or one it missed.
async fn until(ctx: &Context, next: DateTime<Tz>) {
    let clock = ctx.clock;
    let now = clock.now();
    let grace = if clock.is_real_time() {
        std::time::Duration::from_secs(1)
    } else {
        std::time::Duration::ZERO
    };
    let wait = (next - now).to_std().unwrap_or_default() + grace;
    clock.sleep(wait).await;
    // A rate that makes the sleep end a hair early would wake a tick before the fire.
    while clock.now() < next {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Which jobs are failing now (their last record says so): read from the run ledger once at
/// start, then kept as the jobs run, so a wake-up does not read the whole ledger again.
#[derive(Default)]
struct Failing {
    jobs: std::collections::HashSet<JobKind>,
    /// A failed sync was told to the staff by its job's failure notice (this process).
    sync_told: bool,
}

impl Failing {
    fn from_ledger(ctx: &Context) -> Result<Failing> {
        let mut last = std::collections::HashMap::new();
        for e in jobs::run_events(&ctx.data_dir, ctx.pipeline.name())? {
            last.insert(e.job, e.ok);
        }
        Ok(Failing {
            jobs: last
                .into_iter()
                .filter(|(_, ok)| !ok)
                .map(|(j, _)| j)
                .collect(),
            sync_told: false,
        })
    }
}

async fn tick(ctx: &Context, schedules: &Schedules, now: DateTime<Tz>, failing: &mut Failing) {
    tick_with(ctx, schedules, now, failing, false).await;
}

/// [`tick`], with an ingest run whether or not one is due (`ingest_now`).
async fn tick_with(
    ctx: &Context,
    schedules: &Schedules,
    now: DateTime<Tz>,
    failing: &mut Failing,
    ingest_now: bool,
) {
    // Busy (for the watchdog) until this wake-up's work is done.
    let name = ctx.pipeline.name();
    let _busy = crate::service::busy(&format!("pipeline {name}"));
    crate::service::status(&format!("{name}：处理中"));
    let h = match history(ctx) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the run ledger");
            return;
        }
    };
    let jobs = jobs_due(ctx, schedules, &h, now, ingest_now);
    if let Err(e) = beat(&ctx.data_dir, now) {
        tracing::error!(error = %e, "heartbeat not written");
    }
    // What waits in the mailboxes is read before anyone is judged.
    if jobs
        .iter()
        .any(|j| matches!(j, Job::Remind { .. } | Job::Report { .. }))
    {
        work::read_mailboxes(ctx, now).await;
    }
    work::mailbox_notices(ctx, now).await;
    for job in jobs {
        // After a failed sync no further job writes (the delivery round still tells the staff).
        if sync_failed() {
            break;
        }
        let (kind, period, fired) = match &job {
            Job::Ingest => (JobKind::Ingest, None, None),
            Job::Remind { period, fired } => (JobKind::Remind, Some(*period), Some(*fired)),
            Job::Report { period, fired } => (JobKind::Report, Some(*period), Some(*fired)),
        };
        let name = kind.as_str();
        tracing::info!(job = name, period = ?period.map(|p| p.to_string()), "job starting");
        let result = run_job(ctx, &job, now).await;
        // An ingest that found nothing (every ten minutes) is not worth a line of the run
        // ledger — unless it ends an incident; the planner's last look says when it ran.
        let nothing = matches!(job, Job::Ingest)
            && result
                .as_ref()
                .is_ok_and(|d| d.starts_with("0 files taken") && !d.contains("failed"));
        if nothing && !failing.jobs.contains(&kind) {
            continue;
        }
        done(ctx, kind, period, fired, result, now, failing).await;
    }
    // Whatever waits in the outbox: digests, receipts, reminders, notices.
    let round = deliver_round(ctx).await;
    let tried = match &round {
        Ok(d) => d.tried(),
        Err(_) => true,
    };
    if tried {
        let result = round.and_then(|d| {
            if d.failed.is_empty() {
                Ok(format!(
                    "delivered {}{}",
                    d.sent.len() + d.to_outbox.len(),
                    if d.gave_up.is_empty() {
                        String::new()
                    } else {
                        format!(", gave up {}", d.gave_up.len())
                    }
                ))
            } else {
                Err(Error::Undelivered(format!(
                    "{} message(s) not delivered, kept in the outbox: {}",
                    d.failed.len(),
                    d.failed
                        .iter()
                        .take(5)
                        .map(|(id, r, why)| format!("{id} → {r}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )))
            }
        });
        done(ctx, JobKind::Deliver, None, None, result, now, failing).await;
    }
    // The planner got this far: what was due until `now` has been done (or recorded failing).
    if let Err(e) = write_time(&ctx.data_dir.last_look(), now) {
        tracing::error!(error = %e, "the planner's last look not written");
    }
    crate::service::status(&format!("{name}：等待下一次任务"));
}

/// What is due at `now` — only the months of the pipeline's own year are reminded and reported
/// (the previous year's keeps ingesting late figures; the new year's starts with January) —
/// with an ingest first when `ingest_now`.
fn jobs_due(
    ctx: &Context,
    schedules: &Schedules,
    h: &History,
    now: DateTime<Tz>,
    ingest_now: bool,
) -> Vec<Job> {
    let year = ctx.pipeline.year();
    let mut jobs: Vec<Job> = schedule::due(schedules, ctx.pipeline.days(), h, now)
        .into_iter()
        .filter(|j| match j {
            Job::Ingest => true,
            Job::Remind { period, .. } | Job::Report { period, .. } => {
                let inside = period.year() == year;
                if !inside {
                    tracing::debug!(pipeline = %ctx.pipeline.name(), period = %period, "outside the pipeline's year: skipped");
                }
                inside
            }
        })
        .collect();
    if ingest_now && !jobs.iter().any(|j| matches!(j, Job::Ingest)) {
        jobs.insert(0, Job::Ingest);
    }
    jobs
}

/// The daemon's stop, on its run ledger.
fn record_stop(ctx: &Context, now: DateTime<Tz>) {
    record(
        ctx,
        &RunEvent {
            at: now.into(),
            job: JobKind::Stop,
            period: None,
            fired: None,
            ok: true,
            detail: String::new(),
        },
    )
    .unwrap_or_else(|e| tracing::error!(error = %e, "cannot record the stop"));
}

/// Whether a sync failed in this process (the main loops stop at once).
fn sync_failed() -> bool {
    crate::error::writing_stopped()
}

/// Records a job's outcome; tells the staff when a job starts failing and when it recovers.
async fn done(
    ctx: &Context,
    kind: JobKind,
    period: Option<Period>,
    fired: Option<DateTime<Tz>>,
    result: Result<String>,
    now: DateTime<Tz>,
    failing: &mut Failing,
) {
    let name = kind.as_str();
    let was_failing = if result.is_ok() {
        failing.jobs.remove(&kind)
    } else {
        !failing.jobs.insert(kind)
    };
    if result.as_ref().is_err_and(|e| e.is_sync_failure()) {
        failing.sync_told = true;
    }
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
        Ok(detail) => {
            tracing::info!(job = name, %detail, "job done");
            if was_failing {
                recovery_notice(ctx, name, now).await;
            }
        }
        Err(e) => {
            tracing::error!(job = name, error = %e, "job failed");
            if !was_failing {
                failure_notice(ctx, name, period, &e.to_string(), now).await;
            }
            // A sync that failed (here, or in the pages' own ingest): nothing more is written
            // over it (`error::writing_stopped`). The daemon stops (non-zero) and its restart
            // recovers from the inbox and the outbox, as after a crash; the staff were told once
            // (the job stays failing in the run ledger across restarts).
        }
    }
}

/// One delivery round under the write lock (the ledger has one writer at a time).
async fn deliver_round(ctx: &Context) -> Result<notify::Delivered> {
    // Under the delivery lock only (taken by `deliver_due`): a slow mail server does not hold
    // the write lock that ingest, reports and uploads need.
    let settings = notify::Settings::resolve(&ctx.pipeline, ctx.clock)?;
    notify::deliver_due(
        &ctx.data_dir,
        &ctx.pipeline,
        &settings,
        notify::Round {
            respect_backoff: true,
            retry: crate::retry::Retry::new(1, 0),
        },
    )
    .await
}
