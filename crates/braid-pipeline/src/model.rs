//! The validated pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use braid_core::SyncMode;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Located, Location};

/// What redacted values are replaced with.
pub const REDACTED: &str = "***";

/// A validated pipeline file.
///
/// `Debug` never prints secrets: source configs are shown redacted and any
/// field whose value came from `${...}` is shown as `"***"`.
#[derive(Clone)]
pub struct Pipeline {
    /// Pipeline name (`[a-z0-9_-]+`).
    pub name: String,
    /// Where the name is written.
    pub name_location: Location,
    /// Free-text description.
    pub description: Option<String>,
    /// When `braid serve` runs the pipeline; `None` means only on demand.
    pub schedule: Option<Schedule>,
    /// Warehouse root as written (a path or URI); the CLI's `--warehouse` overrides it.
    pub warehouse: Option<String>,
    /// Runtime tunables.
    pub options: RuntimeOptions,
    /// The sources, in file order (at least one).
    pub sources: Vec<SourceConfig>,
    /// The `unify:` section (mappings, policies for the unified layer), as
    /// located JSON; braid-normalize validates it.
    pub unify: Option<Section>,
    /// The file name the pipeline was read from, as used in diagnostics.
    pub file: String,
    /// Top-level fields (`name`, `description`, `schedule`, `timezone`, `warehouse`)
    /// whose values came from `${...}`; `Debug` shows them as `"***"`.
    pub(crate) secret_paths: BTreeSet<String>,
}

impl Pipeline {
    /// A diagnostic for this pipeline's file, e.g. for problems found later
    /// (unknown connector, rejected config, unknown stream).
    pub fn diagnostic(
        &self,
        location: Location,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(self.file.clone(), location, path, message)
    }

    /// The source named `name`.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name.value == name)
    }

    /// The config of source `source` with secrets replaced by `"***"`, or
    /// `None` if there is no such source. See [`SourceConfig::redacted_config`].
    pub fn redacted_config(&self, source: &str) -> Option<serde_json::Value> {
        self.source(source).map(SourceConfig::redacted_config)
    }

    fn shown<'a>(&self, path: &str, value: &'a str) -> &'a str {
        if self.secret_paths.contains(path) {
            REDACTED
        } else {
            value
        }
    }
}

struct DebugWith<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Debug for DebugWith<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("file", &self.file)
            .field("name", &self.shown("name", &self.name))
            .field(
                "description",
                &self
                    .description
                    .as_deref()
                    .map(|d| self.shown("description", d)),
            )
            .field(
                "schedule",
                &self.schedule.as_ref().map(|s| {
                    DebugWith(move |f: &mut fmt::Formatter<'_>| {
                        f.debug_struct("Schedule")
                            .field("expression", &self.shown("schedule", &s.expression))
                            .field("timezone", &self.shown("timezone", s.timezone.name()))
                            .finish()
                    })
                }),
            )
            .field(
                "warehouse",
                &self
                    .warehouse
                    .as_deref()
                    .map(|w| self.shown("warehouse", w)),
            )
            .field("options", &self.options)
            .field("sources", &self.sources)
            .field("unify", &self.unify.as_ref().map(|u| u.location))
            .finish()
    }
}

/// Runtime tunables (`options:` in the file), all with defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuntimeOptions {
    /// Max bytes in flight between a source and the writer (default 64 MiB).
    pub buffer_bytes: u64,
    /// Commit a stream when this many bytes were written since its last commit (default 128 MiB).
    pub commit_every_bytes: u64,
    /// ... or when this many seconds passed since its last commit (default 60).
    pub commit_every_seconds: u64,
}

impl RuntimeOptions {
    /// Default for [`RuntimeOptions::buffer_bytes`]: 64 MiB.
    pub const DEFAULT_BUFFER_BYTES: u64 = 64 << 20;
    /// Default for [`RuntimeOptions::commit_every_bytes`]: 128 MiB.
    pub const DEFAULT_COMMIT_EVERY_BYTES: u64 = 128 << 20;
    /// Default for [`RuntimeOptions::commit_every_seconds`]: 60.
    pub const DEFAULT_COMMIT_EVERY_SECONDS: u64 = 60;
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            buffer_bytes: Self::DEFAULT_BUFFER_BYTES,
            commit_every_bytes: Self::DEFAULT_COMMIT_EVERY_BYTES,
            commit_every_seconds: Self::DEFAULT_COMMIT_EVERY_SECONDS,
        }
    }
}

/// A section kept as JSON with the location of every value, for another
/// crate to validate with file:line:column diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The value after `${...}` interpolation.
    pub value: serde_json::Value,
    /// Where the section's value starts.
    pub location: Location,
    /// The section's document path (e.g. `unify`).
    pub path: String,
    /// JSON pointer within `value` -> where that value is written.
    pub(crate) locations: BTreeMap<String, Location>,
}

impl Section {
    /// Where the value at JSON pointer `pointer` (e.g. `/mappings/0/table`)
    /// is written; for a pointer that does not exist, the nearest existing parent's.
    pub fn location_of(&self, pointer: &str) -> Location {
        let mut p = pointer;
        loop {
            if let Some(l) = self.locations.get(p) {
                return *l;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.location,
            }
        }
    }
}

/// One `sources:` entry.
#[derive(Clone)]
pub struct SourceConfig {
    /// Source name, unique in the file (`[a-z0-9_-]+`).
    pub name: Located<String>,
    /// Which connector reads it (the runtime checks that it exists).
    pub connector: Located<String>,
    /// Connector config after `${...}` interpolation (`{}` when omitted).
    ///
    /// This holds secrets in clear: never log it, use [`SourceConfig::redacted_config`].
    pub config: serde_json::Value,
    /// Where the `config` value starts (the source entry when `config` is omitted).
    pub config_location: Location,
    /// Selected streams, in file order; empty means every stream in its default mode.
    pub streams: Vec<StreamSelection>,
    /// Where the source entry starts.
    pub location: Location,
    /// The entry's document path, e.g. `sources[0]`, for diagnostics.
    pub path: String,
    /// JSON pointer within `config` -> where that value is written.
    pub(crate) config_locations: BTreeMap<String, Location>,
    /// JSON pointers within `config` of values that came from `${...}`.
    pub(crate) secret_pointers: BTreeSet<String>,
    /// Fields outside `config` (`name`, `connector`, `streams[i].name`) whose value came from `${...}`.
    pub(crate) secret_fields: BTreeSet<String>,
}

/// Whether a config key names a secret (`*token*`, `*secret*`, `*password*`, `*key*`, any case).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["token", "secret", "password", "key"]
        .iter()
        .any(|w| k.contains(w))
}

fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl SourceConfig {
    /// The config with secrets replaced by `"***"`: values that came from
    /// `${...}` and values of keys named like a secret (see [`is_secret_key`]).
    pub fn redacted_config(&self) -> serde_json::Value {
        let mut value = self.config.clone();
        self.redact(&mut value, &mut String::new());
        value
    }

    fn redact(&self, value: &mut serde_json::Value, pointer: &mut String) {
        if self.secret_pointers.contains(pointer.as_str()) {
            *value = serde_json::Value::String(REDACTED.to_owned());
            return;
        }
        let len = pointer.len();
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if is_secret_key(k) {
                        *v = serde_json::Value::String(REDACTED.to_owned());
                        continue;
                    }
                    pointer.push('/');
                    pointer.push_str(&escape_pointer_token(k));
                    self.redact(v, pointer);
                    pointer.truncate(len);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    self.redact(v, pointer);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Where the config value at JSON pointer `pointer` (e.g. `/auth/token`)
    /// is written; for a pointer that does not exist, the nearest existing
    /// parent's location, down to [`SourceConfig::config_location`].
    pub fn location_of(&self, pointer: &str) -> Location {
        let mut p = pointer;
        loop {
            if let Some(l) = self.config_locations.get(p) {
                return *l;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.config_location,
            }
        }
    }

    /// Whether the config value at JSON pointer `pointer` came from `${...}`.
    pub fn is_interpolated(&self, pointer: &str) -> bool {
        self.secret_pointers.contains(pointer)
    }

    fn shown<'a>(&self, field: &str, value: &'a str) -> &'a str {
        if self.secret_fields.contains(field) {
            REDACTED
        } else {
            value
        }
    }
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let streams: Vec<String> = self
            .streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let name = self.shown(&format!("streams[{i}].name"), &s.name.value);
                match s.sync_mode {
                    Some(m) => format!("{name} ({m}) at {}", s.name.location),
                    None => format!("{name} at {}", s.name.location),
                }
            })
            .collect();
        f.debug_struct("SourceConfig")
            .field("path", &self.path)
            .field("name", &self.shown("name", &self.name.value))
            .field("connector", &self.shown("connector", &self.connector.value))
            .field("config", &self.redacted_config())
            .field("streams", &streams)
            .field("location", &self.location)
            .finish()
    }
}

/// One `streams:` entry of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSelection {
    /// Stream name as the connector's catalog names it.
    pub name: Located<String>,
    /// Sync mode, or `None` for the stream's default.
    pub sync_mode: Option<SyncMode>,
    /// Where `sync_mode` is written, if it is.
    pub sync_mode_location: Option<Location>,
    /// The entry's document path, e.g. `sources[0].streams[1]`, for diagnostics.
    pub path: String,
}

/// A cron schedule in a time zone.
///
/// Crontab semantics: 5 fields (minute hour day-of-month month day-of-week,
/// with 0 and 7 both Sunday and 1 Monday), or 6 with a leading seconds field,
/// or a nickname (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`,
/// `@annually`). Day-of-month and day-of-week combine with OR as in Vixie
/// cron. Croner's extensions (`L`, `W`, `#`) are accepted.
#[derive(Clone)]
pub struct Schedule {
    /// The expression as written.
    pub expression: String,
    /// The zone the expression is read in (default UTC).
    pub timezone: Tz,
    /// Where the expression is written (0:0 when built by [`Schedule::new`]).
    pub location: Location,
    cron: Cron,
}

/// A cron expression croner rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression: {message}")]
pub struct ScheduleError {
    /// What croner said.
    pub message: String,
}

fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(false)
        .alternative_weekdays(false)
        .build()
}

impl Schedule {
    /// Parses `expression` (see [`Schedule`] for the syntax) for `timezone`.
    pub fn new(expression: &str, timezone: Tz) -> Result<Self, ScheduleError> {
        let cron = cron_parser().parse(expression).map_err(|e| ScheduleError {
            message: e.to_string(),
        })?;
        Ok(Schedule {
            expression: expression.to_owned(),
            timezone,
            location: Location::default(),
            cron,
        })
    }

    /// The first occurrence strictly after `t`, or `None` if there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|n| n.with_timezone(&Utc))
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("expression", &self.expression)
            .field("timezone", &self.timezone.name())
            .field("location", &self.location)
            .finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}
