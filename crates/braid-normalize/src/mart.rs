//! `marts/customer_360`: one row per braid_id.

use std::collections::HashMap;
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

/// One person's aggregates. Small `Vec`s rather than sets and maps: a
/// person has a handful of emails, sources and channels, and most people
/// have one of each (a `BTreeSet` of one element costs a whole node).
#[derive(Default)]
struct Person {
    name: Option<(i64, String)>,
    emails: Vec<String>,
    phones: Vec<String>,
    /// Indexes into the mart's source names.
    sources: Vec<u32>,
    /// Hashes of the `source/stream/source_id` keys (distinct records).
    records: Vec<u64>,
    first: Option<i64>,
    last: Option<i64>,
    orders: i64,
    /// Currency, orders counted, amount.
    revenue: Vec<(String, i64, i128)>,
    /// Channel, last time, campaign, source index.
    touch: Vec<(String, i64, Option<String>, u32)>,
}

fn insert_sorted<T: Ord>(v: &mut Vec<T>, x: T) {
    if let Err(at) = v.binary_search(&x) {
        v.insert(at, x);
    }
}

fn record_hash(source: &str, stream: &str, id: &str) -> u64 {
    use std::hash::Hasher;
    // Fixed keys: the same record hashes alike in every table.
    let mut h = std::hash::DefaultHasher::new();
    for part in [source, stream, id] {
        h.write(part.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
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
    let mut people = People::default();
    for table in ["customers", "orders", "touchpoints"] {
        for path in parquet_files(&draft.dir.join("unified").join(table))? {
            for b in read_parquet(&path)? {
                add(&mut people, table, &b);
            }
        }
    }
    let mut ids: Vec<(&str, u32)> = people.index.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    ids.sort_unstable();
    let schema = customer_360_schema();
    let batch = to_batch(&ids, &people, &schema)?;
    let version = &draft.manifest.version;
    let path = draft.path(&format!("marts/customer_360/part-{version}.parquet"))?;
    write_parquet(&path, &schema, &[batch])?;
    Ok(ids.len() as u64)
}

/// Everyone seen so far, by braid_id.
#[derive(Default)]
struct People {
    index: HashMap<String, u32>,
    all: Vec<Person>,
    sources: Vec<String>,
}

impl People {
    fn get(&mut self, bid: &str) -> &mut Person {
        let next = self.all.len() as u32;
        let i = match self.index.get(bid) {
            Some(i) => *i,
            None => {
                self.index.insert(bid.to_owned(), next);
                self.all.push(Person::default());
                next
            }
        };
        &mut self.all[i as usize]
    }

    fn source(&mut self, name: &str) -> u32 {
        match self.sources.iter().position(|s| s == name) {
            Some(i) => i as u32,
            None => {
                self.sources.push(name.to_owned());
                (self.sources.len() - 1) as u32
            }
        }
    }
}

/// Row `i` of `a`, or "" when null or absent.
fn str_at(a: Option<&arrow_array::StringArray>, i: usize) -> &str {
    a.filter(|a| a.is_valid(i)).map_or("", |a| a.value(i))
}

fn add(people: &mut People, table: &str, b: &RecordBatch) {
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
        let src_name = str_at(source, i);
        let src = people.source(src_name);
        let p = people.get(bid.value(i));
        insert_sorted(
            &mut p.records,
            record_hash(src_name, str_at(stream, i), str_at(sid, i)),
        );
        insert_sorted(&mut p.sources, src);
        if let Some(e) = v(email, i) {
            insert_sorted(&mut p.emails, e);
        }
        if let Some(ph) = v(phone, i) {
            insert_sorted(&mut p.phones, ph);
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
                    match p.revenue.binary_search_by(|r| r.0.cmp(&c)) {
                        Ok(k) => {
                            p.revenue[k].1 += 1;
                            p.revenue[k].2 += a.value(i);
                        }
                        Err(k) => p.revenue.insert(k, (c, 1, a.value(i))),
                    }
                }
            }
        }
        if table == "touchpoints" {
            let ch = v(channel, i).unwrap_or_else(|| "unknown".into());
            let at = occurred
                .filter(|o| o.is_valid(i))
                .map(|o| o.value(i))
                .unwrap_or(i64::MIN);
            match p.touch.binary_search_by(|t| t.0.cmp(&ch)) {
                Ok(k) if at >= p.touch[k].1 => p.touch[k] = (ch, at, v(campaign, i), src),
                Ok(_) => {}
                Err(k) => p.touch.insert(k, (ch, at, v(campaign, i), src)),
            }
        }
    }
}

fn to_batch(
    ids: &[(&str, u32)],
    people: &People,
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
    // Source names in name order, as the sets of strings gave them.
    let mut by_name: Vec<u32> = (0..people.sources.len() as u32).collect();
    by_name.sort_by(|a, b| people.sources[*a as usize].cmp(&people.sources[*b as usize]));
    let mut rank = vec![0u32; by_name.len()];
    for (r, s) in by_name.iter().enumerate() {
        rank[*s as usize] = r as u32;
    }
    for (id, k) in ids {
        let p = &people.all[*k as usize];
        braid.append_value(id);
        name.append_option(p.name.as_ref().map(|(_, n)| n.as_str()));
        for (b, set) in [(&mut emails, &p.emails), (&mut phones, &p.phones)] {
            for s in set {
                b.values().append_value(s);
            }
            b.append(true);
        }
        let mut srcs: Vec<u32> = p.sources.clone();
        srcs.sort_by_key(|s| rank[*s as usize]);
        for s in srcs {
            sources.values().append_value(&people.sources[s as usize]);
        }
        sources.append(true);
        records.append_value(p.records.len() as i64);
        first.append_option(p.first);
        last.append_option(p.last);
        orders.append_value(p.orders);
        for (cur, n, amt) in &p.revenue {
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
        for (ch, at, camp, src) in &p.touch {
            let s = touches.values();
            if let Some(f) = s.field_builder::<StringBuilder>(0) {
                f.append_value(ch);
            }
            if let Some(f) = s.field_builder::<TimestampMicrosecondBuilder>(1) {
                f.append_option((*at != i64::MIN).then_some(*at));
            }
            if let Some(f) = s.field_builder::<StringBuilder>(2) {
                f.append_option(camp.as_deref());
            }
            if let Some(f) = s.field_builder::<StringBuilder>(3) {
                f.append_value(&people.sources[*src as usize]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        Decimal128Array, ListArray, StringArray, StructArray, TimestampMicrosecondArray,
    };
    use arrow_schema::{Field, Schema};

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = cols
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            cols.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }
    fn s(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }
    fn ts(v: &[i64]) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(v.to_vec()).with_timezone("UTC"))
    }
    fn strings(a: &ListArray, i: usize) -> Vec<String> {
        let v = a.value(i);
        v.as_string::<i32>()
            .iter()
            .map(|s| s.unwrap().to_owned())
            .collect()
    }

    #[test]
    fn one_row_per_person_with_names_sets_revenue_and_last_touch() {
        let mut people = People::default();
        let customers = batch(vec![
            ("braid_id", s(&[Some("b1"), Some("b1"), Some("b2"), None])),
            (
                "source",
                s(&[Some("shop"), Some("crm"), Some("shop"), Some("shop")]),
            ),
            (
                "source_stream",
                s(&[
                    Some("customers"),
                    Some("contacts"),
                    Some("customers"),
                    Some("customers"),
                ]),
            ),
            (
                "source_id",
                s(&[Some("1"), Some("9"), Some("2"), Some("3")]),
            ),
            (
                "email",
                s(&[Some("b@x.com"), Some("a@x.com"), None, Some("z@x.com")]),
            ),
            ("phone", s(&[None, Some("+8613900000000"), None, None])),
            (
                "full_name",
                s(&[Some("Old Name"), Some("New Name"), Some("Bo"), None]),
            ),
            ("updated_at", ts(&[10, 20, 5, 1])),
        ]);
        add(&mut people, "customers", &customers);
        // The same shop record again (another file) counts once.
        add(&mut people, "customers", &customers.slice(0, 1));
        let money = |v: &[i128]| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v.to_vec())
                    .with_precision_and_scale(38, 9)
                    .unwrap(),
            )
        };
        let orders = batch(vec![
            (
                "braid_id",
                s(&[Some("b1"), Some("b1"), Some("b1"), Some("b1")]),
            ),
            ("source", s(&[Some("shop"); 4])),
            ("source_stream", s(&[Some("orders"); 4])),
            (
                "source_id",
                s(&[Some("o1"), Some("o2"), Some("o3"), Some("o4")]),
            ),
            (
                "amount",
                money(&[1_500_000_000, 2_000_000_000, 7_000_000_000, 3_000_000_000]),
            ),
            (
                "currency",
                s(&[Some("USD"), Some("USD"), Some("USD"), Some("CNY")]),
            ),
            (
                "status",
                s(&[Some("paid"), Some("paid"), Some("Refunded"), Some("paid")]),
            ),
            ("ordered_at", ts(&[30, 40, 50, 60])),
        ]);
        add(&mut people, "orders", &orders);
        let touches = batch(vec![
            ("braid_id", s(&[Some("b1"), Some("b1"), Some("b1")])),
            ("source", s(&[Some("ads"); 3])),
            ("source_stream", s(&[Some("clicks"); 3])),
            ("source_id", s(&[Some("k1"), Some("k2"), Some("k3")])),
            (
                "channel",
                s(&[Some("paid_search"), Some("paid_search"), Some("social")]),
            ),
            ("campaign", s(&[Some("late"), Some("early"), None])),
            ("occurred_at", ts(&[80, 70, 75])),
        ]);
        add(&mut people, "touchpoints", &touches);

        let mut ids: Vec<(&str, u32)> =
            people.index.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        ids.sort_unstable();
        let schema = customer_360_schema();
        let b = to_batch(&ids, &people, &schema).unwrap();
        assert_eq!(b.num_rows(), 2, "the row without a braid_id is left out");
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let braid = col("braid_id");
        assert_eq!(braid.as_string::<i32>().value(0), "b1");
        assert_eq!(
            col("name").as_string::<i32>().value(0),
            "New Name",
            "latest update wins"
        );
        assert_eq!(col("name").as_string::<i32>().value(1), "Bo");
        let emails = col("emails");
        assert_eq!(strings(emails.as_list::<i32>(), 0), ["a@x.com", "b@x.com"]);
        assert_eq!(
            strings(col("phones").as_list::<i32>(), 0),
            ["+8613900000000"]
        );
        assert_eq!(
            strings(col("sources").as_list::<i32>(), 0),
            ["ads", "crm", "shop"]
        );
        let records = col("records");
        let records = records.as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!((records.value(0), records.value(1)), (9, 1));
        let orders = col("order_count");
        assert_eq!(
            orders
                .as_primitive::<arrow_array::types::Int64Type>()
                .value(0),
            4
        );
        let first = col("first_seen");
        let first = first.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        let last = col("last_seen");
        let last = last.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        assert_eq!((first.value(0), last.value(0)), (10, 80));
        // Revenue per currency, the refunded order left out.
        let revenue = col("revenue");
        let r = revenue.as_list::<i32>().value(0);
        let r: &StructArray = r.as_struct();
        assert_eq!(r.len(), 2);
        let cur = r.column(0).as_string::<i32>();
        let n = r.column(1).as_primitive::<arrow_array::types::Int64Type>();
        let amt = r.column(2).as_primitive::<Decimal128Type>();
        assert_eq!(
            (cur.value(0), n.value(0), amt.value(0)),
            ("CNY", 1, 3_000_000_000)
        );
        assert_eq!(
            (cur.value(1), n.value(1), amt.value(1)),
            ("USD", 2, 3_500_000_000)
        );
        // The last touchpoint of each channel.
        let touch = col("last_touchpoints");
        let t = touch.as_list::<i32>().value(0);
        let t: &StructArray = t.as_struct();
        assert_eq!(t.len(), 2);
        let ch = t.column(0).as_string::<i32>();
        let at = t
            .column(1)
            .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        let camp = t.column(2).as_string::<i32>();
        let src = t.column(3).as_string::<i32>();
        assert_eq!(
            (ch.value(0), at.value(0), camp.value(0), src.value(0)),
            ("paid_search", 80, "late", "ads")
        );
        assert_eq!(
            (ch.value(1), at.value(1), camp.is_null(1)),
            ("social", 75, true)
        );
        assert_eq!(
            strings(col("emails").as_list::<i32>(), 1),
            Vec::<String>::new()
        );
    }
}
