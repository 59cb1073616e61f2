//! The pipeline file as written (`pipelines/*.toml`): one struct per section, with its defaults.
//! Unknown keys are found by `serde_ignored`; values are checked in `check.rs`.

use super::values::{Contacts, WebhookKind};
use serde::Deserialize;
use std::path::PathBuf;

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
    /// The Word documents (工作通报).
    #[serde(default)]
    pub docs: DocsSettings,
    /// 指导督促: whether months must be confirmed (确认) by the staff.
    #[serde(default)]
    pub supervision: SupervisionSettings,
    /// The 催报 ladder: steps relative to the deadline (none: every reminder round reminds).
    #[serde(default)]
    pub reminders: Vec<ReminderStep>,
    /// The working calendar (法定节假日, 调休): a shared file and/or years written here.
    #[serde(default)]
    pub calendar: CalendarSection,
    /// What goes to the units besides reminders and receipts.
    #[serde(default)]
    pub notify: NotifySettings,
    pub units: Vec<UnitDef>,
}

/// `[notify]` (issue 34 §6).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NotifySettings {
    /// After each monthly report, each unit's contact gets its own results (本单位本月情况) as
    /// one short message (texts/feedback.txt); false (the default): only its page shows them.
    pub unit_feedback: bool,
}

/// `[calendar]`: where the years' holidays and 调休 working days come from.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct CalendarSection {
    /// A calendar file shared by the pipelines of a folder (relative to this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Years written in the pipeline itself (`[[calendar.year]]`), besides the file's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub year: Vec<crate::calendar::YearDef>,
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
    /// The requirements that count toward 总体结论 (ids of `crate::requirements`); default the
    /// plan's own four (completion, arrival, expenditure, case_share). The others are shown with
    /// their own conclusion (管理要求).
    #[serde(default = "crate::requirements::plan_ids")]
    pub verdict_includes: Vec<String>,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            completion_min: 1.0,
            satisfaction_min: 0.90,
            complaint_resolution_min: 1.0,
            verdict_includes: crate::requirements::plan_ids(),
        }
    }
}

/// `[docs]`: the Word documents of a run (the monthly 工作通报).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DocsSettings {
    /// Attach the 工作通报 (and in December the 考核验收报告) to the digest (within
    /// `email.max_attachment_mb`).
    pub attach: bool,
    /// 主送 of the 考核验收报告: to whom the bureau reports the year.
    pub acceptance_to: String,
    /// 发文机关 of the 考核验收报告 (its 署名); empty: `[pipeline] office`.
    pub issuer: String,
}

impl Default for DocsSettings {
    fn default() -> Self {
        DocsSettings {
            attach: true,
            acceptance_to: "六安市人民政府".into(),
            issuer: String::new(),
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
    /// The environment variable of `/metrics`'s bearer token (unset: no such page).
    pub metrics_token_env: String,
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
    /// A form (an action, an answer, a 说明, 填报) whose body has not arrived within this long is
    /// refused (408), nothing done: a client that sends a request head and never its body holds
    /// a connection no longer.
    pub form_timeout_seconds: u64,
    /// An upload slower than this on average (after its first 20 seconds) is dropped as too
    /// slow: one byte a second cannot hold an upload slot for `body_timeout_seconds`.
    pub min_upload_bytes_per_second: u64,
    /// Uploads received at once for one unit (within `max_concurrent_uploads`): a slow client on
    /// one county's link cannot make every county wait.
    pub max_uploads_per_unit: usize,
    /// Connections open at once from one address other than this machine's own (a reverse proxy
    /// on this machine is not capped; one on another machine counts as one address: raise it).
    pub max_connections_per_address: usize,
    /// The data staff who act on the bureau's page (`[[web.staff]]`), each with a token of their
    /// own from the environment, so every action is attributed to a person.
    pub staff: Vec<StaffDef>,
    /// Each month a unit sends waits as 待负责人确认 until the unit's 负责人 confirms it on a
    /// second link (`fayuan links --signoff`); false (the default): no sign-off.
    pub county_signoff: bool,
}

/// One of the data staff on the bureau's page: their name (as the record shows it) and the
/// environment variable holding their token (16+ characters).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct StaffDef {
    pub name: String,
    pub token_env: String,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            listen: "127.0.0.1:8080".into(),
            token_env: "FAYUAN_WEB_TOKEN".into(),
            secret_env: "FAYUAN_WEB_SECRET".into(),
            metrics_token_env: "FAYUAN_METRICS_TOKEN".into(),
            max_upload_mb: 20.0,
            public_url: None,
            max_connections: 4096,
            max_concurrent_uploads: 8,
            header_timeout_seconds: 10,
            body_timeout_seconds: 300,
            form_timeout_seconds: 20,
            min_upload_bytes_per_second: 2048,
            max_uploads_per_unit: 2,
            max_connections_per_address: 256,
            staff: Vec::new(),
            county_signoff: false,
        }
    }
}

/// A mailbox counties send their files to (`[[mailboxes]]`). The password only from the
/// environment variable named.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct MailboxDef {
    pub name: String,
    /// `imaps://host:993` (TLS from the first byte) or `imap://host:143` (STARTTLS required).
    pub url: String,
    /// `url`, parsed when the pipeline loads.
    #[serde(skip)]
    pub endpoint: super::ImapEndpoint,
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
    /// The longest one IMAP step (connect, login, search, fetch, move, IDLE's start and end)
    /// may wait for the server before the connection is dropped and tried again.
    #[serde(default = "default_imap_timeout_seconds")]
    pub timeout_seconds: u64,
    /// A mailbox that cannot be read this long is told to the data staff (once, and once when it
    /// can be read again).
    #[serde(default = "default_alert_after_minutes")]
    pub alert_after_minutes: u64,
    /// The bureau's own mail server's id in `Authentication-Results` headers (RFC 8601): only
    /// those headers are believed (anyone can write one of their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authserv_id: Option<String>,
    /// What a sender must pass at that server for its mail to be taken (default with
    /// `authserv_id`: dmarc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_auth: Option<AuthCheck>,
}

/// The sender authentication a mailbox requires (`require_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthCheck {
    Dmarc,
    Spf,
    Dkim,
    None,
}

impl AuthCheck {
    pub fn method(self) -> &'static str {
        match self {
            AuthCheck::Dmarc => "dmarc",
            AuthCheck::Spf => "spf",
            AuthCheck::Dkim => "dkim",
            AuthCheck::None => "none",
        }
    }
}

impl MailboxDef {
    /// The check required of senders, if any: `require_auth`, else dmarc when `authserv_id` is
    /// set.
    pub fn auth_required(&self) -> Option<(&str, AuthCheck)> {
        let id = self.authserv_id.as_deref()?;
        match self.require_auth.unwrap_or(AuthCheck::Dmarc) {
            AuthCheck::None => None,
            check => Some((id, check)),
        }
    }
}

fn default_max_failures() -> u32 {
    3
}

fn default_imap_timeout_seconds() -> u64 {
    60
}

fn default_alert_after_minutes() -> u64 {
    60
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

/// One soft check: which rule (`id`, one of [`SOFT_CHECK_IDS`], implemented in
/// `sql/17_checks.sql`), its Chinese wording and its threshold.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct SoftCheck {
    pub id: String,
    /// What a county reads, e.g. "本月受理审批数超过此前各月中位数的{threshold:int}倍";
    /// `{threshold:FMT}` is filled in (int, num, pct0, pct, yuan).
    pub wording: String,
    pub threshold: f64,
    /// The smallest sample the check judges (issue 23): `satisfaction_month` only when at least
    /// `min_surveyed` were surveyed in the month or at least `min_dissatisfied` were not
    /// satisfied; `approvals_jump` and `approvals_drop` only when the earlier months' median is
    /// at least `min_median` cases. Defaults in `SoftCheck::sample` (20, 3 and 5).
    #[serde(default)]
    pub min_surveyed: Option<u32>,
    #[serde(default)]
    pub min_dissatisfied: Option<u32>,
    #[serde(default)]
    pub min_median: Option<f64>,
}

/// The smallest sample a soft check judges, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub min_surveyed: u32,
    pub min_dissatisfied: u32,
    pub min_median: f64,
}

impl SoftCheck {
    /// The keys of the smallest sample each check takes.
    pub const SAMPLE_KEYS: [(&'static str, &'static [&'static str]); 2] = [
        ("satisfaction_month", &["min_surveyed", "min_dissatisfied"]),
        ("approvals_jump approvals_drop", &["min_median"]),
    ];

    pub fn sample(&self) -> Sample {
        Sample {
            min_surveyed: self.min_surveyed.unwrap_or(20),
            min_dissatisfied: self.min_dissatisfied.unwrap_or(3),
            min_median: self.min_median.unwrap_or(5.0),
        }
    }
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
    /// `server`, parsed when the pipeline loads.
    #[serde(skip)]
    pub server_url: Option<super::ServerUrl>,
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

/// `[supervision]` (SPEC §12).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SupervisionSettings {
    /// Every month a unit reports waits as 待确认 (in `status`, on the bureau's page and as an
    /// alert) until the staff confirm it; false (the default): only months the staff chose to
    /// confirm are locked.
    pub confirm_required: bool,
}

/// One step of the 催报 ladder (SPEC §12): on the deadline's day plus `day` (−3: three days
/// before, 0: the deadline day, 3: three days after), at the reminder round of that day or the
/// first one after, each unit that has not reported gets this step's message, once.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ReminderStep {
    /// What the step is called on the bureau's page (e.g. "逾期通知", "督办").
    pub name: String,
    /// Days relative to the deadline's day.
    pub day: i32,
    /// Who gets it: "contact" (the unit's data contact), "leader" (the unit's leader), "staff".
    #[serde(default = "default_step_to")]
    pub to: Vec<String>,
    /// Who is in copy (the same words).
    #[serde(default)]
    pub cc: Vec<String>,
    /// The wording: a template of `texts/` (reminder.txt, reminder-overdue.txt, reminder-urge.txt).
    #[serde(default = "default_step_template")]
    pub template: String,
}

fn default_step_to() -> Vec<String> {
    vec!["contact".into()]
}

fn default_step_template() -> String {
    "reminder.txt".into()
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
    /// What a reminder round or a report that falls on a day off does.
    #[serde(default)]
    pub on_days_off: crate::calendar::OnDaysOff,
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
    /// The word for the whole area in sentences (`全市合计`, `全市总体结论`); by default from
    /// `city`: 六安市 → 全市, 安徽省 → 全省, 霍邱县 → 全县.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
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
    /// How a deadline on a day off moves (`holidays`: over statutory holidays only).
    #[serde(default)]
    pub roll: crate::calendar::Roll,
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
    /// Free space under which the data folder's disk is reported unwell (`/readyz`, `fayuan
    /// health`), in MB.
    pub min_free_mb: u64,
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
            min_free_mb: 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Funding {
    /// 元 per case: the plan's 2024 案均 figure; the budget of a unit without one is target × this.
    pub per_case_standard: f64,
    /// The months at whose end 到位率 is judged (财政 transfers funds by the quarter): at such a
    /// month m against m/12; between them it is shown, not alerted. 12 is always judged (the
    /// plan's 100%).
    #[serde(default = "default_arrival_checkpoints")]
    pub arrival_checkpoints: Vec<u32>,
}

fn default_arrival_checkpoints() -> Vec<u32> {
    vec![3, 6, 9, 12]
}

impl Funding {
    /// `m` when 到位率 is judged in month `m` (a checkpoint, or December), else 0.
    pub fn arrival_month(&self, m: u32) -> u32 {
        if m == 12 || (m > 0 && self.arrival_checkpoints.contains(&m)) {
            m
        } else {
            0
        }
    }
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
    /// The unit's leader (分管负责人): in copy of the ladder's 督办 step.
    pub leader: Option<String>,
}
