//! The Airbyte protocol: `spec`, `check`, `discover` and `read` of a source
//! speaking JSON lines of `AirbyteMessage` on stdout.
//!
//! State: a per-stream STATE (`type: STREAM`) becomes a checkpoint of that
//! stream with `resume: {"airbyte": <the state message>}`; a GLOBAL state,
//! or a LEGACY one (`data` only), is source-wide and becomes a checkpoint of
//! every selected stream with `{"airbyte": <message>, "seq": n}`. The next
//! read passes `--state` the per-stream messages as an array, or the oldest
//! source-wide copy (an array of the GLOBAL message, or LEGACY's `data`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use braid_core::{
    Catalog, CheckOutcome, ConfiguredStream, Connector, ConnectorSpec, Error, Message,
    MessageStream, ReadRequest, Result, Source, SourceState, SyncMode,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::driver::{Failure, Protocol};
use crate::filter::ResendFilter;
use crate::process::{run_to_end, CommandSpec};
use crate::records::{snippet, StreamDecoder};
use crate::schema::{stream_schema, StreamSchema};
use crate::{describe, oldest_shared_state, Files, SubprocessConfig, AIRBYTE_PREFIX, SEQ};

/// The `airbyte:<command>` connector.
#[derive(Debug, Clone)]
pub struct AirbyteConnector {
    command: String,
    base_dir: Option<PathBuf>,
}

impl AirbyteConnector {
    /// The connector for `command`; relative paths resolve against `base_dir`.
    pub fn new(command: impl Into<String>, base_dir: Option<PathBuf>) -> Self {
        Self {
            command: command.into(),
            base_dir,
        }
    }
}

impl Connector for AirbyteConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: AIRBYTE_PREFIX.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: crate::config_json_schema(AIRBYTE_PREFIX),
        }
    }

    fn build(&self, config: Value) -> Result<Box<dyn Source>> {
        let config = SubprocessConfig::from_value(AIRBYTE_PREFIX, config)?;
        let spec = crate::command_spec(
            AIRBYTE_PREFIX,
            &self.command,
            self.base_dir.as_deref(),
            &config,
        )?;
        Ok(Box::new(AirbyteSource::new(spec, config)))
    }
}

/// One stream of the source's catalog.
#[derive(Debug, Clone)]
struct AirbyteStream {
    /// The catalog's stream object, as the source wrote it.
    raw: Arc<RawValue>,
    schema: StreamSchema,
    descriptor: braid_core::StreamDescriptor,
}

/// A configured Airbyte source.
pub struct AirbyteSource {
    spec: CommandSpec,
    config: Arc<SubprocessConfig>,
    catalog: Mutex<Option<Arc<BTreeMap<String, AirbyteStream>>>>,
}

impl AirbyteSource {
    /// A source running `spec` with `config`.
    pub fn new(spec: CommandSpec, config: SubprocessConfig) -> Self {
        Self {
            spec,
            config: Arc::new(config),
            catalog: Mutex::new(None),
        }
    }

    /// The connector's own spec (`spec` command): its connection specification.
    pub async fn connector_spec(&self) -> Result<Value> {
        let spec = self.spec.clone();
        crate::blocking(move || {
            let out = run_command(&spec, vec!["spec".into()])?;
            out.found("SPEC", &spec)
        })
        .await
    }

    async fn streams(&self) -> Result<Arc<BTreeMap<String, AirbyteStream>>> {
        if let Some(c) = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(c);
        }
        let spec = self.spec.clone();
        let config = self.config.clone();
        let streams = crate::blocking(move || discover(&spec, &config)).await?;
        let streams = Arc::new(streams);
        *self.catalog.lock().unwrap_or_else(|p| p.into_inner()) = Some(streams.clone());
        Ok(streams)
    }
}

/// A message's `type` and the part a short command needs.
#[derive(Deserialize)]
struct OwnedMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    spec: Option<Value>,
    #[serde(default)]
    catalog: Option<Box<RawValue>>,
    #[serde(default, rename = "connectionStatus")]
    connection_status: Option<Value>,
    #[serde(default)]
    log: Option<Value>,
    #[serde(default)]
    trace: Option<Value>,
}

/// What a short command printed.
struct CommandOutput {
    messages: Vec<OwnedMessage>,
}

impl CommandOutput {
    fn found(mut self, kind: &str, spec: &CommandSpec) -> Result<Value> {
        let i = self
            .messages
            .iter()
            .position(|m| m.kind == kind)
            .ok_or_else(|| no_message(kind, spec))?;
        let m = self.messages.swap_remove(i);
        Ok(match kind {
            "SPEC" => m.spec.unwrap_or(Value::Null),
            "CONNECTION_STATUS" => m.connection_status.unwrap_or(Value::Null),
            _ => Value::Null,
        })
    }
}

fn no_message(kind: &str, spec: &CommandSpec) -> Error {
    Error::Data {
        stream: String::new(),
        message: format!("airbyte: `{}` printed no {kind} message", spec.display()),
    }
}

fn failure_of(trace: &Value) -> Option<Failure> {
    if trace.get("type")?.as_str()? != "ERROR" {
        return None;
    }
    let error = trace.get("error")?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.get("internal_message").and_then(Value::as_str))
        .unwrap_or("(no message)")
        .to_owned();
    Some(Failure {
        message,
        failure_type: error
            .get("failure_type")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn log_airbyte(level: &str, message: &str) {
    match level {
        "FATAL" | "ERROR" => tracing::error!(connector = "airbyte", "{message}"),
        "WARN" => tracing::warn!(connector = "airbyte", "{message}"),
        "INFO" => tracing::info!(connector = "airbyte", "{message}"),
        _ => tracing::debug!(connector = "airbyte", "{message}"),
    }
}

/// Runs `spec`, `check` or `discover` to its end.
fn run_command(spec: &CommandSpec, args: Vec<OsString>) -> Result<CommandOutput> {
    let (running, lines, status) = run_to_end(spec, &args)?;
    let mut messages = Vec::new();
    let mut failure = None;
    for line in lines {
        let Ok(m) = serde_json::from_str::<OwnedMessage>(&line) else {
            if !line.trim().is_empty() {
                tracing::warn!(
                    connector = "airbyte",
                    "not an Airbyte message: {}",
                    snippet(&line)
                );
            }
            continue;
        };
        if let Some(log) = &m.log {
            let level = log.get("level").and_then(Value::as_str).unwrap_or("INFO");
            let text = log.get("message").and_then(Value::as_str).unwrap_or("");
            log_airbyte(level, text);
        }
        if let Some(f) = m.trace.as_ref().and_then(failure_of) {
            tracing::error!(connector = "airbyte", "{}", f.message);
            failure = Some(f);
        }
        messages.push(m);
    }
    if !status.success() {
        // Which command failed: `airbyte: `source-x` discover`.
        let what = format!(
            "{} {}",
            running.label(),
            args.first()
                .map(|a| a.to_string_lossy())
                .unwrap_or_default()
        );
        let message = running.failure(status, failure.as_ref().map(|f| f.message.as_str()));
        return Err(match failure.and_then(|f| f.failure_type) {
            Some(t) if t == "config_error" => Error::Config(format!("{what}: {message}")),
            _ => Error::Transient {
                endpoint: what,
                message,
            },
        });
    }
    Ok(CommandOutput { messages })
}

fn config_args(files: &Files, config: &SubprocessConfig) -> Result<Vec<OsString>> {
    let bytes = serde_json::to_vec(&config.connector_config)
        .map_err(|e| Error::Internal(format!("airbyte: config: {e}")))?;
    let path = files.write("config.json", &bytes)?;
    Ok(vec!["--config".into(), path.into()])
}

#[derive(Deserialize)]
struct CatalogStreams {
    streams: Vec<Box<RawValue>>,
}

/// What braid reads of a catalog stream.
#[derive(Deserialize)]
struct StreamEntry {
    name: String,
    json_schema: Box<RawValue>,
    #[serde(default)]
    supported_sync_modes: Vec<String>,
    #[serde(default)]
    source_defined_cursor: bool,
    #[serde(default)]
    default_cursor_field: Vec<String>,
    #[serde(default)]
    source_defined_primary_key: Vec<Vec<String>>,
}

fn discover(
    spec: &CommandSpec,
    config: &SubprocessConfig,
) -> Result<BTreeMap<String, AirbyteStream>> {
    let files = Files::new(AIRBYTE_PREFIX)?;
    let mut args: Vec<OsString> = vec!["discover".into()];
    args.extend(config_args(&files, config)?);
    let out = run_command(spec, args)?;
    let catalog = out
        .messages
        .into_iter()
        .find_map(|m| (m.kind == "CATALOG").then_some(m.catalog).flatten())
        .ok_or_else(|| no_message("CATALOG", spec))?;
    parse_catalog(&catalog, config)
}

fn parse_catalog(
    catalog: &RawValue,
    config: &SubprocessConfig,
) -> Result<BTreeMap<String, AirbyteStream>> {
    let bad = |e: serde_json::Error| Error::Data {
        stream: String::new(),
        message: format!("airbyte: the CATALOG cannot be read: {e}"),
    };
    let streams: CatalogStreams = serde_json::from_str(catalog.get()).map_err(bad)?;
    let mut out = BTreeMap::new();
    for raw in streams.streams {
        let entry: StreamEntry = serde_json::from_str(raw.get()).map_err(bad)?;
        let schema = stream_schema(&entry.name, &entry.json_schema)
            .map_err(|e| Error::data(&entry.name, format!("airbyte: {e}")))?;
        let mut key = Vec::new();
        for path in &entry.source_defined_primary_key {
            match path.as_slice() {
                [one] => key.push(one.clone()),
                _ => {
                    tracing::warn!(stream = %entry.name, "airbyte: nested primary-key path {path:?} is not supported; the stream has no primary key unless the pipeline sets one");
                    key.clear();
                    break;
                }
            }
        }
        let cursor = match entry.default_cursor_field.as_slice() {
            [one] => Some(one.clone()),
            [] => None,
            path => {
                tracing::warn!(stream = %entry.name, "airbyte: nested cursor path {path:?} is not supported");
                None
            }
        };
        let _ = entry.source_defined_cursor;
        let incremental = entry
            .supported_sync_modes
            .iter()
            .any(|m| m == "incremental");
        let descriptor = describe(
            AIRBYTE_PREFIX,
            &entry.name,
            schema.arrow.clone(),
            key,
            cursor,
            incremental,
            config.streams.get(&entry.name),
        );
        let raw: Arc<RawValue> = Arc::from(raw);
        out.insert(
            entry.name.clone(),
            AirbyteStream {
                raw,
                schema,
                descriptor,
            },
        );
    }
    Ok(out)
}

#[derive(Serialize)]
struct ConfiguredEntry<'a> {
    stream: &'a RawValue,
    sync_mode: &'static str,
    destination_sync_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor_field: Option<Vec<&'a str>>,
    primary_key: Vec<Vec<&'a str>>,
}

/// The configured catalog of a read.
fn configured_catalog(
    selected: &[ConfiguredStream],
    streams: &BTreeMap<String, AirbyteStream>,
) -> Result<Vec<u8>> {
    let mut entries = Vec::new();
    for c in selected {
        let s = streams.get(&c.stream.name).ok_or_else(|| {
            Error::Config(format!(
                "airbyte: stream `{}` is not in the source's catalog",
                c.stream.name
            ))
        })?;
        let incremental = c.sync_mode == SyncMode::Incremental;
        entries.push(ConfiguredEntry {
            stream: &s.raw,
            sync_mode: if incremental {
                "incremental"
            } else {
                "full_refresh"
            },
            destination_sync_mode: if incremental { "append" } else { "overwrite" },
            cursor_field: c
                .stream
                .cursor_field
                .as_deref()
                .filter(|_| incremental)
                .map(|f| vec![f]),
            primary_key: c
                .stream
                .primary_key
                .iter()
                .map(|k| vec![k.as_str()])
                .collect(),
        });
    }
    serde_json::to_vec(&serde_json::json!({ "streams": entries }))
        .map_err(|e| Error::Internal(format!("airbyte: catalog: {e}")))
}

/// The `--state` of a read from the committed resumes, and the highest `seq` in them.
fn input_state(selected: &[ConfiguredStream], state: &SourceState) -> (Option<Value>, u64) {
    let resumes: Vec<&Value> = selected
        .iter()
        .filter_map(|c| state.stream(&c.stream.name)?.resume.as_ref())
        .collect();
    let (shared, max_seq) = oldest_shared_state(resumes.iter().copied(), AIRBYTE_PREFIX);
    if let Some(shared) = shared {
        let legacy = shared.get("type").and_then(Value::as_str) == Some("LEGACY");
        let value = if legacy {
            shared.get("data").cloned().unwrap_or(Value::Null)
        } else {
            Value::Array(vec![shared])
        };
        return (Some(value), max_seq);
    }
    let per_stream: Vec<Value> = resumes
        .iter()
        .filter(|r| r.get(SEQ).is_none())
        .filter_map(|r| r.get(AIRBYTE_PREFIX).cloned())
        .collect();
    (
        (!per_stream.is_empty()).then_some(Value::Array(per_stream)),
        max_seq,
    )
}

#[async_trait]
impl Source for AirbyteSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let spec = self.spec.clone();
        let config = self.config.clone();
        crate::blocking(move || {
            let files = Files::new(AIRBYTE_PREFIX)?;
            let mut args: Vec<OsString> = vec!["check".into()];
            args.extend(config_args(&files, &config)?);
            let status = run_command(&spec, args)?.found("CONNECTION_STATUS", &spec)?;
            let message = status
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            match status.get("status").and_then(Value::as_str) {
                Some("SUCCEEDED") => Ok(CheckOutcome {
                    message: if message.is_empty() {
                        format!("airbyte: `{}` check succeeded", spec.display())
                    } else {
                        format!("airbyte: `{}` check succeeded: {message}", spec.display())
                    },
                }),
                _ => Err(Error::Auth {
                    endpoint: format!("airbyte: `{}` check", spec.display()),
                    message: if message.is_empty() {
                        "the connector reported FAILED".into()
                    } else {
                        message
                    },
                }),
            }
        })
        .await
    }

    async fn discover(&self) -> Result<Catalog> {
        let streams = self.streams().await?;
        Ok(Catalog {
            streams: streams.values().map(|s| s.descriptor.clone()).collect(),
        })
    }

    fn durable_resume(&self) -> bool {
        true
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let streams = self.streams().await?;
        let files = Files::new(AIRBYTE_PREFIX)?;
        let mut args: Vec<OsString> = vec!["read".into()];
        args.extend(config_args(&files, &self.config)?);
        let catalog = configured_catalog(&request.streams, &streams)?;
        args.push("--catalog".into());
        args.push(files.write("catalog.json", &catalog)?.into());
        let (state, max_seq) = input_state(&request.streams, &request.state);
        if let Some(state) = &state {
            let bytes = serde_json::to_vec(state)
                .map_err(|e| Error::Internal(format!("airbyte: state: {e}")))?;
            args.push("--state".into());
            args.push(files.write("state.json", &bytes)?.into());
        }
        let dedupe = self.config.dedupe_records.unwrap_or(false);
        let mut slots = BTreeMap::new();
        for c in &request.streams {
            let s = &streams[&c.stream.name];
            let filter = match (&c.stream.cursor_field, c.sync_mode) {
                (Some(cursor), SyncMode::Incremental) => Some(ResendFilter::new(
                    cursor.clone(),
                    c.stream.primary_key.clone(),
                    request
                        .state
                        .stream(&c.stream.name)
                        .and_then(|s| s.cursor.clone()),
                    dedupe,
                )),
                _ => None,
            };
            slots.insert(
                c.stream.name.clone(),
                Slot {
                    decoder: StreamDecoder::new(&s.schema, self.config.batch_rows)?,
                    filter,
                    since_state: 0,
                },
            );
        }
        let protocol = AirbyteRead {
            label: format!("airbyte: `{}`", self.spec.display()),
            slots,
            batch_rows: self.config.batch_rows,
            seq: max_seq,
            failure: None,
            unknown: HashSet::new(),
            not_json: 0,
        };
        crate::driver::spawn_read(&self.spec, args, files, Box::new(protocol))
    }
}

/// One selected stream during a read.
struct Slot {
    decoder: StreamDecoder,
    filter: Option<ResendFilter>,
    /// Records since the stream's last STATE (checked against `sourceStats`).
    since_state: u64,
}

impl Slot {
    fn flush(&mut self, name: &str, label: &str, out: &mut Vec<Message>) -> Result<()> {
        let Some(batch) = self
            .decoder
            .flush()
            .map_err(|e| Error::data(name, format!("{label}: {e}")))?
        else {
            return Ok(());
        };
        let batch = match self.filter.as_mut() {
            Some(f) => f
                .apply(batch)
                .map_err(|e| Error::data(name, format!("{label}: {e}")))?,
            None => batch,
        };
        if batch.num_rows() > 0 {
            out.push(Message::Batch {
                stream: name.to_owned(),
                batch,
            });
        }
        Ok(())
    }
}

/// The read's protocol state.
struct AirbyteRead {
    label: String,
    slots: BTreeMap<String, Slot>,
    batch_rows: usize,
    seq: u64,
    failure: Option<Failure>,
    unknown: HashSet<String>,
    not_json: u64,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    record: Option<RecordMsg<'a>>,
    #[serde(borrow, default)]
    state: Option<&'a RawValue>,
    #[serde(borrow, default)]
    log: Option<LogMsg<'a>>,
    #[serde(borrow, default)]
    trace: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RecordMsg<'a> {
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct LogMsg<'a> {
    #[serde(borrow, default)]
    level: Cow<'a, str>,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

impl AirbyteRead {
    fn record(&mut self, n: u64, r: RecordMsg<'_>, out: &mut Vec<Message>) -> Result<()> {
        let Some(slot) = self.slots.get_mut(r.stream.as_ref()) else {
            if self.unknown.insert(r.stream.to_string()) {
                tracing::warn!(stream = %r.stream, "{}: records of a stream that was not selected are ignored", self.label);
            }
            return Ok(());
        };
        slot.decoder.push(r.data).map_err(|e| {
            Error::data(r.stream.as_ref(), format!("{}: line {n}: {e}", self.label))
        })?;
        slot.since_state += 1;
        if slot.decoder.len() >= self.batch_rows {
            slot.flush(&r.stream, &self.label, out)?;
        }
        Ok(())
    }

    fn state(&mut self, n: u64, raw: &RawValue, out: &mut Vec<Message>) -> Result<()> {
        let mut state: Value = serde_json::from_str(raw.get()).map_err(|e| Error::Data {
            stream: String::new(),
            message: format!("{}: line {n}: bad STATE: {e}", self.label),
        })?;
        let stats = state
            .as_object_mut()
            .and_then(|o| {
                o.remove("destinationStats");
                o.remove("sourceStats")
            })
            .and_then(|s| s.get("recordCount").and_then(Value::as_f64));
        let kind = state
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("LEGACY")
            .to_owned();
        if kind == "STREAM" {
            let name = state
                .pointer("/stream/stream_descriptor/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Data {
                    stream: String::new(),
                    message: format!(
                        "{}: line {n}: STREAM state without stream_descriptor.name",
                        self.label
                    ),
                })?;
            let Some(slot) = self.slots.get_mut(&name) else {
                tracing::debug!(stream = %name, "{}: state of a stream that was not selected", self.label);
                return Ok(());
            };
            slot.flush(&name, &self.label, out)?;
            if let Some(count) = stats {
                if count as u64 != slot.since_state {
                    tracing::warn!(stream = %name, "{}: the source counted {count} records before this state, braid received {}", self.label, slot.since_state);
                }
            }
            slot.since_state = 0;
            out.push(Message::Checkpoint {
                stream: name,
                resume: Some(serde_json::json!({ AIRBYTE_PREFIX: state })),
            });
            return Ok(());
        }
        if kind != "GLOBAL" && kind != "LEGACY" {
            return Err(Error::Data {
                stream: String::new(),
                message: format!("{}: line {n}: unknown state type `{kind}`", self.label),
            });
        }
        if kind == "LEGACY" {
            state = serde_json::json!({"type": "LEGACY", "data": state.get("data").cloned().unwrap_or(Value::Null)});
        }
        self.seq += 1;
        let resume = serde_json::json!({ AIRBYTE_PREFIX: state, SEQ: self.seq });
        for (name, slot) in self.slots.iter_mut() {
            slot.flush(name, &self.label, out)?;
            slot.since_state = 0;
        }
        for name in self.slots.keys() {
            out.push(Message::Checkpoint {
                stream: name.clone(),
                resume: Some(resume.clone()),
            });
        }
        Ok(())
    }

    fn trace(&mut self, raw: &RawValue) {
        let Ok(trace) = serde_json::from_str::<Value>(raw.get()) else {
            return;
        };
        if let Some(f) = failure_of(&trace) {
            tracing::error!(connector = "airbyte", failure_type = ?f.failure_type, "{}", f.message);
            self.failure = Some(f);
            return;
        }
        match trace.get("type").and_then(Value::as_str) {
            Some("STREAM_STATUS") => {
                let stream = trace
                    .pointer("/stream_status/stream_descriptor/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let status = trace
                    .pointer("/stream_status/status")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                tracing::debug!(connector = "airbyte", stream, status, "stream status");
            }
            Some(other) => tracing::debug!(
                connector = "airbyte",
                "trace {other}: {}",
                snippet(raw.get())
            ),
            None => {}
        }
    }
}

impl Protocol for AirbyteRead {
    fn line(&mut self, n: u64, line: &[u8], out: &mut Vec<Message>) -> Result<()> {
        let env: Envelope<'_> = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                self.not_json += 1;
                tracing::warn!(
                    "{}: line {n} is not an Airbyte message ({e}): {}",
                    self.label,
                    snippet(&String::from_utf8_lossy(line))
                );
                return Ok(());
            }
        };
        match (env.kind.as_ref(), env.record, env.state, env.log, env.trace) {
            ("RECORD", Some(r), ..) => self.record(n, r, out),
            ("STATE", _, Some(s), ..) => self.state(n, s, out),
            ("LOG", _, _, Some(l), _) => {
                log_airbyte(&l.level, &l.message);
                Ok(())
            }
            ("TRACE", _, _, _, Some(t)) => {
                self.trace(t);
                Ok(())
            }
            ("CONTROL", ..) => {
                tracing::warn!("{}: the source sent a CONTROL message (e.g. a refreshed config); braid does not persist it: update `connector_config` in the pipeline if the source needs it", self.label);
                Ok(())
            }
            (kind, ..) => {
                tracing::debug!(
                    "{}: line {n}: {kind} message ignored during read",
                    self.label
                );
                Ok(())
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Message>) -> Result<()> {
        for (name, slot) in self.slots.iter_mut() {
            slot.flush(name, &self.label, out)?;
            if let Some(f) = &slot.filter {
                if f.below_cursor + f.repeated > 0 {
                    tracing::info!(stream = %name, below_cursor = f.below_cursor, repeated = f.repeated, "{}: re-sent records dropped", self.label);
                }
            }
        }
        if self.not_json > 0 {
            tracing::warn!(
                "{}: {} line(s) of output were not Airbyte messages",
                self.label,
                self.not_json
            );
        }
        Ok(())
    }

    fn failure(&self) -> Option<Failure> {
        self.failure.clone()
    }
}

#[cfg(test)]
mod tests;
