//! List queries: filters through the indexes, id order, paging.

use std::collections::BTreeMap;

use relance_domain::{CoopState, Sector, Status};
use relance_projection::{Filter, Projection};

use crate::stream::{prefecture, realistic, retract, BENGUERIR, SIDI_BOU_OTHMANE, SKHOUR};
use crate::{expected_states, Views};

fn filter(sector: Option<Sector>, status: Option<Status>, commune: Option<&str>) -> Filter {
    Filter {
        sector,
        status,
        commune: commune.map(str::to_owned),
    }
}

/// Walks every page of `filter`, `page_size` at a time, checking each page's bookkeeping;
/// returns the ids in the order served.
fn walk(p: &Projection, filter: &Filter, page_size: usize) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut totals = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = p.list(filter, page_size, after.as_deref()).expect("list");
        assert!(totals.len() < 100, "paging does not end for {filter:?}");
        assert!(
            page.items.len() <= page_size,
            "page larger than {page_size}"
        );
        ids.extend(page.items.iter().map(|v| v.id.to_string()));
        totals.push(page.total);
        match page.next {
            Some(next) => {
                assert_eq!(page.items.len(), page_size, "only the last page is short");
                assert_eq!(
                    Some(&next),
                    ids.last(),
                    "next names the page's last cooperative"
                );
                after = Some(next);
            }
            None => break,
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, ids, "ids are served once each, in id order");
    assert!(
        totals.iter().all(|t| *t == ids.len() as u64),
        "every page's total is the match count: {totals:?}"
    );
    ids
}

fn matching(states: &BTreeMap<String, CoopState>, f: &Filter) -> Vec<String> {
    states
        .values()
        .filter(|s| f.sector.is_none_or(|x| s.sector == x))
        .filter(|s| f.status.is_none_or(|x| s.status == x))
        .filter(|s| f.commune.as_ref().is_none_or(|c| &s.commune == c))
        .map(|s| s.id.to_string())
        .collect()
}

/// Every combination of the values present in the history, plus values nobody has.
fn every_filter() -> Vec<Filter> {
    let sectors = [
        None,
        Some(Sector::Agriculture),
        Some(Sector::Artisanat),
        Some(Sector::Argane),
        Some(Sector::Peche),
    ];
    let statuses = [
        None,
        Some(Status::Active),
        Some(Status::Halted),
        Some(Status::Reoriented),
        Some(Status::Resumed),
    ];
    let communes = [
        None,
        Some(BENGUERIR),
        Some(SKHOUR),
        Some(SIDI_BOU_OTHMANE),
        Some("Casablanca"),
        Some("Ben"),
    ];
    let mut out = Vec::new();
    for sector in sectors {
        for status in statuses {
            for commune in communes {
                out.push(filter(sector, status, commune));
            }
        }
    }
    out
}

#[test]
fn list_filters_return_exactly_the_matching_cooperatives_in_id_order() {
    let events = realistic().builder.into_events();
    let views = Views::replayed(&events);
    let ids = |f: Filter| -> Vec<String> {
        let page = views.list(&f, 100, None).expect("list");
        assert_eq!(page.total, page.items.len() as u64);
        assert_eq!(page.next, None);
        page.items.iter().map(|v| v.id.to_string()).collect()
    };
    let expect = |ids: &[&str]| -> Vec<String> { ids.iter().map(|s| (*s).to_owned()).collect() };

    assert_eq!(
        ids(Filter::default()),
        expect(&["REH-0001", "REH-0002", "REH-0003", "REH-0004", "REH-0005", "REH-0006"])
    );
    assert_eq!(
        ids(filter(Some(Sector::Agriculture), None, None)),
        expect(&["REH-0002", "REH-0003", "REH-0006"])
    );
    assert_eq!(
        ids(filter(None, Some(Status::Halted), None)),
        expect(&["REH-0004", "REH-0005"])
    );
    assert_eq!(
        ids(filter(None, Some(Status::Active), None)),
        expect(&["REH-0003", "REH-0006"])
    );
    assert_eq!(
        ids(filter(None, None, Some(BENGUERIR))),
        expect(&["REH-0001", "REH-0003"])
    );
    assert_eq!(
        ids(filter(
            Some(Sector::Agriculture),
            None,
            Some(SIDI_BOU_OTHMANE)
        )),
        expect(&["REH-0006"])
    );
    assert_eq!(
        ids(filter(Some(Sector::Artisanat), Some(Status::Halted), None)),
        expect(&["REH-0004"])
    );
    assert_eq!(
        ids(filter(None, Some(Status::Reoriented), Some(BENGUERIR))),
        expect(&["REH-0001"])
    );
    assert_eq!(
        ids(filter(
            Some(Sector::Agriculture),
            Some(Status::Resumed),
            Some(SKHOUR)
        )),
        expect(&["REH-0002"])
    );
    assert_eq!(
        ids(filter(Some(Sector::Argane), Some(Status::Active), None)),
        expect(&[])
    );
    // A commune that is a prefix of another matches nothing.
    assert_eq!(ids(filter(None, None, Some("Ben"))), expect(&[]));

    let states = expected_states(&events);
    for f in every_filter() {
        assert_eq!(ids(f.clone()), matching(&states, &f), "{f:?}");
    }
}

#[test]
fn list_pages_of_two_walk_every_match_once_with_the_total_and_no_next_on_the_last_page() {
    let events = realistic().builder.into_events();
    let views = Views::replayed(&events);
    let states = expected_states(&events);
    for f in every_filter() {
        let expected = matching(&states, &f);
        for page_size in [2, 1, 4] {
            assert_eq!(
                walk(&views, &f, page_size),
                expected,
                "{f:?} by {page_size}"
            );
        }
    }
    let all = views.list(&Filter::default(), 2, None).expect("list");
    assert_eq!(all.total, 6);
    assert_eq!(all.next.as_deref(), Some("REH-0002"));
    let last = views
        .list(&Filter::default(), 2, Some("REH-0004"))
        .expect("list");
    assert_eq!(
        last.items.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        ["REH-0005", "REH-0006"]
    );
    assert_eq!((last.total, last.next), (6, None));
}

#[test]
fn list_indexes_follow_a_status_change() {
    let mut r = realistic();
    let views = Views::replayed(r.builder.events());
    let halted = filter(None, Some(Status::Halted), None);
    let resumed = filter(None, Some(Status::Resumed), None);
    assert_eq!(walk(&views, &halted, 2), ["REH-0004", "REH-0005"]);

    let second_halt = r.second_halt.clone();
    r.builder.record(
        "REH-0005",
        &prefecture(),
        retract(&second_halt, "levée de la décision"),
    );
    views
        .apply(r.builder.events())
        .expect("apply the retraction");
    assert_eq!(walk(&views, &halted, 2), ["REH-0004"]);
    assert_eq!(walk(&views, &resumed, 2), ["REH-0002", "REH-0005"]);
    let states = expected_states(r.builder.events());
    for f in every_filter() {
        assert_eq!(walk(&views, &f, 2), matching(&states, &f), "{f:?}");
    }
}

/// After a reopen, reads keep the views they read from sled in memory; a later batch's views
/// replace them, so a read never serves a view older than the checkpoint.
#[test]
fn views_read_after_a_reopen_are_replaced_by_the_next_batch() {
    let events = realistic().builder.into_events();
    let (first, rest) = events.split_at(events.len() / 2);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("views");
    {
        let p = crate::open(&path);
        p.apply(first).expect("apply");
    }
    let p = crate::reopen(&path);
    let before = expected_states(first);
    for (id, state) in &before {
        assert_eq!(
            p.get(id).expect("get").as_ref(),
            Some(state),
            "{id} after the reopen"
        );
    }
    p.apply(rest).expect("apply");
    let after = expected_states(&events);
    assert!(
        after.iter().any(|(id, s)| before.get(id) != Some(s)),
        "the second half changes some view"
    );
    for (id, state) in &after {
        assert_eq!(
            p.get(id).expect("get").as_ref(),
            Some(state),
            "{id} after the batch"
        );
    }
}
