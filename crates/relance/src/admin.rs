//! Maintenance of a node's data: rebuild the projection from the log (offline, while the node
//! is stopped, since sled is single-process; or live, by the running node itself), and import
//! an audit export into an empty log.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use relance_log::AppendRequest;
use relance_projection::{Projection, MAX_BATCH};

use relance_proto::v1;

use crate::cli::{ClientArgs, NatsArgs};
use crate::progress::Progress;

/// `relance projection rebuild --live`: the node at `--server` rebuilds its views beside the
/// served ones and switches to them; its progress is shown until then (unless `detach`).
pub async fn rebuild_live(args: &ClientArgs, detach: bool) -> Result<()> {
    let c = crate::client::Client::open(args).await?;
    let mut node = v1::node_client::NodeClient::new(c.channel.clone());
    let started = node
        .rebuild(c.request(v1::RebuildRequest {})?)
        .await
        .map_err(crate::client::status_error)?
        .into_inner()
        .rebuild
        .unwrap_or_default();
    println!(
        "rebuilding the views of {} into {} while they serve",
        args.server, started.directory
    );
    if detach {
        return Ok(());
    }
    let mut progress = Progress::new("rebuilding the views: position");
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let st = node
            .status(c.request(v1::StatusRequest {})?)
            .await
            .map_err(crate::client::status_error)?
            .into_inner();
        let Some(r) = st
            .rebuild
            .filter(|r| r.started_at_unix_ms == started.started_at_unix_ms)
        else {
            bail!("the node no longer reports this rebuild (was it restarted?)");
        };
        progress.tick(r.position, r.target);
        match r.state.as_str() {
            "running" => continue,
            "switched" => {
                progress.done();
                println!("switched to the rebuilt views at position {}", r.position);
                return Ok(());
            }
            _ => {
                progress.done();
                bail!(
                    "the rebuild failed ({}); the served views did not change",
                    r.error
                );
            }
        }
    }
}

/// `relance projection rebuild`: throws the views away and replays the whole log.
pub async fn rebuild(data_dir: &Path, nats: &NatsArgs) -> Result<()> {
    let log = crate::log::open(data_dir, nats, None).await?;
    // The views served: those a live rebuild switched to, else DIR/projection.
    let dir = relance_server::served_dir(&data_dir.join("projection"))?;
    if dir.exists() {
        // Refuse while a node holds the views: sled's lock would otherwise be waited on.
        let probe = relance_log_sled::open_db(&dir)
            .with_context(|| format!("{} is in use: stop the node first", dir.display()))?;
        drop(probe);
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let history = std::sync::Arc::new(relance_projection::LogHistory::new(log.clone()));
    let projection = Projection::open_over_log(&dir, history)?;
    let head = log.last_position().await?;
    let mut progress = Progress::new("rebuilding the projection: position");
    let mut next = 1;
    while next <= head {
        let batch = log.read_from(next, MAX_BATCH).await?;
        let Some(last) = batch.last() else { break };
        next = last.position + 1;
        let p = projection.clone();
        tokio::task::spawn_blocking(move || p.apply_prepared(Projection::prepare(batch)?))
            .await??;
        progress.tick(projection.checkpoint(), head);
    }
    progress.done();
    projection.flush().await?;
    let grown = projection.size_on_disk();
    // Views just rebuilt hold several superseded versions of each view (sled cleans them
    // slowly): the views served are a compact copy (relance_projection's `compact`).
    eprintln!("compacting the views ({} MB on disk)", grown / 1_000_000);
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let to = relance_server::rebuilt_dir(&data_dir.join("projection"), unix_ms);
    let copy = {
        let (p, to) = (projection.clone(), to.clone());
        tokio::task::spawn_blocking(move || p.compact_into(&to)).await??
    };
    drop(projection);
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    std::fs::rename(&to, &dir)
        .with_context(|| format!("cannot move {} to {}", to.display(), dir.display()))?;
    let history = std::sync::Arc::new(relance_projection::LogHistory::new(log.clone()));
    let projection = Projection::open_over_log(&dir, history)?;
    println!(
        "rebuilt the projection up to position {}: {} MB on disk, compacted from {} MB",
        projection.checkpoint(),
        copy.size_on_disk / 1_000_000,
        grown / 1_000_000
    );
    println!("digest {}", projection.digest()?);
    Ok(())
}

/// `relance audit import`: appends an export's events, unchanged (ids, times, actors, hashes),
/// to an empty log. The export is verified first; positions are kept when the export starts at
/// position 1, so a projection of the new log has the digest of the old one.
pub async fn import(file: &Path, data_dir: &Path, nats: &NatsArgs) -> Result<()> {
    let open = || -> Result<std::io::BufReader<std::fs::File>> {
        Ok(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        ))
    };
    let report = relance_audit::verify(open()?, &relance_audit::VerifyOptions::default(), &mut ())?;
    if let Some(first) = report.findings.first() {
        bail!(
            "{} does not verify ({first}); nothing imported",
            file.display()
        );
    }
    let log = crate::log::open(data_dir, nats, None).await?;
    let head = log.last_position().await?;
    if head != 0 {
        bail!("the target log is not empty (it holds events up to position {head}): import only into an empty log");
    }
    let mut heads: HashMap<String, u64> = HashMap::new();
    let mut progress = Progress::new("importing: event");
    let mut imported = 0u64;
    let mut moved = 0u64;
    for (i, text) in open()?.lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let relance_audit::Line::Event { position, envelope } =
            relance_audit::parse_line(i + 1, &text)?
        else {
            continue;
        };
        let coop = envelope.cooperative_id.to_string();
        let version = heads.get(&coop).copied().unwrap_or(0);
        let appended = log
            .append(AppendRequest {
                cooperative_id: envelope.cooperative_id.clone(),
                expected_version: version,
                request_id: envelope.request_id.clone(),
                event_id: envelope.event_id.clone(),
                event_type: envelope.event.type_name().to_owned(),
                schema_version: envelope.schema_version,
                payload: relance_proto::encode_envelope(&envelope),
            })
            .await
            .with_context(|| {
                format!(
                    "line {}: cooperative {coop} version {}",
                    i + 1,
                    envelope.version
                )
            })?;
        if appended.duplicate || appended.version != envelope.version {
            bail!(
                "line {}: cooperative {coop} version {} was stored as version {} (duplicate: {})",
                i + 1,
                envelope.version,
                appended.version,
                appended.duplicate
            );
        }
        if appended.position != position {
            moved += 1;
        }
        heads.insert(coop, appended.version);
        imported += 1;
        progress.tick(imported, report.events);
    }
    progress.done();
    println!("imported {imported} events of {} cooperatives", heads.len());
    if moved > 0 {
        println!("{moved} events got another stream position than in the export (the export did not start at position 1): digests will differ");
    }
    Ok(())
}
