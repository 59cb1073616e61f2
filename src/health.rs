//! Is fayuan well (issue 36 §3): the checks behind `GET /readyz` and `fayuan health`, each
//! problem one line in Chinese and English. Critical: the daemon's heartbeat missing or older
//! than twice its interval (a stopped or hung daemon), the record's chain broken, the data
//! folder's disk under `[limits] min_free_mb`. Warning: a job whose last run failed, a message
//! still undelivered after `give_up_hours`.

use crate::app::Context;
use crate::period::{self, Moment};
use chrono::{DateTime, Duration};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Critical,
}

/// One reason fayuan is not well.
#[derive(Debug, Clone)]
pub struct Problem {
    pub level: Level,
    pub zh: String,
    pub en: String,
    /// What only the staff's own command shows (an error's text may name paths): never on the
    /// tokenless `/readyz`.
    pub detail: String,
}

impl Problem {
    fn new(level: Level, zh: String, en: String) -> Problem {
        Problem {
            level,
            zh,
            en,
            detail: String::new(),
        }
    }

    fn with(mut self, detail: String) -> Problem {
        self.detail = detail;
        self
    }

    /// `严重：… / critical: …`
    pub fn line(&self) -> String {
        let (zh, en) = match self.level {
            Level::Critical => ("严重", "critical"),
            Level::Warning => ("注意", "warning"),
        };
        format!("{zh}：{} / {en}: {}", self.zh, self.en)
    }
}

/// The exit code of `fayuan health` (as monitoring plugins use them): 0 well, 1 a warning, 2
/// something critical.
pub fn exit_code(problems: &[Problem]) -> i32 {
    match problems.iter().map(|p| p.level).max() {
        None => 0,
        Some(Level::Warning) => 1,
        Some(Level::Critical) => 2,
    }
}

/// What `fayuan health` prints: each problem's line with its detail beneath, or 正常.
pub fn report(problems: &[Problem]) -> String {
    if problems.is_empty() {
        return "正常 / ok\n".into();
    }
    let mut out = String::new();
    for p in problems {
        out.push_str(&p.line());
        out.push('\n');
        if !p.detail.is_empty() {
            out.push_str(&format!("  {}\n", p.detail));
        }
    }
    out
}

/// Every problem now, most serious first.
pub fn check(ctx: &Context) -> Vec<Problem> {
    let now = ctx.now();
    let mut out = Vec::new();
    heartbeat(ctx, now, &mut out);
    jobs(ctx, &mut out);
    disk(ctx, &mut out);
    record(ctx, &mut out);
    outbox(ctx, now, &mut out);
    out.sort_by_key(|p| std::cmp::Reverse(p.level));
    out
}

fn heartbeat(ctx: &Context, now: DateTime<Tz>, out: &mut Vec<Problem>) {
    #[derive(serde::Deserialize)]
    struct Beat {
        at: Moment,
    }
    let every = ctx.pipeline.def.schedule.heartbeat_seconds as i64;
    let beat = std::fs::read(ctx.data_dir.heartbeat())
        .ok()
        .and_then(|b| serde_json::from_slice::<Beat>(&b).ok());
    match beat {
        None => out.push(Problem::new(
            Level::Critical,
            "守护进程没有心跳（未运行）".into(),
            "the daemon has no heartbeat (not running)".into(),
        )),
        Some(b) if now - b.at.0 > Duration::seconds(2 * every) => out.push(Problem::new(
            Level::Critical,
            format!(
                "守护进程的心跳停在 {}（超过两个间隔 {} 秒）",
                period::instant_zh(&b.at.0),
                2 * every
            ),
            format!(
                "the daemon's heartbeat stopped at {} (older than twice its {every} s interval)",
                period::instant_text(&b.at.0)
            ),
        )),
        Some(_) => {}
    }
}

/// A state file fayuan cannot read: what it says is unknown, which is not "all is well".
fn unreadable(out: &mut Vec<Problem>, zh: &str, en: &str, e: &crate::error::Error) {
    out.push(
        Problem::new(
            Level::Critical,
            format!("{zh}无法读取"),
            format!("the {en} cannot be read"),
        )
        .with(e.to_string()),
    );
}

fn jobs(ctx: &Context, out: &mut Vec<Problem>) {
    if let Err(e) = crate::sources::load_state(&ctx.data_dir) {
        unreadable(out, "数据源状态", "sources' state", &e);
    }
    let events = match crate::jobs::run_events(&ctx.data_dir, ctx.pipeline.name()) {
        Ok(events) => events,
        Err(e) => return unreadable(out, "运行记录", "run ledger", &e),
    };
    let mut last = std::collections::BTreeMap::new();
    for e in events {
        last.insert(e.job.as_str(), e);
    }
    for (job, e) in last.into_iter().filter(|(_, e)| !e.ok) {
        out.push(
            Problem::new(
                Level::Warning,
                format!(
                    "任务 {job} 最近一次运行失败（{}）",
                    period::instant_zh(&e.at.0)
                ),
                format!(
                    "job {job} failed at its last run ({})",
                    period::instant_text(&e.at.0)
                ),
            )
            .with(e.detail.clone()),
        );
    }
}

fn disk(ctx: &Context, out: &mut Vec<Problem>) {
    let min = ctx.pipeline.def.limits.min_free_mb;
    let root = ctx.data_dir.root();
    let Some(free) = crate::fsutil::free_bytes(root) else {
        return;
    };
    let mb = free / (1024 * 1024);
    if mb < min {
        out.push(
            Problem::new(
                Level::Critical,
                format!("数据目录所在磁盘仅剩 {mb} MB（下限 {min} MB）"),
                format!("{mb} MB free on the data folder's disk (limit {min} MB)"),
            )
            .with(root.display().to_string()),
        );
    }
}

fn record(ctx: &Context, out: &mut Vec<Problem>) {
    let year = ctx.pipeline.year();
    match crate::audit::verify(&ctx.data_dir, year) {
        Ok(crate::audit::Verified::Whole(_)) => {}
        Ok(crate::audit::Verified::Broken { line, why }) => out.push(
            Problem::new(
                Level::Critical,
                format!("{year} 年工作台账在第 {line} 行断链"),
                format!("the {year} record's chain is broken at line {line}"),
            )
            .with(why),
        ),
        Err(e) => out.push(
            Problem::new(
                Level::Critical,
                format!("{year} 年工作台账无法读取"),
                format!("the {year} record cannot be read"),
            )
            .with(e.to_string()),
        ),
    }
}

fn outbox(ctx: &Context, now: DateTime<Tz>, out: &mut Vec<Problem>) {
    let hours = ctx.pipeline.def.email.give_up_hours as i64;
    let events = match crate::notify::ledger(&ctx.data_dir, &ctx.pipeline).read() {
        Ok(e) => e,
        Err(e) => {
            out.push(
                Problem::new(
                    Level::Warning,
                    "发件记录无法读取".into(),
                    "the delivery ledger cannot be read".into(),
                )
                .with(e.to_string()),
            );
            return;
        }
    };
    let old = crate::notify::messages(&events)
        .iter()
        .filter(|m| now - m.created.0 > Duration::hours(hours))
        .map(|m| m.pending().count())
        .sum::<usize>();
    if old > 0 {
        out.push(Problem::new(
            Level::Warning,
            format!("发件箱中有 {old} 封（收件人）超过 {hours} 小时仍未送达"),
            format!("{old} message(s) (by recipient) undelivered for more than {hours} hours"),
        ));
    }
}
