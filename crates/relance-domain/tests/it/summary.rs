//! The province summary: a sum of contributions that can be taken back exactly.

use relance_domain::{fold, CoopState, Sector, Status, Summary, SupportKind, Totals};

use crate::*;

/// A few cooperatives in different situations, with their histories.
fn province() -> Vec<Scenario> {
    let farm = CooperativeRegistered {
        name: "Coopérative agricole Skhour".to_owned(),
        sector: Sector::Agriculture,
        activity: "élevage".to_owned(),
        commune: "Skhour Rhamna".to_owned(),
        members: 30,
        employees: 0,
        ..registration()
    };
    let annour = CooperativeRegistered {
        name: "Annour".to_owned(),
        sector: Sector::CommerceServices,
        activity: "électricité du bâtiment".to_owned(),
        members: 7,
        employees: 40,
        ..registration()
    };
    let indh = SupportGranted {
        partner: "INDH".to_owned(),
        kind: SupportKind::Financial,
        amount_centimes: Some(25_000_000),
        ..support()
    };
    vec![
        // Ibdaat Rehamna: halted, reoriented to masks, certified, supported, resumed.
        registered()
            .and(halt())
            .and(reorientation())
            .and(authorization())
            .and(support())
            .and(channel())
            .and(resume())
            .and(headcount()),
        // Annour: halted, still halted.
        Scenario::for_coop("REH-0002").and(annour).and(halt()),
        // A farm: supported twice, one grant retracted.
        Scenario::for_coop("REH-0003")
            .and(farm)
            .and(indh.clone())
            .and(SupportGranted {
                amount_centimes: None,
                ..indh
            })
            .and(retraction("REH-0003-evt-2")),
        // Resumed without reorientation.
        Scenario::for_coop("REH-0004")
            .and(registration())
            .and(halt())
            .and(resume()),
        // Registered only.
        Scenario::for_coop("REH-0005").and(registration()),
    ]
}

fn states(scenarios: &[Scenario]) -> Vec<CoopState> {
    scenarios.iter().map(|s| s.state().clone()).collect()
}

fn sum<'a>(states: impl IntoIterator<Item = &'a CoopState>) -> Summary {
    let mut summary = Summary::default();
    for s in states {
        summary.add(s);
    }
    summary
}

#[test]
fn the_summary_counts_the_province() {
    let summary = sum(&states(&province()));
    assert_eq!(summary.cooperatives, 5);
    assert_eq!(summary.members, 14 + 7 + 30 + 12 + 12);
    assert_eq!(
        summary.employees,
        20 + 40 + 3 + 3,
        "the farm has no employees"
    );
    let by_sector: Vec<(Sector, u64)> = summary.by_sector.clone().into_iter().collect();
    assert_eq!(
        by_sector,
        vec![
            (Sector::Agriculture, 1),
            (Sector::Artisanat, 3),
            (Sector::CommerceServices, 1)
        ]
    );
    let by_status: Vec<(Status, u64)> = summary.by_status.clone().into_iter().collect();
    assert_eq!(
        by_status,
        vec![
            (Status::Active, 2),
            (Status::Halted, 1),
            (Status::Reoriented, 1),
            (Status::Resumed, 1)
        ]
    );
    assert_eq!(summary.by_commune.get("Benguérir"), Some(&4));
    assert_eq!(summary.by_commune.get("Skhour Rhamna"), Some(&1));
    assert_eq!(summary.workers_idled, 40);
    assert_eq!(summary.reoriented, 1);
    assert_eq!(summary.reoriented_capacity_min_per_day, 2_000);
    assert_eq!(summary.reoriented_capacity_max_per_day, 3_000);
    assert_eq!(
        summary.support["OCP"][&SupportKind::Commercialisation],
        Totals {
            count: 1,
            amount_centimes: 5_000_000
        }
    );
    assert_eq!(
        summary.support["INDH"][&SupportKind::Financial],
        Totals {
            count: 1,
            amount_centimes: 0
        },
        "the retracted grant of 250,000 MAD no longer counts"
    );
    assert_eq!(summary.resumptions_by_month.get("2020-05"), Some(&2));
    assert_eq!(summary.resumptions_by_month.len(), 1);
    assert!((summary.sector_share(Sector::Artisanat) - 60.0).abs() < 1e-9);
    assert_eq!(Summary::default().sector_share(Sector::Artisanat), 0.0);
}

#[test]
fn removing_every_contribution_gives_the_default() {
    let states = states(&province());
    let mut summary = sum(&states);
    assert_ne!(summary, Summary::default());
    // In another order than they were added.
    for s in states
        .iter()
        .rev()
        .step_by(2)
        .chain(states.iter().rev().skip(1).step_by(2))
    {
        summary.remove(s);
    }
    assert_eq!(summary, Summary::default());
}

#[test]
fn the_summary_does_not_depend_on_order() {
    let states = states(&province());
    let forward = sum(&states);
    assert_eq!(sum(states.iter().rev()), forward);
    let mut shuffled = states.clone();
    shuffled.swap(0, 3);
    shuffled.swap(1, 4);
    assert_eq!(sum(&shuffled), forward);
}

#[test]
fn replacing_after_every_event_tracks_the_final_states() {
    let scenarios = province();
    let mut summary = Summary::default();
    // Interleave the cooperatives' events, as a projection reading the stream would.
    let longest = scenarios
        .iter()
        .map(|s| s.aggregate().history().len())
        .max()
        .unwrap_or(0);
    for i in 0..longest {
        for scenario in &scenarios {
            let history = scenario.aggregate().history();
            if i < history.len() {
                let old = if i == 0 { None } else { fold(&history[..i]) };
                let new = fold(&history[..=i]);
                summary.replace(old.as_ref(), new.as_ref());
            }
        }
    }
    let finals = states(&scenarios);
    assert_eq!(summary, sum(&finals));
    for s in &finals {
        summary.replace(Some(s), None);
    }
    assert_eq!(summary, Summary::default());
}

#[test]
fn replace_with_itself_changes_nothing() {
    let states = states(&province());
    let summary = sum(&states);
    let mut again = summary.clone();
    for s in &states {
        again.replace(Some(s), Some(s));
    }
    assert_eq!(again, summary);
    again.replace(None, None);
    assert_eq!(again, summary);
}
