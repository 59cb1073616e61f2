//! The service manager's notify protocol (systemd's `sd_notify`, issue 36 §2): `READY=1` once
//! the pipelines are checked and the data folders open, `STATUS=` lines with what the daemon
//! does, `STOPPING=1` on SIGTERM, and `WATCHDOG=1` every half of `WATCHDOG_USEC` — but only while
//! no loop that does the work (a pipeline's wake-up loop, a mailbox's watcher) has been busy with
//! one piece of work for longer than the watchdog's interval: a hung loop stops the pings, and the
//! service manager restarts the daemon. Without `NOTIFY_SOCKET` every call does nothing.
//!
//! *Invariant:* a loop marks itself busy only around a piece of work (a wake-up's jobs, a
//! mailbox's handling), never around a wait; the pings come from a thread of their own, so a
//! blocked runtime stops nothing but the loops
//! (`daemon::the_daemon_tells_its_service_manager_ready_alive_and_stopping_and_a_hung_loop_stops_the_pings`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Service {
    socket: std::os::unix::net::SocketAddr,
    /// Half of the watchdog's interval (None: no watchdog asked for).
    ping_every: Option<Duration>,
    interval: Duration,
    /// Each loop's busy-since (milliseconds after `start`, plus one; 0: waiting).
    loops: Mutex<Vec<(String, Arc<AtomicU64>)>>,
    start: Instant,
}

static SERVICE: OnceLock<Option<Service>> = OnceLock::new();

/// The protocol's settings, from the service manager's variables (read by the command line and
/// given here): `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace), `WATCHDOG_USEC`
/// and `WATCHDOG_PID` (the watchdog is this process's only when the pid is its own or unset).
pub fn init(socket: Option<String>, watchdog_usec: Option<String>, watchdog_pid: Option<String>) {
    let service = socket.filter(|s| !s.is_empty()).and_then(|s| {
        let addr = match s.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?
            }
            None => std::os::unix::net::SocketAddr::from_pathname(&s).ok()?,
        };
        let mine = watchdog_pid
            .as_deref()
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let usec = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && mine);
        Some(Service {
            socket: addr,
            ping_every: usec.map(|u| Duration::from_micros(u / 2)),
            interval: Duration::from_micros(usec.unwrap_or(0)),
            loops: Mutex::new(Vec::new()),
            start: Instant::now(),
        })
    });
    if SERVICE.set(service).is_ok() {
        start_pings();
    }
}

fn service() -> Option<&'static Service> {
    SERVICE.get().and_then(Option::as_ref)
}

fn send(message: &str) {
    let Some(s) = service() else { return };
    let sent = std::os::unix::net::UnixDatagram::unbound()
        .and_then(|sock| sock.send_to_addr(message.as_bytes(), &s.socket));
    if let Err(e) = sent {
        tracing::debug!(error = %e, "the service manager's socket did not take a notice");
    }
}

/// The daemon is ready: its pipelines checked, its data folders open.
pub fn ready(status: &str) {
    send(&format!("READY=1\nSTATUS={status}"));
}

/// What the daemon is doing now, for `systemctl status`.
pub fn status(status: &str) {
    send(&format!("STATUS={status}"));
}

/// The daemon is stopping (SIGTERM).
pub fn stopping() {
    send("STOPPING=1\nSTATUS=stopping");
}

/// A piece of work in hand in the loop named `name` (a pipeline's wake-up loop, a mailbox's
/// watcher); the loop waits again when it is dropped.
pub fn busy(name: &str) -> Busy {
    let Some(s) = service() else {
        return Busy(None);
    };
    let mut loops = s.loops.lock().unwrap_or_else(|e| e.into_inner());
    let slot = match loops.iter().find(|(n, _)| n == name) {
        Some((_, slot)) => slot.clone(),
        None => {
            let slot = Arc::new(AtomicU64::new(0));
            loops.push((name.to_string(), slot.clone()));
            slot
        }
    };
    slot.store(s.start.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
    Busy(Some(slot))
}

/// See [`busy`].
pub struct Busy(Option<Arc<AtomicU64>>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(slot) = &self.0 {
            slot.store(0, Ordering::SeqCst);
        }
    }
}

/// The loop busy for longer than the watchdog's interval, if any.
fn hung(s: &Service) -> Option<String> {
    let now = s.start.elapsed().as_millis() as u64 + 1;
    let limit = s.interval.as_millis() as u64;
    s.loops
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(_, slot)| {
            let since = slot.load(Ordering::SeqCst);
            since > 0 && now.saturating_sub(since) > limit
        })
        .map(|(name, _)| name.clone())
}

fn start_pings() {
    let Some(every) = service().and_then(|s| s.ping_every) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let mut told = false;
            loop {
                std::thread::sleep(every);
                let Some(s) = service() else { return };
                match hung(s) {
                    None => {
                        told = false;
                        send("WATCHDOG=1");
                    }
                    Some(name) if !told => {
                        told = true;
                        tracing::error!(task = %name, "a loop has been busy longer than the watchdog allows: no WATCHDOG=1, the service manager will restart the daemon");
                    }
                    Some(_) => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the watchdog's thread did not start: no WATCHDOG=1");
    }
}
