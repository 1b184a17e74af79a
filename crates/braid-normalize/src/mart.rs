//! `marts/customer_360`: one row per braid_id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{
    Decimal128Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Fields};

use crate::error::UnifyError;
use crate::io::{parquet_files, read_parquet, write_parquet};
use crate::layer::Draft;
use crate::schema::customer_360_schema;
use crate::unify::{str_col, ts_col};

/// Order statuses that do not count toward revenue.
pub const NON_REVENUE_STATUSES: &[&str] = &[
    "void",
    "voided",
    "cancelled",
    "canceled",
    "refunded",
    "closedlost",
    "failed",
];

#[derive(Default)]
struct Person {
    name: Option<(i64, String)>,
    emails: BTreeSet<String>,
    phones: BTreeSet<String>,
    sources: BTreeSet<String>,
    records: BTreeSet<String>,
    first: Option<i64>,
    last: Option<i64>,
    orders: i64,
    revenue: BTreeMap<String, (i64, i128)>,
    touch: BTreeMap<String, (i64, Option<String>, String)>,
}

impl Person {
    fn seen(&mut self, t: Option<i64>) {
        if let Some(t) = t {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }
}

/// Builds `marts/customer_360` from the draft's unified tables; returns the
/// number of people.
pub fn build(draft: &Draft) -> Result<u64, UnifyError> {
    let mut people: HashMap<String, Person> = HashMap::new();
    for table in ["customers", "orders", "touchpoints"] {
        for path in parquet_files(&draft.dir.join("unified").join(table))? {
            for b in read_parquet(&path)? {
                add(&mut people, table, &b);
            }
        }
    }
    let mut ids: Vec<&String> = people.keys().collect();
    ids.sort();
    let schema = customer_360_schema();
    let batch = to_batch(&ids, &people, &schema)?;
    let version = &draft.manifest.version;
    let path = draft.path(&format!("marts/customer_360/part-{version}.parquet"))?;
    write_parquet(&path, &schema, &[batch])?;
    Ok(ids.len() as u64)
}

fn add(people: &mut HashMap<String, Person>, table: &str, b: &RecordBatch) {
    let Some(bid) = str_col(b, "braid_id") else {
        return;
    };
    let col = |n: &str| str_col(b, n);
    let (source, sid, stream) = (col("source"), col("source_id"), col("source_stream"));
    let (email, phone) = (col("email"), col("phone"));
    let name = col("full_name");
    let (first_n, last_n) = (col("first_name"), col("last_name"));
    let times: Vec<_> = ["created_at", "updated_at", "ordered_at", "occurred_at"]
        .iter()
        .filter_map(|c| ts_col(b, c))
        .collect();
    let updated = ts_col(b, "updated_at").or_else(|| ts_col(b, "ingested_at"));
    let amount = b
        .column_by_name("amount")
        .and_then(|a| a.as_primitive_opt::<Decimal128Type>());
    let (currency, status) = (col("currency"), col("status"));
    let (channel, campaign, occurred) = (
        col("channel"),
        col("campaign").or(col("utm_campaign")),
        ts_col(b, "occurred_at"),
    );
    let v = |a: Option<&arrow_array::StringArray>, i: usize| {
        a.filter(|a| a.is_valid(i)).map(|a| a.value(i).to_owned())
    };
    for i in 0..b.num_rows() {
        if bid.is_null(i) {
            continue;
        }
        let p = people.entry(bid.value(i).to_owned()).or_default();
        let src = v(source, i).unwrap_or_default();
        p.records.insert(format!(
            "{src}/{}/{}",
            v(stream, i).unwrap_or_default(),
            v(sid, i).unwrap_or_default()
        ));
        p.sources.insert(src.clone());
        if let Some(e) = v(email, i) {
            p.emails.insert(e);
        }
        if let Some(ph) = v(phone, i) {
            p.phones.insert(ph);
        }
        for t in &times {
            p.seen(t.is_valid(i).then(|| t.value(i)));
        }
        if table == "customers" {
            let full = v(name, i).or_else(|| {
                let s = format!(
                    "{} {}",
                    v(first_n, i).unwrap_or_default(),
                    v(last_n, i).unwrap_or_default()
                );
                let s = s.trim().to_owned();
                (!s.is_empty()).then_some(s)
            });
            if let Some(n) = full {
                let at = updated
                    .filter(|u| u.is_valid(i))
                    .map(|u| u.value(i))
                    .unwrap_or(0);
                if p.name.as_ref().is_none_or(|(t, _)| at >= *t) {
                    p.name = Some((at, n));
                }
            }
        }
        if table == "orders" {
            p.orders += 1;
            let st = v(status, i).unwrap_or_default().to_lowercase();
            if let (Some(a), Some(c)) = (amount.filter(|a| a.is_valid(i)), v(currency, i)) {
                if !NON_REVENUE_STATUSES.contains(&st.as_str()) {
                    let e = p.revenue.entry(c).or_default();
                    e.0 += 1;
                    e.1 += a.value(i);
                }
            }
        }
        if table == "touchpoints" {
            let ch = v(channel, i).unwrap_or_else(|| "unknown".into());
            let at = occurred
                .filter(|o| o.is_valid(i))
                .map(|o| o.value(i))
                .unwrap_or(i64::MIN);
            if p.touch.get(&ch).is_none_or(|(t, _, _)| at >= *t) {
                p.touch.insert(ch, (at, v(campaign, i), src.clone()));
            }
        }
    }
}

fn to_batch(
    ids: &[&String],
    people: &HashMap<String, Person>,
    schema: &arrow_schema::SchemaRef,
) -> Result<RecordBatch, UnifyError> {
    let mut braid = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut emails = ListBuilder::new(StringBuilder::new());
    let mut phones = ListBuilder::new(StringBuilder::new());
    let mut sources = ListBuilder::new(StringBuilder::new());
    let mut records = Int64Builder::new();
    let mut first = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut last = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut orders = Int64Builder::new();
    let field_of = |n: &str| -> Fields {
        match schema.field_with_name(n).map(|f| f.data_type().clone()) {
            Ok(DataType::List(item)) => match item.data_type() {
                DataType::Struct(f) => f.clone(),
                _ => Fields::empty(),
            },
            _ => Fields::empty(),
        }
    };
    let rev_fields = field_of("revenue");
    let touch_fields = field_of("last_touchpoints");
    let mut revenue = ListBuilder::new(StructBuilder::from_fields(rev_fields.clone(), ids.len()))
        .with_field(Arc::new(arrow_schema::Field::new(
            "item",
            DataType::Struct(rev_fields),
            true,
        )));
    let mut touches = ListBuilder::new(StructBuilder::from_fields(touch_fields.clone(), ids.len()))
        .with_field(Arc::new(arrow_schema::Field::new(
            "item",
            DataType::Struct(touch_fields),
            true,
        )));
    for id in ids {
        let p = &people[*id];
        braid.append_value(id);
        name.append_option(p.name.as_ref().map(|(_, n)| n.clone()));
        for (b, set) in [
            (&mut emails, &p.emails),
            (&mut phones, &p.phones),
            (&mut sources, &p.sources),
        ] {
            for s in set {
                b.values().append_value(s);
            }
            b.append(true);
        }
        records.append_value(p.records.len() as i64);
        first.append_option(p.first);
        last.append_option(p.last);
        orders.append_value(p.orders);
        for (cur, (n, amt)) in &p.revenue {
            let s = revenue.values();
            if let Some(f) = s.field_builder::<StringBuilder>(0) {
                f.append_value(cur);
            }
            if let Some(f) = s.field_builder::<Int64Builder>(1) {
                f.append_value(*n);
            }
            if let Some(f) = s.field_builder::<Decimal128Builder>(2) {
                f.append_value(*amt);
            }
            s.append(true);
        }
        revenue.append(true);
        for (ch, (at, camp, src)) in &p.touch {
            let s = touches.values();
            if let Some(f) = s.field_builder::<StringBuilder>(0) {
                f.append_value(ch);
            }
            if let Some(f) = s.field_builder::<TimestampMicrosecondBuilder>(1) {
                f.append_option((*at != i64::MIN).then_some(*at));
            }
            if let Some(f) = s.field_builder::<StringBuilder>(2) {
                f.append_option(camp.clone());
            }
            if let Some(f) = s.field_builder::<StringBuilder>(3) {
                f.append_value(src);
            }
            s.append(true);
        }
        touches.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(braid.finish()),
        Arc::new(name.finish()),
        Arc::new(emails.finish()),
        Arc::new(phones.finish()),
        Arc::new(sources.finish()),
        Arc::new(records.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(orders.finish()),
        Arc::new(revenue.finish()),
        Arc::new(touches.finish()),
    ];
    // Builders give default field metadata; cast into the declared schema.
    let cols = cols
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c)
            } else {
                arrow_cast::cast(&c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UnifyError::Corrupt(format!("customer_360: {e}")))?;
    RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| UnifyError::Corrupt(format!("customer_360: {e}")))
}
