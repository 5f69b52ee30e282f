//! Reporting: the rejects file (fix it in a spreadsheet, import it again) and the summary a
//! CLI prints as a table or JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use serde::Serialize;

use crate::columns::REJECT_COLUMN;
use crate::export::{CsvExport, ExportError, Separator};
use crate::normalize::key;
use crate::{Import, RowError};

/// The refused rows of an import, with their original cells and why.
#[derive(Debug, Clone, Default)]
pub struct Rejects {
    headers: Vec<String>,
    rows: Vec<(Vec<String>, String)>,
}

/// The text of the `Motif du rejet` cell.
pub fn reason(e: &RowError) -> String {
    let column = e
        .column
        .as_ref()
        .map(|c| format!(", column {c}"))
        .unwrap_or_default();
    format!("{}: {} ({}{column})", e.rule, e.message, e.location)
}

impl Rejects {
    /// The refused rows of `import`, in file order.
    pub fn from_import(import: &Import) -> Self {
        let rows = import
            .rows
            .iter()
            .filter_map(|r| {
                r.result
                    .as_ref()
                    .err()
                    .map(|e| (r.cells.clone(), reason(e)))
            })
            .collect();
        Self {
            headers: import.headers.clone(),
            rows,
        }
    }

    /// No refused rows yet, under `import`'s headers (add them with [`Rejects::push`]).
    pub fn for_import(import: &Import) -> Self {
        Self {
            headers: import.headers.clone(),
            rows: Vec::new(),
        }
    }

    /// Adds a refused row: its cells and the reason (e.g. the server's refusal of a row the
    /// importer accepted).
    pub fn push(&mut self, cells: Vec<String>, reason: String) {
        self.rows.push((cells, reason));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the file: the original headers plus `Motif du rejet` (replacing the reason of an
    /// earlier round when the file was itself a rejects file), one line per refused row.
    /// UTF-8 with a BOM, formula-like cells neutralised: importing it again reads the same
    /// cells and ignores the reason column.
    pub fn write_csv<W: Write>(&self, out: W, sep: Separator) -> Result<W, ExportError> {
        let motif = self
            .headers
            .iter()
            .position(|h| key(h) == key(REJECT_COLUMN));
        let mut headers = self.headers.clone();
        let at = motif.unwrap_or_else(|| {
            headers.push(REJECT_COLUMN.to_owned());
            headers.len() - 1
        });
        let mut w = CsvExport::new(out, sep)?;
        w.write_row(&headers)?;
        for (cells, why) in &self.rows {
            let mut line = cells.clone();
            line.resize(headers.len().max(line.len()), String::new());
            line[at] = why.clone();
            w.write_row(&line)?;
        }
        w.finish()
    }
}

/// What became of one request sent to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "rule", rename_all = "snake_case")]
pub enum Outcome {
    /// Recorded now.
    Accepted,
    /// The server had already answered this request id (`duplicate` set): nothing new.
    AlreadyThere,
    /// The request id was used before with other content (`request_id_reused`): the row
    /// changed since it was first imported.
    Conflict,
    /// Refused with this rule (the server's `relance-rule`, or a row error's rule).
    Rejected(String),
}

impl Outcome {
    /// From a `CommandReply`'s `duplicate` flag.
    pub fn from_reply(duplicate: bool) -> Self {
        if duplicate {
            Outcome::AlreadyThere
        } else {
            Outcome::Accepted
        }
    }

    /// From a refusal's rule name (`relance-rule` metadata).
    pub fn from_rule(rule: &str) -> Self {
        if rule == "request_id_reused" {
            Outcome::Conflict
        } else {
            Outcome::Rejected(rule.to_owned())
        }
    }
}

/// Counts of an import: rows read, requests ready, and once sent, what the server said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub rows: u64,
    /// Requests built (not yet sent, or sent: see the next counts).
    pub ready: u64,
    pub accepted: u64,
    pub already_there: u64,
    pub conflicts: u64,
    /// Rows refused, by the importer or the server.
    pub rejected: u64,
    pub rejected_by_rule: BTreeMap<String, u64>,
}

impl Summary {
    /// The counts of a file read but not sent: its rows, ready requests, and refused rows.
    pub fn from_import(import: &Import) -> Self {
        let mut s = Summary {
            rows: import.rows.len() as u64,
            ..Summary::default()
        };
        for row in &import.rows {
            match &row.result {
                Ok(_) => s.ready += 1,
                Err(e) => s.record(&Outcome::Rejected(e.rule.name().to_owned())),
            }
        }
        s
    }

    /// Counts one server answer (or one local refusal).
    pub fn record(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::AlreadyThere => self.already_there += 1,
            Outcome::Conflict => self.conflicts += 1,
            Outcome::Rejected(rule) => {
                self.rejected += 1;
                *self.rejected_by_rule.entry(rule.clone()).or_default() += 1;
            }
        }
    }
}

/// A two-column table, one count per line, rejections by rule indented.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rejected_by_rule
            .keys()
            .map(|k| k.len() + 2)
            .chain([13])
            .max()
            .unwrap_or(13);
        let lines = [
            ("rows", self.rows),
            ("ready", self.ready),
            ("accepted", self.accepted),
            ("already there", self.already_there),
            ("conflicts", self.conflicts),
            ("rejected", self.rejected),
        ];
        for (label, n) in lines {
            writeln!(f, "{label:<width$}  {n:>8}")?;
        }
        for (rule, n) in &self.rejected_by_rule {
            writeln!(f, "{:<width$}  {n:>8}", format!("  {rule}"))?;
        }
        Ok(())
    }
}
