//! Any supported file → a header row and data rows of [`Cell`]s, each row knowing where it is.

use std::io::Cursor;

use calamine::{Data, Ods, Reader, Xls, Xlsx};
use serde::Serialize;

use crate::decode::{decode, known_binary};
use crate::{Encoding, ImportError, Location, Options};

/// The container a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Xlsx,
    Xls,
    Ods,
}

/// How a file was read: its format, and the encoding and separator (CSV) or sheet (workbook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub format: Format,
    pub encoding: Option<Encoding>,
    pub separator: Option<char>,
    pub sheet: Option<String>,
}

/// One cell as read. CSV cells are all text; workbooks keep their types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Empty,
    Text(String),
    Number(f64),
    /// A date cell (year, month, day); any time of day is dropped.
    Date(i32, u32, u32),
    Bool(bool),
    /// A formula, as written (never evaluated).
    Formula(String),
    /// An error value such as `#DIV/0!`.
    Error(String),
}

impl Cell {
    /// The cell as text, as a person would type it back (rejects file, error messages).
    pub(crate) fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => number_text(*n),
            Cell::Date(y, m, d) => format!("{y:04}-{m:02}-{d:02}"),
            Cell::Bool(b) => b.to_string(),
            Cell::Formula(f) if f.starts_with('=') => f.clone(),
            Cell::Formula(f) => format!("={f}"),
            Cell::Error(e) => e.clone(),
        }
    }

    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

pub(crate) fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// One data row: its number (CSV line, or 1-based sheet row) and its cells in header order.
#[derive(Debug, Clone)]
pub(crate) struct RawRow {
    pub number: u64,
    pub cells: Vec<Cell>,
}

/// A file read into rows.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub source: Source,
    pub headers: Vec<String>,
    pub rows: Vec<RawRow>,
    /// Column of the first cell (workbooks whose used range does not start at A).
    pub first_col: u32,
}

impl Table {
    /// Where a row is.
    pub(crate) fn row_location(&self, row: &RawRow) -> Location {
        match &self.source.sheet {
            None => Location::Line { line: row.number },
            Some(sheet) => Location::Row {
                sheet: sheet.clone(),
                row: u32::try_from(row.number).unwrap_or(u32::MAX),
            },
        }
    }

    /// Where a cell is (a CSV cell is located by its line; the column is named beside).
    pub(crate) fn cell_location(&self, row: &RawRow, col: usize) -> Location {
        match &self.source.sheet {
            None => Location::Line { line: row.number },
            Some(sheet) => Location::Cell {
                sheet: sheet.clone(),
                cell: format!(
                    "{}{}",
                    column_letters(self.first_col as usize + col),
                    row.number
                ),
            },
        }
    }
}

/// `0 → A`, `25 → Z`, `26 → AA`.
pub(crate) fn column_letters(mut col: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Reads any supported file from its bytes (the size bound is checked by the caller).
pub(crate) fn read_table(bytes: &[u8], opts: &Options) -> Result<Table, ImportError> {
    if let Some(what) = known_binary(bytes) {
        return Err(ImportError::NotASpreadsheet {
            detail: format!("it is {what}"),
        });
    }
    if bytes.starts_with(b"PK\x03\x04") {
        let is_ods = bytes.get(..200).is_some_and(|h| {
            h.windows(39)
                .any(|w| w == b"application/vnd.oasis.opendocument.spr")
        });
        if !is_ods {
            if let Ok(wb) = calamine::open_workbook_from_rs::<Xlsx<_>, _>(Cursor::new(bytes)) {
                return read_workbook(wb, Format::Xlsx, opts);
            }
        }
        // An ODS whose `mimetype` entry is not first is still tried as one.
        let wb = calamine::open_workbook_from_rs::<Ods<_>, _>(Cursor::new(bytes)).map_err(|e| {
            ImportError::NotASpreadsheet {
                detail: format!("a ZIP archive that is neither XLSX nor ODS ({e})"),
            }
        })?;
        return read_workbook(wb, Format::Ods, opts);
    }
    if bytes.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        let wb = calamine::open_workbook_from_rs::<Xls<_>, _>(Cursor::new(bytes))
            .map_err(workbook_err)?;
        return read_workbook(wb, Format::Xls, opts);
    }
    read_csv(bytes, opts)
}

fn workbook_err(e: impl std::fmt::Display) -> ImportError {
    ImportError::Workbook {
        detail: e.to_string(),
    }
}

fn read_workbook<'a, R>(mut wb: R, format: Format, opts: &Options) -> Result<Table, ImportError>
where
    R: Reader<Cursor<&'a [u8]>>,
    R::Error: std::fmt::Display,
{
    let names = wb.sheet_names();
    let sheet = match &opts.sheet {
        None => names.first().cloned().ok_or(ImportError::NoHeader)?,
        Some(wanted) => names
            .iter()
            .find(|n| *n == wanted)
            .or_else(|| {
                names
                    .iter()
                    .find(|n| n.to_lowercase() == wanted.to_lowercase())
            })
            .cloned()
            .ok_or_else(|| ImportError::SheetNotFound {
                wanted: wanted.clone(),
                available: names.clone(),
            })?,
    };
    let range = wb.worksheet_range(&sheet).map_err(workbook_err)?;
    // Formulas are looked up by absolute position; a reader without them has none.
    let formulas = wb.worksheet_formula(&sheet).ok();
    let (r0, c0) = range.start().unwrap_or((0, 0));
    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let abs_r = r0 + i as u32;
        let cells: Vec<Cell> = row
            .iter()
            .enumerate()
            .map(|(j, data)| {
                let f = formulas
                    .as_ref()
                    .and_then(|f| f.get_value((abs_r, c0 + j as u32)))
                    .filter(|f| !f.is_empty());
                match f {
                    Some(f) => Cell::Formula(f.clone()),
                    None => cell_of(data),
                }
            })
            .collect();
        if cells.iter().all(Cell::is_blank) {
            continue;
        }
        if headers.is_none() {
            headers = Some(
                cells
                    .iter()
                    .map(|c| c.display().trim().to_owned())
                    .collect(),
            );
            continue;
        }
        rows.push(RawRow {
            number: u64::from(abs_r) + 1,
            cells,
        });
    }
    Ok(Table {
        source: Source {
            format,
            encoding: None,
            separator: None,
            sheet: Some(sheet),
        },
        headers: headers.ok_or(ImportError::NoHeader)?,
        rows,
        first_col: c0,
    })
}

fn cell_of(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            Cell::Date(i32::from(y), u32::from(m), u32::from(d))
        }
        Data::DateTime(dt) => Cell::Text(dt.to_string()),
        Data::DateTimeIso(s) => iso_date(s).unwrap_or_else(|| Cell::Text(s.clone())),
        Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}

/// `2020-03-20` or `2020-03-20T…` → a date cell.
fn iso_date(s: &str) -> Option<Cell> {
    let day = s.get(..10)?;
    let rest = s.get(10..)?;
    if !(rest.is_empty() || rest.starts_with('T')) {
        return None;
    }
    let mut parts = day.split('-');
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    Some(Cell::Date(y, m, d))
}

fn read_csv(bytes: &[u8], opts: &Options) -> Result<Table, ImportError> {
    let (text, encoding) = decode(bytes, opts.encoding)?;
    let sep = opts.separator.unwrap_or_else(|| detect_separator(&text));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let (mut line, mut counted) = (1u64, 0usize);
    for record in reader.records() {
        let record = record.map_err(|e| ImportError::Csv {
            detail: e.to_string(),
        })?;
        // The line a record starts on, counted from its byte offset (the reader's own line
        // count lags behind after CRLF and blank lines).
        let mut byte = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        // A record after a CRLF starts at its LF: step over the previous line's terminator.
        while matches!(text.as_bytes().get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        let start = text.get(counted..byte).unwrap_or("");
        line += start.bytes().filter(|b| *b == b'\n').count() as u64;
        counted = counted.max(byte);
        let cells: Vec<Cell> = record
            .iter()
            .map(|f| {
                if f.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(f.to_owned())
                }
            })
            .collect();
        if cells.iter().all(Cell::is_blank) {
            continue;
        }
        if headers.is_none() {
            headers = Some(
                cells
                    .iter()
                    .map(|c| c.display().trim().to_owned())
                    .collect(),
            );
            continue;
        }
        rows.push(RawRow {
            number: line,
            cells,
        });
    }
    Ok(Table {
        source: Source {
            format: Format::Csv,
            encoding: Some(encoding),
            separator: Some(char::from(sep)),
            sheet: None,
        },
        headers: headers.ok_or(ImportError::NoHeader)?,
        rows,
        first_col: 0,
    })
}

/// The separator that splits the first non-blank line most (outside quotes): tab, `;` or `,`.
fn detect_separator(text: &str) -> u8 {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [(b'\t', 0usize), (b';', 0), (b',', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (sep, n) in counts.iter_mut() {
                if *sep == b {
                    *n += 1;
                }
            }
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(sep, _)| *sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_follow_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(2), "C");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn separator_ignores_quoted_commas() {
        assert_eq!(detect_separator("\"a,b,c\";d;e\n"), b';');
        assert_eq!(detect_separator("a,b;c,d\n"), b',');
        assert_eq!(detect_separator("a\tb\tc;d\n"), b'\t');
    }
}
