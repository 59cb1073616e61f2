//! The library's errors. Each variant carries what a person needs to act on it.

use std::path::{Path, PathBuf};

/// The cause an error keeps (`source()`): the library's own error, or only words where the
/// problem was found by fayuan itself.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline definition is wrong; every problem is listed.
    #[error("pipeline definition {}:\n  - {}", file.display(), problems.join("\n  - "))]
    Config {
        file: PathBuf,
        problems: Vec<String>,
    },

    /// The command line (or an environment variable it reads) asks for something that cannot
    /// be done.
    #[error("{0}")]
    Usage(String),

    /// A person may not do this (a unit answering an item that is not its own, an item no
    /// longer open): nothing was changed.
    #[error("{0}")]
    Refused(String),

    /// The machinery could not run: the async runtime, the scheduler, signals, an HTTP client.
    #[error("{0}")]
    Runtime(#[source] Cause),

    /// Something was made but could not be delivered to everyone; it stays in the outbox.
    #[error("{0}")]
    Undelivered(String),

    /// A message (digest, reminder, notice) could not be composed.
    #[error("message {id}: {source}")]
    Message {
        id: String,
        #[source]
        source: Cause,
    },

    /// A text people receive could not be made from its template.
    #[error("text {template}: {source:#}")]
    Text {
        template: String,
        #[source]
        source: minijinja::Error,
    },

    /// Sample files could not be written.
    #[error("samples: {0}")]
    Sample(#[source] Cause),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An analysis (a `sql/` file) failed.
    #[error("analysis {query}: {source}")]
    Analysis {
        query: String,
        #[source]
        source: Cause,
    },

    /// A report could not be written.
    #[error("report {}: {source}", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: Cause,
    },

    /// Another fayuan process holds the write lock.
    #[error("{0}")]
    Busy(String),

    /// The store under the data directory could not be read or written.
    #[error("store {}: {source}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: Cause,
    },

    /// A backup (`fayuan backup`, `restore`) is damaged, incomplete or not fayuan's: nothing was
    /// restored from it.
    #[error("备份文件 {}：{problem}", file.display())]
    Backup { file: PathBuf, problem: String },

    /// fayuan asked itself for something it cannot do: a bug, not the user's mistake.
    #[error("internal: {0}")]
    Internal(String),

    /// A sync of the data folder failed: what was written may be gone although the disk took
    /// it. Nothing is retried over it — every writing job stops and the process exits; a restart
    /// recovers from the inbox and the outbox as after a crash.
    #[error("数据写入磁盘失败（{}：{source}）：为防止把丢失的数据当作已保存，已停止写入；请检查磁盘后重启 fayuan，重启后从收件箱和发件箱恢复", path.display())]
    SyncFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A value that does not read as what it should be (a cron expression, a server URL, an
/// `{env:NAME}` that is not set): the typed error of the value parsers, which the definition's
/// check turns into its listed problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<&str> for Invalid {
    fn from(s: &str) -> Invalid {
        Invalid(s.to_string())
    }
}

impl From<String> for Invalid {
    fn from(s: String) -> Invalid {
        Invalid(s)
    }
}

/// A cause with what was being done when it happened (`Display`: "what: cause").
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct During {
    pub what: String,
    #[source]
    pub source: Cause,
}

/// `e`, kept as the cause, with what was being done.
pub fn during(what: impl Into<String>, e: impl Into<Cause>) -> Cause {
    Box::new(During {
        what: what.into(),
        source: e.into(),
    })
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A failed sync of `path` (see [`Error::SyncFailed`]). It is noted for the process
    /// ([`writing_stopped`]): the daemon stops once the staff are told.
    pub fn sync(path: &Path, source: std::io::Error) -> Error {
        WRITING_STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = FIRST_FAILED_SYNC.set((path.to_path_buf(), source.kind(), source.to_string()));
        stops().notify_waiters();
        tracing::error!(path = %path.display(), error = %source, "a sync failed: this process writes nothing more");
        Error::SyncFailed {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether this is a failed sync, wherever it was wrapped.
    pub fn is_sync_failure(&self) -> bool {
        matches!(self, Error::SyncFailed { .. })
    }

    pub fn store(path: &Path, cause: impl Into<Cause>) -> Error {
        Error::Store {
            path: path.to_path_buf(),
            source: cause.into(),
        }
    }

    /// The process exit code of SPEC §8: 2 for bad usage or configuration, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::Refused(_) => 2,
            Error::Busy(_)
            | Error::Runtime(_)
            | Error::Undelivered(_)
            | Error::Message { .. }
            | Error::Text { .. }
            | Error::Sample(_)
            | Error::Io { .. }
            | Error::Store { .. }
            | Error::Analysis { .. }
            | Error::Report { .. }
            | Error::SyncFailed { .. }
            | Error::Backup { .. }
            | Error::Internal(_) => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

static WRITING_STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a sync failed in this process, wherever (a job, the pages' own ingest): the daemon
/// exits for its service manager to restart it; a restart recovers from the inbox and the outbox.
pub fn writing_stopped() -> bool {
    WRITING_STOPPED.load(std::sync::atomic::Ordering::SeqCst)
}

/// The first sync that failed in this process: its path, and what the disk said.
static FIRST_FAILED_SYNC: std::sync::OnceLock<(PathBuf, std::io::ErrorKind, String)> =
    std::sync::OnceLock::new();

fn stops() -> &'static tokio::sync::Notify {
    static STOPS: std::sync::OnceLock<tokio::sync::Notify> = std::sync::OnceLock::new();
    STOPS.get_or_init(tokio::sync::Notify::new)
}

/// Resolves once a sync fails in this process (at once if one did): the daemon's loop and the
/// pages stop on it, wherever it failed.
pub async fn writing_stops() {
    loop {
        let stopped = stops().notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        if writing_stopped() {
            return;
        }
        stopped.await;
    }
}

/// The first failed sync of this process, as its error (for the one notice to the staff).
pub fn failed_sync() -> Option<Error> {
    FIRST_FAILED_SYNC
        .get()
        .map(|(path, kind, what)| Error::SyncFailed {
            path: path.clone(),
            source: std::io::Error::new(*kind, what.clone()),
        })
}

/// Exit codes of SPEC §8.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const INVALID: i32 = 3;
}
