//! The transparency log kept with the views: the RFC 9162 Merkle tree of every event's `hash`
//! in position order (leaf `i` = the event at position `i + 1`, quarantined ones included: the
//! tree is over the log, not the views). Its O(log n) state (`m:tree`) and the nodes proofs
//! need, in tiles of 16 hashes (`T` + [`TileId::key`]: every leaf hash and the root of every
//! perfect subtree of 16, 256… leaves, about 34 bytes an event, one key per 16 hashes; see
//! `relance_tlog::store`) are written in the batch that moves the checkpoint, so the tree is
//! always the tree of exactly the checkpoint. Like any view it is rebuilt by replaying the log.

use std::cell::RefCell;
use std::collections::HashMap;

use relance_domain::Hash;
use relance_domain::{Consistency, Inclusion, TreeHead};
use relance_tlog::{
    hash_in_tile, prove_consistency, prove_inclusion, subtree_hash, CompactTree, NodeId,
    NodeSource, TileId, TileWrites,
};

use crate::{poisoned, Projection, ProjectionError};

/// The tree's compact state (size and peaks).
pub(crate) const TREE_KEY: &[u8] = b"m:tree";
/// Prefix of a tile: `T` + [`TileId::key`].
const TILE_PREFIX: u8 = b'T';
/// Prefix of the one-node-a-key layout written before tiles (no longer read).
const PRE_TILE_PREFIX: u8 = b't';

/// Is this key part of the tree (left out of the views' digest)?
pub(crate) fn is_tree_key(key: &[u8]) -> bool {
    key == TREE_KEY || key.first() == Some(&TILE_PREFIX)
}

fn tile_key(id: TileId) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = TILE_PREFIX;
    k[1..].copy_from_slice(&id.key());
    k
}

/// The tree's state as stored (empty when none is). Views written before the tree was kept in
/// tiles are refused: their proofs would miss every node, so they are rebuilt from the log.
pub(crate) fn load(tree: &sled::Tree) -> Result<CompactTree, ProjectionError> {
    if tree.scan_prefix([PRE_TILE_PREFIX]).next().is_some() {
        return Err(ProjectionError::Internal(
            "these views keep the Merkle tree one node a key, a layout older than its tiles: \
             rebuild them from the log (`relance projection rebuild`)"
                .into(),
        ));
    }
    match tree.get(TREE_KEY)? {
        None => Ok(CompactTree::new()),
        Some(v) => CompactTree::decode(&v)
            .map_err(|e| ProjectionError::Internal(format!("the stored Merkle tree state: {e}"))),
    }
}

/// Extends `state` with the events of a batch (position, hash), in order, writing the tiles it
/// changed and the new state into `batch`; `tree` is read for the partial tiles the batch
/// extends (the previous batch is applied by then). A position that is not the next leaf stops
/// the tree there, logged: proofs stay right for the prefix.
pub(crate) fn extend(
    state: &mut CompactTree,
    events: &[(u64, Hash)],
    tree: &sled::Tree,
    batch: &mut sled::Batch,
) -> Result<(), ProjectionError> {
    let before = state.size();
    let mut tiles = TileWrites::new();
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
            tiles
                .add(id, &node, |t| {
                    tree.get(tile_key(t)).map(|v| v.map(|v| v.to_vec()))
                })
                .map_err(|e| internal(format!("writing the tiles: {e}")))?;
        }
    }
    for (id, bytes) in tiles.into_tiles() {
        batch.insert(&tile_key(id)[..], bytes);
    }
    if state.size() != before {
        batch.insert(TREE_KEY, state.encode());
    }
    Ok(())
}

/// The persisted nodes, read from sled's tiles; each tile is read once (a proof reads about
/// two tiles per 4 levels of the tree, with up to 8 nodes from each).
struct Nodes<'a> {
    tree: &'a sled::Tree,
    read: RefCell<HashMap<TileId, sled::IVec>>,
}

impl<'a> Nodes<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            read: RefCell::new(HashMap::new()),
        }
    }
}

impl NodeSource for Nodes<'_> {
    type Error = sled::Error;
    fn node(&self, id: NodeId) -> Result<Option<[u8; 32]>, sled::Error> {
        let Some((tile, slot)) = id.tile() else {
            return Ok(None);
        };
        if let Some(bytes) = self.read.borrow().get(&tile) {
            return Ok(hash_in_tile(bytes, slot));
        }
        let Some(bytes) = self.tree.get(tile_key(tile))? else {
            return Ok(None);
        };
        let hash = hash_in_tile(&bytes, slot);
        self.read.borrow_mut().insert(tile, bytes);
        Ok(hash)
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
                root: subtree_hash(&Nodes::new(&self.tree), 0, s).map_err(internal)?,
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
        let nodes = Nodes::new(&self.tree);
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
        let proof =
            prove_consistency(&Nodes::new(&self.tree), old.size, new.size).map_err(internal)?;
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

    use super::{extend, TILE_PREFIX, TREE_KEY};
    use crate::{Projection, ProjectionError};

    impl Projection {
        /// Bytes of the tree's own keys and values (tiles and state).
        pub fn tree_bytes(&self) -> Result<u64, ProjectionError> {
            let mut bytes = 0u64;
            for kv in self.tree.scan_prefix([TILE_PREFIX]) {
                let (k, v) = kv?;
                bytes += (k.len() + v.len()) as u64;
            }
            if let Some(v) = self.tree.get(TREE_KEY)? {
                bytes += (TREE_KEY.len() + v.len()) as u64;
            }
            Ok(bytes)
        }

        /// The stored leaf hashes, in order (the level-0 tiles, one after the other).
        pub fn tree_leaves(&self) -> Result<Vec<[u8; 32]>, ProjectionError> {
            let mut out = Vec::new();
            for kv in self.tree.scan_prefix([TILE_PREFIX, 0]) {
                let (_, v) = kv?;
                if v.len() % 32 != 0 {
                    return Err(ProjectionError::Internal(
                        "a stored tile is not a whole number of hashes".into(),
                    ));
                }
                out.extend(
                    v.chunks_exact(32)
                        .filter_map(|c| <[u8; 32]>::try_from(c).ok()),
                );
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
            extend(&mut state, &events, scratch, &mut b)?;
            scratch.apply_batch(b)?;
        }
        Ok(state.size())
    }
}
