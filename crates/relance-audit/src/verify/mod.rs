//! Verification of an export: every cooperative chain re-hashed and re-linked, positions in
//! order, and every checkpoint's heads, count, root and signature checked; with a trusted key,
//! the export's last position must be covered by a checkpoint signed with it.

mod chains;
mod checkpoints;
mod tree;

use std::fmt;
use std::io::BufRead;

use ed25519_dalek::VerifyingKey;
use relance_domain::{chain_hash, Envelope, Hash};
use serde::Serialize;

use crate::{parse_line, Checkpoint, Line, Progress};

/// The kinds of damage `verify` tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    /// The event's bytes no longer hash to its `hash`: a field was changed.
    ChangedField,
    /// A version is missing in the middle of a chain.
    RemovedEvent,
    /// An event that does not belong to the chain (a second event for a version, or one the
    /// checkpoint does not know).
    InsertedEvent,
    /// Two events of a chain are in the wrong order.
    SwappedEvents,
    /// The same event appears twice.
    DuplicatedEvent,
    /// The chain links to a predecessor it does not follow (the predecessor was replaced).
    BrokenLink,
    /// Events are not in stream position order.
    OutOfOrder,
    /// A chain ends before the head a checkpoint recorded.
    RemovedTail,
    /// A checkpoint names a cooperative's head at a position the export claims to hold, and the
    /// export has none of that cooperative's events: its whole chain was removed.
    RemovedChain,
    /// A trusted key was given, and the export's last events are covered by no checkpoint
    /// signed with it (a tail cut together with its closing checkpoint looks like this).
    UnsignedTail,
    /// A checkpoint's signature is missing (when a trusted key is given), from another key, or
    /// wrong.
    BadCheckpointSignature,
    /// A checkpoint disagrees with itself or the export: its root does not match its heads, a
    /// head's hash differs from the event's, or it counts another number of events than the
    /// export holds up to its position.
    CheckpointMismatch,
    /// The Merkle tree of the export's events does not have the root a tree checkpoint
    /// (C2SP) signed at its size, or the export lacks a position it covers.
    TreeMismatch,
    /// A witness key the auditor requires cosigned no tree checkpoint matching the export.
    MissingCosignature,
    /// A line is not a record of the format.
    Malformed,
}

impl Damage {
    pub fn as_str(self) -> &'static str {
        match self {
            Damage::ChangedField => "changed_field",
            Damage::RemovedEvent => "removed_event",
            Damage::InsertedEvent => "inserted_event",
            Damage::SwappedEvents => "swapped_events",
            Damage::DuplicatedEvent => "duplicated_event",
            Damage::BrokenLink => "broken_link",
            Damage::OutOfOrder => "out_of_order",
            Damage::RemovedTail => "removed_tail",
            Damage::RemovedChain => "removed_chain",
            Damage::UnsignedTail => "unsigned_tail",
            Damage::BadCheckpointSignature => "bad_checkpoint_signature",
            Damage::CheckpointMismatch => "checkpoint_mismatch",
            Damage::TreeMismatch => "tree_mismatch",
            Damage::MissingCosignature => "missing_cosignature",
            Damage::Malformed => "malformed",
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, naming the event (cooperative, version, position) and the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Damage,
    /// Empty for a line that could not be read or a checkpoint-wide problem.
    pub cooperative: String,
    pub version: u64,
    pub position: u64,
    /// 1-based line of the export (0 for a checkpoint given apart from the export).
    pub line: usize,
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind)?;
        if !self.cooperative.is_empty() {
            write!(
                f,
                "cooperative {} version {} position {}",
                self.cooperative, self.version, self.position
            )?;
        }
        if self.line > 0 {
            write!(f, " (line {})", self.line)?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub lines: usize,
    pub events: u64,
    pub cooperatives: u64,
    pub checkpoints: u64,
    /// Checkpoints whose signature was checked (against the trusted key when one was given).
    pub signed_checkpoints: u64,
    pub last_position: u64,
    /// The positions the export claims to hold (its header): from `from` up to `to` (0: up to
    /// the log's head when it was exported).
    pub from: u64,
    pub to: u64,
    /// The trusted key (hex) checkpoints were checked against, when one was given.
    pub trusted_key: Option<String>,
    /// With a trusted key: the highest position a checkpoint signed with it covers (every
    /// event up to it, from `from`, is proven present and unchanged); 0 when none does.
    pub complete_up_to: u64,
    /// C2SP tree checkpoints checked (the export's own and those given).
    pub tree_checkpoints: u64,
    /// Each required witness (its vkey) and the largest tree size it cosigned that matches.
    pub witnessed: Vec<(String, u64)>,
    /// Every problem, in line order; the first is the first bad event.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }

    /// What an intact report proves, in one line: events and chains, complete up to which
    /// position, under which key (or that no key was checked, and what that leaves open).
    pub fn summary(&self) -> String {
        let mut out = format!(
            "intact: {} events in {} chains, positions {}–{}",
            self.events,
            self.cooperatives,
            self.from.max(1),
            self.last_position
        );
        match &self.trusted_key {
            Some(key) => {
                if self.complete_up_to >= self.last_position {
                    out += &format!(
                        ", complete up to position {} under key {key}",
                        self.complete_up_to
                    );
                } else if self.complete_up_to > 0 {
                    out += &format!(
                        ", complete up to position {} under key {key}; positions {}–{} are linked but covered by no signed checkpoint (unsigned tail allowed)",
                        self.complete_up_to,
                        self.complete_up_to + 1,
                        self.last_position
                    );
                } else {
                    out += &format!(
                        "; no checkpoint signed with key {key} covers them (unsigned tail allowed): chains linked, completeness not proven"
                    );
                }
            }
            None => {
                return out
                    + &format!(
                        "; chains linked, {} checkpoint(s) matched ({} signed by the key each names); completeness not proven (no trusted key: --public-key)",
                        self.checkpoints, self.signed_checkpoints
                    );
            }
        }
        for (witness, size) in &self.witnessed {
            out += &format!("; cosigned up to position {size} by witness {witness}");
        }
        out + &format!(
            "; {} checkpoint(s), {} signed with it; {} tree checkpoint(s)",
            self.checkpoints, self.signed_checkpoints, self.tree_checkpoints
        )
    }
}

/// What to check besides the export's own lines.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Checkpoints kept from earlier (e.g. from an earlier export): catch a tail removed since.
    pub checkpoints: Vec<Checkpoint>,
    /// The key every checkpoint must be signed with; the export's last position must then be
    /// covered by one of them.
    pub trusted_key: Option<VerifyingKey>,
    /// With a trusted key: accept events past the last signed checkpoint (reported, not proven
    /// complete).
    pub allow_unsigned_tail: bool,
    /// C2SP tree checkpoints kept from earlier (signed notes, or bare bodies).
    pub tree_checkpoints: Vec<String>,
    /// Witnesses (cosignature vkeys) that must each have cosigned a tree checkpoint matching
    /// the export.
    pub witness_keys: Vec<relance_tlog::CosignatureVerifier>,
}

/// What verification needs of one event (the envelope itself is not kept: exports are large).
struct Ev {
    line: usize,
    position: u64,
    cooperative: String,
    event_id: String,
    version: u64,
    prev_hash: Hash,
    hash: Hash,
    /// The hash the envelope's content gives.
    computed: Hash,
}

impl Ev {
    fn new(line: usize, position: u64, envelope: &Envelope) -> Self {
        Self {
            line,
            position,
            cooperative: envelope.cooperative_id.to_string(),
            event_id: envelope.event_id.clone(),
            version: envelope.version,
            prev_hash: envelope.prev_hash,
            hash: envelope.hash,
            computed: chain_hash(envelope),
        }
    }
}

/// Lines parsed and hashed together, split across the machine's cores.
const CHUNK_LINES: usize = 8192;

/// One line of the export, parsed (and hashed, for an event).
enum Parsed {
    Blank,
    Header(u64, u64),
    Event(Ev),
    Checkpoint(Checkpoint),
    TreeCheckpoint(String),
    Malformed(String),
}

fn parse(line: usize, text: &str) -> Parsed {
    if text.trim().is_empty() {
        return Parsed::Blank;
    }
    match parse_line(line, text) {
        Ok(Line::Export(h)) => Parsed::Header(h.from, h.to),
        Ok(Line::Event { position, envelope }) => Parsed::Event(Ev::new(line, position, &envelope)),
        Ok(Line::Checkpoint(cp)) => Parsed::Checkpoint(cp),
        Ok(Line::TlogCheckpoint { note }) => Parsed::TreeCheckpoint(note),
        Err(e) => Parsed::Malformed(e.detail),
    }
}

/// Parses a chunk of lines (the first is line `first`), on every core, in line order.
fn parse_chunk(first: usize, texts: &[String]) -> Vec<Parsed> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = texts.len().div_ceil(threads).max(1);
    if threads == 1 || texts.len() < 64 {
        return texts
            .iter()
            .enumerate()
            .map(|(i, t)| parse(first + i, t))
            .collect();
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = texts
            .chunks(per_thread)
            .enumerate()
            .map(|(k, part)| {
                let start = first + k * per_thread;
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, t)| parse(start + i, t))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Reads an export and checks it. I/O errors are returned; damage is in the report.
pub fn verify(
    input: impl BufRead,
    options: &VerifyOptions,
    progress: &mut dyn Progress,
) -> std::io::Result<Report> {
    let mut report = Report::default();
    let mut events: Vec<Ev> = Vec::new();
    let mut checkpoints: Vec<(usize, Checkpoint)> = Vec::new();
    let mut tree_checkpoints: Vec<(usize, String)> = Vec::new();
    let mut span = checkpoints::Span { from: 1, to: 0 };
    let mut lines = input.lines();
    let mut chunk: Vec<String> = Vec::with_capacity(CHUNK_LINES);
    loop {
        chunk.clear();
        for text in lines.by_ref().take(CHUNK_LINES) {
            chunk.push(text?);
        }
        if chunk.is_empty() {
            break;
        }
        let first = report.lines + 1;
        report.lines += chunk.len();
        for (i, parsed) in parse_chunk(first, &chunk).into_iter().enumerate() {
            let line = first + i;
            match parsed {
                Parsed::Blank => {}
                Parsed::Header(from, to) => {
                    span = checkpoints::Span {
                        from: from.max(1),
                        to,
                    }
                }
                Parsed::Event(ev) => events.push(ev),
                Parsed::Checkpoint(cp) => checkpoints.push((line, cp)),
                Parsed::TreeCheckpoint(note) => tree_checkpoints.push((line, note)),
                Parsed::Malformed(detail) => report.findings.push(Finding {
                    kind: Damage::Malformed,
                    cooperative: String::new(),
                    version: 0,
                    position: 0,
                    line,
                    detail,
                }),
            }
        }
        progress.tick(events.len() as u64);
    }
    report.events = events.len() as u64;
    report.last_position = events.iter().map(|e| e.position).max().unwrap_or(0);
    (report.from, report.to) = (span.from, span.to);
    chains::check_chains(&events, span.from, &mut report);
    chains::check_order(&events, &mut report);
    checkpoints.extend(options.checkpoints.iter().cloned().map(|cp| (0, cp)));
    report.checkpoints = checkpoints.len() as u64;
    let mut signed_up_to = 0;
    for (line, cp) in &checkpoints {
        if checkpoints::check_checkpoint(*line, cp, &events, span, options, &mut report) {
            signed_up_to = signed_up_to.max(cp.position);
        }
    }
    tree_checkpoints.extend(options.tree_checkpoints.iter().cloned().map(|t| (0, t)));
    let tree_signed =
        tree::check_tree_checkpoints(&events, span, &tree_checkpoints, options, &mut report);
    signed_up_to = signed_up_to.max(tree_signed);
    checkpoints::check_signed_tail(&events, signed_up_to, options, &mut report);
    report.findings.sort_by_key(|f| (f.line == 0, f.line));
    Ok(report)
}

fn finding(kind: Damage, ev: &Ev, detail: String) -> Finding {
    Finding {
        kind,
        cooperative: ev.cooperative.clone(),
        version: ev.version,
        position: ev.position,
        line: ev.line,
        detail,
    }
}
