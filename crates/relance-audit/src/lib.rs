//! relance's audit trail, usable offline: the JSON Lines export format ([`Line`]), signed
//! checkpoints over every cooperative's chain head ([`Checkpoint`]), [`verify`] (names the
//! first bad event and the kind of damage) and [`replay`] (rebuilds the projection from an
//! export alone and gives the same digest as the live node), and the transparency log over an
//! export ([`EventTree`]: the Merkle tree of every event, C2SP checkpoints, proofs).
//!
//! No gRPC here: the CLI feeds this crate with what it received from a node or read from a file.
//! The format is specified in `docs/audit-format.md`; the design and its limits in
//! `docs/audit.md`.

mod checkpoint;
mod format;
mod replay;
mod spill;
mod tree;
mod verify;

pub use checkpoint::{
    generate_key, parse_public_key, read_signing_key, Checkpoint, CheckpointBuilder, Head, KeyError,
};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use format::{parse_line, write_line, ExportHeader, Line, ParseError, FORMAT};
pub use relance_tlog;
pub use replay::{replay, ReplayError, Replayed, Until};
pub use tree::{
    check_proof_line, log_signer, log_verifier, with_checkpoint, EventTree, ProofChecked,
    TreeCheckpoint, TreeError, DEFAULT_ORIGIN,
};
pub use verify::{verify, Damage, Finding, Report, VerifyOptions};

/// Reports progress of a long job every `every` items (the CLI prints it on stderr).
pub trait Progress {
    fn tick(&mut self, done: u64);
}

/// No progress reporting.
impl Progress for () {
    fn tick(&mut self, _done: u64) {}
}

impl<F: FnMut(u64)> Progress for F {
    fn tick(&mut self, done: u64) {
        self(done)
    }
}
