//! The export format: JSON Lines, one object a line, tagged by `kind`.

use std::io::Write;

use relance_domain::Envelope;
use serde::{Deserialize, Serialize};

use crate::Checkpoint;

/// Name and version of the format, written in the header line.
pub const FORMAT: &str = "relance-audit-export/1";

/// The first line of an export: what it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportHeader {
    pub format: String,
    /// First stream position asked for (1 = the whole history).
    pub from: u64,
    /// Last stream position asked for (0 = up to the log's head when exported).
    pub to: u64,
}

/// One line of an export.
// One value per line, matched at once: boxing would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Export(ExportHeader),
    /// One event: its stream position and its envelope (the domain's serde form, with `hash`).
    Event {
        position: u64,
        envelope: Envelope,
    },
    Checkpoint(Checkpoint),
    /// The C2SP tlog-checkpoint of the Merkle tree of every event up to the export's end
    /// (`note`: the signed note, or its body alone when the export is not signed).
    TlogCheckpoint {
        note: String,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {detail}")]
pub struct ParseError {
    pub line: usize,
    pub detail: String,
}

/// An event line read as a plain struct: nearly every line is one, and serde reads an
/// internally tagged enum by buffering the whole object first.
#[derive(Deserialize)]
struct EventLine {
    #[allow(dead_code)]
    kind: EventKind,
    position: u64,
    envelope: Envelope,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventKind {
    Event,
}

/// Parses one line (1-based `line` for messages).
pub fn parse_line(line: usize, text: &str) -> Result<Line, ParseError> {
    if let Ok(EventLine {
        position, envelope, ..
    }) = serde_json::from_str(text)
    {
        return Ok(Line::Event { position, envelope });
    }
    serde_json::from_str(text).map_err(|e| ParseError {
        line,
        detail: e.to_string(),
    })
}

/// Writes one line, newline included.
pub fn write_line(out: &mut (impl Write + ?Sized), line: &Line) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}
