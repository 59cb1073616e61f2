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
use super::pages::{answer, nf, server_error};
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

/// `GET /s/{code}/{token}`: the months waiting for the 负责人, each with a form.
pub(super) async fn signoff_page(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
) -> Response {
    let Some(unit) = signer_ok(&w, &code, &token).cloned() else {
        return nf();
    };
    let w2 = w.clone();
    tokio::task::spawn_blocking(move || {
        let ctx = &w2.ctx;
        let period = super::county::collected(ctx);
        let open = match crate::supervision::unsigned(&ctx.data_dir, &ctx.pipeline, period, ctx.now()) {
            Ok(o) => o,
            Err(e) => return server_error(&e.to_string()),
        };
        let idx = ctx.pipeline.units.iter().position(|u| u.code == unit.code);
        let months: Vec<_> = open
            .into_iter()
            .filter(|(i, _)| Some(*i) == idx)
            .flat_map(|(_, ms)| ms)
            .filter_map(|(m, v)| {
                let p = Period::new(period.year(), m)?;
                Some(minijinja::context! {
                    period => p.to_string(), zh => p.zh(), version => v,
                    figures => super::pages::ser(super::county::month_figures(&w2, &unit.code, p, v)),
                })
            })
            .collect();
        super::county::signoff_view(minijinja::context! {
            title => format!("{} 负责人确认", unit.name),
            unit => unit.name.clone(),
            months,
            action => format!("/s/{}/{token}/sign", unit.code),
            csrf => form_token(&token, &scope(&unit.code)),
        })
    })
    .await
    .unwrap_or_else(|_| server_error("内部错误"))
}

/// `POST /s/{code}/{token}/sign`: the 负责人 signs one month's version, by name.
pub(super) async fn sign(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    body: Body,
) -> Response {
    let Some(unit) = signer_ok(&w, &code, &token).cloned() else {
        return nf();
    };
    let Ok(bytes) = axum::body::to_bytes(body, super::act::MAX_FORM_BYTES).await else {
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "表单过大", "表单内容过多。");
    };
    let f: HashMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
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
    let w2 = w.clone();
    let form = f.clone();
    let done = move |k: &str| format!("/s/{code}/{token}/done/{k}");
    once_only(&w, &f, done, move || {
        let ctx = &w2.ctx;
        let get = |k: &str| form.get(k).map_or("", |v| v.trim());
        let period = Period::parse(get("period"))
            .filter(|p| p.year() == ctx.pipeline.year())
            .ok_or_else(|| Error::Usage(format!("统计月份 {:?} 应如 2025-06", get("period"))))?;
        let version: i64 = get("version")
            .parse()
            .map_err(|_| Error::Usage("版本号应为数字".into()))?;
        let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
        let _lock = crate::lock::acquire(&ctx.data_dir, wait, "web sign-off")?;
        // Only the version the 负责人 saw, and only if it is still the latest one sent.
        let open = crate::supervision::unsigned(&ctx.data_dir, &ctx.pipeline, period, ctx.now())?;
        let waiting = open.iter().any(|(i, ms)| {
            ctx.pipeline.units[*i].code == unit.code
                && ms.iter().any(|&(m, v)| m == period.month() && v == version)
        });
        if !waiting {
            return Err(Error::Usage(format!(
                "{}第{version}版不是待确认的版本（已确认，或此后又报送了新版本）。请返回刷新后再确认。",
                period.zh()
            )));
        }
        crate::supervision::sign(
            &ctx.data_dir,
            &ctx.pipeline,
            &unit.code,
            period,
            version,
            get("name"),
            ctx.now(),
        )
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
