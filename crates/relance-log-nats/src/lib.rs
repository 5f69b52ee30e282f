//! The NATS JetStream backend of the relance event log ([`EventLog`] on one stream).
//!
//! One stream (`RELANCE_EVENTS` by default) holds every event, one subject per cooperative:
//! `relance.v1.coop.<coop_id>`. The stream sequence is the global position; a cooperative's
//! version is the number of messages on its subject, written in the `Relance-Version` header
//! (see [`headers`]). The stream is created immutable ([`setup`]) and an existing one that is
//! not is refused at start.
//!
//! - **append** publishes with `Nats-Expected-Last-Subject-Sequence` (per-cooperative
//!   optimistic concurrency, checked by the server) and a `Nats-Msg-Id` derived from the
//!   cooperative and the request id (the server drops a retry inside the duplicate window),
//!   and awaits the acknowledgement. A timeout or "no responders" is retried with the same
//!   message id, a bounded number of times. A wrong-sequence answer is a conflict, unless the
//!   request id is already in the cooperative's history (a retry after the window): then it
//!   is answered with the first result.
//! - **group commit** (nats-server 2.12+, off by default: `JetStreamConfig::group_commit`):
//!   appends waiting at the same time leave as one atomic batch, each message with its own
//!   expected subject sequence and message id; a refused batch is appended member by member
//!   (see [`group`]).
//! - **reads** ask the stream leader for one message at a time when few are expected, and use
//!   an ordered consumer for longer reads, bounded by the head seen when the read starts.
//! - **follow** is an ephemeral pull consumer from the given position, live, asking for
//!   [`FOLLOW_BATCH`] messages a request and kept in order by `follow` (made again from the
//!   next position when a delivery is missed or the consumer fails).
//!
//! Modules: `config` (settings), `connect` (start-up checks, stream creation), `classify`
//! (which failures are transient), `read`, `append`, `group` and `costs`, `follow`; this file holds the shared
//! state and the [`EventLog`] implementation.

use std::sync::Arc;

use async_nats::jetstream::{self, stream::Stream};
use async_trait::async_trait;
use relance_domain::CoopId;
use relance_log::{AppendRequest, Appended, EventLog, EventStream, LogError, StoredEvent};

mod append;
mod batch_get;
mod classify;
mod config;
mod connect;
mod costs;
mod follow;
mod group;
pub mod headers;
mod read;
pub mod setup;

pub use config::{redact_url, GroupCommit, JetStreamConfig, NatsCredentials, NatsTls};
pub use connect::ConnectError;
pub use costs::GroupStats;
pub use follow::FOLLOW_BATCH;
pub use setup::ServerVersion;

/// The JetStream backend. Cheap to clone (one connection, shared).
#[derive(Clone)]
pub struct JetStreamLog {
    inner: Arc<Inner>,
    /// The group-commit task, when the stream takes atomic batches.
    committer: Option<Arc<group::Committer>>,
}

struct Inner {
    config: JetStreamConfig,
    js: jetstream::Context,
    stream: Stream<()>,
    wildcard: String,
    server_version: String,
    /// (version, position) of each cooperative's last event this process wrote or read: a
    /// writer whose view matches needs no message get to prove it holds together.
    known_heads: std::sync::Mutex<std::collections::HashMap<CoopId, (u64, u64)>>,
    /// Whether appends are grouped into atomic batches: found at start, cleared if the
    /// stream refuses a batch as disabled later.
    atomic: std::sync::atomic::AtomicBool,
    /// Whether the server has atomic batches (nats-server 2.12+), whatever `group_commit` says.
    atomic_supported: bool,
    /// What groups have cost one by one and as batches lately.
    costs: costs::Costs,
    /// Set once the stream turned out not to answer batch direct gets (`batch_get`).
    no_batch_get: std::sync::atomic::AtomicBool,
}

impl JetStreamLog {
    /// The version the connected server reported.
    pub fn server_version(&self) -> &str {
        &self.inner.server_version
    }

    /// Whether the connected server has atomic batch publishing (nats-server 2.12+).
    pub fn atomic_batch_supported(&self) -> bool {
        self.inner.atomic_supported
    }

    /// Whether appends that arrive together may be written as one atomic batch (group
    /// commit): the server and the stream allow it and `group_commit` is not off.
    pub fn atomic_batch(&self) -> bool {
        self.committer.is_some() && self.inner.atomic.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends `requests` as one group, as the group-commit task does with appends that wait
    /// at the same time (tests form a group this way on purpose); one after the other
    /// without atomic batches. Answered in the order given.
    #[doc(hidden)]
    pub async fn append_together(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<Appended, LogError>> {
        if self.grouping().is_none() {
            let mut out = Vec::with_capacity(requests.len());
            for r in requests {
                out.push(self.inner.append(r).await);
            }
            return out;
        }
        let (group, answers) = group::waiting(requests);
        self.inner.commit_group(group, true).await;
        futures::future::join_all(answers.into_iter().map(group::answer_of)).await
    }

    /// What the group commit did since this log was opened.
    pub fn group_stats(&self) -> GroupStats {
        self.inner.costs.stats()
    }

    /// The group-commit task, while the stream takes atomic batches.
    fn grouping(&self) -> Option<&group::Committer> {
        self.committer.as_deref().filter(|_| self.atomic_batch())
    }

    /// The configuration this log runs with.
    pub fn config(&self) -> &JetStreamConfig {
        &self.inner.config
    }

    /// The subject of a cooperative's events.
    pub fn subject(&self, coop: &CoopId) -> String {
        self.inner.subject(coop)
    }
}

impl Inner {
    fn subject(&self, coop: &CoopId) -> String {
        format!("{}.{}", self.config.subject_prefix, coop.as_str())
    }
}

#[async_trait]
impl EventLog for JetStreamLog {
    async fn append(&self, request: AppendRequest) -> Result<Appended, LogError> {
        match self.grouping() {
            Some(committer) => match committer.append(request).await {
                Ok(result) => result,
                Err(request) => self.inner.append(request).await,
            },
            None => self.inner.append(request).await,
        }
    }

    /// With group commit, the requests leave in atomic batches of their own, up to the
    /// server's limit each (see [`group`]); else the publishes are pipelined.
    async fn append_batch(&self, requests: Vec<AppendRequest>) -> Vec<Result<Appended, LogError>> {
        if self.grouping().is_none() {
            return self.inner.append_batch(requests).await;
        }
        let always = self.inner.config.group_commit == GroupCommit::Always;
        self.inner.append_in_batches(requests, always).await
    }

    async fn read_cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError> {
        self.inner
            .reading("reading a cooperative", || self.inner.read_cooperative(id))
            .await
    }

    async fn read_from(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, LogError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let from = from.max(1);
        let last = self.last_position().await?;
        if from > last {
            return Ok(Vec::new());
        }
        let wanted = u64::try_from(max).unwrap_or(u64::MAX);
        let bound = last.min(from.saturating_add(wanted - 1));
        self.inner
            .reading("reading the stream", || {
                self.inner
                    .scan(&self.inner.wildcard, from, bound, max, bound - from + 1)
            })
            .await
    }

    async fn last_position(&self) -> Result<u64, LogError> {
        self.inner
            .reading("reading the stream state", || self.inner.last_position())
            .await
    }

    async fn follow(&self, from: u64) -> Result<EventStream, LogError> {
        self.inner.follow(from).await
    }

    fn backend(&self) -> &'static str {
        "jetstream"
    }

    fn group_commit(&self) -> Option<bool> {
        Some(self.atomic_batch_supported())
    }
}
