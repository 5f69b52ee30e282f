//! One row → one request: a registration (cooperatives file) or one fact (facts file).

use relance_domain::{Rule, SupportKind};
use relance_proto::v1;
use relance_proto::{
    channel_to_wire, scope_to_wire, sector_to_wire, standing_to_wire, support_kind_to_wire,
};

use crate::columns::Field;
use crate::ids::{request_id, Identity};
use crate::labels::{self, CHANNEL, SCOPE, STANDING, SUPPORT_KIND};
use crate::request::meta;
use crate::row::RowCtx;
use crate::{FactKind, Request, RowError};

/// A cooperatives row → `RegisterRequest`.
pub(crate) fn cooperative(ctx: &RowCtx<'_>) -> Result<Request, Box<RowError>> {
    ctx.precheck()?;
    let id = ctx.coop_id()?;
    let sector = ctx.choice_with(Field::Sector, labels::sector, &labels::sectors_accepted())?;
    let data = v1::CooperativeRegistered {
        name: ctx.text(Field::Name),
        registry_court: ctx.text(Field::Court),
        registry_number: ctx.text(Field::Number),
        sector: sector_to_wire(sector) as i32,
        activity: ctx.text(Field::Activity),
        commune: ctx.text(Field::Commune),
        members: ctx.count_u64(Field::Members)?,
        employees: ctx.count_u64(Field::Employees)?,
        registered_on: ctx.date(Field::RegisteredOn)?,
    };
    let rid = request_id(FactKind::Registration, &id, Identity::Cooperative);
    let req = Request::Register(v1::RegisterRequest {
        meta: meta(rid, &id),
        data: Some(data),
    });
    ctx.validate(&req)?;
    Ok(req)
}

/// A facts row → the request for its kind.
pub(crate) fn fact(ctx: &RowCtx<'_>) -> Result<Request, Box<RowError>> {
    ctx.precheck()?;
    let kind = ctx.choice_with(
        Field::Kind,
        labels::fact_kind,
        &labels::fact_kinds_accepted(),
    )?;
    let id = ctx.coop_id()?;
    let date = ctx.date(Field::Date)?;
    let req = match kind {
        FactKind::Halt => halt(ctx, &id, date)?,
        FactKind::Resume => resume(ctx, &id, date)?,
        FactKind::Reorientation => reorientation(ctx, &id, date)?,
        FactKind::Authorisation => authorisation(ctx, &id, date)?,
        FactKind::Support => support(ctx, &id, date)?,
        FactKind::SalesChannel => channel(ctx, &id, date)?,
        FactKind::Headcount => headcount(ctx, &id, date)?,
        FactKind::Registration => {
            return Err(ctx.err(
                Field::Kind,
                (
                    Rule::InvalidEnum.into(),
                    "registrations go in a cooperatives file".into(),
                ),
            ))
        }
    };
    ctx.validate(&req)?;
    if let (Request::GrantSupport(r), Some(org)) = (&req, &ctx.opts.importing_org) {
        let partner = r
            .data
            .as_ref()
            .map(|d| d.partner.as_str())
            .unwrap_or_default();
        if partner != org {
            return Err(ctx.err(
                Field::Partner,
                (
                    Rule::SupportNotInOwnName.into(),
                    format!("is {partner:?} but this import is in the name of {org:?}: a partner records support only in its own name"),
                ),
            ));
        }
    }
    Ok(req)
}

fn plain_id(kind: FactKind, id: &str, date: &str) -> Option<v1::CommandMeta> {
    meta(request_id(kind, id, Identity::Fact { date }), id)
}

fn halt(ctx: &RowCtx<'_>, id: &str, date: String) -> Result<Request, Box<RowError>> {
    let scope = ctx.choice(Field::Scope, &SCOPE)?;
    Ok(Request::Halt(v1::HaltRequest {
        meta: plain_id(FactKind::Halt, id, &date),
        data: Some(v1::ActivityHalted {
            authority: ctx.text(Field::Authority),
            decision_ref: ctx.text(Field::Reference),
            effective_on: date,
            reason: ctx.text(Field::Reason),
            scope: scope_to_wire(scope) as i32,
            workers_affected: ctx.count_u64(Field::Workers)?,
        }),
        legal_basis: None,
    }))
}

fn resume(ctx: &RowCtx<'_>, id: &str, date: String) -> Result<Request, Box<RowError>> {
    Ok(Request::Resume(v1::ResumeRequest {
        meta: plain_id(FactKind::Resume, id, &date),
        data: Some(v1::ActivityResumed {
            authority: ctx.text(Field::Authority),
            decision_ref: ctx.text(Field::Reference),
            effective_on: date,
            workers_back: ctx.count_u64(Field::Workers)?,
        }),
    }))
}

fn reorientation(ctx: &RowCtx<'_>, id: &str, date: String) -> Result<Request, Box<RowError>> {
    Ok(Request::Reorient(v1::ReorientRequest {
        meta: plain_id(FactKind::Reorientation, id, &date),
        data: Some(v1::ReorientationDeclared {
            from_activity: ctx.text(Field::FromActivity),
            to_activity: ctx.text(Field::ToActivity),
            product: ctx.text(Field::Product),
            capacity_min_per_day: ctx.count_u64(Field::CapacityMin)?,
            capacity_max_per_day: ctx.count_u64(Field::CapacityMax)?,
            notes: ctx.text(Field::Notes),
            effective_on: date,
        }),
    }))
}

fn authorisation(ctx: &RowCtx<'_>, id: &str, date: String) -> Result<Request, Box<RowError>> {
    let body = if ctx.has(Field::IssuingBody) {
        ctx.text(Field::IssuingBody)
    } else {
        ctx.text(Field::Authority)
    };
    let reference = ctx.text(Field::Reference);
    let rid = request_id(
        FactKind::Authorisation,
        id,
        Identity::Authorisation {
            date: &date,
            reference: &reference,
        },
    );
    Ok(Request::Authorize(v1::AuthorizeRequest {
        meta: meta(rid, id),
        data: Some(v1::AuthorizationObtained {
            issuing_body: body,
            reference,
            product: ctx.text(Field::Product),
            obtained_on: date,
            valid_until: ctx.opt_date(Field::ValidUntil)?,
        }),
    }))
}

fn support(ctx: &RowCtx<'_>, id: &str, date: String) -> Result<Request, Box<RowError>> {
    let kind: SupportKind = ctx.choice(Field::SupportKind, &SUPPORT_KIND)?;
    let mut partner = ctx.text(Field::Partner);
    if partner.is_empty() {
        if let Some(org) = &ctx.opts.importing_org {
            partner = org.clone();
        }
    }
    let rid = request_id(
        FactKind::Support,
        id,
        Identity::Support {
            date: &date,
            partner: &partner,
            kind: kind.as_str(),
        },
    );
    Ok(Request::GrantSupport(v1::GrantSupportRequest {
        meta: meta(rid, id),
        data: Some(v1::SupportGranted {
            partner,
            kind: support_kind_to_wire(kind) as i32,
            amount_centimes: ctx.amount(Field::Amount)?,
            description: ctx.text(Field::Description),
            granted_on: date,
        }),
    }))
}

fn channel(ctx: &RowCtx<'_>, id: &str, date: String) -> Result<Request, Box<RowError>> {
    let channel = ctx.choice(Field::Channel, &CHANNEL)?;
    let standing = ctx.choice(Field::Standing, &STANDING)?;
    let city = ctx.text(Field::City);
    let rid = request_id(
        FactKind::SalesChannel,
        id,
        Identity::Channel {
            date: &date,
            channel: channel.as_str(),
            city: &city,
        },
    );
    Ok(Request::OpenSalesChannel(v1::OpenSalesChannelRequest {
        meta: meta(rid, id),
        data: Some(v1::SalesChannelOpened {
            channel: channel_to_wire(channel) as i32,
            city,
            standing: standing_to_wire(standing) as i32,
            opened_on: date,
        }),
    }))
}

fn headcount(ctx: &RowCtx<'_>, id: &str, date: String) -> Result<Request, Box<RowError>> {
    Ok(Request::ReportHeadcount(v1::ReportHeadcountRequest {
        meta: plain_id(FactKind::Headcount, id, &date),
        data: Some(v1::HeadcountReported {
            members: ctx.count_u64(Field::Members)?,
            employees: ctx.count_u64(Field::Employees)?,
            as_of: date,
        }),
    }))
}
