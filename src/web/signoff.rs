//! The 负责人's sign-off (issue 34 §4, `[web] county_signoff`): each unit's 负责人 has a link of
//! their own (`fayuan links --signoff`) that lists the months the unit's 填报人 sent and nobody
//! has signed yet, each with its figures, and confirms one with the 负责人's name.
//!
//! Invariants: the link works only with sign-off on and the right token (else the plain 404); a
//! signature is for the version shown (a newer one arrived meanwhile: refused, nothing kept);
//! it is kept in the sign-offs' ledger and on the record; the form acts once and answers 303.

use super::Web;
use super::act::once_only;
use super::auth::{form_token, same_secret, signer_ok};
use super::render::{answer, nf, server_error};
use crate::error::Error;
use crate::period::Period;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::Arc;

/// The page's anti-forgery scope.
fn scope(code: &str) -> String {
    format!("s/{code}")
}

/// `GET /s/{code}/{token}`: the months waiting for the 负责人, each with its figures, and one
/// form to confirm those ticked.
pub(super) async fn signoff_page(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
) -> Response {
    let Some(unit) = signer_ok(&w, &code, &token).cloned() else {
        return nf();
    };
    let w2 = w.clone();
    tokio::task::spawn_blocking(move || page(&w2, &unit, &token, None))
        .await
        .unwrap_or_else(|_| server_error("内部错误"))
}

/// The 负责人's page, with what was wrong with a form just sent.
fn page(w: &Web, unit: &crate::config::Unit, token: &str, error: Option<&str>) -> Response {
    let ctx = &w.ctx;
    let period = super::county::collected(ctx);
    let open = match w
        .records()
        .and_then(|r| r.unsigned(&ctx.pipeline, period, ctx.now()))
    {
        Ok(o) => o,
        Err(e) => return server_error(&e.to_string()),
    };
    let idx = ctx.pipeline.unit_index(&unit.code);
    let months = open
        .into_iter()
        .filter(|(i, _)| Some(*i) == idx)
        .flat_map(|(_, ms)| ms)
        .filter_map(|u| {
            let (m, v) = (u.month, u.version);
            let p = Period::new(period.year(), m)?;
            Some(
                super::county::month_figures(w, &unit.code, p, v).map(|figures| {
                    minijinja::context! {
                        period => p.to_string(), zh => p.zh(), version => v,
                        figures => super::render::ser(figures),
                    }
                }),
            )
        })
        .collect::<crate::error::Result<Vec<minijinja::Value>>>();
    let months = match months {
        Ok(m) => m,
        Err(e) => return server_error(&e.to_string()),
    };
    // What the 负责人 should know before signing: what still waits for a 说明, what was said.
    // (what cannot be read is an error page, never a page that shows nothing waits)
    let (board, in_force) = match (
        w.board(period),
        crate::supervision::notes_in_force(&ctx.data_dir),
    ) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => return server_error(&e.to_string()),
    };
    let pending = board
        .units
        .iter()
        .find(|s| s.code == unit.code)
        .map(|s| s.pending.clone())
        .unwrap_or_default();
    let notes: Vec<String> = in_force
        .into_iter()
        .filter(|n| n.unit == unit.code)
        .map(|n| {
            format!(
                "{}月“{}”：{}（{}）",
                crate::format::months_zh(&n.months),
                crate::supervision::check_words(&ctx.pipeline, &n.check_id),
                n.text,
                n.by
            )
        })
        .collect();
    let mut r = super::county::signoff_view(minijinja::context! {
        title => format!("{} 负责人确认", unit.name),
        unit => unit.name.clone(),
        months, pending, notes, error,
        action => format!("/s/{}/{token}/sign", unit.code),
        csrf => form_token(token, &scope(&unit.code)),
    });
    if error.is_some() {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

/// `POST /s/{code}/{token}/sign`: the 负责人 signs the months ticked (each the version shown), by
/// name; an empty name is asked for again on the page.
pub(super) async fn sign(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    body: Body,
) -> Response {
    let Some(unit) = signer_ok(&w, &code, &token).cloned() else {
        return nf();
    };
    let pairs = match super::act::form_body(&w, body, super::act::MAX_FORM_BYTES).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // `2025-06:1`: a month and the version shown.
    let ticked: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k == "month")
        .filter_map(|(_, v)| {
            v.split_once(':')
                .map(|(p, v)| (p.to_string(), v.to_string()))
        })
        .collect();
    let f: HashMap<String, String> = pairs.into_iter().collect();
    let genuine = f
        .get("csrf")
        .is_some_and(|c| same_secret(c, &form_token(&token, &scope(&code))));
    if !genuine {
        return answer(
            StatusCode::FORBIDDEN,
            "不允许的操作",
            "表单已失效或不是本页面提交的，请刷新页面后重试。",
        );
    }
    let name = f.get("name").map_or("", |n| n.trim()).to_string();
    let asked = if name.is_empty() {
        Some("请填写负责人姓名后再确认。")
    } else if ticked.is_empty() {
        Some("请勾选要确认的月份。")
    } else {
        None
    };
    if let Some(why) = asked {
        let (w2, t2) = (w.clone(), token.clone());
        return tokio::task::spawn_blocking(move || page(&w2, &unit, &t2, Some(why)))
            .await
            .unwrap_or_else(|_| server_error("内部错误"));
    }
    let w2 = w.clone();
    let done = move |k: &str| format!("/s/{code}/{token}/done/{k}");
    once_only(&w, &f, done, move || {
        let ctx = &w2.ctx;
        let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
        let _lock = crate::lock::acquire(&ctx.data_dir, wait, "web sign-off")?;
        let mut said = Vec::new();
        for (p, v) in &ticked {
            let period = Period::parse(p)
                .filter(|p| p.year() == ctx.pipeline.year())
                .ok_or_else(|| Error::Usage(format!("统计月份 {p:?} 应如 2025-06")))?;
            let version: i64 = v
                .parse()
                .map_err(|_| Error::Usage("版本号应为数字".into()))?;
            // Only the version the 负责人 saw, and only if it is still the latest one sent.
            let open = crate::records::Records::open(&ctx.data_dir)?.unsigned(
                &ctx.pipeline,
                period,
                ctx.now(),
            )?;
            let waiting = open
                .iter()
                .filter(|(i, _)| ctx.pipeline.units[*i].code == unit.code)
                .flat_map(|(_, ms)| ms)
                .find(|u| u.month == period.month() && u.version == version);
            let Some(shown) = waiting else {
                said.push(format!(
                    "{}第{version}版未确认：已确认过，或此后又报送了新版本，请返回刷新后再确认。",
                    period.zh()
                ));
                continue;
            };
            said.push(crate::supervision::sign(
                &ctx.data_dir,
                &ctx.pipeline,
                &unit.code,
                period,
                shown,
                &name,
                ctx.now(),
            )?);
        }
        Ok(said.join("\n"))
    })
    .await
}

/// `GET /s/{code}/{token}/done/{key}`: what a sign-off came to, with the way back.
pub(super) async fn signoff_done(
    State(w): State<Arc<Web>>,
    UrlPath((code, token, key)): UrlPath<(String, String, String)>,
) -> Response {
    if signer_ok(&w, &code, &token).is_none() {
        return nf();
    }
    super::act::result_page(&w, &key, &format!("/s/{code}/{token}"))
}
