//! Dotted column names in mappings (`customer.id`, `billing.email`): a
//! field inside a struct column of the raw file, so a mapping reads vendors'
//! nested objects without the connector flattening them.
//!
//! Before a mapping is applied, every dotted name it reads that is not a
//! column of the raw batch is looked up through the struct columns and
//! appended under that name (null where any struct on the way is null).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{Field, Schema};

/// `raw` with a column for every dotted name in `names` that resolves
/// through its struct columns (names that do not resolve stay absent, so
/// they read as null like any missing column).
pub fn with_nested(raw: &RecordBatch, names: &[String]) -> Result<RecordBatch, String> {
    let schema = raw.schema();
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    let mut columns = raw.columns().to_vec();
    for name in names {
        if !name.contains('.') || fields.iter().any(|f| f.name() == name) {
            continue;
        }
        if let Some(a) = lookup(raw, name)? {
            fields.push(Arc::new(Field::new(name, a.data_type().clone(), true)));
            columns.push(a);
        }
    }
    if columns.len() == raw.num_columns() {
        return Ok(raw.clone());
    }
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )
    .map_err(|e| e.to_string())
}

/// The field at `path` (`a.b.c`), with the nulls of every struct above it.
fn lookup(raw: &RecordBatch, path: &str) -> Result<Option<ArrayRef>, String> {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return Ok(None);
    };
    let Some(mut current) = raw.column_by_name(first).cloned() else {
        return Ok(None);
    };
    for part in parts {
        let Some(st) = current.as_struct_opt() else {
            return Ok(None);
        };
        let Some(child) = st.column_by_name(part).cloned() else {
            return Ok(None);
        };
        current = if st.null_count() == 0 {
            child
        } else {
            let parent_null: BooleanArray = (0..st.len()).map(|i| Some(st.is_null(i))).collect();
            arrow_select::nullif::nullif(&child, &parent_null)
                .map_err(|e| format!("`{path}`: {e}"))?
        };
    }
    Ok(Some(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray, StructArray};
    use arrow_schema::{DataType, Fields};

    #[test]
    fn dotted_names_reach_into_structs_and_keep_parent_nulls() {
        let fields = Fields::from(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("email", DataType::Utf8, true),
        ]);
        let customer = StructArray::new(
            fields.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3)])),
                Arc::new(StringArray::from(vec![
                    Some("a@x.org"),
                    None,
                    Some("c@x.org"),
                ])),
            ],
            Some(vec![true, true, false].into()),
        );
        let raw = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "customer",
                DataType::Struct(fields),
                true,
            )])),
            vec![Arc::new(customer)],
        )
        .unwrap();
        let names = vec![
            "customer.id".to_owned(),
            "customer.nope".to_owned(),
            "x.y".to_owned(),
        ];
        let out = with_nested(&raw, &names).unwrap();
        assert_eq!(out.num_columns(), 2);
        let ids = out.column_by_name("customer.id").unwrap();
        let ids = ids.as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(ids.iter().collect::<Vec<_>>(), vec![Some(1), Some(2), None]);
    }
}
