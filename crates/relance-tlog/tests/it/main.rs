//! Integration tests of relance-tlog: published vectors, properties, notes, the witness and
//! the Python proof checker of docs/audit-format.md.

mod notes;
mod props;
mod python;
mod vectors;
mod witness;

use relance_tlog::{leaf_hash, Hash, MemoryStore};

/// Decodes 64 hex characters.
fn h(s: &str) -> Hash {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

/// A store holding leaves whose data are `data(0)`, `data(1)`… (leaf hashes of those).
fn store_of(n: u64, data: impl Fn(u64) -> Vec<u8>) -> MemoryStore {
    let mut s = MemoryStore::new();
    for i in 0..n {
        s.push(leaf_hash(&data(i)));
    }
    s
}

/// Leaf data of a test event: an event hash made from its index.
fn event_hash(i: u64) -> Vec<u8> {
    relance_tlog::merkle::empty_root()
        .iter()
        .zip(i.to_be_bytes().iter().cycle())
        .map(|(a, b)| a ^ b)
        .collect()
}
