//! The fault suite: hostile files, names, crashes and full disks, each tried through the real
//! binary beside the shipped samples. For every one: the exit code is 0 or 3 (never a panic,
//! an abort or 1 for a county's file), the good files are taken, the inbox is emptied, the
//! report is built, and the bad file sits in quarantine byte for byte with a Chinese reason.

use crate::support::*;
use fayuan::store::Outcome;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The shipped samples hold 8 units × 6 months.
pub(crate) const SAMPLE_ROWS: usize = 48;

/// Headers of the submission form, in order, and a sound June row of 市本级 with the same
/// figures as the shipped sample (so the store's latest figures do not depend on the test).
const ROW: [(&str, &str); 18] = [
    ("单位代码", "341500"),
    ("单位名称", "市本级"),
    ("统计月份", "2025-06"),
    ("受理审批案件数", "38"),
    ("其中：刑事", "11"),
    ("其中：民事", "26"),
    ("其中：行政", "1"),
    ("办结案件数", "20"),
    ("法律帮助人次", "86"),
    ("到位经费（元）", "71750.00"),
    ("业务经费支出（元）", "28365.86"),
    ("办案补贴及直接费用（元）", "24110.98"),
    ("投诉件数", "1"),
    ("投诉办结件数", "1"),
    ("回访人数", "9"),
    ("满意人数", "8"),
    ("填报人", "张三"),
    ("填报日期", "2025-07-04"),
];

/// A UTF-8 CSV of that row with some cells replaced (by header).
pub(crate) fn csv_row(changes: &[(&str, &str)]) -> Vec<u8> {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let header: Vec<String> = ROW.iter().map(|(h, _)| quote(h)).collect();
    let values: Vec<String> = ROW
        .iter()
        .map(|(h, v)| {
            let v = changes.iter().find(|(k, _)| k == h).map_or(*v, |(_, x)| x);
            quote(v)
        })
        .collect();
    format!("{}\n{}\n", header.join(","), values.join(",")).into_bytes()
}

pub(crate) const AS_OF: &str = "2025-07-06 09:00";

/// The samples and one hostile file in the inbox, then `run` for June.
fn run_beside_samples(name: &str, bytes: &[u8]) -> (Env, Run) {
    let env = Env::new();
    env.drop_samples_except(&[]);
    env.drop_in(name, bytes);
    let r = env.run(&["--as-of", AS_OF, "run", "--period", "2025-06", "--no-email"]);
    (env, r)
}

/// What holds after any hostile file: no crash, everything good taken, inbox empty, report
/// built. Returns the store's record of the file with these bytes.
fn survived(env: &Env, r: &Run, bytes: &[u8]) -> fayuan::store::FileEntry {
    assert!(
        r.code == 0 || r.code == 3,
        "exit {}\n{}\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let left = env.files_under("inbox");
    assert!(left.is_empty(), "inbox not emptied: {left:?}\n{}", r.stdout);
    let latest = latest_rows(&env.store());
    assert_eq!(latest.len(), SAMPLE_ROWS, "{}", r.stdout);
    let book = env
        .tmp
        .path()
        .join("output/luan-2025/2025-06/六安市法律援助民生实事汇总_2025-06.xlsx");
    assert!(book.exists(), "no workbook\n{}\n{}", r.stdout, r.stderr);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
    let files = env.store().files().unwrap();
    let entry = files
        .iter()
        .find(|f| f.sha256 == sha)
        .unwrap_or_else(|| panic!("no record of the file\n{}", r.stdout))
        .clone();
    // Every byte kept: the copy the record points to has exactly these bytes.
    let kept = env.data().join(&entry.stored_as);
    assert_eq!(sha256_of(&kept), sha, "{}", kept.display());
    entry
}

/// The file was rejected; its error report (beside it in quarantine) says `why`.
fn rejected_saying(env: &Env, entry: &fayuan::store::FileEntry, why: &str) {
    assert_eq!(entry.outcome, Outcome::Rejected, "{}", entry.problems);
    assert!(
        entry.stored_as.starts_with("quarantine/"),
        "{}",
        entry.stored_as
    );
    let report = env.data().join(format!("{}.错误报告.txt", entry.stored_as));
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains(why), "expected {why:?} in\n{text}");
    assert!(entry.problems.contains(why), "{}", entry.problems);
}

#[test]
fn counts_near_i64_max_are_rejected_not_overflowed() {
    let max = "9223372036854775807";
    for (name, changes) in [
        // The breakdown's sum would overflow.
        (
            "霍邱县_2025-06_溢出.csv",
            vec![("其中：刑事", max), ("其中：民事", max)],
        ),
        // Consistent, but a count no month can have: the analyses would overflow.
        (
            "市本级_2025-06_巨大.csv",
            vec![
                ("受理审批案件数", max),
                ("其中：刑事", max),
                ("其中：民事", "0"),
                ("其中：行政", "0"),
            ],
        ),
    ] {
        let bytes = csv_row(&changes);
        let (env, r) = run_beside_samples(name, &bytes);
        let entry = survived(&env, &r, &bytes);
        rejected_saying(&env, &entry, "超出合理范围（一个单位一个月最多 1000000）");
    }
    // The bound itself passes: 1,000,000 cases in a month is accepted as it is.
    let bytes = csv_row(&[
        ("受理审批案件数", "1000000"),
        ("其中：刑事", "999999"),
        ("其中：行政", "1"),
        ("其中：民事", "0"),
    ]);
    let env = Env::new();
    env.drop_in("市本级_2025-06.csv", &bytes);
    let r = env.run(&["--as-of", AS_OF, "run", "--period", "2025-06", "--no-email"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let rows = latest_rows(&env.store());
    assert_eq!(rows[0]["cases_approved"], "1000000");
}

#[test]
fn money_beyond_its_bound_is_rejected() {
    let bytes = csv_row(&[("到位经费（元）", "99999999999999999999.00")]);
    let (env, r) = run_beside_samples("市本级_2025-06_金额.csv", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(
        &env,
        &entry,
        "超出合理范围（一个单位一个月最多 1000000000 元）",
    );
}

/// A sheet with one cell at A1 and one at XFD1048576 (the last cell Excel has).
fn far_cell_workbook() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("月报").unwrap();
    sheet.write_string(0, 0, "单位代码").unwrap();
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    book.save_to_buffer().unwrap()
}

#[test]
fn a_cell_at_xfd1048576_is_rejected_without_allocating_the_grid() {
    let bytes = far_cell_workbook();
    assert!(bytes.len() < 10_000, "{} bytes", bytes.len());
    let (env, r) = run_beside_samples("霍山县_2025-06_远.xlsx", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "XFD1048576 有内容，超出月报表的范围");
    // validate, on its own, says the same and exits 3.
    let path = env.tmp.path().join("far.xlsx");
    std::fs::write(&path, &bytes).unwrap();
    let v = env.run(&["validate", path.to_str().unwrap()]);
    assert_eq!(v.code, 3, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("超出月报表的范围"), "{}", v.stdout);
}

/// A real sample workbook with its sheet XML replaced by `sheet` (deflated).
fn with_sheet_xml(sheet: &[u8]) -> Vec<u8> {
    let src = std::fs::read(repo().join("samples/luan-2025/叶集区_2025-06.xlsx")).unwrap();
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(src)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(sheet.len() > u32::MAX as usize / 2);
    for i in 0..zin.len() {
        let mut part = zin.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        out.start_file(&name, options).unwrap();
        if name.starts_with("xl/worksheets/sheet") {
            out.write_all(sheet).unwrap();
        } else {
            std::io::copy(&mut part, &mut out).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn a_zip_bomb_is_rejected_by_its_unpacked_size() {
    // 100 MB of spaces inside the sheet: a few hundred kilobytes packed.
    let mut xml = b"<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData/>".to_vec();
    xml.resize(xml.len() + 100_000_000, b' ');
    xml.extend_from_slice(b"</worksheet>");
    let bytes = with_sheet_xml(&xml);
    assert!(bytes.len() < 2_000_000, "{} bytes", bytes.len());
    let (env, r) = run_beside_samples("叶集区_2025-06_炸弹.xlsx", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "解压后超过 64 MB");
}

/// Sets the declared unpacked size of every part whose name starts with `prefix`, in the local
/// and central headers (32-bit fields), as a hostile zip would.
fn lie_about_size(zip: &mut [u8], prefix: &[u8], declared: u32) -> usize {
    let mut patched = 0;
    for i in 0..zip.len().saturating_sub(46) {
        // (where the unpacked size, the name's length and the name are) in a local header,
        // then in a central directory header.
        let (size_at, name_len_at, name_at) = match &zip[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => (22, 26, 30),
            [0x50, 0x4b, 0x01, 0x02] => (24, 28, 46),
            _ => continue,
        };
        let n = u16::from_le_bytes([zip[i + name_len_at], zip[i + name_len_at + 1]]) as usize;
        if zip.len() >= i + name_at + n && zip[i + name_at..i + name_at + n].starts_with(prefix) {
            zip[i + size_at..i + size_at + 4].copy_from_slice(&declared.to_le_bytes());
            patched += 1;
        }
    }
    patched
}

#[test]
fn a_zip_bomb_that_lies_about_its_size_is_still_rejected() {
    let mut xml = b"<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData/>".to_vec();
    xml.resize(xml.len() + 100_000_000, b' ');
    xml.extend_from_slice(b"</worksheet>");
    let mut bytes = with_sheet_xml(&xml);
    assert_eq!(lie_about_size(&mut bytes, b"xl/worksheets/sheet", 1000), 2);
    let (env, r) = run_beside_samples("叶集区_2025-06_说谎.xlsx", &bytes);
    let entry = survived(&env, &r, &bytes);
    // The zip reader refuses a part that unpacks to more than it declares.
    rejected_saying(
        &env,
        &entry,
        "Excel 文件已损坏或不完整，无法打开（File is larger than its declared uncompressed size）",
    );
}

#[test]
fn a_million_row_sheet_is_cut_at_the_row_limit() {
    let mut xml = String::from(
        "<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>",
    );
    xml.push_str("<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>单位代码</t></is></c></row>");
    for r in 2..=1_000_000 {
        xml.push_str(&format!("<row r=\"{r}\"><c r=\"A{r}\"><v>1</v></c></row>"));
    }
    xml.push_str("</sheetData></worksheet>");
    let bytes = with_sheet_xml(xml.as_bytes());
    let (env, r) = run_beside_samples("叶集区_2025-06_百万行.xlsx", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(
        &env,
        &entry,
        "A10001 有内容，超出月报表的范围（最多 10000 行、200 列）",
    );
}

#[test]
fn a_200_mb_csv_is_refused_unread_and_kept_whole() {
    let mut bytes = csv_row(&[]);
    let line = b"341500,\xe5\xb8\x82\xe6\x9c\xac\xe7\xba\xa7,2025-06,38,11,26,1,20,86,71750.00,28365.86,24110.98,1,1,9,8,x,2025-07-04\n";
    while bytes.len() < 200_000_000 {
        bytes.extend_from_slice(line);
    }
    let (env, r) = run_beside_samples("市本级_2025-06_大.csv", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "文件过大（200 MB，上限 20 MB）");
    // The error report is short, and status afterwards reads only small records.
    let report = env.data().join(format!("{}.错误报告.txt", entry.stored_as));
    assert!(std::fs::metadata(report).unwrap().len() < 4_000);
    let s = env.run(&["--as-of", AS_OF, "status", "--period", "2025-06"]);
    assert_eq!(s.code, 0, "{}", s.stderr);
}

#[test]
fn an_error_report_lists_the_first_problems_and_counts_the_rest() {
    // 5,000 rows, each with a non-number in one cell: 5,000 problems.
    let mut text = String::from_utf8(csv_row(&[])).unwrap();
    let bad = text.lines().nth(1).unwrap().replacen(",38,", ",三十八,", 1);
    text = text.lines().next().unwrap().to_string() + "\n";
    for _ in 0..5_000 {
        text.push_str(&bad);
        text.push('\n');
    }
    let bytes = text.into_bytes();
    let (env, r) = run_beside_samples("市本级_2025-06_多错.csv", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "“三十八”不是整数");
    let report = env.data().join(format!("{}.错误报告.txt", entry.stored_as));
    let text = std::fs::read_to_string(report).unwrap();
    // 5,000 bad cells, and every row after the first repeats 市本级 2025-06: 9,999 problems.
    assert!(text.contains("问题清单（共 9999 个）"), "{}", &text[..400]);
    assert!(
        text.contains("另有 9799 个问题未列出"),
        "{}",
        &text[text.len() - 400..]
    );
    assert!(text.len() < 100_000, "{} bytes", text.len());
    assert!(entry.problems.lines().count() <= 21);
}

#[test]
fn long_names_newlines_dots_and_folders_are_all_taken() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    // 80 Chinese characters + `_2025-04.csv`: 252 bytes, a legal name.
    let long = format!("{}_2025-04.csv", "霍".repeat(80));
    assert_eq!(long.len(), 252);
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            long.clone(),
            csv_row(&[("统计月份", "2025-04"), ("填报人", "长名")]),
        ),
        (
            "市本级\n_2025-05.csv".into(),
            csv_row(&[("统计月份", "2025-05"), ("填报人", "换行")]),
        ),
        (
            ".市本级_2025-03.csv".into(),
            csv_row(&[("统计月份", "2025-03"), ("填报人", "点")]),
        ),
        (
            "六月/市本级_2025-02.csv".into(),
            csv_row(&[("统计月份", "2025-02"), ("填报人", "夹")]),
        ),
    ];
    for (name, bytes) in &files {
        env.drop_in(name, bytes);
    }
    let r = env.run(&["--as-of", AS_OF, "run", "--period", "2025-06", "--no-email"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        env.files_under("inbox").is_empty(),
        "{:?}",
        env.files_under("inbox")
    );
    assert!(
        !env.inbox().join("六月").exists(),
        "the emptied folder goes"
    );
    let records = env.store().files().unwrap();
    for (name, bytes) in &files {
        let e = records
            .iter()
            .find(|f| &f.file_name == name)
            .unwrap_or_else(|| panic!("{name:?} not recorded under its own name"));
        assert_eq!(e.outcome, Outcome::Accepted, "{name:?}: {}", e.problems);
        let kept = env.data().join(&e.stored_as);
        assert_eq!(std::fs::read(&kept).unwrap(), *bytes);
        let disk = kept.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            disk.len() <= 200 && !disk.contains('\n') && !disk.contains('/'),
            "{disk:?}"
        );
    }
    // Each checksum list verifies with coreutils' sha256sum.
    let sums: Vec<PathBuf> = env
        .files_under("archive")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("SHA256SUMS")
        })
        .collect();
    assert!(!sums.is_empty());
    for list in sums {
        let out = std::process::Command::new("sha256sum")
            .arg("-c")
            .arg(list.file_name().unwrap())
            .current_dir(list.parent().unwrap())
            .output()
            .expect("sha256sum (coreutils) runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The rows are in the store under the months they name: 4 more versions of 市本级.
    let all = env.store().rows().unwrap();
    assert_eq!(all.height(), SAMPLE_ROWS + 4);
}

#[test]
fn what_is_left_in_the_inbox_is_said() {
    let env = Env::new();
    env.drop_in("~$霍邱县_2025-06.xlsx", b"lock");
    env.drop_in(".~lock.霍邱县_2025-06.xlsx#", b"lock");
    std::os::unix::fs::symlink("/etc/passwd", env.inbox().join("link.csv")).unwrap();
    let r = env.run(&["--as-of", AS_OF, "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for want in [
        "~$霍邱县_2025-06.xlsx：暂未收取——Office 打开文件时生成的锁文件",
        ".~lock.霍邱县_2025-06.xlsx#：暂未收取——Office",
        "link.csv：暂未收取——符号链接",
    ] {
        assert!(
            r.stdout.contains(want),
            "expected {want:?} in\n{}",
            r.stdout
        );
    }
    assert!(env.store().files().unwrap().is_empty());
    let s = env.run(&["--as-of", AS_OF, "status", "--period", "2025-06"]);
    assert!(
        s.stdout.contains("收件箱中未收取：link.csv——符号链接"),
        "{}",
        s.stdout
    );
}

#[test]
fn long_text_is_rejected_at_ingest_and_quoted_short() {
    let long = "张".repeat(40_000);
    for (name, header, why) in [
        (
            "市本级_2025-06_填报人.csv",
            "填报人",
            "内容过长（共40000个字符，最多 200 个）",
        ),
        (
            "市本级_2025-06_单位名称.csv",
            "单位名称",
            "内容过长（共40000个字符，最多 200 个）",
        ),
    ] {
        let bytes = csv_row(&[(header, &long)]);
        let (env, r) = run_beside_samples(name, &bytes);
        let entry = survived(&env, &r, &bytes);
        rejected_saying(&env, &entry, why);
        assert!(
            entry.problems.chars().count() < 300,
            "{}",
            entry.problems.len()
        );
    }
}

#[test]
fn nul_and_control_characters_in_text_are_rejected() {
    let bytes = csv_row(&[("填报人", "张\u{0}三")]);
    let (env, r) = run_beside_samples("市本级_2025-06_NUL.csv", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "含有不可见的控制字符（U+0000）");
}

/// The fields of a CSV twin's rows, by header.
fn twin(env: &Env, name: &str) -> Vec<std::collections::HashMap<String, String>> {
    let path = env.tmp.path().join("output/luan-2025/2025-06").join(name);
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn formulas_in_county_text_never_run_in_the_csv_twins() {
    let env = Env::new();
    env.drop_samples_except(&["市本级_2025-06.csv"]);
    let name = "=HYPERLINK(\"http:evil\",\"x\")-2025-06.csv";
    env.drop_in(name, &csv_row(&[("填报人", "=1+2")]));
    let r = env.run(&["--as-of", AS_OF, "run", "--period", "2025-06", "--no-email"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let used = twin(&env, "rows_used.csv");
    let city = used
        .iter()
        .find(|r| r["unit_code"] == "341500" && r["period"] == "2025-06")
        .unwrap();
    assert_eq!(city["reporter"], "'=1+2");
    assert_eq!(city["cases_approved"], "38", "numbers stay numbers");
    let subs = twin(&env, "submissions.csv");
    let city = subs.iter().find(|r| r["unit_code"] == "341500").unwrap();
    assert_eq!(city["source_file"], format!("'{name}"));
    // Negative figures in the twins are numbers, not quoted text.
    let completion = twin(&env, "completion.csv");
    assert!(
        completion
            .iter()
            .any(|r| r["schedule_gap"].starts_with('-')),
        "some unit is behind schedule in June"
    );
}

#[test]
fn encoding_problems_are_named() {
    // The header in UTF-8, the data row in GBK: two encodings in one file.
    let mut bytes = csv_row(&[]);
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    bytes.truncate(header_end);
    let (row, _, _) = encoding_rs::GBK
        .encode("341500,市本级,2025-06,38,11,26,1,20,86,71750.00,28365.86,24110.98,1,1,9,8,张三,2025-07-04\n");
    bytes.extend_from_slice(&row);
    let (env, r) = run_beside_samples("市本级_2025-06_混合编码.csv", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "混有 UTF-8 和 GBK 两种编码");

    // Bytes that are no text encoding at all.
    let mut bytes = b"\xff\xfe\xfd\xfc,\x80\x81\n".to_vec();
    bytes.extend_from_slice(&[0xff; 64]);
    let (env, r) = run_beside_samples("市本级_2025-06_乱码.csv", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "文件编码无法识别");
}

#[test]
fn a_json_object_with_100000_keys_is_refused() {
    let mut text = String::from("[{\"unit_code\":\"341500\"");
    for k in 0..100_000 {
        text.push_str(&format!(",\"k{k}\":{k}"));
    }
    text.push_str("}]");
    let bytes = text.into_bytes();
    let (env, r) = run_beside_samples("市本级_2025-06_键.json", &bytes);
    let entry = survived(&env, &r, &bytes);
    rejected_saying(&env, &entry, "字段超过 200 个");
}

#[test]
fn a_configuration_lists_unknown_keys_with_every_value_problem() {
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("target = 1300", "target = 1300\ntargte = 1")
        .replace("deadline_day = 5", "deadline_day = 31")
        .replace("case_share_min = 0.70", "case_share_min = 70")
        .replace("max_rows = 10000", "max_rows = 0")
        .replace("quiet_seconds = 2.0", "quiet_seconds = -1.0")
        .replace(
            "spike_below_smallest = 0.5\n",
            "spike_below_smallest = 0.5\nspike_last_year_band = -0.5\n",
        )
        .replace(
            "[email]\n",
            "[review]\nsatisfaction_min = 90\ncompletion_mn = 1.0\n\n[email]\n",
        );
    let dir = tempfile::tempdir().unwrap();
    calendar_beside(dir.path());
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    let r = Env::with_pipeline(&path).run(&["check"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    for want in [
        "units.0.targte: unknown key",
        "deadline_day 31",
        "case_share_min 70",
        "limits.max_rows 0",
        "limits.quiet_seconds -1",
        "alerts.spike_last_year_band -0.5",
        "review.satisfaction_min 90",
        "review.completion_mn: unknown key",
    ] {
        assert!(
            r.stderr.contains(want),
            "expected {want:?} in\n{}",
            r.stderr
        );
    }
}

/// Names of every file under a folder that a killed run could have left behind.
pub(crate) fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".tmp-") || name.contains(".tmp-") {
                out.push(e.path());
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}
