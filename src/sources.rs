//! HTTP sources: polled on the ingest schedule; what they return is put into the inbox and
//! goes through exactly the same validation, archive and quarantine as files counties send.
//!
//! Each source is asked for the month being reported, with a timeout, bounded retries with
//! backoff, conditional GET (ETag / Last-Modified remembered in `<data-dir>/sources/state.json`)
//! and a size limit. A failing source never blocks the others; its last result is kept for
//! `fayuan status` and the digest.

use crate::config::expand_env as expand;
use crate::config::{Pipeline, SourceDef};
use crate::error::{Error, Result};
use crate::layout::DataDir;
use crate::period::Period;
use crate::retry::Failure;
use chrono::DateTime;
use chrono_tz::Tz;
use std::collections::BTreeMap;

pub use crate::records::{Polled, SourceState, sources_state as load_state};
use std::time::Duration;

fn save_state(data_dir: &DataDir, state: &BTreeMap<String, SourceState>) -> Result<()> {
    let path = data_dir.sources_state();
    let bytes =
        serde_json::to_vec_pretty(state).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
    // Synced, then renamed, then its folder synced: after a power cut an ETag is never kept for
    // a fetched file that was lost (a 304 would hide it for good).
    crate::fsutil::replace_synced(&path, &bytes)
}

enum Fetch {
    Body(Vec<u8>, Option<String>, Option<String>),
    NotModified,
    /// 404: nothing for the month yet.
    Absent,
}

/// One GET with the limits. `Err((retry, why))`.
async fn get_once(
    client: &reqwest::Client,
    src: &SourceDef,
    url: &str,
    prev: Option<&SourceState>,
) -> std::result::Result<Fetch, (bool, String)> {
    let mut req = client
        .get(url)
        .timeout(Duration::from_secs(src.timeout_seconds));
    for (k, v) in &src.headers {
        req = req.header(k, expand(v).map_err(|e| (false, e.to_string()))?);
    }
    if let Some(p) = prev.filter(|p| p.url == url) {
        if let Some(etag) = &p.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &p.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
    }
    let mut resp = req.send().await.map_err(|e| {
        (
            true,
            if e.is_timeout() {
                format!("no answer within {} s", src.timeout_seconds)
            } else {
                e.to_string()
            },
        )
    })?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Fetch::NotModified);
    }
    // The month's export is not published yet: asked again at the next poll, not a failure.
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(Fetch::Absent);
    }
    if !status.is_success() {
        return Err((
            status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
            format!("HTTP {status}"),
        ));
    }
    if resp.content_length().is_some_and(|n| n > src.max_bytes) {
        return Err((
            false,
            format!(
                "{} bytes is more than the limit of {}",
                resp.content_length().unwrap_or(0),
                src.max_bytes
            ),
        ));
    }
    let header = |name: reqwest::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (etag, lm) = (
        header(reqwest::header::ETAG),
        header(reqwest::header::LAST_MODIFIED),
    );
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > src.max_bytes {
                    return Err((
                        false,
                        format!("more than the limit of {} bytes", src.max_bytes),
                    ));
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Err((
                    true,
                    if e.is_timeout() {
                        format!("no answer within {} s", src.timeout_seconds)
                    } else {
                        e.to_string()
                    },
                ));
            }
        }
    }
    Ok(Fetch::Body(body, etag, lm))
}

/// Polls every source for `period`; what comes back goes into the inbox. Returns each source's
/// new state (also saved).
pub async fn poll(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    period: Period,
    now: DateTime<Tz>,
) -> Result<Vec<(String, SourceState)>> {
    if pipeline.def.sources.is_empty() {
        return Ok(Vec::new());
    }
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| Error::Runtime(crate::error::during("HTTP client", e)))?;
    let mut state = load_state(data_dir)?;
    let mut out = Vec::new();
    for src in &pipeline.def.sources {
        let url = match expand(&src.url.replace("{period}", &period.to_string())) {
            Ok(u) => u,
            Err(why) => {
                let s = SourceState {
                    url: src.url.clone(),
                    checked_at: now.into(),
                    result: Polled::Failed,
                    detail: why.to_string(),
                    ..SourceState::default()
                };
                state.insert(src.name.clone(), s.clone());
                out.push((src.name.clone(), s));
                continue;
            }
        };
        let prev = state.get(&src.name).cloned();
        let result = src
            .retry()
            .run("source", |_| async {
                get_once(&client, src, &url, prev.as_ref())
                    .await
                    .map_err(|(transient, why)| Failure {
                        error: why,
                        transient,
                    })
            })
            .await
            .map_err(|f| (f.transient, f.error));
        let mut s = SourceState {
            url: url.clone(),
            checked_at: now.into(),
            ..prev.clone().unwrap_or_default()
        };
        s.url = url.clone();
        match result {
            Ok(Fetch::NotModified) => {
                s.result = Polled::NotModified;
                s.detail = String::new();
            }
            Ok(Fetch::Absent) => {
                s.result = Polled::Absent;
                s.detail = String::new();
            }
            Ok(Fetch::Body(body, etag, lm)) => {
                let name = format!("{}_{}.{}", src.name, period, src.format);
                crate::ingest::drop_from_source(data_dir, &name, &body, now.into())?;
                s.result = Polled::Fetched;
                s.detail = format!("{} bytes", body.len());
                s.etag = etag;
                s.last_modified = lm;
                tracing::info!(source = %src.name, bytes = body.len(), "source fetched");
            }
            Err((_, why)) => {
                tracing::error!(source = %src.name, error = %why, "source failed");
                s.result = Polled::Failed;
                s.detail = why;
            }
        }
        state.insert(src.name.clone(), s.clone());
        out.push((src.name.clone(), s));
    }
    save_state(data_dir, &state)?;
    Ok(out)
}
