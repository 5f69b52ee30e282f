//! Business dates (`YYYY-MM-DD`, proleptic Gregorian, UTC), with no clock behind them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date, stored as days since 1970-01-01; serialized as its `YYYY-MM-DD` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

/// Earliest year accepted: law 112-12 and its predecessors are younger than this.
const MIN_YEAR: i32 = 1900;
const MAX_YEAR: i32 = 2999;

impl Date {
    /// Builds a date from its parts, or `None` when it does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Self(days_from_civil(year, month, day)))
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(raw: &str) -> Option<Self> {
        let b = raw.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |s: &str| -> Option<u32> {
            if s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        let y = num(raw.get(0..4)?)?;
        let m = num(raw.get(5..7)?)?;
        let d = num(raw.get(8..10)?)?;
        Self::from_ymd(i32::try_from(y).ok()?, m, d)
    }

    /// [`parse`](Self::parse), with an error naming the text and the format.
    fn parse_text(raw: &str) -> Result<Self, String> {
        Self::parse(raw).ok_or_else(|| format!("{raw:?} is not a date YYYY-MM-DD"))
    }

    /// The UTC date of a Unix time in milliseconds.
    pub fn from_unix_ms(ms: i64) -> Self {
        Self(ms.div_euclid(86_400_000) as i32)
    }

    /// Milliseconds since the epoch at the start (00:00 UTC) of this date.
    pub fn start_unix_ms(self) -> i64 {
        i64::from(self.0) * 86_400_000
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// `YYYY-MM`, for monthly series.
    pub fn month_key(self) -> String {
        let (y, m, _) = self.ymd();
        format!("{y:04}-{m:02}")
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    /// The date `n` days later (or earlier when negative).
    pub fn add_days(self, n: i32) -> Self {
        Self(self.0 + n)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Date {
    /// The text [`Display`](fmt::Display) gives, written without the formatting machinery or
    /// an allocation for years 0–9999: dates are serialized for every event hashed and every
    /// view written, a catch-up's hot path (docs/performance.md, "National scale").
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (y, m, d) = self.ymd();
        let Ok(y) = u32::try_from(y) else {
            return serializer.serialize_str(&self.to_string());
        };
        if y > 9999 {
            return serializer.serialize_str(&self.to_string());
        }
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let text = [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ];
        let text = std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for Date {
    /// Parses `YYYY-MM-DD` from borrowed text where the format allows it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::from_text(deserializer, "a date YYYY-MM-DD", Date::parse_text)
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_text(&value)
    }
}

impl From<Date> for String {
    fn from(value: Date) -> Self {
        value.to_string()
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's civil-from-days algorithms.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in ["2020-03-20", "2000-02-29", "1970-01-01", "2999-12-31"] {
            assert_eq!(Date::parse(s).map(|d| d.to_string()).as_deref(), Some(s));
        }
    }

    /// The hand-written serialization is the `Display` text, for every third day from year 1 BC
    /// to 10000 (so every day of the month, every month and every digit of the year; the
    /// fallback beyond 0–9999 included), and reads back to the same date where `parse` accepts
    /// the date.
    #[test]
    fn serializes_as_its_display_text_and_reads_back() {
        let first = Date::from_unix_ms(-62_200_000_000_000).days();
        let last = Date::from_unix_ms(253_500_000_000_000).days();
        for days in (first..=last).step_by(3) {
            let date = Date(days);
            let json = serde_json::to_string(&date).expect("serialize");
            assert_eq!(json, format!("\"{date}\""));
            if (MIN_YEAR..=MAX_YEAR).contains(&date.ymd().0) {
                assert_eq!(serde_json::from_str::<Date>(&json).expect("read"), date);
            }
        }
        let refused = serde_json::from_str::<Date>("\"2020-02-30\"").expect_err("no such day");
        assert!(
            refused
                .to_string()
                .starts_with("\"2020-02-30\" is not a date YYYY-MM-DD"),
            "{refused}"
        );
    }

    #[test]
    fn refuses_impossible_dates() {
        for s in [
            "2020-02-30",
            "2019-02-29",
            "2020-13-01",
            "2020-00-10",
            "20-03-2020",
            "2020-3-20",
            "+020-03-20",
            "1899-12-31",
        ] {
            assert_eq!(Date::parse(s), None, "{s}");
        }
    }

    #[test]
    fn unix_ms_maps_to_the_utc_day() {
        let d = Date::parse("2020-03-20").expect("date");
        assert_eq!(Date::from_unix_ms(d.start_unix_ms()), d);
        assert_eq!(Date::from_unix_ms(d.start_unix_ms() + 86_399_999), d);
        assert_eq!(Date::from_unix_ms(d.start_unix_ms() - 1), d.add_days(-1));
        assert_eq!(Date::from_unix_ms(0).to_string(), "1970-01-01");
    }
}
