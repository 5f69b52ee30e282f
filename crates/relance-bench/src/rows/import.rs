//! The register import row: `relance import cooperatives` run as a user runs it, on a CSV
//! register of 35,000 cooperatives the bench writes (French headers, `;`, UTF-8 with BOM, as
//! Excel saves it), against the same count sent straight through the `Batch` RPC in the same
//! run. The `relance` binary is the one built beside this bench (`cargo build --release
//! --bins`); without it the row says so.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context as _, Result};
use relance_domain::Sector;

use crate::report::Row;
use crate::running::Running;

/// The `relance` binary beside this bench's executable, if built.
fn relance_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.join("relance");
    candidate.is_file().then_some(candidate)
}

/// A register of `n` cooperatives, ids `{tag}-{k}`, as French Excel saves it.
fn register_csv(tag: &str, n: u64) -> String {
    let mut out = String::from(
        "\u{feff}Identifiant;Raison sociale;Tribunal;N° d'immatriculation;Date de constitution;\
         Secteur;Branche d'activité;Commune;Nombre d'adhérents;Effectif\r\n",
    );
    for k in 0..n {
        let sector = Sector::ALL[(k as usize) % Sector::ALL.len()];
        let _ = write!(
            out,
            "{tag}-{k};Coopérative {k};Tribunal de première instance de Benguérir;{k}/{tag};\
             2015-06-01;{};activité {k};Benguérir;{};{}\r\n",
            sector.as_str(),
            10 + k % 40,
            k % 12
        );
    }
    out
}

/// Imports a register of `n` cooperatives with the CLI against `node`; `batch_seconds` is the
/// time the same count took through the `Batch` RPC in this run.
pub async fn cli_import_row(
    node: &Running,
    backend: &str,
    tag: &str,
    n: u64,
    batch_seconds: f64,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let name = format!("relance import cooperatives, {n}-row CSV register, {backend}");
    let Some(relance) = relance_binary() else {
        rows.push(Row::unavailable(
            name,
            "the same registrations via Batch",
            "no relance binary beside the bench: cargo build --release --bins".into(),
        ));
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("register.csv");
    std::fs::write(&file, register_csv(tag, n))?;
    eprintln!("[import {backend}] relance import cooperatives of {n} rows");
    let started = Instant::now();
    let output = run_import(&relance, node.url(), &file).await?;
    let seconds = started.elapsed().as_secs_f64();
    let accepted = accepted(&output)?;
    if accepted != n {
        bail!("the CLI import accepted {accepted} of {n} rows");
    }
    eprintln!("  {seconds:.1} s (the Batch RPC alone: {batch_seconds:.1} s)");
    let limit = if backend == "embedded" { 10.0 } else { 20.0 };
    rows.push(Row {
        row: name,
        value: Some(seconds),
        shown: format!("{seconds:.1} s"),
        baseline_name: "the same count via the Batch RPC, no file".into(),
        baseline: Some(batch_seconds),
        baseline_shown: format!("{batch_seconds:.1} s"),
        unit: "seconds".into(),
        ratio: (batch_seconds > 0.0).then(|| seconds / batch_seconds),
        target: format!("< {limit:.0} s"),
        met: Some(seconds < limit),
        note: "child process: reads and checks the file, 1,000 rows a Batch call, summary".into(),
        detail: None,
    });
    Ok(())
}

async fn run_import(relance: &Path, server: &str, file: &Path) -> Result<Vec<u8>> {
    let output = tokio::process::Command::new(relance)
        .args([
            "--server",
            server,
            "--output",
            "json",
            "import",
            "cooperatives",
        ])
        .arg(file)
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {}", relance.display()))?;
    if !output.status.success() {
        bail!("relance import failed: {}", output.status);
    }
    Ok(output.stdout)
}

/// The `summary.accepted` count of the import's JSON output.
fn accepted(stdout: &[u8]) -> Result<u64> {
    let v: serde_json::Value = serde_json::from_slice(stdout).context("the import's JSON")?;
    v.pointer("/summary/accepted")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| anyhow!("no summary.accepted in the import's output"))
}
