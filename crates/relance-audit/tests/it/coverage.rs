//! What only the checkpoints prove: a whole chain removed (`removed_chain`), a count that does
//! not match, and, with a trusted key, a tail cut together with its closing checkpoint
//! (`unsigned_tail`); and the one line that says what an intact export proves.

use relance_audit::{Damage, VerifyOptions};

use crate::{check, export, history, key};

fn without(bytes: &[u8], drop: impl Fn(&str) -> bool) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !drop(l)).collect();
    (kept.join("\n") + "\n").into_bytes()
}

fn trusted(seed: u8) -> VerifyOptions {
    VerifyOptions {
        trusted_key: Some(key(seed).verifying_key()),
        ..Default::default()
    }
}

#[test]
fn a_removed_chain_is_named_even_when_it_held_position_1() {
    let bytes = export(&history(), 1, Some(&key(5)));
    // A-1 holds positions 1, 3, 4 and 6: every one of its lines removed leaves B-1's chain,
    // perfectly linked, starting at position 2.
    let cut = without(&bytes, |l| l.contains("\"cooperative_id\":\"A-1\""));
    for options in [VerifyOptions::default(), trusted(5)] {
        let report = check(&cut, &options);
        let f = &report.findings[0];
        assert_eq!(
            (f.kind, f.cooperative.as_str(), f.version, f.position),
            (Damage::RemovedChain, "A-1", 4, 6),
            "{:?}",
            report.findings
        );
        // The count says so too: 6 events signed, 2 held.
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.kind == Damage::CheckpointMismatch && f.detail.contains("counts 6")),
            "{:?}",
            report.findings
        );
    }
    // B-1 (positions 2 and 5) removed: the same.
    let cut = without(&bytes, |l| l.contains("\"cooperative_id\":\"B-1\""));
    let report = check(&cut, &trusted(5));
    assert_eq!(report.findings[0].kind, Damage::RemovedChain);
    assert_eq!(report.findings[0].cooperative, "B-1");
}

#[test]
fn a_partial_export_answers_only_for_the_heads_it_claims() {
    let h = history();
    // From position 3: B-1's head (position 5) is claimed, A-1's too (position 6).
    let tail: Vec<_> = h.iter().filter(|(p, _)| *p >= 3).cloned().collect();
    let full = export(&h, 1, None);
    let cp = full_checkpoint(&full);
    let options = VerifyOptions {
        checkpoints: vec![cp.clone()],
        ..Default::default()
    };
    assert!(check(&export(&tail, 3, None), &options).intact());
    // B-1's only event after position 3 removed: its head, claimed by the export, is missing.
    let b_gone: Vec<_> = tail.iter().filter(|(p, _)| *p != 5).cloned().collect();
    let report = check(&export(&b_gone, 3, None), &options);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == Damage::RemovedChain && f.cooperative == "B-1"),
        "{:?}",
        report.findings
    );
    // An export of positions 1–2 does not claim the heads at 5 and 6.
    let head: Vec<_> = h.iter().filter(|(p, _)| *p <= 2).cloned().collect();
    let mut bytes = String::from_utf8(export(&head, 1, None)).unwrap();
    bytes = bytes.replace("\"to\":0", "\"to\":2");
    assert!(check(bytes.as_bytes(), &options).intact());
}

fn full_checkpoint(bytes: &[u8]) -> relance_audit::Checkpoint {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let last = text.lines().last().unwrap();
    match relance_audit::parse_line(1, last).unwrap() {
        relance_audit::Line::Checkpoint(cp) => cp,
        other => panic!("not a checkpoint: {other:?}"),
    }
}

#[test]
fn with_a_key_a_tail_cut_with_its_checkpoint_is_an_unsigned_tail() {
    let bytes = export(&history(), 1, Some(&key(9)));
    // The last event (A-1 version 4, position 6) and the closing checkpoint cut: every chain
    // is linked and nothing names what is missing.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = (lines[..lines.len() - 2].join("\n") + "\n").into_bytes();
    assert!(check(&cut, &VerifyOptions::default()).intact());
    let report = check(&cut, &trusted(9));
    let f = &report.findings[0];
    assert_eq!(
        (
            f.kind,
            f.cooperative.as_str(),
            f.version,
            f.position,
            f.line
        ),
        (Damage::UnsignedTail, "A-1", 1, 1, 2),
        "{:?}",
        report.findings
    );
    // Accepted when asked, and the summary says nothing is proven complete.
    let report = check(
        &cut,
        &VerifyOptions {
            allow_unsigned_tail: true,
            ..trusted(9)
        },
    );
    assert!(report.intact(), "{:?}", report.findings);
    assert!(
        report.summary().contains("completeness not proven"),
        "{}",
        report.summary()
    );
    // Kept apart, the original checkpoint (position 6) names the missing event instead.
    let report = check(
        &cut,
        &VerifyOptions {
            checkpoints: vec![full_checkpoint(&bytes)],
            ..trusted(9)
        },
    );
    assert_eq!(report.findings[0].kind, Damage::RemovedTail);
}

#[test]
fn the_summary_says_what_was_proven() {
    let k = key(4);
    let bytes = export(&history(), 1, Some(&k));
    let report = check(&bytes, &trusted(4));
    let public = hex::encode(k.verifying_key().to_bytes());
    assert_eq!(
        report.summary(),
        format!("intact: 6 events in 2 chains, positions 1–6, complete up to position 6 under key {public}; 1 checkpoint(s), 1 signed with it; 0 tree checkpoint(s)")
    );
    let report = check(&bytes, &VerifyOptions::default());
    assert!(
        report.summary().starts_with(
            "intact: 6 events in 2 chains, positions 1–6; chains linked, 1 checkpoint(s) matched"
        ),
        "{}",
        report.summary()
    );
}
