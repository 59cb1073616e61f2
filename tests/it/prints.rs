//! What the workbooks look like on A4 (issue 23 §6): each printed by LibreOffice to PDF and read
//! back with pdftotext, page by page.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// LibreOffice and pdftotext, or a SKIPPED line (a failure under CI).
pub fn tools(test: &str) -> Option<&'static str> {
    let soffice = ["soffice", "libreoffice"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let pdftotext = Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stderr.is_empty());
    match soffice {
        Some(s) if pdftotext => Some(s),
        _ => {
            skipped(
                test,
                "LibreOffice and pdftotext",
                "apt-get install libreoffice-calc-nogui poppler-utils",
            );
            None
        }
    }
}

/// The workbook printed to PDF by LibreOffice (a profile of its own under `work`), into
/// `work/pdf/`; the PDF's path.
pub fn to_pdf(soffice: &str, book: &Path, work: &Path) -> PathBuf {
    let out = work.join("pdf");
    let o = Command::new(soffice)
        .arg(format!(
            "-env:UserInstallation=file://{}",
            work.join("lo-profile").display()
        ))
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
        ])
        .arg(&out)
        .arg(book)
        .output()
        .unwrap();
    let pdf: PathBuf = out.join(book.with_extension("pdf").file_name().unwrap());
    assert!(
        o.status.success() && pdf.exists(),
        "LibreOffice could not convert: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    pdf
}

/// The workbook printed to PDF; its pages' text (pdftotext, one string a page).
pub fn pages(soffice: &str, book: &Path, work: &Path) -> Vec<String> {
    let pdf = to_pdf(soffice, book, work);
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(text.status.success());
    let mut v: Vec<String> = String::from_utf8_lossy(&text.stdout)
        .split('\u{c}')
        .map(str::to_string)
        .collect();
    if v.last().is_some_and(|p| p.trim().is_empty()) {
        v.pop();
    }
    v
}

/// Text without line breaks (a wrapped cell reads as one line).
fn flat(s: &str) -> String {
    s.chars().filter(|c| *c != '\n').collect()
}

#[test]
fn the_review_prints_its_verdicts_on_the_first_page_and_the_memo_whole() {
    let Some(soffice) = tools("the_review_prints…") else {
        return;
    };
    let env = Env::new();
    env.drop_samples_except(&[]);
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:00", "ingest"]).code, 0);
    let r = env.run(&["--as-of", "2025-07-06 09:10", "review", "--year", "2025"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dir = env.tmp.path().join("output/luan-2025/review-2025");
    let book = dir.join("六安市法律援助民生实事考核验收_2025_暂定.xlsx");
    let pages = pages(soffice, &book, env.tmp.path());
    // 考核验收 comes first: every unit and its 总体结论 on page one; the sheet in two pages.
    let first = &pages[0];
    for unit in [
        "霍邱县",
        "金寨县",
        "霍山县",
        "舒城县",
        "金安区",
        "裕安区",
        "叶集区",
        "市本级",
    ] {
        assert!(first.contains(unit), "{unit} on page 1:\n{first}");
    }
    assert!(first.contains("总体结论"), "{first}");
    // Half a year in, nobody has met the annual target: eight 未达标 verdicts at least.
    assert!(first.matches("未达标").count() >= 8, "{first}");
    let review_pages = pages
        .iter()
        .take_while(|p| !p.contains("考核要求及口径"))
        .count();
    assert!(review_pages <= 2, "考核验收 over {review_pages} pages");
    // 报告初稿: every line of the memo is on its pages, whole.
    let memo = std::fs::read_to_string(dir.join("memo.txt")).unwrap();
    let printed = flat(&pages.join(""));
    for line in memo.lines().filter(|l| !l.trim().is_empty()) {
        assert!(printed.contains(line.trim()), "not printed whole: {line}");
    }
}

#[test]
fn the_template_prints_on_one_page_and_its_narrative_on_another() {
    let Some(soffice) = tools("the_template_prints…") else {
        return;
    };
    let env = Env::new();
    let out = env.tmp.path().join("tpl");
    let r = env.run(&[
        "--as-of",
        "2025-08-01 09:00",
        "template",
        "--period",
        "2025-07",
        "--unit",
        "341522",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pages = pages(
        soffice,
        &out.join("霍邱县_2025-07_月报表.xlsx"),
        env.tmp.path(),
    );
    // 月报 on one page (the header, the unit's row and the check), 执行情况 on the next: its
    // three labels with their boxes.
    assert_eq!(pages.len(), 2, "{pages:#?}");
    // Narrow columns wrap their headers (read here without the line breaks)…
    let first = flat(&pages[0]);
    for want in [
        "单位代",
        "341522",
        "满意人",
        "说明",
        "自动检查",
        "填写后自动检查",
    ] {
        assert!(first.contains(want), "{want}:\n{}", pages[0]);
    }
    // …but never inside their brackets: each （元） is whole on one line.
    assert!(
        pages[0].lines().filter(|l| l.contains("（元）")).count() >= 3,
        "{}",
        pages[0]
    );
    assert!(!pages[0].lines().any(|l| l.ends_with('（')), "{}", pages[0]);
    for want in ["本月工作进展", "存在问题", "下月计划"] {
        assert!(pages[1].contains(want), "{want}:\n{}", pages[1]);
    }
}
