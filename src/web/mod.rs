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

mod act;
mod auth;
mod cache;
mod county;
mod fill;
mod metrics;
mod once;
mod pages;
mod refused;
mod render;
mod signoff;
mod upload;

pub use auth::{links, same_secret, secret, unit_path, unit_token, unit_url};

use crate::app::Context;
use crate::error::{Error, Result};
use crate::period::Period;
use crate::records::Records;
use crate::status::Board;
use crate::store::Store;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use county::{county, county_template};
use pages::{api_status, bureau, download};
use render::not_found;
use std::collections::HashMap;
use std::sync::Arc;
use upload::{ingest_task, sweep_uploads, upload};

/// Lines about the machinery (schedules, heartbeat) the driver adds to the bureau's page: the
/// daemon knows them, this module does not import it.
pub type ExtraStatus = fn(&Context) -> Vec<String>;

struct Web {
    ctx: Context,
    bureau_token: Option<String>,
    /// `[[web.staff]]` whose token is set: (name, token).
    staff: Vec<(String, String)>,
    secret: Option<Vec<u8>>,
    extra: ExtraStatus,
    /// Uploads being received at once.
    uploads: Arc<tokio::sync::Semaphore>,
    /// Uploads being received at once per unit (`max_uploads_per_unit`).
    unit_uploads: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// Asks the ingest task to take what waits in the inbox; answers with what it took.
    ingest: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Taken>>,
    /// Boards already computed, by (store generation, month, minute of "now").
    boards: std::sync::Mutex<HashMap<BoardKey, Arc<Board>>>,
    /// The store as last read (`Records`, which knows the generation it was read at).
    records: std::sync::Mutex<Option<Arc<Records>>>,
    /// The bureau's page as rendered, by what it was made from (`cache.rs`).
    pages: std::sync::Mutex<Vec<cache::Kept>>,
    /// `/metrics`'s bearer token (`[web] metrics_token_env`; unset: no such page).
    metrics_token: Option<String>,
    /// The requests in hand and answered (`/metrics`).
    in_flight: InFlight,
}

impl Web {
    /// The upload slots of one unit.
    fn unit_uploads(&self, code: &str) -> Arc<tokio::sync::Semaphore> {
        let mut m = self.unit_uploads.lock().unwrap_or_else(|e| e.into_inner());
        let per_unit = self.ctx.pipeline.def.web.max_uploads_per_unit.max(1);
        m.entry(code.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(per_unit)))
            .clone()
    }

    /// What happened, as the pages ask it (`Records`): the store read once per generation, its
    /// ledgers read when asked.
    fn records(&self) -> Result<Arc<Records>> {
        let generation = Store::open(&self.ctx.data_dir).generation()?;
        let mut m = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = m.as_ref()
            && r.generation() == generation
        {
            return Ok(r.clone());
        }
        let r = Arc::new(Records::open(&self.ctx.data_dir)?);
        *m = Some(r.clone());
        Ok(r)
    }

    /// Who has reported (the units' status, the grid, the files seen), analysed once per store
    /// generation, month and minute: a page asked for again, or by many counties at once, reads
    /// it from memory; each commit of the store (a new generation) makes it anew.
    ///
    /// Every unit's, also on a unit's own page: its figures rank it among all units.
    fn board(&self, period: Period) -> Result<Arc<Board>> {
        let ctx = &self.ctx;
        let store = Store::open(&ctx.data_dir);
        // The returns', notes' and sign-offs' ledgers (append-only) change the grid too (已退回,
        // 已说明, 待负责人确认): their sizes are in the key.
        let returns = [
            ctx.data_dir.returns(),
            ctx.data_dir.notes(),
            ctx.data_dir.signoffs(),
            ctx.data_dir.confirms(),
        ]
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum::<u64>();
        let key = (
            store.generation()?,
            period,
            ctx.now().timestamp() / 60,
            returns,
        );
        // One computation at a time: pages asked for together wait for the first, then read it.
        let mut m = self.boards.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = m.get(&key) {
            return Ok(b.clone());
        }
        let b = Arc::new(crate::status::board(
            &ctx.pipeline,
            self.records()?.as_ref(),
            period,
            &ctx.now(),
        )?);
        // Only the newest generation and minute are worth keeping.
        m.retain(|k, _| k.0 == key.0 && k.2 == key.2 && k.3 == key.3);
        m.insert(key, b.clone());
        Ok(b)
    }
}

/// (store generation, month, minute of "now", size of the returns' ledger): what a board is
/// computed from.
type BoardKey = (i64, Period, i64, u64);

/// What one ingest of the web's ingest task took (or why it could not).
type Taken = Arc<crate::error::Result<Vec<crate::store::FileEntry>>>;

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

/// `[[web.staff]]` whose token is set (16+ characters): (name, token); the others are told.
fn staff_tokens(p: &crate::config::Pipeline) -> Vec<(String, String)> {
    p.def
        .web
        .staff
        .iter()
        .zip(p.env().staff_tokens())
        .filter_map(|(s, (_, token))| {
            if token.is_none() {
                tracing::warn!(variable = %s.token_env, staff = %s.name, "a staff token is unset or shorter than 16 characters: that person cannot sign in");
            }
            token.as_ref().map(|t| (s.name.clone(), t.expose().to_string()))
        })
        .collect()
}

/// Every address the pages answer.
fn routes(state: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(bureau))
        .route("/bureau", get(bureau))
        .route("/bureau/file/{period}/{name}", get(download))
        .route("/api/status", get(api_status))
        // For the service manager and monitoring: no token, nothing about the units.
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/u/{code}/{token}", get(county).post(upload))
        .route("/u/{code}/{token}/template", get(county_template))
        .route("/u/{code}/{token}/upload", post(upload))
        // What people change: POST forms with the page's anti-forgery token (anything else 403).
        .route("/bureau/act", post(act::bureau_act).fallback(act::not_post))
        .route("/bureau/record", get(act::bureau_record))
        .route("/bureau/done/{key}", get(act::bureau_done))
        .route("/u/{code}/{token}/done/{key}", get(act::county_done))
        .route(
            "/u/{code}/{token}/answer",
            post(act::county_answer).fallback(act::not_post),
        )
        .route(
            "/u/{code}/{token}/explain",
            post(act::county_explain).fallback(act::not_post),
        )
        .route(
            "/u/{code}/{token}/fill",
            get(fill::fill_form).post(fill::fill_submit),
        )
        .route("/s/{code}/{token}", get(signoff::signoff_page))
        .route(
            "/s/{code}/{token}/sign",
            post(signoff::sign).fallback(act::not_post),
        )
        .route("/s/{code}/{token}/done/{key}", get(signoff::signoff_done))
        .fallback(not_found)
        // Uploads are streamed to disk with their own cap; nothing else has a body worth reading.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(private))
        .with_state(state)
}

/// 200 `ready`, or 503 with one line per reason (`health.rs`; details only in `fayuan health`).
async fn readyz(axum::extract::State(w): axum::extract::State<Arc<Web>>) -> Response {
    use axum::response::IntoResponse;
    let ctx = w.ctx.clone();
    let problems = tokio::task::spawn_blocking(move || crate::health::check(&ctx))
        .await
        .unwrap_or_default();
    if problems.is_empty() {
        return "ready\n".into_response();
    }
    let text: String = problems.iter().map(|p| p.line() + "\n").collect();
    (axum::http::StatusCode::SERVICE_UNAVAILABLE, text).into_response()
}

/// The pages' state: the tokens and the link secret from the environment (a page whose token is
/// missing is off, and the log says so), the upload permits and the one ingest task.
fn state(ctx: Context, extra: ExtraStatus, in_flight: InFlight) -> Arc<Web> {
    let w = &ctx.pipeline.def.web;
    let env = ctx.pipeline.env();
    let metrics_token = env.metrics_token().map(|t| t.expose().to_string());
    let bureau_token = env.bureau_token().map(|t| t.expose().to_string());
    let staff = staff_tokens(&ctx.pipeline);
    let secret = secret(&ctx.pipeline);
    if bureau_token.is_none() && staff.is_empty() {
        tracing::warn!(variable = %w.token_env, "the bureau's token is unset or shorter than 16 characters: the bureau's pages are off");
    }
    if secret.is_none() {
        tracing::warn!(variable = %w.secret_env, "the link secret is unset or shorter than 16 characters: the county pages are off");
    }
    let uploads = Arc::new(tokio::sync::Semaphore::new(w.max_concurrent_uploads));
    let ingest = ingest_task(ctx.clone());
    Arc::new(Web {
        ctx,
        bureau_token,
        staff,
        secret,
        extra,
        uploads,
        unit_uploads: std::sync::Mutex::new(HashMap::new()),
        ingest,
        boards: std::sync::Mutex::new(HashMap::new()),
        records: std::sync::Mutex::new(None),
        pages: std::sync::Mutex::new(Vec::new()),
        metrics_token,
        in_flight,
    })
}

/// Serves the pages until `stop` turns true, or until a sync fails in this process (then the
/// failed sync is the error: the process stops for its restart to recover).
pub async fn serve(
    ctx: Context,
    extra: ExtraStatus,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let w = &ctx.pipeline.def.web;
    let listen = w.listen.clone();
    // Connections are open files: at most the configured number, and always some files to spare.
    let open_files = raise_open_files();
    let max_connections = w
        .max_connections
        .min(open_files.saturating_sub(256).max(16) as usize);
    let header_timeout = std::time::Duration::from_secs(w.header_timeout_seconds);
    let per_address_cap = w.max_connections_per_address.max(1);
    sweep_uploads(&ctx.data_dir);
    let in_flight = InFlight::default();
    let app = routes(state(ctx, extra, in_flight.clone())).layer(
        axum::middleware::from_fn_with_state(in_flight.clone(), InFlight::counted),
    );
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
        Error::Runtime(crate::error::during(
            format!("web: cannot listen on {listen}"),
            e,
        ))
    })?;
    tracing::info!(listen = %listen, max_connections, "web pages served");
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let per_address: Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>> = Arc::default();

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
            // A failed sync (the uploads' ingest here, or a job of the daemon): nothing more is
            // taken in; the process stops and its restart recovers from the inbox.
            _ = crate::error::writing_stops() => break,
        };
        let (stream, peer) = tokio::select! {
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
            // A failed sync (the uploads' ingest here, or a job of the daemon): nothing more is
            // taken in; the process stops and its restart recovers from the inbox.
            _ = crate::error::writing_stops() => break,
        };
        while open.try_join_next().is_some() {}
        // One address holds at most its share of the connections: beyond it, closed at once.
        let Some(share) = PerAddress::take(&per_address, peer.ip(), per_address_cap) else {
            drop(stream);
            continue;
        };
        open.spawn(one_connection(
            stream,
            app.clone().layer(axum::Extension(Peer(peer))),
            header_timeout,
            closing.clone(),
            (slot, share),
        ));
    }
    // Stop: no new connection; the requests in hand are answered (an upload taken in when a sync
    // failed is told it is kept), then the connections close (at most 10 s each).
    in_flight.drained(std::time::Duration::from_secs(10)).await;
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(12), async {
        while open.join_next().await.is_some() {}
    })
    .await;
    match crate::error::failed_sync() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One connection, HTTP/1 with the header-read timeout and bounded buffers, until it ends or the
/// server stops (then it finishes what it is doing, at most 10 s); it holds its slot until then.
async fn one_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    header_timeout: std::time::Duration,
    mut closing: tokio::sync::watch::Receiver<bool>,
    _slot: (tokio::sync::OwnedSemaphorePermit, PerAddress),
) {
    let service = hyper_util::service::TowerToHyperService::new(app);
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
}

/// The requests being answered: a stop waits for them before it closes the connections (hyper's
/// graceful close drops a request whose body was read but whose answer is not yet written); and
/// the requests answered, by status class (`/metrics`).
#[derive(Clone, Default)]
pub(super) struct InFlight(Arc<Counts>);

#[derive(Default)]
pub(super) struct Counts {
    open: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
    /// Answers by status class: 1xx … 5xx.
    classes: [std::sync::atomic::AtomicU64; 5],
}

impl InFlight {
    async fn counted(
        axum::extract::State(f): axum::extract::State<InFlight>,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> Response {
        struct Done(InFlight);
        impl Drop for Done {
            fn drop(&mut self) {
                let c = &(self.0).0;
                if c.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                    c.idle.notify_waiters();
                }
            }
        }
        // After a failed sync nothing more is written: a form or an upload is refused (503),
        // the county told to send it again after the restart; reading pages goes on.
        let started = std::time::Instant::now();
        let peer = request.extensions().get::<Peer>().map(|p| p.0);
        let (method, path) = (request.method().clone(), shown_path(request.uri()));
        let response =
            if crate::error::writing_stopped() && request.method() != axum::http::Method::GET {
                render::answer(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "系统正在重启",
                    "系统暂时无法保存，本次提交未保存。请几分钟后刷新页面重新提交。",
                )
            } else {
                f.0.open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _done = Done(f.clone());
                next.run(request).await
            };
        let status = response.status().as_u16();
        let class = (status / 100).clamp(1, 5) as usize - 1;
        f.0.classes[class].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Every request on the log (time, address, path — tokens and keys masked; 网络安全法
        // §21), a refused one as a warning.
        let address = peer.map_or_else(String::new, |p| p.to_string());
        let ms = started.elapsed().as_millis() as u64;
        if matches!(status, 401 | 403 | 404) {
            tracing::warn!(target: "fayuan::web::access", %address, %method, %path, status, ms, "web request refused");
        } else {
            tracing::info!(target: "fayuan::web::access", %address, %method, %path, status, ms, "web request");
        }
        response
    }

    /// Until no request is being answered, or `most` has passed.
    async fn drained(&self, most: std::time::Duration) {
        let _ = tokio::time::timeout(most, async {
            loop {
                let idle = self.0.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.0.open.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
    }

    /// The answers so far by status class (`2xx` …), the classes seen.
    pub(super) fn by_class(&self) -> Vec<(&'static str, u64)> {
        ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .into_iter()
            .zip(&self.0.classes)
            .map(|(name, n)| (name, n.load(std::sync::atomic::Ordering::Relaxed)))
            .filter(|(name, n)| *n > 0 || *name != "1xx")
            .collect()
    }
}

/// The address a request came from (each connection's, set when it is accepted).
#[derive(Clone, Copy)]
struct Peer(std::net::SocketAddr);

/// A request's path and query as the log shows it: the token of a unit's or a sign-off link,
/// a form's one-time key and every `token=` value masked.
fn shown_path(uri: &axum::http::Uri) -> String {
    let mut parts: Vec<String> = uri.path().split('/').map(str::to_string).collect();
    // /u/<code>/<token>…, /s/<code>/<token>…, …/done/<key>
    if matches!(parts.get(1).map(String::as_str), Some("u" | "s")) && parts.len() > 3 {
        parts[3] = "***".into();
    }
    if let Some(k) = parts.iter().position(|p| p == "done")
        && k + 1 < parts.len()
    {
        parts[k + 1] = "***".into();
    }
    let mut out = parts.join("/");
    if let Some(q) = uri.query() {
        let masked: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if matches!(k, "token" | "result" | "once" | "csrf") => {
                    format!("{k}=***")
                }
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    out
}

/// One connection's count against its address's share; given back when it closes.
struct PerAddress {
    counts: Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl PerAddress {
    /// Counts a connection from `ip`, if the address has fewer than `cap` open.
    fn take(
        counts: &Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>>,
        ip: std::net::IpAddr,
        cap: usize,
    ) -> Option<PerAddress> {
        let mut m = counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        // This machine (a reverse proxy in front, the tests) is every county at once: not capped.
        if *n >= cap && !ip.to_canonical().is_loopback() {
            tracing::warn!(address = %ip, cap, "web: too many connections from one address");
            return None;
        }
        *n += 1;
        Some(PerAddress {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for PerAddress {
    fn drop(&mut self) {
        let mut m = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Every answer: never cached, never framed, no referrer (the pages carry tokens in their links).
pub(super) async fn private(mut r: Response) -> Response {
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
