//! `relance demo`: replays the article on a fresh embedded node, through the gRPC API.
//!
//! The article (docs/design.md): Ibdaat Rehamna, couture et broderie in Benguérir, about twenty
//! employees, reoriented to washable protective masks (2,000–3,000 a day, washable up to five
//! times) once IMANOR authorised it, helped by OCP to sell them in groceries, pharmacies and
//! parapharmacies of Benguérir with modest trials in Marrakech and Casablanca; Annour, 40
//! electricians of Benguérir, halted with the whole BTP sector by a decision of the public
//! authorities; a province of more than 256 cooperatives, 78% agricultural and 21% artisanal.
//! Everything the article does not say (registry numbers, dates of registration, the other
//! 254 cooperatives and their spring and summer 2020) is illustrative and deterministic.
//! Each fact is recorded at a 2020 recording date (the node's clock is set for the demo), so
//! "what was known when" has meaning.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use futures::StreamExt;
use relance_domain::Date;
use relance_proto::v1;
use relance_server::{serve, Node};
use tokio::net::TcpListener;

use crate::cli::{DemoArgs, Output};
use crate::client::{status_error, Client};
use crate::output;

mod register;
mod story;
pub use story::{scenario, Step, ANNOUR, IBDAAT};

/// Sends one step through the command API; returns the reply.
pub async fn send(client: &Client, step: &Step, request_id: String) -> Result<v1::CommandReply> {
    let meta = v1::CommandMeta {
        request_id,
        cooperative_id: step.coop.clone(),
        expected_version: None,
        correlation_id: "demo".into(),
    };
    client
        .record_as(meta, step.event.clone(), step.principal, step.org)
        .await
}

/// Records the whole scenario through `client`, setting `clock` to each recording date.
/// Returns the highest position written.
pub async fn record(client: &Client, clock: Option<&AtomicI64>, progress: bool) -> Result<u64> {
    let steps = scenario();
    let total = steps.len();
    let mut by_date: BTreeMap<Date, Vec<(usize, Step)>> = BTreeMap::new();
    for (n, s) in steps.into_iter().enumerate() {
        by_date.entry(s.recorded_on).or_default().push((n, s));
    }
    let mut done = 0usize;
    let mut last = 0u64;
    for (recorded_on, group) in by_date {
        if let Some(clock) = clock {
            clock.store(
                recorded_on.start_unix_ms() + 12 * 3_600_000,
                Ordering::SeqCst,
            );
        }
        // Per cooperative in order; cooperatives in parallel.
        let mut per_coop: BTreeMap<String, Vec<(usize, Step)>> = BTreeMap::new();
        for (n, s) in group {
            per_coop.entry(s.coop.clone()).or_default().push((n, s));
        }
        let results: Vec<Result<(usize, u64)>> = futures::stream::iter(per_coop.into_values())
            .map(|steps| async move {
                let mut max = 0;
                let count = steps.len();
                for (n, s) in steps {
                    let r = send(client, &s, format!("demo-{n}"))
                        .await
                        .with_context(|| {
                            format!("demo step {n} ({} on {})", s.coop, s.recorded_on)
                        })?;
                    max = max.max(r.position);
                }
                Ok((count, max))
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            let (count, max) = r?;
            done += count;
            last = last.max(max);
        }
        if progress {
            eprint!("\rrecording the article and the province: {done}/{total} facts (recorded {recorded_on})   ");
        }
    }
    if progress {
        eprintln!();
    } else {
        eprintln!("recorded the article and the province: {done}/{total} facts");
    }
    Ok(last)
}

pub async fn run(args: DemoArgs) -> Result<()> {
    if let Some(path) = &args.write_register {
        return register::write_register(path);
    }
    let started = Instant::now();
    let temp;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let clock = Arc::new(AtomicI64::new(0));
    let nats = crate::cli::NatsArgs {
        nats: args.nats.clone(),
        stream: "RELANCE_DEMO".into(),
        replicas: 1,
        duplicate_window_secs: 600,
        group_commit: crate::cli::GroupCommitArg::Off,
        link: args.link.clone(),
    };
    let log = crate::log::open(&dir, &nats, Some("relance-demo.v1.coop")).await?;
    let c = clock.clone();
    let node = Node::start(
        log,
        Some(&dir.join("projection")),
        true,
        Some(Arc::new(move || c.load(Ordering::SeqCst))),
    )?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, node.services(), async move {
        let _ = stopped.await;
    }));
    eprintln!(
        "demo node on {addr} ({} event log), data in {}",
        node.log.backend(),
        dir.display()
    );
    let url = format!("http://{addr}");
    let client = Client::connect(&url, &url, "demo", "prefecture").await?;
    let last = record(
        &client,
        Some(&clock),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    )
    .await?;
    let mut q = client.queries.clone();
    let summary = q
        .summary(client.request(v1::SummaryRequest { min_position: last })?)
        .await
        .map_err(status_error)?
        .into_inner();
    println!();
    output::summary(Output::Table, &summary)?;
    println!();
    println!("Ibdaat Rehamna ({IBDAAT}) — timeline");
    let history = q
        .history(client.request(v1::HistoryRequest {
            cooperative_id: IBDAAT.into(),
            min_position: last,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    output::history(Output::Table, &history)?;
    println!();
    let annour = q
        .get(client.request(v1::GetRequest {
            cooperative_id: ANNOUR.into(),
            min_position: last,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    output::view(Output::Table, &annour)?;
    if let Some(at) = args.web {
        let auth = relance_server::auth::AuthLayer::default();
        let dashboard = crate::web::Dashboard::start(
            at,
            node.projection.clone(),
            node.log.clone(),
            &auth,
            false,
        )
        .await?;
        eprintln!(
            "the dashboard is on http://{}/ — Ctrl-C to stop",
            dashboard.addr
        );
        crate::serve::shutdown_signal().await;
        dashboard.stop().await?;
    }
    let _ = stop.send(());
    server.await.context("demo server task")??;
    node.shutdown().await?;
    eprintln!("demo done in {:.1?} ({last} events)", started.elapsed());
    Ok(())
}
