//! The daemon as a real process, started and stopped as systemd would (SIGTERM), and waiting
//! for what it does.

use super::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
}

/// The pages' token and link secret for a daemon whose pipeline has `[web]` (it refuses to start
/// without them); a test's own values override these.
fn web_defaults(cmd: &mut Command) {
    cmd.env("FAYUAN_WEB_TOKEN", "bureau-token-for-daemon-tests")
        .env("FAYUAN_WEB_SECRET", "link-secret-for-daemon-tests");
}

impl Daemon {
    pub fn start(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fayuan"));
        cmd.current_dir(env.tmp.path())
            .arg("--pipeline")
            .arg(&env.pipeline)
            .arg("--data-dir")
            .arg(env.data())
            .args(args)
            .arg("daemon")
            .env("FAYUAN_LOG", "info")
            .env_remove("FAYUAN_AS_OF")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(env.tmp.path().join("daemon.log")).unwrap(),
            ));
        web_defaults(&mut cmd);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().unwrap(),
        }
    }

    /// A daemon started in `dir` with no --pipeline: every pipeline in `dir/pipelines/`.
    pub fn start_all(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fayuan"));
        cmd.current_dir(dir)
            .args(args)
            .arg("daemon")
            .env("FAYUAN_LOG", "info")
            .env_remove("FAYUAN_AS_OF")
            .env_remove("FAYUAN_PIPELINE")
            .env_remove("FAYUAN_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("daemon.log")).unwrap(),
            ));
        web_defaults(&mut cmd);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().unwrap(),
        }
    }

    /// Whether the process has ended (killed at a fault point, say).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// SIGTERM, then the exit code (within 30 s).
    pub fn stop(mut self) -> i32 {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the daemon did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
