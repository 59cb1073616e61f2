//! Sample submissions, written the way counties send them: .xlsx with title rows and Excel
//! date cells, CSV in UTF-8, UTF-8 with BOM or GB18030, and JSON. Used for the samples shipped
//! in the repository, by the tests, and by `fayuan sample`.
//!
//! Invariant: deterministic — the same pipeline, months and seed give the same figures.

use crate::config::{Pipeline, Unit};
use crate::error::{Error, Result};
use crate::ingest::validate::fen_text;
use crate::period::Period;
use crate::schema::{FIELDS, Kind};
use crate::schema::{Row, Value};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
use std::path::Path;

/// How a sample file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A workbook with a merged title row and a 填报单位 line above the header, the month as an
    /// Excel date cell and money as text with thousands separators.
    XlsxTitled,
    /// A plain workbook: header in row 1, unit code as a number, everything as numbers.
    XlsxPlain,
    /// CSV, UTF-8, English keys as headers.
    CsvUtf8,
    /// CSV, UTF-8 with BOM, Chinese headers, month as `2025/1`.
    CsvUtf8Bom,
    /// CSV as Excel on Chinese Windows saves it: GB18030, Chinese headers.
    CsvGb18030,
    /// A JSON array of objects with English keys, as HTTP sources send.
    Json,
}

impl Style {
    pub const ALL: [Style; 6] = [
        Style::XlsxTitled,
        Style::CsvGb18030,
        Style::XlsxPlain,
        Style::CsvUtf8Bom,
        Style::Json,
        Style::CsvUtf8,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            Style::XlsxTitled | Style::XlsxPlain => "xlsx",
            Style::CsvUtf8 | Style::CsvUtf8Bom | Style::CsvGb18030 => "csv",
            Style::Json => "json",
        }
    }
}

/// A small deterministic generator (SplitMix64): no dependency, same figures everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
}

/// Plausible figures for one unit and month: about a twelfth of the target, funds arriving
/// quarterly, about 80% of spending on case subsidies.
pub fn figures(unit: &Unit, period: Period, rng: &mut Rng) -> Row {
    let monthly = (unit.target as f64 / 12.0).max(1.0);
    let approved = (monthly * rng.range(80, 120) as f64 / 100.0).round() as i64;
    let criminal = approved * rng.range(20, 35) / 100;
    let admin = if approved > 20 { rng.range(0, 1) } else { 0 };
    let civil = approved - criminal - admin;
    let closed = approved * rng.range(55, 90) / 100;
    let received = if period.month().is_multiple_of(3) {
        (unit.budget * 100.0 / 4.0).round() as i64
    } else {
        0
    };
    let spend = approved * rng.range(55_000, 75_000);
    let spend_case = spend * rng.range(74, 86) / 100;
    let complaints = rng.range(0, 1);
    let surveyed = (approved / 4).max(1);
    let satisfied = surveyed - rng.range(0, 1).min(surveyed);
    let reported = period.next().first_day() + chrono::Days::new(rng.range(0, 3) as u64);
    let mut values = Vec::with_capacity(FIELDS.len());
    for field in FIELDS {
        values.push(match field.key {
            "unit_code" => Value::Text(unit.code.clone()),
            "unit_name" => Value::Text(unit.name.clone()),
            "period" => Value::Period(period),
            "cases_approved" => Value::Count(approved),
            "cases_criminal" => Value::Count(criminal),
            "cases_civil" => Value::Count(civil),
            "cases_admin" => Value::Count(admin),
            "cases_closed" => Value::Count(closed),
            "legal_help" => Value::Count(approved * 2 + rng.range(0, 10)),
            "funds_received" => Value::Fen(received),
            "spend_total" => Value::Fen(spend),
            "spend_case" => Value::Fen(spend_case),
            "complaints" => Value::Count(complaints),
            "complaints_resolved" => Value::Count(complaints),
            "surveyed" => Value::Count(surveyed),
            "satisfied" => Value::Count(satisfied),
            "reporter" => Value::Text("填报员".into()),
            "reported_on" => Value::Date(reported),
            _ => Value::Missing,
        });
    }
    Row {
        values,
        sheet: None,
        source_row: 0,
    }
}

/// The submissions of every unit for months 1..=`months` of the pipeline's year: (file name,
/// style, title, row), one file per unit and month, the styles mixed across units.
pub fn plan(
    pipeline: &Pipeline,
    months: u32,
    seed: u64,
) -> Result<Vec<(String, Style, String, Row)>> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for m in 1..=months {
        let period = Period::new(pipeline.year(), m)
            .ok_or_else(|| Error::Sample(format!("month {m} is not 1 to 12").into()))?;
        for (k, unit) in pipeline.units.iter().enumerate() {
            let style = Style::ALL[k % Style::ALL.len()];
            let row = figures(unit, period, &mut rng);
            let name = format!("{}_{}.{}", unit.name, period, style.extension());
            let title = format!(
                "{}{}{}月报表",
                unit.name,
                period.zh(),
                pipeline.def.pipeline.title
            );
            out.push((name, style, title, row));
        }
    }
    Ok(out)
}

/// Writes [`plan`] into `dir`.
pub fn write_months(
    pipeline: &Pipeline,
    months: u32,
    seed: u64,
    dir: &Path,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (name, style, title, row) in plan(pipeline, months, seed)? {
        let bytes = render(style, &title, &[row])?;
        crate::fsutil::write_new(&dir.join(&name), &bytes)?;
        names.push(name);
    }
    Ok(names)
}

/// The text of a value as a county would type it.
fn text_of(v: &Value, style: Style) -> String {
    match v {
        Value::Missing => String::new(),
        Value::Text(s) => s.clone(),
        Value::Period(p) if style == Style::CsvUtf8Bom => format!("{}/{}", p.year(), p.month()),
        Value::Period(p) => p.to_string(),
        Value::Count(n) => n.to_string(),
        Value::Fen(f) if style == Style::XlsxTitled => fen_text(*f),
        Value::Fen(f) => format!("{}.{:02}", f / 100, f % 100),
        Value::Date(d) => d.to_string(),
    }
}

/// The fields a file of these rows has columns for: every required field, and each optional one
/// that some row fills (a county's file has no 说明 column when it has nothing to explain).
fn written(rows: &[Row]) -> Vec<usize> {
    (0..FIELDS.len())
        .filter(|&f| {
            FIELDS[f].required || rows.iter().any(|r| !matches!(r.values[f], Value::Missing))
        })
        .collect()
}

/// One submission file's bytes in the given style.
pub fn render(style: Style, title: &str, rows: &[Row]) -> Result<Vec<u8>> {
    let cols = written(rows);
    match style {
        Style::XlsxTitled | Style::XlsxPlain => xlsx(style, title, rows, &cols),
        Style::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut map = serde_json::Map::new();
                    for &f in &cols {
                        let field = &FIELDS[f];
                        let v = match &r.values[f] {
                            Value::Count(n) => serde_json::json!(n),
                            Value::Fen(n) => serde_json::json!(*n as f64 / 100.0),
                            Value::Missing => serde_json::Value::Null,
                            other => serde_json::json!(text_of(other, style)),
                        };
                        map.insert(field.key.into(), v);
                    }
                    serde_json::Value::Object(map)
                })
                .collect();
            serde_json::to_vec_pretty(&items).map_err(|e| Error::Sample(e.into()))
        }
        Style::CsvUtf8 | Style::CsvUtf8Bom | Style::CsvGb18030 => {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            let header: Vec<&str> = cols
                .iter()
                .map(|&f| &FIELDS[f])
                .map(|f| {
                    if style == Style::CsvUtf8 {
                        f.key
                    } else {
                        f.label
                    }
                })
                .collect();
            let csv_err = |e: csv::Error| Error::Sample(e.into());
            w.write_record(&header).map_err(csv_err)?;
            for r in rows {
                w.write_record(cols.iter().map(|&f| text_of(&r.values[f], style)))
                    .map_err(csv_err)?;
            }
            let text = String::from_utf8(w.into_inner().map_err(|e| Error::Sample(e.into()))?)
                .map_err(|e| Error::Sample(e.into()))?;
            Ok(match style {
                Style::CsvUtf8Bom => format!("\u{feff}{text}").into_bytes(),
                Style::CsvGb18030 => encoding_rs::GB18030.encode(&text).0.into_owned(),
                _ => text.into_bytes(),
            })
        }
    }
}

fn xlsx(style: Style, title: &str, rows: &[Row], cols: &[usize]) -> Result<Vec<u8>> {
    let x = |e: rust_xlsxwriter::XlsxError| Error::Sample(crate::error::during("xlsx", e));
    let mut book = Workbook::new();
    let created = ExcelDateTime::from_ymd(2025, 1, 1).map_err(x)?;
    book.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let month_format = Format::new().set_num_format("yyyy-mm");
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let sheet = book.add_worksheet();
    sheet.set_name("月报").map_err(x)?;
    let mut r = 0u32;
    let last_col = (cols.len() - 1) as u16;
    if style == Style::XlsxTitled {
        sheet
            .merge_range(0, 0, 0, last_col, title, &Format::new().set_bold())
            .map_err(x)?;
        sheet.write_string(1, 0, "填报单位（盖章）：").map_err(x)?;
        r = 2;
    }
    for (c, &f) in cols.iter().enumerate() {
        sheet
            .write_string(r, c as u16, FIELDS[f].label)
            .map_err(x)?;
    }
    for row in rows {
        r += 1;
        for (c, &f) in cols.iter().enumerate() {
            let (field, v) = (&FIELDS[f], &row.values[f]);
            let c = c as u16;
            match (v, field.kind, style) {
                (Value::Missing, ..) => {}
                (Value::Text(s), Kind::Code, Style::XlsxPlain) => {
                    let n: f64 = s.parse().unwrap_or(0.0);
                    sheet.write_number(r, c, n).map_err(x)?;
                }
                (Value::Period(p), _, Style::XlsxTitled) => {
                    let d =
                        ExcelDateTime::from_ymd(p.year() as u16, p.month() as u8, 1).map_err(x)?;
                    sheet
                        .write_datetime_with_format(r, c, &d, &month_format)
                        .map_err(x)?;
                }
                (Value::Date(d), _, Style::XlsxPlain) => {
                    use chrono::Datelike;
                    let d =
                        ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
                            .map_err(x)?;
                    sheet
                        .write_datetime_with_format(r, c, &d, &date_format)
                        .map_err(x)?;
                }
                (Value::Count(n), ..) => {
                    sheet.write_number(r, c, *n as f64).map_err(x)?;
                }
                (Value::Fen(f), _, Style::XlsxPlain) => {
                    sheet.write_number(r, c, *f as f64 / 100.0).map_err(x)?;
                }
                (other, ..) => {
                    sheet.write_string(r, c, text_of(other, style)).map_err(x)?;
                }
            }
        }
    }
    sheet.set_column_width(0, 10).map_err(x)?;
    book.save_to_buffer().map_err(x)
}

/// What [`write_synthetic`] wrote.
pub struct Synthetic {
    pub pipeline: std::path::PathBuf,
    pub files: usize,
    pub bad_files: usize,
    pub bytes: u64,
}

/// A synthetic pipeline of `units` reporting units (a province ≈ 120, the country ≈ 3,000) in
/// `out/pipeline.toml`, with the settings of `template` and folders under `out`, and their
/// submissions for months 1..=`months` in `out/inbox/`: about half .xlsx with title rows, half
/// CSV (a third of those GB18030), a few JSON, and three bad files. Deterministic from `seed`.
pub fn write_synthetic(
    template: &Pipeline,
    units: usize,
    months: u32,
    seed: u64,
    out: &Path,
) -> Result<Synthetic> {
    if units == 0 || units > 99_999 || !(1..=12).contains(&months) {
        return Err(Error::Usage("--units 1..=99999 and --months 1..=12".into()));
    }
    let mut rng = Rng::new(seed);
    let path = out.join("pipeline.toml");
    let text = synthetic_pipeline(template, units, &mut rng)?;
    crate::fsutil::write_new(&path, format!("# Synthetic pipeline written by `fayuan sample --units {units} --months {months} --seed {seed}`.\n{text}").as_bytes())?;
    let pipeline = Pipeline::load(&path)?;
    let inbox = crate::layout::DataDir::new(out).inbox();
    std::fs::create_dir_all(&inbox).map_err(|e| Error::io(&inbox, e))?;
    let bytes = synthetic_files(&pipeline, months, &mut rng, &inbox)?;
    let bad = synthetic_bad_files(&pipeline, &mut rng, &inbox)?;
    Ok(Synthetic {
        pipeline: path,
        files: bytes.len() + bad.len(),
        bad_files: bad.len(),
        bytes: bytes.iter().sum::<u64>() + bad.iter().sum::<u64>(),
    })
}

/// The text of a synthetic `pipeline.toml`: `units` made-up counties, settings of `template`.
fn synthetic_pipeline(template: &Pipeline, units: usize, rng: &mut Rng) -> Result<String> {
    use crate::config::{PipelineFile, PipelineSection, UnitDef};
    let defs: Vec<UnitDef> = (0..units)
        .map(|i| UnitDef {
            code: format!("{}", 100_000 + i),
            name: format!("样例县{:05}", i + 1),
            target: rng.range(120, 1500),
            population: Some(rng.range(80_000, 1_500_000)),
            population_source: Some("样例数据".into()),
            whole_city: false,
            budget: None,
            carry_over: 0,
            contact: None,
            contacts: Vec::new(),
            leader: None,
        })
        .collect();
    let t = &template.def;
    let file = PipelineFile {
        pipeline: PipelineSection {
            name: format!("sample-{units}"),
            title: t.pipeline.title.clone(),
            city: format!("样例{units}单位"),
            office: t.pipeline.office.clone(),
            area: None,
            year: t.pipeline.year,
            total_target: Some(defs.iter().map(|u| u.target).sum()),
            previous: None,
        },
        folders: crate::config::Folders {
            data_dir: ".".into(),
        },
        submission: t.submission.clone(),
        funding: t.funding.clone(),
        alerts: t.alerts.clone(),
        email: t.email.clone(),
        webhooks: Vec::new(),
        schedule: t.schedule.clone(),
        limits: t.limits.clone(),
        sources: Vec::new(),
        soft_checks: t.soft_checks.clone(),
        mailboxes: Vec::new(),
        web: t.web.clone(),
        review: t.review.clone(),
        output: t.output.clone(),
        docs: t.docs.clone(),
        reminders: t.reminders.clone(),
        supervision: t.supervision.clone(),
        // The template's calendar, its file named by a full path (the sample lives elsewhere).
        notify: Default::default(),
        calendar: crate::config::CalendarSection {
            file: t.calendar.file.as_ref().map(|f| {
                let beside = template.file.parent().unwrap_or(Path::new(".")).join(f);
                std::path::absolute(&beside).unwrap_or(beside)
            }),
            year: t.calendar.year.clone(),
        },
        units: defs,
    };
    toml::to_string(&file).map_err(|e| Error::Sample(crate::error::during("pipeline.toml", e)))
}

/// Every unit's file for months 1..=`months` into `inbox`; the size of each.
fn synthetic_files(
    pipeline: &Pipeline,
    months: u32,
    rng: &mut Rng,
    inbox: &Path,
) -> Result<Vec<u64>> {
    use rayon::prelude::*;
    // Figures first (sequential, so the seed decides them), then files in parallel.
    let mut jobs = Vec::with_capacity(pipeline.units.len() * months as usize);
    for m in 1..=months {
        let period =
            Period::new(pipeline.year(), m).ok_or_else(|| Error::Sample("month".into()))?;
        for (k, unit) in pipeline.units.iter().enumerate() {
            let style = match k % 8 {
                0 | 2 | 4 | 6 => Style::XlsxTitled,
                1 | 5 => Style::CsvUtf8Bom,
                3 => Style::CsvGb18030,
                _ => Style::Json,
            };
            jobs.push((
                style,
                unit.code.clone(),
                unit.name.clone(),
                period,
                figures(unit, period, rng),
            ));
        }
    }
    jobs.par_iter()
        .map(|(style, code, name, period, row)| {
            let title = format!("{name}{}{}月报表", period.zh(), pipeline.def.pipeline.title);
            let body = render(*style, &title, std::slice::from_ref(row))?;
            crate::fsutil::write_new(
                &inbox.join(format!("{code}_{period}.{}", style.extension())),
                &body,
            )?;
            Ok(body.len() as u64)
        })
        .collect()
}

/// Three bad files, as real counties send them, into `inbox`; the size of each.
fn synthetic_bad_files(pipeline: &Pipeline, rng: &mut Rng, inbox: &Path) -> Result<Vec<u64>> {
    let first = &pipeline.units[0];
    let mut bad = figures(
        first,
        Period::new(pipeline.year(), 1).ok_or_else(|| Error::Sample("year".into()))?,
        rng,
    );
    bad.values[crate::schema::idx("cases_closed")] = Value::Count(-3);
    let mut unknown = bad.clone();
    unknown.values[crate::schema::idx("unit_code")] = Value::Text("999999".into());
    unknown.values[crate::schema::idx("cases_closed")] = Value::Count(1);
    let good_xlsx = render(Style::XlsxTitled, "月报表", std::slice::from_ref(&unknown))?;
    let bad_files: [(&str, Vec<u8>); 3] = [
        ("bad_negative.csv", render(Style::CsvUtf8Bom, "", &[bad])?),
        (
            "bad_unknown_unit.csv",
            render(Style::CsvGb18030, "", &[unknown])?,
        ),
        (
            "bad_truncated.xlsx",
            good_xlsx[..good_xlsx.len() / 2].to_vec(),
        ),
    ];
    for (name, body) in &bad_files {
        crate::fsutil::write_new(&inbox.join(name), body)?;
    }
    Ok(bad_files.iter().map(|(_, b)| b.len() as u64).collect())
}

/// `fayuan sample`: the Lu'an-style samples of months 1..=`months`, or (with `units`) a
/// synthetic pipeline of that many units and its year; what was written, in words.
pub fn write(
    pipeline: &Pipeline,
    out: &Path,
    months: u32,
    seed: u64,
    units: Option<usize>,
) -> Result<String> {
    Ok(match units {
        Some(units) => {
            let w = write_synthetic(pipeline, units, months, seed, out)?;
            format!(
                "wrote {} ({} units) and {} submissions ({} bad, {:.1} MB) to {}",
                w.pipeline.display(),
                units,
                w.files,
                w.bad_files,
                w.bytes as f64 / 1e6,
                crate::layout::DataDir::new(out).inbox().display()
            )
        }
        None => {
            let names = write_months(pipeline, months, seed, out)?;
            format!(
                "wrote {} sample submissions to {}",
                names.len(),
                out.display()
            )
        }
    })
}
