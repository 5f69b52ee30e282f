//! Time series of the province: buckets of business days (day, ISO week, month) and the counts
//! and sums of one bucket.

use crate::Date;

/// How a series groups days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    Month,
}

impl Bucket {
    pub const ALL: &'static [Bucket] = &[Bucket::Day, Bucket::Week, Bucket::Month];

    /// `day`, `week` or `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Bucket::ALL.iter().copied().find(|b| b.as_str() == raw)
    }

    /// The first day of the bucket holding `d`.
    pub fn start(self, d: Date) -> Date {
        match self {
            Bucket::Day => d,
            // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
            Bucket::Week => d.add_days(-(d.days() + 3).rem_euclid(7)),
            Bucket::Month => {
                let (y, m, _) = d.ymd();
                Date::from_ymd(y, m, 1).unwrap_or(d)
            }
        }
    }

    /// The first day of the bucket after the one starting on `start`.
    pub fn next(self, start: Date) -> Date {
        match self {
            Bucket::Day => start.add_days(1),
            Bucket::Week => start.add_days(7),
            Bucket::Month => {
                let (y, m, _) = start.ymd();
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Date::from_ymd(y, m, 1).unwrap_or(start.add_days(31))
            }
        }
    }
}

/// One bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesPoint {
    /// First day of the bucket.
    pub start: Date,
    pub halts: u64,
    pub resumptions: u64,
    pub reorientations: u64,
    /// Workers idled by halts open at the end of the bucket.
    pub workers_idled: u64,
    pub support_grants: u64,
    pub support_centimes: i64,
}
