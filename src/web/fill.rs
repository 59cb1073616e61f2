//! 填报 on the page (issue 34 §2): a unit types its month's figures into a form, without Excel.
//! The form has the schema's fields labelled as in the template, each with last month's figure
//! and the year so far beside it, pre-filled from the version in force (a correction starts from
//! it). On submit the figures go through the same checks as a file: hard problems are shown at
//! their fields and nothing is kept; soft checks ask for a 说明 in the same form; then the JSON
//! the form made is put into the inbox with its arrival note and taken by the same ingest as
//! every door (SHA-256, archive, record, a new version), and the receipt is shown and mailed.
//!
//! Invariants: nothing is kept unless the form is genuine (the link, the page's anti-forgery
//! token) and passes the hard checks; what is kept is the bytes validated, byte for byte; a form
//! acts once (its one-time key) and is answered 303 to its result page; only the unit's own
//! month of the pipeline's year is filled, never a month not yet begun.

use super::Web;
use super::act::{once_only_with, see_other};
use super::auth::{form_token, same_secret, unit_ok};
use super::render::{answer, nf, server_error};
use crate::error::{Error, Result};
use crate::ingest;
use crate::period::{self, Period};
use crate::records::{Records, Stored};
use crate::schema::{FIELDS, Kind, Value};
use crate::store::{FileEntry, Outcome, Store};
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The fields the form does not ask for: who and which month (fixed by the link and the form),
/// and the date (the day it is sent).
const FIXED: [&str; 4] = ["unit_code", "unit_name", "period", "reported_on"];

/// One field of the form as the template paints it.
#[derive(Serialize, Default)]
struct FieldView {
    key: &'static str,
    label: &'static str,
    value: String,
    /// `numeric` (whole numbers), `decimal` (money) or empty (text).
    mode: &'static str,
    /// A long text (执行情况, 说明): a textarea.
    long: bool,
    required: bool,
    /// Last month's figure (the version in force), if any.
    last: Option<String>,
    /// The year so far, months before this one.
    ytd: Option<String>,
    error: Option<String>,
}

/// The month asked for (`?period=2025-07`, or the form's field), else the one being collected —
/// only a month of the pipeline's year that has begun.
fn month_of(w: &Web, asked: Option<&String>) -> Option<Period> {
    let ctx = &w.ctx;
    let p = match asked {
        Some(s) => Period::parse(s.trim())?,
        None => super::county::collected(ctx),
    };
    // Only a month that has ended: its figures can be known.
    (p.year() == ctx.pipeline.year() && p < Period::of(ctx.now().date_naive())).then_some(p)
}

/// The versions in force of a unit's months of the year up to `period`, as the board shows them:
/// (month, the stored row).
fn in_force<'r>(
    w: &Web,
    records: &'r Records,
    code: &str,
    period: Period,
) -> Result<Vec<(u32, &'r Stored)>> {
    let board = w.board(period)?;
    let Some(row) = board.grid.iter().find(|r| r.code == code) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for c in &row.months {
        let (Some(v), Some(p)) = (c.version, Period::new(period.year(), c.month)) else {
            continue;
        };
        if let Some(r) = records.version(code, p, v)? {
            out.push((c.month, r));
        }
    }
    Ok(out)
}

/// A value of a stored row as a clerk types it (no separators, money with its decimals).
fn typed(r: &Stored, key: &str) -> Option<String> {
    match r.value(key) {
        Value::Missing => None,
        Value::Count(n) => Some(n.to_string()),
        Value::Fen(f) => Some(crate::format::dec2(Some(*f as f64 / 100.0))),
        Value::Text(t) => Some(t.clone()),
        Value::Period(p) => Some(p.to_string()),
        Value::Date(d) => Some(d.to_string()),
    }
}

/// A figure as a table writes it: `1,234.50` for money, `1,234` for a count.
fn as_in_table(kind: Kind, v: f64) -> String {
    if kind == Kind::Money {
        crate::format::yuan_cell(Some(v))
    } else {
        crate::format::int(Some(v))
    }
}

/// The form's fields: values typed (or those in force), last month's and the year's figures.
fn fields(
    w: &Web,
    code: &str,
    period: Period,
    typed_in: Option<&HashMap<String, String>>,
) -> Result<Vec<FieldView>> {
    let records = w.records()?;
    let forced = in_force(w, &records, code, period)?;
    let at = |m: u32| forced.iter().find(|(x, _)| *x == m).map(|(_, r)| *r);
    Ok(FIELDS
        .iter()
        .filter(|f| !FIXED.contains(&f.key))
        .map(|f| {
            let figure = matches!(f.kind, Kind::Count | Kind::Money);
            let from_store = |m: u32| typed(at(m)?, f.key);
            let value = match typed_in {
                Some(t) => t.get(f.key).cloned().unwrap_or_default(),
                // A new 说明 for new figures: the old one is not carried over (it would explain
                // figures it was not written for, and pass the soft checks unread).
                None if f.key == "note" => String::new(),
                // A correction starts from the version in force.
                None => from_store(period.month()).unwrap_or_default(),
            };
            // (beside the field, figures as a table writes them: 1,234.50)
            let ytd = (figure && period.month() > 1).then(|| {
                let sum: f64 = (1..period.month())
                    .filter_map(|m| at(m)?.figure(f.key))
                    .sum();
                as_in_table(f.kind, sum)
            });
            FieldView {
                key: f.key,
                label: f.label,
                value,
                mode: match f.kind {
                    Kind::Count => "numeric",
                    Kind::Money => "decimal",
                    _ => "",
                },
                long: matches!(f.kind, Kind::LongText) || f.key == "note",
                required: f.required || f.key == "reporter",
                last: if figure && period.month() > 1 {
                    at(period.month() - 1)
                        .and_then(|r| r.figure(f.key))
                        .map(|v| as_in_table(f.kind, v))
                } else {
                    None
                },
                ytd,
                error: None,
            }
        })
        .collect())
}

/// The month's standing for the form's head: the version in force (`第2版（2025-08-04 09:00
/// 报送）`) and the city's reason if it returned the month.
fn standing(w: &Web, code: &str, period: Period) -> Result<(Option<String>, Option<String>)> {
    let ctx = &w.ctx;
    let board = w.board(period)?;
    let current = board
        .grid
        .iter()
        .find(|r| r.code == code)
        .and_then(|row| row.months.iter().find(|c| c.month == period.month()))
        .and_then(|c| c.version)
        .map(|v| format!("第{v}版"));
    let returned = w
        .records()?
        .open_returns(Some(ctx.now()))?
        .into_iter()
        .find(|r| r.unit == code && r.period == period.to_string())
        .map(|r| format!("{}（{}，{} 退回）", r.reason, r.by, r.at));
    Ok((current, returned))
}

/// Whether a checked row says exactly what the version in force says (its number, if so): a
/// form sent back unchanged is no correction.
fn unchanged(w: &Web, code: &str, period: Period, row: &crate::schema::Row) -> Result<Option<i64>> {
    let records = w.records()?;
    let Some(r) = in_force(w, &records, code, period)?
        .into_iter()
        .find(|(m, _)| *m == period.month())
        .map(|(_, r)| r)
    else {
        return Ok(None);
    };
    let empty = |v: &Value| matches!(v, Value::Missing) || *v == Value::Text(String::new());
    let same = FIELDS.iter().zip(&row.values).all(|(field, typed)| {
        // The date is the day's; an empty 说明 is "nothing new to say" (the form does not carry
        // the old one over).
        let kept = r.value(field.key);
        field.key == "reported_on"
            || (field.key == "note" && *typed == Value::Missing)
            || typed == kept
            || (empty(typed) && empty(kept))
    });
    Ok(same.then_some(r.version))
}

/// The form page: its fields, what is wrong with them (at each field and in a list on top), the
/// soft checks asking for a 说明.
fn form_page(
    w: &Web,
    unit: &crate::config::Unit,
    token: &str,
    period: Period,
    fields: Vec<FieldView>,
    problems: &[String],
    soft: &[String],
) -> Response {
    let base = format!("/u/{}/{token}", unit.code);
    let months: Vec<_> = (1..=12)
        .filter_map(|m| Period::new(period.year(), m))
        .filter(|p| *p < Period::of(w.ctx.now().date_naive()))
        .map(
            |p| minijinja::context! { value => p.to_string(), zh => p.zh(), chosen => p == period },
        )
        .collect();
    let (current, returned) = match standing(w, &unit.code, period) {
        Ok(s) => s,
        Err(e) => return server_error(&e.to_string()),
    };
    super::render::fill_page(minijinja::context! {
        current, returned,
        title => format!("{} {}数据填报", unit.name, period.zh()),
        unit => unit.name.clone(),
        code => unit.code.clone(),
        period => period.to_string(),
        period_zh => period.zh(),
        deadline => w.ctx.pipeline.deadline_zh(period),
        months,
        fields => super::render::ser(fields),
        problems => problems.to_vec(),
        soft => soft.to_vec(),
        back => base.clone(),
        action => format!("{base}/fill"),
        csrf => form_token(token, &format!("u/{}", unit.code)),
    })
}

/// `GET /u/{code}/{token}/fill?period=2025-07`: the month's form.
pub(super) async fn fill_form(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token).cloned() else {
        return nf();
    };
    let Some(period) = month_of(&w, query.get("period")) else {
        return super::render::answer_back(
            StatusCode::BAD_REQUEST,
            "月份有误",
            "只能填报本年度已结束的月份，如 2025-07。",
            &format!("/u/{code}/{token}"),
        );
    };
    let w2 = w.clone();
    tokio::task::spawn_blocking(move || match fields(&w2, &unit.code, period, None) {
        Ok(f) => form_page(&w2, &unit, &token, period, f, &[], &[]),
        Err(e) => server_error(&e.to_string()),
    })
    .await
    .unwrap_or_else(|_| server_error("内部错误"))
}

/// The JSON the form makes: one record, every value as the clerk typed it (trimmed), the unit
/// and month from the link and the form, the day it is sent.
fn record_of(
    unit: &crate::config::Unit,
    period: Period,
    form: &HashMap<String, String>,
    today: chrono::NaiveDate,
    key: &str,
) -> Vec<u8> {
    let mut rec = serde_json::Map::new();
    // Which form made it (a column the ingest does not read): two forms with the same figures
    // are two submissions, never one file "seen before".
    rec.insert("form_id".into(), key.into());
    rec.insert("unit_code".into(), unit.code.clone().into());
    rec.insert("unit_name".into(), unit.name.clone().into());
    rec.insert("period".into(), period.to_string().into());
    for f in FIELDS.iter().filter(|f| !FIXED.contains(&f.key)) {
        let v = form.get(f.key).map_or("", |v| v.trim());
        if !v.is_empty() || f.required {
            rec.insert(f.key.into(), v.into());
        }
    }
    rec.insert("reported_on".into(), today.to_string().into());
    let mut bytes =
        serde_json::to_vec_pretty(&serde_json::Value::Array(vec![rec.into()])).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The field a problem is about (by the column's label or key), if any.
fn field_of(p: &ingest::validate::Problem) -> Option<&'static str> {
    let c = p.column.as_deref()?;
    FIELDS
        .iter()
        .find(|f| f.label == c || f.key == c)
        .map(|f| f.key)
}

/// What a form's submission came to before anything is kept.
enum Checked {
    /// Hard problems (at their fields, and the rest), or soft checks waiting for a 说明.
    Again {
        fields: Vec<FieldView>,
        problems: Vec<String>,
        soft: Vec<String>,
    },
    Good(Vec<u8>),
}

/// The hard checks of a file, then the soft checks of the month as the store would be with it.
fn check(
    w: &Web,
    unit: &crate::config::Unit,
    period: Period,
    form: &HashMap<String, String>,
) -> Result<Checked> {
    let ctx = &w.ctx;
    let key = super::once::key_of(form.get("once"));
    let bytes = record_of(unit, period, form, ctx.now().date_naive(), &key);
    let checked = ingest::validate::check("在线填报.json", &bytes, &ctx.pipeline);
    let mut fields = fields(w, &unit.code, period, Some(form))?;
    let mut problems = Vec::new();
    if form.get("reporter").is_none_or(|r| r.trim().is_empty()) {
        problems.push("填报人：请填写填报人姓名".to_string());
        if let Some(f) = fields.iter_mut().find(|f| f.key == "reporter") {
            f.error = Some("请填写填报人姓名".into());
        }
    }
    for p in &checked.problems {
        let at = field_of(p).and_then(|k| fields.iter_mut().find(|f| f.key == k));
        match at {
            Some(f) => {
                let said = f.error.get_or_insert_with(String::new);
                if !said.is_empty() {
                    said.push('；');
                }
                said.push_str(&p.message);
                problems.push(format!("{}：{}", f.label, p.message));
            }
            None => problems.push(p.message.clone()),
        }
    }
    if !problems.is_empty() || checked.unusable || checked.rows.is_empty() {
        if problems.is_empty() {
            problems.push("填报内容无法使用，请检查后重新提交。".into());
        }
        return Ok(Checked::Again {
            fields,
            problems,
            soft: Vec::new(),
        });
    }
    // The version in force sent back unchanged: no new version (a double submission, or a
    // return "answered" with the same figures).
    if let Some(v) = unchanged(w, &unit.code, period, &checked.rows[0])? {
        return Ok(Checked::Again {
            fields,
            problems: vec![format!(
                "填报内容与现行第{v}版完全相同，未作修改，未保存。如需更正，请修改有误的数字；如需说明，请在“说明”栏填写。"
            )],
            soft: Vec::new(),
        });
    }
    // Soft checks: asked once; a 说明 typed, or "先提交，稍后说明" ticked, lets it through.
    let noted = form.get("note").is_some_and(|n| !n.trim().is_empty());
    let later = form.get("later").is_some();
    if !noted && !later {
        let store = Store::open(&ctx.data_dir);
        let file = FileEntry {
            batch: i64::MAX,
            seq: 0,
            sha256: String::new(),
            file_name: "在线填报".into(),
            size: bytes.len() as i64,
            arrived_at: period::Moment(ctx.now()),
            outcome: Outcome::Accepted,
            stored_as: String::new(),
            rows_accepted: 1,
            rows_rejected: 0,
            problems: String::new(),
            unit_codes: crate::unit_code::UnitCode::parse(&unit.code)
                .into_iter()
                .collect(),
            door: Some(crate::door::Door::Web),
            periods: vec![period],
        };
        let rows = store.rows_with(std::slice::from_ref(&file), &[(0, &checked.rows[0])])?;
        let soft = crate::status::checks_if(
            &ctx.pipeline,
            w.records()?.as_ref(),
            &rows,
            &unit.code,
            period,
            &ctx.now(),
        )?;
        if !soft.is_empty() {
            if let Some(f) = fields.iter_mut().find(|f| f.key == "note") {
                f.error = Some("以上数据异常，请在此写明原因".into());
            }
            return Ok(Checked::Again {
                fields,
                problems: Vec::new(),
                soft,
            });
        }
    }
    Ok(Checked::Good(bytes))
}

/// `POST /u/{code}/{token}/fill`: the month's figures, checked; kept through the ingest when
/// good (303 to the receipt), else the form again with what is wrong (400).
pub(super) async fn fill_submit(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    body: Body,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token).cloned() else {
        return nf();
    };
    let form: HashMap<String, String> =
        match super::act::form_body(&w, body, super::act::MAX_FORM_BYTES * 4).await {
            Ok(f) => f.into_iter().collect(),
            Err(r) => return r,
        };
    let genuine = form
        .get("csrf")
        .is_some_and(|c| same_secret(c, &form_token(&token, &format!("u/{code}"))));
    if !genuine {
        return answer(
            StatusCode::FORBIDDEN,
            "不允许的操作",
            "表单已失效或不是本页面提交的，请刷新页面后重试。",
        );
    }
    let Some(period) = month_of(&w, form.get("period")) else {
        return super::render::answer_back(
            StatusCode::BAD_REQUEST,
            "月份有误",
            "只能填报本年度已结束的月份，如 2025-07。",
            &format!("/u/{code}/{token}"),
        );
    };
    // A form already acted on (F5, a double click) goes to its result, nothing checked again.
    let key = super::once::key_of(form.get("once"));
    let done = format!("/u/{code}/{token}/done/{key}");
    if super::once::read(&w.ctx.data_dir, &key).is_some() {
        return see_other(&done);
    }
    let (w2, u2, f2, t2) = (w.clone(), unit.clone(), form.clone(), token.clone());
    // (checked and, if asked again, painted on a blocking thread: the analyses, the store)
    let checked = tokio::task::spawn_blocking(move || match check(&w2, &u2, period, &f2) {
        Ok(Checked::Good(bytes)) => Ok(bytes),
        Ok(Checked::Again {
            fields,
            problems,
            soft,
        }) => {
            let mut page = form_page(&w2, &u2, &t2, period, fields, &problems, &soft);
            if !problems.is_empty() {
                *page.status_mut() = StatusCode::BAD_REQUEST;
            }
            Err(page)
        }
        Err(e) => Err(server_error(&e.to_string())),
    })
    .await;
    let bytes = match checked {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(page)) => return page,
        Err(_) => return server_error("内部错误"),
    };
    let reporter = form.get("reporter").map_or("", |r| r.trim()).to_string();
    let w2 = w.clone();
    once_only_with(&w, &key, done, move || {
        keep(&w2, &unit, period, &bytes, &reporter)
    })
    .await
}

/// Keeps the form's JSON through the inbox and the ingest, queues the receipt to the unit's
/// contact and sends it; returns the receipt's words.
fn keep(
    w: &Arc<Web>,
    unit: &crate::config::Unit,
    period: Period,
    bytes: &[u8],
    reporter: &str,
) -> Result<String> {
    let ctx = &w.ctx;
    let now = ctx.now();
    let sha = crate::fsutil::sha256_hex(bytes);
    let shown = format!("在线填报（{}，填报人{}）", period.zh(), reporter);
    let inbox_name = format!(
        "web-{}-{}-{}/在线填报-{}-{period}.json",
        unit.code,
        now.format("%Y%m%dT%H%M%S"),
        crate::fsutil::unique_tag(),
        unit.code
    );
    let note = ingest::arrival::Arrival {
        name: inbox_name.clone(),
        sha256: sha.clone(),
        at: now.into(),
        door: crate::door::Door::Web,
        only_unit: Some((unit.code.clone(), unit.name.clone())),
        original_name: format!("{shown}.json"),
        refuse: None,
    };
    ingest::arrival::put(&ctx.data_dir, bytes, &note)?;
    // (run on a blocking thread of the server: it waits here for the ingest task)
    let taken = tokio::runtime::Handle::current().block_on(super::upload::ingested(w));
    let result = super::upload::result_of(w, taken.as_ref(), &inbox_name, &sha, &shown);
    let mut said = result.text.clone();
    if result.ok && ctx.pipeline.def.web.county_signoff {
        said.push_str("\n新版本须由本单位负责人在其确认链接中确认。");
    }
    match receipt(w, unit, period, &sha, &result.text) {
        Ok(Some(line)) => {
            said.push('\n');
            said.push_str(&line);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "web: the form's receipt not sent"),
    }
    if result.ok {
        Ok(said)
    } else {
        Err(Error::Usage(said))
    }
}

/// The receipt of a form to the unit's contact (texts/receipt-web.txt), once per submission (its
/// id is the bytes'), sent now; what it came to, in words.
fn receipt(
    w: &Web,
    unit: &crate::config::Unit,
    period: Period,
    sha: &str,
    result: &str,
) -> Result<Option<String>> {
    let ctx = &w.ctx;
    let Some(contact) = unit.contact.clone() else {
        return Ok(None);
    };
    let (subject, text) = ctx
        .pipeline
        .texts
        .send(&crate::texts::contexts::ReceiptWeb {
            heading: ctx.pipeline.heading(),
            unit: unit.name.clone(),
            period_zh: period.zh(),
            now: period::instant_zh(&ctx.now()),
            result: result.to_string(),
        })?;
    let id = format!("receipt-web-{}", &sha[..16]);
    {
        let wait = std::time::Duration::from_secs(ctx.pipeline.def.schedule.lock_wait_seconds);
        let _lock = crate::lock::acquire(&ctx.data_dir, wait, "web receipt")?;
        crate::notify::post(
            &ctx.data_dir,
            &ctx.pipeline,
            crate::notify::Letter::notice(
                &id,
                crate::notify::MessageKind::Receipt,
                period,
                std::slice::from_ref(&contact),
                &subject,
                &text,
            ),
            ctx.now(),
        )?;
    }
    Ok(Some(match crate::supervision::deliver_now(ctx, &id) {
        Ok(true) => format!("回执已发送至 {contact}。"),
        Ok(false) => "未配置邮件服务器，回执邮件未发出（已留存备查）。".to_string(),
        Err(_) => "回执暂未送达，将自动重试。".to_string(),
    }))
}
