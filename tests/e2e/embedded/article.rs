//! The article's story (Ibdaat Rehamna's reorientation to masks, Annour's halt) recorded over
//! gRPC and read back: views, list filters, the province summary, the history and its chain.

use std::collections::BTreeSet;

use relance_proto::v1;
use relance_tests::requests::{COMMUNE as BENGUERIR, MASKS, MASK_NOTES};

use super::{
    count, event_type, get, history, ids, list, record_article, serve, summary, ANNOUR, IBDAAT,
};

#[tokio::test]
async fn the_articles_story_is_recorded_and_read_back_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;

    let article = record_article(&mut c).await;
    // Each accepted command is the cooperative's next version at a new stream position.
    for (n, r) in article.ibdaat.iter().enumerate() {
        assert_eq!(r.version, n as u64 + 1, "{r:?}");
        assert!(!r.duplicate);
    }
    let positions: BTreeSet<u64> = article
        .ibdaat
        .iter()
        .chain(&article.annour)
        .map(|r| r.position)
        .collect();
    assert_eq!(
        positions,
        (1..=11).collect(),
        "positions are 1..=11, each once"
    );
    let last = article.last_position();

    // Ibdaat Rehamna: reoriented to masks, authorised, supported by OCP, five channels.
    let ibdaat = get(&mut q, IBDAAT, article.ibdaat.last().unwrap().position).await;
    assert_eq!(ibdaat.name, "Ibdaat Rehamna");
    assert_eq!(ibdaat.sector, v1::Sector::Artisanat as i32);
    assert_eq!(ibdaat.commune, BENGUERIR);
    assert_eq!(ibdaat.employees, 20);
    assert_eq!(ibdaat.status, "reoriented");
    assert_eq!(ibdaat.original_activity, "couture et broderie");
    assert_eq!(ibdaat.current_activity, MASKS);
    assert!(ibdaat.open_halt.is_none());
    assert_eq!(ibdaat.reorientations.len(), 1);
    let r = &ibdaat.reorientations[0];
    assert_eq!(
        (r.capacity_min_per_day, r.capacity_max_per_day),
        (2000, 3000)
    );
    assert_eq!(r.notes, MASK_NOTES);
    assert_eq!(ibdaat.authorizations.len(), 1);
    assert_eq!(ibdaat.authorizations[0].issuing_body, "IMANOR");
    assert_eq!(ibdaat.authorizations[0].valid_until, "2020-05-07");
    assert_eq!(ibdaat.support.len(), 1);
    assert_eq!(ibdaat.support[0].partner, "OCP");
    assert_eq!(
        ibdaat.support[0].kind,
        v1::SupportKind::Commercialisation as i32
    );
    assert_eq!(ibdaat.support[0].event_id, article.ibdaat[3].event_id);
    let channels: Vec<(&str, i32)> = ibdaat
        .sales_channels
        .iter()
        .map(|c| (c.city.as_str(), c.standing))
        .collect();
    let established = v1::Standing::Established as i32;
    let trial = v1::Standing::Trial as i32;
    assert_eq!(
        channels,
        [
            (BENGUERIR, established),
            (BENGUERIR, established),
            (BENGUERIR, established),
            ("Marrakech", trial),
            ("Casablanca", trial),
        ]
    );
    assert_eq!(ibdaat.version, 9);
    assert_eq!(
        ibdaat.last_position,
        article.ibdaat.last().unwrap().position
    );

    // Annour: halted by the public authorities with the BTP, 40 workers idled.
    let annour = get(&mut q, ANNOUR, last).await;
    assert_eq!(annour.status, "halted");
    let halt = annour.open_halt.as_ref().expect("Annour's open halt");
    assert_eq!(halt.workers_affected, 40);
    assert_eq!(halt.since, "2020-03-20");
    assert!(halt.reason.contains("BTP"), "{halt:?}");
    assert_eq!(halt.event_id, article.annour[1].event_id);

    // List filters.
    let halted = list(&mut q, "", "halted", last).await;
    assert_eq!((ids(&halted), halted.total), (vec![ANNOUR], 1));
    let reoriented = list(&mut q, "", "reoriented", last).await;
    assert_eq!(ids(&reoriented), [IBDAAT]);
    let artisanat = list(&mut q, "artisanat", "", last).await;
    assert_eq!(ids(&artisanat), [IBDAAT]);
    let all = list(&mut q, "", "", last).await;
    assert_eq!((ids(&all), all.total), (vec![IBDAAT, ANNOUR], 2));

    // The province summary.
    let s = summary(&mut q, last).await;
    assert_eq!(s.cooperatives, 2);
    assert_eq!(s.workers_idled, 40);
    assert_eq!(s.members, 52);
    assert_eq!(s.employees, 20);
    assert_eq!(count(&s.by_sector, "artisanat"), 1);
    assert_eq!(count(&s.by_sector, "commerce_services"), 1);
    assert_eq!(count(&s.by_status, "halted"), 1);
    assert_eq!(count(&s.by_status, "reoriented"), 1);
    assert_eq!(s.reoriented, 1);
    assert_eq!(
        (
            s.reoriented_capacity_min_per_day,
            s.reoriented_capacity_max_per_day
        ),
        (2000, 3000)
    );
    let ocp: Vec<_> = s.support.iter().filter(|t| t.partner == "OCP").collect();
    assert_eq!(ocp.len(), 1, "{:?}", s.support);
    assert_eq!(ocp[0].kind, v1::SupportKind::Commercialisation as i32);
    assert_eq!(ocp[0].count, 1);
    assert!(s.position >= last);

    // Ibdaat's history: version order, event types, the acting organisation, the hash chain.
    let h = history(&mut q, IBDAAT, last).await;
    let envelopes: Vec<&v1::Envelope> = h.iter().map(|e| e.envelope.as_ref().unwrap()).collect();
    let types: Vec<&str> = envelopes.iter().map(|e| event_type(e)).collect();
    assert_eq!(
        types,
        [
            "CooperativeRegistered",
            "ReorientationDeclared",
            "AuthorizationObtained",
            "SupportGranted",
            "SalesChannelOpened",
            "SalesChannelOpened",
            "SalesChannelOpened",
            "SalesChannelOpened",
            "SalesChannelOpened",
        ]
    );
    for (n, (e, reply)) in envelopes.iter().zip(&article.ibdaat).enumerate() {
        assert_eq!(e.version, n as u64 + 1);
        assert_eq!(e.event_id, reply.event_id);
        assert_eq!(e.position, reply.position);
        assert_eq!(e.cooperative_id, IBDAAT);
        let org = &e.actor.as_ref().unwrap().organisation;
        assert_eq!(org, if n == 3 { "OCP" } else { "prefecture" });
        let prev = if n == 0 {
            vec![0; 32]
        } else {
            envelopes[n - 1].hash.clone()
        };
        assert_eq!(
            e.prev_hash, prev,
            "hash chain broken at version {}",
            e.version
        );
        assert_eq!(e.hash.len(), 32);
    }
    assert_eq!(envelopes[1].occurred_on, "2020-04-08");
}
