//! Time travel: a cooperative's state and the province summary as known at a past point.

use relance_domain::{fold, AsOf, CoopId, CoopState, Recorded, Summary};

use crate::history::Histories;
use crate::keys::decode_history_value;
use crate::{Projection, ProjectionError};

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
    /// Views over the log start from a summary snapshot when one serves (`snapshot` module)
    /// and otherwise fold every cooperative's history, as views keeping histories do.
    pub fn summary_at(&self, as_of: &AsOf) -> Result<SummaryAt, ProjectionError> {
        let mut at = SummaryAt {
            summary: Summary::default(),
            position: 0,
        };
        match &self.histories {
            Histories::InViews => {
                let mut current: Option<CoopId> = None;
                let mut history: Vec<Recorded> = Vec::new();
                for kv in self.tree.scan_prefix([b'h']) {
                    let rec = decode_history_value(&kv?.1)?;
                    if current.as_ref() != Some(&rec.envelope.cooperative_id) {
                        at.count(as_of, &std::mem::take(&mut history));
                        current = Some(rec.envelope.cooperative_id.clone());
                    }
                    history.push(rec);
                }
                at.count(as_of, &history);
            }
            Histories::InLog(source) => {
                if let Some(answer) = self.summary_from_snapshot(source.as_ref(), as_of)? {
                    return Ok(answer);
                }
                for kv in self.tree.scan_prefix([b'v']) {
                    let (k, _) = kv?;
                    let id = String::from_utf8_lossy(&k[1..]).into_owned();
                    at.count(as_of, &self.history_records(&id)?);
                }
            }
        }
        Ok(at)
    }
}

impl SummaryAt {
    /// Adds what one cooperative's `history` says at `as_of`.
    pub(crate) fn count(&mut self, as_of: &AsOf, history: &[Recorded]) {
        let known: Vec<&Recorded> = history.iter().filter(|r| as_of.includes(r)).collect();
        self.position = known
            .iter()
            .map(|r| r.position)
            .fold(self.position, u64::max);
        if let Some(s) = fold(known.iter().copied()) {
            self.summary.add(&s);
        }
    }
}
