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
            .map_err(|_| Error::Backup {
                file: PathBuf::from(BackupTree::ABOUT),
                problem: format!("备份时间 {:?} 不是 RFC 3339 时间", self.made_at),
            })
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
    archive: &Path,
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
    let problem = |what: String| Error::Backup {
        file: archive.to_path_buf(),
        problem: format!("归档 {} 时{what}", path.display()),
    };
    tar.append_data(&mut h, name, &mut reader)
        .map_err(|e| problem(format!("出错：{e}")))?;
    if reader.count != len {
        return Err(problem(format!(
            "文件变短了（应为 {len} 字节，读到 {} 字节）：有人在备份时改动了它；请再备份一次",
            reader.count
        )));
    }
    Ok(Some(reader.finish().1))
}

/// A name's bytes (file names need not be UTF-8: a county's file copied from a Windows share).
pub fn name_bytes(name: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    name.as_os_str().as_bytes()
}

/// A `SHA256SUMS` line as `sha256sum` writes it: a name with a backslash, a newline or a
/// carriage return escaped, the line then starting with a backslash — so that `sha256sum -c`
/// checks an unpacked copy. The name's bytes are written as they are.
pub fn sum_line(sha: &str, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 68);
    if name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r')) {
        out.push(b'\\');
        out.extend_from_slice(sha.as_bytes());
        out.extend_from_slice(b"  ");
        for b in name {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b => out.push(*b),
            }
        }
    } else {
        out.extend_from_slice(sha.as_bytes());
        out.extend_from_slice(b"  ");
        out.extend_from_slice(name);
    }
    out.push(b'\n');
    out
}

/// The lines of `SHA256SUMS`: name → SHA-256 (each escape undone in one pass, left to right).
fn parse_sums(text: &[u8]) -> std::result::Result<BTreeMap<Vec<u8>, String>, String> {
    let mut out = BTreeMap::new();
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    for (k, line) in body.split(|b| *b == b'\n').enumerate() {
        let (escaped, line) = match line.strip_prefix(b"\\") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let bad = || format!("SHA256SUMS 第 {} 行不是“校验值  文件名”", k + 1);
        if line.len() < 67 || &line[64..66] != b"  " {
            return Err(bad());
        }
        let (sha, name) = (&line[..64], &line[66..]);
        if !sha.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        let name = if escaped {
            let mut n = Vec::with_capacity(name.len());
            let mut it = name.iter();
            while let Some(b) = it.next() {
                match (b, it.clone().next()) {
                    (b'\\', Some(b'\\')) => n.push(b'\\'),
                    (b'\\', Some(b'n')) => n.push(b'\n'),
                    (b'\\', Some(b'r')) => n.push(b'\r'),
                    (b'\\', _) => return Err(bad()),
                    (b, _) => {
                        n.push(*b);
                        continue;
                    }
                }
                it.next();
            }
            n
        } else {
            name.to_vec()
        };
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        out.insert(name, sha);
    }
    Ok(out)
}

fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// An entry's name, checked: relative, plain components only, in the tree.
fn checked_name(raw: &[u8]) -> std::result::Result<PathBuf, String> {
    use std::os::unix::ffi::OsStrExt;
    let shown = shown(raw);
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
    sums: Option<BTreeMap<Vec<u8>, String>>,
    seen: BTreeMap<Vec<u8>, String>,
    bytes: u64,
    records: Vec<(i32, Verified)>,
    written: Vec<PathBuf>,
}

/// Why an entry was not taken: the archive is wrong (the backup's fault), or the disk it is
/// unpacked to failed (named by its own path).
enum Refusal {
    Archive(String),
    Disk(Error),
}

impl From<String> for Refusal {
    fn from(s: String) -> Refusal {
        Refusal::Archive(s)
    }
}

/// Reads `file` through, checking everything; with `place` (a folder of ours, 0700), unpacks it
/// there (files created new, never over another).
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
            return Err(Error::io(
                place,
                std::io::Error::other(format!(
                    "恢复约需 {} MB，只剩 {} MB 可用（not enough free space）",
                    size >> 20,
                    free >> 20
                )),
            ));
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
        match one_entry(k, entry, place, &mut pass) {
            Ok(()) => {}
            Err(Refusal::Archive(p)) => return Err(bad(p)),
            Err(Refusal::Disk(e)) => return Err(e),
        }
    }
    finish(pass).map_err(bad)
}

fn one_entry<R: Read>(
    k: usize,
    mut entry: tar::Entry<'_, R>,
    place: Option<&Path>,
    pass: &mut Pass,
) -> std::result::Result<(), Refusal> {
    let raw = entry.path_bytes().into_owned();
    let name = checked_name(&raw)?;
    let key = name_bytes(&name).to_vec();
    let shown = shown(&key);
    if pass.sums.is_some() {
        return Err(format!("SHA256SUMS 之后还有条目 {shown}：备份被改动过").into());
    }
    if k == 0 && shown != BackupTree::ABOUT {
        return Err("第一个条目不是 BACKUP.json：这不是 fayuan 的备份"
            .to_string()
            .into());
    }
    let kind = entry.header().entry_type();
    let size = entry.size();
    let mode = entry.header().mode().unwrap_or(0o640);
    let mtime = entry.header().mtime().unwrap_or(0);
    if kind.is_dir() {
        if let Some(place) = place {
            let path = place.join(&name);
            folder(&path).map_err(|e| Refusal::Disk(Error::io(&path, e)))?;
        }
        return Ok(());
    }
    if !kind.is_file() {
        return Err(format!(
            "条目 {shown} 不是普通文件或文件夹（{kind:?}）：备份中不应有链接或设备"
        )
        .into());
    }
    if shown == BackupTree::ABOUT || shown == BackupTree::SUMS || record_year(&name).is_some() {
        return small_entry(&name, &shown, entry, (size, mode, mtime), place, pass);
    }
    let mut reader = Hashing::new(&mut entry);
    match place {
        Some(place) => {
            let path = place.join(&name);
            let disk = |e: std::io::Error| Refusal::Disk(Error::io(&path, e));
            let mut out = create(&path).map_err(disk)?;
            // A read error is the archive's; a write error the disk's.
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(|e| format!("{shown} 读不出（{e}）：备份不完整或已损坏"))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(disk)?;
            }
            drop(out);
            stamp(&path, mode, mtime)?;
            pass.written.push(path);
        }
        None => {
            std::io::copy(&mut reader, &mut std::io::sink())
                .map_err(|e| format!("{shown} 读不出（{e}）：备份不完整或已损坏"))?;
        }
    }
    pass.bytes += reader.count;
    pass.seen.insert(key, reader.finish().1);
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
) -> std::result::Result<(), Refusal> {
    let limit = match shown {
        BackupTree::ABOUT => MAX_ABOUT,
        BackupTree::SUMS => MAX_SUMS,
        _ => MAX_RECORD,
    };
    if size > limit {
        return Err(format!("{shown} 有 {size} 字节，超过上限 {limit}").into());
    }
    let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
    (&mut entry)
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown} 读不出（{e}）：备份不完整或已损坏"))?;
    if shown == BackupTree::SUMS {
        pass.sums = Some(parse_sums(&bytes)?);
    } else {
        if shown == BackupTree::ABOUT {
            pass.about = Some(about_of(&bytes)?);
        }
        if let Some(year) = record_year(name) {
            pass.records
                .push((year, crate::audit::verify_lines(&bytes)));
        }
        pass.bytes += bytes.len() as u64;
        pass.seen
            .insert(name_bytes(name).to_vec(), crate::fsutil::sha256_hex(&bytes));
    }
    if let Some(place) = place {
        let path = place.join(name);
        create(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| Refusal::Disk(Error::io(&path, e)))?;
        stamp(&path, mode, mtime)?;
        pass.written.push(path);
    }
    Ok(())
}

/// `BACKUP.json`, read and judged: fayuan's, of a format this fayuan reads, naming one plain
/// pipeline file.
fn about_of(bytes: &[u8]) -> std::result::Result<About, String> {
    let about: About = serde_json::from_slice(bytes)
        .map_err(|e| format!("BACKUP.json 读不出（{e}）：这不是 fayuan 的备份"))?;
    if about.data_format > crate::app::DATA_FORMAT {
        return Err(format!(
            "备份由 fayuan {} 制作，数据为第 {} 版格式，本程序（fayuan {}）只支持到第 {} 版：请用更新的 fayuan 恢复",
            about.fayuan,
            about.data_format,
            env!("CARGO_PKG_VERSION"),
            crate::app::DATA_FORMAT
        ));
    }
    let plain = matches!(
        Path::new(&about.pipeline)
            .components()
            .collect::<Vec<_>>()
            .as_slice(),
        [Component::Normal(_)]
    );
    if !plain {
        return Err(format!(
            "BACKUP.json 的流水线 {:?} 不是 pipelines/ 中的一个文件名",
            about.pipeline
        ));
    }
    Ok(about)
}

/// A folder of the tree (0750: the group reads what the service writes).
fn folder(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(path)
}

/// A new file, only its owner may read it until `stamp` (its folder made if the archive did
/// not list it first); never over another.
fn create(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        folder(parent)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// The file's time and mode as archived (the owner may always read and write it; no other
/// bit than read and execute for the group, none for others, nothing set-id).
fn stamp(path: &Path, mode: u32, mtime: u64) -> std::result::Result<(), Refusal> {
    use std::os::unix::fs::PermissionsExt;
    let at = std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(mtime))
        .ok_or_else(|| format!("{} 的时间 {mtime} 不是可能的时间", path.display()))?;
    let disk = |e: std::io::Error| Refusal::Disk(Error::io(path, e));
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .map_err(disk)?;
    f.set_modified(at).map_err(disk)?;
    f.set_permissions(std::fs::Permissions::from_mode((mode & 0o750) | 0o600))
        .map_err(disk)
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
            None => problems.push(format!("缺少 {}", shown(name))),
            Some(s) if s != sha => problems.push(format!(
                "{} 的 SHA-256 与 SHA256SUMS 不符（文件已损坏）",
                shown(name)
            )),
            Some(_) => {}
        }
    }
    for name in pass.seen.keys().filter(|n| !sums.contains_key(*n)) {
        problems.push(format!("{} 不在 SHA256SUMS 中", shown(name)));
    }
    let pipeline = Path::new(BackupTree::PIPELINES).join(&about.pipeline);
    if !pass.seen.contains_key(name_bytes(&pipeline)) {
        problems.push(format!("备份中没有它所说的流水线 {}", pipeline.display()));
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
