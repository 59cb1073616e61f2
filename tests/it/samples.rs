//! The samples: the shipped ones are what the generator writes and ingest cleanly, synthetic
//! pipelines of N units are deterministic and work directly, and a person watching sees progress.

use crate::support::*;

#[test]
fn shipped_samples_are_what_the_generator_writes_and_ingest_cleanly() {
    let env = Env::new();
    let fresh = env.tmp.path().join("fresh");
    let r = env.run(&["sample", "--out", fresh.to_str().unwrap(), "--months", "6"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shipped = repo().join("samples/luan-2025");
    let mut names: Vec<String> = std::fs::read_dir(&shipped)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), 8 * 6);
    for name in &names {
        assert_eq!(
            std::fs::read(shipped.join(name)).unwrap(),
            std::fs::read(fresh.join(name)).unwrap(),
            "{name} differs from the generator's output: regenerate samples/ (see README)"
        );
    }
    // `ingest FOLDER` copies into the inbox and takes everything; the folder is left as it was.
    let r = env.run(&[
        "--as-of",
        "2025-07-04 09:00",
        "ingest",
        shipped.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("接收 48"), "{}", r.stdout);
    assert_eq!(std::fs::read_dir(&shipped).unwrap().count(), 48);
    assert_eq!(latest_rows(&env.store()).len(), 48);
}

#[test]
fn synthetic_pipelines_are_deterministic_and_work_directly() {
    let env = Env::new();
    let a = env.tmp.path().join("a");
    let b = env.tmp.path().join("b");
    for out in [&a, &b] {
        let r = env.run(&[
            "sample",
            "--units",
            "12",
            "--months",
            "2",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d.join("inbox"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&a).len(), 12 * 2 + 3);
    assert_eq!(names(&a), names(&b));
    for n in names(&a) {
        assert_eq!(
            std::fs::read(a.join("inbox").join(&n)).unwrap(),
            std::fs::read(b.join("inbox").join(&n)).unwrap(),
            "{n}"
        );
    }
    assert_eq!(
        std::fs::read(a.join("pipeline.toml")).unwrap(),
        std::fs::read(b.join("pipeline.toml")).unwrap()
    );
    // Mixed formats as counties send them: xlsx, CSV (some GB18030), JSON.
    let all = names(&a);
    let count = |ext: &str| {
        all.iter()
            .filter(|n| n.ends_with(ext) && !n.starts_with("bad_"))
            .count()
    };
    assert!(
        count(".xlsx") >= 12 && count(".csv") >= 6 && count(".json") >= 1,
        "{all:?}"
    );
    // The pipeline is valid and its folders are under the output folder.
    let pipeline = a.join("pipeline.toml");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_fayuan"))
            .current_dir(&a)
            .arg("--pipeline")
            .arg(&pipeline)
            .args(args)
            .env("FAYUAN_LOG", "error")
            .env_remove("FAYUAN_DATA_DIR")
            .output()
            .unwrap();
        output(o)
    };
    let r = run(&["--as-of", "2025-03-03 09:00", "ingest"]);
    assert_eq!(r.code, 3, "three bad files: {}", r.stdout);
    assert!(
        r.stdout.contains("接收 24") && r.stdout.contains("拒收 3"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.is_empty() || !r.stderr.contains("收取 "),
        "no progress bar when output is piped: {}",
        r.stderr
    );
    let r = run(&[
        "--as-of",
        "2025-03-06 09:00",
        "run",
        "--no-email",
        "--period",
        "2025-02",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let completion =
        crate::indicators::read_twin(&a.join("output/sample-12/2025-02/completion.csv"));
    assert_eq!(completion.len(), 13, "12 units and the total");
}

#[test]
fn a_terminal_gets_a_progress_bar() {
    // `script` gives the command a terminal, as a person at a shell has.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        skipped(
            "a_terminal_gets_a_progress_bar",
            "script, to give the command a terminal",
            "apt-get install bsdutils",
        );
        return;
    }
    let env = Env::new();
    let generated = env.tmp.path().join("g");
    assert_eq!(
        env.run(&[
            "sample",
            "--units",
            "30",
            "--months",
            "2",
            "--out",
            generated.to_str().unwrap()
        ])
        .code,
        0
    );
    let cmd = format!(
        "{} --pipeline {} --as-of '2025-03-03 09:00' ingest",
        env!("CARGO_BIN_EXE_fayuan"),
        generated.join("pipeline.toml").display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("FAYUAN_LOG", "error")
        .env_remove("CI")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        shown.contains("收取") && shown.contains("个文件"),
        "{shown}"
    );
}
