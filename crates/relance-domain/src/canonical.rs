//! Canonical JSON written straight from any `Serialize` value, without building a
//! `serde_json::Value` tree first.
//!
//! The bytes are those of `serde_json::to_value(v)` written with its object keys sorted by their
//! UTF-8 bytes, no insignificant whitespace, strings escaped as serde_json escapes them (which is
//! what Python's `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! writes); the tests check exactly that against the value tree. The hash chain runs this once
//! per event on every append, projection step and audit check, so it avoids the tree's
//! allocations: each object is written into one scratch buffer, its members are sorted by key
//! as ranges of that buffer, then copied out once.

use std::fmt::Display;
use std::io::Write as _;
use std::ops::Range;

use serde::ser::{self, Serialize};

/// Why a value has no canonical JSON form (a map key that is not a string, say).
#[derive(Debug)]
pub struct CanonicalError(String);

impl Display for CanonicalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CanonicalError {}

impl ser::Error for CanonicalError {
    fn custom<T: Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, CanonicalError>;

/// Appends the canonical JSON of `value` to `out`, leaving out the top-level object member
/// named `skip` (the envelope's own `hash`).
pub fn write_canonical<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    skip: Option<&'static str>,
) -> Result {
    value.serialize(Canonical { out, skip })
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping, exactly as `Value::String(s).to_string()` writes it; writing into
    // a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_display(v: impl Display, out: &mut Vec<u8>) {
    let _ = write!(out, "{v}");
}

/// `serialize_*` methods writing a number as its decimal text into `self.$out`.
macro_rules! numbers_as_text {
    ($out:tt; $($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result {
            write_display(v, self.$out);
            Ok(())
        }
    )*};
}

/// The sequence-like compound serializers: each element is written by [`Array::element`].
macro_rules! array_compound {
    ($($tr:ident::$method:ident),*) => {$(
        impl ser::$tr for Array<'_> {
            type Ok = ();
            type Error = CanonicalError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                self.finish();
                Ok(())
            }
        }
    )*};
}

struct Canonical<'a> {
    out: &'a mut Vec<u8>,
    /// A member to leave out of the object this serializer writes (top level only).
    skip: Option<&'static str>,
}

impl<'a> Canonical<'a> {
    fn nested(out: &'a mut Vec<u8>) -> Self {
        Self { out, skip: None }
    }

    fn object(self) -> Object<'a> {
        Object {
            out: self.out,
            skip: self.skip,
            scratch: Vec::with_capacity(256),
            members: Vec::new(),
            key: 0..0,
        }
    }

    /// `{"variant":` … `}` around an externally tagged enum's content.
    fn open_variant(&mut self, variant: &str) {
        self.out.push(b'{');
        write_str(variant, self.out);
        self.out.push(b':');
    }
}

/// An object being written: its members' key and value ranges in `scratch`, sorted at the end.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    skip: Option<&'static str>,
    scratch: Vec<u8>,
    /// (key, value) ranges in `scratch`; the key range holds the raw (unescaped) key.
    members: Vec<(Range<usize>, Range<usize>)>,
    /// The key of a map entry whose value has not been written yet.
    key: Range<usize>,
}

impl<'a> Object<'a> {
    fn member<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result {
        if self.skip == Some(key) {
            return Ok(());
        }
        let k = self.scratch.len()..self.scratch.len() + key.len();
        self.scratch.extend_from_slice(key.as_bytes());
        self.value_for(k, value)
    }

    fn value_for<T: Serialize + ?Sized>(&mut self, key: Range<usize>, value: &T) -> Result {
        let start = self.scratch.len();
        value.serialize(Canonical::nested(&mut self.scratch))?;
        self.members.push((key, start..self.scratch.len()));
        Ok(())
    }

    /// Writes the object's members in key order and hands back the buffer written to.
    fn finish(self) -> &'a mut Vec<u8> {
        let Object {
            out,
            scratch,
            mut members,
            ..
        } = self;
        members.sort_by(|(a, _), (b, _)| scratch[a.clone()].cmp(&scratch[b.clone()]));
        out.push(b'{');
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys were stored raw so they sort by their UTF-8 bytes; escape them on the way out.
            match std::str::from_utf8(&scratch[k.clone()]) {
                Ok(key) => write_str(key, out),
                Err(_) => out.extend_from_slice(b"\"\""),
            }
            out.push(b':');
            out.extend_from_slice(&scratch[v.clone()]);
        }
        out.push(b'}');
        out
    }
}

/// An array being written.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// Close an enclosing `{"variant":` as well.
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Canonical::nested(self.out))
    }

    fn finish(self) {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
    }
}

/// An object nested in `{"variant":` … `}` (a struct variant).
struct VariantObject<'a>(Object<'a>);

impl<'a> ser::Serializer for Canonical<'a> {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = VariantObject<'a>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    numbers_as_text!(out; serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);
    fn serialize_f32(self, v: f32) -> Result {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result {
        // As serde_json writes a number (and `null` for NaN and infinities).
        let _ = serde_json::to_writer(&mut *self.out, &serde_json::Value::from(v));
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result {
        write_str(v.encode_utf8(&mut [0; 4]), self.out);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result {
        write_str(v, self.out);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        // serde_json writes bytes as an array of numbers.
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for b in v {
            ser::SerializeSeq::serialize_element(&mut seq, b)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.open_variant(variant);
        value.serialize(Canonical::nested(self.out))?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>> {
        self.out.push(b'[');
        Ok(Array {
            out: self.out,
            first: true,
            variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Array<'a>> {
        self.open_variant(variant);
        let mut array = self.serialize_seq(Some(len))?;
        array.variant = true;
        Ok(array)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>> {
        Ok(self.object())
    }
    fn serialize_struct(self, _: &'static str, _len: usize) -> Result<Object<'a>> {
        Ok(self.object())
    }
    fn serialize_struct_variant(
        mut self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantObject<'a>> {
        self.open_variant(variant);
        Ok(VariantObject(Canonical::nested(self.out).object()))
    }
}

array_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.member(key, value)
    }
    fn end(self) -> Result {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeStructVariant for VariantObject<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.0.member(key, value)
    }
    fn end(self) -> Result {
        self.0.finish().push(b'}');
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        let start = self.scratch.len();
        key.serialize(MapKey(&mut self.scratch))?;
        self.key = start..self.scratch.len();
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        let key = std::mem::replace(&mut self.key, 0..0);
        self.value_for(key, value)
    }
    fn end(self) -> Result {
        self.finish();
        Ok(())
    }
}

/// Writes a map key raw (unescaped); only strings, and integers written as strings (as
/// serde_json does), are keys.
struct MapKey<'a>(&'a mut Vec<u8>);

macro_rules! key_refused {
    ($($f:ident$(<$g:ident>)?($($a:ty),*) -> $r:ty),*) => {$(
        fn $f$(<$g: Serialize + ?Sized>)?(self, $(_: $a),*) -> Result<$r> {
            Err(CanonicalError("a map key must be a string".into()))
        }
    )*};
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = ser::Impossible<(), CanonicalError>;
    type SerializeTuple = ser::Impossible<(), CanonicalError>;
    type SerializeTupleStruct = ser::Impossible<(), CanonicalError>;
    type SerializeTupleVariant = ser::Impossible<(), CanonicalError>;
    type SerializeMap = ser::Impossible<(), CanonicalError>;
    type SerializeStruct = ser::Impossible<(), CanonicalError>;
    type SerializeStructVariant = ser::Impossible<(), CanonicalError>;

    numbers_as_text!(0; serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64);

    fn serialize_str(self, v: &str) -> Result {
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result {
        self.0
            .extend_from_slice(v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }

    key_refused!(serialize_bool(bool) -> (), serialize_f32(f32) -> (), serialize_f64(f64) -> (),
        serialize_bytes(&[u8]) -> (), serialize_none() -> (), serialize_unit() -> (),
        serialize_unit_struct(&'static str) -> (),
        serialize_some<T>(&T) -> (),
        serialize_newtype_variant<T>(&'static str, u32, &'static str, &T) -> (),
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::json;

    use super::write_canonical;

    fn direct<T: Serialize>(v: &T) -> String {
        let mut out = Vec::new();
        write_canonical(v, &mut out, None).expect("canonical form");
        String::from_utf8(out).expect("utf8")
    }

    /// The oracle: serde_json's own value tree, whose maps are ordered by key (a `BTreeMap`
    /// while its `preserve_order` feature is off, which the last test checks), written compactly.
    fn via_value<T: Serialize>(v: &T) -> String {
        let value = serde_json::to_value(v).expect("value");
        serde_json::to_string(&value).expect("json")
    }

    #[derive(Serialize)]
    #[serde(tag = "type", content = "data")]
    enum Adjacent {
        Unit,
        Newtype(Inner),
        Tuple(i64, u64),
        Struct { zeta: String, alpha: Option<u8> },
    }

    #[derive(Serialize)]
    enum External {
        Newtype(Inner),
        Tuple(i64, bool),
        Struct { b: u8, a: u8 },
        Unit,
    }

    #[derive(Serialize)]
    struct Inner {
        text: String,
        émoji: char,
        #[serde(skip_serializing_if = "Option::is_none")]
        absent: Option<u32>,
        present: Option<u32>,
        bytes: Vec<u8>,
        float: f64,
        map: BTreeMap<String, i32>,
        nested: Vec<Option<Inner>>,
    }

    fn inner(text: &str, depth: usize) -> Inner {
        Inner {
            text: text.into(),
            émoji: 'é',
            absent: None,
            present: Some(7),
            bytes: vec![0, 255],
            float: -1.5e-7,
            map: [
                ("z".into(), 1),
                ("Z".into(), -2),
                ("é".into(), 3),
                ("a\"b".into(), 4),
            ]
            .into_iter()
            .collect(),
            nested: if depth == 0 {
                vec![None]
            } else {
                vec![Some(inner("deeper", depth - 1)), None]
            },
        }
    }

    #[test]
    fn writes_the_bytes_of_the_value_tree_for_every_serde_shape() {
        let text = "Benguérir \"quoted\" \\ \n\t\u{0}\u{7f}\u{9f} بنجرير 🌾";
        let values: Vec<Box<dyn Fn() -> (String, String)>> = vec![
            Box::new(move || (direct(&inner(text, 2)), via_value(&inner(text, 2)))),
            Box::new(|| (direct(&Adjacent::Unit), via_value(&Adjacent::Unit))),
            Box::new(move || {
                let v = Adjacent::Newtype(inner(text, 0));
                (direct(&v), via_value(&v))
            }),
            Box::new(|| {
                (
                    direct(&Adjacent::Tuple(-1, u64::MAX)),
                    via_value(&Adjacent::Tuple(-1, u64::MAX)),
                )
            }),
            Box::new(|| {
                let v = Adjacent::Struct {
                    zeta: "z".into(),
                    alpha: None,
                };
                (direct(&v), via_value(&v))
            }),
            Box::new(move || {
                let v = vec![
                    External::Newtype(inner(text, 1)),
                    External::Tuple(i64::MIN, true),
                    External::Struct { b: 2, a: 1 },
                    External::Unit,
                ];
                (direct(&v), via_value(&v))
            }),
            Box::new(|| {
                let v = json!({"b": [1, {"d": null, "c": 2.5}], "a": {"": "", "aa": "é"}, "f": f64::NAN});
                (direct(&v), via_value(&v))
            }),
        ];
        for make in values {
            let (direct, via_value) = make();
            assert_eq!(direct, via_value);
        }
    }

    #[test]
    fn leaves_out_the_skipped_member_at_the_top_level_only() {
        #[derive(Serialize)]
        struct Outer {
            hash: u8,
            inner: Nested,
        }
        #[derive(Serialize)]
        struct Nested {
            hash: u8,
        }
        let mut out = Vec::new();
        write_canonical(
            &Outer {
                hash: 1,
                inner: Nested { hash: 2 },
            },
            &mut out,
            Some("hash"),
        )
        .expect("canonical form");
        assert_eq!(out, br#"{"inner":{"hash":2}}"#);
    }

    #[test]
    fn refuses_map_keys_that_are_not_strings() {
        let map: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let mut out = Vec::new();
        assert!(write_canonical(&map, &mut out, None).is_err());
    }

    #[test]
    fn the_oracle_sorts_keys_by_their_bytes() {
        let v = json!({"b": 1, "a": 2, "Z": 3, "é": 4});
        assert_eq!(via_value(&v), r#"{"Z":3,"a":2,"b":1,"é":4}"#);
    }
}
