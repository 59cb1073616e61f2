//! The application context every command and job works with: the checked pipeline, the data
//! directory's layout, where reports go, and the clock. Built by the command line; used by the
//! daemon, a report run and whatever drives them — below all of them.

use crate::config::Pipeline;
use crate::layout::{DataDir, OutputDir};
use crate::period::Clock;
use chrono::DateTime;
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub struct Context {
    pub pipeline: Pipeline,
    pub data_dir: DataDir,
    pub output_dir: OutputDir,
    pub clock: Clock,
    /// "now" was given with `--as-of` (not read from the system clock).
    pub as_of_given: bool,
}

impl Context {
    pub fn now(&self) -> DateTime<Tz> {
        self.clock.now()
    }

    /// `--received T`: when the county sent a file, in Beijing time and not after now.
    pub fn received(&self, text: &str) -> crate::error::Result<crate::period::Moment> {
        use crate::error::Error;
        let at = crate::period::parse_instant(text).ok_or_else(|| {
            Error::Usage(format!(
                "--received {text:?}: expected the time the county sent the files, such as \"2025-07-03 10:00\" (Beijing time)"
            ))
        })?;
        if at > self.now() {
            return Err(Error::Usage(format!(
                "--received {text:?} is later than now ({}): a file cannot have been sent in the future",
                crate::period::instant_zh(&self.now())
            )));
        }
        Ok(crate::period::Moment(at))
    }

    /// The same context with the clock stopped at `now` (one job of the daemon).
    pub fn at(&self, now: DateTime<Tz>) -> Context {
        Context {
            clock: Clock::Fixed(now),
            ..self.clone()
        }
    }
}

/// The one async runtime builder: two worker threads (the daemon's jobs block in place on one
/// while the scheduler and signals run on the other), every driver enabled.
pub fn runtime() -> crate::error::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            crate::error::Error::Runtime(crate::error::during("cannot start the async runtime", e))
        })
}

/// The data folder's format this build reads and writes (issue 36 §6). Each step up has a
/// migration below; a folder without a mark is format 0 (every folder made before the mark).
pub const DATA_FORMAT: u32 = 1;

/// Opens the data folder's format, once per command: a folder of an older format is migrated to
/// this one (keeping what a step replaces beside it; 0 → 1 changes no file: it only writes the
/// mark), a folder of a newer format is refused — an older fayuan never writes into it. A folder
/// not made yet is left to its first writer; a mark that cannot be written (a colleague's
/// read-only look) is tried again by the next command.
pub fn open_data_format(data_dir: &DataDir) -> crate::error::Result<()> {
    use crate::error::Error;
    let root = data_dir.root();
    if !root.is_dir() {
        return Ok(());
    }
    let path = data_dir.format_mark();
    let found = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u32>().map_err(|_| {
            Error::Refused(format!(
                "{}：数据目录格式标记应为一个数字，实为 {:?}；请勿手工修改此文件（the data folder's format mark is not a number）",
                path.display(),
                text.trim()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(Error::io(&path, e)),
    };
    if found > DATA_FORMAT {
        return Err(Error::Refused(format!(
            "数据目录 {} 为第 {found} 版格式，本程序（fayuan {}）只认识到第 {DATA_FORMAT} 版：请使用更新的 fayuan；为免损坏数据，本程序不读写此目录（the data folder is format {found}, newer than this fayuan's {DATA_FORMAT}: use a newer fayuan）",
            root.display(),
            env!("CARGO_PKG_VERSION")
        )));
    }
    if found == DATA_FORMAT {
        return Ok(());
    }
    // 0 → 1: the mark itself; no file is changed. (A later step that rewrites a file keeps the
    // old one beside it as `<name>.format-<n>`.)
    match crate::fsutil::replace_synced(&path, format!("{DATA_FORMAT}\n").as_bytes()) {
        Ok(()) => {
            tracing::info!(from = found, to = DATA_FORMAT, folder = %root.display(), "data folder migrated to this format");
            Ok(())
        }
        Err(e) if !e.is_sync_failure() => {
            tracing::warn!(error = %e, "the data folder's format mark not written now; the next command writes it");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
