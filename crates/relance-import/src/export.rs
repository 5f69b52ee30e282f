//! CSV for spreadsheet programs: UTF-8 with a BOM (so Excel shows accents and Arabic), `;` or
//! `,`, and every cell that would start a formula neutralised with a leading `'`.

use std::borrow::Cow;
use std::io::Write;

use crate::values::FORMULA_LEAD;

/// The field separator of an exported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Separator {
    /// French Excel's CSV.
    #[default]
    Semicolon,
    Comma,
}

impl Separator {
    pub fn byte(self) -> u8 {
        match self {
            Separator::Semicolon => b';',
            Separator::Comma => b',',
        }
    }
}

/// Writing an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the CSV: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// `=1+1` → `'=1+1` (a spreadsheet program shows it as text and never evaluates it); cells
/// starting with `+`, `-`, `@`, a tab or a carriage return too — except a plain number such
/// as `-12` or `-3,5`, which no program takes for a formula.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let rest = cell
        .get(1..)
        .filter(|_| cell.starts_with('-'))
        .unwrap_or("");
    let plain_number = rest
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && rest.chars().any(|c| c.is_ascii_digit());
    if cell.starts_with(FORMULA_LEAD) && !plain_number {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV writer for spreadsheet programs (see the module docs).
pub struct CsvExport<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> CsvExport<W> {
    /// Writes the BOM at once.
    pub fn new(mut out: W, sep: Separator) -> Result<Self, ExportError> {
        out.write_all(b"\xef\xbb\xbf")?;
        Ok(Self {
            out: csv::WriterBuilder::new()
                .delimiter(sep.byte())
                .flexible(true)
                .terminator(csv::Terminator::CRLF)
                .from_writer(out),
        })
    }

    /// Writes one row, each cell neutralised.
    pub fn write_row<I, S>(&mut self, cells: I) -> Result<(), ExportError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let row: Vec<String> = cells
            .into_iter()
            .map(|c| neutralise(c.as_ref()).into_owned())
            .collect();
        self.out.write_record(&row)?;
        Ok(())
    }

    /// Flushes and gives the writer back.
    pub fn finish(self) -> Result<W, ExportError> {
        self.out
            .into_inner()
            .map_err(|e| ExportError::Io(std::io::Error::other(e.error().to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_numbers_are_not() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+212 6"), "'+212 6");
        assert_eq!(neutralise("@cmd"), "'@cmd");
        assert_eq!(neutralise("-5"), "-5");
        assert_eq!(neutralise("-3,5"), "-3,5");
        assert_eq!(neutralise("-"), "'-");
        assert_eq!(neutralise("تعاونية"), "تعاونية");
    }

    #[test]
    fn the_file_starts_with_a_bom_and_uses_the_separator() {
        let mut w = CsvExport::new(Vec::new(), Separator::Semicolon).expect("new");
        w.write_row(["Nom", "Ville"]).expect("row");
        w.write_row(["Coopérative; Al Amal", "=1+1"]).expect("row");
        let bytes = w.finish().expect("finish");
        let text = String::from_utf8(bytes).expect("utf8");
        assert_eq!(
            text,
            "\u{feff}Nom;Ville\r\n\"Coopérative; Al Amal\";'=1+1\r\n"
        );
    }
}
