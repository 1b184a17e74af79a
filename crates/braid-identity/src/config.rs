//! How each identifier type is treated.

use serde::{Deserialize, Serialize};

/// Rules for one identifier type (`email`, `phone`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdType {
    /// The type's name as in `identity_links.id_type`.
    pub name: String,
    /// Whether a shared value joins records (`false`: recorded, never followed).
    #[serde(default = "yes")]
    pub links: bool,
    /// A value held by more than this many distinct records is reported
    /// (`not_followed`) and joins nothing: a shop's default phone,
    /// `test@example.com`. Decided before any union.
    #[serde(default = "default_max_records")]
    pub max_records_per_value: u32,
    /// At most this many distinct values of the type in one person
    /// (`None`: no limit). A union that would exceed it is refused and
    /// reported as a conflict: two different WeChat unionids are two people.
    #[serde(default)]
    pub max_per_person: Option<u32>,
}

fn yes() -> bool {
    true
}

fn default_max_records() -> u32 {
    DEFAULT_MAX_RECORDS_PER_VALUE
}

/// Default for [`IdType::max_records_per_value`].
pub const DEFAULT_MAX_RECORDS_PER_VALUE: u32 = 50;

impl IdType {
    /// A linking type with the default limit and no per-person limit.
    pub fn new(name: &str) -> IdType {
        IdType {
            name: name.to_owned(),
            links: true,
            max_records_per_value: DEFAULT_MAX_RECORDS_PER_VALUE,
            max_per_person: None,
        }
    }
}

/// The stitcher's configuration: identifier types in priority order (the
/// first is processed first, so when a per-person limit refuses a union the
/// higher-priority identifiers have already decided the cluster), and the
/// rules for types not listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Types in priority order.
    pub types: Vec<IdType>,
    /// Rules for a type not in `types` (processed after all listed ones).
    #[serde(default = "default_other")]
    pub other: IdType,
    /// The probabilistic pass (`None`: deterministic only).
    #[serde(default)]
    pub probabilistic: Option<crate::prob::ProbConfig>,
}

fn default_other() -> IdType {
    IdType::new("*")
}

impl Default for Config {
    /// braid's identifier types: scoped ids first, then WeChat unionid (at
    /// most one per person), email, phone, device and click ids.
    fn default() -> Config {
        let mut wechat = IdType::new("wechat_unionid");
        wechat.max_per_person = Some(1);
        Config {
            types: vec![
                IdType::new("customer_id"),
                IdType::new("loyalty_id"),
                wechat,
                IdType::new("email"),
                IdType::new("phone"),
                IdType::new("device_id"),
                IdType::new("click_id"),
            ],
            other: default_other(),
            probabilistic: None,
        }
    }
}

impl Config {
    /// The default configuration with the probabilistic pass on.
    pub fn with_probabilistic() -> Config {
        Config {
            probabilistic: Some(crate::prob::ProbConfig::default()),
            ..Config::default()
        }
    }

    /// Index of `name` in priority order (`types.len()` for other types).
    pub fn rank(&self, name: &str) -> usize {
        self.types
            .iter()
            .position(|t| t.name == name)
            .unwrap_or(self.types.len())
    }

    /// The rules for `name`.
    pub fn rules(&self, name: &str) -> &IdType {
        self.types
            .iter()
            .find(|t| t.name == name)
            .unwrap_or(&self.other)
    }
}
