//! Time series: counters per business day (halts, resumptions, reorientations, workers idled,
//! support granted), kept with the views.
//!
//! Like the summary, the counters are a sum of per-cooperative contributions: a batch
//! subtracts the contribution of each touched cooperative's state before the batch and adds
//! the one after it, and writes the changed days in the same sled batch as the views. Days
//! whose counters all fall to zero are removed, so the counters depend only on the states.
//! A query folds the days into day, week (Monday first) or month buckets.

use std::collections::BTreeMap;

use relance_domain::{Bucket, CoopState, Date, SeriesPoint};

use crate::keys::{series_day, series_key, series_prefix};
use crate::{Projection, ProjectionError};

/// The counters of one business day (a delta while a batch is built).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DayCounts {
    halts: i64,
    resumptions: i64,
    reorientations: i64,
    /// Workers idled from this day on, minus those back from this day on.
    workers_idled_change: i64,
    support_grants: i64,
    support_centimes: i64,
}

const FIELDS: usize = 6;

impl DayCounts {
    fn fields(&self) -> [i64; FIELDS] {
        [
            self.halts,
            self.resumptions,
            self.reorientations,
            self.workers_idled_change,
            self.support_grants,
            self.support_centimes,
        ]
    }

    fn from_fields(f: [i64; FIELDS]) -> Self {
        Self {
            halts: f[0],
            resumptions: f[1],
            reorientations: f[2],
            workers_idled_change: f[3],
            support_grants: f[4],
            support_centimes: f[5],
        }
    }

    fn add(&mut self, other: &DayCounts) {
        let (a, b) = (self.fields(), other.fields());
        *self = Self::from_fields(std::array::from_fn(|i| a[i].saturating_add(b[i])));
    }

    fn is_zero(&self) -> bool {
        self.fields().iter().all(|v| *v == 0)
    }

    fn encode(&self) -> Vec<u8> {
        self.fields().iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    fn decode(v: &[u8]) -> Result<Self, ProjectionError> {
        if v.len() != FIELDS * 8 {
            return Err(ProjectionError::Internal(format!(
                "a series record has {} bytes, not {}",
                v.len(),
                FIELDS * 8
            )));
        }
        Ok(Self::from_fields(std::array::from_fn(|i| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[i * 8..i * 8 + 8]);
            i64::from_be_bytes(b)
        })))
    }
}

/// The changes a batch makes to the day counters.
#[derive(Debug, Default)]
pub(crate) struct SeriesDelta(BTreeMap<Date, DayCounts>);

impl SeriesDelta {
    /// Adds (`sign` 1) or removes (`sign` -1) one cooperative's contribution.
    pub(crate) fn change(&mut self, s: &CoopState, sign: i64) {
        let mut at = |d: Date, f: &dyn Fn(&mut DayCounts)| {
            let mut one = DayCounts::default();
            f(&mut one);
            let signed = DayCounts::from_fields(one.fields().map(|v| v * sign));
            self.0.entry(d).or_default().add(&signed);
        };
        for h in s.past_halts.iter().chain(s.open_halt.iter()) {
            let w = i64::from(h.workers_affected);
            at(h.since, &|c| {
                c.halts = 1;
                c.workers_idled_change = w;
            });
            if let Some(until) = h.until {
                at(until, &|c| c.workers_idled_change = -w);
            }
        }
        for d in &s.resumptions {
            at(*d, &|c| c.resumptions = 1);
        }
        for r in &s.reorientations {
            at(r.effective_on, &|c| c.reorientations = 1);
        }
        for l in &s.support {
            let amount = l.amount_centimes.unwrap_or(0);
            at(l.granted_on, &|c| {
                c.support_grants = 1;
                c.support_centimes = amount;
            });
        }
    }

    /// Writes the changed days into `batch`, reading their stored counters from `tree`.
    pub(crate) fn write(
        self,
        tree: &sled::Tree,
        batch: &mut sled::Batch,
    ) -> Result<(), ProjectionError> {
        for (day, delta) in self.0 {
            if delta.is_zero() {
                continue;
            }
            let key = series_key(day);
            let mut counts = match tree.get(&key)? {
                Some(v) => DayCounts::decode(&v)?,
                None => DayCounts::default(),
            };
            counts.add(&delta);
            if counts.is_zero() {
                batch.remove(key);
            } else {
                batch.insert(key, counts.encode());
            }
        }
        Ok(())
    }
}

/// Most buckets one series may hold (ten years of days).
pub const MAX_BUCKETS: usize = 3660;

impl Projection {
    /// The counters between `from` and `to` (both included) in `bucket`s, every bucket present
    /// (zeros included); at most [`MAX_BUCKETS`] buckets.
    pub fn series(
        &self,
        from: Date,
        to: Date,
        bucket: Bucket,
    ) -> Result<Vec<SeriesPoint>, ProjectionError> {
        let mut points = Vec::new();
        let mut start = bucket.start(from);
        while start <= to && points.len() < MAX_BUCKETS {
            points.push(SeriesPoint {
                start,
                halts: 0,
                resumptions: 0,
                reorientations: 0,
                workers_idled: 0,
                support_grants: 0,
                support_centimes: 0,
            });
            start = bucket.next(start);
        }
        if points.is_empty() {
            return Ok(points);
        }
        let mut idled: i64 = 0;
        let mut i = 0;
        for kv in self.tree.range(series_prefix()..series_key(to.add_days(1))) {
            let (k, v) = kv?;
            let Some(day) = series_day(&k) else {
                continue;
            };
            // Buckets that end before this day are complete: their stock is known.
            while i < points.len() && day >= bucket.next(points[i].start) {
                points[i].workers_idled = idled.max(0) as u64;
                i += 1;
            }
            let c = DayCounts::decode(&v)?;
            idled = idled.saturating_add(c.workers_idled_change);
            if let Some(p) = points.get_mut(i).filter(|p| day >= p.start) {
                p.halts += c.halts.max(0) as u64;
                p.resumptions += c.resumptions.max(0) as u64;
                p.reorientations += c.reorientations.max(0) as u64;
                p.support_grants += c.support_grants.max(0) as u64;
                p.support_centimes = p.support_centimes.saturating_add(c.support_centimes);
            }
        }
        for p in points.iter_mut().skip(i) {
            p.workers_idled = idled.max(0) as u64;
        }
        Ok(points)
    }
}
