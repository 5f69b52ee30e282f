//! relance-import against files the tests write: CSV in the registers' encodings, XLSX, ODS,
//! hostile input, the rejects round trip, stable request ids and the partner-restricted mode.

mod csv_files;
mod hostile;
mod reimport;
mod support;
mod workbooks;
