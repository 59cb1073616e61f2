//! The receipt a county gets for its mail: one line per attachment from what the store recorded
//! of it, what is still missing and what waits for a 说明 — in Chinese, in the message's thread,
//! through the outbox.

use super::Place;
use crate::config::{MailboxDef, Pipeline};
use crate::error::Result;
use crate::layout::DataDir;
use crate::notify;
use crate::period::{self, Period};
use crate::store::{FileEntry, Outcome, Store};
use chrono::DateTime;
use chrono_tz::Tz;

/// Puts the receipt for a message into the outbox (once: its id is the message's bytes'), to the
/// sender with the unit's other contacts in copy. Returns its id.
#[allow(clippy::too_many_arguments)]
pub(super) fn queue_receipt(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    sha: &str,
    at: &Place,
    unit: Option<&crate::config::Unit>,
    (from, subject, message_id): (&str, &str, &str),
    lines: &[String],
) -> Result<String> {
    let now = at.now;
    let key = sha.trim_start_matches("header-");
    let id = format!("receipt-{}-{}", m.name, &key[..16.min(key.len())]);
    if !notify::exists(data_dir, pipeline, &id)? {
        let to = vec![from.to_string()];
        let cc: Vec<String> = unit
            .map(|u| u.senders.iter().filter(|a| **a != from).cloned().collect())
            .unwrap_or_default();
        let text = receipt_text(
            pipeline,
            data_dir,
            unit.map(|u| u.code.as_str()),
            subject,
            lines,
            now,
        )?;
        let reply_subject = format!(
            "回执：{}",
            if subject.is_empty() {
                "（无主题）"
            } else {
                subject
            }
        );
        let msg = notify::mime::receipt(
            pipeline,
            &notify::mime::Envelope {
                id: &id,
                to: &to,
                cc: &cc,
                subject: &reply_subject,
                now,
            },
            &text,
            message_id,
        )?;
        let recipients: Vec<String> = to.iter().chain(&cc).cloned().collect();
        notify::put_in_outbox(
            data_dir,
            pipeline,
            &notify::Outgoing {
                id: &id,
                kind: notify::MessageKind::Receipt,
                period: Period::of(now.date_naive()),
                recipients: &recipients,
                subject: &reply_subject,
                message: &msg,
                small: None,
                manifest: None,
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

/// One attachment's line of the receipt, from what the store recorded of it.
pub(super) fn attachment_line(
    n: usize,
    name: &str,
    recorded: &str,
    sha: &str,
    files: &[FileEntry],
    rows: &[Vec<String>],
) -> String {
    let mine = files
        .iter()
        .find(|f| f.file_name == recorded && f.sha256 == sha);
    let Some(f) = mine else {
        return format!(
            "{n}. {name}：已收到，等待处理（文件仍在写入或排队），稍后的回执或汇总会说明结果。"
        );
    };
    match f.outcome {
        Outcome::Accepted | Outcome::Partial => {
            let mut months: Vec<String> = rows
                .iter()
                .filter(|r| r[0] == sha)
                .map(|r| {
                    let p = Period::parse(&r[1])
                        .map(|p| p.zh())
                        .unwrap_or_else(|| r[1].clone());
                    let v: i64 = r[2].parse().unwrap_or(1);
                    if v > 1 {
                        format!("{p}（第{v}版，替代第{}版）", v - 1)
                    } else {
                        format!("{p}（第1版）")
                    }
                })
                .collect();
            months.sort();
            let head = if f.outcome == Outcome::Partial {
                format!(
                    "部分接收：{} 行接收，{} 行被拒收",
                    f.rows_accepted, f.rows_rejected
                )
            } else {
                format!("已接收，{} 行", f.rows_accepted)
            };
            let mut line = format!("{n}. {name}：{head}：{}。", months.join("、"));
            if f.outcome == Outcome::Partial {
                line.push_str(&format!(
                    "\n   被拒收的问题：\n{}",
                    indent(&f.problems.replace(recorded, name))
                ));
            }
            line
        }
        Outcome::Rejected => format!(
            "{n}. {name}：未接收。问题如下，请改正后重新发送整个文件：\n{}",
            indent(&f.problems.replace(recorded, name))
        ),
        Outcome::Duplicate => {
            let first = files
                .iter()
                .find(|e| e.sha256 == sha && e.outcome != Outcome::Duplicate);
            format!(
                "{n}. {name}：此前已收到完全相同的文件{}，未重复收取。",
                first
                    .map(|e| format!("（{} 收到）", period::minute_text(&e.arrived_at)))
                    .unwrap_or_default()
            )
        }
    }
}

pub(super) fn indent(problems: &str) -> String {
    problems
        .lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The receipt's text: per attachment, soft checks waiting for a 说明, what is still missing.
pub(super) fn receipt_text(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    unit: Option<&str>,
    subject: &str,
    lines: &[String],
    now: DateTime<Tz>,
) -> Result<String> {
    let p = pipeline;
    let mut text = format!(
        "您好：\n\n{}已收到您的邮件“{}”（{}）。处理结果如下：\n\n",
        p.def.pipeline.office,
        if subject.is_empty() {
            "（无主题）"
        } else {
            subject
        },
        period::instant_zh(&now)
    );
    if lines.is_empty() {
        text.push_str("邮件中没有附件。请将月报表（Excel、CSV 或 JSON）作为附件发送。\n");
    }
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    // The month being collected now: the one before this one.
    let period = Period::of(now.date_naive()).prev();
    if period.year == p.year()
        && let Some(code) = unit
    {
        let store = Store::open(data_dir);
        let status = crate::status::unit_status(p, &store, period, &now)?;
        if let Some(s) = status.iter().find(|s| s.code == code) {
            text.push('\n');
            if s.latest.is_none() {
                text.push_str(&format!("{}的{}数据尚未收到。\n", s.name, period.zh()));
            } else {
                text.push_str(&format!("{}的{}数据已收到。\n", s.name, period.zh()));
            }
            if !s.pending.is_empty() {
                text.push_str("以下数据异常，已接收，但须在“说明”栏写明原因后重新发送（数字不变不算更正）：\n");
                for x in &s.pending {
                    text.push_str(&format!("   待说明：{x}\n"));
                }
            }
        }
    }
    text.push_str(&format!(
        "\n{}\n（本邮件由 fayuan 自动发送；如有疑问请联系市局数据人员。）\n",
        p.def.pipeline.office
    ));
    Ok(text)
}
