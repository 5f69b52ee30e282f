//! The pure domain of relance: what a cooperative's history may contain and what it means.
//!
//! `decide(aggregate, command, context)` turns a command into at most one event or a named
//! rejection; `Aggregate::apply` / [`fold`] turn events into state. Nothing here reads a
//! clock, draws a random number or touches I/O: time, ids and the actor come in with the
//! command's [`Context`].

mod canonical;
mod date;
mod decide;
mod event;
mod hash;
mod ids;
pub mod query;
mod rejection;
mod series;
mod state;
mod subscription;
mod summary;
mod text;
pub mod upcast;

pub use date::Date;
pub use decide::{decide, Aggregate, Command, Context};
pub use event::{
    ActivityHalted, ActivityResumed, Actor, AuthorizationObtained, ChannelKind,
    CooperativeRegistered, Envelope, Event, EventRetracted, HaltScope, HeadcountReported,
    LegalBasis, LegalInstrument, Recorded, ReorientationDeclared, SalesChannelOpened, Sector,
    Standing, SupportGranted, SupportKind, SCHEMA_VERSION,
};
pub use hash::{canonical_bytes, canonical_json, chain_hash, link_break, Hash};
pub use ids::{CoopId, MAX_COOP_ID_LEN};
pub use query::{
    timeline, AsOf, ChainHead, Consistency, Filter, HistoryItem, Inclusion, Retraction, TreeHead,
};
pub use rejection::{Rejection, RejectionKind, Rule};
pub use series::{Bucket, SeriesPoint};
pub use state::{evolve, fold, CoopState, HaltPeriod, Status, Step, SupportLine, Totals};
pub use subscription::{EventFilter, MAX_WATCHED_COOPERATIVES};
pub use summary::Summary;

/// Bounds on free text, in characters.
pub mod limits {
    /// Names, activities, authorities, references, cities, partners.
    pub const SHORT_TEXT: usize = 200;
    /// Reasons, descriptions, notes.
    pub const LONG_TEXT: usize = 2000;
    /// Request and correlation ids.
    pub const REQUEST_ID: usize = 128;
    /// Largest single amount, in MAD centimes (100 billion MAD).
    pub const MAX_AMOUNT_CENTIMES: i64 = 10_000_000_000_000;
    /// Largest member, employee or worker count.
    pub const MAX_PEOPLE: u32 = 10_000_000;
    /// Largest daily capacity.
    pub const MAX_CAPACITY: u64 = 100_000_000;
}
