//! Small hand-made frames run through the analyses directly (no files, no clock): a row that
//! triggers nothing on its own, the months of a unit, and a `Case` that analyses them.

use super::{frame_as_text, luan};
use fayuan::analyze::{self, Inputs, UsedRow};
use fayuan::period::{Period, parse_instant};
use fayuan::schema::{FIELDS, idx};
use fayuan::schema::{Row, Value};
use fayuan::store::{self, FileEntry, Outcome};
use std::collections::BTreeMap;

/// A row for a unit and month with figures that trigger nothing on their own: 100 cases a
/// month, funds arriving a little ahead of schedule, 80% of spending on cases.
pub fn row(code: &str, month: u32) -> Row {
    let p = luan();
    let u = p.unit(code).unwrap();
    let mut values = vec![Value::Missing; FIELDS.len()];
    values[idx("unit_code")] = Value::Text(code.into());
    values[idx("period")] = Value::Period(Period::new(2025, month).unwrap());
    for (k, n) in [
        ("cases_approved", 100),
        ("cases_criminal", 100),
        ("cases_civil", 0),
        ("cases_admin", 0),
        ("cases_closed", 50),
        ("legal_help", 0),
        ("complaints", 0),
        ("complaints_resolved", 0),
        ("surveyed", 10),
        ("satisfied", 10),
    ] {
        values[idx(k)] = Value::Count(n);
    }
    let monthly_fen = (u.budget * 100.0 / 12.0).ceil() as i64 + 10_000;
    values[idx("funds_received")] = Value::Fen(monthly_fen);
    values[idx("spend_total")] = Value::Fen(monthly_fen);
    values[idx("spend_case")] = Value::Fen(monthly_fen * 8 / 10);
    Row {
        values,
        sheet: None,
        source_row: 2,
    }
}

pub fn set(mut r: Row, key: &str, v: i64) -> Row {
    r.values[idx(key)] = match r.values[idx(key)] {
        Value::Fen(_) => Value::Fen(v),
        _ => Value::Count(v),
    };
    r
}

/// A row arrived on time: day 2 of the next month.
pub fn on_time(r: Row) -> (String, Row) {
    let p = match r.values[idx("period")] {
        Value::Period(p) => p,
        _ => unreachable!(),
    };
    (format!("{}-02T10:00:00+08:00", p.next()), r)
}

pub struct Case {
    pub rows: Vec<(String, Row)>,
    pub rejected: Vec<FileEntry>,
    pub previous: Option<Vec<UsedRow>>,
    /// The as-of time of the last digest sent (files rejected after it are news).
    pub rejected_after: Option<String>,
}

impl Case {
    pub fn new(rows: Vec<(String, Row)>) -> Case {
        Case {
            rows,
            rejected: Vec::new(),
            previous: None,
            rejected_after: None,
        }
    }

    /// The alerts for `period` as of `as_of`: (rule, severity, unit_code, message).
    pub fn alerts(&self, period: &str, as_of: &str) -> Vec<BTreeMap<String, String>> {
        frame_as_text(self.analysis(period, as_of).frame("alerts").unwrap())
    }

    pub fn analysis(&self, period: &str, as_of: &str) -> analyze::Analysis {
        let pipeline = luan();
        let mut files: Vec<FileEntry> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, (at, _))| FileEntry {
                batch: i as i64 + 1,
                seq: 1,
                sha256: format!("{i:064}"),
                file_name: format!("f{i}.csv"),
                size: 1,
                arrived_at: moment(at),
                outcome: Outcome::Accepted,
                stored_as: String::new(),
                rows_accepted: 1,
                rows_rejected: 0,
                problems: String::new(),
                unit_codes: Vec::new(),
                door: None,
                periods: Vec::new(),
            })
            .collect();
        let pairs: Vec<(usize, &Row)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, (_, r))| (i, r))
            .collect();
        let subs = store::table_of(&files, &pairs).unwrap();
        files.extend(self.rejected.iter().cloned());

        analyze::analyze(&Inputs {
            locks: &[],
            explained: &[],
            unsigned: &[],
            pipeline: &pipeline,
            period: Period::parse(period).unwrap(),
            as_of: parse_instant(as_of).unwrap(),
            submissions: &subs,
            files: &files,
            previous: self.previous.as_deref(),
            extra_alerts: Vec::new(),
            returned: &[],
            rejected_after: self
                .rejected_after
                .as_deref()
                .map(|t| parse_instant(t).unwrap()),
            last_year: None,
        })
        .unwrap()
    }
}

pub fn has(
    alerts: &[BTreeMap<String, String>],
    rule: &str,
    unit: &str,
) -> Option<BTreeMap<String, String>> {
    alerts
        .iter()
        .find(|a| a["rule"] == rule && a["unit_code"] == unit)
        .cloned()
}

pub const HQ: &str = "341522"; // 霍邱县: target 1300

pub fn months(code: &str, cases: &[i64]) -> Vec<(String, Row)> {
    cases
        .iter()
        .enumerate()
        .map(|(k, n)| on_time(set(row(code, k as u32 + 1), "cases_approved", *n)))
        .map(|(at, r)| {
            let n = match r.values[idx("cases_approved")] {
                Value::Count(n) => n,
                _ => 0,
            };
            (at, set(r, "cases_criminal", n))
        })
        .collect()
}

/// A moment as the store keeps it (RFC 3339, Beijing time).
pub fn moment(text: &str) -> fayuan::period::Moment {
    fayuan::period::Moment(fayuan::period::parse_instant(text).expect("an RFC 3339 time"))
}
