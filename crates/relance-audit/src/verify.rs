//! Verification of an export: every cooperative chain re-hashed and re-linked, positions in
//! order, and every checkpoint's heads, root and signature checked.

use std::collections::{BTreeMap, HashMap};
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
    /// A checkpoint's signature is missing (when a trusted key is given), from another key, or
    /// wrong.
    BadCheckpointSignature,
    /// A checkpoint's root does not match its heads.
    CheckpointMismatch,
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
            Damage::BadCheckpointSignature => "bad_checkpoint_signature",
            Damage::CheckpointMismatch => "checkpoint_mismatch",
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
    /// Every problem, in line order; the first is the first bad event.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// What to check besides the export's own lines.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Checkpoints kept from earlier (e.g. from an earlier export): catch a tail removed since.
    pub checkpoints: Vec<Checkpoint>,
    /// The key every checkpoint must be signed with.
    pub trusted_key: Option<VerifyingKey>,
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
    Header(u64),
    Event(Ev),
    Checkpoint(Checkpoint),
    Malformed(String),
}

fn parse(line: usize, text: &str) -> Parsed {
    if text.trim().is_empty() {
        return Parsed::Blank;
    }
    match parse_line(line, text) {
        Ok(Line::Export(h)) => Parsed::Header(h.from),
        Ok(Line::Event { position, envelope }) => Parsed::Event(Ev::new(line, position, &envelope)),
        Ok(Line::Checkpoint(cp)) => Parsed::Checkpoint(cp),
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
    let mut from = 1;
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
                Parsed::Header(f) => from = f.max(1),
                Parsed::Event(ev) => events.push(ev),
                Parsed::Checkpoint(cp) => checkpoints.push((line, cp)),
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
    check_chains(&events, from, &mut report);
    check_order(&events, &mut report);
    checkpoints.extend(options.checkpoints.iter().cloned().map(|cp| (0, cp)));
    report.checkpoints = checkpoints.len() as u64;
    for (line, cp) in &checkpoints {
        check_checkpoint(*line, cp, &events, options, &mut report);
    }
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

/// Each chain in file order: the first problem of each chain is reported.
fn check_chains(events: &[Ev], from: u64, report: &mut Report) {
    let mut chains: BTreeMap<&str, Vec<&Ev>> = BTreeMap::new();
    for ev in events {
        chains.entry(ev.cooperative.as_str()).or_default().push(ev);
    }
    report.cooperatives = chains.len() as u64;
    for chain in chains.values() {
        if let Some(f) = check_chain(chain, from) {
            report.findings.push(f);
        }
    }
}

fn check_chain(chain: &[&Ev], from: u64) -> Option<Finding> {
    // A partial export (--from > 1) starts each chain wherever the export starts: its first
    // event there is taken as it is (what came before is not in the file).
    let (mut expected, mut prev) = match chain.first() {
        Some(first) if from > 1 && first.version > 1 => (first.version, first.prev_hash),
        _ => (1, Hash::ZERO),
    };
    let mut seen: HashMap<Hash, &Ev> = HashMap::new();
    let mut by_version: HashMap<u64, &Ev> = HashMap::new();
    let mut prev_ev: Option<&Ev> = None;
    for (k, ev) in chain.iter().enumerate() {
        let env = *ev;
        let computed = env.computed;
        if computed != env.hash {
            return Some(finding(
                Damage::ChangedField,
                ev,
                format!(
                    "the envelope hashes to {computed}, not to its recorded hash {}: a field was changed",
                    env.hash
                ),
            ));
        }
        if let Some(first) = seen.get(&env.hash) {
            return Some(finding(
                Damage::DuplicatedEvent,
                ev,
                format!(
                    "event {} already appears on line {}",
                    env.event_id, first.line
                ),
            ));
        }
        if env.version == expected && env.prev_hash == prev {
            seen.insert(env.hash, ev);
            by_version.insert(env.version, ev);
            prev = env.hash;
            expected += 1;
            prev_ev = Some(ev);
            continue;
        }
        let rest = &chain[k + 1..];
        if env.version > expected {
            if let Some(later) = rest.iter().find(|e| e.version == expected) {
                return Some(finding(
                    Damage::SwappedEvents,
                    ev,
                    format!(
                        "version {} comes before version {expected} (line {}, position {})",
                        env.version, later.line, later.position
                    ),
                ));
            }
            return Some(finding(
                Damage::RemovedEvent,
                ev,
                format!(
                    "version{} {expected}{} missing before this event",
                    if env.version - expected > 1 { "s" } else { "" },
                    if env.version - expected > 1 {
                        format!("–{} are", env.version - 1)
                    } else {
                        " is".into()
                    }
                ),
            ));
        }
        if env.version < expected {
            // Two events claim one version: the one the rest of the chain links to is genuine.
            let Some(taken) = by_version.get(&env.version) else {
                return Some(finding(
                    Damage::InsertedEvent,
                    ev,
                    format!("version {} is out of the chain", env.version),
                ));
            };
            let this_is_linked = rest.iter().any(|e| e.prev_hash == env.hash);
            let (inserted, genuine) = if this_is_linked {
                (*taken, *ev)
            } else {
                (*ev, *taken)
            };
            return Some(finding(
                Damage::InsertedEvent,
                inserted,
                format!(
                    "a second event for version {} (the chain continues from the one on line {})",
                    env.version, genuine.line
                ),
            ));
        }
        return Some(finding(
            Damage::BrokenLink,
            ev,
            format!(
                "prev_hash {} is not the hash of version {}{}: that event was replaced",
                env.prev_hash,
                expected.saturating_sub(1),
                prev_ev
                    .map(|p| format!(" (line {})", p.line))
                    .unwrap_or_default()
            ),
        ));
    }
    None
}

/// Stream positions strictly increase through the file; reported only on lines with no other
/// finding (a swap or a duplicate also breaks the order).
fn check_order(events: &[Ev], report: &mut Report) {
    let flagged: std::collections::HashSet<usize> =
        report.findings.iter().map(|f| f.line).collect();
    let mut last: Option<&Ev> = None;
    for ev in events {
        if let Some(prev) = last {
            if ev.position <= prev.position && !flagged.contains(&ev.line) {
                report.findings.push(finding(
                    Damage::OutOfOrder,
                    ev,
                    format!(
                        "position {} comes after position {} (line {})",
                        ev.position, prev.position, prev.line
                    ),
                ));
                return;
            }
        }
        last = Some(ev);
    }
}

fn check_checkpoint(
    line: usize,
    cp: &Checkpoint,
    events: &[Ev],
    options: &VerifyOptions,
    report: &mut Report,
) {
    let whole = |kind, detail: String| Finding {
        kind,
        cooperative: String::new(),
        version: 0,
        position: cp.position,
        line,
        detail,
    };
    if cp.compute_root() != cp.root {
        report.findings.push(whole(
            Damage::CheckpointMismatch,
            format!(
                "the checkpoint at position {} was edited: its heads hash to {}, not to its root {}",
                cp.position,
                cp.compute_root(),
                cp.root
            ),
        ));
        return;
    }
    match cp.check_signature(options.trusted_key.as_ref()) {
        Err(e) => {
            report.findings.push(whole(
                Damage::BadCheckpointSignature,
                format!("checkpoint at position {}: {e}", cp.position),
            ));
            return;
        }
        Ok(()) => {
            if cp.signature.is_some() {
                report.signed_checkpoints += 1;
            }
        }
    }
    // Each chain as the file has it at the checkpoint's position.
    let mut at: BTreeMap<&str, &Ev> = BTreeMap::new();
    for ev in events.iter().filter(|e| e.position <= cp.position) {
        let id = ev.cooperative.as_str();
        if at.get(id).is_none_or(|e| e.version < ev.version) {
            at.insert(id, ev);
        }
    }
    let partial = events.first().is_some_and(|e| e.position > 1);
    for (id, head) in &cp.heads {
        let named = |kind, detail: String| Finding {
            kind,
            cooperative: id.clone(),
            version: head.version,
            position: head.position,
            line,
            detail,
        };
        match at.get(id.as_str()) {
            None if partial => {}
            None => report.findings.push(named(
                Damage::RemovedTail,
                format!(
                    "the checkpoint at position {} records this cooperative's head at version {}, and the export has none of its events",
                    cp.position, head.version
                ),
            )),
            Some(ev) if ev.version < head.version => report.findings.push(named(
                Damage::RemovedTail,
                format!(
                    "the chain ends at version {} (line {}) but the checkpoint at position {} records version {} (hash {})",
                    ev.version, ev.line, cp.position, head.version, head.hash
                ),
            )),
            Some(ev) if ev.version > head.version => report.findings.push(finding(
                Damage::InsertedEvent,
                ev,
                format!(
                    "the checkpoint at position {} records this cooperative's head at version {}",
                    cp.position, head.version
                ),
            )),
            Some(ev) if ev.hash != head.hash => report.findings.push(finding(
                Damage::CheckpointMismatch,
                ev,
                format!(
                    "the checkpoint at position {} records hash {} for this version",
                    cp.position, head.hash
                ),
            )),
            Some(_) => {}
        }
    }
    for (id, ev) in &at {
        if !cp.heads.contains_key(*id) {
            report.findings.push(finding(
                Damage::InsertedEvent,
                ev,
                format!(
                    "the checkpoint at position {} knows no cooperative {id}",
                    cp.position
                ),
            ));
        }
    }
}
