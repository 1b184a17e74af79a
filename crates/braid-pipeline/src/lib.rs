//! Pipeline files (`pipelines/*.yaml`): parsing, validation, `${VAR}`
//! interpolation and the JSON Schema for editors.
//!
//! ```yaml
//! name: hubspot_crm
//! schedule: "*/30 * * * *"
//! timezone: Europe/Berlin
//! sources:
//!   - name: hubspot
//!     connector: hubspot
//!     config:
//!       access_token: ${HUBSPOT_ACCESS_TOKEN}
//!     streams:
//!       - contacts
//!       - name: deals
//!         sync_mode: incremental
//! ```
//!
//! [`parse`] reports every problem it can find at once, each as a
//! [`Diagnostic`] with file, line, column, document path and what was
//! expected. Values that came from `${...}` are secrets: they never show in
//! `Debug` output, in error messages or in [`Pipeline::redacted_config`].
//!
//! ```
//! let yaml = "name: demo\nsources:\n  - name: files\n    connector: files\n    config: {token: '${TOKEN}'}\n";
//! let env = |var: &str| (var == "TOKEN").then(|| "s3cr3t".to_owned());
//! let pipeline = braid_pipeline::parse(yaml, "pipelines/demo.yaml", &env).unwrap();
//! assert_eq!(pipeline.sources[0].config["token"], "s3cr3t");
//! assert_eq!(pipeline.redacted_config("files").unwrap()["token"], "***");
//! assert!(!format!("{pipeline:?}").contains("s3cr3t"));
//!
//! let errors = braid_pipeline::parse("name: Demo\nsources: []\n", "demo.yaml", &env).unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "demo.yaml:1:7: name: invalid name \"Demo\": expected lowercase letters, digits, '_' and '-' only\n\
//!      demo.yaml:2:10: sources: expected at least one source"
//! );
//! ```
//!
//! Top-level keys starting with `x-` are ignored, so anchors for merge keys
//! (`<<: *defaults`) have a place to live.

#![warn(missing_docs)]

mod diagnostic;
mod interpolate;
mod model;
mod node;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use braid_core::SyncMode;
pub use diagnostic::{Diagnostic, Located, Location, PipelineErrors};
pub use model::{
    is_secret_key, Pipeline, RuntimeOptions, Schedule, ScheduleError, Section, SourceConfig,
    StreamSelection, REDACTED,
};
pub use schema::json_schema;

/// Reads and validates the pipeline file at `path`, with `${VAR}` taken from
/// the process environment. Diagnostics name the file as `path` displays.
pub fn load(path: &Path) -> Result<Pipeline, PipelineErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(
            file.clone(),
            Location::default(),
            "",
            format!("cannot read pipeline file: {e}"),
        )
    })?;
    parse(&text, &file, &|name| std::env::var(name).ok())
}

/// Parses and validates pipeline YAML `text`; `file` names it in
/// diagnostics and `env` looks up `${VAR}` references.
///
/// A YAML syntax error stops parsing; every other problem (unknown keys,
/// wrong types, bad names, duplicate sources, bad cron or time zone, unset
/// variables) is collected and all are returned, in file order.
pub fn parse(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Pipeline, PipelineErrors> {
    validate::parse_pipeline(text, file, env)
}
