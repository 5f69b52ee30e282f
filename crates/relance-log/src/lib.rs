//! The event log: the only source of truth.
//!
//! [`EventLog`] is the port every backend implements: append with an expected
//! per-cooperative version and an idempotency key, read one cooperative, read everything
//! from a global position, follow live. This crate holds no adapter: the embedded sled log
//! (`relance-log-sled`) and the JetStream log (`relance-log-nats`) are crates of their own, and
//! both pass [`conformance`] (feature `conformance`).

use async_trait::async_trait;
use futures::stream::BoxStream;
use relance_domain::CoopId;

pub mod retry;

#[cfg(feature = "conformance")]
pub mod conformance;

/// One event to append. The payload is opaque to the log (protobuf `relance.v1.Envelope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    pub cooperative_id: CoopId,
    /// The cooperative's current version as the writer saw it (0 for a new cooperative).
    /// The event becomes version `expected_version + 1`.
    pub expected_version: u64,
    /// Idempotency key, scoped to the cooperative: a second append with the same key writes
    /// nothing and answers the first result.
    pub request_id: String,
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Vec<u8>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Stream position of the event (of the first one, for a duplicate).
    pub position: u64,
    /// The cooperative's version this event carries.
    pub version: u64,
    /// True when the request id was already appended: nothing was written.
    pub duplicate: bool,
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global position, from 1, strictly increasing.
    pub position: u64,
    pub cooperative_id: CoopId,
    pub version: u64,
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
    pub request_id: String,
    pub payload: Vec<u8>,
}

/// Why the log could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The cooperative moved on since the writer read it.
    #[error("version conflict on cooperative {cooperative_id}: expected version {expected}, the log is at {actual}")]
    Conflict {
        cooperative_id: CoopId,
        expected: u64,
        actual: u64,
    },
    /// The backend cannot be reached now; the same request may be retried.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The backend refused or failed in a way a retry will not fix.
    #[error("event log storage error: {0}")]
    Storage(String),
    /// Stored bytes that do not read back.
    #[error("event log holds unreadable data: {0}")]
    Corrupt(String),
    /// One stored message is not a relance event (its subject, headers or payload were written
    /// by someone else); the messages around it are readable. `cooperative_id` is the
    /// cooperative it was stored under, when its subject names one.
    #[error("the message at position {position} is not a relance event: {reason}")]
    Unreadable {
        position: u64,
        cooperative_id: Option<CoopId>,
        reason: String,
    },
}

/// A live stream of events in position order.
pub type EventStream = BoxStream<'static, Result<StoredEvent, LogError>>;

/// The event-log port.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends one event if the cooperative is still at `expected_version`; durable when
    /// this returns `Ok`.
    async fn append(&self, request: AppendRequest) -> Result<Appended, LogError>;

    /// Appends many events, each as [`append`](Self::append) would (its own expectation,
    /// request id and result), answered in the order given; durable when this returns. One
    /// entry's failure does not sink the others. Requests on the same cooperative must each
    /// expect the version its predecessor in the batch creates; a backend may answer the later
    /// ones with a conflict (the caller appends them in a later batch). The default appends one
    /// after the other; backends commit a batch with one flush or pipeline it.
    async fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<Appended, LogError>> {
        let mut out = Vec::with_capacity(requests.len());
        for r in requests {
            out.push(self.append(r).await);
        }
        out
    }

    /// Every event of one cooperative, in version order.
    async fn read_cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError>;

    /// Up to `max` events with position ≥ `from`, in position order.
    async fn read_from(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, LogError>;

    /// Position of the last durable event (0 when empty).
    async fn last_position(&self) -> Result<u64, LogError>;

    /// Events with position ≥ `from`: those already stored, then new ones as they come.
    async fn follow(&self, from: u64) -> Result<EventStream, LogError>;

    /// A short name for logs and status ("embedded", "jetstream").
    fn backend(&self) -> &'static str;

    /// Whether the backend can write appends that arrive together as one atomic batch (group
    /// commit on JetStream: `Some(false)` on servers without atomic batches); `None` where the
    /// question does not apply (the embedded log, which flushes each append's batch itself).
    fn group_commit(&self) -> Option<bool> {
        None
    }
}
