//! The dashboard rows (docs/performance.md, "The dashboard"): p50/p99 of the province overview,
//! a cooperative's page and a filtered list of cooperatives, served by the dashboard over the
//! views the catch-up built, against the style sheet (a static page) served by the same server
//! in the same run; and what each page weighs.
//!
//! One client asks one page after another (closed loop), as a person clicking through does;
//! every answer is read to its last byte and must be `200 OK`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use relance_domain::Sector;
use relance_projection::Projection;

use crate::cli::Plan;
use crate::gen;
use crate::queries::Latency;
use crate::report::{fmt_latency, Row};

type Http = Client<HttpConnector, Empty<Bytes>>;
/// The path of the `i`th request of a page kind.
type PathOf = Box<dyn Fn(u64) -> String>;

/// What a page must answer within at p99 (issue "dashboard", point 7).
const P99_TARGET_MS: f64 = 50.0;
/// What a page may weigh with its style sheet.
const WEIGHT_TARGET_BYTES: usize = 300 * 1024;

pub async fn web_rows(
    plan: &Plan,
    server: &crate::nats::Server,
    views: &Path,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let log = crate::catchup::connect_log(&server.url).await?;
    let projection = open_when_released(views, log).await?;
    let checkpoint = projection.checkpoint();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let web = relance_web::Web::new(projection);
    let server = tokio::spawn(relance_web::serve(listener, web, async move {
        let _ = stopped.await;
    }));
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let n = if plan.quick { 100 } else { 1_000 };
    let coops = plan.coops;
    eprintln!(
        "[dashboard] {n} requests a page, one after another, over {checkpoint} events and {coops} cooperatives"
    );

    let (base, css_bytes) = measure(&http, addr, n, |_| "/static/style.css".into()).await?;
    eprintln!("  static style sheet: {}", fmt_latency(&base));
    let pages: [(&str, PathOf); 3] = [
        ("province overview (/)", Box::new(|_| "/".into())),
        (
            "a cooperative's page (/coop/ID)",
            Box::new(move |i| format!("/coop/{}", gen::coop_id((i * 7919) % coops))),
        ),
        (
            "filtered list (/coops?sector=…&sort=name)",
            Box::new(|i| {
                let sector = Sector::ALL[(i as usize) % Sector::ALL.len()];
                format!("/coops?sector={}&sort=name", sector.as_str())
            }),
        ),
    ];
    for (name, path) in pages {
        let (l, bytes) = measure(&http, addr, n, path).await?;
        eprintln!("  {name}: {} ({bytes} bytes)", fmt_latency(&l));
        rows.push(page_row(
            plan, name, &l, bytes, css_bytes, &base, checkpoint,
        ));
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// The row of one page: its latencies `l` against the style sheet's `base`.
fn page_row(
    plan: &Plan,
    name: &str,
    l: &Latency,
    bytes: usize,
    css_bytes: usize,
    base: &Latency,
    events: u64,
) -> Row {
    let p99_ms = l.p99_us as f64 / 1000.0;
    let weight = bytes + css_bytes;
    Row {
        row: format!("dashboard: {name} p50/p99/p99.9"),
        value: Some(p99_ms),
        shown: fmt_latency(l),
        baseline_name: "the static style sheet, same server".into(),
        baseline: Some(base.p99_us as f64 / 1000.0),
        baseline_shown: fmt_latency(base),
        unit: "ms (p99)".into(),
        ratio: (base.p99_us > 0).then(|| l.p99_us as f64 / base.p99_us as f64),
        target: format!("p99 < {P99_TARGET_MS:.0} ms, page < 300 KB"),
        met: Some(p99_ms < P99_TARGET_MS && weight < WEIGHT_TARGET_BYTES),
        note: format!(
            "{} requests one after another; {} cooperatives, {events} events; the page weighs {} KB with its style sheet ({bytes} + {css_bytes} bytes)",
            l.requests,
            plan.coops,
            weight / 1024
        ),
        detail: Some(serde_json::json!({ "relance": l, "baseline": base, "bytes": bytes })),
    }
}

/// Asks `n` pages `path(i)` one after another (after a warm-up of `n / 10`); returns their
/// latencies and the size of the first answer.
async fn measure(
    http: &Http,
    addr: SocketAddr,
    n: u64,
    path: impl Fn(u64) -> String,
) -> Result<(Latency, usize)> {
    for i in 0..n / 10 {
        get(http, addr, &path(i)).await?;
    }
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut first_size = 0;
    for i in 0..n {
        let sent = Instant::now();
        let size = get(http, addr, &path(i)).await?;
        h.saturating_record(sent.elapsed().as_micros() as u64);
        if i == 0 {
            first_size = size;
        }
    }
    let latency = Latency {
        rate_per_s: 0,
        requests: n,
        errors: 0,
        p50_us: h.value_at_quantile(0.50),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        first_error: None,
    };
    Ok((latency, first_size))
}

/// GETs `path`, reads the whole body, and returns its size; anything but 200 is an error.
async fn get(http: &Http, addr: SocketAddr, path: &str) -> Result<usize> {
    let uri: http::Uri = format!("http://{addr}{path}").parse()?;
    let response = http.get(uri).await.with_context(|| format!("GET {path}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow!("GET {path}: reading the body: {e}"))?
        .to_bytes();
    if !status.is_success() {
        bail!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
    }
    Ok(body.len())
}

/// Opens the views the catch-up child wrote, once the child's sled lock is released.
async fn open_when_released(
    views: &Path,
    log: Arc<dyn relance_log::EventLog>,
) -> Result<Arc<Projection>> {
    let history = Arc::new(relance_projection::LogHistory::new(log));
    let mut last = None;
    for _ in 0..50 {
        match Projection::open_over_log(views, history.clone()) {
            Ok(p) => return Ok(p),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!(
        "opening the views in {}: {}",
        views.display(),
        last.map_or_else(|| "no attempt".into(), |e| e.to_string())
    ))
}
