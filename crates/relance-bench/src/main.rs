//! `relance-bench`: relance's figures, each beside a baseline measured in the same run on the
//! same machine (raw JetStream publish, raw sled insert+flush, a PostgreSQL event store,
//! a raw ordered-consumer read, gRPC health checks, sha256sum), as ratios: the machines are
//! small and noisy, absolute numbers alone would say little.
//!
//! `cargo run --release -p relance-bench -- --quick` (under a minute); without `--quick` the
//! full sizes (1,000,000 events). Progress goes to stderr, the table (or `--json`) to stdout.

mod catchup;
mod gen;
mod load;
mod nats;
mod queries;

/// The allocator the `relance` binary uses, for relance's side and the baselines alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use relance_log::EventLog;
use relance_proto::v1;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use relance_proto::v1::cooperative_queries_client::CooperativeQueriesClient;
use relance_server::{serve, Node};
use serde::Serialize;
use tonic::transport::Channel;

use crate::load::Window;
use crate::nats::Sync;

#[derive(Parser, Debug)]
#[command(
    name = "relance-bench",
    about = "relance's throughput, latency and memory, each beside a baseline measured in the same run"
)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Small sizes: finishes in under a minute.
    #[arg(long)]
    quick: bool,
    /// Print the results as JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    json: bool,
    /// Events in the catch-up stream (default 1,000,000; 50,000 with --quick).
    #[arg(long)]
    events: Option<u64>,
    /// The national-scale rebuild: 10,000,000 events over 35,000 cooperatives, catch-up rows
    /// only (unless --only says otherwise).
    #[arg(long)]
    national: bool,
    /// Cooperatives in the catch-up stream (default 10,000; 2,500 with --quick).
    #[arg(long)]
    coops: Option<u64>,
    /// JetStream sync_interval for the append rows (default: both without --quick, default with it).
    #[arg(long, value_enum)]
    sync: Option<SyncChoice>,
    /// Only these rows (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// Seconds each append or query measurement counts (default 5; 1 with --quick).
    #[arg(long)]
    window: Option<f64>,
    /// Query rate, requests a second (default 5,000; 1,000 with --quick).
    #[arg(long)]
    query_rate: Option<u64>,
    /// Appends a second flowing during the query rows (default 500; 200 with --quick).
    #[arg(long)]
    query_append_rate: Option<u64>,
    /// Concurrencies of the append rows (default 1,16,64; the targets are judged at 64).
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// PostgreSQL connection string for the peer row (default: 127.0.0.1:5432, database test,
    /// user postgres then root).
    #[arg(long)]
    postgres: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// (internal) Rebuild a projection from the catch-up stream and report rate and peak RSS.
    #[command(hide = true)]
    Rebuild {
        #[arg(long)]
        url: String,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        head: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SyncChoice {
    Default,
    Always,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    AppendJetstream,
    AppendEmbedded,
    AppendPostgres,
    Catchup,
    Queries,
    Audit,
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    row: String,
    /// relance's figure (unit in `unit`).
    value: Option<f64>,
    shown: String,
    baseline_name: String,
    baseline: Option<f64>,
    baseline_shown: String,
    unit: String,
    /// value / baseline.
    ratio: Option<f64>,
    target: String,
    met: Option<bool>,
    note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<serde_json::Value>,
}

impl Row {
    fn rate(row: String, value: f64, baseline_name: &str, baseline: f64) -> Self {
        Row {
            row,
            value: Some(value),
            shown: fmt_rate(value),
            baseline_name: baseline_name.into(),
            baseline: Some(baseline),
            baseline_shown: fmt_rate(baseline),
            unit: "per second".into(),
            ratio: (baseline > 0.0).then(|| value / baseline),
            target: String::new(),
            met: None,
            note: String::new(),
            detail: None,
        }
    }
    fn unavailable(row: String, baseline_name: &str, why: String) -> Self {
        Row {
            row,
            value: None,
            shown: "unavailable".into(),
            baseline_name: baseline_name.into(),
            baseline: None,
            baseline_shown: "-".into(),
            unit: String::new(),
            ratio: None,
            target: String::new(),
            met: None,
            note: why,
            detail: None,
        }
    }
    fn target(mut self, target: &str, met: Option<bool>) -> Self {
        self.target = target.into();
        self.met = met;
        self
    }
    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

fn fmt_rate(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{out}/s")
}

fn fmt_bytes_rate(v: f64) -> String {
    format!("{:.1} MB/s", v / 1e6)
}

fn fmt_latency(l: &queries::Latency) -> String {
    format!(
        "{:.2}/{:.2}/{:.2} ms",
        l.p50_us as f64 / 1000.0,
        l.p99_us as f64 / 1000.0,
        l.p999_us as f64 / 1000.0
    )
}

/// The sizes of this run.
struct Plan {
    quick: bool,
    events: u64,
    coops: u64,
    syncs: Vec<Sync>,
    window: Window,
    query_window: Duration,
    query_rate: u64,
    query_append_rate: u64,
    concurrency: Vec<usize>,
    parts: Vec<Part>,
    postgres: Vec<String>,
}

impl Plan {
    fn has(&self, p: Part) -> bool {
        self.parts.contains(&p)
    }
}

/// A node serving the gRPC API on a loopback port.
struct Running {
    url: String,
    node: Node,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), relance_server::NodeError>>,
}

impl Running {
    async fn start(log: Arc<dyn EventLog>, projection: Option<&Path>) -> Result<Self> {
        let node = Node::start(log, projection, true, None)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, node.services(), async move {
            let _ = rx.await;
        }));
        Ok(Self {
            url,
            node,
            stop,
            server,
        })
    }

    async fn channel(&self) -> Result<Channel> {
        Ok(Channel::from_shared(self.url.clone())?.connect().await?)
    }

    /// `ReportHeadcount` commands acknowledged per second with `c` tasks (over at most 8
    /// channels), each on its own cooperatives named after `tag`.
    async fn command_rate(&self, c: usize, window: Window, tag: &str) -> Result<f64> {
        let channels = self.channels(c.min(8)).await?;
        let tag = tag.to_owned();
        load::run(c, window, move |task, ctl, barrier| {
            load::relance_worker(
                CooperativeCommandsClient::new(channels[task % channels.len()].clone()),
                tag.clone(),
                task,
                ctl,
                barrier,
            )
        })
        .await
    }

    /// Health checks answered per second with `c` tasks, on the same channel layout.
    async fn grpc_floor_rate(&self, c: usize, window: Window) -> Result<f64> {
        let channels = self.channels(c.min(8)).await?;
        load::run(c, window, move |task, ctl, barrier| {
            load::grpc_floor_worker(channels[task % channels.len()].clone(), ctl, barrier)
        })
        .await
    }

    async fn channels(&self, n: usize) -> Result<Vec<Channel>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.channel().await?);
        }
        Ok(out)
    }

    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.server.await??;
        self.node.shutdown().await?;
        Ok(())
    }
}

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

fn plan(args: &Args) -> Plan {
    let quick = args.quick;
    let sync = args.sync.unwrap_or(if quick {
        SyncChoice::Default
    } else {
        SyncChoice::Both
    });
    let window = args.window.unwrap_or(if quick { 1.0 } else { 5.0 });
    let parts = if args.only.is_empty() && args.national {
        vec![Part::Catchup]
    } else if args.only.is_empty() {
        vec![
            Part::AppendJetstream,
            Part::AppendEmbedded,
            Part::AppendPostgres,
            Part::Catchup,
            Part::Queries,
            Part::Audit,
        ]
    } else {
        args.only.clone()
    };
    Plan {
        quick,
        events: args.events.unwrap_or(match (args.national, quick) {
            (true, _) => 10_000_000,
            (false, true) => 50_000,
            (false, false) => 1_000_000,
        }),
        coops: args.coops.unwrap_or(match (args.national, quick) {
            (true, _) => 35_000,
            (false, true) => 2_500,
            (false, false) => 10_000,
        }),
        syncs: match sync {
            SyncChoice::Default => vec![Sync::Default],
            SyncChoice::Always => vec![Sync::Always],
            SyncChoice::Both => vec![Sync::Default, Sync::Always],
        },
        window: Window {
            warmup: Duration::from_secs_f64((window * 0.3).min(1.0)),
            measure: Duration::from_secs_f64(window),
        },
        query_window: Duration::from_secs_f64(window * 1.5),
        query_rate: args.query_rate.unwrap_or(if quick { 1_000 } else { 5_000 }),
        query_append_rate: args
            .query_append_rate
            .unwrap_or(if quick { 200 } else { 500 }),
        concurrency: if args.concurrency.is_empty() {
            vec![1, 16, 64]
        } else {
            args.concurrency.clone()
        },
        parts,
        postgres: match &args.postgres {
            Some(p) => vec![p.clone()],
            None => vec![
                "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3".into(),
                "host=127.0.0.1 port=5432 user=root dbname=test connect_timeout=3".into(),
            ],
        },
    }
}

#[derive(Serialize)]
struct Report {
    command: String,
    mode: &'static str,
    cores: usize,
    nats_server: String,
    sync_intervals: Vec<&'static str>,
    events: u64,
    cooperatives: u64,
    seconds: f64,
    rows: Vec<Row>,
    left_out: Vec<String>,
}

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
    let mut js_rates: Vec<(Sync, usize, f64)> = Vec::new();
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
            append_jetstream(&plan, &server, &mut rows, &mut js_rates).await?;
        }
        // The read side runs once, on the first server.
        if i == 0 && (plan.has(Part::Catchup) || plan.has(Part::Queries) || plan.has(Part::Audit)) {
            let export_path = work.path().join("export.jsonl");
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
            if want_export {
                export = Some((export_path, plan.events));
            }
            let projection_dir = work.path().join("projection");
            if plan.has(Part::Catchup) || plan.has(Part::Queries) {
                catchup_rows(&plan, &server, &projection_dir, &mut rows).await?;
            }
            if plan.has(Part::Queries) {
                query_rows(&plan, &server, &projection_dir, &mut rows).await?;
            }
        }
    }

    if plan.has(Part::AppendEmbedded) {
        append_embedded(&plan, work.path(), &mut rows).await?;
    }
    if plan.has(Part::AppendPostgres) {
        append_postgres(&plan, &js_rates, &mut rows).await?;
    }
    if let Some((path, events)) = &export {
        audit_rows(path, *events, &mut rows).await?;
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

async fn append_jetstream(
    plan: &Plan,
    server: &nats::Server,
    rows: &mut Vec<Row>,
    js_rates: &mut Vec<(Sync, usize, f64)>,
) -> Result<()> {
    let log = relance_log_nats::JetStreamLog::connect(relance_log_nats::JetStreamConfig::new(
        server.url.clone(),
    ))
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let node = Running::start(Arc::new(log), None).await?;
    // The raw baseline's own stream, configured like relance's (file, 10 min duplicate window).
    let client = async_nats::connect(&server.url).await?;
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH_RAW".into(),
        subjects: vec!["bench.raw.>".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow!("creating BENCH_RAW: {e}"))?;
    let sync = server.sync;
    for &c in &plan.concurrency {
        let tag = format!("J{}{c}", if sync == Sync::Always { "a" } else { "d" });
        eprintln!(
            "[append jetstream, sync {}] concurrency {c}: relance",
            sync.label()
        );
        let relance = node.command_rate(c, plan.window, &tag).await?;
        eprintln!("  {}; raw publish", fmt_rate(relance));
        let js2 = js.clone();
        let t = tag.clone();
        let raw = load::run(c, plan.window, move |task, ctl, barrier| {
            load::raw_nats_worker(js2.clone(), t.clone(), task, ctl, barrier)
        })
        .await?;
        eprintln!("  {}; gRPC round trip alone", fmt_rate(raw));
        let floor = node.grpc_floor_rate(c, plan.window).await?;
        eprintln!("  {}", fmt_rate(floor));
        js_rates.push((sync, c, relance));
        if plan.has(Part::AppendJetstream) {
            let r = Row::rate(
                format!("append JetStream c={c} (sync {})", sync.label()),
                relance,
                "raw async-nats publish+ack",
                raw,
            );
            let r = if c == 64 {
                let met = r.ratio.map(|x| x >= 0.7);
                r.target("≥ 0.7×", met)
            } else {
                r
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
    Ok(())
}

async fn append_embedded(plan: &Plan, work: &Path, rows: &mut Vec<Row>) -> Result<()> {
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

async fn append_postgres(
    plan: &Plan,
    js_rates: &[(Sync, usize, f64)],
    rows: &mut Vec<Row>,
) -> Result<()> {
    let conninfo = match load::postgres_setup(&plan.postgres).await {
        Ok(c) => c,
        Err(why) => {
            eprintln!("[postgres] unavailable: {why}");
            rows.push(Row::unavailable(
                "append PostgreSQL peer".into(),
                "PostgreSQL events table",
                format!("no PostgreSQL reachable: {why}"),
            ));
            return Ok(());
        }
    };
    let settings = postgres_settings(&conninfo).await;
    for &c in &plan.concurrency {
        eprintln!("[append postgres] concurrency {c}");
        let ci = conninfo.clone();
        let tag = format!("P{c}");
        let pg = load::run(c, plan.window, move |task, ctl, barrier| {
            load::postgres_worker(ci.clone(), tag.clone(), task, ctl, barrier)
        })
        .await?;
        eprintln!("  {}", fmt_rate(pg));
        let mine: Vec<_> = js_rates.iter().filter(|(_, cc, _)| *cc == c).collect();
        if mine.is_empty() {
            rows.push(Row {
                ratio: None,
                ..Row::rate(
                    format!("append PostgreSQL peer c={c}"),
                    pg,
                    "(no JetStream row)",
                    0.0,
                )
            });
        }
        for (sync, _, js) in mine {
            let r = Row::rate(
                format!(
                    "append JetStream vs PostgreSQL c={c} (sync {})",
                    sync.label()
                ),
                *js,
                "PostgreSQL events table, 1 tx/append",
                pg,
            );
            let met = r.ratio.map(|x| x > 1.0);
            rows.push(r.target("> 1×", met).note(settings.clone()));
        }
    }
    postgres_cleanup_quiet(&conninfo).await;
    Ok(())
}

async fn postgres_settings(conninfo: &str) -> String {
    let Ok((client, connection)) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await
    else {
        return String::new();
    };
    tokio::spawn(connection);
    let mut out = Vec::new();
    for name in ["server_version", "synchronous_commit", "fsync"] {
        if let Ok(row) = client.query_one(&format!("SHOW {name}"), &[]).await {
            let v: String = row.get(0);
            out.push(format!("{name}={v}"));
        }
    }
    format!("PostgreSQL {}", out.join(" "))
}

async fn postgres_cleanup_quiet(conninfo: &str) {
    load::postgres_cleanup(conninfo).await;
}

async fn catchup_rows(
    plan: &Plan,
    server: &nats::Server,
    dir: &Path,
    rows: &mut Vec<Row>,
) -> Result<()> {
    eprintln!(
        "[catch-up] raw ordered-consumer read of {} events",
        plan.events
    );
    let raw = catchup::raw_read(&server.url, plan.events).await?;
    eprintln!("  {}", fmt_rate(raw));
    eprintln!("[catch-up] projection rebuild in a child process");
    let rebuilt = catchup::rebuild_in_child(&server.url, dir, plan.events).await?;
    let rate = rebuilt.events as f64 / rebuilt.seconds;
    eprintln!(
        "  {} in {:.1} s, peak RSS {} MB",
        fmt_rate(rate),
        rebuilt.seconds,
        rebuilt.peak_hwm_kb / 1024
    );
    if plan.has(Part::Catchup) {
        let r = Row::rate(
            format!("projection catch-up, {} events", plan.events),
            rate,
            "raw ordered-consumer read",
            raw,
        );
        let met = r.ratio.map(|x| x >= 0.5 && rate >= 150_000.0);
        rows.push(r.target("≥ 0.5× and ≥ 150,000/s", met).note(format!(
            "relance_projection::run following JetStream; {} cooperatives; views {} MB on disk",
            plan.coops,
            rebuilt.disk_bytes / 1_000_000
        )));
        let peak = rebuilt.peak_hwm_kb as f64 / 1024.0;
        let base = rebuilt.start_hwm_kb as f64 / 1024.0;
        rows.push(Row {
            row: format!("projection peak RSS, {} events", plan.events),
            value: Some(peak),
            shown: format!("{peak:.0} MB"),
            baseline_name: "same process before the rebuild".into(),
            baseline: Some(base),
            baseline_shown: format!("{base:.0} MB"),
            unit: "MB (VmHWM)".into(),
            ratio: (base > 0.0).then(|| peak / base),
            target: "< 300 MB".into(),
            met: Some(peak < 300.0),
            note: "child process: JetStream connection + sled + follow".into(),
            detail: None,
        });
    }
    Ok(())
}

async fn query_rows(
    plan: &Plan,
    server: &nats::Server,
    dir: &Path,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let mut config = relance_log_nats::JetStreamConfig::new(server.url.clone());
    config.stream = gen::CATCHUP_STREAM.into();
    config.subject_prefix = gen::CATCHUP_PREFIX.into();
    let log = relance_log_nats::JetStreamLog::connect(config)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let node = Running::start(Arc::new(log), Some(dir)).await?;
    node.node
        .caught_up(Duration::from_secs(120))
        .await
        .context("query node catching up")?;
    let channel = node.channel().await?;
    let appender = queries::Appender::start(node.channel().await?, plan.query_append_rate);
    let rate = plan.query_rate;
    let w = plan.query_window;
    let coops = plan.coops;

    eprintln!("[queries] baseline: gRPC health Check at {rate}/s");
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let base = queries::at_rate(rate, w, |_| {
        let mut h = health.clone();
        async move {
            h.check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|_| ())
        }
    })
    .await?;
    eprintln!("  {}", fmt_latency(&base));
    let q = CooperativeQueriesClient::new(channel.clone());
    let mut results = Vec::new();
    for kind in ["Get", "List", "Summary"] {
        eprintln!("[queries] {kind} at {rate}/s while appends flow");
        let before = appender.done.load(std::sync::atomic::Ordering::Relaxed);
        let l = queries::at_rate(rate, w, |i| {
            let mut q = q.clone();
            async move {
                match kind {
                    "Get" => q
                        .get(v1::GetRequest {
                            cooperative_id: gen::coop_id((i * 7919) % coops),
                            min_position: 0,
                        })
                        .await
                        .map(|_| ()),
                    "List" => q
                        .list(v1::ListRequest {
                            sector: "agriculture".into(),
                            page_size: 50,
                            ..Default::default()
                        })
                        .await
                        .map(|_| ()),
                    _ => q
                        .summary(v1::SummaryRequest { min_position: 0 })
                        .await
                        .map(|_| ()),
                }
            }
        })
        .await?;
        let appended = appender.done.load(std::sync::atomic::Ordering::Relaxed) - before;
        eprintln!(
            "  {} ({} errors, {} appends meanwhile)",
            fmt_latency(&l),
            l.errors,
            appended
        );
        results.push((kind, l, appended));
    }
    appender.stop().await?;
    for (kind, l, appended) in results {
        let (target, met) = if kind == "Get" {
            (
                "p99 < 1 ms at 5,000/s",
                (rate >= 5_000).then_some(l.p99_us < 1_000 && l.errors == 0),
            )
        } else {
            ("", None)
        };
        let overloaded = l.errors * 100 > l.requests;
        rows.push(Row {
            row: format!("query {kind} p50/p99/p99.9 at {rate}/s"),
            value: Some(l.p99_us as f64 / 1000.0),
            shown: if overloaded {
                format!("overloaded: {} of {} failed", l.errors, l.requests)
            } else {
                fmt_latency(&l)
            },
            baseline_name: "gRPC health Check, same rate".into(),
            baseline: Some(base.p99_us as f64 / 1000.0),
            baseline_shown: fmt_latency(&base),
            unit: "ms (p99)".into(),
            // The latencies of the few answered requests of an overloaded run compare with nothing.
            ratio: (base.p99_us > 0 && !overloaded).then(|| l.p99_us as f64 / base.p99_us as f64),
            target: target.into(),
            met,
            note: format!(
                "{} of {} requests failed{}; {appended} appends during it ({}/s asked); {coops} cooperatives",
                l.errors,
                l.requests,
                l.first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (first: {e})")),
                plan.query_append_rate
            ),
            detail: Some(serde_json::json!({ "relance": l, "baseline": base })),
        });
    }
    node.stop().await?;
    Ok(())
}

async fn audit_rows(path: &Path, events: u64, rows: &mut Vec<Row>) -> Result<()> {
    let size = std::fs::metadata(path)?.len() as f64;
    eprintln!(
        "[audit] export of {events} events, {:.0} MB: sha256sum",
        size / 1e6
    );
    let sha = {
        let p = path.to_owned();
        // Once to read the file into the page cache, once measured.
        std::process::Command::new("sha256sum").arg(&p).output()?;
        let t = Instant::now();
        let out = std::process::Command::new("sha256sum").arg(&p).output()?;
        if !out.status.success() {
            return Err(anyhow!("sha256sum failed"));
        }
        size / t.elapsed().as_secs_f64()
    };
    eprintln!("  {}; verify", fmt_bytes_rate(sha));
    let p = path.to_owned();
    let (verify_secs, report) = tokio::task::spawn_blocking(move || -> Result<_> {
        let t = Instant::now();
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&p)?);
        let report = relance_audit::verify(f, &relance_audit::VerifyOptions::default(), &mut ())?;
        Ok((t.elapsed().as_secs_f64(), report))
    })
    .await??;
    let verify = size / verify_secs;
    eprintln!("  {}; replay", fmt_bytes_rate(verify));
    let p = path.to_owned();
    let (replay_secs, replayed) = tokio::task::spawn_blocking(move || -> Result<_> {
        let t = Instant::now();
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&p)?);
        let r = relance_audit::replay(f, relance_audit::Until::All, &mut ())?;
        Ok((t.elapsed().as_secs_f64(), r))
    })
    .await??;
    let replay = size / replay_secs;
    eprintln!("  {}", fmt_bytes_rate(replay));
    let mut r = Row::rate(
        format!("audit verify, {events} events"),
        verify,
        "sha256sum of the same file",
        sha,
    );
    r.shown = format!(
        "{} ({})",
        fmt_bytes_rate(verify),
        fmt_rate(events as f64 / verify_secs)
    );
    r.baseline_shown = fmt_bytes_rate(sha);
    r.unit = "bytes per second".into();
    let met = r.ratio.map(|x| x >= 0.5);
    rows.push(r.target("≥ 0.5×", met).note(format!(
        "{:.0} MB export; intact: {}, {} findings",
        size / 1e6,
        report.intact(),
        report.findings.len()
    )));
    let mut r = Row::rate(
        format!("audit replay, {events} events"),
        replay,
        "sha256sum of the same file",
        sha,
    );
    r.shown = format!(
        "{} ({})",
        fmt_bytes_rate(replay),
        fmt_rate(events as f64 / replay_secs)
    );
    r.baseline_shown = fmt_bytes_rate(sha);
    r.unit = "bytes per second".into();
    rows.push(r.note(format!(
        "offline rebuild into a fresh sled; {} events replayed",
        replayed.events
    )));
    Ok(())
}

fn render(report: &Report) -> String {
    let head = [
        "row",
        "relance",
        "baseline",
        "baseline is",
        "ratio",
        "target",
        "met",
    ];
    let mut lines: Vec<[String; 7]> = vec![head.map(String::from)];
    for r in &report.rows {
        lines.push([
            r.row.clone(),
            r.shown.clone(),
            r.baseline_shown.clone(),
            r.baseline_name.clone(),
            r.ratio.map_or("-".into(), |x| format!("{x:.2}×")),
            if r.target.is_empty() {
                "-".into()
            } else {
                r.target.clone()
            },
            match r.met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        ]);
    }
    let mut widths = [0usize; 7];
    for l in &lines {
        for (i, c) in l.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = format!(
        "relance-bench {} — {} cores, {}, sync_interval {}, {} events / {} cooperatives, {:.0} s\n",
        report.mode,
        report.cores,
        report.nats_server,
        report.sync_intervals.join(" + "),
        report.events,
        report.cooperatives,
        report.seconds
    );
    for (n, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    let notes: Vec<&Row> = report.rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        let mut seen = std::collections::HashSet::new();
        for r in notes {
            if seen.insert(r.note.as_str()) {
                out.push_str(&format!("- {}: {}\n", r.row, r.note));
            }
        }
    }
    if !report.left_out.is_empty() {
        out.push_str("\nleft out:\n");
        for l in &report.left_out {
            out.push_str(&format!("- {l}\n"));
        }
    }
    out
}
