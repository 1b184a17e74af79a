//! The Singer protocol: a tap run with `--discover` for its catalog, then
//! `--config --catalog|--properties [--state]`, writing SCHEMA, RECORD and
//! STATE messages on stdout (logs on stderr).
//!
//! A Singer STATE is one value for the whole tap (conventionally
//! `{"bookmarks": {<stream>: …}}`): each becomes a checkpoint of every
//! selected stream with `resume: {"singer": <value>, "seq": n}`, and the next
//! run passes the oldest committed copy as `--state`, without the bookmarks
//! of streams read in full refresh. Streams are selected in the catalog
//! (`selected: true` in the stream's and every property's metadata, with
//! `replication-method` and `replication-key`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use braid_core::{
    Catalog, CheckOutcome, ConfiguredStream, Connector, ConnectorSpec, Error, Message,
    MessageStream, ReadRequest, Result, Source, SourceState, StreamDescriptor, SyncMode,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::driver::Protocol;
use crate::filter::ResendFilter;
use crate::process::{run_to_end, CommandSpec};
use crate::records::{snippet, StreamDecoder};
use crate::schema::{stream_schema, StreamSchema};
use crate::{
    describe, oldest_shared_state, CatalogFlag, Files, SubprocessConfig, SEQ, SINGER_PREFIX,
};

/// The `singer:<command>` connector.
#[derive(Debug, Clone)]
pub struct SingerConnector {
    command: String,
    base_dir: Option<PathBuf>,
}

impl SingerConnector {
    /// The connector for `command`; relative paths resolve against `base_dir`.
    pub fn new(command: impl Into<String>, base_dir: Option<PathBuf>) -> Self {
        Self {
            command: command.into(),
            base_dir,
        }
    }
}

impl Connector for SingerConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: SINGER_PREFIX.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: crate::config_json_schema(SINGER_PREFIX),
        }
    }

    fn build(&self, config: Value) -> Result<Box<dyn Source>> {
        let config = SubprocessConfig::from_value(SINGER_PREFIX, config)?;
        let spec = crate::command_spec(
            SINGER_PREFIX,
            &self.command,
            self.base_dir.as_deref(),
            &config,
        )?;
        Ok(Box::new(SingerSource::new(spec, config)))
    }
}

#[derive(Debug, Clone)]
struct SingerStream {
    schema: StreamSchema,
    descriptor: StreamDescriptor,
}

#[derive(Debug)]
struct Discovered {
    /// The catalog as the tap wrote it.
    catalog: Value,
    streams: BTreeMap<String, SingerStream>,
}

/// A configured Singer tap.
pub struct SingerSource {
    spec: CommandSpec,
    config: Arc<SubprocessConfig>,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

impl SingerSource {
    /// A source running `spec` with `config`.
    pub fn new(spec: CommandSpec, config: SubprocessConfig) -> Self {
        Self {
            spec,
            config: Arc::new(config),
            discovered: Mutex::new(None),
        }
    }

    async fn catalog(&self) -> Result<Arc<Discovered>> {
        if let Some(d) = self
            .discovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(d);
        }
        let spec = self.spec.clone();
        let config = self.config.clone();
        let d = Arc::new(crate::blocking(move || discover(&spec, &config)).await?);
        *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
        Ok(d)
    }
}

fn label(spec: &CommandSpec) -> String {
    format!("singer: `{}`", spec.display())
}

fn config_args(files: &Files, config: &SubprocessConfig) -> Result<Vec<OsString>> {
    let bytes = serde_json::to_vec(&config.connector_config)
        .map_err(|e| Error::Internal(format!("singer: config: {e}")))?;
    let path = files.write("config.json", &bytes)?;
    Ok(vec!["--config".into(), path.into()])
}

fn discover(spec: &CommandSpec, config: &SubprocessConfig) -> Result<Discovered> {
    let files = Files::new(SINGER_PREFIX)?;
    let mut args = config_args(&files, config)?;
    args.push("--discover".into());
    let (running, lines, status) = run_to_end(spec, &args)?;
    if !status.success() {
        return Err(Error::Transient {
            endpoint: format!("{} --discover", running.label()),
            message: running.failure(status, None),
        });
    }
    let text = lines.join("\n");
    parse_catalog(&text, config).map_err(|message| Error::Data {
        stream: String::new(),
        message: format!("{} --discover: {message}", label(spec)),
    })
}

/// Root-breadcrumb metadata of a catalog entry.
fn root_metadata(entry: &Value) -> Option<&Value> {
    entry
        .get("metadata")?
        .as_array()?
        .iter()
        .find(|m| {
            m.get("breadcrumb")
                .and_then(Value::as_array)
                .is_some_and(|b| b.is_empty())
        })?
        .get("metadata")
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The braid name of a catalog entry (what its RECORDs say in `stream`).
fn entry_name(entry: &Value) -> Option<String> {
    entry
        .get("stream")
        .or_else(|| entry.get("tap_stream_id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[derive(Deserialize)]
struct RawCatalog {
    streams: Vec<RawEntry>,
}

/// A catalog entry's schema, kept as text so property order survives.
#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    tap_stream_id: Option<String>,
    schema: Box<RawValue>,
}

fn parse_catalog(text: &str, config: &SubprocessConfig) -> Result<Discovered, String> {
    let catalog: Value = serde_json::from_str(text)
        .map_err(|e| format!("the catalog is not JSON: {e} ({})", snippet(text)))?;
    let raw: RawCatalog =
        serde_json::from_str(text).map_err(|e| format!("the catalog has no `streams`: {e}"))?;
    let entries = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or("the catalog has no `streams`")?;
    let mut streams = BTreeMap::new();
    for (entry, raw) in entries.iter().zip(raw.streams) {
        let name = raw
            .stream
            .or(raw.tap_stream_id)
            .ok_or("a catalog entry has neither `stream` nor `tap_stream_id`")?;
        let schema = stream_schema(&name, &raw.schema).map_err(|e| e.to_string())?;
        let meta = root_metadata(entry);
        let key = strings(entry.get("key_properties"))
            .or_else(|| strings(meta.and_then(|m| m.get("table-key-properties"))))
            .unwrap_or_default();
        let cursor = entry
            .get("replication_key")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                meta.and_then(|m| m.get("replication-key"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .or_else(|| {
                strings(meta.and_then(|m| m.get("valid-replication-keys")))
                    .and_then(|v| v.into_iter().next())
            });
        let method = meta
            .and_then(|m| m.get("forced-replication-method"))
            .or_else(|| entry.get("replication_method"))
            .and_then(Value::as_str);
        let incremental = cursor.is_some() && method != Some("FULL_TABLE");
        let descriptor = describe(
            SINGER_PREFIX,
            &name,
            schema.arrow.clone(),
            key,
            cursor,
            incremental,
            config.streams.get(&name),
        );
        streams.insert(name, SingerStream { schema, descriptor });
    }
    Ok(Discovered { catalog, streams })
}

fn set_meta(
    entry: &mut Value,
    breadcrumb: &Value,
    f: impl Fn(&mut serde_json::Map<String, Value>),
) {
    let Some(list) = entry.get_mut("metadata").and_then(Value::as_array_mut) else {
        return;
    };
    for m in list.iter_mut() {
        if m.get("breadcrumb") == Some(breadcrumb) {
            if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                f(md);
            }
            return;
        }
    }
    let mut md = serde_json::Map::new();
    f(&mut md);
    list.push(serde_json::json!({"breadcrumb": breadcrumb, "metadata": md}));
}

/// The catalog of a read: the selected streams (and all their properties)
/// selected, with their replication method and key; the others deselected.
fn configured_catalog(catalog: &Value, selected: &[ConfiguredStream]) -> Value {
    let mut out = catalog.clone();
    let Some(entries) = out.get_mut("streams").and_then(Value::as_array_mut) else {
        return out;
    };
    for entry in entries.iter_mut() {
        let name = entry_name(entry).unwrap_or_default();
        let chosen = selected.iter().find(|c| c.stream.name == name);
        if entry.get("metadata").is_none() {
            entry["metadata"] = Value::Array(Vec::new());
        }
        let root = Value::Array(Vec::new());
        match chosen {
            None => {
                set_meta(entry, &root, |m| {
                    m.insert("selected".into(), Value::Bool(false));
                });
                entry["selected"] = Value::Bool(false);
            }
            Some(c) => {
                let incremental = c.sync_mode == SyncMode::Incremental;
                let key = c.stream.cursor_field.clone().filter(|_| incremental);
                set_meta(entry, &root, |m| {
                    m.insert("selected".into(), Value::Bool(true));
                    m.insert(
                        "replication-method".into(),
                        Value::String(
                            if incremental {
                                "INCREMENTAL"
                            } else {
                                "FULL_TABLE"
                            }
                            .into(),
                        ),
                    );
                    if let Some(k) = &key {
                        m.insert("replication-key".into(), Value::String(k.clone()));
                    }
                });
                entry["selected"] = Value::Bool(true);
                entry["replication_method"] = Value::String(
                    if incremental {
                        "INCREMENTAL"
                    } else {
                        "FULL_TABLE"
                    }
                    .into(),
                );
                if let Some(k) = key {
                    entry["replication_key"] = Value::String(k);
                }
                for f in c.stream.schema.fields() {
                    let crumb = serde_json::json!(["properties", f.name()]);
                    set_meta(entry, &crumb, |m| {
                        m.insert("selected".into(), Value::Bool(true));
                    });
                }
            }
        }
    }
    out
}

/// The `--state` of a read: the oldest committed copy, without the
/// bookmarks of full-refresh streams; and the highest `seq`.
fn input_state(selected: &[ConfiguredStream], state: &SourceState) -> (Option<Value>, u64) {
    let resumes = selected
        .iter()
        .filter_map(|c| state.stream(&c.stream.name)?.resume.as_ref());
    let (value, max_seq) = oldest_shared_state(resumes, SINGER_PREFIX);
    let value = value.map(|mut v| {
        if let Some(b) = v.get_mut("bookmarks").and_then(Value::as_object_mut) {
            for c in selected
                .iter()
                .filter(|c| c.sync_mode == SyncMode::FullRefresh)
            {
                b.remove(&c.stream.name);
            }
        }
        v
    });
    (value, max_seq)
}

#[async_trait]
impl Source for SingerSource {
    async fn check(&self) -> Result<CheckOutcome> {
        // Singer has no check command: discovery is what proves the tap runs
        // with this config.
        let d = self.catalog().await?;
        Ok(CheckOutcome {
            message: format!(
                "{} discovered {} stream(s): {}",
                label(&self.spec),
                d.streams.len(),
                d.streams.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        let d = self.catalog().await?;
        Ok(Catalog {
            streams: d.streams.values().map(|s| s.descriptor.clone()).collect(),
        })
    }

    fn durable_resume(&self) -> bool {
        true
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let d = self.catalog().await?;
        let files = Files::new(SINGER_PREFIX)?;
        let mut args = config_args(&files, &self.config)?;
        let catalog = configured_catalog(&d.catalog, &request.streams);
        let bytes = serde_json::to_vec(&catalog)
            .map_err(|e| Error::Internal(format!("singer: catalog: {e}")))?;
        let flag = match self.config.catalog_flag.unwrap_or(CatalogFlag::Catalog) {
            CatalogFlag::Catalog => "--catalog",
            CatalogFlag::Properties => "--properties",
        };
        args.push(flag.into());
        args.push(files.write("catalog.json", &bytes)?.into());
        let (state, max_seq) = input_state(&request.streams, &request.state);
        if let Some(state) = &state {
            let bytes = serde_json::to_vec(state)
                .map_err(|e| Error::Internal(format!("singer: state: {e}")))?;
            args.push("--state".into());
            args.push(files.write("state.json", &bytes)?.into());
        }
        let dedupe = self.config.dedupe_records.unwrap_or(true);
        let mut slots = BTreeMap::new();
        for c in &request.streams {
            let s = d.streams.get(&c.stream.name).ok_or_else(|| {
                Error::Config(format!(
                    "singer: stream `{}` is not in the tap's catalog",
                    c.stream.name
                ))
            })?;
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
                },
            );
        }
        let protocol = SingerRead {
            label: label(&self.spec),
            slots,
            batch_rows: self.config.batch_rows,
            seq: max_seq,
            unknown: HashSet::new(),
            not_json: 0,
        };
        crate::driver::spawn_read(&self.spec, args, files, Box::new(protocol))
    }
}

struct Slot {
    decoder: StreamDecoder,
    filter: Option<ResendFilter>,
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

struct SingerRead {
    label: String,
    slots: BTreeMap<String, Slot>,
    batch_rows: usize,
    seq: u64,
    unknown: HashSet<String>,
    not_json: u64,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    record: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
}

impl Protocol for SingerRead {
    fn line(&mut self, n: u64, line: &[u8], out: &mut Vec<Message>) -> Result<()> {
        let env: Envelope<'_> = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                self.not_json += 1;
                tracing::warn!(
                    "{}: line {n} is not a Singer message ({e}): {}",
                    self.label,
                    snippet(&String::from_utf8_lossy(line))
                );
                return Ok(());
            }
        };
        match env.kind.as_ref() {
            "RECORD" => {
                let (Some(stream), Some(record)) = (env.stream, env.record) else {
                    return Err(Error::Data {
                        stream: String::new(),
                        message: format!("{}: line {n}: RECORD without `stream` or `record`", self.label),
                    });
                };
                let Some(slot) = self.slots.get_mut(stream.as_ref()) else {
                    if self.unknown.insert(stream.to_string()) {
                        tracing::warn!(stream = %stream, "{}: records of a stream that was not selected are ignored", self.label);
                    }
                    return Ok(());
                };
                slot.decoder.push(record).map_err(|e| {
                    Error::data(stream.as_ref(), format!("{}: line {n}: {e}", self.label))
                })?;
                if slot.decoder.len() >= self.batch_rows {
                    slot.flush(&stream, &self.label, out)?;
                }
                Ok(())
            }
            "STATE" => {
                let value: Value = match env.value {
                    Some(v) => serde_json::from_str(v.get()).map_err(|e| Error::Data {
                        stream: String::new(),
                        message: format!("{}: line {n}: bad STATE: {e}", self.label),
                    })?,
                    None => Value::Null,
                };
                for (name, slot) in self.slots.iter_mut() {
                    slot.flush(name, &self.label, out)?;
                }
                self.seq += 1;
                let resume = serde_json::json!({ SINGER_PREFIX: value, SEQ: self.seq });
                for name in self.slots.keys() {
                    out.push(Message::Checkpoint {
                        stream: name.clone(),
                        resume: Some(resume.clone()),
                    });
                }
                Ok(())
            }
            "SCHEMA" => {
                tracing::debug!(stream = ?env.stream, "{}: SCHEMA (records are typed from the discovered catalog)", self.label);
                Ok(())
            }
            "ACTIVATE_VERSION" => {
                tracing::debug!(stream = ?env.stream, "{}: ACTIVATE_VERSION", self.label);
                Ok(())
            }
            "BATCH" => Err(Error::Config(format!(
                "{}: the tap sent BATCH messages (files instead of records); turn off its batch_config",
                self.label
            ))),
            other => {
                tracing::debug!("{}: line {n}: {other} message ignored", self.label);
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
                "{}: {} line(s) of output were not Singer messages",
                self.label,
                self.not_json
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_core::{CursorValue, StreamState};
    use serde_json::json;

    const CATALOG: &str = r#"{"streams":[{"tap_stream_id":"items","stream":"items",
      "replication_key":"_sdc_last_modified","replication_method":"INCREMENTAL","key_properties":["id"],
      "schema":{"properties":{"id":{"type":["integer","null"]},"meta":{"type":["null","object"]},
        "_sdc_last_modified":{"type":["string","null"],"format":"date-time"}},"type":"object"},
      "metadata":[{"breadcrumb":["properties","id"],"metadata":{"inclusion":"automatic"}},
                  {"breadcrumb":[],"metadata":{"inclusion":"available","table-key-properties":["id"]}}]},
      {"tap_stream_id":"other","schema":{"properties":{"x":{"type":"string"}}},"metadata":[]}]}"#;

    fn discovered() -> Discovered {
        parse_catalog(
            CATALOG,
            &SubprocessConfig::from_value("singer", json!({})).unwrap(),
        )
        .unwrap()
    }

    fn selected(d: &Discovered, mode: SyncMode) -> Vec<ConfiguredStream> {
        vec![ConfiguredStream {
            stream: d.streams["items"].descriptor.clone(),
            sync_mode: mode,
        }]
    }

    #[test]
    fn the_catalog_gives_names_keys_and_replication_keys() {
        let d = discovered();
        let items = &d.streams["items"].descriptor;
        assert_eq!(items.primary_key, vec!["id".to_string()]);
        assert_eq!(items.cursor_field.as_deref(), Some("_sdc_last_modified"));
        assert!(items.supports(SyncMode::Incremental));
        assert_eq!(
            items
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["id", "meta", "_sdc_last_modified"]
        );
        assert!(!d.streams["other"]
            .descriptor
            .supports(SyncMode::Incremental));
    }

    #[test]
    fn the_read_catalog_selects_streams_and_properties() {
        let d = discovered();
        let c = configured_catalog(&d.catalog, &selected(&d, SyncMode::Incremental));
        let items = &c["streams"][0];
        let root = root_metadata(items).unwrap();
        assert_eq!(root["selected"], true);
        assert_eq!(root["replication-method"], "INCREMENTAL");
        assert_eq!(root["replication-key"], "_sdc_last_modified");
        assert_eq!(
            root["table-key-properties"],
            json!(["id"]),
            "the tap's own metadata is kept"
        );
        let props: Vec<&Value> = items["metadata"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["breadcrumb"].as_array().unwrap().len() == 2)
            .collect();
        assert_eq!(props.len(), 3);
        assert!(props.iter().all(|m| m["metadata"]["selected"] == true));
        assert_eq!(root_metadata(&c["streams"][1]).unwrap()["selected"], false);
    }

    #[test]
    fn state_checkpoints_every_stream_after_its_records_and_comes_back_oldest_first() {
        let d = discovered();
        let mut slots = BTreeMap::new();
        slots.insert(
            "items".to_string(),
            Slot {
                decoder: StreamDecoder::new(&d.streams["items"].schema, 100).unwrap(),
                filter: Some(ResendFilter::new(
                    "_sdc_last_modified".into(),
                    vec!["id".into()],
                    Some(CursorValue::TimestampMicros(1_714_608_000_000_000)), // 2024-05-02
                    true,
                )),
            },
        );
        let mut r = SingerRead {
            label: "singer: `t`".into(),
            slots,
            batch_rows: 100,
            seq: 3,
            unknown: HashSet::new(),
            not_json: 0,
        };
        let rec = |id: i64, day: u32| {
            format!(
                r#"{{"type":"RECORD","stream":"items","record":{{"id":{id},"meta":{{"k":{id}}},"_sdc_last_modified":"2024-05-0{day}T00:00:00+00:00"}}}}"#
            )
        };
        let lines = [
            r#"{"type":"SCHEMA","stream":"items","schema":{},"key_properties":["id"]}"#.to_string(),
            rec(1, 1), // below the committed cursor: re-sent
            rec(4, 2), // at it: passed on (the runtime drops the landed ones)
            rec(7, 3),
            rec(7, 3), // the same record twice in one run
            r#"{"type":"STATE","value":{"bookmarks":{"items":{"replication_key_value":"2024-05-03"}}}}"#.to_string(),
        ];
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            r.line(i as u64 + 1, l.as_bytes(), &mut out).unwrap();
        }
        assert_eq!(out.len(), 2);
        let Message::Batch { batch, .. } = &out[0] else {
            panic!("batch first")
        };
        assert_eq!(batch.num_rows(), 2);
        let Message::Checkpoint {
            resume: Some(resume),
            ..
        } = &out[1]
        else {
            panic!("then checkpoint")
        };
        assert_eq!(resume["seq"], 4);

        let mut state = SourceState::default();
        state.streams.insert(
            "items".into(),
            StreamState {
                resume: Some(resume.clone()),
                ..Default::default()
            },
        );
        let (v, max) = input_state(&selected(&d, SyncMode::Incremental), &state);
        assert_eq!(
            v.unwrap()["bookmarks"]["items"]["replication_key_value"],
            "2024-05-03"
        );
        assert_eq!(max, 4);
        let (v, _) = input_state(&selected(&d, SyncMode::FullRefresh), &state);
        assert_eq!(
            v.unwrap()["bookmarks"],
            json!({}),
            "a full refresh forgets its bookmark"
        );
    }
}
