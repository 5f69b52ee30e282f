//! The PostgreSQL peer: an events table with one transaction per append, at the same
//! concurrencies as relance's JetStream rows.

use anyhow::Result;

use crate::cli::Plan;
use crate::load;
use crate::nats::Sync;
use crate::report::{fmt_rate, Row};

pub async fn append_postgres(
    plan: &Plan,
    js_rates: &[(Sync, usize, f64)],
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
        let pg = load::run(c, plan.window, move |task, ctl, barrier| {
            load::postgres_worker(ci.clone(), tag.clone(), task, ctl, barrier)
        })
        .await?;
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
                *js,
                "PostgreSQL events table, 1 tx/append",
                pg,
            );
            let met = r.ratio.map(|x| x > 1.0);
            rows.push(r.target("> 1×", met).note(settings.clone()));
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
