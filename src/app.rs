//! The application context every command and job works with: the checked pipeline, the data
//! directory's layout, where reports go, and the clock. Built by the command line; used by the
//! daemon, a report run and whatever drives them — below all of them.

use crate::config::Pipeline;
use crate::layout::{DataDir, OutputDir};
use crate::period::Clock;
use chrono::DateTime;
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub struct Context {
    pub pipeline: Pipeline,
    pub data_dir: DataDir,
    pub output_dir: OutputDir,
    pub clock: Clock,
    /// "now" was given with `--as-of` (not read from the system clock).
    pub as_of_given: bool,
}

impl Context {
    pub fn now(&self) -> DateTime<Tz> {
        self.clock.now()
    }

    /// `--received T`: when the county sent a file, in Beijing time and not after now.
    pub fn received(&self, text: &str) -> crate::error::Result<crate::period::Moment> {
        use crate::error::Error;
        let at = crate::period::parse_instant(text).ok_or_else(|| {
            Error::Usage(format!(
                "--received {text:?}: expected the time the county sent the files, such as \"2025-07-03 10:00\" (Beijing time)"
            ))
        })?;
        if at > self.now() {
            return Err(Error::Usage(format!(
                "--received {text:?} is later than now ({}): a file cannot have been sent in the future",
                crate::period::instant_zh(&self.now())
            )));
        }
        Ok(crate::period::Moment(at))
    }

    /// The same context with the clock stopped at `now` (one job of the daemon).
    pub fn at(&self, now: DateTime<Tz>) -> Context {
        Context {
            clock: Clock::Fixed(now),
            ..self.clone()
        }
    }
}

/// The one async runtime builder: two worker threads (the daemon's jobs block in place on one
/// while the scheduler and signals run on the other), every driver enabled.
pub fn runtime() -> crate::error::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            crate::error::Error::Runtime(crate::error::during("cannot start the async runtime", e))
        })
}
