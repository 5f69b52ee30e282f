//! Properties over random trees: proofs verify, any tampering fails, the incremental root is
//! the reference root, the state round-trips, storage stays small, proofs read few nodes.

use std::cell::Cell;
use std::sync::OnceLock;

use proptest::prelude::*;
use relance_tlog::merkle::root_from_leaf_hashes;
use relance_tlog::{
    leaf_hash, prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
    CompactTree, Hash, MemoryStore, NodeId, NodeSource, STORED_MIN_LEVEL,
};

use super::{event_hash, store_of};

const N: u64 = 3000;

struct Fixture {
    store: MemoryStore,
    leaves: Vec<Hash>,
    /// `roots[n]` is the root of the first n leaves.
    roots: Vec<Hash>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let leaves: Vec<Hash> = (0..N).map(|i| leaf_hash(&event_hash(i))).collect();
        let mut tree = CompactTree::new();
        let mut roots = vec![tree.root()];
        for l in &leaves {
            tree.push(*l);
            roots.push(tree.root());
        }
        Fixture {
            store: store_of(N, event_hash),
            leaves,
            roots,
        }
    })
}

fn flip(h: &Hash, byte: usize, bit: u8) -> Hash {
    let mut h = *h;
    h[byte % 32] ^= 1 << (bit % 8);
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_proofs_verify_and_tampering_fails(
        size in 1..=N, index_seed in any::<u64>(), pick in any::<usize>(), byte in 0usize..32, bit in 0u8..8,
    ) {
        let f = fixture();
        let index = index_seed % size;
        let proof = prove_inclusion(&f.store, index, size).expect("prove");
        let leaf = f.leaves[index as usize];
        let root = f.roots[size as usize];
        prop_assert_eq!(verify_inclusion(index, size, &leaf, &proof.path, &root), Ok(()));
        prop_assert!(verify_inclusion(index, size, &flip(&leaf, byte, bit), &proof.path, &root).is_err());
        prop_assert!(verify_inclusion(index, size, &leaf, &proof.path, &flip(&root, byte, bit)).is_err());
        if !proof.path.is_empty() {
            let mut path = proof.path.clone();
            let i = pick % path.len();
            path[i] = flip(&path[i], byte, bit);
            prop_assert!(verify_inclusion(index, size, &leaf, &path, &root).is_err());
            let mut shorter = proof.path.clone();
            shorter.pop();
            prop_assert!(verify_inclusion(index, size, &leaf, &shorter, &root).is_err());
        }
        let mut longer = proof.path.clone();
        longer.push(leaf);
        prop_assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_tampering_fails(
        new in 1..=N, old_seed in any::<u64>(), pick in any::<usize>(), byte in 0usize..32, bit in 0u8..8,
    ) {
        let f = fixture();
        let old = 1 + old_seed % new;
        let proof = prove_consistency(&f.store, old, new).expect("prove");
        let (r1, r2) = (f.roots[old as usize], f.roots[new as usize]);
        prop_assert_eq!(verify_consistency(old, new, &r1, &r2, &proof.path), Ok(()));
        prop_assert!(verify_consistency(old, new, &flip(&r1, byte, bit), &r2, &proof.path).is_err());
        prop_assert!(verify_consistency(old, new, &r1, &flip(&r2, byte, bit), &proof.path).is_err());
        if !proof.path.is_empty() {
            let mut path = proof.path.clone();
            let i = pick % path.len();
            path[i] = flip(&path[i], byte, bit);
            prop_assert!(verify_consistency(old, new, &r1, &r2, &path).is_err());
        }
        if old < new {
            // The same proof against the root of another size fails.
            prop_assert!(verify_consistency(old, new, &r1, &f.roots[new as usize - 1], &proof.path).is_err());
        }
    }

    #[test]
    fn incremental_root_is_the_reference_root_and_the_state_round_trips(n in 0usize..600) {
        let f = fixture();
        let mut tree = CompactTree::new();
        for l in &f.leaves[..n] {
            tree.push(*l);
        }
        prop_assert_eq!(tree.root(), root_from_leaf_hashes(&f.leaves[..n]));
        prop_assert_eq!(tree.size(), n as u64);
        let bytes = tree.encode();
        let back = CompactTree::decode(&bytes).expect("decode");
        prop_assert_eq!(&back, &tree);
        prop_assert!(CompactTree::decode(&bytes[..bytes.len() - 1]).is_err());
        // The decoded state continues like the original.
        let (mut a, mut b) = (tree, back);
        a.push(f.leaves[n]);
        b.push(f.leaves[n]);
        prop_assert_eq!(a.root(), b.root());
        prop_assert_eq!(a.root(), f.roots[n + 1]);
    }
}

#[test]
fn storage_stays_under_40_bytes_an_event() {
    let f = fixture();
    let hashes = f.store.persisted() as u64;
    // 32 bytes for the leaf, plus about n/8 interior nodes of 32 bytes.
    assert!(hashes * 32 <= N * 36 + 32, "{hashes} hashes for {N} events");
    assert!(hashes > N);
}

#[test]
fn push_returns_the_leaf_and_completed_stored_nodes() {
    let mut tree = CompactTree::new();
    for i in 0..15 {
        let out = tree.push(leaf_hash(&[i]));
        assert_eq!(out.len(), 1, "leaf {i} completes no subtree of 16");
        assert_eq!(out[0].0, NodeId::leaf(u64::from(i)));
    }
    let out = tree.push(leaf_hash(&[15]));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1], (NodeId::new(STORED_MIN_LEVEL, 0), tree.root()));
    assert_eq!(NodeId::from_key(&out[1].0.key()), Some(out[1].0));
}

/// Answers every read with a fixed hash and counts the reads: proofs of huge trees need no
/// real tree to count their cost.
struct Counting(Cell<u64>);

impl NodeSource for Counting {
    type Error = std::convert::Infallible;
    fn node(&self, id: NodeId) -> Result<Option<Hash>, Self::Error> {
        assert!(id.is_persisted(), "read of a non-persisted node {id:?}");
        self.0.set(self.0.get() + 1);
        Ok(Some([id.level; 32]))
    }
}

#[test]
fn proofs_of_a_million_leaves_read_few_nodes() {
    for size in [1_000_000u64, 1_048_575, (1 << 40) - 1] {
        let src = Counting(Cell::new(0));
        let log = 64 - u64::from(size.leading_zeros());
        for index in [0, size / 3, size - 1] {
            src.0.set(0);
            prove_inclusion(&src, index, size).expect("prove");
            // O(log n): each path node is one read, or up to 8 leaf reads below level 4 (15 in
            // all); one right-edge range adds at most log n stored peaks and 15 leaves.
            let bound = 2 * log + 30;
            assert!(
                src.0.get() <= bound,
                "inclusion {index}/{size}: {} reads",
                src.0.get()
            );
        }
        for old in [1, size / 3, size - 1] {
            src.0.set(0);
            prove_consistency(&src, old, size).expect("prove");
            // O(log² n): at most ~ (log n)² / 2 + 8 log n reads.
            let bound = log * log / 2 + 8 * log;
            assert!(
                src.0.get() <= bound,
                "consistency {old}→{size}: {} reads",
                src.0.get()
            );
        }
    }
}
