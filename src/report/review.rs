//! The year's review (考核验收, SPEC §11): `output/<pipeline>/review-<Y>/` with the workbook
//! `<城市><项目>考核验收_<Y>.xlsx`, `review.csv`, `memo.txt` (the draft for the leadership memo)
//! and `manifest.json`. Its rows and words are `review_rows.rs`'s.

pub use super::review_rows::*;
use super::{InputFile, OutputFile, Outputs, RunMeta, csv_twin, workbook};
use crate::analyze::{Analysis, UsedRow};
use crate::error::{Error, Result};
use crate::fsutil::{self, sha256_hex};
use crate::layout::OutputDir;
use crate::period;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecemberRun {
    /// `output/<pipeline>/<Y>-12/manifest.json`.
    pub manifest: String,
    pub manifest_sha256: String,
    /// The review used exactly the rows (unit, month, version, file) of that report.
    pub same_rows: bool,
}

/// `manifest.json` of a review folder.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReviewManifest {
    pub program: String,
    pub version: String,
    pub pipeline: String,
    pub pipeline_sha256: String,
    pub year: i32,
    /// The report the figures are computed as: December of the year.
    pub period: String,
    pub as_of: String,
    pub generated_at: String,
    pub december_run: Option<DecemberRun>,
    pub thresholds: crate::config::ReviewSettings,
    pub inputs: Vec<InputFile>,
    pub rows_used: Vec<UsedRow>,
    pub outputs: Vec<OutputFile>,
}

/// Compares the rows used with the December run folder's, if there is one.
fn december_run(output_dir: &OutputDir, meta: &RunMeta, used: &[UsedRow]) -> Option<DecemberRun> {
    let path = super::run_dir(output_dir, meta.pipeline, meta.period).join(crate::layout::MANIFEST);
    let bytes = std::fs::read(&path).ok()?;
    let m: super::Manifest = serde_json::from_slice(&bytes).ok()?;
    Some(DecemberRun {
        manifest: path.display().to_string(),
        manifest_sha256: sha256_hex(&bytes),
        same_rows: m.rows_used == used,
    })
}

/// Writes `output/<pipeline>/review-<Y>/` whole (or not at all) from a December analysis.
/// Returns the folder and the memo.
pub fn write(output_dir: &OutputDir, meta: &RunMeta, a: &Analysis) -> Result<(PathBuf, String)> {
    let p = meta.pipeline;
    let year = meta.period.year();
    if meta.period.month() != 12 || !a.frames.contains_key("review") {
        return Err(Error::Internal(format!(
            "the year's review is made from a December analysis, not {}",
            meta.period
        )));
    }
    let rows = rows(a)?;
    let memo = memo(meta, &rows);
    let used = a.used_rows()?;
    let december = december_run(output_dir, meta, &used);
    let (dir, ()) = super::put_in_place(
        p.def.output.keep_history,
        &output_dir.pipeline(p.name()),
        &OutputDir::review_folder(year),
        meta.generated_at,
        |tmp| {
            let mut out = Outputs {
                dir: tmp,
                files: Vec::new(),
            };
            let book_name = file_name(p, year, provisional(p, &meta.as_of));
            let book = super::review_book::render_review(
                &workbook::Meta {
                    pipeline: p,
                    period: meta.period,
                    as_of: meta.as_of,
                    generated_at: meta.generated_at,
                },
                a,
                &memo,
                december.as_ref().map(|d| d.same_rows),
                &super::review_book::record_lines(meta),
                &tmp.join(&book_name),
            )?;
            out.put(&book_name, &book)?;
            let q = a.query("review").ok_or_else(|| Error::Analysis {
                query: "review".into(),
                source: "no review query".into(),
            })?;
            let cols: Vec<String> = q.columns.iter().map(|c| c.key.clone()).collect();
            let csv = csv_twin(a.frame("review")?, &cols, &tmp.join("review.csv"))?;
            out.put("review.csv", &csv)?;
            out.put("memo.txt", memo.as_bytes())?;
            let draft = provisional(p, &meta.as_of);
            out.put(
                &super::review_doc::file_name(meta, draft),
                &super::review_doc::render(meta, &rows, draft, a)?,
            )?;
            let manifest = ReviewManifest {
                program: "fayuan".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                pipeline: p.name().into(),
                pipeline_sha256: sha256_hex(&std::fs::read(&p.file).unwrap_or_default()),
                year,
                period: meta.period.to_string(),
                as_of: period::instant_text(&meta.as_of),
                generated_at: period::instant_text(&meta.generated_at),
                december_run: december.clone(),
                thresholds: p.def.review.clone(),
                inputs: super::inputs_of(meta.files, &used),
                rows_used: used.clone(),
                outputs: out.files,
            };
            let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Report {
                path: tmp.join(crate::layout::MANIFEST),
                source: e.into(),
            })?;
            fsutil::create_in_new_folder(&tmp.join(crate::layout::MANIFEST), &text)
        },
    )?;
    Ok((dir, memo))
}
