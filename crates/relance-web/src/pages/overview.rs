//! The province overview: counts, sectors, statuses, idled workers, reorientations, support by
//! partner and kind, and charts over a chosen period (each with its table).

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use relance_domain::{Date, Sector, Status, Summary};
use relance_projection::{Bucket, SeriesPoint};
use relance_server::auth::Permission;
use serde::Deserialize;

use super::{blocking, date_param};
use crate::chart::{self, Series};
use crate::i18n::Lang;
use crate::session::{encode, Ctx};
use crate::table::{csv_of, Cell, Table};
use crate::{layout, Web, WebError};

#[derive(Deserialize, Default)]
pub struct Params {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    csv: Option<String>,
}

/// The period shown when none is chosen: from the lockdown to the end of 2020.
const DEFAULT_FROM: &str = "2020-03-01";
const DEFAULT_TO: &str = "2020-12-31";

pub async fn page(
    State(web): State<Web>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    if let Some(r) = ctx.refusal(Permission::Read) {
        return Ok(r);
    }
    let l = ctx.lang;
    let bucket = match q.period.as_deref() {
        Some("week") => Bucket::Week,
        Some("day") => Bucket::Day,
        _ => Bucket::Month,
    };
    let fallback = |s: &str| Date::parse(s).ok_or_else(|| WebError::Internal(s.to_owned()));
    let from = date_param("from", &q.from)?.map_or_else(|| fallback(DEFAULT_FROM), Ok)?;
    let to = date_param("to", &q.to)?.map_or_else(|| fallback(DEFAULT_TO), Ok)?;
    if to < from {
        return Err(WebError::BadRequest("to is before from".into()));
    }
    let p = web.projection.current();
    let (summary, points) = blocking(move || {
        let s = p.summary();
        Ok((s, p.series(from, to, bucket)?))
    })
    .await?;
    let labels: Vec<String> = points.iter().map(|p| label(l, bucket, p.start)).collect();
    let tables = Tables::new(l, &summary, &points, &labels);
    if let Some(id) = &q.csv {
        return Ok(csv_of(&tables.all(), id));
    }
    let body = html! {
        section.figures { (tables.figures.html(l, &ctx.with_param("csv", "figures"))) }
        div.pair {
            section { (tables.sectors.html(l, &ctx.with_param("csv", "sectors"))) }
            section { (tables.statuses.html(l, &ctx.with_param("csv", "statuses"))) }
        }
        section { (tables.support.html(l, &ctx.with_param("csv", "support"))) }
        h2 { (l.t("overview.over_time")) }
        (period_form(l, bucket, from, to))
        (charts(&ctx, &tables, &points, &labels))
    };
    Ok(layout::page(&ctx, l.t("overview.title"), body))
}

fn label(l: Lang, bucket: Bucket, d: Date) -> String {
    let (y, m, _) = d.ymd();
    match bucket {
        Bucket::Month => format!("{} {y}", l.t(&format!("month.short.{m}"))),
        _ => d.to_string(),
    }
}

fn period_form(l: Lang, bucket: Bucket, from: Date, to: Date) -> Markup {
    html! {
        form.period method="get" action="/" {
            label for="period" { (l.t("period.by")) }
            select #period name="period" {
                @for (b, v) in [(Bucket::Week, "week"), (Bucket::Month, "month")] {
                    option value=(v) selected[b == bucket] { (l.t(&format!("period.{v}"))) }
                }
            }
            label for="from" { (l.t("period.from")) }
            input #from type="date" name="from" value=(from.to_string());
            label for="to" { (l.t("period.to")) }
            input #to type="date" name="to" value=(to.to_string());
            button type="submit" { (l.t("period.show")) }
        }
    }
}

fn charts(ctx: &Ctx, t: &Tables, points: &[SeriesPoint], labels: &[String]) -> Markup {
    let l = ctx.lang;
    let col = |f: fn(&SeriesPoint) -> f64| points.iter().map(f).collect::<Vec<f64>>();
    let events = chart::svg(
        l.t("chart.events"),
        labels,
        &[
            Series {
                name: l.t("series.halts"),
                values: col(|p| p.halts as f64),
                color: chart::RED,
            },
            Series {
                name: l.t("series.resumptions"),
                values: col(|p| p.resumptions as f64),
                color: chart::GREEN,
            },
            Series {
                name: l.t("series.reorientations"),
                values: col(|p| p.reorientations as f64),
                color: chart::BLUE,
            },
        ],
        false,
    );
    let idled = chart::svg(
        l.t("chart.idled"),
        labels,
        &[Series {
            name: l.t("series.workers_idled"),
            values: col(|p| p.workers_idled as f64),
            color: chart::OCHRE,
        }],
        false,
    );
    let support = chart::svg(
        l.t("chart.support"),
        labels,
        &[Series {
            name: l.t("series.support_mad"),
            values: col(|p| p.support_centimes as f64 / 100.0),
            color: chart::BLUE,
        }],
        true,
    );
    html! {
        @for (svg, table) in [(events, &t.events), (idled, &t.idled), (support, &t.granted)] {
            figure.chart {
                figcaption { (table.caption) }
                (PreEscaped(svg))
                (table.html(l, &ctx.with_param("csv", table.id)))
            }
        }
    }
}

/// Every table of the overview.
struct Tables {
    figures: Table,
    sectors: Table,
    statuses: Table,
    support: Table,
    events: Table,
    idled: Table,
    granted: Table,
}

impl Tables {
    fn new(l: Lang, s: &Summary, points: &[SeriesPoint], labels: &[String]) -> Self {
        let mut figures = Table::new(
            "figures",
            l.t("overview.figures"),
            &[l.t("col.figure"), l.t("col.value")],
        );
        let support_total: i64 = s
            .support
            .values()
            .flat_map(|k| k.values())
            .map(|t| t.amount_centimes)
            .sum();
        for (k, v) in [
            ("fig.cooperatives", Cell::int(l, s.cooperatives)),
            ("fig.members", Cell::int(l, s.members)),
            ("fig.employees", Cell::int(l, s.employees)),
            ("fig.workers_idled", Cell::int(l, s.workers_idled)),
            ("fig.reoriented", Cell::int(l, s.reoriented)),
            (
                "fig.capacity_min",
                Cell::int(l, s.reoriented_capacity_min_per_day),
            ),
            (
                "fig.capacity_max",
                Cell::int(l, s.reoriented_capacity_max_per_day),
            ),
            ("fig.support_total", Cell::mad(l, support_total)),
        ] {
            figures.rows.push(vec![Cell::text(l.t(k)), v]);
        }
        let mut sectors = Table::new(
            "sectors",
            l.t("overview.by_sector"),
            &[l.t("col.sector"), l.t("col.cooperatives"), l.t("col.share")],
        );
        for sec in Sector::ALL {
            if let Some(n) = s.by_sector.get(sec) {
                sectors.rows.push(vec![
                    Cell::link(
                        super::sector(l, *sec),
                        format!("/coops?sector={}", sec.as_str()),
                    ),
                    Cell::int(l, *n),
                    Cell::Num {
                        shown: l.percent(s.sector_share(*sec)),
                        raw: format!("{:.1}", s.sector_share(*sec)),
                    },
                ]);
            }
        }
        let mut statuses = Table::new(
            "statuses",
            l.t("overview.by_status"),
            &[l.t("col.status"), l.t("col.cooperatives")],
        );
        for st in Status::ALL {
            if let Some(n) = s.by_status.get(st) {
                statuses.rows.push(vec![
                    Cell::link(
                        super::status(l, *st),
                        format!("/coops?status={}", st.as_str()),
                    ),
                    Cell::int(l, *n),
                ]);
            }
        }
        let mut support = Table::new(
            "support",
            l.t("overview.support"),
            &[
                l.t("col.partner"),
                l.t("col.kind"),
                l.t("col.grants"),
                l.t("col.amount"),
            ],
        );
        for (partner, kinds) in &s.support {
            for (k, t) in kinds {
                support.rows.push(vec![
                    Cell::link(partner, format!("/partner?name={}", encode(partner))),
                    Cell::text(super::kind(l, *k)),
                    Cell::int(l, t.count),
                    Cell::mad(l, t.amount_centimes),
                ]);
            }
        }
        let (events, idled, granted) = series_tables(l, points, labels);
        Self {
            figures,
            sectors,
            statuses,
            support,
            events,
            idled,
            granted,
        }
    }

    fn all(&self) -> Vec<&Table> {
        vec![
            &self.figures,
            &self.sectors,
            &self.statuses,
            &self.support,
            &self.events,
            &self.idled,
            &self.granted,
        ]
    }
}

/// The tables of the three charts.
fn series_tables(l: Lang, points: &[SeriesPoint], labels: &[String]) -> (Table, Table, Table) {
    let period = l.t("col.period");
    let mut events = Table::new(
        "events",
        l.t("chart.events"),
        &[
            period,
            l.t("series.halts"),
            l.t("series.resumptions"),
            l.t("series.reorientations"),
        ],
    );
    let mut idled = Table::new(
        "idled",
        l.t("chart.idled"),
        &[period, l.t("series.workers_idled")],
    );
    let mut granted = Table::new(
        "granted",
        l.t("chart.support"),
        &[period, l.t("col.grants"), l.t("col.amount")],
    );
    for (p, name) in points.iter().zip(labels) {
        events.rows.push(vec![
            Cell::text(name),
            Cell::int(l, p.halts),
            Cell::int(l, p.resumptions),
            Cell::int(l, p.reorientations),
        ]);
        idled
            .rows
            .push(vec![Cell::text(name), Cell::int(l, p.workers_idled)]);
        granted.rows.push(vec![
            Cell::text(name),
            Cell::int(l, p.support_grants),
            Cell::mad(l, p.support_centimes),
        ]);
    }
    (events, idled, granted)
}
