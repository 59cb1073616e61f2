//! The archive itself: writing entries with their SHA-256, and reading an archive back — each
//! name checked (relative, in the tree, no link, no device), each size bounded, each file's
//! SHA-256 against `SHA256SUMS`, each year's record chain — optionally unpacking it.

use crate::app::Context;
use crate::audit::Verified;
use crate::error::{Error, Result};
use crate::layout::BackupTree;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// `BACKUP.json` is a few hundred bytes.
const MAX_ABOUT: u64 = 64 << 10;
/// `SHA256SUMS`: a line per file (a million files).
const MAX_SUMS: u64 = 128 << 20;
/// A year's record is read whole to check its chain (36,000 lines are about 20 MB).
const MAX_RECORD: u64 = 1 << 30;
/// A name in the archive.
const MAX_NAME: usize = 4096;

/// The archive's first entry: what was backed up, when, by which fayuan.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct About {
    /// The fayuan that made it.
    pub fayuan: String,
    /// The data folder's format (`app::DATA_FORMAT`).
    pub data_format: u32,
    /// When (Beijing time, RFC 3339).
    pub made_at: String,
    /// The pipeline's file name in `pipelines/`.
    pub pipeline: String,
    /// Where the data and the output folders were.
    pub data_dir: String,
    pub output_dir: String,
}

impl About {
    pub(super) fn of(ctx: &Context) -> About {
        About {
            fayuan: env!("CARGO_PKG_VERSION").to_string(),
            data_format: crate::app::DATA_FORMAT,
            made_at: ctx.now().to_rfc3339(),
            pipeline: ctx
                .pipeline
                .file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            data_dir: absolute(ctx.data_dir.root()),
            output_dir: absolute(ctx.output_dir.root()),
        }
    }

    pub(super) fn json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// When the backup was made, in Beijing time.
    pub fn made_at(&self) -> Result<chrono::DateTime<chrono_tz::Tz>> {
        chrono::DateTime::parse_from_rfc3339(&self.made_at)
            .map(|t| t.with_timezone(&crate::period::TZ))
            .map_err(|_| Error::Internal(format!("BACKUP.json made_at {:?}", self.made_at)))
    }
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// What reading an archive found.
#[derive(Debug, Clone)]
pub struct Contents {
    pub about: About,
    /// Files (but `SHA256SUMS` itself) and their bytes.
    pub files: usize,
    pub bytes: u64,
    /// Each year's record and what its check found (every one whole, or the read failed).
    pub records: Vec<(i32, Verified)>,
    /// What was unpacked (files), for the one sync that makes them durable.
    pub written: Vec<PathBuf>,
}

/// A writer or reader that hashes what passes through it.
pub struct Hashing<T> {
    inner: T,
    sha: Sha256,
    count: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Hashing<T> {
        Hashing {
            inner,
            sha: Sha256::new(),
            count: 0,
        }
    }

    /// The inner value and the SHA-256 (hex) of what passed.
    pub fn finish(self) -> (T, String) {
        (self.inner, hex::encode(self.sha.finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

fn header(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h
}

/// Appends bytes made now (`BACKUP.json`, `SHA256SUMS`), dated `mtime`.
pub fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &Path,
    bytes: &[u8],
    mtime: u64,
) -> std::io::Result<()> {
    let mut h = header(tar::EntryType::Regular, bytes.len() as u64, 0o640, mtime);
    tar.append_data(&mut h, name, bytes)
}

fn mode_and_time(meta: Option<&std::fs::Metadata>, default: u32) -> (u32, u64) {
    use std::os::unix::fs::MetadataExt;
    match meta {
        Some(m) => (m.mode() & 0o7777, m.mtime().max(0) as u64),
        None => (default, 0),
    }
}

pub fn append_folder<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &Path,
    path: &Path,
) -> std::io::Result<()> {
    let meta = std::fs::metadata(path).ok();
    let (mode, mtime) = mode_and_time(meta.as_ref(), 0o750);
    let mut h = header(tar::EntryType::Directory, 0, mode, mtime);
    tar.append_data(&mut h, name, std::io::empty())
}

/// Appends a file with its SHA-256 (`None`: it was gone when opened — a temporary name the
/// daemon replaced meanwhile). A file that shrinks while it is copied fails the backup.
pub fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &Path,
    path: &Path,
) -> Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    let (mode, mtime) = mode_and_time(Some(&meta), 0o640);
    let len = meta.len();
    let mut h = header(tar::EntryType::Regular, len, mode, mtime);
    let mut reader = Hashing::new(file.take(len));
    tar.append_data(&mut h, name, &mut reader)
        .map_err(|e| Error::io(path, e))?;
    if reader.count != len {
        return Err(Error::Backup {
            file: path.to_path_buf(),
            problem: format!(
                "复制时文件变短了（应为 {len} 字节，读到 {} 字节）：有人在备份时改动了它；请再备份一次",
                reader.count
            ),
        });
    }
    Ok(Some(reader.finish().1))
}

/// A `SHA256SUMS` line as `sha256sum` writes it (a name with a backslash or a newline escaped,
/// the line then starting with a backslash), so that `sha256sum -c` checks an unpacked copy.
pub fn sum_line(sha: &str, name: &Path) -> String {
    let name = name.to_string_lossy();
    if name.contains('\\') || name.contains('\n') {
        let escaped = name.replace('\\', "\\\\").replace('\n', "\\n");
        format!("\\{sha}  {escaped}\n")
    } else {
        format!("{sha}  {name}\n")
    }
}

/// The lines of `SHA256SUMS`: name → SHA-256.
fn parse_sums(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, line) in text.lines().enumerate() {
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((sha, name)) = line.split_once("  ") else {
            return Err(format!("SHA256SUMS 第 {} 行不是“校验值  文件名”", k + 1));
        };
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "SHA256SUMS 第 {} 行的校验值不是 64 位十六进制",
                k + 1
            ));
        }
        let name = if escaped {
            name.replace("\\n", "\n").replace("\\\\", "\\")
        } else {
            name.to_string()
        };
        out.insert(name, sha.to_ascii_lowercase());
    }
    Ok(out)
}

/// An entry's name, checked: relative, plain components only, in the tree.
fn checked_name(raw: &[u8]) -> std::result::Result<PathBuf, String> {
    use std::os::unix::ffi::OsStrExt;
    let shown = String::from_utf8_lossy(raw);
    if raw.is_empty() || raw.len() > MAX_NAME || raw.contains(&0) {
        return Err(format!("条目名 {shown:?} 不是合法的文件名"));
    }
    let path = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => clean.push(p),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "条目 {shown:?} 指向备份之外（绝对路径或 ..），拒绝恢复"
                ));
            }
        }
    }
    let first = clean
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .unwrap_or_default();
    let single = clean.components().count() == 1;
    let known = BackupTree::PARTS.contains(&first.as_str())
        || (single && (first == BackupTree::ABOUT || first == BackupTree::SUMS));
    if !known {
        return Err(format!("条目 {shown:?} 不属于 fayuan 的备份"));
    }
    Ok(clean)
}

/// The year of a record file in the archive (`data/audit/2025.jsonl`).
fn record_year(name: &Path) -> Option<i32> {
    let audit = Path::new(BackupTree::DATA).join("audit");
    if name.parent() != Some(audit.as_path()) {
        return None;
    }
    crate::audit::year_of_file(&name.file_name()?.to_string_lossy())
}

/// What a pass over the entries gathers.
#[derive(Default)]
struct Pass {
    about: Option<About>,
    sums: Option<BTreeMap<String, String>>,
    seen: BTreeMap<String, String>,
    bytes: u64,
    records: Vec<(i32, Verified)>,
    written: Vec<PathBuf>,
}

/// Reads `file` through, checking everything; with `place`, unpacks it there (files created
/// new, never over another).
pub fn read(file: &Path, place: Option<&Path>) -> Result<Contents> {
    let bad = |problem: String| Error::Backup {
        file: file.to_path_buf(),
        problem,
    };
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    if let Some(place) = place {
        let size = f.metadata().map_err(|e| Error::io(file, e))?.len();
        if let Some(free) = crate::fsutil::free_bytes(place)
            && free < size + (64 << 20)
        {
            return Err(bad(format!(
                "恢复约需 {} MB，{} 只剩 {} MB 可用（not enough free space）",
                size >> 20,
                place.display(),
                free >> 20
            )));
        }
    }
    let mut ar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, f));
    let mut pass = Pass::default();
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("不是可读的 tar 归档（{e}）")))?;
    for (k, entry) in entries.enumerate() {
        let entry = entry.map_err(|e| {
            bad(format!(
                "第 {} 个条目读不出（{e}）：备份不完整或已损坏",
                k + 1
            ))
        })?;
        one_entry(k, entry, place, &mut pass).map_err(bad)?;
    }
    finish(pass).map_err(bad)
}

fn one_entry<R: Read>(
    k: usize,
    mut entry: tar::Entry<'_, R>,
    place: Option<&Path>,
    pass: &mut Pass,
) -> std::result::Result<(), String> {
    let name = checked_name(&entry.path_bytes())?;
    let shown = name.to_string_lossy().to_string();
    if pass.sums.is_some() {
        return Err(format!("SHA256SUMS 之后还有条目 {shown}：备份被改动过"));
    }
    if k == 0 && shown != BackupTree::ABOUT {
        return Err("第一个条目不是 BACKUP.json：这不是 fayuan 的备份".into());
    }
    let kind = entry.header().entry_type();
    let size = entry.size();
    let (mode, mtime) = (
        entry.header().mode().unwrap_or(0o640),
        entry.header().mtime().unwrap_or(0),
    );
    let io = |e: std::io::Error| format!("{shown}：{e}");
    if kind.is_dir() {
        if let Some(place) = place {
            std::fs::create_dir_all(place.join(&name)).map_err(io)?;
        }
        return Ok(());
    }
    if !kind.is_file() {
        return Err(format!(
            "条目 {shown} 不是普通文件或文件夹（{kind:?}）：备份中不应有链接或设备"
        ));
    }
    if shown == BackupTree::ABOUT || shown == BackupTree::SUMS || record_year(&name).is_some() {
        return small_entry(&name, &shown, entry, (size, mode, mtime), place, pass);
    }
    let mut reader = Hashing::new(&mut entry);
    match place {
        Some(place) => {
            let path = place.join(&name);
            let mut out = create(&path).map_err(io)?;
            std::io::copy(&mut reader, &mut out).map_err(io)?;
            drop(out);
            stamp(&path, mode, mtime).map_err(io)?;
            pass.written.push(path);
        }
        None => {
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(io)?;
        }
    }
    pass.bytes += reader.count;
    pass.seen.insert(shown, reader.finish().1);
    Ok(())
}

/// `BACKUP.json`, `SHA256SUMS` and the years' records: read whole (bounded), checked.
fn small_entry<R: Read>(
    name: &Path,
    shown: &str,
    mut entry: tar::Entry<'_, R>,
    (size, mode, mtime): (u64, u32, u64),
    place: Option<&Path>,
    pass: &mut Pass,
) -> std::result::Result<(), String> {
    let limit = match shown {
        BackupTree::ABOUT => MAX_ABOUT,
        BackupTree::SUMS => MAX_SUMS,
        _ => MAX_RECORD,
    };
    if size > limit {
        return Err(format!("{shown} 有 {size} 字节，超过上限 {limit}"));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    (&mut entry)
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}：{e}"))?;
    if shown == BackupTree::SUMS {
        let text =
            String::from_utf8(bytes.clone()).map_err(|_| "SHA256SUMS 不是文本".to_string())?;
        pass.sums = Some(parse_sums(&text)?);
    } else {
        if shown == BackupTree::ABOUT {
            let about: About = serde_json::from_slice(&bytes)
                .map_err(|e| format!("BACKUP.json 读不出（{e}）：这不是 fayuan 的备份"))?;
            if about.data_format > crate::app::DATA_FORMAT {
                return Err(format!(
                    "备份由 fayuan {} 制作，数据为第 {} 版格式，本程序（fayuan {}）只认识到第 {} 版：请用更新的 fayuan 恢复",
                    about.fayuan,
                    about.data_format,
                    env!("CARGO_PKG_VERSION"),
                    crate::app::DATA_FORMAT
                ));
            }
            pass.about = Some(about);
        }
        if let Some(year) = record_year(name) {
            pass.records
                .push((year, crate::audit::verify_lines(&bytes)));
        }
        pass.bytes += bytes.len() as u64;
        pass.seen
            .insert(shown.to_string(), crate::fsutil::sha256_hex(&bytes));
    }
    if let Some(place) = place {
        let path = place.join(name);
        let io = |e: std::io::Error| format!("{shown}：{e}");
        create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(io)?;
        stamp(&path, mode, mtime).map_err(io)?;
        pass.written.push(path);
    }
    Ok(())
}

/// A new file (its folder made if the archive did not list it first); never over another.
fn create(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The file's time and mode as archived (the owner may always read and write it; no other
/// bit than read and execute for the group, none for others, nothing set-id).
fn stamp(path: &Path, mode: u32, mtime: u64) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let f = std::fs::File::options().write(true).open(path)?;
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))?;
    f.set_permissions(std::fs::Permissions::from_mode((mode & 0o750) | 0o600))
}

/// Every file against `SHA256SUMS`, every record whole.
fn finish(pass: Pass) -> std::result::Result<Contents, String> {
    let Some(about) = pass.about else {
        return Err("没有 BACKUP.json：这不是 fayuan 的备份".into());
    };
    let Some(sums) = pass.sums else {
        return Err("没有 SHA256SUMS：备份不完整（写入时被中断，或被截短）".into());
    };
    let mut problems = Vec::new();
    for (name, sha) in &sums {
        match pass.seen.get(name) {
            None => problems.push(format!("缺少 {name}")),
            Some(s) if s != sha => problems.push(format!(
                "{name} 的 SHA-256 与 SHA256SUMS 不符（文件已损坏）"
            )),
            Some(_) => {}
        }
    }
    for name in pass.seen.keys().filter(|n| !sums.contains_key(*n)) {
        problems.push(format!("{name} 不在 SHA256SUMS 中"));
    }
    for (year, v) in &pass.records {
        if !v.is_whole() {
            problems.push(crate::audit::verdict(*year, v).trim_end().to_string());
        }
    }
    if !problems.is_empty() {
        let more = problems.len().saturating_sub(10);
        problems.truncate(10);
        let mut text = problems.join("；");
        if more > 0 {
            text.push_str(&format!("；另有 {more} 处"));
        }
        return Err(text);
    }
    let mut records = pass.records;
    records.sort_by_key(|(y, _)| *y);
    Ok(Contents {
        about,
        files: pass.seen.len(),
        bytes: pass.bytes,
        records,
        written: pass.written,
    })
}
