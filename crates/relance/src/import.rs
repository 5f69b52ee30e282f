//! `relance import cooperatives|facts FILE`: a register read with relance-import, sent in
//! batches of the `Batch` RPC, answered row by row (accepted, already there, conflict,
//! rejected by rule), with a rejects file to fix and import again.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use relance_import::{
    reason, ColumnOverride, FileKind, Import, Options, Outcome, Rejects, Separator, Summary,
};
use relance_proto::v1;

use crate::cli::{ClientArgs, ImportArgs, ImportCommand, Output};
use crate::client::{status_error, Client};
use crate::progress::Progress;

/// What the node said about one sent row: the outcome, and the refusal's text when refused.
type Answer = (Outcome, Option<String>);

pub async fn run(args: &ClientArgs, cmd: ImportCommand) -> Result<()> {
    let (kind, a) = match cmd {
        ImportCommand::Cooperatives(a) => (FileKind::Cooperatives, a),
        ImportCommand::Facts(a) => (FileKind::Facts, a),
    };
    let import = relance_import::read_file(&a.file, kind, &options(&a)?)
        .with_context(|| format!("cannot import {}", a.file.display()))?;
    let report = import.file_report();
    if !report.ignored_columns.is_empty() {
        eprintln!(
            "columns not read: {} (use --map COLUMN=field to read one)",
            report.ignored_columns.join(", ")
        );
    }
    let mut client = Client::open(args).await?;
    let size = usize::from(a.batch_size);
    let checking = a.dry_run || a.all_or_nothing;
    let mut answers = if checking {
        send(&mut client, &import, size, true).await?.0
    } else {
        Vec::new()
    };
    let refused = answers
        .iter()
        .any(|(o, _)| !matches!(o, Outcome::Accepted | Outcome::AlreadyThere))
        || import.errors().next().is_some();
    let aborted = a.all_or_nothing && refused;
    let written = !(a.dry_run || aborted);
    if written {
        let last;
        (answers, last) = send(&mut client, &import, size, false).await?;
        visible(&mut client, last).await;
    }
    let summary = summarise(&import, &answers);
    if let Some(path) = &a.rejects {
        write_rejects(path, &import, &answers)?;
    }
    print(args.output, &import, &summary, a.dry_run, written)?;
    if aborted {
        bail!(
            "nothing was written: {} row(s) rejected, {} conflict(s) (--all-or-nothing)",
            summary.rejected,
            summary.conflicts
        );
    }
    Ok(())
}

fn options(a: &ImportArgs) -> Result<Options> {
    let mut o = Options::default();
    if let Some(e) = &a.encoding {
        o.encoding = Some(e.parse().map_err(|e: String| anyhow!(e))?);
    }
    o.separator = match a.separator.as_deref() {
        None => None,
        Some(";") => Some(b';'),
        Some(",") => Some(b','),
        Some("tab" | "\t" | "\\t") => Some(b'\t'),
        Some(other) => bail!("--separator {other:?}: use ';', ',' or tab"),
    };
    o.sheet = a.sheet.clone();
    for m in &a.map {
        o.column_map.push(m.parse::<ColumnOverride>()?);
    }
    Ok(o)
}

/// Waits (bounded, by the node's min_position wait) until the node's views show everything
/// written up to `position`, so a `coop list` right after the import reads it. Best effort: a
/// node that serves no queries (`--role command`) is not waited for.
async fn visible(client: &mut Client, position: u64) {
    if position == 0 {
        return;
    }
    let Ok(request) = client.request(v1::SummaryRequest {
        min_position: position,
    }) else {
        return;
    };
    if let Err(e) = client.queries.summary(request).await {
        eprintln!(
            "written up to position {position}; the views are not there yet ({})",
            e.message()
        );
    }
}

/// Sends every ready row, `size` at a time; one answer per ready row, in file order, and the
/// highest position written.
async fn send(
    client: &mut Client,
    import: &Import,
    size: usize,
    dry_run: bool,
) -> Result<(Vec<Answer>, u64)> {
    let ready: Vec<v1::BatchCommand> = import.requests().cloned().map(Into::into).collect();
    let total = ready.len() as u64;
    let mut progress = Progress::new(if dry_run { "checking" } else { "importing" });
    let mut answers = Vec::with_capacity(ready.len());
    let mut last = 0;
    for chunk in ready.chunks(size) {
        let request = v1::BatchRequest {
            commands: chunk.to_vec(),
            dry_run,
        };
        let reply = client
            .commands
            .batch(client.request(request)?)
            .await
            .map_err(status_error)?
            .into_inner();
        if reply.results.len() != chunk.len() {
            bail!(
                "the node answered {} of {} rows of a batch",
                reply.results.len(),
                chunk.len()
            );
        }
        last = reply
            .results
            .iter()
            .filter_map(|r| match &r.result {
                Some(v1::batch_result::Result::Reply(reply)) => Some(reply.position),
                _ => None,
            })
            .fold(last, u64::max);
        answers.extend(reply.results.into_iter().map(answer));
        progress.tick(answers.len() as u64, total);
    }
    progress.done();
    Ok((answers, last))
}

fn answer(r: v1::BatchResult) -> Answer {
    use v1::batch_result::Result as R;
    match r.result {
        Some(R::Reply(reply)) => (Outcome::from_reply(reply.duplicate), None),
        Some(R::Refusal(f)) => {
            let text = format!("{}: {}", f.rule, f.message);
            (Outcome::from_rule(&f.rule), Some(text))
        }
        None => (
            Outcome::Rejected("internal".into()),
            Some("internal: the node gave no answer for this row".into()),
        ),
    }
}

fn summarise(import: &Import, answers: &[Answer]) -> Summary {
    let mut s = Summary::from_import(import);
    for (o, _) in answers {
        s.record(o);
    }
    s
}

/// The rows refused by the importer or the node (conflicts included), in file order.
fn write_rejects(path: &Path, import: &Import, answers: &[Answer]) -> Result<()> {
    let mut rejects = Rejects::for_import(import);
    let mut sent = answers.iter();
    for row in &import.rows {
        let why = match &row.result {
            Err(e) => Some(reason(e)),
            Ok(_) => sent
                .next()
                .and_then(|(_, text)| text.as_ref())
                .map(|t| format!("{t} ({})", row.location)),
        };
        if let Some(why) = why {
            rejects.push(row.cells.clone(), why);
        }
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    rejects
        .write_csv(std::io::BufWriter::new(file), Separator::Semicolon)
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "{} refused row(s) written to {}",
        rejects.len(),
        path.display()
    );
    Ok(())
}

fn print(
    out: Output,
    import: &Import,
    summary: &Summary,
    dry_run: bool,
    written: bool,
) -> Result<()> {
    if out == Output::Json {
        let v = serde_json::json!({
            "file": import.file_report(),
            "dry_run": dry_run,
            "written": written,
            "summary": summary,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if dry_run {
        println!("dry run: nothing written; \"accepted\" counts the rows the node would accept");
    } else if !written {
        println!("nothing written (--all-or-nothing): the counts are the check's");
    }
    print!("{summary}");
    Ok(())
}
