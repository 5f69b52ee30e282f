//! Which Merkle nodes a log persists for proofs, how it groups them in tiles, the read trait
//! over the caller's store, and an in-memory store.
//!
//! A log keeps the hashes of every level that is a multiple of [`TILE_HEIGHT`] (4): every leaf
//! hash (level 0), the root of every perfect, aligned subtree of 16 leaves (level 4), of 256
//! leaves (level 8), and so on: n + n/16 + n/256 + … ≈ 1.07 n hashes, about 34 bytes an event.
//! Nodes of the levels in between are recomputed from at most 8 stored nodes below them.
//!
//! The stored hashes are grouped in **tiles**, as tile-based logs do (C2SP `tlog-tiles`, here
//! with height 4 instead of 8): the tile `level`/`index` holds, in order, the hashes of the tree
//! level `level × 4` nodes `[index × 16, index × 16 + 16)`. A full tile is 16 × 32 = 512 bytes;
//! the rightmost tile of a level is partial until the tree grows past it, and only ever grows.
//! One key per 16 hashes keeps the store small and its writes few: a batch of pushes rewrites
//! only the tiles it touched ([`TileWrites`]). A proof reads each tile once if the reader keeps
//! the tiles it already read (the projection does, for one proof).
//!
//! [`crate::CompactTree::push`] returns exactly the [`NodeId`]s to keep; [`TileId::key`] is a
//! 9-byte key that sorts by level then index, handy for a key-value store such as sled.

use std::collections::btree_map::{BTreeMap, Entry};
use std::collections::HashMap;
use std::convert::Infallible;

use thiserror::Error;

use crate::merkle::{CompactTree, Hash};

/// Levels per tile: the tree levels 0, 4, 8… are stored, the others recomputed.
pub const TILE_HEIGHT: u8 = 4;
/// Hashes in a full tile (2^[`TILE_HEIGHT`]).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// A perfect, aligned subtree: the leaves `[index × 2^level, (index + 1) × 2^level)`. Level 0 is
/// a leaf; its index is the leaf index (event position − 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height: 0 for a leaf, 1 for the parent of two leaves…
    pub level: u8,
    /// Position among the nodes of this level, from 0 at the left.
    pub index: u64,
}

impl NodeId {
    /// The node `index` of `level`.
    pub fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The leaf `index` (level 0).
    pub fn leaf(index: u64) -> Self {
        Self::new(0, index)
    }

    /// Whether a store keeps this node: the levels that are multiples of [`TILE_HEIGHT`].
    pub fn is_persisted(&self) -> bool {
        self.level.is_multiple_of(TILE_HEIGHT)
    }

    /// The tile that holds this node and its slot there (0 to 15); `None` unless persisted.
    pub fn tile(&self) -> Option<(TileId, usize)> {
        self.is_persisted().then(|| {
            let tile = TileId {
                level: self.level / TILE_HEIGHT,
                index: self.index / TILE_WIDTH,
            };
            (tile, (self.index % TILE_WIDTH) as usize)
        })
    }
}

/// A tile: up to 16 consecutive stored hashes of the tree level `level × 4`, the nodes
/// `[index × 16, index × 16 + 16)` of that level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// The tile level: its hashes are the tree level `level × TILE_HEIGHT`.
    pub level: u8,
    /// Position among the tiles of this level, from 0 at the left.
    pub index: u64,
}

impl TileId {
    /// A 9-byte key: the tile level, then the index big-endian (sorts by level, then index).
    pub fn key(&self) -> [u8; 9] {
        let mut k = [0u8; 9];
        k[0] = self.level;
        k[1..].copy_from_slice(&self.index.to_be_bytes());
        k
    }

    /// Reads a [`TileId::key`]; `None` unless it is 9 bytes.
    pub fn from_key(key: &[u8]) -> Option<Self> {
        let (&level, rest) = key.split_first()?;
        let index = u64::from_be_bytes(rest.try_into().ok()?);
        Some(Self { level, index })
    }
}

/// The hash in `slot` of a tile's bytes, if the tile holds that many.
pub fn hash_in_tile(tile: &[u8], slot: usize) -> Option<Hash> {
    tile.get(slot * 32..slot * 32 + 32)?.try_into().ok()
}

/// Why [`TileWrites::add`] refused a node.
#[derive(Debug, Error)]
pub enum TileError<E> {
    /// A node of a level that is not stored.
    #[error("node {0:?} is not of a stored level")]
    NotPersisted(NodeId),
    /// A node that is not the next hash of its tile: the stored tile and the tree disagree.
    #[error("node {id:?} is not the next hash of its tile, which holds {held}")]
    OutOfOrder {
        /// The node.
        id: NodeId,
        /// How many hashes its tile held.
        held: usize,
    },
    /// The store's own failure reading a tile, passed through.
    #[error("reading a tile: {0}")]
    Store(E),
}

/// The tiles a run of [`CompactTree::push`]es changes, with their new contents, to write in one
/// batch.
#[derive(Debug, Clone, Default)]
pub struct TileWrites {
    tiles: BTreeMap<TileId, Vec<u8>>,
}

impl TileWrites {
    /// No tile changed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a node `push` returned to its tile. `stored` reads the tile's current bytes
    /// (`None`: no such tile) the first time a tile that is not new is touched.
    pub fn add<E>(
        &mut self,
        id: NodeId,
        hash: &Hash,
        stored: impl FnOnce(TileId) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), TileError<E>> {
        let (tile, slot) = id.tile().ok_or(TileError::NotPersisted(id))?;
        let bytes = match self.tiles.entry(tile) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let now = match slot {
                    0 => Vec::new(),
                    _ => stored(tile).map_err(TileError::Store)?.unwrap_or_default(),
                };
                v.insert(now)
            }
        };
        if bytes.len() != slot * 32 {
            return Err(TileError::OutOfOrder {
                id,
                held: bytes.len() / 32,
            });
        }
        bytes.extend_from_slice(hash);
        Ok(())
    }

    /// The changed tiles and their whole new contents.
    pub fn into_tiles(self) -> impl Iterator<Item = (TileId, Vec<u8>)> {
        self.tiles.into_iter()
    }
}

/// Read access to the persisted nodes, implemented by the caller over its store.
///
/// `node` is only asked for persisted ids ([`NodeId::is_persisted`]) of a tree at least as big
/// as the proof's tree. `Ok(None)` means the store lacks the node (the proof fails with
/// [`crate::ProveError::MissingNode`]); `Err` is the store's own failure, passed through.
pub trait NodeSource {
    /// The store's error.
    type Error;
    /// The hash of the node `id`, if stored.
    fn node(&self, id: NodeId) -> Result<Option<Hash>, Self::Error>;
}

impl<T: NodeSource + ?Sized> NodeSource for &T {
    type Error = T::Error;
    fn node(&self, id: NodeId) -> Result<Option<Hash>, Self::Error> {
        (**self).node(id)
    }
}

/// An in-memory log: the compact tree plus its tiles in a map. For tests and tools.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tree: CompactTree,
    tiles: HashMap<TileId, Vec<u8>>,
}

impl MemoryStore {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash, keeping in its tiles what [`CompactTree::push`] says to keep.
    pub fn push(&mut self, leaf: Hash) {
        let mut writes = TileWrites::new();
        for (id, hash) in self.tree.push(leaf) {
            let added = writes.add(id, &hash, |t| {
                Ok::<_, Infallible>(self.tiles.get(&t).cloned())
            });
            debug_assert!(added.is_ok(), "push returns stored nodes in order");
        }
        self.tiles.extend(writes.into_tiles());
    }

    /// The tree state (size and root).
    pub fn tree(&self) -> &CompactTree {
        &self.tree
    }

    /// How many hashes are persisted (leaves included).
    pub fn persisted(&self) -> usize {
        self.tiles.values().map(|t| t.len() / 32).sum()
    }

    /// How many tiles hold them.
    pub fn tiles(&self) -> usize {
        self.tiles.len()
    }
}

impl NodeSource for MemoryStore {
    type Error = Infallible;
    fn node(&self, id: NodeId) -> Result<Option<Hash>, Infallible> {
        Ok(id
            .tile()
            .and_then(|(tile, slot)| hash_in_tile(self.tiles.get(&tile)?, slot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> Hash {
        [i; 32]
    }

    #[test]
    fn a_later_batch_extends_the_stored_partial_tile() {
        let mut first = TileWrites::new();
        for i in 0..3u8 {
            let added = first.add(NodeId::leaf(u64::from(i)), &h(i), |_| -> Result<_, ()> {
                panic!("a new tile is not read")
            });
            assert!(added.is_ok());
        }
        let stored: HashMap<TileId, Vec<u8>> = first.into_tiles().collect();
        let mut second = TileWrites::new();
        let mut reads = 0;
        for i in 3..18u8 {
            let added = second.add(NodeId::leaf(u64::from(i)), &h(i), |t| {
                reads += 1;
                Ok::<_, ()>(stored.get(&t).cloned())
            });
            assert!(added.is_ok(), "{added:?}");
        }
        assert_eq!(reads, 1, "the partial tile is read once");
        let tiles: Vec<(TileId, Vec<u8>)> = second.into_tiles().collect();
        assert_eq!(tiles.len(), 2);
        assert_eq!(tiles[0].1.len(), 16 * 32, "tile 0 is full");
        assert_eq!(hash_in_tile(&tiles[0].1, 2), Some(h(2)));
        assert_eq!(hash_in_tile(&tiles[1].1, 1), Some(h(17)));
        assert_eq!(hash_in_tile(&tiles[1].1, 2), None);
    }

    #[test]
    fn a_node_out_of_its_tiles_order_is_refused() {
        let mut writes = TileWrites::new();
        let ok = writes.add(NodeId::leaf(0), &h(0), |_| Ok::<_, ()>(None));
        assert!(ok.is_ok());
        let gap = writes.add(NodeId::leaf(2), &h(2), |_| Ok::<_, ()>(None));
        assert!(
            matches!(gap, Err(TileError::OutOfOrder { held: 1, .. })),
            "{gap:?}"
        );
        let level5 = writes.add(NodeId::new(5, 0), &h(5), |_| Ok::<_, ()>(None));
        assert!(matches!(level5, Err(TileError::NotPersisted(_))));
    }
}
