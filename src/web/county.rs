//! A county's own page at its secret link (issue 14, second version issue 34): what is due
//! first, the unit's own figures and what the latest report said about it, the 说明 forms, the
//! months as a list, refused files, the 填报 form's link, the templates and the upload; and the
//! 负责人's page's pieces. Every figure from the store's analyses (the board).

use super::Web;
use super::auth::{form_token, unit_ok};
use super::refused::refused;
use super::render::{nf, ser, server_error, urlencode};
use crate::app::Context;
use crate::error::Result;
use crate::period::{self, Period};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) async fn county(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token) else {
        return nf();
    };
    let unit = unit.clone();
    let w2 = w.clone();
    // `?result=<key>`: the page an upload was answered with (303), its result on top.
    let shown = query.get("result").cloned();
    let page = tokio::task::spawn_blocking(move || {
        let came = shown.and_then(|k| super::once::read(&w2.ctx.data_dir, &k));
        let (result, status) = match came {
            Some(Some(super::once::Came::Upload { ok, text, over })) => (
                Some(UploadResult { ok, text }),
                if over {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::OK
                },
            ),
            Some(None) => (
                Some(UploadResult {
                    ok: true,
                    text: "已收到并保存，正在处理；请稍后刷新本页查看结果。".into(),
                }),
                StatusCode::OK,
            ),
            _ => (None, StatusCode::OK),
        };
        county_page(&w2, &unit, &token, result.as_ref()).map(|mut p| {
            *p.status_mut() = status;
            p
        })
    })
    .await;
    match page {
        Ok(Ok(html)) => html,
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(_) => server_error("内部错误"),
    }
}

/// The month being collected: the one before now, within the pipeline's year.
pub(super) fn collected(ctx: &Context) -> Period {
    let period = Period::of(ctx.now().date_naive()).prev();
    if period.year() == ctx.pipeline.year() {
        period
    } else {
        Period::new(ctx.pipeline.year(), 12).unwrap_or(period)
    }
}

/// What an upload came to, for the county page: accepted (green) or not (red), in words.
#[derive(serde::Serialize)]
pub(super) struct UploadResult {
    pub ok: bool,
    pub text: String,
}

/// A 待说明 on the county page: the check's words and figures, its months, and the form's
/// check id; a 说明 sent back says why.
#[derive(serde::Serialize)]
struct ToExplain {
    text: String,
    check: String,
    months: Vec<u32>,
    months_zh: String,
    /// The staff's reason, when a 说明 of these months was sent back (退回说明).
    sent_back: Option<String>,
}

/// One line of the to-do (待办): what, and its one action.
#[derive(serde::Serialize)]
struct Todo {
    text: String,
    /// ok / missing / late / pending / returned: the line's colour.
    code: &'static str,
    href: String,
    action: String,
}

/// One month of the unit's history, as a list item.
#[derive(serde::Serialize)]
struct MonthView {
    month: u32,
    state: String,
    code: String,
    version: Option<i64>,
}

/// The to-do, first on the page: the month being collected and its state, then each month
/// returned, each 待说明, each open supervision item, each month waiting for the 负责人.
#[allow(clippy::too_many_arguments)]
fn todo(
    w: &Web,
    unit: &crate::config::Unit,
    base: &str,
    period: Period,
    board: &crate::status::Board,
    returned: &[crate::records::OpenReturn],
    pending: &[ToExplain],
    items: &[crate::records::OpenItem],
    unsigned: &[(u32, i64)],
) -> Vec<Todo> {
    let fill = |p: Period| format!("{base}/fill?period={p}");
    let mut out = Vec::new();
    let status = board.units.iter().find(|s| s.code == unit.code);
    let latest = status.and_then(|s| s.latest.as_ref());
    out.push(month_due(w, period, latest, returned, &fill));
    for r in returned.iter().filter(|r| r.period != period.to_string()) {
        let p = Period::parse(&r.period);
        out.push(Todo {
            text: format!(
                "{}数据已被市局退回（{}，{} 退回）：请更正后重新报送",
                p.map_or(r.period.clone(), |p| p.zh()),
                r.reason,
                r.at
            ),
            code: "returned",
            href: p.map_or(format!("{base}/fill"), fill),
            action: "在线更正".into(),
        });
    }
    for x in pending {
        out.push(Todo {
            text: format!("待说明：{}", x.text),
            code: "pending",
            href: format!("#explain-{}", x.check),
            action: "填写说明".into(),
        });
    }
    for i in items {
        let answered = !i.answers.is_empty();
        out.push(Todo {
            text: format!(
                "督办事项 {}：{}（期限 {}{}）{}",
                i.id,
                i.text,
                i.due,
                if i.overdue { "，已逾期" } else { "" },
                if answered {
                    "：已答复，待市局办结"
                } else {
                    ""
                }
            ),
            code: if i.overdue && !answered {
                "missing"
            } else {
                "pending"
            },
            href: format!("#item-{}", i.id),
            action: if answered { "补充答复" } else { "答复" }.into(),
        });
    }
    if !unsigned.is_empty() {
        let ms: Vec<u32> = unsigned.iter().map(|(m, _)| *m).collect();
        out.push(Todo {
            text: format!(
                "{}月数据待负责人确认：请本单位负责人打开其确认链接（市局另行发给负责人）核对后确认",
                crate::format::months_zh(&ms)
            ),
            code: "pending",
            href: "#months-head".into(),
            action: "查看各月".into(),
        });
    }
    out
}

/// The first line of the to-do: the month being collected, its deadline and its state.
fn month_due(
    w: &Web,
    period: Period,
    latest: Option<&crate::status::Latest>,
    returned: &[crate::records::OpenReturn],
    fill: &dyn Fn(Period) -> String,
) -> Todo {
    let ctx = &w.ctx;
    let deadline = ctx.pipeline.deadline_zh(period);
    let due = ctx.pipeline.is_due(period, &ctx.now());
    let this_month = returned.iter().find(|r| r.period == period.to_string());
    match (latest, this_month) {
        (_, Some(r)) => Todo {
            text: format!(
                "{}数据已被市局退回（{}，{} 退回）：请更正后重新报送",
                period.zh(),
                r.reason,
                r.at
            ),
            code: "returned",
            href: fill(period),
            action: "在线更正".into(),
        },
        (Some(l), None) => Todo {
            text: format!(
                "{}数据（截止 {deadline}）：已报送（第{}版，{}{}）",
                period.zh(),
                l.version,
                crate::period::minute_text(&l.arrived_at),
                if l.late { "，逾期" } else { "" }
            ),
            code: if l.late { "late" } else { "ok" },
            href: fill(period),
            action: "查看或更正".into(),
        },
        (None, None) if due => Todo {
            text: format!(
                "{}数据应于 {deadline} 前报送，已逾期：尚未报送",
                period.zh()
            ),
            code: "missing",
            href: fill(period),
            action: "在线填报".into(),
        },
        (None, None) => Todo {
            text: format!("{}数据请于 {deadline} 前报送：尚未报送", period.zh()),
            code: "none",
            href: fill(period),
            action: "在线填报".into(),
        },
    }
}

/// A county's page: first what is due (the month being collected, returns, 待说明, items, what
/// waits for the 负责人), then the unit's own figures and the latest report's words about it,
/// the 说明 forms, then the months as a list, refused files, the form, the templates and the
/// upload — with the result of an upload just made.
pub(super) fn county_page(
    w: &Web,
    unit: &crate::config::Unit,
    token: &str,
    result: Option<&UploadResult>,
) -> Result<Response> {
    let ctx = &w.ctx;
    let period = collected(ctx);
    let base = format!("/u/{}/{}", unit.code, token);
    let board = w.board(period)?;
    let returned: Vec<_> = w
        .records()?
        .open_returns(Some(ctx.now()))?
        .into_iter()
        .filter(|r| r.unit == unit.code)
        .collect();
    let items: Vec<_> = w
        .records()?
        .open_items(ctx.now())?
        .into_iter()
        .filter(|i| i.unit == unit.code)
        .collect();
    let idx = ctx.pipeline.unit_index(&unit.code);
    let unsigned: Vec<(u32, i64)> = w
        .records()
        .and_then(|r| r.unsigned(&ctx.pipeline, period, ctx.now()))?
        .into_iter()
        .filter(|(i, _)| Some(*i) == idx)
        .flat_map(|(_, ms)| ms)
        .map(|u| (u.month, u.version))
        .collect();
    let pending = to_explain(
        &board,
        unit,
        &crate::supervision::sent_back(&ctx.data_dir, &unit.code)?,
    );
    let todo = todo(
        w, unit, &base, period, &board, &returned, &pending, &items, &unsigned,
    );
    let months: Vec<MonthView> = board
        .grid
        .iter()
        .filter(|r| r.code == unit.code)
        .flat_map(|r| r.months.iter())
        .map(|c| MonthView {
            month: c.month,
            state: if unsigned.iter().any(|(m, _)| *m == c.month) {
                format!("{}，待负责人确认", c.state)
            } else {
                c.state.clone()
            },
            code: c.code.clone(),
            version: c.version,
        })
        .collect();
    let figures = board
        .figures
        .iter()
        .find(|(c, _)| *c == unit.code)
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    Ok(super::render::whole(
        "county.html",
        minijinja::context! {
            title => format!("{} {} 报送情况", ctx.pipeline.def.pipeline.title, unit.name),
            palette => ser(crate::palette::for_templates()),
            result => result.map(ser),
            as_of => period::instant_zh(&ctx.now()),
            todo => ser(todo),
            figures => ser(figures),
            ytd_zh => period.ytd_zh(),
            feedback => ser(feedback(ctx, unit)),
            months => ser(months),
            rejected => ser(refused(&board.files, &board.grid, |f| f.names_unit(&unit.code), Some(&unit.code))),
            pending => ser(pending),
            notes => ser(notes_given(ctx, unit)?),
            explain_href => format!("{base}/explain"),
            returned => returned_view(returned, &base),
            // The unit's open supervision items, each with an answer form.
            items => ser(items),
            csrf => form_token(token, &format!("u/{}", unit.code)),
            answer_href => format!("{base}/answer"),
            fill_href => format!("{base}/fill?period={period}"),
            template_href => format!("{base}/template?period={period}"),
            template_month => period.zh(),
            templates => ser((1..=12)
                .filter_map(|m| Period::new(ctx.pipeline.year(), m))
                .map(|p| minijinja::context! { month => p.month(), href => format!("{base}/template?period={p}") })
                .collect::<Vec<_>>()),
            base,
            max_upload_mb => crate::format::num(Some(ctx.pipeline.def.web.max_upload_mb)),
        },
    ))
}

/// The unit's months returned, each with its reason and the ways to correct it.
fn returned_view(returned: Vec<crate::records::OpenReturn>, base: &str) -> minijinja::Value {
    ser(returned
        .into_iter()
        .map(|r| {
            minijinja::context! {
                month => Period::parse(&r.period).map_or(r.period.clone(), |p| p.zh()),
                reason => r.reason, at => r.at,
                fill_href => format!("{base}/fill?period={}", r.period),
                template_href => format!("{base}/template?period={}", r.period),
            }
        })
        .collect::<Vec<_>>())
}

/// The unit's 说明 in force, in words (months, the check, what was said, who, when).
fn notes_given(ctx: &Context, unit: &crate::config::Unit) -> Result<Vec<String>> {
    Ok(crate::supervision::notes_in_force(&ctx.data_dir)?
        .into_iter()
        .filter(|n| n.unit == unit.code)
        .map(|n| {
            format!(
                "{}月“{}”：{}（{}，{}）",
                crate::format::months_zh(&n.months),
                crate::supervision::check_words(&ctx.pipeline, &n.check_id),
                n.text,
                n.by,
                n.at.minute()
            )
        })
        .collect())
}

/// 本单位本月情况: what the latest monthly report said about the unit (its alerts: gaps, rules
/// missed, 待说明), with the report's month.
fn feedback(ctx: &Context, unit: &crate::config::Unit) -> Option<minijinja::Value> {
    let (p, _, _) = super::pages::runs(ctx).into_iter().next()?;
    let alerts = super::pages::latest_alerts(ctx, p)?;
    // When the report was made: what arrived after it is not in it.
    let made = super::pages::listed_outputs(&ctx.output_dir.run(ctx.pipeline.name(), p))
        .map(|(_, m)| crate::period::minute_text(&m.as_of))
        .filter(|t| !t.is_empty());
    let lines: Vec<String> = alerts
        .into_iter()
        .filter(|a| a.get("unit").is_some_and(|n| *n == unit.name))
        // The soft checks are the 待说明 section's, one line a rule, not one a month.
        .filter(|a| a.get("rule").is_none_or(|r| r != "soft_check"))
        .map(|a| {
            format!(
                "【{}】{}",
                a.get("severity").map_or("", String::as_str),
                a.get("message").map_or("", String::as_str)
            )
        })
        .collect();
    Some(minijinja::context! { period_zh => p.zh(), made, lines })
}

/// The unit's soft checks still waiting for a 说明, each with its months and the staff's reason
/// when a 说明 of them was sent back.
fn to_explain(
    board: &crate::status::Board,
    unit: &crate::config::Unit,
    sent_back: &[crate::records::NoteRecord],
) -> Vec<ToExplain> {
    let Some(s) = board.units.iter().find(|s| s.code == unit.code) else {
        return Vec::new();
    };
    s.pending
        .iter()
        .zip(&s.pending_months)
        .zip(&s.pending_checks)
        .map(|((text, months), check)| ToExplain {
            text: text.clone(),
            check: check.clone(),
            months: months.clone(),
            months_zh: format!("{}月", crate::format::months_zh(months)),
            sent_back: sent_back
                .iter()
                .rev()
                .find(|r| r.check_id == *check && r.months.iter().any(|m| months.contains(m)))
                .map(|r| format!("{}（{}，{}）", r.text, r.by, r.at.minute())),
        })
        .collect()
}

/// The key figures of one version of a unit's month, for the 负责人 who signs it.
pub(super) fn month_figures(
    w: &Web,
    code: &str,
    p: Period,
    version: i64,
) -> Result<Vec<crate::status::Figure>> {
    let records = w.records()?;
    let Some(r) = records.version(code, p, version)? else {
        return Ok(Vec::new());
    };
    use crate::schema::{Kind, Value};
    Ok(crate::schema::FIELDS
        .iter()
        .filter(|f| !matches!(f.key, "unit_code" | "unit_name" | "period" | "narrative"))
        .filter_map(|f| {
            let value = match r.value(f.key) {
                Value::Fen(_) => crate::format::yuan_cell(r.figure(f.key)),
                Value::Count(_) => crate::format::int(r.figure(f.key)),
                Value::Missing if matches!(f.kind, Kind::Money | Kind::Count) => {
                    crate::format::DASH.to_string()
                }
                Value::Missing => return None,
                Value::Text(t) => t.clone(),
                Value::Period(p) => p.to_string(),
                Value::Date(d) => d.to_string(),
            };
            Some(crate::status::Figure {
                label: f.label,
                value,
            })
        })
        .collect())
}

/// The 负责人's page (`signoff.html`).
pub(super) fn signoff_view(ctx: minijinja::Value) -> Response {
    let ctx = minijinja::context! { palette => ser(crate::palette::for_templates()), ..ctx };
    super::render::whole("signoff.html", ctx)
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
    if p.year() != w.ctx.pipeline.year() {
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
