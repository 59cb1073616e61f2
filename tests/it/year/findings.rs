//! The invariants, checked at the end from the driver's own records.

use super::script::*;
use super::world::*;
use chrono::{DateTime, Duration as Span, Timelike};
use chrono_tz::Tz;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The invariants, checked from the driver's own records.
pub(super) struct Findings {
    pub(super) broken: Vec<String>,
    pub(super) delivered: usize,
}

impl Findings {
    pub(super) fn check(w: &World, plan: &Script, status: &str) -> Findings {
        let mut f = Findings {
            broken: Vec::new(),
            delivered: 0,
        };
        let got = inbox_of(&w.smtp_dir);
        f.delivered = got.len();
        f.exactly_once(&got);
        f.digests(w, &got);
        f.receipts(w, &got);
        f.reminders(w, plan, &got);
        f.files(w);
        f.lateness_and_figures(w, plan);
        // The record's chain (after kills, power cuts and a full disk).
        let vars: Vec<(&str, &str)> = w
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let verify = w.env.run_env(&["audit", "--verify"], &vars);
        if verify.code != 0 {
            f.broken.push(format!(
                "audit --verify: {}{}",
                verify.stdout, verify.stderr
            ));
        }
        if !status.contains("发件箱：没有待发送的邮件") {
            f.broken
                .push(format!("messages left pending at the end:\n{status}"));
        }
        let mut all = Vec::new();
        walk(&w.env.data(), &mut all);
        walk(&w.env.tmp.path().join("output"), &mut all);
        let temps: Vec<_> = all
            .iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp-"))
            .collect();
        if !temps.is_empty() {
            f.broken.push(format!("temporary files left: {temps:?}"));
        }
        let peak = |m: u32| {
            w.memory
                .iter()
                .filter(|(k, _)| *k == m)
                .map(|(_, kb)| *kb)
                .max()
        };
        if let (Some(first), Some(last)) = (peak(1), peak(w.months))
            && last as f64 > first as f64 * 1.5
        {
            f.broken.push(format!(
                "the daemon's memory grew from a peak of {first} kB after month 1 to {last} kB after month {}",
                w.months
            ));
        }
        f
    }

    /// No (recipient, Message-ID) twice.
    pub(super) fn exactly_once(&mut self, got: &[(String, String, String, String)]) {
        let mut n: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (r, id, _, _) in got {
            *n.entry((r, id)).or_default() += 1;
        }
        for ((r, id), k) in n.into_iter().filter(|(_, k)| *k > 1) {
            self.broken.push(format!("{id} delivered {k} times to {r}"));
        }
    }

    /// Each month's digest: one, to the leader and the staff, once each.
    pub(super) fn digests(&mut self, w: &World, got: &[(String, String, String, String)]) {
        for m in 1..=w.months {
            let title = format!("2025年{m}月汇总");
            let ids: BTreeSet<&str> = got
                .iter()
                .filter(|g| g.3.contains(&title))
                .map(|g| g.1.as_str())
                .collect();
            if ids.len() != 1 {
                self.broken.push(format!(
                    "{title}: {} digests delivered ({ids:?})",
                    ids.len()
                ));
                continue;
            }
            for r in [LEADER, STAFF] {
                let n = got
                    .iter()
                    .filter(|g| g.3.contains(&title) && g.0 == r)
                    .count();
                if n != 1 {
                    self.broken
                        .push(format!("{title}: delivered {n} times to {r}"));
                }
            }
        }
    }

    /// Each county mail: exactly one receipt, in its thread, to its sender (and copies); the
    /// poison mail: none, and the staff told.
    pub(super) fn receipts(&mut self, w: &World, got: &[(String, String, String, String)]) {
        for d in &w.done {
            let Some((id, from)) = &d.mail else { continue };
            let answers: Vec<&(String, String, String, String)> =
                got.iter().filter(|g| g.2 == *id).collect();
            if d.send.poison {
                if !answers.is_empty() {
                    self.broken
                        .push(format!("the poison mail {id} was answered"));
                }
                continue;
            }
            let to_sender = answers.iter().filter(|g| g.0 == *from).count();
            if to_sender != 1 {
                self.broken.push(format!(
                    "mail {} ({id}) from {from}: {to_sender} receipts",
                    d.send.name
                ));
            }
        }
        let held = got
            .iter()
            .filter(|g| g.0 == STAFF && g.3.contains("待人工处理"))
            .count();
        if held < 1 {
            self.broken
                .push("the staff were not told of the poison mail".into());
        }
    }

    /// Reminders only to units that had not reported, at most once per unit and day — and to
    /// every unit that surely had not.
    pub(super) fn reminders(
        &mut self,
        w: &World,
        plan: &Script,
        got: &[(String, String, String, String)],
    ) {
        for m in 1..=w.months {
            for day in [3, 5] {
                let t = next_month(m, day, 9);
                for (k, u) in plan.units.iter().enumerate() {
                    let tag = format!("remind-2025-{m:02}-d{day:02}-{}", u.code);
                    let to_contact = got
                        .iter()
                        .filter(|g| g.1.contains(&tag) && g.0 == u.contact)
                        .count();
                    let first = w
                        .done
                        .iter()
                        .filter(|d| {
                            d.send.expect == Expect::Accepted
                                && d.send.rows.iter().any(|r| r.0 == k && r.1 == m)
                        })
                        .map(|d| (d.at, d.send.door))
                        .min();
                    // How far ahead a send must be to be surely seen: the daemon may be some
                    // simulated hours behind at this speed (a second of work is hours).
                    let margin = |door: Door| match door {
                        Door::Mail | Door::Upload => Span::hours(12),
                        Door::Inbox | Door::Source => Span::hours(36),
                    };
                    let surely_reported = first.is_some_and(|(at, door)| at + margin(door) < t);
                    let surely_not = first.is_none_or(|(at, _)| at > t + Span::hours(12));
                    if to_contact > 1
                        || (surely_reported && to_contact != 0)
                        || (surely_not && to_contact != 1)
                    {
                        self.broken.push(format!(
                            "{tag}: {to_contact} reminders to {} (first accepted send {first:?})",
                            u.contact
                        ));
                    }
                }
            }
        }
    }

    /// Every file sent is kept byte for byte (archive or quarantine); none taken twice.
    pub(super) fn files(&mut self, w: &World) {
        let mut kept = BTreeSet::new();
        let mut all = Vec::new();
        for sub in ["archive", "quarantine", "mail"] {
            walk(&w.env.data().join(sub), &mut all);
        }
        for p in &all {
            kept.insert(sha(&std::fs::read(p).unwrap()));
        }
        for d in &w.done {
            let want = match (&d.mail, d.send.poison) {
                (_, true) => sha(w.poison_mail.as_deref().unwrap()),
                _ => sha(&d.send.bytes),
            };
            if !kept.contains(&want) {
                self.broken.push(format!(
                    "{} ({:?}, {}) is not kept",
                    d.send.name, d.send.door, d.at
                ));
            }
        }
        let files = w.env.store().files().unwrap();
        let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
        for f in files.iter().filter(|f| f.outcome.taken()) {
            *taken.entry(f.sha256.as_str()).or_default() += 1;
        }
        for (s, n) in taken.into_iter().filter(|(_, n)| *n > 1) {
            self.broken
                .push(format!("the file {s} was taken {n} times"));
        }
        for d in w.done.iter().filter(|d| !d.send.poison) {
            let s = sha(&d.send.bytes);
            let recorded: Vec<&fayuan::store::FileEntry> =
                files.iter().filter(|f| f.sha256 == s).collect();
            let ok = match d.send.expect {
                Expect::Accepted => recorded.iter().any(|f| f.outcome.taken()),
                Expect::Rejected => {
                    recorded
                        .iter()
                        .all(|f| f.outcome == fayuan::store::Outcome::Rejected)
                        && !recorded.is_empty()
                }
                Expect::Duplicate => recorded
                    .iter()
                    .any(|f| f.outcome == fayuan::store::Outcome::Duplicate),
            };
            if !ok {
                self.broken.push(format!(
                    "{} expected {:?}, recorded {:?}",
                    d.send.name,
                    d.send.expect,
                    recorded.iter().map(|f| f.outcome).collect::<Vec<_>>()
                ));
            }
        }
    }

    /// Lateness against the scripted send times, and each month's completion and funding figures
    /// against the driver's own sums (a report made again at the end, on everything taken).
    pub(super) fn lateness_and_figures(&mut self, w: &World, plan: &Script) {
        let now = fayuan::period::instant_text(&w.now());
        // Versions by arrival: the latest accepted figures of each (unit, month).
        let mut latest: BTreeMap<(usize, u32), (DateTime<Tz>, Figures)> = BTreeMap::new();
        let mut first: BTreeMap<(usize, u32), DateTime<Tz>> = BTreeMap::new();
        for d in w.done.iter().filter(|d| d.send.expect == Expect::Accepted) {
            // Mail's INTERNALDATE is kept to the minute.
            let at = if d.mail.is_some() {
                d.at.with_second(0).unwrap().with_nanosecond(0).unwrap()
            } else {
                d.at
            };
            for (k, m, fig) in &d.send.rows {
                if latest.get(&(*k, *m)).is_none_or(|(t, _)| *t <= at) {
                    latest.insert((*k, *m), (at, fig.clone()));
                }
                let e = first.entry((*k, *m)).or_insert(at);
                *e = (*e).min(at);
            }
        }
        for m in 1..=w.months {
            let st = w
                .env
                .run(&[
                    "--as-of",
                    &now,
                    "status",
                    "--period",
                    &format!("2025-{m:02}"),
                ])
                .stdout;
            for (k, u) in plan.units.iter().enumerate() {
                let line = st
                    .lines()
                    .find(|l| l.contains(&format!("{} {}", u.code, u.name)))
                    .unwrap_or("")
                    .to_string();
                let want = match first.get(&(k, m)) {
                    None => "未报送",
                    Some(t) if *t >= deadline(m) => "已报送（逾期）",
                    Some(_) => "已报送  第",
                };
                if !line.contains(want) {
                    self.broken.push(format!(
                        "2025-{m:02} {}: expected {want}, status says {line:?}",
                        u.name
                    ));
                }
            }
            let r = w.env.run(&[
                "--as-of",
                &now,
                "run",
                "--no-email",
                "--period",
                &format!("2025-{m:02}"),
            ]);
            if m == 12 {
                self.review(w, plan, &latest, &first);
            }
            if r.code != 0 {
                self.broken.push(format!(
                    "the report for 2025-{m:02} failed: {}{}",
                    r.stdout, r.stderr
                ));
                continue;
            }
            let dir = w
                .env
                .tmp
                .path()
                .join(format!("output/luan-2025/2025-{m:02}"));
            let completion = table(&dir.join("completion.csv"));
            let funding = table(&dir.join("funding.csv"));
            for (k, u) in plan.units.iter().enumerate() {
                let sum = |get: &dyn Fn(&Figures) -> i64| -> i64 {
                    (1..=m)
                        .filter_map(|mm| latest.get(&(k, mm)))
                        .map(|(_, f)| get(f))
                        .sum()
                };
                let checks = [
                    ("ytd_approved", &completion, sum(&|f| f.cases) as f64),
                    (
                        "ytd_received",
                        &funding,
                        sum(&|f| f.funds_fen) as f64 / 100.0,
                    ),
                    ("ytd_spend", &funding, sum(&|f| f.spend_fen) as f64 / 100.0),
                    (
                        "ytd_spend_case",
                        &funding,
                        sum(&|f| f.spend_case_fen) as f64 / 100.0,
                    ),
                ];
                for (col, table, want) in checks {
                    let got = table
                        .get(&u.code)
                        .and_then(|r| r.get(col))
                        .and_then(|v| v.parse::<f64>().ok());
                    if got.is_none_or(|g| (g - want).abs() > 0.001) {
                        self.broken.push(format!(
                            "2025-{m:02} {} {col}: report {got:?}, driver {want}",
                            u.name
                        ));
                    }
                }
            }
        }
    }
}

impl Findings {
    /// The year's review (a December run): each unit's requirements and verdict, worked out
    /// here from what the driver sent, against review.csv.
    pub(super) fn review(
        &mut self,
        w: &World,
        plan: &Script,
        latest: &BTreeMap<(usize, u32), (DateTime<Tz>, Figures)>,
        first: &BTreeMap<(usize, u32), DateTime<Tz>>,
    ) {
        let review = table(
            &w.env
                .tmp
                .path()
                .join("output/luan-2025/review-2025/review.csv"),
        );
        for (k, u) in plan.units.iter().enumerate() {
            let sum = |get: &dyn Fn(&Figures) -> i64| -> i64 {
                (1..=12)
                    .filter_map(|m| latest.get(&(k, m)))
                    .map(|(_, f)| get(f))
                    .sum()
            };
            let (ytd, received, spend, case) = (
                sum(&|f| f.cases),
                sum(&|f| f.funds_fen),
                sum(&|f| f.spend_fen),
                sum(&|f| f.spend_case_fen),
            );
            let (surveyed, satisfied) = (sum(&|f| f.surveyed), sum(&|f| f.satisfied));
            let (complaints, resolved) = (sum(&|f| f.complaints), sum(&|f| f.resolved));
            let late = (1..=12)
                .filter(|m| first.get(&(k, *m)).is_some_and(|t| *t >= deadline(*m)))
                .count();
            let missing = (1..=12).filter(|m| !first.contains_key(&(k, *m))).count();
            // Soft checks: the script trips only the low-satisfaction month, and explains it.
            let want = [
                ("completion_pass", ytd >= u.target),
                ("arrival_pass", received >= u.budget_fen),
                ("expenditure_pass", received > 0 && spend >= received),
                ("case_share_pass", spend > 0 && 10 * case >= 7 * spend),
                ("per_case_input_pass", ytd > 0 && received >= 70_000 * ytd),
                (
                    "satisfaction_pass",
                    surveyed > 0 && 10 * satisfied >= 9 * surveyed,
                ),
                (
                    "complaint_resolution_pass",
                    complaints == 0 || resolved >= complaints,
                ),
                ("on_time_pass", late == 0 && missing == 0),
                ("checks_pass", true),
            ];
            let row = review.get(&u.code);
            for (col, pass) in want {
                let got = row.and_then(|r| r.get(col)).map(String::as_str);
                if got != Some(if pass { "true" } else { "false" }) {
                    self.broken.push(format!(
                        "review {} {col}: review.csv {got:?}, driver {pass}",
                        u.name
                    ));
                }
            }
            let verdict = if want.iter().all(|(_, p)| *p) {
                "pass"
            } else {
                "fail"
            };
            let got = row.and_then(|r| r.get("verdict")).map(String::as_str);
            if got != Some(verdict) {
                self.broken.push(format!(
                    "review {} verdict: review.csv {got:?}, driver {verdict}",
                    u.name
                ));
            }
        }
    }
}

/// A CSV twin as unit → column → text.
pub(super) fn table(path: &Path) -> HashMap<String, HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut rd = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let head = rd.headers().cloned().unwrap_or_default();
    rd.records()
        .flatten()
        .map(|r| {
            let row: HashMap<String, String> = head
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (row.get("unit_code").cloned().unwrap_or_default(), row)
        })
        .collect()
}
