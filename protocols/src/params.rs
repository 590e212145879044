//! A protocol's scenario parameters: the keys of a `[[protocols]]` entry besides `name`, `kind` and
//! `expect`, read by the protocol's own folder.
//!
//! Each folder declares the keys it takes as a `serde` struct with `deny_unknown_fields`
//! (`lease/params.rs`, `raft/params.rs`, …) and resolves them — defaults, validation — into its
//! parameter structs and a [`ProtocolBuild`](crate::registry::ProtocolBuild). The simulator hands
//! the entry's table over without knowing any key, and turns a [`ParamError`] into an error
//! located at the key's line in the file.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::node::MsRange;

/// The entry's keys, as the scenario file wrote them.
pub type Table = toml::Table;

/// A parameter the protocol cannot accept: which key (if one is to blame) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub field: Option<String>,
    pub message: String,
}

impl ParamError {
    /// An error blamed on key `field`.
    pub fn at(field: &str, message: impl Into<String>) -> ParamError {
        ParamError { field: Some(field.to_string()), message: message.into() }
    }
}

/// Read `table` as the key struct `T` (a `deny_unknown_fields` struct of `Option`s). A key of the
/// wrong type or an unknown key is an error naming that key.
pub fn read<T: DeserializeOwned>(table: &Table) -> Result<T, ParamError> {
    toml::Value::Table(table.clone()).try_into::<T>().map_err(|e| {
        // toml writes "<message>\nin `key`" for a bad value; "unknown field `k`, expected …" names
        // its key itself.
        let text = e.to_string();
        let mut lines = text.trim().lines();
        let message = lines.next().unwrap_or("invalid value").trim().to_string();
        let field = lines
            .find_map(|l| l.trim().strip_prefix("in `").and_then(|r| r.strip_suffix('`')).map(str::to_string))
            .or_else(|| message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()).map(str::to_string));
        ParamError { field, message }
    })
}

/// A duration in milliseconds, fixed (`50`) or drawn per use (`{ min = 10, max = 50 }`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged, expecting = "a whole number of milliseconds, or a table { min = .., max = .. }")]
pub enum MsSpec {
    Fixed(u64),
    Range(MsBounds),
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MsBounds {
    pub min: u64,
    pub max: u64,
}

impl MsSpec {
    pub fn range(&self) -> MsRange {
        match *self {
            MsSpec::Fixed(v) => MsRange::fixed(v),
            MsSpec::Range(MsBounds { min, max }) => MsRange { min_ms: min, max_ms: max },
        }
    }
}

/// The range `spec` (or `default_ms`, a `{ min, max }` pair), checked: min ≤ max.
pub fn ms_range(field: &str, spec: Option<MsSpec>, default_ms: (u64, u64)) -> Result<MsRange, ParamError> {
    let spec = spec.unwrap_or(MsSpec::Range(MsBounds { min: default_ms.0, max: default_ms.1 }));
    if let MsSpec::Range(r) = spec {
        if r.min > r.max {
            return Err(ParamError::at(field, format!("min ({}) is greater than max ({})", r.min, r.max)));
        }
    }
    Ok(spec.range())
}

/// `Err` unless `value_ms` is above zero.
pub fn positive(field: &str, value_ms: u64) -> Result<u64, ParamError> {
    if value_ms == 0 {
        Err(ParamError::at(field, "must be greater than 0"))
    } else {
        Ok(value_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Keys {
        ttl_ms: Option<u64>,
        backoff_ms: Option<MsSpec>,
    }

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn errors_name_their_key() {
        let e = read::<Keys>(&table("ttl_ms = \"x\"")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("ttl_ms"), "{e:?}");
        assert!(e.message.contains("expected u64"), "{e:?}");
        let e = read::<Keys>(&table("ttl_msx = 1")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("ttl_msx"), "{e:?}");
        assert!(e.message.contains("unknown field"), "{e:?}");
        let e = read::<Keys>(&table("backoff_ms = { min = 1 }")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("backoff_ms"), "{e:?}");
        assert!(read::<Keys>(&table("ttl_ms = 5\nbackoff_ms = { min = 1, max = 2 }")).is_ok());
    }

    #[test]
    fn ranges_are_checked() {
        let e = ms_range("r", Some(MsSpec::Range(MsBounds { min: 5, max: 3 })), (1, 2)).unwrap_err();
        assert!(e.message.contains("min (5) is greater than max (3)"));
        assert_eq!(ms_range("r", None, (1, 2)).unwrap(), MsRange { min_ms: 1, max_ms: 2 });
    }
}
