//! From the located YAML tree to a [`Pipeline`], collecting every problem.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use braid_core::SyncMode;
use chrono_tz::Tz;

use crate::diagnostic::{Diagnostic, Located, Location, PipelineErrors};
use crate::interpolate::expand;
use crate::model::{Pipeline, RuntimeOptions, Schedule, Section, SourceConfig, StreamSelection};
use crate::node::{parse_yaml, Kind, Node};

/// Keys of the top level.
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "schedule",
    "timezone",
    "warehouse",
    "options",
    "sources",
    "unify",
];
/// Keys of `options`.
pub(crate) const OPTION_KEYS: &[&str] =
    &["buffer_bytes", "commit_every_bytes", "commit_every_seconds"];
/// Keys of a `sources` entry.
pub(crate) const SOURCE_KEYS: &[&str] = &["name", "connector", "config", "streams"];
/// Keys of a `streams` entry written as a mapping.
pub(crate) const STREAM_KEYS: &[&str] = &["name", "sync_mode"];
/// Sync modes as the file spells them.
pub(crate) const SYNC_MODES: &[SyncMode] = &[SyncMode::FullRefresh, SyncMode::Incremental];

/// Top-level keys with this prefix are ignored (a place for YAML anchors).
pub(crate) const EXTENSION_PREFIX: &str = "x-";

const NAME_RULE: &str = "expected lowercase letters, digits, '_' and '-' only";
const CRON_HELP: &str = "expected 5 fields (minute hour day-of-month month day-of-week), 6 with a leading seconds field, or @hourly, @daily, @weekly, @monthly, @yearly";

/// Parses and validates `text`; see [`crate::parse`].
pub(crate) fn parse_pipeline(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Pipeline, PipelineErrors> {
    let root = parse_yaml(text).map_err(|e| {
        let mut message = e.message;
        if let Some(hint) = syntax_hint(text, e.location) {
            message.push_str(hint);
        }
        PipelineErrors(vec![Diagnostic::new(file, e.location, "", message)])
    })?;
    let mut cx = Ctx {
        file,
        lines: text.lines().collect(),
        env,
        diags: Vec::new(),
    };
    let pipeline = cx.pipeline(&root);
    match pipeline {
        Some(p) if cx.diags.is_empty() => Ok(p),
        _ => {
            let mut diags = cx.diags;
            if diags.is_empty() {
                // Defensive: a missing pipeline always comes with a diagnostic.
                diags.push(Diagnostic::new(
                    file,
                    Location::default(),
                    "",
                    "invalid pipeline",
                ));
            }
            diags.sort_by_key(|d| (d.line == 0, d.line, d.column));
            Err(PipelineErrors(diags))
        }
    }
}

/// Advice for YAML errors at characters that cannot start a plain value.
fn syntax_hint(text: &str, at: Location) -> Option<&'static str> {
    let line = text.lines().nth(at.line.checked_sub(1)?)?;
    let c = line.chars().nth(at.column.checked_sub(1)?)?;
    match c {
        '*' => Some(
            " (a value starting with `*` is read as an alias: quote it, e.g. \"*/30 * * * *\")",
        ),
        '@' | '`' => {
            Some(" (a value starting with `@` or a backtick must be quoted, e.g. \"@daily\")")
        }
        _ => None,
    }
}

/// A string value after interpolation.
struct Text {
    value: String,
    location: Location,
    interpolated: bool,
}

impl Text {
    /// The value for messages: interpolated values are secrets and are not echoed.
    fn quoted(&self) -> String {
        if self.interpolated {
            "(value from ${...})".to_owned()
        } else {
            format!("{:?}", self.value)
        }
    }

    fn located(self) -> Located<String> {
        Located::new(self.value, self.location)
    }
}

/// A mapping's entries with string keys, after unknown keys were reported.
struct Fields<'n> {
    /// Key, where the key is written, value.
    entries: Vec<(String, Location, &'n Node)>,
    /// Where the mapping is used.
    location: Location,
}

impl<'n> Fields<'n> {
    /// The value under `key`; an explicit null counts as absent.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| *v)
            .filter(|v| !v.is_null())
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if close enough to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Parses `256MiB`, `1 GB`, `1024` (bytes) into bytes.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

struct Ctx<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    env: &'a dyn Fn(&str) -> Option<String>,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn error(&mut self, location: Location, path: &str, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(self.file, location, path, message));
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let message = format!("expected {expected}, found {}", node.describe());
        self.error(node.defined, path, message);
    }

    /// The position of the `offset`-th character of the string value `raw`
    /// written at `at`, when the value sits on one line as written (plain or
    /// quoted without escapes); otherwise `at` itself.
    fn position_in_value(&self, at: Location, raw: &str, offset: usize) -> Location {
        if offset == 0 || raw.contains('\n') || at.line == 0 {
            return at;
        }
        let Some(line) = self.lines.get(at.line - 1) else {
            return at;
        };
        let rest: String = line.chars().skip(at.column.saturating_sub(1)).collect();
        let shift = if rest.starts_with(raw) {
            0
        } else if (rest.starts_with('"') || rest.starts_with('\'')) && rest[1..].starts_with(raw) {
            1
        } else {
            return at;
        };
        Location::new(at.line, at.column + shift + offset)
    }

    /// A string value, interpolated; reports type errors and missing variables.
    fn text(&mut self, node: &Node, path: &str) -> Option<Text> {
        let Kind::Str(raw) = &node.kind else {
            self.type_error(node, path, "a string");
            return None;
        };
        self.expand_str(raw, node.defined, path)
    }

    fn expand_str(&mut self, raw: &str, at: Location, path: &str) -> Option<Text> {
        match expand(raw, self.env) {
            Ok(e) => Some(Text {
                value: e.value,
                location: at,
                interpolated: e.interpolated,
            }),
            Err(errors) => {
                for e in errors {
                    let location = self.position_in_value(at, raw, e.offset);
                    self.error(location, path, e.message);
                }
                None
            }
        }
    }

    /// A `[a-z0-9_-]+` name.
    fn name(&mut self, node: &Node, path: &str) -> Option<Text> {
        let t = self.text(node, path)?;
        if is_name(&t.value) {
            Some(t)
        } else {
            let message = format!("invalid name {}: {NAME_RULE}", t.quoted());
            self.error(t.location, path, message);
            None
        }
    }

    /// The entries of a mapping; unknown keys (not in `known`) are reported.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&str],
        expected: &str,
        allow_extensions: bool,
    ) -> Option<Fields<'n>> {
        let Kind::Map(entries) = &node.kind else {
            self.type_error(node, path, expected);
            return None;
        };
        let mut fields = Fields {
            entries: Vec::new(),
            location: node.referenced,
        };
        for (k, v) in entries {
            let Kind::Str(key) = &k.kind else {
                let what = k
                    .scalar_text()
                    .map_or_else(|| k.describe().to_owned(), |t| format!("{t:?}"));
                self.error(
                    k.defined,
                    path,
                    format!("unknown key {what}, expected one of {}", known.join(", ")),
                );
                continue;
            };
            if known.contains(&key.as_str()) {
                fields.entries.push((key.clone(), k.defined, v));
            } else if allow_extensions && key.starts_with(EXTENSION_PREFIX) {
                // Extension keys hold anchors for merge keys; their content is not validated.
            } else {
                let message = match suggest(key, known.iter().copied()) {
                    Some(s) => format!("unknown key {key:?}, did you mean {s:?}?"),
                    None => format!("unknown key {key:?}, expected one of {}", known.join(", ")),
                };
                self.error(k.defined, &join(path, key), message);
            }
        }
        Some(fields)
    }

    fn required<'n>(&mut self, fields: &Fields<'n>, key: &str, path: &str) -> Option<&'n Node> {
        let v = fields.get(key);
        if v.is_none() {
            match fields.entries.iter().find(|(k, _, _)| k == key) {
                Some((_, at, _)) => {
                    let message = "expected a value, found null".to_owned();
                    self.error(*at, &join(path, key), message);
                }
                None => self.error(
                    fields.location,
                    path,
                    format!("missing required key {key:?}"),
                ),
            }
        }
        v
    }

    fn pipeline(&mut self, root: &Node) -> Option<Pipeline> {
        if root.is_null() {
            self.error(
                Location::new(1, 1),
                "",
                format!(
                    "the file is empty: expected a mapping with keys {}",
                    TOP_KEYS.join(", ")
                ),
            );
            return None;
        }
        let fields = self.fields(root, "", TOP_KEYS, "a mapping (the pipeline)", true)?;
        let mut secret_paths = BTreeSet::new();
        let mut mark = |t: &Text, path: &str| {
            if t.interpolated {
                secret_paths.insert(path.to_owned());
            }
        };

        let name = self
            .required(&fields, "name", "")
            .and_then(|n| self.name(n, "name"));
        if let Some(t) = &name {
            mark(t, "name");
        }
        let description = fields
            .get("description")
            .and_then(|n| self.text(n, "description"));
        if let Some(t) = &description {
            mark(t, "description");
        }
        let warehouse = fields
            .get("warehouse")
            .and_then(|n| self.text(n, "warehouse"));
        if let Some(t) = &warehouse {
            mark(t, "warehouse");
        }
        let timezone = fields.get("timezone").and_then(|n| {
            let t = self.text(n, "timezone")?;
            mark(&t, "timezone");
            self.timezone(t)
        });
        let schedule = fields.get("schedule").and_then(|n| {
            let t = self.text(n, "schedule")?;
            mark(&t, "schedule");
            Some(t)
        });
        // An invalid time zone is reported above; the expression is still checked (in UTC).
        let schedule = schedule.and_then(|expr| self.schedule(expr, timezone.unwrap_or(Tz::UTC)));
        let options = match fields.get("options") {
            Some(n) => self.options(n),
            None => Some(RuntimeOptions::default()),
        };
        let sources = self
            .required(&fields, "sources", "")
            .and_then(|n| self.sources(n));
        // `unify` is kept as located JSON; braid-normalize validates its content.
        let unify = match fields.get("unify") {
            Some(n) => {
                let mut locations = BTreeMap::new();
                let mut secrets = BTreeSet::new();
                let value = self.json(n, "unify", &mut String::new(), &mut locations, &mut secrets);
                Some(value.map(|value| Section {
                    value,
                    location: n.defined,
                    path: "unify".to_owned(),
                    locations,
                }))
            }
            None => None,
        };

        let name = name?;
        let options = options?;
        let sources = sources?;
        let unify = match unify {
            Some(u) => Some(u?),
            None => None,
        };
        Some(Pipeline {
            name_location: name.location,
            name: name.value,
            description: description.map(|t| t.value),
            schedule,
            warehouse: warehouse.map(|t| t.value),
            options,
            sources,
            unify,
            file: self.file.to_owned(),
            secret_paths,
        })
    }

    fn timezone(&mut self, t: Text) -> Option<Tz> {
        match Tz::from_str(&t.value) {
            Ok(tz) => Some(tz),
            Err(_) => {
                let hint = if t.interpolated {
                    None
                } else {
                    suggest(&t.value, chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()))
                };
                let message = match hint {
                    Some(h) => format!("unknown time zone {}, did you mean {h:?}?", t.quoted()),
                    None => format!(
                        "unknown time zone {}, expected an IANA zone name such as \"UTC\" or \"Europe/Berlin\"",
                        t.quoted()
                    ),
                };
                self.error(t.location, "timezone", message);
                None
            }
        }
    }

    fn schedule(&mut self, expr: Text, timezone: Tz) -> Option<Schedule> {
        match Schedule::new(&expr.value, timezone) {
            Ok(mut s) => {
                s.location = expr.location;
                Some(s)
            }
            Err(e) => {
                let message = format!(
                    "invalid cron expression {}: {}; {CRON_HELP}",
                    expr.quoted(),
                    e.message
                );
                self.error(expr.location, "schedule", message);
                None
            }
        }
    }

    fn options(&mut self, node: &Node) -> Option<RuntimeOptions> {
        let fields = self.fields(node, "options", OPTION_KEYS, "a mapping", false)?;
        let mut options = RuntimeOptions::default();
        let mut ok = true;
        for (key, slot, is_size) in [
            ("buffer_bytes", &mut options.buffer_bytes, true),
            ("commit_every_bytes", &mut options.commit_every_bytes, true),
            (
                "commit_every_seconds",
                &mut options.commit_every_seconds,
                false,
            ),
        ] {
            if let Some(n) = fields.get(key) {
                match self.positive(n, &format!("options.{key}"), is_size) {
                    Some(v) => *slot = v,
                    None => ok = false,
                }
            }
        }
        ok.then_some(options)
    }

    /// A positive integer; sizes also accept strings like `256MiB`.
    fn positive(&mut self, node: &Node, path: &str, is_size: bool) -> Option<u64> {
        let expected = if is_size {
            "a size in bytes: an integer or a string such as \"256MiB\" (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        } else {
            "a whole number of seconds"
        };
        let value = match &node.kind {
            Kind::UInt(u) => Some(*u),
            Kind::Int(i) => u64::try_from(*i).ok(),
            Kind::Str(_) => {
                let t = self.text(node, path)?;
                let parsed = if is_size {
                    parse_size(&t.value)
                } else {
                    t.value.trim().parse().ok()
                };
                if parsed.is_none() {
                    let message = format!("invalid value {}: expected {expected}", t.quoted());
                    self.error(node.defined, path, message);
                    return None;
                }
                parsed
            }
            _ => {
                self.type_error(node, path, expected);
                return None;
            }
        };
        match value {
            Some(v) if v > 0 => Some(v),
            _ => {
                self.error(node.defined, path, "must be greater than 0");
                None
            }
        }
    }

    fn sources(&mut self, node: &Node) -> Option<Vec<SourceConfig>> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "sources", "a sequence of sources");
            return None;
        };
        if items.is_empty() {
            self.error(node.defined, "sources", "expected at least one source");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen: HashMap<String, Location> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("sources[{i}]");
            match self.source(item, &path, &mut seen) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One source; `seen` maps source names already read to where they are.
    fn source(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut HashMap<String, Location>,
    ) -> Option<SourceConfig> {
        let fields = self.fields(node, path, SOURCE_KEYS, "a mapping (a source)", false)?;
        let mut secret_fields = BTreeSet::new();
        let name = self.required(&fields, "name", path).and_then(|n| {
            let t = self.name(n, &join(path, "name"))?;
            if t.interpolated {
                secret_fields.insert("name".to_owned());
            }
            if let Some(first) = seen.get(&t.value) {
                let message = format!(
                    "duplicate source name {} (first defined at line {})",
                    t.quoted(),
                    first.line
                );
                self.error(t.location, &join(path, "name"), message);
                return None;
            }
            seen.insert(t.value.clone(), t.location);
            Some(t)
        });
        let connector = self.required(&fields, "connector", path).and_then(|n| {
            let p = join(path, "connector");
            let t = self.text(n, &p)?;
            if t.interpolated {
                secret_fields.insert("connector".to_owned());
            }
            if t.value.trim().is_empty() {
                self.error(
                    t.location,
                    &p,
                    "expected a connector name, found an empty string",
                );
                return None;
            }
            Some(t)
        });
        let mut config_locations = BTreeMap::new();
        let mut secret_pointers = BTreeSet::new();
        let (config, config_location) = match fields.get("config") {
            Some(n) => {
                let p = join(path, "config");
                if !matches!(n.kind, Kind::Map(_)) {
                    self.type_error(n, &p, "a mapping (the connector's config)");
                    (None, n.defined)
                } else {
                    let mut pointer = String::new();
                    let v = self.json(
                        n,
                        &p,
                        &mut pointer,
                        &mut config_locations,
                        &mut secret_pointers,
                    );
                    (v, n.defined)
                }
            }
            None => (
                Some(serde_json::Value::Object(serde_json::Map::new())),
                fields.location,
            ),
        };
        let streams = match fields.get("streams") {
            Some(n) => self.streams(n, &join(path, "streams"), &mut secret_fields),
            None => Some(Vec::new()),
        };
        Some(SourceConfig {
            name: name?.located(),
            connector: connector?.located(),
            config: config?,
            config_location,
            streams: streams?,
            location: fields.location,
            path: path.to_owned(),
            config_locations,
            secret_pointers,
            secret_fields,
        })
    }

    /// Converts a config subtree to JSON, interpolating strings and
    /// recording each value's location and which values are secrets.
    fn json(
        &mut self,
        node: &Node,
        path: &str,
        pointer: &mut String,
        locations: &mut BTreeMap<String, crate::diagnostic::Location>,
        secrets: &mut BTreeSet<String>,
    ) -> Option<serde_json::Value> {
        use serde_json::Value;
        locations.insert(pointer.clone(), node.defined);
        Some(match &node.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::UInt(u) => Value::from(*u),
            Kind::Float(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => Value::Number(n),
                None => {
                    self.error(node.defined, path, "expected a finite number");
                    return None;
                }
            },
            Kind::Str(raw) => {
                let t = self.expand_str(raw, node.defined, path)?;
                if t.interpolated {
                    secrets.insert(pointer.clone());
                }
                Value::String(t.value)
            }
            Kind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                let len = pointer.len();
                for (i, item) in items.iter().enumerate() {
                    pointer.push_str(&format!("/{i}"));
                    match self.json(item, &format!("{path}[{i}]"), pointer, locations, secrets) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                    pointer.truncate(len);
                }
                if !ok {
                    return None;
                }
                Value::Array(out)
            }
            Kind::Map(entries) => {
                let mut out = serde_json::Map::new();
                let mut ok = true;
                let len = pointer.len();
                for (k, v) in entries {
                    let Some(key) = k.scalar_text() else {
                        self.error(
                            k.defined,
                            path,
                            format!("expected a scalar key, found {}", k.describe()),
                        );
                        ok = false;
                        continue;
                    };
                    pointer.push('/');
                    pointer.push_str(&escape_pointer_token(&key));
                    match self.json(v, &join(path, &key), pointer, locations, secrets) {
                        Some(value) => {
                            out.insert(key, value);
                        }
                        None => ok = false,
                    }
                    pointer.truncate(len);
                }
                if !ok {
                    return None;
                }
                Value::Object(out)
            }
        })
    }

    fn streams(
        &mut self,
        node: &Node,
        path: &str,
        secret_fields: &mut BTreeSet<String>,
    ) -> Option<Vec<StreamSelection>> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, path, "a sequence of streams");
            return None;
        };
        if items.is_empty() {
            self.error(
                node.defined,
                path,
                "expected at least one stream (leave `streams` out to read every stream)",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen: HashMap<String, Location> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some(s) = self.stream(item, &p, i, secret_fields) else {
                ok = false;
                continue;
            };
            if let Some(first) = seen.get(&s.name.value) {
                let message = format!(
                    "stream {:?} is selected twice (first at line {})",
                    s.name.value, first.line
                );
                self.error(s.name.location, &p, message);
                ok = false;
            } else {
                seen.insert(s.name.value.clone(), s.name.location);
            }
            out.push(s);
        }
        ok.then_some(out)
    }

    fn stream(
        &mut self,
        node: &Node,
        path: &str,
        index: usize,
        secret_fields: &mut BTreeSet<String>,
    ) -> Option<StreamSelection> {
        let stream_name = |cx: &mut Self, n: &Node, p: &str| -> Option<Text> {
            let t = cx.text(n, p)?;
            if t.value.trim().is_empty() {
                cx.error(
                    t.location,
                    p,
                    "expected a stream name, found an empty string",
                );
                return None;
            }
            Some(t)
        };
        let (name, sync_mode, sync_mode_location) = match &node.kind {
            Kind::Str(_) => (stream_name(self, node, path)?, None, None),
            Kind::Map(_) => {
                let fields = self.fields(node, path, STREAM_KEYS, "a mapping", false)?;
                let name = self
                    .required(&fields, "name", path)
                    .and_then(|n| stream_name(self, n, &join(path, "name")));
                let mode_node = fields.get("sync_mode");
                let mode = match mode_node {
                    Some(n) => Some(self.sync_mode(n, &join(path, "sync_mode"))?),
                    None => None,
                };
                (name?, mode, mode_node.map(|n| n.defined))
            }
            _ => {
                self.type_error(
                    node,
                    path,
                    "a stream name or a mapping with name and sync_mode",
                );
                return None;
            }
        };
        if name.interpolated {
            secret_fields.insert(format!("streams[{index}].name"));
        }
        Some(StreamSelection {
            name: name.located(),
            sync_mode,
            sync_mode_location,
            path: path.to_owned(),
        })
    }

    fn sync_mode(&mut self, node: &Node, path: &str) -> Option<SyncMode> {
        let t = self.text(node, path)?;
        let found = SYNC_MODES
            .iter()
            .find(|m| m.to_string() == t.value)
            .copied();
        if found.is_none() {
            let names: Vec<String> = SYNC_MODES.iter().map(ToString::to_string).collect();
            let message = format!(
                "unknown variant {}, expected one of {}",
                t.quoted(),
                names.join(", ")
            );
            self.error(t.location, path, message);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_size("1 GB"), Some(1_000_000_000));
        assert_eq!(parse_size("64kib"), Some(65_536));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("99999999999TiB"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("shedule", TOP_KEYS.iter().copied()),
            Some("schedule")
        );
        assert_eq!(
            suggest("Sources", TOP_KEYS.iter().copied()),
            Some("sources")
        );
        assert_eq!(suggest("zzzzzz", TOP_KEYS.iter().copied()), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
