//! Backup and restore (issue 36 §5). `make` writes, while the caller holds the write lock and
//! the delivery lock (so no file of the data folder changes meanwhile), one plain `.tar` of the
//! data folder, the pipeline's folder and the pipeline's report folders (`layout::BackupTree`),
//! with the SHA-256 of every file in its last entry, and reads it back — every file's SHA-256,
//! the record's chain — before it puts the archive under its name. `restore` unpacks an archive
//! into an empty folder only (never over a file), checking the same as it goes; `check` restores
//! into a scratch folder and reads the month's status and the record there.

mod archive;

use crate::app::Context;
use crate::error::{Error, Result};
use crate::layout::{BackupTree, DataDir};
use crate::lock::{DeliveryLock, WriteLock};
use archive::Hashing;
pub use archive::{About, Contents};
use std::path::{Path, PathBuf};

/// A pipeline folder's file larger than this is not the pipeline's (it is left out, and said so).
const MAX_PIPELINE_FILE: u64 = 16 << 20;

/// What `make` wrote.
#[derive(Debug)]
pub struct Made {
    pub file: PathBuf,
    pub sha256: String,
    /// What reading the archive back found (every file's SHA-256 matched; the record whole).
    pub contents: Contents,
    /// What was left out, and why (a link, a pipeline folder's large file).
    pub left_out: Vec<String>,
}

/// One file or folder to archive: its name in the archive and where it is.
struct Item {
    name: PathBuf,
    path: PathBuf,
    folder: bool,
}

/// Backs up `ctx`'s data folder, pipeline folder and report folders into a new archive in
/// `to`. The locks are the proof that nothing writes meanwhile.
pub fn make(ctx: &Context, to: &Path, _w: &WriteLock, _d: &DeliveryLock) -> Result<Made> {
    refuse_inside(ctx, to)?;
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let mut left_out = Vec::new();
    let items = gather(ctx, &mut left_out)?;
    let need: u64 = items
        .iter()
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len() + 1024)
        .sum();
    if let Some(free) = crate::fsutil::free_bytes(to)
        && free < need + need / 10 + (64 << 20)
    {
        return Err(Error::io(
            to,
            std::io::Error::other(format!(
                "备份约需 {} MB，该处只剩 {} MB 可用：请换一个位置或腾出空间（not enough free space）",
                need >> 20,
                free >> 20
            )),
        ));
    }
    let stamp = ctx.now().format("%Y%m%d-%H%M%S").to_string();
    let stem = ctx
        .pipeline
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| ctx.pipeline.name().to_string());
    let partial = to.join(format!(
        ".{}.partial",
        BackupTree::archive_name(&stem, &stamp, 0)
    ));
    let about = About::of(ctx);
    let written = write(&partial, &about, &items).and_then(|sha| {
        let contents = archive::read(&partial, None)?;
        Ok((sha, contents))
    });
    let (sha256, contents) = match written {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let file = place(&partial, to, &stem, &stamp)?;
    tracing::info!(file = %file.display(), files = contents.files, bytes = contents.bytes, "backup made and checked");
    Ok(Made {
        file,
        sha256,
        contents,
        left_out,
    })
}

/// A backup folder inside the data or the output folder, or the pipeline's folder itself, would
/// back itself up.
fn refuse_inside(ctx: &Context, to: &Path) -> Result<()> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| absolute(p));
    // A folder not made yet: its nearest existing parent, resolved, and the rest of its name.
    let to = absolute(to);
    let mut probe = to.clone();
    let mut rest = Vec::new();
    while !probe.exists() {
        match (probe.file_name().map(|n| n.to_owned()), probe.parent()) {
            (Some(n), Some(p)) => {
                rest.push(n);
                probe = p.to_path_buf();
            }
            _ => break,
        }
    }
    let mut target = canon(&probe);
    target.extend(rest.iter().rev());
    let pipelines = ctx.pipeline.file.parent().unwrap_or(Path::new("."));
    if target == canon(pipelines) {
        return Err(Error::Refused(format!(
            "备份位置 {} 就是流水线文件夹：备份会把自己也备份进去；请放在别处（the backup folder is the pipeline's folder）",
            to.display()
        )));
    }
    for (what, root) in [
        ("数据目录", ctx.data_dir.root()),
        ("报告目录", ctx.output_dir.root()),
    ] {
        if target.starts_with(canon(root)) {
            return Err(Error::Refused(format!(
                "备份位置 {} 在{what} {} 之内：备份会把自己也备份进去；请放在别处，最好是另一块磁盘（the backup folder is inside the {}）",
                to.display(),
                root.display(),
                if what == "数据目录" {
                    "data folder"
                } else {
                    "output folder"
                }
            )));
        }
    }
    Ok(())
}

/// Every file and folder to archive, in a stable order.
fn gather(ctx: &Context, left_out: &mut Vec<String>) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let data = Path::new(BackupTree::DATA);
    walk(ctx.data_dir.root(), data, true, &mut items, left_out)?;
    // The pipeline's folder: its files (the pipelines, the calendar), not its subfolders.
    let folder = ctx
        .pipeline
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let pipelines = Path::new(BackupTree::PIPELINES);
    items.push(Item {
        name: pipelines.to_path_buf(),
        path: folder.to_path_buf(),
        folder: true,
    });
    for path in sorted_children(folder)? {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_PIPELINE_FILE {
            left_out.push(format!(
                "{}（{} MB，不像流水线文件）",
                path.display(),
                meta.len() >> 20
            ));
            continue;
        }
        items.push(Item {
            name: pipelines.join(path.file_name().unwrap_or_default()),
            path,
            folder: false,
        });
    }
    let name = ctx.pipeline.name();
    let reports = ctx.output_dir.pipeline(name);
    let output = Path::new(BackupTree::OUTPUT);
    items.push(Item {
        name: output.to_path_buf(),
        path: ctx.output_dir.root().to_path_buf(),
        folder: true,
    });
    if reports.is_dir() {
        walk(&reports, &output.join(name), false, &mut items, left_out)?;
    }
    Ok(items)
}

fn sorted_children(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                out.push(e.map_err(|e| Error::io(dir, e))?.path());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    out.sort();
    Ok(out)
}

/// `dir` and what is under it, named under `name`; at the data folder's top (`top`) its locks
/// are left out.
fn walk(
    dir: &Path,
    name: &Path,
    top: bool,
    items: &mut Vec<Item>,
    left_out: &mut Vec<String>,
) -> Result<()> {
    items.push(Item {
        name: name.to_path_buf(),
        path: dir.to_path_buf(),
        folder: true,
    });
    for path in sorted_children(dir)? {
        let file_name = path.file_name().unwrap_or_default();
        if top && DataDir::is_lock(&file_name.to_string_lossy()) {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // A temporary name replaced meanwhile (the daemon's heartbeat, say).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        let inner = name.join(file_name);
        if meta.is_dir() {
            walk(&path, &inner, false, items, left_out)?;
        } else if meta.is_file() {
            items.push(Item {
                name: inner,
                path,
                folder: false,
            });
        } else {
            left_out.push(format!("{}（不是普通文件，未备份）", path.display()));
        }
    }
    Ok(())
}

/// Writes the archive to `partial` and makes it durable: the archive's own SHA-256.
fn write(partial: &Path, about: &About, items: &[Item]) -> Result<String> {
    use std::io::Write;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(partial)
        .map_err(|e| Error::io(partial, e))?;
    let io = |e: std::io::Error| Error::io(partial, e);
    let mut tar = tar::Builder::new(Hashing::new(std::io::BufWriter::with_capacity(
        1 << 20,
        file,
    )));
    let mut sums = Vec::new();
    let mtime = about
        .made_at()
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0);
    let about = about.json();
    archive::append_bytes(&mut tar, Path::new(BackupTree::ABOUT), &about, mtime).map_err(io)?;
    sums.extend(archive::sum_line(
        &crate::fsutil::sha256_hex(&about),
        BackupTree::ABOUT.as_bytes(),
    ));
    for item in items {
        if item.folder {
            archive::append_folder(&mut tar, &item.name, &item.path).map_err(io)?;
        } else if let Some(sha) = archive::append_file(&mut tar, &item.name, &item.path, partial)? {
            sums.extend(archive::sum_line(&sha, archive::name_bytes(&item.name)));
        }
    }
    archive::append_bytes(&mut tar, Path::new(BackupTree::SUMS), &sums, mtime).map_err(io)?;
    let mut hashing = tar.into_inner().map_err(io)?;
    hashing.flush().map_err(io)?;
    let (buffered, sha) = hashing.finish();
    let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(sha)
}

/// Puts the checked archive under its name (never over another) and makes the name durable.
fn place(partial: &Path, to: &Path, stem: &str, stamp: &str) -> Result<PathBuf> {
    for k in 1..=99 {
        let file = to.join(BackupTree::archive_name(stem, stamp, k));
        match crate::fsutil::rename_new(partial, &file) {
            Ok(()) => {
                let dir = std::fs::File::open(to).and_then(|d| d.sync_all());
                dir.map_err(|e| Error::io(to, e))?;
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = std::fs::remove_file(partial);
                return Err(Error::io(&file, e));
            }
        }
    }
    let _ = std::fs::remove_file(partial);
    Err(Error::Refused(format!(
        "{} 中同一秒的备份已有 99 个，请稍后再试",
        to.display()
    )))
}

/// What `restore` put where.
#[derive(Debug)]
pub struct Restored {
    pub tree: BackupTree,
    pub contents: Contents,
}

/// Restores `file` into `to`, which must be empty or not there yet: unpacked beside under a
/// temporary name, checked (every file's SHA-256, the record's chain), made durable, then moved
/// into place. On any problem nothing is left in `to` but what was there (nothing).
pub fn restore(file: &Path, to: &Path) -> Result<Restored> {
    match std::fs::read_dir(to) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(Error::Refused(format!(
                    "{} 不是空文件夹：恢复只写入空的（或尚不存在的）文件夹，不覆盖任何文件；请另指定一个新文件夹（the folder is not empty）",
                    to.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?
        }
        Err(e) => return Err(Error::io(to, e)),
    }
    let staging = Removed::on_drop(BackupTree::staging(to));
    private_folder(staging.path())?;
    let contents = archive::read(file, Some(staging.path()))?;
    crate::fsutil::sync_filesystem(staging.path(), &contents.written)?;
    // The parts into place (the folder was empty; a part moved is removed again if a later
    // one fails, so that the folder is left as it was).
    let mut moved = Removed(Vec::new());
    for part in BackupTree::PARTS
        .iter()
        .chain([&BackupTree::ABOUT, &BackupTree::SUMS])
    {
        let (from, into) = (staging.path().join(part), to.join(part));
        if !from.exists() {
            continue;
        }
        if into.exists() {
            return Err(Error::Refused(format!(
                "{} 在恢复时出现了：另有程序在写这个文件夹，恢复已撤回",
                into.display()
            )));
        }
        std::fs::rename(&from, &into).map_err(|e| Error::io(&into, e))?;
        moved.push(into);
    }
    std::fs::remove_dir(staging.path()).map_err(|e| Error::io(staging.path(), e))?;
    moved.keep();
    let dir = std::fs::File::open(to).and_then(|d| d.sync_all());
    dir.map_err(|e| Error::io(to, e))?;
    Ok(Restored {
        tree: BackupTree::new(to),
        contents,
    })
}

/// A folder only its owner reads (a restore's staging, a check's scratch: the units' data).
fn private_folder(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(path, e))
}

/// Paths removed (with what is under them) when this goes out of scope — on an error or a
/// panic alike — unless `keep` was called.
struct Removed(Vec<PathBuf>);

impl Removed {
    fn on_drop(path: PathBuf) -> Removed {
        Removed(vec![path])
    }
    fn path(&self) -> &Path {
        &self.0[0]
    }
    fn push(&mut self, path: PathBuf) {
        self.0.push(path)
    }
    fn keep(mut self) {
        self.0.clear()
    }
}

impl Drop for Removed {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

/// What `check` found in a restored copy.
#[derive(Debug)]
pub struct Checked {
    pub contents: Contents,
    /// `fayuan status` of the restored copy, as of the backup's moment (or the one given).
    pub status: String,
    /// `fayuan audit --verify` of each year's record there.
    pub record: String,
    pub whole: bool,
}

/// Restores `file` into a scratch folder (removed after) and reads it as fayuan would: the
/// pipeline loads, `status` for the month before `now` (default: when the backup was made), and
/// every year's record verified.
pub fn check(file: &Path, now: Option<chrono::DateTime<chrono_tz::Tz>>) -> Result<Checked> {
    let scratch = Removed::on_drop(std::env::temp_dir().join(format!(
        "fayuan-restore-check-{}",
        crate::fsutil::unique_tag()
    )));
    private_folder(scratch.path())?;
    restore(file, scratch.path()).and_then(|r| read_restored(&r, now))
}

fn read_restored(r: &Restored, now: Option<chrono::DateTime<chrono_tz::Tz>>) -> Result<Checked> {
    let about = &r.contents.about;
    let pipeline = crate::config::Pipeline::load(&r.tree.pipelines().join(&about.pipeline))?;
    let now = match now {
        Some(t) => t,
        None => about.made_at()?,
    };
    let data = r.tree.data();
    let period = crate::period::Period::of(now.date_naive()).prev();
    let status = crate::status::render(&pipeline, &data, &r.tree.output(), period, &now)?;
    let mut record = String::new();
    let mut whole = true;
    for (year, _) in &r.contents.records {
        let verified = crate::audit::verify(&data, *year)?;
        whole &= verified.is_whole();
        record.push_str(&crate::audit::verdict(*year, &verified));
    }
    let contents = Contents {
        written: Vec::new(),
        ..r.contents.clone()
    };
    Ok(Checked {
        contents,
        status,
        record,
        whole,
    })
}
