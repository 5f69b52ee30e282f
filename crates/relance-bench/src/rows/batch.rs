//! The batch rows: 35,000 registrations imported through the `Batch` RPC, 1,000 a call, the
//! calls one after the other (as `relance import` sends them), on JetStream beside the raw
//! publish+ack loop and embedded beside the raw sled insert+flush loop, both at concurrency
//! 64 in the same run; then the same count imported from a CSV register by the `relance import`
//! command (`import`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use relance_proto::v1;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;

use crate::cli::Plan;
use crate::load;
use crate::nats;
use crate::report::{fmt_rate, Row};
use crate::running::Running;

/// Cooperatives of the import row (the national register's order of magnitude).
pub const IMPORT_COOPS: u64 = 35_000;
/// Commands per `Batch` call (the RPC's bound).
const PER_CALL: u64 = 1_000;
/// Concurrency of the raw baselines.
const BASELINE_C: usize = 64;

/// Registrations of `n` new cooperatives named after `tag`, per second, through `Batch`.
async fn import_rate(node: &Running, tag: &str, n: u64) -> Result<f64> {
    use v1::batch_command::Command as C;
    use v1::batch_result::Result as R;
    let mut client = CooperativeCommandsClient::new(node.channel().await?);
    let started = Instant::now();
    let mut from = 0;
    while from < n {
        let to = (from + PER_CALL).min(n);
        let commands = (from..to)
            .map(|k| v1::BatchCommand {
                command: Some(C::Register(load::register_request(
                    &format!("{tag}-{k}"),
                    k,
                ))),
            })
            .collect();
        let reply = client
            .batch(v1::BatchRequest {
                commands,
                dry_run: false,
            })
            .await
            .map_err(|s| anyhow!("batch: {s}"))?
            .into_inner();
        let accepted = reply
            .results
            .iter()
            .filter(|r| matches!(&r.result, Some(R::Reply(c)) if !c.duplicate))
            .count() as u64;
        if accepted != to - from {
            bail!("{} of {} registrations accepted", accepted, to - from);
        }
        from = to;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// CPU time per event of this process (the in-process node and its client, or the raw
/// publishers) and of nats-server while `f` ran, in microseconds, beside what `f` returned.
async fn with_cpu<T, F>(
    server: &nats::Server,
    events: impl Fn(&T, f64) -> f64,
    f: F,
) -> Result<(T, Cpu)>
where
    F: std::future::Future<Output = Result<T>>,
{
    let (bench, nats, started) = (
        nats::cpu_seconds("self"),
        server.cpu_seconds(),
        Instant::now(),
    );
    let out = f.await?;
    let n = events(&out, started.elapsed().as_secs_f64()).max(1.0);
    let per = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) => (a - b) * 1e6 / n,
        _ => f64::NAN,
    };
    let cpu = Cpu {
        bench: per(bench, nats::cpu_seconds("self")),
        nats: per(nats, server.cpu_seconds()),
    };
    Ok((out, cpu))
}

/// CPU microseconds per event: this process's and nats-server's.
#[derive(Clone, Copy)]
struct Cpu {
    bench: f64,
    nats: f64,
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} µs relance+client, {:.0} µs nats-server",
            self.bench, self.nats
        )
    }
}

/// The import through `Batch` on JetStream with group commit off (the default: publishes
/// pipelined) and always (atomic batches of up to 1,000), beside the raw publish loop, with
/// the CPU each spent per event; then the CLI import on the last node.
pub async fn batch_jetstream(
    plan: &Plan,
    server: &nats::Server,
    rows: &mut Vec<Row>,
) -> Result<()> {
    use relance_log_nats::GroupCommit;
    let sync = server.sync;
    let s = if sync == nats::Sync::Always { "a" } else { "d" };
    let mut measured = Vec::new();
    let mut last = None;
    for (gc, label) in [(GroupCommit::Off, "off"), (GroupCommit::Always, "always")] {
        let (node, js, _) = super::append::jetstream_node(server, gc).await?;
        let tag = format!("BJ{s}{label}");
        eprintln!(
            "[batch jetstream, sync {}, group commit {label}] import of {IMPORT_COOPS}",
            sync.label()
        );
        let (rate, cpu) = with_cpu(
            server,
            |_, _| IMPORT_COOPS as f64,
            import_rate(&node, &tag, IMPORT_COOPS),
        )
        .await?;
        eprintln!("  {}; CPU per event: {cpu}", fmt_rate(rate));
        measured.push((label, rate, cpu));
        if let Some((previous, _, _)) = last.replace((node, js, tag)) {
            previous.stop().await?;
        }
    }
    let Some((node, js, tag)) = last else {
        bail!("no JetStream node");
    };
    eprintln!(
        "[batch jetstream, sync {}] raw publish c={BASELINE_C}",
        sync.label()
    );
    let t = format!("{tag}raw");
    let (raw, raw_cpu) = with_cpu(
        server,
        |rate, secs| rate * secs,
        load::run(BASELINE_C, plan.window, move |task, ctl, barrier| {
            load::raw_nats_worker(js.clone(), t.clone(), task, ctl, barrier)
        }),
    )
    .await?;
    eprintln!(
        "  {}; CPU per event: {raw_cpu} (counted over warm-up and window)",
        fmt_rate(raw)
    );
    for (label, rate, cpu) in measured {
        let how = if label == "off" {
            "publishes pipelined, acks awaited"
        } else {
            "atomic batches of up to 1,000"
        };
        rows.push(
            Row::rate(
                format!(
                    "import {IMPORT_COOPS} registrations via Batch, JetStream (sync {}, group commit {label})",
                    sync.label()
                ),
                rate,
                "raw async-nats publish+ack c=64",
                raw,
            )
            .target("≥ 1×", Some(rate >= raw))
            .note(format!(
                "1,000 a call, calls in sequence: decide each, {how}; CPU per event: {cpu}; raw loop: {raw_cpu}"
            )),
        );
    }
    let backend = format!("JetStream (sync {})", sync.label());
    let batch_seconds = IMPORT_COOPS as f64 / rows.last().and_then(|r| r.value).unwrap_or(1.0);
    let tag = format!("{tag}cli");
    super::import::cli_import_row(&node, &backend, &tag, IMPORT_COOPS, batch_seconds, rows).await?;
    node.stop().await?;
    Ok(())
}

pub async fn batch_embedded(plan: &Plan, work: &Path, rows: &mut Vec<Row>) -> Result<()> {
    let dir = work.join("batch-embedded");
    let log = relance_log_sled::SledLog::open(dir.join("log"))?;
    let node = Running::start(Arc::new(log), None).await?;
    eprintln!("[batch embedded] import of {IMPORT_COOPS}");
    let relance = import_rate(&node, "BE", IMPORT_COOPS).await?;
    eprintln!(
        "  {}; raw sled insert+flush c={BASELINE_C}",
        fmt_rate(relance)
    );
    let raw_db = sled::open(dir.join("raw"))?;
    let tree = raw_db.open_tree("raw")?;
    let raw = load::run(BASELINE_C, plan.window, move |task, ctl, barrier| {
        load::raw_sled_worker(tree.clone(), task, ctl, barrier)
    })
    .await?;
    eprintln!("  {}", fmt_rate(raw));
    rows.push(
        Row::rate(
            format!("import {IMPORT_COOPS} registrations via Batch, embedded"),
            relance,
            "raw sled insert+flush c=64",
            raw,
        )
        .target("≥ 1×", Some(relance >= raw))
        .note("1,000 a call, calls in sequence: decide each, one sled batch and one flush a call"),
    );
    let batch_seconds = IMPORT_COOPS as f64 / relance;
    super::import::cli_import_row(
        &node,
        "embedded",
        "BEcli",
        IMPORT_COOPS,
        batch_seconds,
        rows,
    )
    .await?;
    node.stop().await?;
    Ok(())
}
