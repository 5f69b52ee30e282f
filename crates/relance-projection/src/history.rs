//! Where a cooperative's history is read from: the event log itself (a node's projection), or
//! history records the views keep (a scratch projection with no log behind it: the offline
//! replay of an export, the tests).
//!
//! A node's projection owns only what it alone answers quickly (views, indexes, summary, time
//! series, the Merkle tree); History, StateAt and SummaryAt read the cooperative's events from
//! the log (embedded: its per-cooperative index; JetStream: a subject-filtered read) and fold
//! them with the domain's own code, so the log's events are not stored a second time
//! (docs/performance.md, "National scale"). The answers are the same either way: the history
//! is cut at the checkpoint, so it never runs ahead of the views.

use std::sync::Arc;

use relance_domain::{CoopId, Recorded};
use relance_log::{EventLog, LogError, StoredEvent};

use crate::keys::{decode_stored, history_key, history_value};
use crate::ProjectionError;

/// Reads stored events from the log: one cooperative's in version order, or a range of
/// positions. Called from the projection's blocking threads (applying a batch, answering a
/// query off the async runtime).
pub trait HistorySource: Send + Sync {
    /// Every stored event of `id`, in version order (the log's own read).
    fn cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError>;

    /// Every stored event at positions `from..=to`, in position order (SummaryAt reads what
    /// follows a summary snapshot this way, see `snapshot`).
    fn range(&self, from: u64, to: u64) -> Result<Vec<StoredEvent>, LogError>;
}

/// Events read at a time by [`LogHistory::range`].
const RANGE_PAGE: usize = 1024;

/// An [`EventLog`] read from blocking threads, on the runtime it was opened on.
pub struct LogHistory {
    log: Arc<dyn EventLog>,
    runtime: tokio::runtime::Handle,
}

impl LogHistory {
    /// Reads `log` on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self {
            log,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Waits for `read` on the log's runtime, from a blocking thread or a runtime worker.
    fn wait<T>(&self, read: impl std::future::Future<Output = T>) -> T {
        match tokio::runtime::Handle::try_current() {
            // On a worker thread of a multi-threaded runtime: let the runtime move its other
            // tasks away while this one waits.
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.runtime.block_on(read))
            }
            // A blocking thread, or a thread of no runtime.
            _ => self.runtime.block_on(read),
        }
    }
}

impl HistorySource for LogHistory {
    fn cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError> {
        self.wait(self.log.read_cooperative(id))
    }

    fn range(&self, from: u64, to: u64) -> Result<Vec<StoredEvent>, LogError> {
        let mut events = Vec::new();
        let mut next = from;
        while next <= to {
            let page = self.wait(self.log.read_from(next, RANGE_PAGE))?;
            let Some(last) = page.last().map(|e| e.position) else {
                break;
            };
            events.extend(page.into_iter().filter(|e| e.position <= to));
            if last >= to {
                break;
            }
            next = last + 1;
        }
        Ok(events)
    }
}

/// Where the projection keeps or finds histories.
pub(crate) enum Histories {
    /// `h` records in the views (see `keys`), written with each batch.
    InViews,
    /// Read from the log when asked; nothing written.
    InLog(Arc<dyn HistorySource>),
}

/// Marks views whose histories live in the log (they hold no `h` records). Not part of the
/// views' digest: it says how they are stored, not what they are.
pub(crate) const LAYOUT_KEY: &[u8] = b"m:layout";
/// The value of [`LAYOUT_KEY`].
pub(crate) const HISTORY_IN_LOG: &[u8] = b"history-in-log";

impl Histories {
    /// Adds the history record of an applied event to `batch`, when histories live in the views.
    pub(crate) fn record(&self, batch: &mut sled::Batch, rec: &Recorded, payload: &[u8]) {
        if let Histories::InViews = self {
            batch.insert(
                history_key(rec.envelope.cooperative_id.as_str(), rec.envelope.version),
                history_value(rec.position, payload),
            );
        }
    }
}

/// The stored events of `id` the log holds at or below position `checkpoint` and version
/// `version`: the history the views were folded from, as the log stores it.
pub(crate) fn from_log(
    source: &dyn HistorySource,
    id: &CoopId,
    checkpoint: u64,
    version: u64,
) -> Result<Vec<StoredEvent>, ProjectionError> {
    let mut events = source.cooperative(id)?;
    events.retain(|e| e.position <= checkpoint && e.version <= version);
    Ok(events)
}

/// Stored events, decoded.
pub(crate) fn decoded(events: Vec<StoredEvent>) -> Result<Vec<Recorded>, ProjectionError> {
    events
        .iter()
        .map(|e| decode_stored(e.position, &e.payload))
        .collect()
}
