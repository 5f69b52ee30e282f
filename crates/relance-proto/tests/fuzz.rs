//! Fuzzing by property tests: no input makes event decoding or command validation panic.
//!
//! Run longer with `PROPTEST_CASES=100000 cargo test -p relance-proto --test fuzz`; the default
//! (a few thousand cases per property) runs in CI.

use proptest::prelude::*;
use prost::Message as _;
use relance_domain as d;
use relance_proto::v1;
use relance_proto::CommandRequest as _;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(4096);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Any string, biased towards the characters that matter (subjects, controls, unicode).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[a-zA-Z0-9._*> \\-\u{0}\u{7}\n\u{202e}é]{0,80}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        Just(String::new()),
    ]
}

fn meta() -> impl Strategy<Value = Option<v1::CommandMeta>> {
    proptest::option::of(
        (text(), text(), proptest::option::of(any::<u64>()), text()).prop_map(
            |(request_id, cooperative_id, expected_version, correlation_id)| v1::CommandMeta {
                request_id,
                cooperative_id,
                expected_version,
                correlation_id,
            },
        ),
    )
}

fn halted() -> impl Strategy<Value = v1::ActivityHalted> {
    (text(), text(), text(), text(), any::<i32>(), any::<u32>()).prop_map(
        |(a, b, c, d, scope, w)| v1::ActivityHalted {
            authority: a,
            decision_ref: b,
            effective_on: c,
            reason: d,
            scope,
            workers_affected: w.into(),
        },
    )
}

fn support() -> impl Strategy<Value = v1::SupportGranted> {
    (
        text(),
        any::<i32>(),
        proptest::option::of(any::<i64>()),
        text(),
        text(),
    )
        .prop_map(
            |(partner, kind, amount_centimes, description, granted_on)| v1::SupportGranted {
                partner,
                kind,
                amount_centimes,
                description,
                granted_on,
            },
        )
}

fn registered() -> impl Strategy<Value = v1::CooperativeRegistered> {
    (
        text(),
        text(),
        text(),
        any::<i32>(),
        text(),
        text(),
        any::<u32>(),
        any::<u32>(),
        text(),
    )
        .prop_map(
            |(name, court, number, sector, activity, commune, members, employees, on)| {
                v1::CooperativeRegistered {
                    name,
                    registry_court: court,
                    registry_number: number,
                    sector,
                    activity,
                    commune,
                    members: members.into(),
                    employees: employees.into(),
                    registered_on: on,
                }
            },
        )
}

fn context(id: d::CoopId) -> d::Context {
    d::Context {
        cooperative_id: id,
        event_id: "evt".into(),
        request_id: "req".into(),
        correlation_id: String::new(),
        recorded_at_ms: 1_590_000_000_000,
        actor: d::Actor {
            principal: "p".into(),
            organisation: "OCP".into(),
        },
        expected_version: None,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_make_envelope_decoding_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = relance_proto::decode_envelope(&bytes);
    }

    #[test]
    fn mutated_valid_envelopes_decode_or_fail_cleanly(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let agg = d::Aggregate::new();
        let cmd = d::Command::Register(d::CooperativeRegistered {
            name: "Ibdaat Rehamna".into(),
            registry_court: "TPI Benguérir".into(),
            registry_number: "12/2015".into(),
            sector: d::Sector::Artisanat,
            activity: "couture et broderie".into(),
            commune: "Benguérir".into(),
            members: 12,
            employees: 20,
            registered_on: d::Date::parse("2015-06-01").expect("date"),
        });
        let env = d::decide(&agg, cmd, &context(d::CoopId::parse("REH-0001").expect("id"))).expect("valid");
        let mut bytes = relance_proto::encode_envelope(&env);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok(decoded) = relance_proto::decode_envelope(&bytes) {
            // Whatever decodes is a well-formed envelope: it re-encodes and decodes to itself.
            let again = relance_proto::decode_envelope(&relance_proto::encode_envelope(&decoded)).expect("round trip");
            prop_assert_eq!(again, decoded);
        }
    }

    #[test]
    fn arbitrary_requests_are_validated_without_panicking(
        m in meta(),
        reg in proptest::option::of(registered()),
        halt in proptest::option::of(halted()),
        sup in proptest::option::of(support()),
    ) {
        let checks = [
            v1::RegisterRequest { meta: m.clone(), data: reg }.into_command(),
            v1::HaltRequest { meta: m.clone(), data: halt, legal_basis: None }.into_command(),
            v1::GrantSupportRequest { meta: m, data: sup }.into_command(),
        ];
        for outcome in checks {
            match outcome {
                // Shape-valid requests go on to decide, which must not panic either.
                Ok((meta, cmd)) => {
                    let agg = d::Aggregate::new();
                    let _ = d::decide(&agg, cmd, &context(meta.cooperative_id));
                }
                Err(rejection) => {
                    prop_assert!(rejection.field().is_some(), "input rejections name a field: {rejection}");
                }
            }
        }
    }

    #[test]
    fn wire_bytes_of_any_request_never_make_decoding_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(req) = v1::RegisterRequest::decode(&bytes[..]) {
            let _ = req.into_command();
        }
        if let Ok(req) = v1::RetractRequest::decode(&bytes[..]) {
            let _ = req.into_command();
        }
    }
}
