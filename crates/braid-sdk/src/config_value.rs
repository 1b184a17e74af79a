//! Serde helpers for connector configs.
//!
//! Values interpolated from the environment (`${VAR}`) reach a connector as
//! strings, so a numeric setting a user may take from the environment
//! should accept `"20"` as well as `20`:
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     #[serde(default, deserialize_with = "braid_sdk::config_value::number")]
//!     page_size: u32,
//!     #[serde(default, deserialize_with = "braid_sdk::config_value::opt_number")]
//!     limit: Option<u64>,
//! }
//! let c: Config = serde_json::from_value(serde_json::json!({"page_size": "250", "limit": 7})).unwrap();
//! assert_eq!((c.page_size, c.limit), (250, Some(7)));
//! ```

use std::str::FromStr;

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText<T> {
    Number(T),
    Text(String),
}

/// A number, also when written as a string.
pub fn number<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr + Deserialize<'de>,
    D: Deserializer<'de>,
{
    match NumberOrText::<T>::deserialize(d)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}"))),
    }
}

/// An optional number, also when written as a string (use with `#[serde(default)]`).
pub fn opt_number<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: FromStr + Deserialize<'de>,
    D: Deserializer<'de>,
{
    number(d).map(Some)
}
