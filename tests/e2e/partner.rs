//! A partner's view of the stream (docs/partners.md): plain async-nats reads RELANCE_EVENTS,
//! and the payloads are decoded with nothing but `proto/relance/v1/events.proto`, compiled at
//! run time. No relance crate is used on the reading side (relance_proto only sends the
//! commands that produce the events).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull::OrderedConfig, consumer::DeliverPolicy};
use futures::StreamExt;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};
use relance_proto::v1;
use relance_tests::requests::{self, as_org, prefecture, Overrides as _};
use relance_tests::{nats, NatsServer, RelanceProcess};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

const EVENTS: usize = 10;

/// What a partner writes in its own code: the header names of docs/partners.md.
const HEADERS: [&str; 8] = [
    "Relance-Event-Type",
    "Relance-Schema-Version",
    "Relance-Event-Id",
    "Relance-Cooperative-Id",
    "Relance-Version",
    "Relance-Request-Id",
    "Content-Type",
    "Nats-Msg-Id",
];

/// Records the article's facts; returns (request id, event id, stream position) per command,
/// in the order sent.
async fn record_story(relance: &RelanceProcess) -> Vec<(String, String, u64)> {
    const IBDAAT: &str = "REH-0001";
    const ANNOUR: &str = "REH-0002";
    let mut c = relance.commands().await;
    let mut out = Vec::new();
    let mut keep = |rid: &str, reply: tonic::Response<v1::CommandReply>| -> String {
        let r = reply.into_inner();
        assert!(!r.duplicate, "{rid} was a first send");
        out.push((rid.to_owned(), r.event_id.clone(), r.position));
        r.event_id
    };
    let rid = "ibdaat-register";
    let reply = c
        .register(prefecture(requests::register(IBDAAT, rid).with(|d| {
            d.name = "Ibdaat Rehamna".into();
            d.sector = v1::Sector::Artisanat as i32;
            d.activity = "couture et broderie".into();
            d.members = 9;
            d.employees = 12;
            d.registered_on = "2016-05-10".into();
        })))
        .await
        .expect("register Ibdaat Rehamna");
    keep(rid, reply);
    let rid = "annour-register";
    let reply = c
        .register(prefecture(requests::register(ANNOUR, rid).with(|d| {
            d.name = "Annour".into();
            d.sector = v1::Sector::CommerceServices as i32;
            d.activity = "électricité du bâtiment".into();
            d.members = 40;
            d.employees = 0;
            d.registered_on = "2011-03-29".into();
        })))
        .await
        .expect("register Annour");
    keep(rid, reply);
    let rid = "annour-halt";
    let reply = c
        .halt(prefecture(requests::halt(ANNOUR, rid)))
        .await
        .expect("halt Annour");
    keep(rid, reply);
    let rid = "ibdaat-masks";
    let reply = c
        .reorient(prefecture(
            requests::reorient(IBDAAT, rid)
                .with(|d| d.to_activity = "confection de masques".into()),
        ))
        .await
        .expect("reorient Ibdaat Rehamna");
    keep(rid, reply);
    let rid = "ibdaat-imanor";
    let reply = c
        .authorize(prefecture(requests::authorize(IBDAAT, rid)))
        .await
        .expect("authorise Ibdaat Rehamna");
    keep(rid, reply);
    // A request id with a '%': its header value is percent-encoded (`%25`).
    let rid = "OCP/Act4Community 100% masks";
    let reply = c
        .grant_support(as_org(requests::support(IBDAAT, rid, "OCP"), "OCP"))
        .await
        .expect("OCP support");
    keep(rid, reply);
    let rid = "indh-tranche-1";
    let reply = c
        .grant_support(as_org(
            requests::support(IBDAAT, rid, "INDH").with(|d| {
                d.kind = v1::SupportKind::Financial as i32;
                d.amount_centimes = Some(5_000_000);
                d.description = "première tranche".into();
                d.granted_on = "2020-05-04".into();
            }),
            "INDH",
        ))
        .await
        .expect("INDH support");
    let wrong_amount = keep(rid, reply);
    let rid = "ibdaat-marrakech";
    let reply = c
        .open_sales_channel(prefecture(requests::sales_channel(IBDAAT, rid).with(|d| {
            d.channel = v1::ChannelKind::Parapharmacies as i32;
            d.city = "Marrakech".into();
            d.standing = v1::Standing::Trial as i32;
            d.opened_on = "2020-05-12".into();
        })))
        .await
        .expect("sales channel");
    keep(rid, reply);
    let rid = "indh-tranche-1-retracted";
    let reply = c
        .retract(prefecture(
            requests::retract(IBDAAT, rid, &wrong_amount)
                .with(|d| d.reason = "montant erroné : 40 000 MAD".into()),
        ))
        .await
        .expect("retraction");
    keep(rid, reply);
    let rid = "ibdaat-imanor-renewal";
    let reply = c
        .authorize(prefecture(requests::authorize(IBDAAT, rid).with(|d| {
            d.obtained_on = "2020-05-10".into();
            d.valid_until.clear();
        })))
        .await
        .expect("renewal");
    keep(rid, reply);
    assert_eq!(out.len(), EVENTS);
    out
}

/// `relance.v1.Envelope` from the published schema alone, compiled now.
fn envelope_descriptor() -> MessageDescriptor {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let files = protox::compile(["relance/v1/events.proto"], [&proto_dir])
        .expect("proto/relance/v1/events.proto compiles");
    let pool = DescriptorPool::from_file_descriptor_set(files).expect("descriptor pool");
    pool.get_message_by_name("relance.v1.Envelope")
        .expect("relance.v1.Envelope is in events.proto")
}

fn text(m: &DynamicMessage, field: &str) -> String {
    m.get_field_by_name(field)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{field} is a string field"))
}

fn number(m: &DynamicMessage, field: &str) -> u64 {
    let v = m.get_field_by_name(field).expect(field);
    v.as_u64()
        .or_else(|| v.as_u32().map(u64::from))
        .unwrap_or_else(|| panic!("{field} is an unsigned field"))
}

fn bytes(m: &DynamicMessage, field: &str) -> Vec<u8> {
    m.get_field_by_name(field)
        .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
        .unwrap_or_else(|| panic!("{field} is a bytes field"))
}

/// The set case of the `event` oneof: (field name, message type name, the event message).
fn event_case(env: &DynamicMessage) -> (String, String, DynamicMessage) {
    let oneof = env
        .descriptor()
        .oneofs()
        .find(|o| o.name() == "event")
        .expect("oneof event");
    let field = oneof
        .fields()
        .find(|f| env.has_field(f))
        .expect("one event case is set");
    let Kind::Message(ty) = field.kind() else {
        panic!("event cases are messages")
    };
    let data = env
        .get_field(&field)
        .as_message()
        .expect("a message")
        .clone();
    (
        field.name().to_owned(),
        type_of_message(ty.name()).to_owned(),
        data,
    )
}

/// The event type a message of the `event` oneof carries: its name, without the `V<n>` of a
/// later schema version (`ActivityHaltedV2` is an `ActivityHalted`).
fn type_of_message(name: &str) -> &str {
    match name.rsplit_once('V') {
        Some((ty, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => ty,
        _ => name,
    }
}

/// Percent-decoding of header values (docs/partners.md, "Headers").
fn percent_decode(raw: &str) -> String {
    let mut out = Vec::new();
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

// ---- the hash chain, rebuilt from the protobuf alone (docs/partners.md, "The hash chain")

/// The JSON value the hash covers for one field of `m`.
fn json_field(m: &DynamicMessage, f: &FieldDescriptor) -> Json {
    if f.supports_presence() && !m.has_field(f) {
        return Json::Null; // proto3 `optional` left unset, e.g. amount_centimes
    }
    match (&*m.get_field(f), f.kind()) {
        // Dates that may be absent: empty on the wire, null in the hash.
        (Value::String(s), _)
            if s.is_empty() && ["valid_until", "issued_on"].contains(&f.name()) =>
        {
            Json::Null
        }
        // A legal instrument not stated (LEGAL_INSTRUMENT_UNSPECIFIED) is null in the hash.
        (Value::EnumNumber(0), Kind::Enum(e)) if e.name() == "LegalInstrument" => Json::Null,
        (Value::String(s), _) => Json::from(s.as_str()),
        (Value::Bytes(b), _) => Json::from(hex::encode(b)),
        (Value::U32(n), _) => Json::from(*n),
        (Value::U64(n), _) => Json::from(*n),
        (Value::I32(n), _) => Json::from(*n),
        (Value::I64(n), _) => Json::from(*n),
        (Value::Bool(b), _) => Json::from(*b),
        (Value::EnumNumber(n), Kind::Enum(e)) => {
            // SUPPORT_KIND_IN_KIND of enum SupportKind → "in_kind"
            let prefix: String =
                e.name()
                    .chars()
                    .enumerate()
                    .fold(String::new(), |mut p, (i, c)| {
                        if i > 0 && c.is_ascii_uppercase() {
                            p.push('_');
                        }
                        p.push(c.to_ascii_uppercase());
                        p
                    })
                    + "_";
            let name = e
                .get_value(*n)
                .expect("a known enum value")
                .name()
                .to_owned();
            Json::from(
                name.strip_prefix(&prefix)
                    .expect("prefixed value")
                    .to_lowercase(),
            )
        }
        (Value::Message(sub), _) => json_message(sub),
        (other, _) => panic!("{} holds {other:?}, not used by events.proto", f.name()),
    }
}

/// A message as JSON, field names as in the .proto, the `event` oneof left out.
fn json_message(m: &DynamicMessage) -> Json {
    let descriptor = m.descriptor();
    let fields = descriptor
        .fields()
        .filter(|f| f.containing_oneof().is_none_or(|o| o.is_synthetic()));
    Json::Object(
        fields
            .map(|f| (f.name().to_owned(), json_field(m, &f)))
            .collect(),
    )
}

/// The envelope as the hash sees it: without `hash` and `position`, `recorded_at_unix_ms`
/// named `recorded_at_ms`, and the event as `{"type": <message name>, "data": {...}}`.
fn hashed_json(env: &DynamicMessage) -> Json {
    let mut json = json_message(env);
    let map = json.as_object_mut().expect("an object");
    map.remove("hash");
    map.remove("position");
    let recorded = map
        .remove("recorded_at_unix_ms")
        .expect("recorded_at_unix_ms");
    map.insert("recorded_at_ms".into(), recorded);
    let (_, ty, data) = event_case(env);
    map.insert(
        "event".into(),
        serde_json::json!({ "type": ty, "data": json_message(&data) }),
    );
    json
}

/// Canonical JSON: keys sorted by their UTF-8 bytes, no whitespace, UTF-8 as itself.
fn canonical(v: &Json, out: &mut Vec<u8>) {
    match v {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).unwrap());
                out.push(b':');
                canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other).unwrap()),
    }
}

/// `SHA-256(prev_hash ‖ canonical JSON of the envelope without hash)`.
fn chain_hash(env: &DynamicMessage) -> Vec<u8> {
    let mut json = Vec::new();
    canonical(&hashed_json(env), &mut json);
    let mut h = Sha256::new();
    h.update(bytes(env, "prev_hash"));
    h.update(&json);
    h.finalize().to_vec()
}

#[tokio::test]
async fn a_partner_reads_and_verifies_the_stream_with_plain_nats_and_the_proto_file() {
    let nats_server = NatsServer::start(nats::current_binary()).await;
    let relance = RelanceProcess::serve(&["--nats", &nats_server.url(), "--role", "command"]).await;
    let sent = record_story(&relance).await;

    // ---- the partner's side: async-nats, the stream name, the subjects and events.proto.
    let envelope = envelope_descriptor();
    let client = async_nats::connect(nats_server.url())
        .await
        .expect("connect");
    let js = jetstream::new(client);
    let stream = js.get_stream("RELANCE_EVENTS").await.expect("the stream");
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: "relance.v1.coop.>".into(),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: 1 },
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");

    let mut last: HashMap<String, (u64, Vec<u8>)> = HashMap::new(); // coop → (version, hash)
    let mut last_seq: HashMap<String, u64> = HashMap::new(); // coop → its last stream sequence
    let mut support_partners = Vec::new();
    for (i, (request_id, event_id, position)) in sent.iter().enumerate() {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("the next event arrives")
            .expect("the stream goes on")
            .expect("a message");
        let seq = message.info().expect("JetStream metadata").stream_sequence;
        assert_eq!(
            seq, *position,
            "message {i}: stream sequence = the reply's position"
        );

        let headers = message.headers.as_ref().expect("headers");
        if i == 0 {
            let mut all: Vec<String> = headers
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}: {}",
                        v.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            all.sort();
            eprintln!("subject {}\n{}", message.subject, all.join("\n"));
        }
        let header = |name: &str| -> String {
            let v = headers
                .get(name)
                .unwrap_or_else(|| panic!("message {seq}: header {name} is missing"));
            percent_decode(v.as_str())
        };
        if request_id.contains('%') {
            let raw = headers.get("Relance-Request-Id").unwrap().as_str();
            assert_eq!(raw, request_id.replace('%', "%25"), "a '%' travels as %25");
        }
        for name in HEADERS {
            assert!(!header(name).is_empty(), "message {seq}: {name} is empty");
        }

        let env = DynamicMessage::decode(envelope.clone(), message.payload.clone())
            .expect("the payload is a relance.v1.Envelope");
        let coop = text(&env, "cooperative_id");
        let version = number(&env, "version");
        let (case, ty, data) = event_case(&env);

        // Subject and headers agree with the payload.
        assert_eq!(message.subject.as_str(), format!("relance.v1.coop.{coop}"));
        assert_eq!(header("Relance-Cooperative-Id"), coop);
        assert_eq!(header("Relance-Event-Type"), ty, "{case}");
        // A halt is recorded under schema version 2 (its message ActivityHaltedV2), the rest 1.
        let schema = if case == "activity_halted_v2" { 2 } else { 1 };
        assert_eq!(number(&env, "schema_version"), schema, "{case}");
        assert_eq!(header("Relance-Schema-Version"), schema.to_string());
        assert_eq!(header("Relance-Event-Id"), *event_id);
        assert_eq!(text(&env, "event_id"), *event_id);
        assert_eq!(header("Relance-Request-Id"), *request_id);
        assert_eq!(text(&env, "request_id"), *request_id);
        assert_eq!(header("Relance-Version"), version.to_string());
        assert_eq!(
            header("Content-Type"),
            "application/protobuf; proto=relance.v1.Envelope"
        );
        assert_eq!(
            header("Nats-Msg-Id"),
            format!(
                "{coop}:{}",
                hex::encode(Sha256::digest(request_id.as_bytes()))
            )
        );
        assert_eq!(
            number(&env, "position"),
            0,
            "the log's position is the stream sequence"
        );
        let occurred_on = text(&env, "occurred_on");
        assert!(
            occurred_on.len() == 10 && occurred_on.as_bytes()[4] == b'-',
            "{occurred_on}"
        );

        // Versions count from 1 per cooperative; the chain links each event to the previous.
        let (prev_version, prev_hash) = last.get(&coop).cloned().unwrap_or((0, vec![0; 32]));
        assert_eq!(version, prev_version + 1, "{coop}: versions are contiguous");
        assert_eq!(
            bytes(&env, "prev_hash"),
            prev_hash,
            "{coop} v{version}: prev_hash"
        );
        let hash = bytes(&env, "hash");
        assert_eq!(hash.len(), 32);
        assert_eq!(
            chain_hash(&env),
            hash,
            "{coop} v{version}: SHA-256(prev_hash ‖ canonical JSON) rebuilt from the protobuf"
        );
        last.insert(coop.clone(), (version, hash));
        // The server keeps the publisher's precondition: the coop's previous event's position.
        let prev_seq = last_seq.insert(coop.clone(), seq).unwrap_or(0);
        assert_eq!(
            header("Nats-Expected-Last-Subject-Sequence"),
            prev_seq.to_string()
        );

        // The facts, read by field name.
        match case.as_str() {
            "cooperative_registered" if coop == "REH-0001" => {
                assert_eq!(text(&data, "name"), "Ibdaat Rehamna");
                assert_eq!(text(&data, "commune"), "Benguérir");
                let sector = data
                    .get_field_by_name("sector")
                    .unwrap()
                    .as_enum_number()
                    .unwrap();
                let sector_enum = data.descriptor().get_field_by_name("sector").unwrap();
                let Kind::Enum(e) = sector_enum.kind() else {
                    panic!("enum")
                };
                assert_eq!(e.get_value(sector).unwrap().name(), "SECTOR_ARTISANAT");
            }
            "cooperative_registered" => assert_eq!(text(&data, "name"), "Annour"),
            // Halts are recorded as schema version 2: the legal basis is a message.
            "activity_halted_v2" => {
                assert_eq!(number(&data, "workers_affected"), 40);
                assert_eq!(text(&data, "effective_on"), "2020-03-20");
                assert_eq!(occurred_on, "2020-03-20");
                let basis = data.get_field_by_name("legal_basis").unwrap();
                let basis = basis.as_message().unwrap();
                assert!(
                    !text(basis, "reference").is_empty(),
                    "the decision's reference"
                );
            }
            "reorientation_declared" => {
                assert_eq!(number(&data, "capacity_min_per_day"), 2000);
                assert_eq!(number(&data, "capacity_max_per_day"), 3000);
                assert_eq!(text(&data, "to_activity"), "confection de masques");
            }
            "authorization_obtained" => {
                assert_eq!(text(&data, "issuing_body"), "IMANOR");
                let open_ended = text(&data, "valid_until").is_empty();
                assert_eq!(open_ended, request_id.ends_with("renewal"));
            }
            "sales_channel_opened" => {
                assert_eq!(text(&data, "city"), "Marrakech");
            }
            "event_retracted" => {
                let retracted = text(&data, "retracted_event_id");
                assert_eq!(
                    retracted, sent[6].1,
                    "the INDH tranche with the wrong amount"
                );
                assert_eq!(occurred_on.len(), 10, "the day it was recorded");
            }
            "support_granted" => {
                let partner = text(&data, "partner");
                let actor = env.get_field_by_name("actor").unwrap();
                let actor = actor.as_message().unwrap();
                assert_eq!(
                    text(actor, "organisation"),
                    partner,
                    "support in its own name"
                );
                let amount = data
                    .descriptor()
                    .get_field_by_name("amount_centimes")
                    .unwrap();
                if partner == "OCP" {
                    assert!(!data.has_field(&amount), "no amount given");
                } else {
                    assert_eq!(data.get_field(&amount).as_i64(), Some(5_000_000));
                }
                support_partners.push(partner);
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(support_partners, ["OCP", "INDH"]);
    assert_eq!(last["REH-0001"].0, 8);
    assert_eq!(last["REH-0002"].0, 2);
}
