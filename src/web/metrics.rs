//! `GET /metrics` (issue 36 §4): the Prometheus text format behind a bearer token of its own
//! (`[web] metrics_token_env`, at least 16 characters; unset: the page does not exist). Fewer
//! than twenty series: the build, per job the last success and the failures, the outbox waiting
//! by kind, the units not yet reported for the month being collected, the files taken by result,
//! the data folder's free disk, the pages' requests by status class.

use super::Web;
use crate::jobs::JobKind;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use std::sync::Arc;

/// The jobs whose last success and failures are series.
const JOBS: [JobKind; 3] = [JobKind::Ingest, JobKind::Report, JobKind::Deliver];

pub(super) async fn metrics(State(w): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&w.metrics_token, given) {
        (Some(token), Some(given)) => super::auth::same_secret(token, given),
        _ => false,
    };
    if !allowed {
        if given.is_some() {
            tracing::warn!("web: /metrics asked with a wrong token");
        }
        return super::render::not_found().await;
    }
    let w2 = w.clone();
    match tokio::task::spawn_blocking(move || text(&w2)).await {
        // A state file fayuan cannot read: the scrape fails (Prometheus's `up` says so) rather
        // than series that claim nothing failed.
        Ok(Err(e)) => {
            tracing::error!(error = %e, "web: /metrics cannot be made");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        Ok(Ok(body)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// One metric's header and its samples.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn text(w: &Web) -> crate::error::Result<String> {
    let ctx = &w.ctx;
    let mut out = String::new();
    family(
        &mut out,
        "fayuan_build_info",
        "gauge",
        "The running build and pipeline.",
        &[(
            format!(
                "{{version=\"{}\",pipeline=\"{}\"}}",
                env!("CARGO_PKG_VERSION"),
                ctx.pipeline.name()
            ),
            1.0,
        )],
    );
    let events = crate::jobs::run_events(&ctx.data_dir, ctx.pipeline.name())?;
    let label = |j: JobKind| format!("{{task=\"{}\"}}", j.as_str());
    let last_ok: Vec<(String, f64)> = JOBS
        .iter()
        .map(|j| {
            let at = events
                .iter()
                .rev()
                .find(|e| e.job == *j && e.ok)
                .map_or(0.0, |e| e.at.0.timestamp() as f64);
            (label(*j), at)
        })
        .collect();
    family(
        &mut out,
        "fayuan_job_last_success_timestamp_seconds",
        "gauge",
        "When each job last succeeded (0: never).",
        &last_ok,
    );
    let failures: Vec<(String, f64)> = JOBS
        .iter()
        .map(|j| {
            let n = events.iter().filter(|e| e.job == *j && !e.ok).count();
            (label(*j), n as f64)
        })
        .collect();
    family(
        &mut out,
        "fayuan_job_failures_total",
        "counter",
        "Failed runs of each job, as the run ledger records them.",
        &failures,
    );
    outbox(w, &mut out)?;
    units_not_reported(w, &mut out)?;
    files(w, &mut out)?;
    let free = crate::fsutil::free_bytes(ctx.data_dir.root()).unwrap_or(0);
    family(
        &mut out,
        "fayuan_disk_free_bytes",
        "gauge",
        "Free bytes on the data folder's disk.",
        &[(String::new(), free as f64)],
    );
    let requests: Vec<(String, f64)> = w
        .in_flight
        .by_class()
        .into_iter()
        .map(|(class, n)| (format!("{{class=\"{class}\"}}"), n as f64))
        .collect();
    family(
        &mut out,
        "fayuan_http_requests_total",
        "counter",
        "Requests answered by the pages since the process started, by status class.",
        &requests,
    );
    Ok(out)
}

/// What waits in the outbox, by kind (a delivery ledger that cannot be read fails the scrape).
fn outbox(w: &Web, out: &mut String) -> crate::error::Result<()> {
    let ctx = &w.ctx;
    let events = crate::notify::ledger(&ctx.data_dir, &ctx.pipeline).read()?;
    let mut by_kind: std::collections::BTreeMap<String, usize> = Default::default();
    for m in crate::notify::messages(&events) {
        let waiting = m.pending().count();
        if waiting > 0 {
            *by_kind
                .entry(format!("{:?}", m.kind).to_lowercase())
                .or_default() += waiting;
        }
    }
    let samples: Vec<(String, f64)> = by_kind
        .into_iter()
        .map(|(kind, n)| (format!("{{kind=\"{kind}\"}}"), n as f64))
        .collect();
    family(
        out,
        "fayuan_outbox_waiting",
        "gauge",
        "Messages (by recipient) waiting in the outbox, by kind (none: nothing waits).",
        &samples,
    );
    Ok(())
}

fn units_not_reported(w: &Web, out: &mut String) -> crate::error::Result<()> {
    let period = super::county::collected(&w.ctx);
    let board = w.board(period)?;
    let n = board
        .grid
        .iter()
        .filter(|row| {
            row.months.iter().any(|c| {
                c.month == period.month()
                    && matches!(c.code.as_str(), "none" | "missing" | "rejected")
            })
        })
        .count();
    family(
        out,
        "fayuan_units_not_reported",
        "gauge",
        "Units with no accepted figures for the month being collected.",
        &[(format!("{{period=\"{period}\"}}"), n as f64)],
    );
    Ok(())
}

/// The files seen, by outcome (a store that cannot be read fails the scrape).
fn files(w: &Web, out: &mut String) -> crate::error::Result<()> {
    use crate::store::Outcome;
    let records = w.records()?;
    let files = records.files();
    let samples: Vec<(String, f64)> = [
        (Outcome::Accepted, "accepted"),
        (Outcome::Partial, "partial"),
        (Outcome::Rejected, "rejected"),
        (Outcome::Duplicate, "duplicate"),
    ]
    .into_iter()
    .map(|(o, name)| {
        let n = files.iter().filter(|f| f.outcome == o).count();
        (format!("{{result=\"{name}\"}}"), n as f64)
    })
    .collect();
    family(
        out,
        "fayuan_files_taken_total",
        "counter",
        "County files taken in, by result.",
        &samples,
    );
    Ok(())
}
