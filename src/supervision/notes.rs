//! One 说明 for one problem (issue 34 §3): a unit answers a soft check (待说明) on its page,
//! once for every month the rule failed for it ("1—12月"), without resending a file; the staff
//! may send a 说明 back (退回说明) with a reason. The 负责人's sign-off of a unit's month (issue 34
//! §4) is kept beside it.
//!
//! Invariants: both are append-only ledgers (`supervision/notes.jsonl`,
//! `supervision/signoffs.jsonl`); which 说明 is in force for a (unit, check, month) is the last
//! word on it in the ledger as of the moment asked (a 说明 or its sending back); every step is on
//! the record (工作台账) under who took it.

use super::known_unit;
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::Period;
use crate::records::{
    NoteRecord, SignRecord, Unsigned, notes_ledger as notes, signoffs_ledger as signoffs,
};
use chrono::DateTime;
use chrono_tz::Tz;

/// The longest 说明 or reason kept.
pub const MAX_NOTE_CHARS: usize = 500;

/// The lines of the ledger that pass `keep`, each with the months no later line (a 说明 or a
/// sending back of the same unit and check) has taken over; lines left with none are dropped.
fn still_standing(all: &[NoteRecord], keep: impl Fn(&NoteRecord) -> bool) -> Vec<NoteRecord> {
    all.iter()
        .enumerate()
        .filter(|(_, r)| keep(r))
        .filter_map(|(k, r)| {
            let months: Vec<u32> = r
                .months
                .iter()
                .copied()
                .filter(|m| {
                    !all[k + 1..].iter().any(|later| {
                        later.unit == r.unit
                            && later.check_id == r.check_id
                            && later.months.contains(m)
                    })
                })
                .collect();
            (!months.is_empty()).then(|| NoteRecord {
                months,
                ..r.clone()
            })
        })
        .collect()
}

/// The 说明 sent back and not answered again, for the unit's page: each sending back with the
/// months it still stands for (a later 说明 of some of its months answers those only).
pub fn sent_back(data_dir: &DataDir, unit: &str) -> Result<Vec<NoteRecord>> {
    let all = notes(data_dir).read()?;
    Ok(still_standing(&all, |r| r.sent_back && r.unit == unit))
}

/// The 说明 in force as given (each with the months it still explains), for the staff's page.
pub fn notes_in_force(data_dir: &DataDir) -> Result<Vec<NoteRecord>> {
    let all = notes(data_dir).read()?;
    Ok(still_standing(&all, |r| !r.sent_back))
}

/// What one 说明 step is about.
pub struct Note<'a> {
    pub unit: &'a str,
    pub check_id: &'a str,
    pub months: &'a [u32],
    pub text: &'a str,
    pub by: &'a str,
    pub sent_back: bool,
}

/// A unit's 说明 of a check for its months, or the staff's sending it back with a reason: kept,
/// on the record, and what was done in words.
pub fn note(data_dir: &DataDir, pipeline: &Pipeline, n: Note, now: DateTime<Tz>) -> Result<String> {
    let u = known_unit(pipeline, n.unit)?;
    let Some(check) = pipeline.def.soft_checks.iter().find(|c| c.id == n.check_id) else {
        return Err(Error::Usage(format!("未知的检查项 {:?}", n.check_id)));
    };
    let text = n.text.trim();
    let what = if n.sent_back {
        "退回原因"
    } else {
        "说明"
    };
    if !(1..=MAX_NOTE_CHARS).contains(&text.chars().count()) {
        return Err(Error::Usage(format!(
            "请填写{what}（1至{MAX_NOTE_CHARS}字）。"
        )));
    }
    let mut months: Vec<u32> = n
        .months
        .iter()
        .copied()
        .filter(|m| (1..=12).contains(m))
        .collect();
    months.sort_unstable();
    months.dedup();
    if months.is_empty() {
        return Err(Error::Usage("请至少选择一个月份。".into()));
    }
    let r = NoteRecord {
        at: now.into(),
        unit: u.code.clone(),
        check_id: check.id.clone(),
        months,
        text: text.to_string(),
        by: n.by.to_string(),
        sent_back: n.sent_back,
    };
    notes(data_dir).append(&r)?;
    crate::faults::point("supervision-ledger", &data_dir.notes())?;
    let all = notes(data_dir).read()?;
    let e = note_event(pipeline, &all, all.len().saturating_sub(1));
    let said = format!("{}。", e.what.trim_end_matches('。'));
    // Kept: the record follows, or the next catch-up records it (never the step twice).
    crate::audit::record_or_log(data_dir, pipeline.year(), r.at, vec![e]);
    Ok(said)
}

/// A soft check's words as a county reads them (its id when the pipeline no longer has it).
pub fn check_words(pipeline: &Pipeline, check_id: &str) -> String {
    pipeline
        .def
        .soft_checks
        .iter()
        .find(|c| c.id == check_id)
        .map_or(check_id.to_string(), |c| {
            crate::format::fill(&c.wording, None, Some(c.threshold))
        })
}

/// A 说明 step as the record says it.
pub(super) fn note_event(
    pipeline: &Pipeline,
    records: &[NoteRecord],
    k: usize,
) -> crate::audit::New {
    let r = &records[k];
    let name = pipeline
        .unit(&r.unit)
        .map_or(r.unit.clone(), |u| u.name.clone());
    let check = check_words(pipeline, &r.check_id);
    let months = format!("{}月", crate::format::months_zh(&r.months));
    let year = pipeline.year();
    let periods: Vec<String> = r
        .months
        .iter()
        .filter_map(|&m| Period::new(year, m))
        .map(|p| p.to_string())
        .collect();
    crate::audit::New {
        kind: if r.sent_back {
            "note_sent_back"
        } else {
            "note_given"
        },
        // What the step is: sent back or given, the unit, the check, the months, the second —
        // and its place in the ledger when an earlier line says the same.
        key: super::distinct(records, k, |r| {
            format!(
                "{} {} {} {} {}",
                if r.sent_back { "note-back" } else { "note" },
                r.unit,
                r.check_id,
                crate::format::months_zh(&r.months),
                crate::period::instant_text(&r.at.0)
            )
        }),
        unit: r.unit.clone(),
        period: periods.join(","),
        who: r.by.clone(),
        what: if r.sent_back {
            format!("退回{name}{year}年{months}“{check}”的说明：{}", r.text)
        } else {
            format!("{name}说明{year}年{months}“{check}”：{}", r.text)
        },
    }
}

/// Every 说明 step, for the record's catch-up.
pub(super) fn note_steps(data_dir: &DataDir) -> Result<Vec<NoteRecord>> {
    notes(data_dir).read()
}

/// The 负责人 signs the version of the unit's month now in force (`version`): kept, on the record.
pub fn sign(
    data_dir: &DataDir,
    pipeline: &Pipeline,
    unit: &str,
    period: Period,
    shown: &Unsigned,
    name: &str,
    now: DateTime<Tz>,
) -> Result<String> {
    let u = known_unit(pipeline, unit)?;
    let name = name.trim();
    if !(1..=30).contains(&name.chars().count()) {
        return Err(Error::Usage("请填写负责人姓名（1至30字）。".into()));
    }
    let r = SignRecord {
        at: now.into(),
        unit: u.code.clone(),
        period: period.to_string(),
        version: shown.version,
        sha256: shown.sha256.clone(),
        name: name.to_string(),
    };
    signoffs(data_dir).append(&r)?;
    crate::faults::point("supervision-ledger", &data_dir.signoffs())?;
    let all = signoffs(data_dir).read()?;
    let e = sign_event(pipeline, &all, all.len().saturating_sub(1));
    let said = format!("{}。", e.what);
    crate::audit::record_or_log(data_dir, pipeline.year(), r.at, vec![e]);
    Ok(said)
}

pub(super) fn sign_event(
    pipeline: &Pipeline,
    records: &[SignRecord],
    k: usize,
) -> crate::audit::New {
    let r = &records[k];
    let name = pipeline
        .unit(&r.unit)
        .map_or(r.unit.clone(), |u| u.name.clone());
    let month = Period::parse(&r.period).map_or(r.period.clone(), |p| p.zh());
    crate::audit::New {
        kind: "signed_off",
        key: super::distinct(records, k, |r| {
            format!(
                "signoff {} {} v{} {}",
                r.unit,
                r.period,
                r.version,
                crate::period::instant_text(&r.at.0)
            )
        }),
        unit: r.unit.clone(),
        period: r.period.clone(),
        who: format!("{}（负责人）", r.name),
        what: format!("{name}负责人{}确认{month}数据（第{}版）", r.name, r.version),
    }
}

/// Every sign-off, for the record's catch-up.
pub(super) fn sign_steps(data_dir: &DataDir) -> Result<Vec<SignRecord>> {
    signoffs(data_dir).read()
}
