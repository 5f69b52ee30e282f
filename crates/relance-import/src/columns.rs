//! Fields and the header names registers use for them (French and English), `--map`
//! overrides, and the resolution of a header row into field → column.

use std::collections::BTreeMap;

use crate::normalize::key;
use crate::{FileKind, ImportError, Options};

macro_rules! fields {
    ($($v:ident => $name:literal, $label:literal, [$($alias:literal),* $(,)?];)+) => {
        /// A field the importer reads. `name()` is what `--map COLUMN=field` takes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Field { $($v,)+ }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$v,)+];

            /// The snake_case name (`--map` takes it).
            pub fn name(self) -> &'static str {
                match self { $(Field::$v => $name,)+ }
            }

            /// The usual French header, used when the column is absent from the file.
            pub fn label(self) -> &'static str {
                match self { $(Field::$v => $label,)+ }
            }

            /// Header names recognised for this field (matched with [`crate::normalize::key`]).
            pub fn aliases(self) -> &'static [&'static str] {
                match self { $(Field::$v => &[$name, $label, $($alias),*],)+ }
            }
        }
    };
}

fields! {
    Id => "cooperative_id", "Identifiant", ["ID", "Identifiant coopérative", "Cooperative ID", "Code", "Code coopérative"];
    Name => "name", "Raison sociale", ["Nom de la coopérative", "Nom", "Dénomination", "Name", "Cooperative name", "Coopérative"];
    Court => "registry_court", "Tribunal", ["Tribunal de première instance", "TPI", "Court", "Registry court"];
    Number => "registry_number", "N° d'immatriculation", ["Numéro", "Numéro d'immatriculation", "N°", "No", "Numéro au registre", "Registry number", "Number"];
    RegisteredOn => "registered_on", "Date de constitution", ["Date d'immatriculation", "Date de création", "Date", "Registered on", "Registration date"];
    Sector => "sector", "Secteur", ["Secteur d'activité", "Sector"];
    Activity => "activity", "Branche d'activité", ["Activité", "Activity", "Branche"];
    Commune => "commune", "Commune", ["Commune / Ville", "Municipality"];
    Members => "members", "Nombre d'adhérents", ["Adhérents", "Membres", "Nombre de membres", "Members"];
    Employees => "employees", "Effectif", ["Salariés", "Nombre de salariés", "Employés", "Employees", "Staff"];
    Kind => "kind", "Type", ["Nature", "Type de fait", "Fait", "Fact"];
    Date => "date", "Date", ["Date d'effet", "Date effective", "Date du fait", "Effective on", "As of"];
    Authority => "authority", "Autorité", ["Autorité de décision", "Authority"];
    Reference => "reference", "Référence", ["Réf", "Réf. décision", "Référence de la décision", "N° de décision", "Decision ref", "Decision reference"];
    Reason => "reason", "Motif", ["Raison", "Cause", "Reason"];
    Scope => "scope", "Portée", ["Étendue", "Arrêt total ou partiel", "Scope"];
    Workers => "workers", "Travailleurs", ["Travailleurs concernés", "Ouvriers", "Workers", "Workers affected", "Workers back"];
    FromActivity => "from_activity", "Ancienne activité", ["Activité d'origine", "Activité initiale", "From activity"];
    ToActivity => "to_activity", "Nouvelle activité", ["Activité nouvelle", "To activity"];
    Product => "product", "Produit", ["Product"];
    CapacityMin => "capacity_min", "Capacité min", ["Capacité minimale", "Capacité min par jour", "Capacity min", "Capacity min per day"];
    CapacityMax => "capacity_max", "Capacité max", ["Capacité maximale", "Capacité max par jour", "Capacity max", "Capacity max per day"];
    Notes => "notes", "Observations", ["Notes", "Remarques", "Commentaire"];
    IssuingBody => "issuing_body", "Organisme", ["Organisme émetteur", "Organisme de délivrance", "Issuing body"];
    ValidUntil => "valid_until", "Valable jusqu'au", ["Fin de validité", "Date de fin de validité", "Valid until"];
    Partner => "partner", "Partenaire", ["Bailleur", "Organisation", "Partner"];
    SupportKind => "support_kind", "Type d'appui", ["Nature de l'appui", "Type de soutien", "Support kind"];
    Amount => "amount", "Montant", ["Montant (MAD)", "Montant en DH", "Montant en dirhams", "Amount", "Amount (MAD)"];
    Description => "description", "Description", ["Objet", "Libellé"];
    Channel => "channel", "Canal", ["Canal de vente", "Channel", "Sales channel"];
    City => "city", "Ville", ["City"];
    Standing => "standing", "Statut du canal", ["Statut", "Standing"];
}

/// The column the rejects file adds; a re-imported rejects file ignores it silently.
pub const REJECT_COLUMN: &str = "Motif du rejet";

impl Field {
    /// The fields a kind of file may hold.
    pub fn of(kind: FileKind) -> &'static [Field] {
        use Field::*;
        match kind {
            FileKind::Cooperatives => &[
                Id,
                Name,
                Court,
                Number,
                RegisteredOn,
                Sector,
                Activity,
                Commune,
                Members,
                Employees,
            ],
            FileKind::Facts => &[
                Id,
                Court,
                Number,
                Kind,
                Date,
                Authority,
                Reference,
                Reason,
                Scope,
                Workers,
                FromActivity,
                ToActivity,
                Product,
                CapacityMin,
                CapacityMax,
                Notes,
                IssuingBody,
                ValidUntil,
                Partner,
                SupportKind,
                Amount,
                Description,
                Channel,
                City,
                Standing,
                Members,
                Employees,
            ],
        }
    }
}

/// A header row resolved: which column holds each field, and which columns were not used.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    pub by_field: BTreeMap<Field, usize>,
    pub ignored: Vec<String>,
}

impl Columns {
    pub(crate) fn get(&self, f: Field) -> Option<usize> {
        self.by_field.get(&f).copied()
    }
}

/// Resolves `headers` for a kind of file, with `opts.column_map` applied first.
pub(crate) fn resolve(
    headers: &[String],
    kind: FileKind,
    opts: &Options,
) -> Result<Columns, ImportError> {
    let allowed = Field::of(kind);
    let mut assigned: Vec<Option<Field>> = vec![None; headers.len()];
    let mut skipped = vec![false; headers.len()];
    for o in &opts.column_map {
        let entry = format!("{}={}", o.column, o.field);
        let col = headers
            .iter()
            .position(|h| h == &o.column)
            .or_else(|| headers.iter().position(|h| key(h) == key(&o.column)))
            .ok_or_else(|| ImportError::Mapping {
                entry: entry.clone(),
                detail: format!(
                    "no column {:?}; the columns are: {}",
                    o.column,
                    headers.join(" | ")
                ),
            })?;
        if matches!(o.field.as_str(), "ignore" | "-") {
            skipped[col] = true;
            continue;
        }
        let field = allowed
            .iter()
            .find(|f| f.name() == o.field || key(f.name()) == key(&o.field))
            .ok_or_else(|| ImportError::Mapping {
                entry: entry.clone(),
                detail: format!(
                    "unknown field {:?}; the fields are: {}, or ignore",
                    o.field,
                    allowed
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        assigned[col] = Some(*field);
    }
    let overridden: Vec<Field> = assigned.iter().flatten().copied().collect();
    let mut ignored = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if assigned[i].is_some() || skipped[i] {
            continue;
        }
        let k = key(h);
        if k.is_empty() || k == key(REJECT_COLUMN) {
            continue;
        }
        match allowed
            .iter()
            .find(|f| !overridden.contains(f) && f.aliases().iter().any(|a| key(a) == k))
        {
            Some(f) => assigned[i] = Some(*f),
            None => ignored.push(h.clone()),
        }
    }
    let mut by_field = BTreeMap::new();
    for (i, f) in assigned.iter().enumerate() {
        let Some(f) = f else { continue };
        if let Some(prev) = by_field.insert(*f, i) {
            return Err(ImportError::AmbiguousColumns {
                field: f.name().to_owned(),
                columns: vec![headers[prev].clone(), headers[i].clone()],
            });
        }
    }
    let cols = Columns { by_field, ignored };
    check_required(&cols, headers, kind)?;
    Ok(cols)
}

fn check_required(cols: &Columns, headers: &[String], kind: FileKind) -> Result<(), ImportError> {
    use Field::*;
    let mut missing = Vec::new();
    let required: &[Field] = match kind {
        FileKind::Cooperatives => &[Name, Court, Number, RegisteredOn, Sector, Activity, Commune],
        FileKind::Facts => &[Kind, Date],
    };
    for f in required {
        if cols.get(*f).is_none() {
            missing.push(format!("{} ({})", f.label(), f.name()));
        }
    }
    if kind == FileKind::Facts
        && cols.get(Id).is_none()
        && (cols.get(Court).is_none() || cols.get(Number).is_none())
    {
        missing.push(format!(
            "{} ({}), or {} and {}",
            Id.label(),
            Id.name(),
            Court.label(),
            Number.label()
        ));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ImportError::MissingColumns {
            missing,
            found: headers.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn french_headers_resolve_and_unknown_ones_are_listed() {
        let headers = h(&[
            "RAISON SOCIALE",
            "Tribunal",
            "N° d’immatriculation",
            "Date de constitution",
            "Secteur",
            "Activité",
            "Commune",
            "Adhérents",
            "Salariés",
            "Téléphone",
        ]);
        let cols = resolve(&headers, FileKind::Cooperatives, &Options::default()).expect("ok");
        assert_eq!(cols.get(Field::Name), Some(0));
        assert_eq!(cols.get(Field::Number), Some(2));
        assert_eq!(cols.get(Field::Employees), Some(8));
        assert_eq!(cols.ignored, vec!["Téléphone".to_owned()]);
    }

    #[test]
    fn missing_columns_name_what_is_missing_and_what_was_found() {
        let err = resolve(
            &h(&["Nom", "Ville"]),
            FileKind::Cooperatives,
            &Options::default(),
        )
        .expect_err("missing");
        let msg = err.to_string();
        assert!(msg.contains("Tribunal (registry_court)"), "{msg}");
        assert!(msg.contains("Nom | Ville"), "{msg}");
    }

    #[test]
    fn a_map_override_wins_and_ambiguity_is_refused() {
        let opts = Options {
            column_map: vec!["Intitulé=name".parse().expect("map")],
            ..Options::default()
        };
        let headers = h(&[
            "Intitulé",
            "Nom",
            "Tribunal",
            "N°",
            "Date",
            "Secteur",
            "Activité",
            "Commune",
        ]);
        let plain = resolve(&headers, FileKind::Cooperatives, &Options::default()).expect("plain");
        assert_eq!(plain.get(Field::Name), Some(1));
        let cols = resolve(&headers, FileKind::Cooperatives, &opts).expect("mapped");
        // The override wins; "Nom" is then an unused column, reported as such.
        assert_eq!(cols.get(Field::Name), Some(0));
        assert_eq!(cols.ignored, vec!["Nom".to_owned()]);
        let both = h(&[
            "Nom",
            "Raison sociale",
            "Tribunal",
            "N°",
            "Date de constitution",
            "Secteur",
            "Activité",
            "Commune",
        ]);
        let err =
            resolve(&both, FileKind::Cooperatives, &Options::default()).expect_err("ambiguous");
        assert!(matches!(err, ImportError::AmbiguousColumns { .. }), "{err}");
    }
}
