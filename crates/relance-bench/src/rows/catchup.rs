//! The catch-up rows: the projection rebuilt from the stream in a child process against a raw
//! ordered-consumer read, and the child's peak memory (also the `--national` rebuild).

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
    rows: &mut Vec<Row>,
) -> Result<()> {
    eprintln!(
        "[catch-up] raw ordered-consumer read of {} events",
        plan.events
    );
    let raw = catchup::raw_read(&server.url, plan.events).await?;
    eprintln!("  {}", fmt_rate(raw));
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
            "raw ordered-consumer read",
            raw,
        );
        let met = r.ratio.map(|x| x >= 0.5 && rate >= 150_000.0);
        rows.push(r.target("≥ 0.5× and ≥ 150,000/s", met).note(format!(
            "relance_projection::run following JetStream; {} cooperatives; views {} MB on disk",
            plan.coops,
            rebuilt.disk_bytes / 1_000_000
        )));
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
    }
    Ok(())
}
