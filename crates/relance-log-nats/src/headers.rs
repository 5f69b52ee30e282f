//! The headers every event message carries, and how a stored message becomes a [`StoredEvent`].
//!
//! Each message on `relance.v1.coop.<coop_id>` carries, besides its protobuf payload, headers a
//! third party can read with any NATS client: `Relance-Event-Type`, `Relance-Schema-Version`,
//! `Relance-Event-Id`, `Relance-Cooperative-Id`, `Relance-Version`, `Relance-Request-Id` and
//! `Content-Type`. The log reads its [`StoredEvent`] metadata back from these headers.
//!
//! Header values are written verbatim, except that `%` and whitespace at either end of a value
//! are percent-encoded (`%25`, `%20`…; UTF-8 bytes): clients trim values, so this keeps every
//! id lossless. Ids that are plain tokens (as the domain produces) are stored exactly as given.
//! The domain refuses control characters in request ids (`control_character`), so none reaches
//! a header; the encoder still writes one as `%0A`… (NATS header lines cannot hold line
//! breaks), so a value read back is never cut short.

use async_nats::{HeaderMap, HeaderValue};
use relance_domain::CoopId;
use relance_log::{AppendRequest, LogError, StoredEvent};
use sha2::{Digest, Sha256};

/// The event type, e.g. `SupportGranted`.
pub const EVENT_TYPE: &str = "Relance-Event-Type";
/// The payload's schema version (decimal).
pub const SCHEMA_VERSION: &str = "Relance-Schema-Version";
/// The event id.
pub const EVENT_ID: &str = "Relance-Event-Id";
/// The cooperative id (also the last subject token).
pub const COOPERATIVE_ID: &str = "Relance-Cooperative-Id";
/// The cooperative's version this event carries (decimal, from 1).
pub const VERSION: &str = "Relance-Version";
/// The idempotency key of the command that produced the event.
pub const REQUEST_ID: &str = "Relance-Request-Id";
/// `Content-Type` header name.
pub const CONTENT_TYPE: &str = "Content-Type";
/// The payload's content type.
pub const ENVELOPE_CONTENT_TYPE: &str = "application/protobuf; proto=relance.v1.Envelope";

/// The `Nats-Msg-Id` of an append: the cooperative id and the SHA-256 of the request id, so
/// a retried command is deduplicated by the server and request ids stay scoped to their
/// cooperative. At most 64 + 1 + 64 ASCII characters, whatever the request id holds.
pub fn message_id(coop: &CoopId, request_id: &str) -> String {
    format!(
        "{}:{}",
        coop.as_str(),
        hex::encode(Sha256::digest(request_id.as_bytes()))
    )
}

/// The relance headers of an append (without the `Nats-*` ones).
pub fn event_headers(r: &AppendRequest, version: u64) -> Result<HeaderMap, LogError> {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| -> Result<(), LogError> {
        let value: HeaderValue = encode_value(value)
            .parse()
            .map_err(|_| LogError::Storage(format!("header {name} cannot hold {value:?}")))?;
        headers.insert(name, value);
        Ok(())
    };
    put(EVENT_TYPE, &r.event_type)?;
    put(SCHEMA_VERSION, &r.schema_version.to_string())?;
    put(EVENT_ID, &r.event_id)?;
    put(COOPERATIVE_ID, r.cooperative_id.as_str())?;
    put(VERSION, &version.to_string())?;
    put(REQUEST_ID, &r.request_id)?;
    put(CONTENT_TYPE, ENVELOPE_CONTENT_TYPE)?;
    Ok(headers)
}

/// Percent-encodes `%`, control characters and whitespace at either end.
pub fn encode_value(raw: &str) -> String {
    let start = raw.len() - raw.trim_start().len();
    let end = raw.trim_end().len();
    let mut out = String::with_capacity(raw.len());
    for (at, c) in raw.char_indices() {
        let edge_space = (at < start || at >= end) && c.is_whitespace();
        if c == '%' || c.is_control() || edge_space {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`encode_value`]; `None` for a malformed escape or bytes that are not UTF-8.
pub fn decode_value(stored: &str) -> Option<String> {
    if !stored.contains('%') {
        return Some(stored.to_owned());
    }
    let bytes = stored.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = stored.get(at + 1..at + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The headers [`stored_event`] reads.
const READ: [&str; 6] = [
    COOPERATIVE_ID,
    SCHEMA_VERSION,
    VERSION,
    EVENT_ID,
    EVENT_TYPE,
    REQUEST_ID,
];

/// Turns a stored message into a [`StoredEvent`]; the cooperative comes from the subject.
/// A message that is not a relance event is [`LogError::Unreadable`], naming the cooperative
/// when the subject does.
pub fn stored_event(
    subject_prefix: &str,
    subject: &str,
    position: u64,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<StoredEvent, LogError> {
    let unreadable = |cooperative_id: Option<&CoopId>, what: String| LogError::Unreadable {
        position,
        cooperative_id: cooperative_id.cloned(),
        reason: format!("{subject}: {what}"),
    };
    let coop = subject
        .strip_prefix(subject_prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or_else(|| unreadable(None, "subject outside the event subjects".into()))?;
    let cooperative_id =
        CoopId::parse(coop).map_err(|e| unreadable(None, format!("bad cooperative id: {e}")))?;
    let corrupt = |what: String| unreadable(Some(&cooperative_id), what);
    let headers = headers.ok_or_else(|| corrupt("no headers".into()))?;
    // One pass over the headers: a lookup by name hashes it and may allocate it, six times a
    // message on a catch-up's hot path (docs/performance.md, "National scale").
    let mut found: [Option<&str>; READ.len()] = [None; READ.len()];
    for (name, values) in headers.iter() {
        let name: &[u8] = name.as_ref();
        if let Some(at) = READ.iter().position(|r| r.as_bytes() == name) {
            found[at] = values.first().map(|v| v.as_str());
        }
    }
    let text = |name: &'static str| -> Result<String, LogError> {
        let raw = READ
            .iter()
            .position(|r| *r == name)
            .and_then(|at| found[at])
            .ok_or_else(|| corrupt(format!("missing header {name}")))?;
        decode_value(raw).ok_or_else(|| corrupt(format!("header {name} is not a valid value")))
    };
    let number = |name: &'static str| -> Result<u64, LogError> {
        text(name)?
            .parse::<u64>()
            .map_err(|e| corrupt(format!("header {name}: {e}")))
    };
    let header_coop = text(COOPERATIVE_ID)?;
    if header_coop != cooperative_id.as_str() {
        return Err(corrupt(format!(
            "header {COOPERATIVE_ID} says {header_coop:?}"
        )));
    }
    let schema_version = u32::try_from(number(SCHEMA_VERSION)?)
        .map_err(|_| corrupt(format!("header {SCHEMA_VERSION} out of range")))?;
    let (version, event_id, event_type, request_id) = (
        number(VERSION)?,
        text(EVENT_ID)?,
        text(EVENT_TYPE)?,
        text(REQUEST_ID)?,
    );
    Ok(StoredEvent {
        position,
        cooperative_id,
        version,
        event_id,
        event_type,
        schema_version,
        request_id,
        payload: payload.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_stored_verbatim() {
        for id in ["r1", "REH-0001", "01J9Z5Q8K3", "req 42 from partner", "é-ü"] {
            assert_eq!(encode_value(id), id);
        }
    }

    #[test]
    fn awkward_values_round_trip() {
        for raw in [
            "", " ", " lead", "trail\t", "50%", "a\r\nb", "%41", "  é  ", "\u{85}x",
        ] {
            let enc = encode_value(raw);
            assert!(!enc.contains(['\r', '\n']), "{enc:?}");
            assert_eq!(enc.trim(), enc, "{raw:?} encodes to {enc:?}");
            assert_eq!(
                decode_value(&enc).as_deref(),
                Some(raw),
                "{raw:?} via {enc:?}"
            );
        }
    }

    #[test]
    fn malformed_escapes_are_refused() {
        assert_eq!(decode_value("%"), None);
        assert_eq!(decode_value("%4"), None);
        assert_eq!(decode_value("%zz"), None);
        assert_eq!(decode_value("%FF"), None);
    }

    /// A message relance did not write is unreadable at its position, and names the
    /// cooperative whenever its subject does.
    #[test]
    fn foreign_messages_are_unreadable_and_name_their_cooperative() {
        let coop = CoopId::parse("REH-1").expect("valid");
        let cases = [
            ("relance.v1.coop.REH-1", None, Some(coop.clone())),
            ("relance.v1.coop.REH 1", None, None),
            ("elsewhere.REH-1", None, None),
            (
                "relance.v1.coop.REH-1",
                Some(HeaderMap::new()),
                Some(coop.clone()),
            ),
        ];
        for (subject, headers, named) in cases {
            match stored_event("relance.v1.coop", subject, 7, headers.as_ref(), b"x") {
                Err(LogError::Unreadable {
                    position,
                    cooperative_id,
                    ..
                }) => {
                    assert_eq!(position, 7, "{subject}");
                    assert_eq!(cooperative_id, named, "{subject}");
                }
                other => panic!("{subject}: {other:?}"),
            }
        }
        let mut other = HeaderMap::new();
        other.insert(COOPERATIVE_ID, "REH-2");
        assert!(matches!(
            stored_event("relance.v1.coop", "relance.v1.coop.REH-1", 8, Some(&other), b""),
            Err(LogError::Unreadable { cooperative_id: Some(c), .. }) if c == coop
        ));
    }

    #[test]
    fn message_ids_are_deterministic_bounded_and_scoped() {
        let a = CoopId::parse("REH-1").expect("valid");
        let b = CoopId::parse("REH-2").expect("valid");
        let long = "x".repeat(10_000);
        assert_eq!(message_id(&a, "r1"), message_id(&a, "r1"));
        assert_ne!(message_id(&a, "r1"), message_id(&b, "r1"));
        assert_ne!(message_id(&a, "r1"), message_id(&a, "r2"));
        assert!(message_id(&a, &long).len() <= 129);
        assert!(message_id(&a, "r\r\n").is_ascii());
    }
}
