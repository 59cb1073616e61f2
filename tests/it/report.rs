//! `fayuan run`: the report of a period on the shipped samples, checked against figures
//! computed here; the workbook read back cell by cell; reruns; LibreOffice opens it.

use crate::indicators::{self, Rows, UNITS};
use crate::support::*;
use calamine::{Data, Reader};
use fayuan::sample;
use fayuan::schema::Value;
use std::path::{Path, PathBuf};

/// The shipped samples' figures, as the tests' own reader finds them in the files.
pub fn sample_rows(months: u32) -> Rows {
    crate::shipped::shipped_rows(months)
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

pub fn cell_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

pub fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
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

/// The column whose header reads `header` (a header may break onto a second line before its
/// unit: `累计受理审批\n（件）`).
fn col(rows: &[Vec<Data>], header: &str) -> usize {
    rows.iter()
        .find_map(|r| {
            r.iter()
                .position(|c| cell_text(c).replace('\n', "") == header)
        })
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
            "执行情况",
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

    // Per-100k (SPEC v2): every unit with a population has a figure, and so has the city
    // (4,393,699 residents, 市本级's cases included); 市本级 alone has none.
    let per100k = sheet(&path, "每10万人供给量");
    let c_ann = col(&per100k, "每10万人供给量（按全年折算）");
    let annualized = |ytd: f64, pop: f64| {
        let v = ytd / pop * 100_000.0 * 12.0 / 6.0;
        Data::Float((v * 100.0 + 0.5).floor() / 100.0)
    };
    let huoshan_ytd: f64 = rows
        .iter()
        .filter(|r| r["unit_code"] == "341525")
        .map(|r| r["cases_approved"].parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        find_row(&per100k, "霍山县")[c_ann],
        annualized(huoshan_ytd, 286_197.0)
    );
    assert_eq!(
        find_row(&per100k, "合计")[c_ann],
        annualized(total_ytd, 4_393_699.0)
    );
    assert_eq!(cell_text(&find_row(&per100k, "市本级")[c_ann]), "—");
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
    assert!(
        !cover.contains("霍山县、裕安区"),
        "no unit lacks a population: {cover}"
    );
    assert!(
        !cover.contains("不完整"),
        "the city total is complete: {cover}"
    );
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
        10,
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
    let pdf = crate::prints::to_pdf(soffice, &book, env.tmp.path());
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    // One page or more per sheet: ten sheets.
    // A page object is `/Type /Page` (with or without the space); the page tree's
    // `/Type /Pages` is not one.
    let pages = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(b"/Type"))
        .filter(|&i| {
            let rest = &bytes[i + 5..];
            let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
            rest.starts_with(b"/Page")
                && !rest[5..].first().is_some_and(|b| b.is_ascii_alphanumeric())
        })
        .count();
    assert!(pages >= 10, "{pages} pages");

    // What a person sees (SPEC v2, issue 11 §7): every sheet exported by LibreOffice as the
    // cells are shown (filter token 9) — whole counts without decimals, Chinese labels only.
    let csv_dir = env.tmp.path().join("shown");
    let o = std::process::Command::new(soffice)
        .arg(format!(
            "-env:UserInstallation=file://{}",
            env.tmp.path().join("lo-profile").display()
        ))
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1",
            "--outdir",
        ])
        .arg(&csv_dir)
        .arg(&book)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown = |sheet: &str| -> Vec<Vec<String>> {
        let path = csv_dir.join(format!("六安市法律援助民生实事汇总_2025-06-{sheet}.csv"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    };
    let machine_words = [
        "total",
        "critical",
        "warning",
        "behind_schedule",
        "case_share",
        "missing",
        "late",
        "spike",
    ];
    for sheet in [
        "封面",
        "汇总",
        "完成进度",
        "每10万人供给量",
        "经费合规",
        "质量",
        "月度明细",
        "异常预警",
        "执行情况",
        "原始数据",
    ] {
        for row in shown(sheet) {
            for cell in &row {
                assert!(
                    !machine_words.contains(&cell.as_str()),
                    "{sheet}: {cell:?} in {row:?}"
                );
            }
        }
    }
    // 完成进度: 霍邱县's projection for the year is a whole number of cases (ytd × 12 / 6), shown
    // as such; the cases still needed per month keep two decimals when they are not whole.
    let rows = sample_rows(6);
    let ytd: i64 = rows
        .iter()
        .filter(|r| r["unit_code"] == "341522")
        .map(|r| r["cases_approved"].parse::<i64>().unwrap())
        .sum();
    let completion = shown("完成进度");
    let header = completion
        .iter()
        .find(|r| r.iter().any(|c| c == "单位"))
        .unwrap();
    let at = |label: &str| {
        header
            .iter()
            .position(|c| c.replace('\n', "") == label)
            .unwrap_or_else(|| panic!("{label} in {header:?}"))
    };
    let huoqiu = completion
        .iter()
        .find(|r| r.contains(&"霍邱县".to_string()))
        .unwrap();
    let grouped = |n: i64| {
        let s = n.to_string();
        let mut out = String::new();
        for (k, ch) in s.chars().enumerate() {
            if k > 0 && (s.len() - k).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        out
    };
    assert_eq!(huoqiu[at("按当前进度预计全年（件）")], grouped(ytd * 2));
    let remaining = (1300 - ytd).max(0);
    let per_month = remaining as f64 / 6.0;
    let want = if remaining % 6 == 0 {
        grouped(remaining / 6)
    } else {
        format!("{:.2}", (per_month * 100.0).round() / 100.0)
    };
    assert_eq!(huoqiu[at("剩余月均需完成（件）")], want);
    // No header line begins with a closing bracket (a bracket orphaned by wrapping).
    for row in shown("汇总").iter().chain(&completion) {
        for cell in row {
            assert!(cell.lines().all(|l| !l.starts_with('）')), "{cell:?}");
        }
    }
}

#[test]
fn the_charts_start_at_zero_and_sheets_print_readably() {
    let env = Env::new();
    ingest_samples(&env);
    let r = env.run(&["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let book = run_dir(&env, "2025-06").join("六安市法律援助民生实事汇总_2025-06.xlsx");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&book).unwrap()).unwrap();
    let charts: Vec<String> = (0..zip.len())
        .map(|k| zip.by_index(k).unwrap().name().unwrap().to_string())
        .filter(|n| n.starts_with("xl/charts/chart"))
        .collect();
    assert_eq!(charts.len(), 2, "{charts:?}");
    for name in charts {
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(&name).unwrap(), &mut xml).unwrap();
        // The value axis (c:valAx) has its minimum fixed at 0.
        let val_ax = &xml[xml.find("<c:valAx>").expect("a value axis")..];
        let val_ax = &val_ax[..val_ax.find("</c:valAx>").unwrap()];
        assert!(val_ax.contains("<c:min val=\"0\"/>"), "{name}: {val_ax}");
    }
    // Printing on A4 stays readable: 汇总 fits one page wide; 原始数据 (25 columns) would be
    // scaled below 75% to fit, so it prints at 75% over several pages instead.
    let mut xml = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let summary = xml("xl/worksheets/sheet2.xml");
    assert!(summary.contains("fitToPage=\"1\""), "{summary}");
    let raw = xml("xl/worksheets/sheet10.xml");
    assert!(raw.contains("scale=\"75\"") && !raw.contains("fitToPage"));
}

#[test]
fn without_a_chinese_font_the_digest_says_the_chart_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(luan_pipeline_path()).unwrap();
    let start = text.find("chart_fonts = [").unwrap();
    let end = start + text[start..].find(']').unwrap() + 1;
    let path = dir.path().join("p.toml");
    calendar_beside(dir.path());
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
    let correct = |n: i64, name: &str, style: sample::Style| {
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
        env.drop_in(name, &sample::render(style, "", &[row]).unwrap());
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
    correct(1, "霍邱县_2025-05（更正1）.csv", sample::Style::CsvUtf8);
    assert_eq!(restated("2025-07-07 09:00"), 0);
    // Sent (to the outbox: no server), then corrected again: now it is.
    assert_eq!(
        env.run(&["--as-of", "2025-07-07 10:00", "run", "--period", "2025-06"])
            .code,
        0
    );
    // SPEC v2: the same figures sent again (a new version, other bytes) are no restatement,
    // and do not add to the subject's 预警N条.
    let subject = || {
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(run_dir(&env, "2025-06").join("manifest.json")).unwrap(),
        )
        .unwrap();
        m["digest"]["subject"].as_str().unwrap().to_string()
    };
    assert_eq!(restated("2025-07-07 11:00"), 0);
    let before = subject();
    // (the same figures in another file: GB18030 rather than UTF-8).
    correct(1, "霍邱县_2025-05（重发）.csv", sample::Style::CsvGb18030);
    assert_eq!(restated("2025-07-07 12:00"), 0);
    assert_eq!(subject(), before);
    let old = correct(3, "霍邱县_2025-05（更正2）.csv", sample::Style::CsvUtf8);
    assert_eq!(restated("2025-07-08 09:00"), 1);
    let alerts = indicators::read_twin(&run_dir(&env, "2025-06").join("alerts.csv"));
    let msg = &alerts.iter().find(|a| a["rule"] == "restated").unwrap()["message"];
    assert!(
        msg.contains(&format!("受理审批案件数 {} → {}", old + 1, old + 3))
            && msg.contains("第2版 → 第4版"),
        "{msg}"
    );
}

#[test]
fn a_file_rejected_between_two_digests_reaches_the_next() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    // June's digest goes out (to the outbox: no server) on 6 July.
    let r = env.run(&["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // On the 15th 霍邱县 sends a July file that is rejected.
    env.drop_in(
        "霍邱县_2025-07.csv",
        "单位代码,统计月份,受理审批案件数\n341522,2025-07,十二\n".as_bytes(),
    );
    assert_eq!(env.run(&["--as-of", "2025-07-15 10:00", "ingest"]).code, 3);
    let rejected = |period: &str, at: &str| {
        let r = env.run(&["--as-of", at, "run", "--no-email", "--period", period]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        indicators::read_twin(&run_dir(&env, period).join("alerts.csv"))
            .into_iter()
            .filter(|a| a["rule"] == "rejected" && a["message"].contains("霍邱县_2025-07.csv"))
            .count()
    };
    // July's report on 6 August tells leadership (it used to fall between the two windows).
    assert_eq!(rejected("2025-07", "2025-08-06 09:00"), 1);
    // June's report rebuilt as of the 10th knows nothing of it yet.
    assert_eq!(rejected("2025-06", "2025-07-10 09:00"), 0);
}

#[test]
fn a_unit_without_population_shows_a_dash_and_an_incomplete_total() {
    // The mechanism stays for a future pipeline: 霍山县 without its population.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, crate::config::without_huoshan_population()).unwrap();
    calendar_beside(dir.path());
    let env = Env::with_pipeline(&pipeline);
    ingest_samples(&env);
    let r = env.run(&["--as-of", "2025-07-06 09:00", "run", "--period", "2025-06"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("霍山县 (341525) has no population"),
        "{}",
        r.stderr
    );
    let path = run_dir(&env, "2025-06").join("六安市法律援助民生实事汇总_2025-06.xlsx");
    let per100k = sheet(&path, "每10万人供给量");
    let c_ann = col(&per100k, "每10万人供给量（按全年折算）");
    assert_eq!(cell_text(&find_row(&per100k, "霍山县")[c_ann]), "—");
    assert_eq!(cell_text(&find_row(&per100k, "合计")[c_ann]), "—");
    assert_ne!(cell_text(&find_row(&per100k, "裕安区")[c_ann]), "—");
    let cover: String = sheet(&path, "封面")
        .iter()
        .flatten()
        .map(cell_text)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(cover.contains("常住人口数据缺失：霍山县"), "{cover}");
}
