//! Events: the facts relance records, each wrapped in an [`Envelope`].

use serde::{Deserialize, Serialize};

use crate::{CoopId, Date, Hash};

/// The first schema version, which every event type has had; an event type's current version
/// is [`Event::schema_version`], written into each envelope (see [`crate::upcast`]).
pub const SCHEMA_VERSION: u32 = 1;

/// Who recorded a fact: the authenticated principal and its organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub principal: String,
    pub organisation: String,
}

/// One event with everything needed to audit it.
///
/// The stream position is assigned by the log and travels beside the envelope ([`Recorded`]):
/// it is not known when the hash is computed. `event` is always of the current type; its JSON
/// form (the one hashed and exported) is the one of `schema_version` ([`crate::upcast`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// UUIDv7, text form.
    pub event_id: String,
    pub cooperative_id: CoopId,
    /// 1 for the registration, then +1 per event of this cooperative.
    pub version: u64,
    /// System time when the command was accepted, Unix milliseconds.
    pub recorded_at_ms: i64,
    /// The business date the fact is about.
    pub occurred_on: Date,
    pub actor: Actor,
    pub request_id: String,
    pub correlation_id: String,
    pub schema_version: u32,
    /// Hash of the previous event of this cooperative (zeros for the first).
    pub prev_hash: Hash,
    /// SHA-256 over `prev_hash` and the canonical bytes of this envelope without `hash`.
    pub hash: Hash,
    pub event: Event,
}

/// An envelope and the stream position the log gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub position: u64,
    pub envelope: Envelope,
}

/// The facts, one variant per event type of docs/design.md "Events".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    CooperativeRegistered(CooperativeRegistered),
    ActivityHalted(ActivityHalted),
    ReorientationDeclared(ReorientationDeclared),
    AuthorizationObtained(AuthorizationObtained),
    SupportGranted(SupportGranted),
    SalesChannelOpened(SalesChannelOpened),
    ActivityResumed(ActivityResumed),
    HeadcountReported(HeadcountReported),
    EventRetracted(EventRetracted),
}

impl Event {
    /// Every event type's name, in the order of the variants. relance-proto's tests check it
    /// against the published schema's `Envelope.event` oneof, so a type added there and not
    /// here (or in `type_name`) fails them.
    pub const TYPE_NAMES: &'static [&'static str] = &[
        "CooperativeRegistered",
        "ActivityHalted",
        "ReorientationDeclared",
        "AuthorizationObtained",
        "SupportGranted",
        "SalesChannelOpened",
        "ActivityResumed",
        "HeadcountReported",
        "EventRetracted",
    ];

    /// The schema version of this event's type written by this code: 2 for a halt (its legal
    /// basis structured), 1 for the others. Older versions are read through [`crate::upcast`].
    pub fn schema_version(&self) -> u32 {
        match self {
            Event::ActivityHalted(_) => 2,
            _ => SCHEMA_VERSION,
        }
    }

    /// The type name, as written in headers and exports.
    pub fn type_name(&self) -> &'static str {
        Self::TYPE_NAMES[match self {
            Event::CooperativeRegistered(_) => 0,
            Event::ActivityHalted(_) => 1,
            Event::ReorientationDeclared(_) => 2,
            Event::AuthorizationObtained(_) => 3,
            Event::SupportGranted(_) => 4,
            Event::SalesChannelOpened(_) => 5,
            Event::ActivityResumed(_) => 6,
            Event::HeadcountReported(_) => 7,
            Event::EventRetracted(_) => 8,
        }]
    }

    /// The business date the fact is about; `None` for a retraction (it is about another event).
    pub fn business_date(&self) -> Option<Date> {
        Some(match self {
            Event::CooperativeRegistered(e) => e.registered_on,
            Event::ActivityHalted(e) => e.effective_on,
            Event::ReorientationDeclared(e) => e.effective_on,
            Event::AuthorizationObtained(e) => e.obtained_on,
            Event::SupportGranted(e) => e.granted_on,
            Event::SalesChannelOpened(e) => e.opened_on,
            Event::ActivityResumed(e) => e.effective_on,
            Event::HeadcountReported(e) => e.as_of,
            Event::EventRetracted(_) => return None,
        })
    }
}

macro_rules! labelled_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $wire:literal, $label:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant,)+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable snake_case name (API, indexes, exports).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// The label people read.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// Parses the snake_case name.
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

labelled_enum!(
    /// ODCo's sector labels.
    Sector {
        Agriculture => "agriculture", "agriculture";
        Artisanat => "artisanat", "artisanat";
        Habitat => "habitat", "habitat";
        DenreesAlimentaires => "denrees_alimentaires", "denrées alimentaires";
        Argane => "argane", "argane";
        Peche => "peche", "pêche";
        Alphabetisation => "alphabetisation", "alphabétisation";
        PlantesMedicinales => "plantes_medicinales", "plantes médicinales et aromatiques";
        Foret => "foret", "forêt";
        Transport => "transport", "transport";
        Tourisme => "tourisme", "tourisme";
        ConseilGestion => "conseil_gestion", "conseil et gestion";
        Carrieres => "carrieres", "exploitation des carrières";
        CommerceServices => "commerce_services", "commerce et services";
    }
);

labelled_enum!(
    /// How much of the activity a halt stops.
    HaltScope {
        Total => "total", "total";
        Partial => "partial", "partial";
    }
);

labelled_enum!(
    /// Kinds of support seen in 2020.
    SupportKind {
        Financial => "financial", "financial (grant, loan, tranche)";
        Commercialisation => "commercialisation", "commercialisation";
        Technical => "technical", "certification and technical help";
        Training => "training", "training and coaching";
        Equipment => "equipment", "equipment";
        InKind => "in_kind", "in kind";
    }
);

labelled_enum!(
    /// Where a cooperative sells.
    ChannelKind {
        Groceries => "groceries", "groceries";
        Pharmacies => "pharmacies", "pharmacies";
        Parapharmacies => "parapharmacies", "parapharmacies";
        Ecommerce => "ecommerce", "e-commerce";
        Wholesale => "wholesale", "wholesale / bulk buyer";
        Market => "market", "souk and markets";
        Shop => "shop", "own shop";
        Other => "other", "other";
    }
);

labelled_enum!(
    /// Whether a channel is established or a trial ("tentatives modestes").
    Standing {
        Established => "established", "established";
        Trial => "trial", "trial";
    }
);

labelled_enum!(
    /// The kind of legal instrument a decision rests on.
    LegalInstrument {
        Dahir => "dahir", "dahir";
        Decree => "decree", "decree (décret)";
        Order => "order", "order (arrêté)";
        Circular => "circular", "circular";
        Decision => "decision", "decision";
    }
);

/// The legal basis of a decision, as a structured reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalBasis {
    /// `None` when not stated (every halt recorded under schema version 1).
    pub instrument: Option<LegalInstrument>,
    /// The instrument's number or reference, e.g. "Arrêté gubernatorial n° 12/2020".
    pub reference: String,
    /// When the instrument was issued, when stated.
    pub issued_on: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CooperativeRegistered {
    pub name: String,
    /// Court of first instance keeping the local register.
    pub registry_court: String,
    /// Number in that court's local register.
    pub registry_number: String,
    pub sector: Sector,
    /// Activity as registered, e.g. "couture et broderie".
    pub activity: String,
    /// Commune or city, e.g. "Benguérir".
    pub commune: String,
    pub members: u32,
    pub employees: u32,
    pub registered_on: Date,
}

/// A halt, schema version 2: the decision's legal basis is a structured reference (version 1
/// had a free-text `decision_ref`; [`crate::upcast::ActivityHaltedV1`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityHalted {
    pub authority: String,
    /// The legal basis of the decision; `None` when none was stated.
    pub legal_basis: Option<LegalBasis>,
    pub effective_on: Date,
    pub reason: String,
    pub scope: HaltScope,
    pub workers_affected: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorientationDeclared {
    pub from_activity: String,
    pub to_activity: String,
    pub product: String,
    pub capacity_min_per_day: u64,
    pub capacity_max_per_day: u64,
    pub notes: String,
    pub effective_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationObtained {
    pub issuing_body: String,
    pub reference: String,
    pub product: String,
    pub obtained_on: Date,
    /// End of validity (early IMANOR certifications lasted a month).
    pub valid_until: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportGranted {
    /// The partner organisation granting it; must be the actor's organisation.
    pub partner: String,
    pub kind: SupportKind,
    pub amount_centimes: Option<i64>,
    pub description: String,
    pub granted_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesChannelOpened {
    pub channel: ChannelKind,
    pub city: String,
    pub standing: Standing,
    pub opened_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityResumed {
    /// Empty when no authority decision was involved.
    pub authority: String,
    pub decision_ref: String,
    pub effective_on: Date,
    pub workers_back: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadcountReported {
    pub members: u32,
    pub employees: u32,
    pub as_of: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRetracted {
    pub retracted_event_id: String,
    pub reason: String,
}
