//! The pages: the bureau's status page and its JSON twin, each county's page, downloads of a
//! run's files and the monthly template. HTML is written here, escaped, with no script and no
//! outside asset; every figure comes from the store, the analyses or a run's manifest.

use super::Web;
use super::auth::{bureau_ok, unit_ok};
use crate::app::Context;
use crate::error::{Error, Result};
use crate::period::{self, Period};
use crate::status;
use crate::store::{Outcome, Store};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The one answer to anything unknown or unauthorised: nothing revealed.
pub(super) async fn not_found() -> Response {
    nf()
}

pub(super) fn nf() -> Response {
    answer(StatusCode::NOT_FOUND, "未找到", "<p>页面不存在。</p>")
}

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A whole page: Chinese, readable on a phone, no script, no outside asset.
pub(super) fn page(title: &str, body: &str) -> String {
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

pub(super) fn class(state: &str) -> &'static str {
    match state {
        "已报" => "ok",
        "逾期" => "late",
        "未报" => "missing",
        "被拒" => "rejected",
        "待说明" => "pending",
        _ => "none",
    }
}

pub(super) fn grid_html(rows: &[UnitRow], period: Period) -> String {
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
pub(super) fn period_of(ctx: &Context, query: &HashMap<String, String>) -> Option<Period> {
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
pub(super) fn listed_outputs(dir: &std::path::Path) -> Option<(Vec<String>, serde_json::Value)> {
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
pub(super) fn runs(ctx: &Context) -> Vec<(Period, Vec<String>, String)> {
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
pub(super) fn review_files(ctx: &Context) -> Option<(String, Vec<String>)> {
    let folder = format!("review-{}", ctx.pipeline.year());
    let dir = ctx.output_dir.join(ctx.pipeline.name()).join(&folder);
    listed_outputs(&dir).map(|(files, _)| (folder, files))
}

/// Download links to a folder's files.
pub(super) fn file_links(h: &mut String, folder: &str, files: &[String], token: &str) {
    for f in files {
        h.push_str(&format!(
            "<a href=\"/bureau/file/{folder}/{}?token={}\">{}</a> ",
            urlencode(f),
            esc(token),
            esc(f)
        ));
    }
}

pub(super) async fn bureau(
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

pub(super) fn server_error(why: &str) -> Response {
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

pub(super) fn bureau_body(w: &Web, period: Period) -> Result<String> {
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

pub(super) fn urlencode(s: &str) -> String {
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

pub(super) async fn county(
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

pub(super) fn county_body(
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

pub(super) async fn county_template(
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

/// A small page with a status.
pub(super) fn answer(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(page(title, body))).into_response()
}
