//! The pipeline file's `unify:` section and the mappings it yields per source.
//!
//! ```yaml
//! unify:
//!   enabled: true              # default true: `braid run` builds unified/ and marts/
//!   type_changes: widen        # widen | quarantine | fail (a raw column changed type)
//!   phone_regions:             # default phone region per source (overrides the mapping's)
//!     store_pos: CN
//!   identity:                  # identity resolution (braid-identity)
//!     probabilistic: true      # default false: also join records by name, address, birth date
//!     threshold: 8             # posterior log2-odds a probabilistic pair needs (default 0: more likely than not)
//!     types:                   # per identifier type: links, max_records_per_value, max_per_person
//!       phone: {max_records_per_value: 20}
//!   mappings:                  # override or extend the built-in mappings
//!     - source: web            # a source of this pipeline
//!       stream: events
//!       table: touchpoints
//!       columns:
//!         source_id: event_id
//!         click_id: gclid
//!         channel: {expr: "lower(utm_source)"}
//! ```
//!
//! An override for a (source, stream, table) the built-in mapping has is
//! merged into it column by column (`replace: true` replaces it, `disabled:
//! true` turns it off); any other entry adds a mapping.

use std::collections::BTreeMap;

use braid_pipeline::{Diagnostic, Pipeline, PipelineErrors};
use serde::Deserialize;

use crate::mapping::{self, CompiledMapping, StreamMapping};

/// What to do when a raw column's type differs from the type seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeChangePolicy {
    /// Carry on: the value is converted to the canonical type as usual (a
    /// lossless widening such as int -> decimal or anything -> string is
    /// always possible for `extra`); the change is reported.
    #[default]
    Widen,
    /// Send every row of the file with the changed column to quarantine.
    Quarantine,
    /// Stop the unify with an error naming the column and both types.
    Fail,
}

/// The `unify:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifyConfig {
    /// Whether runs of this pipeline build the unified layer (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// See [`TypeChangePolicy`].
    #[serde(default)]
    pub type_changes: TypeChangePolicy,
    /// Source -> default phone region (ISO 3166 alpha-2).
    #[serde(default)]
    pub phone_regions: BTreeMap<String, String>,
    /// Identity resolution.
    #[serde(default)]
    pub identity: IdentitySection,
    /// Overrides and extensions of the built-in mappings.
    #[serde(default)]
    pub mappings: Vec<StreamMapping>,
}

/// The `unify.identity` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySection {
    /// Run the Fellegi–Sunter pass over names, addresses, postcodes and
    /// birth dates after the deterministic one (default off).
    #[serde(default)]
    pub probabilistic: bool,
    /// The posterior log2-odds a probabilistic pair needs (default 0: more likely than not).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Rules per identifier type, over braid's defaults.
    #[serde(default)]
    pub types: BTreeMap<String, TypeRules>,
}

/// `unify.identity.types.<type>`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeRules {
    /// Whether a shared value joins records.
    pub links: Option<bool>,
    /// A value held by more distinct records is reported and not followed.
    pub max_records_per_value: Option<u32>,
    /// At most this many distinct values of the type in one person.
    pub max_per_person: Option<u32>,
}

impl IdentitySection {
    /// The braid-identity configuration.
    pub fn to_config(&self) -> braid_identity::Config {
        let mut cfg = if self.probabilistic {
            braid_identity::Config::with_probabilistic()
        } else {
            braid_identity::Config::default()
        };
        if let (Some(p), Some(t)) = (cfg.probabilistic.as_mut(), self.threshold) {
            p.threshold = t;
        }
        for (name, rules) in &self.types {
            let i = match cfg.types.iter().position(|t| &t.name == name) {
                Some(i) => i,
                None => {
                    cfg.types.push(braid_identity::IdType::new(name));
                    cfg.types.len() - 1
                }
            };
            let t = &mut cfg.types[i];
            if let Some(l) = rules.links {
                t.links = l;
            }
            if let Some(m) = rules.max_records_per_value {
                t.max_records_per_value = m;
            }
            if let Some(m) = rules.max_per_person {
                t.max_per_person = Some(m);
            }
        }
        cfg
    }
}

fn yes() -> bool {
    true
}

impl Default for UnifyConfig {
    fn default() -> Self {
        UnifyConfig {
            enabled: true,
            type_changes: TypeChangePolicy::Widen,
            phone_regions: BTreeMap::new(),
            identity: IdentitySection::default(),
            mappings: Vec::new(),
        }
    }
}

/// The mappings of one pipeline source.
#[derive(Debug, Clone)]
pub struct SourceMappings {
    /// The pipeline source.
    pub source: String,
    /// Its connector.
    pub connector: String,
    /// Phone region override.
    pub phone_region: Option<String>,
    /// The entries, compiled.
    pub mappings: Vec<CompiledMapping>,
    /// A fingerprint of the entries (a change rebuilds the source's unified rows).
    pub fingerprint: String,
}

/// The validated `unify` section of `pipeline` and the mappings of each of
/// its sources; every problem is a file:line:column diagnostic.
pub fn load(pipeline: &Pipeline) -> Result<(UnifyConfig, Vec<SourceMappings>), PipelineErrors> {
    let mut diags = Vec::new();
    let config = match &pipeline.unify {
        None => UnifyConfig::default(),
        Some(section) => {
            let diag = |pointer: &str, path: String, message: String| {
                pipeline.diagnostic(section.location_of(pointer), path, message)
            };
            match serde_json::from_value::<UnifyConfig>(section.value.clone()) {
                Ok(c) => {
                    for (src, region) in &c.phone_regions {
                        let p = format!("/phone_regions/{src}");
                        if pipeline.source(src).is_none() {
                            diags.push(diag(
                                &p,
                                format!("unify.phone_regions.{src}"),
                                format!("no source named {src:?} in this pipeline"),
                            ));
                        }
                        if region.parse::<phonenumber::country::Id>().is_err() {
                            diags.push(diag(&p, format!("unify.phone_regions.{src}"), format!("unknown region {region:?}: expected an ISO 3166 alpha-2 code such as \"CN\" or \"US\"")));
                        }
                    }
                    for name in c.identity.types.keys() {
                        if !crate::identity::IDENTIFIER_COLUMNS
                            .iter()
                            .any(|(_, t, _)| t == name)
                        {
                            let known: Vec<&str> = crate::identity::IDENTIFIER_COLUMNS
                                .iter()
                                .map(|(_, t, _)| *t)
                                .collect();
                            diags.push(diag(
                                &format!("/identity/types/{name}"),
                                format!("unify.identity.types.{name}"),
                                format!(
                                    "unknown identifier type {name:?} (types: {})",
                                    known.join(", ")
                                ),
                            ));
                        }
                    }
                    if let Some(t) = c.identity.threshold {
                        if !t.is_finite() {
                            diags.push(diag(
                                "/identity/threshold",
                                "unify.identity.threshold".into(),
                                "expected a number (posterior log2-odds, e.g. 8)".into(),
                            ));
                        } else if !c.identity.probabilistic {
                            diags.push(diag(
                                "/identity/threshold",
                                "unify.identity.threshold".into(),
                                "a threshold needs `probabilistic: true`".into(),
                            ));
                        }
                    }
                    for (i, m) in c.mappings.iter().enumerate() {
                        let base = format!("/mappings/{i}");
                        let path = format!("unify.mappings[{i}]");
                        match &m.source {
                            None => diags.push(diag(&base, path.clone(), "missing key \"source\": which source of this pipeline the mapping is for".into())),
                            Some(s) if pipeline.source(s).is_none() => {
                                let names: Vec<&str> = pipeline.sources.iter().map(|s| s.name.value.as_str()).collect();
                                diags.push(diag(&format!("{base}/source"), format!("{path}.source"), format!("no source named {s:?} in this pipeline (sources: {})", names.join(", "))));
                            }
                            _ => {}
                        }
                        if m.disabled {
                            continue;
                        }
                        // An extending entry is checked once merged with its built-in (below).
                        let builtin = m
                            .source
                            .as_deref()
                            .and_then(|s| pipeline.source(s))
                            .and_then(|s| mapping::builtin(&s.connector.value));
                        let base_entry = builtin.and_then(|b| {
                            b.streams
                                .into_iter()
                                .find(|e| e.stream == m.stream && e.table == m.table)
                        });
                        let merged = match (&base_entry, m.replace) {
                            (Some(b), false) => b.merged_with(m),
                            _ => m.clone(),
                        };
                        if let Err(problems) = merged.compile() {
                            for p in problems {
                                let at = format!("{base}{}", p.pointer);
                                let dotted = p.pointer.trim_start_matches('/').replace('/', ".");
                                diags.push(diag(&at, format!("{path}.{dotted}"), p.message));
                            }
                        }
                    }
                    c
                }
                Err(e) => {
                    // serde_json names no path; point at the section with what it said.
                    diags.push(Diagnostic::new(pipeline.file.clone(), section.location, "unify", format!("invalid unify section: {e} (keys: enabled, type_changes, phone_regions, identity (probabilistic, threshold, types), mappings; a mapping has source, stream, table, columns, drop, default_region, timezone, replace, disabled)")));
                    UnifyConfig::default()
                }
            }
        }
    };
    if !diags.is_empty() {
        return Err(PipelineErrors(diags));
    }
    let mut out = Vec::new();
    for source in &pipeline.sources {
        let name = source.name.value.clone();
        let connector = source.connector.value.clone();
        let mut entries: Vec<StreamMapping> = mapping::builtin(&connector)
            .map(|f| f.streams)
            .unwrap_or_default();
        for o in config
            .mappings
            .iter()
            .filter(|m| m.source.as_deref() == Some(name.as_str()))
        {
            match entries
                .iter()
                .position(|e| e.stream == o.stream && e.table == o.table)
            {
                Some(i) if o.disabled => {
                    entries.remove(i);
                }
                Some(i) => entries[i] = entries[i].merged_with(o),
                None if o.disabled => {}
                None => entries.push(o.clone()),
            }
        }
        let fingerprint = format!("{entries:?}");
        let mut compiled = Vec::new();
        for e in &entries {
            match e.compile() {
                Ok(c) => compiled.push(c),
                Err(problems) => {
                    // Only a broken built-in gets here (overrides were checked above).
                    for p in problems {
                        diags.push(pipeline.diagnostic(
                            source.location,
                            format!("{}.connector", source.path),
                            format!(
                                "built-in mapping of {connector} stream {}: {}: {}",
                                e.stream, p.pointer, p.message
                            ),
                        ));
                    }
                }
            }
        }
        out.push(SourceMappings {
            phone_region: config.phone_regions.get(&name).cloned(),
            source: name,
            connector,
            mappings: compiled,
            fingerprint: sha_hex(fingerprint.as_bytes()),
        });
    }
    if diags.is_empty() {
        Ok((config, out))
    } else {
        Err(PipelineErrors(diags))
    }
}

/// Hex SHA-256.
pub fn sha_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}
