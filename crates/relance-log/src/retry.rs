//! One retry policy for every backoff loop: exponential pauses, bounded by retries or time.
//!
//! [`Backoff`] describes the pauses: the first is `initial`, each next one is the previous
//! multiplied by `factor` and capped at `max`. It stops after `max_retries` retries or once
//! `deadline` has passed since the first attempt (whichever comes first; neither set: never).
//!
//! - [`retry`] and [`retry_notify`] run an operation again while its error is transient and
//!   the policy allows another attempt, and return the last result otherwise.
//! - [`Backoff::delays`] gives the pauses one by one ([`Delays`]), for loops that do more
//!   than call one operation (a pause that a shutdown must be able to cut short, a backoff
//!   that starts again after progress).
//!
//! Time is tokio's, so tests run it with a paused clock.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often and how long to wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause, used as is.
    pub initial: Duration,
    /// The longest pause after the first.
    pub max: Duration,
    /// What each pause is multiplied by to give the next (2: doubled).
    pub factor: u32,
    /// Most retries after the first attempt (`None`: no bound).
    pub max_retries: Option<u32>,
    /// No retry once this much time has passed since the first attempt (`None`: no bound).
    /// Checked after a failure, before pausing: the last pause may end past it.
    pub deadline: Option<Duration>,
}

impl Backoff {
    /// Pauses from `initial`, doubled each time up to `max`, without bound.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            factor: 2,
            max_retries: None,
            deadline: None,
        }
    }

    /// The same policy, giving up after `retries` retries.
    pub const fn with_max_retries(self, retries: u32) -> Self {
        Self {
            max_retries: Some(retries),
            ..self
        }
    }

    /// The same policy, giving up once `deadline` has passed since the first attempt.
    pub const fn with_deadline(self, deadline: Duration) -> Self {
        Self {
            deadline: Some(deadline),
            ..self
        }
    }

    /// The same policy with another growth factor.
    pub const fn with_factor(self, factor: u32) -> Self {
        Self { factor, ..self }
    }

    /// The pauses of this policy, its clock (for the deadline) starting now.
    pub fn delays(&self) -> Delays {
        Delays {
            policy: *self,
            next: self.initial,
            retries: 0,
            started: Instant::now(),
        }
    }
}

/// The pauses of a [`Backoff`], one per retry; ends when the policy allows no more.
#[derive(Debug, Clone)]
pub struct Delays {
    policy: Backoff,
    next: Duration,
    retries: u32,
    started: Instant,
}

impl Delays {
    /// How many pauses were handed out since the start or the last [`Delays::reset`].
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Starts again from the first pause and the full retry budget (after progress); the
    /// deadline keeps counting from the start.
    pub fn reset(&mut self) {
        self.next = self.policy.initial;
        self.retries = 0;
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.policy.max_retries.is_some_and(|m| self.retries >= m) {
            return None;
        }
        if self
            .policy
            .deadline
            .is_some_and(|d| self.started.elapsed() >= d)
        {
            return None;
        }
        let delay = self.next;
        self.next = delay
            .checked_mul(self.policy.factor)
            .unwrap_or(self.policy.max)
            .min(self.policy.max);
        self.retries += 1;
        Some(delay)
    }
}

/// A retry about to happen, as told to [`retry_notify`]'s `notify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrying {
    /// The attempt that just failed, from 1.
    pub attempt: u32,
    /// The pause before the next attempt.
    pub delay: Duration,
}

/// Runs `op` until it succeeds, fails with an error `is_transient` does not accept, or
/// `policy` allows no more retries; returns its last result.
pub async fn retry<T, E, F, Fut>(
    policy: &Backoff,
    op: F,
    is_transient: impl FnMut(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_notify(policy, op, is_transient, |_, _| {}).await
}

/// [`retry`], calling `notify` with each transient error before pausing (to log it).
pub async fn retry_notify<T, E, F, Fut>(
    policy: &Backoff,
    mut op: F,
    mut is_transient: impl FnMut(&E) -> bool,
    mut notify: impl FnMut(&E, Retrying),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays = policy.delays();
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if !is_transient(&error) {
            return Err(error);
        }
        let Some(delay) = delays.next() else {
            return Err(error);
        };
        notify(&error, Retrying { attempt, delay });
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const MS: Duration = Duration::from_millis(1);

    #[derive(Debug, PartialEq, Eq)]
    enum Failure {
        Transient(u32),
        Permanent,
    }

    fn transient(e: &Failure) -> bool {
        matches!(e, Failure::Transient(_))
    }

    #[test]
    fn pauses_grow_from_initial_up_to_max() {
        let policy = Backoff::new(100 * MS, 2000 * MS).with_max_retries(7);
        let delays: Vec<_> = policy.delays().map(|d| d.as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn the_first_pause_is_not_capped_and_growth_does_not_overflow() {
        let policy = Backoff::new(5000 * MS, 2000 * MS).with_max_retries(3);
        let delays: Vec<_> = policy.delays().map(|d| d.as_millis()).collect();
        assert_eq!(delays, [5000, 2000, 2000]);
        let huge = Backoff::new(Duration::MAX, Duration::MAX).with_max_retries(2);
        assert_eq!(huge.delays().collect::<Vec<_>>(), [Duration::MAX; 2]);
    }

    #[test]
    fn other_factors_and_no_bound() {
        let tripled = Backoff::new(MS, 50 * MS).with_factor(3);
        let delays: Vec<_> = tripled.delays().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [1, 3, 9, 27, 50, 50]);
        assert_eq!(Backoff::new(MS, MS).delays().take(1000).count(), 1000);
    }

    #[test]
    fn reset_starts_again_from_the_first_pause() {
        let mut delays = Backoff::new(100 * MS, 5000 * MS)
            .with_max_retries(2)
            .delays();
        assert_eq!(delays.next(), Some(100 * MS));
        assert_eq!(delays.next(), Some(200 * MS));
        assert_eq!(delays.retries(), 2);
        assert_eq!(delays.next(), None);
        delays.reset();
        assert_eq!(delays.retries(), 0);
        assert_eq!(delays.next(), Some(100 * MS));
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_counts_from_the_first_attempt() {
        let policy = Backoff::new(200 * MS, 5000 * MS).with_deadline(Duration::from_secs(1));
        let mut delays = policy.delays();
        assert_eq!(delays.next(), Some(200 * MS));
        tokio::time::advance(999 * MS).await;
        assert_eq!(delays.next(), Some(400 * MS));
        tokio::time::advance(MS).await;
        assert_eq!(delays.next(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_after_each_pause() {
        let start = Instant::now();
        let calls = Cell::new(0u32);
        let policy = Backoff::new(100 * MS, 2000 * MS).with_max_retries(5);
        let mut seen = Vec::new();
        let result = retry_notify(
            &policy,
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 4 {
                        Err(Failure::Transient(n))
                    } else {
                        Ok(n)
                    }
                }
            },
            transient,
            |e, r| seen.push((format!("{e:?}"), r.attempt, r.delay.as_millis())),
        )
        .await;
        assert_eq!(result, Ok(4));
        assert_eq!(
            seen,
            [
                ("Transient(1)".to_owned(), 1, 100),
                ("Transient(2)".to_owned(), 2, 200),
                ("Transient(3)".to_owned(), 3, 400),
            ]
        );
        assert_eq!(start.elapsed(), 700 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries_with_the_last_error() {
        let start = Instant::now();
        let calls = Cell::new(0u32);
        let policy = Backoff::new(100 * MS, 2000 * MS).with_max_retries(5);
        let result: Result<(), _> = retry(
            &policy,
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { Err(Failure::Transient(n)) }
            },
            transient,
        )
        .await;
        assert_eq!(result, Err(Failure::Transient(6)));
        assert_eq!(calls.get(), 6);
        assert_eq!(start.elapsed(), (100 + 200 + 400 + 800 + 1600) * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_and_successes_return_at_once() {
        let start = Instant::now();
        let policy = Backoff::new(100 * MS, 2000 * MS).with_max_retries(5);
        let calls = Cell::new(0u32);
        let result: Result<(), _> = retry(
            &policy,
            || {
                calls.set(calls.get() + 1);
                async { Err(Failure::Permanent) }
            },
            transient,
        )
        .await;
        assert_eq!(result, Err(Failure::Permanent));
        assert_eq!(calls.get(), 1);
        let ok: Result<u8, Failure> = retry(&policy, || async { Ok(7) }, transient).await;
        assert_eq!(ok, Ok(7));
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_retries_means_one_attempt() {
        let policy = Backoff::new(100 * MS, 2000 * MS).with_max_retries(0);
        let calls = Cell::new(0u32);
        let result: Result<(), _> = retry(
            &policy,
            || {
                calls.set(calls.get() + 1);
                async { Err(Failure::Transient(0)) }
            },
            transient,
        )
        .await;
        assert_eq!(result, Err(Failure::Transient(0)));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_stops_retrying_once_passed() {
        // As `relance serve` waits for JetStream: 200 ms doubled up to 5 s, for 60 s.
        let start = Instant::now();
        let policy = Backoff::new(200 * MS, 5000 * MS).with_deadline(Duration::from_secs(60));
        let calls = Cell::new(0u32);
        let result: Result<(), _> = retry(
            &policy,
            || {
                calls.set(calls.get() + 1);
                async { Err(Failure::Transient(0)) }
            },
            transient,
        )
        .await;
        assert_eq!(result, Err(Failure::Transient(0)));
        // Pauses 0.2, 0.4, 0.8, 1.6, 3.2 (6.2 s), then 5 s each: the failure at 61.2 s is
        // the first one past the deadline.
        assert_eq!(start.elapsed(), 61_200 * MS);
        assert_eq!(calls.get(), 5 + 11 + 1);
    }
}
