//! Who has reported for a month: per unit, the version in force, when it arrived, from which
//! file, and whether it was late.

use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::{self, Period};
use crate::store::{FileEntry, Outcome, Store, meta};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct UnitStatus {
    pub code: String,
    pub name: String,
    /// The version in force, if any: (version, how many versions, arrived_at, source file).
    pub latest: Option<Latest>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// 1 for the first submission of the month, 2 after one correction, …
    pub version: i64,
    pub arrived_at: String,
    pub source_file: String,
    pub late: bool,
}

/// The status of every unit for `period`, counting only what had arrived by `now`.
pub fn unit_status(
    pipeline: &Pipeline,
    rows: &DataFrame,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<Vec<UnitStatus>> {
    let now_text = period::instant_text(now);
    let deadline = period::instant_text(&period.deadline(pipeline.def.submission.deadline_day));
    let err = |e: PolarsError| Error::store(Path::new("store"), e);
    let col = |name: &str| -> Result<Vec<Option<String>>> {
        let ca = rows
            .column(name)
            .and_then(|c| c.str().cloned())
            .map_err(err)?;
        Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
    };
    let (units, periods, arrived, files) = (
        col("unit_code")?,
        col("period")?,
        col(meta::ARRIVED_AT)?,
        col(meta::SOURCE_FILE)?,
    );
    let p = period.to_string();
    // The period's rows that had arrived, by unit, in store order (unit, month, arrival).
    let mut by_unit: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for k in 0..units.len() {
        if periods[k].as_deref() == Some(p.as_str())
            && arrived[k]
                .as_deref()
                .is_some_and(|a| a <= now_text.as_str())
            && let Some(u) = units[k].as_deref()
        {
            by_unit.entry(u).or_default().push(k);
        }
    }
    let mut out = Vec::new();
    for unit in &pipeline.units {
        // The last one that had arrived is in force.
        let mine: &[usize] = by_unit
            .get(unit.code.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let latest = mine.last().map(|&k| {
            let at = arrived[k].clone().unwrap_or_default();
            Latest {
                version: mine.len() as i64,
                late: mine
                    .first()
                    .and_then(|&f| arrived[f].as_deref())
                    .is_some_and(|first| first >= deadline.as_str()),
                arrived_at: at,
                source_file: files[k].clone().unwrap_or_default(),
            }
        });
        out.push(UnitStatus {
            code: unit.code.clone(),
            name: unit.name.clone(),
            latest,
        });
    }
    Ok(out)
}

/// The text `fayuan status` prints.
pub fn render(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    period: Period,
    now: &DateTime<Tz>,
) -> Result<String> {
    let store = Store::open(data_dir);
    let rows = store.rows()?;
    let status = unit_status(pipeline, &rows, period, now)?;
    let deadline = period.deadline(pipeline.def.submission.deadline_day);
    let mut out = format!(
        "{}{} {} 报送情况（截至 {}；报送截止 {}）\n",
        pipeline.def.pipeline.city,
        pipeline.def.pipeline.title,
        period.zh(),
        period::instant_zh(now),
        period::deadline_zh(&deadline),
    );
    let mut missing = Vec::new();
    for s in &status {
        match &s.latest {
            Some(l) => out.push_str(&format!(
                "  {} {}  已报送{}  第{}版  收到 {}  文件 {}\n",
                s.code,
                s.name,
                if l.late { "（逾期）" } else { "" },
                l.version,
                period::minute_text(&l.arrived_at),
                l.source_file
            )),
            None => {
                out.push_str(&format!("  {} {}  未报送\n", s.code, s.name));
                missing.push(s.name.clone());
            }
        }
    }
    out.push_str(&format!(
        "已报送 {}/{} 个单位{}\n",
        status.len() - missing.len(),
        status.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!("；未报送：{}", missing.join("、"))
        }
    ));
    for line in crate::notify::status_lines(data_dir, pipeline, period)? {
        out.push_str(&line);
        out.push('\n');
    }
    let files = store.files()?;
    let rejected: Vec<&FileEntry> = files
        .iter()
        .filter(|f| f.outcome == Outcome::Rejected)
        .collect();
    if !rejected.is_empty() {
        out.push_str(&format!(
            "已拒收的文件（共 {} 个，最近的在后；错误报告在隔离区文件旁）：\n",
            rejected.len()
        ));
        for f in rejected.iter().rev().take(10).rev() {
            let first = f.problems.lines().next().unwrap_or("");
            out.push_str(&format!(
                "  {}  {}  → {}\n    {}\n",
                period::minute_text(&f.arrived_at),
                f.file_name,
                f.stored_as,
                first
            ));
        }
    }
    Ok(out)
}
