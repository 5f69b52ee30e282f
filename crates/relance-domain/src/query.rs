//! The questions asked of a history, as plain values: a past point ([`AsOf`]), a list filter
//! ([`Filter`]), a timeline entry with its retraction ([`HistoryItem`], [`timeline`]) and a
//! chain head ([`ChainHead`]), the transparency log's head and proofs ([`TreeHead`],
//! [`Inclusion`], [`Consistency`]). The projection answers them; `relance-proto` converts them.

use std::collections::HashMap;

use crate::{fold, CoopState, Date, Event, Hash, Recorded, Sector, Status};

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

/// Filters of a list query; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub sector: Option<Sector>,
    pub status: Option<Status>,
    pub commune: Option<String>,
}

/// An event of a cooperative's history, with its retraction if one names it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    pub recorded: Recorded,
    pub retracted_by: Option<Retraction>,
}

/// Who retracted an event, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraction {
    pub event_id: String,
    pub reason: String,
    pub principal: String,
    pub recorded_at_ms: i64,
}

/// A cooperative's events in version order, each with the retraction that names it, if any.
pub fn timeline(records: &[Recorded]) -> Vec<HistoryItem> {
    let retractions: HashMap<&str, Retraction> = records
        .iter()
        .filter_map(|r| match &r.envelope.event {
            Event::EventRetracted(e) => Some((
                e.retracted_event_id.as_str(),
                Retraction {
                    event_id: r.envelope.event_id.clone(),
                    reason: e.reason.clone(),
                    principal: r.envelope.actor.principal.clone(),
                    recorded_at_ms: r.envelope.recorded_at_ms,
                },
            )),
            _ => None,
        })
        .collect();
    records
        .iter()
        .map(|r| HistoryItem {
            recorded: r.clone(),
            retracted_by: retractions.get(r.envelope.event_id.as_str()).cloned(),
        })
        .collect()
}

/// The last event of one cooperative's hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub cooperative_id: String,
    /// The cooperative's version: the number of its events.
    pub version: u64,
    /// Log position of its last event.
    pub last_position: u64,
    /// Hash of its last event.
    pub hash: Hash,
}

/// The tree's size and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: [u8; 32],
}

/// An inclusion proof, with the leaf hash (SHA-256(0x00 ‖ the event's hash)) and the tree's
/// root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    pub position: u64,
    pub leaf_hash: [u8; 32],
    pub head: TreeHead,
    pub path: Vec<[u8; 32]>,
}

/// A consistency proof between two tree heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consistency {
    pub old: TreeHead,
    pub new: TreeHead,
    pub path: Vec<[u8; 32]>,
}
