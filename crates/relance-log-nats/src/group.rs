//! Group commit: appends that arrive together leave in one atomic batch.
//!
//! With `sync_interval: always` a lone publish costs one fsync per acknowledgement. On a
//! server with atomic batch publishing (nats-server 2.12+, stream `allow_atomic`), appends
//! waiting at the same time are sent as one batch: every message keeps its own
//! `Nats-Expected-Last-Subject-Sequence` and `Nats-Msg-Id`, both checked by the server when
//! the batch commits, and the batch is stored in one server write (one fsync, or one Raft
//! proposal on a replicated stream), with consecutive stream sequences.
//!
//! The gathering window adapts: a [`Committer`] task takes the first waiting append as soon
//! as a commit slot is free, with every append already waiting behind it (one per
//! cooperative, up to [`MAX_GROUP`]). With nothing else waiting the append is published
//! alone, exactly as without group commit; appends only gather while earlier groups are
//! being written. A group then leaves as a batch only when batches have lately cost less
//! than its appends one by one ([`costs`](crate::costs)): with lazy fsync, staging a batch on
//! a one-replica stream costs more than it saves.
//!
//! A batch is all or nothing, and the server's refusal does not say which message it
//! refused: then every member goes through the single append path (same message id, same
//! expectation), which answers each one with its own outcome (its conflict, its duplicate or
//! its event) and never stores one twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::ErrorCode;
use async_nats::HeaderMap;
use bytes::Bytes;
use relance_log::{AppendRequest, Appended, LogError};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::costs::Way;
use crate::{headers, Inner};

/// Most appends in one batch of single commands gathered by the [`Committer`].
pub(crate) const MAX_GROUP: usize = 256;

/// Most messages in one atomic batch: nats-server's default limit
/// (`jetstream { limits { batch { max_msgs: 1000 } } }`). A `Batch` call's appends leave in
/// batches of up to this many.
pub(crate) const MAX_BATCH_MESSAGES: usize = 1000;

/// Groups being written at the same time by one process: while they are, the next appends
/// gather.
pub(crate) const GROUPS_IN_FLIGHT: usize = 2;

/// `Nats-Batch-Id`, `Nats-Batch-Sequence`, `Nats-Batch-Commit` (ADR-50).
const BATCH_ID: &str = "Nats-Batch-Id";
const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
const BATCH_COMMIT: &str = "Nats-Batch-Commit";

/// One append waiting for its group.
pub(crate) struct Waiting {
    request: AppendRequest,
    answer: oneshot::Sender<Result<Appended, LogError>>,
}

/// `requests` as waiting appends, with the receivers of their answers in the same order.
pub(crate) fn waiting(
    requests: Vec<AppendRequest>,
) -> (
    Vec<Waiting>,
    Vec<oneshot::Receiver<Result<Appended, LogError>>>,
) {
    requests
        .into_iter()
        .map(|request| {
            let (answer, answered) = oneshot::channel();
            (Waiting { request, answer }, answered)
        })
        .unzip()
}

/// The answer to a waiting append, or why none came.
pub(crate) async fn answer_of(
    answered: oneshot::Receiver<Result<Appended, LogError>>,
) -> Result<Appended, LogError> {
    answered.await.unwrap_or_else(|_| {
        Err(LogError::Unavailable(
            "the group commit stopped before answering; the append may be stored, retry with the same request id".into(),
        ))
    })
}

/// The sending side of the group-commit task; the task ends when every sender is dropped.
pub(crate) struct Committer {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl Committer {
    /// Starts the task that commits `inner`'s appends in groups.
    pub(crate) fn start(inner: Arc<Inner>) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(run(inner, waiting));
        Self { queue }
    }

    /// Appends `request` in the next group; `None` when the task is gone (the caller then
    /// appends alone).
    pub(crate) async fn append(
        &self,
        request: AppendRequest,
    ) -> Result<Result<Appended, LogError>, AppendRequest> {
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::error::SendError(w)) = self.queue.send(Waiting { request, answer }) {
            return Err(w.request);
        }
        Ok(answer_of(answered).await)
    }
}

/// Takes the first waiting append once a commit slot is free, with everything waiting behind
/// it, and writes that group in its own task.
async fn run(inner: Arc<Inner>, mut waiting: mpsc::UnboundedReceiver<Waiting>) {
    let slots = Arc::new(Semaphore::new(GROUPS_IN_FLIGHT));
    while let Some(first) = waiting.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match waiting.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            let always = inner.config.group_commit == crate::GroupCommit::Always;
            inner.commit_group(group, always).await;
            drop(slot);
        });
    }
}

/// A process-unique batch id (at most 64 characters, as the server requires).
fn batch_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let process = PROCESS.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("relance-{:x}-{nanos:x}", std::process::id())
    });
    format!("{process}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A member of a batch: its request, where its answer goes, and what it publishes.
struct Member {
    waiting: Waiting,
    subject: String,
    version: u64,
    headers: HeaderMap,
}

impl Inner {
    /// Writes one group: one by one or as one atomic batch, whichever has been cheaper lately
    /// ([`Costs`](crate::costs::Costs)); always as a batch when `batch` says so (a group of
    /// one is published alone). In a batch goes the first append of each cooperative; later
    /// ones on the same cooperative follow alone, once their predecessor is stored.
    pub(crate) async fn commit_group(&self, group: Vec<Waiting>, batch: bool) {
        let mut firsts = Vec::with_capacity(group.len());
        let mut later = Vec::new();
        let mut seen = std::collections::HashSet::with_capacity(group.len());
        for w in group {
            if seen.insert(w.request.cooperative_id.clone()) {
                firsts.push(w);
            } else {
                later.push(w);
            }
        }
        let way = match self.costs.choose(firsts.len()) {
            Way::OneByOne if batch && firsts.len() > 1 => Way::Batch,
            way => way,
        };
        match way {
            Way::Batch => self.batch(firsts).await,
            Way::OneByOne => {
                let (size, mark, started) = (firsts.len(), self.costs.mark(), Instant::now());
                self.alone(firsts).await;
                self.costs.one_by_one(size, started.elapsed(), mark);
            }
        }
        for w in later {
            let result = self.append(w.request).await;
            let _ = w.answer.send(result);
        }
    }

    /// The appends of one `Batch` call, in atomic batches of their own (up to
    /// [`MAX_BATCH_MESSAGES`] each, written at the same time), not through the [`Committer`]'s
    /// groups of [`MAX_GROUP`]: on a one-replica stream the server's staging of a batch costs
    /// the same few syncs whatever its size, so a thousand appends pay it once. The first
    /// append of each cooperative goes in a batch; later ones on the same cooperative follow
    /// alone, in order, once every batch is written. Answered in the order given; a refused
    /// batch answers each member alone, as any group.
    pub(crate) async fn append_in_batches(
        &self,
        requests: Vec<AppendRequest>,
        always: bool,
    ) -> Vec<Result<Appended, LogError>> {
        let (group, answers) = waiting(requests);
        let mut firsts: Vec<Vec<Waiting>> = Vec::new();
        let mut later = Vec::new();
        let mut seen = std::collections::HashSet::with_capacity(group.len());
        for w in group {
            if !seen.insert(w.request.cooperative_id.clone()) {
                later.push(w);
                continue;
            }
            match firsts.last_mut() {
                Some(batch) if batch.len() < MAX_BATCH_MESSAGES => batch.push(w),
                _ => firsts.push(vec![w]),
            }
        }
        futures::future::join_all(firsts.into_iter().map(|b| self.commit_group(b, always))).await;
        for w in later {
            let result = self.append(w.request).await;
            let _ = w.answer.send(result);
        }
        futures::future::join_all(answers.into_iter().map(answer_of)).await
    }

    /// Each append through the single path, at the same time.
    async fn alone(&self, waiting: Vec<Waiting>) {
        futures::future::join_all(waiting.into_iter().map(|w| async move {
            let result = self.append(w.request).await;
            let _ = w.answer.send(result);
        }))
        .await;
    }

    /// The batch's members: each request's expectation checked (a stale view is answered
    /// through the single path, which tells a conflict from a duplicate) and its message built.
    async fn members(&self, waiting: Vec<Waiting>) -> (Vec<Member>, Vec<Waiting>) {
        let mut members = Vec::with_capacity(waiting.len());
        let mut alone = Vec::new();
        for w in waiting {
            let expected = self
                .reading("checking the writer's view", || {
                    self.expected_sequence(&w.request)
                })
                .await;
            let expected = match expected {
                Ok(Some(sequence)) => sequence,
                Ok(None) => {
                    alone.push(w);
                    continue;
                }
                Err(e) => {
                    let _ = w.answer.send(Err(e));
                    continue;
                }
            };
            match self.batch_headers(&w.request, expected) {
                Ok((subject, version, headers)) => members.push(Member {
                    waiting: w,
                    subject,
                    version,
                    headers,
                }),
                Err(e) => {
                    let _ = w.answer.send(Err(e));
                }
            }
        }
        (members, alone)
    }

    /// The subject, version and headers of `r` as a batch member (without the batch headers).
    fn batch_headers(
        &self,
        r: &AppendRequest,
        expected_sequence: u64,
    ) -> Result<(String, u64, HeaderMap), LogError> {
        let (subject, version, mut headers) = self.event_message(r)?;
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            headers::message_id(&r.cooperative_id, &r.request_id).as_str(),
        );
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected_sequence.to_string().as_str(),
        );
        Ok((subject, version, headers))
    }

    /// Publishes `waiting` as one atomic batch and answers each member; when the server
    /// refuses the batch or its acknowledgement does not come, each member goes through the
    /// single path instead.
    async fn batch(&self, waiting: Vec<Waiting>) {
        let (members, alone) = self.members(waiting).await;
        let stale = self.alone(alone);
        let written = async {
            if members.len() <= 1 {
                let single = members.into_iter().map(|m| m.waiting).collect();
                return self.alone(single).await;
            }
            let started = Instant::now();
            self.costs.batch_started();
            match self.publish_batch(&members).await {
                Ok(ack) => {
                    self.costs.batch(members.len(), started.elapsed());
                    self.answer_batch(members, ack).await
                }
                Err(refused) => {
                    self.costs.refused();
                    tracing::debug!(members = members.len(), error = %refused, "batch not committed; appending its members one by one");
                    let single = members.into_iter().map(|m| m.waiting).collect();
                    self.alone(single).await;
                }
            }
        };
        futures::join!(stale, written);
    }

    /// Sends every member but the last without a reply, then the last with the commit header,
    /// and awaits the commit's acknowledgement.
    async fn publish_batch(&self, members: &[Member]) -> Result<PublishAck, String> {
        let id = batch_id();
        let client = self.js.client();
        let last = members.len() - 1;
        for (i, m) in members.iter().enumerate() {
            let mut h = m.headers.clone();
            h.insert(BATCH_ID, id.as_str());
            h.insert(BATCH_SEQUENCE, (i + 1).to_string().as_str());
            let payload = Bytes::from(m.waiting.request.payload.clone());
            if i < last {
                client
                    .publish_with_headers(m.subject.clone(), h, payload)
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            }
            h.insert(BATCH_COMMIT, "1");
            let message = PublishMessage::build().headers(h).payload(payload);
            let ack = self
                .js
                .send_publish(m.subject.clone(), message)
                .await
                .map_err(|e| e.to_string())?
                .await;
            return match ack {
                Ok(ack) => Ok(ack),
                Err(e) => {
                    if crate::classify::code_of(&e) == Some(ErrorCode::ATOMIC_PUBLISH_DISABLED) {
                        self.atomic.store(false, Ordering::Relaxed);
                        tracing::warn!(stream = %self.config.stream, "the stream refuses atomic batches; appending one by one from now on");
                    }
                    Err(e.to_string())
                }
            };
        }
        Err("empty batch".into())
    }

    /// Answers each member of a committed batch: the batch holds consecutive stream
    /// sequences, the last one acknowledged. An acknowledgement that does not add up sends
    /// the members through the single path, whose retries the server deduplicates.
    async fn answer_batch(&self, members: Vec<Member>, ack: PublishAck) {
        let count = u64::try_from(members.len()).unwrap_or(u64::MAX);
        if ack.stream != self.config.stream || ack.batch_size != Some(count) || ack.sequence < count
        {
            tracing::warn!(stream = %ack.stream, sequence = ack.sequence, count = ?ack.batch_size, members = count, "unexpected batch acknowledgement; answering its members one by one");
            let single = members.into_iter().map(|m| m.waiting).collect();
            return self.alone(single).await;
        }
        let first = ack.sequence - (count - 1);
        for (position, m) in (first..).zip(members) {
            self.remember_head(&m.waiting.request.cooperative_id, m.version, position);
            let _ = m.waiting.answer.send(Ok(Appended {
                position,
                version: m.version,
                duplicate: false,
            }));
        }
    }
}
