//! One way to try again, for everything that talks to another machine (SMTP, group robots, HTTP
//! sources): bounded attempts, exponential back-off with jitter. Each user has its own settings
//! in the pipeline (`email`, each `[[webhooks]]`, each `[[sources]]`).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The process's clock rate (simulated seconds per real second) as f64 bits: the pauses between
/// tries are on the daemon's clock, so a rehearsal at `--clock-rate 3600` waits an hour-long
/// back-off in a second. 1 unless the daemon or the web server set it.
static RATE: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000); // 1.0

/// Sets the clock rate the pauses are measured on (the daemon and `serve`, from their clock).
pub fn set_rate(rate: f64) {
    if rate.is_finite() && rate > 0.0 {
        RATE.store(rate.to_bits(), Ordering::Relaxed);
    }
}

/// How often and how patiently to try.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// The first pause; each later one doubles (with jitter), at most a minute.
    pub base: Duration,
}

/// Why one try failed, and whether another may succeed.
#[derive(Debug)]
pub struct Failure<E> {
    pub error: E,
    pub transient: bool,
}

impl<E> Failure<E> {
    pub fn transient(error: E) -> Failure<E> {
        Failure {
            error,
            transient: true,
        }
    }

    pub fn permanent(error: E) -> Failure<E> {
        Failure {
            error,
            transient: false,
        }
    }
}

impl Retry {
    pub fn new(attempts: u32, base_ms: u64) -> Retry {
        Retry {
            attempts: attempts.max(1),
            base: Duration::from_millis(base_ms),
        }
    }

    /// The pause after failed try number `attempt` (1-based): base × 2^(attempt−1) × [0.5, 1.5),
    /// at most a minute.
    pub fn pause(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
        exp.mul_f64(0.5 + fastrand::f64())
            .min(Duration::from_secs(60))
    }

    /// Runs `op` (given the try's number, from 1) until it succeeds, fails permanently, or the
    /// attempts are used up; returns the last failure then.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut op: F) -> Result<T, Failure<E>>
    where
        E: std::fmt::Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match op(attempt).await {
                Err(f) if f.transient && attempt < self.attempts => {
                    let pause = self.pause(attempt);
                    tracing::warn!(what, attempt, error = %f.error, pause_ms = pause.as_millis() as u64, "transient failure, trying again");
                    let rate = f64::from_bits(RATE.load(Ordering::Relaxed));
                    tokio::time::sleep(pause.div_f64(rate)).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_are_bounded() {
        let r = Retry::new(4, 100);
        for attempt in 1..=4 {
            let d = r.pause(attempt);
            let nominal = 100.0 * f64::from(1u32 << (attempt - 1));
            assert!(
                d.as_secs_f64() * 1000.0 >= nominal * 0.5
                    && d.as_secs_f64() * 1000.0 < nominal * 1.5,
                "{attempt}: {d:?}"
            );
        }
        assert!(Retry::new(20, 10_000).pause(15) <= Duration::from_secs(60));
    }

    #[test]
    fn tries_until_success_or_a_permanent_failure_or_the_last_attempt() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = Retry::new(3, 1);
        let mut calls = 0;
        let out: Result<u32, Failure<String>> = rt.block_on(r.run("t", |n| {
            calls += 1;
            async move {
                if n < 2 {
                    Err(Failure::transient("busy".to_string()))
                } else {
                    Ok(n)
                }
            }
        }));
        assert_eq!((out.unwrap(), calls), (2, 2));
        let mut calls = 0;
        let out: Result<(), Failure<String>> = rt.block_on(r.run("t", |_| {
            calls += 1;
            async { Err(Failure::permanent("no".to_string())) }
        }));
        assert!(!out.unwrap_err().transient);
        assert_eq!(calls, 1);
        let mut calls = 0;
        let out: Result<(), Failure<String>> = rt.block_on(r.run("t", |_| {
            calls += 1;
            async { Err(Failure::transient("busy".to_string())) }
        }));
        assert!(out.unwrap_err().transient);
        assert_eq!(calls, 3);
    }
}
