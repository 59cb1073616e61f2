//! The library's errors. Each variant carries what a person needs to act on it.

use std::path::{Path, PathBuf};

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

    /// The machinery could not run: the async runtime, the scheduler, signals, an HTTP client.
    #[error("{0}")]
    Runtime(String),

    /// Something was made but could not be delivered to everyone; it stays in the outbox.
    #[error("{0}")]
    Undelivered(String),

    /// A message (digest, reminder, notice) could not be composed.
    #[error("message {id}: {message}")]
    Message { id: String, message: String },

    /// A text people receive could not be made from its template.
    #[error("text {template}: {source:#}")]
    Text {
        template: String,
        #[source]
        source: minijinja::Error,
    },

    /// Sample files could not be written.
    #[error("samples: {0}")]
    Sample(String),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An analysis (a `sql/` file) failed.
    #[error("analysis {query}: {message}")]
    Analysis { query: String, message: String },

    /// A report could not be written.
    #[error("report {}: {message}", path.display())]
    Report { path: PathBuf, message: String },

    /// Another fayuan process holds the write lock.
    #[error("{0}")]
    Busy(String),

    /// The store under the data directory could not be read or written.
    #[error("store {}: {message}", path.display())]
    Store { path: PathBuf, message: String },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn store(path: &Path, message: impl std::fmt::Display) -> Error {
        Error::Store {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    /// The process exit code of SPEC §8: 2 for bad usage or configuration, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) => 2,
            Error::Busy(_)
            | Error::Runtime(_)
            | Error::Undelivered(_)
            | Error::Message { .. }
            | Error::Text { .. }
            | Error::Sample(_)
            | Error::Io { .. }
            | Error::Store { .. }
            | Error::Analysis { .. }
            | Error::Report { .. } => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit codes of SPEC §8.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const INVALID: i32 = 3;
}
