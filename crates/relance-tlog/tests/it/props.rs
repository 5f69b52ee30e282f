//! Properties over random trees: proofs verify, any tampering fails, the incremental root is
//! the reference root, the state round-trips, storage stays small, proofs read few nodes in
//! few tiles.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use relance_tlog::merkle::root_from_leaf_hashes;
use relance_tlog::{
    leaf_hash, prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
    CompactTree, Hash, MemoryStore, NodeId, NodeSource, TileId, TILE_HEIGHT,
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
    // Every leaf, then the roots of the 16-leaf and 256-leaf subtrees: n (1 + 1/16 + 1/256).
    assert_eq!(f.store.persisted(), 3000 + 187 + 11);
    // One key per tile of 16: ⌈3000/16⌉ + ⌈187/16⌉ + ⌈11/16⌉.
    assert_eq!(f.store.tiles(), 188 + 12 + 1);
    let bytes = f.store.persisted() as u64 * 32 + f.store.tiles() as u64 * 10;
    assert!(bytes <= N * 35, "{bytes} bytes for {N} events");
}

#[test]
fn push_returns_the_leaf_and_completed_stored_nodes() {
    let mut tree = CompactTree::new();
    for i in 0..15u64 {
        let out = tree.push(leaf_hash(&i.to_be_bytes()));
        assert_eq!(out.len(), 1, "leaf {i} completes no subtree of 16");
        assert_eq!(out[0].0, NodeId::leaf(i));
    }
    let out = tree.push(leaf_hash(&15u64.to_be_bytes()));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1], (NodeId::new(TILE_HEIGHT, 0), tree.root()));
    for i in 16..255u64 {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    let out = tree.push(leaf_hash(&255u64.to_be_bytes()));
    let levels: Vec<u8> = out.iter().map(|(id, _)| id.level).collect();
    assert_eq!(
        levels,
        [0, 4, 8],
        "the 256th leaf completes a 16- and a 256-leaf subtree"
    );
    assert_eq!(out[2].1, tree.root());
    let (tile, slot) = NodeId::new(4, 15).tile().expect("level 4 is stored");
    assert_eq!((tile, slot), (TileId { level: 1, index: 0 }, 15));
    assert_eq!(TileId::from_key(&tile.key()), Some(tile));
    assert_eq!(NodeId::new(5, 0).tile(), None, "level 5 is recomputed");
}

/// Answers every read with a fixed hash and counts the node reads and the distinct tiles they
/// fall in: proofs of huge trees need no real tree to count their cost.
#[derive(Default)]
struct Counting {
    reads: Cell<u64>,
    tiles: RefCell<HashSet<TileId>>,
}

impl Counting {
    fn reset(&self) {
        self.reads.set(0);
        self.tiles.borrow_mut().clear();
    }
}

impl NodeSource for Counting {
    type Error = std::convert::Infallible;
    fn node(&self, id: NodeId) -> Result<Option<Hash>, Self::Error> {
        let (tile, _) = id.tile().expect("only stored nodes are read");
        self.reads.set(self.reads.get() + 1);
        self.tiles.borrow_mut().insert(tile);
        Ok(Some([id.level; 32]))
    }
}

#[test]
fn proofs_of_a_million_leaves_read_few_nodes_in_few_tiles() {
    for size in [1_000_000u64, 1_048_575, (1 << 40) - 1] {
        let src = Counting::default();
        let log = 64 - u64::from(size.leading_zeros());
        for index in [0, size / 3, size - 1] {
            src.reset();
            prove_inclusion(&src, index, size).expect("prove");
            let (reads, tiles) = (src.reads.get(), src.tiles.borrow().len() as u64);
            // A path hash at a level between two stored ones is recomputed from at most 8
            // stored nodes, all in one tile: O(log n) reads, about two tiles per tile level.
            assert!(reads <= 8 * log, "inclusion {index}/{size}: {reads} reads");
            assert!(
                tiles <= 2 * (log / 4 + 1),
                "inclusion {index}/{size}: {tiles} tiles"
            );
        }
        for old in [1, size / 3, size - 1] {
            src.reset();
            prove_consistency(&src, old, size).expect("prove");
            let (reads, tiles) = (src.reads.get(), src.tiles.borrow().len() as u64);
            assert!(reads <= 8 * log, "consistency {old}→{size}: {reads} reads");
            assert!(
                tiles <= 2 * (log / 4 + 1),
                "consistency {old}→{size}: {tiles} tiles"
            );
        }
    }
}
