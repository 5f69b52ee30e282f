//! An export against checkpoints (its own closing one and those kept apart): root, signature,
//! every head the checkpoint names, its event count, and whether the export's last position is
//! covered by a checkpoint signed with the trusted key.

use std::collections::BTreeMap;

use super::{finding, Damage, Ev, Finding, Report, VerifyOptions};
use crate::Checkpoint;

/// The stream positions an export claims to hold (its header's `from` and `to`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub from: u64,
    /// 0: up to the log's head when exported.
    pub to: u64,
}

impl Span {
    /// Does the export claim to hold the event at `position`?
    pub(super) fn covers(self, position: u64) -> bool {
        position >= self.from && (self.to == 0 || position <= self.to)
    }
}

/// Checks one checkpoint; returns whether its root matched and its signature is the trusted
/// key's (so that the positions it covers count as signed).
pub(super) fn check_checkpoint(
    line: usize,
    cp: &Checkpoint,
    events: &[Ev],
    span: Span,
    options: &VerifyOptions,
    report: &mut Report,
) -> bool {
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
        return false;
    }
    if let Err(e) = cp.check_signature(options.trusted_key.as_ref()) {
        report.findings.push(whole(
            Damage::BadCheckpointSignature,
            format!("checkpoint at position {}: {e}", cp.position),
        ));
        return false;
    }
    if cp.signature.is_some() {
        report.signed_checkpoints += 1;
    }
    check_heads(line, cp, events, span, report);
    check_count(line, cp, events, span, report);
    options.trusted_key.is_some() && cp.signature.is_some()
}

/// Each head the checkpoint names against the chain as the export has it at the checkpoint's
/// position, and each chain of the export against the heads.
fn check_heads(line: usize, cp: &Checkpoint, events: &[Ev], span: Span, report: &mut Report) {
    let mut at: BTreeMap<&str, &Ev> = BTreeMap::new();
    for ev in events.iter().filter(|e| e.position <= cp.position) {
        let id = ev.cooperative.as_str();
        if at.get(id).is_none_or(|e| e.version < ev.version) {
            at.insert(id, ev);
        }
    }
    for (id, head) in &cp.heads {
        let named = |kind, detail: String| Finding {
            kind,
            cooperative: id.clone(),
            version: head.version,
            position: head.position,
            line,
            detail,
        };
        // A head outside the positions the export claims (before a partial export's start, or
        // after its `to`) cannot be matched; only a later version than it is wrong.
        let covered = span.covers(head.position);
        match at.get(id.as_str()) {
            None if !covered => {}
            None => report.findings.push(named(
                Damage::RemovedChain,
                format!(
                    "the checkpoint at position {} records this cooperative's head at version {} (hash {}), and the export, which claims position {}, has none of its events",
                    cp.position, head.version, head.hash, head.position
                ),
            )),
            Some(ev) if ev.version < head.version && covered => report.findings.push(named(
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
            Some(ev) if ev.version == head.version && ev.hash != head.hash => {
                report.findings.push(finding(
                    Damage::CheckpointMismatch,
                    ev,
                    format!(
                        "the checkpoint at position {} records hash {} for this version",
                        cp.position, head.hash
                    ),
                ))
            }
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

/// The checkpoint's event count against the events the export holds at or below its position,
/// when the export claims every one of them (from position 1 up to at least the checkpoint).
fn check_count(line: usize, cp: &Checkpoint, events: &[Ev], span: Span, report: &mut Report) {
    if span.from > 1 || !span.covers(cp.position) {
        return;
    }
    let held = events.iter().filter(|e| e.position <= cp.position).count() as u64;
    if held != cp.count {
        report.findings.push(Finding {
            kind: Damage::CheckpointMismatch,
            cooperative: String::new(),
            version: 0,
            position: cp.position,
            line,
            detail: format!(
                "the checkpoint at position {} counts {} events at or below it; the export holds {held}",
                cp.position, cp.count
            ),
        });
    }
}

/// With a trusted key: the export's events past the last position a checkpoint signed with
/// that key covers are an unsigned tail (a tail cut together with its closing checkpoint looks
/// just like it), refused unless `allow_unsigned_tail`.
pub(super) fn check_signed_tail(
    events: &[Ev],
    signed_up_to: u64,
    options: &VerifyOptions,
    report: &mut Report,
) {
    let Some(key) = &options.trusted_key else {
        return;
    };
    report.trusted_key = Some(hex::encode(key.to_bytes()));
    report.complete_up_to = signed_up_to;
    let checkpoint_failed = report.findings.iter().any(|f| {
        matches!(
            f.kind,
            Damage::BadCheckpointSignature | Damage::CheckpointMismatch | Damage::TreeMismatch
        ) && f.cooperative.is_empty()
    });
    if options.allow_unsigned_tail || checkpoint_failed || report.last_position <= signed_up_to {
        return;
    }
    let Some(first) = events.iter().find(|e| e.position > signed_up_to) else {
        return;
    };
    let signed = if signed_up_to == 0 {
        "no checkpoint signed with the trusted key covers any of its events".to_string()
    } else {
        format!("checkpoints signed with the trusted key cover it up to position {signed_up_to}")
    };
    report.findings.push(finding(
        Damage::UnsignedTail,
        first,
        format!(
            "the export goes on to position {} but {signed}: a tail cut together with its checkpoint would look the same (--allow-unsigned-tail accepts it)",
            report.last_position
        ),
    ));
}
