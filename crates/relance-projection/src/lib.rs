//! The projection: folds the event log into disposable views in sled.
//!
//! The views, indexes, summary and checkpoint share one sled tree (layout in the
//! `keys` module). Every batch of events is written with one `apply_batch`, checkpoint included, so
//! a crash leaves the views exactly at some checkpoint. Events at or below the checkpoint are
//! skipped, so none is ever applied twice. [`Projection::digest`] hashes the whole tree in key
//! order: deleting the views and replaying gives the same digest.
//!
//! Modules: `keys` (key layout), `history` (histories read from the log, or kept), `apply` (prepare and apply batches), `quarantine` (broken
//! chains), `read` (get, list, summary, history), `time_travel` (state and summary at a past
//! point), `snapshot` (the summary snapshots SummaryAt starts from), `series` (counters per
//! business day), `digest` (digest and chain heads), `follow`
//! (the [`run`] loop), `merkle` (the transparency log's Merkle tree over every event, its proofs),
//! `serving` (the projection a node serves, switched after a rebuild), `compact` (a rebuild's
//! views copied into a fresh directory, each record once).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use relance_domain::{CoopId, Summary};
use relance_log::LogError;
use tokio::sync::watch;

mod apply;
mod compact;
mod digest;
mod follow;
mod history;
mod keys;
mod merkle;
mod quarantine;
mod read;
mod series;
mod serving;
mod snapshot;
mod time_travel;

pub use apply::{Prepared, PreparedBatch};
pub use compact::Compacted;
pub use digest::{DigestAt, Heads};
pub use follow::run;
pub use history::{HistorySource, LogHistory};
pub use merkle::cost::write_tree_alone;
pub use merkle::ProofError;
pub use quarantine::{Poison, Quarantine, QuarantinedCoop};
pub use read::Page;
/// The query values the projection answers live in the domain (`relance_domain::query`).
pub use relance_domain::{AsOf, ChainHead, Filter, HistoryItem, Retraction};
pub use relance_domain::{Bucket, SeriesPoint};
pub use relance_domain::{Consistency, Inclusion, TreeHead};
pub use series::MAX_BUCKETS;
pub use serving::Serving;
pub use snapshot::SNAPSHOT_EVERY;
pub use time_travel::SummaryAt;

use history::{Histories, HISTORY_IN_LOG, LAYOUT_KEY};
use keys::{CHECKPOINT_KEY, SUMMARY_KEY};

/// sled's page cache for the views (its default, 1 GiB, dominated the projection's memory).
const CACHE_BYTES: u64 = 40 * 1024 * 1024;
/// Most events applied in one sled batch.
pub const MAX_BATCH: usize = 2048;
/// Most cooperative views kept decoded in memory (a province has a few thousand; the national
/// register 35,000).
const STATE_CACHE_ENTRIES: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("event at position {position} cannot be decoded: {detail}")]
    Decode { position: u64, detail: String },
    #[error("stored view cannot be read: {0}")]
    View(#[from] serde_json::Error),
    #[error("stored view cannot be read or written: {0}")]
    ViewBytes(postcard::Error),
    #[error("summary snapshot cannot be read or written: {0}")]
    Snapshot(postcard::Error),
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// Views written in another layout than the one asked for; the message names the way out.
    #[error("{0}")]
    Layout(String),
    /// A failure of the projection itself rather than of an event or of storage: a lock
    /// poisoned by a panic, a blocking task that panicked or was cancelled. The message names
    /// what failed.
    #[error("projection internal failure: {0}")]
    Internal(String),
}

/// The projection's views, readable from any thread while one task applies events.
pub struct Projection {
    db: sled::Db,
    tree: sled::Tree,
    summary: RwLock<Summary>,
    checkpoint: watch::Sender<u64>,
    /// Held while a batch is applied and while a digest is taken, so a digest is always the
    /// digest of exactly one checkpoint.
    apply_lock: Mutex<()>,
    /// The views last written, as stored (postcard), so neither a batch nor a `Get` looks
    /// them up in sled again (at most [`STATE_CACHE_ENTRIES`]; emptied when full). Written
    /// only after the batch that stored the same views, under `apply_lock`. Kept encoded: a
    /// decoded view weighs several times its bytes, and 35,000 decoded views took about 50 MB
    /// of a national catch-up's memory (docs/performance.md, "National scale").
    states: Mutex<HashMap<CoopId, sled::IVec>>,
    /// Bumped, under the `states` lock, each time a batch changes `states`: a `get` that read a
    /// view from sled puts it in `states` only if no batch changed them since (`read.rs`).
    states_epoch: AtomicU64,
    /// Quarantined cooperatives (the `q` keys), read once at open.
    quarantined: Mutex<HashSet<CoopId>>,
    /// The Merkle tree's compact state at the checkpoint (`merkle` module), replaced under
    /// `apply_lock` after the batch that stored it.
    merkle: Mutex<relance_tlog::CompactTree>,
    /// How many poison messages (the `p` keys) were recorded.
    poison_count: AtomicU64,
    /// Where histories are kept or read (`history` module).
    histories: Histories,
    /// Summary snapshots for SummaryAt (`snapshot` module), changed under `apply_lock`.
    snapshots: Mutex<snapshot::Snapshots>,
}

impl Projection {
    /// Opens (or creates) views in `dir` that keep each cooperative's history themselves: for a
    /// projection with no log behind it (the offline replay of an export, tests).
    pub fn open(dir: impl AsRef<Path>) -> Result<Arc<Self>, ProjectionError> {
        Self::open_with(dir.as_ref(), Histories::InViews)
    }

    /// Opens (or creates) a node's views in `dir`, which read histories from `source` (the log
    /// they follow) instead of keeping a copy. Views written by [`open`](Self::open) (or before
    /// this layout) hold that copy and are refused with the way out: a rebuild.
    pub fn open_over_log(
        dir: impl AsRef<Path>,
        source: Arc<dyn HistorySource>,
    ) -> Result<Arc<Self>, ProjectionError> {
        Self::open_with(dir.as_ref(), Histories::InLog(source))
    }

    fn open_with(dir: &Path, histories: Histories) -> Result<Arc<Self>, ProjectionError> {
        let db = relance_log_sled::open_db_with_cache(dir, CACHE_BYTES)?;
        let tree = db.open_tree(compact::VIEWS_TREE)?;
        check_layout(&tree, &histories, dir)?;
        let checkpoint = match tree.get(CHECKPOINT_KEY)? {
            Some(v) => v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0),
            None => 0,
        };
        let summary = match tree.get(SUMMARY_KEY)? {
            Some(v) => serde_json::from_slice(&v)?,
            None => Summary::default(),
        };
        let in_log = matches!(histories, Histories::InLog(_));
        let snapshots = Mutex::new(snapshot::Snapshots::load(&tree, in_log, checkpoint)?);
        let (checkpoint, _) = watch::channel(checkpoint);
        let merkle = Mutex::new(merkle::load(&tree)?);
        let mut quarantined = HashSet::new();
        for kv in tree.scan_prefix([b'q']) {
            let (k, _) = kv?;
            if let Ok(id) = CoopId::parse(&String::from_utf8_lossy(&k[1..])) {
                quarantined.insert(id);
            }
        }
        let poison_count = tree.scan_prefix([b'p']).count() as u64;
        Ok(Arc::new(Self {
            poison_count: AtomicU64::new(poison_count),
            db,
            tree,
            summary: RwLock::new(summary),
            checkpoint,
            apply_lock: Mutex::new(()),
            states: Mutex::new(HashMap::new()),
            states_epoch: AtomicU64::new(0),
            quarantined: Mutex::new(quarantined),
            merkle,
            histories,
            snapshots,
        }))
    }

    /// Position of the last applied event.
    pub fn checkpoint(&self) -> u64 {
        *self.checkpoint.borrow()
    }

    /// Waits until the checkpoint reaches `position`, at most `timeout`. Returns the checkpoint.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, u64> {
        let mut rx = self.checkpoint.subscribe();
        let reached = match tokio::time::timeout(timeout, rx.wait_for(|c| *c >= position)).await {
            Ok(Ok(c)) => Some(*c),
            _ => None,
        };
        reached.ok_or_else(|| self.checkpoint())
    }

    /// Flushes the views to disk (the checkpoint is flushed with them).
    pub async fn flush(&self) -> Result<(), ProjectionError> {
        let tree = self.tree.clone();
        tokio::task::spawn_blocking(move || tree.flush())
            .await
            .map_err(|e| join_failure("flushing the views", &e))??;
        Ok(())
    }

    /// Bytes the projection's sled database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// Refuses views whose layout is not the one asked for (histories in the log or in the
/// views), naming the way out; marks empty views with the layout asked for.
fn check_layout(
    tree: &sled::Tree,
    histories: &Histories,
    dir: &Path,
) -> Result<(), ProjectionError> {
    let in_log = matches!(histories, Histories::InLog(_));
    let marked = tree
        .get(LAYOUT_KEY)?
        .is_some_and(|v| v.as_ref() == HISTORY_IN_LOG);
    let empty = tree.get(CHECKPOINT_KEY)?.is_none();
    if empty {
        if in_log && !marked {
            tree.insert(LAYOUT_KEY, HISTORY_IN_LOG)?;
        }
        return Ok(());
    }
    if in_log != marked {
        let (has, wants) = if marked {
            ("read histories from the log", "keep them in the views")
        } else {
            (
                "keep a copy of every history",
                "read histories from the log",
            )
        };
        return Err(ProjectionError::Layout(format!(
            "the views in {} {has}, and this projection would {wants}: run `relance projection rebuild`",
            dir.display()
        )));
    }
    Ok(())
}

/// The error for a lock that a panicking thread left poisoned; `what` names the lock.
fn poisoned(what: &str) -> ProjectionError {
    ProjectionError::Internal(format!("the {what} lock was poisoned by a panic"))
}

/// The error for a blocking task that did not finish; `what` names its job.
fn join_failure(what: &str, e: &tokio::task::JoinError) -> ProjectionError {
    ProjectionError::Internal(format!("the task {what} failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock poisoned by a panic is reported as an internal failure naming the lock, not as
    /// an event that cannot be decoded.
    #[test]
    fn a_poisoned_lock_is_an_internal_failure_naming_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let projection = Projection::open(dir.path()).expect("open the views");
        let p = projection.clone();
        let panicked = std::thread::spawn(move || {
            let _held = p.summary.write().expect("summary lock");
            panic!("poison the summary lock");
        })
        .join();
        assert!(panicked.is_err());
        let err = projection
            .list(&Filter::default(), 10, None)
            .expect_err("a poisoned summary lock fails the list");
        assert!(matches!(err, ProjectionError::Internal(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "projection internal failure: the summary lock was poisoned by a panic"
        );
    }
}
