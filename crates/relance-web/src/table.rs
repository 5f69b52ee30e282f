//! Tables: built once as data, shown as HTML and downloaded as CSV (UTF-8 with a BOM, cells a
//! spreadsheet would run as a formula neutralised with a leading `'`).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::i18n::Lang;

/// One cell: what it shows, and what a CSV holds.
pub enum Cell {
    Text(String),
    /// A number: shown formatted for the language, written plain in CSV.
    Num {
        shown: String,
        raw: String,
    },
    Link {
        text: String,
        href: String,
    },
    /// Text struck through (a retracted fact), with why.
    Struck {
        text: String,
        note: String,
    },
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        Cell::Text(s.into())
    }

    pub fn int(lang: Lang, n: u64) -> Self {
        Cell::Num {
            shown: lang.int(n),
            raw: n.to_string(),
        }
    }

    pub fn mad(lang: Lang, centimes: i64) -> Self {
        Cell::Num {
            shown: lang.mad(centimes),
            raw: format!("{}.{:02}", centimes / 100, (centimes % 100).abs()),
        }
    }

    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Self {
        Cell::Link {
            text: text.into(),
            href: href.into(),
        }
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(t) | Cell::Link { text: t, .. } => t.clone(),
            Cell::Num { raw, .. } => raw.clone(),
            Cell::Struck { text, note } => format!("{text} [{note}]"),
        }
    }
}

/// A table of a page.
pub struct Table {
    /// Names the table in `?csv=` and in the HTML `id`.
    pub id: &'static str,
    pub caption: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(id: &'static str, caption: &str, headers: &[&str]) -> Self {
        Self {
            id,
            caption: caption.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// The table as HTML, with a link to its CSV (`csv_href`: the page's URL with `csv=ID`).
    pub fn html(&self, lang: Lang, csv_href: &str) -> Markup {
        html! {
            div.table {
                table id=(self.id) {
                    caption {
                        (self.caption) " "
                        a.csv href=(csv_href) download { (lang.t("table.csv")) }
                    }
                    thead { tr { @for h in &self.headers { th scope="col" { (h) } } } }
                    tbody {
                        @for row in &self.rows {
                            tr {
                                @for c in row {
                                    @match c {
                                        Cell::Text(t) => td { (t) },
                                        Cell::Num { shown, .. } => td.num { (shown) },
                                        Cell::Link { text, href } => td { a href=(href) { (text) } },
                                        Cell::Struck { text, note } => td { del { (text) } br; small.note { (note) } },
                                    }
                                }
                            }
                        }
                        @if self.rows.is_empty() {
                            tr { td colspan=(self.headers.len().max(1)) { (lang.t("table.empty")) } }
                        }
                    }
                }
            }
        }
    }

    /// The table as a CSV download.
    pub fn csv_response(&self) -> Response {
        let mut out = String::from("\u{feff}");
        let line = |cells: Vec<String>| -> String {
            let mut l = cells
                .iter()
                .map(|c| csv_cell(c))
                .collect::<Vec<_>>()
                .join(",");
            l.push_str("\r\n");
            l
        };
        out.push_str(&line(self.headers.clone()));
        for row in &self.rows {
            out.push_str(&line(row.iter().map(Cell::csv).collect()));
        }
        let disposition = format!("attachment; filename=\"{}.csv\"", self.id);
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            out,
        )
            .into_response()
    }
}

/// One CSV cell: neutralised when a spreadsheet would read it as a formula, always quoted.
pub fn csv_cell(raw: &str) -> String {
    let neutral = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    format!("\"{}\"", neutral.replace('"', "\"\""))
}

/// The table `id` among `tables` as CSV, or a 404 when the page has no such table.
pub fn csv_of(tables: &[&Table], id: &str) -> Response {
    match tables.iter().find(|t| t.id == id) {
        Some(t) => t.csv_response(),
        None => crate::WebError::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_quotes_doubled() {
        assert_eq!(csv_cell("=1+1"), "\"'=1+1\"");
        assert_eq!(csv_cell("+33"), "\"'+33\"");
        assert_eq!(csv_cell("-2"), "\"'-2\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("Benguérir"), "\"Benguérir\"");
    }

    #[test]
    fn csv_starts_with_a_bom() {
        let mut t = Table::new("t", "T", &["a"]);
        t.rows.push(vec![Cell::text("=HYPERLINK(\"x\")")]);
        let r = t.csv_response();
        assert_eq!(
            r.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"text/csv; charset=utf-8"[..])
        );
    }
}
