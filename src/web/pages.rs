//! The pages: the bureau's status page and its JSON twin, each county's page, downloads of a
//! run's files and the monthly template. The HTML is the minijinja templates in `templates/`
//! (every value escaped, no script, no outside asset); this module gathers what they show —
//! every figure from the store's analyses (the grid's states from sql/22_grid.sql), the run
//! folders' manifests or `fayuan status` — and paints nothing itself.

use super::Web;
use super::auth::{Viewer, bureau_ok, bureau_who, form_token};
use super::refused::refused;
use super::render::{answer, nf, render, ser, server_error, urlencode};
use crate::app::Context;
use crate::error::{Error, Result};
use crate::layout::OutputDir;
use crate::period::{self, Period};
use crate::status::{self, UnitRow};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

/// One cell of the grid as painted: the state's words and its code (the CSS class).
#[derive(Serialize)]
struct CellView<'a> {
    month: u32,
    state: &'a str,
    code: &'a str,
    /// The version in force (the county page's table).
    version: Option<i64>,
}

#[derive(Serialize)]
struct RowView<'a> {
    code: &'a str,
    name: &'a str,
    months: Vec<CellView<'a>>,
}

/// The grid's rows as the templates read them.
fn grid_view(rows: &[UnitRow]) -> Vec<RowView<'_>> {
    rows.iter()
        .map(|r| RowView {
            code: &r.code,
            name: &r.name,
            months: r
                .months
                .iter()
                .map(|c| CellView {
                    month: c.month,
                    state: &c.state,
                    code: &c.code,
                    version: c.version,
                })
                .collect(),
        })
        .collect()
}

/// The units × months grid as HTML, painted once per board (a province's 1,440 cells are most of
/// the bureau's page; twenty staff asking at once read it from memory).
fn grid_html(board: &Arc<status::Board>, months: u32) -> Result<String> {
    // The board painted is kept with its painting: the same board (the same Arc) is the same grid.
    type Painted = Option<(Arc<status::Board>, u32, Arc<String>)>;
    static PAINTED: std::sync::Mutex<Painted> = std::sync::Mutex::new(None);
    let mut p = PAINTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((b, m, html)) = p.as_ref()
        && Arc::ptr_eq(b, board)
        && *m == months
    {
        return Ok(html.as_str().to_string());
    }
    let html = render(
        "grid.html",
        minijinja::context! {
            rows => ser(grid_view(&board.grid)),
            months => (1..=months).collect::<Vec<_>>(),
        },
    )
    .map_err(Error::Internal)?;
    *p = Some((board.clone(), months, Arc::new(html.clone())));
    Ok(html)
}

/// The period asked for (`?period=2025-06`), else the month before now, within the year.
pub(super) fn period_of(ctx: &Context, query: &HashMap<String, String>) -> Option<Period> {
    let p = match query.get("period") {
        Some(s) => Period::parse(s)?,
        None => Period::of(ctx.now().date_naive()).prev(),
    };
    let year = ctx.pipeline.year();
    Some(if p.year() < year {
        Period::new(year, 1)?
    } else if p.year() > year {
        Period::new(year, 12)?
    } else {
        p
    })
}

/// The files a run or review folder's manifest lists, and the manifest.
pub(super) fn listed_outputs(dir: &std::path::Path) -> Option<(Vec<String>, Listing)> {
    /// What the pages read of a manifest (the rest — the rows used, often most of it — is
    /// skipped, not built).
    #[derive(serde::Deserialize)]
    struct Manifest {
        outputs: Vec<Output>,
        #[serde(default)]
        as_of: String,
        #[serde(default)]
        digest: Option<Digest>,
    }
    #[derive(serde::Deserialize)]
    struct Output {
        file: String,
    }
    #[derive(serde::Deserialize)]
    struct Digest {
        #[serde(default)]
        subject: String,
    }
    type Seen = HashMap<std::path::PathBuf, (std::time::SystemTime, u64, Vec<String>, Listing)>;
    // Read again only when the manifest changed (a page asks for twelve of them each time).
    static SEEN: LazyLock<std::sync::Mutex<Seen>> = LazyLock::new(Default::default);
    let path = dir.join(crate::layout::MANIFEST);
    let meta = std::fs::metadata(&path).ok()?;
    let stamp = (meta.modified().ok()?, meta.len());
    if let Some((t, len, files, l)) = SEEN.lock().ok()?.get(&path)
        && (*t, *len) == stamp
    {
        return Some((files.clone(), l.clone()));
    }
    let bytes = std::fs::read(&path).ok()?;
    let m: Manifest = serde_json::from_slice(&bytes).ok()?;
    let files: Vec<String> = m.outputs.into_iter().map(|o| o.file).collect();
    let listing = Listing {
        as_of: m.as_of,
        subject: m.digest.map(|d| d.subject).unwrap_or_default(),
    };
    if let Ok(mut seen) = SEEN.lock() {
        seen.insert(path, (stamp.0, stamp.1, files.clone(), listing.clone()));
    }
    Some((files, listing))
}

/// What a run's manifest says besides its files: when it was made (as of), the digest's subject.
#[derive(Debug, Clone, Default)]
pub(super) struct Listing {
    pub as_of: String,
    pub subject: String,
}

/// The report runs of the year, newest first: (month, files listed, subject).
pub(super) fn runs(ctx: &Context) -> Vec<(Period, Vec<String>, String)> {
    let mut out: Vec<_> = (1..=12)
        .filter_map(|m| Period::new(ctx.pipeline.year(), m))
        .filter_map(|p| {
            let (files, l) = listed_outputs(&ctx.output_dir.run(ctx.pipeline.name(), p))?;
            Some((p, files, l.subject))
        })
        .collect();
    out.reverse();
    out
}

/// The files of the year's review folder (`review-<Y>/`) as its manifest lists them.
pub(super) fn review_files(ctx: &Context) -> Option<(String, Vec<String>)> {
    let year = ctx.pipeline.year();
    let dir = ctx.output_dir.review(ctx.pipeline.name(), year);
    listed_outputs(&dir).map(|(files, _)| (OutputDir::review_folder(year), files))
}

/// A download link.
#[derive(Serialize)]
struct Link {
    href: String,
    name: String,
}

/// Download links to a folder's files.
fn links(folder: &str, files: &[String], token: &str) -> Vec<Link> {
    files
        .iter()
        .map(|f| Link {
            href: format!("/bureau/file/{folder}/{}?token={token}", urlencode(f)),
            name: f.clone(),
        })
        .collect()
}

pub(super) async fn bureau(
    State(w): State<Arc<Web>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let viewer = match bureau_who(&w, &query, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(period) = period_of(&w.ctx, &query) else {
        return answer(
            StatusCode::BAD_REQUEST,
            "参数错误",
            "统计月份应如 2025-06。",
        );
    };
    let w2 = w.clone();
    match tokio::task::spawn_blocking(move || bureau_page(&w2, period, &viewer)).await {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(_) => server_error("内部错误"),
    }
}

/// The latest report's alerts, as its `alerts.csv` lists them (None: no such file).
pub(super) fn latest_alerts(
    ctx: &Context,
    p: Period,
) -> Option<Vec<BTreeMap<&'static str, String>>> {
    let path = ctx
        .output_dir
        .run(ctx.pipeline.name(), p)
        .join("alerts.csv");
    let text = std::fs::read_to_string(path).ok()?;
    let mut rd = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let head = rd.headers().cloned().unwrap_or_default();
    let at = |k: &str| head.iter().position(|x| x == k);
    Some(
        rd.records()
            .flatten()
            .map(|r| {
                let get = |k: &str| at(k).and_then(|i| r.get(i)).unwrap_or("").to_string();
                BTreeMap::from([
                    ("rule", get("rule")),
                    ("severity", get("severity_zh")),
                    ("unit", get("unit_name")),
                    ("message", get("message")),
                ])
            })
            .collect(),
    )
}

/// Everything `fayuan status` says: deliveries, rejected files, schedules, sources — and first,
/// when the month's report is older than files accepted after it, that it should be made again.
fn status_text(w: &Web, period: Period, board: &status::Board) -> Result<String> {
    let ctx = &w.ctx;
    let mut status_text = status::render_from(
        &ctx.pipeline,
        w.records()?.as_ref(),
        period,
        &ctx.now(),
        &board.units,
    )?;
    if let Some(line) = status::stale_line(&ctx.output_dir, &ctx.pipeline, period, &board.files) {
        status_text.insert_str(0, &line);
    }
    for line in (w.extra)(ctx) {
        status_text.push_str(&line);
        status_text.push('\n');
    }
    Ok(status_text)
}

/// The bureau's page: the grid, the latest report and its alerts, every report's files, the
/// text of `fayuan status`, the files refused lately.
pub(super) fn bureau_page(w: &Web, period: Period, viewer: &Viewer) -> Result<Response> {
    let board = w.board(period)?;
    // The key before the rendering: what changes meanwhile is a new key next time.
    let key = super::cache::PageKey::of(w, period, viewer);
    let html = match super::cache::get(w, &key, &board) {
        Some(html) => html,
        None => {
            let html = super::render::marked(|| bureau_html(w, period, viewer, &board))?;
            super::cache::keep(w, key, board, html)
        }
    };
    Ok(Html(super::render::filled(&html)).into_response())
}

/// The bureau's page as HTML (its forms' one-time keys as `once()` gives them).
fn bureau_html(
    w: &Web,
    period: Period,
    viewer: &Viewer,
    board: &Arc<crate::status::Board>,
) -> Result<String> {
    let ctx = &w.ctx;
    let token = viewer.token.clone();
    let board = board.clone();
    let runs = runs(ctx);
    let latest = runs
        .iter()
        .find(|r| r.0 <= period)
        .or(runs.first())
        .map(|(p, _, subject)| {
            minijinja::context! {
                period_zh => p.zh(),
                subject => subject,
                alerts => ser(latest_alerts(ctx, *p)),
            }
        });
    let review = review_files(ctx).map(|(folder, files)| {
        minijinja::context! { year => ctx.pipeline.year(), links => ser(links(&folder, &files, &token)) }
    });
    let runs: Vec<_> = runs
        .iter()
        .map(|(p, files, subject)| {
            minijinja::context! {
                period_zh => p.zh(),
                subject => subject,
                links => ser(links(&OutputDir::run_folder(*p), files, &token)),
            }
        })
        .collect();
    let status_text = status_text(w, period, &board)?;
    let def = &ctx.pipeline.def.pipeline;
    render(
        "bureau.html",
        minijinja::context! {
            title => format!("{}{} 报送情况（{}）", def.city, def.title, period.zh()),
            palette => ser(crate::palette::for_templates()),
            as_of => period::instant_zh(&ctx.now()),
            json_href => format!("/api/status?period={period}&token={token}"),
            months => (1..=period.month()).collect::<Vec<_>>(),
            grid_html => minijinja::Value::from_safe_string(grid_html(&board, period.month())?),
            latest,
            review,
            runs,
            status_text,
            rejected => ser(refused(&board.files, &board.grid, |_| true, None)),
            // 指导督促: the returns waiting for a new version, the supervision items still open.
            returned => ser(w.records()?.open_returns(Some(ctx.now()))?
                .into_iter()
                .map(|r| format!(
                    "{}：{}——{}（{}，{} 退回）",
                    ctx.pipeline.unit(&r.unit).map_or(r.unit.clone(), |u| u.name.clone()),
                    Period::parse(&r.period).map_or(r.period.clone(), |p| p.zh()),
                    r.reason, r.by, r.at
                ))
                .collect::<Vec<_>>()),
            period_zh => period.zh(),
            unconfirmed => status::unconfirmed_line(&ctx.pipeline, w.records()?.as_ref(), period, &ctx.now())?,
            // The forms: who acts, and the page's anti-forgery token.
            who => viewer.name.clone(),
            act_href => format!("/bureau/act?token={token}&period={period}"),
            csrf => form_token(&token, "bureau"),
            units => ser(ctx.pipeline.units.iter().map(|u| (u.code.clone(), u.name.clone())).collect::<Vec<_>>()),
            record_href => format!("/bureau/record?token={token}&unit="),
            periods => (1..=period.month()).filter_map(|m| Period::new(period.year(), m)).map(|p| p.to_string()).collect::<Vec<_>>(),
            ladder => ser(crate::ladder::standing(&ctx.pipeline, &ctx.data_dir, period)?
                .into_iter()
                .map(|(code, sent)| format!(
                    "{}：{}",
                    ctx.pipeline.unit(&code).map_or(code.clone(), |u| u.name.clone()),
                    sent.iter()
                        .map(|s| format!("{}（{}）", s.step, s.at.minute()))
                        .collect::<Vec<_>>()
                        .join(" → ")
                ))
                .collect::<Vec<_>>()),
            notes => ser(notes_view(ctx)?),
            items => ser(w.records()?.open_items(ctx.now())?
                .into_iter()
                .map(|i| format!(
                    "{}. {}：{}（期限 {}{}）{}",
                    i.id,
                    ctx.pipeline.unit(&i.unit).map_or(i.unit.clone(), |u| u.name.clone()),
                    i.text, i.due, if i.overdue { "，已逾期" } else { "" },
                    i.answers.last().map_or(String::new(), |a| format!("——答复：{a}"))
                ))
                .collect::<Vec<_>>()),
        },
    )
    .map_err(crate::error::Error::Internal)
}

/// The units' 说明 in force, each with what the staff's form to send it back needs.
fn notes_view(ctx: &Context) -> Result<Vec<minijinja::Value>> {
    Ok(crate::supervision::notes_in_force(&ctx.data_dir)?
        .into_iter()
        .map(|n| {
            minijinja::context! {
                unit => n.unit.clone(),
                check => n.check_id.clone(),
                months => n.months.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
                text => format!(
                    "{}{}月“{}”：{}（{}，{}）",
                    ctx.pipeline.unit(&n.unit).map_or(n.unit.clone(), |u| u.name.clone()),
                    crate::format::months_zh(&n.months),
                    crate::supervision::check_words(&ctx.pipeline, &n.check_id),
                    n.text, n.by, n.at.minute()
                ),
            }
        })
        .collect())
}

/// A run's file, only if the run's manifest lists it (the path is never the request's).
pub(super) async fn download(
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
    let dir = w
        .ctx
        .output_dir
        .pipeline(w.ctx.pipeline.name())
        .join(&folder);
    match read_no_links(&dir, &listed) {
        Ok(bytes) => {
            let kind = if listed.ends_with(".xlsx") {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            } else if listed.ends_with(".docx") {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
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
pub(super) fn read_no_links(dir: &std::path::Path, name: &str) -> std::io::Result<Vec<u8>> {
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
pub(super) async fn api_status(
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
        let board = w2.board(period)?;
        Ok::<_, Error>(serde_json::json!({
            "pipeline": ctx.pipeline.name(),
            "period": period.to_string(),
            "as_of": period::instant_text(&ctx.now()),
            "units": board.units.iter().map(|u| serde_json::json!({
                "unit_code": u.code,
                "unit_name": u.name,
                "reported": u.latest.is_some(),
                "late": u.latest.as_ref().is_some_and(|l| l.late),
                "version": u.latest.as_ref().map(|l| l.version),
                "arrived_at": u.latest.as_ref().map(|l| l.arrived_at.clone()),
                "source_file": u.latest.as_ref().map(|l| l.source_file.clone()),
                "pending": u.pending,
            })).collect::<Vec<_>>(),
            "grid": board.grid,
        }))
    })
    .await;
    match result {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(_) => server_error("内部错误"),
    }
}
