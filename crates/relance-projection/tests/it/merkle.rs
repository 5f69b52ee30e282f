//! The Merkle tree kept with the views: its root is the RFC 9162 root of every event's hash in
//! position order whatever the batching, it survives a reopen, and its inclusion and
//! consistency proofs verify with relance-tlog's checkers.

use relance_domain::Envelope;
use relance_projection::ProofError;
use relance_tlog::{leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion};

use crate::stream::realistic;
use crate::{open, wait_released, Views};

fn leaves(events: &[relance_log::StoredEvent]) -> Vec<[u8; 32]> {
    events
        .iter()
        .map(|e| {
            let env: Envelope = relance_proto::decode_envelope(&e.payload).expect("decode");
            leaf_hash(&env.hash.0)
        })
        .collect()
}

#[test]
fn the_tree_is_the_rfc_9162_tree_of_the_log_whatever_the_batching() {
    let events = realistic().builder.into_events();
    let n = events.len() as u64;
    let expected = root_from_leaf_hashes(&leaves(&events));
    let one = Views::replayed(&events);
    let head = one.tree_head().expect("head");
    assert_eq!((head.size, head.root), (n, expected));
    // Batches of 7, then a reopen: the same tree, stored.
    let views = Views::empty();
    for chunk in events.chunks(7) {
        views.apply(chunk).expect("apply");
    }
    assert_eq!(views.tree_head().expect("head"), head);
    // The views' digest does not depend on the tree's keys: the same as one batch.
    assert_eq!(
        views.digest().expect("digest"),
        one.digest().expect("digest")
    );
}

#[test]
fn proofs_from_the_stored_nodes_verify_and_survive_a_reopen() {
    let events = realistic().builder.into_events();
    let n = events.len() as u64;
    let all = leaves(&events);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("views");
    {
        let p = open(&path);
        p.apply(&events[..(n as usize) / 2]).expect("apply");
        p.apply(&events[(n as usize) / 2..]).expect("apply");
    }
    wait_released(&path);
    let p = open(&path);
    let head = p.tree_head().expect("apply");
    assert_eq!(head.size, n);
    for position in [1, 2, n / 3, n - 1, n] {
        for size in [position, n] {
            let proof = p.inclusion_proof(position, size).expect("inclusion");
            assert_eq!(proof.leaf_hash, all[position as usize - 1]);
            verify_inclusion(
                position - 1,
                size,
                &proof.leaf_hash,
                &proof.path,
                &proof.head.root,
            )
            .expect("verifies");
            assert_eq!(
                proof.head.root,
                root_from_leaf_hashes(&all[..size as usize])
            );
        }
    }
    for (old, new) in [(0, n), (1, n), (n / 2, n), (5, 27), (16, n), (n, n)] {
        let c = p.consistency_proof(old, new).expect("consistency");
        verify_consistency(old, new, &c.old.root, &c.new.root, &c.path).expect("verifies");
    }
    assert!(matches!(
        p.inclusion_proof(n + 1, 0),
        Err(ProofError::PastTheTree { .. })
    ));
    assert!(matches!(
        p.consistency_proof(1, n + 1),
        Err(ProofError::SizePastTheTree { .. })
    ));
}
