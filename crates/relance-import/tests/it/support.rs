//! Helpers: the usual register headers, reading bytes, looking at requests and errors.

use relance_import::{read_bytes, FileKind, Import, Options, Request, RowError};
use relance_proto::v1;

pub const COOP_HEADERS: &str = "Identifiant;Raison sociale;Tribunal;N° d'immatriculation;Date de constitution;Secteur;Branche d'activité;Commune;Nombre d'adhérents;Effectif";

pub fn read(bytes: &[u8], kind: FileKind) -> Import {
    read_with(bytes, kind, &Options::default())
}

pub fn read_with(bytes: &[u8], kind: FileKind, opts: &Options) -> Import {
    read_bytes(bytes, kind, opts).expect("the file is read")
}

pub fn registration(req: &Request) -> &v1::CooperativeRegistered {
    match req {
        Request::Register(r) => r.data.as_ref().expect("data"),
        other => panic!("not a registration: {other:?}"),
    }
}

pub fn support(req: &Request) -> &v1::SupportGranted {
    match req {
        Request::GrantSupport(r) => r.data.as_ref().expect("data"),
        other => panic!("not support: {other:?}"),
    }
}

/// The row error at a given index of the file's rows.
pub fn error_of(import: &Import, row: usize) -> &RowError {
    match &import.rows[row].result {
        Err(e) => e,
        Ok(req) => panic!("row {row} was accepted: {req:?}"),
    }
}

pub fn request_ids(import: &Import) -> Vec<String> {
    import
        .requests()
        .map(|r| r.request_id().to_owned())
        .collect()
}
