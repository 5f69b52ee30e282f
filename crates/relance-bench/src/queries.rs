//! Query latency at a fixed request rate (open loop: requests are sent on schedule whether or
//! not earlier ones have answered), while appends flow at a fixed rate.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use tonic::transport::Channel;

use crate::load::{headcount_request, register_request};

/// Latency percentiles in microseconds, and how many requests failed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    pub rate_per_s: u64,
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The first failure, as `Code: message`.
    pub first_error: Option<String>,
}

/// Sends `rate` requests a second for `window`, each made by `call(i)`.
pub async fn at_rate<F, Fut>(rate: u64, window: Duration, call: F) -> Result<Latency>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let total = (rate as f64 * window.as_secs_f64()) as u64;
    let start = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let fut = call(i);
        handles.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = fut.await;
            (sent.elapsed(), r.err())
        }));
    }
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let mut first_error = None;
    for handle in handles {
        let (took, err) = handle.await?;
        match err {
            None => h.saturating_record(took.as_micros() as u64),
            Some(status) => {
                errors += 1;
                first_error
                    .get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
            }
        }
    }
    Ok(Latency {
        rate_per_s: rate,
        requests: total,
        errors,
        p50_us: h.value_at_quantile(0.50),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        first_error,
    })
}

/// Background appends at about `rate` a second (8 tasks, paced), on fresh cooperatives.
pub struct Appender {
    stop: Arc<AtomicBool>,
    pub done: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Result<()>>>,
}

impl Appender {
    pub fn start(channel: Channel, rate: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let tasks = (0..8)
            .map(|t| {
                let stop = stop.clone();
                let done = done.clone();
                let mut client = CooperativeCommandsClient::new(channel.clone());
                let period = Duration::from_secs_f64(8.0 / rate.max(1) as f64);
                tokio::spawn(async move {
                    let coop = format!("QA-{t}");
                    client.register(register_request(&coop, t)).await?;
                    let mut next = tokio::time::Instant::now();
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        next += period;
                        tokio::time::sleep_until(next).await;
                        client
                            .report_headcount(headcount_request(&coop, seq))
                            .await?;
                        done.fetch_add(1, Ordering::Relaxed);
                        seq += 1;
                    }
                    Ok(())
                })
            })
            .collect();
        Self { stop, done, tasks }
    }

    pub async fn stop(self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await??;
        }
        Ok(())
    }
}
