//! Appends: the writer's view checked, one publish with the expected subject sequence and a
//! message id, retried with the same id; conflicts and duplicates told apart.

use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use bytes::Bytes;
use relance_domain::CoopId;
use relance_log::retry::retry_notify;
use relance_log::{AppendRequest, Appended, LogError};

use crate::classify::{classify, PublishOutcome};
use crate::{headers, Inner};

/// Most cooperatives whose last event is remembered (then the memory starts again).
const KNOWN_HEADS: usize = 100_000;

impl Inner {
    /// The stream sequence of the cooperative's event at `expected_version` (0 before its
    /// first event), which the publish then expects as the subject's last: from the heads this
    /// process remembers, else from the subject's last message (one direct get). `None` when
    /// the cooperative is not at `expected_version`: the writer's view is stale.
    pub(crate) async fn expected_sequence(
        &self,
        r: &AppendRequest,
    ) -> Result<Option<u64>, LogError> {
        let coop = &r.cooperative_id;
        if r.expected_version == 0 {
            // A new cooperative: the server checks that its subject holds nothing yet.
            return Ok(Some(0));
        }
        if let Some((version, position)) = self.known_head(coop) {
            if version == r.expected_version {
                return Ok(Some(position));
            }
        }
        let last = self.last_of(&self.subject(coop)).await?;
        Ok(match last {
            Some(e) if e.version == r.expected_version && e.cooperative_id == *coop => {
                self.remember_head(coop, e.version, e.position);
                Some(e.position)
            }
            _ => None,
        })
    }

    fn known_head(&self, coop: &CoopId) -> Option<(u64, u64)> {
        self.known_heads.lock().ok()?.get(coop).copied()
    }

    /// Remembers that `coop`'s event at `version` is at stream position `position`.
    pub(crate) fn remember_head(&self, coop: &CoopId, version: u64, position: u64) {
        if let Ok(mut heads) = self.known_heads.lock() {
            if heads.len() >= KNOWN_HEADS && !heads.contains_key(coop) {
                heads.clear();
            }
            let entry = heads.entry(coop.clone()).or_insert((version, position));
            if version >= entry.0 {
                *entry = (version, position);
            }
        }
    }

    /// After a refused expectation: the first result if this request id is already in the
    /// cooperative's history, else the conflict with the cooperative's current version.
    async fn conflict_or_duplicate(&self, r: &AppendRequest) -> Result<Appended, LogError> {
        let events = self.read_cooperative(&r.cooperative_id).await?;
        if let Some(first) = events.iter().find(|e| e.request_id == r.request_id) {
            return Ok(Appended {
                position: first.position,
                version: first.version,
                duplicate: true,
            });
        }
        Err(LogError::Conflict {
            cooperative_id: r.cooperative_id.clone(),
            expected: r.expected_version,
            actual: events.last().map_or(0, |e| e.version),
        })
    }

    /// The answer to a publish the server recognised as a duplicate of the one at `position`.
    async fn first_result(&self, r: &AppendRequest, position: u64) -> Result<Appended, LogError> {
        match self.get(position).await? {
            Some(first) if first.cooperative_id == r.cooperative_id && first.request_id == r.request_id => {
                Ok(Appended { position, version: first.version, duplicate: true })
            }
            Some(other) => Err(LogError::Storage(format!(
                "the server took request {:?} on {} for a duplicate of request {:?} on {} at position {position}",
                r.request_id, r.cooperative_id, other.request_id, other.cooperative_id
            ))),
            None => Err(LogError::Corrupt(format!("duplicate acknowledged at position {position}, which holds nothing"))),
        }
    }

    async fn publish_once(
        &self,
        subject: &str,
        message: PublishMessage,
    ) -> Result<PublishAck, PublishError> {
        self.js
            .send_publish(subject.to_owned(), message)
            .await?
            .await
    }

    /// The subject, the version the event gets and its relance headers.
    pub(crate) fn event_message(
        &self,
        r: &AppendRequest,
    ) -> Result<(String, u64, async_nats::HeaderMap), LogError> {
        let subject = self.subject(&r.cooperative_id);
        let version = r.expected_version.checked_add(1).ok_or_else(|| {
            LogError::Storage(format!(
                "cooperative {} has no next version",
                r.cooperative_id
            ))
        })?;
        Ok((subject, version, headers::event_headers(r, version)?))
    }

    /// The subject, the version the event gets and the message to publish.
    fn message(
        &self,
        r: &AppendRequest,
        expected_sequence: u64,
    ) -> Result<(String, u64, PublishMessage), LogError> {
        let (subject, version, headers) = self.event_message(r)?;
        let message = PublishMessage::build()
            .headers(headers)
            .message_id(headers::message_id(&r.cooperative_id, &r.request_id))
            .expected_last_subject_sequence(expected_sequence)
            .payload(Bytes::from(r.payload.clone()));
        Ok((subject, version, message))
    }

    /// The result of an acknowledged publish of `r` at `version`.
    async fn acknowledged(
        &self,
        r: &AppendRequest,
        subject: &str,
        version: u64,
        ack: PublishAck,
    ) -> Result<Appended, LogError> {
        if ack.stream != self.config.stream {
            return Err(LogError::Storage(format!(
                "{subject} is stored by stream {}, not {}",
                ack.stream, self.config.stream
            )));
        }
        if ack.duplicate {
            return self
                .reading("reading the first result", || {
                    self.first_result(r, ack.sequence)
                })
                .await;
        }
        self.remember_head(&r.cooperative_id, version, ack.sequence);
        Ok(Appended {
            position: ack.sequence,
            version,
            duplicate: false,
        })
    }

    /// Pipelined: every publish of the batch sent, then the acknowledgements awaited. The
    /// first request of each cooperative is pipelined; a later one on the same cooperative
    /// (whose expectation depends on its predecessor's position) and any publish that failed
    /// or was not acknowledged go through [`append`](Self::append), which retries with the
    /// same message id, so nothing is stored twice.
    pub(crate) async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Vec<Result<Appended, LogError>> {
        let mut results: Vec<Option<Result<Appended, LogError>>> = vec![None; requests.len()];
        let mut seen = std::collections::HashSet::new();
        let mut in_flight = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            if !seen.insert(r.cooperative_id.clone()) {
                continue;
            }
            let expected = self
                .reading("checking the writer's view", || self.expected_sequence(r))
                .await;
            let Ok(Some(expected)) = expected else {
                continue;
            };
            let Ok((subject, version, message)) = self.message(r, expected) else {
                continue;
            };
            if let Ok(ack) = self.js.send_publish(subject.clone(), message).await {
                in_flight.push((i, subject, version, ack));
            }
        }
        for (i, subject, version, ack) in in_flight {
            if let Ok(ack) = ack.await {
                results[i] = Some(
                    self.acknowledged(&requests[i], &subject, version, ack)
                        .await,
                );
            }
        }
        let mut out = Vec::with_capacity(requests.len());
        for (r, result) in requests.into_iter().zip(results) {
            out.push(match result {
                Some(done) => done,
                None => self.append(r).await,
            });
        }
        out
    }

    pub(crate) async fn append(&self, r: AppendRequest) -> Result<Appended, LogError> {
        let Some(expected_sequence) = self
            .reading("checking the writer's view", || self.expected_sequence(&r))
            .await?
        else {
            return self
                .reading("resolving a conflict", || self.conflict_or_duplicate(&r))
                .await;
        };
        let (subject, version, message) = self.message(&r, expected_sequence)?;
        let mut attempts = 0u32;
        let published = retry_notify(
            &self.config.retry_policy(),
            || {
                attempts += 1;
                self.publish_once(&subject, message.clone())
            },
            // No responders, lost or late acknowledgements: the retry carries the same
            // message id, so an event stored meanwhile is not stored twice.
            |e| matches!(classify(e), PublishOutcome::Transient),
            |error, retrying| {
                tracing::warn!(%subject, attempts = retrying.attempt, error = %error, "publish not acknowledged, retrying with the same message id");
            },
        )
        .await;
        let error = match published {
            Ok(ack) => return self.acknowledged(&r, &subject, version, ack).await,
            Err(e) => e,
        };
        match classify(&error) {
            PublishOutcome::WrongSequence => {
                self.reading("resolving a conflict", || self.conflict_or_duplicate(&r))
                    .await
            }
            PublishOutcome::Permanent => Err(LogError::Storage(format!(
                "publishing to {subject} was refused: {error}"
            ))),
            // The policy allows no more retries.
            PublishOutcome::Transient => Err(LogError::Unavailable(format!(
                "no acknowledgement for request {:?} on {subject} after {attempts} attempts: {error}",
                r.request_id
            ))),
        }
    }
}
