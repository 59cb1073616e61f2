//! Whether a mailbox can be read: when it last was, since when it has not been and why (in the
//! words a person acts on), and whether the data staff have been told. Written by whoever reads
//! the mailbox (the watcher, the daemon's read before judging, `fayuan ingest`); read by the
//! daemon's tick (one notice when it has failed `alert_after_minutes`, one on recovery),
//! `status`, the bureau's page and the reminder rounds (which wait for units whose mail may be
//! waiting unread).

use super::{MailStep, ledger, mail_dir};
use crate::config::MailboxDef;
use crate::layout::DataDir;
use crate::period::Moment;
use chrono::DateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Health {
    /// The last time the mailbox was read through.
    pub ok_at: Option<Moment>,
    /// Failing since (none: it works).
    pub failing_since: Option<Moment>,
    /// The cause, in Chinese (登录失败 / 证书不受信任 / 服务器无响应 / 无法连接 / …).
    pub cause: String,
    /// The staff were told of this incident.
    pub told: bool,
    /// An incident the staff were told of has ended: (since, until); the recovery notice is due.
    pub recovered: Option<(Moment, Moment)>,
}

fn path(data_dir: &DataDir, m: &MailboxDef) -> std::path::PathBuf {
    mail_dir(data_dir, m).join("health.json")
}

/// The mailbox's health as last written (a missing or unreadable file: nothing known).
pub fn read(data_dir: &DataDir, m: &MailboxDef) -> Health {
    std::fs::read(path(data_dir, m))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write(data_dir: &DataDir, m: &MailboxDef, h: &Health) {
    let p = path(data_dir, m);
    let wrote = std::fs::create_dir_all(mail_dir(data_dir, m))
        .map_err(|e| crate::error::Error::io(&p, e))
        .and_then(|_| {
            let bytes = serde_json::to_vec(h)
                .map_err(|e| crate::error::Error::io(&p, std::io::Error::other(e)))?;
            crate::fsutil::replace_unsynced(&p, &bytes)
        });
    if let Err(e) = wrote {
        tracing::error!(mailbox = %m.name, error = %e, "mailbox health not written");
    }
}

/// The mailbox was read through at `now`.
pub fn worked(data_dir: &DataDir, m: &MailboxDef, now: DateTime<Tz>) {
    let mut h = read(data_dir, m);
    if let (Some(since), true) = (h.failing_since, h.told) {
        h.recovered = Some((since, Moment(now)));
    }
    h.ok_at = Some(Moment(now));
    h.failing_since = None;
    h.cause = String::new();
    h.told = false;
    write(data_dir, m, &h);
}

/// Reading the mailbox failed at `now` with `error`.
pub fn failed(data_dir: &DataDir, m: &MailboxDef, now: DateTime<Tz>, error: &str) {
    let mut h = read(data_dir, m);
    if h.failing_since.is_none() {
        h.failing_since = Some(Moment(now));
    }
    h.cause = cause_zh(error);
    write(data_dir, m, &h);
}

/// Marks the incident told (or the recovery told).
pub fn told(data_dir: &DataDir, m: &MailboxDef, recovery: bool) {
    let mut h = read(data_dir, m);
    if recovery {
        h.recovered = None;
    } else {
        h.told = true;
    }
    write(data_dir, m, &h);
}

/// An IMAP failure in the words the staff act on, with the detail after it.
pub fn cause_zh(error: &str) -> String {
    let e = error.to_ascii_lowercase();
    let word = if e.contains("login") || e.contains("authenticat") || e.contains("password") {
        "登录失败（用户名或密码不对，或账号被停用）"
    } else if e.contains("certificate") || e.contains("unknownissuer") || e.contains("tls") {
        "证书不受信任（邮件服务器的证书无法验证）"
    } else if e.contains("no answer within") || e.contains("timed out") {
        "服务器无响应"
    } else if e.contains("refused") || e.contains("connect") || e.contains("resolve") {
        "无法连接邮件服务器"
    } else {
        "读取失败"
    };
    let detail: String = error.chars().take(300).collect();
    format!("{word}：{detail}")
}

/// Whether the mailbox is failing now and may hold mail unread: (since, cause).
pub fn unreadable(h: &Health) -> Option<(Moment, &str)> {
    h.failing_since.map(|s| (s, h.cause.as_str()))
}

/// One line for `fayuan status` and the bureau's page: the mailbox's last step, and any message
/// whose handling failed and waits for another try.
pub fn status_line(data_dir: &DataDir, m: &MailboxDef) -> String {
    // A ledger that cannot be read says so: not "nothing handled".
    let events = match ledger(data_dir, m).read() {
        Ok(events) => events,
        Err(e) => return format!("邮箱 {}：收件记录无法读取（{e}），处理情况不明", m.name),
    };
    let done = events.iter().filter(|e| e.step == MailStep::Done).count();
    let held = events.iter().filter(|e| e.step == MailStep::Held).count();
    let finished: HashSet<&str> = events
        .iter()
        .filter(|e| matches!(e.step, MailStep::Done | MailStep::Held))
        .map(|e| e.sha256.as_str())
        .collect();
    let failing: HashSet<&str> = events
        .iter()
        .filter(|e| e.step == MailStep::Failed && !finished.contains(e.sha256.as_str()))
        .map(|e| e.sha256.as_str())
        .collect();
    let failing = if failing.is_empty() {
        String::new()
    } else {
        format!(
            "；{} 封处理失败，等待重试（失败 {} 次即转人工）",
            failing.len(),
            m.max_failures
        )
    };
    // A mailbox that cannot be read is said first: mail may be waiting in it unread.
    let h = read(data_dir, m);
    if let Some((since, cause)) = unreadable(&h) {
        return format!(
            "邮箱 {}（{}）：自 {} 起无法读取（{cause}）；其中可能有未读取的报送邮件，相关单位的催报暂缓{}",
            m.name,
            m.user,
            since.minute(),
            h.ok_at
                .map(|t| format!("；最近一次读取成功 {}", t.minute()))
                .unwrap_or_default()
        );
    }
    match events.last() {
        Some(e) => format!(
            "邮箱 {}（{}）：最近处理 {}；共处理 {done} 封，其中转人工 {held} 封{failing}",
            m.name,
            m.user,
            e.at.minute()
        ),
        None => format!("邮箱 {}（{}）：尚未处理过邮件", m.name, m.user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_in_words() {
        assert!(
            cause_zh("mailbox data: login: No Response: [AUTHENTICATIONFAILED]")
                .starts_with("登录失败")
        );
        assert!(
            cause_zh("mailbox data: invalid peer certificate: UnknownIssuer")
                .starts_with("证书不受信任")
        );
        assert!(
            cause_zh("mailbox data: connect: no answer within 60 s").starts_with("服务器无响应")
        );
        assert!(
            cause_zh("mailbox data: Connection refused (os error 111)").starts_with("无法连接")
        );
    }
}
