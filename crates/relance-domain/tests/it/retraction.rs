//! State: retractions undo a fact as if it had never been recorded, status follows its
//! priority, and incremental application agrees with a fold of the history.

use std::collections::BTreeMap;

use relance_domain::{
    fold, Aggregate, CoopState, HaltScope, Recorded, Status, SupportKind, Totals,
};

use crate::*;

/// The facts of `history` folded without the event `event_id`.
fn facts_without(history: &[Recorded], event_id: &str) -> CoopState {
    let kept: Vec<&Recorded> = history
        .iter()
        .filter(|r| r.envelope.event_id != event_id)
        .collect();
    fold(kept.iter().copied())
        .expect("still registered")
        .facts()
}

/// `scenario` plus a retraction of its event at `version`; asserts that the state has the
/// facts of the same history without that event, and that only the bookkeeping moved.
fn retract(scenario: Scenario, version: u64) -> Scenario {
    let target = scenario.event_id(version);
    let before = scenario.state().clone();
    let after = scenario.and(retraction(&target));
    let state = after.state();
    let history = after.aggregate().history();
    assert_eq!(
        state.facts(),
        facts_without(history, &target),
        "retracting {target}"
    );
    assert_eq!(state.retracted, vec![target]);
    assert_eq!(state.version, before.version + 1);
    assert_eq!(
        state.last_hash,
        history.last().expect("events").envelope.hash
    );
    after
}

fn totals(
    entries: &[(&str, SupportKind, u64, i64)],
) -> BTreeMap<String, BTreeMap<SupportKind, Totals>> {
    let mut out: BTreeMap<String, BTreeMap<SupportKind, Totals>> = BTreeMap::new();
    for (partner, kind, count, amount_centimes) in entries {
        let totals = Totals {
            count: *count,
            amount_centimes: *amount_centimes,
        };
        out.entry((*partner).to_owned())
            .or_default()
            .insert(*kind, totals);
    }
    out
}

#[test]
fn retracting_a_halt_lifts_it() {
    let halted = registered().and(support()).and(halt());
    assert_eq!(halted.state().workers_idled(), 40);
    assert_eq!(halted.state().status, Status::Halted);
    let state = retract(halted, 3).state().clone();
    assert_eq!(state.open_halt, None);
    assert_eq!(state.workers_idled(), 0);
    assert!(state.past_halts.is_empty());
    assert_eq!(state.status, Status::Active);
    assert_eq!(state.facts(), registered().and(support()).state().facts());
}

#[test]
fn retracting_support_takes_its_totals_back() {
    let indh = SupportGranted {
        partner: "INDH".to_owned(),
        kind: SupportKind::Financial,
        amount_centimes: Some(100_000),
        ..support()
    };
    let second_ocp = SupportGranted {
        amount_centimes: Some(2_000),
        ..support()
    };
    let supported = registered().and(support()).and(indh).and(second_ocp);
    assert_eq!(
        supported.state().support_totals,
        totals(&[
            ("INDH", SupportKind::Financial, 1, 100_000),
            ("OCP", SupportKind::Commercialisation, 2, 5_002_000),
        ])
    );
    let once = retract(supported, 2);
    assert_eq!(
        once.state().support_totals,
        totals(&[
            ("INDH", SupportKind::Financial, 1, 100_000),
            ("OCP", SupportKind::Commercialisation, 1, 2_000),
        ])
    );
    assert_eq!(once.state().support.len(), 2);
    let twice = once.and(retraction("evt-4"));
    assert_eq!(
        twice.state().support_totals,
        totals(&[("INDH", SupportKind::Financial, 1, 100_000)])
    );
    assert_eq!(twice.state().support.len(), 1);
    assert_eq!(twice.state().support[0].event_id, "evt-3");
}

#[test]
fn retracting_a_reorientation_restores_the_activity() {
    let masks = registered().and(reorientation());
    assert_eq!(masks.state().current_activity, "masques de protection");
    let state = retract(masks, 2).state().clone();
    assert_eq!(state.current_activity, "couture et broderie");
    assert_eq!(state.current_capacity(), None);
    assert_eq!(state.status, Status::Active);

    let gel = ReorientationDeclared {
        from_activity: "masques de protection".to_owned(),
        to_activity: "blouses médicales".to_owned(),
        effective_on: date("2020-05-01"),
        ..reorientation()
    };
    let state = retract(registered().and(reorientation()).and(gel), 3)
        .state()
        .clone();
    assert_eq!(state.current_activity, "masques de protection");
    assert_eq!(state.current_capacity(), Some((2_000, 3_000)));
    assert_eq!(state.status, Status::Reoriented);
}

#[test]
fn retracting_a_resumption_reopens_the_halt() {
    let resumed = registered().and(halt()).and(resume());
    assert_eq!(resumed.state().workers_idled(), 0);
    let state = retract(resumed, 3).state().clone();
    let open = state.open_halt.as_ref().expect("halted again");
    assert_eq!(
        (open.since, open.until, open.workers_back),
        (halt().effective_on, None, None)
    );
    assert_eq!(state.workers_idled(), 40);
    assert!(state.resumptions.is_empty());
    assert!(state.past_halts.is_empty());
    assert_eq!(state.status, Status::Halted);
}

#[test]
fn retracting_the_halt_of_a_resumption_keeps_the_resumption() {
    let state = retract(registered().and(halt()).and(resume()), 2)
        .state()
        .clone();
    assert_eq!(state.open_halt, None);
    assert!(state.past_halts.is_empty());
    assert_eq!(state.resumptions, vec![resume().effective_on]);
    assert_eq!(state.status, Status::Resumed);
}

#[test]
fn retracting_the_resumption_between_two_halts_keeps_both_halts() {
    let second = ActivityHalted {
        effective_on: date("2020-05-20"),
        workers_affected: 10,
        ..halt()
    };
    let scenario = registered().and(halt()).and(resume()).and(second);
    let state = retract(scenario, 3).state().clone();
    let open = state.open_halt.as_ref().expect("the second halt is open");
    assert_eq!(
        (open.event_id.as_str(), open.since),
        ("evt-4", date("2020-05-20"))
    );
    let past: Vec<(&str, Date, Option<Date>)> = state
        .past_halts
        .iter()
        .map(|h| (h.event_id.as_str(), h.since, h.until))
        .collect();
    assert_eq!(past, vec![("evt-2", date("2020-03-20"), None)]);
    assert_eq!(state.workers_idled(), 10);
    assert!(state.resumptions.is_empty());
}

#[test]
fn retracting_a_headcount_restores_the_previous_one() {
    let first = HeadcountReported {
        members: 13,
        employees: 8,
        as_of: date("2020-04-30"),
    };
    let reported = registered().and(first).and(headcount());
    assert_eq!(
        (reported.state().members, reported.state().employees),
        (14, 20)
    );
    let state = retract(reported, 3).state().clone();
    assert_eq!(
        (state.members, state.employees, state.headcount_as_of),
        (13, 8, date("2020-04-30"))
    );
    let state = retract(registered().and(headcount()), 2).state().clone();
    assert_eq!((state.members, state.employees), (12, 3));
    assert_eq!(state.headcount_as_of, registration().registered_on);
}

#[test]
fn retracting_an_authorization_or_a_channel_removes_it() {
    let state = retract(registered().and(authorization()).and(channel()), 2)
        .state()
        .clone();
    assert!(state.authorizations.is_empty());
    assert_eq!(state.sales_channels, vec![channel()]);
    let state = retract(registered().and(authorization()).and(channel()), 3)
        .state()
        .clone();
    assert_eq!(state.authorizations, vec![authorization()]);
    assert!(state.sales_channels.is_empty());
}

#[test]
fn a_retracted_halt_no_longer_counts_for_the_rules() {
    let lifted = registered().and(halt()).and(retraction("evt-2"));
    lifted.when(resume()).then_rejected_state(Rule::NotHalted);
    let halted_again = lifted.and(ActivityHalted {
        effective_on: date("2020-03-23"),
        ..halt()
    });
    let open = halted_again.state().open_halt.clone().expect("halted");
    assert_eq!(
        (open.event_id.as_str(), open.since),
        ("evt-4", date("2020-03-23"))
    );
    // The retracted halt's date no longer bounds the resumption either.
    let resumed = ActivityResumed {
        effective_on: date("2020-03-21"),
        ..resume()
    };
    halted_again
        .when(resumed)
        .then_rejected_on(Rule::ResumeBeforeHalt, "effective_on");
}

#[test]
fn retractions_keep_the_history() {
    let scenario = registered()
        .and(halt())
        .and(support())
        .and(retraction("evt-2"));
    let history = scenario.aggregate().history();
    assert_eq!(history.len(), 4);
    assert!(history.iter().any(|r| r.envelope.event_id == "evt-2"));
    let state = scenario.state();
    assert_eq!((state.version, state.last_position), (4, 4));
    assert_eq!(state.retracted, vec!["evt-2".to_owned()]);
    assert_eq!(state.support.len(), 1);
}

#[test]
fn from_history_and_fold_agree_with_incremental_application() {
    let scenario = registered()
        .and(halt())
        .and(reorientation())
        .and(support())
        .and(retraction("evt-3"))
        .and(resume())
        .and(retraction("evt-2"))
        .and(headcount());
    let history = scenario.aggregate().history();
    let mut incremental = Aggregate::new();
    for (i, rec) in history.iter().enumerate() {
        incremental.apply(rec.clone());
        let prefix = &history[..=i];
        assert_eq!(
            incremental.state(),
            fold(prefix).as_ref(),
            "after {}",
            rec.envelope.event_id
        );
        assert_eq!(incremental, Aggregate::from_history(prefix.to_vec()));
    }
    assert_eq!(&incremental, scenario.aggregate());
    let state = scenario.state();
    assert_eq!(
        state.retracted,
        vec!["evt-3".to_owned(), "evt-2".to_owned()]
    );
    assert_eq!(state.status, Status::Resumed);
}

#[test]
fn nothing_exists_before_a_registration() {
    assert_eq!(fold(&[]), None);
    assert_eq!(Aggregate::new().state(), None);
    assert_eq!(Aggregate::new().version(), 0);
}

// ---- Status: halted > reoriented > resumed > active ----

#[test]
fn status_follows_its_priority() {
    let partial = ActivityHalted {
        scope: HaltScope::Partial,
        ..halt()
    };
    let cases: Vec<(Vec<Command>, Status)> = vec![
        (vec![], Status::Active),
        (
            vec![
                support().into_command(),
                channel().into_command(),
                authorization().into_command(),
                headcount().into_command(),
            ],
            Status::Active,
        ),
        (vec![halt().into_command()], Status::Halted),
        (vec![partial.into_command()], Status::Halted),
        (vec![reorientation().into_command()], Status::Reoriented),
        (
            vec![halt().into_command(), reorientation().into_command()],
            Status::Halted,
        ),
        (
            vec![reorientation().into_command(), halt().into_command()],
            Status::Halted,
        ),
        (
            vec![
                halt().into_command(),
                reorientation().into_command(),
                resume().into_command(),
            ],
            Status::Reoriented,
        ),
        (
            vec![
                halt().into_command(),
                resume().into_command(),
                reorientation().into_command(),
            ],
            Status::Reoriented,
        ),
        (
            vec![halt().into_command(), resume().into_command()],
            Status::Resumed,
        ),
        (
            vec![
                halt().into_command(),
                resume().into_command(),
                channel().into_command(),
            ],
            Status::Resumed,
        ),
        (
            vec![
                halt().into_command(),
                resume().into_command(),
                ActivityHalted {
                    effective_on: date("2020-05-20"),
                    ..halt()
                }
                .into_command(),
            ],
            Status::Halted,
        ),
    ];
    for (commands, expected) in cases {
        let kinds: Vec<&str> = commands.iter().map(Command::event_type).collect();
        let scenario = commands.into_iter().fold(registered(), Scenario::and);
        assert_eq!(scenario.state().status, expected, "after {kinds:?}");
    }
}

#[test]
fn status_does_not_depend_on_recording_order() {
    let a = registered().and(halt()).and(resume()).and(reorientation());
    let b = registered().and(halt()).and(reorientation()).and(resume());
    assert_eq!(a.state().status, b.state().status);
    assert_eq!(a.state().current_activity, b.state().current_activity);
    assert_eq!(a.state().workers_idled(), b.state().workers_idled());
}

#[test]
fn status_after_retractions_falls_back_in_priority() {
    let all = registered().and(halt()).and(reorientation()).and(resume());
    assert_eq!(all.state().status, Status::Reoriented);
    let resumed = all.clone().and(retraction("evt-3"));
    assert_eq!(resumed.state().status, Status::Resumed);
    // The halt is open again once its resumption is retracted.
    let halted = resumed.and(retraction("evt-4"));
    assert_eq!(halted.state().status, Status::Halted);
    let active = halted.and(retraction("evt-2"));
    assert_eq!(active.state().status, Status::Active);
    assert_eq!(all.and(retraction("evt-4")).state().status, Status::Halted);
}
