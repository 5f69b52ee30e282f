//! `relance-bench`: relance's figures, each beside a baseline measured in the same run on the
//! same machine (raw JetStream publish, raw sled insert+flush, a PostgreSQL event store,
//! a raw pull-consumer read, gRPC health checks, sha256sum), as ratios: the machines are
//! small and noisy, absolute numbers alone would say little.
//!
//! `cargo run --release -p relance-bench -- --quick` (under a minute); without `--quick` the
//! full sizes (1,000,000 events). Progress goes to stderr, the table (or `--json`) to stdout.

mod catchup;
mod cli;
mod cluster;
mod gen;
mod load;
mod nats;
mod queries;
mod report;
mod rows;
mod running;

/// The allocator the `relance` binary uses, for relance's side and the baselines alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use clap::Parser;

use crate::cli::{plan, Args, Cmd, Part, Plan};
use crate::nats::Sync;
use crate::report::{render, Report, Row};

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(Cmd::Rebuild { url, dir, head }) = &args.cmd {
        return runtime.block_on(catchup::child(url, dir, *head));
    }
    runtime.block_on(bench(args))
}

/// Every row asked for, then the report on stdout.
async fn bench(args: Args) -> Result<()> {
    let plan = plan(&args);
    let started = Instant::now();
    let binary = relance_tests::nats::current_binary().to_path_buf();
    let mut rows: Vec<Row> = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    let mut nats_version = String::new();
    let work = tempfile::tempdir()?;
    eprintln!(
        "relance-bench ({}): {} events over {} cooperatives, windows of {:?}, nats-server {}",
        if plan.quick { "quick" } else { "full" },
        plan.events,
        plan.coops,
        plan.window.measure,
        binary.display()
    );

    // relance's JetStream rates by (sync, concurrency), for the PostgreSQL comparison.
    let mut js_rates: Vec<(Sync, usize, load::Measured)> = Vec::new();
    let mut export: Option<(PathBuf, u64)> = None;

    for (i, sync) in plan.syncs.iter().copied().enumerate() {
        let server = nats::Server::start(&binary, sync)?;
        nats_version = server.version.clone();
        eprintln!(
            "[nats] {} on {} (sync_interval {})",
            server.version,
            server.url,
            sync.label()
        );
        if plan.has(Part::AppendJetstream) || plan.has(Part::AppendPostgres) {
            rows::append::append_jetstream(&plan, &server, &mut rows, &mut js_rates).await?;
        }
        if plan.has(Part::Batch) {
            rows::batch::batch_jetstream(&plan, &server, &mut rows).await?;
        }
        // The read side runs once, on the first server.
        if i == 0
            && [Part::Catchup, Part::Queries, Part::Audit, Part::Web]
                .iter()
                .any(|p| plan.has(*p))
        {
            export = read_side(&plan, &server, work.path(), &mut rows).await?;
        }
    }

    if plan.has(Part::Replicated) {
        rows::replicated::append_replicated(&plan, &binary, &mut rows).await?;
    }
    if plan.has(Part::AppendEmbedded) {
        rows::append::append_embedded(&plan, work.path(), &mut rows).await?;
    }
    if plan.has(Part::QueriesEmbedded) {
        rows::queries::embedded_query_rows(&plan, work.path(), &mut rows).await?;
    }
    if plan.has(Part::Batch) {
        rows::batch::batch_embedded(&plan, work.path(), &mut rows).await?;
    }
    if plan.has(Part::AppendPostgres) {
        rows::postgres::append_postgres(&plan, &js_rates, &mut rows).await?;
    }
    if let Some((path, events)) = &export {
        rows::audit::audit_rows(path, *events, &mut rows).await?;
    }
    if !plan.has(Part::Audit) {
        left_out.push("audit (not asked for with --only)".into());
    }
    if !args.national {
        left_out.push(
            "national-scale rebuild (35,000 cooperatives, 10,000,000 events): run with --national"
                .into(),
        );
    }

    let report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        mode: if plan.quick { "quick" } else { "full" },
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        nats_server: nats_version,
        sync_intervals: plan.syncs.iter().map(|s| s.label()).collect(),
        events: plan.events,
        cooperatives: plan.coops,
        seconds: started.elapsed().as_secs_f64(),
        rows,
        left_out,
    };
    let table = render(&report);
    if args.json {
        eprintln!("{table}");
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{table}");
    }
    Ok(())
}

/// The read side, on `server`: fills the catch-up stream (writing the export when the audit
/// rows are asked for), then the catch-up, query and dashboard rows. Returns the export and its events.
async fn read_side(
    plan: &Plan,
    server: &nats::Server,
    work: &Path,
    rows: &mut Vec<Row>,
) -> Result<Option<(PathBuf, u64)>> {
    let export_path = work.join("export.jsonl");
    let want_export = plan.has(Part::Audit);
    eprintln!(
        "[catch-up] writing {} events into {}",
        plan.events,
        gen::CATCHUP_STREAM
    );
    let t = Instant::now();
    let payload_bytes = gen::fill_stream(
        &server.url,
        plan.events,
        plan.coops,
        want_export.then_some(export_path.as_path()),
    )
    .await?;
    eprintln!(
        "[catch-up] written in {:.1} s ({} payload bytes)",
        t.elapsed().as_secs_f64(),
        payload_bytes
    );
    let projection_dir = work.join("projection");
    if plan.has(Part::Catchup) || plan.has(Part::Queries) || plan.has(Part::Web) {
        rows::catchup::catchup_rows(plan, server, &projection_dir, payload_bytes, rows).await?;
    }
    if plan.has(Part::Queries) {
        rows::queries::query_rows(plan, server, &projection_dir, rows).await?;
    }
    if plan.has(Part::Web) {
        rows::web::web_rows(plan, server, &projection_dir, rows).await?;
    }
    Ok(want_export.then_some((export_path, plan.events)))
}
