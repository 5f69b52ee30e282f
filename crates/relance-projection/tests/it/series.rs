//! Time series: the projection's day counters, folded into buckets, equal what the final
//! states say (computed here from each state's halts, resumptions, reorientations and
//! support), in any batching.

use relance_domain::{CoopState, Date};
use relance_projection::{Bucket, SeriesPoint};

use crate::stream::realistic;
use crate::{expected_states, Views};

fn date(s: &str) -> Date {
    Date::parse(s).expect("date")
}

/// The oracle: each bucket's counts from the states, the idled workers at the bucket's end.
fn expected(states: &[&CoopState], from: Date, to: Date, bucket: Bucket) -> Vec<SeriesPoint> {
    let mut out = Vec::new();
    let mut start = bucket.start(from);
    while start <= to {
        let end = bucket.next(start).min(to.add_days(1));
        let within = |d: Date| d >= start && d < end;
        let mut p = SeriesPoint {
            start,
            halts: 0,
            resumptions: 0,
            reorientations: 0,
            workers_idled: 0,
            support_grants: 0,
            support_centimes: 0,
        };
        for s in states {
            for h in s.past_halts.iter().chain(s.open_halt.iter()) {
                p.halts += u64::from(within(h.since));
                if h.since < end && h.until.is_none_or(|u| u >= end) {
                    p.workers_idled += u64::from(h.workers_affected);
                }
            }
            p.resumptions += s.resumptions.iter().filter(|d| within(**d)).count() as u64;
            p.reorientations += s
                .reorientations
                .iter()
                .filter(|r| within(r.effective_on))
                .count() as u64;
            for l in s.support.iter().filter(|l| within(l.granted_on)) {
                p.support_grants += 1;
                p.support_centimes += l.amount_centimes.unwrap_or(0);
            }
        }
        out.push(p);
        start = bucket.next(start);
    }
    out
}

#[test]
fn series_by_day_week_and_month_equal_the_states_counts_in_any_batching() {
    let r = realistic();
    let events = r.builder.events();
    let states = expected_states(events);
    let states: Vec<&CoopState> = states.values().collect();
    let whole = Views::replayed(events);
    let one_by_one = Views::empty();
    for e in events {
        one_by_one
            .apply(std::slice::from_ref(e))
            .expect("apply one");
    }
    let (from, to) = (date("2020-01-01"), date("2020-12-31"));
    for bucket in [Bucket::Day, Bucket::Week, Bucket::Month] {
        let want = expected(&states, from, to, bucket);
        assert!(want.iter().any(|p| p.halts > 0) && want.iter().any(|p| p.support_centimes > 0));
        assert_eq!(
            whole.series(from, to, bucket).expect("series"),
            want,
            "{bucket:?}"
        );
        assert_eq!(
            one_by_one.series(from, to, bucket).expect("series"),
            want,
            "{bucket:?} one by one"
        );
    }
    // A window starting after halts opened carries their idled workers in.
    let late = date("2020-09-01");
    let want = expected(&states, late, to, Bucket::Month);
    assert_eq!(whole.series(late, to, Bucket::Month).expect("series"), want);
    assert_eq!(
        whole.summary().workers_idled,
        want.last().map_or(0, |p| p.workers_idled)
    );
}

#[test]
fn weeks_start_on_monday_and_months_on_the_first() {
    // 2020-04-15 was a Wednesday.
    assert_eq!(Bucket::Week.start(date("2020-04-15")), date("2020-04-13"));
    assert_eq!(Bucket::Week.start(date("2020-04-13")), date("2020-04-13"));
    assert_eq!(Bucket::Week.start(date("2020-04-19")), date("2020-04-13"));
    assert_eq!(Bucket::Month.start(date("2020-04-15")), date("2020-04-01"));
    assert_eq!(Bucket::Month.next(date("2020-12-01")), date("2021-01-01"));
}
