//! Events written under an earlier schema version of their type, read as the current type.
//!
//! The log is never edited: an event keeps the bytes it was written with, and its envelope's
//! `schema_version` says which shape they have. Reading goes through an upcaster here (pure,
//! total) to the current type, which is all the rest of the domain knows. The hash covers the
//! stored form, so an envelope's JSON (hashed, exported) is written in the shape of its
//! `schema_version`: for a version-1 halt, [`ActivityHaltedV1`] again, byte for byte.
//!
//! Versions so far (docs/design.md "Schema versions"):
//! - `ActivityHalted` 1 → 2: the free-text `decision_ref` became a structured
//!   [`LegalBasis`]; a version-1 reference is kept as the basis's `reference`, with no
//!   instrument or date (none was stated), and an empty one is no basis.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ActivityHalted, Actor, CoopId, Date, Envelope, Event, HaltScope, Hash, LegalBasis};

/// `ActivityHalted` as schema version 1 stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityHaltedV1 {
    pub authority: String,
    /// The decision's reference, free text; empty when none was given.
    pub decision_ref: String,
    pub effective_on: Date,
    pub reason: String,
    pub scope: HaltScope,
    pub workers_affected: u32,
}

impl ActivityHaltedV1 {
    /// The upcaster: the same halt as the current type.
    pub fn upcast(self) -> ActivityHalted {
        ActivityHalted {
            authority: self.authority,
            legal_basis: (!self.decision_ref.is_empty()).then_some(LegalBasis {
                instrument: None,
                reference: self.decision_ref,
                issued_on: None,
            }),
            effective_on: self.effective_on,
            reason: self.reason,
            scope: self.scope,
            workers_affected: self.workers_affected,
        }
    }

    /// The version-1 form of a halt that was read from version 1: the inverse of
    /// [`upcast`](Self::upcast). `None` when the halt says what version 1 cannot (an
    /// instrument, a date, an empty reference).
    pub fn of(e: &ActivityHalted) -> Option<Self> {
        let decision_ref = match &e.legal_basis {
            None => String::new(),
            Some(b)
                if b.instrument.is_none() && b.issued_on.is_none() && !b.reference.is_empty() =>
            {
                b.reference.clone()
            }
            Some(_) => return None,
        };
        Some(Self {
            authority: e.authority.clone(),
            decision_ref,
            effective_on: e.effective_on,
            reason: e.reason.clone(),
            scope: e.scope,
            workers_affected: e.workers_affected,
        })
    }
}

/// The event as its envelope's schema version stores it.
enum Stored<'a> {
    Current(&'a Event),
    HaltedV1(ActivityHaltedV1),
}

impl<'a> Stored<'a> {
    fn of(env: &'a Envelope) -> Self {
        match (&env.event, env.schema_version) {
            // A v1 envelope whose halt version 1 cannot express was not read from the log:
            // written as it is, its hash does not verify, and the chain check says so.
            (Event::ActivityHalted(e), 1) => {
                ActivityHaltedV1::of(e).map_or(Stored::Current(&env.event), Stored::HaltedV1)
            }
            (event, _) => Stored::Current(event),
        }
    }
}

#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'a T,
}

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Stored::Current(e) => e.serialize(s),
            Stored::HaltedV1(v1) => Tagged {
                kind: "ActivityHalted",
                data: v1,
            }
            .serialize(s),
        }
    }
}

/// The envelope's fields, in the order exports write them.
#[derive(Serialize)]
struct Out<'a> {
    event_id: &'a str,
    cooperative_id: &'a CoopId,
    version: u64,
    recorded_at_ms: i64,
    occurred_on: Date,
    actor: &'a Actor,
    request_id: &'a str,
    correlation_id: &'a str,
    schema_version: u32,
    prev_hash: Hash,
    hash: Hash,
    event: Stored<'a>,
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Out {
            event_id: &self.event_id,
            cooperative_id: &self.cooperative_id,
            version: self.version,
            recorded_at_ms: self.recorded_at_ms,
            occurred_on: self.occurred_on,
            actor: &self.actor,
            request_id: &self.request_id,
            correlation_id: &self.correlation_id,
            schema_version: self.schema_version,
            prev_hash: self.prev_hash,
            hash: self.hash,
            event: Stored::of(self),
        }
        .serialize(s)
    }
}

#[derive(Deserialize)]
struct In {
    event_id: String,
    cooperative_id: CoopId,
    version: u64,
    recorded_at_ms: i64,
    occurred_on: Date,
    actor: Actor,
    request_id: String,
    correlation_id: String,
    schema_version: u32,
    prev_hash: Hash,
    hash: Hash,
    event: serde_json::Value,
}

/// The event of an envelope of `schema_version`, upcast to the current type.
fn read_event(schema_version: u32, event: serde_json::Value) -> Result<Event, serde_json::Error> {
    let kind = event.get("type").and_then(serde_json::Value::as_str);
    if schema_version == 1 && kind == Some("ActivityHalted") {
        let data = event
            .get("data")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let v1: ActivityHaltedV1 = serde_json::from_value(data)?;
        return Ok(Event::ActivityHalted(v1.upcast()));
    }
    serde_json::from_value(event)
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let i = In::deserialize(d)?;
        let event = read_event(i.schema_version, i.event).map_err(D::Error::custom)?;
        Ok(Envelope {
            event_id: i.event_id,
            cooperative_id: i.cooperative_id,
            version: i.version,
            recorded_at_ms: i.recorded_at_ms,
            occurred_on: i.occurred_on,
            actor: i.actor,
            request_id: i.request_id,
            correlation_id: i.correlation_id,
            schema_version: i.schema_version,
            prev_hash: i.prev_hash,
            hash: i.hash,
            event,
        })
    }
}
