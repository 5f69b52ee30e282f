//! How to read a file: forced encoding or separator, sheet, size bound, column overrides,
//! the importing organisation and today's date.

use std::fmt;
use std::str::FromStr;

use relance_domain::Date;

use crate::ImportError;

/// Default bound on a file's size: 100 MB.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1000 * 1000;

/// Which register a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// One row = one registration.
    Cooperatives,
    /// One row = one fact; a `Type` column says which.
    Facts,
}

/// A text encoding the importer can read (forced with [`Options::encoding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Windows1252,
    Windows1256,
}

impl Encoding {
    /// The WHATWG name (`UTF-8`, `windows-1252`…).
    pub fn name(self) -> &'static str {
        self.encoding().name()
    }

    pub(crate) fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            Encoding::Utf8 => encoding_rs::UTF_8,
            Encoding::Utf16Le => encoding_rs::UTF_16LE,
            Encoding::Utf16Be => encoding_rs::UTF_16BE,
            Encoding::Windows1252 => encoding_rs::WINDOWS_1252,
            Encoding::Windows1256 => encoding_rs::WINDOWS_1256,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = String;
    /// `utf-8`/`utf8`, `utf-16le`, `utf-16be`, `windows-1252`/`cp1252`/`latin1`,
    /// `windows-1256`/`cp1256`/`arabic`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let k: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Ok(match k.as_str() {
            "utf8" => Encoding::Utf8,
            "utf16le" | "utf16" | "unicode" => Encoding::Utf16Le,
            "utf16be" => Encoding::Utf16Be,
            "windows1252" | "cp1252" | "latin1" | "iso88591" | "ansi" => Encoding::Windows1252,
            "windows1256" | "cp1256" | "arabic" => Encoding::Windows1256,
            _ => {
                return Err(format!(
                    "unknown encoding {s:?}: use utf-8, utf-16le, utf-16be, windows-1252 or windows-1256"
                ))
            }
        })
    }
}

/// `COLUMN=field`: the column with that header holds that field (`--map`). The field `ignore`
/// (or `-`) makes the importer skip a column it would otherwise read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnOverride {
    pub column: String,
    pub field: String,
}

impl FromStr for ColumnOverride {
    type Err = ImportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (column, field) = s.rsplit_once('=').ok_or_else(|| ImportError::Mapping {
            entry: s.to_owned(),
            detail: "expected COLUMN=field".into(),
        })?;
        if column.trim().is_empty() || field.trim().is_empty() {
            return Err(ImportError::Mapping {
                entry: s.to_owned(),
                detail: "expected COLUMN=field, both non-empty".into(),
            });
        }
        Ok(Self {
            column: column.trim().to_owned(),
            field: field.trim().to_owned(),
        })
    }
}

/// How to read a file. `Options::default()` detects everything.
#[derive(Debug, Clone)]
pub struct Options {
    /// Text encoding of a CSV file; `None` detects it (BOM, valid UTF-8, then 1252 vs 1256).
    pub encoding: Option<Encoding>,
    /// Field separator of a CSV file (`b','`, `b';'`, `b'\t'`); `None` detects it.
    pub separator: Option<u8>,
    /// Sheet of a workbook; `None` reads the first.
    pub sheet: Option<String>,
    /// Files larger than this are refused before reading.
    pub max_bytes: u64,
    /// Column overrides, applied before the header names are matched.
    pub column_map: Vec<ColumnOverride>,
    /// When set, the organisation importing: support rows in another partner's name are
    /// refused (`support_not_in_own_name`), and an empty partner cell means this one.
    pub importing_org: Option<String>,
    /// When set, facts dated after it are refused (`date_in_future`), as the server would.
    pub today: Option<Date>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            encoding: None,
            separator: None,
            sheet: None,
            max_bytes: DEFAULT_MAX_BYTES,
            column_map: Vec::new(),
            importing_org: None,
            today: None,
        }
    }
}
