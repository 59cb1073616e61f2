//! The folders' layout: the one place that knows where each thing lives under `<data-dir>/`
//! ([`DataDir`]) and under the output folder ([`OutputDir`]). Every module asks them for its
//! paths and builds none itself.
//!
//! ```text
//! inbox/                       files waiting to be taken (counties, HTTP sources, `ingest FILE`)
//! arrivals/                    what a door knows of a file it put into the inbox (when, for whom)
//! archive/<month>/             accepted files, byte for byte, with SHA256SUMS-b… lists
//! archive/duplicates/<month>/  files whose bytes were taken before
//! quarantine/<month>/          rejected files, each with its 错误报告.txt
//! store/batches/b000001/       the store (see store.rs)
//! outbox/<pipeline>/<P>/<id>/  messages kept whole until every recipient has them
//! deliveries/<pipeline>.jsonl  the delivery ledger
//! runs/<pipeline>.jsonl        the daemon's run ledger
//! daemon/                      heartbeat and the planner's last look
//! mail/<mailbox>/              each mailbox's archived messages and its ledger
//! sources/state.json           the HTTP sources' last polls
//! .fayuan.lock                 one writer at a time
//! .fayuan-deliver.lock         one sender at a time
//! store/.batch-in-progress     while a batch is taken (a killed run leaves it)
//! ```

use crate::period::Period;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct DataDir(PathBuf);

const LOCK: &str = ".fayuan.lock";
const DELIVERY_LOCK: &str = ".fayuan-deliver.lock";

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir(root.into())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    /// A path recorded relative to the data directory (a file's `stored_as`).
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }

    /// The data folder's format mark (`app::open_data_format`).
    pub fn format_mark(&self) -> PathBuf {
        self.0.join("FORMAT")
    }

    pub fn inbox(&self) -> PathBuf {
        self.0.join("inbox")
    }

    /// A file of the inbox by its name there (`/` between folders, as the doors make them and
    /// the store records them): refused unless every part is a plain name — no root, no `..`,
    /// nothing empty — so that no name leaves the inbox.
    pub fn in_inbox(&self, name: &str) -> std::io::Result<PathBuf> {
        let plain = !name.is_empty()
            && !name.contains('\\')
            && Path::new(name)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("不是收件箱中的文件名：{name:?}"),
            ));
        }
        Ok(self.inbox().join(name))
    }

    /// Notes of the doors (mail, web) on the files they put into the inbox: when each arrived,
    /// for which unit.
    pub fn arrivals(&self) -> PathBuf {
        self.0.join("arrivals")
    }

    /// The note on the file that arrives as `name` in the inbox (named by a hash of the name, so
    /// any name makes a plain file name).
    pub fn arrival_note(&self, name_sha256: &str) -> PathBuf {
        self.arrivals().join(format!(
            "{}.json",
            &name_sha256[..32.min(name_sha256.len())]
        ))
    }

    /// Where uploads are streamed before they are put into the inbox whole.
    pub fn uploads(&self) -> PathBuf {
        self.arrivals().join("uploads")
    }

    pub fn archive(&self) -> PathBuf {
        self.0.join("archive")
    }

    /// Where an accepted file is kept, relative to the data folder (its `stored_as`):
    /// `archive/<month>/<name>`.
    pub fn archived(month: &str, name: &str) -> String {
        format!("archive/{month}/{name}")
    }

    /// Where a file whose bytes were taken before is kept: `archive/duplicates/<month>/<name>`.
    pub fn duplicate(month: &str, name: &str) -> String {
        format!("archive/duplicates/{month}/{name}")
    }

    /// Where a rejected file is kept: `quarantine/<month>/<name>`.
    pub fn quarantined(month: &str, name: &str) -> String {
        format!("quarantine/{month}/{name}")
    }

    /// The inbox folder a mail's attachments are put in: `mail-<mailbox>-<sha12>`.
    pub fn mail_inbox_folder(mailbox: &str, sha12: &str) -> String {
        format!("mail-{mailbox}-{sha12}")
    }

    /// The mailbox and the message's short SHA-256 of an inbox folder made by
    /// [`DataDir::mail_inbox_folder`] (`None`: not a mail's).
    pub fn mail_of_inbox_folder(folder: &str) -> Option<(&str, &str)> {
        folder.strip_prefix("mail-")?.rsplit_once('-')
    }

    pub fn quarantine(&self) -> PathBuf {
        self.0.join("quarantine")
    }

    /// A month's folder in quarantine (`2025-07`), where a batch stages what it refuses.
    pub fn quarantine_month(&self, month_dir: &str) -> PathBuf {
        self.quarantine().join(month_dir)
    }

    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }

    pub fn outbox(&self, pipeline: &str) -> PathBuf {
        self.0.join("outbox").join(pipeline)
    }

    /// One message's folder in the outbox (`outbox/<pipeline>/<P>/<id>/`).
    pub fn outbox_message(&self, pipeline: &str, period: &str, id: &str) -> PathBuf {
        self.outbox(pipeline).join(period).join(id)
    }

    /// The returns for correction (退回): `supervision/returns.jsonl`.
    pub fn returns(&self) -> PathBuf {
        self.0.join("supervision").join("returns.jsonl")
    }

    /// The confirmed months (确认): `supervision/confirms.jsonl`.
    pub fn confirms(&self) -> PathBuf {
        self.0.join("supervision").join("confirms.jsonl")
    }

    /// The 说明 typed on the units' pages and those sent back (退回说明): `supervision/notes.jsonl`.
    pub fn notes(&self) -> PathBuf {
        self.0.join("supervision").join("notes.jsonl")
    }

    /// The 负责人's sign-offs of the units' months (负责人确认): `supervision/signoffs.jsonl`.
    pub fn signoffs(&self) -> PathBuf {
        self.0.join("supervision").join("signoffs.jsonl")
    }

    /// The supervision items (督办事项): `supervision/items.jsonl`.
    pub fn supervision_items(&self) -> PathBuf {
        self.0.join("supervision").join("items.jsonl")
    }

    /// The record (工作台账): `audit/<year>.jsonl`.
    pub fn audit(&self) -> PathBuf {
        self.0.join("audit")
    }

    /// A year's record: `audit/<year>.jsonl`.
    pub fn audit_year(&self, year: i32) -> PathBuf {
        self.audit().join(format!("{year}.jsonl"))
    }

    pub fn deliveries(&self, pipeline: &str) -> PathBuf {
        self.0.join("deliveries").join(format!("{pipeline}.jsonl"))
    }

    pub fn runs(&self, pipeline: &str) -> PathBuf {
        self.0.join("runs").join(format!("{pipeline}.jsonl"))
    }

    pub fn heartbeat(&self) -> PathBuf {
        self.0.join("daemon").join("heartbeat.json")
    }

    /// When the daemon's planner last looked at what was due.
    pub fn last_look(&self) -> PathBuf {
        self.0.join("daemon").join("last_look.json")
    }

    /// A mailbox's archive of messages and its ledger (`mail/<mailbox>/`).
    pub fn mail(&self, mailbox: &str) -> PathBuf {
        self.0.join("mail").join(mailbox)
    }

    /// A mailbox's ledger: `mail/<mailbox>/ledger.jsonl`.
    pub fn mail_ledger(&self, mailbox: &str) -> PathBuf {
        self.mail(mailbox).join("ledger.jsonl")
    }

    pub fn sources_state(&self) -> PathBuf {
        self.0.join("sources").join("state.json")
    }

    pub fn lock(&self) -> PathBuf {
        self.0.join(LOCK)
    }

    /// Whether a file directly under the data folder is one of its locks (held open by the
    /// processes at work: not data, never backed up).
    pub fn is_lock(name: &str) -> bool {
        name == LOCK || name == DELIVERY_LOCK
    }

    /// What a page's form with one-time key `key` came to (`web/once.rs`; `key` is checked
    /// there to be 32 hex digits).
    pub fn form_result(&self, key: &str) -> PathBuf {
        self.0.join("web").join("once").join(format!("{key}.json"))
    }

    /// One sender at a time (`lock::acquire_delivery`).
    pub fn delivery_lock(&self) -> PathBuf {
        self.0.join(DELIVERY_LOCK)
    }

    /// Where fayuan writes its own files under temporary names (and how deep): what a killed
    /// process may leave half-written there is swept when the daemon starts.
    pub fn scratch(&self) -> Vec<(PathBuf, u32)> {
        vec![
            (self.0.join("daemon"), 0),
            (self.0.join("sources"), 0),
            (self.arrivals(), 1),
            (self.0.join("outbox"), 4),
            // the mailboxes' health and state, the forms' results (found by the year in
            // simulation: a power cut kept a health file's temporary name)
            (self.0.join("mail"), 1),
            (self.0.join("web"), 1),
        ]
    }

    /// Present while an ingest batch is being taken: found at the start of an ingest, it says
    /// a run was killed mid-batch and its leftovers should be swept.
    pub fn batch_marker(&self) -> PathBuf {
        self.0.join("store").join(".batch-in-progress")
    }
}

impl std::ops::Deref for DataDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for DataDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// A backup's tree (`fayuan backup`), inside its `.tar` and where `fayuan restore --to DIR`
/// puts it:
///
/// ```text
/// BACKUP.json    what was backed up, when, by which fayuan (the archive's first entry)
/// data/          the data folder, but for its two lock files
/// pipelines/     the files of the pipeline's folder (the pipelines, the calendar)
/// output/        the pipeline's report folders, with their manifests
/// SHA256SUMS     every other file's SHA-256 (the archive's last entry)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BackupTree(PathBuf);

impl BackupTree {
    pub const ABOUT: &'static str = "BACKUP.json";
    pub const SUMS: &'static str = "SHA256SUMS";
    pub const DATA: &'static str = "data";
    pub const PIPELINES: &'static str = "pipelines";
    pub const OUTPUT: &'static str = "output";
    /// The folders of the tree (each entry of the archive is one of these or in one).
    pub const PARTS: [&'static str; 3] = [Self::DATA, Self::PIPELINES, Self::OUTPUT];

    pub fn new(root: impl Into<PathBuf>) -> BackupTree {
        BackupTree(root.into())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    pub fn data(&self) -> DataDir {
        DataDir::new(self.0.join(Self::DATA))
    }

    pub fn pipelines(&self) -> PathBuf {
        self.0.join(Self::PIPELINES)
    }

    pub fn output(&self) -> OutputDir {
        OutputDir::new(self.0.join(Self::OUTPUT))
    }

    /// The archive's name in the backup folder: `fayuan-<pipeline>-<YYYYMMDD-HHMMSS>.tar`
    /// (`-2`, `-3`… when a backup of the same second is there).
    pub fn archive_name(pipeline: &str, stamp: &str, k: u32) -> String {
        match k {
            0 | 1 => format!("fayuan-{pipeline}-{stamp}.tar"),
            k => format!("fayuan-{pipeline}-{stamp}-{k}.tar"),
        }
    }

    /// Where a restore unpacks before it moves the parts into place: `DIR/.fayuan-restoring`.
    pub fn staging(dir: &Path) -> PathBuf {
        dir.join(".fayuan-restoring")
    }
}

/// The output folder (`--output-dir`, SPEC §5): what people open.
///
/// ```text
/// <pipeline>/<YYYY-MM>/           a month's report: workbook, CSV twins, digest, manifest.json
/// <pipeline>/review-<Y>/          the year's review
/// <pipeline>/templates/<YYYY-MM>/ the counties' templates (`fayuan template`)
/// <pipeline>/.history/<folder>/   the folders a rerun replaced (`keep_history`)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDir(PathBuf);

/// The manifest every report folder carries.
pub const MANIFEST: &str = "manifest.json";

impl OutputDir {
    pub fn new(root: impl Into<PathBuf>) -> OutputDir {
        OutputDir(root.into())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    /// The folder of a pipeline's report folders.
    pub fn pipeline(&self, pipeline: &str) -> PathBuf {
        self.0.join(pipeline)
    }

    /// The name of a month's report folder: `2025-06`.
    pub fn run_folder(period: Period) -> String {
        period.to_string()
    }

    /// A month's report folder.
    pub fn run(&self, pipeline: &str, period: Period) -> PathBuf {
        self.pipeline(pipeline).join(Self::run_folder(period))
    }

    /// The name of the year's review folder: `review-2025`.
    pub fn review_folder(year: i32) -> String {
        format!("review-{year}")
    }

    /// The year's review folder.
    pub fn review(&self, pipeline: &str, year: i32) -> PathBuf {
        self.pipeline(pipeline).join(Self::review_folder(year))
    }

    /// Where `fayuan template` writes a month's templates unless told otherwise.
    pub fn templates(&self, pipeline: &str, period: Period) -> PathBuf {
        self.pipeline(pipeline)
            .join("templates")
            .join(period.to_string())
    }

    /// Where the folders a rerun replaced are kept: `.history/<folder>/`.
    pub fn history(parent: &Path, folder: &str) -> PathBuf {
        parent.join(".history").join(folder)
    }
}

impl AsRef<Path> for OutputDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No name leaves the inbox: only plain parts are joined onto it.
    #[test]
    fn a_name_in_the_inbox_stays_in_the_inbox() {
        let d = DataDir::new(PathBuf::from("/srv/data"));
        assert_eq!(
            d.in_inbox("web-341522-20250803T100000-ab/霍邱县.csv")
                .unwrap(),
            PathBuf::from("/srv/data/inbox/web-341522-20250803T100000-ab/霍邱县.csv")
        );
        for bad in [
            "",
            "../store/x",
            "a/../../b",
            "/etc/passwd",
            "./a",
            "a\\..\\b",
        ] {
            assert!(d.in_inbox(bad).is_err(), "{bad:?}");
        }
    }
}
