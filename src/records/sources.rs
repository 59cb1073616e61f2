//! The HTTP sources' state (`sources/state.json`), read: what is remembered of each source
//! between polls. `sources.rs` polls and writes it.

use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::Moment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is remembered of a source between polls.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceState {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub checked_at: Moment,
    pub result: Polled,
    pub detail: String,
}

/// How the last poll of a source went.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Polled {
    /// New content, put into the inbox.
    Fetched,
    /// The server said nothing changed (304).
    NotModified,
    /// Nothing published for the month yet (404): not a failure.
    Absent,
    #[default]
    Failed,
}

impl Polled {
    /// In words, for the staff.
    pub fn zh(self) -> &'static str {
        match self {
            Polled::Fetched => "已获取",
            Polled::NotModified => "无更新",
            Polled::Absent => "尚未发布",
            Polled::Failed => "失败",
        }
    }
}

/// The sources' last polls (none yet: empty). A state file that cannot be read or does not parse
/// is an error naming it, never "no source has failed" (issue 37 §4).
pub fn load_state(data_dir: &DataDir) -> Result<BTreeMap<String, SourceState>> {
    let path = data_dir.sources_state();
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            Error::io(
                &path,
                std::io::Error::other(format!("数据源状态文件读不懂（{e}）")),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io(&path, e)),
    }
}
