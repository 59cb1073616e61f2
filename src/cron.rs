//! Cron expressions with seconds (sec min hour day month weekday), as the pipeline writes its
//! schedules: one parser, with one set of settings, for the definition's check and the planner.

use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Parses a cron expression with seconds (`sec min hour day month weekday`), as the scheduler
/// does.
pub fn parse(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| format!("not a cron expression with seconds ({e})"))
}
