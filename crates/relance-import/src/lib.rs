//! Reading the registers the prefecture and partners keep in spreadsheets into relance
//! command requests, row by row: each row becomes a ready `relance_proto::v1::*Request` or a
//! located [`RowError`] naming the rule it broke.
//!
//! ```no_run
//! use relance_import::{read_file, FileKind, Options, Rejects, Separator, Summary};
//! let import = read_file("registre.csv".as_ref(), FileKind::Cooperatives, &Options::default())?;
//! for req in import.requests() { /* send it: CooperativeCommands.Register… */ }
//! let rejects = Rejects::from_import(&import);
//! rejects.write_csv(std::fs::File::create("rejets.csv")?, Separator::Semicolon)?;
//! println!("{}", Summary::from_import(&import));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Formats
//!
//! - **CSV** separated by `,`, `;` (French Excel) or a tab (Excel's "Unicode text"), detected
//!   from the header line or forced ([`Options::separator`]); quoted fields.
//! - **Encodings**: a BOM (UTF-8, UTF-16 LE/BE) decides; else valid UTF-8 is UTF-8; else
//!   Windows-1256 when most non-ASCII bytes stand in runs of Arabic letters, Windows-1252
//!   otherwise. [`Options::encoding`] forces one.
//! - **XLSX**, **XLS** and **ODS** through `calamine`: the first sheet or [`Options::sheet`].
//!   Date cells are dates; a formula cell is refused (`formula_cell`), never evaluated; an
//!   error value is refused (`cell_error`).
//! - Anything else (an image, an archive, binary junk) is refused as a whole
//!   ([`ImportError::NotASpreadsheet`]), and a file over [`Options::max_bytes`] (100 MB by
//!   default) is refused before it is read.
//!
//! The header row is the first non-blank row; blank rows are skipped.
//!
//! # Columns
//!
//! Headers are matched ignoring case, accents, punctuation and spaces; [`Field::aliases`]
//! lists the names recognised, French and English; `--map COLUMN=field`
//! ([`ColumnOverride`], field names from [`Field::name`], or `ignore`) overrides. Unknown
//! columns are listed in [`Import::ignored_columns`]; two columns meaning the same field, or
//! a required column missing, refuse the file with a message naming what was found.
//!
//! **Cooperatives file** (one row = one registration), required: Raison sociale / Nom,
//! Tribunal, N° d'immatriculation / Numéro, Date de constitution / Date d'immatriculation,
//! Secteur, Branche d'activité / Activité, Commune; optional: Identifiant / ID, Nombre
//! d'adhérents / Adhérents, Effectif / Salariés (empty = 0).
//!
//! **Facts file** (one row = one fact), required: Type / Nature / kind, Date (the business
//! date), and Identifiant — or Tribunal and N° d'immatriculation. The `Type` says which
//! fact; the columns each reads (an absent column reads as empty):
//!
//! | Type | columns |
//! |---|---|
//! | halt / arrêt | Autorité*, Référence, Motif*, Portée* (totale / partielle), Travailleurs |
//! | resume / reprise | Autorité, Référence, Travailleurs |
//! | reorientation / réorientation | Ancienne activité*, Nouvelle activité*, Produit, Capacité min, Capacité max, Observations |
//! | authorisation / autorisation | Organisme* (else Autorité), Référence*, Produit, Valable jusqu'au |
//! | support / appui / soutien | Partenaire*, Type d'appui* (financier, commercialisation, technique, formation, équipement, en nature), Montant, Description |
//! | sales channel / canal de vente | Canal* (épiceries, pharmacies, parapharmacies, e-commerce, gros, souk, boutique, autre), Ville*, Statut du canal* (établi / essai) |
//! | headcount / effectif | Nombre d'adhérents, Effectif |
//!
//! (* required by the domain.)
//!
//! # Values
//!
//! - Text is trimmed of surrounding spaces and otherwise kept exactly (Arabic byte for
//!   byte). A cell starting with `=`, `+`, `-` or `@` is plain text, never evaluated; a
//!   leading `'` before such a character (the export's neutraliser) is taken off.
//! - Dates: `YYYY-MM-DD`, `DD/MM/YYYY` (also `D/M/YYYY`, `-` or `.` separators), spreadsheet
//!   date cells and serial numbers.
//! - Whole numbers: `1 200` (spaces, no-break and thin spaces as thousands separators); a
//!   leading `-` is a negative number, refused with `amount_negative`.
//! - Amounts in MAD: `1 953 875,00`, `1,953,875.00`, an optional `MAD`/`DH` suffix → centimes;
//!   more than two decimals is refused (`invalid_number`), so `1,234` is never misread.
//! - Sectors, kinds and the other enums match French and English words leniently; when none
//!   matches, the error lists the accepted values.
//!
//! # Ids
//!
//! A cooperative's id is its `Identifiant` cell (checked as the domain's `CoopId`), or else
//! [`derived_coop_id`] of its court and number (`Benguérir`, `12/2015` →
//! `BENGUERIR-12-2015`; `RC-` and a hash when a part is in another script). Request ids
//! come from the row's identity, never its whole content: `import:coop:ID`;
//! `import:KIND:ID:DATE` for a fact, with `:partner:kind` added for support,
//! `:channel:city` for a sales channel and `:reference` for an authorisation (two
//! certifications can share a day). Importing a file again resends the same ids (the server
//! answers `duplicate`); a changed row reuses its id with other content, which the server
//! refuses as `request_id_reused`, reported as a conflict ([`Outcome::Conflict`]).
//!
//! # Rules
//!
//! Each row runs `relance_proto`'s request conversion and the domain's `decide` on an empty
//! history, so every stateless rule is the API's own (`required_field`, `text_too_long`,
//! `control_character`, `invalid_date`, `invalid_enum`, `amount_negative`, `capacity_range`,
//! `validity_range`, `cooperative_id_format`, `date_in_future` when [`Options::today`] is
//! set…). [`Options::importing_org`] refuses support in another partner's name
//! (`support_not_in_own_name`). Import-only rules ([`RowRule`]): `duplicate_row`,
//! `duplicate_cooperative`, `duplicate_fact`, `formula_cell`, `cell_error`,
//! `invalid_number`.

mod columns;
mod decode;
mod error;
mod export;
mod ids;
mod import;
mod labels;
pub mod normalize;
mod options;
mod report;
mod request;
mod row;
mod rows;
mod table;
mod values;

pub use columns::{Field, REJECT_COLUMN};
pub use error::{ImportError, Location, RowError, RowRule};
pub use export::{neutralise, CsvExport, ExportError, Separator};
pub use ids::derived_coop_id;
pub use import::{read_bytes, read_file, FileReport, Import, Row};
pub use labels::FactKind;
pub use options::{ColumnOverride, Encoding, FileKind, Options, DEFAULT_MAX_BYTES};
pub use report::{reason, Outcome, Rejects, Summary};
pub use request::Request;
pub use table::{Format, Source};
