//! Languages: one catalogue of `key = text` lines per language, embedded at compile time, and
//! numbers, amounts and dates written the way each language writes them.

use std::collections::HashMap;
use std::sync::LazyLock;

use relance_domain::Date;

/// A language of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Fr,
    Ar,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Fr, Lang::Ar, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::Ar => "ar",
            Lang::En => "en",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Lang::ALL.into_iter().find(|l| l.code() == raw)
    }

    /// Writing direction, for `<html dir>`.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            _ => "ltr",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::Fr => include_str!("../assets/i18n/fr.txt"),
            Lang::Ar => include_str!("../assets/i18n/ar.txt"),
            Lang::En => include_str!("../assets/i18n/en.txt"),
        }
    }

    /// The label of `key`; a missing key shows as `⟦?⟧` and is logged (a test renders every
    /// page in every language and looks for it).
    pub fn t(self, key: &str) -> &'static str {
        match CATALOGUES.get(&self).and_then(|c| c.get(key)) {
            Some(text) => text,
            None => {
                tracing::warn!(lang = self.code(), key, "missing label");
                MISSING
            }
        }
    }

    /// `n` with thousands separators.
    pub fn int(self, n: u64) -> String {
        group(&n.to_string(), self.thousands())
    }

    /// An amount in MAD centimes: `1 953 875,00 MAD`.
    pub fn mad(self, centimes: i64) -> String {
        let sign = if centimes < 0 { "-" } else { "" };
        let c = centimes.unsigned_abs();
        format!(
            "{sign}{}{}{:02}\u{a0}{}",
            group(&(c / 100).to_string(), self.thousands()),
            self.decimal(),
            c % 100,
            self.t("unit.mad")
        )
    }

    /// A percentage with one decimal.
    pub fn percent(self, v: f64) -> String {
        format!("{v:.1}").replace('.', self.decimal()) + "\u{a0}%"
    }

    /// A business date: `15 avril 2020`.
    pub fn date(self, d: Date) -> String {
        let (y, m, day) = d.ymd();
        format!("{day} {} {y}", self.t(&format!("month.{m}")))
    }

    /// A recording time (Unix ms, UTC): `20 avril 2020, 12:00 UTC`.
    pub fn time(self, ms: i64) -> String {
        let d = Date::from_unix_ms(ms);
        let secs = (ms - d.start_unix_ms()) / 1000;
        format!(
            "{}, {:02}:{:02}\u{a0}UTC",
            self.date(d),
            secs / 3600,
            secs / 60 % 60
        )
    }

    fn thousands(self) -> &'static str {
        match self {
            Lang::Fr => "\u{202f}",
            Lang::Ar | Lang::En => ",",
        }
    }

    fn decimal(self) -> &'static str {
        match self {
            Lang::Fr => ",",
            Lang::Ar | Lang::En => ".",
        }
    }
}

/// What a missing label shows.
pub const MISSING: &str = "⟦?⟧";

fn group(digits: &str, sep: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// Parses a catalogue: `key = text` lines; blank lines and `#` comments skipped.
pub fn parse_catalogue(text: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once(" = ")
            .ok_or_else(|| format!("line {}: no ` = `", n + 1))?;
        if out
            .insert(k.trim().to_owned(), v.trim().to_owned())
            .is_some()
        {
            return Err(format!("line {}: {k} appears twice", n + 1));
        }
    }
    Ok(out)
}

static CATALOGUES: LazyLock<HashMap<Lang, HashMap<String, String>>> = LazyLock::new(|| {
    Lang::ALL
        .into_iter()
        .map(|l| {
            let c = parse_catalogue(l.source()).unwrap_or_else(|e| {
                tracing::error!(lang = l.code(), error = %e, "catalogue");
                HashMap::new()
            });
            (l, c)
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_key_and_parses() {
        let cats: Vec<(Lang, HashMap<String, String>)> = Lang::ALL
            .into_iter()
            .map(|l| (l, parse_catalogue(l.source()).expect("catalogue parses")))
            .collect();
        for (l, c) in &cats {
            for (other, oc) in &cats {
                let mut missing: Vec<&String> = oc.keys().filter(|k| !c.contains_key(*k)).collect();
                missing.sort();
                assert!(
                    missing.is_empty(),
                    "{} lacks keys of {}: {missing:?}",
                    l.code(),
                    other.code()
                );
            }
            assert!(
                c.values().all(|v| !v.is_empty()),
                "{} has an empty text",
                l.code()
            );
        }
    }

    #[test]
    fn numbers_amounts_and_dates_per_language() {
        assert_eq!(
            Lang::Fr.mad(195_387_500),
            "1\u{202f}953\u{202f}875,00\u{a0}MAD"
        );
        assert_eq!(Lang::En.mad(195_387_500), "1,953,875.00\u{a0}MAD");
        assert_eq!(Lang::Fr.int(256), "256");
        assert_eq!(Lang::En.int(1_000_000), "1,000,000");
        let d = Date::parse("2020-04-15").expect("date");
        assert_eq!(Lang::Fr.date(d), "15 avril 2020");
        assert_eq!(Lang::En.date(d), "15 April 2020");
        assert_eq!(Lang::Ar.date(d), "15 أبريل 2020");
        assert_eq!(Lang::Fr.percent(78.125), "78,1\u{a0}%");
        assert_eq!(Lang::Ar.dir(), "rtl");
    }
}
