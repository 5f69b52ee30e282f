//! Following the stream live from a position: an ephemeral pull consumer that asks for large
//! batches, kept in order by this module.
//!
//! async-nats's ordered consumer asks for 500 messages a pull request, a number it does not let
//! its caller change; a plain pull consumer asking for [`FOLLOW_BATCH`] reads the same stream
//! about a fifth faster on the bench's machine (docs/performance.md, "How the catch-up reads
//! the stream"). What the ordered consumer adds is kept here: no acknowledgements, a consumer
//! in memory with one replica, and a consumer made again from the next position when a
//! delivery is missed (a consumer sequence that skips one) or the consumer fails (a lost
//! connection, missed heartbeats, a server restart). A stream of events therefore never skips
//! nor repeats a position.

use std::time::Duration;

use async_nats::jetstream::consumer::pull::{self, Config};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;
use relance_log::{EventStream, LogError, StoredEvent};

use crate::classify::request_failure;
use crate::{headers, Inner};

/// Messages a follower asks for in one pull request (the bench's baseline read asks for as
/// many).
pub const FOLLOW_BATCH: usize = 5_000;
/// Consumers made again in a row, without a message delivered between them, before the
/// follower gives up and reports the failure (its caller follows again, or says so).
const MAX_REMAKES: u32 = 5;
/// How long the server keeps a consumer nobody pulls from.
const INACTIVE: Duration = Duration::from_secs(30);

impl Inner {
    pub(crate) async fn follow(&self, from: u64) -> Result<EventStream, LogError> {
        let from = from.max(1);
        let consumer = Consumer {
            stream: self.stream.clone(),
            filter: self.wildcard.clone(),
        };
        let messages = consumer.messages(from).await?;
        let state = Following {
            consumer,
            prefix: self.config.subject_prefix.clone(),
            messages: Some(messages),
            from,
            next: from,
            delivered: 0,
            remakes: 0,
        };
        Ok(futures::stream::unfold(state, Following::next_event).boxed())
    }
}

/// How to make the pull consumer again.
struct Consumer {
    stream: Stream<()>,
    filter: String,
}

impl Consumer {
    /// Messages of a fresh consumer starting at `from`.
    async fn messages(&self, from: u64) -> Result<pull::Stream, LogError> {
        let consumer = self
            .stream
            .create_consumer(Config {
                filter_subject: self.filter.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ack_policy: AckPolicy::None,
                max_deliver: 1,
                inactive_threshold: INACTIVE,
                num_replicas: 1,
                memory_storage: true,
                ..Default::default()
            })
            .await
            .map_err(|e| request_failure("creating a follower", &e))?;
        // A server whose `max_request_batch` is lower refuses larger requests: ask for at most
        // that many, as the ordered consumer does.
        let batch = match usize::try_from(consumer.cached_info().config.max_batch) {
            Ok(max) if max > 0 => FOLLOW_BATCH.min(max),
            _ => FOLLOW_BATCH,
        };
        consumer
            .stream()
            .max_messages_per_batch(batch)
            .messages()
            .await
            .map_err(|e| request_failure("starting a follower", &e))
    }
}

struct Following {
    consumer: Consumer,
    prefix: String,
    /// `None` once the follower has reported that it cannot go on.
    messages: Option<pull::Stream>,
    /// Where following started: a start past the head is moved back to it by the server.
    from: u64,
    /// The position the next event must have.
    next: u64,
    /// The consumer sequence of the last message the current consumer delivered.
    delivered: u64,
    /// Consumers made since the last message delivered.
    remakes: u32,
}

impl Following {
    async fn next_event(mut self) -> Option<(Result<StoredEvent, LogError>, Self)> {
        loop {
            let messages = self.messages.as_mut()?;
            let failure = match messages.next().await? {
                Err(e) => format!("following the stream: {e}"),
                Ok(message) => match message.info() {
                    Err(e) => {
                        let e =
                            LogError::Corrupt(format!("message without JetStream metadata: {e}"));
                        return Some((Err(e), self));
                    }
                    Ok(info) if info.consumer_sequence != self.delivered + 1 => format!(
                        "the follower's consumer skipped from delivery {} to {}",
                        self.delivered, info.consumer_sequence
                    ),
                    Ok(info) => {
                        self.delivered = info.consumer_sequence;
                        self.remakes = 0;
                        let position = info.stream_sequence;
                        if position < self.from {
                            continue;
                        }
                        self.next = position + 1;
                        let event = headers::stored_event(
                            &self.prefix,
                            message.subject.as_str(),
                            position,
                            message.headers.as_ref(),
                            &message.payload,
                        );
                        return Some((event, self));
                    }
                },
            };
            // Make the consumer again from the next position, or report why it cannot be.
            self.messages = None;
            self.delivered = 0;
            self.remakes += 1;
            let remade = if self.remakes > MAX_REMAKES {
                Err(LogError::Unavailable(failure))
            } else {
                tracing::debug!(%failure, from = self.next, "following the stream again");
                self.consumer.messages(self.next).await
            };
            match remade {
                Ok(messages) => self.messages = Some(messages),
                Err(e) => return Some((Err(e), self)),
            }
        }
    }
}
