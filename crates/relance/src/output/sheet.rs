//! `--output csv`: the list, a history and the summary for spreadsheets, through
//! relance-import's `CsvExport` (UTF-8 with a BOM, `;`, formula-like cells neutralised).

use anyhow::Result;
use relance_import::{CsvExport, Separator};
use relance_proto::v1;
use relance_proto::{sector_name, support_kind_name};

use super::{day_of, describe};

fn write(rows: Vec<Vec<String>>) -> Result<()> {
    let stdout = std::io::stdout().lock();
    let mut w = CsvExport::new(std::io::BufWriter::new(stdout), Separator::Semicolon)?;
    for row in rows {
        w.write_row(row)?;
    }
    std::io::Write::flush(&mut w.finish()?)?;
    Ok(())
}

fn cells<const N: usize>(c: [&str; N]) -> Vec<String> {
    c.iter().map(|s| (*s).to_owned()).collect()
}

/// One line per cooperative, with the columns `relance import cooperatives` reads.
pub fn list(items: &[v1::CooperativeView]) -> Result<()> {
    let mut rows = vec![cells([
        "Identifiant",
        "Raison sociale",
        "Tribunal",
        "N° d'immatriculation",
        "Date d'immatriculation",
        "Secteur",
        "Activité",
        "Commune",
        "Nombre d'adhérents",
        "Effectif",
        "Statut",
        "Activité actuelle",
        "Version",
    ])];
    for v in items {
        rows.push(vec![
            v.cooperative_id.clone(),
            v.name.clone(),
            v.registry_court.clone(),
            v.registry_number.clone(),
            v.registered_on.clone(),
            sector_name(v.sector).to_owned(),
            v.original_activity.clone(),
            v.commune.clone(),
            v.members.to_string(),
            v.employees.to_string(),
            v.status.clone(),
            v.current_activity.clone(),
            v.version.to_string(),
        ]);
    }
    write(rows)
}

/// One line per event of a cooperative.
pub fn history(h: &v1::HistoryReply) -> Result<()> {
    let mut rows = vec![cells([
        "Version",
        "Date",
        "Enregistré le",
        "Par",
        "Organisation",
        "Fait",
        "Rétracté par",
        "Motif de rétractation",
        "Identifiant de l'événement",
    ])];
    for item in &h.events {
        let Some(e) = &item.envelope else { continue };
        let (principal, org) = e.actor.as_ref().map_or(("", ""), |a| {
            (a.principal.as_str(), a.organisation.as_str())
        });
        rows.push(vec![
            e.version.to_string(),
            e.occurred_on.clone(),
            day_of(e.recorded_at_unix_ms),
            principal.to_owned(),
            org.to_owned(),
            describe(e),
            item.retracted_by_event_id.clone(),
            item.retraction_reason.clone(),
            e.event_id.clone(),
        ]);
    }
    write(rows)
}

/// The summary as `Rubrique;Clé;Nombre;Montant (centimes)` lines.
pub fn summary(s: &v1::ProvinceSummary) -> Result<()> {
    let mut rows = vec![cells(["Rubrique", "Clé", "Nombre", "Montant (centimes)"])];
    let mut line =
        |a: &str, b: &str, n: String, m: String| rows.push(vec![a.into(), b.into(), n, m]);
    line("position", "", s.position.to_string(), String::new());
    line(
        "cooperatives",
        "",
        s.cooperatives.to_string(),
        String::new(),
    );
    line("members", "", s.members.to_string(), String::new());
    line("employees", "", s.employees.to_string(), String::new());
    for c in &s.by_sector {
        line("sector", &c.key, c.count.to_string(), String::new());
    }
    for c in &s.by_status {
        line("status", &c.key, c.count.to_string(), String::new());
    }
    line(
        "workers_idled",
        "",
        s.workers_idled.to_string(),
        String::new(),
    );
    line("reoriented", "", s.reoriented.to_string(), String::new());
    for t in &s.support {
        let key = format!("{} / {}", t.partner, support_kind_name(t.kind));
        line(
            "support",
            &key,
            t.count.to_string(),
            t.amount_centimes.to_string(),
        );
    }
    for c in &s.resumptions_by_month {
        line("resumptions", &c.key, c.count.to_string(), String::new());
    }
    write(rows)
}
