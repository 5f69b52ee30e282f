//! Hand-written conversions between `v1` wire types and `relance_domain` types.

use prost::Message;
use relance_domain as d;
use relance_domain::{Rejection, Rule};

use crate::v1;

/// A stored event that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event bytes are not a relance.v1.Envelope: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("envelope field `{field}` is invalid: {detail}")]
    Field { field: &'static str, detail: String },
}

fn bad(field: &'static str, detail: impl Into<String>) -> DecodeError {
    DecodeError::Field {
        field,
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------- enums

macro_rules! enum_map {
    ($to:ident, $from:ident, $dom:ty, $wire:ty, { $($d:ident <=> $w:ident),+ $(,)? }) => {
        /// Domain value → wire value.
        pub fn $to(v: $dom) -> $wire {
            match v { $(<$dom>::$d => <$wire>::$w,)+ }
        }
        /// Wire value (as received, possibly unknown) → domain value.
        pub fn $from(raw: i32) -> Option<$dom> {
            match <$wire>::try_from(raw).ok()? {
                $(<$wire>::$w => Some(<$dom>::$d),)+
                _ => None,
            }
        }
    };
}

enum_map!(sector_to_wire, sector_from_wire, d::Sector, v1::Sector, {
    Agriculture <=> Agriculture, Artisanat <=> Artisanat, Habitat <=> Habitat,
    DenreesAlimentaires <=> DenreesAlimentaires, Argane <=> Argane, Peche <=> Peche,
    Alphabetisation <=> Alphabetisation, PlantesMedicinales <=> PlantesMedicinales,
    Foret <=> Foret, Transport <=> Transport, Tourisme <=> Tourisme,
    ConseilGestion <=> ConseilGestion, Carrieres <=> Carrieres,
    CommerceServices <=> CommerceServices,
});
enum_map!(scope_to_wire, scope_from_wire, d::HaltScope, v1::HaltScope, {
    Total <=> Total, Partial <=> Partial,
});
enum_map!(support_kind_to_wire, support_kind_from_wire, d::SupportKind, v1::SupportKind, {
    Financial <=> Financial, Commercialisation <=> Commercialisation, Technical <=> Technical,
    Training <=> Training, Equipment <=> Equipment, InKind <=> InKind,
});
enum_map!(channel_to_wire, channel_from_wire, d::ChannelKind, v1::ChannelKind, {
    Groceries <=> Groceries, Pharmacies <=> Pharmacies, Parapharmacies <=> Parapharmacies,
    Ecommerce <=> Ecommerce, Wholesale <=> Wholesale, Market <=> Market, Shop <=> Shop,
    Other <=> Other,
});
enum_map!(standing_to_wire, standing_from_wire, d::Standing, v1::Standing, {
    Established <=> Established, Trial <=> Trial,
});
enum_map!(legal_instrument_to_wire, legal_instrument_from_wire, d::LegalInstrument, v1::LegalInstrument, {
    Dahir <=> Dahir, Decree <=> Decree, Order <=> Order, Circular <=> Circular,
    Decision <=> Decision,
});

pub(crate) fn req_enum<T>(
    field: &'static str,
    raw: i32,
    f: fn(i32) -> Option<T>,
) -> Result<T, Rejection> {
    f(raw).ok_or_else(|| {
        Rejection::invalid(
            field,
            Rule::InvalidEnum,
            format!("value {raw} is unspecified or unknown"),
        )
    })
}

// ---------------------------------------------------------------- dates

pub(crate) fn req_date(field: &'static str, raw: &str) -> Result<d::Date, Rejection> {
    d::Date::parse(raw).ok_or_else(|| {
        Rejection::invalid(
            field,
            Rule::InvalidDate,
            format!("{raw:?} is not a date YYYY-MM-DD (1900-2999)"),
        )
    })
}

fn opt_date(field: &'static str, raw: &str) -> Result<Option<d::Date>, Rejection> {
    if raw.is_empty() {
        Ok(None)
    } else {
        req_date(field, raw).map(Some)
    }
}

pub(crate) fn date_str(d: Option<d::Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------- event data

/// A count sent as uint64 (so that a value over 2^32 arrives whole) that the domain keeps as u32.
pub(crate) fn count(field: &'static str, raw: u64) -> Result<u32, Rejection> {
    u32::try_from(raw).map_err(|_| {
        Rejection::invalid(
            field,
            Rule::NumberTooLarge,
            format!("is {raw}, more than {}", u32::MAX),
        )
    })
}

pub(crate) fn need<T>(data: Option<T>) -> Result<T, Rejection> {
    data.ok_or_else(|| Rejection::invalid("data", Rule::RequiredField, "is missing"))
}

/// Wire event data → domain event data (input validation that needs no state).
pub trait FromWire: Sized {
    type Domain;
    fn to_domain(self) -> Result<Self::Domain, Rejection>;
}

impl FromWire for v1::CooperativeRegistered {
    type Domain = d::CooperativeRegistered;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::CooperativeRegistered {
            sector: req_enum("sector", self.sector, sector_from_wire)?,
            registered_on: req_date("registered_on", &self.registered_on)?,
            name: self.name,
            registry_court: self.registry_court,
            registry_number: self.registry_number,
            activity: self.activity,
            commune: self.commune,
            members: count("members", self.members)?,
            employees: count("employees", self.employees)?,
        })
    }
}

impl FromWire for v1::ReorientationDeclared {
    type Domain = d::ReorientationDeclared;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::ReorientationDeclared {
            effective_on: req_date("effective_on", &self.effective_on)?,
            from_activity: self.from_activity,
            to_activity: self.to_activity,
            product: self.product,
            capacity_min_per_day: self.capacity_min_per_day,
            capacity_max_per_day: self.capacity_max_per_day,
            notes: self.notes,
        })
    }
}

impl FromWire for v1::AuthorizationObtained {
    type Domain = d::AuthorizationObtained;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::AuthorizationObtained {
            obtained_on: req_date("obtained_on", &self.obtained_on)?,
            valid_until: opt_date("valid_until", &self.valid_until)?,
            issuing_body: self.issuing_body,
            reference: self.reference,
            product: self.product,
        })
    }
}

impl FromWire for v1::SupportGranted {
    type Domain = d::SupportGranted;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::SupportGranted {
            kind: req_enum("kind", self.kind, support_kind_from_wire)?,
            granted_on: req_date("granted_on", &self.granted_on)?,
            partner: self.partner,
            amount_centimes: self.amount_centimes,
            description: self.description,
        })
    }
}

impl FromWire for v1::SalesChannelOpened {
    type Domain = d::SalesChannelOpened;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::SalesChannelOpened {
            channel: req_enum("channel", self.channel, channel_from_wire)?,
            standing: req_enum("standing", self.standing, standing_from_wire)?,
            opened_on: req_date("opened_on", &self.opened_on)?,
            city: self.city,
        })
    }
}

impl FromWire for v1::ActivityResumed {
    type Domain = d::ActivityResumed;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::ActivityResumed {
            effective_on: req_date("effective_on", &self.effective_on)?,
            authority: self.authority,
            decision_ref: self.decision_ref,
            workers_back: count("workers_back", self.workers_back)?,
        })
    }
}

impl FromWire for v1::HeadcountReported {
    type Domain = d::HeadcountReported;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::HeadcountReported {
            as_of: req_date("as_of", &self.as_of)?,
            members: count("members", self.members)?,
            employees: count("employees", self.employees)?,
        })
    }
}

impl FromWire for v1::EventRetracted {
    type Domain = d::EventRetracted;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::EventRetracted {
            retracted_event_id: self.retracted_event_id,
            reason: self.reason,
        })
    }
}

// ---------------------------------------------------------------- commands

/// The common part of every command request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    pub request_id: String,
    pub cooperative_id: d::CoopId,
    pub expected_version: Option<u64>,
    pub correlation_id: String,
}

pub(crate) fn meta(m: Option<v1::CommandMeta>) -> Result<CommandMeta, Rejection> {
    let m = m.ok_or_else(|| Rejection::invalid("meta", Rule::RequiredField, "is missing"))?;
    Ok(CommandMeta {
        cooperative_id: d::CoopId::parse(&m.cooperative_id)?,
        request_id: m.request_id,
        expected_version: m.expected_version,
        correlation_id: m.correlation_id,
    })
}

/// A command request as received on the wire.
pub trait CommandRequest {
    /// Validates the request's shape and turns it into a domain command.
    fn into_command(self) -> Result<(CommandMeta, d::Command), Rejection>;
}

macro_rules! command_request {
    ($req:ty, $variant:ident) => {
        impl CommandRequest for $req {
            fn into_command(self) -> Result<(CommandMeta, d::Command), Rejection> {
                let meta = meta(self.meta)?;
                let data = need(self.data)?.to_domain()?;
                Ok((meta, d::Command::$variant(data)))
            }
        }
    };
}

command_request!(v1::RegisterRequest, Register);
command_request!(v1::ReorientRequest, Reorient);
command_request!(v1::AuthorizeRequest, Authorize);
command_request!(v1::GrantSupportRequest, GrantSupport);
command_request!(v1::OpenSalesChannelRequest, OpenSalesChannel);
command_request!(v1::ResumeRequest, Resume);
command_request!(v1::ReportHeadcountRequest, ReportHeadcount);
command_request!(v1::RetractRequest, Retract);

// ---------------------------------------------------------------- events to wire

fn registered_to_wire(e: &d::CooperativeRegistered) -> v1::CooperativeRegistered {
    v1::CooperativeRegistered {
        name: e.name.clone(),
        registry_court: e.registry_court.clone(),
        registry_number: e.registry_number.clone(),
        sector: sector_to_wire(e.sector) as i32,
        activity: e.activity.clone(),
        commune: e.commune.clone(),
        members: e.members.into(),
        employees: e.employees.into(),
        registered_on: e.registered_on.to_string(),
    }
}

/// Domain reorientation → wire.
pub fn reorientation_to_wire(e: &d::ReorientationDeclared) -> v1::ReorientationDeclared {
    v1::ReorientationDeclared {
        from_activity: e.from_activity.clone(),
        to_activity: e.to_activity.clone(),
        product: e.product.clone(),
        capacity_min_per_day: e.capacity_min_per_day,
        capacity_max_per_day: e.capacity_max_per_day,
        notes: e.notes.clone(),
        effective_on: e.effective_on.to_string(),
    }
}

/// Domain authorisation → wire.
pub fn authorization_to_wire(e: &d::AuthorizationObtained) -> v1::AuthorizationObtained {
    v1::AuthorizationObtained {
        issuing_body: e.issuing_body.clone(),
        reference: e.reference.clone(),
        product: e.product.clone(),
        obtained_on: e.obtained_on.to_string(),
        valid_until: date_str(e.valid_until),
    }
}

fn support_to_wire(e: &d::SupportGranted) -> v1::SupportGranted {
    v1::SupportGranted {
        partner: e.partner.clone(),
        kind: support_kind_to_wire(e.kind) as i32,
        amount_centimes: e.amount_centimes,
        description: e.description.clone(),
        granted_on: e.granted_on.to_string(),
    }
}

/// Domain sales channel → wire.
pub fn channel_opened_to_wire(e: &d::SalesChannelOpened) -> v1::SalesChannelOpened {
    v1::SalesChannelOpened {
        channel: channel_to_wire(e.channel) as i32,
        city: e.city.clone(),
        standing: standing_to_wire(e.standing) as i32,
        opened_on: e.opened_on.to_string(),
    }
}

/// Domain envelope (and its position, 0 when not yet assigned) → wire envelope.
pub fn envelope_to_wire(env: &d::Envelope, position: u64) -> v1::Envelope {
    use v1::envelope::Event as W;
    let event = match &env.event {
        d::Event::CooperativeRegistered(e) => W::CooperativeRegistered(registered_to_wire(e)),
        d::Event::ActivityHalted(e) => crate::halt::halted_to_wire(e, env.schema_version),
        d::Event::ReorientationDeclared(e) => W::ReorientationDeclared(reorientation_to_wire(e)),
        d::Event::AuthorizationObtained(e) => W::AuthorizationObtained(authorization_to_wire(e)),
        d::Event::SupportGranted(e) => W::SupportGranted(support_to_wire(e)),
        d::Event::SalesChannelOpened(e) => W::SalesChannelOpened(channel_opened_to_wire(e)),
        d::Event::ActivityResumed(e) => W::ActivityResumed(v1::ActivityResumed {
            authority: e.authority.clone(),
            decision_ref: e.decision_ref.clone(),
            effective_on: e.effective_on.to_string(),
            workers_back: e.workers_back.into(),
        }),
        d::Event::HeadcountReported(e) => W::HeadcountReported(v1::HeadcountReported {
            members: e.members.into(),
            employees: e.employees.into(),
            as_of: e.as_of.to_string(),
        }),
        d::Event::EventRetracted(e) => W::EventRetracted(v1::EventRetracted {
            retracted_event_id: e.retracted_event_id.clone(),
            reason: e.reason.clone(),
        }),
    };
    v1::Envelope {
        event_id: env.event_id.clone(),
        cooperative_id: env.cooperative_id.to_string(),
        version: env.version,
        position,
        recorded_at_unix_ms: env.recorded_at_ms,
        occurred_on: env.occurred_on.to_string(),
        actor: Some(v1::Actor {
            principal: env.actor.principal.clone(),
            organisation: env.actor.organisation.clone(),
        }),
        request_id: env.request_id.clone(),
        correlation_id: env.correlation_id.clone(),
        schema_version: env.schema_version,
        prev_hash: env.prev_hash.0.to_vec(),
        hash: env.hash.0.to_vec(),
        event: Some(event),
    }
}

/// The bytes stored in the log for an envelope (protobuf, position 0).
pub fn encode_envelope(env: &d::Envelope) -> Vec<u8> {
    envelope_to_wire(env, 0).encode_to_vec()
}

/// Wire envelope → domain envelope and position.
pub fn envelope_from_wire(w: v1::Envelope) -> Result<(d::Envelope, u64), DecodeError> {
    use v1::envelope::Event as W;
    let field_err = |field: &'static str| move |r: Rejection| bad(field, r.to_string());
    let event = match w.event.ok_or_else(|| bad("event", "is missing"))? {
        W::CooperativeRegistered(e) => {
            d::Event::CooperativeRegistered(e.to_domain().map_err(field_err("event"))?)
        }
        // Schema version 1, upcast (relance_domain::upcast).
        W::ActivityHalted(e) => {
            d::Event::ActivityHalted(e.to_domain().map_err(field_err("event"))?.upcast())
        }
        W::ActivityHaltedV2(e) => {
            d::Event::ActivityHalted(e.to_domain().map_err(field_err("event"))?)
        }
        W::ReorientationDeclared(e) => {
            d::Event::ReorientationDeclared(e.to_domain().map_err(field_err("event"))?)
        }
        W::AuthorizationObtained(e) => {
            d::Event::AuthorizationObtained(e.to_domain().map_err(field_err("event"))?)
        }
        W::SupportGranted(e) => {
            d::Event::SupportGranted(e.to_domain().map_err(field_err("event"))?)
        }
        W::SalesChannelOpened(e) => {
            d::Event::SalesChannelOpened(e.to_domain().map_err(field_err("event"))?)
        }
        W::ActivityResumed(e) => {
            d::Event::ActivityResumed(e.to_domain().map_err(field_err("event"))?)
        }
        W::HeadcountReported(e) => {
            d::Event::HeadcountReported(e.to_domain().map_err(field_err("event"))?)
        }
        W::EventRetracted(e) => {
            d::Event::EventRetracted(e.to_domain().map_err(field_err("event"))?)
        }
    };
    let actor = w.actor.ok_or_else(|| bad("actor", "is missing"))?;
    let env = d::Envelope {
        event_id: w.event_id,
        cooperative_id: d::CoopId::parse(&w.cooperative_id).map_err(field_err("cooperative_id"))?,
        version: w.version,
        recorded_at_ms: w.recorded_at_unix_ms,
        occurred_on: d::Date::parse(&w.occurred_on)
            .ok_or_else(|| bad("occurred_on", "is not a date"))?,
        actor: d::Actor {
            principal: actor.principal,
            organisation: actor.organisation,
        },
        request_id: w.request_id,
        correlation_id: w.correlation_id,
        schema_version: w.schema_version,
        prev_hash: d::Hash::from_slice(&w.prev_hash)
            .ok_or_else(|| bad("prev_hash", "is not 32 bytes"))?,
        hash: d::Hash::from_slice(&w.hash).ok_or_else(|| bad("hash", "is not 32 bytes"))?,
        event,
    };
    Ok((env, w.position))
}

/// Decodes the bytes stored in the log into the wire envelope, as stored (position 0).
pub fn decode_wire_envelope(bytes: &[u8]) -> Result<v1::Envelope, DecodeError> {
    Ok(v1::Envelope::decode(bytes)?)
}

/// Decodes the bytes stored in the log.
pub fn decode_envelope(bytes: &[u8]) -> Result<d::Envelope, DecodeError> {
    let w = v1::Envelope::decode(bytes)?;
    Ok(envelope_from_wire(w)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_names_every_event_type_of_the_published_envelope_oneof() {
        use prost::Message as _;
        let fds = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let envelope = fds
            .file
            .iter()
            .flat_map(|f| &f.message_type)
            .find(|m| m.name() == "Envelope")
            .expect("Envelope");
        let in_oneof: Vec<&str> = envelope
            .field
            .iter()
            .filter(|f| f.oneof_index.is_some())
            .map(|f| f.type_name().trim_start_matches(".relance.v1."))
            // A later schema version of a type is its message name with `V<n>` appended.
            .map(|name| match name.rsplit_once('V') {
                Some((ty, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => ty,
                _ => name,
            })
            .collect();
        let mut types = in_oneof.clone();
        types.sort_unstable();
        types.dedup();
        let mut expected = d::Event::TYPE_NAMES.to_vec();
        expected.sort_unstable();
        assert_eq!(types, expected, "{in_oneof:?}");
    }

    fn sample() -> d::Envelope {
        let mut env = d::Envelope {
            event_id: "0190a0a0-0000-7000-8000-000000000001".into(),
            cooperative_id: d::CoopId::parse("REH-0001").expect("id"),
            version: 1,
            recorded_at_ms: 1_590_000_000_000,
            occurred_on: d::Date::parse("2020-03-20").expect("date"),
            actor: d::Actor {
                principal: "najah".into(),
                organisation: "prefecture".into(),
            },
            request_id: "r1".into(),
            correlation_id: String::new(),
            schema_version: 1,
            prev_hash: d::Hash::ZERO,
            hash: d::Hash::ZERO,
            event: d::Event::SupportGranted(d::SupportGranted {
                partner: "OCP".into(),
                kind: d::SupportKind::Commercialisation,
                amount_centimes: None,
                description: "Act4Community".into(),
                granted_on: d::Date::parse("2020-04-10").expect("date"),
            }),
        };
        env.hash = d::chain_hash(&env);
        env
    }

    #[test]
    fn envelope_round_trips_through_protobuf_bytes() {
        let env = sample();
        let back = decode_envelope(&encode_envelope(&env)).expect("decode");
        assert_eq!(back, env);
        assert_eq!(d::chain_hash(&back), env.hash);
    }

    #[test]
    fn garbage_bytes_are_a_decode_error_not_a_panic() {
        assert!(decode_envelope(&[0xff, 0xff, 0xff]).is_err());
        assert!(decode_envelope(&[]).is_err());
    }

    #[test]
    fn unknown_enum_value_names_the_field() {
        let req = v1::HaltRequest {
            meta: Some(v1::CommandMeta {
                request_id: "r".into(),
                cooperative_id: "REH-1".into(),
                expected_version: None,
                correlation_id: String::new(),
            }),
            data: Some(v1::ActivityHalted {
                effective_on: "2020-03-20".into(),
                scope: 99,
                ..Default::default()
            }),
            legal_basis: None,
        };
        let err = req.into_command().expect_err("scope 99");
        assert_eq!(err.rule(), Rule::InvalidEnum);
        assert_eq!(err.field(), Some("scope"));
    }
}
