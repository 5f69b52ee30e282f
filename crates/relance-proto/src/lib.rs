//! relance's wire types and the one place where they meet the domain types.
//!
//! `v1` is generated from `proto/relance/v1/*.proto`; `convert` maps requests to domain
//! commands (naming the field and rule of any bad input) and domain envelopes, states and
//! summaries to their wire form. No other crate converts by hand.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("relance.v1");
}

/// The compiled descriptor set, for gRPC reflection and for partners' tooling.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("relance_descriptor");

/// Content type written in the `Content-Type` header of every stored event.
pub const CONTENT_TYPE: &str = "application/protobuf; proto=relance.v1.Envelope";

mod convert;
mod halt;
pub mod json;
mod queries;
mod series;
mod views;
mod watch;

pub use convert::*;
pub use halt::legal_basis_to_wire;
pub use queries::*;
pub use series::{series_query_from_wire, series_to_wire, SeriesQuery, MAX_SERIES_BUCKETS};
pub use views::*;
pub use watch::{
    event_type_name, watch_item, watch_query_from_wire, WatchQuery, DEFAULT_HEARTBEAT_SECONDS,
    MAX_HEARTBEAT_SECONDS,
};
