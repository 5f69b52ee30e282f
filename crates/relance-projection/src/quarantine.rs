//! Quarantine: how a broken hash chain is recognised, and which cooperatives it stopped.

use relance_domain::{CoopState, Hash, Recorded};

use crate::keys::quarantine_key;
use crate::{Projection, ProjectionError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quarantine {
    pub version: u64,
    pub position: u64,
    pub event_id: String,
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
