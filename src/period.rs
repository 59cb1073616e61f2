//! Calendar months (统计月份) and the bureau's clock (Asia/Shanghai).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// The bureau's time zone: every deadline and schedule is in Beijing time.
pub const TZ: Tz = chrono_tz::Asia::Shanghai;

/// The only source of "now" in fayuan. A command reads it once (`--as-of`, or the system clock
/// when it starts) and keeps that moment; the daemon's and the web server's clock runs on from
/// `--as-of` (or is the system's), `rate` simulated seconds per real second (`--clock-rate`, for
/// rehearsals and the year in simulation). Tests fix it with `--as-of`.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// Always this moment.
    Fixed(DateTime<Tz>),
    /// Said `start` when the system clock said `real_start`, and runs `rate` times as fast.
    Running {
        start: DateTime<Tz>,
        real_start: DateTime<chrono::Utc>,
        rate: f64,
    },
}

impl Clock {
    fn system_now() -> DateTime<chrono::Utc> {
        chrono::Utc::now()
    }

    /// A clock that says `start` now and runs on in real time from there.
    pub fn running_from(start: DateTime<Tz>) -> Clock {
        Clock::scaled_from(start, 1.0)
    }

    /// A clock that says `start` now and runs `rate` simulated seconds per real second.
    pub fn scaled_from(start: DateTime<Tz>, rate: f64) -> Clock {
        Clock::Running {
            start,
            real_start: Clock::system_now(),
            rate,
        }
    }

    /// The system's clock.
    pub fn system() -> Clock {
        let now = Clock::system_now();
        Clock::Running {
            start: now.with_timezone(&TZ),
            real_start: now,
            rate: 1.0,
        }
    }

    pub fn now(&self) -> DateTime<Tz> {
        match self {
            Clock::Fixed(t) => *t,
            Clock::Running {
                start,
                real_start,
                rate,
            } => {
                let real = Clock::system_now() - *real_start;
                if *rate == 1.0 {
                    return *start + real;
                }
                let ms = (real.num_milliseconds() as f64 * rate) as i64;
                *start + chrono::Duration::milliseconds(ms)
            }
        }
    }

    /// Simulated seconds per real second (1 for a fixed clock and the system's).
    pub fn rate(&self) -> f64 {
        match self {
            Clock::Fixed(_) => 1.0,
            Clock::Running { rate, .. } => *rate,
        }
    }

    /// Whether this is the system's own time (no `--as-of`, rate 1): cron may wake it.
    pub fn is_real_time(&self) -> bool {
        match self {
            Clock::Fixed(_) => false,
            Clock::Running {
                start,
                real_start,
                rate,
            } => {
                *rate == 1.0
                    && (start.with_timezone(&chrono::Utc) - *real_start).abs()
                        < chrono::Duration::seconds(1)
            }
        }
    }

    /// How long to sleep, in real time, for `simulated` to pass on this clock (at least 1 ms).
    pub fn real(&self, simulated: std::time::Duration) -> std::time::Duration {
        simulated
            .div_f64(self.rate().max(1e-6))
            .max(std::time::Duration::from_millis(1))
    }

    /// Sleeps until `simulated` has passed on this clock.
    pub async fn sleep(&self, simulated: std::time::Duration) {
        tokio::time::sleep(self.real(simulated)).await;
    }
}

/// One calendar month, the unit of reporting. Made only by `new` (checked), `parse`, `of` a
/// date and the steps from another month, so a `Period` is always a real month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    pub fn year(self) -> i32 {
        self.year
    }

    /// 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// January of the same year.
    pub fn january(self) -> Period {
        Period { month: 1, ..self }
    }

    /// December of the same year.
    pub fn december(self) -> Period {
        Period { month: 12, ..self }
    }

    /// The same month a year earlier.
    pub fn a_year_earlier(self) -> Period {
        Period {
            year: self.year - 1,
            ..self
        }
    }

    pub fn new(year: i32, month: u32) -> Option<Period> {
        ((1..=12).contains(&month) && (1900..=9999).contains(&year))
            .then_some(Period { year, month })
    }

    /// Parses what county staff write: `2025-06`, `2025-6`, `2025/6`, `2025.06`, `2025年6月`,
    /// `202506`, and a full date such as `2025-06-01` or `2025/6/30` (its month is taken).
    pub fn parse(text: &str) -> Option<Period> {
        let t = text.trim();
        if let Some(rest) = t.strip_suffix('月') {
            let (y, m) = rest.split_once('年')?;
            return Period::new(y.trim().parse().ok()?, m.trim().parse().ok()?);
        }
        if t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) {
            return Period::new(t[..4].parse().ok()?, t[4..].parse().ok()?);
        }
        let parts: Vec<&str> = t.split(['-', '/', '.']).collect();
        match parts.as_slice() {
            [y, m] => Period::new(digits(y)?, digits(m)? as u32),
            [y, m, d] => {
                let date =
                    NaiveDate::from_ymd_opt(digits(y)?, digits(m)? as u32, digits(d)? as u32)?;
                Some(Period::of(date))
            }
            _ => None,
        }
    }

    pub fn of(date: NaiveDate) -> Period {
        Period {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Period {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a Period is always a valid month")
    }

    /// The instant the month ends: the first moment of the next month, Beijing time.
    pub fn end(self) -> DateTime<Tz> {
        local(self.next().first_day().and_time(NaiveTime::MIN))
    }

    /// Chinese form used in reports: `2025年6月`.
    pub fn zh(self) -> String {
        format!("{}年{}月", self.year, self.month)
    }

    /// The months a year-to-date figure covers, as people say it: `2025年1—6月` (`2025年1月`).
    pub fn ytd_zh(self) -> String {
        if self.month == 1 {
            self.zh()
        } else {
            format!("{}年1—{}月", self.year, self.month)
        }
    }
}

fn digits(s: &str) -> Option<i32> {
    let s = s.trim();
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::parse(s).ok_or_else(|| format!("not a month: {s:?} (expected e.g. 2025-06)"))
    }
}

/// A wall-clock time in Beijing. Ambiguity cannot arise (China has no daylight saving time).
pub fn local(naive: NaiveDateTime) -> DateTime<Tz> {
    TZ.from_local_datetime(&naive)
        .earliest()
        .unwrap_or_else(|| TZ.from_utc_datetime(&naive))
}

/// Parses `--as-of`: `2025-07-06 09:00`, `2025-07-06 09:00:00`, `2025-07-06T09:00`, a bare
/// date (midnight), all in Beijing time, or RFC 3339 with an explicit offset.
pub fn parse_instant(text: &str) -> Option<DateTime<Tz>> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&TZ));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(local(n));
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .map(|d| local(d.and_time(NaiveTime::MIN)))
}

/// The canonical text form of an instant in the store: RFC 3339 in Beijing time, so that the
/// text sorts in time order.
pub fn instant_text(t: &DateTime<Tz>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// A moment in Beijing time, as the ledgers and state files keep it: written as RFC 3339
/// (`2025-07-06T09:00:00+08:00`, the form fayuan has always written), read back typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(pub DateTime<Tz>);

impl Moment {
    /// The form shown to people: `2025-07-06 09:00`.
    pub fn minute(&self) -> String {
        instant_zh(&self.0)
    }
}

impl From<DateTime<Tz>> for Moment {
    fn from(t: DateTime<Tz>) -> Moment {
        Moment(t)
    }
}

impl Default for Moment {
    /// The Unix epoch: "never", for state not yet filled in.
    fn default() -> Moment {
        Moment(chrono::DateTime::UNIX_EPOCH.with_timezone(&TZ))
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&instant_text(&self.0))
    }
}

impl serde::Serialize for Moment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&instant_text(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Moment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Moment, D::Error> {
        let text = String::deserialize(d)?;
        parse_instant(&text)
            .map(Moment)
            .ok_or_else(|| serde::de::Error::custom(format!("not a time: {text:?}")))
    }
}

/// A time column's text (RFC 3339) as people read it: `2025-07-06 09:00`.
pub fn minute_text(rfc3339: &str) -> String {
    parse_instant(rfc3339).map_or_else(|| rfc3339.to_string(), |t| instant_zh(&t))
}

/// A deadline as people say it: the instant 2025-07-06 00:00 is "2025-07-05 24:00".
pub fn deadline_zh(deadline: &DateTime<Tz>) -> String {
    format!(
        "{} 24:00",
        (*deadline - chrono::Days::new(1)).format("%Y-%m-%d")
    )
}

/// The form shown to people: `2025-07-06 09:00`.
pub fn instant_zh(t: &DateTime<Tz>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_written_form() {
        let june = Period::new(2025, 6).unwrap();
        for s in [
            "2025-06",
            "2025-6",
            "2025/6",
            "2025.06",
            "2025年6月",
            "2025 年 6 月",
            "202506",
            "2025-06-30",
            "2025/6/1",
        ] {
            assert_eq!(Period::parse(s), Some(june), "{s}");
        }
        for s in [
            "2025-13",
            "2025",
            "六月",
            "2025-06-31",
            "",
            "25-06",
            "2025-0a",
        ] {
            assert_eq!(Period::parse(s), None, "{s}");
        }
    }

    #[test]
    fn deadline_is_end_of_day_five_beijing() {
        let days = crate::calendar::Days::plain(5);
        let d = days.deadline(Period::new(2025, 6).unwrap());
        assert_eq!(instant_text(&d), "2025-07-06T00:00:00+08:00");
        // 00:00 Beijing is 16:00 UTC the day before.
        assert_eq!(d.naive_utc().to_string(), "2025-07-05 16:00:00");
        let dec = days.deadline(Period::new(2025, 12).unwrap());
        assert_eq!(instant_text(&dec), "2026-01-06T00:00:00+08:00");
    }

    #[test]
    fn as_of_forms() {
        let a = parse_instant("2025-07-06 09:00").unwrap();
        assert_eq!(instant_text(&a), "2025-07-06T09:00:00+08:00");
        let b = parse_instant("2025-07-06T01:00:00Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_instant("next tuesday").is_none());
    }
}
