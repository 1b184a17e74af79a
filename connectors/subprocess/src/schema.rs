//! JSON Schema (as Airbyte catalogs and Singer SCHEMA messages write it) →
//! Arrow.
//!
//! | JSON Schema | Arrow |
//! |---|---|
//! | `string` | `Utf8` |
//! | `string`, `format: date-time` | `Timestamp(µs, UTC)`; `Timestamp(µs)` with `airbyte_type: timestamp_without_timezone` |
//! | `string`, `format: date` | `Date32` |
//! | `string`, `format: singer.decimal`; `airbyte_type: big_number` | `Decimal128(38, 9)` |
//! | `integer`; `number` with `airbyte_type: integer` | `Int64` |
//! | `airbyte_type: big_integer` | `Decimal128(38, 0)` |
//! | `number` | `Float64` |
//! | `boolean` | `Boolean` |
//! | `object` with `properties` | `Struct` of the properties, in the schema's order |
//! | `array` with `items` | `List` of the item type |
//! | `["null", X]`, `anyOf`/`oneOf` of X and `null` | X, nullable |
//! | several primitive types (`["string", "integer"]`) | `Utf8` (numbers and booleans as their text) |
//!
//! A property whose schema leaves its shape open — an object without
//! `properties`, an array without `items`, no `type`, a union of an object
//! with something else — cannot be typed column by column: the whole
//! top-level property lands as JSON text (`Utf8`, the value as the
//! connector sent it) and is listed in [`StreamSchema::json_columns`].
//! Every column is nullable: records may omit any property.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// Precision and scale of `big_number` and `singer.decimal` values.
pub const DECIMAL_PRECISION: u8 = 38;
/// Scale of `big_number` and `singer.decimal` values.
pub const DECIMAL_SCALE: i8 = 9;

/// A JSON Schema node, as far as typing a column needs it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct JsonSchema {
    /// `type`: one name or a list of names.
    #[serde(rename = "type", default)]
    pub types: Option<TypeSet>,
    /// `format` (`date-time`, `date`, `time`, `singer.decimal`, ...).
    #[serde(default)]
    pub format: Option<String>,
    /// Airbyte's narrower type (`timestamp_without_timezone`, `integer`, `big_number`, ...).
    #[serde(default)]
    pub airbyte_type: Option<String>,
    /// `properties`, in the order the schema lists them.
    #[serde(default)]
    pub properties: Option<Properties>,
    /// `items` of an array.
    #[serde(default)]
    pub items: Option<Items>,
    /// `anyOf` alternatives.
    #[serde(rename = "anyOf", default)]
    pub any_of: Option<Vec<SchemaOrBool>>,
    /// `oneOf` alternatives.
    #[serde(rename = "oneOf", default)]
    pub one_of: Option<Vec<SchemaOrBool>>,
}

/// `type` as one name or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TypeSet {
    /// `"type": "string"`.
    One(String),
    /// `"type": ["null", "string"]`.
    Many(Vec<String>),
}

/// A schema, or `true`/`false` (JSON Schema's "anything" and "nothing").
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SchemaOrBool {
    /// `true` or `false`.
    Bool(bool),
    /// A schema object.
    Schema(Box<JsonSchema>),
}

/// `items`: one schema for every element, or a tuple of schemas.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Items {
    /// `true`/`false`.
    Bool(bool),
    /// One schema for every element.
    One(Box<JsonSchema>),
    /// A tuple (positional schemas).
    Tuple(Vec<SchemaOrBool>),
}

/// `properties` with their order kept (serde_json's map sorts keys).
#[derive(Debug, Clone, Default)]
pub struct Properties(pub Vec<(String, SchemaOrBool)>);

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Properties;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of property schemas")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Properties, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, SchemaOrBool>()? {
                    match out.iter_mut().find(|(name, _)| *name == k) {
                        Some(slot) => *slot = (k, v),
                        None => out.push((k, v)),
                    }
                }
                Ok(Properties(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A stream's Arrow schema and which of its columns carry JSON text.
#[derive(Debug, Clone)]
pub struct StreamSchema {
    /// Every column, in the JSON Schema's property order.
    pub arrow: SchemaRef,
    /// Indices (in `arrow`) of the columns that hold JSON text.
    pub json_columns: Vec<usize>,
}

impl StreamSchema {
    /// The schema the JSON decoder fills: every column but the JSON-text ones.
    pub fn decoded(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .arrow
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.json_columns.contains(i))
            .map(|(_, f)| f.clone())
            .collect();
        Arc::new(Schema::new(fields))
    }
}

/// Errors in a stream's JSON Schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema is not a JSON Schema object.
    #[error("stream `{stream}`: the JSON Schema cannot be read: {message}")]
    Invalid {
        /// The stream.
        stream: String,
        /// What serde said.
        message: String,
    },
}

/// Types a stream from its JSON Schema (the `json_schema` of an Airbyte
/// stream, the `schema` of a Singer SCHEMA message).
pub fn stream_schema(
    stream: &str,
    json_schema: &serde_json::value::RawValue,
) -> Result<StreamSchema, SchemaError> {
    let node: JsonSchema =
        serde_json::from_str(json_schema.get()).map_err(|e| SchemaError::Invalid {
            stream: stream.to_owned(),
            message: e.to_string(),
        })?;
    Ok(from_node(&node))
}

/// Types a stream from a parsed JSON Schema.
pub fn from_node(node: &JsonSchema) -> StreamSchema {
    let mut fields = Vec::new();
    let mut json_columns = Vec::new();
    if let Some(props) = &node.properties {
        for (name, prop) in &props.0 {
            let dt = match prop {
                SchemaOrBool::Schema(s) => arrow_type(s),
                SchemaOrBool::Bool(_) => None,
            };
            let dt = dt.unwrap_or_else(|| {
                json_columns.push(fields.len());
                DataType::Utf8
            });
            fields.push(Field::new(name, dt, true));
        }
    }
    StreamSchema {
        arrow: Arc::new(Schema::new(fields)),
        json_columns,
    }
}

fn type_names(node: &JsonSchema) -> Vec<&str> {
    match &node.types {
        None => Vec::new(),
        Some(TypeSet::One(t)) => vec![t.as_str()],
        Some(TypeSet::Many(ts)) => ts.iter().map(String::as_str).collect(),
    }
}

fn is_null_only(alt: &SchemaOrBool) -> bool {
    match alt {
        SchemaOrBool::Bool(b) => !b,
        SchemaOrBool::Schema(s) => {
            let names = type_names(s);
            !names.is_empty() && names.iter().all(|t| *t == "null")
        }
    }
}

fn is_primitive(dt: &DataType) -> bool {
    !matches!(dt, DataType::Struct(_) | DataType::List(_))
}

/// The Arrow type of a node, or `None` when its shape is open (JSON text).
pub fn arrow_type(node: &JsonSchema) -> Option<DataType> {
    let alternatives = node.any_of.as_ref().or(node.one_of.as_ref());
    if let Some(alts) = alternatives {
        let typed: Vec<Option<DataType>> = alts
            .iter()
            .filter(|a| !is_null_only(a))
            .map(|a| match a {
                SchemaOrBool::Schema(s) => arrow_type(s),
                SchemaOrBool::Bool(_) => None,
            })
            .collect();
        return unify(typed);
    }
    let names: Vec<&str> = type_names(node)
        .into_iter()
        .filter(|t| *t != "null")
        .collect();
    match names.as_slice() {
        [] if node.properties.is_some() => object_type(node),
        [] => None,
        [one] => single(one, node),
        many => unify(many.iter().map(|t| single(t, node)).collect()),
    }
}

/// One type for several alternatives: the same type, numbers as Float64,
/// primitives as text; anything else is JSON text.
fn unify(typed: Vec<Option<DataType>>) -> Option<DataType> {
    let mut it = typed.iter();
    let first = it.next()?.clone()?;
    let mut all_same = true;
    let mut all_numbers = true;
    let mut all_primitive = true;
    for t in &typed {
        let t = t.as_ref()?;
        all_same &= *t == first;
        all_numbers &= matches!(t, DataType::Int64 | DataType::Float64);
        all_primitive &= is_primitive(t);
    }
    if all_same {
        Some(first)
    } else if all_numbers {
        Some(DataType::Float64)
    } else if all_primitive {
        Some(DataType::Utf8)
    } else {
        None
    }
}

fn decimal(scale: i8) -> DataType {
    DataType::Decimal128(DECIMAL_PRECISION, scale)
}

fn single(name: &str, node: &JsonSchema) -> Option<DataType> {
    let airbyte = node.airbyte_type.as_deref();
    Some(match name {
        "string" => match (node.format.as_deref(), airbyte) {
            (Some("date-time"), Some("timestamp_without_timezone")) => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            (Some("date-time"), _) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            (Some("date"), _) => DataType::Date32,
            (Some("singer.decimal"), _) | (_, Some("big_number")) => decimal(DECIMAL_SCALE),
            (_, Some("big_integer")) => decimal(0),
            _ => DataType::Utf8,
        },
        "integer" => match airbyte {
            Some("big_integer") => decimal(0),
            _ => DataType::Int64,
        },
        "number" => match airbyte {
            Some("integer") => DataType::Int64,
            Some("big_integer") => decimal(0),
            Some("big_number") => decimal(DECIMAL_SCALE),
            _ => DataType::Float64,
        },
        "boolean" => DataType::Boolean,
        "object" => return object_type(node),
        "array" => match &node.items {
            Some(Items::One(item)) => {
                DataType::List(Arc::new(Field::new("item", arrow_type(item)?, true)))
            }
            _ => return None,
        },
        _ => return None,
    })
}

fn object_type(node: &JsonSchema) -> Option<DataType> {
    let props = node.properties.as_ref()?;
    if props.0.is_empty() {
        return None;
    }
    let mut fields = Vec::with_capacity(props.0.len());
    for (name, prop) in &props.0 {
        let dt = match prop {
            SchemaOrBool::Schema(s) => arrow_type(s)?,
            SchemaOrBool::Bool(_) => return None,
        };
        fields.push(Field::new(name, dt, true));
    }
    Some(DataType::Struct(Fields::from(fields)))
}

/// Reads a stream's JSON Schema from a `serde_json::Value` (whose maps sort
/// their keys: columns come in name order; [`stream_schema`] keeps the
/// schema's own order).
pub fn stream_schema_from_value(
    stream: &str,
    value: &serde_json::Value,
) -> Result<StreamSchema, SchemaError> {
    let node =
        JsonSchema::deserialize(value).map_err(|e: serde_json::Error| SchemaError::Invalid {
            stream: stream.to_owned(),
            message: e.to_string(),
        })?;
    Ok(from_node(&node))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(v: &str) -> StreamSchema {
        stream_schema(
            "s",
            &serde_json::value::RawValue::from_string(v.into()).unwrap(),
        )
        .unwrap()
    }

    fn field_type(s: &StreamSchema, name: &str) -> DataType {
        s.arrow.field_with_name(name).unwrap().data_type().clone()
    }

    #[test]
    fn airbyte_types_map_to_arrow_in_property_order() {
        let s = typed(
            r#"{
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "updated_at": {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"},
                "local": {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_without_timezone"},
                "day": {"type": ["null", "string"], "format": "date"},
                "price": {"type": "number"},
                "count": {"type": "number", "airbyte_type": "integer"},
                "big": {"type": "number", "airbyte_type": "big_number"},
                "huge": {"type": "string", "airbyte_type": "big_integer"},
                "ok": {"type": ["boolean", "null"]},
                "at": {"type": "string", "format": "time"},
                "name": {"type": "string"}
            }
        }"#,
        );
        let names: Vec<&str> = s.arrow.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "updated_at",
                "local",
                "day",
                "price",
                "count",
                "big",
                "huge",
                "ok",
                "at",
                "name"
            ]
        );
        assert_eq!(field_type(&s, "id"), DataType::Int64);
        assert_eq!(
            field_type(&s, "updated_at"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            field_type(&s, "local"),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(field_type(&s, "day"), DataType::Date32);
        assert_eq!(field_type(&s, "price"), DataType::Float64);
        assert_eq!(field_type(&s, "count"), DataType::Int64);
        assert_eq!(field_type(&s, "big"), DataType::Decimal128(38, 9));
        assert_eq!(field_type(&s, "huge"), DataType::Decimal128(38, 0));
        assert_eq!(field_type(&s, "ok"), DataType::Boolean);
        assert_eq!(field_type(&s, "at"), DataType::Utf8);
        assert!(s.json_columns.is_empty());
        assert!(s.arrow.fields().iter().all(|f| f.is_nullable()));
    }

    #[test]
    fn objects_become_structs_and_arrays_lists() {
        let s = typed(
            r#"{
            "properties": {
                "address": {"type": ["null", "object"], "properties": {
                    "city": {"type": "string"},
                    "geo": {"type": "object", "properties": {"lat": {"type": "number"}}}
                }},
                "tags": {"type": "array", "items": {"type": "string"}},
                "lines": {"type": "array", "items": {"type": "object", "properties": {
                    "sku": {"type": "string"}, "qty": {"type": "integer"}
                }}}
            }
        }"#,
        );
        let DataType::Struct(addr) = field_type(&s, "address") else {
            panic!("struct")
        };
        assert_eq!(addr[0].name(), "city");
        assert!(matches!(addr[1].data_type(), DataType::Struct(_)));
        let DataType::List(item) = field_type(&s, "tags") else {
            panic!("list")
        };
        assert_eq!(item.data_type(), &DataType::Utf8);
        let DataType::List(line) = field_type(&s, "lines") else {
            panic!("list")
        };
        assert!(matches!(line.data_type(), DataType::Struct(f) if f.len() == 2));
        assert!(s.json_columns.is_empty());
    }

    #[test]
    fn open_shapes_land_as_json_text() {
        let s = typed(
            r#"{
            "properties": {
                "meta": {"type": ["null", "object"], "additionalProperties": true},
                "tags": {"type": ["array", "null"], "items": {}},
                "any": {},
                "wrapped": {"type": "object", "properties": {"free": {"type": "object"}}},
                "mixed": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {"a": {"type": "string"}}}]},
                "id": {"type": "integer"}
            }
        }"#,
        );
        assert_eq!(s.json_columns, vec![0, 1, 2, 3, 4]);
        assert_eq!(field_type(&s, "meta"), DataType::Utf8);
        assert_eq!(field_type(&s, "id"), DataType::Int64);
        assert_eq!(
            s.decoded()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>(),
            vec!["id".to_string()]
        );
    }

    #[test]
    fn unions_pick_one_type() {
        let s = typed(
            r#"{
            "properties": {
                "n": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
                "x": {"type": ["integer", "number", "null"]},
                "s": {"type": ["string", "integer", "boolean"]},
                "d": {"type": ["null", "string"], "format": "singer.decimal"},
                "o": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"a": {"type": "boolean"}}}]}
            }
        }"#,
        );
        assert_eq!(field_type(&s, "n"), DataType::Int64);
        assert_eq!(field_type(&s, "x"), DataType::Float64);
        assert_eq!(field_type(&s, "s"), DataType::Utf8);
        assert_eq!(field_type(&s, "d"), DataType::Decimal128(38, 9));
        assert!(matches!(field_type(&s, "o"), DataType::Struct(_)));
        assert!(s.json_columns.is_empty());
    }

    #[test]
    fn a_schema_that_is_not_an_object_is_an_error() {
        let raw = serde_json::value::RawValue::from_string("[1,2]".into()).unwrap();
        let e = stream_schema("users", &raw).unwrap_err();
        assert!(e.to_string().starts_with("stream `users`"), "{e}");
    }
}
