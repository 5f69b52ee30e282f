//! The filter of a live subscription: given a history, when a filter is asked of each event,
//! then exactly the events it names pass; a malformed filter is refused naming field and rule.

use relance_domain::{EventFilter, Rule, MAX_WATCHED_COOPERATIVES};

use crate::*;

fn filter(coops: &[&str], types: &[&str], partner: &str) -> EventFilter {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    EventFilter::parse(&owned(coops), &owned(types), partner).expect("a valid filter")
}

/// Registration, halt, support by OCP, resume: event types in version order.
fn spring() -> Scenario {
    given([
        registration().into_command(),
        halt().into_command(),
        support().into_command(),
        resume().into_command(),
    ])
}

fn passing(s: &Scenario, f: &EventFilter) -> Vec<&'static str> {
    s.aggregate()
        .history()
        .iter()
        .filter(|r| f.matches(&r.envelope))
        .map(|r| r.envelope.event.type_name())
        .collect()
}

#[test]
fn an_empty_filter_passes_every_event() {
    let f = filter(&[], &[], "");
    assert!(f.is_everything());
    assert_eq!(passing(&spring(), &f).len(), 4);
}

#[test]
fn a_type_filter_passes_only_those_types() {
    let f = filter(&[], &["ActivityHalted", "ActivityResumed"], "");
    assert!(!f.is_everything());
    assert_eq!(
        passing(&spring(), &f),
        ["ActivityHalted", "ActivityResumed"]
    );
}

#[test]
fn a_cooperative_filter_passes_only_its_cooperatives() {
    let other = Scenario::for_coop("REH-0002").and(registration());
    let f = filter(&["REH-0002"], &[], "");
    assert!(passing(&spring(), &f).is_empty());
    assert_eq!(passing(&other, &f), ["CooperativeRegistered"]);
}

#[test]
fn a_partner_filter_passes_its_grants_and_what_its_principals_recorded() {
    // The support is granted by OCP and recorded by an OCP principal (see `context_for`).
    assert_eq!(
        passing(&spring(), &filter(&[], &[], "OCP")),
        ["SupportGranted"]
    );
    assert!(passing(&spring(), &filter(&[], &[], "INDH")).is_empty());
    // Another organisation's principal recording anything names that organisation.
    let env = registered().when_by(support(), "OCP").then_accepted();
    assert!(filter(&[], &[], "OCP").matches(&env));
    assert!(!filter(&[], &[], "prefecture").matches(&env));
}

#[test]
fn filters_combine_by_and() {
    let f = filter(&[COOP], &["SupportGranted"], "INDH");
    assert!(passing(&spring(), &f).is_empty());
    let f = filter(&[COOP], &["SupportGranted"], "OCP");
    assert_eq!(passing(&spring(), &f), ["SupportGranted"]);
}

#[test]
fn a_malformed_filter_is_refused_naming_field_and_rule() {
    let refused = |coops: Vec<String>, types: Vec<String>, partner: &str| {
        EventFilter::parse(&coops, &types, partner).expect_err("refused")
    };
    let r = refused(vec!["not an id".into()], vec![], "");
    assert_eq!(
        (r.rule(), r.field()),
        (Rule::CooperativeIdFormat, Some("cooperative_ids"))
    );
    let r = refused(vec![], vec!["CooperativeDissolved".into()], "");
    assert_eq!(
        (r.rule(), r.field()),
        (Rule::InvalidEnum, Some("event_types"))
    );
    assert!(r.to_string().contains("ActivityHalted"), "{r}");
    let r = refused(vec![], vec![], "OCP\u{7}");
    assert_eq!(
        (r.rule(), r.field()),
        (Rule::ControlCharacter, Some("partner"))
    );
    let many = (0..=MAX_WATCHED_COOPERATIVES)
        .map(|i| format!("REH-{i}"))
        .collect();
    let r = refused(many, vec![], "");
    assert_eq!(
        (r.rule(), r.field()),
        (Rule::NumberTooLarge, Some("cooperative_ids"))
    );
}
