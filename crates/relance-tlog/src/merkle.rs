//! RFC 6962 / RFC 9162 Merkle tree hashing and the incremental (compact) tree state.
//!
//! * leaf hash = SHA-256(0x00 ‖ leaf data)
//! * node hash = SHA-256(0x01 ‖ left ‖ right)
//! * the empty tree's root = SHA-256("")
//! * a tree of n > 1 leaves splits at k, the largest power of two smaller than n: its root is
//!   `node(MTH(D[0:k]), MTH(D[k:n]))`; an odd node is never duplicated.
//!
//! In relance a leaf's data is the event's 32-byte `hash` (the per-cooperative hash chain link),
//! and the leaves are the events in log position order: leaf index `i` is the event at position
//! `i + 1`. So the leaf hash of an event is `leaf_hash(&event.hash)`.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 digest: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// The first byte of a leaf hash's input (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// The first byte of an interior node hash's input (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

/// SHA-256(0x00 ‖ data): the hash of a leaf whose data is `data` (in relance: an event's hash).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right): the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// SHA-256 of the empty string: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (`n` ≥ 2): where RFC 9162 splits a tree.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The reference root: RFC 9162's recursive MTH over leaf hashes, O(n) memory and time.
/// For tests and small trees; [`CompactTree`] computes the same root incrementally.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(
                &root_from_leaf_hashes(&leaves[..k]),
                &root_from_leaf_hashes(&leaves[k..]),
            )
        }
    }
}

/// Why bytes do not decode to a [`CompactTree`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateError {
    /// The encoding does not start with the version byte this crate writes.
    #[error("compact tree state: unknown version byte {0:#04x}")]
    UnknownVersion(u8),
    /// The length is not 1 + 8 + 32 × (number of one bits in the size).
    #[error("compact tree state: {got} bytes, expected {expected} for its size")]
    BadLength {
        /// The length found.
        got: usize,
        /// The length the size implies.
        expected: usize,
    },
}

/// The version byte of [`CompactTree::encode`].
const STATE_VERSION: u8 = 1;

/// One node [`CompactTree::push`] completed that a store keeps for proofs: see
/// [`crate::store`] for which ones.
pub type Completed = (crate::store::NodeId, Hash);

/// The incremental Merkle tree state: the size and the roots of the perfect subtrees along the
/// right edge (one per one bit of the size, largest first), so O(log n) memory.
///
/// Rebuild it by pushing every leaf hash again, or persist it with [`CompactTree::encode`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    /// Roots of the perfect subtrees covering [0, size), left to right (largest first).
    peaks: Vec<Hash>,
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 9162 root hash (MTH) of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The roots of the perfect subtrees along the right edge, largest (leftmost) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf hash (in relance `leaf_hash(&event.hash)`) and returns the nodes the
    /// caller must persist for proofs (see [`crate::store::NodeId::is_persisted`]): always the
    /// leaf, plus the root of every perfect subtree of 16, 256, 4096… leaves (a level that is a
    /// multiple of [`crate::store::TILE_HEIGHT`]) this leaf completes. Nodes are returned
    /// bottom-up, so each level's nodes come in index order.
    pub fn push(&mut self, leaf: Hash) -> Vec<Completed> {
        use crate::store::{NodeId, TILE_HEIGHT};
        let index = self.size;
        let mut out = vec![(NodeId::leaf(index), leaf)];
        let mut hash = leaf;
        let mut level: u8 = 0;
        // Each trailing one bit of the old size is a peak of the same height to merge with.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.peaks.pop() else {
                break; // unreachable: one peak per one bit of the size
            };
            hash = node_hash(&left, &hash);
            level += 1;
            if level.is_multiple_of(TILE_HEIGHT) {
                out.push((NodeId::new(level, index >> level), hash));
            }
        }
        self.peaks.push(hash);
        self.size += 1;
        out
    }

    /// The state as bytes: version 1, size (8 bytes big-endian), then the peaks.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 32 * self.peaks.len());
        out.push(STATE_VERSION);
        out.extend_from_slice(&self.size.to_be_bytes());
        for peak in &self.peaks {
            out.extend_from_slice(peak);
        }
        out
    }

    /// Reads what [`CompactTree::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<Self, StateError> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(StateError::BadLength {
                got: 0,
                expected: 9,
            });
        };
        if version != STATE_VERSION {
            return Err(StateError::UnknownVersion(version));
        }
        let bad = |expected| StateError::BadLength {
            got: bytes.len(),
            expected,
        };
        let size_bytes: [u8; 8] = rest
            .get(..8)
            .and_then(|s| s.try_into().ok())
            .ok_or(bad(9))?;
        let size = u64::from_be_bytes(size_bytes);
        let count = size.count_ones() as usize;
        let expected = 9 + 32 * count;
        if bytes.len() != expected {
            return Err(bad(expected));
        }
        let peaks = rest[8..]
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(Self { size, peaks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
