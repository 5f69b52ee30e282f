//! The RFC 6962 / Certificate Transparency reference vectors.
//!
//! Leaves, node hashes and roots: transparency-dev/merkle `testonly/constants.go`
//! (`LeafInputs`, `NodeHashes`, `RootHashes`). Inclusion and consistency proofs:
//! transparency-dev/merkle `proof/verify_test.go` before commit bcba819 (`inclusionProofs`,
//! `consistencyProofs`; their leaf numbers are 1-based, the indexes here 0-based), the same
//! vectors as google/certificate-transparency's merkle tree tests.

use relance_tlog::merkle::{empty_root, root_from_leaf_hashes};
use relance_tlog::{
    leaf_hash, prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
    CompactTree, MemoryStore, VerifyError,
};

use super::h;

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the trees of sizes 1 to 8.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Leaf hashes (level 0 of `NodeHashes`).
const LEAF_HASHES: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
];

/// (leaf index, tree size, path).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, path).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn store() -> MemoryStore {
    let mut s = MemoryStore::new();
    for l in LEAVES {
        s.push(leaf_hash(&hex::decode(l).expect("hex")));
    }
    s
}

fn root(size: u64) -> [u8; 32] {
    h(ROOTS[size as usize - 1])
}

#[test]
fn empty_tree_root_is_sha256_of_nothing() {
    let want = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(empty_root(), want);
    assert_eq!(CompactTree::new().root(), want);
    assert_eq!(root_from_leaf_hashes(&[]), want);
}

#[test]
fn leaf_hashes_and_roots_of_sizes_1_to_8() {
    let mut tree = CompactTree::new();
    let mut leaves = Vec::new();
    for (i, l) in LEAVES.iter().enumerate() {
        let leaf = leaf_hash(&hex::decode(l).expect("hex"));
        assert_eq!(leaf, h(LEAF_HASHES[i]), "leaf hash {i}");
        tree.push(leaf);
        leaves.push(leaf);
        assert_eq!(
            tree.root(),
            h(ROOTS[i]),
            "incremental root of size {}",
            i + 1
        );
        assert_eq!(
            root_from_leaf_hashes(&leaves),
            h(ROOTS[i]),
            "reference root"
        );
    }
}

#[test]
fn published_inclusion_proofs_are_generated_and_verify() {
    let s = store();
    for (index, size, path) in INCLUSION {
        let want: Vec<_> = path.iter().map(|p| h(p)).collect();
        let proof = prove_inclusion(&s, index, size).expect("prove");
        assert_eq!(proof.path, want, "inclusion path of leaf {index} in {size}");
        let leaf = h(LEAF_HASHES[index as usize]);
        verify_inclusion(index, size, &leaf, &want, &root(size)).expect("verifies");
        assert_eq!(
            verify_inclusion(
                index,
                size,
                &leaf,
                &want,
                &root(if size == 8 { 7 } else { 8 })
            ),
            Err(VerifyError::RootMismatch)
        );
    }
}

#[test]
fn published_consistency_proofs_are_generated_and_verify() {
    let s = store();
    for (old, new, path) in CONSISTENCY {
        let want: Vec<_> = path.iter().map(|p| h(p)).collect();
        let proof = prove_consistency(&s, old, new).expect("prove");
        assert_eq!(proof.path, want, "consistency path from {old} to {new}");
        verify_consistency(old, new, &root(old), &root(new), &want).expect("verifies");
    }
}

#[test]
fn degenerate_inputs_are_refused_as_transparency_dev_does() {
    let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    let empty = empty_root();
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(verify_inclusion(index, size, &some, &[], &empty).is_err());
    }
    // Equal sizes need equal roots and an empty proof; size 0 needs the empty root.
    assert!(verify_consistency(0, 0, &empty, &empty, &[]).is_ok());
    assert!(verify_consistency(1, 1, &some, &some, &[]).is_ok());
    assert!(verify_consistency(1, 1, &some, &empty, &[]).is_err());
    assert!(verify_consistency(1, 1, &some, &some, &[empty]).is_err());
    assert!(verify_consistency(0, 1, &empty, &some, &[empty]).is_err());
    assert!(verify_consistency(1, 0, &some, &empty, &[]).is_err());
    assert_eq!(
        verify_consistency(1, 2, &root(1), &root(2), &[]),
        Err(VerifyError::PathEmpty)
    );
}
