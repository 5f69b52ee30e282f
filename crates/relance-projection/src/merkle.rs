//! The transparency log kept with the views: the RFC 9162 Merkle tree of every event's `hash`
//! in position order (leaf `i` = the event at position `i + 1`, quarantined ones included: the
//! tree is over the log, not the views). Its O(log n) state (`m:tree`) and the nodes proofs
//! need (`t` + node id: every leaf and every perfect subtree of 16 leaves or more, about 36
//! bytes an event) are written in the batch that moves the checkpoint, so the tree is always
//! the tree of exactly the checkpoint. Like any view it is rebuilt by replaying the log.

use relance_domain::Hash;
use relance_domain::{Consistency, Inclusion, TreeHead};
use relance_tlog::{
    prove_consistency, prove_inclusion, subtree_hash, CompactTree, NodeId, NodeSource,
};

use crate::{poisoned, Projection, ProjectionError};

/// The tree's compact state (size and peaks).
pub(crate) const TREE_KEY: &[u8] = b"m:tree";
/// Prefix of a persisted node: `t` + [`NodeId::key`].
const NODE_PREFIX: u8 = b't';

/// Is this key part of the tree (left out of the views' digest)?
pub(crate) fn is_tree_key(key: &[u8]) -> bool {
    key == TREE_KEY || key.first() == Some(&NODE_PREFIX)
}

fn node_key(id: NodeId) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = NODE_PREFIX;
    k[1..].copy_from_slice(&id.key());
    k
}

/// The tree's state as stored (empty when none is).
pub(crate) fn load(tree: &sled::Tree) -> Result<CompactTree, ProjectionError> {
    match tree.get(TREE_KEY)? {
        None => Ok(CompactTree::new()),
        Some(v) => CompactTree::decode(&v)
            .map_err(|e| ProjectionError::Internal(format!("the stored Merkle tree state: {e}"))),
    }
}

/// Extends `state` with the events of a batch (position, hash), in order, writing the new
/// nodes and state into `batch`. A position that is not the next leaf stops the tree there,
/// logged: proofs stay right for the prefix.
pub(crate) fn extend(state: &mut CompactTree, events: &[(u64, Hash)], batch: &mut sled::Batch) {
    let before = state.size();
    for (position, hash) in events {
        if *position != state.size() + 1 {
            // Both logs number positions without gaps; a gap comes from replaying part of an
            // export (`audit replay --as-of`, an export from --from > 1), where no proof is
            // asked of the tree.
            tracing::info!(
                position,
                tree_size = state.size(),
                "a position is skipped: the Merkle tree stops here"
            );
            break;
        }
        for (id, node) in state.push(relance_tlog::leaf_hash(&hash.0)) {
            batch.insert(&node_key(id)[..], &node[..]);
        }
    }
    if state.size() != before {
        batch.insert(TREE_KEY, state.encode());
    }
}

/// The persisted nodes, read from sled.
struct Nodes<'a>(&'a sled::Tree);

impl NodeSource for Nodes<'_> {
    type Error = sled::Error;
    fn node(&self, id: NodeId) -> Result<Option<[u8; 32]>, sled::Error> {
        Ok(self
            .0
            .get(node_key(id))?
            .and_then(|v| v.as_ref().try_into().ok()))
    }
}

/// Why the projection cannot give a proof.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("position {position} is past the tree of {size} events")]
    PastTheTree { position: u64, size: u64 },
    #[error("tree size {asked} is past the tree of {size} events")]
    SizePastTheTree { asked: u64, size: u64 },
    #[error("tree size {old} is larger than {new}")]
    SizesDecrease { old: u64, new: u64 },
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

fn internal(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Internal(format!("Merkle tree: {e}"))
}

impl Projection {
    /// The tree's size and root now (its size is the checkpoint unless the log had a gap).
    pub fn tree_head(&self) -> Result<TreeHead, ProjectionError> {
        let state = self.merkle.lock().map_err(|_| poisoned("Merkle tree"))?;
        Ok(TreeHead {
            size: state.size(),
            root: state.root(),
        })
    }

    /// [`tree_head`](Self::tree_head) and the checkpoint, with no batch in between.
    pub fn tree_head_at_checkpoint(&self) -> Result<(TreeHead, u64), ProjectionError> {
        let _applying = self.apply_lock.lock().map_err(|_| poisoned("apply"))?;
        Ok((self.tree_head()?, self.checkpoint()))
    }

    /// The head of the tree of `size` leaves (0: the current tree).
    fn head_of(&self, size: u64) -> Result<TreeHead, ProofError> {
        let now = self.tree_head()?;
        match size {
            0 => Ok(now),
            s if s > now.size => Err(ProofError::SizePastTheTree {
                asked: s,
                size: now.size,
            }),
            s => Ok(TreeHead {
                size: s,
                root: subtree_hash(&Nodes(&self.tree), 0, s).map_err(internal)?,
            }),
        }
    }

    /// The inclusion proof of the event at `position` in the tree of `size` leaves (0: the
    /// current tree).
    pub fn inclusion_proof(&self, position: u64, size: u64) -> Result<Inclusion, ProofError> {
        let head = self.head_of(size)?;
        if position == 0 || position > head.size {
            return Err(ProofError::PastTheTree {
                position,
                size: head.size,
            });
        }
        let nodes = Nodes(&self.tree);
        let proof = prove_inclusion(&nodes, position - 1, head.size).map_err(internal)?;
        let leaf_hash = nodes
            .node(NodeId::leaf(position - 1))
            .map_err(ProjectionError::from)?
            .ok_or_else(|| internal(format!("leaf {} is not stored", position - 1)))?;
        Ok(Inclusion {
            position,
            leaf_hash,
            head,
            path: proof.path,
        })
    }

    /// The consistency proof from the tree of `old_size` leaves to the tree of `new_size`
    /// (0: the current tree).
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Consistency, ProofError> {
        let new = self.head_of(new_size)?;
        if old_size > new.size {
            return Err(ProofError::SizesDecrease {
                old: old_size,
                new: new.size,
            });
        }
        let old = if old_size == 0 {
            TreeHead {
                size: 0,
                root: relance_tlog::empty_root(),
            }
        } else {
            self.head_of(old_size)?
        };
        let proof = prove_consistency(&Nodes(&self.tree), old.size, new.size).map_err(internal)?;
        Ok(Consistency {
            old,
            new,
            path: proof.path,
        })
    }
}

/// What the Merkle tree costs, for relance-bench: the bytes of its keys and values, its leaf
/// hashes, and a rebuild of the tree alone written the way a catch-up writes it.
pub mod cost {
    use relance_domain::Hash;
    use relance_tlog::CompactTree;

    use super::{extend, NODE_PREFIX, TREE_KEY};
    use crate::{Projection, ProjectionError};

    impl Projection {
        /// Bytes of the tree's own keys and values (nodes and state).
        pub fn tree_bytes(&self) -> Result<u64, ProjectionError> {
            let mut bytes = 0u64;
            for kv in self.tree.scan_prefix([NODE_PREFIX]) {
                let (k, v) = kv?;
                bytes += (k.len() + v.len()) as u64;
            }
            if let Some(v) = self.tree.get(TREE_KEY)? {
                bytes += (TREE_KEY.len() + v.len()) as u64;
            }
            Ok(bytes)
        }

        /// The stored leaf hashes, in order.
        pub fn tree_leaves(&self) -> Result<Vec<[u8; 32]>, ProjectionError> {
            let mut out = Vec::new();
            for kv in self.tree.scan_prefix([NODE_PREFIX, 0]) {
                let (_, v) = kv?;
                let leaf: [u8; 32] = v.as_ref().try_into().map_err(|_| {
                    ProjectionError::Internal("a stored leaf is not 32 bytes".into())
                })?;
                out.push(leaf);
            }
            Ok(out)
        }
    }

    /// Writes the tree of `leaves` (taken as the events' hashes) into `scratch`, `batch` leaves
    /// per sled batch, as `apply_prepared` writes it; returns the tree's size.
    pub fn write_tree_alone(
        scratch: &sled::Tree,
        leaves: &[[u8; 32]],
        batch: usize,
    ) -> Result<u64, ProjectionError> {
        let mut state = CompactTree::new();
        let mut position = 0u64;
        for chunk in leaves.chunks(batch.max(1)) {
            let events: Vec<(u64, Hash)> = chunk
                .iter()
                .map(|l| {
                    position += 1;
                    (position, Hash(*l))
                })
                .collect();
            let mut b = sled::Batch::default();
            extend(&mut state, &events, &mut b);
            scratch.apply_batch(b)?;
        }
        Ok(state.size())
    }
}
