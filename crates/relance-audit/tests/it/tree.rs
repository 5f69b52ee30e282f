//! The transparency log over an export: tree checkpoints checked by verify (root, log key,
//! witnesses), inclusion and consistency proofs checked offline with their signed checkpoint.

use relance_audit::{check_proof_line, parse_line, Damage, EventTree, Line, VerifyOptions};
use relance_tlog::CosignatureSigner;

use crate::{check, export, history, key};

const ORIGIN: &str = "relance.test/RELANCE_EVENTS";

fn tree_of(events: &[(u64, relance_domain::Envelope)]) -> EventTree {
    let mut t = EventTree::new();
    for (p, e) in events {
        t.push(*p, &e.event_id, e.hash.0).unwrap();
    }
    t
}

/// The export of `events` with a tree checkpoint line before its closing checkpoint.
fn with_tree(events: &[(u64, relance_domain::Envelope)], seed: u8) -> Vec<u8> {
    let k = key(seed);
    let text = String::from_utf8(export(events, 1, Some(&k))).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let note = tree_of(events).checkpoint(ORIGIN, Some(&k)).unwrap();
    let mut out = Vec::new();
    relance_audit::write_line(&mut out, &Line::TlogCheckpoint { note }).unwrap();
    lines.insert(
        lines.len() - 1,
        String::from_utf8(out).unwrap().trim().to_owned(),
    );
    (lines.join("\n") + "\n").into_bytes()
}

fn trusted(seed: u8) -> VerifyOptions {
    VerifyOptions {
        trusted_key: Some(key(seed).verifying_key()),
        ..Default::default()
    }
}

#[test]
fn a_tree_checkpoint_signed_with_the_key_covers_the_export() {
    let bytes = with_tree(&history(), 3);
    let report = check(&bytes, &trusted(3));
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!((report.tree_checkpoints, report.complete_up_to), (1, 6));
    // The closing per-chain checkpoint removed: the tree checkpoint alone covers the export.
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 1].join("\n") + "\n";
    let report = check(cut.as_bytes(), &trusted(3));
    assert!(report.intact(), "{:?}", report.findings);
    // Another key: refused.
    let report = check(cut.as_bytes(), &trusted(4));
    assert_eq!(report.findings[0].kind, Damage::BadCheckpointSignature);
}

#[test]
fn an_old_tree_checkpoint_catches_a_rewritten_history() {
    let h = history();
    let old = tree_of(&h[..4]).checkpoint(ORIGIN, Some(&key(3))).unwrap();
    let options = VerifyOptions {
        tree_checkpoints: vec![old.clone()],
        ..trusted(3)
    };
    assert!(check(&with_tree(&h, 3), &options).intact());
    // B's registration (position 2) and A's version 2 (position 3) swap positions: every chain
    // is intact and the positions increase, but the log of size 4 is not the one signed.
    let mut moved = h.clone();
    moved.swap(1, 2);
    moved[1].0 = 2;
    moved[2].0 = 3;
    let report = check(&with_tree(&moved, 3), &options);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == Damage::TreeMismatch),
        "{:?}",
        report.findings
    );
}

#[test]
fn witnesses_must_have_cosigned_a_matching_tree_checkpoint() {
    let h = history();
    let witness = CosignatureSigner::from_seed("witness.test", &[8; 32]).unwrap();
    let note = tree_of(&h).checkpoint(ORIGIN, Some(&key(3))).unwrap();
    let mut parsed = relance_tlog::Note::parse(&note).unwrap();
    let c = witness.cosign(parsed.text(), 1_700_000_000).unwrap();
    parsed.add_signature(c.to_signature_line());
    let options = VerifyOptions {
        witness_keys: vec![witness.verifier()],
        ..trusted(3)
    };
    let report = check(&with_tree(&h, 3), &options);
    assert_eq!(report.findings[0].kind, Damage::MissingCosignature);
    let options = VerifyOptions {
        tree_checkpoints: vec![parsed.to_text()],
        ..options
    };
    let report = check(&with_tree(&h, 3), &options);
    assert!(report.intact(), "{:?}", report.findings);
    assert!(report
        .summary()
        .contains("cosigned up to position 6 by witness witness.test+"));
}

#[test]
fn proofs_are_checked_offline_against_their_signed_checkpoint() {
    let h = history();
    let tree = tree_of(&h);
    let note = tree.checkpoint(ORIGIN, Some(&key(3))).unwrap();
    let vk = key(3).verifying_key();
    for position in 1..=6 {
        let line = tree.inclusion_json(position, 6, Some(&note)).unwrap();
        let ok = check_proof_line(&line, Some(&vk)).unwrap();
        assert_eq!((ok.at, ok.size), (position, 6));
    }
    let by_id = tree.position_of(&h[4].1.event_id).unwrap();
    assert_eq!(by_id, 5);
    // Another key, a changed event hash, no checkpoint while a key is given: refused.
    let line = tree.inclusion_json(3, 6, Some(&note)).unwrap();
    assert!(check_proof_line(&line, Some(&key(4).verifying_key())).is_err());
    let hash = hex::encode(h[2].1.hash.0);
    let forged = line.replace(&hash, &hex::encode([7u8; 32]));
    assert!(check_proof_line(&forged, Some(&vk)).is_err());
    let bare = tree.inclusion_json(3, 6, None).unwrap();
    assert!(check_proof_line(&bare, None).is_ok());
    assert!(check_proof_line(&bare, Some(&vk)).is_err());
    // A proof of a checkpoint for a smaller tree than the proof's: refused.
    let small = tree_of(&h[..5]).checkpoint(ORIGIN, Some(&key(3))).unwrap();
    let line = tree.inclusion_json(3, 6, Some(&small)).unwrap();
    assert!(check_proof_line(&line, Some(&vk)).is_err());
    // Consistency, 4 → 6.
    let line = tree.consistency_json(4, 6, Some(&note)).unwrap();
    let ok = check_proof_line(&line, Some(&vk)).unwrap();
    assert_eq!((ok.kind.as_str(), ok.at, ok.size), ("consistency", 4, 6));
    assert!(tree.inclusion_json(7, 6, None).is_err());
    // The tree checkpoint line round-trips through the export format.
    let mut out = Vec::new();
    relance_audit::write_line(&mut out, &Line::TlogCheckpoint { note: note.clone() }).unwrap();
    let Line::TlogCheckpoint { note: back } =
        parse_line(1, std::str::from_utf8(&out).unwrap().trim()).unwrap()
    else {
        panic!("not a tree checkpoint")
    };
    assert_eq!(back, note);
}
