//! Inclusion and consistency proofs: generation over a [`NodeSource`] (RFC 9162 §2.1.3.1
//! PATH, §2.1.4.1 SUBPROOF) and verification (§2.1.3.2, §2.1.4.2), plus their JSON text form.
//!
//! * An **inclusion proof** for leaf `index` in a tree of `size` leaves proves that the leaf
//!   hash is the `index`-th leaf of the tree whose root is `root`: one event is in the log at
//!   that position, unchanged.
//! * A **consistency proof** from `old_size` to `new_size` proves that the tree of root
//!   `old_root` is a prefix of the tree of root `new_root`: the log only appended, it did not
//!   change, remove or reorder any of the first `old_size` events.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use thiserror::Error;

use crate::merkle::{empty_root, node_hash, split_point, Hash};
use crate::store::{NodeId, NodeSource};

/// Why a proof could not be generated.
#[derive(Debug, Error)]
pub enum ProveError<E> {
    /// An inclusion proof for a leaf the tree does not have.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof from a bigger tree to a smaller one.
    #[error("no consistency proof from size {old_size} down to size {new_size}")]
    SizesDecrease {
        /// The first size.
        old_size: u64,
        /// The second size.
        new_size: u64,
    },
    /// The store lacks a node the proof needs (a tree smaller than asked, or a lost write).
    #[error("the node store lacks level {} index {}", .0.level, .0.index)]
    MissingNode(NodeId),
    /// The store failed.
    #[error("the node store failed: {0:?}")]
    Source(E),
}

/// Why a proof does not verify. Each variant names the check of RFC 9162 that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// Inclusion: `index` ≥ `size` (step 1 of §2.1.3.2).
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path has more hashes than the tree's shape allows (`sn` reached 0 early).
    #[error("the proof has more hashes than a tree of this size needs")]
    PathTooLong,
    /// The path has fewer hashes than the tree's shape needs (`sn` is not 0 at the end).
    #[error("the proof has fewer hashes than a tree of this size needs")]
    PathTooShort,
    /// Inclusion: the path leads to another root.
    #[error("the proof does not lead to the given root")]
    RootMismatch,
    /// Consistency: the second size is smaller than the first.
    #[error("consistency from size {old_size} down to size {new_size}")]
    SizesDecrease {
        /// The first size.
        old_size: u64,
        /// The second size.
        new_size: u64,
    },
    /// Consistency between equal sizes (or from 0) takes an empty proof.
    #[error("this consistency proof must be empty")]
    PathNotEmpty,
    /// Consistency with 0 < old < new and an empty proof (step 1 of §2.1.4.2).
    #[error("the consistency proof is empty")]
    PathEmpty,
    /// Consistency: the first tree's root is not the one the proof leads to (or not the empty
    /// tree's root for size 0).
    #[error("the proof does not lead to the old root")]
    OldRootMismatch,
    /// Consistency: the second tree's root is not the one the proof leads to (or differs from
    /// the first for equal sizes).
    #[error("the proof does not lead to the new root")]
    NewRootMismatch,
}

/// An inclusion proof: the audit path of leaf `index` in the tree of `size` leaves, leaf to
/// root (RFC 9162 §2.1.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf index (event position − 1).
    pub index: u64,
    /// The tree size.
    pub size: u64,
    /// The sibling hashes from the leaf up.
    pub path: Vec<Hash>,
}

/// A consistency proof from the tree of `old_size` leaves to the tree of `new_size` leaves
/// (RFC 9162 §2.1.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The first (older) tree size.
    pub old_size: u64,
    /// The second (newer) tree size.
    pub new_size: u64,
    /// The proof's hashes.
    pub path: Vec<Hash>,
}

/// The hash of the perfect subtree `level`/`index`: read if persisted, else from its children.
fn perfect<S: NodeSource>(src: &S, level: u8, index: u64) -> Result<Hash, ProveError<S::Error>> {
    let id = NodeId::new(level, index);
    if id.is_persisted() {
        return src
            .node(id)
            .map_err(ProveError::Source)?
            .ok_or(ProveError::MissingNode(id));
    }
    let left = perfect(src, level - 1, 2 * index)?;
    let right = perfect(src, level - 1, 2 * index + 1)?;
    Ok(node_hash(&left, &right))
}

/// `MTH(D[start:end])`, from persisted nodes: with `start` = 0, the root of the tree of `end`
/// leaves. An empty range (`end` ≤ `start`) gives the empty tree's root.
pub fn subtree_hash<S: NodeSource>(
    src: &S,
    start: u64,
    end: u64,
) -> Result<Hash, ProveError<S::Error>> {
    if end <= start {
        return Ok(empty_root());
    }
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return perfect(src, n.trailing_zeros() as u8, start / n);
    }
    let k = split_point(n);
    let left = subtree_hash(src, start, start + k)?;
    let right = subtree_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves of `src`.
pub fn prove_inclusion<S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<InclusionProof, ProveError<S::Error>> {
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    // PATH(m, D[start:start+n]), unrolled from the root down; reversed at the end.
    let (mut m, mut start, mut n) = (index, 0u64, size);
    let mut path = Vec::new();
    while n > 1 {
        let k = split_point(n);
        if m < k {
            path.push(subtree_hash(src, start + k, start + n)?);
            n = k;
        } else {
            path.push(subtree_hash(src, start, start + k)?);
            m -= k;
            start += k;
            n -= k;
        }
    }
    path.reverse();
    Ok(InclusionProof { index, size, path })
}

/// The consistency proof from the first `old_size` leaves of `src` to the first `new_size`.
/// Empty when `old_size` is 0 or equal to `new_size`.
pub fn prove_consistency<S: NodeSource>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, ProveError<S::Error>> {
    if old_size > new_size {
        return Err(ProveError::SizesDecrease { old_size, new_size });
    }
    let mut path = Vec::new();
    if old_size > 0 && old_size < new_size {
        // SUBPROOF(m, D[start:start+n], b), unrolled from the root down; reversed at the end.
        let (mut m, mut start, mut n, mut b) = (old_size, 0u64, new_size, true);
        loop {
            if m == n {
                if !b {
                    path.push(subtree_hash(src, start, start + n)?);
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                path.push(subtree_hash(src, start + k, start + n)?);
                n = k;
            } else {
                path.push(subtree_hash(src, start, start + k)?);
                m -= k;
                start += k;
                n -= k;
                b = false;
            }
        }
        path.reverse();
    }
    Ok(ConsistencyProof {
        old_size,
        new_size,
        path,
    })
}

/// RFC 9162 §2.1.3.2: does `path` prove that `leaf` is leaf `index` of the tree of `size`
/// leaves whose root is `root`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    path: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return Err(VerifyError::PathTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::PathTooShort);
    }
    if r != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: does `path` prove that the tree of `old_size` leaves and root `old_root`
/// is a prefix of the tree of `new_size` leaves and root `new_root`?
///
/// The RFC defines proofs for 0 < old < new. For the other cases this follows the usual
/// convention (as transparency-dev/merkle): equal sizes need an empty proof and equal roots;
/// size 0 needs an empty proof and `old_root` = SHA-256("").
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    path: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizesDecrease { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !path.is_empty() {
            return Err(VerifyError::PathNotEmpty);
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(VerifyError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(VerifyError::NewRootMismatch);
        }
        return Ok(());
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(VerifyError::PathEmpty);
    };
    // Step 2: if old_size is a power of two, the proof starts with old_root itself.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, path)
    } else {
        (first, rest)
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if sn == 0 {
            return Err(VerifyError::PathTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::PathTooShort);
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(VerifyError::NewRootMismatch);
    }
    Ok(())
}

impl InclusionProof {
    /// [`verify_inclusion`] of this proof.
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> Result<(), VerifyError> {
        verify_inclusion(self.index, self.size, leaf, &self.path, root)
    }

    /// The proof as one line of JSON for auditors (`docs/audit-format.md`, "Checking Merkle
    /// proofs"): `{"type":"inclusion","index":…,"size":…,"event_hash":"<hex>",
    /// "root":"<base64>","path":["<base64>",…]}`. `event_hash` is the leaf's data (the event's
    /// `hash`, hex as in the audit export); the leaf hash is SHA-256(0x00 ‖ those 32 bytes).
    pub fn to_json(&self, event_hash: &Hash, root: &Hash) -> String {
        format!(
            r#"{{"type":"inclusion","index":{},"size":{},"event_hash":"{}","root":"{}","path":{}}}"#,
            self.index,
            self.size,
            hex_lower(event_hash),
            B64.encode(root),
            json_hashes(&self.path)
        )
    }
}

impl ConsistencyProof {
    /// [`verify_consistency`] of this proof.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), VerifyError> {
        verify_consistency(self.old_size, self.new_size, old_root, new_root, &self.path)
    }

    /// The proof as one line of JSON for auditors: `{"type":"consistency","old_size":…,
    /// "new_size":…,"old_root":"<base64>","new_root":"<base64>","path":["<base64>",…]}`.
    pub fn to_json(&self, old_root: &Hash, new_root: &Hash) -> String {
        format!(
            r#"{{"type":"consistency","old_size":{},"new_size":{},"old_root":"{}","new_root":"{}","path":{}}}"#,
            self.old_size,
            self.new_size,
            B64.encode(old_root),
            B64.encode(new_root),
            json_hashes(&self.path)
        )
    }
}

fn json_hashes(path: &[Hash]) -> String {
    let items: Vec<String> = path
        .iter()
        .map(|h| format!("\"{}\"", B64.encode(h)))
        .collect();
    format!("[{}]", items.join(","))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
