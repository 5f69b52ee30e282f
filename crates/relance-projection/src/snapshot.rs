//! Summary snapshots: SummaryAt over the log without reading every cooperative's history.
//!
//! Views that read histories from the log write, with the batch whose checkpoint crosses a
//! multiple of the snapshot interval ([`SNAPSHOT_EVERY`] events by default), the province
//! summary at that checkpoint (`S` key) and a small mark (`s` key): the last event the summary
//! counts, the latest recording time of every event it counts, and the earliest recording time
//! of those counted since the previous snapshot.
//!
//! SummaryAt without a business date (a business date does not cut the log at a position)
//! starts from the latest snapshot whose events are all known at the point asked (or from the
//! empty summary at position 0), reads the events that follow it in position order, and
//! refolds only the cooperatives with an event known at the point there: their contribution at
//! the snapshot is taken out of its summary and their contribution at the point put in, so a
//! retraction of an earlier event is counted as the full fold counts it. Recording times are
//! not monotonic in position (the clocks of command processes differ), so an interval between
//! two snapshots is skipped only when every event it counts was recorded after the point;
//! what follows the last snapshot is always read.
//!
//! Counted events are those applied to a view (not poison, not the events of a cooperative
//! after its quarantine): those History and the full fold read. The running totals since the
//! last snapshot are written with every batch (`m:snapshots`); views that applied events before
//! they kept them (written before snapshots existed) write none and fold every history, until
//! rebuilt. Snapshots say how the views are stored, not what they are: they are not part of
//! the digest.

use std::collections::BTreeSet;

use relance_domain::{AsOf, Recorded, Summary};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::history::HistorySource;
use crate::keys::decode_stored;
use crate::time_travel::SummaryAt;
use crate::{poisoned, Projection, ProjectionError};

/// Events between two summary snapshots, unless set otherwise
/// ([`Projection::set_snapshot_every`]).
pub const SNAPSHOT_EVERY: u64 = 4096;

/// The first byte of the snapshots' marks.
const MARK_PREFIX: u8 = b's';
/// The first byte of the snapshots' summaries.
const SUMMARY_PREFIX: u8 = b'S';
/// The running totals since the last snapshot.
const TRACKING_KEY: &[u8] = b"m:snapshots";

/// Whether `k` is one of the snapshots' keys (left out of the digest).
pub(crate) fn is_snapshot_key(k: &[u8]) -> bool {
    k == TRACKING_KEY || (k.len() == 9 && matches!(k[0], MARK_PREFIX | SUMMARY_PREFIX))
}

/// A snapshot's mark or summary key.
fn key(prefix: u8, position: u64) -> [u8; 9] {
    let mut k = [prefix; 9];
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

/// The position of a snapshot's key.
fn position_of(k: &[u8]) -> Result<u64, ProjectionError> {
    k.get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| {
            ProjectionError::Internal(format!("a summary snapshot key of {} bytes", k.len()))
        })
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, ProjectionError> {
    postcard::to_allocvec(value).map_err(ProjectionError::Snapshot)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProjectionError> {
    postcard::from_bytes(bytes).map_err(ProjectionError::Snapshot)
}

/// What a snapshot says besides its summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Mark {
    /// Position of the last event the summary counts (0: none).
    counted: u64,
    /// Latest recording time of the events it counts.
    recorded_max: Option<i64>,
    /// Earliest recording time of the events counted since the previous snapshot.
    interval_min: Option<i64>,
}

/// The running totals since the last snapshot.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct Tracking {
    /// Position of the last snapshot (0: none yet).
    last: u64,
    /// The mark the next snapshot will have.
    mark: Mark,
}

/// The events one batch applied, as snapshots count them.
#[derive(Default)]
pub(crate) struct Applied {
    counted: u64,
    earliest: Option<i64>,
    latest: Option<i64>,
}

impl Applied {
    /// Counts an event applied to its cooperative's view.
    pub(crate) fn saw(&mut self, rec: &Recorded) {
        let t = rec.envelope.recorded_at_ms;
        self.counted = self.counted.max(rec.position);
        self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
    }
}

/// Whether and how often a projection writes snapshots.
pub(crate) struct Snapshots {
    every: u64,
    /// `None` when no snapshot is written: views that keep histories themselves (SummaryAt
    /// reads them all from the views), or that applied events before keeping snapshots.
    tracking: Option<Tracking>,
}

impl Snapshots {
    /// The snapshots of views in `tree` at `checkpoint`; `in_log` when they read histories
    /// from the log.
    pub(crate) fn load(
        tree: &sled::Tree,
        in_log: bool,
        checkpoint: u64,
    ) -> Result<Self, ProjectionError> {
        let tracking = match (in_log, checkpoint) {
            (false, _) => None,
            (true, 0) => Some(Tracking::default()),
            (true, _) => tree.get(TRACKING_KEY)?.map(|v| decode(&v)).transpose()?,
        };
        Ok(Self {
            every: SNAPSHOT_EVERY,
            tracking,
        })
    }

    /// Adds what a batch `applied` to the running totals and writes them into `batch`, with a
    /// snapshot of `summary` at `position`, the batch's last, when the batch crosses a multiple
    /// of the interval. Returns the totals to keep once the batch is written.
    ///
    /// `lost`: the batch applied an event to a cooperative it left with no view (a history
    /// that does not start with a registration), whose events History counts only once it has
    /// one: no snapshot is written from then on (those written stay right).
    fn next(
        &self,
        batch: &mut sled::Batch,
        applied: &Applied,
        lost: bool,
        position: u64,
        summary: &Summary,
    ) -> Result<Option<Tracking>, ProjectionError> {
        let Some(mut t) = self.tracking else {
            return Ok(None);
        };
        if lost {
            tracing::warn!(
                position,
                "an event applied to a cooperative with no view: no more summary snapshots"
            );
            batch.remove(TRACKING_KEY);
            return Ok(None);
        }
        t.mark.counted = t.mark.counted.max(applied.counted);
        t.mark.recorded_max = t.mark.recorded_max.max(applied.latest);
        t.mark.interval_min = match (t.mark.interval_min, applied.earliest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.every > 0 && position / self.every > t.last / self.every {
            batch.insert(&key(MARK_PREFIX, position)[..], encode(&t.mark)?);
            batch.insert(&key(SUMMARY_PREFIX, position)[..], encode(summary)?);
            t.last = position;
            t.mark.interval_min = None;
        }
        batch.insert(TRACKING_KEY, encode(&t)?);
        Ok(Some(t))
    }
}

impl Projection {
    /// Sets how many events apart summary snapshots are written, from the next batch on
    /// ([`SNAPSHOT_EVERY`] unless set; 0 writes none). Only views that read histories from the
    /// log write them.
    pub fn set_snapshot_every(&self, events: u64) -> Result<(), ProjectionError> {
        self.snapshots
            .lock()
            .map_err(|_| poisoned("snapshots"))?
            .every = events;
        Ok(())
    }

    /// Writes into `batch` the running totals after a batch that ends at `position`, and a
    /// snapshot of `summary` when one is due ([`Snapshots::next`]); returns the totals to
    /// [keep](Self::keep_tracking) once the batch is written. Under the apply lock.
    pub(crate) fn track(
        &self,
        batch: &mut sled::Batch,
        applied: &Applied,
        lost: bool,
        position: u64,
        summary: &Summary,
    ) -> Result<Option<Tracking>, ProjectionError> {
        self.snapshots
            .lock()
            .map_err(|_| poisoned("snapshots"))?
            .next(batch, applied, lost, position, summary)
    }

    /// Keeps the running totals of the batch just written.
    pub(crate) fn keep_tracking(&self, tracking: Option<Tracking>) -> Result<(), ProjectionError> {
        self.snapshots
            .lock()
            .map_err(|_| poisoned("snapshots"))?
            .tracking = tracking;
        Ok(())
    }

    /// SummaryAt from the latest snapshot that serves `as_of` and the events that follow it;
    /// `None` when none serves (a business date, views without snapshots, a log that cannot
    /// be read in position order): the caller folds every history.
    pub(crate) fn summary_from_snapshot(
        &self,
        source: &dyn HistorySource,
        as_of: &AsOf,
    ) -> Result<Option<SummaryAt>, ProjectionError> {
        if as_of.business_date.is_some() {
            return Ok(None);
        }
        let checkpoint = self.checkpoint();
        let end = as_of.position.map_or(checkpoint, |p| p.min(checkpoint));
        let Some((base, mark)) = self.base(as_of.recorded_at_ms, end)? else {
            return Ok(None);
        };
        let summary = match base {
            0 => Summary::default(),
            _ => match self.tree.get(key(SUMMARY_PREFIX, base))? {
                Some(v) => decode(&v)?,
                None => return Ok(None),
            },
        };
        // Past the checkpoint read above, nothing counts: a batch applied meanwhile changes
        // neither the snapshot's cooperatives nor the refolded ones.
        let at = AsOf {
            position: Some(end),
            ..*as_of
        };
        let mut touched = BTreeSet::new();
        for (from, to) in self.spans_after(base, end, as_of.recorded_at_ms)? {
            let events = match source.range(from, to) {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, from, to,
                        "SummaryAt cannot read the log after a snapshot: every history is folded");
                    return Ok(None);
                }
            };
            // An event that cannot be decoded was never applied: it counts nowhere.
            for e in events {
                if decode_stored(e.position, &e.payload).is_ok_and(|rec| at.includes(&rec)) {
                    touched.insert(e.cooperative_id);
                }
            }
        }
        let before = AsOf {
            position: Some(base),
            ..AsOf::default()
        };
        let mut answer = SummaryAt {
            summary,
            position: mark.counted,
        };
        for id in touched {
            let history = self.history_records(id.as_str())?;
            if let Some(s) = before.fold(&history) {
                answer.summary.remove(&s);
            }
            answer.count(&at, &history);
        }
        Ok(Some(answer))
    }

    /// The latest snapshot at or below `end` whose events were all recorded by `recorded_by`,
    /// with its mark; the empty summary at position 0 for views that kept snapshots from their
    /// first event.
    fn base(
        &self,
        recorded_by: Option<i64>,
        end: u64,
    ) -> Result<Option<(u64, Mark)>, ProjectionError> {
        // The latest recording time only grows with the position: the first that serves,
        // going down, is the latest.
        for kv in self
            .tree
            .range(key(MARK_PREFIX, 0)..=key(MARK_PREFIX, end))
            .rev()
        {
            let (k, v) = kv?;
            let mark: Mark = decode(&v)?;
            if recorded_by.is_none_or(|t| mark.recorded_max.is_none_or(|m| m <= t)) {
                return Ok(Some((position_of(&k)?, mark)));
            }
        }
        let snapshots = self.snapshots.lock().map_err(|_| poisoned("snapshots"))?;
        Ok(snapshots.tracking.is_some().then(|| (0, Mark::default())))
    }

    /// The spans of positions after `base`, up to `end`, that may hold an event recorded by
    /// `recorded_by`: each interval between two snapshots unless every event it counts was
    /// recorded later, and always what follows the last snapshot. Adjacent spans are merged.
    fn spans_after(
        &self,
        base: u64,
        end: u64,
        recorded_by: Option<i64>,
    ) -> Result<Vec<(u64, u64)>, ProjectionError> {
        let mut spans: Vec<(u64, u64)> = Vec::new();
        let mut add = |from: u64, to: u64| match spans.last_mut() {
            Some(last) if last.1 + 1 == from => last.1 = to,
            _ => spans.push((from, to)),
        };
        let mut from = base + 1;
        for kv in self
            .tree
            .range(key(MARK_PREFIX, from)..=key(MARK_PREFIX, u64::MAX))
        {
            if from > end {
                break;
            }
            let (k, v) = kv?;
            let (position, mark) = (position_of(&k)?, decode::<Mark>(&v)?);
            if mark
                .interval_min
                .is_some_and(|m| recorded_by.is_none_or(|t| m <= t))
            {
                add(from, position.min(end));
            }
            from = position + 1;
        }
        if from <= end {
            add(from, end);
        }
        Ok(spans)
    }
}
