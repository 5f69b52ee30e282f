//! The results: one `Row` per figure beside its baseline, their formatting, and the report
//! printed as a table (or JSON).

use serde::Serialize;

use crate::queries;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub row: String,
    /// relance's figure (unit in `unit`).
    pub value: Option<f64>,
    pub shown: String,
    pub baseline_name: String,
    pub baseline: Option<f64>,
    pub baseline_shown: String,
    pub unit: String,
    /// value / baseline.
    pub ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
    pub note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Row {
    pub fn rate(row: String, value: f64, baseline_name: &str, baseline: f64) -> Self {
        Row {
            row,
            value: Some(value),
            shown: fmt_rate(value),
            baseline_name: baseline_name.into(),
            baseline: Some(baseline),
            baseline_shown: fmt_rate(baseline),
            unit: "per second".into(),
            ratio: (baseline > 0.0).then(|| value / baseline),
            target: String::new(),
            met: None,
            note: String::new(),
            detail: None,
        }
    }
    /// A latency (milliseconds, lower is better) beside its baseline's.
    pub fn latency_ms(row: String, value: f64, baseline_name: &str, baseline: f64) -> Self {
        Row {
            shown: format!("{value:.2} ms"),
            baseline_shown: format!("{baseline:.2} ms"),
            unit: "milliseconds".into(),
            ..Row::rate(row, value, baseline_name, baseline)
        }
    }
    pub fn unavailable(row: String, baseline_name: &str, why: String) -> Self {
        Row {
            row,
            value: None,
            shown: "unavailable".into(),
            baseline_name: baseline_name.into(),
            baseline: None,
            baseline_shown: "-".into(),
            unit: String::new(),
            ratio: None,
            target: String::new(),
            met: None,
            note: why,
            detail: None,
        }
    }
    pub fn target(mut self, target: &str, met: Option<bool>) -> Self {
        self.target = target.into();
        self.met = met;
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

pub fn fmt_rate(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{out}/s")
}

pub fn fmt_bytes_rate(v: f64) -> String {
    format!("{:.1} MB/s", v / 1e6)
}

pub fn fmt_latency(l: &queries::Latency) -> String {
    format!(
        "{:.2}/{:.2}/{:.2} ms",
        l.p50_us as f64 / 1000.0,
        l.p99_us as f64 / 1000.0,
        l.p999_us as f64 / 1000.0
    )
}

#[derive(Serialize)]
pub struct Report {
    pub command: String,
    pub mode: &'static str,
    pub cores: usize,
    pub nats_server: String,
    pub sync_intervals: Vec<&'static str>,
    pub events: u64,
    pub cooperatives: u64,
    pub seconds: f64,
    pub rows: Vec<Row>,
    pub left_out: Vec<String>,
}

pub fn render(report: &Report) -> String {
    let head = [
        "row",
        "relance",
        "baseline",
        "baseline is",
        "ratio",
        "target",
        "met",
    ];
    let mut lines: Vec<[String; 7]> = vec![head.map(String::from)];
    for r in &report.rows {
        lines.push([
            r.row.clone(),
            r.shown.clone(),
            r.baseline_shown.clone(),
            r.baseline_name.clone(),
            r.ratio.map_or("-".into(), |x| format!("{x:.2}×")),
            if r.target.is_empty() {
                "-".into()
            } else {
                r.target.clone()
            },
            match r.met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        ]);
    }
    let mut widths = [0usize; 7];
    for l in &lines {
        for (i, c) in l.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = format!(
        "relance-bench {} — {} cores, {}, sync_interval {}, {} events / {} cooperatives, {:.0} s\n",
        report.mode,
        report.cores,
        report.nats_server,
        report.sync_intervals.join(" + "),
        report.events,
        report.cooperatives,
        report.seconds
    );
    for (n, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    let notes: Vec<&Row> = report.rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push_str("\nnotes:\n");
        let mut seen = std::collections::HashSet::new();
        for r in notes {
            if seen.insert(r.note.as_str()) {
                out.push_str(&format!("- {}: {}\n", r.row, r.note));
            }
        }
    }
    if !report.left_out.is_empty() {
        out.push_str("\nleft out:\n");
        for l in &report.left_out {
            out.push_str(&format!("- {l}\n"));
        }
    }
    out
}
