//! What the daemon says of itself in `fayuan status` and on the bureau's page: its heartbeat,
//! each schedule's next and last run, the sources and the mailboxes.

use super::{Heartbeat, read_heartbeat};
use crate::app::Context;
use crate::jobs::{self, JobKind};
use crate::period;
use crate::schedule;
use crate::sources;

/// When a schedule next runs: a reminder round or report at its time as the calendar moves it,
/// and only for a month of the pipeline's year (after its last deadline: none).
fn next_time(ctx: &Context, job: JobKind, cron: &croner::Cron) -> String {
    let (s, days, now) = (&ctx.pipeline.schedules, ctx.pipeline.days(), ctx.now());
    let horizon = now + chrono::Duration::days(62);
    let times = match job {
        JobKind::Remind => schedule::remind_times(s, days, now, horizon),
        JobKind::Report => schedule::report_times(s, days, now, horizon),
        _ => {
            return schedule::next(cron, now)
                .map(|t| period::instant_zh(&t))
                .unwrap_or_else(|| "—".into());
        }
    };
    let year = ctx.pipeline.year();
    match times.into_iter().find(|(p, _)| p.year() >= year) {
        Some((p, t)) if p.year() == year => period::instant_zh(&t),
        _ if now.date_naive()
            > days.last_day(crate::period::Period::new(year, 12).expect("December")) =>
        {
            format!("—（{year}年各月均已截止）")
        }
        _ => "—".into(),
    }
}

/// Lines for `fayuan status`: heartbeat, next run and last result of each schedule, sources.
pub fn status_lines(ctx: &Context) -> Vec<String> {
    let mut out = Vec::new();
    let schedules = &ctx.pipeline.schedules;
    match read_heartbeat(&ctx.data_dir) {
        Some(hb) => out.push(format!(
            "守护进程心跳：{}（pid {}）",
            hb.at.minute(),
            hb.pid
        )),
        None => out.push("守护进程：尚无心跳记录（未运行过 fayuan daemon）".into()),
    }
    let events = jobs::run_events(&ctx.data_dir, ctx.pipeline.name()).unwrap_or_else(|e| {
        out.push(format!("运行记录无法读取，以下各任务的上次结果不明：{e}"));
        Vec::new()
    });
    for (name, zh, cron) in [
        (JobKind::Ingest, "收取", &schedules.ingest),
        (JobKind::Remind, "催报", &schedules.remind),
        (JobKind::Report, "报告", &schedules.report),
    ] {
        let next = next_time(ctx, name, cron);
        let recorded = events.iter().rev().find(|e| e.job == name);
        // Ingests that found nothing are not recorded: the planner's last look is the last.
        let looked = std::fs::read(ctx.data_dir.last_look())
            .ok()
            .and_then(|b| serde_json::from_slice::<Heartbeat>(&b).ok())
            .map(|b| b.at);
        if name == JobKind::Ingest
            && let Some(at) = looked
            && recorded.is_none_or(|e| e.ok && e.at < at)
        {
            out.push(format!(
                "定时任务 收取（ingest）：下次 {}；上次 {} 成功（收件箱中没有新文件）",
                schedule::next(cron, ctx.now())
                    .map(|t| period::instant_zh(&t))
                    .unwrap_or_else(|| "—".into()),
                at.minute()
            ));
            continue;
        }
        let last = recorded.map(|e| {
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
    let sources = sources::load_state(&ctx.data_dir).unwrap_or_else(|e| {
        out.push(format!("数据源状态无法读取，各数据源的上次结果不明：{e}"));
        Default::default()
    });
    for (name, s) in sources {
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
