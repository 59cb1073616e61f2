//! The 催报 ladder (issue 25, SPEC §12): the reminder steps of `[[reminders]]`, each on a day
//! relative to the deadline. Which step a unit that has not reported is due at a reminder round,
//! and where each unit stands on the ladder (read from the delivery ledger, where every step
//! sent is a message with a known id).
//!
//! Invariants: a step is one message per unit and month (its outbox id says unit, month and
//! step); at a round only the latest step reached is sent (a daemon that was down does not send
//! three steps at once), the last one at most `LAST_STEP_FRESH_DAYS` after its day; nothing is
//! sent for a month the unit has reported (the caller asks only for those that have not).

use crate::config::{Address, Pipeline, ReminderStep};
use crate::error::Result;
use crate::layout::DataDir;
use crate::notify;
use crate::period::{Moment, Period};
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap};

/// How long after its day the ladder's last step may still go (a daemon that was down).
pub const LAST_STEP_FRESH_DAYS: i64 = 7;

/// The ladder's steps, earliest first (empty: no ladder, every reminder round reminds).
pub fn steps(p: &Pipeline) -> Vec<&ReminderStep> {
    let mut s: Vec<&ReminderStep> = p.def.reminders.iter().collect();
    s.sort_by_key(|s| s.day);
    s
}

/// The last day to report `period` (the deadline is the end of it).
pub fn last_day(p: &Pipeline, period: Period) -> NaiveDate {
    p.days().last_day(period)
}

/// The day a step falls on for `period`: `day` working days from the (rolled) last day
/// (`Days::step_date`).
pub fn step_date(p: &Pipeline, period: Period, step: &ReminderStep) -> NaiveDate {
    p.days().step_date(period, step.day)
}

/// The step due on `today` for `period`: the latest step whose day has come, unless it is the
/// last and more than `LAST_STEP_FRESH_DAYS` old.
pub fn due_step(p: &Pipeline, period: Period, today: NaiveDate) -> Option<&ReminderStep> {
    let steps = steps(p);
    let (i, step) = steps
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| step_date(p, period, s) <= today)?;
    let last = i + 1 == steps.len();
    if last && (today - step_date(p, period, step)).num_days() > LAST_STEP_FRESH_DAYS {
        return None;
    }
    Some(step)
}

/// The outbox id of a step's message to a unit: `remind-2025-06-t+3-341522`.
pub fn message_id(period: Period, step: &ReminderStep, code: &str) -> String {
    format!("remind-{period}-t{:+}-{code}", step.day)
}

/// The addresses for a step's roles (contact, leader, staff), each once, in order.
pub fn people(p: &Pipeline, code: &str, roles: &[String]) -> Vec<Address> {
    let unit = p.unit(code);
    let mut out: Vec<Address> = Vec::new();
    for role in roles {
        let found: Vec<Address> = match role.as_str() {
            "contact" => unit.and_then(|u| u.contact.clone()).into_iter().collect(),
            "leader" => unit.and_then(|u| u.leader.clone()).into_iter().collect(),
            "staff" => notify::staff(p),
            _ => Vec::new(),
        };
        for a in found {
            let bare = crate::config::sender_address(a.as_str());
            if !out
                .iter()
                .any(|o| crate::config::sender_address(o.as_str()) == bare)
            {
                out.push(a);
            }
        }
    }
    out
}

/// One step sent to a unit: its name and when it was put in the outbox.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    pub step: String,
    pub day: i32,
    pub at: Moment,
}

/// Where each unit stands on the ladder for `period`: the steps sent to it, in order (units with
/// none are left out).
pub fn standing(
    p: &Pipeline,
    data_dir: &DataDir,
    period: Period,
) -> Result<BTreeMap<String, Vec<Sent>>> {
    let mut out = BTreeMap::new();
    if p.def.reminders.is_empty() {
        return Ok(out);
    }
    let events = notify::ledger(data_dir, p).read()?;
    let messages = notify::messages(&events);
    let by_id: HashMap<&str, &notify::MessageState> =
        messages.iter().map(|m| (m.id.as_str(), m)).collect();
    for u in &p.units {
        let sent: Vec<Sent> = steps(p)
            .into_iter()
            .filter_map(|s| {
                by_id
                    .get(message_id(period, s, &u.code).as_str())
                    .map(|m| Sent {
                        step: s.name.clone(),
                        day: s.day,
                        at: m.created,
                    })
            })
            .collect();
        if !sent.is_empty() {
            out.insert(u.code.clone(), sent);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, day: i32) -> ReminderStep {
        ReminderStep {
            name: name.into(),
            day,
            to: vec!["contact".into()],
            cc: Vec::new(),
            template: "reminder.txt".into(),
        }
    }

    #[test]
    fn the_latest_step_reached_is_due_and_the_last_only_for_a_week() {
        let mut p = crate::config::Pipeline::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/pipelines/luan-2025.toml"
        )))
        .unwrap();
        p.def.reminders = vec![
            step("督办", 3),
            step("提醒", -3),
            step("逾期", 1),
            step("截止", 0),
        ];
        let june = Period::new(2025, 6).unwrap();
        let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        // Deadline day 5: Saturday July 5 is the last day (a weekend does not roll it). Steps
        // count working days: T is Friday 4 July (the last day is off), T−3 three working days
        // before it, Tuesday 1 July; T+1 Monday 7 July, T+3 Wednesday 9 July.
        assert_eq!(last_day(&p, june), d(7, 5));
        let name = |day| due_step(&p, june, day).map(|s| s.name.clone());
        assert_eq!(name(d(6, 30)), None);
        assert_eq!(name(d(7, 1)).as_deref(), Some("提醒"));
        assert_eq!(name(d(7, 2)).as_deref(), Some("提醒"));
        assert_eq!(name(d(7, 3)).as_deref(), Some("提醒"));
        assert_eq!(name(d(7, 4)).as_deref(), Some("截止"));
        assert_eq!(name(d(7, 6)).as_deref(), Some("截止"));
        assert_eq!(name(d(7, 7)).as_deref(), Some("逾期"));
        assert_eq!(name(d(7, 8)).as_deref(), Some("逾期"));
        assert_eq!(name(d(7, 9)).as_deref(), Some("督办"));
        // The last step: July 9 + 7 days is the last day it may still go.
        assert_eq!(name(d(7, 16)).as_deref(), Some("督办"));
        assert_eq!(name(d(7, 17)), None);
        assert_eq!(
            message_id(june, &step("x", -3), "341522"),
            "remind-2025-06-t-3-341522"
        );
        assert_eq!(
            message_id(june, &step("x", 0), "341522"),
            "remind-2025-06-t+0-341522"
        );
    }
}
