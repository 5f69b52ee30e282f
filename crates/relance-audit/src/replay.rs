//! Offline replay: an export's events, re-encoded exactly as the log stores them, applied to a
//! fresh [`Projection`] in a temporary directory. The digest is computed by the same
//! `Projection::digest` the live node runs, so equal histories give equal digests.

use std::io::BufRead;

use relance_domain::{Recorded, Summary};
use relance_projection::{PreparedBatch, Projection, ProjectionError, MAX_BATCH};

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
    #[error("line {line}: position {position} is not after {previous}: the export is not in stream order (run `relance audit verify`)")]
    Order {
        line: usize,
        position: u64,
        previous: u64,
    },
}

/// Replays `input` up to `until` into a projection in a temporary directory.
pub fn replay(
    input: impl BufRead,
    until: Until,
    progress: &mut dyn Progress,
) -> Result<Replayed, ReplayError> {
    let dir = tempfile::tempdir()?;
    let projection = Projection::open(dir.path())?;
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
            projection.apply_prepared(PreparedBatch::from_recorded(std::mem::take(&mut batch)))?;
            progress.tick(events);
        }
    }
    projection.apply_prepared(PreparedBatch::from_recorded(batch))?;
    progress.tick(events);
    let replayed = Replayed {
        summary: projection.summary(),
        digest: projection.digest()?,
        position: projection.checkpoint(),
        events,
    };
    drop(projection);
    Ok(replayed)
}
