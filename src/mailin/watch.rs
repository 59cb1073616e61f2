//! The daemon's watch of a mailbox: one connection at a time, rounds of "handle what is new, ask
//! again until nothing more came, then IDLE" — every wait bounded by `poll_seconds` on the
//! daemon's clock — and a new connection after any failure (a panic included).

use super::imap::{connect, imap_err, new_mail_announced, within};
use super::{Desk, handle_new};
use crate::config::{MailboxDef, Pipeline};
use crate::error::Result;
use crate::layout::DataDir;
use crate::{notify, period};

/// The daemon's watch of one mailbox: handle what is new, ask again until nothing more came,
/// then wait with IDLE — at most `poll_seconds` on the daemon's clock, whatever keepalives the
/// server sends — until the server says something changed; on any failure reconnect after a
/// pause (2 s doubling to 5 minutes, back to 2 s after a connection that worked). Ends when
/// `stop` turns true.
pub async fn watch(
    pipeline: Pipeline,
    data_dir: DataDir,
    m: MailboxDef,
    clock: period::Clock,
    lock_wait: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const FIRST_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
    let mut pause = FIRST_PAUSE;
    loop {
        if *stop.borrow() {
            return;
        }
        let mut worked = false;
        // A panic anywhere in a round (a library, a message no one expected) ends that round
        // like any failure: logged, then a new connection — never a watcher silently gone.
        let round = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(session_round(
            &pipeline,
            &data_dir,
            &m,
            clock,
            lock_wait,
            &mut stop,
            &mut worked,
        )))
        .await
        .unwrap_or_else(|_| Err(imap_err(&m, "the mailbox's watcher panicked")));
        match round {
            Ok(()) => return,
            Err(e) => {
                super::health::failed(&data_dir, &m, clock.now(), &e.to_string());
                if worked {
                    pause = FIRST_PAUSE;
                }
                tracing::warn!(mailbox = %m.name, error = %e, pause_s = pause.as_secs(), "mailbox: reconnecting");
                tokio::select! {
                    _ = clock.sleep(pause) => {}
                    _ = stop.changed() => return,
                }
                pause = (pause * 2).min(std::time::Duration::from_secs(300));
            }
        }
    }
}

/// One connection: rounds of (handle new, IDLE) until stopped (Ok) or a failure (Err). `worked`
/// turns true once a round went through.
async fn session_round(
    pipeline: &Pipeline,
    data_dir: &DataDir,
    m: &MailboxDef,
    clock: period::Clock,
    lock_wait: std::time::Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    worked: &mut bool,
) -> Result<()> {
    let (mut session, validity) = connect(m, pipeline.env()).await?;
    tracing::info!(mailbox = %m.name, validity, "mailbox connected");
    loop {
        // Everything in the folder, then what came while handling it, until nothing more; busy
        // for the watchdog meanwhile (never while idle).
        let busy = crate::service::busy(&format!("mailbox {}", m.name));
        let mut after = None;
        loop {
            let settings = notify::Settings::resolve(pipeline, clock)?;
            // The write lock only for each message's local steps (the desk takes it): a slow
            // or hung mail server does not stall the doors, the reports or the ingest.
            let _reader = super::reader(data_dir, m).await;
            let desk = Desk {
                pipeline,
                data_dir,
                m,
                settings: &settings,
                lock_wait: Some(lock_wait),
            };
            let (f, last) = handle_new(&desk, &mut session, validity, clock.now(), after).await?;
            *worked = true;
            super::health::worked(data_dir, m, clock.now());
            if f.messages > 0 {
                tracing::info!(mailbox = %m.name, messages = f.messages, receipts = f.receipts, held = f.held, "mailbox handled");
            }
            after = last.or(after);
            if f.messages == 0 {
                break;
            }
        }
        drop(busy);
        // Mail announced while we were busy: look again before going idle.
        if new_mail_announced(&mut session) {
            continue;
        }
        let mut idle = session.idle();
        within(m, "IDLE", async {
            idle.init()
                .await
                .map_err(|e| imap_err(m, format!("IDLE: {e}")))
        })
        .await?;
        let stopped = {
            let (wait, interrupt) = idle.wait();
            // The poll bound on our own clock: a server's keepalives do not push it back.
            let poll = clock.sleep(std::time::Duration::from_secs(m.poll_seconds));
            let stopped = tokio::select! {
                r = wait => {
                    r.map_err(|e| imap_err(m, format!("IDLE: {e}")))?;
                    false
                }
                _ = poll => false,
                _ = stop.changed() => true,
            };
            drop(interrupt);
            tracing::debug!(mailbox = %m.name, "mailbox: idle ended");
            stopped
        };
        session = within(m, "IDLE done", async {
            idle.done()
                .await
                .map_err(|e| imap_err(m, format!("IDLE done: {e}")))
        })
        .await?;
        if stopped {
            let _ = session.logout().await;
            return Ok(());
        }
    }
}
