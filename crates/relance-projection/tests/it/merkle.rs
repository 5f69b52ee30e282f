//! The Merkle tree kept with the views: its root is the RFC 9162 root of every event's hash in
//! position order whatever the batching, it survives a reopen, and its inclusion and
//! consistency proofs verify with relance-tlog's checkers.

use relance_domain::Envelope;
use relance_projection::ProofError;
use relance_tlog::{leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion};

use crate::stream::{random_history, realistic, Op, RANDOM_COOPS};
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

/// A history of a few hundred events (more than 256: the tree keeps tiles at two levels).
fn long_history() -> Vec<relance_log::StoredEvent> {
    let ops: Vec<Op> = (0..700u32)
        .map(|i| Op {
            coop: i as usize % RANDOM_COOPS.len(),
            kind: (i % 9) as u8,
            a: i.wrapping_mul(2_654_435_761),
            b: i,
        })
        .collect();
    random_history(&ops).into_events()
}

#[test]
fn proofs_from_the_stored_tiles_verify_across_batches_and_a_reopen() {
    let events = long_history();
    let n = events.len() as u64;
    assert!(n > 300, "{n} events");
    let all = leaves(&events);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("views");
    let half = (n as usize) / 2 + 3; // not on a tile's edge
    {
        let p = open(&path);
        for chunk in events[..half].chunks(7) {
            p.apply(chunk).expect("apply");
        }
    }
    wait_released(&path);
    let p = open(&path);
    // After the reopen, the partial tiles go on filling where they stopped.
    for chunk in events[half..].chunks(5) {
        p.apply(chunk).expect("apply");
    }
    let head = p.tree_head().expect("apply");
    assert_eq!(head.size, n);
    assert_eq!(head.root, root_from_leaf_hashes(&all));
    assert_eq!(p.tree_leaves().expect("leaves"), all);
    for position in [1, 2, 16, 17, 256, 257, n / 3, n - 1, n] {
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
    for (old, new) in [
        (0, n),
        (1, n),
        (n / 2, n),
        (5, 27),
        (16, n),
        (256, 300),
        (n, n),
    ] {
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

#[test]
fn views_with_the_tree_one_node_a_key_are_refused_with_the_way_out() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("views");
    {
        let p = open(&path);
        p.apply(&realistic().builder.into_events()).expect("apply");
    }
    wait_released(&path);
    {
        // The layout written before tiles: `t` + level + index → one hash.
        let db = sled::open(&path).expect("sled");
        let views = db.open_tree("views").expect("views tree");
        let mut key = vec![b't', 0];
        key.extend_from_slice(&0u64.to_be_bytes());
        views.insert(key, &[7u8; 32][..]).expect("insert");
        db.flush().expect("flush");
    }
    wait_released(&path);
    let Err(err) = relance_projection::Projection::open(&path) else {
        panic!("the old layout is refused");
    };
    let message = err.to_string();
    assert!(message.contains("relance projection rebuild"), "{message}");
}
