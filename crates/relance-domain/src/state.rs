//! The state of one cooperative, built by folding its events. No rules live here:
//! `evolve` accepts whatever history it is given (rules are in `decide`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::*;
use crate::{CoopId, Date, Hash};

/// Where a cooperative stands. Derived from its facts with the priority
/// halted > reoriented > resumed > active, so it does not depend on recording order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Halted,
    Reoriented,
    Resumed,
}

impl Status {
    pub const ALL: &'static [Status] = &[
        Status::Active,
        Status::Halted,
        Status::Reoriented,
        Status::Resumed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Halted => "halted",
            Status::Reoriented => "reoriented",
            Status::Resumed => "resumed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Status::ALL.iter().copied().find(|s| s.as_str() == raw)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A halt, open or closed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HaltPeriod {
    pub event_id: String,
    pub authority: String,
    /// The legal basis's reference (empty when none was stated), as version 1 recorded it.
    pub decision_ref: String,
    /// The whole legal basis when it says more than a reference (an instrument, a date). Left
    /// out otherwise, so a history of version-1 halts folds to the very same views (and digest)
    /// as before version 2.
    #[serde(default)]
    pub legal_basis: Option<LegalBasis>,
    pub since: Date,
    pub reason: String,
    pub scope: HaltScope,
    pub workers_affected: u32,
    /// Resumption date, once resumed.
    pub until: Option<Date>,
    pub workers_back: Option<u32>,
}

/// As derived, except that an absent `legal_basis` is left out of human-readable forms (JSON:
/// the views' digest) and written as `None` in compact ones, whose readers expect every field
/// in order (the projection stores views with postcard).
impl Serialize for HaltPeriod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let skip_basis = self.legal_basis.is_none() && s.is_human_readable();
        let mut st = s.serialize_struct("HaltPeriod", if skip_basis { 9 } else { 10 })?;
        st.serialize_field("event_id", &self.event_id)?;
        st.serialize_field("authority", &self.authority)?;
        st.serialize_field("decision_ref", &self.decision_ref)?;
        if skip_basis {
            st.skip_field("legal_basis")?;
        } else {
            st.serialize_field("legal_basis", &self.legal_basis)?;
        }
        st.serialize_field("since", &self.since)?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("scope", &self.scope)?;
        st.serialize_field("workers_affected", &self.workers_affected)?;
        st.serialize_field("until", &self.until)?;
        st.serialize_field("workers_back", &self.workers_back)?;
        st.end()
    }
}

/// One grant of support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportLine {
    pub event_id: String,
    pub partner: String,
    pub kind: SupportKind,
    pub amount_centimes: Option<i64>,
    pub description: String,
    pub granted_on: Date,
}

/// A count of grants and the sum of their amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub count: u64,
    pub amount_centimes: i64,
}

/// Everything a projection shows about one cooperative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoopState {
    pub id: CoopId,
    pub name: String,
    pub registry_court: String,
    pub registry_number: String,
    pub sector: Sector,
    pub original_activity: String,
    pub current_activity: String,
    pub commune: String,
    pub registered_on: Date,
    pub status: Status,
    pub open_halt: Option<HaltPeriod>,
    pub past_halts: Vec<HaltPeriod>,
    pub reorientations: Vec<ReorientationDeclared>,
    pub authorizations: Vec<AuthorizationObtained>,
    pub support: Vec<SupportLine>,
    /// partner → support kind → totals.
    pub support_totals: BTreeMap<String, BTreeMap<SupportKind, Totals>>,
    pub sales_channels: Vec<SalesChannelOpened>,
    pub members: u32,
    pub employees: u32,
    pub headcount_as_of: Date,
    pub resumptions: Vec<Date>,
    /// Ids of events of this cooperative that were retracted.
    pub retracted: Vec<String>,
    pub version: u64,
    pub last_position: u64,
    pub last_changed_ms: i64,
    pub last_hash: Hash,
}

impl CoopState {
    /// The business facts only: the state minus version, position, hash, time and the
    /// retraction list. Two histories that differ by a retracted event have equal facts.
    pub fn facts(&self) -> CoopState {
        CoopState {
            retracted: Vec::new(),
            version: 0,
            last_position: 0,
            last_changed_ms: 0,
            last_hash: Hash::ZERO,
            ..self.clone()
        }
    }

    /// Daily capacity range of the current reorientation, when reoriented.
    pub fn current_capacity(&self) -> Option<(u64, u64)> {
        self.reorientations
            .last()
            .map(|r| (r.capacity_min_per_day, r.capacity_max_per_day))
    }

    /// Workers idled by the open halt.
    pub fn workers_idled(&self) -> u32 {
        self.open_halt.as_ref().map_or(0, |h| h.workers_affected)
    }

    fn derive_status(&mut self) {
        self.status = if self.open_halt.is_some() {
            Status::Halted
        } else if !self.reorientations.is_empty() {
            Status::Reoriented
        } else if !self.resumptions.is_empty() {
            Status::Resumed
        } else {
            Status::Active
        };
    }

    fn touch(&mut self, rec: &Recorded) {
        let env = &rec.envelope;
        self.version = env.version;
        self.last_position = rec.position;
        self.last_changed_ms = env.recorded_at_ms;
        self.last_hash = env.hash;
    }
}

/// What [`evolve`] made of one event.
// Returned once per event and matched at once: boxing would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The next state.
    Next(Option<CoopState>),
    /// The event is a retraction: rebuild with [`fold`] over the whole history, new event included.
    Refold,
}

/// Applies one event that is not (yet) retracted to a state.
pub fn evolve(state: Option<CoopState>, rec: &Recorded) -> Step {
    if matches!(rec.envelope.event, Event::EventRetracted(_)) {
        return Step::Refold;
    }
    Step::Next(apply_fact(state, rec, true))
}

/// The state of a cooperative from its whole history, leaving out retracted events
/// (their version, position and hash still count: history is never edited).
pub fn fold<'a>(history: impl IntoIterator<Item = &'a Recorded> + Clone) -> Option<CoopState> {
    let retracted: BTreeSet<&str> = history
        .clone()
        .into_iter()
        .filter_map(|r| match &r.envelope.event {
            Event::EventRetracted(e) => Some(e.retracted_event_id.as_str()),
            _ => None,
        })
        .collect();
    let mut state: Option<CoopState> = None;
    for rec in history {
        let is_retracted = retracted.contains(rec.envelope.event_id.as_str());
        let is_registration = matches!(rec.envelope.event, Event::CooperativeRegistered(_));
        // A registration cannot be retracted (decide refuses it); should a history hold one,
        // the cooperative still exists.
        state = apply_fact(state, rec, !is_retracted || is_registration);
        if let (Some(s), Event::EventRetracted(e)) = (state.as_mut(), &rec.envelope.event) {
            s.retracted.push(e.retracted_event_id.clone());
        }
    }
    state
}

fn apply_fact(state: Option<CoopState>, rec: &Recorded, effective: bool) -> Option<CoopState> {
    let env = &rec.envelope;
    let mut s = match (state, &env.event) {
        (None, Event::CooperativeRegistered(e)) if effective => CoopState {
            id: env.cooperative_id.clone(),
            name: e.name.clone(),
            registry_court: e.registry_court.clone(),
            registry_number: e.registry_number.clone(),
            sector: e.sector,
            original_activity: e.activity.clone(),
            current_activity: e.activity.clone(),
            commune: e.commune.clone(),
            registered_on: e.registered_on,
            status: Status::Active,
            open_halt: None,
            past_halts: Vec::new(),
            reorientations: Vec::new(),
            authorizations: Vec::new(),
            support: Vec::new(),
            support_totals: BTreeMap::new(),
            sales_channels: Vec::new(),
            members: e.members,
            employees: e.employees,
            headcount_as_of: e.registered_on,
            resumptions: Vec::new(),
            retracted: Vec::new(),
            version: 0,
            last_position: 0,
            last_changed_ms: 0,
            last_hash: Hash::ZERO,
        },
        // Nothing exists before a registration.
        (None, _) => return None,
        (Some(s), _) => s,
    };
    s.touch(rec);
    if !effective {
        return Some(s);
    }
    match &env.event {
        Event::CooperativeRegistered(_) | Event::EventRetracted(_) => {}
        Event::ActivityHalted(e) => {
            if let Some(previous) = s.open_halt.take() {
                s.past_halts.push(previous);
            }
            s.open_halt = Some(HaltPeriod {
                event_id: env.event_id.clone(),
                authority: e.authority.clone(),
                decision_ref: e
                    .legal_basis
                    .as_ref()
                    .map(|b| b.reference.clone())
                    .unwrap_or_default(),
                legal_basis: e
                    .legal_basis
                    .clone()
                    .filter(|b| b.instrument.is_some() || b.issued_on.is_some()),
                since: e.effective_on,
                reason: e.reason.clone(),
                scope: e.scope,
                workers_affected: e.workers_affected,
                until: None,
                workers_back: None,
            });
        }
        Event::ReorientationDeclared(e) => {
            s.current_activity = e.to_activity.clone();
            s.reorientations.push(e.clone());
        }
        Event::AuthorizationObtained(e) => s.authorizations.push(e.clone()),
        Event::SupportGranted(e) => {
            let t = s
                .support_totals
                .entry(e.partner.clone())
                .or_default()
                .entry(e.kind)
                .or_default();
            t.count += 1;
            t.amount_centimes = t
                .amount_centimes
                .saturating_add(e.amount_centimes.unwrap_or(0));
            s.support.push(SupportLine {
                event_id: env.event_id.clone(),
                partner: e.partner.clone(),
                kind: e.kind,
                amount_centimes: e.amount_centimes,
                description: e.description.clone(),
                granted_on: e.granted_on,
            });
        }
        Event::SalesChannelOpened(e) => s.sales_channels.push(e.clone()),
        Event::ActivityResumed(e) => {
            if let Some(mut halt) = s.open_halt.take() {
                halt.until = Some(e.effective_on);
                halt.workers_back = Some(e.workers_back);
                s.past_halts.push(halt);
            }
            s.resumptions.push(e.effective_on);
        }
        Event::HeadcountReported(e) => {
            s.members = e.members;
            s.employees = e.employees;
            s.headcount_as_of = e.as_of;
        }
    }
    s.derive_status();
    Some(s)
}
