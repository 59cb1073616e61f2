//! What a message is, read from its bytes alone: who sent it, about what, whether a machine
//! sent it, whether fayuan may take its attachments, and which of them. Pure — no server, no
//! files — and unit-tested as such.

use super::Held;
use crate::config::{MailboxDef, Pipeline, Unit};

/// What to do with a message, from its bytes and the pipeline's registered senders.
#[derive(Debug)]
pub(super) enum Class<'p> {
    /// Not for fayuan: held for the staff, with the reason (never answered).
    Hold(String),
    /// A registered sender's message: take these attachments (name, bytes) — only the unit's own
    /// rows unless `bulk` — and say of the others why not.
    Take {
        unit: Option<&'p Unit>,
        bulk: bool,
        taken: Vec<(String, Vec<u8>)>,
        skipped: Vec<String>,
    },
}

/// Classifies a parsed message: machines (auto-replies, bounces, list mail) and strangers are
/// held; a registered sender's attachments of the kinds fayuan reads are taken, at most
/// `max_attachments` of them.
pub(super) fn classify<'p>(
    parsed: Option<&mail_parser::Message>,
    from: &str,
    pipeline: &'p Pipeline,
    m: &MailboxDef,
) -> Class<'p> {
    let Some(msg) = parsed else {
        return Class::Hold("邮件格式无法解析".into());
    };
    let header = |name: &str| -> Option<String> {
        msg.headers_raw()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    // Never answer machines: auto-replies, bounces, mailing lists.
    let auto = header("Auto-Submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no"));
    let bounce = header("Content-Type")
        .is_some_and(|v| v.to_ascii_lowercase().contains("multipart/report"))
        || from.starts_with("mailer-daemon@")
        || from.starts_with("postmaster@")
        || header("Return-Path").is_some_and(|v| v == "<>");
    let list = header("List-Id").is_some()
        || header("List-Unsubscribe").is_some()
        || header("Precedence")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "bulk" | "list" | "junk"));
    if auto || bounce || list {
        return Class::Hold("自动回复、退信或群发邮件，不予处理".into());
    }
    // Bulk sheets: the staff in `[email] cc` (SPEC §9) and any listed `bulk_senders`.
    let bulk = m
        .bulk_senders
        .iter()
        .chain(&pipeline.def.email.cc)
        .any(|b| crate::config::sender_address(b) == from);
    let unit = pipeline
        .units
        .iter()
        .find(|u| u.senders.iter().any(|a| a == from));
    if unit.is_none() && !bulk {
        return Class::Hold("发件人不是已登记的报送联系人".into());
    }
    // A registered address is only a county (or the staff) when the bureau's own mail server
    // says the sender passed its check: a forged From is nobody's.
    if let Some((id, check)) = m.auth_required() {
        let method = check.method();
        let results = auth_results(&msg.headers_raw().collect::<Vec<_>>(), id, method);
        if !results.iter().any(|r| r == "pass") {
            let seen = if results.is_empty() {
                "无结果".to_string()
            } else {
                results.join("、")
            };
            return Class::Hold(format!(
                "发件人认证未通过（本局邮件服务器 {id} 的 {method} 检查：{seen}），疑为冒用发件人，附件与答复均未处理"
            ));
        }
    }
    let mut taken = Vec::new();
    let mut skipped = Vec::new();
    for part in msg.attachments() {
        let name = mail_parser::MimeHeaders::attachment_name(part)
            .unwrap_or("未命名附件")
            .to_string();
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if !TAKEN.contains(&ext.as_str()) {
            skipped.push(format!(
                "{name}：不是报送文件（须为 .xlsx、.xls、.ods、.csv 或 .json），未处理"
            ));
        } else if taken.len() >= m.max_attachments {
            skipped.push(format!("{name}：附件超过 {} 个，未处理", m.max_attachments));
        } else {
            taken.push((name, part.contents().to_vec()));
        }
    }
    Class::Take {
        unit,
        bulk,
        taken,
        skipped,
    }
}

/// The results (`pass`, `fail`, …) of `method` in the `Authentication-Results` headers written
/// by `authserv_id` (RFC 8601: `id [version]; method=result …; …`); headers of any other server
/// are ignored, being forgeable by the sender.
pub(super) fn auth_results(
    headers: &[(&str, &str)],
    authserv_id: &str,
    method: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let text: String = v.replace(['\r', '\n'], " ");
        let text = strip_comments(&text);
        let mut parts = text.split(';');
        let id = parts
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("");
        if !id.eq_ignore_ascii_case(authserv_id) {
            continue;
        }
        for part in parts {
            let Some((name, rest)) = part.trim().split_once('=') else {
                continue;
            };
            let name = name.trim().split('/').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case(method) {
                let result = rest.split_whitespace().next().unwrap_or("");
                out.push(result.to_ascii_lowercase());
            }
        }
    }
    out
}

/// A header value without its comments (`(…)`, nested).
fn strip_comments(v: &str) -> String {
    let mut depth = 0usize;
    v.chars()
        .filter(|c| match c {
            '(' => {
                depth += 1;
                false
            }
            ')' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

/// The file kinds taken from a message (calamine reads .xls and .ods too).
pub(super) const TAKEN: [&str; 5] = ["xlsx", "xls", "ods", "csv", "json"];

/// A message held because its handling failed `count` times, the last time for `last`.
pub(super) fn held_for_failing(
    bytes: &[u8],
    validity: u32,
    uid: u32,
    sha: String,
    count: usize,
    last: &str,
) -> Held {
    let parsed = mail_parser::MessageParser::default().parse(bytes);
    let Envelope {
        from,
        subject,
        message_id,
    } = envelope(parsed.as_ref(), validity, uid);
    Held {
        message_id,
        sha256: sha,
        from,
        subject,
        why: format!("处理失败 {count} 次（最近一次：{last}），已停止自动处理"),
        answered: false,
    }
}

/// Who sent a message, about what, under which Message-ID (the header is enough).
pub(super) struct Envelope {
    /// The bare address, lower-cased, as registered senders are kept.
    pub(super) from: String,
    pub(super) subject: String,
    pub(super) message_id: String,
}

pub(super) fn envelope(parsed: Option<&mail_parser::Message>, validity: u32, uid: u32) -> Envelope {
    Envelope {
        from: parsed
            .and_then(|p| p.from())
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(crate::config::sender_address)
            .unwrap_or_default(),
        subject: parsed.and_then(|p| p.subject()).unwrap_or("").to_string(),
        message_id: parsed
            .and_then(|p| p.message_id())
            .map(str::to_string)
            .unwrap_or_else(|| format!("uid-{validity}-{uid}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Pipeline {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/luan-2025.toml");
        Pipeline::load(&path).unwrap()
    }

    fn mailbox() -> MailboxDef {
        toml::from_str("name = \"data\"\nurl = \"imaps://x\"\nuser = \"u\"\nmax_attachments = 2")
            .unwrap()
    }

    fn mail(from: &str, extra: &str, names: &[&str]) -> Vec<u8> {
        let mut m = format!(
            "From: {from}\r\nSubject: s\r\nMessage-ID: <m@x>\r\n{extra}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        );
        for n in names {
            m.push_str(&format!(
                "--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{n}\"\r\n\r\nx\r\n"
            ));
        }
        m.push_str("--B--\r\n");
        m.into_bytes()
    }

    fn class_of(from: &str, extra: &str, names: &[&str]) -> String {
        let p = pipeline();
        let bytes = mail(from, extra, names);
        let parsed = mail_parser::MessageParser::default().parse(&bytes);
        let env = envelope(parsed.as_ref(), 1, 1);
        match classify(parsed.as_ref(), &env.from, &p, &mailbox()) {
            Class::Hold(why) => format!("hold: {why}"),
            Class::Take {
                unit,
                bulk,
                taken,
                skipped,
            } => format!(
                "take {}{}: {:?} / {}",
                unit.map(|u| u.name.as_str()).unwrap_or("-"),
                if bulk { " (bulk)" } else { "" },
                taken.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
                skipped.len()
            ),
        }
    }

    #[test]
    fn a_sender_the_bureaus_server_did_not_pass_is_held_and_others_servers_are_not_believed() {
        let p = pipeline();
        let mut m = mailbox();
        m.authserv_id = Some("mail.bureau.gov.cn".into());
        let class_with = |m: &MailboxDef, extra: &str| {
            let bytes = mail("huoqiu@example.gov.cn", extra, &["a.csv"]);
            let parsed = mail_parser::MessageParser::default().parse(&bytes);
            let env = envelope(parsed.as_ref(), 1, 1);
            match classify(parsed.as_ref(), &env.from, &p, m) {
                Class::Hold(why) => format!("hold: {why}"),
                Class::Take { unit, .. } => {
                    format!("take: {}", unit.map_or("", |u| u.name.as_str()))
                }
            }
        };
        let class = |extra: &str| class_with(&m, extra);
        let fail = "Authentication-Results: mail.bureau.gov.cn;\r\n spf=pass smtp.mailfrom=example.gov.cn;\r\n dmarc=fail (p=reject) header.from=example.gov.cn\r\n";
        assert!(
            class(fail).starts_with("hold: 发件人认证未通过"),
            "{}",
            class(fail)
        );
        assert!(class(fail).contains("dmarc 检查：fail"), "{}", class(fail));
        // The sender's own "pass" from another server is not believed.
        let forged = format!("Authentication-Results: evil.example; dmarc=pass\r\n{fail}");
        assert!(class(&forged).starts_with("hold:"), "{}", class(&forged));
        // No result at all from the bureau's server: held too.
        assert!(class("").contains("无结果"), "{}", class(""));
        let pass = "Authentication-Results: mail.bureau.gov.cn 1; dkim=pass (good) header.d=example.gov.cn; dmarc=pass header.from=example.gov.cn\r\n";
        assert_eq!(class(pass), "take: 霍邱县");
        // require_auth = "spf": the spf result decides.
        let mut spf = m.clone();
        spf.require_auth = Some(crate::config::AuthCheck::Spf);
        assert_eq!(class_with(&spf, fail), "take: 霍邱县");
        spf.require_auth = Some(crate::config::AuthCheck::None);
        assert_eq!(class_with(&spf, ""), "take: 霍邱县");
    }

    #[test]
    fn machines_and_strangers_are_held() {
        assert_eq!(
            class_of("x@elsewhere.example", "", &["a.csv"]),
            "hold: 发件人不是已登记的报送联系人"
        );
        for extra in [
            "Auto-Submitted: auto-replied\r\n",
            "Precedence: bulk\r\n",
            "List-Id: <l.example>\r\n",
            "Return-Path: <>\r\n",
        ] {
            assert_eq!(
                class_of("huoqiu@example.gov.cn", extra, &["a.csv"]),
                "hold: 自动回复、退信或群发邮件，不予处理",
                "{extra}"
            );
        }
        assert_eq!(
            class_of("MAILER-DAEMON@example.gov.cn", "", &[]),
            "hold: 自动回复、退信或群发邮件，不予处理"
        );
        // `Auto-Submitted: no` is a person.
        assert!(
            class_of("huoqiu@example.gov.cn", "Auto-Submitted: no\r\n", &[])
                .starts_with("take 霍邱县")
        );
    }

    #[test]
    fn a_county_and_the_staff_and_their_attachments() {
        assert_eq!(
            class_of(
                "霍邱县 <HuoQiu@Example.gov.cn>",
                "",
                &["a.csv", "b.docx", "c.XLSX", "d.json"]
            ),
            "take 霍邱县: [\"a.csv\", \"c.XLSX\"] / 2",
            "kinds fayuan reads, at most max_attachments (2)"
        );
        assert_eq!(
            class_of("data-staff@example.gov.cn", "", &["all.csv"]),
            "take - (bulk): [\"all.csv\"] / 0"
        );
    }
}
