//! Following a log: the `run` loop that applies its events in batches from the checkpoint on.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use relance_log::retry::Backoff;
use relance_log::{EventLog, LogError, StoredEvent};
use tokio::sync::watch;

use crate::{join_failure, Poison, PreparedBatch, Projection, ProjectionError, MAX_BATCH};

/// Most events gathered into one write while the previous one is written (a catch-up's
/// batches; memory grows with it: about 2 kB an event decoded).
const MAX_GATHERED: usize = 4 * 1024;

/// Pauses before following the log again after it became unavailable: 100 ms doubled after
/// each failed attempt, up to 5 s, without limit; back to 100 ms once a batch is applied.
const REFOLLOW: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// How often a follower that delivers nothing is checked against the log's head.
const STALL_CHECK: Duration = Duration::from_secs(3);

/// Follows `log` from the projection's checkpoint and applies events in batches until
/// `shutdown` turns true. When the log becomes unavailable (a NATS restart, a lost
/// connection), follows it again from the checkpoint, with a bounded backoff. A message that
/// is not a relance event is poison: recorded, its cooperative quarantined, and the projection
/// goes on. Returns the error that stopped it, if any (a storage failure, a log that refuses).
pub async fn run(
    projection: Arc<Projection>,
    log: Arc<dyn EventLog>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
    };
    tokio::pin!(stop);
    let mut refollow = REFOLLOW.delays();
    // The batch being written while the next ones are read, decoded and gathered: while a
    // catch-up is behind, each write takes everything that arrived during the previous one
    // (up to MAX_GATHERED events), so a cooperative's view is written once for many events.
    let mut writing: Option<tokio::task::JoinHandle<Result<(), ProjectionError>>> = None;
    let mut gathered = PreparedBatch::default();
    'follow: loop {
        let from = projection.checkpoint() + 1;
        tracing::info!(
            from,
            backend = log.backend(),
            "projection following the event log"
        );
        let interruption = match log.follow(from).await {
            Err(e) => e,
            Ok(stream) => {
                let mut stream = stream.ready_chunks(MAX_BATCH);
                // A follower can stall without an error (its server left in lame-duck mode,
                // a consumer lost in a leader change): when nothing arrives for a while but
                // the log has moved past the checkpoint, follow again.
                let mut watchdog = tokio::time::interval(STALL_CHECK);
                watchdog.reset();
                let mut at_last_check = projection.checkpoint();
                loop {
                    tokio::select! {
                        () = &mut stop => break 'follow,
                        written = wait_writing(&mut writing) => {
                            written?;
                            if !gathered.is_empty() {
                                write(&projection, &mut gathered, &mut writing);
                            }
                        }
                        _ = watchdog.tick() => {
                            let checkpoint = projection.checkpoint();
                            if checkpoint == at_last_check {
                                match log.last_position().await {
                                    Ok(head) if head > checkpoint => {
                                        break LogError::Unavailable(format!(
                                            "the follower delivered nothing for {STALL_CHECK:?} while the log is at {head}"
                                        ));
                                    }
                                    // A log that refuses to say where it is (its stream
                                    // deleted, say) will not deliver anything either.
                                    Err(e) if !matches!(e, LogError::Unavailable(_)) => break e,
                                    _ => {}
                                }
                            }
                            at_last_check = checkpoint;
                        }
                        chunk = stream.next() => {
                            let Some(chunk) = chunk else { break 'follow };
                            let (events, failure) = split(chunk);
                            if !events.is_empty() {
                                // Decoding and hashing this batch overlaps the writing of
                                // the previous one.
                                let prepared = tokio::task::spawn_blocking(move || Projection::prepare_followed(events))
                                    .await
                                    .map_err(|e| join_failure("decoding a batch", &e))?;
                                gathered.append(prepared);
                                if gathered.len() >= MAX_GATHERED {
                                    finish_writing(&mut writing).await?;
                                }
                                if writing.is_none() {
                                    write(&projection, &mut gathered, &mut writing);
                                }
                                refollow.reset();
                            }
                            if let Some(e) = failure {
                                break e;
                            }
                        }
                    }
                }
            }
        };
        // Following again starts from the checkpoint: the batches in flight land first.
        finish_writing(&mut writing).await?;
        write(&projection, &mut gathered, &mut writing);
        finish_writing(&mut writing).await?;
        match interruption {
            LogError::Unavailable(reason) => {
                let pause = refollow.next().unwrap_or(REFOLLOW.max);
                tracing::warn!(
                    %reason,
                    checkpoint = projection.checkpoint(),
                    retry_in = ?pause,
                    "the event log is unavailable; following it again from the checkpoint"
                );
                tokio::select! {
                    () = &mut stop => break 'follow,
                    () = tokio::time::sleep(pause) => {}
                }
            }
            other => return Err(other.into()),
        }
    }
    finish_writing(&mut writing).await?;
    write(&projection, &mut gathered, &mut writing);
    finish_writing(&mut writing).await?;
    projection.flush().await?;
    Ok(())
}

/// What a follower delivered, as events and poison up to the first failure of the log itself
/// (which is returned beside them).
#[allow(clippy::type_complexity)]
fn split(
    chunk: Vec<Result<StoredEvent, LogError>>,
) -> (Vec<Result<StoredEvent, Poison>>, Option<LogError>) {
    let mut events = Vec::with_capacity(chunk.len());
    for item in chunk {
        match item {
            Ok(event) => events.push(Ok(event)),
            Err(LogError::Unreadable {
                position,
                cooperative_id,
                reason,
            }) => events.push(Err(Poison {
                position,
                cooperative_id: cooperative_id.map(|c| c.as_str().to_owned()),
                reason,
            })),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

/// Starts writing the `gathered` events (nothing when there are none).
fn write(
    projection: &Arc<Projection>,
    gathered: &mut PreparedBatch,
    writing: &mut Option<tokio::task::JoinHandle<Result<(), ProjectionError>>>,
) {
    if gathered.is_empty() {
        return;
    }
    let batch = std::mem::take(gathered);
    let p = projection.clone();
    *writing = Some(tokio::task::spawn_blocking(move || p.apply_prepared(batch)));
}

/// Waits until the batch being written is written (forever when none is), and returns its
/// outcome; afterwards none is being written.
async fn wait_writing(
    writing: &mut Option<tokio::task::JoinHandle<Result<(), ProjectionError>>>,
) -> Result<(), ProjectionError> {
    match writing {
        Some(task) => {
            let outcome = task.await;
            *writing = None;
            outcome.map_err(|e| join_failure("writing a batch", &e))?
        }
        None => std::future::pending().await,
    }
}

/// Waits for the batch being written, if any, and returns its error.
async fn finish_writing(
    writing: &mut Option<tokio::task::JoinHandle<Result<(), ProjectionError>>>,
) -> Result<(), ProjectionError> {
    match writing.take() {
        Some(task) => task
            .await
            .map_err(|e| join_failure("writing a batch", &e))?,
        None => Ok(()),
    }
}
