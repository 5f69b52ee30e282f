//! The PostgreSQL peer: an events table with one transaction per append, at the same
//! concurrencies as relance's JetStream rows.

use anyhow::Result;

use crate::cli::Plan;
use crate::load::{self, Measured};
use crate::nats::Sync;
use crate::report::{fmt_rate, Row};

pub async fn append_postgres(
    plan: &Plan,
    js_rates: &[(Sync, usize, Measured)],
    rows: &mut Vec<Row>,
) -> Result<()> {
    let conninfo = match load::postgres_setup(&plan.postgres).await {
        Ok(c) => c,
        Err(why) => {
            eprintln!("[postgres] unavailable: {why}");
            rows.push(Row::unavailable(
                "append PostgreSQL peer".into(),
                "PostgreSQL events table",
                format!("no PostgreSQL reachable: {why}"),
            ));
            return Ok(());
        }
    };
    let settings = postgres_settings(&conninfo).await;
    for &c in &plan.concurrency {
        eprintln!("[append postgres] concurrency {c}");
        let ci = conninfo.clone();
        let tag = format!("P{c}");
        let measured = load::measure(c, plan.window, move |task, ctl, barrier| {
            load::postgres_worker(ci.clone(), tag.clone(), task, ctl, barrier)
        })
        .await?;
        let pg = measured.rate;
        eprintln!("  {}", fmt_rate(pg));
        let mine: Vec<_> = js_rates.iter().filter(|(_, cc, _)| *cc == c).collect();
        if mine.is_empty() {
            rows.push(Row {
                ratio: None,
                ..Row::rate(
                    format!("append PostgreSQL peer c={c}"),
                    pg,
                    "(no JetStream row)",
                    0.0,
                )
            });
        }
        for (sync, _, js) in mine {
            let r = Row::rate(
                format!(
                    "append JetStream vs PostgreSQL c={c} (sync {})",
                    sync.label()
                ),
                js.rate,
                "PostgreSQL events table, 1 tx/append",
                pg,
            );
            // Group commit's targets: ahead at c=1, 1.5× at c=16 and c=64.
            let (target, bar) = if c >= 16 {
                ("≥ 1.5×", 1.5)
            } else {
                ("≥ 1×", 1.0)
            };
            let met = r.ratio.map(|x| x >= bar);
            rows.push(r.target(target, met).note(settings.clone()));
            if c == 64 {
                if let (Some(mine), Some(theirs)) = (js.p99_ms, measured.p99_ms) {
                    rows.push(Row::latency_ms(
                        format!("  command p99 c={c} vs PostgreSQL (sync {})", sync.label()),
                        mine,
                        "PostgreSQL events table p99",
                        theirs,
                    ));
                }
            }
        }
    }
    postgres_cleanup_quiet(&conninfo).await;
    Ok(())
}

pub async fn postgres_settings(conninfo: &str) -> String {
    let Ok((client, connection)) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await
    else {
        return String::new();
    };
    tokio::spawn(connection);
    let mut out = Vec::new();
    for name in ["server_version", "synchronous_commit", "fsync"] {
        if let Ok(row) = client.query_one(&format!("SHOW {name}"), &[]).await {
            let v: String = row.get(0);
            out.push(format!("{name}={v}"));
        }
    }
    format!("PostgreSQL {}", out.join(" "))
}

pub async fn postgres_cleanup_quiet(conninfo: &str) {
    load::postgres_cleanup(conninfo).await;
}
