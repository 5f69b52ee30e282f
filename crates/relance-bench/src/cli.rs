//! The command line: flags, the hidden child subcommand, and the sizes of a run derived from
//! them (`--quick`, `--national` and the per-size overrides).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::load::Window;
use crate::nats::Sync;

#[derive(Parser, Debug)]
#[command(
    name = "relance-bench",
    about = "relance's throughput, latency and memory, each beside a baseline measured in the same run"
)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// Small sizes: finishes in under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Print the results as JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Events in the catch-up stream (default 1,000,000; 50,000 with --quick).
    #[arg(long)]
    pub events: Option<u64>,
    /// The national-scale rebuild: 10,000,000 events over 35,000 cooperatives, catch-up rows
    /// only (unless --only says otherwise).
    #[arg(long)]
    pub national: bool,
    /// Cooperatives in the catch-up stream (default 10,000; 2,500 with --quick).
    #[arg(long)]
    pub coops: Option<u64>,
    /// JetStream sync_interval for the append rows (default: both without --quick, default with it).
    #[arg(long, value_enum)]
    pub sync: Option<SyncChoice>,
    /// Only these rows (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// Seconds each append or query measurement counts (default 5; 1 with --quick).
    #[arg(long)]
    pub window: Option<f64>,
    /// Query rate, requests a second (default 5,000; 1,000 with --quick).
    #[arg(long)]
    pub query_rate: Option<u64>,
    /// Appends a second flowing during the query rows (default 500; 200 with --quick).
    #[arg(long)]
    pub query_append_rate: Option<u64>,
    /// Concurrencies of the append rows (default 1,16,64; the targets are judged at 64).
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// PostgreSQL connection string for the peer row (default: 127.0.0.1:5432, database test,
    /// user postgres then root).
    #[arg(long)]
    pub postgres: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
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
pub enum SyncChoice {
    Default,
    Always,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    AppendJetstream,
    AppendEmbedded,
    /// 35,000 registrations through the `Batch` RPC, beside the raw append loops.
    Batch,
    AppendPostgres,
    /// A 3-node cluster (R3 stream, `sync_interval: always`): group commit on and off beside
    /// PostgreSQL and the raw publish loop, at concurrency 16 and 64.
    Replicated,
    Catchup,
    Queries,
    /// The query rows on the embedded log (its per-cooperative index answers History, StateAt
    /// and SummaryAt), filled with the catch-up stream's events.
    QueriesEmbedded,
    Audit,
    /// The dashboard's pages over the caught-up views, beside a static page.
    Web,
}

/// The sizes of this run.
pub struct Plan {
    pub quick: bool,
    pub events: u64,
    pub coops: u64,
    pub syncs: Vec<Sync>,
    pub window: Window,
    pub query_window: Duration,
    pub query_rate: u64,
    pub query_append_rate: u64,
    pub concurrency: Vec<usize>,
    pub parts: Vec<Part>,
    pub postgres: Vec<String>,
}

impl Plan {
    pub fn has(&self, p: Part) -> bool {
        self.parts.contains(&p)
    }
}

pub fn plan(args: &Args) -> Plan {
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
            Part::Batch,
            Part::AppendPostgres,
            Part::Replicated,
            Part::Catchup,
            Part::Queries,
            Part::Audit,
            Part::Web,
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
