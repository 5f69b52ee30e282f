//! Values serialized as text (`Date`, `Hash`): read from borrowed text where the format allows
//! it, with no `String` in between (they are read for every event decoded and every view).

use std::fmt;

use serde::{de, Deserializer};

/// Deserializes a `T` from text with `parse`, whose error names the text and the rule;
/// `expecting` says what the text should be.
pub(crate) fn from_text<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct Text<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> de::Visitor<'_> for Text<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Text { expecting, parse })
}
