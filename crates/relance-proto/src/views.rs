//! Domain views to the wire: a cooperative's state, the province summary, display names.

use relance_domain as d;

use crate::convert::*;
use crate::v1;

fn halt_to_wire(h: &d::HaltPeriod) -> v1::HaltPeriod {
    v1::HaltPeriod {
        event_id: h.event_id.clone(),
        authority: h.authority.clone(),
        decision_ref: h.decision_ref.clone(),
        since: h.since.to_string(),
        reason: h.reason.clone(),
        scope: scope_to_wire(h.scope) as i32,
        workers_affected: h.workers_affected,
        until: date_str(h.until),
        workers_back: h.workers_back.unwrap_or(0),
    }
}

fn totals_to_wire(
    totals: &std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<d::SupportKind, d::Totals>,
    >,
) -> Vec<v1::SupportTotal> {
    totals
        .iter()
        .flat_map(|(partner, kinds)| {
            kinds.iter().map(move |(kind, t)| v1::SupportTotal {
                partner: partner.clone(),
                kind: support_kind_to_wire(*kind) as i32,
                count: t.count,
                amount_centimes: t.amount_centimes,
            })
        })
        .collect()
}

/// A cooperative's state → its wire view.
pub fn coop_view_to_wire(s: &d::CoopState) -> v1::CooperativeView {
    v1::CooperativeView {
        cooperative_id: s.id.to_string(),
        name: s.name.clone(),
        registry_court: s.registry_court.clone(),
        registry_number: s.registry_number.clone(),
        sector: sector_to_wire(s.sector) as i32,
        original_activity: s.original_activity.clone(),
        current_activity: s.current_activity.clone(),
        commune: s.commune.clone(),
        registered_on: s.registered_on.to_string(),
        status: s.status.as_str().to_owned(),
        open_halt: s.open_halt.as_ref().map(halt_to_wire),
        past_halts: s.past_halts.iter().map(halt_to_wire).collect(),
        reorientations: s.reorientations.iter().map(reorientation_to_wire).collect(),
        authorizations: s.authorizations.iter().map(authorization_to_wire).collect(),
        support: s
            .support
            .iter()
            .map(|l| v1::SupportLine {
                event_id: l.event_id.clone(),
                partner: l.partner.clone(),
                kind: support_kind_to_wire(l.kind) as i32,
                amount_centimes: l.amount_centimes,
                description: l.description.clone(),
                granted_on: l.granted_on.to_string(),
            })
            .collect(),
        support_totals: totals_to_wire(&s.support_totals),
        sales_channels: s
            .sales_channels
            .iter()
            .map(channel_opened_to_wire)
            .collect(),
        members: s.members,
        employees: s.employees,
        headcount_as_of: s.headcount_as_of.to_string(),
        resumptions: s.resumptions.iter().map(|d| d.to_string()).collect(),
        retracted_event_ids: s.retracted.clone(),
        version: s.version,
        last_position: s.last_position,
        last_changed_unix_ms: s.last_changed_ms,
        last_hash: s.last_hash.0.to_vec(),
    }
}

fn counts<K>(
    map: &std::collections::BTreeMap<K, u64>,
    key: impl Fn(&K) -> String,
) -> Vec<v1::Count> {
    map.iter()
        .map(|(k, v)| v1::Count {
            key: key(k),
            count: *v,
        })
        .collect()
}

/// The province summary → wire, stamped with the projection position it reflects.
pub fn summary_to_wire(s: &d::Summary, position: u64) -> v1::ProvinceSummary {
    v1::ProvinceSummary {
        cooperatives: s.cooperatives,
        members: s.members,
        employees: s.employees,
        by_sector: counts(&s.by_sector, |k| k.as_str().to_owned()),
        by_status: counts(&s.by_status, |k| k.as_str().to_owned()),
        by_commune: counts(&s.by_commune, |k| k.clone()),
        workers_idled: s.workers_idled,
        reoriented: s.reoriented,
        reoriented_capacity_min_per_day: s.reoriented_capacity_min_per_day,
        reoriented_capacity_max_per_day: s.reoriented_capacity_max_per_day,
        support: totals_to_wire(&s.support),
        resumptions_by_month: counts(&s.resumptions_by_month, |k| k.clone()),
        position,
    }
}

/// Snake_case name of a wire sector value (for display), or `"unknown"`.
pub fn sector_name(raw: i32) -> &'static str {
    sector_from_wire(raw).map_or("unknown", |s| s.as_str())
}

/// Snake_case name of a wire support kind (for display), or `"unknown"`.
pub fn support_kind_name(raw: i32) -> &'static str {
    support_kind_from_wire(raw).map_or("unknown", |s| s.as_str())
}
