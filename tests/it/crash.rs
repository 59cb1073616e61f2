//! Crashes and full disks during an ingest (kill -9 at every stage, a full disk during the commit,
//! a reader that crashes or hangs, a file still being written, a killed batch's leftovers): every
//! county file is recovered later, none lost, none taken twice.

use crate::faults::{AS_OF, SAMPLE_ROWS, csv_row, leftovers};
use crate::support::*;
use fayuan::store::Outcome;
use std::io::Write;
use std::path::PathBuf;

/// A file still being written (appended every 300 ms for 3 s) is left in the inbox with a word,
/// and taken whole once it stops changing; the archive holds exactly the final bytes.
#[test]
fn a_file_still_being_written_waits_until_it_is_whole() {
    let env = Env::new();
    let full = {
        let mut t = String::from_utf8(csv_row(&[])).unwrap();
        for (m, n) in [("2025-05", "37"), ("2025-04", "36"), ("2025-03", "35")] {
            let mut row = t.lines().nth(1).unwrap().replacen("2025-06", m, 1);
            row = row.replacen(
                ",38,11,",
                &format!(",{n},{},", n.parse::<i32>().unwrap() - 27),
                1,
            );
            t.push_str(&row);
            t.push('\n');
        }
        t.into_bytes()
    };
    let path = env.fresh_in("市本级_2025_续传.csv", &full[..100]);
    let writer = {
        let full = full.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::options().append(true).open(&path).unwrap();
            let rest = &full[100..];
            let step = rest.len().div_ceil(10);
            for chunk in rest.chunks(step) {
                std::thread::sleep(std::time::Duration::from_millis(300));
                f.write_all(chunk).unwrap();
                f.flush().unwrap();
            }
        })
    };
    let r = env.run(&["--as-of", AS_OF, "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("仍在写入"), "{}", r.stdout);
    assert!(
        env.store().files().unwrap().is_empty(),
        "nothing half-written taken"
    );
    writer.join().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2_200));
    let r = env.run(&["--as-of", AS_OF, "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let files = env.store().files().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].rows_accepted, 4);
    assert_eq!(
        std::fs::read(env.data().join(&files[0].stored_as)).unwrap(),
        full
    );
}

/// `kill -9` at each stage of ingest (and of the report), then a later ingest — in another
/// month, with a new file waiting — recovers: everything taken once, nothing lost, no
/// leftovers, and the report is built.
#[test]
fn a_kill_at_any_stage_recovers_later_with_new_files() {
    let bad = csv_row(&[("其中：刑事", "12")]); // breakdown off by one: rejected
    let newer = csv_row(&[("填报人", "李四")]); // same figures, a new version
    for stage in [
        "read",
        "kept",
        "reports",
        "store",
        "committed",
        "removing",
        "report",
    ] {
        let env = Env::new();
        env.drop_samples_except(&[]);
        env.drop_in("市本级_2025-06_错.csv", &bad);
        let fault = format!("crash@{stage}");
        let args = [
            "--as-of",
            "2025-07-04 09:00",
            "run",
            "--period",
            "2025-06",
            "--no-email",
        ];
        let r = env.run_env(&args, &[("FAYUAN_TEST_FAULT", &fault)]);
        assert_eq!(
            r.code, -1,
            "{stage}: killed by SIGKILL\n{}{}",
            r.stdout, r.stderr
        );

        env.drop_in("市本级_2025-06_更正.csv", &newer);
        let r = env.run(&[
            "--as-of",
            "2025-08-02 10:00",
            "run",
            "--period",
            "2025-06",
            "--no-email",
        ]);
        assert_eq!(r.code, 0, "{stage}\n{}{}", r.stdout, r.stderr);
        assert!(
            env.files_under("inbox").is_empty(),
            "{stage}: {:?}",
            env.files_under("inbox")
        );
        let files = env.store().files().unwrap();
        let taken = |bytes: &[u8]| {
            let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
            files
                .iter()
                .filter(|f| f.sha256 == sha && f.outcome != Outcome::Duplicate)
                .count()
        };
        assert_eq!(taken(&bad), 1, "{stage}: the rejected file recorded once");
        assert_eq!(taken(&newer), 1, "{stage}");
        let rows = env.store().rows().unwrap();
        assert_eq!(
            rows.height(),
            SAMPLE_ROWS + 1,
            "{stage}: each row taken once"
        );
        for f in &files {
            assert!(
                env.data().join(&f.stored_as).exists(),
                "{stage}: {}",
                f.stored_as
            );
        }
        let left = leftovers(&env.data());
        assert!(left.is_empty(), "{stage}: {left:?}");
        assert!(
            !env.data().join("store/.batch-in-progress").exists(),
            "{stage}"
        );
        let out = leftovers(&env.tmp.path().join("output"));
        assert!(out.is_empty(), "{stage}: {out:?}");
        assert!(env.tmp.path().join("output/luan-2025/2025-06").is_dir());
    }
}

/// A disk that fills while a batch holding a rejected file is written: the ingest fails
/// (exit 1, an operator's problem), and once there is room again the next ingest takes
/// everything, once.
#[test]
fn a_full_disk_during_the_commit_recovers_when_there_is_room() {
    let bad = csv_row(&[("其中：刑事", "12")]);
    for stage in ["kept", "reports", "store"] {
        let env = Env::new();
        env.drop_samples_except(&[]);
        env.drop_in("市本级_2025-06_错.csv", &bad);
        let fault = format!("full@{stage}");
        let r = env.run_env(
            &["--as-of", "2025-07-04 09:00", "ingest"],
            &[("FAYUAN_TEST_FAULT", &fault)],
        );
        assert_eq!(r.code, 1, "{stage}\n{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
        assert_eq!(env.files_under("inbox").len(), SAMPLE_ROWS + 1);
        let r = env.run(&["--as-of", "2025-07-05 09:00", "ingest"]);
        assert_eq!(r.code, 3, "{stage}\n{}{}", r.stdout, r.stderr);
        assert!(env.files_under("inbox").is_empty());
        assert_eq!(env.store().rows().unwrap().height(), SAMPLE_ROWS);
        assert!(leftovers(&env.data()).is_empty());
    }
}

/// The same on a real full disk: a 2 MB tmpfs holds the data folder (needs root to mount).
#[test]
fn a_real_full_disk_recovers_when_there_is_room() {
    let env = Env::new();
    let data = env.data();
    std::fs::create_dir_all(&data).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        skipped(
            "a_real_full_disk_recovers_when_there_is_room",
            "root, to mount a 2 MB tmpfs",
            "run the tests as root, as CI does",
        );
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(data.clone());
    env.drop_samples_except(&[]);
    env.drop_in("市本级_2025-06_错.csv", &csv_row(&[("其中：刑事", "12")]));
    // Fill the disk but for 60 KB: the copies of the inbox (about 150 KB) cannot all be kept.
    let filler = data.join("filler");
    let free = {
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&data)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(&filler, vec![0u8; (free - 60_000) as usize]).unwrap();
    let r = env.run(&["--as-of", "2025-07-04 09:00", "ingest"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    assert_eq!(env.files_under("inbox").len(), SAMPLE_ROWS + 1);
    std::fs::remove_file(&filler).unwrap();
    let r = env.run(&["--as-of", "2025-07-05 09:00", "ingest"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(env.files_under("inbox").is_empty());
    assert_eq!(env.store().rows().unwrap().height(), SAMPLE_ROWS);
    assert!(leftovers(&data).is_empty(), "{:?}", leftovers(&data));
}

/// A reader that dies (as on an allocation it cannot have) or never answers takes only its own
/// worker process down: the workbook is rejected with the reason, everything else goes through.
#[test]
fn a_crashing_or_hanging_workbook_reader_rejects_only_its_file() {
    let env = Env::new();
    env.drop_samples_except(&[]);
    let args = ["--as-of", AS_OF, "run", "--period", "2025-06", "--no-email"];
    let r = env.run_env(&args, &[("FAYUAN_TEST_FAULT", "crash@reader")]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let files = env.store().files().unwrap();
    let workbooks: Vec<_> = files
        .iter()
        .filter(|f| f.file_name.ends_with(".xlsx"))
        .collect();
    let shipped = std::fs::read_dir(repo().join("samples/luan-2025"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".xlsx")
        })
        .count();
    assert!(shipped > 0);
    assert_eq!(workbooks.len(), shipped);
    for f in &workbooks {
        assert_eq!(f.outcome, Outcome::Rejected);
        assert!(
            f.problems
                .contains("文件结构异常，读取时超出内存限制或无法解析"),
            "{}",
            f.problems
        );
    }
    let others = files
        .iter()
        .filter(|f| f.outcome == Outcome::Accepted)
        .count();
    assert_eq!(others, SAMPLE_ROWS - shipped);
    assert!(env.files_under("inbox").is_empty());
    assert!(env.tmp.path().join("output/luan-2025/2025-06").is_dir());

    // A reader that hangs is stopped after read_seconds (1 s here) and the grace.
    let text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("read_seconds = 30", "read_seconds = 1");
    let dir = tempfile::tempdir().unwrap();
    calendar_beside(dir.path());
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        text.replace("data_dir = \"../data/luan-2025\"", "data_dir = \"data\""),
    )
    .unwrap();
    let env = Env::with_pipeline(&path);
    let bytes = std::fs::read(repo().join("samples/luan-2025/叶集区_2025-06.xlsx")).unwrap();
    env.drop_in("叶集区_2025-06.xlsx", &bytes);
    let r = env.run_env(
        &["--as-of", AS_OF, "ingest"],
        &[("FAYUAN_TEST_FAULT", "hang@reader")],
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("读取超时：超过 1 秒仍未读完"),
        "{}",
        r.stdout
    );
}

/// The leftovers of a run killed mid-write (a temporary copy) are swept by the next ingest — it
/// knows from the marker the killed batch left; an ingest after a clean one does not walk the
/// archive at all.
#[test]
fn leftovers_of_a_killed_batch_are_swept_by_the_next_ingest() {
    let env = Env::new();
    let month = env.data().join("archive/2025-07");
    std::fs::create_dir_all(&month).unwrap();
    std::fs::create_dir_all(env.data().join("store")).unwrap();
    let torn = month.join(".abc_霍邱县.xlsx.tmp-4242");
    std::fs::write(&torn, b"half").unwrap();
    std::fs::write(env.data().join("store/.batch-in-progress"), b"4242").unwrap();
    env.drop_in("市本级_2025-06.csv", &csv_row(&[]));
    let r = env.run(&["--as-of", "2025-07-06 09:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!torn.exists(), "swept");
    assert!(!env.data().join("store/.batch-in-progress").exists());
    // Without a marker nothing is swept: a file of that shape is left as it is.
    let other = month.join(".def_x.csv.tmp-77");
    std::fs::write(&other, b"x").unwrap();
    env.drop_in("市本级_2025-05.csv", &csv_row(&[("统计月份", "2025-05")]));
    let r = env.run(&["--as-of", "2025-07-06 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(other.exists());
}
