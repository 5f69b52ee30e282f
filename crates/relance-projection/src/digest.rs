//! Digests and chain heads of the views, each taken at exactly one checkpoint.

use relance_domain::{CoopState, Hash};
use sha2::{Digest, Sha256};

use crate::{poisoned, Projection, ProjectionError};

impl Projection {
    /// The head of every cooperative chain (id, version, position, hash) at the checkpoint,
    /// with the checkpoint, taken with no batch in between. Quarantined cooperatives are left
    /// out: their views stopped at their last good event.
    #[allow(clippy::type_complexity)]
    pub fn heads_at_checkpoint(
        &self,
    ) -> Result<(u64, Vec<(String, u64, u64, Hash)>), ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned("apply"))?;
        let mut heads = Vec::new();
        for kv in self.tree.scan_prefix([b'v']) {
            let (_, v) = kv?;
            let s: CoopState = serde_json::from_slice(&v)?;
            if self.quarantine(s.id.as_str())?.is_none() {
                heads.push((s.id.to_string(), s.version, s.last_position, s.last_hash));
            }
        }
        Ok((self.checkpoint(), heads))
    }

    /// [`digest`](Self::digest) and the checkpoint it was taken at, with no batch in between.
    pub fn digest_at_checkpoint(&self) -> Result<(String, u64), ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned("apply"))?;
        Ok((self.digest()?, self.checkpoint()))
    }

    /// SHA-256 over every key and value of the views in key order (lengths prefixed), hex.
    pub fn digest(&self) -> Result<String, ProjectionError> {
        let mut h = Sha256::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            h.update((k.len() as u64).to_be_bytes());
            h.update(&k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(&v);
        }
        Ok(hex::encode(h.finalize()))
    }
}
