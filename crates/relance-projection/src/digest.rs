//! Digests and chain heads of the views, each taken at exactly one checkpoint.

use relance_domain::ChainHead;
use sha2::{Digest, Sha256};

use crate::history::{self, Histories, LAYOUT_KEY};
use crate::keys::{decode_view, history_key, history_value};
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
            let s = decode_view(&v)?;
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
    /// The Merkle tree's keys, the layout mark and the summary snapshots are left out: the
    /// digest is the views'.
    ///
    /// Views that read histories from the log hash the history records they would hold (`h`
    /// keys, see `keys`), read from the log in their key order, so the digest is the same
    /// whichever layout wrote the views: an export replayed offline (histories in its scratch
    /// views) gives the live node's digest.
    pub fn digest(&self) -> Result<String, ProjectionError> {
        let mut h = Sha256::new();
        let mut add = |k: &[u8], v: &[u8]| {
            h.update((k.len() as u64).to_be_bytes());
            h.update(k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(v);
        };
        let mut histories_done = !matches!(self.histories, Histories::InLog(_));
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            if crate::merkle::is_tree_key(&k)
                || k.as_ref() == LAYOUT_KEY
                || crate::snapshot::is_snapshot_key(&k)
            {
                continue;
            }
            if !histories_done && k.as_ref() > HISTORY_KEYS_END {
                self.history_records_in_key_order(&mut add)?;
                histories_done = true;
            }
            if k.first() == Some(&b'v') {
                // Views are hashed as JSON, whatever encoding stores them, so the digest stays
                // what it was when views were stored as JSON.
                add(&k, &serde_json::to_vec(&decode_view(&v)?)?);
            } else {
                add(&k, &v);
            }
        }
        if !histories_done {
            self.history_records_in_key_order(&mut add)?;
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Gives `add` the history records views keeping histories would hold, in key order: each
    /// cooperative with a view, in id order, its events up to the view's version and the
    /// checkpoint.
    fn history_records_in_key_order(
        &self,
        add: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), ProjectionError> {
        let Histories::InLog(source) = &self.histories else {
            return Ok(());
        };
        let checkpoint = self.checkpoint();
        for kv in self.tree.scan_prefix([b'v']) {
            let (_, v) = kv?;
            let view = decode_view(&v)?;
            let events =
                match history::from_log(source.as_ref(), &view.id, checkpoint, view.version) {
                    Ok(events) => events,
                    // A quarantined cooperative's subject may hold a message the log cannot read;
                    // its digest cannot equal a replay's anyway (docs/audit.md).
                    Err(e) if self.quarantine(view.id.as_str())?.is_some() => {
                        tracing::warn!(cooperative = %view.id, error = %e,
                        "the history of a quarantined cooperative is left out of the digest");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            // The log's own version and position: the bytes are hashed, not decoded.
            for e in events {
                add(
                    &history_key(view.id.as_str(), e.version),
                    &history_value(e.position, &e.payload),
                );
            }
        }
        Ok(())
    }
}

/// Every history record's key sorts below this one (they start with `h`).
const HISTORY_KEYS_END: &[u8] = b"h\xff";
