//! Web pages (issue 14): the bureau's status page (behind a token), a JSON twin of the status,
//! and each county's self-service page at a secret link, with an upload form that goes through
//! the same ingest. Served by the daemon, or alone by `fayuan serve`.
//!
//! Invariants: tokens only from the environment (`FAYUAN_WEB_TOKEN` for the bureau,
//! `FAYUAN_WEB_SECRET` from which each unit's link is derived by HMAC-SHA256), compared in
//! constant time, never logged; a wrong token is a plain 404 that reveals nothing; no path is
//! built from a request (downloads are looked up among the files a run's manifest lists, never
//! through a link, `..` or an absolute name, the unit among the pipeline's units); every upload
//! is answered and kept — streamed to disk (never whole in memory), written into the inbox with
//! its arrival note (synced) before the answer, and a refused one (another unit's rows, a
//! lock-file name, too large) kept in quarantine with its reason by the same ingest; uploads
//! are ingested in arrival order by one ingest task, which holds the write lock for the ingest
//! only; connections, header and body read times and concurrent uploads are bounded; a
//! handler's error is a page, never a crash; pages behind a token are never cached or framed.

use crate::app::Context;
use crate::error::{Error, Result};
use crate::period::{self, Period};
use crate::store::{Outcome, Store};
use crate::{fsutil, ingest, status};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Lines about the machinery (schedules, heartbeat) the driver adds to the bureau's page: the
/// daemon knows them, this module does not import it.
pub type ExtraStatus = fn(&Context) -> Vec<String>;

struct Web {
    ctx: Context,
    bureau_token: Option<String>,
    secret: Option<Vec<u8>>,
    extra: ExtraStatus,
    /// Uploads being received at once.
    uploads: Arc<tokio::sync::Semaphore>,
    /// Asks the ingest task to take what waits in the inbox; answers with what it took.
    ingest: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Taken>>,
    /// Grids already computed, by (store generation, month, minute of "now").
    grids: std::sync::Mutex<HashMap<GridKey, Arc<Vec<UnitRow>>>>,
}

impl Web {
    /// The units × months grid, computed once per store generation, month and minute: a page
    /// asked for again (or by many counties at once) reads it from memory.
    fn grid(&self, period: Period) -> Result<Arc<Vec<UnitRow>>> {
        let ctx = &self.ctx;
        let key = (
            Store::open(&ctx.data_dir).generation()?,
            period,
            ctx.now().timestamp() / 60,
        );
        // One computation at a time: pages asked for together wait for the first, then read it.
        let mut m = self.grids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = m.get(&key) {
            return Ok(g.clone());
        }
        let g = Arc::new(grid(ctx, period)?);
        // Only the newest generation and minute are worth keeping.
        m.retain(|k, _| k.0 == key.0 && k.2 == key.2);
        m.insert(key, g.clone());
        Ok(g)
    }
}

/// (store generation, month, minute of "now"): what a grid is computed from.
type GridKey = (i64, Period, i64);

/// What one ingest of the web's ingest task took (or why it could not).
type Taken = Arc<std::result::Result<Vec<crate::store::FileEntry>, String>>;

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for k in 0..a.len().max(b.len()) {
        diff |= a.get(k).copied().unwrap_or(0) ^ b.get(k).copied().unwrap_or(0xff);
    }
    diff == 0
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|x| x ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A unit's link token: derived from the server secret, so links change when it does.
pub fn unit_token(secret: &[u8], code: &str) -> String {
    hex::encode(&hmac(secret, format!("fayuan-unit:{code}").as_bytes())[..16])
}

/// The county page's path for a unit, given the secret (for reminders and the README).
pub fn unit_path(secret: &[u8], code: &str) -> String {
    format!("/u/{code}/{}", unit_token(secret, code))
}

/// The secret the unit links are derived from (`[web] secret_env`), if set (16+ characters).
pub fn secret(p: &crate::config::Pipeline) -> Option<Vec<u8>> {
    std::env::var(&p.def.web.secret_env)
        .ok()
        .filter(|t| t.len() >= 16)
        .map(String::into_bytes)
}

/// A unit's page as people open it: `public_url` (or `http://<listen>`) + its path.
pub fn unit_url(p: &crate::config::Pipeline, secret: &[u8], code: &str) -> String {
    let base = p
        .def
        .web
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", p.def.web.listen));
    format!("{}{}", base.trim_end_matches('/'), unit_path(secret, code))
}

/// The hard cap of an upload: what is over `max_upload_mb` is still kept (in quarantine, with the
/// reason) up to four times the limit; beyond, the upload is cut off and nothing is kept.
fn hard_cap(w: &crate::config::WebSettings) -> u64 {
    crate::config::mb_bytes(w.max_upload_mb) * 4 + (1 << 20)
}

/// The read and write buffer of one connection (hyper's minimum is 8 KiB): with
/// `max_connections`, what bounds the server's memory (see README "Limits of the web server").
const CONNECTION_BUFFER: usize = 16 * 1024;

/// Raises this process's open-file limit to its hard limit (connections are files); returns the
/// soft limit now in force.
fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// Serves the pages until `stop` turns true.
pub async fn serve(
    ctx: Context,
    extra: ExtraStatus,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let w = &ctx.pipeline.def.web;
    let listen = w.listen.clone();
    let bureau_token = std::env::var(&w.token_env).ok().filter(|t| t.len() >= 16);
    let secret = secret(&ctx.pipeline);
    if bureau_token.is_none() {
        tracing::warn!(variable = %w.token_env, "the bureau's token is unset or shorter than 16 characters: the bureau's pages are off");
    }
    if secret.is_none() {
        tracing::warn!(variable = %w.secret_env, "the link secret is unset or shorter than 16 characters: the county pages are off");
    }
    // Connections are open files: at most the configured number, and always some files to spare.
    let open_files = raise_open_files();
    let max_connections = w
        .max_connections
        .min(open_files.saturating_sub(256).max(16) as usize);
    let header_timeout = std::time::Duration::from_secs(w.header_timeout_seconds);
    sweep_uploads(&ctx.data_dir);
    let uploads = Arc::new(tokio::sync::Semaphore::new(w.max_concurrent_uploads));
    let ingest = ingest_task(ctx.clone());
    let state = Arc::new(Web {
        ctx,
        bureau_token,
        secret,
        extra,
        uploads,
        ingest,
        grids: std::sync::Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/", get(bureau))
        .route("/bureau", get(bureau))
        .route("/bureau/file/{period}/{name}", get(download))
        .route("/api/status", get(api_status))
        .route("/u/{code}/{token}", get(county).post(upload))
        .route("/u/{code}/{token}/template", get(county_template))
        .route("/u/{code}/{token}/upload", post(upload))
        .fallback(not_found)
        // Uploads are streamed to disk with their own cap; nothing else has a body worth reading.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(private_headers))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| Error::Runtime(format!("web: cannot listen on {listen}: {e}")))?;
    tracing::info!(listen = %listen, max_connections, "web pages served");
    eprintln!("fayuan: 网页服务已启动：http://{listen}/（单位页面链接用 fayuan links 查看）");
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let mut open = tokio::task::JoinSet::new();
    loop {
        // A free slot first: beyond the cap, connections wait in the listen queue.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of files or the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "web: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        while open.try_join_next().is_some() {}
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut closing = closing.clone();
        open.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(CONNECTION_BUFFER);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { let _ = closing.wait_for(|c| *c).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), conn).await;
                }
            }
        });
    }
    // Stop: no new connection; those open finish what they are doing (at most 10 s).
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(12), async {
        while open.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// Every answer: never cached, never framed, no referrer (the pages carry tokens in their links).
async fn private_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The one answer to anything unknown or unauthorised: nothing revealed.
async fn not_found() -> Response {
    nf()
}

fn nf() -> Response {
    answer(StatusCode::NOT_FOUND, "未找到", "<p>页面不存在。</p>")
}

/// The bureau's token from `?token=` or `Authorization: Bearer`: `Ok` when right; else the
/// answer — 401 without a token (SPEC §10), the plain 404 with a wrong one — saying nothing else.
#[allow(clippy::result_large_err)] // the error is the response itself, returned at once
fn bureau_ok(
    w: &Web,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> std::result::Result<(), Response> {
    let given = query.get("token").cloned().or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
    });
    match (&w.bureau_token, given) {
        (Some(want), Some(g)) if same_secret(&g, want) => Ok(()),
        (_, None) => Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Html(page("需要令牌", "<p>需要令牌。</p>")),
        )
            .into_response()),
        _ => Err(nf()),
    }
}

/// The unit of a county link, if the token is right.
fn unit_ok<'a>(w: &'a Web, code: &str, token: &str) -> Option<&'a crate::config::Unit> {
    let secret = w.secret.as_ref()?;
    let unit = w.ctx.pipeline.units.iter().find(|u| u.code == code)?;
    same_secret(token, &unit_token(secret, &unit.code)).then_some(unit)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A whole page: Chinese, readable on a phone, no script, no outside asset.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title>\
<style>body{{font-family:\"PingFang SC\",\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",sans-serif;margin:12px;color:#222;max-width:1100px}}\
table{{border-collapse:collapse;margin:6px 0 14px;font-size:14px}}td,th{{border:1px solid #bbb;padding:4px 6px;text-align:center}}\
th{{background:#ddebf7}}.ok{{background:#c6efce}}.late{{background:#ffe699}}.missing{{background:#f8cbad}}\
.rejected{{background:#f4b084}}.pending{{background:#fff2cc}}.none{{color:#999}}pre{{white-space:pre-wrap;font-size:13px;background:#f6f6f6;padding:8px}}\
h1{{font-size:20px}}h2{{font-size:17px;margin-top:18px}}.wrap{{overflow-x:auto}}</style></head>\
<body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    )
}

/// One cell of the grid: the state in words (and a colour class).
#[derive(Debug, Clone, Serialize)]
pub struct CellState {
    pub month: u32,
    /// 已报 / 逾期 / 未报 / 被拒 / 待说明 / — (not yet due)
    pub state: String,
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub months: Vec<CellState>,
}

/// The units × months grid of the year, up to `period`, as of now.
pub fn grid(ctx: &Context, period: Period) -> Result<Vec<UnitRow>> {
    let p = &ctx.pipeline;
    let now = ctx.now();
    let store = Store::open(&ctx.data_dir);
    let (stored, files) = (store.rows()?, store.files()?);
    let mut rows: Vec<UnitRow> = p
        .units
        .iter()
        .map(|u| UnitRow {
            code: u.code.clone(),
            name: u.name.clone(),
            months: Vec::new(),
        })
        .collect();
    for m in 1..=period.month {
        let month = Period::new(period.year, m).ok_or_else(|| Error::Usage("month".into()))?;
        let due = now >= month.deadline(p.def.submission.deadline_day);
        let statuses = status::unit_status_of(p, &stored, &files, month, &now)?;
        let month_start = period::instant_text(&period::local(
            month.next().first_day().and_time(chrono::NaiveTime::MIN),
        ));
        for (row, s) in rows.iter_mut().zip(&statuses) {
            let this_month = format!("{m}月");
            let pending = s
                .pending
                .iter()
                .any(|x| x.starts_with(&format!("{this_month} ")));
            let rejected = files.iter().any(|f| {
                f.outcome == Outcome::Rejected
                    && f.unit_codes.split(',').any(|c| c == row.code)
                    && f.arrived_at >= month_start
            });
            let (state, version) = match &s.latest {
                Some(l) if pending => ("待说明".to_string(), Some(l.version)),
                Some(l) if l.late => ("逾期".to_string(), Some(l.version)),
                Some(l) => ("已报".to_string(), Some(l.version)),
                None if rejected => ("被拒".to_string(), None),
                None if due => ("未报".to_string(), None),
                None => ("—".to_string(), None),
            };
            row.months.push(CellState {
                month: m,
                state,
                version,
            });
        }
    }
    Ok(rows)
}

fn class(state: &str) -> &'static str {
    match state {
        "已报" => "ok",
        "逾期" => "late",
        "未报" => "missing",
        "被拒" => "rejected",
        "待说明" => "pending",
        _ => "none",
    }
}

fn grid_html(rows: &[UnitRow], period: Period) -> String {
    let mut h = String::from("<div class=\"wrap\"><table id=\"grid\"><tr><th>单位</th>");
    for m in 1..=period.month {
        h.push_str(&format!("<th>{m}月</th>"));
    }
    h.push_str("</tr>");
    for r in rows {
        h.push_str(&format!(
            "<tr data-unit=\"{}\"><th>{}</th>",
            esc(&r.code),
            esc(&r.name)
        ));
        for c in &r.months {
            h.push_str(&format!(
                "<td class=\"{}\" data-month=\"{}\">{}</td>",
                class(&c.state),
                c.month,
                esc(&c.state)
            ));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></div><p>图例：已报 / 逾期（晚于截止时间报送）/ 未报（已过截止时间）/ 被拒（有被拒收的文件，尚无有效数据）/ 待说明（数据异常，待县区说明）/ —（尚未到期）</p>");
    h
}

/// The period asked for (`?period=2025-06`), else the month before now, within the year.
fn period_of(ctx: &Context, query: &HashMap<String, String>) -> Option<Period> {
    let p = match query.get("period") {
        Some(s) => Period::parse(s)?,
        None => Period::of(ctx.now().date_naive()).prev(),
    };
    let year = ctx.pipeline.year();
    Some(if p.year < year {
        Period::new(year, 1)?
    } else if p.year > year {
        Period::new(year, 12)?
    } else {
        p
    })
}

/// The run folders of the pipeline (newest first): (period, the manifest's output files).
/// The files a run or review folder's manifest lists, and the manifest.
fn listed_outputs(dir: &std::path::Path) -> Option<(Vec<String>, serde_json::Value)> {
    let bytes = std::fs::read(dir.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let files = v["outputs"]
        .as_array()?
        .iter()
        .filter_map(|o| o["file"].as_str().map(str::to_string))
        .collect();
    Some((files, v))
}

/// The report runs of the year, newest first: (month, files listed, subject).
fn runs(ctx: &Context) -> Vec<(Period, Vec<String>, String)> {
    let dir = ctx.output_dir.join(ctx.pipeline.name());
    let mut out: Vec<_> = (1..=12)
        .filter_map(|m| Period::new(ctx.pipeline.year(), m))
        .filter_map(|p| {
            let (files, v) = listed_outputs(&dir.join(p.to_string()))?;
            let subject = v["digest"]["subject"].as_str().unwrap_or("").to_string();
            Some((p, files, subject))
        })
        .collect();
    out.reverse();
    out
}

/// The files of the year's review folder (`review-<Y>/`) as its manifest lists them.
fn review_files(ctx: &Context) -> Option<(String, Vec<String>)> {
    let folder = format!("review-{}", ctx.pipeline.year());
    let dir = ctx.output_dir.join(ctx.pipeline.name()).join(&folder);
    listed_outputs(&dir).map(|(files, _)| (folder, files))
}

/// Download links to a folder's files.
fn file_links(h: &mut String, folder: &str, files: &[String], token: &str) {
    for f in files {
        h.push_str(&format!(
            "<a href=\"/bureau/file/{folder}/{}?token={}\">{}</a> ",
            urlencode(f),
            esc(token),
            esc(f)
        ));
    }
}

async fn bureau(
    State(w): State<Arc<Web>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = bureau_ok(&w, &query, &headers) {
        return r;
    }
    let Some(period) = period_of(&w.ctx, &query) else {
        return (
            StatusCode::BAD_REQUEST,
            Html(page("参数错误", "<p>统计月份应如 2025-06。</p>")),
        )
            .into_response();
    };
    let w2 = w.clone();
    match tokio::task::spawn_blocking(move || bureau_body(&w2, period)).await {
        Ok(Ok(body)) => Html(page(
            &format!(
                "{}{} 报送情况（{}）",
                w.ctx.pipeline.def.pipeline.city,
                w.ctx.pipeline.def.pipeline.title,
                period.zh()
            ),
            &body,
        ))
        .into_response(),
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(_) => server_error("内部错误"),
    }
}

fn server_error(why: &str) -> Response {
    tracing::error!(error = %why, "web page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(page(
            "出错了",
            "<p>页面生成失败，请稍后再试或联系数据人员。</p>",
        )),
    )
        .into_response()
}

fn bureau_body(w: &Web, period: Period) -> Result<String> {
    let ctx = &w.ctx;
    let token = w.bureau_token.clone().unwrap_or_default();
    let mut h = String::new();
    h.push_str(&format!(
        "<p>数据截至 {}。<a href=\"/api/status?period={period}&amp;token={}\">JSON</a></p>",
        esc(&period::instant_zh(&ctx.now())),
        esc(&token)
    ));
    h.push_str("<h2>各单位各月报送情况</h2>");
    h.push_str(&grid_html(&w.grid(period)?, period));
    // The latest report: its subject (headline figures) and alerts.
    let runs = runs(ctx);
    if let Some((p, _, subject)) = runs.iter().find(|r| r.0 <= period).or(runs.first()) {
        h.push_str(&format!(
            "<h2>最新报告（{}）</h2><p id=\"headline\">{}</p>",
            p.zh(),
            esc(subject)
        ));
        let alerts = ctx
            .output_dir
            .join(ctx.pipeline.name())
            .join(p.to_string())
            .join("alerts.csv");
        if let Ok(text) = std::fs::read_to_string(&alerts) {
            h.push_str("<table id=\"alerts\"><tr><th>级别</th><th>单位</th><th>说明</th></tr>");
            let mut rd = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let head = rd.headers().cloned().unwrap_or_default();
            let at = |k: &str| head.iter().position(|x| x == k);
            for r in rd.records().flatten() {
                let get = |k: &str| at(k).and_then(|i| r.get(i)).unwrap_or("");
                h.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
                    esc(get("severity_zh")),
                    esc(get("unit_name")),
                    esc(get("message"))
                ));
            }
            h.push_str("</table>");
        }
    }
    h.push_str("<h2>报告与下载</h2><ul>");
    if let Some((folder, files)) = review_files(ctx) {
        h.push_str(&format!(
            "<li id=\"review\">{}年度考核验收<br>",
            ctx.pipeline.year()
        ));
        file_links(&mut h, &folder, &files, &token);
        h.push_str("</li>");
    }
    for (p, files, subject) in &runs {
        h.push_str(&format!("<li>{}：{}<br>", p.zh(), esc(subject)));
        file_links(&mut h, &p.to_string(), files, &token);
        h.push_str("</li>");
    }
    h.push_str("</ul>");
    // Everything `fayuan status` says: deliveries, rejected files, schedules, sources.
    let mut text = status::render(&ctx.pipeline, &ctx.data_dir, period, &ctx.now())?;
    for line in (w.extra)(ctx) {
        text.push_str(&line);
        text.push('\n');
    }
    h.push_str(&format!(
        "<h2>详细状态（与 fayuan status 相同）</h2><pre>{}</pre>",
        esc(&text)
    ));
    let store = Store::open(&ctx.data_dir);
    let rejected: Vec<_> = store
        .files()?
        .into_iter()
        .filter(|f| f.outcome == Outcome::Rejected)
        .collect();
    if !rejected.is_empty() {
        h.push_str("<h2>最近被拒收的文件</h2>");
        for f in rejected.iter().rev().take(10) {
            h.push_str(&format!(
                "<p><b>{}</b>（{}）</p><pre>{}</pre>",
                esc(&f.file_name),
                esc(&period::minute_text(&f.arrived_at)),
                esc(&f.problems)
            ));
        }
    }
    Ok(h)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A run's file, only if the run's manifest lists it (the path is never the request's).
async fn download(
    State(w): State<Arc<Web>>,
    UrlPath((period, name)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = bureau_ok(&w, &query, &headers) {
        return r;
    }
    // A run folder (a month) or the year's review, and only a file its manifest lists.
    let found = match Period::parse(&period) {
        Some(p) => runs(&w.ctx)
            .into_iter()
            .find(|r| r.0 == p)
            .map(|r| (p.to_string(), r.1)),
        None => review_files(&w.ctx).filter(|r| r.0 == period),
    };
    let Some((folder, files)) = found else {
        return nf();
    };
    let Some(listed) = files.into_iter().find(|f| *f == name) else {
        return nf();
    };
    // A plain name in the folder, even if a manifest said otherwise: no folder, no `..`.
    if listed.is_empty()
        || listed.starts_with('.')
        || listed.contains(['/', '\\', '\0'])
        || std::path::Path::new(&listed).is_absolute()
    {
        return nf();
    }
    let dir = w.ctx.output_dir.join(w.ctx.pipeline.name()).join(&folder);
    match read_no_links(&dir, &listed) {
        Ok(bytes) => {
            let kind = if listed.ends_with(".xlsx") {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            } else if listed.ends_with(".csv") {
                "text/csv; charset=utf-8"
            } else if listed.ends_with(".html") {
                "text/html; charset=utf-8"
            } else if listed.ends_with(".png") {
                "image/png"
            } else if listed.ends_with(".txt") {
                "text/plain; charset=utf-8"
            } else {
                "application/octet-stream"
            };
            let disposition = format!("attachment; filename*=UTF-8''{}", urlencode(&listed));
            let mut r = bytes.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(_) => nf(),
    }
}

/// A file of a report folder, neither the folder nor the file a symbolic link.
fn read_no_links(dir: &std::path::Path, name: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::symlink_metadata(dir)?.file_type().is_symlink() {
        return Err(std::io::Error::other("a link"));
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(name))?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a file"));
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The JSON twin of the status, for other systems.
async fn api_status(
    State(w): State<Arc<Web>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = bureau_ok(&w, &query, &headers) {
        return r;
    }
    let Some(period) = period_of(&w.ctx, &query) else {
        return (StatusCode::BAD_REQUEST, "period: e.g. 2025-06").into_response();
    };
    let w2 = w.clone();
    let result = tokio::task::spawn_blocking(move || {
        let ctx = &w2.ctx;
        let store = Store::open(&ctx.data_dir);
        let units = status::unit_status(&ctx.pipeline, &store, period, &ctx.now())?;
        let grid = w2.grid(period)?;
        Ok::<_, Error>(serde_json::json!({
            "pipeline": ctx.pipeline.name(),
            "period": period.to_string(),
            "as_of": period::instant_text(&ctx.now()),
            "units": units.iter().map(|u| serde_json::json!({
                "unit_code": u.code,
                "unit_name": u.name,
                "reported": u.latest.is_some(),
                "late": u.latest.as_ref().is_some_and(|l| l.late),
                "version": u.latest.as_ref().map(|l| l.version),
                "arrived_at": u.latest.as_ref().map(|l| l.arrived_at.clone()),
                "source_file": u.latest.as_ref().map(|l| l.source_file.clone()),
                "pending": u.pending,
            })).collect::<Vec<_>>(),
            "grid": grid,
        }))
    })
    .await;
    match result {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(_) => server_error("内部错误"),
    }
}

async fn county(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token) else {
        return nf();
    };
    let unit = unit.clone();
    let w2 = w.clone();
    match tokio::task::spawn_blocking(move || county_body(&w2, &unit, &token, None)).await {
        Ok(Ok(html)) => Html(html).into_response(),
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(_) => server_error("内部错误"),
    }
}

fn county_body(
    w: &Web,
    unit: &crate::config::Unit,
    token: &str,
    result: Option<&str>,
) -> Result<String> {
    let ctx = &w.ctx;
    let period = Period::of(ctx.now().date_naive()).prev();
    let period = if period.year == ctx.pipeline.year() {
        period
    } else {
        Period::new(ctx.pipeline.year(), 12).unwrap_or(period)
    };
    let base = format!("/u/{}/{}", unit.code, token);
    let mut h = String::new();
    if let Some(r) = result {
        h.push_str(&format!(
            "<h2>本次上传结果</h2><pre id=\"result\">{}</pre>",
            esc(r)
        ));
    }
    h.push_str(&format!(
        "<p>数据截至 {}。</p>",
        esc(&period::instant_zh(&ctx.now()))
    ));
    let rows: Vec<UnitRow> = w
        .grid(period)?
        .iter()
        .filter(|r| r.code == unit.code)
        .cloned()
        .collect();
    h.push_str("<h2>本单位各月报送情况</h2>");
    h.push_str(&grid_html(&rows, period));
    // Versions in force, month by month.
    h.push_str("<table id=\"versions\"><tr><th>月份</th><th>采用版本</th></tr>");
    if let Some(r) = rows.first() {
        for c in &r.months {
            h.push_str(&format!(
                "<tr><td>{}月</td><td>{}</td></tr>",
                c.month,
                c.version
                    .map(|v| format!("第{v}版"))
                    .unwrap_or_else(|| "—".into())
            ));
        }
    }
    h.push_str("</table>");
    let store = Store::open(&ctx.data_dir);
    let rejected: Vec<_> = store
        .files()?
        .into_iter()
        .filter(|f| {
            f.outcome == Outcome::Rejected && f.unit_codes.split(',').any(|c| c == unit.code)
        })
        .collect();
    if !rejected.is_empty() {
        h.push_str("<h2>被拒收的文件</h2>");
        for f in rejected.iter().rev().take(10) {
            h.push_str(&format!(
                "<p><b>{}</b>（{}）</p><pre>{}</pre>",
                esc(&f.file_name),
                esc(&period::minute_text(&f.arrived_at)),
                esc(&f.problems)
            ));
        }
    }
    // The template of the month being collected (the one before now, within the year).
    let template_month = period;
    h.push_str(&format!(
        "<h2>报送</h2><p><a id=\"template\" href=\"{base}/template?period={template_month}\">下载{}月报表模板</a></p>\
<form id=\"upload\" method=\"post\" action=\"{base}\" enctype=\"multipart/form-data\">\
<p><input type=\"file\" name=\"file\" id=\"file\" accept=\".xlsx,.xls,.ods,.csv,.json\"> \
<button type=\"submit\" id=\"send\">上传</button></p>\
<p>每次上传一个文件，不超过 {} MB；只能包含本单位的数据。上传后立即检查并显示结果。</p></form>",
        template_month.zh(),
        ctx.pipeline.def.web.max_upload_mb
    ));
    Ok(page(
        &format!("{} {} 报送情况", ctx.pipeline.def.pipeline.title, unit.name),
        &h,
    ))
}

async fn county_template(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token) else {
        return nf();
    };
    let Some(p) = query.get("period").and_then(|s| Period::parse(s)) else {
        return nf();
    };
    if p.year != w.ctx.pipeline.year() {
        return nf();
    }
    match crate::report::template::render(&w.ctx.pipeline, unit, p) {
        Ok(bytes) => {
            let name = crate::report::template::file_name(unit, p);
            let mut r = bytes.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename*=UTF-8''{}",
                urlencode(&name)
            )) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => server_error(&e.to_string()),
    }
}

/// The folder uploads are streamed into before they are put into the inbox whole.
fn uploads_dir(data_dir: &crate::layout::DataDir) -> std::path::PathBuf {
    data_dir.arrivals().join("uploads")
}

/// Removes uploads a killed server was still receiving (nothing was answered for them).
fn sweep_uploads(data_dir: &crate::layout::DataDir) {
    fsutil::sweep_temp_files(&uploads_dir(data_dir), 0);
}

/// The one task that ingests uploads: each request takes what waits in the inbox (every upload
/// put there before it, in arrival order) under the write lock; requests that come while it
/// works are answered by the next ingest, together.
fn ingest_task(ctx: Context) -> tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Taken>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Taken>>(1024);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut waiting = vec![first];
            while let Ok(more) = rx.try_recv() {
                waiting.push(more);
            }
            let c = ctx.clone();
            let taken = tokio::task::spawn_blocking(move || {
                let wait =
                    std::time::Duration::from_secs(c.pipeline.def.schedule.lock_wait_seconds);
                let _lock = crate::lock::acquire(&c.data_dir, wait, "web upload")?;
                ingest::ingest(&c.pipeline, &c.data_dir, c.now()).map(|s| s.files)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
            if let Err(e) = &taken {
                tracing::warn!(error = %e, "web: uploads kept in the inbox, not yet ingested");
            }
            let taken: Taken = Arc::new(taken);
            for w in waiting {
                let _ = w.send(taken.clone());
            }
        }
    });
    tx
}

/// An upload as received: its bytes on disk (a temporary file), their size and SHA-256.
struct Received {
    tmp: std::path::PathBuf,
    name: String,
    size: u64,
    sha: String,
}

/// Why an upload could not be received whole.
enum NotReceived {
    /// No file field, or an empty one.
    NoFile,
    /// Beyond the hard cap: cut off, nothing kept.
    TooLarge,
    /// The form is not multipart as a browser sends it.
    Malformed,
    /// The body did not arrive within `body_timeout_seconds`.
    Slow,
    /// The disk.
    Failed(String),
}

/// Streams the `file` field of a multipart form to a temporary file, hashing it; other fields
/// are read and dropped. At most `cap` bytes are kept.
async fn receive(
    form: &mut Multipart,
    dir: &std::path::Path,
    cap: u64,
) -> std::result::Result<Received, NotReceived> {
    use tokio::io::AsyncWriteExt;
    let mut got: Option<Received> = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            NotReceived::TooLarge
        } else {
            NotReceived::Malformed
        }
    })? {
        let wanted = field.name() == Some("file") && got.is_none();
        if !wanted {
            while field
                .chunk()
                .await
                .map_err(|_| NotReceived::Malformed)?
                .is_some()
            {}
            continue;
        }
        let name = field.file_name().unwrap_or("上传文件").to_string();
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| NotReceived::Failed(e.to_string()))?;
        let tmp = fsutil::temp_name(&dir.join(format!("{:016x}", fastrand::u64(..))));
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| NotReceived::Failed(e.to_string()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let written = async {
            while let Some(chunk) = field.chunk().await.map_err(|_| NotReceived::Malformed)? {
                size += chunk.len() as u64;
                if size > cap {
                    return Err(NotReceived::TooLarge);
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| NotReceived::Failed(e.to_string()))?;
            }
            file.sync_all()
                .await
                .map_err(|e| NotReceived::Failed(e.to_string()))
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        got = Some(Received {
            tmp,
            name,
            size,
            sha: hex::encode(hasher.finalize()),
        });
    }
    got.filter(|r| r.size > 0).ok_or(NotReceived::NoFile)
}

/// A county's upload: received to disk (its request time is its arrival), put into the inbox
/// with a note that only this unit's rows may be taken, ingested by the ingest task, the result
/// shown at once. A refused upload is kept in quarantine with the reason, like any rejected file.
async fn upload(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    mut form: Multipart,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token) else {
        return nf();
    };
    let unit = unit.clone();
    let arrived = w.ctx.now();
    let web = &w.ctx.pipeline.def.web;
    let Ok(permit) = w.uploads.clone().acquire_owned().await else {
        return server_error("上传通道已关闭");
    };
    let dir = uploads_dir(&w.ctx.data_dir);
    let got = tokio::time::timeout(
        std::time::Duration::from_secs(web.body_timeout_seconds),
        receive(&mut form, &dir, hard_cap(web)),
    )
    .await
    .unwrap_or(Err(NotReceived::Slow));
    let r = match got {
        Ok(r) => r,
        Err(NotReceived::NoFile) => {
            return answer(
                StatusCode::BAD_REQUEST,
                "未选择文件",
                "<p>请选择要上传的月报表文件后再点“上传”。</p>",
            );
        }
        Err(NotReceived::TooLarge) => return too_large(&w),
        Err(NotReceived::Malformed) => {
            return answer(
                StatusCode::BAD_REQUEST,
                "上传格式有误",
                "<p>上传的表单格式有误（应为浏览器提交的 multipart/form-data 表单），文件未收到。请在本页面用“上传”按钮重新上传。</p>",
            );
        }
        Err(NotReceived::Slow) => {
            return answer(
                StatusCode::REQUEST_TIMEOUT,
                "上传超时",
                &format!(
                    "<p>文件未在 {} 秒内传完，未收到。请检查网络后重新上传。</p>",
                    web.body_timeout_seconds
                ),
            );
        }
        Err(NotReceived::Failed(why)) => return server_error(&format!("上传未能保存：{why}")),
    };
    // Where it waits in the inbox: a folder of its own, the county's name made safe (an Office
    // lock-file name would otherwise be left aside by the ingest).
    let mut disk = ingest::disk_name(&r.name, 120);
    if disk.starts_with("~$") {
        disk.replace_range(0..1, "_");
    }
    let inbox_name = format!(
        "web-{}-{}-{:04x}/{disk}",
        unit.code,
        arrived.format("%Y%m%dT%H%M%S"),
        fastrand::u16(..)
    );
    let limit = crate::config::mb_bytes(web.max_upload_mb);
    let over = r.size > limit;
    let refuse = if ingest::office_lock(&r.name) {
        Some(format!(
            "文件名“{}”是 Office 打开文件时生成的锁文件，不是报表。请关闭 Excel 后上传报表文件本身。",
            r.name
        ))
    } else if r.size > limit {
        Some(format!(
            "文件过大（{:.1} MB，上限 {} MB），未读取。月报表通常只有几 KB，请检查是否选错了文件。",
            r.size as f64 / 1e6,
            web.max_upload_mb
        ))
    } else {
        None
    };
    let note = ingest::arrival::Arrival {
        name: inbox_name.clone(),
        sha256: r.sha.clone(),
        at: arrived.into(),
        door: ingest::arrival::Door::Web,
        only_unit: Some((unit.code.clone(), unit.name.clone())),
        original_name: r.name.clone(),
        refuse,
    };
    let data_dir = w.ctx.data_dir.clone();
    let tmp = r.tmp.clone();
    let kept =
        tokio::task::spawn_blocking(move || ingest::arrival::put_file(&data_dir, &tmp, &note))
            .await;
    if !matches!(kept, Ok(Ok(_))) {
        let _ = std::fs::remove_file(&r.tmp);
        let why = match kept {
            Ok(Err(e)) => e.to_string(),
            _ => "内部错误".into(),
        };
        return server_error(&format!("上传未能保存：{why}"));
    }
    // Kept: from here on the county is told so, whatever the ingest says; the next upload may
    // come in.
    drop(permit);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let taken = match w.ingest.send(tx).await {
        Ok(()) => tokio::time::timeout(
            std::time::Duration::from_secs(w.ctx.pipeline.def.schedule.lock_wait_seconds + 120),
            rx,
        )
        .await
        .ok()
        .and_then(|r| r.ok()),
        Err(_) => None,
    };
    let w2 = w.clone();
    let token2 = token.clone();
    let text = tokio::task::spawn_blocking(move || {
        let entry = taken
            .as_ref()
            .and_then(|t| t.as_ref().as_ref().ok())
            .and_then(|files| {
                files
                    .iter()
                    .find(|f| f.file_name == inbox_name && f.sha256 == r.sha)
                    .cloned()
            })
            .or_else(|| {
                // Taken by another ingest (the daemon's) meanwhile: the store knows.
                Store::open(&w2.ctx.data_dir)
                    .files()
                    .ok()?
                    .into_iter()
                    .find(|f| f.file_name == inbox_name && f.sha256 == r.sha)
            });
        let text = upload_result(&r.name, &inbox_name, entry.as_ref());
        county_body(&w2, &unit, &token2, Some(&text))
    })
    .await;
    // Kept, but over the limit: the page says what happened, under the status that says so.
    let status = if over {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::OK
    };
    match text {
        Ok(Ok(html)) => (status, Html(html)).into_response(),
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(_) => server_error("内部错误"),
    }
}

/// A small page with a status.
fn answer(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(page(title, body))).into_response()
}

fn too_large(w: &Web) -> Response {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        "文件过大",
        &format!(
            "<p>上传的文件远超 {} MB 的上限，已中止接收，未保存。月报表通常只有几 KB，请检查是否选错了文件。</p>",
            w.ctx.pipeline.def.web.max_upload_mb
        ),
    )
}

/// What an upload came to, in Chinese, from the store's record of it.
fn upload_result(name: &str, inbox_name: &str, f: Option<&crate::store::FileEntry>) -> String {
    let Some(f) = f else {
        return format!("{name}：已收到并保存，稍后处理（系统繁忙），处理结果将显示在本页面。");
    };
    match f.outcome {
        Outcome::Accepted => format!("{name}：已接收，{} 行。", f.rows_accepted),
        Outcome::Partial => format!(
            "{name}：部分接收，{} 行接收，{} 行被拒收：\n{}",
            f.rows_accepted,
            f.rows_rejected,
            f.problems.replace(inbox_name, name)
        ),
        Outcome::Rejected => format!(
            "{name}：未接收（文件已保存备查）。问题如下，请改正后重新上传整个文件：\n{}",
            f.problems.replace(inbox_name, name)
        ),
        Outcome::Duplicate => format!("{name}：此前已接收完全相同的文件，未重复收取。"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        assert_eq!(
            hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
