//! One report run for a period: store → analyses → report. (Ingest happens before, in the
//! command; sending, after.)

use crate::analyze::{self, Inputs};
use crate::app::Context;
use crate::error::Result;
use crate::period::{Moment, Period};
use crate::records::Records;
use crate::report::{self, RunMeta};
use crate::store::Store;
use crate::texts::documents::AlertValues;
use std::path::PathBuf;

/// What a report run produced.
pub struct Built {
    pub dir: PathBuf,
    /// Critical alerts as (unit, message), for the webhooks.
    pub critical: Vec<(String, String)>,
    /// The digest's subject, also the one line for people: completion against 序时进度 and
    /// the number of alerts.
    pub subject: String,
    /// A December report also writes the year's review (`output/<pipeline>/review-<Y>/`).
    pub review: Option<PathBuf>,
}

/// Builds `output/<pipeline>/<P>/` from the store, as of the context's "now". `restated` alerts
/// compare with the rows of the digests already sent.
pub fn build_report(ctx: &Context, period: Period) -> Result<Built> {
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_secs_f64() * 1e3;
    let records = Records::open(&ctx.data_dir)?;
    let analysis = analyse(ctx, &records, period)?;
    tracing::debug!(ms = ms(), "report: store read and analysed");
    // The record is the review's (December) only.
    let record = if period.month() == 12 {
        records.record(period.year(), ctx.now())?
    } else {
        Vec::new()
    };
    let meta = RunMeta {
        pipeline: &ctx.pipeline,
        period,
        as_of: ctx.now(),
        generated_at: ctx.now(),
        files: records.files(),
        record: &record,
    };
    let written = report::write_run(&ctx.output_dir, &meta, &analysis)?;
    tracing::debug!(ms = ms(), "report: run folder in place");
    // December is also the year's review, made from the same analysis (the same rows).
    let review = if period.month() == 12 {
        let dir = report::review::write(&ctx.output_dir, &meta, &analysis)?.0;
        tracing::debug!(ms = ms(), "report: review folder in place");
        Some(dir)
    } else {
        None
    };
    let critical = analysis
        .rows::<analyze::rows::AlertLine>()?
        .into_iter()
        .filter(|l| l.severity == analyze::Severity::Critical.code())
        .map(|l| (l.unit_name.unwrap_or_default(), l.message))
        .collect();
    Ok(Built {
        dir: written.dir,
        critical,
        subject: written.digest.subject,
        review,
    })
}

/// `fayuan review --year Y`: the year's review alone, from the store as of now (the December
/// report's analysis). Returns the folder and the memo.
pub fn build_review(ctx: &Context, year: i32) -> Result<(PathBuf, String)> {
    let period = report::review::december(&ctx.pipeline, year)?;
    let records = Records::open(&ctx.data_dir)?;
    let analysis = analyse(ctx, &records, period)?;
    let record = records.record(year, ctx.now())?;
    report::review::write(
        &ctx.output_dir,
        &RunMeta {
            pipeline: &ctx.pipeline,
            period,
            as_of: ctx.now(),
            generated_at: ctx.now(),
            files: records.files(),
            record: &record,
        },
        &analysis,
    )
}

/// The analysis of a report for `period` as of the context's "now", from what happened as
/// `records` read it (the store, the ledgers, the sources' state, the digests sent).
fn analyse(ctx: &Context, records: &Records, period: Period) -> Result<analyze::Analysis> {
    let now = Moment(ctx.now());
    let sent = records.sent_digests(&ctx.pipeline)?;
    // `rejected` lists what was rejected since leadership was last told.
    let last_told = crate::records::last_sent_as_of(&sent, now);
    // The previous year's pipeline keeps its own store (its data folder).
    let last_year = match &ctx.pipeline.previous {
        Some(prev) => {
            Some(Store::open(&crate::layout::DataDir::new(prev.data_dir.clone())).rows()?)
        }
        None => None,
    };
    let open_returns = records.open_returns(Some(ctx.now()))?;
    let mut extra = machinery_alerts(ctx, records, period, last_told)?;
    extra.extend(returned_alerts(ctx, period, &open_returns)?);
    extra.extend(supervision_alerts(ctx, &records.open_items(ctx.now())?)?);
    extra.extend(unconfirmed_alerts(ctx, records, period)?);
    // The months each unit's 负责人 has not signed: an alert each, and the 通报's and review's list.
    let unsigned: Vec<(String, Vec<u32>)> = records
        .unsigned(&ctx.pipeline, period, ctx.now())?
        .into_iter()
        .map(|(i, ms)| {
            let months = ms.iter().map(|m| m.month).collect();
            (ctx.pipeline.units[i].code.clone(), months)
        })
        .collect();
    extra.extend(unsigned_alerts(ctx, period, &unsigned)?);
    analyze::analyze(&Inputs {
        pipeline: &ctx.pipeline,
        period,
        as_of: ctx.now(),
        submissions: records.rows(),
        files: records.files(),
        // `restated` compares with what leadership has seen: the digests that reached anyone.
        previous: crate::records::rows_last_sent(&sent).as_deref(),
        extra_alerts: extra,
        rejected_after: last_told.map(|m| m.0),
        last_year: last_year.as_ref(),
        locks: &records.locks(Some(ctx.now()))?,
        returned: &open_returns
            .iter()
            .map(|r| (r.unit.clone(), r.period.clone()))
            .collect::<Vec<_>>(),
        explained: &records.explained(Some(ctx.now()))?,
        unsigned: &unsigned,
    })
}

/// The months of the report's year (up to `period`) returned for correction and not corrected
/// yet: their figures are in use, marked 已退回待修改 (an alert, so the digest, the workbook and
/// alerts.csv all say it).
fn returned_alerts(
    ctx: &Context,
    period: Period,
    open: &[crate::records::OpenReturn],
) -> Result<Vec<analyze::Alert>> {
    let mut out = Vec::new();
    for r in open {
        let Some(p) = Period::parse(&r.period) else {
            continue;
        };
        let Some(ord) = ctx.pipeline.unit_index(&r.unit) else {
            continue;
        };
        let u = &ctx.pipeline.units[ord];
        if p.year() != period.year() || p > period {
            continue;
        }
        let words = AlertValues {
            month_zh: p.zh(),
            reason: r.reason.clone(),
            by: r.by.clone(),
            at: r.at.clone(),
            ..AlertValues::default()
        };
        out.push(analyze::Alert {
            rule: "returned",
            severity: analyze::Severity::Warning,
            unit_code: r.unit.clone(),
            unit_name: u.name.clone(),
            ord: ord as i64,
            message: alert_words(ctx, "returned", words)?,
        });
    }
    Ok(out)
}

/// An alert's sentence, from its block of texts/alerts.txt (a bureau may reword it).
fn alert_words(ctx: &Context, rule: &str, values: AlertValues) -> Result<String> {
    ctx.pipeline.texts.block(
        "alerts.txt",
        rule,
        &crate::texts::contexts::value_of(values),
    )
}

/// `[supervision] confirm_required`: a unit's months reported and not confirmed yet (提示, one
/// alert a unit): the figures are in use, the staff have not accepted them.
fn unconfirmed_alerts(
    ctx: &Context,
    records: &Records,
    period: Period,
) -> Result<Vec<analyze::Alert>> {
    let open = records.unconfirmed(&ctx.pipeline, period, ctx.now())?;
    open.into_iter()
        .map(|(i, months)| {
            let u = &ctx.pipeline.units[i];
            let words = AlertValues {
                year: period.year(),
                months,
                ..AlertValues::default()
            };
            Ok(analyze::Alert {
                rule: "unconfirmed",
                severity: analyze::Severity::Info,
                unit_code: u.code.clone(),
                unit_name: u.name.clone(),
                ord: i as i64,
                message: alert_words(ctx, "unconfirmed", words)?,
            })
        })
        .collect()
}

/// `[web] county_signoff`: a unit's months sent and not signed by its 负责人 (提示, one alert a
/// unit): the digest, the workbook, alerts.csv and the 通报 name them.
fn unsigned_alerts(
    ctx: &Context,
    period: Period,
    unsigned: &[(String, Vec<u32>)],
) -> Result<Vec<analyze::Alert>> {
    unsigned
        .iter()
        .filter_map(|(code, months)| Some((ctx.pipeline.unit_index(code)?, months)))
        .map(|(i, ms)| {
            let u = &ctx.pipeline.units[i];
            let words = AlertValues {
                year: period.year(),
                months: crate::format::months_zh(ms),
                ..AlertValues::default()
            };
            Ok(analyze::Alert {
                rule: "unsigned",
                severity: analyze::Severity::Info,
                unit_code: u.code.clone(),
                unit_name: u.name.clone(),
                ord: i as i64,
                message: alert_words(ctx, "unsigned", words)?,
            })
        })
        .collect()
}

/// The supervision items still open, in every digest until the staff close them; an overdue one
/// is 严重.
fn supervision_alerts(
    ctx: &Context,
    open: &[crate::records::OpenItem],
) -> Result<Vec<analyze::Alert>> {
    let mut out = Vec::new();
    for i in open {
        let Some(ord) = ctx.pipeline.unit_index(&i.unit) else {
            continue;
        };
        let u = &ctx.pipeline.units[ord];
        let words = AlertValues {
            id: i.id,
            overdue: i.overdue,
            text: i.text.clone(),
            due: i.due.clone(),
            by: i.by.clone(),
            ..AlertValues::default()
        };
        out.push(analyze::Alert {
            rule: "supervision",
            severity: if i.overdue {
                analyze::Severity::Critical
            } else {
                analyze::Severity::Info
            },
            unit_code: i.unit.clone(),
            unit_name: u.name.clone(),
            ord: ord as i64,
            message: alert_words(ctx, "supervision", words)?,
        });
    }
    Ok(out)
}

/// Alerts about the machinery for the report of `period`: HTTP sources whose last poll failed,
/// and daemon jobs that failed since the last digest that reached anyone (`last_told`; none
/// yet: since the period ended).
fn machinery_alerts(
    ctx: &Context,
    records: &Records,
    period: Period,
    last_told: Option<Moment>,
) -> Result<Vec<analyze::Alert>> {
    let mut out = Vec::new();
    for (name, s) in records.sources()? {
        if s.result == crate::sources::Polled::Failed {
            out.push(analyze::Alert {
                rule: "source",
                severity: analyze::Severity::Warning,
                unit_code: String::new(),
                unit_name: format!("数据源 {name}"),
                ord: 999_998,
                message: alert_words(
                    ctx,
                    "source",
                    AlertValues {
                        source: name.clone(),
                        at: s.checked_at.minute(),
                        detail: s.detail.clone(),
                        ..AlertValues::default()
                    },
                )?,
            });
        }
    }
    let window = last_told.unwrap_or_else(|| {
        Moment(crate::period::local(
            period.next().first_day().and_time(chrono::NaiveTime::MIN),
        ))
    });
    for i in records.failures(&ctx.pipeline, Moment(ctx.now()))? {
        if i.last < window {
            continue;
        }
        let words = AlertValues {
            job: i.job.to_string(),
            first: i.first.minute(),
            last: i.last.minute(),
            times: i.times,
            detail: i.detail,
            ..AlertValues::default()
        };
        out.push(analyze::Alert {
            rule: "job_failed",
            severity: analyze::Severity::Warning,
            unit_code: String::new(),
            unit_name: "fayuan".into(),
            ord: 999_999,
            message: alert_words(ctx, "job_failed", words)?,
        });
    }
    Ok(out)
}

/// Posts the critical alerts to the pipeline's webhooks. A failure is logged and returned, never
/// fatal: (which robot, what became of the post), for the caller to tell.
pub async fn webhooks(
    ctx: &Context,
    built: &Built,
) -> Vec<(
    crate::config::WebhookKind,
    std::result::Result<(), crate::notify::webhook::HookError>,
)> {
    let hooks = &ctx.pipeline.def.webhooks;
    let mut out = Vec::new();
    if hooks.is_empty() || built.critical.is_empty() {
        return out;
    }
    let values = crate::texts::contexts::Webhook {
        heading: ctx.pipeline.heading(),
        subject: built.subject.clone(),
        count: built.critical.len(),
        critical: built
            .critical
            .iter()
            .take(20)
            .map(|(unit, message)| crate::texts::contexts::Critical {
                unit: unit.clone(),
                message: message.clone(),
            })
            .collect(),
    };
    let md = match ctx.pipeline.texts.body_of(&values) {
        Ok(md) => md,
        Err(e) => {
            tracing::error!(error = %e, "the robots' summary could not be made");
            return out;
        }
    };
    for hook in hooks {
        let posted = crate::notify::webhook::post(hook, &built.subject, &md).await;
        if let Err(why) = &posted {
            tracing::warn!(kind = %hook.kind, error = %why, "webhook failed");
        }
        out.push((hook.kind, posted));
    }
    out
}

/// One unit's open cases carried over from the previous year, as the previous year's figures
/// give them (sql/21_yoy.sql), beside the configured `carry_over`.
pub struct CarryOver {
    pub code: String,
    pub name: String,
    /// None: the previous year has no figures of this unit.
    pub proposed: Option<i64>,
    pub configured: i64,
    /// Months of last year stored for the unit.
    pub months: i64,
}

/// The carry-over proposal of a pipeline that names `previous` (empty otherwise), from the
/// stores as of now.
pub fn carry_over_proposal(ctx: &Context) -> Result<Vec<CarryOver>> {
    if ctx.pipeline.previous.is_none() {
        return Ok(Vec::new());
    }
    let year = ctx.pipeline.year();
    let period = Period::new(year, 1)
        .ok_or_else(|| crate::error::Error::Internal(format!("pipeline.year {year}")))?;
    let analysis = analyse(ctx, &Records::open(&ctx.data_dir)?, period)?;
    Ok(analysis
        .rows::<crate::analyze::rows::Yoy>()?
        .into_iter()
        .filter(|r| r.unit_code != "total")
        .map(|r| CarryOver {
            code: r.unit_code,
            name: r.unit_name,
            proposed: r.proposed_carry_over,
            configured: r.carry_over.unwrap_or(0),
            months: r.ly_months.unwrap_or(0),
        })
        .collect())
}

/// `[notify] unit_feedback`: after the month's report is queued, each unit with a contact gets
/// its own results (texts/feedback.txt: its figures of the year so far, the report's alerts about
/// it, what waits for its 说明, the link to its page) — once per unit and month (the message's
/// id). Returns how many were put in the outbox now.
pub fn queue_feedback(
    ctx: &Context,
    period: Period,
    dir: &std::path::Path,
    unit_url: &dyn Fn(&str) -> Option<String>,
) -> Result<usize> {
    let p = &ctx.pipeline;
    if !p.def.notify.unit_feedback {
        return Ok(0);
    }
    let records = crate::records::Records::open(&ctx.data_dir)?;
    let board = crate::status::board(p, &records, period, &ctx.now())?;
    let alerts = report_alerts(dir);
    let mut put = 0;
    for u in &p.units {
        let Some(contact) = u.contact.clone() else {
            continue;
        };
        let figures = board
            .figures
            .iter()
            .find(|(c, _)| *c == u.code)
            .map(|(_, f)| {
                f.iter()
                    .map(|f| crate::texts::contexts::Line {
                        label: f.label.to_string(),
                        value: f.value.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let pending = board
            .units
            .iter()
            .find(|s| s.code == u.code)
            .map(|s| s.pending.clone())
            .unwrap_or_default();
        let (subject, text) = p.texts.send(&crate::texts::contexts::Feedback {
            heading: p.heading(),
            unit: u.name.clone(),
            period_zh: period.zh(),
            ytd_zh: period.ytd_zh(),
            figures,
            items: alerts
                .iter()
                .filter(|(c, _)| *c == u.code)
                .map(|(_, m)| m.clone())
                .collect(),
            pending,
            unit_url: unit_url(&u.code),
        })?;
        let id = format!("feedback-{period}-{}", u.code);
        if crate::notify::post(
            &ctx.data_dir,
            p,
            crate::notify::Letter::notice(
                &id,
                crate::notify::MessageKind::Feedback,
                period,
                std::slice::from_ref(&contact),
                &subject,
                &text,
            ),
            ctx.now(),
        )? {
            put += 1;
        }
    }
    Ok(put)
}

/// The alerts of a report folder's `alerts.csv` but the soft checks': (unit code, message).
fn report_alerts(dir: &std::path::Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(dir.join("alerts.csv")) else {
        return Vec::new();
    };
    let mut rd = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let head = rd.headers().cloned().unwrap_or_default();
    let at = |k: &str| head.iter().position(|x| x == k);
    let (Some(c), Some(m), Some(rule)) = (at("unit_code"), at("message"), at("rule")) else {
        return Vec::new();
    };
    // The soft checks are the message's 待说明 lines, one a rule, not one a month.
    rd.records()
        .flatten()
        .filter(|r| r.get(rule) != Some("soft_check"))
        .filter_map(|r| Some((r.get(c)?.to_string(), r.get(m)?.to_string())))
        .collect()
}
