//! The run ledger (`<data-dir>/runs/<pipeline>.jsonl`): one record per job the daemon ran or
//! started and stopped, kept by the daemon and read by the planner (catch-up), `status` and the
//! report (failed jobs since the last digest).

use crate::layout::DataDir;
use crate::ledger::Ledger;
use serde::{Deserialize, Serialize};

/// One line of the run ledger `<data-dir>/runs/<pipeline>.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunEvent {
    /// The daemon's clock (Beijing time; `--as-of` shifts it).
    pub at: String,
    /// `ingest`, `remind`, `report`, `start` or `stop`.
    pub job: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The scheduled time that asked for the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired: Option<String>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The run ledger of a pipeline.
pub fn ledger(data_dir: &DataDir, pipeline: &str) -> Ledger<RunEvent> {
    Ledger::at(data_dir.runs(pipeline))
}

pub fn run_events(data_dir: &DataDir, pipeline_name: &str) -> Vec<RunEvent> {
    ledger(data_dir, pipeline_name).read().unwrap_or_default()
}
