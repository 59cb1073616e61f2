//! The store: every accepted row and every file taken in, kept under `<data-dir>/store/`.
//!
//! Layout: one folder per ingest batch, `store/batches/b000001/`, holding `files.parquet` (one
//! entry per file seen: accepted, rejected or duplicate), `rows.parquet` (the accepted rows) and
//! `batch.json` (the schema version it was written with; batches written before versions
//! existed have none and are version 1).
//!
//! Columns are read **by name** and conformed to today's schema: a column a batch lacks (a
//! field added since) reads as null, a column no longer known is dropped, types are cast. So a
//! new submission field never makes an existing store unreadable.
//! A batch folder is written under a temporary name, synced, then renamed into place, so a
//! batch is either wholly in the store or not at all. Nothing is ever rewritten: a later
//! submission for the same unit and month is a new row, and versions are numbered when the
//! store is read (in arrival order: batch, then file, then row).
//!
//! Invariant: only this module knows the on-disk layout of the store; the rest of the program
//! sees DataFrames and [`FileEntry`] values.

use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::{Moment, Period};
use crate::schema::{FIELDS, Kind};
use crate::schema::{Row, Value};
use polars::prelude::*;
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// What became of a file that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every row taken.
    Accepted,
    /// Some rows taken, the others rejected (only with `reject_whole_file_on_error = false`).
    Partial,
    /// Nothing taken; the file is in quarantine with an error report beside it.
    Rejected,
    /// The same bytes were taken before; ignored.
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Partial => "partial",
            Outcome::Rejected => "rejected",
            Outcome::Duplicate => "duplicate",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Outcome::Accepted => "已接收",
            Outcome::Partial => "部分接收",
            Outcome::Rejected => "已拒收",
            Outcome::Duplicate => "重复文件，已忽略",
        }
    }

    /// Whether rows of the file were taken (so the same bytes again are a duplicate).
    pub fn taken(self) -> bool {
        matches!(self, Outcome::Accepted | Outcome::Partial)
    }

    fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Accepted,
            Outcome::Partial,
            Outcome::Rejected,
            Outcome::Duplicate,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One file that arrived, as recorded in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    pub batch: i64,
    /// Order within the batch (arrival order).
    pub seq: i64,
    pub sha256: String,
    /// The name the county gave the file.
    pub file_name: String,
    pub size: i64,
    /// When it arrived (kept as RFC 3339, Beijing time).
    pub arrived_at: Moment,
    pub outcome: Outcome,
    /// Where the bytes are kept, relative to the data directory (archive/… or quarantine/…).
    pub stored_as: String,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    /// Every problem found, one per line, in Chinese.
    pub problems: String,
    /// The known units the file's rows name (also for a rejected file; kept comma-separated).
    pub unit_codes: Vec<crate::unit_code::UnitCode>,
    /// The door that noted its arrival (`Door::Backfill`: 补录, typed in by the data staff with
    /// the time the county sent it); `None`: the inbox folder or the command line, and batches
    /// written before it was recorded. The files table keeps its code (`Door::code`).
    pub door: Option<crate::door::Door>,
    /// The months the file's rows name (also for a rejected file; kept comma-separated). Empty
    /// in batches written before it was recorded.
    pub periods: Vec<Period>,
}

impl FileEntry {
    /// Whether the file's rows name this unit.
    pub fn names_unit(&self, code: &str) -> bool {
        self.unit_codes.iter().any(|c| *c == *code)
    }

    /// Whether the file's rows name this month.
    pub fn names_period(&self, p: Period) -> bool {
        self.periods.contains(&p)
    }

    /// The units, comma-separated, as the store keeps them.
    pub fn unit_codes_text(&self) -> String {
        let codes: Vec<&str> = self.unit_codes.iter().map(|c| c.as_str()).collect();
        codes.join(",")
    }

    /// The months, comma-separated, as the store keeps them.
    pub fn periods_text(&self) -> String {
        self.periods
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Column names of the rows table besides the submission fields.
pub mod meta {
    pub const BATCH: &str = "batch";
    pub const FILE_SEQ: &str = "file_seq";
    pub const SOURCE_ROW: &str = "source_row";
    pub const SHEET: &str = "sheet";
    pub const SOURCE_FILE: &str = "source_file";
    pub const SHA256: &str = "sha256";
    pub const STORED_AS: &str = "stored_as";
    pub const ARRIVED_AT: &str = "arrived_at";
    /// Added when the store is read: 1 for the first submission of a (unit, month), 2 for
    /// the next, …
    pub const VERSION: &str = "version";
    /// Added when the store is read: the row is the latest version of its (unit, month).
    pub const LATEST: &str = "latest";
}

pub struct Store {
    root: PathBuf,
    data_dir: DataDir,
}

const ROWS: &str = "rows.parquet";
const FILES: &str = "files.parquet";
const BATCH_META: &str = "batch.json";
/// The SHA index: 32 bytes of SHA-256, then batch and seq as little-endian i64, per file
/// accepted (wholly or in part). Named anew when rejected files left it ("seen before" means
/// accepted before): the index of earlier versions, `sha.idx`, is removed and rebuilt.
const SHA_INDEX: &str = "accepted.idx";
const OLD_SHA_INDEX: &str = "sha.idx";
const INDEX_RECORD: usize = 48;

/// The version of the batch layout this program writes. 1: no `batch.json` (before versions);
/// 2: `batch.json`, columns read by name; 3: the fields `note` (说明) and `narrative` (执行情况),
/// null in older batches.
pub const SCHEMA_VERSION: u32 = 3;

/// The columns of a table and their types: what a batch is conformed to when read.
pub type Schema = Vec<(PlSmallStr, DataType)>;

/// The rows table's columns today: every submission field (counts Int64, money Float64 in 元,
/// the rest text), then where each row came from.
pub fn rows_schema() -> Schema {
    let mut schema: Schema = FIELDS
        .iter()
        .map(|f| {
            let dtype = match f.kind {
                Kind::Count => DataType::Int64,
                Kind::Money => DataType::Float64,
                Kind::Code | Kind::Text | Kind::LongText | Kind::Period | Kind::Date => {
                    DataType::String
                }
            };
            (f.key.into(), dtype)
        })
        .collect();
    for (name, dtype) in [
        (meta::BATCH, DataType::Int64),
        (meta::FILE_SEQ, DataType::Int64),
        (meta::SOURCE_ROW, DataType::Int64),
        (meta::SHEET, DataType::String),
        (meta::SOURCE_FILE, DataType::String),
        (meta::SHA256, DataType::String),
        (meta::STORED_AS, DataType::String),
        (meta::ARRIVED_AT, DataType::String),
    ] {
        schema.push((name.into(), dtype));
    }
    schema
}

/// A batch's table as today's schema: by name, missing columns null, unknown ones dropped.
fn conform(df: &DataFrame, schema: &Schema) -> PolarsResult<DataFrame> {
    let height = df.height();
    let columns = schema
        .iter()
        .map(|(name, dtype)| match df.column(name) {
            Ok(c) if c.dtype() == dtype => Ok(c.clone()),
            Ok(c) => c.cast(dtype),
            Err(_) => Ok(Column::full_null(name.clone(), height, dtype)),
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new(height, columns)
}

impl Store {
    pub fn open(data_dir: &DataDir) -> Store {
        Store {
            root: data_dir.store(),
            data_dir: data_dir.clone(),
        }
    }

    /// The data folder the store is in (the supervision ledgers beside it decide which
    /// versions are in use).
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    fn batches_dir(&self) -> PathBuf {
        self.root.join("batches")
    }

    /// The committed batches, oldest first.
    fn batches(&self) -> Result<Vec<(i64, PathBuf)>> {
        let dir = self.batches_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|e| Error::io(&dir, e))?;
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(n) = name.strip_prefix('b').and_then(|n| n.parse::<i64>().ok()) {
                out.push((n, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The store's generation: the number of its newest batch (0 when empty). Every commit
    /// raises it, so what is computed from the store can be kept until it changes.
    pub fn generation(&self) -> Result<i64> {
        Ok(self.batches()?.last().map_or(0, |(n, _)| *n))
    }

    pub fn next_batch(&self) -> Result<i64> {
        Ok(self.batches()?.last().map_or(1, |(n, _)| n + 1))
    }

    /// Writes one batch: the files seen and the rows accepted. All or nothing.
    pub fn commit(&self, batch: i64, files: &[FileEntry], rows: &[(usize, &Row)]) -> Result<()> {
        let final_dir = self.batches_dir().join(format!("b{batch:06}"));
        let tmp = self
            .root
            .join(format!(".tmp-b{batch:06}-{}", std::process::id()));
        crate::fsutil::make_dirs(&self.batches_dir())?;
        self.sweep()?;
        fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut files_df = files_frame(files).map_err(|e| Error::store(&tmp, e))?;
        write_parquet(&tmp.join(FILES), &mut files_df)?;
        let mut rows_df = rows_frame(files, rows).map_err(|e| Error::store(&tmp, e))?;
        write_parquet(&tmp.join(ROWS), &mut rows_df)?;
        let meta = format!("{{\"schema_version\": {SCHEMA_VERSION}}}\n");
        // Synced like the tables: the batch is renamed into place only over bytes on the disk.
        let meta_path = tmp.join(BATCH_META);
        let f = File::create(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
        std::io::Write::write_all(&mut &f, meta.as_bytes())
            .map_err(|e| Error::io(&meta_path, e))?;
        f.sync_all().map_err(|e| Error::sync(&meta_path, e))?;
        crate::fsutil::sync_dir(&tmp)?;
        crate::faults::point("store", &tmp)?;
        if final_dir.exists() {
            return Err(Error::store(
                &final_dir,
                "this batch already exists: another fayuan process wrote the store at the same time; run again",
            ));
        }
        fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
        crate::fsutil::sync_dir(&self.batches_dir())?;
        crate::faults::point("unindexed", &final_dir)?;
        // After the batch is in place: the index may lag behind the batches, never lead them.
        let taken: Vec<(i64, i64, String)> = files
            .iter()
            .filter(|f| f.outcome.taken())
            .map(|f| (batch, f.seq, f.sha256.clone()))
            .collect();
        self.append_index(&taken);
        Ok(())
    }

    /// Removes the unfinished batch folders (`.tmp-b…`) of a process killed before it committed:
    /// what they held is still in the inbox and is taken again. Called with the write lock held.
    fn sweep(&self) -> Result<()> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".tmp-b") {
                fs::remove_dir_all(e.path()).map_err(|err| Error::io(&e.path(), err))?;
                tracing::info!(folder = %name, "removed an unfinished batch of a killed run");
            }
        }
        Ok(())
    }

    /// Every file ever seen, in arrival order.
    pub fn files(&self) -> Result<Vec<FileEntry>> {
        let mut out = Vec::new();
        for (_, dir) in self.batches()? {
            let path = dir.join(FILES);
            let df = read_parquet(&path)?;
            out.extend(entries_of(&df).map_err(|e| Error::store(&path, e))?);
        }
        Ok(out)
    }

    /// The SHA-256 of every file taken in (accepted or partly accepted; not rejected, not
    /// duplicates), with where it is recorded (batch, seq): what ingest needs to recognise a file
    /// sent again.
    /// Read from the store's SHA index (`store/sha.idx`), which is brought up to date from the
    /// batches first if a commit was interrupted before it was appended to; so its cost is
    /// one small file, not every batch.
    pub fn known(&self) -> Result<Known> {
        let _ = fs::remove_file(self.root.join(OLD_SHA_INDEX));
        let index = self.root.join(SHA_INDEX);
        let mut bytes = match fs::read(&index) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(&index, e)),
        };
        let batches = self.batches()?;
        let newest = batches.last().map_or(0, |(n, _)| *n);
        // A crash may have torn the last record: cut it off, so that appends stay aligned.
        let whole = bytes.len() - bytes.len() % INDEX_RECORD;
        if whole < bytes.len() {
            bytes.truncate(whole);
            truncate(&index, whole as u64)?;
        }
        let mut out = HashMap::new();
        let mut last = 0;
        for rec in bytes.chunks_exact(INDEX_RECORD) {
            let batch = i64::from_le_bytes(rec[32..40].try_into().unwrap_or_default());
            let seq = i64::from_le_bytes(rec[40..48].try_into().unwrap_or_default());
            if !(1..=newest).contains(&batch) {
                // Not an index of these batches (damaged, or copied from elsewhere): rebuild.
                tracing::warn!(index = %index.display(), "SHA index does not match the batches; rebuilding it");
                truncate(&index, 0)?;
                out.clear();
                last = 0;
                break;
            }
            let mut key = [0u8; 32];
            key.copy_from_slice(&rec[..32]);
            out.insert(key, (batch, seq));
            last = last.max(batch);
        }
        // Batches committed after the index was last appended to (and the last indexed one, in
        // case it was appended only in part) are read and appended now.
        let mut append = Vec::new();
        for (n, dir) in batches.into_iter().filter(|(n, _)| *n >= last) {
            for (seq, sha) in taken_in(&dir.join(FILES))? {
                let Some(key) = sha_key(&sha) else { continue };
                if out.insert(key, (n, seq)).is_none() {
                    append.push((n, seq, sha));
                }
            }
        }
        if !append.is_empty() {
            self.append_index(&append);
        }
        Ok(out)
    }

    /// Appends (batch, seq, SHA-256) records to the SHA index. The index is derived data: a
    /// failure here is logged and mended by the next [`Store::known`], never an error.
    fn append_index(&self, records: &[(i64, i64, String)]) {
        use std::io::Write;
        let path = self.root.join(SHA_INDEX);
        let mut buf = Vec::with_capacity(records.len() * INDEX_RECORD);
        for (batch, seq, sha) in records {
            let Ok(raw) = hex::decode(sha) else { continue };
            if raw.len() != 32 {
                continue;
            }
            buf.extend_from_slice(&raw);
            buf.extend_from_slice(&batch.to_le_bytes());
            buf.extend_from_slice(&seq.to_le_bytes());
        }
        let written = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&buf).and_then(|()| f.sync_data()));
        if let Err(e) = written {
            tracing::warn!(index = %path.display(), error = %e, "SHA index not appended; it is rebuilt from the batches");
        }
    }

    /// The files one batch recorded.
    pub fn batch_files(&self, batch: i64) -> Result<Vec<FileEntry>> {
        let path = self.batches_dir().join(format!("b{batch:06}")).join(FILES);
        let df = read_parquet(&path)?;
        entries_of(&df).map_err(|e| Error::store(&path, e))
    }

    /// Every accepted row of every version, sorted by unit, month and arrival, with the
    /// `version` and `latest` columns.
    pub fn rows(&self) -> Result<DataFrame> {
        self.rows_as(&rows_schema())
    }

    /// [`Store::rows`] conformed to a given schema (today's, or — in tests — tomorrow's).
    pub fn rows_as(&self, schema: &Schema) -> Result<DataFrame> {
        let empty = DataFrame::new(
            0,
            schema
                .iter()
                .map(|(n, t)| Column::full_null(n.clone(), 0, t))
                .collect(),
        )
        .map_err(|e| Error::store(&self.root, e))?;
        let mut all = empty;
        for (_, dir) in self.batches()? {
            let path = dir.join(ROWS);
            let df = conform(&read_parquet(&path)?, schema).map_err(|e| Error::store(&path, e))?;
            all.vstack_mut(&df).map_err(|e| Error::store(&path, e))?;
        }
        number_versions(all).map_err(|e| Error::store(&self.root, e))
    }

    /// The stored rows with `rows` in hand added (from `files`, which say when they arrived),
    /// versions numbered anew: what the store would hold if they were taken now — a page's
    /// preview of a submission's soft checks, before anything is kept.
    pub fn rows_with(&self, files: &[FileEntry], rows: &[(usize, &Row)]) -> Result<DataFrame> {
        let schema = rows_schema();
        let err = |e| Error::store(&self.root, e);
        let mut stored = self
            .rows()?
            .drop(meta::VERSION)
            .and_then(|d| d.drop(meta::LATEST))
            .map_err(err)?;
        let new = rows_frame(files, rows)
            .and_then(|d| conform(&d, &schema))
            .map_err(err)?;
        stored.vstack_mut(&new).map_err(err)?;
        number_versions(stored).map_err(err)
    }

    /// The schema version each batch was written with, oldest batch first.
    pub fn schema_versions(&self) -> Result<Vec<(i64, u32)>> {
        self.batches()?
            .into_iter()
            .map(|(n, dir)| {
                let path = dir.join(BATCH_META);
                let version = match std::fs::read_to_string(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
                    Err(e) => return Err(Error::io(&path, e)),
                    Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v["schema_version"].as_u64())
                        .ok_or_else(|| Error::store(&path, "no schema_version"))?
                        as u32,
                };
                Ok((n, version))
            })
            .collect()
    }
}

/// SHA-256 digests (raw bytes) → where the file is recorded: (batch, seq).
pub type Known = HashMap<[u8; 32], (i64, i64)>;

/// A SHA-256 in hex as the raw key of [`Known`].
pub fn sha_key(hex_sha: &str) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_sha, &mut key).ok()?;
    Some(key)
}

/// Cuts a file to `len` bytes (an index's torn tail).
fn truncate(path: &Path, len: u64) -> Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .map_err(|e| Error::io(path, e))
}

/// (seq, SHA-256) of the files a batch took in (accepted wholly or in part), reading only those
/// columns.
fn taken_in(path: &Path) -> Result<Vec<(i64, String)>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file)
        .with_columns(Some(vec!["seq".into(), "sha256".into(), "outcome".into()]))
        .finish()
        .map_err(|e| Error::store(path, e))?;
    let err = |e: PolarsError| Error::store(path, e);
    let seq = df
        .column("seq")
        .and_then(|c| c.i64().cloned())
        .map_err(err)?;
    let sha = df
        .column("sha256")
        .and_then(|c| c.str().cloned())
        .map_err(err)?;
    let outcome = df
        .column("outcome")
        .and_then(|c| c.str().cloned())
        .map_err(err)?;
    Ok((0..df.height())
        .filter(|&k| {
            outcome
                .get(k)
                .and_then(Outcome::parse)
                .is_some_and(Outcome::taken)
        })
        .filter_map(|k| Some((seq.get(k)?, sha.get(k)?.to_string())))
        .collect())
}

fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    // Buffered: the writer's many small writes (thousands for one batch) become a few.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, &file);
    ParquetWriter::new(&mut out)
        .finish(df)
        .map_err(|e| Error::store(path, e))?;
    std::io::Write::flush(&mut out).map_err(|e| Error::io(path, e))?;
    drop(out);
    file.sync_all().map_err(|e| Error::sync(path, e))
}

fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::store(path, e))
}

fn files_frame(files: &[FileEntry]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&FileEntry) -> &str| files.iter().map(f).collect::<Vec<_>>();
    let owned = |f: fn(&FileEntry) -> String| files.iter().map(f).collect::<Vec<_>>();
    let i = |f: fn(&FileEntry) -> i64| files.iter().map(f).collect::<Vec<_>>();
    df!(
        "batch" => i(|f| f.batch),
        "seq" => i(|f| f.seq),
        "sha256" => s(|f| &f.sha256),
        "file_name" => s(|f| &f.file_name),
        "size" => i(|f| f.size),
        "arrived_at" => owned(|f| f.arrived_at.to_string()),
        "outcome" => s(|f| f.outcome.as_str()),
        "stored_as" => s(|f| &f.stored_as),
        "rows_accepted" => i(|f| f.rows_accepted),
        "rows_rejected" => i(|f| f.rows_rejected),
        "problems" => s(|f| &f.problems),
        "unit_codes" => owned(FileEntry::unit_codes_text),
        "door" => s(|f| f.door.map_or("", crate::door::Door::code)),
        "periods" => owned(FileEntry::periods_text),
    )
}

/// The files table's columns today.
fn files_schema() -> Schema {
    let text = [
        "sha256",
        "file_name",
        "arrived_at",
        "outcome",
        "stored_as",
        "problems",
        "unit_codes",
        "door",
        "periods",
    ];
    let ints = ["batch", "seq", "size", "rows_accepted", "rows_rejected"];
    ints.iter()
        .map(|n| (PlSmallStr::from(*n), DataType::Int64))
        .chain(
            text.iter()
                .map(|n| (PlSmallStr::from(*n), DataType::String)),
        )
        .collect()
}

fn entries_of(df: &DataFrame) -> PolarsResult<Vec<FileEntry>> {
    // By name, conformed: a column added since the batch was written reads as empty.
    let df = &conform(df, &files_schema())?;
    let s = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let i = |name: &str| -> PolarsResult<Vec<i64>> {
        Ok(df
            .column(name)?
            .i64()?
            .iter()
            .map(|v| v.unwrap_or_default())
            .collect())
    };
    let (batch, seq, size, ra, rr) = (
        i("batch")?,
        i("seq")?,
        i("size")?,
        i("rows_accepted")?,
        i("rows_rejected")?,
    );
    let (sha, name, at, outcome, stored, problems, codes) = (
        s("sha256")?,
        s("file_name")?,
        s("arrived_at")?,
        s("outcome")?,
        s("stored_as")?,
        s("problems")?,
        s("unit_codes")?,
    );
    let (door, periods) = (s("door")?, s("periods")?);
    (0..df.height())
        .map(|k| {
            Ok(FileEntry {
                batch: batch[k],
                seq: seq[k],
                sha256: sha[k].clone(),
                file_name: name[k].clone(),
                size: size[k],
                arrived_at: crate::period::parse_instant(&at[k])
                    .map(Moment)
                    .ok_or_else(|| polars_err!(ComputeError: "arrived_at {:?}", at[k]))?,
                outcome: Outcome::parse(&outcome[k])
                    .ok_or_else(|| polars_err!(ComputeError: "unknown outcome {:?}", outcome[k]))?,
                stored_as: stored[k].clone(),
                rows_accepted: ra[k],
                rows_rejected: rr[k],
                problems: problems[k].clone(),
                unit_codes: codes[k]
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        crate::unit_code::UnitCode::parse(c)
                            .ok_or_else(|| polars_err!(ComputeError: "unit code {c:?}"))
                    })
                    .collect::<PolarsResult<_>>()?,
                door: match door[k].as_str() {
                    "" => None,
                    code => {
                        Some(crate::door::Door::parse(code).ok_or_else(
                            || polars_err!(ComputeError: "unknown door {:?}", door[k]),
                        )?)
                    }
                },
                periods: periods[k].split(',').filter_map(Period::parse).collect(),
            })
        })
        .collect()
}

/// The rows table for rows not (yet) in a store, with versions numbered as the store numbers
/// them: `rows` pairs an index into `files` (the file a row came from) with the row. Used for
/// analyses of data in hand and by the tests.
pub fn table_of(files: &[FileEntry], rows: &[(usize, &Row)]) -> PolarsResult<DataFrame> {
    number_versions(rows_frame(files, rows)?)
}

/// The rows table: one column per submission field (counts Int64, money Float64 in 元,
/// text, months `YYYY-MM` and dates `YYYY-MM-DD` as strings), then where each row came from.
fn rows_frame(files: &[FileEntry], rows: &[(usize, &Row)]) -> PolarsResult<DataFrame> {
    let mut columns: Vec<Column> = Vec::with_capacity(FIELDS.len() + 8);
    for (f, field) in FIELDS.iter().enumerate() {
        let name: PlSmallStr = field.key.into();
        let col = match field.kind {
            Kind::Count => Column::new(
                name,
                rows.iter()
                    .map(|(_, r)| match r.values[f] {
                        Value::Count(n) => Some(n),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Kind::Money => Column::new(
                name,
                rows.iter()
                    .map(|(_, r)| match r.values[f] {
                        Value::Fen(n) => Some(n as f64 / 100.0),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Kind::Code | Kind::Text | Kind::LongText | Kind::Period | Kind::Date => Column::new(
                name,
                rows.iter()
                    .map(|(_, r)| match &r.values[f] {
                        Value::Text(s) => Some(s.clone()),
                        Value::Period(p) => Some(p.to_string()),
                        Value::Date(d) => Some(d.to_string()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
        };
        columns.push(col);
    }
    let text = |get: fn(&FileEntry) -> &str| {
        rows.iter()
            .map(|(i, _)| files.get(*i).map(get).unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let num = |get: fn(&FileEntry) -> i64| {
        rows.iter()
            .map(|(i, _)| files.get(*i).map_or(0, get))
            .collect::<Vec<_>>()
    };
    columns.push(Column::new(meta::BATCH.into(), num(|f| f.batch)));
    columns.push(Column::new(meta::FILE_SEQ.into(), num(|f| f.seq)));
    columns.push(Column::new(
        meta::SOURCE_ROW.into(),
        rows.iter()
            .map(|(_, r)| i64::from(r.source_row))
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        meta::SHEET.into(),
        rows.iter()
            .map(|(_, r)| r.sheet.clone())
            .collect::<Vec<Option<String>>>(),
    ));
    columns.push(Column::new(
        meta::SOURCE_FILE.into(),
        text(|f| &f.file_name),
    ));
    columns.push(Column::new(meta::SHA256.into(), text(|f| &f.sha256)));
    columns.push(Column::new(meta::STORED_AS.into(), text(|f| &f.stored_as)));
    columns.push(Column::new(
        meta::ARRIVED_AT.into(),
        rows.iter()
            .map(|(i, _)| {
                files
                    .get(*i)
                    .map(|f| f.arrived_at.to_string())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>(),
    ));
    DataFrame::new(rows.len(), columns)
}

/// Sorts by unit, month and arrival and numbers the versions of each (unit, month). A later
/// *arrival* is a later version, whatever the order of ingest (a backfill ingested with an
/// earlier `--as-of` does not override what arrived after it); within one arrival time, the
/// batch, the file and the row decide.
fn number_versions(df: DataFrame) -> PolarsResult<DataFrame> {
    let mut df = df.sort(
        [
            "unit_code",
            "period",
            meta::ARRIVED_AT,
            meta::BATCH,
            meta::FILE_SEQ,
            meta::SOURCE_ROW,
        ],
        SortMultipleOptions::default(),
    )?;
    let units: Vec<Option<&str>> = df.column("unit_code")?.str()?.iter().collect();
    let periods: Vec<Option<&str>> = df.column("period")?.str()?.iter().collect();
    let n = units.len();
    let mut version = vec![1i64; n];
    let mut latest = vec![true; n];
    for k in 1..n {
        if units[k] == units[k - 1] && periods[k] == periods[k - 1] {
            version[k] = version[k - 1] + 1;
            latest[k - 1] = false;
        }
    }
    df.with_column(Column::new(meta::VERSION.into(), version))?;
    df.with_column(Column::new(meta::LATEST.into(), latest))?;
    Ok(df)
}
