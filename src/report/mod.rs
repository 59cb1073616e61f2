//! A run's outputs (SPEC §5): the workbook, the CSV twins and the manifest, written into
//! `output/<pipeline>/<P>/` so that the folder appears whole or not at all.
//!
//! Invariant: nothing here computes an indicator; it presents the frames of `analyze`. A run
//! folder is built under a temporary name and renamed into place; the folder it replaces is
//! kept under `output/<pipeline>/.history/<P>/`.

mod chart;
mod digest;
pub mod docx;
mod notice;
pub mod review;
mod review_book;
mod review_doc;
mod review_rows;
pub mod template;
mod workbook;
pub(crate) mod xlsx;

use crate::analyze::{Analysis, UsedRow};
use crate::config::Pipeline;
use crate::error::{Error, Result};
use crate::fsutil::sha256_hex;
use crate::layout::OutputDir;
use crate::period::{self, Period};
use crate::store::FileEntry;
use crate::{format, fsutil};
use chrono::DateTime;
use chrono_tz::Tz;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// `manifest.json`: what a run used and wrote.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub program: String,
    pub version: String,
    pub pipeline: String,
    pub pipeline_file: String,
    pub pipeline_sha256: String,
    pub period: String,
    pub as_of: String,
    pub generated_at: String,
    /// The files whose rows the report used.
    pub inputs: Vec<InputFile>,
    /// Which version of each (unit, month) the report used.
    pub rows_used: Vec<UsedRow>,
    pub outputs: Vec<OutputFile>,
    pub reference: Reference,
    pub digest: DigestInfo,
}

/// What the email digest of this run is made of (files in the run folder).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestInfo {
    pub subject: String,
    pub html: String,
    pub text: String,
    /// The chart image, if one could be drawn.
    pub chart: Option<String>,
    /// The workbook to attach, if it is within the size limit.
    pub attachment: Option<String>,
    /// December: the year's review workbook (a copy in the run folder), attached too when both
    /// are within the size limit.
    #[serde(default)]
    pub review_attachment: Option<String>,
    /// The month's 工作通报 (.docx), attached unless `[docs] attach = false` or over the limit.
    #[serde(default)]
    pub notice_attachment: Option<String>,
    /// December: the year's 考核验收报告 (.docx, a copy in the run folder) — the document
    /// leadership signs — attached beside the workbooks on the same terms as the 工作通报.
    #[serde(default)]
    pub acceptance_attachment: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InputFile {
    pub file_name: String,
    pub sha256: String,
    pub stored_as: String,
    pub arrived_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OutputFile {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Reference {
    pub units: Vec<ReferenceUnit>,
    pub per_case_standard: f64,
    pub deadline_day: u32,
    pub alerts: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReferenceUnit {
    pub code: String,
    pub name: String,
    pub target: i64,
    pub population: Option<i64>,
    pub population_source: Option<String>,
    pub budget: f64,
    pub budget_derived: bool,
}

/// Where a period's run folder is.
pub fn run_dir(output_dir: &OutputDir, pipeline: &Pipeline, period: Period) -> PathBuf {
    output_dir.run(pipeline.name(), period)
}

/// Writes one CSV twin: the declared columns, UTF-8 with BOM, fractions unrounded.
pub fn csv_twin(df: &DataFrame, columns: &[String], path: &Path) -> Result<Vec<u8>> {
    let err = |e: PolarsError| Error::Report {
        path: path.to_path_buf(),
        source: e.into(),
    };
    let mut df = df.select(columns.iter().map(|c| c.as_str())).map_err(err)?;
    // Text a county typed (填报人, a file name, a quoted problem) must not run as a formula.
    let text_columns: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::String)
        .map(|c| c.name().clone())
        .collect();
    for name in text_columns {
        let safe: Vec<Option<String>> = df
            .column(&name)
            .and_then(|c| c.str().cloned())
            .map_err(err)?
            .iter()
            .map(|v| v.map(|s| crate::format::csv_safe(s).into_owned()))
            .collect();
        df.with_column(Column::new(name, safe)).map_err(err)?;
    }
    let mut buf = Vec::new();
    CsvWriter::new(&mut buf)
        .include_bom(true)
        .with_line_terminator("\r\n".into())
        .finish(&mut df)
        .map_err(err)?;
    Ok(buf)
}

pub struct RunMeta<'a> {
    pub pipeline: &'a Pipeline,
    pub period: Period,
    pub as_of: DateTime<Tz>,
    pub generated_at: DateTime<Tz>,
    pub files: &'a [FileEntry],
    /// The year's record (工作台账), for the review's 督促记录 (empty for a monthly report).
    pub record: &'a [crate::audit::Event],
}

/// A report made before its month's deadline is 暂定 (a draft): the month is not due yet, so it
/// judges months 1..m−1 only (`analyze::frames::due_month`), says 暂定 in its title, subject and
/// file names, and the daemon never mails it as the month's digest.
pub fn draft(pipeline: &Pipeline, period: Period, as_of: &DateTime<Tz>) -> bool {
    !pipeline.is_due(period, as_of)
}

/// Builds every output of a run in a temporary folder, then puts it in place. Returns the run
/// folder.
/// A run folder put in place.
pub struct Written {
    pub dir: PathBuf,
    pub digest: DigestInfo,
}

pub fn write_run(output_dir: &OutputDir, meta: &RunMeta, a: &Analysis) -> Result<Written> {
    let (dir, digest) = put_in_place(
        meta.pipeline.def.output.keep_history,
        &output_dir.pipeline(meta.pipeline.name()),
        &OutputDir::run_folder(meta.period),
        meta.generated_at,
        |tmp| build(tmp, meta, a),
    )?;
    Ok(Written { dir, digest })
}

/// Builds the folder `parent/name` with `fill` under a temporary name and renames it into place;
/// the folder it replaces is kept under `parent/.history/<name>/<generated_at>`, the newest
/// `keep` of them (older ones go). A half-built folder is never visible (and is removed when
/// `fill` fails). Returns the folder and what `fill` returned.
pub(crate) fn put_in_place<T>(
    keep: usize,
    parent: &Path,
    name: &str,
    generated_at: DateTime<Tz>,
    fill: impl FnOnce(&Path) -> Result<T>,
) -> Result<(PathBuf, T)> {
    let final_dir = parent.join(name);
    crate::fsutil::make_dirs(parent)?;
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    // Unfinished folders of killed processes (any name: runs and reviews hold the write lock).
    for e in fs::read_dir(parent)
        .map_err(|e| Error::io(parent, e))?
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            fs::remove_dir_all(e.path()).map_err(|err| Error::io(&e.path(), err))?;
        }
    }
    fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let filled = match fill(&tmp) {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Every file `fill` wrote, and the folder, durable at once (group commit).
    fsutil::sync_filesystem(&tmp, &fsutil::files_in(&tmp))?;
    crate::faults::point("report", &tmp)?;
    if final_dir.exists() {
        let history = OutputDir::history(parent, name);
        crate::fsutil::make_dirs(&history)?;
        // Named by when the replacing run was made; a second run at the same moment (the same
        // --as-of) gets a numbered name.
        let stamp = generated_at.format("%Y%m%dT%H%M%S").to_string();
        let mut old = history.join(&stamp);
        let mut n = 1;
        while old.exists() {
            n += 1;
            old = history.join(format!("{stamp}-{n}"));
        }
        fs::rename(&final_dir, &old).map_err(|e| Error::io(&final_dir, e))?;
        // The replaced version's new name durable before the new one takes its place.
        fsutil::sync_dir(&history)?;
        prune_history(&history, keep);
    }
    fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    fsutil::sync_dir(parent)?;
    Ok((final_dir, filled))
}

/// Keeps the newest `keep` versions in a `.history/<name>/` folder (named by when they were
/// replaced, so the names sort in time order; `-2`, `-3` … after the same moment).
fn prune_history(history: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(history) else {
        return;
    };
    let mut versions: Vec<(String, u32, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let (stamp, n) = match name.split_once('-') {
                Some((s, n)) => (s.to_string(), n.parse().unwrap_or(0)),
                None => (name.clone(), 1),
            };
            (stamp, n, e.path())
        })
        .collect();
    versions.sort();
    let surplus = versions.len().saturating_sub(keep);
    for (_, _, path) in versions.into_iter().take(surplus) {
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(folder = %path.display(), "an old version of a report removed (output.keep_history)")
            }
            Err(e) => {
                tracing::warn!(folder = %path.display(), error = %e, "an old version of a report could not be removed")
            }
        }
    }
}

/// The units' names and completion rates (without 合计) and 序时进度, for the chart.
fn chart_data(a: &Analysis) -> Result<(Vec<String>, Vec<f64>, f64)> {
    let lines = a.rows::<crate::analyze::rows::Completion>()?;
    let schedule = lines.first().and_then(|c| c.schedule_rate).unwrap_or(0.0);
    let units = lines.iter().filter(|c| c.unit_code != "total");
    Ok((
        units.clone().map(|c| c.unit_name.clone()).collect(),
        units.map(|c| c.completion_rate.unwrap_or(0.0)).collect(),
        schedule,
    ))
}

/// Writes every output into `dir`; returns what the digest is made of. The documents do not
/// read each other: they are made side by side (two cores make a December report in little more
/// than the time of its largest workbook), then written and recorded in one fixed order.
fn build(dir: &Path, meta: &RunMeta, a: &Analysis) -> Result<DigestInfo> {
    let mut out = Outputs {
        dir,
        files: Vec::new(),
    };
    let book_meta = workbook::Meta {
        pipeline: meta.pipeline,
        period: meta.period,
        as_of: meta.as_of,
        generated_at: meta.generated_at,
    };
    let is_draft = draft(meta.pipeline, meta.period, &meta.as_of);
    let book_name = workbook::file_name(meta.pipeline, meta.period, is_draft);
    // December: the review workbook goes along with the monthly one (the same analysis).
    let review_name = a.frames.contains_key("review").then(|| {
        review::file_name(
            meta.pipeline,
            meta.period.year(),
            review::provisional(meta.pipeline, &meta.as_of),
        )
    });
    let notice_name = notice::file_name(meta.pipeline, meta.period, is_draft);
    let ((book, review), (notice, (chart, twins))) = rayon::join(
        || {
            rayon::join(
                || workbook::render(&book_meta, a, &dir.join(&book_name)),
                || {
                    let Some(name) = &review_name else {
                        return Ok(None);
                    };
                    let memo = review::memo(meta, &review::rows(a)?);
                    review_book::render_review(
                        &book_meta,
                        a,
                        &memo,
                        Some(true),
                        &review_book::record_lines(meta),
                        &dir.join(name),
                    )
                    .map(Some)
                },
            )
        },
        || {
            rayon::join(
                // The month's 工作通报, from the same analysis.
                || notice::render(meta.pipeline, meta.period, &meta.as_of, a),
                || {
                    rayon::join(
                        || draw_chart(dir, a, &meta.pipeline.def.email.chart_fonts),
                        || csv_twins(dir, meta, a),
                    )
                },
            )
        },
    );
    let book = book?;
    out.put(&book_name, &book)?;
    let review = match (review_name, review?) {
        (Some(name), Some(bytes)) => {
            out.put(&name, &bytes)?;
            Some((name, bytes.len()))
        }
        _ => None,
    };
    let notice = notice?;
    out.put(&notice_name, &notice)?;
    let attach = meta.pipeline.def.docs.attach;
    let notice = attach.then_some((notice_name, notice.len()));
    // December: the 考核验收报告 beside them, from the same analysis.
    let acceptance = match &review {
        Some(_) => {
            let draft = review::provisional(meta.pipeline, &meta.as_of);
            let name = review_doc::file_name(meta, draft);
            let bytes = review_doc::render(meta, &review::rows(a)?, draft, a)?;
            out.put(&name, &bytes)?;
            attach.then_some((name, bytes.len()))
        }
        None => None,
    };
    let digest = write_digest(
        &mut out,
        meta,
        a,
        (&book_name, book.len()),
        review,
        [notice, acceptance],
        chart?,
    )?;
    for (twin, bytes) in twins? {
        out.put(&twin, &bytes)?;
    }
    let manifest = manifest(meta, a, out.files, digest.clone())?;
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Report {
        path: dir.join(crate::layout::MANIFEST),
        source: e.into(),
    })?;
    fsutil::create_in_new_folder(&dir.join(crate::layout::MANIFEST), &text)?;
    Ok(digest)
}

/// The CSV twins of the analyses that have one, as (file name, bytes), in the analyses' order.
fn csv_twins(dir: &Path, meta: &RunMeta, a: &Analysis) -> Result<Vec<(String, Vec<u8>)>> {
    let mut twins = Vec::new();
    for q in &a.queries {
        let Some(twin) = &q.twin else { continue };
        if q.requires_previous && meta.pipeline.previous.is_none() {
            continue;
        }
        let cols: Vec<String> = q.columns.iter().map(|c| c.key.clone()).collect();
        let bytes = csv_twin(a.frame(&q.name)?, &cols, &dir.join(twin))?;
        twins.push((twin.clone(), bytes));
    }
    Ok(twins)
}

/// The files of a run folder as they are written, each recorded for the manifest.
struct Outputs<'a> {
    dir: &'a Path,
    files: Vec<OutputFile>,
}

impl Outputs<'_> {
    fn put(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        fsutil::create_in_new_folder(&self.dir.join(name), bytes)?;
        self.files.push(OutputFile {
            file: name.to_string(),
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        });
        Ok(())
    }
}

/// The digest: the chart, HTML and text, and whether the workbook can go along.
fn write_digest(
    out: &mut Outputs,
    meta: &RunMeta,
    a: &Analysis,
    (book_name, book_len): (&str, usize),
    review: Option<(String, usize)>,
    [notice, acceptance]: [Option<(String, usize)>; 2],
    chart: std::result::Result<Vec<u8>, String>,
) -> Result<DigestInfo> {
    let email = &meta.pipeline.def.email;
    let limit = (email.max_attachment_mb * 1024.0 * 1024.0) as usize;
    let attachment_note = (book_len > limit).then(|| {
        format!(
            "工作簿（{:.1} MB）超过邮件附件上限 {} MB，本邮件未附工作簿，请在报告目录中查看。",
            book_len as f64 / 1048576.0,
            format::num(Some(email.max_attachment_mb))
        )
    });
    // The review workbook goes along when it fits beside what is attached already.
    let attached = if attachment_note.is_none() {
        book_len
    } else {
        0
    };
    let review_attachment = review.filter(|(_, len)| attached + len <= limit);
    let attached = attached + review_attachment.as_ref().map_or(0, |(_, len)| *len);
    let review_attachment = review_attachment.map(|(name, _)| name);
    let notice_attachment = notice.filter(|(_, len)| attached + len <= limit);
    let attached = attached + notice_attachment.as_ref().map_or(0, |(_, len)| *len);
    let notice_attachment = notice_attachment.map(|(name, _)| name);
    let acceptance_attachment = acceptance
        .filter(|(_, len)| attached + len <= limit)
        .map(|(name, _)| name);
    let chart_note = match chart {
        Ok(png) => {
            out.put("chart.png", &png)?;
            None
        }
        Err(why) => Some(why),
    };
    let d = digest::render(
        &digest::Meta {
            pipeline: meta.pipeline,
            period: meta.period,
            as_of: meta.as_of,
            chart_note: chart_note.clone(),
            attachment_note: attachment_note.clone(),
            review_book: review_attachment.clone(),
        },
        a,
    )?;
    out.put("digest.html", d.html_file.as_bytes())?;
    out.put("digest.txt", d.text.as_bytes())?;
    Ok(DigestInfo {
        subject: d.subject,
        html: "digest.html".into(),
        text: "digest.txt".into(),
        chart: chart_note.is_none().then(|| "chart.png".to_string()),
        attachment: attachment_note.is_none().then(|| book_name.to_string()),
        review_attachment,
        notice_attachment,
        acceptance_attachment,
    })
}

/// The completion chart (PNG bytes); `Err(note)` says why it could not be drawn, for the digest.
/// plotters draws to a file: it is drawn in `dir` under a name of its own, read back and removed.
fn draw_chart(
    dir: &Path,
    a: &Analysis,
    fonts: &[PathBuf],
) -> Result<std::result::Result<Vec<u8>, String>> {
    let drawn = dir.join(".chart-drawing.png");
    let (names, rates, schedule) = chart_data(a)?;
    if let Err(why) = chart::completion(&drawn, &names, &rates, schedule, fonts) {
        tracing::warn!("digest chart: {why}");
        let _ = fs::remove_file(&drawn);
        return Ok(Err(format!("图表未生成：{why}")));
    }
    let png = fs::read(&drawn).map_err(|e| Error::io(&drawn, e))?;
    fs::remove_file(&drawn).map_err(|e| Error::io(&drawn, e))?;
    Ok(Ok(png))
}

/// What a run used and made: inputs with their SHA-256, the rows used, the outputs, the
/// reference data, the program version and the times.
fn manifest(
    meta: &RunMeta,
    a: &Analysis,
    outputs: Vec<OutputFile>,
    digest: DigestInfo,
) -> Result<Manifest> {
    let p = meta.pipeline;
    let rows_used = a.used_rows()?;
    let inputs = inputs_of(meta.files, &rows_used);
    let pipeline_bytes = fs::read(&p.file).unwrap_or_default();
    Ok(Manifest {
        program: "fayuan".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        pipeline: p.name().into(),
        pipeline_file: p.file.display().to_string(),
        pipeline_sha256: sha256_hex(&pipeline_bytes),
        period: meta.period.to_string(),
        as_of: period::instant_text(&meta.as_of),
        generated_at: period::instant_text(&meta.generated_at),
        inputs,
        rows_used,
        outputs,
        reference: Reference {
            units: p
                .units
                .iter()
                .map(|u| ReferenceUnit {
                    code: u.code.clone(),
                    name: u.name.clone(),
                    target: u.target,
                    population: u.population,
                    population_source: u.population_source.clone(),
                    budget: u.budget,
                    budget_derived: u.budget_derived,
                })
                .collect(),
            per_case_standard: p.def.funding.per_case_standard,
            deadline_day: p.def.submission.deadline_day,
            alerts: serde_json::to_value(&p.def.alerts).unwrap_or_default(),
        },
        digest,
    })
}

/// The files the rows used came from, once each, in the order of the rows.
pub(crate) fn inputs_of(files: &[FileEntry], rows_used: &[UsedRow]) -> Vec<InputFile> {
    let by_sha: std::collections::HashMap<&str, &FileEntry> = files
        .iter()
        .filter(|f| f.outcome != crate::store::Outcome::Duplicate)
        .map(|f| (f.sha256.as_str(), f))
        .collect();
    let mut listed = std::collections::HashSet::new();
    rows_used
        .iter()
        .filter(|r| listed.insert(r.sha256.as_str()))
        .filter_map(|r| by_sha.get(r.sha256.as_str()))
        .map(|f| InputFile {
            file_name: f.file_name.clone(),
            sha256: f.sha256.clone(),
            stored_as: f.stored_as.clone(),
            arrived_at: f.arrived_at.to_string(),
        })
        .collect()
}

/// `[web] county_signoff`: the units' months not signed by their 负责人 (`霍邱县2025年1—5月`),
/// as the analysis was given them (`Inputs::unsigned`) — for the 通报 and the 考核验收报告 alike.
pub(crate) fn unsigned_months(a: &Analysis) -> Result<Vec<String>> {
    let year = a.period.year();
    Ok(a.rows::<crate::analyze::rows::UnsignedLine>()?
        .into_iter()
        .map(|u| format!("{}{year}年{}月", u.unit_name, u.months))
        .collect())
}
