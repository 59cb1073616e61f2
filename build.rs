//! Embeds every `sql/*.sql` file in the binary, in file-name order, so that a new analysis is
//! a new SQL file and nothing else; and the year's review (`sql/review/*.sql`), which runs after
//! them for a December report and `fayuan review`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn embed(out: &mut String, dir: &Path, constant: &str, doc: &str) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the sql folder exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    writeln!(out, "/// {doc}: (file name, text), in file-name order.").expect("write to String");
    writeln!(out, "pub const {constant}: &[(&str, &str)] = &[").expect("write to String");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("a file").to_string_lossy();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .expect("write to String");
    }
    out.push_str("];\n");
}

fn main() {
    let sql =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this")).join("sql");
    let mut out = String::new();
    embed(&mut out, &sql, "SQL_FILES", "Every `sql/*.sql` file");
    embed(
        &mut out,
        &sql.join("review"),
        "REVIEW_SQL_FILES",
        "The year's review, `sql/review/*.sql`",
    );
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this")).join("sql_files.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
