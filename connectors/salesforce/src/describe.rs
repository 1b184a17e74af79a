//! `sobjects/<X>/describe` → the stream's Arrow schema.
//!
//! | Salesforce type | Arrow |
//! |---|---|
//! | `id`, `reference`, `string`, `email`, `phone`, `url`, `picklist`, `multipicklist`, `combobox`, `textarea`, `encryptedstring`, `time` | `Utf8` |
//! | `boolean` | `Boolean` |
//! | `int`, `long` | `Int64` |
//! | `double`, `currency`, `percent` | `Decimal128(precision, scale)` from describe; `Float64` when describe gives no usable precision |
//! | `date` | `Date32` |
//! | `datetime` | `Timestamp(µs, UTC)` |
//! | `address`, `location` (compound) | skipped: their components (`MailingCity`, `BillingLatitude`, …) are fields of their own |
//! | `base64`, `anyType`, `complexvalue` | skipped (a query of many records cannot return them) |

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

/// One field of a describe response.
#[derive(Debug, Clone, Deserialize)]
pub struct DescribeField {
    /// API name.
    pub name: String,
    /// Salesforce's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digits, for numbers.
    #[serde(default)]
    pub precision: i64,
    /// Digits after the point, for numbers.
    #[serde(default)]
    pub scale: i64,
}

/// A describe response (the parts the connector reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Describe {
    /// The object's API name.
    pub name: String,
    /// Whether SOQL can read it.
    #[serde(default = "yes")]
    pub queryable: bool,
    /// Its fields.
    pub fields: Vec<DescribeField>,
}

fn yes() -> bool {
    true
}

/// The Arrow type of a field, or `None` when the connector does not read it.
pub fn arrow_type(f: &DescribeField) -> Option<DataType> {
    Some(match f.kind.as_str() {
        "boolean" => DataType::Boolean,
        "int" | "long" => DataType::Int64,
        "double" | "currency" | "percent" => {
            let (p, s) = (f.precision, f.scale);
            if (1..=38).contains(&p) && (0..=p).contains(&s) {
                DataType::Decimal128(p as u8, s as i8)
            } else {
                DataType::Float64
            }
        }
        "date" => DataType::Date32,
        "datetime" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "address" | "location" | "base64" | "anyType" | "complexvalue" => return None,
        // id, reference, string, email, phone, url, picklist, multipicklist,
        // combobox, textarea, encryptedstring, time and anything new.
        _ => DataType::Utf8,
    })
}

/// Fields always read: the key, the cursor and the deletion flag.
pub const REQUIRED: [&str; 3] = ["Id", "SystemModstamp", "IsDeleted"];

/// The stream schema: describe's fields in its order, those the REST API can
/// return in a query, narrowed to `wanted` (plus [`REQUIRED`]) when given.
/// `Id` is the only non-nullable column.
pub fn stream_schema(d: &Describe, wanted: Option<&[String]>) -> Result<SchemaRef, String> {
    if !d.queryable {
        return Err(format!("{} is not queryable", d.name));
    }
    let mut fields = Vec::new();
    for f in &d.fields {
        let keep = REQUIRED.contains(&f.name.as_str())
            || wanted.is_none_or(|w| w.iter().any(|n| n.eq_ignore_ascii_case(&f.name)));
        if !keep {
            continue;
        }
        let Some(dt) = arrow_type(f) else { continue };
        fields.push(Field::new(&f.name, dt, f.name != "Id"));
    }
    for r in REQUIRED {
        if !fields.iter().any(|f| f.name() == r) {
            return Err(format!("describe of {} lists no {r} field", d.name));
        }
    }
    if let Some(w) = wanted {
        for n in w {
            if !d.fields.iter().any(|f| f.name.eq_ignore_ascii_case(n)) {
                return Err(format!(
                    "fields: {} has no field {n:?} the user can see",
                    d.name
                ));
            }
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: &str, p: i64, s: i64) -> DescribeField {
        DescribeField {
            name: name.into(),
            kind: kind.into(),
            precision: p,
            scale: s,
        }
    }

    #[test]
    fn salesforce_types_map_to_arrow() {
        let d = Describe {
            name: "Opportunity".into(),
            queryable: true,
            fields: vec![
                field("Id", "id", 0, 0),
                field("AccountId", "reference", 0, 0),
                field("Amount", "currency", 18, 2),
                field("Probability", "percent", 3, 0),
                field("Weird", "double", 0, 0),
                field("CloseDate", "date", 0, 0),
                field("IsWon", "boolean", 0, 0),
                field("NumberOfEmployees", "int", 0, 0),
                field("BillingAddress", "address", 0, 0),
                field("BillingLatitude", "double", 18, 15),
                field("Photo", "base64", 0, 0),
                field("SystemModstamp", "datetime", 0, 0),
                field("IsDeleted", "boolean", 0, 0),
            ],
        };
        let s = stream_schema(&d, None).unwrap();
        let ty = |n: &str| s.field_with_name(n).unwrap().data_type().clone();
        assert_eq!(ty("Id"), DataType::Utf8);
        assert!(!s.field_with_name("Id").unwrap().is_nullable());
        assert_eq!(ty("AccountId"), DataType::Utf8);
        assert_eq!(ty("Amount"), DataType::Decimal128(18, 2));
        assert_eq!(ty("Probability"), DataType::Decimal128(3, 0));
        assert_eq!(ty("Weird"), DataType::Float64);
        assert_eq!(ty("CloseDate"), DataType::Date32);
        assert_eq!(ty("IsWon"), DataType::Boolean);
        assert_eq!(ty("NumberOfEmployees"), DataType::Int64);
        assert_eq!(ty("BillingLatitude"), DataType::Decimal128(18, 15));
        assert_eq!(
            ty("SystemModstamp"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert!(s.field_with_name("BillingAddress").is_err());
        assert!(s.field_with_name("Photo").is_err());

        let narrowed = stream_schema(&d, Some(&["amount".into()])).unwrap();
        let names: Vec<&str> = narrowed
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["Id", "Amount", "SystemModstamp", "IsDeleted"]);
        let e = stream_schema(&d, Some(&["Nope__c".into()])).unwrap_err();
        assert!(e.contains("Nope__c"), "{e}");
    }
}
