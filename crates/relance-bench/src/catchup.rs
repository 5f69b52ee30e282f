//! Projection catch-up: relance's projection following the stream in a child process (so its
//! peak RSS is its own), against a raw read of the stream that does nothing, as the follower
//! reads it; and the other ways of reading the stream.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::gen::{CATCHUP_PREFIX, CATCHUP_STREAM};

/// Reads `events` messages of the catch-up stream with async-nats's ordered consumer (the
/// follower's read before it asked for larger batches); events per second.
pub async fn raw_read(url: &str, events: u64) -> Result<f64> {
    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(CATCHUP_STREAM).await?;
    let started = Instant::now();
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: format!("{CATCHUP_PREFIX}.>"),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await?;
    drain(consumer.messages().await?, events, started).await
}

/// Takes `events` messages from `messages`, each within 30 s, and does nothing with them;
/// events per second since `started`.
async fn drain<E>(
    mut messages: impl futures::Stream<Item = Result<async_nats::jetstream::Message, E>> + Unpin,
    events: u64,
    started: Instant,
) -> Result<f64>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut n = 0u64;
    let mut bytes = 0usize;
    while n < events {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .context("raw read stalled")?
            .ok_or_else(|| anyhow!("raw read ended early"))??;
        bytes += m.payload.len();
        n += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    Ok(rate)
}

/// Reads `events` messages of the catch-up stream as the projection's follower does (a pull
/// consumer asking for no acknowledgements, [`relance_log_nats::FOLLOW_BATCH`] messages a
/// request) and does nothing with them: the catch-up's baseline; events per second.
pub async fn raw_pull_read(url: &str, events: u64) -> Result<f64> {
    use async_nats::jetstream::consumer::{pull, AckPolicy};
    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(CATCHUP_STREAM).await?;
    let started = Instant::now();
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: format!("{CATCHUP_PREFIX}.>"),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await?;
    let messages = consumer
        .stream()
        .max_messages_per_batch(relance_log_nats::FOLLOW_BATCH)
        .messages()
        .await?;
    drain(messages, events, started).await
}

/// Reads `events` messages of the catch-up stream with batch direct gets (nats-server 2.11+),
/// `batch` messages a request, one request at a time; events per second.
pub async fn raw_batch_get_read(url: &str, events: u64, batch: usize) -> Result<f64> {
    let client = async_nats::connect(url).await?;
    let started = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    let mut cursor = 1u64;
    while n < events {
        let inbox = client.new_inbox();
        let mut replies = client.subscribe(inbox.clone()).await?;
        let body = serde_json::json!({
            "seq": cursor,
            "next_by_subj": format!("{CATCHUP_PREFIX}.>"),
            "batch": batch,
        });
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{CATCHUP_STREAM}"),
                inbox,
                body.to_string().into(),
            )
            .await?;
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), replies.next())
                .await
                .context("raw batch get stalled")?
                .ok_or_else(|| anyhow!("raw batch get ended early"))?;
            match m.status.map(|s| s.as_u16()) {
                None => {
                    bytes += m.payload.len();
                    n += 1;
                    cursor = m
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Nats-Sequence"))
                        .and_then(|v| v.as_str().parse::<u64>().ok())
                        .ok_or_else(|| anyhow!("a direct get reply without its sequence"))?
                        + 1;
                }
                Some(204) => break,
                Some(code) => bail!("batch direct get answered {code}"),
            }
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    Ok(rate)
}

/// What the child reports on stdout.
#[derive(Debug, Serialize, Deserialize)]
pub struct Rebuilt {
    pub events: u64,
    pub seconds: f64,
    /// VmHWM before the rebuild (runtime, connection, empty sled), kB.
    pub start_hwm_kb: u64,
    /// VmHWM after it, kB.
    pub peak_hwm_kb: u64,
    /// The views on disk once compacted (the end of a rebuild), bytes.
    pub disk_bytes: u64,
    /// The views on disk as the follower left them, before compacting, bytes.
    #[serde(default)]
    pub grown_bytes: u64,
    /// Copying the views into their compact directory, s (part of the rebuild's time).
    #[serde(default)]
    pub compact_seconds: f64,
    /// The Merkle tree's own keys and values, bytes.
    #[serde(default)]
    pub tree_bytes: u64,
    /// The tree of the same leaves written alone, batch by batch as a catch-up writes it, s.
    #[serde(default)]
    pub tree_seconds: f64,
    /// Inclusion proofs at positions spread over the log, µs: p50 and p99.
    #[serde(default)]
    pub proof_us: [f64; 2],
    /// Gets of cooperative views from the same projection, µs: p50 and p99 (the baseline).
    #[serde(default)]
    pub get_us: [f64; 2],
}

/// p50 and p99 of `samples`, µs.
fn percentiles(mut samples: Vec<Duration>) -> [f64; 2] {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    [at(0.50), at(0.99)]
}

/// What the Merkle tree costs in the projection the child rebuilt: its bytes, the time to
/// write it alone for the same events, and proof latency beside a view read.
fn tree_cost(
    projection: &relance_projection::Projection,
    dir: &Path,
    head: u64,
) -> Result<(u64, f64, [f64; 2], [f64; 2])> {
    let bytes = projection.tree_bytes()?;
    let leaves = projection.tree_leaves()?;
    let scratch = sled::open(dir.join("tree-alone"))?.open_tree("t")?;
    let started = Instant::now();
    relance_projection::write_tree_alone(&scratch, &leaves, relance_projection::MAX_BATCH)?;
    scratch.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    let mut proofs = Vec::with_capacity(1000);
    for i in 0..1000u64 {
        let position = 1 + (i * 7_919 + 13) % head.max(1);
        let started = Instant::now();
        std::hint::black_box(projection.inclusion_proof(position, 0)?);
        proofs.push(started.elapsed());
    }
    let ids = projection.list(&relance_projection::Filter::default(), 500, None)?;
    let mut gets = Vec::with_capacity(1000);
    for i in 0..1000usize {
        let Some(view) = ids.items.get(i % ids.items.len().max(1)) else {
            break;
        };
        let started = Instant::now();
        std::hint::black_box(projection.get(view.id.as_str())?);
        gets.push(started.elapsed());
    }
    Ok((bytes, seconds, percentiles(proofs), percentiles(gets)))
}

/// Peak resident set size of this process so far, kB.
pub fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// relance's JetStream log over the catch-up stream.
pub async fn connect_log(url: &str) -> Result<Arc<dyn relance_log::EventLog>> {
    let mut config = relance_log_nats::JetStreamConfig::new(url);
    config.stream = CATCHUP_STREAM.into();
    config.subject_prefix = CATCHUP_PREFIX.into();
    let log = relance_log_nats::JetStreamLog::connect(config)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(Arc::new(log))
}

/// The child's job: follow the catch-up stream with `relance_projection::run` into `dir` until
/// the projection reaches `head`.
pub async fn child(url: &str, dir: &Path, head: u64) -> Result<()> {
    let log = connect_log(url).await?;
    let history = Arc::new(relance_projection::LogHistory::new(log.clone()));
    let projection = relance_projection::Projection::open_over_log(dir, history)?;
    let start_hwm_kb = vm_hwm_kb();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn(relance_projection::run(projection.clone(), log, stop_rx));
    loop {
        match projection.wait_for(head, Duration::from_secs(3)).await {
            Ok(_) => break,
            Err(at) => {
                if task.is_finished() {
                    bail!("the projection stopped at {at}");
                }
                eprintln!(
                    "  rebuilding: {at}/{head} ({:.0}/s, VmHWM {} MB)",
                    at as f64 / started.elapsed().as_secs_f64(),
                    vm_hwm_kb() / 1024
                );
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak_hwm_kb = vm_hwm_kb();
    let _ = stop.send(true);
    task.await??;
    projection.flush().await?;
    let grown_bytes = projection.size_on_disk();
    // A rebuild ends by compacting its views (relance_projection::compact), as `relance
    // projection rebuild` does.
    eprintln!("  compacting the views");
    let compacted = dir.with_extension("compacted");
    let started = Instant::now();
    let copy = {
        let (p, to) = (projection.clone(), compacted.clone());
        tokio::task::spawn_blocking(move || p.compact_into(&to)).await??
    };
    let compact_seconds = started.elapsed().as_secs_f64();
    let disk_bytes = copy.size_on_disk;
    eprintln!(
        "  {} records, {} MB of keys and values: {} MB on disk (from {} MB) in {compact_seconds:.1} s",
        copy.records,
        copy.bytes / 1_000_000,
        disk_bytes / 1_000_000,
        grown_bytes / 1_000_000
    );
    eprintln!("  measuring the Merkle tree: its bytes, written alone, proofs");
    let (tree_bytes, tree_seconds, proof_us, get_us) = tree_cost(&projection, dir, head)?;
    let out = Rebuilt {
        events: head,
        seconds,
        start_hwm_kb,
        peak_hwm_kb,
        disk_bytes,
        grown_bytes,
        compact_seconds,
        tree_bytes,
        tree_seconds,
        proof_us,
        get_us,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

/// Runs the child (this same binary, `rebuild` subcommand) and reads its report.
pub async fn rebuild_in_child(url: &str, dir: &Path, head: u64) -> Result<Rebuilt> {
    let exe = std::env::current_exe()?;
    let out = tokio::process::Command::new(exe)
        .arg("rebuild")
        .arg("--url")
        .arg(url)
        .arg("--dir")
        .arg(dir)
        .arg("--head")
        .arg(head.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        // Not `output()`: tokio's captures stderr too, and the child's progress would be lost.
        .spawn()?
        .wait_with_output()
        .await?;
    if !out.status.success() {
        bail!("the rebuild child failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .last()
        .ok_or_else(|| anyhow!("the rebuild child printed nothing"))?;
    Ok(serde_json::from_str(line)?)
}
