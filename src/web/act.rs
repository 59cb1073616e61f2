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
use super::pages::answer;
use crate::error::Error;
use crate::period::Period;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
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

/// The form's fields (the last of a name wins), or the answer when it is too large.
async fn fields(body: Body) -> Result<HashMap<String, String>, Response> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| answer(StatusCode::PAYLOAD_TOO_LARGE, "表单过大", "表单内容过多。"))?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
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

/// What an action came to, as a page: done, refused (403) or not possible as asked (400).
fn outcome(c: Came) -> Response {
    match c {
        Came::Done(said) => answer(
            StatusCode::OK,
            "已完成",
            &format!("{said}（返回上一页并刷新即可看到）"),
        ),
        Came::Refused(why) => forbidden(&why),
        Came::Usage(why) => answer(StatusCode::BAD_REQUEST, "无法办理", &why),
        Came::Failed(e) => super::pages::server_error(&e),
    }
}

/// Does `work` once per form (its one-time key): a second POST of the same form — F5 on the
/// answer, a double click — does nothing and shows what the first came to.
async fn once_only(
    w: &Arc<Web>,
    f: &HashMap<String, String>,
    work: impl FnOnce() -> crate::error::Result<String> + Send + 'static,
) -> Response {
    let data_dir = w.ctx.data_dir.clone();
    let key = f.get("once").cloned();
    let done = tokio::task::spawn_blocking(move || match once::claim(&data_dir, key.as_ref()) {
        Some(Claim::Again(c)) => c,
        Some(Claim::Busy) => {
            Came::Done("此表单刚刚已提交，正在办理；请稍后返回上一页刷新查看结果。".into())
        }
        first => {
            let c = came(work());
            if let Some(Claim::First(k)) = first {
                // A failure of the machine (the lock, the disk) is not the form's answer: the
                // same form may try again.
                if matches!(c, Came::Failed(_)) {
                    once::forget(&data_dir, &k);
                } else {
                    once::keep(&data_dir, &k, &c);
                }
            }
            c
        }
    })
    .await;
    outcome(done.unwrap_or_else(|_| Came::Failed("内部错误".into())))
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
    let f = match fields(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !genuine(&f, &viewer.token, "bureau") {
        return forbidden("表单已失效或不是本页面提交的，请刷新页面后重试。");
    }
    let w2 = w.clone();
    let form = f.clone();
    once_only(&w, &f, move || {
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
        Ok(Ok((name, t))) => super::pages::record_page(&w.ctx, &name, &t),
        Ok(Err(e)) => super::pages::server_error(&e.to_string()),
        Err(_) => super::pages::server_error("内部错误"),
    }
}

/// `POST /u/{code}/{token}/answer`: the unit's answer to one of its own open items.
pub(super) async fn county_answer(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    body: Body,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token).cloned() else {
        return super::pages::nf();
    };
    let f = match fields(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !genuine(&f, &token, &format!("u/{code}")) {
        return forbidden("表单已失效或不是本页面提交的，请刷新页面后重试。");
    }
    let w2 = w.clone();
    let form = f.clone();
    once_only(&w, &f, move || {
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
