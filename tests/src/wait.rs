//! Waiting on an observable condition, bounded: `eventually(within, || async { check })` runs
//! the check again and again, with a short bounded backoff, until it returns `Some`/`Ok`, and
//! panics with the last observation when `within` has passed. No test sleeps "to let things
//! settle"; each waits for what it needs to see.
//!
//! ```ignore
//! let summary = eventually(Duration::from_secs(60), || async {
//!     q.clone().summary(SummaryRequest { min_position: head }).await
//! })
//! .await;
//! ```

use std::fmt::{self, Debug};
use std::future::Future;
use std::time::{Duration, Instant};

/// The first pause between two attempts; it doubles up to [`Poll::max_pause`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The default longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// What a check returns: done with a value (`Some`, `Ok`), or not yet (`None`, `Err`), the
/// `Err` describing what was seen instead.
pub trait Observation {
    type Value;
    /// The value, or a description of what was observed instead.
    fn into_result(self) -> Result<Self::Value, String>;
}

impl<T> Observation for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "None".to_owned())
    }
}

impl<T, E: Debug> Observation for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// A check that did not succeed in time.
#[derive(Debug, Clone)]
pub struct TimedOut {
    pub within: Duration,
    pub attempts: u32,
    /// The last observation (the last `Err`, or `None`).
    pub last: String,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not met within {:?} ({} attempts); last observation: {}",
            self.within, self.attempts, self.last
        )
    }
}

/// A bounded wait; see [`within`].
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    within: Duration,
    max_pause: Duration,
}

/// A wait of at most `within`, pausing 5 ms, 10 ms, … up to 100 ms between attempts.
pub fn within(within: Duration) -> Poll {
    Poll {
        within,
        max_pause: MAX_PAUSE,
    }
}

/// Runs `check` until it returns `Some`/`Ok` and returns its value; panics with the last
/// observation once `within` has passed. Each attempt is itself cut off at the deadline.
pub async fn eventually<F, Fut, O>(within_: Duration, check: F) -> O::Value
where
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
    O: Observation,
{
    within(within_).until(check).await
}

impl Poll {
    /// The longest pause between attempts; `Duration::ZERO` checks back to back (only
    /// yielding to the runtime), for a condition that must be caught while it holds.
    #[must_use]
    pub fn max_pause(mut self, max_pause: Duration) -> Self {
        self.max_pause = max_pause;
        self
    }

    /// Like [`eventually`].
    pub async fn until<F, Fut, O>(self, check: F) -> O::Value
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = O>,
        O: Observation,
    {
        match self.try_until(check).await {
            Ok(value) => value,
            Err(timed_out) => panic!("condition {timed_out}"),
        }
    }

    /// Like [`until`](Self::until), but gives the timeout back instead of panicking (for a
    /// caller that adds context, such as a process's log, or has a fallback).
    pub async fn try_until<F, Fut, O>(self, mut check: F) -> Result<O::Value, TimedOut>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = O>,
        O: Observation,
    {
        let deadline = Instant::now() + self.within;
        let mut pause = FIRST_PAUSE.min(self.max_pause);
        let mut attempts = 0;
        let mut last = "no attempt finished".to_owned();
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let outcome = tokio::time::timeout(remaining, check()).await;
            match outcome.map(Observation::into_result) {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(seen)) => last = seen,
                Err(_) => last = format!("{last} (then an attempt still running at the deadline)"),
            }
            if Instant::now() >= deadline {
                return Err(TimedOut {
                    within: self.within,
                    attempts,
                    last,
                });
            }
            if pause.is_zero() {
                tokio::task::yield_now().await;
            } else {
                let remaining = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(remaining)).await;
                pause = (pause * 2).min(self.max_pause);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_the_value_once_the_check_holds() {
        let n = AtomicU32::new(0);
        let v = eventually(Duration::from_secs(5), || async {
            let i = n.fetch_add(1, Ordering::SeqCst);
            (i >= 3).then_some(i)
        })
        .await;
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn times_out_with_the_last_observation() {
        let n = AtomicU32::new(0);
        let err = within(Duration::from_millis(50))
            .try_until(|| async {
                Err::<(), _>(format!("seen {}", n.fetch_add(1, Ordering::SeqCst)))
            })
            .await
            .unwrap_err();
        assert!(err.attempts >= 2, "{err}");
        assert_eq!(
            err.last,
            format!("{:?}", format!("seen {}", err.attempts - 1))
        );
    }

    #[tokio::test]
    async fn an_attempt_that_hangs_is_cut_off_at_the_deadline() {
        let n = AtomicU32::new(0);
        let started = Instant::now();
        let err = within(Duration::from_millis(100))
            .try_until(|| async {
                if n.fetch_add(1, Ordering::SeqCst) > 0 {
                    std::future::pending::<()>().await;
                }
                None::<()>
            })
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.last.starts_with("None"), "{err}");
    }
}
