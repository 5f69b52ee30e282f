//! Following the stream live from a position, with an ordered consumer.

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures::StreamExt;
use relance_log::{EventStream, LogError};

use crate::classify::request_failure;
use crate::{headers, Inner};

impl Inner {
    pub(crate) async fn follow(&self, from: u64) -> Result<EventStream, LogError> {
        let from = from.max(1);
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                filter_subject: self.wildcard.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| request_failure("creating a follower", &e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| request_failure("starting a follower", &e))?;
        let prefix = self.config.subject_prefix.clone();
        let events = messages.filter_map(move |item| {
            let event = match item {
                Err(e) => Some(Err(LogError::Unavailable(format!(
                    "following the stream: {e}"
                )))),
                Ok(message) => match message.info().map(|i| i.stream_sequence) {
                    Err(e) => Some(Err(LogError::Corrupt(format!(
                        "message without JetStream metadata: {e}"
                    )))),
                    // A start past the head is moved back to it by the server.
                    Ok(position) if position < from => None,
                    Ok(position) => Some(headers::stored_event(
                        &prefix,
                        message.subject.as_str(),
                        position,
                        message.headers.as_ref(),
                        &message.payload,
                    )),
                },
            };
            futures::future::ready(event)
        });
        Ok(events.boxed())
    }
}
