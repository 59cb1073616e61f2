//! A real SMTP server (aiosmtpd) and HTTP webhook receiver on 127.0.0.1, run by `tests/servers.py`;
//! free ports; the pipeline with fast mail settings; the test certificates for STARTTLS and TLS.

use super::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A server process; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub out: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now, never handed out before in this test process: the tests run in
/// parallel, and a port one test has been given but not yet bound (a server still starting, a
/// daemon that binds its web port later) must not be given to another.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Whether python3 with aiosmtpd is here; under CI it must be (.ci/run installs it).
pub fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skipped(
            "the email and daemon tests",
            "python3 with aiosmtpd, the real SMTP server they deliver to",
            "pip install aiosmtpd",
        );
    }
    ok
}

impl Server {
    pub fn start(kind: &str, port: u16, out: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new("python3")
            .arg(repo().join("tests/servers.py"))
            .args([
                kind,
                "--port",
                &port.to_string(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "the {kind} server did not start");
        Server {
            child,
            port,
            out: out.to_path_buf(),
        }
    }

    /// Stored messages or requests, in arrival order.
    pub fn received(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Recipients of the stored messages (from the file names).
    pub fn recipients(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .map(|(n, _)| n[4..n.len() - 4].to_string())
            .collect()
    }
}

/// The shipped pipeline with quick retries, for tests; `extra` edits applied in order. Its
/// reminder rounds and reports go as the cron says, days off or not (`on_days_off =
/// "as_scheduled"`): the tests of the doors, the outbox and the pages were written on the
/// plain calendar (June's report on Sunday 6 July); the calendar's own tests (calendar.rs) run
/// the shipped default.
pub fn pipeline(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(luan_pipeline_path())
        .unwrap()
        .replace("retry_base_ms = 2000", "retry_base_ms = 50")
        .replace("timeout_seconds = 60", "timeout_seconds = 10")
        .replace(
            "on_days_off = \"next_working_day\"",
            "on_days_off = \"as_scheduled\"",
        );
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    calendar_beside(dir);
    path
}

/// A CA and a server certificate for 127.0.0.1, made with openssl.
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let sh = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sh(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=fayuan test CA",
    ]);
    sh(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    sh(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}
