//! The typed forms of a definition's values and the rules of reading them: SMTP and IMAP
//! server URLs, `{env:NAME}`, sizes in MB, addresses, the soft checks' ids, a unit's contacts.

use crate::error::Invalid;
use serde::Deserialize;

/// Megabytes as fayuan counts them everywhere a size is configured (`limits.max_file_mb`,
/// `web.max_upload_mb`): 1 MB = 1,000,000 bytes.
pub fn mb_bytes(mb: f64) -> u64 {
    (mb * 1e6) as u64
}

/// An email address as the pipeline file writes it (`六安市司法局 <fayuan@…>` or `a@b`), parsed once
/// when the pipeline loads: a message is addressed from its mailbox, never from the text parsed
/// again. It reads, prints and is recorded as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    text: String,
    mailbox: lettre::message::Mailbox,
}

impl Address {
    /// The address written in `text`, or why it is not one.
    pub fn parse(text: &str) -> Result<Address, Invalid> {
        text.parse::<lettre::message::Mailbox>()
            .map(|mailbox| Address {
                text: text.to_string(),
                mailbox,
            })
            .map_err(|e| Invalid(e.to_string()))
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn mailbox(&self) -> &lettre::message::Mailbox {
        &self.mailbox
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `[email]`'s addresses, parsed when the pipeline loads.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// `email.from`.
    pub from: Address,
    /// `email.to`: leadership.
    pub to: Vec<Address>,
    /// `email.cc`: the data staff.
    pub cc: Vec<Address>,
}

/// The bare address of `Name <a@b>` or `a@b`, lower-cased: what a message's From is compared with.
pub fn sender_address(a: &str) -> String {
    let a = a.trim();
    let bare = match (a.rfind('<'), a.rfind('>')) {
        (Some(l), Some(r)) if l < r => &a[l + 1..r],
        _ => a,
    };
    bare.trim().to_lowercase()
}

/// An IMAP server of `[[mailboxes]] url`, parsed when the pipeline loads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImapEndpoint {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (`imaps://`); else STARTTLS, never plain text.
    pub implicit_tls: bool,
}

impl ImapEndpoint {
    /// An `imaps://host[:port]` or `imap://host[:port]` URL (the latter upgraded with STARTTLS).
    pub fn parse(url: &str) -> Result<ImapEndpoint, Invalid> {
        let (rest, implicit_tls) = if let Some(r) = url.strip_prefix("imaps://") {
            (r, true)
        } else if let Some(r) = url.strip_prefix("imap://") {
            (r, false)
        } else {
            return Err(Invalid(format!(
                "{url}: expected imaps://host:993 or imap://host:143"
            )));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse().map_err(|_| Invalid(format!("{url}: bad port")))?,
            ),
            None => (rest, if implicit_tls { 993 } else { 143 }),
        };
        if host.is_empty() {
            return Err(Invalid(format!("{url}: no host")));
        }
        Ok(ImapEndpoint {
            host: host.to_string(),
            port,
            implicit_tls,
        })
    }
}

/// The soft checks the analyses know, and the threshold each takes.
pub const SOFT_CHECK_IDS: [(&str, &str); 6] = [
    (
        "approvals_jump",
        "a multiple of the earlier months' median (e.g. 3)",
    ),
    (
        "approvals_drop",
        "a divisor of the earlier months' median (3 = under a third)",
    ),
    (
        "case_share_month",
        "a fraction of the month's spending (e.g. 0.70)",
    ),
    (
        "satisfaction_month",
        "a fraction of those surveyed (e.g. 0.90)",
    ),
    (
        "funds_over_budget",
        "a multiple of the year's budget (e.g. 1.0)",
    ),
    ("no_cases", "unused (0)"),
];

/// The SMTP server of `email.server`, parsed (the transport in `notify::smtp` uses it).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUrl {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// `user@` in the URL, if any.
    pub username: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte (port 465).
    Implicit,
    /// `smtp://…?tls=required`: STARTTLS, refuse to go on without it (port 587).
    StartTls,
    /// `smtp://…?tls=opportunistic`: STARTTLS when offered.
    Opportunistic,
    /// `smtp://`: no TLS, for a relay on the same machine or network.
    Plain,
}

impl ServerUrl {
    pub fn parse(text: &str) -> Result<ServerUrl, Invalid> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("expected smtp://host:port or smtps://host:port")?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (username, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| Invalid(format!("port {p:?} is not a number")))?,
                ),
            ),
            None => (hostport.to_string(), None),
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        let tls = query.split('&').find_map(|kv| kv.strip_prefix("tls="));
        let security = match (scheme, tls) {
            ("smtps", _) => Security::Implicit,
            ("smtp", Some("required")) => Security::StartTls,
            ("smtp", Some("opportunistic")) => Security::Opportunistic,
            ("smtp", None | Some("none")) => Security::Plain,
            ("smtp", Some(other)) => {
                return Err(Invalid(format!(
                    "tls={other}: expected required, opportunistic or none"
                )));
            }
            (other, _) => {
                return Err(Invalid(format!("scheme {other}: expected smtp or smtps")));
            }
        };
        let port = port.unwrap_or(match security {
            Security::Implicit => 465,
            Security::StartTls | Security::Opportunistic => 587,
            Security::Plain => 25,
        });
        Ok(ServerUrl {
            host,
            port,
            security,
            username,
        })
    }
}

/// `{env:NAME}` in a value → that environment variable (keys and tokens stay out of files).
pub fn expand_env(text: &str) -> Result<String, Invalid> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("{env:") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 5..];
        let end = tail.find('}').ok_or("unclosed {env:…}")?;
        let name = &tail[..end];
        out.push_str(
            &std::env::var(name)
                .map_err(|_| Invalid(format!("environment variable {name} is not set")))?,
        );
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Which group robot a webhook is: each expects its own JSON.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// 企业微信群机器人.
    Wecom,
    /// 钉钉群机器人.
    Dingtalk,
}

impl std::fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WebhookKind::Wecom => "企业微信",
            WebhookKind::Dingtalk => "钉钉",
        })
    }
}

/// `contact = "a@…"` or `contact = ["a@…", "b@…"]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Contacts {
    One(String),
    Many(Vec<String>),
}

impl Contacts {
    pub fn all(&self) -> Vec<String> {
        match self {
            Contacts::One(a) => vec![a.clone()],
            Contacts::Many(v) => v.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Address;

    /// An address reads and is recorded as written; its mailbox is parsed once, with the name.
    #[test]
    fn an_address_keeps_its_text_and_its_mailbox() {
        let a = Address::parse("六安市司法局法律援助数据 <fayuan@example.gov.cn>").unwrap();
        assert_eq!(
            a.to_string(),
            "六安市司法局法律援助数据 <fayuan@example.gov.cn>"
        );
        assert_eq!(a.mailbox().email.to_string(), "fayuan@example.gov.cn");
        assert_eq!(
            a.mailbox().name.as_deref(),
            Some("六安市司法局法律援助数据")
        );
        let bare = Address::parse("huoqiu@example.gov.cn").unwrap();
        assert_eq!(bare.as_str(), "huoqiu@example.gov.cn");
        assert!(bare.mailbox().name.is_none());
        for bad in ["", "huoqiu", "a@", "<huoqiu@example.gov.cn"] {
            assert!(Address::parse(bad).is_err(), "{bad:?}");
        }
    }
}
