//! The audit rows: verifying and replaying the catch-up stream's export against sha256sum of
//! the same file.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::report::{fmt_bytes_rate, fmt_rate, Row};

pub async fn audit_rows(path: &Path, events: u64, rows: &mut Vec<Row>) -> Result<()> {
    let size = std::fs::metadata(path)?.len() as f64;
    eprintln!(
        "[audit] export of {events} events, {:.0} MB: sha256sum",
        size / 1e6
    );
    let sha = {
        let p = path.to_owned();
        // Once to read the file into the page cache, once measured.
        std::process::Command::new("sha256sum").arg(&p).output()?;
        let t = Instant::now();
        let out = std::process::Command::new("sha256sum").arg(&p).output()?;
        if !out.status.success() {
            return Err(anyhow!("sha256sum failed"));
        }
        size / t.elapsed().as_secs_f64()
    };
    eprintln!("  {}; verify", fmt_bytes_rate(sha));
    let p = path.to_owned();
    let (verify_secs, report) = tokio::task::spawn_blocking(move || -> Result<_> {
        let t = Instant::now();
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&p)?);
        let report = relance_audit::verify(f, &relance_audit::VerifyOptions::default(), &mut ())?;
        Ok((t.elapsed().as_secs_f64(), report))
    })
    .await??;
    let verify = size / verify_secs;
    eprintln!("  {}; replay", fmt_bytes_rate(verify));
    let p = path.to_owned();
    let (replay_secs, replayed) = tokio::task::spawn_blocking(move || -> Result<_> {
        let t = Instant::now();
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&p)?);
        let r = relance_audit::replay(f, relance_audit::Until::All, &mut ())?;
        Ok((t.elapsed().as_secs_f64(), r))
    })
    .await??;
    let replay = size / replay_secs;
    eprintln!("  {}", fmt_bytes_rate(replay));
    let mut r = Row::rate(
        format!("audit verify, {events} events"),
        verify,
        "sha256sum of the same file",
        sha,
    );
    r.shown = format!(
        "{} ({})",
        fmt_bytes_rate(verify),
        fmt_rate(events as f64 / verify_secs)
    );
    r.baseline_shown = fmt_bytes_rate(sha);
    r.unit = "bytes per second".into();
    let met = r.ratio.map(|x| x >= 0.5);
    rows.push(r.target("≥ 0.5×", met).note(format!(
        "{:.0} MB export; intact: {}, {} findings",
        size / 1e6,
        report.intact(),
        report.findings.len()
    )));
    let mut r = Row::rate(
        format!("audit replay, {events} events"),
        replay,
        "sha256sum of the same file",
        sha,
    );
    r.shown = format!(
        "{} ({})",
        fmt_bytes_rate(replay),
        fmt_rate(events as f64 / replay_secs)
    );
    r.baseline_shown = fmt_bytes_rate(sha);
    r.unit = "bytes per second".into();
    rows.push(r.note(format!(
        "offline rebuild into a fresh sled, histories spilled to a file beside it; {} events replayed",
        replayed.events
    )));
    Ok(())
}
