//! The witness: accepts consistent growth, refuses a shrink, a fork and bad signatures.

use relance_tlog::{
    prove_consistency, Checkpoint, CosignatureSigner, Ed25519Signer, MemoryStore, NoteVerifier,
    Refusal, Witness, WitnessState,
};

use super::{event_hash, store_of};

const ORIGIN: &str = "relance.prefecture-rehamna.ma/RELANCE_EVENTS";
const NOW: u64 = 1_750_000_000;

fn log_key() -> Ed25519Signer {
    Ed25519Signer::from_seed(ORIGIN, &[1; 32]).expect("log key")
}

fn witness() -> Witness {
    let cosigner = CosignatureSigner::from_seed("witness.example/w1", &[2; 32]).expect("key");
    Witness::new(ORIGIN, log_key().verifier(), cosigner)
}

fn signed(store: &MemoryStore, size: u64) -> String {
    // The root of the first `size` leaves, from a fresh compact tree over the store's leaves.
    let root = relance_tlog::subtree_hash(store, 0, size).expect("root");
    Checkpoint::new(ORIGIN, size, root)
        .sign(&log_key())
        .expect("sign")
        .to_text()
}

fn proof(store: &MemoryStore, old: u64, new: u64) -> Vec<[u8; 32]> {
    prove_consistency(store, old, new).expect("proof").path
}

#[test]
fn accepts_consistent_growth_and_cosigns() {
    let log = store_of(40, event_hash);
    let w = witness();
    let first = w.process(None, &signed(&log, 10), &[], NOW).expect("first");
    assert_eq!(first.checkpoint.size, 10);
    // The cosignature verifies on the checkpoint body, and the note keeps the log's line.
    let cosigner = CosignatureSigner::from_seed("witness.example/w1", &[2; 32]).expect("key");
    let v = cosigner.verifier();
    let vs: [&dyn NoteVerifier; 1] = [&v];
    assert_eq!(first.cosigned.verify(&vs).expect("cosigned").len(), 1);
    assert_eq!(first.cosigned.signatures().len(), 2);
    assert_eq!(first.cosignature.timestamp, NOW);
    // The state survives a trip through text.
    let state = WitnessState::from_text(&first.state.to_text()).expect("state");
    assert_eq!(state, first.state);

    let grown = w
        .process(
            Some(&state),
            &signed(&log, 25),
            &proof(&log, 10, 25),
            NOW + 60,
        )
        .expect("growth");
    assert_eq!(grown.state.checkpoint.size, 25);
    // The same checkpoint again: still the largest consistent tree, cosigned anew.
    let again = w
        .process(Some(&grown.state), &signed(&log, 25), &[], NOW + 120)
        .expect("same");
    assert_eq!(again.cosignature.timestamp, NOW + 120);
    assert_eq!(
        log.tree().root(),
        relance_tlog::subtree_hash(&log, 0, 40).expect("root")
    );
}

#[test]
fn refuses_a_shrink() {
    let log = store_of(40, event_hash);
    let w = witness();
    let state = w
        .process(None, &signed(&log, 30), &[], NOW)
        .expect("first")
        .state;
    assert_eq!(
        w.process(Some(&state), &signed(&log, 20), &[], NOW),
        Err(Refusal::SmallerSize {
            accepted: 30,
            offered: 20
        })
    );
}

#[test]
fn refuses_a_forked_log() {
    // Two logs sharing the first 10 events, then diverging.
    let real = store_of(40, event_hash);
    let fork = store_of(40, |i| {
        if i < 10 {
            event_hash(i)
        } else {
            event_hash(i + 1000)
        }
    });
    let w = witness();
    let at10 = w
        .process(None, &signed(&real, 10), &[], NOW)
        .expect("first")
        .state;
    let at25 = w
        .process(Some(&at10), &signed(&real, 25), &proof(&real, 10, 25), NOW)
        .expect("growth")
        .state;
    // The fork at the same size: another root.
    assert_eq!(
        w.process(Some(&at25), &signed(&fork, 25), &[], NOW),
        Err(Refusal::Fork { size: 25 })
    );
    // The fork grown further, with its own (internally valid) proof: inconsistent.
    assert!(matches!(
        w.process(Some(&at25), &signed(&fork, 30), &proof(&fork, 25, 30), NOW),
        Err(Refusal::InconsistentProof(_))
    ));
    // Nor does the real log's proof help the fork's checkpoint.
    assert!(matches!(
        w.process(Some(&at25), &signed(&fork, 30), &proof(&real, 25, 30), NOW),
        Err(Refusal::InconsistentProof(_))
    ));
}

#[test]
fn refuses_bad_signatures_and_other_origins() {
    let log = store_of(12, event_hash);
    let w = witness();
    let root = log.tree().root();
    let other_key = Ed25519Signer::from_seed(ORIGIN, &[9; 32]).expect("key");
    let by_other = Checkpoint::new(ORIGIN, 12, root)
        .sign(&other_key)
        .expect("sign")
        .to_text();
    assert!(matches!(
        w.process(None, &by_other, &[], NOW),
        Err(Refusal::BadLogSignature(_))
    ));
    let tampered = signed(&log, 12).replacen("\n12\n", "\n13\n", 1);
    assert!(matches!(
        w.process(None, &tampered, &[], NOW),
        Err(Refusal::BadLogSignature(_))
    ));
    let elsewhere = Checkpoint::new("other.example/log", 12, root)
        .sign(&log_key())
        .expect("sign")
        .to_text();
    assert!(matches!(
        w.process(None, &elsewhere, &[], NOW),
        Err(Refusal::WrongOrigin { .. })
    ));
    // Trust on first use still needs an empty proof.
    assert!(matches!(
        w.process(None, &signed(&log, 12), &[root], NOW),
        Err(Refusal::InconsistentProof(_))
    ));
}
