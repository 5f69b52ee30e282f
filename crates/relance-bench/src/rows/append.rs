//! The append rows: relance on JetStream against a raw publish and the gRPC floor, and
//! relance embedded against a raw sled insert+flush.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::cli::{Part, Plan};
use crate::load::{self, Measured};
use crate::nats::{self, Sync};
use crate::report::{fmt_rate, Row};
use crate::running::Running;
use relance_log_nats::JetStreamLog;

/// A relance node on the JetStream log of `server` (group commit on or off), and the raw
/// baseline's own stream (`BENCH_RAW`, configured like relance's: file storage, 10 min
/// duplicate window).
pub(crate) async fn jetstream_node(
    server: &nats::Server,
    group_commit: relance_log_nats::GroupCommit,
) -> Result<(Running, async_nats::jetstream::Context, JetStreamLog)> {
    let log = relance_log_nats::JetStreamLog::connect(relance_log_nats::JetStreamConfig {
        group_commit,
        ..relance_log_nats::JetStreamConfig::new(server.url.clone())
    })
    .await
    .map_err(|e| anyhow!("{e}"))?;
    eprintln!(
        "[jetstream] group commit {}",
        if log.atomic_batch() {
            "on (atomic batches)"
        } else {
            "off (one publish per append)"
        }
    );
    let node = Running::start(Arc::new(log.clone()), None).await?;
    let client = async_nats::connect(&server.url).await?;
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH_RAW".into(),
        subjects: vec!["bench.raw.>".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow!("creating BENCH_RAW: {e}"))?;
    Ok((node, js, log))
}

pub async fn append_jetstream(
    plan: &Plan,
    server: &nats::Server,
    rows: &mut Vec<Row>,
    js_rates: &mut Vec<(Sync, usize, Measured)>,
) -> Result<()> {
    let (node, js, log) = jetstream_node(server, relance_log_nats::GroupCommit::Always).await?;
    let sync = server.sync;
    let mut measured = Vec::new();
    for &c in &plan.concurrency {
        let tag = format!("J{}{c}", if sync == Sync::Always { "a" } else { "d" });
        eprintln!(
            "[append jetstream, sync {}] concurrency {c}: relance",
            sync.label()
        );
        let grouped = node.commands(c, plan.window, &tag).await?;
        let relance = grouped.rate;
        eprintln!(
            "  {}; group commit so far: {:?}",
            fmt_rate(relance),
            log.group_stats()
        );
        let js2 = js.clone();
        let t = tag.clone();
        let raw = load::run(c, plan.window, move |task, ctl, barrier| {
            load::raw_nats_worker(js2.clone(), t.clone(), task, ctl, barrier)
        })
        .await?;
        eprintln!("  {}; gRPC round trip alone", fmt_rate(raw));
        let floor = node.grpc_floor_rate(c, plan.window).await?;
        eprintln!("  {}", fmt_rate(floor));
        js_rates.push((sync, c, grouped));
        measured.push((c, grouped));
        if plan.has(Part::AppendJetstream) {
            let r = Row::rate(
                format!("append JetStream c={c} (sync {})", sync.label()),
                relance,
                "raw async-nats publish+ack",
                raw,
            );
            // Group commit's target (sync always): a group beats a lone publish at c=64.
            let r = match (c, sync) {
                (64, Sync::Always) => {
                    let met = r.ratio.map(|x| x >= 1.0);
                    r.target("≥ 1×", met)
                }
                (64, Sync::Default) => {
                    let met = r.ratio.map(|x| x >= 0.7);
                    r.target("≥ 0.7×", met)
                }
                _ => r,
            };
            rows.push(r.note("gRPC → decide → publish with expected subject sequence → ack"));
            rows.push(
                Row::rate(
                    format!("  breakdown: gRPC round trip alone c={c}"),
                    floor,
                    "raw async-nats publish+ack",
                    raw,
                )
                .note("grpc.health.v1.Health/Check on the same node and channels: the ceiling of any command through gRPC on this machine"),
            );
        }
    }
    node.stop().await?;
    if plan.has(Part::AppendJetstream) {
        group_commit_rows(plan, server, &measured, rows).await?;
    }
    Ok(())
}

/// The same commands on a node with group commit off (one publish per append, as on a server
/// without atomic batches): what grouping adds or costs, at c=1 the latency it adds.
async fn group_commit_rows(
    plan: &Plan,
    server: &nats::Server,
    measured: &[(usize, Measured)],
    rows: &mut Vec<Row>,
) -> Result<()> {
    let (node, _, _) = jetstream_node(server, relance_log_nats::GroupCommit::Off).await?;
    let sync = server.sync;
    for &(c, on) in measured {
        let tag = format!("J{}{c}off", if sync == Sync::Always { "a" } else { "d" });
        eprintln!(
            "[append jetstream, sync {}] concurrency {c}: group commit off",
            sync.label()
        );
        let off = node.commands(c, plan.window, &tag).await?;
        eprintln!("  {}", fmt_rate(off.rate));
        let p99 = |m: Measured| m.p99_ms.map_or("-".to_owned(), |ms| format!("{ms:.2} ms"));
        rows.push(
            Row::rate(
                format!("  group commit on vs off c={c} (sync {})", sync.label()),
                on.rate,
                "relance, group commit off",
                off.rate,
            )
            .note(format!(
                "command p99: {} with, {} without",
                p99(on),
                p99(off)
            )),
        );
    }
    node.stop().await?;
    Ok(())
}

pub async fn append_embedded(plan: &Plan, work: &Path, rows: &mut Vec<Row>) -> Result<()> {
    let dir = work.join("embedded");
    let log = relance_log_sled::SledLog::open(dir.join("log"))?;
    let node = Running::start(Arc::new(log), None).await?;
    let raw_db = sled::open(dir.join("raw"))?;
    let tree = raw_db.open_tree("raw")?;
    for &c in &plan.concurrency {
        let tag = format!("E{c}");
        eprintln!("[append embedded] concurrency {c}: relance");
        let relance = node.command_rate(c, plan.window, &tag).await?;
        eprintln!("  {}; raw sled insert+flush", fmt_rate(relance));
        let tr = tree.clone();
        let raw = load::run(c, plan.window, move |task, ctl, barrier| {
            load::raw_sled_worker(tr.clone(), task, ctl, barrier)
        })
        .await?;
        eprintln!("  {}", fmt_rate(raw));
        let r = Row::rate(
            format!("append embedded c={c}"),
            relance,
            "raw sled insert+flush",
            raw,
        );
        let met = r.ratio.map(|x| x >= 0.5);
        rows.push(
            r.target("≥ 0.5×", met)
                .note("gRPC → decide → sled batch → flush"),
        );
    }
    node.stop().await?;
    Ok(())
}
