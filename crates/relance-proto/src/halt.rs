//! Halts on the wire: schema version 1 (`ActivityHalted`, a free-text `decision_ref`, still
//! read and upcast by the domain) and version 2 (`ActivityHaltedV2`, a structured
//! `LegalBasis`), and the Halt request, which takes either form of the legal basis.

use relance_domain as d;
use relance_domain::{Rejection, Rule};

use crate::convert::{
    count, date_str, legal_instrument_from_wire, legal_instrument_to_wire, meta, need, req_date,
    req_enum, scope_from_wire, scope_to_wire, CommandMeta, CommandRequest, FromWire,
};
use crate::v1;

/// A halt of schema version 1, as stored (the domain upcasts it).
impl FromWire for v1::ActivityHalted {
    type Domain = d::upcast::ActivityHaltedV1;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::upcast::ActivityHaltedV1 {
            effective_on: req_date("effective_on", &self.effective_on)?,
            scope: req_enum("scope", self.scope, scope_from_wire)?,
            authority: self.authority,
            decision_ref: self.decision_ref,
            reason: self.reason,
            workers_affected: count("workers_affected", self.workers_affected)?,
        })
    }
}

impl FromWire for v1::LegalBasis {
    type Domain = d::LegalBasis;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        let instrument = match self.instrument {
            0 => None,
            raw => Some(req_enum(
                "legal_basis.instrument",
                raw,
                legal_instrument_from_wire,
            )?),
        };
        let issued_on = match self.issued_on.as_str() {
            "" => None,
            raw => Some(req_date("legal_basis.issued_on", raw)?),
        };
        Ok(d::LegalBasis {
            instrument,
            reference: self.reference,
            issued_on,
        })
    }
}

impl FromWire for v1::ActivityHaltedV2 {
    type Domain = d::ActivityHalted;
    fn to_domain(self) -> Result<Self::Domain, Rejection> {
        Ok(d::ActivityHalted {
            effective_on: req_date("effective_on", &self.effective_on)?,
            scope: req_enum("scope", self.scope, scope_from_wire)?,
            authority: self.authority,
            legal_basis: self.legal_basis.map(FromWire::to_domain).transpose()?,
            reason: self.reason,
            workers_affected: count("workers_affected", self.workers_affected)?,
        })
    }
}

/// A halt's legal basis is the free text of `data.decision_ref` or the structured
/// `legal_basis`, not both.
impl CommandRequest for v1::HaltRequest {
    fn into_command(self) -> Result<(CommandMeta, d::Command), Rejection> {
        let meta = meta(self.meta)?;
        let mut halt = need(self.data)?.to_domain()?.upcast();
        if let Some(basis) = self.legal_basis {
            if halt.legal_basis.is_some() {
                return Err(Rejection::invalid(
                    "legal_basis",
                    Rule::MalformedRequest,
                    "is given with data.decision_ref: give the legal basis one way",
                ));
            }
            halt.legal_basis = Some(basis.to_domain()?);
        }
        Ok((meta, d::Command::Halt(halt)))
    }
}

/// A halt on the wire in the shape of its envelope's schema version: version 1 as it was
/// stored, version 2 otherwise.
pub(crate) fn halted_to_wire(e: &d::ActivityHalted, schema_version: u32) -> v1::envelope::Event {
    use v1::envelope::Event as W;
    match d::upcast::ActivityHaltedV1::of(e).filter(|_| schema_version == 1) {
        Some(old) => W::ActivityHalted(v1::ActivityHalted {
            authority: old.authority,
            decision_ref: old.decision_ref,
            effective_on: old.effective_on.to_string(),
            reason: old.reason,
            scope: scope_to_wire(old.scope) as i32,
            workers_affected: old.workers_affected.into(),
        }),
        None => W::ActivityHaltedV2(v1::ActivityHaltedV2 {
            authority: e.authority.clone(),
            legal_basis: e.legal_basis.as_ref().map(legal_basis_to_wire),
            effective_on: e.effective_on.to_string(),
            reason: e.reason.clone(),
            scope: scope_to_wire(e.scope) as i32,
            workers_affected: e.workers_affected.into(),
        }),
    }
}

/// Domain legal basis → wire.
pub fn legal_basis_to_wire(b: &d::LegalBasis) -> v1::LegalBasis {
    v1::LegalBasis {
        instrument: b
            .instrument
            .map_or(0, |i| legal_instrument_to_wire(i) as i32),
        reference: b.reference.clone(),
        issued_on: date_str(b.issued_on),
    }
}
