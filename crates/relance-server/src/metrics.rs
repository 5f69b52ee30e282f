//! Prometheus metrics: what commands do, how long appends take, how far each projection
//! lags, how big the stores are. Served as text on `GET /metrics` by [`serve_metrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use relance_log::EventLog;
use relance_projection::Projection;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// Event type the command records, e.g. `ActivityHalted`.
    pub command: String,
    /// `accepted`, `duplicate`, or the refusal's gRPC code in snake_case.
    pub outcome: String,
}

/// Every series relance exports.
pub struct Metrics {
    registry: Registry,
    pub commands: Family<CommandLabels, Counter>,
    pub append_seconds: Histogram,
    pub conflicts: Counter,
    pub unavailable_retries: Counter,
    events_applied: Counter,
    checkpoint: Gauge,
    log_head: Gauge,
    lag_events: Gauge,
    lag_seconds: Gauge<f64, AtomicU64>,
    projection_bytes: Gauge,
    quarantined: Gauge,
    poison: Counter,
    insecure_transport: Gauge,
    watch_streams: Gauge,
    watch_cut_off: Counter,
    rebuild: RebuildGauges,
    last_checkpoint: AtomicU64,
    last_poison: AtomicU64,
    caught_up_at: Mutex<Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("relance");
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "commands",
            "Commands handled, by event type and outcome",
            commands.clone(),
        );
        // 0.5 ms … ~4 s.
        let append_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 14),
        );
        registry.register(
            "append_seconds",
            "Time from decision to the event log's acknowledgement",
            append_seconds.clone(),
        );
        let conflicts = Counter::default();
        registry.register(
            "append_conflicts",
            "Appends refused because the cooperative moved on (each is re-decided)",
            conflicts.clone(),
        );
        let unavailable_retries = Counter::default();
        registry.register(
            "command_unavailable",
            "Commands answered UNAVAILABLE because the event log could not be reached",
            unavailable_retries.clone(),
        );
        let events_applied = Counter::default();
        registry.register(
            "projection_events_applied",
            "Events applied by this projection since start",
            events_applied.clone(),
        );
        let checkpoint = Gauge::default();
        registry.register(
            "projection_checkpoint",
            "Stream position of the last applied event",
            checkpoint.clone(),
        );
        let log_head = Gauge::default();
        registry.register(
            "log_head",
            "Stream position of the last event in the log",
            log_head.clone(),
        );
        let lag_events = Gauge::default();
        registry.register(
            "projection_lag_events",
            "Events in the log not yet applied by this projection",
            lag_events.clone(),
        );
        let lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "projection_lag_seconds",
            "Seconds since this projection last had applied everything in the log",
            lag_seconds.clone(),
        );
        let projection_bytes = Gauge::default();
        registry.register(
            "projection_sled_bytes",
            "Size on disk of the projection's sled database",
            projection_bytes.clone(),
        );
        let quarantined = Gauge::default();
        registry.register(
            "projection_quarantined_cooperatives",
            "Cooperatives whose hash chain broke or under whose subject a poison message was stored: their events are no longer applied",
            quarantined.clone(),
        );
        let poison = Counter::default();
        registry.register(
            "poison_messages",
            "Messages on the event stream that are not relance events, recorded and skipped by the projection",
            poison.clone(),
        );
        let insecure_transport = Gauge::default();
        registry.register(
            "insecure_transport",
            "1 when bearer tokens are accepted in clear beyond loopback (serve --insecure)",
            insecure_transport.clone(),
        );
        let watch_streams = Gauge::default();
        registry.register(
            "watch_streams",
            "Watch streams open on this node",
            watch_streams.clone(),
        );
        let watch_cut_off = Counter::default();
        registry.register(
            "watch_cut_off",
            "Watch streams ended because their client read more slowly than events came",
            watch_cut_off.clone(),
        );
        let rebuild = RebuildGauges::register(&mut registry);
        zero_commands(&commands);
        Self {
            registry,
            commands,
            append_seconds,
            conflicts,
            unavailable_retries,
            events_applied,
            checkpoint,
            log_head,
            lag_events,
            lag_seconds,
            projection_bytes,
            quarantined,
            poison,
            insecure_transport,
            watch_streams,
            watch_cut_off,
            rebuild,
            last_checkpoint: AtomicU64::new(u64::MAX),
            last_poison: AtomicU64::new(0),
            caught_up_at: Mutex::new(Instant::now()),
        }
    }

    /// Whether bearer tokens are accepted in clear beyond loopback (`--insecure`).
    pub fn set_insecure_transport(&self, insecure: bool) {
        self.insecure_transport.set(i64::from(insecure));
    }

    /// One more Watch stream open.
    pub fn watch_started(&self) {
        self.watch_streams.inc();
    }

    /// A Watch stream ended (`cut_off`: its client was too slow).
    pub fn watch_ended(&self, cut_off: bool) {
        self.watch_streams.dec();
        if cut_off {
            self.watch_cut_off.inc();
        }
    }

    /// Where the projection stood when this process started (events applied count from there).
    pub fn start_from(&self, checkpoint: u64) {
        self.last_checkpoint.store(checkpoint, Ordering::Relaxed);
    }

    /// Counts one command's outcome.
    pub fn command(&self, command: &str, outcome: &str) {
        self.commands
            .get_or_create(&CommandLabels {
                command: command.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Refreshes the gauges that are read from the log and the projection.
    pub async fn sample(&self, log: &dyn EventLog, projection: Option<&Projection>) {
        let head = log.last_position().await.ok();
        if let Some(head) = head {
            self.log_head.set(i64::try_from(head).unwrap_or(i64::MAX));
        }
        let Some(p) = projection else { return };
        let checkpoint = p.checkpoint();
        let previous = self.last_checkpoint.swap(checkpoint, Ordering::Relaxed);
        if previous != u64::MAX && checkpoint > previous {
            self.events_applied.inc_by(checkpoint - previous);
        }
        self.checkpoint
            .set(i64::try_from(checkpoint).unwrap_or(i64::MAX));
        // Every poison message the views hold (also those recorded before this process
        // started), so the counter agrees with `relance status`.
        let poison = p.poison_count();
        let seen = self.last_poison.swap(poison, Ordering::Relaxed);
        if poison > seen {
            self.poison.inc_by(poison - seen);
        }
        if let Ok(q) = p.quarantined() {
            self.quarantined
                .set(i64::try_from(q.len()).unwrap_or(i64::MAX));
        }
        self.projection_bytes
            .set(i64::try_from(p.size_on_disk()).unwrap_or(i64::MAX));
        if let Some(head) = head {
            let lag = head.saturating_sub(checkpoint);
            self.lag_events.set(i64::try_from(lag).unwrap_or(i64::MAX));
            if let Ok(mut at) = self.caught_up_at.lock() {
                if lag == 0 {
                    *at = Instant::now();
                }
                self.lag_seconds.set(if lag == 0 {
                    0.0
                } else {
                    at.elapsed().as_secs_f64()
                });
            }
        }
    }

    /// Refreshes the gauges of the latest rebuild of the views (`None`: none ran).
    pub fn sample_rebuild(&self, progress: Option<&crate::RebuildProgress>) {
        let g = &self.rebuild;
        let Some(p) = progress else { return };
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        g.running
            .set(i64::from(p.state == crate::RebuildState::Running));
        g.position.set(n(p.position));
        g.target.set(n(p.target));
        g.rate.set(p.events_per_second);
        g.seconds_left.set(n(p.seconds_left().unwrap_or(0)));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The latest rebuild of the views (`relance projection rebuild --live`).
struct RebuildGauges {
    running: Gauge,
    position: Gauge,
    target: Gauge,
    rate: Gauge<f64, AtomicU64>,
    seconds_left: Gauge,
}

impl RebuildGauges {
    fn register(registry: &mut Registry) -> Self {
        let g = Self {
            running: Gauge::default(),
            position: Gauge::default(),
            target: Gauge::default(),
            rate: Gauge::default(),
            seconds_left: Gauge::default(),
        };
        registry.register(
            "rebuild_running",
            "1 while the views are rebuilt beside the served ones",
            g.running.clone(),
        );
        registry.register(
            "rebuild_position",
            "Last position the rebuilt views applied",
            g.position.clone(),
        );
        registry.register(
            "rebuild_target",
            "The log's head the rebuild runs towards",
            g.target.clone(),
        );
        registry.register(
            "rebuild_events_per_second",
            "Events the rebuild applies per second",
            g.rate.clone(),
        );
        registry.register(
            "rebuild_seconds_left",
            "Seconds until the rebuilt views reach the head at that rate",
            g.seconds_left.clone(),
        );
        g
    }
}

/// Every command type shows from the start (at 0), not only once one has been handled.
fn zero_commands(commands: &Family<CommandLabels, Counter>) {
    for command in relance_domain::Event::TYPE_NAMES {
        let _zero = commands.get_or_create(&CommandLabels {
            command: (*command).to_owned(),
            outcome: "accepted".to_owned(),
        });
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes, sampling the log, the
/// served projection and its rebuild at each scrape.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    log: Arc<dyn EventLog>,
    views: Option<Arc<crate::Views>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, log, views) = (metrics.clone(), log.clone(), views.clone());
            async move {
                let projection = views.as_ref().map(|v| v.serving().current());
                metrics.sample(log.as_ref(), projection.as_deref()).await;
                metrics.sample_rebuild(views.and_then(|v| v.rebuild_progress()).as_ref());
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
