//! Fill-in templates (issue 12): written by `fayuan template`, filled in by a program that is not
//! fayuan (openpyxl), read back exactly; their validation rules, protection and hidden sheet
//! present in the xlsx parts; 执行情况 from templates, GB18030 CSV and JSON.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether python3 with openpyxl is here; under CI it must be (.ci/run installs it).
fn openpyxl() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import openpyxl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skipped(
            "templates",
            "python3 with openpyxl, the outside program that fills templates in",
            "pip install openpyxl",
        );
    }
    ok
}

fn templates(env: &Env, period: &str, units: &[&str]) -> Vec<PathBuf> {
    let out = env.tmp.path().join("templates");
    let mut args = vec![
        "template",
        "--period",
        period,
        "--out",
        out.to_str().unwrap(),
    ];
    for u in units {
        args.extend(["--unit", u]);
    }
    let r = env.run(&args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    r.stdout.lines().map(PathBuf::from).collect()
}

/// Fills a template in with openpyxl (tests/tools/fill_template.py), by label.
fn fill(template: &Path, out: &Path, values: &serde_json::Value) {
    let json = out.with_extension("json");
    std::fs::write(&json, values.to_string()).unwrap();
    let o = Command::new("python3")
        .arg(repo().join("tests/tools/fill_template.py"))
        .arg(template)
        .arg(out)
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Figures for unit number `k`, as a county would type them (whole counts, money with 分).
fn figures(k: i64) -> serde_json::Value {
    let approved = 20 + k * 7;
    serde_json::json!({
        "受理审批案件数": approved,
        "其中：刑事": k,
        "其中：民事": approved - k - 1,
        "其中：行政": 1,
        "办结案件数": 10 + k,
        "法律帮助人次": 3 * k,
        "到位经费（元）": 12345.67 + k as f64,
        "业务经费支出（元）": 10000.5,
        "办案补贴及直接费用（元）": 8000.25,
        "投诉件数": 2,
        "投诉办结件数": 1,
        "回访人数": 9,
        "满意人数": 8,
        "填报人": format!("填报员{k}"),
    })
}

#[test]
fn every_units_template_round_trips_through_openpyxl() {
    if !openpyxl() {
        return;
    }
    let env = Env::new();
    let made = templates(&env, "2025-07", &[]);
    let p = luan();
    assert_eq!(made.len(), p.units.len());
    for (k, unit) in p.units.iter().enumerate() {
        let t = made
            .iter()
            .find(|m| m.ends_with(format!("{}_2025-07_月报表.xlsx", unit.name)))
            .unwrap();
        let mut values = serde_json::json!({ "月报": figures(k as i64) });
        if k == 0 {
            values["月报"]["说明"] = "本月集中开展专项行动".into();
            values["执行情况"] = serde_json::json!({
                "本月工作进展": "开展法律援助进社区3场。\n受理案件27件。",
                "存在问题": "基层人手不足",
                "下月计划": "推进“法援惠民生”",
            });
        }
        let filled = env.tmp.path().join(format!("{}.xlsx", unit.code));
        fill(t, &filled, &values);
        env.drop_in(
            &format!("{}_2025-07.xlsx", unit.name),
            &std::fs::read(&filled).unwrap(),
        );
    }
    let r = env.run(&["--as-of", "2025-08-03 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let stored = latest_rows(&env.store());
    assert_eq!(stored.len(), p.units.len());
    for (k, unit) in p.units.iter().enumerate() {
        let row = stored.iter().find(|s| s["unit_code"] == unit.code).unwrap();
        let k = k as i64;
        let approved = 20 + k * 7;
        for (key, want) in [
            ("unit_name", unit.name.clone()),
            ("period", "2025-07".into()),
            ("cases_approved", approved.to_string()),
            ("cases_criminal", k.to_string()),
            ("cases_civil", (approved - k - 1).to_string()),
            ("cases_admin", "1".into()),
            ("cases_closed", (10 + k).to_string()),
            ("legal_help", (3 * k).to_string()),
            ("funds_received", format!("{}", 12345.67 + k as f64)),
            ("spend_total", "10000.5".into()),
            ("spend_case", "8000.25".into()),
            ("satisfied", "8".into()),
            ("reporter", format!("填报员{k}")),
        ] {
            assert_eq!(row[key], want, "{} {key}", unit.name);
        }
        if k == 0 {
            assert_eq!(row["note"], "本月集中开展专项行动");
            assert_eq!(
                row["narrative"],
                "本月工作进展：开展法律援助进社区3场。\n受理案件27件。\n存在问题：基层人手不足\n下月计划：推进“法援惠民生”"
            );
        } else {
            assert_eq!((row["note"].as_str(), row["narrative"].as_str()), ("", ""));
        }
    }
}

/// The text of a part of an xlsx (a zip).
fn part(xlsx: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(xlsx).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
    text
}

#[test]
fn a_template_carries_its_rules_protection_and_hidden_sheet() {
    let env = Env::new();
    let t = &templates(&env, "2025-07", &["341522"])[0];
    assert!(t.ends_with("霍邱县_2025-07_月报表.xlsx"), "{t:?}");
    let book = part(t, "xl/workbook.xml");
    assert!(
        book.contains("<sheet name=\"月报\"")
            && book.contains("<sheet name=\"执行情况\"")
            && book.contains("name=\"模板信息\" sheetId=\"3\" state=\"hidden\""),
        "{book}"
    );
    let sheet = part(t, "xl/worksheets/sheet1.xml");
    assert!(sheet.contains("<sheetProtection"), "月报 is protected");
    // 16 input cells on row 4 (counts, money, 填报人, 填报日期, 说明), each with its rule.
    let rules = sheet.matches("<dataValidation ").count();
    assert_eq!(rules, 16, "{sheet}");
    assert_eq!(sheet.matches("type=\"whole\"").count(), 10, "counts");
    assert_eq!(sheet.matches("type=\"custom\"").count(), 3, "money");
    assert!(sheet.contains("ROUND(J4,2)=J4"), "two decimals at most");
    assert!(sheet.contains("type=\"date\"") && sheet.contains("type=\"textLength\""));
    assert!(sheet.contains("promptTitle=\"受理审批案件数\""));
    assert!(sheet.contains("不小于 0"), "input messages in Chinese");
    // The live checks: the cross-field rules as a formula.
    assert!(
        sheet.contains("D4&lt;&gt;E4+F4+G4") && sheet.contains("P4&gt;O4"),
        "{sheet}"
    );
    // Each problem on a line of its own, and the cell red while any is open.
    assert!(sheet.contains("CHAR(10)"), "{sheet}");
    assert!(
        sheet.contains("<conditionalFormatting") && sheet.contains("beginsWith"),
        "{sheet}"
    );
    // Unit, name and month are filled in.
    let strings = part(t, "xl/sharedStrings.xml");
    for s in [
        "341522",
        "霍邱县",
        "2025-07",
        "说明",
        "自动检查",
        "本月工作进展",
        "luan-2025",
    ] {
        assert!(strings.contains(s), "{s}");
    }
    // Input cells are unlocked (a cell format with locked="0"); the rest stays locked.
    let styles = part(t, "xl/styles.xml");
    assert!(styles.contains("locked=\"0\""), "{styles}");
    assert!(part(t, "xl/worksheets/sheet2.xml").contains("<sheetProtection"));
    // LibreOffice opens it.
    if let Some(soffice) = ["soffice", "libreoffice"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) {
        let pdf = crate::prints::to_pdf(soffice, t, env.tmp.path());
        assert!(
            pdf.ends_with("霍邱县_2025-07_月报表.pdf"),
            "{}",
            pdf.display()
        );
    } else {
        skipped(
            "a_template_carries_its_rules_protection_and_hidden_sheet",
            "LibreOffice",
            "apt-get install libreoffice-calc-nogui",
        );
    }
}

#[test]
fn a_template_for_another_unit_or_month_is_refused() {
    if !openpyxl() {
        return;
    }
    let env = Env::new();
    let t = &templates(&env, "2025-07", &["341522"])[0];
    // The month and unit cells are locked; a county that edits them anyway (here: the file
    // written with openpyxl, which ignores protection) is told to take the right template.
    let mut values = serde_json::json!({ "月报": figures(1) });
    values["月报"]["统计月份"] = "2025-08".into();
    let filled = env.tmp.path().join("filled.xlsx");
    fill(t, &filled, &values);
    let r = env.run(&["validate", filled.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("此模板为 341522 2025-07 的模板，表中却填了 341522 2025-08"),
        "{}",
        r.stdout
    );
}

#[test]
fn narrative_in_csv_and_json_and_its_limits() {
    let env = Env::new();
    let header = "单位代码,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数,说明,执行情况";
    let csv = format!(
        "{header}\r\n341522,2025-07,10,3,7,0,8,1000,900,700,0,0,4,4,已核实,\"本月工作进展：进社区3场\r\n存在问题：无\"\r\n"
    );
    env.drop_in("霍邱县_2025-07.csv", &encoding_rs::GB18030.encode(&csv).0);
    let json = serde_json::json!([{
        "unit_code": "341524", "period": "2025-07", "cases_approved": 5, "cases_criminal": 5,
        "cases_civil": 0, "cases_admin": 0, "cases_closed": 1, "funds_received": 0,
        "spend_total": 0, "spend_case": 0, "complaints": 0, "complaints_resolved": 0,
        "surveyed": 0, "satisfied": 0, "narrative": "下月计划：培训\n两场"
    }]);
    env.drop_in("金寨县_2025-07.json", json.to_string().as_bytes());
    let r = env.run(&["--as-of", "2025-08-03 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let stored = latest_rows(&env.store());
    let get = |code: &str| {
        stored
            .iter()
            .find(|s| s["unit_code"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(
        get("341522")["narrative"],
        "本月工作进展：进社区3场\n存在问题：无"
    );
    assert_eq!(get("341522")["note"], "已核实");
    assert_eq!(get("341524")["narrative"], "下月计划：培训\n两场");

    // Over-long (2,001 characters) and a control character: errors naming the cell.
    let long = "字".repeat(2001);
    let bad = format!(
        "{header}\r\n341522,2025-08,10,3,7,0,8,1000,900,700,0,0,4,4,,{long}\r\n341524,2025-08,10,3,7,0,8,1000,900,700,0,0,4,4,,进展\u{7}良好\r\n"
    );
    let path = env.drop_in("bad.csv", bad.as_bytes());
    let r = env.run(&["validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout.contains("P2 执行情况") && r.stdout.contains("共2001个字符，最多 2000 个"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("P3 执行情况") && r.stdout.contains("U+0007"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_over_long_narrative_in_a_template_names_its_cell() {
    if !openpyxl() {
        return;
    }
    let env = Env::new();
    let t = &templates(&env, "2025-07", &["341522"])[0];
    let values = serde_json::json!({
        "月报": figures(1),
        "执行情况": { "存在问题": "难".repeat(2001) },
    });
    let filled = env.tmp.path().join("filled.xlsx");
    fill(t, &filled, &values);
    let r = env.run(&["validate", filled.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout.contains("执行情况!B4 存在问题") && r.stdout.contains("最多 2000 个"),
        "{}",
        r.stdout
    );
}

/// A CSV row of 霍邱县 for `month` with `cases` approved (all criminal), and a 说明 and 执行情况.
fn csv(month: u32, cases: i64, note: &str, narrative: &str) -> Vec<u8> {
    format!(
        "单位代码,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数,说明,执行情况\r\n\
         341522,2025-{month:02},{cases},{cases},0,0,10,80000,70000,56000,0,0,10,10,{note},\"{narrative}\"\r\n"
    )
    .into_bytes()
}

#[test]
fn a_soft_check_waits_for_a_note_and_the_note_travels_with_the_figure() {
    let env = Env::new();
    for m in 1..=3 {
        env.drop_in(&format!("霍邱县_2025-{m:02}.csv"), &csv(m, 100, "", ""));
    }
    // April: 400 cases, more than 3 × the earlier median of 100 — accepted, 待说明.
    env.drop_in(
        "霍邱县_2025-04.csv",
        &csv(4, 400, "", "本月工作进展：专项行动\n存在问题：无"),
    );
    let r = env.run(&["--as-of", "2025-05-04 09:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let status = env.run(&[
        "--as-of",
        "2025-05-06 08:00",
        "status",
        "--period",
        "2025-04",
    ]);
    assert!(
        status.stdout.contains(
            "待说明：4月受理审批数超过此前各月中位数的3倍（本月 400 件，此前3个月中位数 100 件）"
        ) && status.stdout.contains("待说明：霍邱县"),
        "{}",
        status.stdout
    );
    // The April digest is sent (to the outbox) with the unit as 待说明 and its 执行情况.
    let r = env.run(&["--as-of", "2025-05-06 09:00", "run", "--period", "2025-04"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dir = env.tmp.path().join("output/luan-2025/2025-04");
    let digest = std::fs::read_to_string(dir.join("digest.txt")).unwrap();
    assert!(
        digest.contains("待说明（")
            && digest.contains("霍邱县：4月受理审批数超过此前各月中位数的3倍"),
        "{digest}"
    );
    assert!(
        digest.contains("霍邱县：本月工作进展：专项行动 存在问题：无"),
        "{digest}"
    );
    assert!(digest.contains("金寨县：未报送"), "{digest}");

    // The same figures again with a 说明: explained, and no restatement.
    env.drop_in(
        "霍邱县_2025-04（说明）.csv",
        &csv(
            4,
            400,
            "4月开展集中援助专项行动",
            "本月工作进展：专项行动\n存在问题：无",
        ),
    );
    let r = env.run(&[
        "--as-of",
        "2025-05-07 09:00",
        "run",
        "--no-email",
        "--period",
        "2025-04",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let alerts = crate::indicators::read_twin(&dir.join("alerts.csv"));
    assert!(
        !alerts.iter().any(|a| a["rule"] == "restated"),
        "{alerts:?}"
    );
    let soft = alerts.iter().find(|a| a["rule"] == "soft_check").unwrap();
    assert!(
        soft["message"].ends_with("已说明：4月开展集中援助专项行动"),
        "{soft:?}"
    );
    let status = env.run(&[
        "--as-of",
        "2025-05-07 10:00",
        "status",
        "--period",
        "2025-04",
    ]);
    assert!(!status.stdout.contains("待说明"), "{}", status.stdout);
    // The workbook's 异常预警 carries the county's words; 执行情况 has each unit's text.
    let book = dir.join("六安市法律援助民生实事汇总_2025-04.xlsx");
    let mut wb = calamine::open_workbook_auto(&book).unwrap();
    use calamine::Reader;
    let cells = |wb: &mut calamine::Sheets<_>, name: &str| -> Vec<String> {
        wb.worksheet_range(name)
            .unwrap()
            .rows()
            .flat_map(|r| r.iter().map(crate::report::cell_text).collect::<Vec<_>>())
            .collect()
    };
    let warnings = cells(&mut wb, "异常预警");
    assert!(
        warnings
            .iter()
            .any(|c| c.contains("已说明：4月开展集中援助专项行动")),
        "{warnings:?}"
    );
    let narrative = cells(&mut wb, "执行情况");
    assert!(
        narrative.contains(&"本月工作进展：专项行动\n存在问题：无".to_string())
            && narrative.contains(&"未报送".to_string()),
        "{narrative:?}"
    );
}
