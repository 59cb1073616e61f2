//! The run ledger (`jobs.rs`) as incidents: a job that failed over and over (every wake-up while
//! a server was down) is one thing to tell, with when it began, how often, and the last reason.

use crate::jobs::{JobKind, RunEvent};
use crate::period::Moment;

/// One run of failures of one job, ended by its next success or still going.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub job: JobKind,
    pub first: Moment,
    pub times: usize,
    pub last: Moment,
    /// The last failure's reason.
    pub detail: String,
}

/// The incidents of the run ledger's events as of `until` (later events have not happened yet):
/// those ended first, then those still going, each in the order it began.
pub fn incidents(events: &[RunEvent], until: Moment) -> Vec<Incident> {
    let mut open: Vec<Incident> = Vec::new();
    let mut ended = Vec::new();
    for e in events.iter().filter(|e| e.at <= until) {
        let at = open.iter().position(|o| o.job == e.job);
        match (e.ok, at) {
            (false, Some(k)) => {
                open[k].times += 1;
                open[k].last = e.at;
                open[k].detail = e.detail.clone();
            }
            (false, None) => open.push(Incident {
                job: e.job,
                first: e.at,
                times: 1,
                last: e.at,
                detail: e.detail.clone(),
            }),
            (true, Some(k)) => ended.push(open.remove(k)),
            (true, None) => {}
        }
    }
    ended.extend(open);
    ended
}
