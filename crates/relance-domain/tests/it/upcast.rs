//! Schema evolution: a halt of schema version 1 (free-text `decision_ref`), stored forever, is
//! read through the upcaster as the current halt (a structured legal basis); its stored form,
//! and so its hash, stays what it was.

use relance_domain::upcast::ActivityHaltedV1;
use relance_domain::{canonical_bytes, chain_hash, fold, Recorded, SCHEMA_VERSION};

use crate::*;

/// A halt as relance's first release recorded it (position 4 of the audit fixture,
/// crates/relance-audit/tests/fixtures/v1-history.jsonl), as stored.
const V1_HALT: &str = r#"{"event_id":"01a22a42-f6cf-75bf-9005-b6b25934ea81","cooperative_id":"REH-0001","version":2,"recorded_at_ms":1796005361359,"occurred_on":"2020-03-20","actor":{"principal":"cli","organisation":"prefecture"},"request_id":"fx-4","correlation_id":"","schema_version":1,"prev_hash":"768e34d2f683df39ba38738815f356aa67f0f5c1cc980f1328e3c5f9c98792c6","hash":"ce7262560ec3ecb028aeacc2b4ae4baba2dd2be943e4e62bc72cf9a878da5d54","event":{"type":"ActivityHalted","data":{"authority":"Autorités locales","decision_ref":"Arrêté gubernatorial n° 12/2020 du 19 mars 2020","effective_on":"2020-03-20","reason":"état d'urgence sanitaire","scope":"total","workers_affected":40}}}"#;

fn v1_halt(decision_ref: &str) -> ActivityHaltedV1 {
    ActivityHaltedV1 {
        authority: "Autorités locales".to_owned(),
        decision_ref: decision_ref.to_owned(),
        effective_on: date("2020-03-20"),
        reason: "état d'urgence sanitaire".to_owned(),
        scope: HaltScope::Total,
        workers_affected: 40,
    }
}

#[test]
fn given_a_v1_halt_with_a_reference_when_upcast_then_the_reference_is_the_legal_basis() {
    let halt = v1_halt("DEC-2020-03").upcast();
    assert_eq!(
        halt.legal_basis,
        Some(LegalBasis {
            instrument: None,
            reference: "DEC-2020-03".to_owned(),
            issued_on: None,
        })
    );
    assert_eq!(
        (
            halt.authority.as_str(),
            halt.effective_on,
            halt.workers_affected
        ),
        ("Autorités locales", date("2020-03-20"), 40)
    );
}

#[test]
fn given_a_v1_halt_without_a_reference_when_upcast_then_it_has_no_legal_basis() {
    assert_eq!(v1_halt("").upcast().legal_basis, None);
}

#[test]
fn the_v1_form_of_an_upcast_halt_is_the_stored_one_and_a_structured_basis_has_none() {
    for reference in ["DEC-2020-03", ""] {
        let v1 = v1_halt(reference);
        assert_eq!(ActivityHaltedV1::of(&v1.clone().upcast()), Some(v1));
    }
    assert_eq!(
        ActivityHaltedV1::of(&halt()),
        None,
        "an instrument and a date"
    );
}

#[test]
fn given_a_stored_v1_envelope_when_read_then_it_is_the_current_type_and_its_hash_verifies() {
    let env: Envelope = serde_json::from_str(V1_HALT).expect("a v1 envelope reads");
    assert_eq!(env.schema_version, 1);
    let Event::ActivityHalted(halt) = &env.event else {
        panic!("a halt: {:?}", env.event)
    };
    assert_eq!(
        halt.legal_basis.as_ref().map(|b| b.reference.as_str()),
        Some("Arrêté gubernatorial n° 12/2020 du 19 mars 2020")
    );
    // The hash covers the stored (v1) form, which writing the envelope gives back exactly.
    assert_eq!(chain_hash(&env), env.hash);
    let stored: serde_json::Value = serde_json::from_str(V1_HALT).expect("JSON");
    let written: serde_json::Value = serde_json::to_value(&env).expect("JSON");
    assert_eq!(written, stored);
    assert!(!String::from_utf8_lossy(&canonical_bytes(&env)).contains("legal_basis"));
}

#[test]
fn when_a_halt_is_recorded_then_it_is_schema_version_2_and_others_stay_1() {
    let scenario = registered();
    let halt = scenario.when(halt()).then_accepted();
    assert_eq!(halt.schema_version, 2);
    assert_eq!(chain_hash(&halt), halt.hash);
    let json = serde_json::to_string(&halt).expect("JSON");
    assert!(json.contains("\"legal_basis\""), "{json}");
    let back: Envelope = serde_json::from_str(&json).expect("a v2 envelope reads");
    assert_eq!(back, halt);
    assert_eq!(
        scenario.aggregate().history()[0].envelope.schema_version,
        SCHEMA_VERSION
    );
}

#[test]
fn given_a_history_of_both_versions_when_folded_then_each_halt_keeps_what_it_said() {
    let v1: Envelope = serde_json::from_str(V1_HALT).expect("a v1 envelope reads");
    let registration = Scenario::for_coop("REH-0001").and(registration());
    let mut history = vec![registration.aggregate().history()[0].clone()];
    history.push(Recorded {
        position: 2,
        envelope: v1,
    });
    let state = fold(history.iter()).expect("registered");
    let open = state.open_halt.as_ref().expect("halted by the v1 event");
    assert_eq!(
        open.decision_ref,
        "Arrêté gubernatorial n° 12/2020 du 19 mars 2020"
    );
    assert_eq!(
        open.legal_basis, None,
        "nothing more than a reference was stated"
    );

    let v2 = registered().and(halt());
    let state = v2.state();
    let open = state.open_halt.as_ref().expect("halted by the v2 event");
    assert_eq!(open.decision_ref, "Arrêté gubernatorial n° 12/2020");
    assert_eq!(
        open.legal_basis.as_ref().and_then(|b| b.instrument),
        Some(LegalInstrument::Order)
    );
}
