//! Offline replay: an export's events, re-encoded exactly as the log stores them, applied to a
//! fresh [`Projection`] in a temporary directory. The digest is computed by the same
//! `Projection::digest` the live node runs, so equal histories give equal digests. The views
//! read histories from the export's events spilled beside them (`spill`), as a node's views
//! read them from the log.

use std::io::BufRead;
use std::sync::Arc;

use relance_domain::{Recorded, Summary};
use relance_log::LogError;
use relance_projection::{PreparedBatch, Projection, ProjectionError, MAX_BATCH};

use crate::spill::Spill;
use crate::{parse_line, Line, ParseError, Progress};

/// Which events to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Every event of the export.
    All,
    /// Events at or below this stream position.
    Position(u64),
    /// Events recorded at or before this time (Unix ms).
    RecordedAt(i64),
}

/// The rebuilt state.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub summary: Summary,
    pub digest: String,
    /// Position of the last replayed event (the projection's checkpoint).
    pub position: u64,
    pub events: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("projection: {0}")]
    Projection(#[from] ProjectionError),
    #[error("{0}")]
    Spill(#[from] LogError),
    #[error("line {line}: position {position} is not after {previous}: the export is not in stream order (run `relance audit verify`)")]
    Order {
        line: usize,
        position: u64,
        previous: u64,
    },
}

/// Replays `input` up to `until` into a projection in a temporary directory.
///
/// One thread reads, parses, hashes and encodes the lines, a batch at a time, while this one
/// applies the previous batch: the two halves of a replay's work overlap.
pub fn replay(
    input: impl BufRead + Send,
    until: Until,
    progress: &mut dyn Progress,
) -> Result<Replayed, ReplayError> {
    let dir = tempfile::tempdir()?;
    let spill = Arc::new(Spill::new(tempfile::tempfile_in(dir.path())?)?);
    let projection = Projection::open_over_log(dir.path().join("views"), spill.clone())?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(PreparedBatch, u64), ReplayError>>(2);
    let events = std::thread::scope(|scope| {
        scope.spawn(move || {
            if let Err(e) = read_batches(input, until, &spill, &tx) {
                // The applying side stops at the first error; it may have stopped already.
                let _gone = tx.send(Err(e));
            }
        });
        let mut events = 0;
        for batch in rx {
            let (batch, read) = batch?;
            projection.apply_prepared(batch)?;
            events = read;
            progress.tick(events);
        }
        Ok::<u64, ReplayError>(events)
    })?;
    let replayed = Replayed {
        summary: projection.summary(),
        digest: projection.digest()?,
        position: projection.checkpoint(),
        events,
    };
    drop(projection);
    Ok(replayed)
}

/// Reads `input`'s events up to `until` and sends them to `tx`, decoded, hashed and encoded,
/// [`MAX_BATCH`] at a time, each with the count of events read so far (at least one batch,
/// possibly empty).
fn read_batches(
    input: impl BufRead,
    until: Until,
    spill: &Spill,
    tx: &std::sync::mpsc::SyncSender<Result<(PreparedBatch, u64), ReplayError>>,
) -> Result<(), ReplayError> {
    // Each batch is spilled, and readable, before the views apply it.
    let spilled = |prepared: PreparedBatch| -> Result<PreparedBatch, ReplayError> {
        for (rec, payload) in prepared.events() {
            spill.push(rec, payload)?;
        }
        spill.flush()?;
        Ok(prepared)
    };
    let mut batch: Vec<Recorded> = Vec::with_capacity(MAX_BATCH);
    let mut events = 0u64;
    let mut previous = 0u64;
    for (i, text) in input.lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let Line::Event { position, envelope } = parse_line(i + 1, &text)? else {
            continue;
        };
        if position <= previous {
            return Err(ReplayError::Order {
                line: i + 1,
                position,
                previous,
            });
        }
        previous = position;
        let keep = match until {
            Until::All => true,
            Until::Position(p) => position <= p,
            Until::RecordedAt(ms) => envelope.recorded_at_ms <= ms,
        };
        if !keep {
            continue;
        }
        batch.push(Recorded { position, envelope });
        events += 1;
        if batch.len() == MAX_BATCH {
            let prepared = spilled(PreparedBatch::from_recorded(std::mem::take(&mut batch)))?;
            if tx.send(Ok((prepared, events))).is_err() {
                return Ok(());
            }
        }
    }
    let last = spilled(PreparedBatch::from_recorded(batch))?;
    let _gone = tx.send(Ok((last, events)));
    Ok(())
}
