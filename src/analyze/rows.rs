//! The analyses' results as Rust rows (issue 37 §2): each result read by code is declared once
//! here — its query and the columns read, with their types — and read with
//! `Analysis::rows::<T>()`, its column names checked at load (`frame::typed_rows`).

use super::Analysis;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A row type of one analysis's result.
pub trait Output: serde::de::DeserializeOwned + Serialize + Default {
    /// The query whose result it is (`sql/NN_<query>.sql`).
    const QUERY: &'static str;
}

/// A result with a line per unit and the city's 合计 line (`unit_code` `total`).
pub trait PerUnit: Output {
    fn unit_code(&self) -> &str;
}

impl Analysis {
    /// The result of `T::QUERY`, one `T` per row.
    pub fn rows<T: Output>(&self) -> Result<Vec<T>> {
        crate::frame::typed_rows(self.frame(T::QUERY)?).map_err(|e| Error::Analysis {
            query: T::QUERY.into(),
            source: e.into(),
        })
    }

    /// The city's 合计 line of `T::QUERY` (none: the result has no such line).
    pub fn total<T: PerUnit>(&self) -> Result<Option<T>> {
        Ok(self
            .rows::<T>()?
            .into_iter()
            .find(|r| r.unit_code() == "total"))
    }
}

/// A unit's submission of the month (sql/15_submissions.sql): the version in force, if any.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Submission {
    pub unit_code: String,
    pub unit_name: String,
    /// A version of the month is in.
    pub reported: Option<bool>,
    pub version: Option<i64>,
    pub arrived_at: Option<String>,
    pub source_file: Option<String>,
    pub late: Option<bool>,
    pub backfilled: Option<bool>,
}

impl Output for Submission {
    const QUERY: &'static str = "submissions";
}

/// One cell of the units × months grid (sql/22_grid.sql).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct GridCell {
    pub unit_code: String,
    pub unit_name: String,
    pub month_num: i64,
    /// ok / late / missing / rejected / pending / none.
    pub state: String,
    pub state_zh: String,
    pub version: Option<i64>,
}

impl Output for GridCell {
    const QUERY: &'static str = "grid";
}

/// A unit's completion of its annual target (sql/10_completion.sql); the `total` row too.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Completion {
    pub unit_code: String,
    pub unit_name: String,
    pub ytd_approved: Option<f64>,
    pub target: Option<f64>,
    pub completion_rate: Option<f64>,
    pub remaining: Option<f64>,
    pub schedule_gap: Option<f64>,
    pub schedule_rate: Option<f64>,
    pub rank_completion: Option<f64>,
    /// ok / warning / critical: how far behind the schedule (or the target, in December).
    pub schedule_gap_band: Option<String>,
}

impl Output for Completion {
    const QUERY: &'static str = "completion";
}

impl PerUnit for Completion {
    fn unit_code(&self) -> &str {
        &self.unit_code
    }
}

/// A unit's funding rates of the year so far (sql/12_funding.sql).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Funding {
    pub unit_code: String,
    pub unit_name: String,
    pub arrival_rate: Option<f64>,
    pub expenditure_rate: Option<f64>,
    pub case_share: Option<f64>,
    /// ok / warning / critical, each rate against its line (none: not judged this month).
    pub arrival_band: Option<String>,
    pub expenditure_band: Option<String>,
    pub case_share_band: Option<String>,
}

impl Output for Funding {
    const QUERY: &'static str = "funding";
}

impl PerUnit for Funding {
    fn unit_code(&self) -> &str {
        &self.unit_code
    }
}

/// A unit's legal aid per 100,000 residents (sql/11_per100k.sql).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Per100k {
    pub unit_code: String,
    pub per100k_ytd: Option<f64>,
    pub per100k_annualized: Option<f64>,
    pub per100k_target: Option<f64>,
}

impl Output for Per100k {
    const QUERY: &'static str = "per100k";
}

impl PerUnit for Per100k {
    fn unit_code(&self) -> &str {
        &self.unit_code
    }
}

/// One alert of the month (sql/20_alerts.sql, with those fayuan's own records raise), most
/// serious first.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AlertLine {
    pub rule: String,
    /// `Severity::code`: critical / warning / info.
    pub severity: String,
    pub unit_code: Option<String>,
    pub unit_name: Option<String>,
    pub message: String,
}

impl Output for AlertLine {
    const QUERY: &'static str = "alerts";
}

/// A unit's 执行情况 for the month (sql/18_narrative.sql).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Narrative {
    pub unit_name: String,
    pub narrative: Option<String>,
}

impl Output for Narrative {
    const QUERY: &'static str = "narrative";
}

/// A unit's line of the year's review (sql/review/02_review.sql), besides each requirement's
/// figure and verdict (their columns are named by `requirements.rs`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Review {
    pub unit_code: String,
    pub unit_name: String,
    /// `pass` or not.
    pub verdict: Option<String>,
    pub target: Option<f64>,
    pub ytd_approved: Option<f64>,
    pub months_due: Option<i64>,
    pub months_late: Option<i64>,
    pub months_missing: Option<i64>,
    pub checks: Option<i64>,
    pub checks_unexplained: Option<i64>,
    pub plan_pass: Option<bool>,
    pub bureau_pass: Option<bool>,
}

impl Output for Review {
    const QUERY: &'static str = "review";
}

/// A unit's year on year (sql/21_yoy.sql), as the carry-over proposal reads it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Yoy {
    pub unit_code: String,
    pub unit_name: String,
    /// Last year's cases not closed, as proposed for carrying over (none: no last year).
    pub proposed_carry_over: Option<i64>,
    /// What the pipeline's units say now.
    pub carry_over: Option<i64>,
    /// Months of last year stored.
    pub ly_months: Option<i64>,
}

impl Output for Yoy {
    const QUERY: &'static str = "yoy";
}

/// One soft check that failed for a unit in a month (sql/17_checks.sql), explained or not.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CheckLine {
    pub unit_code: String,
    pub unit_name: String,
    pub month_num: i64,
    pub check_id: String,
    /// The rule's words (`本月…`).
    pub check_text: String,
    /// The figures behind it, in words.
    pub detail: Option<String>,
    /// A 说明 was given (in the file, or on the unit's page).
    pub explained: Option<bool>,
}

impl Output for CheckLine {
    const QUERY: &'static str = "checks";
}

/// A unit's months its 负责人 has not signed (`[web] county_signoff`): the frame `unsigned`, made
/// from `Inputs::unsigned` (what `Records::unsigned` found), not by SQL.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct UnsignedLine {
    pub unit_code: String,
    pub unit_name: String,
    /// `1—5`.
    pub months: String,
}

impl Output for UnsignedLine {
    const QUERY: &'static str = "unsigned";
}
