//! End-to-end tests: real `relance` (and nats-server) processes driven over gRPC and the CLI.
//! Each module is one area; every test starts its own processes on free ports.

mod audit;
mod audit_tlog;
mod deploy;
mod distributed;
mod embedded;
mod failover;
mod hardening;
mod import;
mod operations;
mod partner;
mod reflection;
mod schema;
mod security;
mod transport;
mod watch;
mod web;
