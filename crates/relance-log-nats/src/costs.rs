//! Whether a group is cheaper as one atomic batch or as publishes one by one, from what each
//! has cost lately.
//!
//! An atomic batch is stored in one server write, but on a one-replica file stream the server
//! first stages it in a store of its own, created and removed for each batch with a few synced
//! writes. With `sync_interval: always` each lone publish pays an fsync, so a group of a few
//! appends is already cheaper as a batch; with lazy fsync a lone publish costs next to nothing
//! and the staging never pays. The client cannot read the server's setting, so it measures the
//! time of a lone append (a group of one, with no batch being written meanwhile: the server
//! stages a batch under the stream's lock) and the time of the batches it committed, and
//! batches a group when `size × lone append > batch`. Batches are tried once there is a figure
//! for lone appends, and again every [`PROBE_EVERY`] groups, so the choice follows the server
//! (a replicated stream stages batches in memory and batches nearly always win).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every this many groups, the way not chosen lately is tried again.
pub(crate) const PROBE_EVERY: u64 = 64;

/// Recent costs, in microseconds (0: not measured yet), as moving averages.
#[derive(Default)]
pub(crate) struct Costs {
    /// Time of a lone append.
    per_append: AtomicU64,
    /// Time of an atomic batch, from its first message to the commit's acknowledgement.
    per_batch: AtomicU64,
    groups: AtomicU64,
    /// Batches being written now, and batches ever started: a group published one by one
    /// while a batch was being written waited for it (the server stages a batch under the
    /// stream's lock), so its time says nothing about publishes one by one.
    in_flight: AtomicU64,
    started: AtomicU64,
    batches: AtomicU64,
    batched: AtomicU64,
    refused: AtomicU64,
    one_by_one: AtomicU64,
}

/// What the group commit did since the log was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Atomic batches committed, and the appends they held.
    pub batches: u64,
    pub batched_appends: u64,
    /// Batches the server refused (their appends then went one by one).
    pub refused_batches: u64,
    /// Groups published one by one because that was cheaper (or a group of one).
    pub groups_one_by_one: u64,
    /// The moving averages the choice is made on, in microseconds (0: not measured yet).
    pub per_append_us: u64,
    pub per_batch_us: u64,
}

/// How a group leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    OneByOne,
    Batch,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Moves `average` a quarter of the way to `sample` (or sets it, the first time).
fn update(average: &AtomicU64, sample: u64) {
    let old = average.load(Ordering::Relaxed);
    let new = if old == 0 {
        sample
    } else {
        old - old / 4 + sample / 4
    };
    average.store(new.max(1), Ordering::Relaxed);
}

impl Costs {
    /// The way for a group of `size` appends (on distinct cooperatives).
    pub(crate) fn choose(&self, size: usize) -> Way {
        if size < 2 {
            return Way::OneByOne;
        }
        let (one, batch) = (
            self.per_append.load(Ordering::Relaxed),
            self.per_batch.load(Ordering::Relaxed),
        );
        if one == 0 {
            return Way::OneByOne;
        }
        if batch == 0 {
            return Way::Batch;
        }
        let cheaper = if (size as u64).saturating_mul(one) > batch {
            Way::Batch
        } else {
            Way::OneByOne
        };
        let probe = self.groups.fetch_add(1, Ordering::Relaxed) % PROBE_EVERY == PROBE_EVERY - 1;
        match (probe, cheaper) {
            (false, way) => way,
            (true, Way::Batch) => Way::OneByOne,
            (true, Way::OneByOne) => Way::Batch,
        }
    }

    /// Where batches stand before a group is published one by one: pass it to
    /// [`one_by_one`](Self::one_by_one) afterwards.
    pub(crate) fn mark(&self) -> Option<u64> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| self.started.load(Ordering::Acquire))
    }

    /// A group of `size` published one by one took `took`; it times a lone append when it
    /// held one and no batch was being written meanwhile (`mark` taken before it, with none
    /// in flight, and none since). Larger groups say little: their appends wait for each
    /// other on the client's cores as much as on the server.
    pub(crate) fn one_by_one(&self, size: usize, took: Duration, mark: Option<u64>) {
        self.one_by_one.fetch_add(1, Ordering::Relaxed);
        if size != 1 || mark.is_none() || self.mark() != mark {
            return;
        }
        update(&self.per_append, micros(took));
    }

    /// A batch starts being written; [`batch`](Self::batch) or [`refused`](Self::refused)
    /// says it ended.
    pub(crate) fn batch_started(&self) {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn batch_ended(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A batch of `size` was committed in `took`.
    pub(crate) fn batch(&self, size: usize, took: Duration) {
        self.batch_ended();
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched
            .fetch_add(u64::try_from(size).unwrap_or(u64::MAX), Ordering::Relaxed);
        update(&self.per_batch, micros(took));
    }

    /// The server refused a batch.
    pub(crate) fn refused(&self) {
        self.batch_ended();
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> GroupStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GroupStats {
            batches: get(&self.batches),
            batched_appends: get(&self.batched),
            refused_batches: get(&self.refused),
            groups_one_by_one: get(&self.one_by_one),
            per_append_us: get(&self.per_append),
            per_batch_us: get(&self.per_batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn each_way_is_tried_before_it_is_judged() {
        let c = Costs::default();
        assert_eq!(c.choose(1), Way::OneByOne, "a lone append is never a batch");
        assert_eq!(c.choose(8), Way::OneByOne, "no figure for one by one yet");
        c.one_by_one(8, ms(8), c.mark());
        assert_eq!(
            c.choose(8),
            Way::OneByOne,
            "a group of 8 does not time a lone append"
        );
        c.one_by_one(1, ms(1), c.mark());
        assert_eq!(c.choose(8), Way::Batch, "no figure for batches yet");
    }

    /// Lone publishes that each wait for an fsync make batches pay off; publishes that cost
    /// next to nothing keep groups one by one.
    #[test]
    fn the_cheaper_way_wins_and_the_other_is_probed_now_and_then() {
        let fsync = Costs::default();
        fsync.one_by_one(1, ms(1), fsync.mark());
        fsync.batch(16, ms(3));
        let ways: Vec<_> = (0..PROBE_EVERY).map(|_| fsync.choose(16)).collect();
        assert_eq!(
            ways.iter().filter(|w| **w == Way::Batch).count() as u64,
            PROBE_EVERY - 1
        );
        assert_eq!(fsync.choose(2), Way::OneByOne, "2 × 1 ms < 3 ms");

        let lazy = Costs::default();
        lazy.one_by_one(1, Duration::from_micros(50), lazy.mark());
        lazy.batch(16, ms(3));
        let ways: Vec<_> = (0..PROBE_EVERY).map(|_| lazy.choose(16)).collect();
        assert_eq!(
            ways.iter().filter(|w| **w == Way::OneByOne).count() as u64,
            PROBE_EVERY - 1
        );
    }

    #[test]
    fn averages_follow_new_samples() {
        let c = Costs::default();
        c.batch(2, ms(8));
        for _ in 0..20 {
            c.batch(2, ms(1));
        }
        c.one_by_one(1, Duration::from_micros(500), c.mark());
        assert_eq!(c.choose(4), Way::Batch, "4 × 0.5 ms > about 1 ms");
    }

    /// Publishes that waited behind a batch being staged would make batches look cheap.
    #[test]
    fn groups_published_beside_a_batch_are_not_counted() {
        let c = Costs::default();
        c.one_by_one(1, Duration::from_micros(100), c.mark());
        c.batch_started();
        let during = c.mark();
        c.one_by_one(1, ms(400), during);
        let before = c.mark();
        c.batch(4, ms(3));
        c.one_by_one(1, ms(400), before);
        let after = c.mark();
        c.one_by_one(1, Duration::from_micros(100), after);
        assert_eq!(c.stats().per_append_us, 100);
        assert_eq!(c.stats().groups_one_by_one, 4);
    }
}
