//! `relance audit …`: export, verify, replay, digest, checkpoint, keygen.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use relance_audit::{Line, Report, Until, VerifyOptions};
use relance_proto::v1;

use crate::cli::{AuditCommand, ClientArgs, Output};
use crate::client::{status_error, Client};
use crate::export::{checkpoint, export, export_into};
use crate::output;
use crate::progress::Progress;
use crate::time::parse_time;

pub async fn run(args: &ClientArgs, cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Import {
            file,
            data_dir,
            nats,
        } => crate::admin::import(&file, &data_dir, &nats).await,
        AuditCommand::Export {
            from,
            to,
            out: output,
            sign_key,
            origin,
        } => export_cmd(args, from, to, output, sign_key, &origin.origin).await,
        AuditCommand::Verify {
            file,
            live,
            checkpoints,
            public_key,
            allow_unsigned_tail,
            witness_keys,
        } => {
            let witness_keys = crate::tlog::witness_keys(&witness_keys)?;
            let trusted = (public_key, allow_unsigned_tail, witness_keys);
            verify_cmd(args, file, live, checkpoints, trusted).await
        }
        AuditCommand::Replay {
            file,
            as_of,
            position,
        } => replay_cmd(args, file, as_of, position).await,
        AuditCommand::Checkpoint {
            sign_key,
            out,
            every,
            min_position,
            origin,
        } => checkpoint_cmd(args, sign_key, out, every, min_position, &origin.origin).await,
        AuditCommand::Digest { min_position } => digest_cmd(args, min_position).await,
        AuditCommand::Keygen { out } => keygen_cmd(&out),
        AuditCommand::Prove(a) => crate::tlog::prove(args, a).await,
        AuditCommand::CheckProof(a) => crate::tlog::check_proof(a),
        AuditCommand::Witness(a) => crate::tlog::witness(args, a).await,
    }
}

/// `relance audit export`.
async fn export_cmd(
    args: &ClientArgs,
    from: u64,
    to: Option<u64>,
    output: Option<PathBuf>,
    sign_key: Option<PathBuf>,
    origin: &str,
) -> Result<()> {
    let key = sign_key
        .as_deref()
        .map(relance_audit::read_signing_key)
        .transpose()?;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let seal = Some((origin, key.as_ref()));
    let (events, cp) = export(args, from, to.unwrap_or(0), &mut out, seal).await?;
    out.flush()?;
    eprintln!(
        "exported {events} events up to position {} ({} cooperatives){}{}",
        cp.position,
        cp.heads.len(),
        if cp.signature.is_some() {
            ", checkpoint signed"
        } else {
            ""
        },
        output
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// `relance audit verify`.
async fn verify_cmd(
    args: &ClientArgs,
    file: Option<PathBuf>,
    live: bool,
    checkpoints: Vec<PathBuf>,
    // --public-key, --allow-unsigned-tail, --witness-key
    (public_key, allow_unsigned_tail, witness_keys): (
        Option<String>,
        bool,
        Vec<relance_audit::relance_tlog::CosignatureVerifier>,
    ),
) -> Result<()> {
    let (checkpoints, tree_checkpoints) = crate::tlog::read_checkpoints(&checkpoints)?;
    let options = VerifyOptions {
        checkpoints,
        tree_checkpoints,
        witness_keys,
        trusted_key: public_key
            .as_deref()
            .map(relance_audit::parse_public_key)
            .transpose()?,
        allow_unsigned_tail,
    };
    let mut progress = Progress::new("checked");
    let report = if live {
        let mut buf = Vec::new();
        export_into(args, &mut buf).await?;
        crate::tlog::live_consistency(args, &options.tree_checkpoints).await?;
        relance_audit::verify(&buf[..], &options, &mut progress)?
    } else {
        let path = file.context("a FILE or --live")?;
        let f = open(&path)?;
        relance_audit::verify(BufReader::new(f), &options, &mut progress)?
    };
    progress.done();
    print_report(args.output, &report)
}

/// `relance audit replay`.
async fn replay_cmd(
    args: &ClientArgs,
    file: PathBuf,
    as_of: Option<String>,
    position: Option<u64>,
) -> Result<()> {
    let until = match (as_of, position) {
        (Some(t), _) => Until::RecordedAt(parse_time(&t).context("--as-of")?),
        (None, Some(p)) => Until::Position(p),
        (None, None) => Until::All,
    };
    let mut progress = Progress::new("checked");
    let report = relance_audit::verify(
        BufReader::new(open(&file)?),
        &VerifyOptions::default(),
        &mut progress,
    )?;
    progress.done();
    if let Some(first) = report.findings.first() {
        bail!(
            "{} is damaged, not replaying it: first bad event: {first} (see `relance audit verify`)",
            file.display()
        );
    }
    let mut progress = Progress::new("replayed");
    let file2 = file.clone();
    let replayed = tokio::task::spawn_blocking(move || -> Result<_> {
        Ok(relance_audit::replay(
            BufReader::new(open(&file2)?),
            until,
            &mut progress,
        )?)
    })
    .await??;
    let summary = relance_proto::summary_to_wire(&replayed.summary, replayed.position);
    if args.output == Output::Json {
        println!(
            "{}",
            serde_json::json!({
                "summary": summary,
                "digest": replayed.digest,
                "position": replayed.position,
                "events": replayed.events,
            })
        );
        return Ok(());
    }
    output::summary(Output::Table, &summary)?;
    println!();
    println!(
        "digest {}  position {}  ({} events replayed from {})",
        replayed.digest,
        replayed.position,
        replayed.events,
        file.display()
    );
    Ok(())
}

/// `relance audit checkpoint`.
async fn checkpoint_cmd(
    args: &ClientArgs,
    sign_key: PathBuf,
    out: Option<PathBuf>,
    every: Option<u64>,
    min_position: u64,
    origin: &str,
) -> Result<()> {
    let key = relance_audit::read_signing_key(&sign_key)?;
    let mut c = Client::open(args).await?;
    loop {
        let cp = checkpoint(&mut c, &key, min_position).await?;
        let (tree, size) =
            crate::tlog::node_checkpoint(&mut c, Some(&key), origin, min_position).await?;
        let lines = [tree, Line::Checkpoint(cp.clone())];
        match &out {
            Some(path) => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                for line in &lines {
                    relance_audit::write_line(&mut f, line)?;
                }
                f.sync_all()?;
            }
            None => {
                for line in &lines {
                    relance_audit::write_line(&mut std::io::stdout().lock(), line)?;
                }
            }
        }
        eprintln!("tree checkpoint {origin}: size {size}");
        eprintln!(
            "checkpoint at position {}: {} chains, {} events, root {}",
            cp.position,
            cp.heads.len(),
            cp.count,
            cp.root
        );
        let Some(secs) = every else { break };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))) => {}
        }
    }
    Ok(())
}

/// `relance audit digest`.
async fn digest_cmd(args: &ClientArgs, min_position: u64) -> Result<()> {
    let mut c = Client::open(args).await?;
    let d = c
        .audit
        .digest(c.request(v1::DigestRequest { min_position })?)
        .await
        .map_err(status_error)?
        .into_inner();
    if args.output == Output::Json {
        println!(
            "{}",
            serde_json::json!({"digest": d.digest, "position": d.position})
        );
    } else {
        println!("digest {}  position {}", d.digest, d.position);
    }
    Ok(())
}

/// `relance audit keygen`.
fn keygen_cmd(output: &Path) -> Result<()> {
    if output.exists() {
        bail!("{} exists: not overwriting a key", output.display());
    }
    let (seed, public) = relance_audit::generate_key()?;
    write_secret(output, &seed)?;
    println!("{public}");
    eprintln!(
        "signing key written to {} (keep it secret); give auditors the public key above",
        output.display()
    );
    Ok(())
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

fn write_secret(path: &Path, seed: &str) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "{seed}")?;
    Ok(())
}

/// Findings printed as a table; JSON output lists them all.
const SHOWN_FINDINGS: usize = 20;

fn print_report(out: Output, report: &Report) -> Result<()> {
    if out == Output::Json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    match report.findings.first() {
        None => {
            if out == Output::Table {
                println!("{}", report.summary());
            }
            Ok(())
        }
        Some(first) => {
            if out == Output::Table {
                for f in report.findings.iter().take(SHOWN_FINDINGS) {
                    println!("{f}");
                }
                if report.findings.len() > SHOWN_FINDINGS {
                    println!(
                        "… and {} more (--output json lists them all)",
                        report.findings.len() - SHOWN_FINDINGS
                    );
                }
            }
            bail!(
                "verification failed ({} finding(s)); first bad event: {first}",
                report.findings.len()
            )
        }
    }
}
