//! What waits in the outbox, as `fayuan status` and the bureau's page say it.

use super::{MessageKind, Recipient, ledger, messages};
use crate::config::Pipeline;
use crate::error::Result;
use crate::layout::DataDir;
use crate::period::Period;
use chrono::DateTime;
use chrono_tz::Tz;

/// For `fayuan status` and the bureau's page: each digest of the period, then every message of
/// any period not yet delivered to everyone — kind, recipient, age, attempts, last error — and
/// what was given up in the last 30 days.
pub fn status_lines(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Vec<String>> {
    let events = ledger(data_dir, pipeline).read()?;
    let all = messages(&events);
    let p = period.to_string();
    let mut out: Vec<String> = all
        .iter()
        .filter(|d| d.kind == MessageKind::Digest && d.period == p)
        .map(|d| {
            let pending: Vec<&Recipient> = d.pending().collect();
            let mut line = format!(
                "摘要邮件 {}：已送达 {}/{}",
                d.id,
                d.done().len(),
                d.recipients.len()
            );
            for r in &pending {
                line.push_str(&format!(
                    "；待发送 {}{}",
                    r.address,
                    r.last_failure
                        .as_ref()
                        .map(|f| format!("（{}）", f.detail))
                        .unwrap_or_default()
                ));
            }
            for r in d.recipients.iter().filter(|r| r.gave_up.is_some()) {
                line.push_str(&format!("；未送达 {}（已停止重试）", r.address));
            }
            if !pending.is_empty() {
                line.push_str("——留在发件箱中，可用 fayuan send 重发");
            }
            line
        })
        .collect();
    let waiting: Vec<String> = all
        .iter()
        .flat_map(|m| m.pending().map(move |r| (m, r)))
        .map(|(m, r)| {
            format!(
                "  {}（{}）→ {}：已等待 {}，尝试 {} 次{}",
                m.kind.zh(),
                m.id,
                r.address,
                age_zh(*now - m.created.0),
                r.attempts,
                r.last_failure
                    .as_ref()
                    .map(|f| format!("，最近错误：{}", f.detail))
                    .unwrap_or_default()
            )
        })
        .collect();
    if waiting.is_empty() {
        out.push("发件箱：没有待发送的邮件".into());
    } else {
        out.push(format!(
            "发件箱：{} 封（收件人）待发送，每次唤醒自动重试，超过 {} 小时未送达即停止并通知数据人员：",
            waiting.len(),
            pipeline.def.email.give_up_hours
        ));
        out.extend(waiting);
    }
    let recent = *now - chrono::Duration::days(30);
    let given: Vec<String> = all
        .iter()
        .flat_map(|m| m.recipients.iter().map(move |r| (m, r)))
        .filter(|(m, r)| r.gave_up.is_some() && m.created.0 >= recent)
        .map(|(m, r)| {
            format!(
                "  {}（{}）→ {}：{}",
                m.kind.zh(),
                m.id,
                r.address,
                r.gave_up.as_deref().unwrap_or("")
            )
        })
        .collect();
    if !given.is_empty() {
        out.push(format!(
            "近 30 天未能送达、已停止重试的邮件 {} 封（收件人）：",
            given.len()
        ));
        out.extend(given);
    }
    Ok(out)
}

/// A duration as people say it: `3 分钟`, `5 小时 10 分`, `2 天 3 小时`.
fn age_zh(d: chrono::Duration) -> String {
    let m = d.num_minutes().max(0);
    match m {
        0..60 => format!("{m} 分钟"),
        60..1440 => format!("{} 小时 {} 分", m / 60, m % 60),
        _ => format!("{} 天 {} 小时", m / 1440, m % 1440 / 60),
    }
}
