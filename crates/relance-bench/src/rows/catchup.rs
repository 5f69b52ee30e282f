//! The catch-up rows: the projection rebuilt from the stream in a child process against a raw
//! read of the stream made as the follower makes it, the other ways of reading the stream, and
//! the child's peak memory (also the `--national` rebuild).

use std::path::Path;

use anyhow::Result;

use crate::catchup;
use crate::cli::{Part, Plan};
use crate::nats;
use crate::report::{fmt_rate, Row};

pub async fn catchup_rows(
    plan: &Plan,
    server: &nats::Server,
    dir: &Path,
    payload_bytes: u64,
    rows: &mut Vec<Row>,
) -> Result<()> {
    eprintln!(
        "[catch-up] raw pull-consumer read of {} events ({} a request)",
        plan.events,
        relance_log_nats::FOLLOW_BATCH
    );
    let raw = catchup::raw_pull_read(&server.url, plan.events).await?;
    eprintln!("  {}", fmt_rate(raw));
    // The other ways of reading the stream, measured beside the one the follower uses
    // (issue "National scale for the read side", point 3); not at national scale, where each
    // would add minutes.
    if plan.has(Part::Catchup) && plan.events < 10_000_000 {
        read_rows(plan, server, raw, rows).await?;
    }
    eprintln!("[catch-up] projection rebuild in a child process");
    let rebuilt = catchup::rebuild_in_child(&server.url, dir, plan.events).await?;
    let rate = rebuilt.events as f64 / rebuilt.seconds;
    eprintln!(
        "  {} in {:.1} s, peak RSS {} MB",
        fmt_rate(rate),
        rebuilt.seconds,
        rebuilt.peak_hwm_kb / 1024
    );
    if plan.has(Part::Catchup) {
        let r = Row::rate(
            format!("projection catch-up, {} events", plan.events),
            rate,
            BASELINE,
            raw,
        );
        // Issue "National scale for the read side": at least 0.6× the raw read at 1,000,000
        // events; at 10,000,000, at least 0.5× and the whole rebuild under 4 minutes.
        let national = plan.events >= 10_000_000;
        // The rebuild's time: following the log, then compacting the views.
        let whole = rebuilt.seconds + rebuilt.compact_seconds;
        let (target, met) = if national {
            (
                "≥ 0.5× and rebuilt in < 4 min",
                r.ratio.map(|x| x >= 0.5 && whole < 240.0),
            )
        } else {
            ("≥ 0.6×", r.ratio.map(|x| x >= 0.6))
        };
        rows.push(r.target(target, met).note(format!(
            "relance_projection::run following JetStream; {} cooperatives; rebuilt in {:.0} s ({:.0} s following, {:.0} s compacting); views {} MB on disk",
            plan.coops,
            whole,
            rebuilt.seconds,
            rebuilt.compact_seconds,
            rebuilt.disk_bytes / 1_000_000
        )));
        let events = plan.events.max(1) as f64;
        let (per_event, payload) = (
            rebuilt.disk_bytes as f64 / events,
            payload_bytes as f64 / events,
        );
        rows.push(Row {
            row: format!("projection views on disk, {} events", plan.events),
            value: Some(per_event),
            shown: format!("{per_event:.0} B/event"),
            baseline_name: "the events' payload in the stream".into(),
            baseline: Some(payload),
            baseline_shown: format!("{payload:.0} B/event"),
            unit: "B/event".into(),
            ratio: (payload_bytes > 0).then(|| per_event / payload),
            target: "< 100 B/event".into(),
            met: Some(per_event < 100.0),
            note: format!(
                "sled's size on disk after the rebuild, compacted ({:.0} B/event before compacting)",
                rebuilt.grown_bytes as f64 / events
            ),
            detail: None,
        });
        let peak = rebuilt.peak_hwm_kb as f64 / 1024.0;
        let base = rebuilt.start_hwm_kb as f64 / 1024.0;
        rows.push(Row {
            row: format!("projection peak RSS, {} events", plan.events),
            value: Some(peak),
            shown: format!("{peak:.0} MB"),
            baseline_name: "same process before the rebuild".into(),
            baseline: Some(base),
            baseline_shown: format!("{base:.0} MB"),
            unit: "MB (VmHWM)".into(),
            ratio: (base > 0.0).then(|| peak / base),
            target: "< 300 MB".into(),
            met: Some(peak < 300.0),
            note: "child process: JetStream connection + sled + follow".into(),
            detail: None,
        });
        tree_rows(plan, &rebuilt, rows);
    }
    Ok(())
}

/// The catch-up's baseline: the read the follower makes, doing nothing with what it reads.
const BASELINE: &str = "raw pull-consumer read";

/// The ordered consumer (async-nats's, 500 messages a request, which the follower used before)
/// and batch direct gets (1,024 messages a request, one request at a time), against the
/// pull-consumer read `pull` of the same stream.
async fn read_rows(
    plan: &Plan,
    server: &nats::Server,
    pull: f64,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let ordered = catchup::raw_read(&server.url, plan.events).await?;
    eprintln!("  ordered consumer: {}", fmt_rate(ordered));
    let got = catchup::raw_batch_get_read(&server.url, plan.events, 1_024).await?;
    eprintln!("  batch direct get: {}", fmt_rate(got));
    for (name, rate) in [
        ("raw ordered-consumer read (500 a request)", ordered),
        ("raw batch direct get (1,024 a request)", got),
    ] {
        rows.push(
            Row::rate(
                format!("{name}, {} events", plan.events),
                rate,
                BASELINE,
                pull,
            )
            .note("a way of reading the stream the follower does not use".to_owned()),
        );
    }
    Ok(())
}

/// The Merkle tree's cost (issue "Audit II"): what writing it adds to a catch-up, proof
/// latency beside a view read, and its bytes per event.
fn tree_rows(plan: &Plan, rebuilt: &catchup::Rebuilt, rows: &mut Vec<Row>) {
    let share = rebuilt.tree_seconds / rebuilt.seconds;
    rows.push(Row {
        row: format!("Merkle tree written alone, {} events", plan.events),
        value: Some(rebuilt.tree_seconds),
        shown: format!("{:.2} s", rebuilt.tree_seconds),
        baseline_name: "the whole catch-up (views and tree)".into(),
        baseline: Some(rebuilt.seconds),
        baseline_shown: format!("{:.2} s", rebuilt.seconds),
        unit: "s".into(),
        ratio: Some(share),
        target: "< 0.05× (adds under 5 %)".into(),
        met: Some(share < 0.05),
        note: "the same leaves through the projection's own tree code, batch by batch, in a scratch sled tree".into(),
        detail: None,
    });
    let [proof_p50, proof_p99] = rebuilt.proof_us;
    let [get_p50, get_p99] = rebuilt.get_us;
    rows.push(Row {
        row: format!("inclusion proof p99, tree of {} events", plan.events),
        value: Some(proof_p99),
        shown: format!("{proof_p99:.0} µs (p50 {proof_p50:.0})"),
        baseline_name: "Get of a view, same projection".into(),
        baseline: Some(get_p99),
        baseline_shown: format!("{get_p99:.0} µs (p50 {get_p50:.0})"),
        unit: "µs".into(),
        ratio: (get_p99 > 0.0).then(|| proof_p99 / get_p99),
        target: "< 1 ms".into(),
        met: Some(proof_p99 < 1_000.0),
        note: "1,000 proofs at positions spread over the log, read from sled".into(),
        detail: None,
    });
    let per_event = rebuilt.tree_bytes as f64 / rebuilt.events.max(1) as f64;
    let views = rebuilt.disk_bytes as f64 / rebuilt.events.max(1) as f64;
    rows.push(Row {
        row: format!("Merkle tree storage, {} events", plan.events),
        value: Some(per_event),
        shown: format!("{per_event:.1} B/event"),
        baseline_name: "the views on disk".into(),
        baseline: Some(views),
        baseline_shown: format!("{views:.0} B/event"),
        unit: "bytes per event".into(),
        ratio: (views > 0.0).then(|| per_event / views),
        target: "≤ 40 B/event".into(),
        met: Some(per_event <= 40.0),
        note: "keys and values of the tree's nodes and state (sled's own overhead not counted)"
            .into(),
        detail: None,
    });
}
