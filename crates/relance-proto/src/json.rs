//! Serde helpers so wire messages print as readable JSON: enums by snake_case name,
//! hashes as hex.

use serde::Serializer;

use crate::convert::*;

fn name<S: Serializer>(s: S, raw: i32, name: Option<&'static str>) -> Result<S::Ok, S::Error> {
    match name {
        Some(n) => s.serialize_str(n),
        None => s.serialize_i32(raw),
    }
}

pub fn sector<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    name(s, *v, sector_from_wire(*v).map(|x| x.as_str()))
}

pub fn scope<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    name(s, *v, scope_from_wire(*v).map(|x| x.as_str()))
}

pub fn support_kind<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    name(s, *v, support_kind_from_wire(*v).map(|x| x.as_str()))
}

pub fn channel<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    name(s, *v, channel_from_wire(*v).map(|x| x.as_str()))
}

pub fn standing<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    name(s, *v, standing_from_wire(*v).map(|x| x.as_str()))
}

pub fn legal_instrument<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    name(s, *v, legal_instrument_from_wire(*v).map(|x| x.as_str()))
}

pub fn hex<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex_string(v))
}

fn hex_string(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}
