//! Restarts: a retried request id answered with the first result (also after a restart), a
//! SIGTERM restart that keeps every event and view, and a SIGKILL right after acknowledging
//! that loses nothing.

use std::collections::{BTreeMap, BTreeSet};

use relance_proto::v1;
use relance_tests::requests::{self, prefecture as req, Overrides as _};

use super::{get, history, list, ok, record_article, serve, summary, terminate, ANNOUR, IBDAAT};

// ------------------------------------------------------------------ 3. idempotency

#[tokio::test]
async fn a_repeated_request_id_is_answered_with_the_first_result_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    const ID: &str = "IDEM-1";

    let reg = ok(
        c.register(req(requests::register(ID, "idem-reg"))).await,
        "register",
    );
    let halt = || requests::halt(ID, "idem-halt").with(|d| d.workers_affected = 5);
    let first = ok(c.halt(req(halt())).await, "halt");
    assert!(!first.duplicate);
    assert_eq!(first.version, 2);

    // The retry is recognised: same event, version and position, nothing written. A retried
    // halt is not refused as already_halted, a retried registration not as already_registered.
    let second = ok(c.halt(req(halt())).await, "retried halt");
    assert!(second.duplicate, "{second:?}");
    assert_eq!(
        (&second.event_id, second.version, second.position),
        (&first.event_id, first.version, first.position)
    );
    let reg_again = ok(
        c.register(req(requests::register(ID, "idem-reg"))).await,
        "retried register",
    );
    assert!(reg_again.duplicate);
    assert_eq!(
        (reg_again.event_id, reg_again.position),
        (reg.event_id.clone(), reg.position)
    );

    let h = history(&mut q, ID, first.position).await;
    assert_eq!(h.len(), 2, "one event per request id");
    let halts = h
        .iter()
        .filter(|e| e.envelope.as_ref().unwrap().event_id == first.event_id)
        .count();
    assert_eq!(halts, 1);

    // After a restart on the same data, the retry is still recognised.
    terminate(node).await;
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    let third = ok(c.halt(req(halt())).await, "halt retried after restart");
    assert!(third.duplicate, "{third:?}");
    assert_eq!(
        (&third.event_id, third.version, third.position),
        (&first.event_id, first.version, first.position)
    );
    assert_eq!(history(&mut q, ID, first.position).await, h);
    // And the log goes on from where it was.
    let next = ok(
        c.report_headcount(req(requests::headcount(ID, "idem-headcount")))
            .await,
        "headcount after restart",
    );
    assert_eq!((next.version, next.position), (3, first.position + 1));
}

// ------------------------------------------------------------------ 4. graceful restart

#[tokio::test]
async fn a_server_restarted_after_sigterm_keeps_every_event_and_the_same_views() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    let article = record_article(&mut c).await;
    let last = article.last_position();

    let before = (
        get(&mut q, IBDAAT, last).await,
        get(&mut q, ANNOUR, last).await,
        summary(&mut q, last).await,
        history(&mut q, IBDAAT, last).await,
        history(&mut q, ANNOUR, last).await,
        list(&mut q, "", "", last).await,
    );
    terminate(node).await;

    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    let after = (
        get(&mut q, IBDAAT, last).await,
        get(&mut q, ANNOUR, last).await,
        summary(&mut q, last).await,
        history(&mut q, IBDAAT, last).await,
        history(&mut q, ANNOUR, last).await,
        list(&mut q, "", "", last).await,
    );
    assert_eq!(after, before);
    assert_eq!(after.3.len(), 9);
    assert_eq!(after.4.len(), 2);

    // The restarted node goes on: the next event is the next position and version.
    let resumed = ok(
        c.resume(req(requests::resume(ANNOUR, "annour-resume")))
            .await,
        "resume Annour after restart",
    );
    assert_eq!((resumed.version, resumed.position), (3, last + 1));
    let annour = get(&mut q, ANNOUR, resumed.position).await;
    assert_eq!(annour.status, "resumed");
    assert_eq!(summary(&mut q, resumed.position).await.workers_idled, 0);
}

// ------------------------------------------------------------------ 5. SIGKILL

#[tokio::test]
async fn a_server_killed_right_after_acknowledging_loses_no_event() {
    const COOPS: usize = 5;
    const COMMANDS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let mut node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let coops: Vec<String> = (1..=COOPS).map(|i| format!("KILL-{i}")).collect();
    let mut acked: Vec<(String, String, v1::CommandReply)> = Vec::new();
    for coop in &coops {
        let r = ok(
            c.register(req(requests::register(coop, &format!("{coop}-reg"))))
                .await,
            "register",
        );
        acked.push((coop.clone(), String::new(), r));
    }

    // 50 commands at once, ten per cooperative, over one HTTP/2 connection.
    let sends = (0..COMMANDS).map(|i| {
        let mut c = c.clone();
        let coop = coops[i % COOPS].clone();
        async move {
            let city = format!("Ville {i}");
            let open = requests::sales_channel(&coop, &format!("kill-{i}")).with(|d| {
                d.channel = v1::ChannelKind::Market as i32;
                d.city.clone_from(&city);
                d.standing = v1::Standing::Trial as i32;
                d.opened_on = "2020-06-01".into();
            });
            let r = c.open_sales_channel(req(open)).await;
            (coop, city, r)
        }
    });
    let replies = futures::future::join_all(sends).await;
    node.kill();
    for (coop, city, r) in replies {
        acked.push((coop, city, ok(r, "concurrent sales channel")));
    }
    let max = acked.iter().map(|(_, _, r)| r.position).max().unwrap();
    let positions: BTreeSet<u64> = acked.iter().map(|(_, _, r)| r.position).collect();
    assert_eq!(
        positions.len(),
        COOPS + COMMANDS,
        "each ack has its own position"
    );

    let node = serve(dir.path()).await;
    let mut q = node.queries().await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for coop in &coops {
        let h = history(&mut q, coop, max).await;
        let versions: Vec<u64> = h
            .iter()
            .map(|e| e.envelope.as_ref().unwrap().version)
            .collect();
        assert_eq!(
            versions,
            (1..=(1 + COMMANDS / COOPS) as u64).collect::<Vec<_>>()
        );
        for e in &h {
            *seen
                .entry(e.envelope.as_ref().unwrap().event_id.clone())
                .or_default() += 1;
        }
        let view = get(&mut q, coop, max).await;
        assert_eq!(view.version, 1 + (COMMANDS / COOPS) as u64);
        let mut cities: Vec<&str> = view
            .sales_channels
            .iter()
            .map(|s| s.city.as_str())
            .collect();
        let mut sent: Vec<&str> = acked
            .iter()
            .filter(|(c, city, _)| c == coop && !city.is_empty())
            .map(|(_, city, _)| city.as_str())
            .collect();
        cities.sort_unstable();
        sent.sort_unstable();
        assert_eq!(cities, sent, "{coop}'s sales channels");
    }
    for (coop, _, r) in &acked {
        assert_eq!(
            seen.get(&r.event_id),
            Some(&1),
            "acknowledged event {} of {coop} (position {}) must be in the history exactly once",
            r.event_id,
            r.position
        );
    }
    assert_eq!(seen.len(), acked.len());
    let s = summary(&mut q, max).await;
    assert_eq!(s.cooperatives, COOPS as u64);
    assert_eq!(
        s.position, max,
        "the projection holds exactly the acknowledged events"
    );
}
