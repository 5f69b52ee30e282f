//! The flags of `relance import cooperatives|facts`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// One row = one registration (Raison sociale, Tribunal, N° d'immatriculation, Date,
    /// Secteur, Activité, Commune…).
    Cooperatives(ImportArgs),
    /// One row = one fact; a `Type` column says which (arrêt, reprise, appui…).
    Facts(ImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The register: .csv (`,`, `;` or tab), .xlsx, .xls or .ods.
    pub file: PathBuf,
    /// Text encoding of a CSV file (utf-8, utf-16le, utf-16be, windows-1252, windows-1256);
    /// detected when absent.
    #[arg(long)]
    pub encoding: Option<String>,
    /// Field separator of a CSV file (`;`, `,` or `tab`); detected when absent.
    #[arg(long)]
    pub separator: Option<String>,
    /// Sheet of a workbook (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// `COLUMN=field`: read this column as that field (`ignore` skips it); repeatable.
    #[arg(long = "map", value_name = "COLUMN=field")]
    pub map: Vec<String>,
    /// Check every row against the node's current state; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write nothing if any row is rejected or conflicts: the whole file is checked first (a
    /// dry run), then written. Not a transaction: a change another writer makes between the
    /// check and the write can still refuse a row then (the summary shows it).
    #[arg(long)]
    pub all_or_nothing: bool,
    /// Write the refused rows here (CSV with the original columns and `Motif du rejet`), to
    /// fix in a spreadsheet and import again.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Rows per batch call (at most 1,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch_size: u16,
}
