//! What happened, read from the store and the ledgers that other parts of fayuan write (issue
//! 37 §1): a reader below every part that asks, so that supervision, status, the pages and the
//! mailbox ask here instead of each other's files. A ledger that cannot be read is an error
//! naming it, never an empty answer.

// The parts are private: what the rest of fayuan reads is re-exported here, and nothing else.
mod deliveries;
mod mail;
mod runs;
mod sources;
mod stored;
mod supervision;

pub use deliveries::{
    Event, EventKind, LastFailure, MessageKind, MessageState, Recipient, SentDigest, UsedRow,
    digests, last_sent_as_of, ledger as delivery_ledger, messages, rows_last_sent,
};
pub use mail::{MailEvent, MailStep, mail_ledger, thread_of};
pub use runs::Incident;
pub use sources::{Polled, SourceState, load_state as sources_state};
pub use stored::Stored;
pub use supervision::{
    ConfirmRecord, Explained, ItemRecord, NoteRecord, OpenItem, OpenReturn, ReturnRecord,
    SignRecord, Unsigned, accepted_after, confirms_ledger, items_ledger, last_words, locks,
    notes_ledger, open_items, open_returns, returns_ledger, signed_as_of, signoffs_ledger,
};

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::{Moment, Period};
use crate::store::{FileEntry, Store, meta};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;
use std::sync::OnceLock;

/// The store as one operation reads it: its files and its rows, read once (a receipt, an
/// upload's answer), narrowed to one unit where the question is about one unit.
pub struct Records {
    data_dir: DataDir,
    /// The store's generation when it was read (read first: the files and rows are at least as
    /// new).
    generation: i64,
    files: Vec<FileEntry>,
    rows: DataFrame,
    /// The rows typed, read from `rows` when first asked.
    stored: OnceLock<Vec<Stored>>,
}

impl Records {
    /// Reads the store's record of files and its rows, once.
    pub fn open(data_dir: &DataDir) -> Result<Records> {
        let store = Store::open(data_dir);
        Ok(Records {
            data_dir: data_dir.clone(),
            generation: store.generation()?,
            files: store.files()?,
            rows: store.rows()?,
            stored: OnceLock::new(),
        })
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// The store's generation when it was read (`Store::generation`): what is computed from
    /// these records is current while the store's is the same.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Every file seen, in arrival order.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Every accepted row of every version, with `version` and `latest` (`Store::rows`).
    pub fn rows(&self) -> &DataFrame {
        &self.rows
    }

    /// The same rows typed (`Stored`), in the store's order.
    pub fn stored(&self) -> Result<&[Stored]> {
        if let Some(s) = self.stored.get() {
            return Ok(s);
        }
        let read = stored::read(&self.data_dir, &self.rows)?;
        Ok(self.stored.get_or_init(|| read))
    }

    /// One version of a unit's month.
    pub fn version(&self, unit: &str, period: Period, version: i64) -> Result<Option<&Stored>> {
        Ok(self
            .stored()?
            .iter()
            .find(|r| r.unit_code == unit && r.period == period && r.version == version))
    }

    /// What the store holds of one unit only: the files that name it (and the same bytes sent
    /// again, which the store records without units: a 补录 of a mailed file marks it) and its
    /// rows — what a question about that unit needs, without an analysis of every unit.
    pub fn of_unit(&self, code: &str) -> Result<Records> {
        let rows = self
            .rows
            .clone()
            .lazy()
            .filter(col("unit_code").eq(lit(code)))
            .collect()
            .map_err(|e| Error::store(&self.data_dir.store(), e))?;
        Ok(Records {
            data_dir: self.data_dir.clone(),
            generation: self.generation,
            files: {
                let shas: std::collections::HashSet<&str> = self
                    .files
                    .iter()
                    .filter(|f| f.names_unit(code))
                    .map(|f| f.sha256.as_str())
                    .collect();
                self.files
                    .iter()
                    .filter(|f| f.names_unit(code) || shas.contains(f.sha256.as_str()))
                    .cloned()
                    .collect()
            },
            rows,
            stored: OnceLock::new(),
        })
    }

    /// The months a file's rows are for (by its SHA-256), each with the version it became, in
    /// month order.
    pub fn versions_of(&self, sha: &str) -> Result<Vec<(Period, i64)>> {
        let err = |e| Error::store(&self.data_dir.store(), e);
        let df = &self.rows;
        let shas = crate::frame::strings(df, meta::SHA256).map_err(err)?;
        let periods = crate::frame::strings(df, "period").map_err(err)?;
        let versions: Vec<Option<i64>> = df
            .column(meta::VERSION)
            .and_then(|c| c.cast(&DataType::Int64))
            .and_then(|c| c.i64().map(|ca| ca.iter().collect()))
            .map_err(err)?;
        let mut out: Vec<(Period, i64)> = (0..df.height())
            .filter(|&k| shas[k].as_deref() == Some(sha))
            .filter_map(|k| Some((Period::parse(periods[k].as_deref()?)?, versions[k]?)))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl Records {
    /// The returns open as of `as_of` (None: everything), from the returns' ledger and these
    /// files.
    pub fn open_returns(&self, as_of: Option<DateTime<Tz>>) -> Result<Vec<OpenReturn>> {
        supervision::open_returns_as_of(&self.data_dir, &self.files, as_of)
    }

    /// The 说明 given on the pages in force as of `as_of` (None: every step).
    pub fn explained(&self, as_of: Option<DateTime<Tz>>) -> Result<Vec<Explained>> {
        supervision::explained_as_of(&self.data_dir, as_of)
    }

    /// The months confirmed by `as_of` (None: every confirmation): (unit, month, when).
    pub fn locks(&self, as_of: Option<DateTime<Tz>>) -> Result<Vec<(String, String, String)>> {
        supervision::locks_as_of(&self.data_dir, as_of)
    }

    /// The 督办事项 still open as of `now`.
    pub fn open_items(&self, now: DateTime<Tz>) -> Result<Vec<OpenItem>> {
        open_items(&self.data_dir, now)
    }

    /// The digests of `pipeline` that reached anyone, oldest first, with what each used.
    pub fn sent_digests(&self, pipeline: &Pipeline) -> Result<Vec<SentDigest>> {
        deliveries::sent_digests(&self.data_dir, pipeline)
    }

    /// The daemon's jobs of `pipeline` that failed, one incident per run of failures, as of
    /// `until` (`runs::incidents`).
    pub fn failures(&self, pipeline: &Pipeline, until: Moment) -> Result<Vec<Incident>> {
        Ok(runs::incidents(
            &crate::jobs::run_events(&self.data_dir, pipeline.name())?,
            until,
        ))
    }

    /// The HTTP sources' last polls.
    pub fn sources(&self) -> Result<std::collections::BTreeMap<String, sources::SourceState>> {
        sources::load_state(&self.data_dir)
    }

    /// The year's record (工作台账) as it stood at `as_of`.
    pub fn record(&self, year: i32, as_of: DateTime<Tz>) -> Result<Vec<crate::audit::Event>> {
        let mut record = crate::audit::events(&self.data_dir, year)?;
        record.retain(|e| e.at.0 <= as_of);
        Ok(record)
    }

    /// The months reported but not yet confirmed (待确认) up to `period` of its year, as of
    /// `as_of`, when the pipeline asks for confirmation (`[supervision] confirm_required`): per
    /// unit with any, in the pipeline's order, (unit's index, the months as people read them:
    /// "1月、2月").
    pub fn unconfirmed(
        &self,
        pipeline: &Pipeline,
        period: Period,
        as_of: DateTime<Tz>,
    ) -> Result<Vec<(usize, String)>> {
        if !pipeline.def.supervision.confirm_required {
            return Ok(Vec::new());
        }
        let locked = self.locks(Some(as_of))?;
        let mut out = Vec::new();
        for (i, u) in pipeline.units.iter().enumerate() {
            let months: Vec<String> = (1..=period.month())
                .filter_map(|m| Period::new(period.year(), m))
                .filter(|m| {
                    let month = m.to_string();
                    !locked.iter().any(|l| l.0 == u.code && l.1 == month)
                        && accepted_after(&self.files, &u.code, &month, "")
                            .next()
                            .is_some()
                })
                .map(|m| format!("{}月", m.month()))
                .collect();
            if !months.is_empty() {
                out.push((i, months.join("、")));
            }
        }
        Ok(out)
    }

    /// The versions that arrived after their month was confirmed (as of `as_of`) and wait
    /// (待确认的更正): (unit, month, file name, arrival).
    pub fn pending_corrections(
        &self,
        as_of: DateTime<Tz>,
    ) -> Result<Vec<(String, String, String, String)>> {
        let mut out = Vec::new();
        for (unit, month, at) in &self.locks(Some(as_of))? {
            for f in accepted_after(&self.files, unit, month, at) {
                out.push((
                    unit.clone(),
                    month.clone(),
                    f.file_name.clone(),
                    f.arrived_at.minute(),
                ));
            }
        }
        Ok(out)
    }

    /// `[web] county_signoff`: each unit's months of the year up to `period` whose latest version
    /// (what its 填报人 sent last, as of `as_of`) its 负责人 has not signed — a month the city
    /// returned waits for its correction instead: (unit index in plan order, its months). Empty
    /// when sign-off is off.
    pub fn unsigned(
        &self,
        pipeline: &Pipeline,
        period: Period,
        as_of: DateTime<Tz>,
    ) -> Result<Vec<(usize, Vec<Unsigned>)>> {
        if !pipeline.def.web.county_signoff {
            return Ok(Vec::new());
        }
        let returned = self.open_returns(Some(as_of))?;
        let signed = supervision::signed_as_of(&self.data_dir, Some(as_of))?;
        let stored = self.stored()?;
        let mut out = Vec::new();
        for (i, u) in pipeline.units.iter().enumerate() {
            let months: Vec<Unsigned> = (1..=period.month())
                .filter_map(|m| Period::new(period.year(), m))
                .filter(|p| {
                    let p = p.to_string();
                    !returned.iter().any(|r| r.unit == u.code && r.period == p)
                })
                .filter_map(|p| {
                    let latest = stored
                        .iter()
                        .filter(|r| {
                            r.unit_code == u.code && r.period == p && r.arrived_at.0 <= as_of
                        })
                        .max_by_key(|r| r.version)?;
                    let month = p.to_string();
                    let done = signed.iter().any(|s| {
                        s.unit == u.code
                            && s.period == month
                            && if s.sha256.is_empty() {
                                s.version == latest.version
                            } else {
                                s.sha256 == latest.sha256
                            }
                    });
                    (!done).then(|| Unsigned {
                        month: p.month(),
                        version: latest.version,
                        sha256: latest.sha256.clone(),
                    })
                })
                .collect();
            if !months.is_empty() {
                out.push((i, months));
            }
        }
        Ok(out)
    }
}
