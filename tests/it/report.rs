//! `fayuan run`: the report of a period on the shipped samples, checked against figures
//! computed here; the workbook read back cell by cell; reruns; LibreOffice opens it.

use crate::indicators::{self, Rows, UNITS};
use crate::support::*;
use calamine::{Data, Reader};
use fayuan::sample;
use fayuan::schema::FIELDS;
use fayuan::schema::Value;
use std::path::{Path, PathBuf};

/// The shipped samples' figures, as text keyed by field (from the generator's plan).
pub fn sample_rows(months: u32) -> Rows {
    sample::plan(&luan(), months, 2025)
        .unwrap()
        .into_iter()
        .map(|(_, _, _, row)| {
            FIELDS
                .iter()
                .zip(row.values)
                .map(|(f, v)| {
                    let text = match v {
                        Value::Text(s) => s,
                        Value::Period(p) => p.to_string(),
                        Value::Count(n) => n.to_string(),
                        Value::Fen(f) => (f as f64 / 100.0).to_string(),
                        Value::Date(d) => d.to_string(),
                        Value::Missing => String::new(),
                    };
                    (f.key.to_string(), text)
                })
                .collect()
        })
        .collect()
}

fn run_dir(env: &Env, period: &str) -> PathBuf {
    env.tmp.path().join("output/luan-2025").join(period)
}

fn ingest_samples(env: &Env) {
    let r = env.run(&[
        "--as-of",
        "2025-07-04 09:00",
        "ingest",
        repo().join("samples/luan-2025").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn indicators_match_the_spec_for_june_and_march() {
    let env = Env::new();
    ingest_samples(&env);
    for (period, m) in [("2025-06", 6), ("2025-03", 3)] {
        let r = env.run(&[
            "--as-of",
            "2025-07-06 09:00",
            "run",
            "--period",
            period,
            "--no-email",
        ]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        indicators::assert_twins(
            &run_dir(&env, period),
            &indicators::expected(&sample_rows(6), m),
        );
    }
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut book = calamine::open_workbook_auto(path).unwrap();
    let range = book.worksheet_range(name).unwrap();
    let (r0, c0) = range.start().unwrap();
    // Pad to absolute coordinates so that row/column numbers below are the sheet's.
    let mut rows = vec![Vec::new(); r0 as usize];
    for row in range.rows() {
        let mut v = vec![Data::Empty; c0 as usize];
        v.extend(row.iter().cloned());
        rows.push(v);
    }
    rows
}

fn find_row<'a>(rows: &'a [Vec<Data>], first: &str) -> &'a Vec<Data> {
    rows.iter()
        .find(|r| r.iter().any(|c| cell_text(c) == first))
        .unwrap_or_else(|| panic!("no row with {first}"))
}

fn col(rows: &[Vec<Data>], header: &str) -> usize {
    rows.iter()
        .find_map(|r| r.iter().position(|c| cell_text(c) == header))
        .unwrap_or_else(|| panic!("no column {header}"))
}

#[test]
fn the_workbook_reads_back_with_every_sheet_and_rounded_figures() {
    let env = Env::new();
    ingest_samples(&env);
    let r = env.run(&["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = run_dir(&env, "2025-06").join("六安市法律援助民生实事汇总_2025-06.xlsx");
    let book = calamine::open_workbook_auto(&path).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "封面",
            "汇总",
            "完成进度",
            "每10万人供给量",
            "经费合规",
            "质量",
            "月度明细",
            "异常预警",
            "原始数据"
        ]
    );

    let rows = sample_rows(6);
    let total_ytd: f64 = rows
        .iter()
        .map(|r| r["cases_approved"].parse::<f64>().unwrap())
        .sum();
    let summary = sheet(&path, "汇总");
    let total = find_row(&summary, "合计");
    let c_ytd = col(&summary, "累计受理审批（件）");
    let c_rate = col(&summary, "完成率");
    assert_eq!(total[c_ytd], Data::Float(total_ytd));
    // The completion rate, rounded half away from zero to 0.01%.
    let rate = total_ytd / 6064.0;
    let shown = (rate * 10_000.0 + 0.5).floor() / 10_000.0;
    assert_eq!(total[c_rate], Data::Float(shown), "{rate}");
    // Every unit in plan order, then 合计.
    let c_name = col(&summary, "单位");
    let names: Vec<String> = summary
        .iter()
        .skip(3)
        .map(|r| cell_text(&r[c_name]))
        .filter(|s| !s.is_empty())
        .collect();
    let mut want: Vec<String> = UNITS.iter().map(|u| u.1.to_string()).collect();
    want.push("合计".into());
    assert_eq!(names, want);

    // Per-100k: "—" where the population is unknown, and for the incomplete total.
    let per100k = sheet(&path, "每10万人供给量");
    let c_ann = col(&per100k, "每10万人供给量（年化）");
    assert_eq!(cell_text(&find_row(&per100k, "霍山县")[c_ann]), "—");
    assert_eq!(cell_text(&find_row(&per100k, "合计")[c_ann]), "—");
    let huoqiu_ytd: f64 = rows
        .iter()
        .filter(|r| r["unit_code"] == "341522")
        .map(|r| r["cases_approved"].parse::<f64>().unwrap())
        .sum();
    let ann = huoqiu_ytd / 944_985.0 * 100_000.0 * 12.0 / 6.0;
    assert_eq!(
        find_row(&per100k, "霍邱县")[c_ann],
        Data::Float((ann * 100.0 + 0.5).floor() / 100.0)
    );

    // 月度明细: months 1..6 as columns, the 合计 row sums every unit.
    let monthly = sheet(&path, "月度明细");
    let c_jun = col(&monthly, "6月");
    let june_total: f64 = rows
        .iter()
        .filter(|r| r["period"] == "2025-06")
        .map(|r| r["cases_approved"].parse::<f64>().unwrap())
        .sum();
    assert_eq!(find_row(&monthly, "合计")[c_jun], Data::Float(june_total));
    assert!(
        monthly
            .iter()
            .all(|r| r.iter().all(|c| cell_text(c) != "7月")),
        "no columns for months after the period"
    );

    // 原始数据: one row per unit and month used.
    let raw = sheet(&path, "原始数据");
    let c_code = col(&raw, "单位代码");
    assert_eq!(
        raw.iter()
            .filter(|r| cell_text(&r[c_code]).len() == 6
                && cell_text(&r[c_code]).chars().all(|c| c.is_ascii_digit()))
            .count(),
        48
    );

    // The cover: status of every unit, and the notes on derived and missing reference data.
    let cover: String = sheet(&path, "封面")
        .iter()
        .flatten()
        .map(cell_text)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(cover.contains("计划安排经费为推算数"), "{cover}");
    assert!(cover.contains("霍山县、裕安区"), "{cover}");
    assert!(cover.contains("霍邱县_2025-06.xlsx"), "{cover}");
}

#[test]
fn a_rerun_gives_identical_twins_and_keeps_the_earlier_run() {
    let env = Env::new();
    ingest_samples(&env);
    let args = ["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"];
    assert_eq!(env.run(&args).code, 0);
    let dir = run_dir(&env, "2025-06");
    let first: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        first.len(),
        8,
        "{:?}",
        first.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(env.run(&args).code, 0);
    for (name, bytes) in &first {
        assert_eq!(
            &std::fs::read(dir.join(name)).unwrap(),
            bytes,
            "{name} changed on rerun"
        );
    }
    let history = env.tmp.path().join("output/luan-2025/.history/2025-06");
    assert_eq!(
        std::fs::read_dir(&history).unwrap().count(),
        1,
        "the replaced run is kept"
    );
    // No temporary folder is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(env.tmp.path().join("output/luan-2025"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The manifest names every input with its SHA-256 and every output.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 48);
    assert_eq!(manifest["rows_used"].as_array().unwrap().len(), 48);
    let outputs: Vec<&str> = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["file"].as_str().unwrap())
        .collect();
    assert!(
        outputs.contains(&"completion.csv")
            && outputs.contains(&"六安市法律援助民生实事汇总_2025-06.xlsx")
    );
    for o in manifest["outputs"].as_array().unwrap() {
        let file = dir.join(o["file"].as_str().unwrap());
        assert_eq!(sha256_of(&file), o["sha256"].as_str().unwrap());
    }
}

#[test]
fn a_missing_unit_and_a_correction_show_as_alerts() {
    let env = Env::new();
    // Every sample except 市本级's June file.
    env.drop_samples_except(&["市本级_2025-06.csv"]);
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:00", "ingest"]).code, 0);
    assert_eq!(
        env.run(&["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"])
            .code,
        0
    );
    let alerts = indicators::read_twin(&run_dir(&env, "2025-06").join("alerts.csv"));
    let missing: Vec<_> = alerts.iter().filter(|a| a["rule"] == "missing").collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(
        (
            missing[0]["unit_code"].as_str(),
            missing[0]["severity"].as_str()
        ),
        ("341500", "critical")
    );
    assert!(missing[0]["message"].contains("未报送"));
    let subs = indicators::read_twin(&run_dir(&env, "2025-06").join("submissions.csv"));
    assert_eq!(subs.iter().filter(|s| s["reported"] == "false").count(), 1);

    // 霍邱县 corrects May after the June report: the next report says what changed.
    let may = sample::plan(&luan(), 5, 2025)
        .unwrap()
        .into_iter()
        .find(|(n, ..)| n == "霍邱县_2025-05.xlsx")
        .unwrap();
    let mut row = may.3.clone();
    let old = match row.values[3] {
        Value::Count(n) => n,
        _ => unreachable!(),
    };
    row.values[3] = Value::Count(old + 2);
    row.values[5] = match row.values[5] {
        Value::Count(n) => Value::Count(n + 2),
        ref v => v.clone(),
    };
    env.drop_in(
        "霍邱县_2025-05（更正）.csv",
        &sample::render(sample::Style::CsvUtf8, "", &[row]).unwrap(),
    );
    assert_eq!(
        env.run(&["--as-of", "2025-07-08 09:00", "run", "--period", "2025-06"])
            .code,
        0
    );
    let alerts = indicators::read_twin(&run_dir(&env, "2025-06").join("alerts.csv"));
    let restated: Vec<_> = alerts.iter().filter(|a| a["rule"] == "restated").collect();
    assert_eq!(restated.len(), 1, "{alerts:?}");
    assert_eq!(restated[0]["unit_code"], "341522");
    let msg = &restated[0]["message"];
    assert!(
        msg.contains(&format!("受理审批案件数 {} → {}", old, old + 2)),
        "{msg}"
    );
    assert!(
        msg.contains("2025年5月") && msg.contains("第1版 → 第2版"),
        "{msg}"
    );
}

#[test]
fn libreoffice_opens_the_workbook() {
    let soffice = ["soffice", "libreoffice"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(soffice) = soffice else {
        skipped(
            "libreoffice_opens_the_workbook",
            "LibreOffice",
            "apt-get install libreoffice-calc-nogui",
        );
        return;
    };
    let env = Env::new();
    ingest_samples(&env);
    assert_eq!(
        env.run(&["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"])
            .code,
        0
    );
    let book = run_dir(&env, "2025-06").join("六安市法律援助民生实事汇总_2025-06.xlsx");
    let out = env.tmp.path().join("pdf");
    let profile = env.tmp.path().join("lo-profile");
    let o = std::process::Command::new(soffice)
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
        ])
        .arg(&out)
        .arg(&book)
        .output()
        .unwrap();
    let pdf = out.join("六安市法律援助民生实事汇总_2025-06.pdf");
    assert!(
        o.status.success() && pdf.exists(),
        "LibreOffice could not convert: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    // One page or more per sheet: nine sheets.
    let pages = bytes
        .windows(10)
        .filter(|w| w == b"/Type/Page" || w == b"/Type /Pag")
        .count();
    assert!(pages >= 9, "{pages} pages");
}

#[test]
fn without_a_chinese_font_the_digest_says_the_chart_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(luan_pipeline_path()).unwrap();
    let start = text.find("chart_fonts = [").unwrap();
    let end = start + text[start..].find(']').unwrap() + 1;
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "{}chart_fonts = [\"/nonexistent/font.ttc\"]{}",
            &text[..start],
            &text[end..]
        ),
    )
    .unwrap();
    let env = Env::with_pipeline(&path);
    let r = env.run(&[
        "--as-of",
        "2025-07-06 09:00",
        "run",
        "--no-email",
        "--period",
        "2025-06",
        repo().join("samples/luan-2025").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let out = run_dir(&env, "2025-06");
    assert!(!out.join("chart.png").exists());
    let html = std::fs::read_to_string(out.join("digest.html")).unwrap();
    assert!(
        html.contains("图表未生成") && !html.contains("chart.png"),
        "{html}"
    );
    assert!(
        r.stderr.contains("no font with Chinese characters"),
        "{}",
        r.stderr
    );
}

#[test]
fn restated_compares_with_what_was_sent_not_with_what_was_only_built() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    let correct = |n: i64, name: &str| {
        let may = sample::plan(&luan(), 5, 2025)
            .unwrap()
            .into_iter()
            .find(|(f, ..)| f == "霍邱县_2025-05.xlsx")
            .unwrap();
        let mut row = may.3.clone();
        let old = match row.values[3] {
            Value::Count(v) => v,
            _ => unreachable!(),
        };
        row.values[3] = Value::Count(old + n);
        row.values[5] = match row.values[5] {
            Value::Count(v) => Value::Count(v + n),
            ref v => v.clone(),
        };
        env.drop_in(
            name,
            &sample::render(sample::Style::CsvUtf8, "", &[row]).unwrap(),
        );
        old
    };
    let restated = |at: &str| {
        let r = env.run(&["--as-of", at, "run", "--no-email", "--period", "2025-06"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        indicators::read_twin(&run_dir(&env, "2025-06").join("alerts.csv"))
            .into_iter()
            .filter(|a| a["rule"] == "restated")
            .count()
    };
    assert_eq!(restated("2025-07-06 09:00"), 0);
    // Built but never sent: a correction is not news yet.
    correct(1, "霍邱县_2025-05（更正1）.csv");
    assert_eq!(restated("2025-07-07 09:00"), 0);
    // Sent (to the outbox: no server), then corrected again: now it is.
    assert_eq!(
        env.run(&["--as-of", "2025-07-07 10:00", "run", "--period", "2025-06"])
            .code,
        0
    );
    let old = correct(3, "霍邱县_2025-05（更正2）.csv");
    assert_eq!(restated("2025-07-08 09:00"), 1);
    let alerts = indicators::read_twin(&run_dir(&env, "2025-06").join("alerts.csv"));
    let msg = &alerts.iter().find(|a| a["rule"] == "restated").unwrap()["message"];
    assert!(
        msg.contains(&format!("受理审批案件数 {} → {}", old + 1, old + 3))
            && msg.contains("第2版 → 第3版"),
        "{msg}"
    );
}
