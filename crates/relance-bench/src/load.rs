//! Closed-loop append load: `concurrency` tasks, each with its own cooperatives (or keys),
//! each doing one append after the other; the rate is counted over a window after a warm-up.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use relance_proto::v1;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use tonic::transport::Channel;

use crate::gen;

/// How long to load and how long to count.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

/// What the tasks share: when to stop, how many appends were acknowledged, and how long each
/// took while the window counts.
pub struct Ctl {
    stop: AtomicBool,
    done: AtomicU64,
    latencies: std::sync::Mutex<Option<Histogram<u64>>>,
}

impl Ctl {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    pub fn tick(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    /// One more acknowledged append, sent at `sent`: its latency counts inside the window.
    pub fn tick_since(&self, sent: Instant) {
        self.tick();
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Ok(mut h) = self.latencies.lock() {
            if let Some(h) = h.as_mut() {
                h.saturating_record(micros.max(1));
            }
        }
    }
}

/// A closed-loop measurement: appends per second, and the 99th percentile latency (ms) of
/// those whose workers time them.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub rate: f64,
    pub p99_ms: Option<f64>,
}

/// Runs `concurrency` copies of `worker` (each does its own setup, waits on the barrier, then
/// appends until stopped) and returns acknowledged appends per second over the window.
pub async fn run<W, Fut>(concurrency: usize, window: Window, worker: W) -> Result<f64>
where
    W: Fn(usize, Arc<Ctl>, Arc<tokio::sync::Barrier>) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Ok(measure(concurrency, window, worker).await?.rate)
}

/// [`run`], with the latency percentile of the appends timed inside the window.
pub async fn measure<W, Fut>(concurrency: usize, window: Window, worker: W) -> Result<Measured>
where
    W: Fn(usize, Arc<Ctl>, Arc<tokio::sync::Barrier>) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let ctl = Arc::new(Ctl {
        stop: AtomicBool::new(false),
        done: AtomicU64::new(0),
        latencies: std::sync::Mutex::new(None),
    });
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        tasks.push(tokio::spawn(worker(t, ctl.clone(), barrier.clone())));
    }
    // If a worker fails during its setup the barrier never opens: watch for that.
    let setup = tokio::time::timeout(Duration::from_secs(120), barrier.wait()).await;
    if setup.is_err() {
        ctl.stop.store(true, Ordering::Relaxed);
        for t in tasks {
            if let Ok(Err(e)) = t.await {
                return Err(e.context("worker setup"));
            }
        }
        return Err(anyhow!("workers did not finish their setup in 120 s"));
    }
    tokio::time::sleep(window.warmup).await;
    if let Ok(mut h) = ctl.latencies.lock() {
        *h = Some(Histogram::new_with_bounds(1, 60_000_000, 3)?);
    }
    let c0 = ctl.done.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(window.measure).await;
    let c1 = ctl.done.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let latencies = ctl.latencies.lock().ok().and_then(|mut h| h.take());
    ctl.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.context("worker task")??;
    }
    let p99_ms = latencies
        .filter(|h| !h.is_empty())
        .map(|h| h.value_at_quantile(0.99) as f64 / 1000.0);
    Ok(Measured {
        rate: (c1 - c0) as f64 / elapsed,
        p99_ms,
    })
}

/// Cooperatives per task in the append rows.
pub const COOPS_PER_TASK: usize = 4;

fn meta(coop: &str, request_id: String) -> Option<v1::CommandMeta> {
    Some(v1::CommandMeta {
        request_id,
        cooperative_id: coop.to_owned(),
        expected_version: None,
        correlation_id: "bench".into(),
    })
}

pub fn register_request(coop: &str, i: u64) -> v1::RegisterRequest {
    v1::RegisterRequest {
        meta: meta(coop, format!("{coop}-reg")),
        data: Some(v1::CooperativeRegistered {
            name: format!("Coopérative bench {i}"),
            registry_court: "TPI Benguérir".into(),
            registry_number: format!("{i}/2015"),
            sector: v1::Sector::Agriculture as i32,
            activity: "élevage ovin".into(),
            commune: "Benguérir".into(),
            members: 12,
            employees: 4,
            registered_on: "2015-01-15".into(),
        }),
    }
}

pub fn headcount_request(coop: &str, seq: u64) -> v1::ReportHeadcountRequest {
    v1::ReportHeadcountRequest {
        meta: meta(coop, format!("{coop}-h{seq}")),
        data: Some(v1::HeadcountReported {
            members: 10 + seq % 17,
            employees: 3 + seq % 5,
            as_of: "2020-06-01".into(),
        }),
    }
}

/// One task of the relance append rows: registers its cooperatives, then reports headcounts
/// round-robin over them through the gRPC command service.
pub async fn relance_worker(
    mut client: CooperativeCommandsClient<Channel>,
    tag: String,
    task: usize,
    ctl: Arc<Ctl>,
    barrier: Arc<tokio::sync::Barrier>,
) -> Result<()> {
    let coops: Vec<String> = (0..COOPS_PER_TASK)
        .map(|k| format!("{tag}-{task}-{k}"))
        .collect();
    for (k, c) in coops.iter().enumerate() {
        client
            .register(register_request(c, (task * COOPS_PER_TASK + k) as u64))
            .await
            .with_context(|| format!("registering {c}"))?;
    }
    barrier.wait().await;
    let mut seq = 0u64;
    while !ctl.stopped() {
        let c = &coops[(seq as usize) % COOPS_PER_TASK];
        let sent = Instant::now();
        client
            .report_headcount(headcount_request(c, seq))
            .await
            .with_context(|| format!("headcount on {c}"))?;
        ctl.tick_since(sent);
        seq += 1;
    }
    Ok(())
}

/// One task of the raw JetStream baseline: publish with the relance headers and a message id,
/// await the acknowledgement, again.
pub async fn raw_nats_worker(
    js: async_nats::jetstream::Context,
    tag: String,
    task: usize,
    ctl: Arc<Ctl>,
    barrier: Arc<tokio::sync::Barrier>,
) -> Result<()> {
    let sample = gen::Sample::new(&format!("{tag}-{task}-0"));
    let payload = Bytes::from(sample.payload.clone());
    barrier.wait().await;
    let mut seq = 0u64;
    while !ctl.stopped() {
        let k = (seq as usize) % COOPS_PER_TASK;
        let subject = format!("bench.raw.{tag}-{task}-{k}");
        let message = async_nats::jetstream::message::PublishMessage::build()
            .headers(sample.headers.clone())
            .message_id(format!("{tag}-{task}-{seq}"))
            .payload(payload.clone());
        let sent = Instant::now();
        js.send_publish(subject, message)
            .await
            .context("raw publish")?
            .await
            .context("raw publish acknowledgement")?;
        ctl.tick_since(sent);
        seq += 1;
    }
    Ok(())
}

/// One task of the raw sled baseline: insert the same payload, flush (on the blocking pool, as
/// the embedded log does), again.
pub async fn raw_sled_worker(
    tree: sled::Tree,
    task: usize,
    ctl: Arc<Ctl>,
    barrier: Arc<tokio::sync::Barrier>,
) -> Result<()> {
    let sample = gen::Sample::new(&format!("S-{task}-0"));
    barrier.wait().await;
    let mut seq = 0u64;
    while !ctl.stopped() {
        let mut key = (task as u64).to_be_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        tree.insert(key, sample.payload.as_slice())?;
        let t = tree.clone();
        tokio::task::spawn_blocking(move || t.flush())
            .await
            .context("flush task")??;
        ctl.tick();
        seq += 1;
    }
    Ok(())
}

/// One task of the PostgreSQL peer: the usual event-store append, one transaction each.
pub async fn postgres_worker(
    conninfo: String,
    tag: String,
    task: usize,
    ctl: Arc<Ctl>,
    barrier: Arc<tokio::sync::Barrier>,
) -> Result<()> {
    let (mut client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    let sample = gen::Sample::new(&format!("{tag}-{task}-0"));
    let select = client
        .prepare(
            "SELECT COALESCE(MAX(version), 0) FROM relance_bench_events WHERE aggregate_id = $1",
        )
        .await?;
    let insert = client
        .prepare(
            "INSERT INTO relance_bench_events (aggregate_id, version, payload) VALUES ($1, $2, $3)",
        )
        .await?;
    let coops: Vec<String> = (0..COOPS_PER_TASK)
        .map(|k| format!("{tag}-{task}-{k}"))
        .collect();
    barrier.wait().await;
    let mut seq = 0u64;
    while !ctl.stopped() {
        let c = &coops[(seq as usize) % COOPS_PER_TASK];
        let sent = Instant::now();
        let tx = client.transaction().await?;
        let version: i64 = tx.query_one(&select, &[c]).await?.get(0);
        tx.execute(&insert, &[c, &(version + 1), &sample.payload])
            .await?;
        tx.commit().await?;
        ctl.tick_since(sent);
        seq += 1;
    }
    Ok(())
}

/// Creates (or empties) the peer's table; the connection string that worked, or why none did.
pub async fn postgres_setup(candidates: &[String]) -> Result<String, String> {
    let mut why = Vec::new();
    for conninfo in candidates {
        let connected = tokio::time::timeout(
            Duration::from_secs(3),
            tokio_postgres::connect(conninfo, tokio_postgres::NoTls),
        )
        .await;
        let (client, connection) = match connected {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                why.push(format!("{conninfo}: {e}"));
                continue;
            }
            Err(_) => {
                why.push(format!("{conninfo}: timed out"));
                continue;
            }
        };
        tokio::spawn(connection);
        let ddl = "DROP TABLE IF EXISTS relance_bench_events; \
                   CREATE TABLE relance_bench_events (aggregate_id text NOT NULL, version bigint NOT NULL, \
                   payload bytea NOT NULL, UNIQUE (aggregate_id, version))";
        match client.batch_execute(ddl).await {
            Ok(()) => return Ok(conninfo.clone()),
            Err(e) => why.push(format!("{conninfo}: {e}")),
        }
    }
    Err(why.join("; "))
}

/// Drops the peer's table.
pub async fn postgres_cleanup(conninfo: &str) {
    if let Ok((client, connection)) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await
    {
        tokio::spawn(connection);
        let _ = client
            .batch_execute("DROP TABLE IF EXISTS relance_bench_events")
            .await;
    }
}

/// One task of the breakdown row: a gRPC health check, awaited, again — the gRPC round trip
/// every relance command pays before any work, on the same channels and server.
pub async fn grpc_floor_worker(
    channel: Channel,
    ctl: Arc<Ctl>,
    barrier: Arc<tokio::sync::Barrier>,
) -> Result<()> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    barrier.wait().await;
    while !ctl.stopped() {
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .context("health check")?;
        ctl.tick();
    }
    Ok(())
}
