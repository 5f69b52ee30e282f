//! Quarantine: how a broken hash chain is recognised, which cooperatives it stopped, and the
//! poison messages (stored messages that are not relance events) the projection skipped.

use relance_domain::{CoopState, Hash, Recorded};

use crate::keys::quarantine_key;
use crate::{Projection, ProjectionError};

/// Why a cooperative's later events are not applied: the event at `position` broke its
/// chain, or (with an empty `event_id` and version 0) the message there was not a relance
/// event at all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quarantine {
    pub version: u64,
    pub position: u64,
    pub event_id: String,
    pub reason: String,
}

impl Quarantine {
    /// What stopped the cooperative, in words.
    pub fn describe(&self) -> String {
        if self.event_id.is_empty() {
            format!(
                "the message at position {} is not a relance event: {}",
                self.position, self.reason
            )
        } else {
            format!(
                "its hash chain breaks at version {} (position {}, event {}): {}",
                self.version, self.position, self.event_id, self.reason
            )
        }
    }
}

/// A stored message the projection could not apply as an event (a payload that is not a
/// relance envelope, missing or wrong headers, a subject that names no cooperative or not the
/// envelope's): recorded at its position and skipped, so the projection goes on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Poison {
    pub position: u64,
    /// The cooperative it was stored under (then quarantined), when that can be told.
    pub cooperative_id: Option<String>,
    pub reason: String,
}

/// A quarantined cooperative and why (see [`Projection::quarantined`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedCoop {
    pub cooperative_id: String,
    pub quarantine: Quarantine,
}

/// Whether `rec` is the next link of the chain whose head is `current`; why not otherwise.
pub(crate) fn chain_break(
    current: Option<&CoopState>,
    rec: &Recorded,
    computed: Hash,
) -> Option<String> {
    let (version, head) = current.map_or((0, Hash::ZERO), |s| (s.version, s.last_hash));
    relance_domain::link_break(version, head, &rec.envelope, computed)
}

impl Projection {
    /// Why a cooperative is quarantined (its hash chain broke), if it is.
    pub fn quarantine(&self, id: &str) -> Result<Option<Quarantine>, ProjectionError> {
        match self.tree.get(quarantine_key(id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// How many poison messages the projection has recorded and skipped.
    pub fn poison_count(&self) -> u64 {
        self.poison_count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every poison message recorded, in position order.
    pub fn poison(&self) -> Result<Vec<Poison>, ProjectionError> {
        self.tree
            .scan_prefix([b'p'])
            .map(|kv| Ok(serde_json::from_slice(&kv?.1)?))
            .collect()
    }

    /// Every quarantined cooperative, in id order.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedCoop>, ProjectionError> {
        self.tree
            .scan_prefix([b'q'])
            .map(|kv| {
                let (k, v) = kv?;
                Ok(QuarantinedCoop {
                    cooperative_id: String::from_utf8_lossy(&k[1..]).into_owned(),
                    quarantine: serde_json::from_slice(&v)?,
                })
            })
            .collect()
    }
}
