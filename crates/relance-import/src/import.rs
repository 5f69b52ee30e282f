//! A file → an [`Import`]: every data row, each a request or a located error, with
//! duplicates within the file found.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::columns::resolve;
use crate::normalize::key;
use crate::row::RowCtx;
use crate::table::read_table;
use crate::{rows, FileKind, ImportError, Location, Options, Request, RowError, RowRule, Source};

/// One data row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub location: Location,
    /// The row's cells as text, in the order of [`Import::headers`] (what the rejects file
    /// writes back).
    pub cells: Vec<String>,
    pub result: Result<Request, RowError>,
}

/// A file read: how, its headers, the columns it did not use, and its rows.
#[derive(Debug, Clone)]
pub struct Import {
    pub kind: FileKind,
    pub source: Source,
    pub headers: Vec<String>,
    /// Headers that match no field (reported, not read).
    pub ignored_columns: Vec<String>,
    pub rows: Vec<Row>,
}

impl Import {
    /// The ready requests, in file order.
    pub fn requests(&self) -> impl Iterator<Item = &Request> {
        self.rows.iter().filter_map(|r| r.result.as_ref().ok())
    }

    /// The refused rows' errors, in file order.
    pub fn errors(&self) -> impl Iterator<Item = &RowError> {
        self.rows.iter().filter_map(|r| r.result.as_ref().err())
    }
}

/// What [`Import`] reports about the file beside its rows, for a CLI's header line.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport<'a> {
    pub kind: FileKind,
    pub source: &'a Source,
    pub ignored_columns: &'a [String],
}

impl Import {
    pub fn file_report(&self) -> FileReport<'_> {
        FileReport {
            kind: self.kind,
            source: &self.source,
            ignored_columns: &self.ignored_columns,
        }
    }
}

/// Reads a file, refusing it before reading when it is larger than `opts.max_bytes`.
pub fn read_file(path: &Path, kind: FileKind, opts: &Options) -> Result<Import, ImportError> {
    let io = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > opts.max_bytes {
        return Err(ImportError::TooLarge {
            size,
            limit: opts.max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The bound again, in case the file grows while it is read.
    file.take(opts.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    read_bytes(&bytes, kind, opts)
}

/// Reads a file's bytes.
pub fn read_bytes(bytes: &[u8], kind: FileKind, opts: &Options) -> Result<Import, ImportError> {
    let size = bytes.len() as u64;
    if size > opts.max_bytes {
        return Err(ImportError::TooLarge {
            size,
            limit: opts.max_bytes,
        });
    }
    let table = read_table(bytes, opts)?;
    let cols = resolve(&table.headers, kind, opts)?;
    let mut rows: Vec<Row> = table
        .rows
        .iter()
        .map(|row| {
            let ctx = RowCtx {
                table: &table,
                cols: &cols,
                row,
                opts,
            };
            let result = match kind {
                FileKind::Cooperatives => rows::cooperative(&ctx),
                FileKind::Facts => rows::fact(&ctx),
            }
            .map_err(|e| *e);
            let mut cells: Vec<String> = row.cells.iter().map(|c| c.display()).collect();
            cells.resize(table.headers.len().max(cells.len()), String::new());
            Row {
                location: table.row_location(row),
                cells,
                result,
            }
        })
        .collect();
    mark_duplicates(&mut rows, kind);
    Ok(Import {
        kind,
        source: table.source,
        headers: table.headers,
        ignored_columns: cols.ignored,
        rows,
    })
}

/// Exact duplicate rows, a second registration of a cooperative, a second fact with the
/// identity of an earlier one: the later row is refused, naming the earlier one.
fn mark_duplicates(rows: &mut [Row], kind: FileKind) {
    let mut seen_cells: HashMap<Vec<String>, Location> = HashMap::new();
    let mut seen_ids: HashMap<String, (Location, Request)> = HashMap::new();
    let mut seen_entries: HashMap<(String, String), Location> = HashMap::new();
    for row in rows.iter_mut() {
        let mut content: Vec<String> = row.cells.iter().map(|c| c.trim().to_owned()).collect();
        while content.last().is_some_and(String::is_empty) {
            content.pop();
        }
        if let Some(first) = seen_cells.get(&content) {
            row.result = Err(dup(
                row,
                RowRule::DuplicateRow,
                format!("the same cells as {first}"),
            ));
            continue;
        }
        seen_cells.insert(content, row.location.clone());
        let Ok(req) = &row.result else { continue };
        let id_key = match kind {
            FileKind::Cooperatives => req.cooperative_id().to_owned(),
            FileKind::Facts => req.request_id().to_owned(),
        };
        if let Some((first, earlier)) = seen_ids.get(&id_key) {
            let (rule, msg) = match kind {
                FileKind::Cooperatives => (
                    RowRule::DuplicateCooperative,
                    format!("cooperative {id_key} is already registered by {first}"),
                ),
                FileKind::Facts if earlier == req => {
                    (RowRule::DuplicateRow, format!("the same fact as {first}"))
                }
                FileKind::Facts => (
                    RowRule::DuplicateFact,
                    format!("{first} records a {} of {} on the same date with other details: keep the right one", req.kind().as_str(), req.cooperative_id()),
                ),
            };
            row.result = Err(dup(row, rule, msg));
            continue;
        }
        if let Request::Register(r) = req {
            let entry = r
                .data
                .as_ref()
                .map(|d| (key(&d.registry_court), key(&d.registry_number)));
            if let Some(entry) = entry {
                if let Some(first) = seen_entries.get(&entry) {
                    let msg = format!("court and number already registered by {first}");
                    row.result = Err(dup(row, RowRule::DuplicateCooperative, msg));
                    continue;
                }
                seen_entries.insert(entry, row.location.clone());
            }
        }
        seen_ids.insert(id_key, (row.location.clone(), req.clone()));
    }
}

fn dup(row: &Row, rule: RowRule, message: String) -> RowError {
    RowError {
        location: row.location.clone(),
        column: None,
        value: String::new(),
        rule,
        message,
    }
}
