//! The province summary of the known history, computed by hand (see `stream::realistic`).

use std::collections::BTreeMap;

use relance_domain::{Sector, Status, Summary, SupportKind, Totals};

use crate::stream::{
    prefecture, realistic, retract, BENGUERIR, INDH, OCP, ODCO, SIDI_BOU_OTHMANE, SKHOUR,
};
use crate::{expected_states, expected_summary, Views};

fn totals(count: u64, amount_centimes: i64) -> Totals {
    Totals {
        count,
        amount_centimes,
    }
}

fn months(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
    entries.iter().map(|(m, n)| ((*m).to_owned(), *n)).collect()
}

#[test]
fn summary_of_a_known_history_counts_sectors_statuses_communes_idled_workers_reorientations_support_and_resumptions(
) {
    let r = realistic();
    let events = r.builder.events();
    let views = Views::replayed(events);
    let s = views.summary();

    assert_eq!(s.cooperatives, 6);
    assert_eq!(s.members, 14 + 25 + 8 + 15 + 32 + 10);
    assert_eq!(s.employees, 5 + 1 + 2 + 4);
    assert_eq!(
        s.by_sector,
        BTreeMap::from([
            (Sector::Agriculture, 3),
            (Sector::Artisanat, 2),
            (Sector::Argane, 1)
        ])
    );
    assert_eq!(
        s.by_status,
        BTreeMap::from([
            (Status::Active, 2),
            (Status::Halted, 2),
            (Status::Reoriented, 1),
            (Status::Resumed, 1)
        ])
    );
    assert_eq!(
        s.by_commune,
        BTreeMap::from([
            (BENGUERIR.to_owned(), 2),
            (SKHOUR.to_owned(), 2),
            (SIDI_BOU_OTHMANE.to_owned(), 2)
        ])
    );
    // REH-0004's open halt (20) and REH-0005's second one (12); REH-0003's halt was retracted.
    assert_eq!(s.workers_idled, 20 + 12);
    // REH-0001 only: REH-0004 is reoriented too, but its open halt makes it halted.
    assert_eq!(s.reoriented, 1);
    assert_eq!(s.reoriented_capacity_min_per_day, 800);
    assert_eq!(s.reoriented_capacity_max_per_day, 1200);
    // INDH's mistaken second tranche to REH-0002 was retracted: one financial grant remains.
    assert_eq!(
        s.support,
        BTreeMap::from([
            (
                INDH.to_owned(),
                BTreeMap::from([
                    (SupportKind::Financial, totals(1, 2_000_000)),
                    (SupportKind::Equipment, totals(1, 800_000)),
                ])
            ),
            (
                ODCO.to_owned(),
                BTreeMap::from([
                    (SupportKind::Financial, totals(1, 5_000_000)),
                    (SupportKind::Training, totals(1, 0)),
                ])
            ),
            (
                OCP.to_owned(),
                BTreeMap::from([
                    (SupportKind::Commercialisation, totals(1, 1_500_000)),
                    (SupportKind::Equipment, totals(1, 0)),
                ])
            ),
        ])
    );
    assert_eq!(
        s.resumptions_by_month,
        months(&[("2020-04", 1), ("2020-05", 1), ("2020-06", 1)])
    );
    assert_eq!(
        s,
        expected_summary(&expected_states(events)),
        "the sum of the folded states"
    );
}

#[test]
fn retracting_a_support_grant_takes_it_out_of_the_support_totals() {
    let r = realistic();
    let events = r.builder.events();
    let views = Views::empty();
    let retraction_at = r.builder.position_of(&r.mistaken_grant_retraction) as usize;

    // Positions start at 1: the first `retraction_at - 1` events come before the retraction.
    views
        .apply(&events[..retraction_at - 1])
        .expect("apply up to the retraction");
    let indh = |s: &Summary| {
        s.support
            .get(INDH)
            .and_then(|k| k.get(&SupportKind::Financial))
            .copied()
    };
    assert_eq!(
        indh(&views.summary()),
        Some(totals(2, 2_000_000 + 3_000_000))
    );
    let view = views
        .get("REH-0002")
        .expect("read")
        .expect("REH-0002 exists");
    assert_eq!(view.support.len(), 2);

    views
        .apply(&events[retraction_at - 1..retraction_at])
        .expect("apply the retraction");
    assert_eq!(indh(&views.summary()), Some(totals(1, 2_000_000)));
    let view = views
        .get("REH-0002")
        .expect("read")
        .expect("REH-0002 exists");
    assert_eq!(view.support.len(), 1);
    assert_eq!(
        view.support_totals[INDH][&SupportKind::Financial],
        totals(1, 2_000_000)
    );
    assert_eq!(view.retracted, vec![r.mistaken_grant.clone()]);
}

#[test]
fn retracting_a_halt_gives_back_the_idled_workers_and_statuses_from_before_the_halt() {
    let mut r = realistic();
    let halt_at = r.builder.position_of(&r.second_halt) as usize;
    let views = Views::empty();

    views
        .apply(&r.builder.events()[..halt_at - 1])
        .expect("apply up to REH-0005's second halt");
    let before_halt = views.summary();
    assert_eq!(before_halt.workers_idled, 20);
    assert_eq!(before_halt.by_status.get(&Status::Resumed), Some(&2));

    views.apply(r.builder.events()).expect("apply the rest");
    let halted = views.summary();
    assert_eq!(halted.workers_idled, 20 + 12);
    assert_eq!(halted.by_status.get(&Status::Halted), Some(&2));
    assert_eq!(halted.by_status.get(&Status::Resumed), Some(&1));

    let second_halt = r.second_halt.clone();
    r.builder.record(
        "REH-0005",
        &prefecture(),
        retract(&second_halt, "levée de la décision"),
    );
    views
        .apply(r.builder.events())
        .expect("apply the retraction");
    let retracted = views.summary();
    assert_eq!(retracted.workers_idled, before_halt.workers_idled);
    assert_eq!(retracted.by_status, before_halt.by_status);
    // The headcount recorded after the halt still counts.
    assert_eq!(retracted.members, halted.members);
    let view = views
        .get("REH-0005")
        .expect("read")
        .expect("REH-0005 exists");
    assert_eq!(view.status, Status::Resumed);
    assert_eq!(view.open_halt, None);
    assert_eq!((view.members, view.employees), (32, 4));
    assert_eq!(
        retracted,
        expected_summary(&expected_states(r.builder.events()))
    );
}
