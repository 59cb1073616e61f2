//! The filesystem that forgets (issue 35 §1), for the power-cut tests: `tests/tools/forgetfs.py`
//! (FUSE, fusepy) mounted over a backing folder; what was in it at mount is durable, a `cut`
//! drops every write not synced since.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the forgetful filesystem can run here (FUSE, fusermount, fusepy).
pub fn fuse_ready() -> bool {
    let ok = std::path::Path::new("/dev/fuse").exists()
        && Command::new("fusermount").arg("-V").output().is_ok()
        && Command::new("python3")
            .args(["-c", "import fuse"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        skipped(
            "the power-cut tests",
            "FUSE: /dev/fuse, fusermount (fuse3), libfuse2 and fusepy",
            "apt-get install fuse3 libfuse2; pip install fusepy",
        );
    }
    ok
}

/// The forgetful filesystem (tests/tools/forgetfs.py) mounted over a backing folder: what was
/// in the backing folder at mount is durable; `cut` is a power cut.
pub struct Forgetful {
    child: std::process::Child,
    pub mount: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Forgetful {
    /// A fresh backing folder, filled by `fill`, mounted in a temporary folder.
    pub fn start(fill: impl FnOnce(&Path)) -> Forgetful {
        let dir = tempfile::tempdir().unwrap();
        let (backing, mount) = (dir.path().join("backing"), dir.path().join("mount"));
        std::fs::create_dir_all(&backing).unwrap();
        fill(&backing);
        let mut fs = Forgetful::over(&backing, &mount, &dir.path().join("forgetfs.log"));
        fs._dir = Some(dir);
        fs
    }

    /// `backing` (what is in it now is durable) mounted at `mount`; its log in `log`.
    pub fn over(backing: &Path, mount: &Path, log: &Path) -> Forgetful {
        std::fs::create_dir_all(mount).unwrap();
        std::fs::create_dir_all(backing).unwrap();
        let child = Command::new("python3")
            .arg(repo().join("tests/tools/forgetfs.py"))
            .arg(backing)
            .arg(mount)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
            .spawn()
            .unwrap();
        let start = Instant::now();
        let needle = format!(" {} fuse", mount.display());
        while !std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .contains(&needle)
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the forgetful filesystem did not mount"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Forgetful {
            child,
            mount: mount.to_path_buf(),
            _dir: None,
        }
    }

    /// The power cut: every write not synced is gone.
    pub fn cut(&self) {
        std::fs::write(self.mount.join(".forget-control"), "cut").unwrap();
    }

    /// The power cut of a real disk: what was not synced is gone, but some of it, chosen by the
    /// seed, reached the disk anyway (a folder's names or a file's bytes as of now, a torn
    /// append).
    pub fn cut_seeded(&self, seed: u64) {
        std::fs::write(self.mount.join(".forget-control"), format!("cut {seed}")).unwrap();
    }

    /// `fayuan` on the mount (the data and output folders there), as of `as_of`, with `fault`.
    pub fn fayuan(&self, pipeline: &std::path::Path, args: &[&str], fault: Option<&str>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fayuan"));
        cmd.current_dir(&self.mount)
            .arg("--pipeline")
            .arg(pipeline)
            .arg("--data-dir")
            .arg(self.mount.join("data"))
            .arg("--output-dir")
            .arg(self.mount.join("output"))
            .args(args)
            // syncfs does not reach a FUSE filesystem: each file and folder is synced instead.
            .env("FAYUAN_TEST_KERNEL", "4.19")
            .env_remove("FAYUAN_TEST_FAULT")
            .env_remove("FAYUAN_AS_OF");
        if let Some(f) = fault {
            cmd.env("FAYUAN_TEST_FAULT", f);
        }
        output(cmd.output().unwrap())
    }
}

impl Drop for Forgetful {
    fn drop(&mut self) {
        let _ = Command::new("fusermount")
            .arg("-u")
            .arg(&self.mount)
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
