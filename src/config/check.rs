//! A definition checked as a whole: every value problem of every section, listed together with
//! the unknown keys (`Pipeline::from_toml`), and the checked units.

use super::*;

/// What checking a definition gives: its units, its values that have a type of their own parsed
/// (the server and mailbox URLs into `def`, the schedules here), warnings, and every problem.
pub(super) struct Checked {
    pub units: Vec<Unit>,
    pub schedules: Option<crate::cron::Schedules>,
    /// `[email]`'s addresses, when every one of them is one.
    pub addresses: Option<Addresses>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
}

/// Every problem of a definition, at once; plus warnings. Each value is parsed here, once.
pub(super) fn check(def: &mut PipelineFile) -> Checked {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    check_pipeline(def, &mut problems);
    check_submission(def, &mut problems);
    check_limits(&def.limits, &mut problems);
    check_thresholds(def, &mut problems);
    let addresses = check_email(&mut def.email, &mut problems);
    let schedules = check_schedule(&def.schedule, &mut problems);
    if let Some(s) = &schedules {
        warn_draft_reports(def, s, &mut warnings);
    }
    check_reminders(def, &mut problems);
    check_sources_and_hooks(def, &mut problems);
    check_web_and_mailboxes(def, &mut problems);
    check_mail_auth(def, &mut warnings, &mut problems);
    let units = check_units(def, &mut warnings, &mut problems);
    Checked {
        units,
        schedules,
        addresses,
        warnings,
        problems,
    }
}

/// `[pipeline]`: the name (it names folders) and the year.
pub(super) fn check_pipeline(def: &PipelineFile, problems: &mut Vec<String>) {
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
    if let Some(area) = &p.area
        && (area.trim().is_empty()
            || area.chars().count() > 10
            || area.chars().any(char::is_control))
    {
        problems.push(format!(
            "pipeline.area {area:?}: the word for the whole area, such as 全市 or 全省 (at most 10 characters)"
        ));
    }
}

/// `[submission]`: the deadline and the bounds of a row.
pub(super) fn check_submission(def: &PipelineFile, problems: &mut Vec<String>) {
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
pub(super) fn check_limits(l: &Limits, problems: &mut Vec<String>) {
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

/// `[[soft_checks]]`: known ids, thresholds, wording, the smallest sample each judges.
pub(super) fn check_soft_checks(def: &PipelineFile, problems: &mut Vec<String>) {
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
        let given = [
            ("min_surveyed", c.min_surveyed.is_some()),
            ("min_dissatisfied", c.min_dissatisfied.is_some()),
            ("min_median", c.min_median.is_some()),
        ];
        for (key, _) in given.iter().filter(|(_, set)| *set) {
            let applies = SoftCheck::SAMPLE_KEYS
                .iter()
                .any(|(ids, keys)| ids.split(' ').any(|i| i == c.id) && keys.contains(key));
            if !applies {
                problems.push(format!(
                    "soft_checks.{}: {key} is not a setting of this check (satisfaction_month takes min_surveyed and min_dissatisfied; approvals_jump and approvals_drop take min_median)",
                    c.id
                ));
            }
        }
        if let Some(m) = c.min_median
            && !(m.is_finite() && (0.0..=1_000_000.0).contains(&m))
        {
            problems.push(format!(
                "soft_checks.{}: min_median {m} (expected cases, 0 to 1000000)",
                c.id
            ));
        }
    }
}

/// `[funding]` and `[alerts]`: the standard and the thresholds.
pub(super) fn check_thresholds(def: &PipelineFile, problems: &mut Vec<String>) {
    check_soft_checks(def, problems);
    if !(def.funding.per_case_standard > 0.0 && def.funding.per_case_standard <= 1_000_000.0) {
        problems.push(format!(
            "funding.per_case_standard {}: 元 per case, more than 0 and at most 1000000",
            def.funding.per_case_standard
        ));
    }
    let cps = &def.funding.arrival_checkpoints;
    if cps.iter().any(|&m| !(1..=12).contains(&m)) {
        problems.push(format!(
            "funding.arrival_checkpoints {cps:?}: months 1 to 12 (default [3, 6, 9, 12])"
        ));
    }
    let a = &def.alerts;
    if !(a.behind_schedule_warning_pp > 0.0
        && a.behind_schedule_critical_pp > a.behind_schedule_warning_pp
        && a.behind_schedule_critical_pp <= 100.0)
    {
        problems.push(
            "alerts: expected 0 < behind_schedule_warning_pp < behind_schedule_critical_pp ≤ 100 (percentage points)".into(),
        );
    }
    if !(a.spike_mad_floor >= 0.0 && a.spike_mad_floor <= 10_000.0) {
        problems.push(format!(
            "alerts.spike_mad_floor {}: a number of cases from 0 to 10000",
            a.spike_mad_floor
        ));
    }
    if !(0.0..=1.0).contains(&a.case_share_min) {
        problems.push(format!(
            "alerts.case_share_min {}: a fraction between 0 and 1 (0.70 = 70%)",
            a.case_share_min
        ));
    }
    let spike_ok = a.spike_z > 0.0
        && a.spike_z <= 100.0
        && (1..=11).contains(&a.spike_min_history)
        && a.spike_zero_median >= 0.0
        && a.spike_zero_median <= 10_000.0;
    if !spike_ok {
        problems.push(
            "alerts: expected 0 < spike_z ≤ 100, 1 ≤ spike_min_history ≤ 11 and 0 ≤ spike_zero_median ≤ 10000".into(),
        );
    }
    let r = &def.review;
    for id in &r.verdict_includes {
        if !crate::requirements::REQUIREMENTS.iter().any(|q| q.id == id) {
            problems.push(format!(
                "review.verdict_includes: unknown requirement {id:?} (known: {})",
                crate::requirements::REQUIREMENTS.map(|q| q.id).join(", ")
            ));
        }
    }
    if r.verdict_includes.is_empty() {
        problems.push("review.verdict_includes: at least one requirement".into());
    }
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
pub(super) fn check_email(e: &mut EmailSettings, problems: &mut Vec<String>) -> Option<Addresses> {
    let mut parse = |what: &str, addr: &String| {
        Address::parse(addr)
            .inspect_err(|_| problems.push(format!("{what} {addr:?}: not an email address")))
            .ok()
    };
    let from = parse("email.from", &e.from);
    let to: Vec<Option<Address>> = e.to.iter().map(|a| parse("email.to", a)).collect();
    let cc: Vec<Option<Address>> = e.cc.iter().map(|a| parse("email.cc", a)).collect();
    let addresses = (|| {
        Some(Addresses {
            from: from?,
            to: to.into_iter().collect::<Option<_>>()?,
            cc: cc.into_iter().collect::<Option<_>>()?,
        })
    })();
    if e.to.is_empty() {
        problems.push("email.to: at least one recipient".into());
    }
    if let Some(server) = &e.server {
        match ServerUrl::parse(server) {
            Ok(url) => e.server_url = Some(url),
            Err(why) => problems.push(format!("email.server {server:?}: {why}")),
        }
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
    addresses
}

/// `[schedule]`: cron expressions and intervals.
/// Returns them parsed when all three are good.
pub(super) fn check_schedule(
    sch: &ScheduleSettings,
    problems: &mut Vec<String>,
) -> Option<crate::cron::Schedules> {
    let mut parse = |what: &str, expr: &str| match crate::cron::parse(expr) {
        Ok(c) => Some(c),
        Err(why) => {
            problems.push(format!("{what} {expr:?}: {why}"));
            None
        }
    };
    let ingest = parse("schedule.ingest", &sch.ingest);
    let remind = parse("schedule.remind", &sch.remind);
    let report = parse("schedule.report", &sch.report);
    if sch.heartbeat_seconds == 0 {
        problems.push("schedule.heartbeat_seconds must be more than 0".into());
    }
    Some(crate::cron::Schedules {
        ingest: ingest?,
        remind: remind?,
        report: report?,
    })
}

/// A report schedule that fires before a month's deadline makes a 暂定 report that the daemon
/// never mails (`report::draft`): said once, when the pipeline loads, not found out in January.
fn warn_draft_reports(def: &PipelineFile, s: &crate::cron::Schedules, warnings: &mut Vec<String>) {
    let day = def.submission.deadline_day;
    let early: Vec<String> = (1..=12)
        .filter_map(|m| crate::period::Period::new(def.pipeline.year, m))
        .filter_map(|p| {
            // the first report after the month has ended (its deadline(0) is the next month's start)
            let fire = s.report.find_next_occurrence(&p.end(), true).ok()?;
            let nominal = crate::calendar::Days::plain(day);
            (!nominal.is_due(p, &fire)).then(|| p.zh())
        })
        .collect();
    if !early.is_empty() {
        warnings.push(format!(
            "schedule.report {:?}: {}的报告在报送截止（次月{day}日24时）之前生成，为暂定报告，守护进程不发送摘要邮件；请把报告安排在截止之后（如每月{}日）",
            def.schedule.report,
            early.join("、"),
            day + 1
        ));
    }
}

/// `[[mailboxes]] authserv_id`: without it a forged From is taken for a county (warned);
/// `require_auth` needs it.
fn check_mail_auth(def: &PipelineFile, warnings: &mut Vec<String>, problems: &mut Vec<String>) {
    for m in &def.mailboxes {
        match (&m.authserv_id, m.require_auth) {
            (Some(id), _) if id.trim().is_empty() || id.contains(char::is_whitespace) => {
                problems.push(format!(
                    "mailboxes {:?}: authserv_id {id:?}: the mail server's id as it writes it in Authentication-Results (one word, such as mail.example.gov.cn)",
                    m.name
                ))
            }
            (None, Some(check)) if check != AuthCheck::None => problems.push(format!(
                "mailboxes {:?}: require_auth = {:?} needs authserv_id (whose Authentication-Results to believe)",
                m.name,
                check.method()
            )),
            (None, _) => warnings.push(format!(
                "mailboxes {:?}: no authserv_id — a mail whose From is forged to a county's address is taken as the county's (set authserv_id to the bureau's mail server's id; README \"Email-in\")",
                m.name
            )),
            _ => {}
        }
    }
}

/// The templates a ladder's step may be worded by.
pub const REMINDER_TEMPLATES: [&str; 3] =
    ["reminder.txt", "reminder-overdue.txt", "reminder-urge.txt"];

/// `[[reminders]]`: the 催报 ladder — named steps on distinct days, to and copied to people the
/// pipeline knows, each worded by a reminder template.
fn check_reminders(def: &PipelineFile, problems: &mut Vec<String>) {
    let mut days = HashSet::new();
    let mut names = HashSet::new();
    for (i, s) in def.reminders.iter().enumerate() {
        let at = format!("reminders[{}] ({})", i + 1, s.name);
        if s.name.trim().is_empty() || !names.insert(s.name.clone()) {
            problems.push(format!("{at}: name must be given and unique"));
        }
        if !(-25..=25).contains(&s.day) || !days.insert(s.day) {
            problems.push(format!(
                "{at}: day {} must be unique and within 25 days of the deadline",
                s.day
            ));
        }
        if s.to.is_empty() {
            problems.push(format!(
                "{at}: to must name someone (contact, leader, staff)"
            ));
        }
        for who in s.to.iter().chain(&s.cc) {
            if !matches!(who.as_str(), "contact" | "leader" | "staff") {
                problems.push(format!("{at}: {who:?} is not contact, leader or staff"));
            }
        }
        if !REMINDER_TEMPLATES.contains(&s.template.as_str()) {
            problems.push(format!(
                "{at}: template {:?}: one of {}",
                s.template,
                REMINDER_TEMPLATES.join(", ")
            ));
        }
    }
}

/// `[[sources]]`, the units' contacts and `[[webhooks]]`.
pub(super) fn check_sources_and_hooks(def: &PipelineFile, problems: &mut Vec<String>) {
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
        for c in listed.iter().chain(&u.contacts).chain(&u.leader) {
            if Address::parse(c).is_err() {
                problems.push(format!(
                    "units ({} {}): contact {c:?} is not an email address",
                    u.code, u.name
                ));
            }
        }
    }
    for (i, w) in def.webhooks.iter().enumerate() {
        if !w.url.starts_with("http://") && !w.url.starts_with("https://") {
            problems.push(format!("webhooks[{}].url: an http(s) URL", i + 1));
        }
    }
}

/// `[web]`, `[output]` and `[[mailboxes]]`.
pub(super) fn check_web_and_mailboxes(def: &mut PipelineFile, problems: &mut Vec<String>) {
    let mut names = HashSet::new();
    let mut vars = HashSet::new();
    for (i, s) in def.web.staff.iter().enumerate() {
        let at = format!("web.staff[{}] ({})", i + 1, s.name);
        if s.name.trim().is_empty() || !names.insert(s.name.clone()) {
            problems.push(format!("{at}: name must be given and unique"));
        }
        let good = !s.token_env.is_empty()
            && s.token_env
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !good || !vars.insert(s.token_env.clone()) || s.token_env == def.web.secret_env {
            problems.push(format!(
                "{at}: token_env {:?} must be an environment variable's name (A-Z, 0-9, _), one per person, not the link secret's",
                s.token_env
            ));
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
        ("form_timeout_seconds", w.form_timeout_seconds, 600),
        (
            "min_upload_bytes_per_second",
            w.min_upload_bytes_per_second,
            10_000_000,
        ),
        ("max_uploads_per_unit", w.max_uploads_per_unit as u64, 256),
        (
            "max_connections_per_address",
            w.max_connections_per_address as u64,
            100_000,
        ),
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
    check_mailboxes(def, problems);
}

/// `[[mailboxes]]`: each one's address parsed into its `endpoint`, its name once, its limits.
fn check_mailboxes(def: &mut PipelineFile, problems: &mut Vec<String>) {
    let names: Vec<String> = def.mailboxes.iter().map(|m| m.name.clone()).collect();
    for (i, m) in def.mailboxes.iter_mut().enumerate() {
        let at = format!("mailboxes[{}] ({})", i + 1, m.name);
        // (its folders in the data folder, its ledger and its password are by name)
        if names[..i].contains(&m.name) {
            problems.push(format!("{at}: name {} is listed twice", m.name));
        }
        match ImapEndpoint::parse(&m.url) {
            Ok(e) => m.endpoint = e,
            Err(why) => problems.push(format!("{at}: url {why}")),
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
            if Address::parse(a).is_err() {
                problems.push(format!("{at}: bulk sender {a:?} is not an email address"));
            }
        }
    }
}

/// `[[units]]`: codes and names once each, targets, populations with their source, budgets;
/// the checked units, and the plan's total.
pub(super) fn check_units(
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
        if crate::unit_code::UnitCode::parse(&u.code).is_none_or(|c| c != u.code) {
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
            // (an address that is not one is a problem listed above)
            contact: u
                .contact
                .as_ref()
                .and_then(|c| c.all().into_iter().next())
                .and_then(|c| Address::parse(&c).ok()),
            senders: u
                .contact
                .iter()
                .flat_map(Contacts::all)
                .chain(u.contacts.iter().cloned())
                .map(|a| sender_address(&a))
                .collect(),
            leader: u.leader.as_deref().and_then(|c| Address::parse(c).ok()),
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
