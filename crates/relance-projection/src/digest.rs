//! Digests and chain heads of the views, each taken at exactly one checkpoint.

use relance_domain::{ChainHead, CoopState};
use sha2::{Digest, Sha256};

use crate::{poisoned, Projection, ProjectionError};

/// The head of every cooperative chain at one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heads {
    /// The checkpoint the heads were taken at.
    pub position: u64,
    /// One head per cooperative that is not quarantined, in id order.
    pub chains: Vec<ChainHead>,
}

/// The views' [`digest`](Projection::digest) and the checkpoint it was taken at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAt {
    pub digest: String,
    pub position: u64,
}

impl Projection {
    /// The head of every cooperative chain at the checkpoint, with the checkpoint, taken with
    /// no batch in between. Quarantined cooperatives are left out: their views stopped at their
    /// last good event.
    pub fn heads_at_checkpoint(&self) -> Result<Heads, ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned("apply"))?;
        let mut chains = Vec::new();
        for kv in self.tree.scan_prefix([b'v']) {
            let (_, v) = kv?;
            let s: CoopState = serde_json::from_slice(&v)?;
            if self.quarantine(s.id.as_str())?.is_none() {
                chains.push(ChainHead {
                    cooperative_id: s.id.to_string(),
                    version: s.version,
                    last_position: s.last_position,
                    hash: s.last_hash,
                });
            }
        }
        Ok(Heads {
            position: self.checkpoint(),
            chains,
        })
    }

    /// [`digest`](Self::digest) and the checkpoint it was taken at, with no batch in between.
    pub fn digest_at_checkpoint(&self) -> Result<DigestAt, ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned("apply"))?;
        Ok(DigestAt {
            digest: self.digest()?,
            position: self.checkpoint(),
        })
    }

    /// SHA-256 over every key and value of the views in key order (lengths prefixed), hex.
    /// The Merkle tree's keys are left out: the digest is the views'.
    pub fn digest(&self) -> Result<String, ProjectionError> {
        let mut h = Sha256::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            if crate::merkle::is_tree_key(&k) {
                continue;
            }
            h.update((k.len() as u64).to_be_bytes());
            h.update(&k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(&v);
        }
        Ok(hex::encode(h.finalize()))
    }
}
