//! A cooperative's history: its events in version order, retracted ones marked.

use relance_projection::Retraction;

use crate::stream::{
    indh_controller, prefecture, realistic, MISTAKEN_GRANT_REASON, RECORDED_FROM_MS,
    WRONG_HALT_REASON,
};
use crate::Views;

#[test]
fn history_returns_events_in_version_order_and_marks_retracted_ones_with_their_retraction() {
    let r = realistic();
    let events = r.builder.events();
    let views = Views::replayed(events);

    let history = views.history("REH-0002").expect("history");
    let stored: Vec<_> = events
        .iter()
        .filter(|e| e.cooperative_id.as_str() == "REH-0002")
        .collect();
    assert_eq!(history.len(), stored.len());
    for (i, (item, e)) in history.iter().zip(&stored).enumerate() {
        let env = &item.recorded.envelope;
        assert_eq!(env.version, i as u64 + 1, "version order");
        assert_eq!(
            (item.recorded.position, env.event_id.as_str()),
            (e.position, e.event_id.as_str())
        );
        assert_eq!(env.event.type_name(), e.event_type);
    }
    let types: Vec<_> = history
        .iter()
        .map(|h| h.recorded.envelope.event.type_name())
        .collect();
    assert_eq!(
        types,
        [
            "CooperativeRegistered",
            "ActivityHalted",
            "SupportGranted",
            "ActivityResumed",
            "SupportGranted",
            "EventRetracted"
        ]
    );

    let retraction_at = r.builder.position_of(&r.mistaken_grant_retraction);
    let expected = Retraction {
        event_id: r.mistaken_grant_retraction.clone(),
        reason: MISTAKEN_GRANT_REASON.to_owned(),
        principal: indh_controller().principal,
        recorded_at_ms: RECORDED_FROM_MS + retraction_at as i64 * 60_000,
    };
    for item in &history {
        let marked = item.recorded.envelope.event_id == r.mistaken_grant;
        let want = marked.then(|| expected.clone());
        assert_eq!(
            item.retracted_by, want,
            "{}",
            item.recorded.envelope.event_id
        );
    }
}

#[test]
fn history_marks_a_retracted_halt_and_keeps_it_in_place() {
    let r = realistic();
    let views = Views::replayed(r.builder.events());
    let history = views.history("REH-0003").expect("history");
    let versions: Vec<u64> = history
        .iter()
        .map(|h| h.recorded.envelope.version)
        .collect();
    assert_eq!(versions, (1..=history.len() as u64).collect::<Vec<_>>());

    let halt = history
        .iter()
        .find(|h| h.recorded.envelope.event_id == r.wrong_halt)
        .expect("the retracted halt stays in the history");
    assert_eq!(halt.recorded.envelope.event.type_name(), "ActivityHalted");
    let by = halt
        .retracted_by
        .as_ref()
        .expect("the halt is marked retracted");
    assert_eq!(by.event_id, r.wrong_halt_retraction);
    assert_eq!(by.reason, WRONG_HALT_REASON);
    assert_eq!(by.principal, prefecture().principal);
    let at = r.builder.position_of(&r.wrong_halt_retraction);
    assert_eq!(by.recorded_at_ms, RECORDED_FROM_MS + at as i64 * 60_000);
    assert_eq!(
        history.iter().filter(|h| h.retracted_by.is_some()).count(),
        1
    );

    let view = views
        .get("REH-0003")
        .expect("read")
        .expect("REH-0003 exists");
    assert_eq!(view.open_halt, None);
    assert_eq!(view.retracted, vec![r.wrong_halt.clone()]);
    assert!(views.history("REH-9999").expect("history").is_empty());
}
