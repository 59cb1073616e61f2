//! The bureau's page, made once per state of what it shows (issue 35 §6): twenty people asking
//! at once read one rendering. What the page shows comes from the board (its own key: the store's
//! generation, the month, the minute, the returns', notes' and sign-offs' ledgers) and from files
//! other processes write too (the ledgers, the heartbeat, the mailboxes' and sources' state, the
//! reports' manifests): their sizes and modification times are the key, with the viewer and the
//! minute. Each form's one-time key is a mark in the kept page, filled fresh for each request
//! (two people never share a key).

use super::Web;
use super::auth::Viewer;
use crate::period::Period;
use crate::status::Board;
use std::sync::Arc;

/// The pages kept at most (months × viewers asked for within the minute).
const KEPT: usize = 32;

/// What a rendering of the bureau's page was made from, besides its board.
#[derive(PartialEq)]
pub(super) struct PageKey {
    period: Period,
    viewer: (String, String),
    minute: i64,
    stamps: Vec<Option<(u64, std::time::SystemTime)>>,
}

impl PageKey {
    pub(super) fn of(w: &Web, period: Period, viewer: &Viewer) -> PageKey {
        let ctx = &w.ctx;
        let (d, name) = (&ctx.data_dir, ctx.pipeline.name());
        let mut paths = vec![
            d.deliveries(name),
            d.runs(name),
            d.heartbeat(),
            d.last_look(),
            d.sources_state(),
            d.returns(),
            d.confirms(),
            d.notes(),
            d.signoffs(),
            d.supervision_items(),
        ];
        for m in &ctx.pipeline.def.mailboxes {
            let ledger = crate::records::mail_ledger(d, &m.name);
            // (the mailbox's health, beside its ledger: connected, failing since when)
            paths.push(ledger.path().with_file_name("health.json"));
            paths.push(ledger.path().to_path_buf());
        }
        let year = ctx.pipeline.year();
        for p in (1..=12).filter_map(|m| Period::new(year, m)) {
            paths.push(ctx.output_dir.run(name, p).join(crate::layout::MANIFEST));
        }
        paths.push(
            ctx.output_dir
                .review(name, year)
                .join(crate::layout::MANIFEST),
        );
        let stamps = paths
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.len(), m.modified().ok()?))
            })
            .collect();
        PageKey {
            period,
            viewer: (viewer.name.clone(), viewer.token.clone()),
            minute: ctx.now().timestamp() / 60,
            stamps,
        }
    }
}

/// A rendering kept: its key, the board it showed, the page with marks.
pub(super) struct Kept {
    key: PageKey,
    board: Arc<Board>,
    html: Arc<String>,
}

/// The page kept for `key` and `board`, if any.
pub(super) fn get(w: &Web, key: &PageKey, board: &Arc<Board>) -> Option<Arc<String>> {
    let kept = w.pages.lock().unwrap_or_else(|e| e.into_inner());
    kept.iter()
        .find(|k| k.key == *key && Arc::ptr_eq(&k.board, board))
        .map(|k| k.html.clone())
}

/// Keeps a rendering (pages of an earlier minute are let go).
pub(super) fn keep(w: &Web, key: PageKey, board: Arc<Board>, html: String) -> Arc<String> {
    let html = Arc::new(html);
    let mut kept = w.pages.lock().unwrap_or_else(|e| e.into_inner());
    kept.retain(|k| k.key.minute == key.minute);
    if kept.len() >= KEPT {
        kept.remove(0);
    }
    kept.push(Kept {
        key,
        board,
        html: html.clone(),
    });
    html
}
