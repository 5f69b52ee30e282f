//! The `Subscriptions.Watch` RPC: the log from a position (or from now), filtered, then live,
//! with heartbeats when idle, for clients that do not speak NATS.
//!
//! Each call gets one task that follows the log (its own reader: a pull from sled, an ordered
//! consumer on JetStream) and puts items into a bounded channel the response stream drains, so
//! a slow client holds up nothing but its own task. When the channel stays full for the stall
//! time the client is too slow: the stream ends after what it already holds with
//! `watch_client_too_slow` and the position to resume from (`relance-resume-from`). Every
//! position below that one was sent or filtered out; nothing after it was sent.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use relance_domain::{EventFilter, Rule};
use relance_log::{EventLog, EventStream, LogError};
use relance_proto::v1;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::metrics::Metrics;
use crate::status::{refuse, rejection_status};

/// Items held for one client before it counts as too slow, unless the node says otherwise.
pub const DEFAULT_WATCH_BUFFER: usize = 1024;

/// How long a client's buffer may stay full before it counts as too slow, unless the node
/// says otherwise.
pub const DEFAULT_WATCH_STALL: Duration = Duration::from_secs(10);

/// The metadata key of the position to resume from, on the status that ends a stream.
pub const RESUME_FROM: &str = "relance-resume-from";

/// The `Subscriptions` service over a log.
#[derive(Clone)]
pub struct WatchService {
    log: Arc<dyn EventLog>,
    buffer: usize,
    stall: Duration,
    closing: Option<watch::Receiver<bool>>,
    metrics: Option<Arc<Metrics>>,
}

impl WatchService {
    /// Watches of `log`, each holding at most `buffer` items for its client.
    pub fn new(log: Arc<dyn EventLog>, buffer: usize) -> Self {
        Self {
            log,
            buffer: buffer.max(1),
            stall: DEFAULT_WATCH_STALL,
            closing: None,
            metrics: None,
        }
    }

    /// Holds at most `buffer` items for each client.
    pub fn with_buffer(mut self, buffer: usize) -> Self {
        self.buffer = buffer.max(1);
        self
    }

    /// A client whose buffer stays full this long is cut off.
    pub fn with_stall(mut self, stall: Duration) -> Self {
        self.stall = stall;
        self
    }

    /// Streams end with `node_stopping` once `closing` turns true.
    pub fn closing_on(mut self, closing: watch::Receiver<bool>) -> Self {
        self.closing = Some(closing);
        self
    }

    /// Counts streams and cut-offs in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The number of items held for one client.
    pub fn buffer(&self) -> usize {
        self.buffer
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::WatchResponse, Status>> + Send>>;

fn unavailable(e: &LogError) -> Status {
    refuse(Rule::LogUnavailable, format!("event log: {e}"))
}

/// `status` with the position to resume from, in the message and in metadata.
fn ending(rule: Rule, detail: &str, resume_from: u64) -> Status {
    let mut status = refuse(
        rule,
        format!("{detail}; resume with from_position {resume_from}"),
    );
    if let Ok(v) = resume_from.to_string().parse() {
        status.metadata_mut().insert(RESUME_FROM, v);
    }
    status
}

#[tonic::async_trait]
impl v1::subscriptions_server::Subscriptions for WatchService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        r: Request<v1::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let query = relance_proto::watch_query_from_wire(&r.into_inner())
            .map_err(|e| rejection_status(&e))?;
        let head = self
            .log
            .last_position()
            .await
            .map_err(|e| unavailable(&e))?;
        let from = query.from.unwrap_or(head + 1);
        let events = self.log.follow(from).await.map_err(|e| unavailable(&e))?;
        let (items, rx) = mpsc::channel(self.buffer);
        let (end, ended) = oneshot::channel();
        let pump = Pump {
            items,
            end: Some(end),
            filter: query.filter,
            considered: from - 1,
            head,
            caught_up: false,
            heartbeat: Duration::from_secs(u64::from(query.heartbeat_seconds)),
            stall: self.stall,
            last_sent: Instant::now(),
            closing: self.closing.clone(),
            metrics: self.metrics.clone(),
        };
        if let Some(m) = &self.metrics {
            m.watch_started();
        }
        tokio::spawn(pump.run(events));
        let items = tokio_stream::wrappers::ReceiverStream::new(rx);
        // After the last item the task put in, the status it ended with (none: the client left).
        let last = futures::stream::once(ended).filter_map(|r| async move { r.ok().map(Err) });
        Ok(Response::new(Box::pin(items.chain(last))))
    }
}

/// Completes once the node is stopping (never without a signal to watch).
async fn stopping(closing: &mut Option<watch::Receiver<bool>>) {
    match closing {
        // A dropped sender means the server is gone: stopping too.
        Some(c) => {
            let _ = c.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

/// One call's task: from the log into the client's bounded channel.
struct Pump {
    items: mpsc::Sender<Result<v1::WatchResponse, Status>>,
    end: Option<oneshot::Sender<Status>>,
    filter: EventFilter,
    /// Every position up to this one was sent or filtered out.
    considered: u64,
    /// The log's head when the call started: reaching it is being caught up.
    head: u64,
    caught_up: bool,
    heartbeat: Duration,
    /// How long a full buffer may stay full before the client counts as too slow.
    stall: Duration,
    last_sent: Instant,
    closing: Option<watch::Receiver<bool>>,
    metrics: Option<Arc<Metrics>>,
}

/// Why a pump stops.
enum Stop {
    /// The client left.
    Done,
    /// End the stream with this status.
    End(Status),
}

/// What woke the pump up.
enum Wake {
    Stop(Stop),
    Log(Option<Result<relance_log::StoredEvent, LogError>>),
    Beat,
}

impl Pump {
    async fn run(mut self, mut events: EventStream) {
        let stop = loop {
            if let Err(stop) = self.catch_up_check().await {
                break stop;
            }
            let beat = self.last_sent + self.heartbeat;
            let wake = tokio::select! {
                biased;
                () = stopping(&mut self.closing) => Wake::Stop(self.stopping_status()),
                () = self.items.closed() => Wake::Stop(Stop::Done),
                item = events.next() => Wake::Log(item),
                () = tokio::time::sleep_until(beat) => Wake::Beat,
            };
            let step = match wake {
                Wake::Stop(stop) => Err(stop),
                Wake::Log(item) => self.on_log_item(item).await,
                Wake::Beat => self.send_heartbeat().await,
            };
            if let Err(stop) = step {
                break stop;
            }
        };
        let cut_off = matches!(&stop, Stop::End(s) if s.code() == tonic::Code::ResourceExhausted);
        if let Some(m) = &self.metrics {
            m.watch_ended(cut_off);
        }
        if let (Stop::End(status), Some(end)) = (stop, self.end.take()) {
            let _ = end.send(status);
        }
    }

    fn stopping_status(&self) -> Stop {
        Stop::End(ending(
            Rule::NodeStopping,
            "the node is stopping",
            self.considered + 1,
        ))
    }

    /// Once everything stored when the call started was considered, says so with a heartbeat.
    async fn catch_up_check(&mut self) -> Result<(), Stop> {
        if !self.caught_up && self.considered >= self.head {
            self.caught_up = true;
            return self.send_heartbeat().await;
        }
        Ok(())
    }

    async fn on_log_item(
        &mut self,
        item: Option<Result<relance_log::StoredEvent, LogError>>,
    ) -> Result<(), Stop> {
        let resume = self.considered + 1;
        let e = match item {
            None => {
                return Err(Stop::End(ending(
                    Rule::LogUnavailable,
                    "the event log stopped delivering events",
                    resume,
                )))
            }
            // Not a relance event (see docs/design.md "Poison"): nothing to send, nothing lost.
            Some(Err(LogError::Unreadable { position, .. })) => {
                self.considered = self.considered.max(position);
                return Ok(());
            }
            Some(Err(e)) => {
                return Err(Stop::End(ending(
                    Rule::LogUnavailable,
                    &format!("event log: {e}"),
                    resume,
                )))
            }
            Some(Ok(e)) => e,
        };
        match relance_proto::watch_item(&e.payload, e.position, &self.filter) {
            Err(err) => Err(Stop::End(ending(
                Rule::CorruptEvent,
                &format!(
                    "the event at position {} cannot be decoded: {err}",
                    e.position
                ),
                resume,
            ))),
            Ok(None) => {
                self.considered = e.position;
                Ok(())
            }
            Ok(Some(message)) => {
                self.send(message).await?;
                self.considered = e.position;
                Ok(())
            }
        }
    }

    async fn send_heartbeat(&mut self) -> Result<(), Stop> {
        self.send(v1::WatchResponse {
            item: Some(v1::watch_response::Item::Heartbeat(v1::Heartbeat {
                position: self.considered,
                caught_up: self.caught_up,
            })),
        })
        .await
    }

    /// Puts `message` in the client's channel. A full channel gets `stall` to make room (the
    /// wait holds up no one else: this task reads the log at its own pace); after that the
    /// client is too slow and the stream ends.
    async fn send(&mut self, message: v1::WatchResponse) -> Result<(), Stop> {
        let message = match self.items.try_send(Ok(message)) {
            Ok(()) => {
                self.last_sent = Instant::now();
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Stop::Done),
            Err(mpsc::error::TrySendError::Full(message)) => message,
        };
        let items = self.items.clone();
        let room = tokio::select! {
            biased;
            () = stopping(&mut self.closing) => return Err(self.stopping_status()),
            room = tokio::time::timeout(self.stall, items.send(message)) => room,
        };
        match room {
            Ok(Ok(())) => {
                self.last_sent = Instant::now();
                Ok(())
            }
            Ok(Err(_)) => Err(Stop::Done),
            Err(_) => Err(Stop::End(ending(
                Rule::WatchClientTooSlow,
                &format!(
                    "the client left its {} buffered items untaken for {:?}",
                    self.items.max_capacity(),
                    self.stall
                ),
                self.considered + 1,
            ))),
        }
    }
}
