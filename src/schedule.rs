//! What is due when: a pure function of (schedules, what has run, now). The daemon's scheduler
//! only wakes the process; this decides. All times are Beijing time.
//!
//! Invariant: pure — no clock, no files; catch-up and no-double-run are decided here and
//! tested without waiting.

use crate::calendar::Days;
use crate::period::{Period, TZ};
use chrono::{DateTime, Duration};
use chrono_tz::Tz;
use croner::Cron;
use std::collections::HashSet;

pub use crate::cron::Schedules;

/// What has run, from the daemon's run ledger (and the delivery ledger).
#[derive(Debug, Default, Clone)]
pub struct History {
    /// The last moment the daemon was known to be up (its last heartbeat or job).
    pub last_seen: Option<DateTime<Tz>>,
    /// Periods whose report the daemon built, or whose digest was sent by anyone.
    pub reported: HashSet<Period>,
    /// Reminder rounds already done, by the fire time that asked for them.
    pub reminded: HashSet<DateTime<Tz>>,
    /// Reports that failed and have not been made since: tried again on every wake-up.
    pub failed_reports: Vec<(Period, DateTime<Tz>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Ingest,
    /// Remind units that have not reported for `period` (asked for at `fired`).
    Remind {
        period: Period,
        fired: DateTime<Tz>,
    },
    /// Build and send the report for `period` (asked for at `fired`).
    Report {
        period: Period,
        fired: DateTime<Tz>,
    },
}

/// How far back a first start looks for a missed report (the daemon has no history yet).
pub const FIRST_START_LOOKBACK_HOURS: i64 = 24;
/// A reminder is worth sending only this long after its time; older ones are skipped.
pub const REMINDER_FRESH_HOURS: i64 = 24;

/// Fire times of `cron` in (after, until], oldest first.
pub fn fires(cron: &Cron, after: DateTime<Tz>, until: DateTime<Tz>) -> Vec<DateTime<Tz>> {
    let mut out = Vec::new();
    let mut t = after;
    while let Ok(next) = cron.find_next_occurrence(&t, false) {
        if next > until {
            break;
        }
        out.push(next);
        t = next;
    }
    out
}

/// How far back a fire time may lie and still be moved into the present by the calendar (a
/// fire on the first day of the longest holiday, moved past it and a rolled deadline).
const MOVED_LOOKBACK_DAYS: i64 = 21;
/// How far ahead a fire time may lie and be moved back into the present (a reminder on a day
/// off before its deadline goes on the working day before: at most the longest run of days off).
const MOVED_LOOKAHEAD_DAYS: i64 = 12;

/// The reminder rounds whose time (moved off days off, `Days::remind_at`) falls in
/// (after, until]: (period, time), oldest first, each time once.
pub fn remind_times(
    s: &Schedules,
    days: &Days,
    after: DateTime<Tz>,
    until: DateTime<Tz>,
) -> Vec<(Period, DateTime<Tz>)> {
    moved(&s.remind, after, until, |p, f| days.remind_at(p, f))
}

/// The reports whose time (`Days::report_at`) falls in (after, until]: (period, time).
pub fn report_times(
    s: &Schedules,
    days: &Days,
    after: DateTime<Tz>,
    until: DateTime<Tz>,
) -> Vec<(Period, DateTime<Tz>)> {
    moved(&s.report, after, until, |p, f| days.report_at(p, f))
}

fn moved(
    cron: &Cron,
    after: DateTime<Tz>,
    until: DateTime<Tz>,
    at: impl Fn(Period, DateTime<Tz>) -> DateTime<Tz>,
) -> Vec<(Period, DateTime<Tz>)> {
    let mut out: Vec<(Period, DateTime<Tz>)> = fires(
        cron,
        after - Duration::days(MOVED_LOOKBACK_DAYS),
        until + Duration::days(MOVED_LOOKAHEAD_DAYS),
    )
    .into_iter()
    .map(|f| {
        let p = Period::of(f.date_naive()).prev();
        (p, at(p, f))
    })
    .filter(|(_, t)| *t > after && *t <= until)
    .collect();
    out.sort_by_key(|(p, t)| (*t, *p));
    out.dedup();
    out
}

/// The next moment anything is due after `now`: an ingest, or a reminder round or report at
/// its time as the calendar moves it.
pub fn next_wake(s: &Schedules, days: &Days, now: DateTime<Tz>) -> Option<DateTime<Tz>> {
    let horizon = now + Duration::days(62);
    [
        next(&s.ingest, now),
        remind_times(s, days, now, horizon).first().map(|x| x.1),
        report_times(s, days, now, horizon).first().map(|x| x.1),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Everything due at `now`, in the order to run it: ingest first (so reports see the latest
/// files), then reminders, then reports, each oldest first. A report missed while the daemon
/// was down is due once; one already made is never due again. Reminder rounds and reports go at
/// their times as the calendar moves them (`[schedule] on_days_off`); two rounds moved to one
/// time are one round.
pub fn due(s: &Schedules, days: &Days, h: &History, now: DateTime<Tz>) -> Vec<Job> {
    let since = h
        .last_seen
        .unwrap_or(now - Duration::hours(FIRST_START_LOOKBACK_HOURS))
        .min(now);
    let mut jobs = Vec::new();
    if h.last_seen.is_none() || !fires(&s.ingest, since, now).is_empty() {
        jobs.push(Job::Ingest);
    }
    let mut rounds: HashSet<DateTime<Tz>> = HashSet::new();
    for (period, fired) in remind_times(s, days, since, now) {
        if fired >= now - Duration::hours(REMINDER_FRESH_HOURS)
            && !h.reminded.contains(&fired)
            && rounds.insert(fired)
        {
            jobs.push(Job::Remind { period, fired });
        }
    }
    let mut seen = HashSet::new();
    let retries = h
        .failed_reports
        .iter()
        .copied()
        .filter(|(p, _)| !h.reported.contains(p));
    let fresh = report_times(s, days, since, now).into_iter();
    let mut wanted: Vec<(Period, DateTime<Tz>)> = retries.chain(fresh).collect();
    wanted.sort_by_key(|(p, f)| (*p, *f));
    for (period, fired) in wanted {
        if !h.reported.contains(&period) && seen.insert(period) {
            jobs.push(Job::Report { period, fired });
        }
    }
    jobs
}

/// The next fire time of a schedule after `now`.
pub fn next(cron: &Cron, now: DateTime<Tz>) -> Option<DateTime<Tz>> {
    cron.find_next_occurrence(&now.with_timezone(&TZ), false)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::parse as parse_cron;
    use crate::period::parse_instant;

    fn luan() -> Schedules {
        Schedules {
            ingest: parse_cron("0 */10 * * * *").unwrap(),
            remind: parse_cron("0 0 9 3,5 * *").unwrap(),
            report: parse_cron("0 0 9 6 * *").unwrap(),
        }
    }

    fn t(s: &str) -> DateTime<Tz> {
        parse_instant(s).unwrap()
    }

    fn reports(jobs: &[Job]) -> Vec<String> {
        jobs.iter()
            .filter_map(|j| match j {
                Job::Report { period, .. } => Some(period.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn two_months_down_catches_up_two_reports_in_order_once() {
        let mut h = History {
            last_seen: Some(t("2025-05-20 12:00")),
            ..History::default()
        };
        let jobs = due(&luan(), &Days::plain(5), &h, t("2025-07-10 08:00"));
        assert_eq!(jobs[0], Job::Ingest);
        assert_eq!(reports(&jobs), ["2025-05", "2025-06"]);
        // Reminders from weeks ago are not sent late.
        assert!(!jobs.iter().any(|j| matches!(j, Job::Remind { .. })));
        // After they ran (recorded), starting again repeats nothing.
        h.reported
            .extend([Period::new(2025, 5).unwrap(), Period::new(2025, 6).unwrap()]);
        h.last_seen = Some(t("2025-07-10 08:01"));
        assert_eq!(
            reports(&due(&luan(), &Days::plain(5), &h, t("2025-07-10 08:05"))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn restart_right_after_a_report_repeats_nothing() {
        let mut h = History {
            last_seen: Some(t("2025-07-06 09:00:30")),
            ..History::default()
        };
        h.reported.insert(Period::new(2025, 6).unwrap());
        let jobs = due(&luan(), &Days::plain(5), &h, t("2025-07-06 09:02"));
        assert!(reports(&jobs).is_empty());
        // Down across 09:00 and the report not made: made once.
        let h = History {
            last_seen: Some(t("2025-07-06 08:55")),
            ..History::default()
        };
        assert_eq!(
            reports(&due(&luan(), &Days::plain(5), &h, t("2025-07-06 09:05"))),
            ["2025-06"]
        );
        // A first start just after the report time makes it too.
        assert_eq!(
            reports(&due(
                &luan(),
                &Days::plain(5),
                &History::default(),
                t("2025-07-06 09:05")
            )),
            ["2025-06"]
        );
    }

    #[test]
    fn a_failed_report_is_tried_again_until_made() {
        let mut h = History {
            last_seen: Some(t("2025-07-06 09:10")),
            ..History::default()
        };
        h.failed_reports
            .push((Period::new(2025, 6).unwrap(), t("2025-07-06 09:00")));
        assert_eq!(
            reports(&due(&luan(), &Days::plain(5), &h, t("2025-07-06 09:20"))),
            ["2025-06"]
        );
        h.reported.insert(Period::new(2025, 6).unwrap());
        assert!(reports(&due(&luan(), &Days::plain(5), &h, t("2025-07-06 09:30"))).is_empty());
    }

    #[test]
    fn a_reminder_moved_to_the_working_day_before_is_due_then() {
        // June 2025's deadline day, Saturday 5 July, is not a holiday (no roll): its 09:00 round
        // goes on Friday 4 July, before its fire time, and once.
        let file: crate::calendar::CalendarFile =
            toml::from_str(include_str!("../pipelines/calendar.toml")).unwrap();
        let cal = crate::calendar::Calendar::build(&file.year, "calendar.toml", &mut Vec::new());
        let days = Days::new(
            cal,
            5,
            crate::calendar::Roll::Holidays,
            crate::calendar::OnDaysOff::NextWorkingDay,
        );
        let mut h = History {
            last_seen: Some(t("2025-07-04 08:00")),
            ..History::default()
        };
        let jobs = due(&luan(), &days, &h, t("2025-07-04 09:00:05"));
        let fired = t("2025-07-04 09:00");
        assert!(
            jobs.contains(&Job::Remind {
                period: Period::new(2025, 6).unwrap(),
                fired
            }),
            "{jobs:?}"
        );
        h.reminded.insert(fired);
        h.last_seen = Some(t("2025-07-04 09:01"));
        assert!(
            !due(&luan(), &days, &h, t("2025-07-05 09:00:05"))
                .iter()
                .any(|j| matches!(j, Job::Remind { .. }))
        );
    }

    #[test]
    fn reminders_on_day_three_and_five_once() {
        let mut h = History {
            last_seen: Some(t("2025-07-03 08:59")),
            ..History::default()
        };
        let jobs = due(&luan(), &Days::plain(5), &h, t("2025-07-03 09:00:05"));
        let fired = t("2025-07-03 09:00");
        assert!(jobs.contains(&Job::Remind {
            period: Period::new(2025, 6).unwrap(),
            fired
        }));
        h.reminded.insert(fired);
        h.last_seen = Some(t("2025-07-03 08:59"));
        assert!(
            !due(&luan(), &Days::plain(5), &h, t("2025-07-03 09:00:05"))
                .iter()
                .any(|j| matches!(j, Job::Remind { .. }))
        );
    }

    #[test]
    fn the_month_turns_at_midnight_beijing_which_is_1600_utc() {
        // The report of day 6 09:00 is for the month before the day it fires in.
        let s = Schedules {
            ingest: parse_cron("0 */10 * * * *").unwrap(),
            remind: parse_cron("0 0 9 3,5 * *").unwrap(),
            report: parse_cron("0 0 0 1 * *").unwrap(), // midnight on the 1st
        };
        // 2025-06-30T16:00Z is 2025-07-01 00:00 Beijing: June's report is due.
        let h = History {
            last_seen: Some(t("2025-06-30T15:59:00Z")),
            ..History::default()
        };
        assert_eq!(
            reports(&due(&s, &Days::plain(5), &h, t("2025-06-30T16:00:00Z"))),
            ["2025-06"]
        );
        // One second earlier it is still June in Beijing: nothing.
        assert!(reports(&due(&s, &Days::plain(5), &h, t("2025-06-30T15:59:59Z"))).is_empty());
    }
}
