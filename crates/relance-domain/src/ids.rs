//! Cooperative ids: token-safe, so they can be a NATS subject token and a sled key part.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Rejection, Rule};

/// Longest cooperative id accepted.
pub const MAX_COOP_ID_LEN: usize = 64;

/// A cooperative id such as `REH-0001` or a ULID: 1 to 64 ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CoopId(String);

/// Hash, equality and order are those of the text, so maps keyed by id can be searched by `&str`.
impl std::borrow::Borrow<str> for CoopId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl CoopId {
    /// Validates `raw` as a cooperative id.
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        if raw.is_empty() {
            return Err(Rejection::invalid(
                "cooperative_id",
                Rule::CooperativeIdFormat,
                "must not be empty",
            ));
        }
        if raw.chars().count() > MAX_COOP_ID_LEN {
            return Err(Rejection::invalid(
                "cooperative_id",
                Rule::CooperativeIdFormat,
                format!("must be at most {MAX_COOP_ID_LEN} characters"),
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(Rejection::invalid(
                "cooperative_id",
                Rule::CooperativeIdFormat,
                format!("character {bad:?} is not allowed: use ASCII letters, digits, '-' or '_'"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CoopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CoopId {
    type Error = Rejection;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CoopId> for String {
    fn from(value: CoopId) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_register_style_and_ulid_ids() {
        assert!(CoopId::parse("REH-0001").is_ok());
        assert!(CoopId::parse("01J9Z3K6Q5W8X2Y4Z6A8B0C2D4").is_ok());
    }

    #[test]
    fn refuses_subject_characters_spaces_and_long_ids() {
        for bad in ["a.>", "a.b", "*", ">", "a b", "", "é", &"x".repeat(65)] {
            let err = CoopId::parse(bad).expect_err(bad);
            assert_eq!(err.rule(), Rule::CooperativeIdFormat, "{bad}");
            assert_eq!(err.field(), Some("cooperative_id"));
        }
    }
}
