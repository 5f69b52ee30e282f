//! Reads: one event, a cooperative, a range of the stream; by direct gets or an ordered consumer.

use async_nats::jetstream;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use futures::StreamExt;
use relance_domain::CoopId;
use relance_log::retry::retry_notify;
use relance_log::{LogError, StoredEvent};

use crate::classify::{raw_failure, request_failure};
use crate::{headers, Inner};

impl Inner {
    fn decode(&self, m: &StreamMessage) -> Result<StoredEvent, LogError> {
        headers::stored_event(
            &self.config.subject_prefix,
            m.subject.as_str(),
            m.sequence,
            Some(&m.headers),
            &m.payload,
        )
    }

    /// Whether reads may use batch direct gets: the server has them, and the stream did not
    /// turn out to refuse direct gets.
    fn batch_get_supported(&self) -> bool {
        self.config.batch_get
            && !self.no_batch_get.load(std::sync::atomic::Ordering::Relaxed)
            && crate::setup::ServerVersion::parse(&self.server_version)
                .is_some_and(|v| v.supports_batch_get())
    }

    /// The event at stream sequence `position` (from the stream leader).
    pub(crate) async fn get(&self, position: u64) -> Result<Option<StoredEvent>, LogError> {
        match self
            .stream
            .raw_message_builder()
            .sequence(position)
            .send()
            .await
        {
            Ok(m) => self.decode(&m).map(Some),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(raw_failure(&format!("reading position {position}"), e)),
        }
    }

    /// The first event on `filter` at or after `position`.
    async fn next_matching(
        &self,
        filter: &str,
        position: u64,
    ) -> Result<Option<StoredEvent>, LogError> {
        let request = self
            .stream
            .raw_message_builder()
            .sequence(position)
            .next_by_subject(filter);
        match request.send().await {
            Ok(m) => self.decode(&m).map(Some),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(raw_failure(
                &format!("reading {filter} from position {position}"),
                e,
            )),
        }
    }

    /// The last event on a cooperative's subject.
    pub(crate) async fn last_of(&self, subject: &str) -> Result<Option<StoredEvent>, LogError> {
        match self
            .stream
            .raw_message_builder()
            .last_by_subject(subject)
            .send()
            .await
        {
            Ok(m) => self.decode(&m).map(Some),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(raw_failure(
                &format!("reading the last event of {subject}"),
                e,
            )),
        }
    }

    /// Up to `max` events on `filter` with positions in `start..=bound`; `expected` is how
    /// many there should be, which picks the way to read them.
    pub(crate) async fn scan(
        &self,
        filter: &str,
        start: u64,
        bound: u64,
        max: usize,
        expected: u64,
    ) -> Result<Vec<StoredEvent>, LogError> {
        if self.batch_get_supported() {
            if let Some(events) = self.scan_by_batch_get(filter, start, bound, max).await? {
                return Ok(events);
            }
        }
        if expected <= self.config.direct_read_limit as u64 {
            self.scan_by_get(filter, start, bound, max).await
        } else {
            self.scan_by_consumer(filter, start, bound, max).await
        }
    }

    async fn scan_by_get(
        &self,
        filter: &str,
        start: u64,
        bound: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, LogError> {
        let mut out = Vec::new();
        let mut cursor = start;
        while out.len() < max && cursor <= bound {
            match self.next_matching(filter, cursor).await? {
                Some(event) if event.position <= bound => {
                    cursor = event.position + 1;
                    out.push(event);
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn scan_by_consumer(
        &self,
        filter: &str,
        start: u64,
        bound: u64,
        max: usize,
    ) -> Result<Vec<StoredEvent>, LogError> {
        let deliver_policy = if start <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: start,
            }
        };
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                filter_subject: filter.to_owned(),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| request_failure(&format!("creating a reader on {filter}"), &e))?;
        let name = consumer.cached_info().name.clone();
        let mut out = Vec::new();
        let result = if consumer.cached_info().num_pending == 0 {
            Ok(())
        } else {
            self.drain(consumer, bound, max, &mut out).await
        };
        if let Err(e) = self.stream.delete_consumer(&name).await {
            // Ordered consumers are ephemeral: the server drops a forgotten one by itself.
            tracing::debug!(consumer = %name, error = %e, "could not delete a finished reader");
        }
        result.map(|()| out)
    }

    async fn drain(
        &self,
        consumer: jetstream::consumer::Consumer<OrderedConfig>,
        bound: u64,
        max: usize,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), LogError> {
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| request_failure("starting a reader", &e))?;
        let wait = self.config.publish_timeout;
        loop {
            let message = match tokio::time::timeout(wait, messages.next()).await {
                Err(_) => {
                    return Err(LogError::Unavailable(format!(
                        "no message from the reader within {wait:?}"
                    )))
                }
                Ok(None) => return Err(LogError::Unavailable("the reader ended early".into())),
                Ok(Some(Err(e))) => return Err(LogError::Unavailable(format!("reading: {e}"))),
                Ok(Some(Ok(message))) => message,
            };
            let (position, pending) = match message.info() {
                Ok(info) => (info.stream_sequence, info.pending),
                Err(e) => {
                    return Err(LogError::Corrupt(format!(
                        "message without JetStream metadata: {e}"
                    )))
                }
            };
            if position > bound {
                return Ok(());
            }
            out.push(headers::stored_event(
                &self.config.subject_prefix,
                message.subject.as_str(),
                position,
                message.headers.as_ref(),
                &message.payload,
            )?);
            if out.len() >= max || position >= bound || pending == 0 {
                return Ok(());
            }
        }
    }

    pub(crate) async fn read_cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError> {
        let subject = self.subject(id);
        let Some(last) = self.last_of(&subject).await? else {
            return Ok(Vec::new());
        };
        let events = self
            .scan(&subject, 1, last.position, usize::MAX, last.version)
            .await?;
        for (i, event) in events.iter().enumerate() {
            if event.version != i as u64 + 1 {
                return Err(LogError::Unreadable {
                    position: event.position,
                    cooperative_id: Some(id.clone()),
                    reason: format!(
                        "cooperative {id}: the message carries version {}, expected {}",
                        event.version,
                        i + 1
                    ),
                });
            }
        }
        if events.last().map(|e| e.position) != Some(last.position) {
            return Err(LogError::Unavailable(format!(
                "cooperative {id}: the read stopped before position {}",
                last.position
            )));
        }
        self.remember_head(id, last.version, last.position);
        Ok(events)
    }

    pub(crate) async fn last_position(&self) -> Result<u64, LogError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| request_failure("reading the stream state", &e))?;
        Ok(info.state.last_sequence)
    }

    /// Runs an idempotent read again while the log is unavailable (a leader election, a
    /// reconnection), within the same bound and backoff as publishes.
    pub(crate) async fn reading<T, F, Fut>(&self, what: &str, read: F) -> Result<T, LogError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LogError>>,
    {
        retry_notify(
            &self.config.retry_policy(),
            read,
            |e| matches!(e, LogError::Unavailable(_)),
            |e, retrying| {
                if let LogError::Unavailable(m) = e {
                    tracing::warn!(what, attempts = retrying.attempt, error = %m, "read failed, retrying");
                }
            },
        )
        .await
    }
}
