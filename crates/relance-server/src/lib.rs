//! relance's gRPC server: the command service (decide → append), the query service (reads a
//! projection's views), standard health and reflection, and [`Node`], which wires an event
//! log, a projection and the services for `relance serve` and `relance demo`.

mod audit;
pub mod auth;
mod batch;
#[cfg(test)]
mod batch_tests;
mod commands;
mod layout;
pub mod metrics;
mod node;
mod node_status;
mod principal;
mod queries;
mod status;
mod tlog;
mod views;
#[cfg(test)]
mod views_tests;
mod watch;

pub use audit::AuditService;
pub use batch::{EntryResult, MAX_BATCH};
pub use commands::{Clock, CommandError, CommandHandler, CommandService, Outcome};
pub use layout::{rebuilt_dir, served_dir};
pub use node::{serve, Node, NodeError, Services};
pub use principal::{actor_from_metadata, actor_of, ORG_HEADER, PRINCIPAL_HEADER};
pub use queries::QueryService;
pub use status::{command_error_status, internal, refuse, refuse_field, rejection_status};
pub use views::{RebuildError, RebuildProgress, RebuildState, Views};
pub use watch::{WatchService, DEFAULT_WATCH_BUFFER, DEFAULT_WATCH_STALL, RESUME_FROM};
