//! Issue 21: a year without a person, in simulation — in the manner of FoundationDB's simulation
//! and TigerBeetle's VOPR, at the scale of a reporting daemon. The real `fayuan daemon` runs on a
//! fast clock (`--as-of 2025-01-01 --clock-rate R`) against real servers (aiosmtpd, Dovecot, its
//! own web server, an HTTP source); this driver plays the eight units through the year from a
//! seed — each month each unit sends its figures through one door (mail, upload, the inbox folder,
//! the HTTP source) at a scripted time, some late, one month missing, wrong files then
//! corrections, identical resends, a cumulative figure typed as the month's, a soft check
//! explained later, a bulk sheet from the staff — while injecting faults at seeded times: the
//! mail server down or refusing, the IMAP server restarted and once renumbered, the daemon killed
//! with SIGKILL (and started again, as systemd would), the disk full for an hour, a poison file
//! and a poison mail. At the end the invariants are checked against the driver's own records.
//!
//! `FAYUAN_SIM_SEED` picks the history (CI: a fixed seed), `FAYUAN_SIM_MONTHS` how many months
//! (CI: 3; a whole year: 12), `FAYUAN_SIM_RATE` the clock rate. A failing run prints the seed,
//! the faults injected and the first broken invariant; the same seed replays the same script
//! (the servers are real, so interleavings may differ: the invariants hold for every one).

use crate::support::imap::{self, PASSWORD};
use crate::support::smtp::{Server, free_port, python_ready};
use crate::support::*;
use chrono::{DateTime, Duration as Span, TimeZone, Timelike};
use chrono_tz::Tz;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TZ: Tz = chrono_tz::Asia::Shanghai;
const TOKEN: &str = "bureau-token-for-tests-0123456789";
const SECRET: &str = "server-secret-for-tests-0123456789";
const LEADER: &str = "leader@example.gov.cn";
const STAFF: &str = "data-staff@example.gov.cn";
/// 霍邱县's second registered address: it gets copies of 霍邱县's receipts, and is the one the
/// mail server refuses for good during the 5xx fault.
const COPY: &str = "huoqiu-2@example.gov.cn";

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Tz> {
    TZ.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// The seeded randomness of the script (SplitMix64: the same seed, the same history).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A moment between `from` and `to`.
    fn between(&mut self, from: DateTime<Tz>, to: DateTime<Tz>) -> DateTime<Tz> {
        let span = (to - from).num_seconds().max(1);
        from + Span::seconds(self.range(0, span - 1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Door {
    Mail,
    Upload,
    Inbox,
    Source,
}

/// One unit's figures for one month, as the driver wrote them.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    cases: i64,
    criminal: i64,
    civil: i64,
    admin: i64,
    closed: i64,
    funds_fen: i64,
    spend_fen: i64,
    spend_case_fen: i64,
    complaints: i64,
    resolved: i64,
    surveyed: i64,
    satisfied: i64,
    note: String,
}

const HEADER: &str = "单位代码,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数,说明";

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn row(code: &str, month: u32, f: &Figures) -> String {
    format!(
        "{code},2025-{month:02},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        f.cases,
        f.criminal,
        f.civil,
        f.admin,
        f.closed,
        yuan(f.funds_fen),
        yuan(f.spend_fen),
        yuan(f.spend_case_fen),
        f.complaints,
        f.resolved,
        f.surveyed,
        f.satisfied,
        f.note
    )
}

fn csv(rows: &[String]) -> Vec<u8> {
    format!("{HEADER}\r\n{}\r\n", rows.join("\r\n")).into_bytes()
}

/// What the driver expects of a file it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Taken in: its rows are (new versions of) the figures.
    Accepted,
    /// Rejected (a wrong cell, a poison file): kept in quarantine.
    Rejected,
    /// The same bytes as an accepted file: set aside, nothing taken.
    Duplicate,
}

/// One file the script sends.
#[derive(Debug, Clone)]
struct Send {
    when: DateTime<Tz>,
    door: Door,
    /// The unit whose door it goes through (a bulk sheet: the staff's mail, unit None).
    unit: Option<usize>,
    name: String,
    bytes: Vec<u8>,
    /// (unit index, month, figures) of every row, when accepted.
    rows: Vec<(usize, u32, Figures)>,
    expect: Expect,
    /// A poison mail (its handling fails every time): held, never answered.
    poison: bool,
}

/// What the driver did, in order: its own record, the ground truth of the invariants.
#[derive(Debug, Clone)]
struct Done {
    send: Send,
    /// When it really went: mail's INTERNALDATE, an upload's (accepted) request, a file's drop.
    at: DateTime<Tz>,
    /// A mail's Message-ID and sender.
    mail: Option<(String, String)>,
}

#[derive(Debug, Clone)]
enum Fault {
    SmtpDown {
        from: DateTime<Tz>,
        until: DateTime<Tz>,
    },
    Smtp4xx {
        from: DateTime<Tz>,
        until: DateTime<Tz>,
    },
    Smtp5xx {
        from: DateTime<Tz>,
        until: DateTime<Tz>,
    },
    ImapRestart(DateTime<Tz>),
    ImapRenumber(DateTime<Tz>),
    Kill(DateTime<Tz>),
    /// The daemon killed and every write it had not synced dropped (some, by the seed, kept as
    /// a real disk's own write-back would), then started again.
    PowerCut(DateTime<Tz>),
    DiskFull {
        from: DateTime<Tz>,
        until: DateTime<Tz>,
    },
}

impl Fault {
    fn start(&self) -> DateTime<Tz> {
        match self {
            Fault::SmtpDown { from, .. }
            | Fault::Smtp4xx { from, .. }
            | Fault::Smtp5xx { from, .. }
            | Fault::DiskFull { from, .. } => *from,
            Fault::ImapRestart(t)
            | Fault::ImapRenumber(t)
            | Fault::Kill(t)
            | Fault::PowerCut(t) => *t,
        }
    }
}

struct Unit {
    code: String,
    name: String,
    target: i64,
    budget_fen: i64,
    contact: String,
    door: Door,
}

/// The script: every send and every fault, from the seed.
struct Script {
    units: Vec<Unit>,
    sends: Vec<Send>,
    faults: Vec<Fault>,
    /// The (unit, month) never sent.
    missing: (usize, u32),
    end: DateTime<Tz>,
}

/// The end of `month`'s last day: day 5 of the next month, moved to the next working day when
/// it is a statutory holiday (worked out by hand from 国办发明电〔2024〕12号: 5 April is 清明,
/// 5 May 劳动节, 5 October 国庆; 5 July is a Saturday and stays).
fn deadline(month: u32) -> DateTime<Tz> {
    let (y, m, d) = match month {
        3 => (2025, 4, 7),
        4 => (2025, 5, 6),
        9 => (2025, 10, 9),
        12 => (2026, 1, 5),
        _ => (2025, month + 1, 5),
    };
    at(y, m, d + 1, 0, 0)
}

/// The first day of the month after `month` (when its sends begin).
fn next_month(month: u32, day: u32, h: u32) -> DateTime<Tz> {
    let (y, m) = if month == 12 {
        (2026, 1)
    } else {
        (2025, month + 1)
    };
    at(y, m, day, h, 0)
}

fn figures(rng: &mut Rng, u: &Unit, month: u32, months: u32) -> Figures {
    let base = u.target as f64 / 12.0;
    let push = if month == 12 { 1.4 } else { 1.0 };
    let cases = ((base * push * (0.85 + rng.below(30) as f64 / 100.0)).round() as i64).max(3);
    let criminal = cases * rng.range(30, 50) / 100;
    let admin = cases * rng.range(0, 8) / 100;
    let civil = cases - criminal - admin;
    // Funds: the year's budget in twelve parts (December takes the rest), all spent, mostly on
    // cases — so that no soft check trips unless the script means it to.
    let part = u.budget_fen / 12;
    let funds_fen = if month == 12 && months == 12 {
        u.budget_fen - part * 11
    } else {
        part
    };
    let spend_case_fen = funds_fen * rng.range(76, 90) / 100;
    let surveyed = rng.range(20, 40);
    let complaints = rng.range(0, 2);
    Figures {
        cases,
        criminal,
        civil,
        admin,
        closed: cases * rng.range(60, 90) / 100,
        funds_fen,
        spend_fen: funds_fen,
        spend_case_fen,
        complaints,
        resolved: complaints,
        surveyed,
        satisfied: surveyed - rng.range(0, surveyed / 12),
        note: String::new(),
    }
}

fn script(seed: u64, months: u32, disk_full: bool, power_cuts: bool) -> Script {
    let mut rng = Rng(seed);
    let p = luan();
    let doors = [
        Door::Mail,
        Door::Mail,
        Door::Upload,
        Door::Upload,
        Door::Inbox,
        Door::Inbox,
        Door::Mail,
        Door::Source,
    ];
    let units: Vec<Unit> = p
        .units
        .iter()
        .zip(doors)
        .map(|(u, door)| Unit {
            code: u.code.clone(),
            name: u.name.clone(),
            target: u.target,
            budget_fen: (u.budget * 100.0).round() as i64,
            contact: u.contact.clone().unwrap(),
            door,
        })
        .collect();
    let missing = (
        rng.below(7) as usize,
        2 + rng.below(u64::from(months - 1)) as u32,
    );
    let mut sends = Vec::new();
    let mut cumulative = vec![0i64; units.len()];
    // The months of the script's events: each at most once a run, in a month of its own choice.
    let event_month = |rng: &mut Rng| 1 + rng.below(u64::from(months)) as u32;
    let (bad_m, dup_m, cum_m, sat_m, bulk_m) = (
        event_month(&mut rng),
        event_month(&mut rng),
        event_month(&mut rng),
        event_month(&mut rng),
        event_month(&mut rng),
    );
    let mut first: HashMap<(usize, u32), Figures> = HashMap::new();
    for month in 1..=months {
        for (k, u) in units.iter().enumerate() {
            let f = figures(&mut rng, u, month, months);
            cumulative[k] += f.cases;
            first.insert((k, month), f.clone());
            if (k, month) == missing {
                continue;
            }
            // A unit mostly keeps its door; now and then another (the source serves 市本级 only).
            let door = if u.door != Door::Source && rng.chance(20) {
                [Door::Mail, Door::Upload, Door::Inbox][rng.below(3) as usize]
            } else {
                u.door
            };
            let late = rng.chance(12);
            // On time: mail and uploads on days 1–2 or day 4; the inbox and the source, which
            // fayuan sees at its next look, on day 1 only — far from every reminder and deadline.
            let when = match (late, door) {
                (true, _) => rng.between(next_month(month, 7, 12), next_month(month, 8, 20)),
                (false, Door::Inbox | Door::Source) => {
                    rng.between(next_month(month, 1, 1), next_month(month, 1, 14))
                }
                (false, _) if rng.chance(50) => {
                    rng.between(next_month(month, 1, 12), next_month(month, 2, 20))
                }
                (false, _) => rng.between(next_month(month, 4, 0), next_month(month, 4, 20)),
            };
            let name = format!("{}_2025-{month:02}.csv", u.name);
            let mut when = when;
            // A wrong file first (a word where a number goes), then the right one.
            if month == bad_m && k == (seed as usize + 1) % 7 {
                let bad = String::from_utf8(csv(&[row(&u.code, month, &f)]))
                    .unwrap()
                    .replacen(&format!(",{},", f.cases), ",十二,", 1);
                sends.push(Send {
                    when,
                    door,
                    unit: Some(k),
                    name: format!("{}_2025-{month:02}（错）.csv", u.name),
                    bytes: bad.into_bytes(),
                    rows: Vec::new(),
                    expect: Expect::Rejected,
                    poison: false,
                });
                when += Span::hours(rng.range(4, 20));
            }
            // A cumulative figure typed as the month's, corrected a few hours later.
            if month == cum_m && month > 1 && k == (seed as usize + 2) % 7 {
                let mut wrong = f.clone();
                wrong.cases = cumulative[k];
                wrong.criminal = wrong.cases - f.civil - f.admin;
                sends.push(Send {
                    when,
                    door,
                    unit: Some(k),
                    name: format!("{}_2025-{month:02}（累计）.csv", u.name),
                    bytes: csv(&[row(&u.code, month, &wrong)]),
                    rows: vec![(k, month, wrong)],
                    expect: Expect::Accepted,
                    poison: false,
                });
                when += Span::hours(rng.range(3, 12));
            }
            let mut f = f;
            // A month with few satisfied: accepted, asked for a 说明, explained by a resend of the
            // same figures with one.
            let low = month == sat_m && k == (seed as usize + 3) % 7;
            if low {
                f.satisfied = f.surveyed * 6 / 10;
            }
            let bytes = csv(&[row(&u.code, month, &f)]);
            sends.push(Send {
                when,
                door,
                unit: Some(k),
                name: name.clone(),
                bytes: bytes.clone(),
                rows: vec![(k, month, f.clone())],
                expect: Expect::Accepted,
                poison: false,
            });
            if low {
                let mut e = f.clone();
                e.note = "本月回访对象多为仍在办理中的案件当事人".into();
                sends.push(Send {
                    when: when + Span::hours(rng.range(6, 30)),
                    door,
                    unit: Some(k),
                    name: format!("{}_2025-{month:02}（说明）.csv", u.name),
                    bytes: csv(&[row(&u.code, month, &e)]),
                    rows: vec![(k, month, e)],
                    expect: Expect::Accepted,
                    poison: false,
                });
            }
            // The same file again, by the same door.
            if month == dup_m && k == (seed as usize + 4) % 7 && door != Door::Source {
                sends.push(Send {
                    when: when + Span::hours(rng.range(2, 10)),
                    door,
                    unit: Some(k),
                    name: format!("{}_2025-{month:02}（重发）.csv", u.name),
                    bytes,
                    rows: Vec::new(),
                    expect: Expect::Duplicate,
                    poison: false,
                });
            }
        }
        // A bulk sheet from the data staff: two units' figures for the month, restated.
        if month == bulk_m {
            let mut rows = Vec::new();
            let mut lines = Vec::new();
            for k in [(seed as usize) % 7, (seed as usize + 5) % 7] {
                if (k, month) == missing {
                    continue;
                }
                let mut f = first[&(k, month)].clone();
                f.closed = (f.closed - 1).max(0);
                lines.push(row(&units[k].code, month, &f));
                rows.push((k, month, f));
            }
            if !rows.is_empty() {
                sends.push(Send {
                    when: rng.between(next_month(month, 9, 10), next_month(month, 9, 20)),
                    door: Door::Mail,
                    unit: None,
                    name: format!("全市_2025-{month:02}_更正.csv"),
                    bytes: csv(&lines),
                    rows,
                    expect: Expect::Accepted,
                    poison: false,
                });
            }
        }
    }
    // A poison file in the shared folder, and a poison mail from a registered address.
    let poison_at = rng.between(at(2025, 2, 10, 0, 0), at(2025, 2, 20, 0, 0));
    sends.push(Send {
        when: poison_at,
        door: Door::Inbox,
        unit: None,
        name: "损坏的表.xlsx".into(),
        bytes: b"PK\x03\x04 not a workbook at all".to_vec(),
        rows: Vec::new(),
        expect: Expect::Rejected,
        poison: false,
    });
    sends.push(Send {
        when: poison_at + Span::hours(5),
        door: Door::Mail,
        unit: Some(6),
        name: "叶集区_补充.csv".into(),
        bytes: csv(&[]),
        rows: Vec::new(),
        expect: Expect::Rejected,
        poison: true,
    });
    sends.sort_by_key(|s| s.when);
    let end = next_month(months, 12, 0);
    // Faults at seeded times through the run (never in the last day: the end is checked calm).
    let span_end = end - Span::days(2);
    let mut faults = Vec::new();
    let days = (span_end - at(2025, 1, 1, 0, 0)).num_days();
    let moment =
        |rng: &mut Rng| at(2025, 1, 2, 0, 0) + Span::minutes(rng.range(0, (days - 1) * 1440));
    for _ in 0..months.div_ceil(2) {
        let from = moment(&mut rng);
        faults.push(Fault::SmtpDown {
            from,
            until: from + Span::minutes(rng.range(5, 48 * 60)),
        });
    }
    let from = moment(&mut rng);
    faults.push(Fault::Smtp4xx {
        from,
        until: from + Span::minutes(rng.range(10, 6 * 60)),
    });
    let from = moment(&mut rng);
    faults.push(Fault::Smtp5xx {
        from,
        until: from + Span::minutes(rng.range(60, 24 * 60)),
    });
    for _ in 0..months.div_ceil(2) {
        faults.push(Fault::ImapRestart(moment(&mut rng)));
    }
    faults.push(Fault::ImapRenumber(moment(&mut rng)));
    for _ in 0..months + 2 {
        faults.push(Fault::Kill(moment(&mut rng)));
    }
    if disk_full {
        let from = moment(&mut rng);
        faults.push(Fault::DiskFull {
            from,
            until: from + Span::hours(1),
        });
    }
    if power_cuts {
        for _ in 0..months.div_ceil(2) + 1 {
            faults.push(Fault::PowerCut(moment(&mut rng)));
        }
    }
    faults.sort_by_key(Fault::start);
    Script {
        units,
        sends,
        faults,
        missing,
        end,
    }
}

/// The driver: the servers, the daemon, the clock, and its record.
struct World {
    seed: u64,
    months: u32,
    rate: f64,
    start: DateTime<Tz>,
    t0: Instant,
    env: Env,
    imap: imap::Dovecot,
    smtp_port: u16,
    smtp: Option<Server>,
    smtp_dir: PathBuf,
    control: PathBuf,
    source_dir: PathBuf,
    _source: Server,
    web_port: u16,
    daemon: Option<Child>,
    fault_env: String,
    vars: Vec<(String, String)>,
    done: Vec<Done>,
    injected: Vec<String>,
    kills: Vec<DateTime<Tz>>,
    memory: Vec<(u32, u64)>,
    mounted: Option<PathBuf>,
    /// The data folder on the filesystem that forgets (power cuts), its backing on the tmpfs.
    forgetful: Option<crate::forgetful::Forgetful>,
    /// The power cuts so far (each cut's seed is the run's seed and this count).
    cuts: u64,
    /// The poison mail, made before the daemon starts (its fault point names its SHA-256).
    poison_mail: Option<Vec<u8>>,
    _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        // The filesystem that forgets first: it holds the tmpfs beneath it open.
        drop(self.forgetful.take());
        if let Some(m) = &self.mounted {
            let _ = Command::new("umount").arg(m).status();
        }
    }
}

impl World {
    /// The simulated now: the daemon's clock, as the driver keeps it.
    fn now(&self) -> DateTime<Tz> {
        self.start
            + Span::milliseconds((self.t0.elapsed().as_secs_f64() * 1000.0 * self.rate) as i64)
    }

    /// Sleeps (real time) until the simulated clock reaches `t`.
    fn until(&self, t: DateTime<Tz>) {
        let ahead = (t - self.now()).num_milliseconds();
        if ahead > 0 {
            std::thread::sleep(Duration::from_secs_f64(ahead as f64 / 1000.0 / self.rate));
        }
    }

    fn start_daemon(&mut self) {
        let as_of = fayuan::period::instant_text(&self.now());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fayuan"));
        cmd.current_dir(self.env.tmp.path())
            .arg("--pipeline")
            .arg(&self.env.pipeline)
            .arg("--data-dir")
            .arg(self.env.data())
            .args([
                "--as-of",
                &as_of,
                "--clock-rate",
                &self.rate.to_string(),
                "daemon",
            ])
            .env("FAYUAN_LOG", "info")
            .env("FAYUAN_TEST_FAULT", &self.fault_env)
            .env_remove("FAYUAN_AS_OF")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.env.tmp.path().join("daemon.log"))
                    .unwrap(),
            ));
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        self.daemon = Some(cmd.spawn().unwrap());
    }

    fn kill_daemon(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    fn smtp_up(&mut self) {
        if self.smtp.is_none() {
            let control = self.control.to_str().unwrap().to_string();
            self.smtp = Some(Server::start(
                "smtp",
                self.smtp_port,
                &self.smtp_dir,
                &["--control", &control],
            ));
        }
    }

    fn log(&mut self, what: String) {
        let line = format!("{} {what}", fayuan::period::instant_text(&self.now()));
        self.injected.push(line);
    }

    fn county_url(&self, code: &str) -> String {
        format!(
            "http://127.0.0.1:{}/u/{code}/{}",
            self.web_port,
            crate::support::hmac_token(SECRET.as_bytes(), code)
        )
    }

    /// Sends one scripted file through its door; returns when it really went (None: the door
    /// did not take it this time — the clerk tries again later).
    fn send(&mut self, s: &Send, units: &[Unit], rt: &tokio::runtime::Runtime) -> Option<Done> {
        match s.door {
            Door::Mail => {
                let from = match s.unit {
                    Some(k) => units[k].contact.clone(),
                    None => STAFF.to_string(),
                };
                let subject = format!("{}月报", s.name.trim_end_matches(".csv"));
                let bytes = if s.poison {
                    self.poison_mail.clone()?
                } else {
                    imap::message(&from, &subject, "", &[(&imap::rfc2231(&s.name), &s.bytes)])
                };
                let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
                let id = parsed.message_id().unwrap().to_string();
                let when = self.now();
                self.imap
                    .deliver_at(&bytes, &when.format("%Y-%m-%d %H:%M %z").to_string());
                Some(Done {
                    send: s.clone(),
                    at: when,
                    mail: Some((id, from)),
                })
            }
            Door::Upload => {
                let k = s.unit?;
                let url = self.county_url(&units[k].code);
                let when = self.now();
                let (name, bytes) = (s.name.clone(), s.bytes.clone());
                let status = rt.block_on(async move {
                    let form = reqwest::multipart::Form::new().part(
                        "file",
                        reqwest::multipart::Part::bytes(bytes).file_name(name),
                    );
                    reqwest::Client::new()
                        .post(url)
                        .multipart(form)
                        .timeout(Duration::from_secs(120))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                });
                match status {
                    Ok(200) => Some(Done {
                        send: s.clone(),
                        at: when,
                        mail: None,
                    }),
                    other => {
                        self.log(format!(
                            "upload {} not taken ({other:?}); tried again",
                            s.name
                        ));
                        None
                    }
                }
            }
            Door::Inbox => {
                let inbox = self.env.inbox();
                let _ = std::fs::create_dir_all(&inbox);
                let _ = std::fs::File::open(self.env.data()).and_then(|d| d.sync_all());
                let tmp = inbox.join(format!(".{}.tmp-1", s.name));
                let when = self.now();
                // Written whole, then renamed in (a finished copy), an hour old; synced, as a copy
                // the clerk saw finish is on the disk (a power cut keeps it).
                let ok = std::fs::write(&tmp, &s.bytes).is_ok()
                    && std::fs::File::options()
                        .write(true)
                        .open(&tmp)
                        .and_then(|f| {
                            f.set_modified(
                                std::time::SystemTime::now() - Duration::from_secs(3600),
                            )?;
                            f.sync_all()
                        })
                        .is_ok()
                    && std::fs::rename(&tmp, inbox.join(&s.name)).is_ok()
                    && std::fs::File::open(&inbox)
                        .and_then(|d| d.sync_all())
                        .is_ok();
                if !ok {
                    let _ = std::fs::remove_file(&tmp);
                    self.log(format!(
                        "inbox copy of {} failed (disk full?); tried again",
                        s.name
                    ));
                    return None;
                }
                Some(Done {
                    send: s.clone(),
                    at: when,
                    mail: None,
                })
            }
            Door::Source => {
                let k = s.unit?;
                let month = s.rows.first().map(|r| r.1)?;
                // The province's export for the month: JSON, as a source serves it.
                let f = &s.rows[0].2;
                let json = serde_json::json!([{
                    "unit_code": units[k].code, "period": format!("2025-{month:02}"),
                    "cases_approved": f.cases, "cases_criminal": f.criminal, "cases_civil": f.civil,
                    "cases_admin": f.admin, "cases_closed": f.closed,
                    "funds_received": yuan(f.funds_fen), "spend_total": yuan(f.spend_fen),
                    "spend_case": yuan(f.spend_case_fen), "complaints": f.complaints,
                    "complaints_resolved": f.resolved, "surveyed": f.surveyed, "satisfied": f.satisfied,
                    "note": f.note,
                }]);
                let bytes = serde_json::to_vec(&json).unwrap();
                let path = self.source_dir.join(format!("2025-{month:02}.json"));
                let tmp = self.source_dir.join(".tmp");
                std::fs::write(&tmp, &bytes).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
                let mut send = s.clone();
                send.bytes = bytes;
                Some(Done {
                    send,
                    at: self.now(),
                    mail: None,
                })
            }
        }
    }
}

/// What happens next in the run, in simulated time.
#[derive(Debug, Clone)]
enum Action {
    Send(usize),
    FaultStart(usize),
    FaultEnd(usize),
    /// Note the daemon's memory.
    Memory(u32),
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every file under a folder (recursively).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A received message: (recipient, Message-ID, In-Reply-To, subject).
fn inbox_of(dir: &Path) -> Vec<(String, String, String, String)> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let raw = std::fs::read(&p).unwrap();
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let reply = m.in_reply_to().as_text().unwrap_or("").to_string();
            (
                name.split_once('-')
                    .map_or("", |(_, r)| r)
                    .trim_end_matches(".eml")
                    .to_string(),
                m.message_id().unwrap_or("").to_string(),
                reply,
                m.subject().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_year_without_a_person() {
    if !imap::dovecot_ready() || !python_ready() {
        return;
    }
    let seed = env_num("FAYUAN_SIM_SEED", 20250101);
    let months = env_num("FAYUAN_SIM_MONTHS", 3).clamp(2, 12) as u32;
    let rate = env_num("FAYUAN_SIM_RATE", 60_000) as f64;
    let began = Instant::now();
    let s = imap::setup_with(
        |imap| format!("imaps://127.0.0.1:{}", imap.port),
        "done_folder = \"fayuan-processed\"\nheld_folder = \"fayuan-held\"\npoll_seconds = 3600\n",
    );
    let imap::Setup {
        env,
        imap,
        smtp: unused,
        _dir: dir,
    } = s;
    drop(unused);
    // The web pages and the province's export (the HTTP source) for this run.
    let web_port = free_port();
    let source_dir = env.tmp.path().join("source");
    std::fs::create_dir_all(&source_dir).unwrap();
    let source = Server::start(
        "http",
        free_port(),
        &env.tmp.path().join("source-log"),
        &["--files", source_dir.to_str().unwrap()],
    );
    let mut text = std::fs::read_to_string(&env.pipeline).unwrap();
    text.push_str(&format!(
        "\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n\n[[sources]]\nname = \"province\"\nurl = \"http://127.0.0.1:{}/{{period}}.json\"\nformat = \"json\"\ntimeout_seconds = 10\nmax_bytes = 1000000\nattempts = 1\n",
        source.port
    ));
    std::fs::write(&env.pipeline, text).unwrap();
    // The data folder on a tmpfs, so that the disk can fill for real (root only), seen through
    // the filesystem that forgets, so that the power can be cut (FUSE).
    let power = crate::forgetful::fuse_ready();
    let disk = if power {
        env.tmp.path().join("disk")
    } else {
        env.data()
    };
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"])
        .arg(&disk)
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        skipped(
            "a_year_without_a_person (the disk-full fault)",
            "root, to mount a tmpfs",
            "run the tests as root, as CI does",
        );
    }
    let plan = script(seed, months, mounted, power);
    let forgetful = power.then(|| {
        crate::forgetful::Forgetful::over(&disk, &env.data(), &env.tmp.path().join("forgetfs.log"))
    });
    let smtp_port = free_port();
    let mut w = World {
        seed,
        months,
        rate,
        start: at(2025, 1, 1, 0, 0),
        t0: Instant::now(),
        smtp_port,
        smtp: None,
        smtp_dir: env.tmp.path().join("smtp"),
        control: env.tmp.path().join("smtp-control"),
        source_dir,
        _source: source,
        web_port,
        daemon: None,
        fault_env: String::new(),
        vars: vec![
            ("FAYUAN_IMAP_PASSWORD".into(), PASSWORD.into()),
            (
                "FAYUAN_IMAP_CA_FILE".into(),
                imap.ca.to_str().unwrap().into(),
            ),
            (
                "FAYUAN_SMTP_URL".into(),
                format!("smtp://127.0.0.1:{smtp_port}"),
            ),
            ("FAYUAN_WEB_TOKEN".into(), TOKEN.into()),
            ("FAYUAN_WEB_SECRET".into(), SECRET.into()),
            // syncfs does not reach a FUSE filesystem: each file and folder is synced instead.
            ("FAYUAN_TEST_KERNEL".into(), "4.19".into()),
        ],
        done: Vec::new(),
        injected: Vec::new(),
        kills: Vec::new(),
        memory: Vec::new(),
        mounted: mounted.then(|| disk.clone()),
        forgetful,
        cuts: 0,
        poison_mail: None,
        env,
        imap,
        _dir: dir,
    };
    // The poison mail, made now: the daemon is told its SHA-256 (a message no code expected).
    let poison = plan.sends.iter().find(|s| s.poison).unwrap();
    let bytes = imap::message(
        &plan.units[6].contact,
        "叶集区补充材料",
        "",
        &[(&imap::rfc2231(&poison.name), &poison.bytes)],
    );
    w.fault_env = format!("panic@mail-poison-{}", &sha(&bytes)[..12]);
    w.poison_mail = Some(bytes);
    w.smtp_up();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    w.t0 = Instant::now();
    w.start_daemon();
    // The timeline: sends, fault starts and ends, memory notes.
    let mut timeline: Vec<(DateTime<Tz>, Action)> = Vec::new();
    for (k, send) in plan.sends.iter().enumerate() {
        timeline.push((send.when, Action::Send(k)));
    }
    for (k, f) in plan.faults.iter().enumerate() {
        timeline.push((f.start(), Action::FaultStart(k)));
        match f {
            Fault::SmtpDown { until, .. }
            | Fault::Smtp4xx { until, .. }
            | Fault::Smtp5xx { until, .. }
            | Fault::DiskFull { until, .. } => timeline.push((*until, Action::FaultEnd(k))),
            _ => {}
        }
    }
    // The daemon's memory every six hours: its peak over the weeks after month 1's report and
    // over those after the last month's are compared (the same work: a month's report).
    let mut t = at(2025, 2, 1, 0, 0);
    while t < plan.end {
        let month = if t < next_month(1, 28, 0) {
            1
        } else if t >= next_month(months, 1, 0) {
            months
        } else {
            0
        };
        if month > 0 {
            timeline.push((t, Action::Memory(month)));
        }
        t += Span::hours(6);
    }
    timeline.sort_by_key(|(t, _)| *t);
    let mut down = 0;
    let mut refusals: Vec<String> = Vec::new();
    let mut tries: HashMap<usize, u32> = HashMap::new();
    let mut gave_up: Vec<String> = Vec::new();
    let mut queue: std::collections::VecDeque<(DateTime<Tz>, Action)> = timeline.into();
    while let Some((t, action)) = queue.pop_front() {
        w.until(t);
        match action {
            Action::Send(k) => {
                let send = plan.sends[k].clone();
                match w.send(&send, &plan.units, &rt) {
                    Some(d) => w.done.push(d),
                    None if tries.get(&k).copied().unwrap_or(0) >= 48 => {
                        // Two days of tries: the door is shut for good (a finding, not a loop).
                        w.log(format!("gave up sending {} after 48 tries", send.name));
                        gave_up.push(send.name.clone());
                    }
                    None => {
                        // The clerk tries again an hour later.
                        *tries.entry(k).or_insert(0) += 1;
                        let again = w.now() + Span::hours(1);
                        let at = queue
                            .iter()
                            .position(|(t, _)| *t > again)
                            .unwrap_or(queue.len());
                        queue.insert(at, (again, Action::Send(k)));
                    }
                }
            }
            Action::FaultStart(k) => {
                let f = plan.faults[k].clone();
                w.log(format!("fault: {f:?}"));
                match f {
                    Fault::SmtpDown { .. } => {
                        down += 1;
                        w.smtp = None;
                    }
                    Fault::Smtp4xx { .. } => refusals.push("4xx".into()),
                    Fault::Smtp5xx { .. } => refusals.push(format!("5xx {COPY}")),
                    Fault::ImapRestart(_) => w.imap.restart(),
                    Fault::ImapRenumber(_) => w.imap.renumber(),
                    Fault::Kill(t) => {
                        w.kill_daemon();
                        w.kills.push(t);
                        w.start_daemon();
                    }
                    Fault::PowerCut(t) => {
                        w.kill_daemon();
                        w.kills.push(t);
                        w.cuts += 1;
                        if let Some(fs) = &w.forgetful {
                            fs.cut_seeded(w.seed.wrapping_mul(1000).wrapping_add(w.cuts));
                        }
                        w.start_daemon();
                    }
                    Fault::DiskFull { .. } => {
                        // Filled beneath the filesystem that forgets, at once.
                        let disk = w.mounted.clone().unwrap();
                        let free = crate::support::outbox::free_bytes(&disk);
                        let _ = std::fs::write(
                            disk.join("filler"),
                            vec![0u8; free.saturating_sub(4096) as usize],
                        );
                    }
                }
                std::fs::write(&w.control, refusals.join("\n")).unwrap();
            }
            Action::FaultEnd(k) => {
                let f = plan.faults[k].clone();
                w.log(format!("fault ends: {f:?}"));
                match f {
                    Fault::SmtpDown { .. } => {
                        down -= 1;
                        if down == 0 {
                            w.smtp_up();
                        }
                    }
                    Fault::Smtp4xx { .. } => refusals.retain(|r| r != "4xx"),
                    Fault::Smtp5xx { .. } => refusals.retain(|r| !r.starts_with("5xx")),
                    Fault::DiskFull { .. } => {
                        let _ = std::fs::remove_file(w.mounted.clone().unwrap().join("filler"));
                    }
                    _ => {}
                }
                std::fs::write(&w.control, refusals.join("\n")).unwrap();
            }
            Action::Memory(m) => {
                if let Some(kb) = w.daemon.as_ref().and_then(|d| rss_kb(d.id())) {
                    w.memory.push((m, kb));
                }
            }
        }
        if let Some(d) = w.daemon.as_mut()
            && d.try_wait().unwrap().is_some()
        {
            // Died by itself: as systemd would, start it again (and say so: it is a finding).
            w.log("the daemon exited by itself; started again".into());
            w.start_daemon();
        }
    }
    // The end: everything calm, the outbox drains.
    w.until(plan.end);
    w.smtp_up();
    std::fs::write(&w.control, "").unwrap();
    let status = |w: &World| {
        let now = fayuan::period::instant_text(&w.now());
        let vars: Vec<(&str, &str)> = w
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        w.env.run_env(&["--as-of", &now, "status"], &vars).stdout
    };
    let drained = Instant::now();
    while !status(&w).contains("发件箱：没有待发送的邮件")
        && drained.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    let pid = w.daemon.as_ref().map(|d| d.id()).unwrap();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let mut d = w.daemon.take().unwrap();
    let stopped = Instant::now();
    while d.try_wait().unwrap().is_none() && stopped.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = began.elapsed();
    let mut report = Findings::check(&w, &plan, &status(&w));
    for name in gave_up {
        report
            .broken
            .insert(0, format!("{name}: its door never took it (48 tries)"));
    }
    eprintln!(
        "simulation: seed {}, {months} months at {rate}× in {:.0} s real; {} files sent ({} of {} never), {} faults, {} messages delivered; daemon memory peaks {:?} kB",
        w.seed,
        ran.as_secs_f64(),
        w.done.len(),
        plan.units[plan.missing.0].name,
        plan.missing.1,
        plan.faults.len(),
        report.delivered,
        w.memory
            .iter()
            .fold(BTreeMap::new(), |mut m: BTreeMap<u32, u64>, (k, kb)| {
                let e = m.entry(*k).or_default();
                *e = (*e).max(*kb);
                m
            })
    );
    if let Some(broken) = report.broken.first() {
        // What a person needs to look into it, kept past the temporary folder.
        let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-{seed}"));
        let _ = std::fs::remove_dir_all(&keep);
        std::fs::create_dir_all(&keep).unwrap();
        let _ = std::fs::copy(w.env.tmp.path().join("daemon.log"), keep.join("daemon.log"));
        let _ = Command::new("cp")
            .arg("-r")
            .arg(w.env.data())
            .arg(keep.join("data"))
            .status();
        let _ = Command::new("cp")
            .arg("-r")
            .arg(&w.smtp_dir)
            .arg(keep.join("smtp"))
            .status();
        panic!(
            "simulation seed {seed} ({months} months; replay: FAYUAN_SIM_SEED={seed} FAYUAN_SIM_MONTHS={months}):\nfirst broken invariant: {broken}\nall broken ({}):\n  {}\nfaults injected:\n  {}\nkept for a look: {}",
            report.broken.len(),
            report.broken.join("\n  "),
            w.injected.join("\n  "),
            keep.display()
        );
    }
}

/// The invariants, checked from the driver's own records.
struct Findings {
    broken: Vec<String>,
    delivered: usize,
}

impl Findings {
    fn check(w: &World, plan: &Script, status: &str) -> Findings {
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
    fn exactly_once(&mut self, got: &[(String, String, String, String)]) {
        let mut n: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (r, id, _, _) in got {
            *n.entry((r, id)).or_default() += 1;
        }
        for ((r, id), k) in n.into_iter().filter(|(_, k)| *k > 1) {
            self.broken.push(format!("{id} delivered {k} times to {r}"));
        }
    }

    /// Each month's digest: one, to the leader and the staff, once each.
    fn digests(&mut self, w: &World, got: &[(String, String, String, String)]) {
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
    fn receipts(&mut self, w: &World, got: &[(String, String, String, String)]) {
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
    fn reminders(&mut self, w: &World, plan: &Script, got: &[(String, String, String, String)]) {
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
    fn files(&mut self, w: &World) {
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
    fn lateness_and_figures(&mut self, w: &World, plan: &Script) {
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
    fn review(
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
fn table(path: &Path) -> HashMap<String, HashMap<String, String>> {
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
