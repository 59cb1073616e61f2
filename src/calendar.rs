//! China's working calendar (法定节假日 and 调休) and what follows from it: the deadline a month
//! is really due by (`[submission] roll`), the working days the 催报 ladder counts, and the day a
//! scheduled reminder or report goes out (`[schedule] on_days_off`).
//!
//! Invariants: a `Calendar` is built only from checked years (every day in its own year, none
//! listed both as a holiday and as a working day: `Calendar::build`); a day is a working day if
//! the calendar lists it as one (调休上班), else not if it lists it as a holiday, else Monday to
//! Friday. A year the calendar does not know has no holidays (`check` says so). Pure: no clock,
//! no files.

use crate::period::{Period, TZ, local};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One year as the State Council's notice (国务院办公厅关于部分节假日安排的通知) gives it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct YearDef {
    pub year: i32,
    /// The notice, e.g. 国办发明电〔2024〕12号.
    pub source: String,
    /// The days off of the holidays (放假调休 ranges included), as `2025-01-01` or a range
    /// `2025-01-28..2025-02-04`.
    pub holidays: Vec<String>,
    /// The weekend days worked instead (调休上班).
    #[serde(default)]
    pub workdays: Vec<String>,
}

/// The calendar file a pipeline names (`[calendar] file`): its years.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct CalendarFile {
    #[serde(default)]
    pub year: Vec<YearDef>,
}

#[derive(Debug, Clone, Default)]
struct Year {
    source: String,
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

/// The working calendar of the years it knows. Made only by `build` (checked) or `empty`.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    years: BTreeMap<i32, Year>,
}

/// How a deadline that falls on a day off moves (`[submission] roll`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Roll {
    /// A deadline on a statutory holiday moves to the end of the next working day (遇法定节假日
    /// 顺延); a plain weekend does not move it.
    #[default]
    Holidays,
    /// A deadline on any day that is not a working day moves to the next working day.
    DaysOff,
    /// Never moves.
    None,
}

/// What a scheduled reminder or report does on a day off (`[schedule] on_days_off`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDaysOff {
    /// Moves to the next working day (a reminder that would then come after its deadline goes
    /// on the working day before instead).
    #[default]
    NextWorkingDay,
    /// Goes as the cron expression says.
    AsScheduled,
}

/// How far the calendar looks for a working day (the longest run of days off is 9).
const SEARCH_DAYS: u32 = 40;

fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// The days a list entry names: one day or an inclusive range `a..b` (at most 31 days).
fn days_of(entry: &str) -> Result<Vec<NaiveDate>, String> {
    let bad = || {
        format!("{entry:?}: expected a day such as 2025-10-01 or a range 2025-10-01..2025-10-08")
    };
    let (a, b) = match entry.split_once("..") {
        Some((a, b)) => (parse_day(a).ok_or_else(bad)?, parse_day(b).ok_or_else(bad)?),
        None => {
            let d = parse_day(entry).ok_or_else(bad)?;
            (d, d)
        }
    };
    let len = (b - a).num_days();
    if !(0..=30).contains(&len) {
        return Err(format!(
            "{entry:?}: a range runs forward and spans at most 31 days"
        ));
    }
    Ok(a.iter_days().take(len as usize + 1).collect())
}

impl Calendar {
    /// A calendar of no year: Monday to Friday are working days.
    pub fn empty() -> Calendar {
        Calendar::default()
    }

    /// The calendar of `defs`, checked: every problem (named after `what`, the file or section)
    /// is added to `problems`.
    pub fn build(defs: &[YearDef], what: &str, problems: &mut Vec<String>) -> Calendar {
        let mut years = BTreeMap::new();
        for def in defs {
            let mut y = Year {
                source: def.source.trim().to_string(),
                ..Year::default()
            };
            let at = format!("{what} year {}", def.year);
            if !(2000..=2100).contains(&def.year) {
                problems.push(format!("{at}: expected a year such as 2025"));
                continue;
            }
            if years.contains_key(&def.year) {
                problems.push(format!("{at}: listed twice"));
                continue;
            }
            if y.source.is_empty() {
                problems.push(format!(
                    "{at}: source: name the notice the days come from (e.g. 国办发明电〔2024〕12号)"
                ));
            }
            for (list, into, word) in [
                (&def.holidays, &mut y.holidays, "holidays"),
                (&def.workdays, &mut y.workdays, "workdays"),
            ] {
                for entry in list {
                    match days_of(entry) {
                        Ok(days) => {
                            for d in days {
                                if d.year() != def.year {
                                    problems.push(format!(
                                        "{at}: {word} {d} is not a day of {}",
                                        def.year
                                    ));
                                }
                                into.insert(d);
                            }
                        }
                        Err(e) => problems.push(format!("{at}: {word} {e}")),
                    }
                }
            }
            for d in y.holidays.intersection(&y.workdays) {
                problems.push(format!(
                    "{at}: {d} is listed both as a holiday and as a working day"
                ));
            }
            years.insert(def.year, y);
        }
        Calendar { years }
    }

    /// Whether the calendar has `year`'s holidays.
    pub fn knows(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// The years known, with the notice each comes from.
    pub fn years(&self) -> impl Iterator<Item = (i32, &str)> {
        self.years.iter().map(|(y, d)| (*y, d.source.as_str()))
    }

    /// A statutory holiday's day off (放假, the 调休 days of its run included).
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.years
            .get(&d.year())
            .is_some_and(|y| y.holidays.contains(&d))
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        let y = self.years.get(&d.year());
        if y.is_some_and(|y| y.workdays.contains(&d)) {
            return true;
        }
        !self.is_holiday(d) && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The first working day after `d`.
    pub fn next_working_day(&self, d: NaiveDate) -> NaiveDate {
        self.add_working_days(d, 1)
    }

    /// The last working day before `d`.
    pub fn previous_working_day(&self, d: NaiveDate) -> NaiveDate {
        self.add_working_days(d, -1)
    }

    /// The `n`-th working day after `d` (`n` < 0: before it; 0: `d` itself).
    pub fn add_working_days(&self, d: NaiveDate, n: i32) -> NaiveDate {
        let step = if n < 0 { -1 } else { 1 };
        let mut day = d;
        let mut left = n.unsigned_abs();
        let mut looked = 0;
        while left > 0 && looked < SEARCH_DAYS * (n.unsigned_abs() + 1) {
            day += Duration::days(step);
            looked += 1;
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }
}

/// The deadline rules of a pipeline: the day of the next month, how it rolls, the calendar, and
/// what scheduled messages do on days off. Every deadline fayuan speaks of comes from here.
#[derive(Debug, Clone, Default)]
pub struct Days {
    calendar: Calendar,
    deadline_day: u32,
    roll: Roll,
    on_days_off: OnDaysOff,
}

impl Days {
    pub fn new(calendar: Calendar, deadline_day: u32, roll: Roll, on_days_off: OnDaysOff) -> Days {
        Days {
            calendar,
            deadline_day,
            roll,
            on_days_off,
        }
    }

    /// No calendar, no roll, messages as scheduled: the deadline is day `deadline_day` whatever
    /// the day (the planner's own tests).
    pub fn plain(deadline_day: u32) -> Days {
        Days::new(
            Calendar::empty(),
            deadline_day,
            Roll::None,
            OnDaysOff::AsScheduled,
        )
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    pub fn roll(&self) -> Roll {
        self.roll
    }

    /// The day the rules name for `period`'s deadline, before any roll: day `deadline_day` of
    /// the next month.
    pub fn nominal_last_day(&self, period: Period) -> NaiveDate {
        period.next().first_day() + chrono::Days::new(u64::from(self.deadline_day.max(1) - 1))
    }

    /// The last day to report `period`, rolled as `[submission] roll` says.
    pub fn last_day(&self, period: Period) -> NaiveDate {
        let d = self.nominal_last_day(period);
        let moves = match self.roll {
            Roll::Holidays => self.calendar.is_holiday(d),
            Roll::DaysOff => !self.calendar.is_working_day(d),
            Roll::None => false,
        };
        if moves {
            self.calendar.next_working_day(d)
        } else {
            d
        }
    }

    /// Whether `period`'s deadline was moved from the day the rules name.
    pub fn rolled(&self, period: Period) -> bool {
        self.last_day(period) != self.nominal_last_day(period)
    }

    /// The submission deadline for `period`: the end of its last day, Beijing time (SPEC §4
    /// `late`). A submission accepted at or after the returned instant is late.
    pub fn deadline(&self, period: Period) -> DateTime<Tz> {
        local((self.last_day(period) + Duration::days(1)).and_time(NaiveTime::MIN))
    }

    /// The month is due as of `as_of`: its deadline has passed. A report made before is 暂定
    /// and judges months 1..m−1 only.
    pub fn is_due(&self, period: Period, as_of: &DateTime<Tz>) -> bool {
        *as_of > self.deadline(period)
    }

    /// The day a ladder step falls on: `day` working days from `period`'s last day. Step 0 is
    /// the last day, or the working day before it when it is a day off (a 截止日提醒 comes while
    /// it can still be acted on); the steps before count back from step 0's day, so no two steps
    /// share a day.
    pub fn step_date(&self, period: Period, day: i32) -> NaiveDate {
        let last = self.last_day(period);
        let zero = if self.calendar.is_working_day(last) {
            last
        } else {
            self.calendar.previous_working_day(last)
        };
        if day <= 0 {
            self.calendar.add_working_days(zero, day)
        } else {
            self.calendar.add_working_days(last, day)
        }
    }

    /// When a reminder round the cron asked for at `fired` (for `period`) goes out.
    pub fn remind_at(&self, period: Period, fired: DateTime<Tz>) -> DateTime<Tz> {
        let day = fired.date_naive();
        if self.on_days_off == OnDaysOff::AsScheduled || self.calendar.is_working_day(day) {
            return fired;
        }
        let next = self.calendar.next_working_day(day);
        let before_deadline = day <= self.last_day(period);
        let to = if before_deadline && next > self.last_day(period) {
            // The next working day would be after the deadline: the working day before it.
            self.calendar.previous_working_day(day)
        } else {
            next
        };
        at_day(fired, to)
    }

    /// When the report the cron asked for at `fired` (for `period`) is made: on the next working
    /// day if `fired` falls on a day off, and — when the schedule meant it for after the
    /// deadline the rules name — never before the month is due (a deadline rolled past the
    /// report day moves the report to the working day after the deadline, at the same time).
    pub fn report_at(&self, period: Period, fired: DateTime<Tz>) -> DateTime<Tz> {
        let mut day = fired.date_naive();
        if self.on_days_off == OnDaysOff::NextWorkingDay && !self.calendar.is_working_day(day) {
            day = self.calendar.next_working_day(day);
        }
        if fired.date_naive() > self.nominal_last_day(period) && day <= self.last_day(period) {
            day = self.last_day(period) + Duration::days(1);
            if self.on_days_off == OnDaysOff::NextWorkingDay && !self.calendar.is_working_day(day) {
                day = self.calendar.next_working_day(day);
            }
        }
        at_day(fired, day)
    }
}

/// How the rule reads in a sentence after a deadline: "（遇法定节假日顺延）" and the like.
pub fn rule_zh(roll: Roll) -> &'static str {
    match roll {
        Roll::Holidays => "（遇法定节假日顺延）",
        Roll::DaysOff => "（遇法定节假日、休息日顺延）",
        Roll::None => "",
    }
}

/// After one month's deadline: whether it was moved, in words ("（因法定节假日顺延）"), or nothing.
pub fn rolled_zh(days: &Days, period: Period) -> &'static str {
    if !days.rolled(period) {
        ""
    } else if days.calendar.is_holiday(days.nominal_last_day(period)) {
        "（因法定节假日顺延）"
    } else {
        "（因休息日顺延）"
    }
}

/// `fired`'s time of day on `day`, Beijing time.
fn at_day(fired: DateTime<Tz>, day: NaiveDate) -> DateTime<Tz> {
    if day == fired.date_naive() {
        return fired;
    }
    local(day.and_time(fired.with_timezone(&TZ).time()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::parse_instant;

    fn cal2025() -> Calendar {
        let text = include_str!("../pipelines/calendar.toml");
        let file: CalendarFile = toml::from_str(text).unwrap();
        let mut problems = Vec::new();
        let c = Calendar::build(&file.year, "calendar.toml", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        c
    }

    fn d(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    fn p(y: i32, m: u32) -> Period {
        Period::new(y, m).unwrap()
    }

    #[test]
    fn working_days_of_2025_as_the_notice_gives_them() {
        let c = cal2025();
        // 调休上班 on a Sunday and a Saturday; holidays on weekdays; a plain weekend.
        assert!(c.is_working_day(d("2025-01-26")) && c.is_working_day(d("2025-10-11")));
        assert!(!c.is_working_day(d("2025-05-05")) && c.is_holiday(d("2025-05-05")));
        assert!(!c.is_working_day(d("2025-07-05")) && !c.is_holiday(d("2025-07-05")));
        assert_eq!(c.next_working_day(d("2025-10-01")), d("2025-10-09"));
        assert_eq!(c.add_working_days(d("2025-05-06"), -2), d("2025-04-29"));
    }

    #[test]
    fn deadlines_roll_over_holidays_and_by_choice_over_weekends() {
        let h = Days::new(cal2025(), 5, Roll::Holidays, OnDaysOff::NextWorkingDay);
        assert_eq!(h.last_day(p(2025, 3)), d("2025-04-07")); // 清明 4–6 Apr, then Monday
        assert_eq!(h.last_day(p(2025, 4)), d("2025-05-06")); // 劳动节 1–5 May
        assert_eq!(h.last_day(p(2025, 6)), d("2025-07-05")); // a Saturday: no roll
        assert_eq!(h.last_day(p(2025, 9)), d("2025-10-09")); // 国庆 1–8 Oct
        let any = Days::new(cal2025(), 5, Roll::DaysOff, OnDaysOff::NextWorkingDay);
        assert_eq!(any.last_day(p(2025, 6)), d("2025-07-07"));
        let none = Days::new(cal2025(), 5, Roll::None, OnDaysOff::NextWorkingDay);
        assert_eq!(none.last_day(p(2025, 4)), d("2025-05-05"));
        assert_eq!(
            h.deadline(p(2025, 4)),
            parse_instant("2025-05-07 00:00").unwrap()
        );
    }

    #[test]
    fn messages_on_days_off_move_but_not_past_their_deadline() {
        let h = Days::new(cal2025(), 5, Roll::Holidays, OnDaysOff::NextWorkingDay);
        let t = |s: &str| parse_instant(s).unwrap();
        assert_eq!(
            h.remind_at(p(2025, 4), t("2025-05-03 09:00")),
            t("2025-05-06 09:00")
        );
        assert_eq!(
            h.remind_at(p(2025, 4), t("2025-05-05 09:00")),
            t("2025-05-06 09:00")
        );
        // 5 July is a Saturday and the deadline: the Friday before.
        assert_eq!(
            h.remind_at(p(2025, 6), t("2025-07-05 09:00")),
            t("2025-07-04 09:00")
        );
        // The reports follow their rolled deadlines by a working day.
        assert_eq!(
            h.report_at(p(2025, 3), t("2025-04-06 09:00")),
            t("2025-04-08 09:00")
        );
        assert_eq!(
            h.report_at(p(2025, 4), t("2025-05-06 09:00")),
            t("2025-05-07 09:00")
        );
        assert_eq!(
            h.report_at(p(2025, 9), t("2025-10-06 09:00")),
            t("2025-10-10 09:00")
        );
        assert_eq!(
            h.report_at(p(2025, 6), t("2025-07-06 09:00")),
            t("2025-07-07 09:00")
        );
        assert_eq!(
            h.report_at(p(2025, 5), t("2025-06-06 09:00")),
            t("2025-06-06 09:00")
        );
        // Ladder steps count working days.
        assert_eq!(h.step_date(p(2025, 4), -2), d("2025-04-29"));
        assert_eq!(h.step_date(p(2025, 6), 0), d("2025-07-04"));
        // The last day is a Saturday: T−1 is the working day before T's Friday, not Friday too.
        assert_eq!(h.step_date(p(2025, 6), -1), d("2025-07-03"));
        assert_eq!(h.step_date(p(2025, 9), 1), d("2025-10-10"));
    }

    #[test]
    fn a_calendar_with_days_outside_its_year_or_both_ways_is_refused() {
        let bad = YearDef {
            year: 2025,
            source: "x".into(),
            holidays: vec!["2026-01-01".into(), "2025-10-01..2025-10-08".into()],
            workdays: vec!["2025-10-03".into(), "2025-13-01".into()],
        };
        let mut problems = Vec::new();
        Calendar::build(&[bad], "calendar.toml", &mut problems);
        let all = problems.join("\n");
        assert!(all.contains("2026-01-01 is not a day of 2025"), "{all}");
        assert!(all.contains("2025-10-03 is listed both"), "{all}");
        assert!(all.contains("\"2025-13-01\""), "{all}");
    }
}
