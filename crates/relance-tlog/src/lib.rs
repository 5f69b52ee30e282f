//! The transparency-log core of relance: one append-only Merkle tree over the whole event log,
//! signed checkpoints, proofs and witness cosignatures. Pure: no I/O, no async, no clock, no
//! randomness (times and keys come in as arguments).
//!
//! # The tree
//!
//! Leaf `i` of the tree is the event at log position `i + 1`; its leaf data is the event's
//! 32-byte `hash` (the per-cooperative hash chain link of `docs/audit-format.md`), so its leaf
//! hash is `SHA-256(0x00 ‖ hash)`. Interior nodes and roots follow RFC 6962 / RFC 9162
//! ([`merkle`]). [`CompactTree`] keeps the tree's state in O(log n) memory; its
//! [`CompactTree::push`] names the nodes to persist (every leaf hash and the root of every
//! perfect subtree of 16, 256, 4096… leaves: about 34 bytes an event), a store groups them in
//! tiles of 16 hashes ([`TileWrites`]), and proofs read them through the caller's
//! [`NodeSource`] ([`store`]).
//!
//! # What the proofs prove
//!
//! * **Inclusion** ([`prove_inclusion`], [`verify_inclusion`]): given a checkpoint's size and
//!   root, the event with this hash is at this position of the log. Whoever trusts the root
//!   needs only log₂(n) hashes, not the whole log, to know the event was recorded, unchanged.
//! * **Consistency** ([`prove_consistency`], [`verify_consistency`]): the log of the older
//!   checkpoint is a prefix of the log of the newer: between the two, the log only appended
//!   events; it neither changed, removed nor reordered any earlier one.
//!
//! # Checkpoints, notes, witnesses
//!
//! A checkpoint ([`Checkpoint`], C2SP `tlog-checkpoint`) states the origin, size and root; the
//! log signs it as a C2SP `signed-note` ([`note`]) with an Ed25519 key. Witnesses
//! ([`Witness`]) keep the last checkpoint they accepted, accept a new one only with a valid
//! consistency proof from it, and add a C2SP `tlog-cosignature` v1 line ([`cosignature`]). A
//! reader who requires cosignatures from independent witnesses knows every one of them saw the
//! same, append-only log: the log cannot show different histories to different people (a
//! split view) without a witness noticing.

pub mod checkpoint;
pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod store;
pub mod witness;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use cosignature::{Cosignature, CosignatureError, CosignatureSigner, CosignatureVerifier};
pub use merkle::{
    empty_root, leaf_hash, node_hash, root_from_leaf_hashes, CompactTree, Hash, StateError,
};
pub use note::{
    Ed25519Signer, Ed25519Verifier, KeyError, Note, NoteError, NoteSigner, NoteVerifier,
    SignatureLine,
};
pub use proof::{
    prove_consistency, prove_inclusion, subtree_hash, verify_consistency, verify_inclusion,
    ConsistencyProof, InclusionProof, ProveError, VerifyError,
};
pub use store::{
    hash_in_tile, MemoryStore, NodeId, NodeSource, TileError, TileId, TileWrites, TILE_HEIGHT,
    TILE_WIDTH,
};
pub use witness::{Accepted, Refusal, Witness, WitnessState};
