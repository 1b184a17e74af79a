//! JSON Schema of the pipeline file, for editors (`braid schema`).
//!
//! These types only describe the file; parsing goes through the located tree
//! in `validate.rs`. A test keeps the two in step.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

/// A braid pipeline: where data comes from, when it runs and how.
#[derive(JsonSchema)]
#[schemars(
    title = "braid pipeline",
    deny_unknown_fields,
    extend("patternProperties" = { "^x-": { "description": "Ignored; a place for YAML anchors." } })
)]
#[allow(dead_code)]
struct PipelineFile {
    /// Pipeline name: lowercase letters, digits, `_` and `-`.
    #[schemars(pattern(r"^[a-z0-9_-]+$"))]
    name: String,
    /// Free-text description.
    description: Option<String>,
    /// Cron expression: 5 fields (minute hour day-of-month month day-of-week; 0 and 7 are
    /// Sunday), 6 with a leading seconds field, or @hourly, @daily, @weekly, @monthly, @yearly.
    schedule: Option<String>,
    /// IANA time zone the schedule is read in (default UTC), e.g. `Europe/Berlin`.
    timezone: Option<String>,
    /// Warehouse root (a path or URI); the CLI's `--warehouse` overrides it.
    warehouse: Option<String>,
    /// Runtime tunables, all optional.
    options: Option<OptionsFile>,
    /// The sources to read.
    #[schemars(length(min = 1))]
    sources: Vec<SourceFile>,
    /// The unified layer: mapping overrides and policies (validated by braid-normalize;
    /// see docs/schema.md).
    unify: Option<serde_json::Value>,
}

/// Runtime tunables.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct OptionsFile {
    /// Max bytes in flight between a source and the writer (default 64MiB).
    #[schemars(schema_with = "byte_size")]
    buffer_bytes: Option<u64>,
    /// Commit a stream when this many bytes were written since its last commit (default 128MiB).
    #[schemars(schema_with = "byte_size")]
    commit_every_bytes: Option<u64>,
    /// Commit a stream when this many seconds passed since its last commit (default 60).
    #[schemars(range(min = 1))]
    commit_every_seconds: Option<u64>,
}

/// One source: a connector and its config.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct SourceFile {
    /// Source name, unique in the file: lowercase letters, digits, `_` and `-`.
    #[schemars(pattern(r"^[a-z0-9_-]+$"))]
    name: String,
    /// Connector that reads this source, e.g. `hubspot`.
    connector: String,
    /// Connector-specific config; string values may use `${VAR}` and `${VAR:-default}`.
    config: Option<serde_json::Map<String, serde_json::Value>>,
    /// Streams to read; leave out to read every stream in its default mode.
    #[schemars(length(min = 1))]
    streams: Option<Vec<StreamFile>>,
}

/// A stream: its name, or a mapping with its name and sync mode.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StreamFile {
    Name(String),
    Detailed(StreamDetailFile),
}

/// A stream with options.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct StreamDetailFile {
    /// Stream name, as the connector's catalog names it.
    name: String,
    /// How the stream is read (default: the stream's default mode).
    sync_mode: Option<SyncModeFile>,
}

/// How a stream is read.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum SyncModeFile {
    FullRefresh,
    Incremental,
}

fn byte_size(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "integer", "minimum": 1 },
            {
                "type": "string",
                "pattern": "^\\s*[0-9]+\\s*([kKmMgGtT][iI]?[bB]|[bB])?\\s*$",
                "examples": ["256MiB", "1GB", "134217728"]
            }
        ]
    })
}

/// The JSON Schema (draft 2020-12) of a pipeline file.
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(PipelineFile).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{OPTION_KEYS, SOURCE_KEYS, STREAM_KEYS, SYNC_MODES, TOP_KEYS};
    use serde_json::Value;

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    }

    fn sorted(k: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = k.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    }

    fn def<'a>(schema: &'a Value, name: &str) -> &'a Value {
        &schema["$defs"][name]
    }

    #[test]
    fn schema_matches_the_parser() {
        let s = json_schema();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(keys(&s), sorted(TOP_KEYS));
        assert_eq!(s["additionalProperties"], false);
        assert!(s["patternProperties"]["^x-"].is_object());
        assert_eq!(s["required"], serde_json::json!(["name", "sources"]));
        assert_eq!(keys(def(&s, "SourceFile")), sorted(SOURCE_KEYS));
        assert_eq!(keys(def(&s, "OptionsFile")), sorted(OPTION_KEYS));
        assert_eq!(keys(def(&s, "StreamDetailFile")), sorted(STREAM_KEYS));
        let modes: Vec<Value> = SYNC_MODES
            .iter()
            .map(|m| Value::from(m.to_string()))
            .collect();
        assert_eq!(def(&s, "SyncModeFile")["enum"], Value::Array(modes));
        assert_eq!(s["properties"]["name"]["pattern"], "^[a-z0-9_-]+$");
    }
}
