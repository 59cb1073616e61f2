//! The monthly 工作通报 as Word would read it (python-docx, `tests/tools/read_docx.py`) and as it
//! prints (LibreOffice → PDF → pdftotext): the 公文 layout, and every figure the workbook's.

use crate::support::*;
use std::path::Path;
use std::process::Command;

pub fn python_docx_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import docx, openpyxl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skipped(
            "the Word document tests",
            "python3 with python-docx and openpyxl",
            "pip install python-docx openpyxl",
        );
    }
    ok
}

pub fn read_docx(path: &Path) -> serde_json::Value {
    let o = Command::new("python3")
        .arg(repo().join("tests/tools/read_docx.py"))
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// June from the shipped samples, with 霍山县's June and 叶集区's May and June held back so that
/// two units fall behind schedule.
fn june() -> (Env, std::path::PathBuf) {
    let env = Env::new();
    env.drop_samples_except(&[
        "霍山县_2025-06.xlsx",
        "叶集区_2025-05.xlsx",
        "叶集区_2025-06.xlsx",
    ]);
    let dir = june_report(&env);
    (env, dir)
}

#[test]
fn the_notice_is_in_official_layout() {
    if !python_docx_ready() {
        return;
    }
    let (_env, dir) = june();
    let doc = dir.join("六安市法律援助民生实事工作通报_2025-06.docx");
    let d = read_docx(&doc);
    // A4 and GB/T 9704's margins, to the millimetre.
    assert_eq!(d["page_mm"], serde_json::json!([210.0, 297.0]));
    assert_eq!(
        d["margins_mm"],
        serde_json::json!({"top": 37.0, "bottom": 35.0, "left": 28.0, "right": 26.0})
    );
    let paras = d["paragraphs"].as_array().unwrap();
    // The title: 22 pt, centred; the body: 16 pt in the 仿宋 family, named for East Asian text.
    let title = &paras[0];
    assert!(
        title["text"]
            .as_str()
            .unwrap()
            .starts_with("关于2025年1—6月"),
        "{title}"
    );
    assert_eq!(title["runs"][0]["size"], 22.0);
    assert!(title["align"].as_str().unwrap().starts_with("CENTER"));
    let body: Vec<&serde_json::Value> = paras
        .iter()
        .filter(|p| p["text"].as_str().unwrap().starts_with("截至2025年6月底"))
        .collect();
    assert_eq!(body.len(), 1);
    for r in body[0]["runs"].as_array().unwrap() {
        assert_eq!(r["size"], 16.0);
        assert!(r["east_asia"].as_str().unwrap().contains("仿宋"), "{r}");
    }
    let heading = paras.iter().find(|p| p["text"] == "一、总体进展").unwrap();
    assert_eq!(heading["runs"][0]["east_asia"], "黑体");
    // Page numbers "— 1 —" from a PAGE field, odd pages right, even pages left.
    assert_eq!(d["even_and_odd"], true);
    for (f, align) in d["footers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["RIGHT", "LEFT"])
    {
        assert_eq!(f["page_field"], true, "{f}");
        assert!(f["text"].as_str().unwrap().starts_with("— "), "{f}");
        assert!(f["align"].as_str().unwrap().starts_with(align), "{f}");
    }
    // The table's header row repeats on every page; the 落款 and a date in Arabic numerals.
    assert_eq!(d["tables"][0]["header_repeats"], true);
    let texts: Vec<&str> = paras.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert!(texts.contains(&"六安市司法局"), "{texts:?}");
    assert!(texts.contains(&"2025年7月6日"), "{texts:?}");
}

/// `1234.5` → `1,235`; fractions as the workbook shows them.
fn grouped(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn every_figure_of_the_notice_is_the_workbooks() {
    if !python_docx_ready() {
        return;
    }
    let (_env, dir) = june();
    let d = read_docx(&dir.join("六安市法律援助民生实事工作通报_2025-06.docx"));
    // The workbook's 完成进度 sheet, read with openpyxl: each unit's figures and the gap cell's
    // fill (amber or red = behind schedule).
    let o = Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import json, sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1])["完成进度"]
rows = list(ws.iter_rows())
head = next(i for i, r in enumerate(rows) if any(c.value == "单位" for c in r))
names = [(c.value or "").replace("\n", "") for c in rows[head]]
col = lambda label: names.index(label) if label in names else next(i for i, n in enumerate(names) if n.startswith(label))
out = []
for r in rows[head + 1:]:
    if r[col("单位")].value is None:
        break
    gap = r[col("与序时进度差距")]
    out.append({"unit": r[col("单位")].value, "target": r[col("年度目标")].value,
                "ytd": r[col("累计受理审批")].value, "rate": r[col("完成率")].value,
                "gap": gap.value, "fill": gap.fill.fgColor.rgb if gap.fill and gap.fill.fill_type else None})
print(json.dumps(out, ensure_ascii=False))
"#,
        )
        .arg(dir.join("六安市法律援助民生实事汇总_2025-06.xlsx"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let book: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let table = d["tables"][0]["rows"].as_array().unwrap();
    assert_eq!(
        table.len(),
        book.len() + 1,
        "header + a row per unit and 合计"
    );
    let mut coloured = Vec::new();
    for (row, b) in table[1..].iter().zip(&book) {
        let f = |k: &str| b[k].as_f64().unwrap();
        assert_eq!(row[0], b["unit"], "plan order");
        assert_eq!(row[1], grouped(f("target")).as_str());
        assert_eq!(row[2], grouped(f("ytd")).as_str());
        assert_eq!(row[3], format!("{:.2}%", f("rate") * 100.0).as_str());
        assert_eq!(row[4], format!("{:.2}", f("gap")).as_str(), "{row}");
        let fill = b["fill"].as_str().unwrap_or("");
        if b["unit"] != "合计"
            && !fill.is_empty()
            && !fill.ends_with("C6EFCE")
            && !fill.ends_with("FFFFFF")
            && fill != "00000000"
        {
            coloured.push(b["unit"].as_str().unwrap().to_string());
        }
    }
    // 霍山县 (five months of six) and 叶集区 (four) are behind; the workbook colours them, the
    // notice names exactly them.
    assert_eq!(coloured, ["霍山县", "叶集区"], "{book:?}");
    let texts: Vec<String> = d["paragraphs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_string())
        .collect();
    let behind = texts
        .iter()
        .find(|t| t.contains("完成进度落后序时进度5个百分点以上的有"))
        .unwrap();
    for unit in ["霍邱县", "金寨县", "舒城县", "金安区", "裕安区", "市本级"] {
        assert!(!behind.contains(unit), "{unit} named: {behind}");
    }
    assert!(
        behind.contains("霍山县（落后") && behind.contains("叶集区（落后"),
        "{behind}"
    );
    // The totals of 一、总体进展 are the 合计 row's.
    let total = book.last().unwrap();
    let overall = texts
        .iter()
        .find(|t| t.starts_with("截至2025年6月底"))
        .unwrap();
    assert!(
        overall.contains(&format!(
            "累计受理审批法律援助案件{}件",
            format!("{:.0}", total["ytd"].as_f64().unwrap())
        )),
        "{overall}"
    );
    assert!(
        overall.contains(&format!(
            "的{:.2}%",
            total["rate"].as_f64().unwrap() * 100.0
        )),
        "{overall}"
    );
    // 四、报送情况 names the two units without June.
    let reporting = texts.iter().find(|t| t.contains("尚未报送")).unwrap();
    assert!(
        reporting.contains("霍山县、叶集区尚未报送2025年6月数据"),
        "{reporting}"
    );
}

#[test]
fn a_full_page_holds_22_lines_of_28_characters() {
    let Some(soffice) = ["soffice", "libreoffice"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        skipped(
            "a_full_page_holds_22_lines…",
            "LibreOffice Writer",
            "apt-get install libreoffice-writer-nogui",
        );
        return;
    };
    // Sixty paragraphs of 56 characters (two lines each): the grid's pages, without any official
    // font installed on this machine (the fallbacks hold the layout).
    use fayuan::report::docx::{Block, render};
    let line: String = "法律援助民生实事项目进展情况".repeat(4);
    let blocks: Vec<Block> = (0..60).map(|_| Block::To(line.clone())).collect();
    let bytes = render(&blocks, "grid", "fayuan").unwrap();
    let work = tempfile::tempdir().unwrap();
    let doc = work.path().join("grid.docx");
    std::fs::write(&doc, bytes).unwrap();
    let pdf = crate::prints::to_pdf(soffice, &doc, work.path());
    let text = Command::new("pdftotext")
        .args(["-layout", "-f", "2", "-l", "2"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&text.stdout);
    let lines: Vec<String> = page
        .lines()
        .map(|l| l.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .filter(|l| l.contains("法律"))
        .collect();
    assert_eq!(lines.len(), 22, "{page}");
    for l in &lines {
        assert_eq!(l.chars().count(), 28, "{l}");
    }
}

/// The children of every `<w:TAG>…</w:TAG>` in `xml`, by name, in order (one level: fayuan's
/// property elements hold no nested properties).
fn children(xml: &str, tag: &str) -> Vec<Vec<String>> {
    let (open, close) = (format!("<w:{tag}>"), format!("</w:{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let j = after.find(&close).unwrap();
        let inner = &after[..j];
        out.push(
            inner
                .split("<w:")
                .skip(1)
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .collect::<String>()
                })
                .collect(),
        );
        rest = &after[j..];
    }
    out
}

#[test]
fn properties_are_written_in_the_schemas_order() {
    // ECMA-376 Part 1, CT_RPr and CT_PPrBase: the order Word checks (out of order, it asks to
    // repair the file — docx-rs 0.4.22 writes w:sz before w:rFonts and w:rPr first in w:pPr).
    const RPR: [&str; 8] = [
        "rStyle", "rFonts", "b", "bCs", "color", "spacing", "sz", "szCs",
    ];
    const PPR: [&str; 8] = [
        "pStyle",
        "keepNext",
        "keepLines",
        "widowControl",
        "spacing",
        "ind",
        "jc",
        "rPr",
    ];
    use fayuan::report::docx::{Block, render};
    let blocks = vec![
        Block::Title("标题".into()),
        Block::To("各县（区）司法局：".into()),
        Block::Heading1("一、总体进展".into()),
        Block::Heading2("（一）加快进度。".into()),
        Block::Para("正文。".into()),
        Block::Table {
            header: vec!["单位".into()],
            rows: vec![vec!["霍邱县".into()]],
        },
        Block::Signature {
            office: "六安市司法局".into(),
            date: "2025年7月6日".into(),
        },
    ];
    let bytes = render(&blocks, "order", "fayuan").unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    for part in [
        "word/document.xml",
        "word/footer1.xml",
        "word/footer2.xml",
        "word/styles.xml",
    ] {
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(part).unwrap(), &mut xml).unwrap();
        for (tag, order) in [("rPr", &RPR[..]), ("pPr", &PPR[..])] {
            for kids in children(&xml, tag) {
                let at: Vec<usize> = kids
                    .iter()
                    .map(|k| {
                        order
                            .iter()
                            .position(|o| o == k)
                            .unwrap_or_else(|| panic!("{part}: {k} in {tag}"))
                    })
                    .collect();
                assert!(at.windows(2).all(|w| w[0] < w[1]), "{part}: {tag} {kids:?}");
            }
        }
    }
}

#[test]
fn the_notice_goes_with_the_digest_unless_the_bureau_says_not() {
    let run = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(luan_pipeline_path())
            .unwrap()
            .replacen("[docs]\n", &format!("[docs]\n{extra}"), 1);
        let path = dir.path().join("luan-2025.toml");
        std::fs::write(&path, text).unwrap();
        calendar_beside(dir.path());
        let env = Env::with_pipeline(&path);
        env.drop_samples_except(&[]);
        let run_dir = june_report(&env);
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap();
        (dir, m)
    };
    let (_a, m) = run("");
    let name = "六安市法律援助民生实事工作通报_2025-06.docx";
    assert_eq!(m["digest"]["notice_attachment"], name);
    // Listed with its SHA-256 among the run's outputs.
    assert!(
        m["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["file"] == name && o["sha256"].as_str().is_some_and(|s| s.len() == 64)),
        "{m}"
    );
    let (_b, m) = run("attach = false\n");
    assert!(m["digest"]["notice_attachment"].is_null(), "{m}");
}
