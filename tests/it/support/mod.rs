//! A small builder over a temp folder: write input files, run the real binary, read the store.

pub mod browser;
pub mod daemon;
pub mod frames;
pub mod imap;
pub mod outbox;
pub mod smtp;
pub mod web;

use fayuan::config::Pipeline;
use fayuan::store::Store;
use polars::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A test whose outside program is missing: says so where a person sees it (straight to the
/// process's stderr, past the test harness's capture) and fails under CI, which must have it.
pub fn skipped(test: &str, needs: &str, install: &str) {
    use std::io::Write;
    let line = format!("SKIPPED: {test} needs {needs} (install: {install})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    assert!(
        std::env::var_os("CI").is_none(),
        "{}CI must provide it (.ci/run installs it)",
        line
    );
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies the shipped working calendar into `dir`, beside a pipeline written there (the
/// shipped pipelines name it: `[calendar] file = "calendar.toml"`).
pub fn calendar_beside(dir: &Path) {
    std::fs::copy(
        repo().join("pipelines/calendar.toml"),
        dir.join("calendar.toml"),
    )
    .unwrap();
}

pub fn luan_pipeline_path() -> PathBuf {
    repo().join("pipelines/luan-2025.toml")
}

pub fn luan() -> Pipeline {
    Pipeline::load(&luan_pipeline_path()).expect("the shipped pipeline loads")
}

/// A temp data directory and the binary run against it.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub pipeline: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    pub fn new() -> Env {
        Env::with_pipeline(&luan_pipeline_path())
    }

    pub fn with_pipeline(pipeline: &Path) -> Env {
        Env {
            tmp: tempfile::tempdir().expect("temp dir"),
            pipeline: pipeline.to_path_buf(),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub fn inbox(&self) -> PathBuf {
        self.data().join("inbox")
    }

    /// Puts a file into the inbox, as a county would, a minute ago (so ingest need not wait
    /// for it to settle; `fresh_in` puts one there just now).
    pub fn drop_in(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.fresh_in(name, bytes);
        let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(minute_ago))
            .unwrap();
        p
    }

    /// Puts a file into the inbox just now.
    pub fn fresh_in(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.inbox().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Copies every file of a folder into the inbox (the source is never touched).
    pub fn copy_in(&self, dir: &Path) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                self.drop_in(
                    &p.file_name().unwrap().to_string_lossy(),
                    &std::fs::read(&p).unwrap(),
                );
                n += 1;
            }
        }
        n
    }

    /// Puts every shipped sample into the inbox except the files named.
    pub fn drop_samples_except(&self, skip: &[&str]) {
        for e in std::fs::read_dir(repo().join("samples/luan-2025")).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if !skip.contains(&name.as_str()) {
                self.drop_in(&name, &std::fs::read(&p).unwrap());
            }
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fayuan"));
        cmd.current_dir(self.tmp.path())
            .arg("--pipeline")
            .arg(&self.pipeline)
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("FAYUAN_PIPELINE")
            .env_remove("FAYUAN_DATA_DIR")
            .env_remove("FAYUAN_AS_OF")
            .env("FAYUAN_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        output(cmd.output().expect("the binary runs"))
    }

    pub fn store(&self) -> Store {
        Store::open(&fayuan::layout::DataDir::new(self.data()))
    }

    /// Every file (recursively) under a folder of the data directory, by name.
    pub fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.data().join(sub), &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub fn output(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The latest version of every (unit, month) in the store, as text keyed by field name,
/// one map per row, sorted by unit and month.
pub fn latest_rows(store: &Store) -> Vec<std::collections::BTreeMap<String, String>> {
    let df = store.rows().expect("store reads");
    let df = df
        .filter(df.column("latest").unwrap().bool().unwrap())
        .unwrap();
    frame_as_text(&df)
}

pub fn frame_as_text(df: &DataFrame) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut out = vec![std::collections::BTreeMap::new(); df.height()];
    for col in df.columns() {
        let s = col.as_materialized_series();
        for (k, row) in out.iter_mut().enumerate() {
            let v = s.get(k).unwrap();
            let text = match v {
                AnyValue::Null => String::new(),
                AnyValue::String(s) => s.to_string(),
                AnyValue::StringOwned(s) => s.to_string(),
                other => other.to_string(),
            };
            row.insert(col.name().to_string(), text);
        }
    }
    out
}

/// The SHA-256 of a file, computed here with the sha2 crate directly.
pub fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// HMAC-SHA256 (RFC 2104) of `fayuan-unit:<code>`, the first 16 bytes in hex: the link token as
/// SPEC §10 defines it, computed by the test itself.
pub fn hmac_token(key: &[u8], code: &str) -> String {
    hmac16(key, &format!("fayuan-unit:{code}"))
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key` (at most 64 bytes), the first 16 bytes in hex
/// (link tokens; the forms' anti-forgery tokens under `fayuan-form:<page>`).
pub fn hmac16(key: &[u8], message: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let ih = Sha256::new()
        .chain_update(&inner)
        .chain_update(message)
        .finalize();
    let oh = Sha256::new()
        .chain_update(&outer)
        .chain_update(ih)
        .finalize();
    hex::encode(&oh[..16])
}

#[test]
fn the_tests_own_link_tokens_match_pythons_hmac() {
    // python3 -c "import hmac,hashlib; print(hmac.new(b'server-secret-for-tests-0123456789',
    //   b'fayuan-unit:341522', hashlib.sha256).hexdigest()[:32])"
    assert_eq!(
        hmac_token(b"server-secret-for-tests-0123456789", "341522"),
        "dc1b0d3d905cf6ce00f96adba2a7aa18"
    );
    assert_eq!(
        hmac_token(b"reminder-secret-0123456789", "341525"),
        "4251b8274f95e4eb6a1eb95adfa8b9db"
    );
}

/// What waits in the inbox taken on 4 July and June's report built on the 6th (no email);
/// the run folder.
pub fn june_report(env: &Env) -> PathBuf {
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:00", "ingest"]).code, 0);
    let r = env.run(&[
        "--as-of",
        "2025-07-06 09:00",
        "run",
        "--no-email",
        "--period",
        "2025-06",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    env.tmp.path().join("output/luan-2025/2025-06")
}
