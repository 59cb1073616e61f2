//! The store across versions: a store written by an earlier fayuan (tests/data/store-v0, made
//! by commit a11b811 before batches had a schema version) still reads — also once a field is
//! added — and new batches stack onto it.

use crate::support::*;
use fayuan::store::Outcome;
use polars::prelude::*;
use std::path::Path;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The v0 store in a fresh data directory.
fn v0() -> Env {
    let env = Env::new();
    copy_tree(
        &repo().join("tests/data/store-v0/store"),
        &env.data().join("store"),
    );
    env
}

/// The sample generator's figure for a unit and month (the samples' ground truth).
fn planned(unit: &str, period: &str, key: &str) -> String {
    crate::report_rows(2)
        .into_iter()
        .find(|r| r["unit_code"] == unit && r["period"] == period)
        .unwrap()[key]
        .clone()
}

#[test]
fn a_store_from_before_schema_versions_still_reads() {
    let env = v0();
    let store = env.store();
    assert_eq!(store.schema_versions().unwrap(), vec![(1, 1), (2, 1)]);
    let rows = latest_rows(&store);
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["unit_code"].clone(), r["period"].clone()))
        .collect();
    assert_eq!(
        keys,
        [
            ("341500", "2025-01"),
            ("341502", "2025-01"),
            ("341522", "2025-01"),
            ("341522", "2025-02")
        ]
        .map(|(u, p)| (u.to_string(), p.to_string()))
    );
    for r in &rows {
        for key in ["cases_approved", "cases_closed", "surveyed"] {
            assert_eq!(r[key], planned(&r["unit_code"], &r["period"], key), "{key}");
        }
    }
    let files = store.files().unwrap();
    let count = |o: Outcome| files.iter().filter(|f| f.outcome == o).count();
    assert_eq!(files.len(), 6);
    assert_eq!(
        (
            count(Outcome::Accepted),
            count(Outcome::Rejected),
            count(Outcome::Duplicate)
        ),
        (4, 1, 1)
    );
}

#[test]
fn a_field_added_later_reads_as_null_in_old_batches() {
    let env = v0();
    // Issue 12 added 说明 (`note`) and 执行情况 (`narrative`): the store written before them
    // reads, with both empty.
    let today = env.store().rows().unwrap();
    assert_eq!(today.height(), 4);
    assert_eq!(today.column("note").unwrap().null_count(), 4);
    assert_eq!(today.column("narrative").unwrap().null_count(), 4);
    // Tomorrow's schema: today's plus a text field and a count.
    let mut schema = fayuan::store::rows_schema();
    schema.insert(3, ("reviewer".into(), DataType::String));
    schema.push(("cases_mediated".into(), DataType::Int64));
    let df = env.store().rows_as(&schema).unwrap();
    assert_eq!(df.height(), 4);
    assert_eq!(df.column("reviewer").unwrap().null_count(), 4);
    assert_eq!(df.column("cases_mediated").unwrap().null_count(), 4);
    // The old figures are where they were, by name.
    let approved: Vec<Option<i64>> = df
        .column("cases_approved")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert!(
        approved.iter().all(|v| v.is_some_and(|n| n > 0)),
        "{approved:?}"
    );
    // A batch from before that lacks a column it should have reads too (drop one and stack).
    let path = env.data().join("store/batches/b000002/rows.parquet");
    let old = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    let mut narrower = old.drop("legal_help").unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut narrower)
        .unwrap();
    let df = env.store().rows().unwrap();
    assert_eq!(df.height(), 4);
    assert_eq!(df.column("legal_help").unwrap().null_count(), 1);
}

#[test]
fn new_batches_stack_onto_an_old_store() {
    let env = v0();
    env.drop_in(
        "霍邱县_2025-01_again.xlsx",
        &std::fs::read(repo().join("samples/luan-2025/霍邱县_2025-01.xlsx")).unwrap(),
    );
    env.drop_in(
        "叶集区_2025-01.xlsx",
        &std::fs::read(repo().join("samples/luan-2025/叶集区_2025-01.xlsx")).unwrap(),
    );
    let r = env.run(&["--as-of", "2025-04-02 10:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("重复 1"),
        "the old store's file is recognised: {}",
        r.stdout
    );
    let store = env.store();
    assert_eq!(
        store.schema_versions().unwrap(),
        vec![(1, 1), (2, 1), (3, fayuan::store::SCHEMA_VERSION)]
    );
    assert_eq!(store.rows().unwrap().height(), 5);
    let r = env.run(&[
        "--as-of",
        "2025-04-06 09:00",
        "run",
        "--period",
        "2025-02",
        "--no-email",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// The SHA index (store/accepted.idx) is a cache of the batches: a missing, torn or lagging index
/// is mended from them, and a file sent again is still recognised.
#[test]
fn the_sha_index_is_mended_from_the_batches() {
    let env = v0();
    // The v0 store has no index: the first ingest builds it.
    let again = std::fs::read(repo().join("samples/luan-2025/霍邱县_2025-01.xlsx")).unwrap();
    env.drop_in("again1.xlsx", &again);
    let r = env.run(&["--as-of", "2025-04-02 10:00", "ingest"]);
    assert!(r.stdout.contains("重复 1"), "{}", r.stdout);
    let index = env.data().join("store/accepted.idx");
    // 4 files accepted in the two v0 batches (the README: 3 + 1; the rejected file and the
    // duplicate are not indexed), 48 bytes each.
    assert_eq!(std::fs::metadata(&index).unwrap().len(), 4 * 48);
    // What a whole index holds: after each damage below, an ingest puts back exactly this —
    // rebuilt (or mended), not merely ignored while the batches are scanned instead.
    let whole = std::fs::read(&index).unwrap();
    let rebuilt = |what: &str| {
        assert_eq!(
            std::fs::read(&index).ok().as_deref(),
            Some(whole.as_slice()),
            "the index {what} was not rebuilt to the whole one"
        )
    };
    // Torn: the last record cut in half.
    let bytes = std::fs::read(&index).unwrap();
    std::fs::write(&index, &bytes[..bytes.len() - 20]).unwrap();
    env.drop_in("again2.xlsx", &again);
    let r = env.run(&["--as-of", "2025-04-03 10:00", "ingest"]);
    assert!(r.stdout.contains("重复 1"), "{}", r.stdout);
    assert!(
        r.stdout.contains("2025-02-04"),
        "names the first arrival: {}",
        r.stdout
    );
    assert_eq!(
        std::fs::metadata(&index).unwrap().len() % 48,
        0,
        "appends stay aligned"
    );
    rebuilt("cut in half");
    // Mended once, it serves the next ingest too (every record whole and in range).
    env.drop_in("again2b.xlsx", &again);
    let r = env.run(&["--as-of", "2025-04-03 11:00", "ingest"]);
    assert!(r.stdout.contains("重复 1"), "{}", r.stdout);
    // Garbage: rebuilt from the batches.
    std::fs::write(&index, vec![0xAB; 96]).unwrap();
    env.drop_in("again2c.xlsx", &again);
    let r = env.run(&["--as-of", "2025-04-03 12:00", "ingest"]);
    assert!(r.stdout.contains("重复 1"), "{}", r.stdout);
    rebuilt("of garbage");
    // Gone: rebuilt.
    std::fs::remove_file(&index).unwrap();
    env.drop_in("again3.xlsx", &again);
    let r = env.run(&["--as-of", "2025-04-04 10:00", "ingest"]);
    assert!(r.stdout.contains("重复 1"), "{}", r.stdout);
    rebuilt("removed");
    assert_eq!(
        env.store().rows().unwrap().height(),
        4,
        "nothing taken twice"
    );
}

/// The store's rows read back typed (`Records::stored`, issue 37 §2): each value as the schema's
/// kind says — a count, money in whole 分, a month, a day, text, missing — and each version with
/// its number, whether it is in force, and its file. The figures are the test's own.
#[test]
fn stored_rows_read_back_what_was_taken_in() {
    use fayuan::records::Records;
    use fayuan::schema::Value;
    let env = Env::new();
    let header = "单位代码,单位名称,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,法律帮助人次,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数,填报人,填报日期";
    let first = format!(
        "{header}\n341524,金寨县,2025-06,64,21,43,0,47,,136500.00,41445.12,32327.19,1,1,16,16,王敏,2025-07-02\n"
    );
    env.drop_in("金寨县_2025-06.csv", first.as_bytes());
    let r = env.run(&["--as-of", "2025-07-03 09:00", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The correction: one more civil case, 0.05 元 more spent.
    let second = format!(
        "{header}\n341524,金寨县,2025-06,65,21,44,0,47,3,136500.00,41445.17,32327.19,1,1,16,16,王敏,2025-07-04\n"
    );
    env.drop_in("金寨县_2025-06_更正.csv", second.as_bytes());
    let r = env.run(&["--as-of", "2025-07-04 10:30", "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let records = Records::open(env.store().data_dir()).unwrap();
    let files = records.files();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|f| f.unit_codes.len() == 1 && f.unit_codes[0] == "341524")
    );
    let june = fayuan::period::Period::parse("2025-06").unwrap();
    let stored = records.stored().unwrap();
    assert_eq!(stored.len(), 2);
    let (v1, v2) = (
        records.version("341524", june, 1).unwrap().unwrap(),
        records.version("341524", june, 2).unwrap().unwrap(),
    );
    assert!(!v1.latest && v2.latest);
    assert_eq!(v1.source_file, "金寨县_2025-06.csv");
    assert_eq!(v2.source_file, "金寨县_2025-06_更正.csv");
    assert_eq!(v1.arrived_at.minute(), "2025-07-03 09:00");
    assert_eq!(*v1.value("cases_approved"), Value::Count(64));
    assert_eq!(*v2.value("cases_civil"), Value::Count(44));
    assert_eq!(*v1.value("spend_total"), Value::Fen(4_144_512));
    assert_eq!(*v2.value("spend_total"), Value::Fen(4_144_517));
    assert_eq!(v2.figure("spend_total"), Some(41445.17));
    // An optional count left blank is taken as 0 (SPEC §2); blank text stays missing.
    assert_eq!(*v1.value("legal_help"), Value::Count(0));
    assert_eq!(*v2.value("legal_help"), Value::Count(3));
    assert_eq!(*v1.value("period"), Value::Period(june));
    assert_eq!(*v1.value("reporter"), Value::Text("王敏".into()));
    assert_eq!(
        *v2.value("reported_on"),
        Value::Date(chrono::NaiveDate::from_ymd_opt(2025, 7, 4).unwrap())
    );
    assert_eq!(*v1.value("note"), Value::Missing);
    assert!(records.version("341524", june, 3).unwrap().is_none());
}
