//! Ingest on files this project writes itself: every format, every rule, archive,
//! quarantine, duplicates, versions, crash recovery.

use crate::support::*;
use fayuan::period::Period;
use fayuan::sample::{self, Rng, Style};
use fayuan::schema::FIELDS;
use fayuan::schema::{Row, Value};

fn row(code: &str, month: u32, seed: u64) -> Row {
    let p = luan();
    let unit = p.unit(code).unwrap();
    sample::figures(unit, Period::new(2025, month).unwrap(), &mut Rng::new(seed))
}

/// The value as the store shows it, worked out from the generated row (not from fayuan).
fn expected_text(v: &Value) -> String {
    match v {
        Value::Missing => String::new(),
        Value::Text(s) => s.clone(),
        Value::Period(p) => format!("{:04}-{:02}", p.year(), p.month()),
        Value::Count(n) => n.to_string(),
        Value::Fen(f) => format!("{}", *f as f64 / 100.0),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
    }
}

fn assert_stored(stored: &std::collections::BTreeMap<String, String>, want: &Row, what: &str) {
    for (field, v) in FIELDS.iter().zip(&want.values) {
        let got = &stored[field.key];
        let exp = expected_text(v);
        let same = match (got.parse::<f64>(), exp.parse::<f64>()) {
            (Ok(a), Ok(b)) if field.key != "unit_code" => (a - b).abs() < 1e-9,
            _ => *got == exp,
        };
        assert!(same, "{what} {}: stored {got:?}, sent {exp:?}", field.key);
    }
}

#[test]
fn every_format_counties_use_is_read_exactly() {
    let env = Env::new();
    // One unit per style, so that every style's row lands as its own (unit, month).
    let codes = ["341522", "341524", "341525", "341523", "341502", "341503"];
    let mut sent = Vec::new();
    for (style, code) in Style::ALL.iter().zip(codes) {
        let r = row(code, 2, 7);
        let bytes = sample::render(*style, "测试月报表", std::slice::from_ref(&r)).unwrap();
        let name = format!("{code}-{style:?}.{}", style.extension());
        env.drop_in(&name, &bytes);
        sent.push((code, r, *style));
    }
    let r = env.run(&["--as-of", "2025-03-04 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let stored = latest_rows(&env.store());
    assert_eq!(stored.len(), sent.len());
    for (code, want, style) in &sent {
        let got = stored.iter().find(|s| s["unit_code"] == *code).unwrap();
        assert_stored(got, want, &format!("{style:?}"));
    }
    // The GB18030 file really is not UTF-8, and the titled workbook has its header on row 3.
    let gbk = env
        .files_under("archive")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("CsvGb18030"))
        .unwrap();
    assert!(std::str::from_utf8(&std::fs::read(gbk).unwrap()).is_err());
    let titled = stored.iter().find(|s| s["unit_code"] == "341522").unwrap();
    assert_eq!(titled["sheet"], "月报");
    assert_eq!(titled["source_row"], "4");
}

#[test]
fn a_bulk_sheet_with_title_rows_holds_every_unit() {
    let env = Env::new();
    let p = luan();
    let rows: Vec<Row> = p.units.iter().map(|u| row(&u.code, 1, 3)).collect();
    let bytes = sample::render(Style::XlsxTitled, "六安市2025年1月汇总", &rows).unwrap();
    env.drop_in("全市汇总.xlsx", &bytes);
    let r = env.run(&["--as-of", "2025-02-03 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let stored = latest_rows(&env.store());
    assert_eq!(stored.len(), 8);
    for want in &rows {
        let code = match &want.values[0] {
            Value::Text(c) => c.clone(),
            _ => unreachable!(),
        };
        assert_stored(
            stored.iter().find(|s| s["unit_code"] == code).unwrap(),
            want,
            &code,
        );
    }
}

const HEADER: &str = "单位代码,单位名称,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,法律帮助人次,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数,填报人,填报日期";
const GOOD: &str =
    "341522,霍邱县,2025-03,10,3,7,0,8,20,\"1,000.50\",900,700,1,1,4,4,王芳,2025-04-02";

/// Replaces field `col` (0-based) of the good row.
fn with(col: usize, value: &str) -> String {
    let mut cells: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(GOOD.as_bytes())
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect();
    cells[col] = format!("\"{value}\"");
    cells.join(",")
}

#[test]
fn every_rule_is_checked_and_named_by_cell() {
    let cases: Vec<(String, String, Vec<&str>)> = vec![
        (
            "code".into(),
            with(0, "34152"),
            vec!["A2 单位代码", "不是6位单位代码"],
        ),
        (
            "unknown".into(),
            with(0, "341599"),
            vec!["A2 单位代码", "不是本流水线"],
        ),
        (
            "name".into(),
            with(1, "霍山县"),
            vec!["B2 单位名称", "应为“霍邱县”"],
        ),
        (
            "month".into(),
            with(2, "2025-13"),
            vec!["C2 统计月份", "不是有效的统计月份"],
        ),
        (
            // Excel writes a number cell holding 2025.10 into a CSV as 2025.1 (SPEC v2 §2).
            "plain-number-month".into(),
            with(2, "2025.1"),
            vec!["C2 统计月份", "无法确定月份", "2025-10"],
        ),
        (
            "year".into(),
            with(2, "2026年1月"),
            vec!["C2 统计月份", "2026-01 不在本流水线的年度"],
        ),
        (
            "text".into(),
            with(3, "十"),
            vec!["D2 受理审批案件数", "“十”不是整数"],
        ),
        (
            "fraction".into(),
            with(3, "10.5"),
            vec!["D2 受理审批案件数", "不是整数"],
        ),
        (
            "negative".into(),
            with(7, "-1"),
            vec!["H2 办结案件数", "-1 不能为负数"],
        ),
        ("blank".into(), with(12, ""), vec!["M2 投诉件数", "未填写"]),
        (
            "sum".into(),
            with(4, "4"),
            vec!["D2 受理审批案件数", "相差 1"],
        ),
        (
            "decimals".into(),
            with(9, "1000.505"),
            vec!["J2 到位经费（元）", "最多保留两位小数"],
        ),
        (
            "money".into(),
            with(10, "九百"),
            vec!["K2 业务经费支出（元）", "不是金额"],
        ),
        (
            "spend".into(),
            with(11, "901"),
            vec!["L2 办案补贴及直接费用（元）", "大于业务经费支出"],
        ),
        (
            "satisfied".into(),
            with(15, "5"),
            vec!["P2 满意人数", "大于回访人数"],
        ),
        (
            "date".into(),
            with(17, "四月二日"),
            vec!["R2 填报日期", "不是有效日期"],
        ),
        (
            "twice".into(),
            format!("{GOOD}\r\n{GOOD}"),
            vec!["第3行", "重复", "第2行"],
        ),
    ];
    let env = Env::new();
    for (what, line, wants) in &cases {
        let path = env.drop_in(
            &format!("{what}.csv"),
            format!("{HEADER}\r\n{line}\r\n").as_bytes(),
        );
        let r = env.run(&["validate", path.to_str().unwrap()]);
        assert_eq!(r.code, 3, "{what}: {}", r.stdout);
        for want in wants {
            assert!(
                r.stdout.contains(want),
                "{what}: expected {want:?} in\n{}",
                r.stdout
            );
        }
        std::fs::remove_file(path).unwrap();
    }
    // And the good row itself passes, with optional columns left out entirely.
    let path = env.drop_in("good.csv", format!("{HEADER}\n{GOOD}\n").as_bytes());
    let r = env.run(&["validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let minimal = "unit_code,period,cases_approved,cases_criminal,cases_civil,cases_admin,cases_closed,funds_received,spend_total,spend_case,complaints,complaints_resolved,surveyed,satisfied\n341500,2025年3月,1,1,0,0,0,0,0,0,0,0,0,0\n";
    let path = env.drop_in("minimal.csv", minimal.as_bytes());
    let r = env.run(&["validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn number_cells_are_never_guessed_at() {
    // SPEC v2 §2, in a real workbook: Excel stores 2025.10 as the number 2025.1 (it used to be
    // read as January and replace January's row), and a number cell's money with three
    // decimals is an error however large the amount (it used to be rounded).
    let env = Env::new();
    let headers: Vec<&str> = HEADER.split(',').collect();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("月报").unwrap();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let numbers: [(u16, f64); 14] = [
        (2, 2025.1),
        (3, 10.0),
        (4, 3.0),
        (5, 7.0),
        (6, 0.0),
        (7, 8.0),
        (8, 20.0),
        (9, 12_345_678.123),
        (10, 900.0),
        (11, 700.0),
        (12, 1.0),
        (13, 1.0),
        (14, 4.0),
        (15, 4.0),
    ];
    sheet.write_string(1, 0, "341522").unwrap();
    sheet.write_string(1, 1, "霍邱县").unwrap();
    for (c, v) in numbers {
        sheet.write_number(1, c, v).unwrap();
    }
    let path = env.drop_in("霍邱县_2025-10.xlsx", &book.save_to_buffer().unwrap());
    let r = env.run(&["validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    for want in [
        "月报!C2 统计月份",
        "无法确定月份",
        "月报!J2 到位经费（元）",
        "最多保留两位小数",
    ] {
        assert!(
            r.stdout.contains(want),
            "expected {want:?} in\n{}",
            r.stdout
        );
    }
}

#[test]
fn a_later_arrival_supersedes_a_later_ingest() {
    // SPEC v2: the correction arrived on 8 April and was ingested; a backfill of the first
    // version, which had arrived on 2 April, is ingested afterwards with that --as-of. The
    // report must keep the correction.
    let env = Env::new();
    let corrected = format!("{HEADER}\n{}\n", with(3, "12").replace("\"7\"", "\"9\""));
    env.drop_in("霍邱县_2025-03（更正）.csv", corrected.as_bytes());
    assert_eq!(env.run(&["--as-of", "2025-04-08 10:00", "ingest"]).code, 0);
    env.drop_in(
        "霍邱县_2025-03.csv",
        format!("{HEADER}\n{GOOD}\n").as_bytes(),
    );
    assert_eq!(env.run(&["--as-of", "2025-04-02 10:00", "ingest"]).code, 0);
    let all = frame_as_text(&env.store().rows().unwrap());
    let by_version: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|r| {
            (
                r["version"].as_str(),
                r["cases_approved"].as_str(),
                r["latest"].as_str(),
            )
        })
        .collect();
    assert_eq!(by_version, [("1", "10", "false"), ("2", "12", "true")]);
    let r = env.run(&[
        "--as-of",
        "2025-04-09 09:00",
        "status",
        "--period",
        "2025-03",
    ]);
    let line = r.stdout.lines().find(|l| l.contains("霍邱县")).unwrap();
    assert!(line.contains("第2版"), "{line}");
}

#[test]
fn all_problems_of_a_file_come_in_one_pass() {
    let env = Env::new();
    let text = format!(
        "{HEADER}\n{}\n{}\n",
        with(3, "十二"),
        with(15, "9").replace("2025-03", "2025-02")
    );
    let path = env.drop_in("two.csv", text.as_bytes());
    let r = env.run(&["validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 3);
    assert!(
        r.stdout.contains("发现 2 个问题") && r.stdout.contains("D2") && r.stdout.contains("P3"),
        "{}",
        r.stdout
    );
    // A file with a broken header and unreadable bytes still gives messages, not a panic.
    for (name, bytes) in [
        ("junk.xlsx", &b"not a zip at all"[..]),
        ("junk.json", &b"[1,2"[..]),
        ("noheader.csv", &b"a,b\n1,2\n"[..]),
        ("onlyheader.csv", HEADER.as_bytes()),
    ] {
        let path = env.drop_in(name, bytes);
        let r = env.run(&["validate", path.to_str().unwrap()]);
        assert_eq!(r.code, 3, "{name}: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(name), "{}", r.stdout);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn versions_duplicates_and_the_inbox() {
    let env = Env::new();
    let first = format!("{HEADER}\n{GOOD}\n");
    env.drop_in("霍邱县_2025-03.csv", first.as_bytes());
    assert_eq!(env.run(&["--as-of", "2025-04-02 10:00", "ingest"]).code, 0);
    // A correction with 12 cases, and the first file sent again.
    let corrected = format!("{HEADER}\n{}\n", with(3, "12").replace("\"7\"", "\"9\""));
    env.drop_in("霍邱县_2025-03（更正）.csv", corrected.as_bytes());
    let r = env.run(&["--as-of", "2025-04-08 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    env.drop_in("霍邱县_2025-03-again.csv", first.as_bytes());
    let r = env.run(&["--as-of", "2025-04-08 11:00", "ingest"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("重复 1"), "{}", r.stdout);

    let all = frame_as_text(&env.store().rows().unwrap());
    assert_eq!(all.len(), 2, "the duplicate added nothing");
    assert_eq!(
        (
            all[0]["version"].as_str(),
            all[0]["cases_approved"].as_str(),
            all[0]["latest"].as_str()
        ),
        ("1", "10", "false")
    );
    assert_eq!(
        (
            all[1]["version"].as_str(),
            all[1]["cases_approved"].as_str(),
            all[1]["latest"].as_str()
        ),
        ("2", "12", "true")
    );
    assert_eq!(all[1]["arrived_at"], "2025-04-08T10:00:00+08:00");
    // Nothing lost: three files in, three kept (two archived, one beside them as a duplicate).
    assert!(env.files_under("inbox").is_empty());
    let kept: Vec<String> = env
        .files_under("archive")
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .filter(|p| p.ends_with(".csv"))
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(
        kept.iter().filter(|p| p.contains("/duplicates/")).count(),
        1
    );
    let files = env.store().files().unwrap();
    assert_eq!(files.len(), 3);
    assert!(files[2].problems.contains("完全相同"), "{:?}", files[2]);

    // Status: version 2, late (first arrival 04-02 was on time, so the month is not late).
    let r = env.run(&[
        "--as-of",
        "2025-04-09 09:00",
        "status",
        "--period",
        "2025-03",
    ]);
    let line = r.stdout.lines().find(|l| l.contains("霍邱县")).unwrap();
    assert!(line.contains("第2版") && !line.contains("逾期"), "{line}");
    // As of a moment before the correction, version 1 was in force.
    let r = env.run(&[
        "--as-of",
        "2025-04-05 09:00",
        "status",
        "--period",
        "2025-03",
    ]);
    let line = r.stdout.lines().find(|l| l.contains("霍邱县")).unwrap();
    assert!(line.contains("第1版"), "{line}");
    assert!(
        r.stdout.contains("已报送 1/8") && r.stdout.contains("未报送：金寨县"),
        "{}",
        r.stdout
    );
}

/// The line of `fayuan status` about a unit.
fn status_line(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("{name} in {stdout}"))
        .to_string()
}

#[test]
fn late_is_after_the_end_of_the_last_day_beijing_rolled_over_a_holiday() {
    let env = Env::new();
    env.drop_in("a.csv", format!("{HEADER}\n{GOOD}\n").as_bytes());
    // March's day 5 (5 April) is 清明: the deadline rolls to the end of Monday 7 April.
    // 2025-04-07 23:59 Beijing = 15:59 UTC: on time.
    assert_eq!(
        env.run(&["--as-of", "2025-04-07T15:59:00Z", "ingest"]).code,
        0
    );
    env.drop_in(
        "b.csv",
        format!(
            "{HEADER}\n{}\n",
            GOOD.replace("341522,霍邱县", "341524,金寨县")
        )
        .as_bytes(),
    );
    // 2025-04-08 00:00 Beijing: late.
    assert_eq!(env.run(&["--as-of", "2025-04-08 00:00", "ingest"]).code, 0);
    let r = env.run(&[
        "--as-of",
        "2025-04-09 00:00",
        "status",
        "--period",
        "2025-03",
    ]);
    let line = |name: &str| status_line(&r.stdout, name);
    assert!(!line("霍邱县").contains("逾期"), "{}", r.stdout);
    assert!(line("金寨县").contains("逾期"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("报送截止 2025-04-07 24:00（因法定节假日顺延）"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_backlog_typed_in_with_received_is_judged_by_when_it_was_sent() {
    // The data staff type in two counties' March files on 10 April — long after the deadline
    // (the end of 7 April: 5 April is 清明). 霍邱县's says it was sent on 3 April (on time),
    // 金寨县's on 8 April (late); both are marked 补录. A file dropped into the inbox the same day is late.
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let huoqiu = dir.path().join("霍邱县_2025-03.csv");
    std::fs::write(&huoqiu, format!("{HEADER}\n{GOOD}\n")).unwrap();
    let jinzhai = dir.path().join("金寨县_2025-03.csv");
    std::fs::write(
        &jinzhai,
        format!(
            "{HEADER}\n{}\n",
            GOOD.replace("341522,霍邱县", "341524,金寨县")
        ),
    )
    .unwrap();
    let at = |when: &str, file: &std::path::Path| {
        env.run(&[
            "--as-of",
            "2025-04-10 09:00",
            "ingest",
            "--received",
            when,
            file.to_str().unwrap(),
        ])
    };
    assert_eq!(at("2025-04-03 10:00", &huoqiu).code, 0);
    assert_eq!(at("2025-04-08 08:30", &jinzhai).code, 0);
    env.drop_in(
        "叶集区_2025-03.csv",
        format!(
            "{HEADER}\n{}\n",
            GOOD.replace("341522,霍邱县", "341504,叶集区")
        )
        .as_bytes(),
    );
    assert_eq!(env.run(&["--as-of", "2025-04-10 09:00", "ingest"]).code, 0);
    let r = env.run(&[
        "--as-of",
        "2025-04-10 10:00",
        "status",
        "--period",
        "2025-03",
    ]);
    let line = |name: &str| status_line(&r.stdout, name);
    assert!(!line("霍邱县").contains("逾期"), "{}", r.stdout);
    assert!(
        line("霍邱县").contains("收到 2025-04-03 10:00（补录）"),
        "{}",
        r.stdout
    );
    assert!(line("金寨县").contains("逾期"), "{}", r.stdout);
    assert!(line("金寨县").contains("（补录）"), "{}", r.stdout);
    assert!(line("叶集区").contains("逾期") && !line("叶集区").contains("补录"));
    // The store records the door.
    use fayuan::door::Door;
    let doors: Vec<(String, Option<Door>)> = env
        .store()
        .files()
        .unwrap()
        .into_iter()
        .map(|f| (f.file_name, f.door))
        .collect();
    assert!(
        doors.contains(&("霍邱县_2025-03.csv".into(), Some(Door::Backfill))),
        "{doors:?}"
    );
    assert!(
        doors.contains(&("叶集区_2025-03.csv".into(), None)),
        "{doors:?}"
    );
    // A time in the future, or not a time, is refused before anything is taken.
    let r = at("2025-04-11 10:00", &huoqiu);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("later than now"), "{}", r.stderr);
    assert_eq!(at("yesterday", &huoqiu).code, 2);
}

#[test]
fn rejected_files_go_to_quarantine_with_a_report() {
    let env = Env::new();
    let bad = format!(
        "{HEADER}\n{GOOD}\n{}\n",
        with(3, "十二").replace("2025-03", "2025-02")
    );
    env.drop_in("霍邱县_bad.csv", bad.as_bytes());
    let r = env.run(&["--as-of", "2025-04-02 10:00", "ingest"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(
        env.store().rows().unwrap().height(),
        0,
        "one bad row rejects the whole file by default"
    );
    let q = env.files_under("quarantine");
    assert_eq!(q.len(), 2, "{q:?}");
    let original = q
        .iter()
        .find(|p| p.to_string_lossy().ends_with("霍邱县_bad.csv"))
        .unwrap();
    assert_eq!(std::fs::read(original).unwrap(), bad.as_bytes());
    let report = std::fs::read_to_string(
        q.iter()
            .find(|p| p.to_string_lossy().ends_with(".错误报告.txt"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        report.contains("霍邱县_bad.csv D3 受理审批案件数：“十二”不是整数"),
        "{report}"
    );
    let r = env.run(&[
        "--as-of",
        "2025-04-02 11:00",
        "status",
        "--period",
        "2025-03",
    ]);
    assert!(
        r.stdout.contains("已拒收的文件") && r.stdout.contains("霍邱县_bad.csv"),
        "{}",
        r.stdout
    );
}

#[test]
fn good_rows_are_kept_when_the_pipeline_allows_partial_files() {
    let dir = tempfile::tempdir().unwrap();
    calendar_beside(dir.path());
    let path = dir.path().join("partial.toml");
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace(
            "reject_whole_file_on_error = true",
            "reject_whole_file_on_error = false",
        )
        .replace("data_dir = \"../data/luan-2025\"", "data_dir = \"data\"");
    std::fs::write(&path, text).unwrap();
    let env = Env::with_pipeline(&path);
    let bad = format!(
        "{HEADER}\n{GOOD}\n{}\n",
        with(3, "十二").replace("2025-03", "2025-02")
    );
    env.drop_in("mixed.csv", bad.as_bytes());
    let r = env.run(&["--as-of", "2025-04-02 10:00", "ingest"]);
    assert_eq!(r.code, 3, "rows were rejected: {}", r.stdout);
    assert!(r.stdout.contains("部分接收"), "{}", r.stdout);
    let stored = latest_rows(&env.store());
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["period"], "2025-03");
    let files = env.store().files().unwrap();
    assert_eq!((files[0].rows_accepted, files[0].rows_rejected), (1, 1));
}

#[test]
fn a_crash_mid_ingest_loses_nothing() {
    let env = Env::new();
    let bytes = format!("{HEADER}\n{GOOD}\n");
    env.drop_in("霍邱县.csv", bytes.as_bytes());
    // What a crash between archiving and committing leaves: the archive copy, a half-written
    // batch folder, and the file still in the inbox.
    let sha = fayuan::fsutil::sha256_hex(bytes.as_bytes());
    let archived = env
        .data()
        .join(format!("archive/2025-04/{}_霍邱县.csv", &sha[..12]));
    std::fs::create_dir_all(archived.parent().unwrap()).unwrap();
    std::fs::write(&archived, &bytes).unwrap();
    let half = env.data().join("store/.tmp-b000001-99999");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("rows.parquet"), b"half").unwrap();
    let r = env.run(&["--as-of", "2025-04-02 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(latest_rows(&env.store()).len(), 1);
    assert_eq!(std::fs::read(&archived).unwrap(), bytes.as_bytes());
    // A crash between committing and emptying the inbox: the file is recognised, not retaken.
    env.drop_in("霍邱县.csv", bytes.as_bytes());
    let r = env.run(&["--as-of", "2025-04-02 10:05", "ingest"]);
    assert_eq!(r.code, 0);
    assert_eq!(env.store().rows().unwrap().height(), 1);
}

#[test]
fn an_empty_inbox_is_fine() {
    let env = Env::new();
    let r = env.run(&["ingest"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("没有新文件"));
    assert_eq!(env.store().rows().unwrap().height(), 0);
}
