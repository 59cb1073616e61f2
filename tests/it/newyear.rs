//! The next year (issue 15): the shipped example for 2026 beside the 2025 pipeline, 同比 columns
//! and the carry-over proposal against a previous year of hand-made figures, the spike rule with
//! last year's same month (a month that is a spike without last year and not with it), and one
//! daemon running both pipelines, each sending its own digest to a real SMTP server.

use crate::indicators::read_twin;
use crate::support::daemon::{Daemon, wait_for};
use crate::support::smtp::{Server, free_port, python_ready};
use crate::support::{Run, calendar_beside, output, repo};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `dir/pipelines/luan-2025.toml` (the shipped one) and `dir/pipelines/luan-2026.toml` (the
/// shipped example, copied as a bureau would); data in `dir/data/<name>/`; `edits` to both.
fn two_years(dir: &Path, edits: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let p = dir.join("pipelines");
    std::fs::create_dir_all(&p).unwrap();
    calendar_beside(&p);
    let mut out = Vec::new();
    for (src, name) in [
        ("pipelines/luan-2025.toml", "luan-2025.toml"),
        ("pipelines/luan-2026.example.toml", "luan-2026.toml"),
    ] {
        let mut text = std::fs::read_to_string(repo().join(src)).unwrap();
        for (from, to) in edits {
            text = text.replace(from, to);
        }
        let path = p.join(name);
        std::fs::write(&path, text).unwrap();
        out.push(path);
    }
    (out[0].clone(), out[1].clone())
}

/// The real binary in `dir` (no --data-dir: each pipeline's own folder).
fn fayuan(dir: &Path, pipeline: &Path, args: &[&str]) -> Run {
    output(
        Command::new(env!("CARGO_BIN_EXE_fayuan"))
            .current_dir(dir)
            .arg("--pipeline")
            .arg(pipeline)
            .args(args)
            .env_remove("FAYUAN_PIPELINE")
            .env_remove("FAYUAN_DATA_DIR")
            .env_remove("FAYUAN_AS_OF")
            .env("FAYUAN_LOG", "warn")
            .output()
            .unwrap(),
    )
}

const HEADER: &str = "unit_code,period,cases_approved,cases_criminal,cases_civil,cases_admin,cases_closed,funds_received,spend_total,spend_case,complaints,complaints_resolved,surveyed,satisfied";

/// A CSV of (unit, month, approved, closed) rows of `year`.
fn csv(year: i32, rows: &[(&str, u32, i64, i64)]) -> String {
    let mut s = format!("{HEADER}\n");
    for (code, m, approved, closed) in rows {
        s.push_str(&format!(
            "{code},{year}-{m:02},{approved},{approved},0,0,{closed},1000,800,600,0,0,10,10\n"
        ));
    }
    s
}

fn ingest(dir: &Path, pipeline: &Path, name: &str, text: &str, at: &str) {
    let inbox = dir.join("in").join(name);
    std::fs::create_dir_all(inbox.parent().unwrap()).unwrap();
    std::fs::write(&inbox, text).unwrap();
    let r = fayuan(
        dir,
        pipeline,
        &["--as-of", at, "ingest", inbox.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

fn spikes(run: &Path) -> Vec<String> {
    read_twin(&run.join("alerts.csv"))
        .into_iter()
        .filter(|r| r["rule"] == "spike")
        .map(|r| r["unit_code"].clone())
        .collect()
}

#[test]
fn a_new_year_compares_with_the_last_and_proposes_its_carry_over() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (y2025, y2026) = two_years(root, &[]);
    // 2025, January to April: 50 a month for three months, then 200 (closed 40 a month).
    let mut last = Vec::new();
    for code in ["341522", "341524", "341525"] {
        for (m, n) in [(1, 50), (2, 50), (3, 50), (4, 200)] {
            last.push((code, m, n, 40));
        }
    }
    ingest(
        root,
        &y2025,
        "2025.csv",
        &csv(2025, &last),
        "2025-05-03 10:00",
    );
    // 2026: 100 a month for three months, then April: 400 (霍邱县), 600 (金寨县), 601 (霍山县).
    // Against its own months alone each April is a spike (z far above 3.5, above 1.5 × 100).
    // Last year's April scaled by this year's pace: 200 × 300/150 = 400; within ±50% is 200..600.
    let mut this = Vec::new();
    for (code, april) in [("341522", 400), ("341524", 600), ("341525", 601)] {
        for m in 1..=3 {
            this.push((code, m, 100, 90));
        }
        this.push((code, 4, april, 90));
    }
    ingest(
        root,
        &y2026,
        "2026.csv",
        &csv(2026, &this),
        "2026-05-03 10:00",
    );

    let r = fayuan(
        root,
        &y2026,
        &[
            "--as-of",
            // April's deadline rolled over 劳动节 (1–5 May) to the end of 6 May.
            "2026-05-07 09:00",
            "run",
            "--period",
            "2026-04",
            "--no-email",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let run = root.join("output/luan-2026/2026-04");
    assert_eq!(
        spikes(&run),
        vec!["341525"],
        "only 601 lies outside 200..600"
    );

    // 同比, worked out here: 霍邱县 April 400 against 200 (+100%), Jan–Apr 700 against 350.
    let yoy = read_twin(&run.join("yoy.csv"));
    let huoqiu = &yoy[0];
    assert_eq!(huoqiu["unit_code"], "341522");
    assert_eq!(huoqiu["month_approved"], "400");
    assert_eq!(huoqiu["ly_month_approved"], "200");
    assert_eq!(huoqiu["month_growth"].parse::<f64>().unwrap(), 1.0);
    assert_eq!(huoqiu["ytd_approved"], "700");
    assert_eq!(huoqiu["ly_ytd_approved"], "350");
    // 金寨县: 900 against 350 → 550/350.
    let jinzhai = &yoy[1];
    assert!((jinzhai["ytd_growth"].parse::<f64>().unwrap() - 550.0 / 350.0).abs() < 1e-12);
    // Carried over from 2025: 0 + 350 approved − 160 closed = 190 each; none for a unit with no
    // 2025 figures (舒城县).
    assert_eq!(huoqiu["proposed_carry_over"], "190");
    assert_eq!(yoy[3]["unit_code"], "341523");
    assert_eq!(yoy[3]["proposed_carry_over"], "");
    assert_eq!(yoy[3]["ly_month_approved"], "");
    let total = yoy.last().unwrap();
    assert_eq!(total["unit_code"], "total");
    assert_eq!(total["ly_ytd_approved"], "1050");
    assert_eq!(total["proposed_carry_over"], "570");
    // The workbook has the 同比 sheet.
    let book = run.join("六安市法律援助民生实事汇总_2026-04.xlsx");
    let cells = crate::report::sheet(&book, "同比");
    let text: Vec<String> = cells
        .iter()
        .flatten()
        .map(crate::report::cell_text)
        .collect();
    assert!(text.iter().any(|t| t.contains("去年同月")), "{text:?}");
    // `check` proposes the carry-over.
    let r = fayuan(root, &y2026, &["--as-of", "2026-05-06 09:00", "check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("341522 霍邱县：建议 carry_over = 190（已配置 0；依据上年 4 个月的数据）"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("341523 舒城县：上年无该单位数据"),
        "{}",
        r.stdout
    );

    // The same year without `previous`: every April is a spike, and there is no 同比.
    let alone = root.join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let text = std::fs::read_to_string(&y2026)
        .unwrap()
        .replace("previous = \"luan-2025\"", "");
    let p = alone.join("luan-2026.toml");
    std::fs::write(&p, text).unwrap();
    calendar_beside(&alone);
    let r = fayuan(
        root,
        &p,
        &[
            "--as-of",
            // April's deadline rolled over 劳动节 (1–5 May) to the end of 6 May.
            "2026-05-07 09:00",
            "--data-dir",
            root.join("data/luan-2026").to_str().unwrap(),
            "--output-dir",
            "output-alone",
            "run",
            "--period",
            "2026-04",
            "--no-email",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let run = root.join("output-alone/luan-2026/2026-04");
    assert_eq!(spikes(&run), vec!["341522", "341524", "341525"]);
    assert!(!run.join("yoy.csv").exists());

    // A previous year that is not there is named.
    std::fs::remove_file(&y2025).unwrap();
    let r = fayuan(root, &y2026, &["check"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("pipeline.previous \"luan-2025\""),
        "{}",
        r.stderr
    );
}

#[test]
fn one_daemon_runs_every_pipeline_each_with_its_own_digest() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (p25, p26) = (free_port(), free_port());
    let (y2025, y2026) = two_years(
        root,
        &[
            ("retry_base_ms = 2000", "retry_base_ms = 50"),
            (
                "listen = \"127.0.0.1:8081\"",
                &format!("listen = \"127.0.0.1:{p26}\""),
            ),
            (
                "# [web]\n# listen = \"127.0.0.1:8080\"",
                &format!("[web]\nlisten = \"127.0.0.1:{p25}\""),
            ),
        ],
    );
    // December 2025 for 霍邱县 (sent on time), January 2026 for 霍邱县.
    ingest(
        root,
        &y2025,
        "2025-12.csv",
        &csv(2025, &[("341522", 12, 120, 100)]),
        "2026-01-03 10:00",
    );
    ingest(
        root,
        &y2026,
        "2026-01.csv",
        &csv(2026, &[("341522", 1, 110, 100)]),
        "2026-02-03 10:00",
    );
    // An example file beside them is not a pipeline to run.
    std::fs::copy(
        repo().join("pipelines/luan-2026.example.toml"),
        root.join("pipelines/luan-2027.example.toml"),
    )
    .unwrap();
    let mail = Server::start("smtp", free_port(), &root.join("mail"), &[]);
    let url = format!("smtp://127.0.0.1:{}", mail.port);
    let vars = [("FAYUAN_SMTP_URL", url.as_str())];
    let ledger = |name: &str| {
        std::fs::read_to_string(root.join(format!("data/{name}/runs/{name}.jsonl")))
            .unwrap_or_default()
    };
    let subjects = || -> Vec<String> {
        mail.received()
            .iter()
            .map(|(_, b)| {
                mail_parser::MessageParser::default()
                    .parse(b)
                    .and_then(|m| m.subject().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect()
    };

    // 6 January 2026, 09:05: the 2025 pipeline's December report is due; the 2026 pipeline has
    // nothing of its year to report yet.
    let d = Daemon::start_all(root, &["--as-of", "2026-01-06 09:05"], &vars);
    wait_for("the December digest", Duration::from_secs(120), || {
        ledger("luan-2025").contains("\"job\":\"report\"")
            && ledger("luan-2026").contains("\"job\":\"start\"")
    });
    assert_eq!(d.stop(), 0);
    let s = subjects();
    assert_eq!(s.len(), 2, "to and cc: {s:?}");
    assert!(
        s.iter().all(|x| x.contains("六安市2025年12月汇总")),
        "{s:?}"
    );
    assert!(!ledger("luan-2026").contains("\"job\":\"report\""));
    // The December digest carries the year's review; the review folder is there.
    let digest = std::fs::read_to_string(root.join("output/luan-2025/2025-12/digest.txt")).unwrap();
    assert!(digest.contains("2025年度考核验收"), "{digest}");
    assert!(root.join("output/luan-2025/review-2025/memo.txt").exists());

    // 6 February 2026, 09:05: the 2026 pipeline's January report, with 同比 (January 2025 had
    // none for 霍邱县 in this store, so last year's columns are empty); 2025 sends nothing more.
    let d = Daemon::start_all(root, &["--as-of", "2026-02-06 09:05"], &vars);
    wait_for("the January digest", Duration::from_secs(120), || {
        ledger("luan-2026").contains("\"job\":\"report\"")
            && ledger("luan-2025").matches("\"job\":\"start\"").count() == 2
    });
    assert_eq!(d.stop(), 0);
    let s = subjects();
    assert_eq!(s.len(), 4, "{s:?}");
    assert_eq!(
        s.iter()
            .filter(|x| x.contains("六安市2026年1月汇总"))
            .count(),
        2,
        "{s:?}"
    );
    assert_eq!(ledger("luan-2025").matches("\"job\":\"report\"").count(), 1);
    assert!(root.join("output/luan-2026/2026-01/yoy.csv").exists());
    assert!(!root.join("output/luan-2027").exists());
    // Each pipeline's outbox and delivery ledger are its own.
    assert!(root.join("data/luan-2025/outbox/luan-2025").is_dir());
    assert!(root.join("data/luan-2026/outbox/luan-2026").is_dir());

    // Two pipelines on one port cannot share a daemon: said before anything starts.
    let text = std::fs::read_to_string(&y2026)
        .unwrap()
        .replace(&format!("127.0.0.1:{p26}"), &format!("127.0.0.1:{p25}"));
    std::fs::write(&y2026, text).unwrap();
    let r = output(
        Command::new(env!("CARGO_BIN_EXE_fayuan"))
            .current_dir(root)
            .arg("daemon")
            .env_remove("FAYUAN_PIPELINE")
            .env_remove("FAYUAN_DATA_DIR")
            .env("FAYUAN_WEB_TOKEN", "bureau-token-for-newyear-tests")
            .env("FAYUAN_WEB_SECRET", "link-secret-for-newyear-tests")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("the same web.listen"), "{}", r.stderr);
}
