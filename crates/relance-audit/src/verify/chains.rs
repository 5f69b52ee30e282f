//! The chains of an export on their own: every event re-hashed, every version linked to the
//! previous one, and stream positions in order.

use std::collections::{BTreeMap, HashMap};

use relance_domain::Hash;

use super::{finding, Damage, Ev, Finding, Report};

/// Each chain in file order: the first problem of each chain is reported.
pub(super) fn check_chains(events: &[Ev], from: u64, report: &mut Report) {
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
pub(super) fn check_order(events: &[Ev], report: &mut Report) {
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
