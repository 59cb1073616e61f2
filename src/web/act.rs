//! What people change through the pages (issue 25): the data staff return, withdraw, confirm,
//! open and close supervision items from the bureau's page; a county answers its own items from
//! its page. Each action is a POST of a small form carrying the page's anti-forgery token, done
//! under the write lock by the same functions as the commands, and recorded with who did it.
//!
//! Invariants: nothing changes unless the request is a POST with the right token (bureau or
//! county link) and the anti-forgery token of that very page (compared in constant time) —
//! otherwise 403 (a wrong bureau or link token stays the plain 404/401) and nothing is written;
//! a county acts only on its own unit's items; the body read is at most `MAX_FORM_BYTES`.

use super::Web;
use super::auth::{bureau_who, form_token, same_secret, unit_ok};
use super::once::{self, Came, Claim};
use super::render::{answer, urlencode};
use crate::error::Error;
use crate::period::Period;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// The largest form read.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// A state-changing address asked for with GET (or anything but POST): refused, nothing done.
pub(super) async fn not_post() -> Response {
    forbidden("只接受以 POST 提交的表单。")
}

fn forbidden(why: &str) -> Response {
    answer(StatusCode::FORBIDDEN, "不允许的操作", why)
}

/// A form's body, at most `limit` bytes (a larger `Content-Length` is refused before anything
/// is read) and within `[web] form_timeout_seconds`: a client that sends the head and never the
/// body holds its connection that long, no longer.
pub(super) async fn form_body(
    w: &Web,
    body: Body,
    limit: usize,
) -> Result<Vec<(String, String)>, Response> {
    let wait = std::time::Duration::from_secs(w.ctx.pipeline.def.web.form_timeout_seconds);
    match tokio::time::timeout(wait, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(form_urlencoded::parse(&bytes).into_owned().collect()),
        Ok(Err(_)) => Err(answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            "表单过大",
            "表单内容过多。",
        )),
        Err(_) => Err(answer(
            StatusCode::REQUEST_TIMEOUT,
            "提交超时",
            "表单未能在规定时间内传完，未办理。请检查网络后重新提交。",
        )),
    }
}

/// The form's fields (the last of a name wins), or the answer when it is too large or slow.
async fn fields(w: &Web, body: Body) -> Result<HashMap<String, String>, Response> {
    Ok(form_body(w, body, MAX_FORM_BYTES)
        .await?
        .into_iter()
        .collect())
}

/// Whether the form carries the page's anti-forgery token.
fn genuine(f: &HashMap<String, String>, token: &str, page: &str) -> bool {
    f.get("csrf")
        .is_some_and(|c| same_secret(c, &form_token(token, page)))
}

/// What an action came to, to keep under its form's key.
fn came(r: crate::error::Result<String>) -> Came {
    match r {
        Ok(said) => Came::Done(said),
        Err(Error::Refused(why)) => Came::Refused(why),
        Err(Error::Usage(why)) => Came::Usage(why),
        Err(e) => Came::Failed(e.to_string()),
    }
}

/// What a form came to, as its result page: the words, under the status they deserve (done 200,
/// refused 403, not possible as asked 400), with a link back to the page the form was on.
pub(super) fn outcome(c: &Came, back: &str) -> Response {
    let (title, text) = match c {
        Came::Done(said) => ("已完成", said.clone()),
        Came::Refused(why) => ("不允许的操作", why.clone()),
        Came::Usage(why) => ("无法办理", why.clone()),
        Came::Failed(e) => {
            tracing::error!(error = %e, "a form failed");
            (
                "出错了",
                "办理失败（系统原因），请稍后返回上一页重新提交，或联系数据人员。".to_string(),
            )
        }
        Came::Upload { ok, text, .. } => (
            if *ok {
                "上传结果"
            } else {
                "上传未接收"
            },
            text.clone(),
        ),
    };
    let mut r =
        axum::response::Html(super::render::page_back(title, &text, Some(back))).into_response();
    *r.status_mut() = c.status();
    r
}

/// Answers a POST with 303 to its result page (F5 there only reads the result again).
pub(super) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(to) {
        r.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    r
}

/// Does `work` once per form (its one-time key) and answers 303 to the form's result page
/// (`done(key)`): a second POST of the same form — F5, a double click — does nothing and is
/// sent to what the first came to.
pub(super) async fn once_only(
    w: &Arc<Web>,
    f: &HashMap<String, String>,
    done: impl Fn(&str) -> String,
    work: impl FnOnce() -> crate::error::Result<String> + Send + 'static,
) -> Response {
    let key = once::key_of(f.get("once"));
    let to = done(&key);
    once_only_with(w, &key, to, work).await
}

/// [`once_only`] with the form's key and its result page's address already known.
pub(super) async fn once_only_with(
    w: &Arc<Web>,
    key: &str,
    done: String,
    work: impl FnOnce() -> crate::error::Result<String> + Send + 'static,
) -> Response {
    let data_dir = w.ctx.data_dir.clone();
    let k2 = key.to_string();
    let ran = tokio::task::spawn_blocking(move || match once::claim(&data_dir, &k2) {
        Some(Claim::First(k)) => {
            once::keep(&data_dir, &k, &came(work()));
            true
        }
        Some(Claim::Unavailable) => false,
        _ => true,
    })
    .await;
    match ran {
        Ok(true) => see_other(&done),
        Ok(false) => super::render::server_error("表单结果无法保存（磁盘），未办理"),
        Err(_) => super::render::server_error("内部错误"),
    }
}

/// The result page of a form (`…/done/{key}`): what it came to, or that it is being done.
pub(super) fn result_page(w: &Web, key: &str, back: &str) -> Response {
    match once::read(&w.ctx.data_dir, key) {
        None => super::render::nf(),
        Some(None) => {
            let mut r = axum::response::Html(super::render::page_back(
                "正在办理",
                "此表单已提交，正在办理；请稍后刷新本页查看结果。",
                Some(back),
            ))
            .into_response();
            *r.status_mut() = StatusCode::ACCEPTED;
            r
        }
        Some(Some(c)) => outcome(&c, back),
    }
}

/// `POST /bureau/act?token=…`: a return, its withdrawal, a confirmation, or a supervision item
/// opened or closed, by the person whose token it is.
pub(super) async fn bureau_act(
    State(w): State<Arc<Web>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let viewer = match bureau_who(&w, &query, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let f = match fields(&w, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !genuine(&f, &viewer.token, "bureau") {
        return forbidden("表单已失效或不是本页面提交的，请刷新页面后重试。");
    }
    let w2 = w.clone();
    let form = f.clone();
    let (token, period) = (
        urlencode(&viewer.token),
        urlencode(query.get("period").map_or("", String::as_str)),
    );
    let done = move |k: &str| format!("/bureau/done/{k}?token={token}&period={period}");
    once_only(&w, &f, done, move || {
        let p = &w2.ctx.pipeline;
        let wait = std::time::Duration::from_secs(p.def.schedule.lock_wait_seconds);
        let (said, notice) = {
            let _lock = crate::lock::acquire(&w2.ctx.data_dir, wait, "web action")?;
            act(&w2, &form, &viewer.name)?
        };
        // The unit's notice goes at once, after the write lock (a server that does not answer
        // now leaves it in the outbox for the delivery rounds).
        Ok(match notice {
            None => said,
            Some(id) => match crate::supervision::deliver_now(&w2.ctx, &id) {
                Ok(true) => format!("{said}通知已发出。"),
                Ok(false) => format!("{said}未配置 SMTP 服务器，通知已写入发件箱。"),
                Err(e) => format!("{said}通知暂未送达，已留在发件箱中自动重试（{e}）。"),
            },
        })
    })
    .await
}

/// One staff action (the caller holds the write lock): what was done, in words, and the id of
/// the notice it put in the outbox, if any.
fn act(
    w: &Web,
    f: &HashMap<String, String>,
    by: &str,
) -> crate::error::Result<(String, Option<String>)> {
    let ctx = &w.ctx;
    let p = &ctx.pipeline;
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let now = ctx.now();
    let period = || {
        Period::parse(get("period"))
            .ok_or_else(|| Error::Usage(format!("统计月份 {:?} 应如 2025-06", get("period"))))
    };
    match get("action") {
        action @ ("return" | "cancel") => {
            let period = period()?;
            if action == "return" && !(1..=500).contains(&get("reason").chars().count()) {
                return Err(Error::Usage("请填写退回原因（1至500字）。".into()));
            }
            let cancel = action == "cancel";
            let r = crate::supervision::Returned {
                unit: get("unit"),
                period,
                reason: get("reason"),
                by,
                cancel,
            };
            let notice = crate::supervision::return_month(&ctx.data_dir, p, r, now)?;
            let name = p
                .unit(get("unit"))
                .map_or(get("unit").to_string(), |u| u.name.clone());
            let said = match (cancel, &notice) {
                (true, _) => format!("已撤销对{name}{}的退回。", period.zh()),
                (false, Some(_)) => format!("已退回{name}{}。", period.zh()),
                (false, None) => format!(
                    "已退回{name}{}（该单位无联系邮箱，未发通知）。",
                    period.zh()
                ),
            };
            Ok((said, notice))
        }
        "confirm" => Ok((
            crate::supervision::confirm(&ctx.data_dir, p, get("unit"), period()?, by, now)?,
            None,
        )),
        "supervise" => {
            if !(1..=500).contains(&get("text").chars().count()) {
                return Err(Error::Usage("请填写督办事项（1至500字）。".into()));
            }
            if chrono::NaiveDate::parse_from_str(get("due"), "%Y-%m-%d").is_err() {
                return Err(Error::Usage("请填写办理期限（如 2025-08-15）。".into()));
            }
            let item = crate::supervision::Item {
                unit: Some(get("unit")),
                text: Some(get("text")),
                due: Some(get("due")),
            };
            crate::supervision::supervise(&ctx.data_dir, p, item, None, by, now)
        }
        "close" => {
            let id = get("item")
                .parse::<u32>()
                .map_err(|_| Error::Usage(format!("督办事项编号 {:?} 应为数字", get("item"))))?;
            let none = crate::supervision::Item {
                unit: None,
                text: None,
                due: None,
            };
            crate::supervision::supervise(&ctx.data_dir, p, none, Some(id), by, now)
        }
        "note_back" => {
            let months = months_of(get("months"));
            let n = crate::supervision::Note {
                unit: get("unit"),
                check_id: get("check"),
                months: &months,
                text: get("reason"),
                by,
                sent_back: true,
            };
            Ok((crate::supervision::note(&ctx.data_dir, p, n, now)?, None))
        }
        other => Err(Error::Usage(format!("未知的操作 {other:?}"))),
    }
}

/// `GET /bureau/record?token=…&unit=341522`: the unit's record (工作台账) of the year, as
/// `fayuan audit --unit` prints it.
pub(super) async fn bureau_record(
    State(w): State<Arc<Web>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = bureau_who(&w, &query, &headers) {
        return r;
    }
    let p = &w.ctx.pipeline;
    let Some(unit) = query.get("unit").and_then(|c| p.unit(c)).cloned() else {
        return answer(
            StatusCode::BAD_REQUEST,
            "参数错误",
            "unit 应为本项目的单位代码。",
        );
    };
    let w2 = w.clone();
    let text = tokio::task::spawn_blocking(move || {
        let ctx = &w2.ctx;
        let name = |c: &str| ctx.pipeline.unit(c).map(|u| u.name.clone());
        crate::audit::report(
            &ctx.data_dir,
            ctx.pipeline.year(),
            Some(&unit.code),
            None,
            false,
            &name,
        )
        .map(|(t, _)| (unit.name.clone(), t))
    })
    .await;
    match text {
        Ok(Ok((name, t))) => super::render::record_page(&w.ctx, &name, &t),
        Ok(Err(e)) => super::render::server_error(&e.to_string()),
        Err(_) => super::render::server_error("内部错误"),
    }
}

/// `POST /u/{code}/{token}/answer`: the unit's answer to one of its own open items.
pub(super) async fn county_answer(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    body: Body,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token).cloned() else {
        return super::render::nf();
    };
    let f = match fields(&w, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !genuine(&f, &token, &format!("u/{code}")) {
        return forbidden("表单已失效或不是本页面提交的，请刷新页面后重试。");
    }
    let w2 = w.clone();
    let form = f.clone();
    let done = move |k: &str| format!("/u/{code}/{token}/done/{k}");
    once_only(&w, &f, done, move || {
        let f = form;
        let ctx = &w2.ctx;
        let id = f
            .get("item")
            .and_then(|i| i.trim().parse::<u32>().ok())
            .ok_or_else(|| Error::Usage("督办事项编号应为数字".into()))?;
        let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
        let _lock = crate::lock::acquire(&ctx.data_dir, wait, "web answer")?;
        let text = f.get("text").map_or("", String::as_str);
        let by = format!("{}（报送页面）", unit.name);
        crate::supervision::answer_item(
            &ctx.data_dir,
            &ctx.pipeline,
            id,
            &unit.code,
            text,
            &by,
            ctx.now(),
        )
    })
    .await
}

/// `GET /bureau/done/{key}?token=…`: what a bureau form came to, with the way back.
pub(super) async fn bureau_done(
    State(w): State<Arc<Web>>,
    UrlPath(key): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let viewer = match bureau_who(&w, &query, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let period = query.get("period").map_or("", String::as_str);
    let back = format!(
        "/bureau?token={}&period={}",
        urlencode(&viewer.token),
        urlencode(period)
    );
    result_page(&w, &key, &back)
}

/// `GET /u/{code}/{token}/done/{key}`: what a county form came to, with the way back.
pub(super) async fn county_done(
    State(w): State<Arc<Web>>,
    UrlPath((code, token, key)): UrlPath<(String, String, String)>,
) -> Response {
    if unit_ok(&w, &code, &token).is_none() {
        return super::render::nf();
    }
    result_page(&w, &key, &format!("/u/{code}/{token}"))
}

/// Months as a form sends them: `1,2,3` (or one field per month, joined by the caller).
fn months_of(text: &str) -> Vec<u32> {
    text.split([',', ' '])
        .filter_map(|m| m.trim().parse().ok())
        .collect()
}

/// `POST /u/{code}/{token}/explain`: the unit's one 说明 of a soft check for the months ticked.
pub(super) async fn county_explain(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    body: Body,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token).cloned() else {
        return super::render::nf();
    };
    let pairs = match form_body(&w, body, MAX_FORM_BYTES).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let months: Vec<u32> = pairs
        .iter()
        .filter(|(k, _)| k == "month")
        .filter_map(|(_, v)| v.trim().parse().ok())
        .collect();
    let f: HashMap<String, String> = pairs.into_iter().collect();
    if !genuine(&f, &token, &format!("u/{code}")) {
        return forbidden("表单已失效或不是本页面提交的，请刷新页面后重试。");
    }
    let w2 = w.clone();
    let form = f.clone();
    let done = move |k: &str| format!("/u/{code}/{token}/done/{k}");
    once_only(&w, &f, done, move || {
        let ctx = &w2.ctx;
        let get = |k: &str| form.get(k).map_or("", |v| v.as_str());
        let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
        let _lock = crate::lock::acquire(&ctx.data_dir, wait, "web note")?;
        let by = match get("who").trim() {
            "" => format!("{}（报送页面）", unit.name),
            who => format!(
                "{}{}（报送页面）",
                unit.name,
                crate::ingest::read::shorten(who, 30)
            ),
        };
        let n = crate::supervision::Note {
            unit: &unit.code,
            check_id: get("check"),
            months: &months,
            text: get("text"),
            by: &by,
            sent_back: false,
        };
        crate::supervision::note(&ctx.data_dir, &ctx.pipeline, n, ctx.now())
    })
    .await
}
