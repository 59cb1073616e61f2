//! The pages served by the real binary on 127.0.0.1, and a plain HTTP client for them.

use super::smtp::{free_port, pipeline};
use super::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "bureau-token-for-tests-0123456789";
pub const SECRET: &str = "server-secret-for-tests-0123456789";

pub struct Served {
    pub env: Env,
    pub child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp folder with the shipped pipeline (quick retries) serving its pages on a free port of
/// 127.0.0.1, with more `[web]` settings: (the folder, the port, the environment).
pub fn web_env(web: &str) -> (tempfile::TempDir, u16, Env) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = pipeline(dir.path(), &[]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("\n[web]\nlisten = \"127.0.0.1:{port}\"\n{web}"));
    std::fs::write(&path, text).unwrap();
    (dir, port, Env::with_pipeline(&path))
}

/// The same, with more `[web]` settings and environment (staff tokens).
pub fn served_with(web: &str, vars: &[(&str, &str)]) -> Served {
    let (dir, port, env) = web_env(web);
    env.drop_samples_except(&[
        "霍山县_2025-06.xlsx",
        "舒城县_2025-06.csv",
        "金寨县_2025-06.csv",
    ]);
    assert_eq!(env.run(&["--as-of", "2025-07-04 09:00", "ingest"]).code, 0);
    env.drop_in(
        "舒城县_2025-06.csv",
        &std::fs::read(samples().join("舒城县_2025-06.csv")).unwrap(),
    );
    env.drop_in(
        "金寨县_2025-06.csv",
        "单位代码,统计月份,受理审批案件数,其中：刑事,其中：民事,其中：行政,办结案件数,到位经费（元）,业务经费支出（元）,办案补贴及直接费用（元）,投诉件数,投诉办结件数,回访人数,满意人数\n341524,2025-06,十二,1,0,0,5,80000,70000,56000,0,0,10,10\n".as_bytes(),
    );
    assert_eq!(env.run(&["--as-of", "2025-07-08 09:00", "ingest"]).code, 3);
    let r = env.run(&[
        "--as-of",
        "2025-07-09 09:00",
        "run",
        "--no-email",
        "--period",
        "2025-06",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The year's review so far (staff may look at it any time).
    let r = env.run(&["--as-of", "2025-07-09 09:10", "review", "--year", "2025"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    serve(env, dir, port, &["--as-of", "2025-07-10 09:00"], vars)
}

/// A pipeline with only `files` in its inbox, taken as of `ingest_at`, served as of `serve_at`
/// with more `[web]` settings (and what follows them).
pub fn served_from(
    web: &str,
    vars: &[(&str, &str)],
    files: &[(&str, String)],
    ingest_at: &str,
    serve_at: &str,
) -> Served {
    let (dir, port, env) = web_env(web);
    for (name, bytes) in files {
        env.drop_in(name, bytes.as_bytes());
    }
    let r = env.run(&["--as-of", ingest_at, "ingest"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    serve(env, dir, port, &["--as-of", serve_at], vars)
}

/// Until the pages of `child` listen on `port` (at most 30 s); a process that ended, or a wait
/// that ran out, fails with its log.
pub fn wait_served(port: u16, child: &mut Child, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30) && child.try_wait().unwrap().is_none(),
            "the pages were not served: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn county(&self, code: &str) -> String {
        self.url(&format!(
            "/u/{code}/{}",
            hmac_token(SECRET.as_bytes(), code)
        ))
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The state of a month in a county page's list of months (`<b>6月</b>：已退回（采用第1版）`).
pub fn month_item(html: &str, month: u32) -> String {
    let list = &html[html.find("id=\"months\"").expect("the months' list")..];
    let at = list.find(&format!("data-month=\"{month}\">")).unwrap();
    let item = &list[at..];
    let item = &item[..item.find("</li>").unwrap()];
    let text = &item[item.find("：").unwrap() + "：".len()..];
    text.split('（').next().unwrap().to_string()
}

pub fn samples() -> std::path::PathBuf {
    repo().join("samples/luan-2025")
}

/// `fayuan serve` of a pipeline with an empty store and more `[web]` settings, with `args`
/// before `serve` (none: the real clock, an upload arrives when it is made).
pub fn served_bare(args: &[&str], web: &str) -> Served {
    let (dir, port, env) = web_env(web);
    serve(env, dir, port, args, &[])
}

/// `fayuan serve` of an environment's pipeline with `args` before `serve`, waited for.
fn serve(
    env: Env,
    dir: tempfile::TempDir,
    port: u16,
    args: &[&str],
    vars: &[(&str, &str)],
) -> Served {
    let child = Command::new(env!("CARGO_BIN_EXE_fayuan"))
        .current_dir(env.tmp.path())
        .arg("--pipeline")
        .arg(&env.pipeline)
        .arg("--data-dir")
        .arg(env.data())
        .args(args)
        .arg("serve")
        .env_remove("FAYUAN_AS_OF")
        .env("FAYUAN_WEB_TOKEN", TOKEN)
        .env("FAYUAN_WEB_SECRET", SECRET)
        .envs(vars.iter().copied())
        .env("FAYUAN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(env.tmp.path().join("serve.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut child = child;
    wait_served(port, &mut child, &env.tmp.path().join("serve.log"));
    Served {
        env,
        child,
        port,
        _dir: dir,
    }
}
