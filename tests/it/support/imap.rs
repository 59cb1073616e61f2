//! Dovecot on 127.0.0.1 (IMAP over TLS, started with a temporary configuration and a password
//! file) and the messages counties send: their MIME, their file names as mail programs write
//! them, their CSV rows; a mailbox set up with its pipeline.

use super::smtp::{Server, certificates, free_port, pipeline, python_ready};
use super::*;
use base64::Engine;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const USER: &str = "data@example.gov.cn";
pub const PASSWORD: &str = "s3cret-for-tests";
pub const HUOQIU: &str = "huoqiu@example.gov.cn";

/// A Dovecot serving one user over TLS on a free port of 127.0.0.1.
pub struct Dovecot {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
    /// Plain IMAP, upgraded with STARTTLS (the server requires TLS before a login).
    pub starttls_port: u16,
    pub ca: PathBuf,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn dovecot_ready() -> bool {
    let ok = Command::new("dovecot")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && python_ready();
    if !ok {
        skipped(
            "email-in tests",
            "Dovecot (the real IMAP server) and python3 with aiosmtpd",
            "apt-get install dovecot-imapd; pip install aiosmtpd",
        );
    }
    ok
}

impl Dovecot {
    pub fn start(dir: &Path) -> Dovecot {
        // Dovecot's own users must reach these files: the folder is world-readable.
        std::fs::create_dir_all(dir).unwrap();
        for p in dir.ancestors() {
            if p == std::env::temp_dir() || p == Path::new("/") || p.as_os_str().is_empty() {
                break;
            }
            let mode = std::fs::metadata(p).unwrap().permissions().mode();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
        let (ca, cert, key) = certificates(dir);
        for f in [&cert, &key] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let ok = Command::new("chown")
            .args(["-R", "dovecot:dovecot"])
            .arg(&home)
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::write(dir.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let port = free_port();
        let starttls_port = free_port();
        let d = dir.display();
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             log_path = {d}/dovecot.log\nssl = required\nssl_cert = <{}\nssl_key = <{}\n\
             disable_plaintext_auth = yes\nauth_mechanisms = plain login\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {starttls_port}\n  }}\n  inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={d}/home/%u\n}}\n\
             mail_location = maildir:~/Maildir\ndefault_internal_user = dovecot\ndefault_internal_group = dovecot\n\
             default_login_user = dovenull\nfirst_valid_uid = 1\nnamespace inbox {{\n  inbox = yes\n}}\n",
            cert.display(),
            key.display()
        );
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .spawn()
            .expect("dovecot starts");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dovecot did not listen: {}",
                std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Dovecot {
            child,
            dir: dir.to_path_buf(),
            port,
            starttls_port,
            ca,
        }
    }

    /// Stops the server and starts it again on the same port with the same mail.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its login processes outlive a killed master for a moment: wait until the ports are
        // free, or the new master cannot listen.
        let start = Instant::now();
        while [self.port, self.starttls_port]
            .iter()
            .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.dir.join("run/master.pid"));
        for attempt in 0.. {
            self.child = Command::new("dovecot")
                .arg("-F")
                .arg("-c")
                .arg(self.dir.join("dovecot.conf"))
                .spawn()
                .expect("dovecot starts again");
            let start = Instant::now();
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                    && self.child.try_wait().unwrap().is_none()
                {
                    return;
                }
                if self.child.try_wait().unwrap().is_some()
                    || start.elapsed() > Duration::from_secs(20)
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            assert!(
                attempt < 3,
                "dovecot did not come back: {}",
                std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub fn tool(&self, args: &[&str]) -> String {
        let o = Command::new("python3")
            .arg(repo().join("tests/tools/imap.py"))
            .args(["127.0.0.1", &self.port.to_string()])
            .arg(&self.ca)
            .args([USER, PASSWORD])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "imap.py {args:?}: {}\ndovecot.log:\n{}",
            String::from_utf8_lossy(&o.stderr),
            std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Delivers a message into INBOX, as a county's mail would arrive.
    pub fn deliver(&self, message: &[u8]) {
        let path = self.dir.join(format!("m{}.eml", fastrand::u64(..)));
        std::fs::write(&path, message).unwrap();
        self.tool(&["append", path.to_str().unwrap()]);
    }

    /// Stops the server, forgets the folder's UIDs (a new UIDVALIDITY, as after a restore or a
    /// migration) and starts it again: every message gets a new UID.
    pub fn renumber(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut gone = 0;
        let mut stack = vec![self.dir.join("home")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().to_string();
                if p.is_dir() {
                    stack.push(p);
                } else if name == "dovecot-uidlist" || name.starts_with("dovecot.index") {
                    std::fs::remove_file(&p).unwrap();
                    gone += 1;
                }
            }
        }
        assert!(gone > 0, "no UID list to forget");
        self.restart();
    }

    /// Delivers a message into INBOX as received by the server at `when` ("2025-07-04 10:00
    /// +0800": its INTERNALDATE).
    pub fn deliver_at(&self, message: &[u8], when: &str) {
        let path = self.dir.join(format!("m{}.eml", fastrand::u64(..)));
        std::fs::write(&path, message).unwrap();
        self.tool(&["append", path.to_str().unwrap(), "INBOX", when]);
    }

    pub fn count(&self, folder: &str) -> i64 {
        self.tool(&["count", folder]).parse().unwrap()
    }
}

/// A MIME message with attachments: (file name header form, bytes). `name_header` is the
/// Content-Disposition parameter exactly as a mail program writes it.
pub fn message(
    from: &str,
    subject: &str,
    extra_headers: &str,
    attachments: &[(&str, &[u8])],
) -> Vec<u8> {
    let b64 = |b: &[u8]| {
        let s = base64::engine::general_purpose::STANDARD.encode(b);
        s.as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).to_string())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    // A subject already encoded (e.g. in GBK) is kept as the mail program wrote it.
    let subject = if subject.starts_with("=?") {
        subject.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject)
        )
    };
    let id = format!("<t{}@county.example>", fastrand::u64(..));
    let mut m = format!(
        "From: {from}\r\nTo: {USER}\r\nSubject: {subject}\r\nMessage-ID: {id}\r\nDate: Mon, 4 Aug 2025 09:00:00 +0800\r\nMIME-Version: 1.0\r\n{extra_headers}Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64("请查收本月月报。".as_bytes())
    );
    for (disposition, bytes) in attachments {
        m.push_str(&format!(
            "--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; {disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(bytes)
        ));
    }
    m.push_str("--XX--\r\n");
    m.into_bytes()
}

/// `filename*=UTF-8''…` (RFC 2231).
pub fn rfc2231(name: &str) -> String {
    let enc: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("filename*=UTF-8''{enc}")
}

/// `filename="=?GBK?B?…?="` (RFC 2047 in GBK, as older Chinese mail programs write it).
pub fn gbk(name: &str) -> String {
    let bytes = encoding_rs::GBK.encode(name).0;
    format!(
        "filename=\"=?GBK?B?{}?=\"",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

pub const HEADER: &str = "单位代码,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数";

pub fn csv_row(code: &str, month: u32, cases: i64) -> String {
    format!("{code},2025-{month:02},{cases},{cases},0,0,5,80000,70000,56000,0,0,10,10")
}

pub struct Setup {
    pub env: Env,
    pub imap: Dovecot,
    pub smtp: Server,
    pub _dir: tempfile::TempDir,
}

pub fn setup() -> Setup {
    setup_with(
        |imap| format!("imaps://127.0.0.1:{}", imap.port),
        "done_folder = \"fayuan-processed\"\nheld_folder = \"fayuan-held\"\n",
    )
}

/// A setup with the mailbox's URL made from the server, and its folder settings.
pub fn setup_with(url: impl Fn(&Dovecot) -> String, folders: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    // SPEC §9: a unit's `contact` may be a list; every address in it may send.
    let mut path = pipeline(
        dir.path(),
        &[(
            "contact = \"huoqiu@example.gov.cn\"",
            "contact = [\"huoqiu@example.gov.cn\", \"霍邱县二 <huoqiu-2@example.gov.cn>\"]",
        )],
    );
    let imap = Dovecot::start(&dir.path().join("imap"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[[mailboxes]]\nname = \"data\"\nurl = \"{}\"\nuser = \"{USER}\"\n{folders}",
        url(&imap)
    ));
    std::fs::write(&path, text).unwrap();
    path = path.canonicalize().unwrap();
    let env = Env::with_pipeline(&path);
    let smtp = Server::start("smtp", free_port(), &env.tmp.path().join("mail"), &[]);
    Setup {
        env,
        imap,
        smtp,
        _dir: dir,
    }
}

impl Setup {
    pub fn ingest(&self, at: &str) -> Run {
        let url = format!("smtp://127.0.0.1:{}", self.smtp.port);
        let ca = self.imap.ca.to_str().unwrap().to_string();
        self.env.run_env(
            &["--as-of", at, "ingest"],
            &[
                ("FAYUAN_IMAP_PASSWORD", PASSWORD),
                ("FAYUAN_IMAP_CA_FILE", &ca),
                ("FAYUAN_SMTP_URL", &url),
            ],
        )
    }

    /// Received SMTP messages, parsed: (recipients, subject, text, raw headers).
    pub fn receipts(&self) -> Vec<(String, String, String, String)> {
        self.smtp
            .received()
            .into_iter()
            .map(|(file, raw)| {
                // The server names each delivery `NNN-<recipient>.eml`.
                let rcpt = file
                    .split_once('-')
                    .map_or(file.as_str(), |(_, r)| r)
                    .trim_end_matches(".eml")
                    .to_string();
                let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
                let head = String::from_utf8_lossy(&raw[..raw.len().min(4000)]).to_string();
                (
                    rcpt,
                    m.subject().unwrap_or("").to_string(),
                    m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
                    head,
                )
            })
            .collect()
    }
}
