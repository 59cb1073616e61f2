//! A county's upload: received to disk (never held whole in memory), put into the inbox with
//! its arrival note and unit before the answer, taken by the one ingest task in arrival order,
//! and answered with what became of it — a refused upload kept in quarantine with its reason.

use super::act::see_other;
use super::auth::unit_ok;
use super::county::UploadResult;
use super::once;
use super::render::{answer, nf, server_error};
use super::{Taken, Web};
use crate::app::Context;
use crate::store::Outcome;
use crate::{fsutil, ingest};
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The hard cap of an upload: what is over `max_upload_mb` is still kept (in quarantine, with the
/// reason) up to four times the limit; beyond, the upload is cut off and nothing is kept.
pub(super) fn hard_cap(w: &crate::config::WebSettings) -> u64 {
    crate::config::mb_bytes(w.max_upload_mb) * 4 + (1 << 20)
}

/// The folder uploads are streamed into before they are put into the inbox whole.
pub(super) fn uploads_dir(data_dir: &crate::layout::DataDir) -> std::path::PathBuf {
    data_dir.uploads()
}

/// Removes uploads a killed server was still receiving (nothing was answered for them).
pub(super) fn sweep_uploads(data_dir: &crate::layout::DataDir) {
    fsutil::sweep_temp_files(&uploads_dir(data_dir), 0);
}

/// The one task that ingests uploads: each request takes what waits in the inbox (every upload
/// put there before it, in arrival order) under the write lock; requests that come while it
/// works are answered by the next ingest, together.
pub(super) fn ingest_task(
    ctx: Context,
) -> tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Taken>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Taken>>(1024);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut waiting = vec![first];
            while let Ok(more) = rx.try_recv() {
                waiting.push(more);
            }
            let c = ctx.clone();
            let taken = tokio::task::spawn_blocking(move || {
                let wait =
                    std::time::Duration::from_secs(c.pipeline.def.schedule.lock_wait_seconds);
                let _lock = crate::lock::acquire(&c.data_dir, wait, "web upload")?;
                ingest::ingest(&c.pipeline, &c.data_dir, c.now()).map(|s| s.files)
            })
            .await
            .map_err(|e| {
                crate::error::Error::Runtime(crate::error::during("web: the ingest task", e))
            })
            .and_then(|r| r);
            if let Err(e) = &taken {
                tracing::warn!(error = %e, "web: uploads kept in the inbox, not yet ingested");
            }
            let taken: Taken = Arc::new(taken);
            for w in waiting {
                let _ = w.send(taken.clone());
            }
        }
    });
    tx
}

/// An upload as received: its bytes on disk (a temporary file), their size and SHA-256.
pub(super) struct Received {
    tmp: std::path::PathBuf,
    name: String,
    size: u64,
    sha: String,
    /// The form's one-time key (its hidden field before the file).
    once: Option<String>,
}

/// Why an upload could not be received whole.
pub(super) enum NotReceived {
    /// No file field, or an empty one.
    NoFile,
    /// Beyond the hard cap: cut off, nothing kept.
    TooLarge,
    /// The form is not multipart as a browser sends it.
    Malformed,
    /// The body did not arrive within `body_timeout_seconds`.
    Slow,
    /// The disk.
    Failed(String),
}

/// Streams the `file` field of a multipart form to a temporary file, hashing it; other fields
/// are read and dropped. At most `cap` bytes are kept.
pub(super) async fn receive(
    form: &mut Multipart,
    dir: &std::path::Path,
    cap: u64,
    min_rate: u64,
) -> std::result::Result<Received, NotReceived> {
    use tokio::io::AsyncWriteExt;
    let started = std::time::Instant::now();
    // Too slow on average after its first 20 seconds (or nothing for 20 seconds): dropped, the
    // slot free for the next county.
    let stalled = std::time::Duration::from_secs(20);
    let too_slow = move |size: u64| {
        let t = started.elapsed();
        t > stalled && (size as f64) < min_rate as f64 * t.as_secs_f64()
    };
    let mut got: Option<Received> = None;
    let mut once: Option<String> = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            NotReceived::TooLarge
        } else {
            NotReceived::Malformed
        }
    })? {
        if field.name() == Some("once") && once.is_none() {
            // 32 hex digits; anything longer is not a key (read at most a little of it).
            once = String::from_utf8(drain(&mut field, stalled, 64).await?).ok();
            continue;
        }
        let wanted = field.name() == Some("file") && got.is_none();
        if !wanted {
            drain(&mut field, stalled, 0).await?;
            continue;
        }
        let name = field.file_name().unwrap_or("上传文件").to_string();
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| NotReceived::Failed(e.to_string()))?;
        let tmp = fsutil::temp_name(&dir.join(format!("{:016x}", fastrand::u64(..))));
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| NotReceived::Failed(e.to_string()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let written = async {
            loop {
                let next = tokio::time::timeout(stalled, field.chunk())
                    .await
                    .map_err(|_| NotReceived::Slow)?
                    .map_err(|_| NotReceived::Malformed)?;
                let Some(chunk) = next else { break };
                size += chunk.len() as u64;
                if too_slow(size) {
                    return Err(NotReceived::Slow);
                }
                if size > cap {
                    return Err(NotReceived::TooLarge);
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| NotReceived::Failed(e.to_string()))?;
            }
            file.sync_all()
                .await
                .map_err(|e| NotReceived::Failed(e.to_string()))
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        got = Some(Received {
            tmp,
            name,
            size,
            sha: hex::encode(hasher.finalize()),
            once: None,
        });
    }
    got.filter(|r| r.size > 0)
        .map(|mut r| {
            r.once = once;
            r
        })
        .ok_or(NotReceived::NoFile)
}

/// Reads a field that is not the file to its end, keeping at most `keep` bytes of it; a field
/// that stalls for `stalled` is as slow as a file that does.
async fn drain(
    field: &mut axum::extract::multipart::Field<'_>,
    stalled: std::time::Duration,
    keep: usize,
) -> std::result::Result<Vec<u8>, NotReceived> {
    let mut kept = Vec::new();
    while let Some(c) = tokio::time::timeout(stalled, field.chunk())
        .await
        .map_err(|_| NotReceived::Slow)?
        .map_err(|_| NotReceived::Malformed)?
    {
        if kept.len() < keep {
            kept.extend_from_slice(&c[..c.len().min(keep - kept.len())]);
        }
    }
    Ok(kept)
}

/// The upload slots: the unit's own first (one county's slow uploads hold at most its share of
/// the server's), then one of the server's. Waited for at most `body_timeout_seconds` (what an
/// upload may hold one for): beyond, 503 and nothing kept, the county asked to send it again.
async fn permits(
    w: &Web,
    code: &str,
) -> std::result::Result<
    (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
    Response,
> {
    let wait = std::time::Duration::from_secs(w.ctx.pipeline.def.web.body_timeout_seconds);
    let got = tokio::time::timeout(wait, async {
        let unit = w.unit_uploads(code).acquire_owned().await.ok()?;
        let server = w.uploads.clone().acquire_owned().await.ok()?;
        Some((unit, server))
    })
    .await;
    match got {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(server_error("上传通道已关闭")),
        Err(_) => {
            tracing::warn!(
                unit = code,
                "web: no upload slot within the wait; answered 503"
            );
            Err(answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "上传繁忙",
                "同时上传的文件较多，本次上传未能开始，文件未保存。请几分钟后重新上传。",
            ))
        }
    }
}

/// A county's upload: received to disk (its request time is its arrival), put into the inbox
/// with a note that only this unit's rows may be taken, ingested by the ingest task, the result
/// shown at once. A refused upload is kept in quarantine with the reason, like any rejected file.
pub(super) async fn upload(
    State(w): State<Arc<Web>>,
    UrlPath((code, token)): UrlPath<(String, String)>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Some(unit) = unit_ok(&w, &code, &token) else {
        return nf();
    };
    // Not a multipart form at all (another content type, no boundary): the same Chinese page
    // as a malformed one, not the framework's English text.
    let Ok(mut form) = form else {
        return not_received(&w, NotReceived::Malformed);
    };
    let unit = unit.clone();
    let arrived = w.ctx.now();
    let web = &w.ctx.pipeline.def.web;
    let (_unit_permit, permit) = match permits(&w, &unit.code).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let dir = uploads_dir(&w.ctx.data_dir);
    let got = tokio::time::timeout(
        std::time::Duration::from_secs(web.body_timeout_seconds),
        receive(
            &mut form,
            &dir,
            hard_cap(web),
            web.min_upload_bytes_per_second,
        ),
    )
    .await
    .unwrap_or(Err(NotReceived::Slow));
    let r = match got {
        Ok(r) => r,
        Err(why) => return not_received(&w, why),
    };
    // The same form sent again (F5 on the result, a double click): nothing taken twice; the
    // first one's result is shown.
    let key = once::key_of(r.once.as_ref());
    let shown = format!("/u/{code}/{token}?result={key}");
    let first = {
        let (data_dir, key) = (w.ctx.data_dir.clone(), key.clone());
        tokio::task::spawn_blocking(move || once::claim(&data_dir, &key)).await
    };
    match first {
        Ok(Some(once::Claim::First(_))) => {}
        Ok(Some(once::Claim::Unavailable)) | Err(_) => {
            let _ = tokio::fs::remove_file(&r.tmp).await;
            return server_error("上传结果无法保存（磁盘），文件未收到，请稍后重新上传");
        }
        _ => {
            let _ = tokio::fs::remove_file(&r.tmp).await;
            return see_other(&shown);
        }
    }
    let inbox_name = match keep(&w, &unit, &r, arrived).await {
        Ok(name) => name,
        Err(why) => {
            let _ = tokio::fs::remove_file(&r.tmp).await;
            // Nothing kept: the same form may be sent again.
            once::forget(&w.ctx.data_dir, &key);
            return server_error(&format!("上传未能保存：{why}"));
        }
    };
    let over = r.size > crate::config::mb_bytes(web.max_upload_mb);
    // Kept: from here on the county is told so, whatever the ingest says; the next upload may
    // come in.
    drop(permit);
    let taken = ingested(&w).await;
    let w2 = w.clone();
    let kept = tokio::task::spawn_blocking(move || {
        let text = result_of(&w2, taken.as_ref(), &inbox_name, &r.sha, &r.name);
        // Kept, but over the limit: the page says what happened, under the status that says so.
        let came = once::Came::Upload {
            ok: text.ok,
            text: text.text,
            over,
        };
        once::keep(&w2.ctx.data_dir, &key, &came);
    })
    .await;
    match kept {
        Ok(()) => see_other(&shown),
        Err(_) => server_error("内部错误"),
    }
}

/// What a file put into the inbox as `inbox_name` came to, in words for the county: from what
/// the ingest task took, or the store's record when another ingest took it meanwhile.
pub(super) fn result_of(
    w: &Web,
    taken: Option<&Taken>,
    inbox_name: &str,
    sha: &str,
    shown_name: &str,
) -> UploadResult {
    // The store read once for the whole answer; the unit's own figures only (no analysis of
    // every unit).
    let records = crate::records::Records::open(&w.ctx.data_dir)
        .inspect_err(|e| tracing::warn!(error = %e, "upload: the store not read for the answer"))
        .ok();
    let found = |files: &[crate::store::FileEntry]| {
        files
            .iter()
            .find(|f| f.file_name == inbox_name && f.sha256 == sha)
            .cloned()
    };
    let entry = taken
        .and_then(|t| t.as_ref().as_ref().ok())
        .and_then(|files| found(files))
        .or_else(|| found(records.as_ref()?.files()));
    let (Some(e), Some(records)) = (entry.as_ref(), records.as_ref()) else {
        return upload_result(shown_name, inbox_name, entry.as_ref(), &[], None);
    };
    let status = e.unit_codes.first().and_then(|code| {
        let now = w.ctx.now();
        let period = super::county::collected(&w.ctx);
        crate::status::one_unit_status(&w.ctx.pipeline, records, code.as_str(), period, &now)
            .inspect_err(|e| tracing::warn!(error = %e, "upload: the unit's status not read"))
            .ok()
            .flatten()
    });
    let versions = records.versions_of(&e.sha256).unwrap_or_else(|err| {
        tracing::warn!(error = %err, "upload: the file's versions not read");
        Vec::new()
    });
    let mut text = upload_result(shown_name, inbox_name, Some(e), &versions, status.as_ref());
    supervision_notes(&w.ctx, records, e, &mut text);
    text
}

/// Why an upload could not be received, as a small page with its status.
fn not_received(w: &Web, why: NotReceived) -> Response {
    match why {
        NotReceived::NoFile => answer(
            StatusCode::BAD_REQUEST,
            "未选择文件",
            "请选择要上传的月报表文件后再点“上传”。",
        ),
        NotReceived::TooLarge => too_large(w),
        NotReceived::Malformed => answer(
            StatusCode::BAD_REQUEST,
            "上传格式有误",
            "上传的表单格式有误（应为浏览器提交的 multipart/form-data 表单），文件未收到。请在本页面用“上传”按钮重新上传。",
        ),
        NotReceived::Slow => answer(
            StatusCode::REQUEST_TIMEOUT,
            "上传超时",
            &format!(
                "文件传输过慢或中断（须在 {} 秒内传完），未收到。请检查网络后重新上传。",
                w.ctx.pipeline.def.web.body_timeout_seconds
            ),
        ),
        NotReceived::Failed(why) => server_error(&format!("上传未能保存：{why}")),
    }
}

/// Puts a received upload into the inbox with its arrival note: when it came, that only the
/// unit's rows may be taken, or why it is refused at the door (a lock-file name, too large).
/// Returns its name in the inbox.
async fn keep(
    w: &Web,
    unit: &crate::config::Unit,
    r: &Received,
    arrived: chrono::DateTime<chrono_tz::Tz>,
) -> std::result::Result<String, String> {
    let web = &w.ctx.pipeline.def.web;
    // A folder of its own, the county's name made safe (an Office lock-file name would
    // otherwise be left aside by the ingest).
    let mut disk = ingest::disk_name(&r.name, 120);
    if disk.starts_with("~$") {
        disk.replace_range(0..1, "_");
    }
    let inbox_name = format!(
        "web-{}-{}-{}/{disk}",
        unit.code,
        arrived.format("%Y%m%dT%H%M%S"),
        fsutil::unique_tag()
    );
    let refuse = if ingest::office_lock(&r.name) {
        Some(format!(
            "文件名“{}”是 Office 打开文件时生成的锁文件，不是报表。请关闭 Excel 后上传报表文件本身。",
            r.name
        ))
    } else if r.size > crate::config::mb_bytes(web.max_upload_mb) {
        Some(format!(
            "文件过大（{:.1} MB，上限 {} MB），未读取。月报表通常只有几 KB，请检查是否选错了文件。",
            r.size as f64 / 1e6,
            web.max_upload_mb
        ))
    } else {
        None
    };
    let note = ingest::arrival::Arrival {
        name: inbox_name.clone(),
        sha256: r.sha.clone(),
        at: arrived.into(),
        door: crate::door::Door::Web,
        only_unit: Some((unit.code.clone(), unit.name.clone())),
        original_name: r.name.clone(),
        refuse,
    };
    let data_dir = w.ctx.data_dir.clone();
    let tmp = r.tmp.clone();
    match tokio::task::spawn_blocking(move || ingest::arrival::put_file(&data_dir, &tmp, &note))
        .await
    {
        Ok(Ok(_)) => Ok(inbox_name),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("内部错误".into()),
    }
}

/// Asks the ingest task to take what waits (this upload among it) and waits for its answer,
/// within the lock's wait and two minutes; None: not yet taken (it stays kept).
pub(super) async fn ingested(w: &Web) -> Option<Taken> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    w.ingest.send(tx).await.ok()?;
    let wait = std::time::Duration::from_secs(w.ctx.pipeline.def.schedule.lock_wait_seconds + 120);
    tokio::time::timeout(wait, rx).await.ok()?.ok()
}

pub(super) fn too_large(w: &Web) -> Response {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        "文件过大",
        &format!(
            "上传的文件远超 {} MB 的上限，已中止接收，未保存。月报表通常只有几 KB，请检查是否选错了文件。",
            w.ctx.pipeline.def.web.max_upload_mb
        ),
    )
}

/// 指导督促's words on an upload (a return it closed, a confirmed month it corrects), added to
/// its result.
fn supervision_notes(
    ctx: &crate::app::Context,
    records: &crate::records::Records,
    e: &crate::store::FileEntry,
    result: &mut UploadResult,
) {
    let notes = crate::supervision::notes_for(
        &ctx.data_dir,
        records.files(),
        std::slice::from_ref(&e.sha256),
    );
    match notes {
        Ok(notes) => {
            for n in notes {
                result.text.push('\n');
                result.text.push_str(&n);
            }
        }
        Err(err) => tracing::warn!(error = %err, "upload: 指导督促's notes not read"),
    }
}

/// What [`upload_result`] says, for `templates/upload-result.txt`: the words are there.
#[derive(serde::Serialize)]
struct UploadWords<'a> {
    name: &'a str,
    /// `waiting` (not taken yet), or the store's outcome.
    outcome: &'static str,
    rows_accepted: i64,
    rows_rejected: i64,
    /// The months the file held, each with the version it became.
    months: Vec<MonthVersion>,
    problems: String,
    /// What waits for a 说明 among its months.
    pending: Vec<&'a str>,
}

#[derive(serde::Serialize)]
struct MonthVersion {
    month: u32,
    version: i64,
}

pub(super) fn upload_result(
    name: &str,
    inbox_name: &str,
    f: Option<&crate::store::FileEntry>,
    versions: &[(crate::period::Period, i64)],
    status: Option<&crate::status::UnitStatus>,
) -> UploadResult {
    let mut words = UploadWords {
        name,
        outcome: "waiting",
        rows_accepted: 0,
        rows_rejected: 0,
        months: Vec::new(),
        problems: String::new(),
        pending: Vec::new(),
    };
    if let Some(f) = f {
        let months: Vec<u32> = f.periods.iter().map(|p| p.month()).collect();
        words.outcome = f.outcome.as_str();
        words.rows_accepted = f.rows_accepted;
        words.rows_rejected = f.rows_rejected;
        words.problems = f.problems.replace(inbox_name, name);
        words.months = versions
            .iter()
            .map(|(p, version)| MonthVersion {
                month: p.month(),
                version: *version,
            })
            .collect();
        if let Some(s) = status {
            words.pending = s
                .pending
                .iter()
                .zip(&s.pending_months)
                .filter(|(_, m)| m.iter().any(|m| months.contains(m)))
                .map(|(text, _)| text.as_str())
                .collect();
        }
    }
    // Green for what was taken whole (or had been), or is still to be taken.
    let ok = f.is_none_or(|f| matches!(f.outcome, Outcome::Accepted | Outcome::Duplicate));
    let text = super::render::render("upload-result.txt", super::render::ser(&words))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "upload: the answer's words");
            format!("{name}：已收到并保存。")
        });
    UploadResult { ok, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::{Moment, Period, parse_instant};

    fn entry(outcome: Outcome, problems: &str) -> crate::store::FileEntry {
        crate::store::FileEntry {
            batch: 1,
            seq: 1,
            sha256: "ab".repeat(32),
            file_name: "web-341522-x/霍邱县.csv".into(),
            size: 10,
            arrived_at: Moment(parse_instant("2025-08-03 10:00").unwrap()),
            outcome,
            stored_as: String::new(),
            rows_accepted: 1,
            rows_rejected: 1,
            problems: problems.into(),
            unit_codes: crate::unit_code::UnitCode::parse("341522")
                .into_iter()
                .collect(),
            door: Some(crate::door::Door::Web),
            periods: vec![Period::new(2025, 7).unwrap()],
        }
    }

    /// The answer's words come from templates/upload-result.txt: every outcome, the months'
    /// versions, the county's own file name in its problems, and what waits for a 说明 among the
    /// file's months only.
    #[test]
    fn an_uploads_answer_says_each_outcome_in_the_countys_words() {
        let july = [(Period::new(2025, 7).unwrap(), 2)];
        let waiting = upload_result("霍邱县.csv", "x", None, &[], None);
        assert!(waiting.ok);
        assert_eq!(
            waiting.text,
            "霍邱县.csv：已收到并保存，稍后处理（系统繁忙），处理结果将显示在本页面。"
        );
        let status = crate::status::UnitStatus {
            code: "341522".into(),
            name: "霍邱县".into(),
            latest: None,
            pending: vec!["7月满意度低于90%".into(), "5月支出率偏低".into()],
            pending_months: vec![vec![7], vec![5]],
            pending_checks: vec!["satisfaction".into(), "spend".into()],
        };
        let inbox = "web-341522-x/霍邱县.csv";
        let accepted = upload_result(
            "霍邱县.csv",
            inbox,
            Some(&entry(Outcome::Accepted, "")),
            &july,
            Some(&status),
        );
        assert!(accepted.ok);
        assert_eq!(
            accepted.text,
            "霍邱县.csv：已接收，1 行（7月第2版）。\n待说明：7月满意度低于90%——请在本页“待说明”处填写说明，不必重新报送"
        );
        let partial = upload_result(
            "霍邱县.csv",
            inbox,
            Some(&entry(Outcome::Partial, &format!("{inbox} 第3行 …"))),
            &july,
            None,
        );
        assert!(!partial.ok);
        assert_eq!(
            partial.text,
            "霍邱县.csv：部分接收，1 行接收（7月第2版），1 行被拒收：\n霍邱县.csv 第3行 …"
        );
        let rejected = upload_result(
            "霍邱县.csv",
            inbox,
            Some(&entry(Outcome::Rejected, "第2行 <错> & 误")),
            &[],
            None,
        );
        assert!(!rejected.ok);
        assert_eq!(
            rejected.text,
            "霍邱县.csv：未接收（文件已保存备查）。问题如下，请改正后重新上传整个文件：\n第2行 <错> & 误"
        );
        let again = upload_result(
            "霍邱县.csv",
            inbox,
            Some(&entry(Outcome::Duplicate, "")),
            &[],
            None,
        );
        assert!(again.ok);
        assert_eq!(
            again.text,
            "霍邱县.csv：此前已接收完全相同的文件，未重复收取。"
        );
    }
}
