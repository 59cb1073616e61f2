//! Cron expressions with seconds (sec min hour day month weekday), as the pipeline writes its
//! schedules: one parser, with one set of settings, for the definition's check and the planner.

use crate::error::Invalid;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// The daemon's three schedules, parsed once when the pipeline loads.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub ingest: Cron,
    pub remind: Cron,
    pub report: Cron,
}

/// Parses a cron expression with seconds (`sec min hour day month weekday`), as the scheduler
/// does.
pub fn parse(expr: &str) -> Result<Cron, Invalid> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| Invalid(format!("not a cron expression with seconds ({e})")))
}
