//! The year's script: the units, their figures and doors, the faults, drawn from the seed.

use crate::support::*;
use chrono::{DateTime, Duration as Span, TimeZone};
use chrono_tz::Tz;
use std::collections::HashMap;

pub(super) const TZ: Tz = chrono_tz::Asia::Shanghai;
pub(super) const TOKEN: &str = "bureau-token-for-tests-0123456789";
pub(super) const SECRET: &str = "server-secret-for-tests-0123456789";
pub(super) const LEADER: &str = "leader@example.gov.cn";
pub(super) const STAFF: &str = "data-staff@example.gov.cn";
/// 霍邱县's second registered address: it gets copies of 霍邱县's receipts, and is the one the
/// mail server refuses for good during the 5xx fault.
pub(super) const COPY: &str = "huoqiu-2@example.gov.cn";

pub(super) fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Tz> {
    TZ.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// The seeded randomness of the script (SplitMix64: the same seed, the same history).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A moment between `from` and `to`.
    pub(super) fn between(&mut self, from: DateTime<Tz>, to: DateTime<Tz>) -> DateTime<Tz> {
        let span = (to - from).num_seconds().max(1);
        from + Span::seconds(self.range(0, span - 1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Door {
    Mail,
    Upload,
    Inbox,
    Source,
}

/// One unit's figures for one month, as the driver wrote them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Figures {
    pub(super) cases: i64,
    pub(super) criminal: i64,
    pub(super) civil: i64,
    pub(super) admin: i64,
    pub(super) closed: i64,
    pub(super) funds_fen: i64,
    pub(super) spend_fen: i64,
    pub(super) spend_case_fen: i64,
    pub(super) complaints: i64,
    pub(super) resolved: i64,
    pub(super) surveyed: i64,
    pub(super) satisfied: i64,
    pub(super) note: String,
}

pub(super) const HEADER: &str = "单位代码,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数,说明";

pub(super) fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

pub(super) fn row(code: &str, month: u32, f: &Figures) -> String {
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

pub(super) fn csv(rows: &[String]) -> Vec<u8> {
    format!("{HEADER}\r\n{}\r\n", rows.join("\r\n")).into_bytes()
}

/// What the driver expects of a file it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// Taken in: its rows are (new versions of) the figures.
    Accepted,
    /// Rejected (a wrong cell, a poison file): kept in quarantine.
    Rejected,
    /// The same bytes as an accepted file: set aside, nothing taken.
    Duplicate,
}

/// One file the script sends.
#[derive(Debug, Clone)]
pub(super) struct Send {
    pub(super) when: DateTime<Tz>,
    pub(super) door: Door,
    /// The unit whose door it goes through (a bulk sheet: the staff's mail, unit None).
    pub(super) unit: Option<usize>,
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
    /// (unit index, month, figures) of every row, when accepted.
    pub(super) rows: Vec<(usize, u32, Figures)>,
    pub(super) expect: Expect,
    /// A poison mail (its handling fails every time): held, never answered.
    pub(super) poison: bool,
}

/// What the driver did, in order: its own record, the ground truth of the invariants.
#[derive(Debug, Clone)]
pub(super) struct Done {
    pub(super) send: Send,
    /// When it really went: mail's INTERNALDATE, an upload's (accepted) request, a file's drop.
    pub(super) at: DateTime<Tz>,
    /// A mail's Message-ID and sender.
    pub(super) mail: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub(super) enum Fault {
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
    pub(super) fn start(&self) -> DateTime<Tz> {
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

pub(super) struct Unit {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) target: i64,
    pub(super) budget_fen: i64,
    pub(super) contact: String,
    pub(super) door: Door,
}

/// The script: every send and every fault, from the seed.
pub(super) struct Script {
    pub(super) units: Vec<Unit>,
    pub(super) sends: Vec<Send>,
    pub(super) faults: Vec<Fault>,
    /// The (unit, month) never sent.
    pub(super) missing: (usize, u32),
    pub(super) end: DateTime<Tz>,
}

/// The end of `month`'s last day: day 5 of the next month, moved to the next working day when
/// it is a statutory holiday (worked out by hand from 国办发明电〔2024〕12号: 5 April is 清明,
/// 5 May 劳动节, 5 October 国庆; 5 July is a Saturday and stays).
pub(super) fn deadline(month: u32) -> DateTime<Tz> {
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
pub(super) fn next_month(month: u32, day: u32, h: u32) -> DateTime<Tz> {
    let (y, m) = if month == 12 {
        (2026, 1)
    } else {
        (2025, month + 1)
    };
    at(y, m, day, h, 0)
}

pub(super) fn figures(rng: &mut Rng, u: &Unit, month: u32, months: u32) -> Figures {
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

pub(super) fn script(seed: u64, months: u32, disk_full: bool, power_cuts: bool) -> Script {
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
            contact: u.contact.clone().unwrap().to_string(),
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
