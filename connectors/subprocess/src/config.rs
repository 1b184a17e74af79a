//! The pipeline config of `airbyte:<command>` and `singer:<command>` sources.

use std::collections::BTreeMap;

use braid_core::{Error, Result};
use serde::Deserialize;

/// Rows gathered per stream before a batch is handed on.
pub const DEFAULT_BATCH_ROWS: usize = 8192;
/// Lines of the connector's stderr quoted when it fails.
pub const DEFAULT_STDERR_TAIL_LINES: usize = 20;

/// Config of a subprocess source.
///
/// ```yaml
/// sources:
///   - name: faker
///     connector: "airbyte:${AIRBYTE_SOURCE_FAKER:-source-faker}"
///     config:
///       connector_config: {count: 1000, seed: 7}   # the connector's own config.json
///       streams:                                    # optional overrides
///         users: {primary_key: [id], cursor_field: updated_at}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubprocessConfig {
    /// The connector's own configuration. braid writes it to a private
    /// temporary `config.json` (mode 0600, removed when the command ends) and
    /// passes `--config <file>`. It is shown redacted like any source config.
    #[serde(default = "empty_object")]
    pub connector_config: serde_json::Value,
    /// Extra environment variables for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory of the command (relative paths: from the pipeline file's directory).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Per-stream overrides of what the connector's catalog says (or does not say).
    #[serde(default)]
    pub streams: BTreeMap<String, StreamOverride>,
    /// Rows per Arrow batch (default 8192). A STATE message flushes earlier.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Drop a record whose (primary key, cursor) this run already passed on.
    /// Default: on for Singer taps (singer-sdk taps with partitioned state can
    /// re-send a stream once per partition), off for Airbyte sources.
    #[serde(default)]
    pub dedupe_records: Option<bool>,
    /// Singer only: the flag the tap takes its catalog with, `catalog`
    /// (default) or `properties` (older taps).
    #[serde(default)]
    pub catalog_flag: Option<CatalogFlag>,
    /// Lines of stderr quoted when the connector fails (default 20).
    #[serde(default = "default_tail")]
    pub stderr_tail_lines: usize,
}

/// What a stream's catalog entry is overridden with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOverride {
    /// Columns identifying a record.
    #[serde(default)]
    pub primary_key: Option<Vec<String>>,
    /// The cursor column incremental reads resume from.
    #[serde(default)]
    pub cursor_field: Option<String>,
}

/// How a Singer tap takes its catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogFlag {
    /// `--catalog catalog.json` (singer-sdk and most current taps).
    Catalog,
    /// `--properties catalog.json` (older taps).
    Properties,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

fn default_batch_rows() -> usize {
    DEFAULT_BATCH_ROWS
}

fn default_tail() -> usize {
    DEFAULT_STDERR_TAIL_LINES
}

impl SubprocessConfig {
    /// Parses a source's `config`, naming the protocol in errors.
    pub fn from_value(protocol: &str, value: serde_json::Value) -> Result<Self> {
        let value = if value.is_null() {
            empty_object()
        } else {
            value
        };
        let c: SubprocessConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("{protocol}: {e}")))?;
        if !c.connector_config.is_object() {
            return Err(Error::Config(format!(
                "{protocol}: `connector_config` must be a mapping (the connector's config.json)"
            )));
        }
        if c.batch_rows == 0 {
            return Err(Error::Config(format!(
                "{protocol}: `batch_rows` must be at least 1"
            )));
        }
        Ok(c)
    }
}

/// JSON Schema of the config (for `braid schema` and editors).
pub fn config_json_schema(protocol: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "description": format!("A {protocol} connector run as a subprocess: `connector: {protocol}:<command>`."),
        "additionalProperties": false,
        "properties": {
            "connector_config": {"type": "object", "description": "The connector's own config.json."},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "cwd": {"type": "string"},
            "streams": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "primary_key": {"type": "array", "items": {"type": "string"}},
                    "cursor_field": {"type": "string"}
                }
            }},
            "batch_rows": {"type": "integer", "minimum": 1, "default": DEFAULT_BATCH_ROWS},
            "dedupe_records": {"type": "boolean"},
            "catalog_flag": {"enum": ["catalog", "properties"]},
            "stderr_tail_lines": {"type": "integer", "minimum": 1, "default": DEFAULT_STDERR_TAIL_LINES}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_errors_name_the_protocol() {
        let c = SubprocessConfig::from_value("airbyte", json!({})).unwrap();
        assert_eq!(c.batch_rows, DEFAULT_BATCH_ROWS);
        assert!(c.connector_config.as_object().unwrap().is_empty());
        let e = SubprocessConfig::from_value("singer", json!({"conector_config": {}})).unwrap_err();
        assert!(
            e.to_string()
                .contains("singer: unknown field `conector_config`"),
            "{e}"
        );
        let e =
            SubprocessConfig::from_value("airbyte", json!({"connector_config": [1]})).unwrap_err();
        assert!(e.to_string().contains("must be a mapping"), "{e}");
    }
}
