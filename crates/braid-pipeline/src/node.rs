//! The YAML document as a tree of located nodes, read with serde-saphyr.
//!
//! serde-saphyr does the YAML work (syntax, anchors and aliases, merge keys,
//! duplicate keys); this tree keeps every node's position so that validation
//! can report all problems, each at its place.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned};

use crate::diagnostic::Location;

/// A YAML node with its positions.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    /// Where the node's text is (for aliases and merges: the anchored definition).
    pub defined: Location,
    /// Where the node is used (for aliases and merges: the alias or merge site).
    pub referenced: Location,
}

/// What a node holds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::UInt(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a sequence",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The node as text if it is a scalar (used for mapping keys).
    pub fn scalar_text(&self) -> Option<String> {
        Some(match &self.kind {
            Kind::Null => "null".to_owned(),
            Kind::Bool(b) => b.to_string(),
            Kind::Int(i) => i.to_string(),
            Kind::UInt(u) => u.to_string(),
            Kind::Float(x) => x.to_string(),
            Kind::Str(s) => s.clone(),
            Kind::Seq(_) | Kind::Map(_) => return None,
        })
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
}

/// The tree as serde-saphyr hands it over, before positions are flattened.
struct Raw(RawKind);

enum RawKind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw(RawKind::Null))
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw(RawKind::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw(RawKind::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw(RawKind::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw(RawKind::UInt(v)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        i64::try_from(v)
            .map(|v| Raw(RawKind::Int(v)))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        u64::try_from(v)
            .map(|v| Raw(RawKind::UInt(v)))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw(RawKind::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw(RawKind::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw(RawKind::Str(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        String::from_utf8(v.to_vec())
            .map(|s| Raw(RawKind::Str(s)))
            .map_err(|_| E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw(RawKind::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Raw(RawKind::Map(entries)))
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

fn location(l: serde_saphyr::Location) -> Location {
    Location::new(
        usize::try_from(l.line()).unwrap_or(usize::MAX),
        usize::try_from(l.column()).unwrap_or(usize::MAX),
    )
}

fn flatten(raw: Spanned<Raw>) -> Node {
    let kind = match raw.value.0 {
        RawKind::Null => Kind::Null,
        RawKind::Bool(b) => Kind::Bool(b),
        RawKind::Int(i) => Kind::Int(i),
        RawKind::UInt(u) => Kind::UInt(u),
        RawKind::Float(x) => Kind::Float(x),
        RawKind::Str(s) => Kind::Str(s),
        RawKind::Seq(items) => Kind::Seq(items.into_iter().map(flatten).collect()),
        RawKind::Map(entries) => Kind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (flatten(k), flatten(v)))
                .collect(),
        ),
    };
    Node {
        kind,
        defined: location(raw.defined),
        referenced: location(raw.referenced),
    }
}

/// A YAML error: where, and what the parser said.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub location: Location,
    pub message: String,
}

/// Parses one YAML document into a located tree.
///
/// YAML 1.2 core-schema booleans only (`yes`/`no`/`on`/`off` stay strings),
/// numbers with leading zeros stay strings (ids such as `0042`), duplicate
/// keys are errors and merge keys (`<<`) are applied.
pub(crate) fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        merge_keys: serde_saphyr::MergeKeyPolicy::Merge,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, options) {
        Ok(raw) => Ok(flatten(raw)),
        Err(e) => {
            let location = e.location().map(location).unwrap_or_default();
            let message = serde_saphyr::UserMessageFormatter
                .format_message(e.without_snippet())
                .into_owned();
            Err(SyntaxError { location, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.kind {
            Kind::Map(m) => m,
            _ => panic!("not a map: {node:?}"),
        }
    }

    #[test]
    fn positions_are_one_based_and_keep_alias_definitions() {
        let doc = parse_yaml("a: &x 1\nb: *x\nc: [yes, 0042]\n").unwrap();
        let m = map(&doc);
        // `a: &x 1`: the scalar itself, after its anchor.
        assert_eq!(m[0].1.defined, Location::new(1, 7));
        assert_eq!(m[1].1.referenced, Location::new(2, 4));
        assert_eq!(m[1].1.defined, Location::new(1, 7));
        let Kind::Seq(items) = &m[2].1.kind else {
            panic!()
        };
        assert!(matches!(&items[0].kind, Kind::Str(s) if s == "yes"));
        assert!(matches!(&items[1].kind, Kind::Str(s) if s == "0042"));
    }

    #[test]
    fn duplicate_key_is_a_located_error() {
        let e = parse_yaml("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.location, Location::new(3, 1));
        assert!(e.message.contains("duplicate"), "{}", e.message);
    }
}
