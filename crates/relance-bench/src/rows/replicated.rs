//! The replicated rows (issue 16): relance's commands on a stream with three replicas over a
//! 3-node cluster on this machine, every node with `sync_interval: always`, with group commit
//! always and off, beside the PostgreSQL events table and the raw publish+ack loop on an R3
//! stream of its own, all in the same run.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use relance_log_nats::{GroupCommit, JetStreamConfig, JetStreamLog};

use crate::cli::Plan;
use crate::cluster::Cluster;
use crate::load::{self, Measured};
use crate::report::{fmt_rate, Row};
use crate::running::Running;

/// A relance node on the cluster's R3 stream.
async fn node(cluster: &Cluster, group_commit: GroupCommit) -> Result<(Running, JetStreamLog)> {
    let log = JetStreamLog::connect(JetStreamConfig {
        group_commit,
        replicas: 3,
        ..JetStreamConfig::new(cluster.urls.clone())
    })
    .await
    .map_err(|e| anyhow!("{e}"))?;
    Ok((Running::start(Arc::new(log.clone()), None).await?, log))
}

pub async fn append_replicated(
    plan: &Plan,
    binary: &std::path::Path,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let cluster = Cluster::start(binary, 3).await?;
    eprintln!(
        "[replicated] 3-node cluster on {} (sync_interval always)",
        cluster.urls
    );
    let concurrency: Vec<usize> = match plan
        .concurrency
        .iter()
        .copied()
        .filter(|c| *c >= 16)
        .collect::<Vec<_>>()
    {
        c if c.is_empty() => vec![16, 64],
        c => c,
    };
    let (on, on_log) = node(&cluster, GroupCommit::Always).await?;
    let (off, _) = node(&cluster, GroupCommit::Off).await?;
    let client = async_nats::connect(cluster.urls.split(',').collect::<Vec<_>>()).await?;
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH_RAW".into(),
        subjects: vec!["bench.raw.>".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        num_replicas: 3,
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow!("creating the R3 BENCH_RAW: {e}"))?;
    let postgres = load::postgres_setup(&plan.postgres).await;
    for c in concurrency {
        eprintln!("[replicated] c={c}: group commit always");
        let grouped = on.commands(c, plan.window, &format!("R3a{c}")).await?;
        eprintln!("  {}; {:?}", fmt_rate(grouped.rate), on_log.group_stats());
        eprintln!("[replicated] c={c}: group commit off");
        let single = off.commands(c, plan.window, &format!("R3o{c}")).await?;
        eprintln!("  {}", fmt_rate(single.rate));
        let (js2, tag) = (js.clone(), format!("R3raw{c}"));
        let raw = load::run(c, plan.window, move |task, ctl, barrier| {
            load::raw_nats_worker(js2.clone(), tag.clone(), task, ctl, barrier)
        })
        .await?;
        eprintln!("  raw publish+ack R3: {}", fmt_rate(raw));
        let pg = match &postgres {
            Ok(conninfo) => {
                let (ci, tag) = (conninfo.clone(), format!("R3P{c}"));
                let m = load::measure(c, plan.window, move |task, ctl, barrier| {
                    load::postgres_worker(ci.clone(), tag.clone(), task, ctl, barrier)
                })
                .await?;
                eprintln!("  PostgreSQL: {}", fmt_rate(m.rate));
                Some(m)
            }
            Err(why) => {
                eprintln!("  PostgreSQL unavailable: {why}");
                None
            }
        };
        push_rows(rows, c, &grouped, &single, raw, pg.as_ref());
    }
    if let Ok(conninfo) = &postgres {
        super::postgres::postgres_cleanup_quiet(conninfo).await;
    }
    on.stop().await?;
    off.stop().await?;
    Ok(())
}

fn push_rows(
    rows: &mut Vec<Row>,
    c: usize,
    grouped: &Measured,
    single: &Measured,
    raw: f64,
    pg: Option<&Measured>,
) {
    let p99 = |m: &Measured| m.p99_ms.map_or("-".to_owned(), |p| format!("{p:.2} ms"));
    rows.push(
        Row::rate(
            format!("R3 group commit on vs off c={c} (sync always)"),
            grouped.rate,
            "relance, group commit off, R3",
            single.rate,
        )
        .note(format!("p99 {} on, {} off", p99(grouped), p99(single))),
    );
    let r = Row::rate(
        format!("R3 append JetStream c={c} (sync always, group commit on)"),
        grouped.rate,
        "raw async-nats publish+ack, R3 stream",
        raw,
    );
    let met = (c >= 64).then_some(grouped.rate >= raw);
    rows.push(r.target(if c >= 64 { "≥ 1×" } else { "-" }, met));
    if let Some(pg) = pg {
        for (label, m) in [("on", grouped), ("off", single)] {
            let r = Row::rate(
                format!(
                    "R3 append JetStream vs PostgreSQL c={c} (sync always, group commit {label})"
                ),
                m.rate,
                "PostgreSQL events table, 1 tx/append",
                pg.rate,
            )
            .note(format!("p99 {} relance, {} PostgreSQL", p99(m), p99(pg)));
            let met = r.ratio.map(|x| x >= 1.5);
            rows.push(if label == "on" {
                r.target("≥ 1.5×", met)
            } else {
                r
            });
        }
    }
}
