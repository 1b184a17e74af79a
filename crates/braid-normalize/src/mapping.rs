//! The mapping language: how a connector's stream becomes rows of a
//! canonical table.
//!
//! ```yaml
//! connector: files
//! version: 1
//! streams:
//!   - stream: orders              # the connector's stream
//!     table: orders               # the canonical table
//!     default_region: CN          # phone numbers without a country code
//!     timezone: Asia/Shanghai     # wall times without an offset
//!     columns:                    # canonical column <- source
//!       source_id: order_id                          # rename
//!       phone: customer_phone
//!       amount: {from: amount, cast: decimal}        # cast first
//!       channel: {const: pos}                        # constant
//!       full_name: {expr: "first || ' ' || last"}    # derived
//!     drop: [internal_note]       # never carried into `extra`
//! ```
//!
//! Source columns that no entry reads and `drop` does not name are kept in
//! the row's `extra` JSON object (schema evolution: a new source field is
//! never lost). See [`crate::expr`] for expressions.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::expr::Expr;
use crate::schema::Table;

/// One mapping file (built in or read from a pipeline).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// The connector whose streams it maps.
    pub connector: String,
    /// Format version of the file (1).
    pub version: u32,
    /// What the mapping covers.
    #[serde(default)]
    pub description: Option<String>,
    /// One entry per (stream, table).
    pub streams: Vec<StreamMapping>,
}

/// How one stream fills one canonical table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamMapping {
    /// In a pipeline override: the pipeline source it applies to.
    #[serde(default)]
    pub source: Option<String>,
    /// The connector's stream name.
    pub stream: String,
    /// The canonical table (`customers`, `orders`, `touchpoints`, `ad_performance`).
    pub table: String,
    /// Canonical column -> how to fill it.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnSpec>,
    /// Source columns left out of `extra`.
    #[serde(default)]
    pub drop: Vec<String>,
    /// Region (ISO 3166 alpha-2) for phone numbers without a country code.
    #[serde(default)]
    pub default_region: Option<String>,
    /// IANA zone of timestamps written without an offset; also recorded as `source_tz`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// In a pipeline override: replace the built-in entry for this stream and
    /// table instead of merging column by column.
    #[serde(default)]
    pub replace: bool,
    /// In a pipeline override: turn the built-in entry for this stream and table off.
    #[serde(default)]
    pub disabled: bool,
}

/// How one canonical column is filled.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ColumnSpec {
    /// The source column of that name (a rename).
    Column(String),
    /// The long form.
    Spec(ColumnDetail),
}

/// The long form of a [`ColumnSpec`]: exactly one of `from`, `const`, `expr`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ColumnDetail {
    /// A source column.
    #[serde(default)]
    pub from: Option<String>,
    /// Read `from` as this type first: `string`, `int`, `float`, `decimal`,
    /// `bool`, `date`, `timestamp`, `epoch_seconds`, `epoch_millis`.
    #[serde(default)]
    pub cast: Option<String>,
    /// A constant (string, number or bool).
    #[serde(default, rename = "const")]
    pub constant: Option<serde_json::Value>,
    /// An expression (see [`crate::expr`]).
    #[serde(default)]
    pub expr: Option<String>,
    /// For `orders.items`: canonical item field -> field of the source's list of structs.
    #[serde(default)]
    pub fields: Option<BTreeMap<String, String>>,
}

/// Casts a column spec may ask for.
pub const CASTS: &[&str] = &[
    "string",
    "int",
    "float",
    "decimal",
    "bool",
    "date",
    "timestamp",
    "epoch_seconds",
    "epoch_millis",
];

/// A validated column source.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnSource {
    /// A source column, optionally cast first.
    Column {
        /// The source column.
        name: String,
        /// One of [`CASTS`].
        cast: Option<String>,
    },
    /// A constant, as text.
    Const(String),
    /// A derived value.
    Expr(Expr),
    /// `orders.items` from a list of structs, with item field renames.
    Items {
        /// The source list column.
        name: String,
        /// Canonical item field -> source struct field.
        fields: BTreeMap<String, String>,
    },
}

/// A mapping entry checked against the canonical schema, ready to apply.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    /// The stream.
    pub stream: String,
    /// The table.
    pub table: Table,
    /// Canonical column -> source, in schema order.
    pub columns: Vec<(String, ColumnSource)>,
    /// Dropped source columns.
    pub drop: Vec<String>,
    /// Phone region.
    pub default_region: Option<String>,
    /// Zone of wall times.
    pub timezone: Option<chrono_tz::Tz>,
}

impl CompiledMapping {
    /// Source columns this mapping reads (for `extra`: the rest is carried there).
    pub fn read_columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, src) in &self.columns {
            match src {
                ColumnSource::Column { name, .. } | ColumnSource::Items { name, .. } => {
                    out.push(name.clone())
                }
                ColumnSource::Expr(e) => out.extend(e.columns()),
                ColumnSource::Const(_) => {}
            }
        }
        out
    }
}

/// A problem in a mapping, with the JSON pointer (relative to the entry)
/// of the value at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingProblem {
    /// E.g. `/columns/email`.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl StreamMapping {
    /// Checks the entry against the canonical schema and compiles it.
    pub fn compile(&self) -> Result<CompiledMapping, Vec<MappingProblem>> {
        let mut problems = Vec::new();
        let mut problem =
            |pointer: String, message: String| problems.push(MappingProblem { pointer, message });
        let table = match self.table.parse::<Table>() {
            Ok(t) if Table::MAPPABLE.contains(&t) => Some(t),
            Ok(t) => {
                problem(
                    "/table".into(),
                    format!("table {t} is written by the identity stage, not by a mapping"),
                );
                None
            }
            Err(e) => {
                problem("/table".into(), e);
                None
            }
        };
        let mut columns = Vec::new();
        if let Some(table) = table {
            let allowed = table.mappable_columns();
            for (target, spec) in &self.columns {
                let at = format!("/columns/{}", escape(target));
                if !allowed.contains(target) {
                    let hint = braid_pipeline_suggest(target, &allowed);
                    problem(
                        at,
                        match hint {
                            Some(h) => format!(
                                "table {table} has no column {target:?}, did you mean {h:?}?"
                            ),
                            None => format!(
                                "table {table} has no column {target:?}; its columns are {}",
                                allowed.join(", ")
                            ),
                        },
                    );
                    continue;
                }
                match compile_column(target, spec) {
                    Ok(src) => columns.push((target.clone(), src)),
                    Err((sub, message)) => problem(format!("{at}{sub}"), message),
                }
            }
            if !self.columns.contains_key("source_id") {
                problem(
                    "/columns".into(),
                    "missing column source_id: every canonical row needs the record's id in its source".into(),
                );
            }
            let order: Vec<String> = table
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            columns.sort_by_key(|(c, _)| order.iter().position(|o| o == c));
        }
        if let Some(r) = &self.default_region {
            if r.parse::<phonenumber::country::Id>().is_err() {
                problem("/default_region".into(), format!("unknown region {r:?}: expected an ISO 3166 alpha-2 code such as \"CN\" or \"US\""));
            }
        }
        let timezone = match &self.timezone {
            Some(z) => match z.parse::<chrono_tz::Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    problem("/timezone".into(), format!("unknown time zone {z:?}, expected an IANA name such as \"Asia/Shanghai\""));
                    None
                }
            },
            None => None,
        };
        match (problems.is_empty(), table) {
            (true, Some(table)) => Ok(CompiledMapping {
                stream: self.stream.clone(),
                table,
                columns,
                drop: self.drop.clone(),
                default_region: self.default_region.clone(),
                timezone,
            }),
            _ => Err(problems),
        }
    }

    /// This entry with `over`'s columns, drops and settings laid on top.
    pub fn merged_with(&self, over: &StreamMapping) -> StreamMapping {
        if over.replace {
            return over.clone();
        }
        let mut out = self.clone();
        for (k, v) in &over.columns {
            out.columns.insert(k.clone(), v.clone());
        }
        out.drop.extend(over.drop.iter().cloned());
        if over.default_region.is_some() {
            out.default_region = over.default_region.clone();
        }
        if over.timezone.is_some() {
            out.timezone = over.timezone.clone();
        }
        out.source = over.source.clone();
        out
    }
}

fn braid_pipeline_suggest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (strsim_levenshtein(word, c), c.as_str()))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn strsim_levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn compile_column(target: &str, spec: &ColumnSpec) -> Result<ColumnSource, (String, String)> {
    let d = match spec {
        ColumnSpec::Column(name) => {
            if name.trim().is_empty() {
                return Err((
                    String::new(),
                    "expected a source column name, found an empty string".into(),
                ));
            }
            return Ok(ColumnSource::Column {
                name: name.clone(),
                cast: None,
            });
        }
        ColumnSpec::Spec(d) => d,
    };
    let set = [d.from.is_some(), d.constant.is_some(), d.expr.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set != 1 {
        return Err((
            String::new(),
            "expected exactly one of `from`, `const`, `expr`".into(),
        ));
    }
    if let Some(fields) = &d.fields {
        if target != "items" {
            return Err(("/fields".into(), "`fields` is only for orders.items".into()));
        }
        let allowed: Vec<String> = crate::schema::item_fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for k in fields.keys() {
            if !allowed.contains(k) {
                return Err((
                    format!("/fields/{}", escape(k)),
                    format!(
                        "an item has no field {k:?}; its fields are {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let Some(name) = &d.from else {
            return Err((
                "/fields".into(),
                "`fields` needs `from` (the source list column)".into(),
            ));
        };
        return Ok(ColumnSource::Items {
            name: name.clone(),
            fields: fields.clone(),
        });
    }
    if target == "items" {
        return Err((
            String::new(),
            "orders.items needs `from` (a list of structs) and `fields`".into(),
        ));
    }
    if let Some(c) = &d.cast {
        if !CASTS.contains(&c.as_str()) {
            return Err((
                "/cast".into(),
                format!("unknown cast {c:?}, expected one of {}", CASTS.join(", ")),
            ));
        }
        if d.from.is_none() {
            return Err(("/cast".into(), "`cast` applies to `from`".into()));
        }
    }
    if let Some(name) = &d.from {
        return Ok(ColumnSource::Column {
            name: name.clone(),
            cast: d.cast.clone(),
        });
    }
    if let Some(v) = &d.constant {
        return match v {
            serde_json::Value::String(s) => Ok(ColumnSource::Const(s.clone())),
            serde_json::Value::Number(n) => Ok(ColumnSource::Const(n.to_string())),
            serde_json::Value::Bool(b) => Ok(ColumnSource::Const(b.to_string())),
            _ => Err(("/const".into(), "expected a string, number or bool".into())),
        };
    }
    let text = d.expr.as_deref().unwrap_or_default();
    Expr::parse(text)
        .map(ColumnSource::Expr)
        .map_err(|e| ("/expr".into(), e))
}

/// The built-in mapping files, one per connector, embedded from `mappings/`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("hubspot", include_str!("../mappings/hubspot.yaml")),
    ("files", include_str!("../mappings/files.yaml")),
    ("salesforce", include_str!("../mappings/salesforce.yaml")),
    ("shopify", include_str!("../mappings/shopify.yaml")),
    ("oceanengine", include_str!("../mappings/oceanengine.yaml")),
    ("meta_ads", include_str!("../mappings/meta_ads.yaml")),
    ("loyaltylion", include_str!("../mappings/loyaltylion.yaml")),
    ("google_ads", include_str!("../mappings/google_ads.yaml")),
    ("woocommerce", include_str!("../mappings/woocommerce.yaml")),
    ("wechat_oa", include_str!("../mappings/wechat_oa.yaml")),
    ("tiktok_ads", include_str!("../mappings/tiktok_ads.yaml")),
];

/// The built-in mapping of `connector`, parsed.
pub fn builtin(connector: &str) -> Option<MappingFile> {
    BUILTIN
        .iter()
        .find(|(c, _)| *c == connector)
        .and_then(|(_, text)| serde_saphyr::from_str::<MappingFile>(text).ok())
}
