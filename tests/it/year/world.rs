//! The world the script is played in: the real daemon and servers, and the driver's records.

use super::script::*;
use crate::support::imap::{self};
use crate::support::smtp::Server;
use crate::support::*;
use chrono::{DateTime, Duration as Span};
use chrono_tz::Tz;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The driver: the servers, the daemon, the clock, and its record.
pub(super) struct World {
    pub(super) seed: u64,
    pub(super) months: u32,
    pub(super) rate: f64,
    pub(super) start: DateTime<Tz>,
    pub(super) t0: Instant,
    pub(super) env: Env,
    pub(super) imap: imap::Dovecot,
    pub(super) smtp_port: u16,
    pub(super) smtp: Option<Server>,
    pub(super) smtp_dir: PathBuf,
    pub(super) control: PathBuf,
    pub(super) source_dir: PathBuf,
    pub(super) _source: Server,
    pub(super) web_port: u16,
    pub(super) daemon: Option<Child>,
    pub(super) fault_env: String,
    pub(super) vars: Vec<(String, String)>,
    pub(super) done: Vec<Done>,
    pub(super) injected: Vec<String>,
    pub(super) kills: Vec<DateTime<Tz>>,
    pub(super) memory: Vec<(u32, u64)>,
    pub(super) mounted: Option<PathBuf>,
    /// The data folder on the filesystem that forgets (power cuts), its backing on the tmpfs.
    pub(super) forgetful: Option<crate::forgetful::Forgetful>,
    /// The power cuts so far (each cut's seed is the run's seed and this count).
    pub(super) cuts: u64,
    /// The poison mail, made before the daemon starts (its fault point names its SHA-256).
    pub(super) poison_mail: Option<Vec<u8>>,
    pub(super) _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        // The filesystem that forgets first: it holds the tmpfs beneath it open.
        drop(self.forgetful.take());
        if let Some(m) = &self.mounted {
            let _ = Command::new("umount").arg(m).status();
        }
    }
}

impl World {
    /// The simulated now: the daemon's clock, as the driver keeps it.
    pub(super) fn now(&self) -> DateTime<Tz> {
        self.start
            + Span::milliseconds((self.t0.elapsed().as_secs_f64() * 1000.0 * self.rate) as i64)
    }

    /// Sleeps (real time) until the simulated clock reaches `t`.
    pub(super) fn until(&self, t: DateTime<Tz>) {
        let ahead = (t - self.now()).num_milliseconds();
        if ahead > 0 {
            std::thread::sleep(Duration::from_secs_f64(ahead as f64 / 1000.0 / self.rate));
        }
    }

    pub(super) fn start_daemon(&mut self) {
        let as_of = fayuan::period::instant_text(&self.now());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fayuan"));
        cmd.current_dir(self.env.tmp.path())
            .arg("--pipeline")
            .arg(&self.env.pipeline)
            .arg("--data-dir")
            .arg(self.env.data())
            .args([
                "--as-of",
                &as_of,
                "--clock-rate",
                &self.rate.to_string(),
                "daemon",
            ])
            .env("FAYUAN_LOG", "info")
            .env("FAYUAN_TEST_FAULT", &self.fault_env)
            .env_remove("FAYUAN_AS_OF")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.env.tmp.path().join("daemon.log"))
                    .unwrap(),
            ));
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        self.daemon = Some(cmd.spawn().unwrap());
    }

    pub(super) fn kill_daemon(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    pub(super) fn smtp_up(&mut self) {
        if self.smtp.is_none() {
            let control = self.control.to_str().unwrap().to_string();
            self.smtp = Some(Server::start(
                "smtp",
                self.smtp_port,
                &self.smtp_dir,
                &["--control", &control],
            ));
        }
    }

    pub(super) fn log(&mut self, what: String) {
        let line = format!("{} {what}", fayuan::period::instant_text(&self.now()));
        self.injected.push(line);
    }

    pub(super) fn county_url(&self, code: &str) -> String {
        format!(
            "http://127.0.0.1:{}/u/{code}/{}",
            self.web_port,
            crate::support::hmac_token(SECRET.as_bytes(), code)
        )
    }

    /// Sends one scripted file through its door; returns when it really went (None: the door
    /// did not take it this time — the clerk tries again later).
    pub(super) fn send(
        &mut self,
        s: &Send,
        units: &[Unit],
        rt: &tokio::runtime::Runtime,
    ) -> Option<Done> {
        match s.door {
            Door::Mail => {
                let from = match s.unit {
                    Some(k) => units[k].contact.clone(),
                    None => STAFF.to_string(),
                };
                let subject = format!("{}月报", s.name.trim_end_matches(".csv"));
                let bytes = if s.poison {
                    self.poison_mail.clone()?
                } else {
                    imap::message(&from, &subject, "", &[(&imap::rfc2231(&s.name), &s.bytes)])
                };
                let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
                let id = parsed.message_id().unwrap().to_string();
                let when = self.now();
                self.imap
                    .deliver_at(&bytes, &when.format("%Y-%m-%d %H:%M %z").to_string());
                Some(Done {
                    send: s.clone(),
                    at: when,
                    mail: Some((id, from)),
                })
            }
            Door::Upload => {
                let k = s.unit?;
                let url = self.county_url(&units[k].code);
                let when = self.now();
                let (name, bytes) = (s.name.clone(), s.bytes.clone());
                let status = rt.block_on(async move {
                    let form = reqwest::multipart::Form::new().part(
                        "file",
                        reqwest::multipart::Part::bytes(bytes).file_name(name),
                    );
                    reqwest::Client::new()
                        .post(url)
                        .multipart(form)
                        .timeout(Duration::from_secs(120))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                });
                match status {
                    Ok(200) => Some(Done {
                        send: s.clone(),
                        at: when,
                        mail: None,
                    }),
                    other => {
                        self.log(format!(
                            "upload {} not taken ({other:?}); tried again",
                            s.name
                        ));
                        None
                    }
                }
            }
            Door::Inbox => {
                let inbox = self.env.inbox();
                let _ = std::fs::create_dir_all(&inbox);
                let _ = std::fs::File::open(self.env.data()).and_then(|d| d.sync_all());
                let tmp = inbox.join(format!(".{}.tmp-1", s.name));
                let when = self.now();
                // Written whole, then renamed in (a finished copy), an hour old; synced, as a copy
                // the clerk saw finish is on the disk (a power cut keeps it).
                let ok = std::fs::write(&tmp, &s.bytes).is_ok()
                    && std::fs::File::options()
                        .write(true)
                        .open(&tmp)
                        .and_then(|f| {
                            f.set_modified(
                                std::time::SystemTime::now() - Duration::from_secs(3600),
                            )?;
                            f.sync_all()
                        })
                        .is_ok()
                    && std::fs::rename(&tmp, inbox.join(&s.name)).is_ok()
                    && std::fs::File::open(&inbox)
                        .and_then(|d| d.sync_all())
                        .is_ok();
                if !ok {
                    let _ = std::fs::remove_file(&tmp);
                    self.log(format!(
                        "inbox copy of {} failed (disk full?); tried again",
                        s.name
                    ));
                    return None;
                }
                Some(Done {
                    send: s.clone(),
                    at: when,
                    mail: None,
                })
            }
            Door::Source => {
                let k = s.unit?;
                let month = s.rows.first().map(|r| r.1)?;
                // The province's export for the month: JSON, as a source serves it.
                let f = &s.rows[0].2;
                let json = serde_json::json!([{
                    "unit_code": units[k].code, "period": format!("2025-{month:02}"),
                    "cases_approved": f.cases, "cases_criminal": f.criminal, "cases_civil": f.civil,
                    "cases_admin": f.admin, "cases_closed": f.closed,
                    "funds_received": yuan(f.funds_fen), "spend_total": yuan(f.spend_fen),
                    "spend_case": yuan(f.spend_case_fen), "complaints": f.complaints,
                    "complaints_resolved": f.resolved, "surveyed": f.surveyed, "satisfied": f.satisfied,
                    "note": f.note,
                }]);
                let bytes = serde_json::to_vec(&json).unwrap();
                let path = self.source_dir.join(format!("2025-{month:02}.json"));
                let tmp = self.source_dir.join(".tmp");
                std::fs::write(&tmp, &bytes).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
                let mut send = s.clone();
                send.bytes = bytes;
                Some(Done {
                    send,
                    at: self.now(),
                    mail: None,
                })
            }
        }
    }
}

/// What happens next in the run, in simulated time.
#[derive(Debug, Clone)]
pub(super) enum Action {
    Send(usize),
    FaultStart(usize),
    FaultEnd(usize),
    /// Note the daemon's memory.
    Memory(u32),
}

pub(super) fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub(super) fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every file under a folder (recursively).
pub(super) fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub(super) fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A received message: (recipient, Message-ID, In-Reply-To, subject).
pub(super) fn inbox_of(dir: &Path) -> Vec<(String, String, String, String)> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let raw = std::fs::read(&p).unwrap();
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let reply = m.in_reply_to().as_text().unwrap_or("").to_string();
            (
                name.split_once('-')
                    .map_or("", |(_, r)| r)
                    .trim_end_matches(".eml")
                    .to_string(),
                m.message_id().unwrap_or("").to_string(),
                reply,
                m.subject().unwrap_or("").to_string(),
            )
        })
        .collect()
}
