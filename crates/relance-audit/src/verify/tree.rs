//! An export against C2SP tree checkpoints (its own closing one and those kept apart): the
//! Merkle tree of the export's events must have the root each one signed at its size (so the
//! old log is a prefix of the export: nothing changed, removed or reordered), signed with the
//! trusted key, and cosigned by every witness the auditor names.

use relance_tlog::{subtree_hash, MemoryStore};

use super::{Damage, Ev, Finding, Report, VerifyOptions};
use crate::TreeCheckpoint;

use super::checkpoints::Span;

/// Checks every tree checkpoint; returns the highest size one signed with the trusted key
/// covers (0 if none).
pub(super) fn check_tree_checkpoints(
    events: &[Ev],
    span: Span,
    checkpoints: &[(usize, String)],
    options: &VerifyOptions,
    report: &mut Report,
) -> u64 {
    report.tree_checkpoints = checkpoints.len() as u64;
    if checkpoints.is_empty() && options.witness_keys.is_empty() {
        return 0;
    }
    // The leaves the export holds from position 1 without a gap.
    let mut by_position: Vec<(u64, [u8; 32])> =
        events.iter().map(|e| (e.position, e.hash.0)).collect();
    by_position.sort_by_key(|(p, _)| *p);
    by_position.dedup_by_key(|(p, _)| *p);
    let mut store = MemoryStore::new();
    if span.from == 1 {
        for (k, (p, h)) in by_position.iter().enumerate() {
            if *p != k as u64 + 1 {
                break;
            }
            store.push(relance_tlog::leaf_hash(h));
        }
    }
    let dense = store.tree().size();
    // A tree mismatch says only that something up to a size differs: reported when nothing
    // more precise (a chain, a head) was found.
    let precise = !report.findings.is_empty();
    let mut mismatches = Vec::new();
    let mut signed_up_to = 0;
    let mut witnessed = vec![0u64; options.witness_keys.len()];
    for (line, text) in checkpoints {
        let whole = |kind, position, detail: String| Finding {
            kind,
            cooperative: String::new(),
            version: 0,
            position,
            line: *line,
            detail,
        };
        let cp = match TreeCheckpoint::parse(text) {
            Ok(cp) => cp,
            Err(e) => {
                report
                    .findings
                    .push(whole(Damage::Malformed, 0, e.to_string()));
                continue;
            }
        };
        let size = cp.head.size;
        if span.from > 1 || (size > dense && !span.covers(size)) {
            continue; // the export does not claim the whole tree: nothing to compare
        }
        if size > dense {
            mismatches.push(whole(
                Damage::TreeMismatch,
                dense + 1,
                format!(
                    "the tree checkpoint of size {size} covers position {}, which the export lacks",
                    dense + 1
                ),
            ));
            continue;
        }
        let root = subtree_hash(&store, 0, size).unwrap_or([0; 32]);
        if root != cp.head.root {
            mismatches.push(whole(
                Damage::TreeMismatch,
                size,
                format!(
                    "the Merkle tree of the export's first {size} events is not the one the tree checkpoint signed: an event up to position {size} was changed, removed, inserted or moved"
                ),
            ));
            continue;
        }
        if let Some(key) = &options.trusted_key {
            match cp.check_log_signature(key) {
                Ok(()) => signed_up_to = signed_up_to.max(size),
                Err(e) => report.findings.push(whole(
                    Damage::BadCheckpointSignature,
                    size,
                    format!("tree checkpoint of size {size}: {e}"),
                )),
            }
        }
        for (k, witness) in options.witness_keys.iter().enumerate() {
            if cp.check_cosignature(witness).is_ok() {
                witnessed[k] = witnessed[k].max(size);
            }
        }
    }
    if !precise {
        report.findings.extend(mismatches);
    }
    for (k, witness) in options.witness_keys.iter().enumerate() {
        report.witnessed.push((witness.to_vkey(), witnessed[k]));
        if witnessed[k] == 0 {
            report.findings.push(Finding {
                kind: Damage::MissingCosignature,
                cooperative: String::new(),
                version: 0,
                position: 0,
                line: 0,
                detail: format!(
                    "no tree checkpoint matching the export is cosigned by witness {}",
                    witness.to_vkey()
                ),
            });
        }
    }
    signed_up_to
}
