//! What can go wrong: a whole file refused ([`ImportError`]) or one row refused ([`RowError`]).

use std::fmt;

use relance_domain::Rule;
use serde::Serialize;

/// A file refused as a whole: nothing of it is imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the file has {size} bytes, more than the limit of {limit} bytes: nothing was read")]
    TooLarge { size: u64, limit: u64 },
    #[error("the file is not a spreadsheet (CSV, XLSX or ODS): {detail}")]
    NotASpreadsheet { detail: String },
    #[error("the workbook cannot be read: {detail}")]
    Workbook { detail: String },
    #[error("the workbook has no sheet {wanted:?}; its sheets are: {}", available.join(", "))]
    SheetNotFound {
        wanted: String,
        available: Vec<String>,
    },
    #[error("the file holds no header row")]
    NoHeader,
    #[error("the file is not {encoding}: {detail}")]
    Encoding {
        encoding: &'static str,
        detail: String,
    },
    #[error("the CSV text cannot be read: {detail}")]
    Csv { detail: String },
    #[error(
        "required columns are missing: {}; the columns found are: {}",
        missing.join(", "),
        found.join(" | ")
    )]
    MissingColumns {
        missing: Vec<String>,
        found: Vec<String>,
    },
    #[error("columns {} all mean `{field}`: keep one, or say which with --map COLUMN=field", columns.join(" and "))]
    AmbiguousColumns { field: String, columns: Vec<String> },
    #[error("column mapping {entry:?}: {detail}")]
    Mapping { entry: String, detail: String },
}

/// Where a row or a cell is: a CSV line, a workbook cell (`Feuil1!C7`) or a workbook row
/// (`Feuil1!7:7`, Excel's notation for a whole row).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum Location {
    Line { line: u64 },
    Cell { sheet: String, cell: String },
    Row { sheet: String, row: u32 },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line { line } => write!(f, "line {line}"),
            Location::Cell { sheet, cell } => write!(f, "{sheet}!{cell}"),
            Location::Row { sheet, row } => write!(f, "{sheet}!{row}:{row}"),
        }
    }
}

/// The rule a row broke: one of the domain's (same names as the API) or one that only an
/// import can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowRule {
    /// A domain rule: `Rule::name()` is what is reported.
    Domain(Rule),
    /// The same cells as an earlier row.
    DuplicateRow,
    /// A second row for a cooperative already registered by an earlier row of the file.
    DuplicateCooperative,
    /// A second fact with the identity (kind, cooperative, date…) of an earlier row but
    /// other content.
    DuplicateFact,
    /// A workbook cell holding a formula: the importer never evaluates one.
    FormulaCell,
    /// A workbook cell holding an error value (`#DIV/0!`, `#N/A`…).
    CellError,
    /// Not a whole number (or an amount with more than two decimals).
    InvalidNumber,
}

impl RowRule {
    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            RowRule::Domain(r) => r.name(),
            RowRule::DuplicateRow => "duplicate_row",
            RowRule::DuplicateCooperative => "duplicate_cooperative",
            RowRule::DuplicateFact => "duplicate_fact",
            RowRule::FormulaCell => "formula_cell",
            RowRule::CellError => "cell_error",
            RowRule::InvalidNumber => "invalid_number",
        }
    }
}

impl From<Rule> for RowRule {
    fn from(r: Rule) -> Self {
        RowRule::Domain(r)
    }
}

impl fmt::Display for RowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for RowRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One refused row: where, which column, the value as read, the rule and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{location}{}: rule {rule}: {message}", column.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct RowError {
    pub location: Location,
    /// The column's header as written in the file, when the error is about one cell.
    pub column: Option<String>,
    /// The offending value as read (cut at 200 characters for display).
    pub value: String,
    pub rule: RowRule,
    pub message: String,
}

/// Longest value quoted in a [`RowError`].
const SHOWN_VALUE: usize = 200;

pub(crate) fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN_VALUE {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(SHOWN_VALUE).collect();
        s.push('…');
        s
    }
}
