//! How answers are printed: a readable table, or JSON for programs.

use std::fmt::Write as _;

use anyhow::Result;
use relance_proto::v1;
use relance_proto::{sector_name, support_kind_name};

use crate::cli::Output;

mod sheet;

fn json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// MAD from centimes, with thousands separators: `1 250 000.00 MAD`.
pub fn mad(centimes: i64) -> String {
    let units = centimes / 100;
    let cents = (centimes % 100).abs();
    let digits = units.abs().to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(ch);
    }
    let sign = if centimes < 0 { "-" } else { "" };
    format!("{sign}{grouped}.{cents:02} MAD")
}

pub fn reply(out: Output, r: &v1::CommandReply) -> Result<()> {
    match out {
        Output::Json => json(r),
        Output::Table | Output::Csv => {
            let dup = if r.duplicate {
                " (duplicate: already recorded, nothing written)"
            } else {
                ""
            };
            println!(
                "recorded event {} — version {}, position {}{dup}",
                r.event_id, r.version, r.position
            );
            Ok(())
        }
    }
}

pub fn view(out: Output, v: &v1::CooperativeView) -> Result<()> {
    if out == Output::Json {
        return json(v);
    }
    let mut s = String::new();
    let _ = writeln!(s, "{} — {}", v.cooperative_id, v.name);
    let _ = writeln!(s, "  status            {}", v.status);
    let _ = writeln!(s, "  sector            {}", sector_name(v.sector));
    let _ = writeln!(s, "  commune           {}", v.commune);
    let _ = writeln!(
        s,
        "  register          {} no. {} (registered {})",
        v.registry_court, v.registry_number, v.registered_on
    );
    let _ = writeln!(
        s,
        "  activity          {} (originally {})",
        v.current_activity, v.original_activity
    );
    let _ = writeln!(
        s,
        "  headcount         {} members, {} employees (as of {})",
        v.members, v.employees, v.headcount_as_of
    );
    if let Some(h) = &v.open_halt {
        let _ = writeln!(
            s,
            "  open halt         since {} by {} ({}), {} workers idled — {}",
            h.since, h.authority, h.decision_ref, h.workers_affected, h.reason
        );
    }
    for h in &v.past_halts {
        let _ = writeln!(
            s,
            "  past halt         {} → {} by {}, {} workers back",
            h.since, h.until, h.authority, h.workers_back
        );
    }
    for r in &v.reorientations {
        let _ = writeln!(
            s,
            "  reorientation     {} → {} ({}), {}–{}/day from {}{}",
            r.from_activity,
            r.to_activity,
            r.product,
            r.capacity_min_per_day,
            r.capacity_max_per_day,
            r.effective_on,
            if r.notes.is_empty() {
                String::new()
            } else {
                format!("; {}", r.notes)
            }
        );
    }
    for a in &v.authorizations {
        let until = if a.valid_until.is_empty() {
            String::new()
        } else {
            format!(", valid until {}", a.valid_until)
        };
        let _ = writeln!(
            s,
            "  authorisation     {} {} for {} on {}{until}",
            a.issuing_body, a.reference, a.product, a.obtained_on
        );
    }
    for l in &v.support {
        let amount = l
            .amount_centimes
            .map(mad)
            .unwrap_or_else(|| "no amount".into());
        let _ = writeln!(
            s,
            "  support           {} {} on {}: {} — {}",
            l.partner,
            support_kind_name(l.kind),
            l.granted_on,
            amount,
            l.description
        );
    }
    for c in &v.sales_channels {
        let _ = writeln!(
            s,
            "  sales channel     {} in {} ({}) since {}",
            relance_proto::channel_from_wire(c.channel).map_or("unknown", |c| c.as_str()),
            c.city,
            relance_proto::standing_from_wire(c.standing).map_or("unknown", |s| s.as_str()),
            c.opened_on
        );
    }
    for r in &v.resumptions {
        let _ = writeln!(s, "  resumed           {r}");
    }
    if !v.retracted_event_ids.is_empty() {
        let _ = writeln!(
            s,
            "  retracted events  {}",
            v.retracted_event_ids.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "  version           {} (position {})",
        v.version, v.last_position
    );
    print!("{s}");
    Ok(())
}

pub fn list(out: Output, items: &[v1::CooperativeView], total: u64) -> Result<()> {
    if out == Output::Csv {
        return sheet::list(items);
    }
    if out == Output::Json {
        return json(&serde_json::json!({ "total": total, "cooperatives": items }));
    }
    println!(
        "{:<12} {:<32} {:<14} {:<11} {:<20} {:>7}",
        "ID", "NAME", "SECTOR", "STATUS", "COMMUNE", "VERSION"
    );
    for v in items {
        println!(
            "{:<12} {:<32} {:<14} {:<11} {:<20} {:>7}",
            v.cooperative_id,
            truncate(&v.name, 32),
            truncate(sector_name(v.sector), 14),
            v.status,
            truncate(&v.commune, 20),
            v.version
        );
    }
    println!("{total} cooperative(s)");
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// One line describing an event's facts.
pub fn describe(e: &v1::Envelope) -> String {
    use v1::envelope::Event as E;
    match &e.event {
        Some(E::CooperativeRegistered(r)) => format!(
            "registered: {} ({}, {}), {}, {} members, {} employees",
            r.name,
            sector_name(r.sector),
            r.activity,
            r.commune,
            r.members,
            r.employees
        ),
        Some(E::ActivityHalted(h)) => format!(
            "halted by {} ({}): {} — {} workers affected",
            h.authority,
            relance_proto::scope_from_wire(h.scope).map_or("?", |s| s.as_str()),
            h.reason,
            h.workers_affected
        ),
        Some(E::ActivityHaltedV2(h)) => format!(
            "halted by {} ({}{}): {} — {} workers affected",
            h.authority,
            relance_proto::scope_from_wire(h.scope).map_or("?", |s| s.as_str()),
            h.legal_basis
                .as_ref()
                .map(|b| format!(", {}", legal_basis(b)))
                .unwrap_or_default(),
            h.reason,
            h.workers_affected
        ),
        Some(E::ReorientationDeclared(r)) => format!(
            "reoriented from {} to {} ({}), {}–{} a day{}",
            r.from_activity,
            r.to_activity,
            r.product,
            r.capacity_min_per_day,
            r.capacity_max_per_day,
            if r.notes.is_empty() {
                String::new()
            } else {
                format!("; {}", r.notes)
            }
        ),
        Some(E::AuthorizationObtained(a)) => format!(
            "authorised by {} ({}) for {}{}",
            a.issuing_body,
            a.reference,
            a.product,
            if a.valid_until.is_empty() {
                String::new()
            } else {
                format!(", valid until {}", a.valid_until)
            }
        ),
        Some(E::SupportGranted(s)) => format!(
            "support from {} ({}){}: {}",
            s.partner,
            support_kind_name(s.kind),
            s.amount_centimes
                .map(|a| format!(", {}", mad(a)))
                .unwrap_or_default(),
            s.description
        ),
        Some(E::SalesChannelOpened(c)) => format!(
            "sales channel: {} in {} ({})",
            relance_proto::channel_from_wire(c.channel).map_or("?", |c| c.label()),
            c.city,
            relance_proto::standing_from_wire(c.standing).map_or("?", |s| s.as_str())
        ),
        Some(E::ActivityResumed(r)) => format!(
            "resumed{}, {} workers back",
            if r.authority.is_empty() {
                String::new()
            } else {
                format!(" by decision of {}", r.authority)
            },
            r.workers_back
        ),
        Some(E::HeadcountReported(h)) => format!(
            "headcount: {} members, {} employees",
            h.members, h.employees
        ),
        Some(E::EventRetracted(r)) => format!("retracts {}: {}", r.retracted_event_id, r.reason),
        None => "(empty event)".into(),
    }
}

/// "order Arrêté n° 12/2020 of 2020-03-19": a legal basis in a line.
fn legal_basis(b: &v1::LegalBasis) -> String {
    let mut out = relance_proto::legal_instrument_from_wire(b.instrument)
        .map(|i| format!("{} ", i.as_str()))
        .unwrap_or_default();
    out.push_str(&b.reference);
    if !b.issued_on.is_empty() {
        let _ = write!(out, " of {}", b.issued_on);
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix-ms time.
pub fn day_time_of(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        day_of(ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `YYYY-MM-DD` of a Unix-ms time.
pub fn day_of(ms: i64) -> String {
    relance_domain::Date::from_unix_ms(ms).to_string()
}

pub fn history(out: Output, h: &v1::HistoryReply) -> Result<()> {
    if out == Output::Csv {
        return sheet::history(h);
    }
    if out == Output::Json {
        return json(h);
    }
    println!(
        "{:>3}  {:<10}  {:<10}  {:<10}  WHAT",
        "V", "OCCURRED", "RECORDED", "BY"
    );
    for item in &h.events {
        let Some(e) = &item.envelope else { continue };
        let by = e.actor.as_ref().map_or("", |a| a.organisation.as_str());
        let mut line = format!(
            "{:>3}  {:<10}  {:<10}  {:<10}  {}",
            e.version,
            e.occurred_on,
            day_of(e.recorded_at_unix_ms),
            truncate(by, 10),
            describe(e)
        );
        if !item.retracted_by_event_id.is_empty() {
            let _ = write!(
                line,
                "  [RETRACTED on {} by {}: {}]",
                day_of(item.retracted_at_unix_ms),
                item.retracted_by_principal,
                item.retraction_reason
            );
        }
        println!("{line}");
    }
    Ok(())
}

pub fn summary(out: Output, s: &v1::ProvinceSummary) -> Result<()> {
    if out == Output::Csv {
        return sheet::summary(s);
    }
    if out == Output::Json {
        return json(s);
    }
    let total = s.cooperatives.max(1) as f64;
    println!("Province summary (position {})", s.position);
    println!(
        "  cooperatives      {}  ({} members, {} employees)",
        s.cooperatives, s.members, s.employees
    );
    println!("  by sector");
    let mut sectors = s.by_sector.clone();
    sectors.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    for c in &sectors {
        println!(
            "    {:<22} {:>5}  {:>5.1}%",
            c.key,
            c.count,
            c.count as f64 * 100.0 / total
        );
    }
    println!("  by status");
    for c in &s.by_status {
        println!("    {:<22} {:>5}", c.key, c.count);
    }
    println!("  workers idled by open halts   {}", s.workers_idled);
    println!(
        "  reoriented cooperatives       {} (capacity {}–{} a day)",
        s.reoriented, s.reoriented_capacity_min_per_day, s.reoriented_capacity_max_per_day
    );
    println!("  support by partner and kind");
    for t in &s.support {
        println!(
            "    {:<12} {:<18} {:>4} grant(s)  {:>20}",
            t.partner,
            support_kind_name(t.kind),
            t.count,
            if t.amount_centimes == 0 {
                "no amount".to_owned()
            } else {
                mad(t.amount_centimes)
            }
        );
    }
    if !s.resumptions_by_month.is_empty() {
        println!("  resumptions by month");
        for c in &s.resumptions_by_month {
            println!("    {:<22} {:>5}", c.key, c.count);
        }
    }
    Ok(())
}

/// A time series: one line per bucket.
pub fn series(out: Output, r: &v1::SeriesReply) -> Result<()> {
    if out == Output::Json {
        return json(r);
    }
    println!("Series (position {})", r.position);
    println!(
        "  {:<10} {:>6} {:>11} {:>14} {:>13} {:>7} {:>22}",
        "from", "halts", "resumptions", "reorientations", "workers idled", "grants", "support"
    );
    for p in &r.points {
        println!(
            "  {:<10} {:>6} {:>11} {:>14} {:>13} {:>7} {:>22}",
            p.start,
            p.halts,
            p.resumptions,
            p.reorientations,
            p.workers_idled,
            p.support_grants,
            mad(p.support_amount_centimes)
        );
    }
    Ok(())
}
