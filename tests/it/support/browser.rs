//! Headless Chromium driven over WebDriver (chromedriver), reading the pages as a person does.

use super::smtp::free_port;
use super::*;
use base64::Engine;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A WebDriver session on a headless Chromium (chromedriver on a free port).
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
}

impl Drop for Browser {
    /// Ends the session (chromedriver closes its Chromium), then stops chromedriver and
    /// whatever of its process group is left: no browser outlives its test.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let host = self.base.trim_start_matches("http://");
        if let Ok(mut c) = std::net::TcpStream::connect(host) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                c,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = c.read_to_end(&mut Vec::new());
        }
        // SAFETY: signals the process group chromedriver leads (spawned with process_group(0)).
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

pub fn chromium_ready() -> bool {
    let ok = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skipped(
            "the browser tests",
            "headless Chromium with chromedriver",
            "apt-get install chromium chromium-driver",
        );
    }
    ok
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if client.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1200,1600", "--lang=zh-CN"]}
        }}});
        let v: serde_json::Value = client
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            client,
        }
    }

    pub async fn cmd(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url).json(&body),
        };
        req.send().await.unwrap().json().await.unwrap()
    }

    pub async fn open(&self, url: &str) {
        self.cmd("POST", "/url", serde_json::json!({ "url": url }))
            .await;
    }

    /// The text a person sees on the page.
    pub async fn text(&self) -> String {
        let v = self
            .cmd(
                "POST",
                "/execute/sync",
                serde_json::json!({"script": "return document.body.innerText", "args": []}),
            )
            .await;
        v["value"].as_str().unwrap_or("").to_string()
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                serde_json::json!({"using": "css selector", "value": css}),
            )
            .await;
        v["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|x| x.as_str())
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_string()
    }

    pub async fn element_text(&self, css: &str) -> String {
        let id = self.find(css).await;
        let v = self
            .cmd(
                "GET",
                &format!("/element/{id}/text"),
                serde_json::Value::Null,
            )
            .await;
        v["value"].as_str().unwrap_or("").to_string()
    }

    /// June in a county page's list of months, as shown (`未报`).
    pub async fn county_june(&self) -> String {
        let t = self.element_text("#months li[data-month=\"6\"]").await;
        let t = t.split('：').nth(1).unwrap_or("").to_string();
        t.split('（').next().unwrap_or("").to_string()
    }

    /// The June cell of a unit's row in the grid, as shown.
    pub async fn june(&self, code: &str) -> String {
        self.element_text(&format!("tr[data-unit=\"{code}\"] td[data-month=\"6\"]"))
            .await
    }

    pub async fn screenshot(&self, name: &str) {
        let v = self
            .cmd("GET", "/screenshot", serde_json::Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}
