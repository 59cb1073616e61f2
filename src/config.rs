//! The pipeline definition (`pipelines/*.toml`): reference data, thresholds and folders.
//!
//! Invariant: every fact about units, targets, populations, budgets, deadlines and alert
//! thresholds comes from here; nothing of it is written in Rust. A definition is checked as a
//! whole before any work and every problem is listed at once.

// `!(x > 0.0)` is deliberate: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::error::Error;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct PipelineFile {
    pub pipeline: PipelineSection,
    pub folders: Folders,
    pub submission: SubmissionRules,
    pub funding: Funding,
    pub alerts: AlertThresholds,
    pub email: EmailSettings,
    #[serde(default)]
    pub webhooks: Vec<WebhookDef>,
    pub schedule: ScheduleSettings,
    /// How much of one file is read, and for how long (defaults when the section is absent).
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub sources: Vec<SourceDef>,
    /// Soft checks (核实性审核): unusual figures that are accepted but need a 说明.
    #[serde(default)]
    pub soft_checks: Vec<SoftCheck>,
    /// Mailboxes fayuan reads county files from (email-in).
    #[serde(default)]
    pub mailboxes: Vec<MailboxDef>,
    /// The web pages (the daemon and `fayuan serve` serve them).
    #[serde(default)]
    pub web: WebSettings,
    /// The year's review (考核验收): the thresholds the plan leaves to the bureau.
    #[serde(default)]
    pub review: ReviewSettings,
    /// The report folders (`output/<pipeline>/`).
    #[serde(default)]
    pub output: OutputSettings,
    pub units: Vec<UnitDef>,
}

/// `[review]`: the requirements of the year's review that the plan states without a figure
/// (fractions: 0.90 = 90%). The others are the plan's own: 100% of the target, funds 100% arrived
/// and spent, case subsidies ≥ `alerts.case_share_min`, input ≥ `funding.per_case_standard`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ReviewSettings {
    /// 年度目标完成率 at least this (the plan: 100%).
    pub completion_min: f64,
    /// 满意度 (satisfied / surveyed over the year) at least this.
    pub satisfaction_min: f64,
    /// 投诉办结率 (resolved / complaints over the year) at least this.
    pub complaint_resolution_min: f64,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            completion_min: 1.0,
            satisfaction_min: 0.90,
            complaint_resolution_min: 1.0,
        }
    }
}

/// `[output]`: what is kept of earlier versions of a report.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct OutputSettings {
    /// Versions of a period's report kept in `.history/` when it is made again (oldest go).
    pub keep_history: usize,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings { keep_history: 10 }
    }
}

/// Megabytes as fayuan counts them everywhere a size is configured (`limits.max_file_mb`,
/// `web.max_upload_mb`): 1 MB = 1,000,000 bytes.
pub fn mb_bytes(mb: f64) -> u64 {
    (mb * 1e6) as u64
}

/// `[web]`: where the pages are served, and how large an upload may be. The bureau's token and
/// the secret the county links are derived from come only from the environment
/// (`FAYUAN_WEB_TOKEN`, `FAYUAN_WEB_SECRET`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct WebSettings {
    /// `127.0.0.1:8080` by default: a public address only when set here.
    pub listen: String,
    /// The environment variables of the bureau's token and of the secret the unit links are
    /// derived from (SPEC §10).
    pub token_env: String,
    pub secret_env: String,
    /// The largest upload kept and checked (MB = 1,000,000 bytes, as `limits.max_file_mb`); a
    /// larger one is kept in quarantine up to four times this, refused beyond.
    pub max_upload_mb: f64,
    /// The address people open, for the links in reminders (e.g. `https://fayuan.example.gov.cn`).
    pub public_url: Option<String>,
    /// Connections served at once (more wait to be accepted); also kept below the process's
    /// open-file limit.
    pub max_connections: usize,
    /// Uploads received at once (more wait their turn).
    pub max_concurrent_uploads: usize,
    /// A connection that has not sent a whole request header within this long is closed.
    pub header_timeout_seconds: u64,
    /// An upload whose body has not arrived whole within this long is dropped (nothing kept).
    pub body_timeout_seconds: u64,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            listen: "127.0.0.1:8080".into(),
            token_env: "FAYUAN_WEB_TOKEN".into(),
            secret_env: "FAYUAN_WEB_SECRET".into(),
            max_upload_mb: 20.0,
            public_url: None,
            max_connections: 4096,
            max_concurrent_uploads: 8,
            header_timeout_seconds: 10,
            body_timeout_seconds: 300,
        }
    }
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

/// A mailbox counties send their files to (`[[mailboxes]]`). The password only from the
/// environment variable named.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct MailboxDef {
    pub name: String,
    /// `imaps://host:993` (TLS from the first byte) or `imap://host:143` (STARTTLS required).
    pub url: String,
    pub user: String,
    /// The environment variable holding the password.
    #[serde(default = "default_imap_password_env")]
    pub password_env: String,
    #[serde(default = "default_imap_folder")]
    pub folder: String,
    /// Where processed messages are moved (created if missing); the mailbox is never emptied.
    /// `done_folder` in SPEC §9.
    #[serde(default = "default_processed_folder", alias = "done_folder")]
    pub processed_folder: String,
    /// Where messages from unknown senders, auto-replies and bounces are moved.
    #[serde(default = "default_held_folder")]
    pub held_folder: String,
    /// Who may send bulk sheets holding every unit, besides the staff in `[email] cc` (SPEC §9).
    #[serde(default)]
    pub bulk_senders: Vec<String>,
    #[serde(default = "default_max_message_mb")]
    pub max_message_mb: f64,
    #[serde(default = "default_max_attachments")]
    pub max_attachments: usize,
    /// Without IDLE (or between IDLE waits), look this often — whatever keepalives the server
    /// sends, this is the longest a new message waits.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
    /// A message whose handling fails this many times is moved to the held folder (the staff
    /// are told) and the mailbox moves on.
    #[serde(default = "default_max_failures")]
    pub max_failures: u32,
}

fn default_max_failures() -> u32 {
    3
}

fn default_imap_password_env() -> String {
    "FAYUAN_IMAP_PASSWORD".into()
}
fn default_imap_folder() -> String {
    "INBOX".into()
}
fn default_processed_folder() -> String {
    "已处理".into()
}
fn default_held_folder() -> String {
    "待人工处理".into()
}
fn default_max_message_mb() -> f64 {
    25.0
}
fn default_max_attachments() -> usize {
    10
}
fn default_poll_seconds() -> u64 {
    300
}

impl MailboxDef {
    /// (host, port, TLS from the first byte) of an `imaps://host[:port]` or `imap://host[:port]`
    /// URL (the latter upgraded with STARTTLS, never used in plain text).
    pub fn host_port(&self) -> std::result::Result<(String, u16, bool), String> {
        let (rest, implicit) = if let Some(r) = self.url.strip_prefix("imaps://") {
            (r, true)
        } else if let Some(r) = self.url.strip_prefix("imap://") {
            (r, false)
        } else {
            return Err(format!(
                "{}: expected imaps://host:993 or imap://host:143",
                self.url
            ));
        };
        let rest = rest.trim_end_matches('/');
        match rest.rsplit_once(':') {
            Some((h, p)) => Ok((
                h.to_string(),
                p.parse().map_err(|_| format!("{}: bad port", self.url))?,
                implicit,
            )),
            None => Ok((rest.to_string(), if implicit { 993 } else { 143 }, implicit)),
        }
    }
}

/// One soft check: which rule (`id`, one of [`SOFT_CHECK_IDS`], implemented in
/// `sql/17_checks.sql`), its Chinese wording and its threshold.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct SoftCheck {
    pub id: String,
    /// What a county reads, e.g. "本月受理审批数超过此前各月中位数的{threshold:int}倍";
    /// `{threshold:FMT}` is filled in (int, num, pct0, pct, yuan).
    pub wording: String,
    pub threshold: f64,
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
    pub fn parse(text: &str) -> Result<ServerUrl, String> {
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
                        .map_err(|_| format!("port {p:?} is not a number"))?,
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
                return Err(format!(
                    "tls={other}: expected required, opportunistic or none"
                ));
            }
            (other, _) => return Err(format!("scheme {other}: expected smtp or smtps")),
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
pub fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("{env:") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 5..];
        let end = tail.find('}').ok_or("unclosed {env:…}")?;
        let name = &tail[..end];
        out.push_str(
            &std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?,
        );
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The email digest (SPEC §6). The SMTP password is never here: it comes from
/// `FAYUAN_SMTP_PASSWORD`; `FAYUAN_SMTP_URL` overrides `server`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct EmailSettings {
    /// Sender, e.g. `六安市司法局 <fayuan@example.gov.cn>`.
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// `smtps://host:465` (implicit TLS), `smtp://host:587?tls=required` (STARTTLS),
    /// `smtp://host:25` (plain, a local relay). Absent: digests are written to the outbox as
    /// .eml files.
    pub server: Option<String>,
    pub username: Option<String>,
    /// An extra CA certificate (PEM) to trust, for a server with a private certificate.
    pub tls_ca_file: Option<PathBuf>,
    /// Above this size the workbook is not attached (the digest says so).
    pub max_attachment_mb: f64,
    /// A whole send to one recipient is abandoned after this long.
    pub timeout_seconds: u64,
    /// Attempts per recipient for transient failures (4xx, refused connection, timeout).
    pub attempts: u32,
    /// The first retry waits this long, doubling each time (with jitter).
    pub retry_base_ms: u64,
    /// A message still undelivered this long after it was made is given up, and the data staff
    /// get one notice listing it (until then it is tried at every wake-up, backing off to an
    /// hour between tries).
    #[serde(default = "default_give_up_hours")]
    pub give_up_hours: u32,
    /// CJK-capable fonts for the chart, first found is used (.ttf, .otf or .ttc).
    #[serde(default)]
    pub chart_fonts: Vec<PathBuf>,
}

/// The daemon's schedules (SPEC §7): cron expressions with seconds, Beijing time.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ScheduleSettings {
    /// Take new files from the inbox and the HTTP sources.
    pub ingest: String,
    /// Remind units that have not reported (for the previous month).
    pub remind: String,
    /// Build and send the report for the previous month.
    pub report: String,
    /// How often the daemon proves it is alive (heartbeat file and log line).
    pub heartbeat_seconds: u64,
    /// How long a command waits for another fayuan process to finish writing.
    pub lock_wait_seconds: u64,
}

/// An HTTP source polled on the ingest schedule; what it returns goes through the same
/// validation, archive and quarantine as inbox files.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct SourceDef {
    /// A short name, used in file names and reports.
    pub name: String,
    /// `{period}` is replaced by the month polled (`2025-06`); `{env:NAME}` by that variable.
    pub url: String,
    /// `xlsx`, `csv` or `json`: the format of what the URL returns.
    pub format: String,
    /// Request headers; values may use `{env:NAME}` (tokens stay out of files).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    pub timeout_seconds: u64,
    pub max_bytes: u64,
    pub attempts: u32,
    /// The first pause between tries; later ones double.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
}

/// A group-robot webhook (WeCom or DingTalk) that gets a short summary of critical alerts.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct WebhookDef {
    /// `{env:NAME}` in the URL is replaced by that environment variable (keep keys out of files).
    pub url: String,
    pub kind: WebhookKind,
    /// Tries in all for one post.
    #[serde(default = "default_webhook_attempts")]
    pub attempts: u32,
    /// The first pause between tries; later ones double.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
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

fn default_give_up_hours() -> u32 {
    72
}

fn default_webhook_attempts() -> u32 {
    3
}

fn default_retry_base_ms() -> u64 {
    2000
}

impl WebhookDef {
    pub fn retry(&self) -> crate::retry::Retry {
        crate::retry::Retry::new(self.attempts, self.retry_base_ms)
    }
}

impl SourceDef {
    pub fn retry(&self) -> crate::retry::Retry {
        crate::retry::Retry::new(self.attempts, self.retry_base_ms)
    }
}

impl EmailSettings {
    pub fn retry(&self) -> crate::retry::Retry {
        crate::retry::Retry::new(self.attempts, self.retry_base_ms)
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct PipelineSection {
    /// Short machine name, used for output folders: `luan-2025`.
    pub name: String,
    /// The project's Chinese title, used in file names and subjects.
    pub title: String,
    /// The city (or province, ministry) that aggregates: `六安市`.
    pub city: String,
    /// The office that collects the reports, as units address it: `六安市司法局`.
    pub office: String,
    /// The reporting year.
    pub year: i32,
    /// The plan's overall target; checked against the sum of the units' targets.
    pub total_target: Option<i64>,
    /// The previous year's pipeline (its `name`, a file beside this one): reports add
    /// same-month-last-year and growth columns, propose `carry_over`, and the spike rule looks
    /// at last year's same month.
    #[serde(default)]
    pub previous: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Folders {
    /// Where inbox/, archive/, quarantine/, the store and the outbox live. Relative paths are
    /// taken from the folder that holds the pipeline file.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct SubmissionRules {
    /// A month's submission is due by the end of this day of the next month (Beijing time).
    pub deadline_day: u32,
    /// One bad row rejects the whole file (a county corrects and resends the whole file).
    pub reject_whole_file_on_error: bool,
    /// How units send their files, for reminders (in Chinese).
    pub how_to_send: String,
    /// The largest count a row may hold (cases, people, complaints in one unit's month).
    #[serde(default = "default_max_count")]
    pub max_count: i64,
    /// The largest amount of money (元) a row may hold for one unit's month.
    #[serde(default = "default_max_money_yuan")]
    pub max_money_yuan: i64,
    /// The longest free text (单位名称, 填报人) a cell may hold, in characters.
    #[serde(default = "default_max_text_chars")]
    pub max_text_chars: usize,
    /// The longest 执行情况 (the month's progress in words), in characters.
    #[serde(default = "default_max_narrative_chars")]
    pub max_narrative_chars: usize,
}

// The bounds below are far above any real month of any unit (a county approves tens to hundreds
// of cases a month; all of 六安市 plans 6,064 in a year; the whole country about 1.4 million),
// yet small enough that every sum fayuan makes stays exact: 1,000,000 cases × 100,000 rows fits
// an i64 many times over, and 10亿元 in 分 (10^11) × 90,000 rows stays under 2^53, where f64
// money is still exact to the 分.
fn default_max_count() -> i64 {
    1_000_000
}
fn default_max_money_yuan() -> i64 {
    1_000_000_000
}
fn default_max_text_chars() -> usize {
    200
}
fn default_max_narrative_chars() -> usize {
    2000
}

/// How much of one file fayuan reads, and how long it may take: a county's monthly file is a
/// few kilobytes with a handful of rows; a city's bulk sheet a few hundred rows. Anything beyond
/// these is rejected in seconds with a Chinese reason, never read into memory whole.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Limits {
    /// A larger file is not read at all (it is kept in quarantine with the reason).
    pub max_file_mb: f64,
    /// A workbook (.xlsx, .ods: a zip) whose parts unpack to more than this is rejected.
    pub max_unpacked_mb: f64,
    /// Rows read from one table (sheet, CSV, JSON array).
    pub max_rows: usize,
    /// Columns read from one table.
    pub max_columns: usize,
    /// Wall-clock time one file may take to read.
    pub read_seconds: u64,
    /// Memory the separate process that opens workbooks may use.
    pub reader_memory_mb: u64,
    /// Problems listed in one error report (the rest are counted).
    pub max_problems: usize,
    /// A file in the inbox is taken only once it has not changed for this long (an upload or
    /// a copy still being written is left for the next ingest).
    pub quiet_seconds: f64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_mb: 20.0,
            max_unpacked_mb: 64.0,
            max_rows: 10_000,
            max_columns: 200,
            read_seconds: 30,
            reader_memory_mb: 1024,
            max_problems: 200,
            quiet_seconds: 2.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Funding {
    /// 元 per case: the plan's 2024 案均 figure; the budget of a unit without one is target × this.
    pub per_case_standard: f64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct AlertThresholds {
    pub behind_schedule_warning_pp: f64,
    pub behind_schedule_critical_pp: f64,
    pub case_share_min: f64,
    pub spike_z: f64,
    pub spike_min_history: u32,
    pub spike_zero_median: f64,
    /// The median absolute deviation is taken as at least this many cases.
    pub spike_mad_floor: f64,
    /// An upward spike also lies above this multiple of the largest earlier month (a December
    /// push is not a spike).
    #[serde(default = "default_spike_above_largest")]
    pub spike_above_largest: f64,
    /// A downward spike also lies below this multiple of the smallest earlier month.
    #[serde(default = "default_spike_below_smallest")]
    pub spike_below_smallest: f64,
    /// With a previous year: a month within this fraction of last year's same month, scaled by
    /// this year's year-to-date ratio to last year's, is not a spike (0.5 = ±50%).
    #[serde(default = "default_spike_last_year_band")]
    pub spike_last_year_band: f64,
}

fn default_spike_last_year_band() -> f64 {
    0.5
}

fn default_spike_above_largest() -> f64 {
    1.5
}

fn default_spike_below_smallest() -> f64 {
    0.5
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct UnitDef {
    pub code: String,
    pub name: String,
    pub target: i64,
    /// Resident population (常住人口); absent where not yet sourced.
    pub population: Option<i64>,
    pub population_source: Option<String>,
    /// The unit serves the whole city (市本级): it has no population of its own by design.
    #[serde(default)]
    pub whole_city: bool,
    /// 计划安排经费 (元); absent → target × per_case_standard, marked as derived.
    pub budget: Option<f64>,
    /// Open cases carried over from last year (for the `inconsistent` alert).
    #[serde(default)]
    pub carry_over: i64,
    /// Where reminders go (the unit's data contact): one address or a list (SPEC §9); every
    /// address listed may send the unit's files by email, the first gets the reminders.
    pub contact: Option<Contacts>,
    /// Further addresses that may send the unit's files by email (email-in).
    #[serde(default)]
    pub contacts: Vec<String>,
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

/// One reporting unit, checked.
#[derive(Debug, Clone)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub target: i64,
    pub population: Option<i64>,
    pub population_source: Option<String>,
    pub whole_city: bool,
    pub budget: f64,
    pub budget_derived: bool,
    pub carry_over: i64,
    pub contact: Option<String>,
    /// Every address registered for the unit (the contact first), lower-cased.
    pub senders: Vec<String>,
}

/// A checked pipeline definition, with folders resolved.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub file: PathBuf,
    pub def: PipelineFile,
    pub units: Vec<Unit>,
    pub data_dir: PathBuf,
    /// Things that are allowed but worth telling at start-up (e.g. a population not yet sourced).
    pub warnings: Vec<String>,
    /// Unit code → index in `units` (a country has thousands of units).
    by_code: std::collections::HashMap<String, usize>,
    /// The previous year's pipeline (`pipeline.previous`), loaded from the same folder; its own
    /// `previous` is not followed.
    pub previous: Option<Box<Pipeline>>,
}

impl Pipeline {
    /// Loads a definition and the previous year's it names (a file in the same folder).
    pub fn load(path: &Path) -> Result<Pipeline, Error> {
        let mut p = Pipeline::load_alone(path)?;
        if let Some(name) = p.def.pipeline.previous.clone() {
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut found = None;
            let mut broken = Vec::new();
            for f in pipeline_files(dir).unwrap_or_default() {
                if f.as_path() == path {
                    continue;
                }
                match Pipeline::load_alone(&f) {
                    Ok(q) if q.name() == name => {
                        found = Some(q);
                        break;
                    }
                    Ok(_) => {}
                    // A file that names itself so but does not load: its own problems are the
                    // answer, not "no pipeline named so".
                    Err(e) if declared_name(&f).as_deref() == Some(name.as_str()) => {
                        broken.push(format!(
                            "pipeline.previous {name:?}: {} does not load:\n    {}",
                            f.display(),
                            e.to_string().replace('\n', "\n    ")
                        ))
                    }
                    Err(_) => {}
                }
            }
            match found {
                Some(prev) if prev.name() != p.name() => p.previous = Some(Box::new(prev)),
                _ if !broken.is_empty() => {
                    return Err(Error::Config {
                        file: path.to_path_buf(),
                        problems: broken,
                    });
                }
                _ => {
                    return Err(Error::Config {
                        file: path.to_path_buf(),
                        problems: vec![format!(
                            "pipeline.previous {name:?}: no other pipeline named so in {} (a loadable *.toml beside this one)",
                            dir.display()
                        )],
                    });
                }
            }
        }
        Ok(p)
    }

    /// Loads a definition without following `previous`.
    fn load_alone(path: &Path) -> Result<Pipeline, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Pipeline::from_toml(&text, path)
    }

    /// Reads a definition and checks it as a whole: unknown keys (a misspelt key would
    /// otherwise be silently ignored) and every value problem are listed together.
    pub fn from_toml(text: &str, path: &Path) -> Result<Pipeline, Error> {
        let mut problems = Vec::new();
        let parsed = toml::Deserializer::parse(text).and_then(|de| {
            serde_ignored::deserialize(de, |key| {
                problems.push(format!(
                    "{key}: unknown key (not part of a pipeline definition; check its spelling and section)"
                ));
            })
        });
        let def: PipelineFile = match parsed {
            Ok(def) => def,
            Err(e) => {
                problems.push(e.to_string().trim().to_string());
                return Err(Error::Config {
                    file: path.to_path_buf(),
                    problems,
                });
            }
        };
        let (units, warnings, more) = check(&def);
        problems.extend(more);
        if !problems.is_empty() {
            return Err(Error::Config {
                file: path.to_path_buf(),
                problems,
            });
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let data_dir = base.join(&def.folders.data_dir);
        let by_code = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.code.clone(), i))
            .collect();
        Ok(Pipeline {
            file: path.to_path_buf(),
            def,
            units,
            data_dir,
            warnings,
            by_code,
            previous: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.def.pipeline.name
    }

    pub fn year(&self) -> i32 {
        self.def.pipeline.year
    }

    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.by_code.get(code).map(|&i| &self.units[i])
    }
}

/// The `[pipeline] name` a file gives itself, read even when the rest of it is wrong.
fn declared_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Table = text.parse().ok()?;
    Some(v.get("pipeline")?.get("name")?.as_str()?.to_string())
}

/// Every problem of a definition, at once; plus warnings.
fn check(def: &PipelineFile) -> (Vec<Unit>, Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    check_pipeline(def, &mut problems);
    check_submission(def, &mut problems);
    check_limits(&def.limits, &mut problems);
    check_thresholds(def, &mut problems);
    check_email(&def.email, &mut problems);
    check_schedule(&def.schedule, &mut problems);
    check_sources_and_hooks(def, &mut problems);
    let units = check_units(def, &mut warnings, &mut problems);
    (units, warnings, problems)
}

/// `[pipeline]`: the name (it names folders) and the year.
fn check_pipeline(def: &PipelineFile, problems: &mut Vec<String>) {
    let p = &def.pipeline;
    if p.name.trim().is_empty()
        || !p
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.push(format!(
            "pipeline.name {:?}: use letters, digits, '-' or '_' (it names output folders)",
            p.name
        ));
    }
    if !(2000..=2100).contains(&p.year) {
        problems.push(format!(
            "pipeline.year {}: expected a year such as 2025",
            p.year
        ));
    }
}

/// `[submission]`: the deadline and the bounds of a row.
fn check_submission(def: &PipelineFile, problems: &mut Vec<String>) {
    if !(1..=28).contains(&def.submission.deadline_day) {
        problems.push(format!(
            "submission.deadline_day {}: expected a day from 1 to 28",
            def.submission.deadline_day
        ));
    }
    let sub = &def.submission;
    if !(1..=1_000_000_000).contains(&sub.max_count) {
        problems.push(format!(
            "submission.max_count {}: expected 1 to 1000000000",
            sub.max_count
        ));
    }
    if !(1..=100_000_000_000).contains(&sub.max_money_yuan) {
        problems.push(format!(
            "submission.max_money_yuan {}: expected 1 to 100000000000 (money is kept exact in 分)",
            sub.max_money_yuan
        ));
    }
    for (key, v) in [
        ("max_text_chars", sub.max_text_chars),
        ("max_narrative_chars", sub.max_narrative_chars),
    ] {
        if !(1..=30_000).contains(&v) {
            problems.push(format!(
                "submission.{key} {v}: expected 1 to 30000 (a spreadsheet cell holds 32767)"
            ));
        }
    }
}

/// `[limits]`: how much of a file is read.
fn check_limits(l: &Limits, problems: &mut Vec<String>) {
    for (key, v, max) in [
        ("max_file_mb", l.max_file_mb, 4096.0),
        ("max_unpacked_mb", l.max_unpacked_mb, 4096.0),
    ] {
        if !(v > 0.0 && v <= max) {
            problems.push(format!(
                "limits.{key} {v}: expected more than 0 and at most {max}"
            ));
        }
    }
    for (key, v, max) in [
        ("max_rows", l.max_rows as u64, 10_000_000),
        ("max_columns", l.max_columns as u64, 16_384),
        ("read_seconds", l.read_seconds, 3_600),
        ("max_problems", l.max_problems as u64, 100_000),
    ] {
        if !(1..=max).contains(&v) {
            problems.push(format!("limits.{key} {v}: expected 1 to {max}"));
        }
    }
    if !(0.0..=600.0).contains(&l.quiet_seconds) {
        problems.push(format!(
            "limits.quiet_seconds {}: expected 0 to 600",
            l.quiet_seconds
        ));
    }
    if !(64..=65_536).contains(&l.reader_memory_mb) {
        problems.push(format!(
            "limits.reader_memory_mb {}: expected 64 to 65536",
            l.reader_memory_mb
        ));
    }
}

/// `[funding]` and `[alerts]`: the standard and the thresholds.
fn check_thresholds(def: &PipelineFile, problems: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    for c in &def.soft_checks {
        match SOFT_CHECK_IDS.iter().find(|(id, _)| *id == c.id) {
            None => problems.push(format!(
                "soft_checks: unknown id {:?} (known: {})",
                c.id,
                SOFT_CHECK_IDS.map(|(id, _)| id).join(", ")
            )),
            Some((_, what)) if !(c.threshold.is_finite() && c.threshold >= 0.0) => {
                problems.push(format!(
                    "soft_checks.{}: threshold {} (expected {what})",
                    c.id, c.threshold
                ));
            }
            Some(_) => {}
        }
        if !seen.insert(c.id.as_str()) {
            problems.push(format!("soft_checks: {} listed twice", c.id));
        }
        if c.wording.trim().is_empty() {
            problems.push(format!("soft_checks.{}: wording is empty", c.id));
        }
    }
    if !(def.funding.per_case_standard > 0.0) {
        problems.push("funding.per_case_standard must be more than 0".into());
    }
    let a = &def.alerts;
    if !(a.behind_schedule_warning_pp > 0.0
        && a.behind_schedule_critical_pp > a.behind_schedule_warning_pp)
    {
        problems.push(
            "alerts: expected 0 < behind_schedule_warning_pp < behind_schedule_critical_pp".into(),
        );
    }
    if !(0.0..=1.0).contains(&a.case_share_min) {
        problems.push(format!(
            "alerts.case_share_min {}: a fraction between 0 and 1 (0.70 = 70%)",
            a.case_share_min
        ));
    }
    if !(a.spike_z > 0.0) || a.spike_min_history == 0 || a.spike_zero_median < 0.0 {
        problems.push(
            "alerts: spike_z > 0, spike_min_history ≥ 1 and spike_zero_median ≥ 0 expected".into(),
        );
    }
    let r = &def.review;
    for (key, v) in [
        ("completion_min", r.completion_min),
        ("satisfaction_min", r.satisfaction_min),
        ("complaint_resolution_min", r.complaint_resolution_min),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            problems.push(format!(
                "review.{key} {v}: a fraction more than 0 and at most 1 (0.90 = 90%)"
            ));
        }
    }
    let below_ok = a.spike_below_smallest > 0.0 && a.spike_below_smallest <= 1.0;
    if !(a.spike_last_year_band >= 0.0 && a.spike_last_year_band <= 10.0) {
        problems.push(format!(
            "alerts.spike_last_year_band {}: a fraction from 0 to 10 (0.5 = ±50%)",
            a.spike_last_year_band
        ));
    }
    if !(1.0..=100.0).contains(&a.spike_above_largest) || !below_ok {
        problems.push(
            "alerts: expected 1 ≤ spike_above_largest ≤ 100 and 0 < spike_below_smallest ≤ 1"
                .into(),
        );
    }
}

/// `[email]`: addresses, server, delivery settings.
fn check_email(e: &EmailSettings, problems: &mut Vec<String>) {
    for (what, addr) in std::iter::once(("email.from", &e.from))
        .chain(e.to.iter().map(|a| ("email.to", a)))
        .chain(e.cc.iter().map(|a| ("email.cc", a)))
    {
        if addr.parse::<lettre::message::Mailbox>().is_err() {
            problems.push(format!("{what} {addr:?}: not an email address"));
        }
    }
    if e.to.is_empty() {
        problems.push("email.to: at least one recipient".into());
    }
    if let Some(server) = &e.server
        && let Err(why) = ServerUrl::parse(server)
    {
        problems.push(format!("email.server {server:?}: {why}"));
    }
    if !(e.max_attachment_mb > 0.0) || e.timeout_seconds == 0 || !(1..=10).contains(&e.attempts) {
        problems.push(
            "email: max_attachment_mb > 0, timeout_seconds > 0 and attempts 1..=10 expected".into(),
        );
    }
    if !(1..=24 * 60).contains(&e.give_up_hours) {
        problems.push(format!(
            "email.give_up_hours {}: expected 1 to 1440 (hours a message is retried)",
            e.give_up_hours
        ));
    }
}

/// `[schedule]`: cron expressions and intervals.
fn check_schedule(sch: &ScheduleSettings, problems: &mut Vec<String>) {
    for (what, expr) in [
        ("schedule.ingest", &sch.ingest),
        ("schedule.remind", &sch.remind),
        ("schedule.report", &sch.report),
    ] {
        if let Err(why) = crate::cron::parse(expr) {
            problems.push(format!("{what} {expr:?}: {why}"));
        }
    }
    if sch.heartbeat_seconds == 0 {
        problems.push("schedule.heartbeat_seconds must be more than 0".into());
    }
}

/// `[[sources]]`, the units' contacts and `[[webhooks]]`.
fn check_sources_and_hooks(def: &PipelineFile, problems: &mut Vec<String>) {
    let mut source_names = HashSet::new();
    for (i, src) in def.sources.iter().enumerate() {
        let at = format!("sources[{}] ({})", i + 1, src.name);
        if src.name.is_empty()
            || !src
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || !source_names.insert(src.name.clone())
        {
            problems.push(format!(
                "{at}: name must be unique, letters, digits, '-' or '_'"
            ));
        }
        if !src.url.starts_with("http://") && !src.url.starts_with("https://") {
            problems.push(format!("{at}: url must be http(s)"));
        }
        if !matches!(src.format.as_str(), "xlsx" | "csv" | "json") {
            problems.push(format!("{at}: format {:?}: xlsx, csv or json", src.format));
        }
        if src.timeout_seconds == 0 || src.max_bytes == 0 || !(1..=10).contains(&src.attempts) {
            problems.push(format!(
                "{at}: timeout_seconds > 0, max_bytes > 0, attempts 1..=10"
            ));
        }
    }
    for u in &def.units {
        let listed: Vec<String> = u.contact.iter().flat_map(Contacts::all).collect();
        for c in listed.iter().chain(&u.contacts) {
            if c.parse::<lettre::message::Mailbox>().is_err() {
                problems.push(format!(
                    "units ({} {}): contact {c:?} is not an email address",
                    u.code, u.name
                ));
            }
        }
    }
    if def.web.listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(format!(
            "web.listen {:?}: an address and port such as 127.0.0.1:8080",
            def.web.listen
        ));
    }
    if !(def.web.max_upload_mb > 0.0 && def.web.max_upload_mb <= 100.0) {
        problems.push(format!(
            "web.max_upload_mb {}: expected more than 0 and at most 100",
            def.web.max_upload_mb
        ));
    }
    let w = &def.web;
    for (key, v, max) in [
        ("max_connections", w.max_connections as u64, 100_000),
        (
            "max_concurrent_uploads",
            w.max_concurrent_uploads as u64,
            256,
        ),
        ("header_timeout_seconds", w.header_timeout_seconds, 600),
        ("body_timeout_seconds", w.body_timeout_seconds, 3_600),
    ] {
        if !(1..=max).contains(&v) {
            problems.push(format!("web.{key} {v}: expected 1 to {max}"));
        }
    }
    if !(1..=1000).contains(&def.output.keep_history) {
        problems.push(format!(
            "output.keep_history {}: expected 1 to 1000 (versions of a report kept)",
            def.output.keep_history
        ));
    }
    for (i, m) in def.mailboxes.iter().enumerate() {
        let at = format!("mailboxes[{}] ({})", i + 1, m.name);
        if let Err(why) = m.host_port() {
            problems.push(format!("{at}: url {why}"));
        }
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            problems.push(format!("{at}: name: letters, digits and - only"));
        }
        let size_ok = m.max_message_mb > 0.0 && m.max_message_mb <= 100.0;
        if !size_ok || !(1..=50).contains(&m.max_attachments) || m.poll_seconds == 0 {
            problems.push(format!(
                "{at}: 0 < max_message_mb ≤ 100, 1 ≤ max_attachments ≤ 50, poll_seconds > 0"
            ));
        }
        if !(1..=100).contains(&m.max_failures) {
            problems.push(format!(
                "{at}: max_failures {}: expected 1 to 100",
                m.max_failures
            ));
        }
        for a in &m.bulk_senders {
            if a.parse::<lettre::message::Mailbox>().is_err() {
                problems.push(format!("{at}: bulk sender {a:?} is not an email address"));
            }
        }
    }
    for (i, w) in def.webhooks.iter().enumerate() {
        if !w.url.starts_with("http://") && !w.url.starts_with("https://") {
            problems.push(format!("webhooks[{}].url: an http(s) URL", i + 1));
        }
    }
}

/// `[[units]]`: codes and names once each, targets, populations with their source, budgets;
/// the checked units, and the plan's total.
fn check_units(
    def: &PipelineFile,
    warnings: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Vec<Unit> {
    let p = &def.pipeline;
    if def.units.is_empty() {
        problems.push("no [[units]] defined".into());
    }
    let mut codes = HashSet::new();
    let mut names = HashSet::new();
    let mut units = Vec::new();
    for (i, u) in def.units.iter().enumerate() {
        let at = format!("units[{}] ({} {})", i + 1, u.code, u.name);
        if u.code.len() != 6 || !u.code.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(format!("{at}: code must be a 6-digit GB/T 2260 code"));
        }
        if !codes.insert(u.code.clone()) {
            problems.push(format!("{at}: code {} is listed twice", u.code));
        }
        if u.name.trim().is_empty() {
            problems.push(format!("{at}: name is empty"));
        } else if !names.insert(u.name.clone()) {
            problems.push(format!("{at}: name {} is listed twice", u.name));
        }
        if u.target <= 0 {
            problems.push(format!("{at}: target must be more than 0"));
        }
        match (u.population, u.whole_city) {
            (Some(n), _) if n <= 0 => problems.push(format!("{at}: population must be more than 0")),
            (Some(_), true) => problems.push(format!(
                "{at}: a whole_city unit has no population of its own; remove population"
            )),
            (Some(_), false) if u.population_source.as_deref().is_none_or(|s| s.trim().is_empty()) => {
                problems.push(format!("{at}: population_source is required with population"))
            }
            (None, false) => warnings.push(format!(
                "{} ({}) has no population in {}: its per-100k figures are shown as \"—\" and the city total is marked incomplete until it is filled in",
                u.name, u.code, "the pipeline definition"
            )),
            _ => {}
        }
        if let Some(b) = u.budget
            && !(b > 0.0)
        {
            problems.push(format!("{at}: budget must be more than 0"));
        }
        if u.carry_over < 0 {
            problems.push(format!("{at}: carry_over must not be negative"));
        }
        let (budget, budget_derived) = match u.budget {
            Some(b) => (b, false),
            None => (u.target as f64 * def.funding.per_case_standard, true),
        };
        units.push(Unit {
            code: u.code.clone(),
            name: u.name.clone(),
            target: u.target,
            population: u.population,
            population_source: u.population_source.clone(),
            whole_city: u.whole_city,
            budget,
            budget_derived,
            carry_over: u.carry_over,
            contact: u.contact.as_ref().and_then(|c| c.all().into_iter().next()),
            senders: u
                .contact
                .iter()
                .flat_map(Contacts::all)
                .chain(u.contacts.iter().cloned())
                .map(|a| sender_address(&a))
                .collect(),
        });
    }
    if let Some(total) = p.total_target {
        let sum: i64 = def.units.iter().map(|u| u.target).sum();
        if sum != total {
            problems.push(format!(
                "pipeline.total_target is {total} but the units' targets add up to {sum}"
            ));
        }
    }
    units
}

/// The pipeline definitions of a folder: its `*.toml` files, sorted, except examples
/// (`*.example.toml`, which are templates to copy, not pipelines to run).
pub fn pipeline_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".example.toml"))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Finds the pipeline to use when `--pipeline` is not given: the one `*.toml` in `pipelines/`.
pub fn default_pipeline_path(dir: &Path) -> Result<PathBuf, Error> {
    let mut found = pipeline_files(dir).map_err(|e| {
        Error::Usage(format!(
            "no --pipeline given and {} cannot be read ({e}); pass --pipeline FILE",
            dir.display()
        ))
    })?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Usage(format!(
            "no pipeline definition (*.toml) in {}; pass --pipeline FILE",
            dir.display()
        ))),
        _ => Err(Error::Usage(format!(
            "several pipeline definitions in {} ({}); choose one with --pipeline FILE",
            dir.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
