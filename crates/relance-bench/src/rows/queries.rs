//! The query rows: Get, List, Summary, History and StateAt latencies at a fixed rate while
//! appends flow, against gRPC health checks at the same rate; SummaryAt (a fold of the
//! cooperatives touched since a summary snapshot) at a hundredth of that rate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use relance_log::EventLog;
use relance_proto::v1;
use relance_proto::v1::cooperative_queries_client::CooperativeQueriesClient;

use crate::cli::Plan;
use crate::report::{fmt_latency, Row};
use crate::running::Running;
use crate::{gen, nats, queries};

/// The query rows on JetStream, over the catch-up stream's views in `dir`.
pub async fn query_rows(
    plan: &Plan,
    server: &nats::Server,
    dir: &Path,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let log = crate::catchup::connect_log(&server.url).await?;
    query_rows_on(plan, log, dir, "", rows).await
}

/// The query rows on the embedded log in `work`, filled with the catch-up stream's events.
pub async fn embedded_query_rows(plan: &Plan, work: &Path, rows: &mut Vec<Row>) -> Result<()> {
    let dir = work.join("embedded-queries");
    let log: Arc<dyn EventLog> = Arc::new(relance_log_sled::SledLog::open(dir.join("log"))?);
    eprintln!(
        "[queries, embedded] appending {} events over {} cooperatives",
        plan.events, plan.coops
    );
    gen::fill_log(log.as_ref(), plan.events, plan.coops).await?;
    query_rows_on(plan, log, &dir.join("projection"), ", embedded", rows).await
}

/// The query rows on `log`, the projection in `dir` (caught up first); `backend` is added to
/// the rows' names.
async fn query_rows_on(
    plan: &Plan,
    log: Arc<dyn EventLog>,
    dir: &Path,
    backend: &'static str,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let node = Running::start(log, Some(dir)).await?;
    node.node
        .caught_up(Duration::from_secs(600))
        .await
        .context("query node catching up")?;
    let channel = node.channel().await?;
    let appender = queries::Appender::start(node.channel().await?, plan.query_append_rate);
    let rate = plan.query_rate;
    let w = plan.query_window;
    let coops = plan.coops;
    let events = plan.events.max(coops + 1);

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
    for kind in ["Get", "List", "Summary", "History", "StateAt", "SummaryAt"] {
        let rate = if kind == "SummaryAt" {
            (rate / 100).max(1)
        } else {
            rate
        };
        eprintln!("[queries] {kind} at {rate}/s while appends flow");
        let before = appender.done.load(std::sync::atomic::Ordering::Relaxed);
        let l = queries::at_rate(rate, w, |i| ask(q.clone(), kind, i, coops, events)).await?;
        let appended = appender.done.load(std::sync::atomic::Ordering::Relaxed) - before;
        eprintln!(
            "  {} ({} errors, {} appends meanwhile)",
            fmt_latency(&l),
            l.errors,
            appended
        );
        results.push((kind, rate, l, appended));
    }
    appender.stop().await?;
    for (kind, rate, l, appended) in results {
        let mut row = query_row(plan, kind, rate, &l, appended, &base);
        row.row.push_str(backend);
        rows.push(row);
    }
    node.stop().await?;
    Ok(())
}

/// Asks query `i` of `kind` over `coops` cooperatives and `events` events.
async fn ask(
    mut q: CooperativeQueriesClient<tonic::transport::Channel>,
    kind: &str,
    i: u64,
    coops: u64,
    events: u64,
) -> Result<(), tonic::Status> {
    let coop = gen::coop_id((i * 7919) % coops);
    // A past point after every registration.
    let past = || {
        Some(v1::AsOf {
            point: Some(v1::as_of::Point::RecordedAtUnixMs(
                gen::RECORDED_FROM_MS + coops as i64 + (i as i64 * 997) % (events - coops) as i64,
            )),
            business_date: String::new(),
        })
    };
    let min_position = 0;
    match kind {
        "Get" => q
            .get(v1::GetRequest {
                cooperative_id: coop,
                min_position,
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
        // History, StateAt and SummaryAt read cooperatives' events from the log (the
        // projection keeps no copy of them).
        "History" => q
            .history(v1::HistoryRequest {
                cooperative_id: coop,
                min_position,
            })
            .await
            .map(|_| ()),
        "StateAt" => q
            .state_at(v1::StateAtRequest {
                cooperative_id: coop,
                as_of: past(),
                min_position,
            })
            .await
            .map(|_| ()),
        "SummaryAt" => q
            .summary_at(v1::SummaryAtRequest {
                as_of: past(),
                min_position,
            })
            .await
            .map(|_| ()),
        _ => q
            .summary(v1::SummaryRequest { min_position })
            .await
            .map(|_| ()),
    }
}

/// The row of one query kind asked at `rate`: its latencies `l` against the health checks'
/// `base` (at the plan's rate), with `appended` appends during it.
fn query_row(
    plan: &Plan,
    kind: &str,
    rate: u64,
    l: &queries::Latency,
    appended: u64,
    base: &queries::Latency,
) -> Row {
    let coops = plan.coops;
    let (target, met) = if kind == "Get" {
        (
            "p99 < 1 ms at 5,000/s",
            (rate >= 5_000).then_some(l.p99_us < 1_000 && l.errors == 0),
        )
    } else {
        ("", None)
    };
    let overloaded = l.errors * 100 > l.requests;
    Row {
        row: format!("query {kind} p50/p99/p99.9 at {rate}/s"),
        value: Some(l.p99_us as f64 / 1000.0),
        shown: if overloaded {
            format!("overloaded: {} of {} failed", l.errors, l.requests)
        } else {
            fmt_latency(l)
        },
        baseline_name: if rate == plan.query_rate {
            "gRPC health Check, same rate".into()
        } else {
            format!("gRPC health Check at {}/s", plan.query_rate)
        },
        baseline: Some(base.p99_us as f64 / 1000.0),
        baseline_shown: fmt_latency(base),
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
    }
}
