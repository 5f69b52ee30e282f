//! Time travel: a cooperative's state and the province summary as known at a past point.

use relance_domain::{fold, CoopId, CoopState, Date, Recorded, Summary};

use crate::keys::decode_history_value;
use crate::{Projection, ProjectionError};

/// A past point of the history, for time travel: an event counts when it was recorded at or
/// before `recorded_at_ms` (or lies at or below `position`) and, with `business_date`, when
/// the fact's business date is on or before it. Retractions count by their recording alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsOf {
    pub recorded_at_ms: Option<i64>,
    pub position: Option<u64>,
    pub business_date: Option<Date>,
}

impl AsOf {
    /// Whether the event was part of what was known at this point.
    pub fn includes(&self, rec: &Recorded) -> bool {
        let env = &rec.envelope;
        self.recorded_at_ms.is_none_or(|t| env.recorded_at_ms <= t)
            && self.position.is_none_or(|p| rec.position <= p)
            && match (self.business_date, env.event.business_date()) {
                (Some(b), Some(d)) => d <= b,
                _ => true,
            }
    }

    /// The state folded from the part of `history` known at this point.
    pub fn fold(&self, history: &[Recorded]) -> Option<CoopState> {
        let known: Vec<&Recorded> = history.iter().filter(|r| self.includes(r)).collect();
        fold(known.iter().copied())
    }
}

/// The province summary as known at a past point (see [`Projection::summary_at`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryAt {
    pub summary: Summary,
    /// Position of the last event the summary counts (0 when it counts none).
    pub position: u64,
}

impl Projection {
    /// A cooperative's state as known at `as_of` (`None` when it did not exist then).
    pub fn state_at(&self, id: &str, as_of: &AsOf) -> Result<Option<CoopState>, ProjectionError> {
        Ok(as_of.fold(&self.history_records(id)?))
    }

    /// The province summary as known at `as_of`, and the position of the last event it counts.
    pub fn summary_at(&self, as_of: &AsOf) -> Result<SummaryAt, ProjectionError> {
        let mut summary = Summary::default();
        let mut position = 0;
        let mut current: Option<CoopId> = None;
        let mut history: Vec<Recorded> = Vec::new();
        let mut flush = |history: &mut Vec<Recorded>, position: &mut u64| {
            let known: Vec<&Recorded> = history.iter().filter(|r| as_of.includes(r)).collect();
            *position = known.iter().map(|r| r.position).fold(*position, u64::max);
            if let Some(s) = fold(known.iter().copied()) {
                summary.add(&s);
            }
            history.clear();
        };
        for kv in self.tree.scan_prefix([b'h']) {
            let rec = decode_history_value(&kv?.1)?;
            if current.as_ref() != Some(&rec.envelope.cooperative_id) {
                flush(&mut history, &mut position);
                current = Some(rec.envelope.cooperative_id.clone());
            }
            history.push(rec);
        }
        flush(&mut history, &mut position);
        Ok(SummaryAt { summary, position })
    }
}
