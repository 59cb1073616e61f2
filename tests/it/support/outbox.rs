//! What the outbox's tests share: the messages a server received, how many copies of each, the
//! delivery ledger, the settings that point fayuan at a test server.

use super::imap::{self, PASSWORD};
use super::smtp::Server;
use super::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
pub const LEADER: &str = "leader@example.gov.cn";
pub const STAFF: &str = "data-staff@example.gov.cn";

/// One message as an SMTP server received it: (recipient, Message-ID, subject, the whole message).
pub type Received = (String, String, String, Vec<u8>);

/// What an SMTP server received.
pub fn delivered(server: &Server) -> Vec<Received> {
    server
        .received()
        .into_iter()
        .map(|(file, raw)| {
            let rcpt = file[4..file.len() - 4].to_string();
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            (
                rcpt,
                m.message_id().unwrap_or("").to_string(),
                m.subject().unwrap_or("").to_string(),
                raw.clone(),
            )
        })
        .collect()
}

/// How many times each (recipient, Message-ID) was delivered; every value must be 1.
pub fn copies(server: &Server) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (r, id, _, _) in delivered(server) {
        *out.entry((r, id)).or_default() += 1;
    }
    out
}

pub fn exactly_once(server: &Server) {
    let twice: Vec<_> = copies(server)
        .into_iter()
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

pub fn ledger_text(env: &Env) -> String {
    std::fs::read_to_string(env.data().join("deliveries/luan-2025.jsonl")).unwrap_or_default()
}

pub fn smtp_env(url: &str) -> Vec<(&'static str, String)> {
    vec![("FAYUAN_SMTP_URL", url.to_string())]
}

pub fn with<'a>(
    vars: &'a [(&'static str, String)],
    more: &[(&'static str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    vars.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

pub fn free_bytes(path: &Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The daemon's own "now", from its heartbeat (written at every wake-up).
pub fn daemon_now(env: &Env) -> Option<chrono::DateTime<chrono_tz::Tz>> {
    let b = std::fs::read(env.data().join("daemon/heartbeat.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
    fayuan::period::parse_instant(v["at"].as_str()?)
}

pub fn mailbox_vars(s: &imap::Setup, smtp_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FAYUAN_IMAP_PASSWORD", PASSWORD.to_string()),
        (
            "FAYUAN_IMAP_CA_FILE",
            s.imap.ca.to_str().unwrap().to_string(),
        ),
        ("FAYUAN_SMTP_URL", smtp_url.to_string()),
    ]
}

pub use super::web::{SECRET, TOKEN};

pub async fn post_file(url: &str, name: &str, bytes: Vec<u8>) -> (u16, String) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let r = reqwest::Client::new()
        .post(url)
        .multipart(form)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

// Findings of the year in simulation (issue 21), each with a test of its own.
