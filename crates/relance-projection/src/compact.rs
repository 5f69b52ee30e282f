//! Compacting views: every record copied, in key order, into a fresh sled database.
//!
//! sled 0.34 keeps the superseded versions of a rewritten record until it cleans the segment
//! that holds them, and a rebuild rewrites each cooperative's view once per batch it appears
//! in, far faster than sled cleans: views just rebuilt take several times the bytes they hold.
//! A rebuild therefore ends by copying its views into a fresh directory, which then holds each
//! record once (docs/performance.md, "National scale").

use std::path::Path;

use crate::{poisoned, Projection, ProjectionError, CACHE_BYTES};

/// Records copied per sled batch.
const COPY_BATCH: usize = 8192;

/// What [`Projection::compact_into`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The checkpoint of the copy.
    pub position: u64,
    /// Records (keys) copied.
    pub records: u64,
    /// Bytes of the keys and values copied.
    pub bytes: u64,
    /// Bytes the copy occupies on disk, flushed.
    pub size_on_disk: u64,
}

impl Projection {
    /// Copies every record of the views, at one checkpoint (no batch is applied meanwhile),
    /// into a fresh database in `to`, and flushes it. Opening `to` then gives the same views
    /// (same digest, checkpoint, Merkle tree and snapshots) in fewer bytes. `to` must hold no
    /// views: a copy never merges into others.
    pub fn compact_into(&self, to: &Path) -> Result<Compacted, ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned("apply"))?;
        let db = relance_log_sled::open_db_with_cache(to, CACHE_BYTES)?;
        let tree = db.open_tree(VIEWS_TREE)?;
        if !tree.is_empty() {
            return Err(ProjectionError::Layout(format!(
                "{} already holds views: compacting copies only into an empty directory",
                to.display()
            )));
        }
        let (mut records, mut bytes) = (0u64, 0u64);
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            bytes += (k.len() + v.len()) as u64;
            batch.insert(k, v);
            records += 1;
            pending += 1;
            if pending == COPY_BATCH {
                tree.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        Ok(Compacted {
            position: self.checkpoint(),
            records,
            bytes,
            size_on_disk: db.size_on_disk()?,
        })
    }
}

/// The sled tree that holds the views.
pub(crate) const VIEWS_TREE: &str = "views";
