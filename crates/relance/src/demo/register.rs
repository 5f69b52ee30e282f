//! The demo's province as a register a prefecture might keep in a spreadsheet: one line per
//! cooperative the demo registers, with French headers. Illustrative (see the module docs of
//! `demo`): `relance demo --write-register FILE` writes it, `relance import cooperatives FILE`
//! loads it; docs/samples/rehamna-register.csv is this file, checked by a test.

use std::io::Write;

use anyhow::Result;
use relance_import::{CsvExport, Separator};
use relance_proto::v1::envelope::Event as E;

/// The register's CSV bytes (UTF-8 with a BOM, `;`, CRLF).
pub fn register_csv() -> Result<Vec<u8>> {
    let mut w = CsvExport::new(Vec::new(), Separator::Semicolon)?;
    w.write_row([
        "Identifiant",
        "Raison sociale",
        "Tribunal",
        "N° d'immatriculation",
        "Date de constitution",
        "Secteur",
        "Branche d'activité",
        "Commune",
        "Nombre d'adhérents",
        "Effectif",
    ])?;
    for step in super::scenario() {
        let E::CooperativeRegistered(r) = &step.event else {
            continue;
        };
        let sector = relance_proto::sector_name(r.sector);
        w.write_row([
            step.coop.as_str(),
            &r.name,
            &r.registry_court,
            &r.registry_number,
            &r.registered_on,
            sector,
            &r.activity,
            &r.commune,
            &r.members.to_string(),
            &r.employees.to_string(),
        ])?;
    }
    Ok(w.finish()?)
}

/// `relance demo --write-register FILE`.
pub fn write_register(path: &std::path::Path) -> Result<()> {
    let bytes = register_csv()?;
    let mut f = std::fs::File::create(path)?;
    f.write_all(&bytes)?;
    eprintln!(
        "wrote the demo's illustrative register of Rehamna to {} — load it with `relance import cooperatives {}`",
        path.display(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    /// docs/samples/rehamna-register.csv is what the demo writes (regenerate with
    /// `relance demo --write-register docs/samples/rehamna-register.csv`).
    #[test]
    fn the_committed_sample_register_is_up_to_date() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/samples/rehamna-register.csv"
        );
        let committed = std::fs::read(path).unwrap_or_default();
        let fresh = super::register_csv().expect("register");
        assert!(
            committed == fresh,
            "{path} is out of date: run `relance demo --write-register {path}`"
        );
    }

    /// Every line of the register reads back through relance-import without a refusal.
    #[test]
    fn the_register_reads_back_without_refusals() {
        let bytes = super::register_csv().expect("register");
        let import = relance_import::read_bytes(
            &bytes,
            relance_import::FileKind::Cooperatives,
            &relance_import::Options::default(),
        )
        .expect("reads");
        let errors: Vec<_> = import.errors().take(3).collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(import.rows.len() > 250, "{}", import.rows.len());
    }
}
