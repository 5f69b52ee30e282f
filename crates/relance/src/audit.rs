//! `relance audit …` (export, verify, replay, digest, keygen) and the time-travel arguments of
//! `coop show` and `summary`.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use futures::StreamExt;
use relance_audit::{
    Checkpoint, CheckpointBuilder, ExportHeader, Line, Report, Until, VerifyOptions, FORMAT,
};
use relance_domain::Date;
use relance_proto::v1;

use crate::cli::{AtArgs, AuditCommand, ClientArgs, Output};
use crate::client::{status_error, Client};
use crate::output;

/// Progress on stderr: a `\r` counter on a terminal, a line every `LINE_EVERY` otherwise.
pub(crate) struct Progress {
    what: &'static str,
    terminal: bool,
    last: u64,
}

const LINE_EVERY: u64 = 10_000;

impl Progress {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            terminal: std::io::stderr().is_terminal(),
            last: 0,
        }
    }

    pub(crate) fn tick(&mut self, done: u64, of: u64) {
        let total = if of > 0 {
            format!(" / {of}")
        } else {
            String::new()
        };
        if self.terminal {
            if done == of || done - self.last >= 97 {
                eprint!("\r{} {done}{total}", self.what);
                self.last = done;
            }
        } else if done / LINE_EVERY > self.last / LINE_EVERY {
            eprintln!("{} {done}{total}", self.what);
            self.last = done;
        }
    }

    pub(crate) fn done(&self) {
        if self.terminal && self.last > 0 {
            eprintln!();
        }
    }
}

impl relance_audit::Progress for Progress {
    fn tick(&mut self, done: u64) {
        Progress::tick(self, done, 0);
    }
}

/// Unix ms of a time argument: Unix milliseconds, RFC 3339, or YYYY-MM-DD (the end of that day,
/// UTC, so "as of 2020-05-01" includes everything recorded on 1 May).
pub fn parse_time(raw: &str) -> Result<i64> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse()
            .map_err(|_| anyhow!("{raw:?} is too large for Unix milliseconds"));
    }
    let bad = || {
        anyhow!("{raw:?} is not a time: use YYYY-MM-DD, RFC 3339 (2020-05-01T12:00:00Z) or Unix milliseconds")
    };
    let date = Date::parse(raw.get(..10).ok_or_else(bad)?).ok_or_else(bad)?;
    if raw.len() == 10 {
        return Ok(date.add_days(1).start_unix_ms() - 1);
    }
    // RFC 3339: T/t/space, HH:MM:SS, optional fraction, Z or ±HH:MM.
    let rest = raw.get(10..).ok_or_else(bad)?;
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .ok_or_else(bad)?
        .as_bytes();
    let num = |b: &[u8]| -> Option<i64> {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))?
            .parse()
            .ok()
    };
    if rest.len() < 8 || rest[2] != b':' || rest[5] != b':' {
        return Err(bad());
    }
    let (h, m, s) = (
        num(&rest[0..2]).ok_or_else(bad)?,
        num(&rest[3..5]).ok_or_else(bad)?,
        num(&rest[6..8]).ok_or_else(bad)?,
    );
    if h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    let mut i = 8;
    let mut ms = 0;
    if rest.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while rest.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = &rest[start..i];
        if frac.is_empty() {
            return Err(bad());
        }
        let mut digits = [b'0'; 3];
        for (d, f) in digits.iter_mut().zip(frac) {
            *d = *f;
        }
        ms = num(&digits).ok_or_else(bad)?;
    }
    let offset_min = match &rest[i..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), a, b, b':', c, d] => {
            let oh = num(&[*a, *b]).ok_or_else(bad)?;
            let om = num(&[*c, *d]).ok_or_else(bad)?;
            let v = oh * 60 + om;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return Err(bad()),
    };
    Ok(date.start_unix_ms() + ((h * 60 + m - offset_min) * 60 + s) * 1000 + ms)
}

/// The wire `AsOf` of `coop show` / `summary` time-travel arguments; `None` = now.
pub fn as_of(at: &AtArgs) -> Result<Option<v1::AsOf>> {
    use v1::as_of::Point;
    let point = match (&at.known_at, at.position) {
        (Some(r), _) => Point::RecordedAtUnixMs(parse_time(r).context("--known-at")?),
        (None, Some(p)) => Point::Position(p),
        (None, None) => match &at.as_of {
            Some(t) => {
                return Ok(Some(v1::AsOf {
                    point: Some(Point::RecordedAtUnixMs(parse_time(t).context("--as-of")?)),
                    business_date: String::new(),
                }))
            }
            None => return Ok(None),
        },
    };
    // With a recording point, --as-of is the business date.
    let business_date = match &at.as_of {
        Some(b) => {
            let date = b.get(..10).and_then(Date::parse).ok_or_else(|| {
                anyhow!("--as-of {b:?}: with --known-at or --position it is a business date, YYYY-MM-DD")
            })?;
            date.to_string()
        }
        None => String::new(),
    };
    Ok(Some(v1::AsOf {
        point: Some(point),
        business_date,
    }))
}

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
        } => {
            let key = sign_key
                .as_deref()
                .map(relance_audit::read_signing_key)
                .transpose()?;
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(BufWriter::new(
                    File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(BufWriter::new(std::io::stdout().lock())),
            };
            let seal = Some((origin.origin.as_str(), key.as_ref()));
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
        AuditCommand::Verify {
            file,
            live,
            checkpoints,
            public_key,
            allow_unsigned_tail,
            witness_keys,
        } => {
            let (checkpoints, tree_checkpoints) = crate::tlog::read_checkpoints(&checkpoints)?;
            let options = VerifyOptions {
                checkpoints,
                tree_checkpoints,
                witness_keys: crate::tlog::witness_keys(&witness_keys)?,
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
                relance_audit::verify(&buf[..], &options, &mut progress)?
            } else {
                let path = file.context("a FILE or --live")?;
                let f = open(&path)?;
                relance_audit::verify(BufReader::new(f), &options, &mut progress)?
            };
            progress.done();
            print_report(args.output, &report)
        }
        AuditCommand::Replay {
            file,
            as_of,
            position,
        } => {
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
        AuditCommand::Checkpoint {
            sign_key,
            out,
            every,
            min_position,
        } => {
            let key = relance_audit::read_signing_key(&sign_key)?;
            let mut c = Client::open(args).await?;
            loop {
                let cp = checkpoint(&mut c, &key, min_position).await?;
                match &out {
                    Some(path) => {
                        let mut f = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(path)
                            .with_context(|| format!("cannot open {}", path.display()))?;
                        relance_audit::write_line(&mut f, &Line::Checkpoint(cp.clone()))?;
                        f.sync_all()?;
                    }
                    None => relance_audit::write_line(
                        &mut std::io::stdout().lock(),
                        &Line::Checkpoint(cp.clone()),
                    )?,
                }
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
        AuditCommand::Digest { min_position } => {
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
        AuditCommand::Prove(a) => crate::tlog::prove(args, a).await,
        AuditCommand::CheckProof(a) => crate::tlog::check_proof(a),
        AuditCommand::Witness(a) => crate::tlog::witness(args, a).await,
        AuditCommand::Keygen { out: output } => {
            if output.exists() {
                bail!("{} exists: not overwriting a key", output.display());
            }
            let (seed, public) = relance_audit::generate_key()?;
            write_secret(&output, &seed)?;
            println!("{public}");
            eprintln!(
                "signing key written to {} (keep it secret); give auditors the public key above",
                output.display()
            );
            Ok(())
        }
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

fn write_secret(path: &PathBuf, seed: &str) -> Result<()> {
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

/// One signed checkpoint of the node's chain heads.
async fn checkpoint(
    c: &mut Client,
    key: &relance_audit::SigningKey,
    min: u64,
) -> Result<Checkpoint> {
    let reply = c
        .audit
        .heads(c.request(v1::HeadsRequest { min_position: min })?)
        .await
        .map_err(status_error)?
        .into_inner();
    let mut heads = std::collections::BTreeMap::new();
    for h in reply.heads {
        let hash = relance_domain::Hash::from_slice(&h.hash)
            .ok_or_else(|| anyhow!("the node sent a head hash that is not 32 bytes"))?;
        heads.insert(
            h.cooperative_id,
            relance_audit::Head {
                version: h.version,
                position: h.position,
                hash,
            },
        );
    }
    let mut cp = Checkpoint::new(reply.position, reply.count, heads);
    cp.sign(key);
    Ok(cp)
}

/// The node's whole history as an export without closing checkpoints (the CLI's own, unsigned,
/// would prove nothing to itself): what `verify --live` and the tree commands read.
pub(crate) async fn export_into(args: &ClientArgs, out: &mut dyn Write) -> Result<()> {
    export(args, 1, 0, out, None).await.map(|_| ())
}

/// Streams the node's history into `out` as an export; returns the event count and the
/// closing checkpoint. `seal` (origin, key): end with the tree checkpoint and the per-chain
/// checkpoint, signed with the key when given.
async fn export(
    args: &ClientArgs,
    from: u64,
    to: u64,
    out: &mut dyn Write,
    seal: Option<(&str, Option<&relance_audit::SigningKey>)>,
) -> Result<(u64, Checkpoint)> {
    let mut c = Client::open(args).await?;
    let mut stream = c
        .audit
        .export(c.request(v1::ExportRequest { from, to })?)
        .await
        .map_err(status_error)?
        .into_inner();
    relance_audit::write_line(
        out,
        &Line::Export(ExportHeader {
            format: FORMAT.into(),
            from: from.max(1),
            to,
        }),
    )?;
    let mut builder = CheckpointBuilder::default();
    // The tree covers the log from position 1: a partial export carries none.
    let mut tree = (from <= 1).then(relance_audit::EventTree::new);
    let mut progress = Progress::new("exported");
    let mut n = 0u64;
    while let Some(record) = stream.next().await {
        let record = record.map_err(status_error)?;
        let wire = record
            .envelope
            .ok_or_else(|| anyhow!("the node sent a record without an envelope"))?;
        let (envelope, position) = relance_proto::envelope_from_wire(wire)
            .context("the node sent an envelope relance cannot read")?;
        builder.add(position, &envelope);
        if let Some(t) = &mut tree {
            t.push(position, &envelope.event_id, envelope.hash.0)?;
        }
        relance_audit::write_line(out, &Line::Event { position, envelope })?;
        n += 1;
        progress.tick(n, record.head.saturating_sub(from.max(1)) + 1);
    }
    progress.done();
    let mut cp = builder.finish();
    let Some((origin, key)) = seal else {
        return Ok((n, cp));
    };
    if let Some(t) = &tree {
        let note = t.checkpoint(origin, key)?;
        relance_audit::write_line(out, &Line::TlogCheckpoint { note })?;
    }
    if let Some(key) = key {
        cp.sign(key);
    }
    relance_audit::write_line(out, &Line::Checkpoint(cp.clone()))?;
    Ok((n, cp))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MAY_1: i64 = 1_588_291_200_000; // 2020-05-01T00:00:00Z

    #[test]
    fn times_parse_as_dates_rfc3339_or_unix_ms() {
        assert_eq!(parse_time("2020-05-01").unwrap(), MAY_1 + 86_400_000 - 1);
        assert_eq!(parse_time("2020-05-01T00:00:00Z").unwrap(), MAY_1);
        assert_eq!(
            parse_time("2020-05-01T12:30:15.25Z").unwrap(),
            MAY_1 + 45_015_250
        );
        assert_eq!(parse_time("2020-05-01T02:00:00+02:00").unwrap(), MAY_1);
        assert_eq!(parse_time("2020-04-30T22:00:00-02:00").unwrap(), MAY_1);
        assert_eq!(parse_time("1588291200000").unwrap(), MAY_1);
        for bad in [
            "",
            "2020-13-01",
            "2020-05-01T25:00:00Z",
            "2020-05-01T00:00:00",
            "yesterday",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn as_of_alone_is_a_recorded_time_and_with_known_at_a_business_date() {
        use v1::as_of::Point;
        let at = |as_of: Option<&str>, known_at: Option<&str>, position: Option<u64>| AtArgs {
            as_of: as_of.map(str::to_owned),
            known_at: known_at.map(str::to_owned),
            position,
        };
        assert_eq!(as_of(&at(None, None, None)).unwrap(), None);
        let a = as_of(&at(Some("2020-04-30"), None, None)).unwrap().unwrap();
        assert_eq!(a.point, Some(Point::RecordedAtUnixMs(MAY_1 - 1)));
        assert_eq!(a.business_date, "");
        let a = as_of(&at(Some("2020-04-15"), Some("2020-04-30"), None))
            .unwrap()
            .unwrap();
        assert_eq!(a.point, Some(Point::RecordedAtUnixMs(MAY_1 - 1)));
        assert_eq!(a.business_date, "2020-04-15");
        let a = as_of(&at(Some("2020-04-15"), None, Some(300)))
            .unwrap()
            .unwrap();
        assert_eq!(a.point, Some(Point::Position(300)));
        assert_eq!(a.business_date, "2020-04-15");
        assert!(as_of(&at(Some("soon"), Some("2020-04-30"), None)).is_err());
    }
}
