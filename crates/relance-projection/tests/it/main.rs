//! Integration tests of the projection: batching and restarts, replay from the log, the
//! province summary, list queries, histories with retractions, chain heads and digests at a
//! checkpoint, summary snapshots for SummaryAt, and the `run` task.
//!
//! Histories are built as the command service builds them (`stream.rs`): `decide` against
//! each cooperative's aggregate, then `encode_envelope` into the `StoredEvent`s the log
//! returns. The oracle for every view is the domain's own `fold` over each cooperative's
//! events, and for the summary the sum of those states' contributions.

mod follow;
mod heads;
mod history;
mod listing;
mod merkle;
mod over_log;
mod poison;
mod replay;
mod series;
mod serving;
mod snapshots;
mod stream;
mod summary;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fs2::FileExt;

use relance_domain::{fold, CoopState, Recorded, Summary};
use relance_log::{AppendRequest, EventLog, StoredEvent};
use relance_projection::Projection;

/// Opens the projection's views in `dir`.
pub fn open(dir: &Path) -> Arc<Projection> {
    Projection::open(dir).expect("open the projection's views")
}

/// Waits until the projection dropped a moment ago in this process has let go of `dir`.
///
/// sled 0.34 releases its exclusive lock on `<dir>/db` from background threads after the
/// last handle is dropped (spacejam/sled#1234), so an immediate reopen may be refused with
/// `WouldBlock`. Rather than sleeping, wait for the lock itself: take it, blocking, on another
/// thread, then release it.
pub fn wait_released(dir: &Path) {
    let db_file = dir.join("db");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let locked = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&db_file)
            .and_then(|file| file.lock_exclusive().map(|()| file));
        // Dropping the file releases the lock.
        let _sent = tx.send(locked.map(drop));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the dropped projection releases its lock")
        .expect("lock the views' database file");
}

/// Reopens views whose projection was dropped a moment ago in this process.
pub fn reopen(dir: &Path) -> Arc<Projection> {
    wait_released(dir);
    open(dir)
}

/// A projection in its own temporary directory (the directory outlives the projection).
pub struct Views {
    pub projection: Arc<Projection>,
    _dir: tempfile::TempDir,
}

impl Views {
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self {
            projection: open(&dir.path().join("views")),
            _dir: dir,
        }
    }

    /// Fresh views with the whole history applied in one batch.
    pub fn replayed(events: &[StoredEvent]) -> Self {
        let views = Self::empty();
        views
            .projection
            .apply(events)
            .expect("apply the whole history");
        views
    }
}

impl std::ops::Deref for Views {
    type Target = Projection;
    fn deref(&self) -> &Projection {
        &self.projection
    }
}

/// Each cooperative's state, folded by the domain from its events in `events`.
pub fn expected_states(events: &[StoredEvent]) -> BTreeMap<String, CoopState> {
    let mut histories: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
    for e in events {
        let envelope =
            relance_proto::decode_envelope(&e.payload).expect("generated payloads decode");
        histories
            .entry(e.cooperative_id.to_string())
            .or_default()
            .push(Recorded {
                position: e.position,
                envelope,
            });
    }
    histories
        .into_iter()
        .filter_map(|(id, history)| fold(&history).map(|s| (id, s)))
        .collect()
}

/// The province summary as the sum of every state's contribution.
pub fn expected_summary(states: &BTreeMap<String, CoopState>) -> Summary {
    let mut summary = Summary::default();
    for s in states.values() {
        summary.add(s);
    }
    summary
}

/// Asserts that every view, the summary and the checkpoint are those of `events`.
pub fn assert_views_are_those_of(projection: &Projection, events: &[StoredEvent]) {
    let states = expected_states(events);
    for (id, state) in &states {
        let view = projection.get(id).expect("read a view");
        assert_eq!(view.as_ref(), Some(state), "view of {id}");
    }
    assert_eq!(projection.summary(), expected_summary(&states), "summary");
    assert_eq!(
        projection.checkpoint(),
        events.last().map_or(0, |e| e.position),
        "checkpoint"
    );
}

/// Appends `events` to `log` as the command service would (with the expected version), checking each lands at the
/// position and version it was generated with.
pub async fn append_to_log(log: &dyn EventLog, events: &[StoredEvent]) {
    for e in events {
        let appended = log
            .append(AppendRequest {
                cooperative_id: e.cooperative_id.clone(),
                expected_version: e.version - 1,
                request_id: e.request_id.clone(),
                event_id: e.event_id.clone(),
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                payload: e.payload.clone(),
            })
            .await
            .expect("append to the log");
        assert_eq!(
            (appended.position, appended.version, appended.duplicate),
            (e.position, e.version, false),
            "append of {}",
            e.event_id
        );
    }
}

/// Reads the log from the projection's checkpoint, `max` events at a time, and applies them.
pub async fn replay_from_log(projection: &Projection, log: &dyn EventLog, max: usize) {
    loop {
        let batch = log
            .read_from(projection.checkpoint() + 1, max)
            .await
            .expect("read the log");
        if batch.is_empty() {
            return;
        }
        projection
            .apply(&batch)
            .expect("apply a batch read from the log");
    }
}
