//! The run ledger (`<data-dir>/runs/<pipeline>.jsonl`): one record per job the daemon ran or
//! started and stopped, kept by the daemon and read by the planner (catch-up), `status` and the
//! report (failed jobs since the last digest).

use crate::layout::DataDir;
use crate::ledger::Ledger;
use crate::period::Moment;
use serde::{Deserialize, Serialize};

/// One line of the run ledger `<data-dir>/runs/<pipeline>.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunEvent {
    /// The daemon's clock (Beijing time; `--as-of` shifts it).
    pub at: Moment,
    pub job: JobKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The scheduled time that asked for the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired: Option<Moment>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The run ledger of a pipeline.
pub fn ledger(data_dir: &DataDir, pipeline: &str) -> Ledger<RunEvent> {
    Ledger::at(data_dir.runs(pipeline))
}

/// What the daemon ran, oldest first; a ledger that cannot be read is an error naming it, never
/// "nothing failed" (issue 37 §4).
pub fn run_events(data_dir: &DataDir, pipeline_name: &str) -> crate::error::Result<Vec<RunEvent>> {
    ledger(data_dir, pipeline_name).read()
}

/// What the daemon did.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Ingest,
    Remind,
    Report,
    /// A delivery round that tried something (recorded only then).
    Deliver,
    Start,
    Stop,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Ingest => "ingest",
            JobKind::Remind => "remind",
            JobKind::Report => "report",
            JobKind::Deliver => "deliver",
            JobKind::Start => "start",
            JobKind::Stop => "stop",
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
