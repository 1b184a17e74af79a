use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::convert::{convert, SourceContext};
use crate::expr::Expr;
use crate::io::{parquet_files, read_parquet, write_parquet};
use crate::mapping::{self, StreamMapping};
use crate::values;

#[test]
fn emails_are_trimmed_and_lower_cased() {
    assert_eq!(
        values::email("  Jun.Jones9@Example.COM ").unwrap(),
        "jun.jones9@example.com"
    );
    assert!(values::email("not-an-email").is_err());
    assert!(values::email("a@b").is_err());
}

#[test]
fn phones_become_e164_with_the_source_region() {
    assert_eq!(
        values::phone("+86 139 3028 4657", None).unwrap(),
        "+8613930284657"
    );
    assert_eq!(
        values::phone("13391773303", Some("CN")).unwrap(),
        "+8613391773303"
    );
    assert_eq!(
        values::phone("(415) 555-2671", Some("US")).unwrap(),
        "+14155552671"
    );
    assert_eq!(
        values::phone("0086 139 3028 4657", None).unwrap(),
        "+8613930284657"
    );
    // A country code wins over the source's region.
    assert_eq!(
        values::phone("+86 138 0888 3381", Some("US")).unwrap(),
        "+8613808883381"
    );
    assert_eq!(
        values::phone("+1 (800) 555-0100", Some("CN")).unwrap(),
        "+18005550100"
    );
    assert!(values::phone("13391773303", None)
        .unwrap_err()
        .contains("no default_region"));
    assert!(values::phone("hello", Some("US")).is_err());
}

#[test]
fn countries_currencies_money_and_times() {
    assert_eq!(values::country("us").unwrap(), "US");
    assert_eq!(values::country("中国").unwrap(), "CN");
    assert_eq!(values::country("Germany").unwrap(), "DE");
    assert!(values::country("Atlantis").is_err());
    assert_eq!(values::currency("rmb").unwrap(), "CNY");
    assert!(values::currency("dollars").is_err());
    assert_eq!(values::money("1,234.50").unwrap(), 1_234_500_000_000);
    assert_eq!(values::money("-3").unwrap(), -3_000_000_000);
    assert!(values::money("12abc").is_err());
    let sh: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    // 08:00 wall time in Shanghai is 00:00 UTC.
    assert_eq!(
        values::timestamp("2024-03-01 08:00:00", sh).unwrap(),
        values::timestamp("2024-03-01T00:00:00Z", sh).unwrap()
    );
    assert_eq!(
        values::timestamp("1709251200", sh).unwrap(),
        1_709_251_200_000_000
    );
    assert!(values::timestamp("yesterday", sh).is_err());
}

#[test]
fn expressions_parse_and_evaluate() {
    let e = Expr::parse("trim(concat(first, ' ', last)) || '!'").unwrap();
    assert_eq!(e.columns(), vec!["first", "last"]);
    let b = RecordBatch::try_from_iter([
        (
            "first",
            Arc::new(StringArray::from(vec![Some("Li"), None])) as ArrayRef,
        ),
        (
            "last",
            Arc::new(StringArray::from(vec![Some("Na"), Some("Wang")])) as ArrayRef,
        ),
    ])
    .unwrap();
    let out = e.eval(&b).unwrap();
    let out = out.as_string::<i32>();
    assert_eq!(out.value(0), "Li Na!");
    assert_eq!(out.value(1), "Wang!");
    assert!(Expr::parse("lower(a, b)").unwrap_err().contains("takes 1"));
    assert!(Expr::parse("frobnicate(a)")
        .unwrap_err()
        .contains("unknown function"));
    assert!(Expr::parse("'open").unwrap_err().contains("unterminated"));
}

#[test]
fn every_builtin_mapping_parses_and_compiles() {
    for (connector, text) in mapping::BUILTIN {
        let file: mapping::MappingFile =
            serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{connector}: {e}"));
        assert_eq!(&file.connector, connector);
        for s in &file.streams {
            s.compile()
                .unwrap_or_else(|p| panic!("{connector}/{}: {p:?}", s.stream));
        }
    }
}

#[test]
fn mapping_problems_name_the_value() {
    let m: StreamMapping = serde_json::from_value(serde_json::json!({
        "stream": "x", "table": "orders",
        "columns": {"source_id": "id", "emial": "e", "amount": {"from": "a", "cast": "money"}},
        "default_region": "XX"
    }))
    .unwrap();
    let problems = m.compile().unwrap_err();
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        vec!["/columns/amount/cast", "/columns/emial", "/default_region"],
        "{problems:?}"
    );
    assert!(problems[1].message.contains("did you mean \"email\""));
}

fn ts(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

fn pos_orders(
    ids: &[&str],
    phones: &[Option<&str>],
    emails: &[Option<&str>],
    amounts: &[&str],
    currencies: &[&str],
) -> RecordBatch {
    let n = ids.len();
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, true),
        Field::new("customer_phone", DataType::Utf8, true),
        Field::new("customer_email", DataType::Utf8, true),
        Field::new("amount", DataType::Utf8, true),
        Field::new("currency", DataType::Utf8, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("coupon", DataType::Utf8, true),
        Field::new(
            "_braid_ingested_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids.to_vec())),
            Arc::new(StringArray::from(phones.to_vec())),
            Arc::new(StringArray::from(emails.to_vec())),
            Arc::new(StringArray::from(amounts.to_vec())),
            Arc::new(StringArray::from(currencies.to_vec())),
            ts(vec![Some(1_709_251_200_000_000); n]),
            Arc::new(StringArray::from(vec![Some("SPRING"); n])),
            ts(vec![Some(1_709_251_200_000_000); n]),
        ],
    )
    .unwrap()
}

#[test]
fn convert_normalises_quarantines_and_keeps_new_fields() {
    let file: mapping::MappingFile = serde_saphyr::from_str(mapping::BUILTIN[1].1).unwrap();
    let m = file
        .streams
        .iter()
        .find(|s| s.stream == "orders")
        .unwrap()
        .compile()
        .unwrap();
    let raw = pos_orders(
        &["P1", "P2", "P3"],
        &[Some("139 3028 4657"), Some("nonsense"), None],
        &[Some(" A@Example.com"), None, None],
        &["10.50", "abc", "3"],
        &["cny", "USD", "USD"],
    );
    let cx = SourceContext {
        source: "store_pos".into(),
        timezone: chrono_tz::UTC,
        default_region: None,
    };
    let c = convert(&raw, &m, &cx).unwrap();
    // P2's amount is not a number: the record is withheld; its bad phone is also reported.
    assert_eq!(c.batch.num_rows(), 2);
    assert_eq!(c.withheld, vec![1]);
    let reasons: Vec<(&str, &str)> = c
        .quarantined
        .iter()
        .map(|q| (q.action, q.column.as_str()))
        .collect();
    assert_eq!(reasons, vec![("field", "phone"), ("record", "amount")]);
    let col = |n: &str| c.batch.column_by_name(n).unwrap().clone();
    assert_eq!(col("phone").as_string::<i32>().value(0), "+8613930284657");
    assert_eq!(col("email").as_string::<i32>().value(0), "a@example.com");
    assert_eq!(col("currency").as_string::<i32>().value(0), "CNY");
    assert_eq!(
        col("amount")
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap()
            .value(0),
        10_500_000_000
    );
    assert_eq!(
        col("source_tz").as_string::<i32>().value(0),
        "Asia/Shanghai"
    );
    // A column no mapping reads is carried in `extra`.
    assert_eq!(
        col("extra").as_string::<i32>().value(1),
        r#"{"coupon":"SPRING"}"#
    );
}

fn write_raw(root: &std::path::Path, run: &str, batch: &RecordBatch) {
    let dir = root.join("raw/store_pos/orders/ingest_date=2024-03-01");
    std::fs::create_dir_all(&dir).unwrap();
    write_parquet(
        &dir.join(format!("part-{run}-00000.parquet")),
        &batch.schema(),
        std::slice::from_ref(batch),
    )
    .unwrap();
}

fn pipeline(extra: &str) -> braid_pipeline::Pipeline {
    let yaml = format!("name: shop\nsources:\n  - name: store_pos\n    connector: files\n{extra}");
    braid_pipeline::parse(&yaml, "shop.yaml", &|_| None).unwrap()
}

fn braid_of(root: &std::path::Path, order: &str) -> Option<String> {
    for p in parquet_files(&root.join("unified/orders")).unwrap() {
        for b in read_parquet(&p).unwrap() {
            let ids = b
                .column_by_name("source_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let bid = b
                .column_by_name("braid_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            for i in 0..b.num_rows() {
                if ids.value(i) == order {
                    return bid.is_valid(i).then(|| bid.value(i).to_owned());
                }
            }
        }
    }
    None
}

#[test]
fn unify_is_incremental_keeps_braid_ids_and_forget_removes_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let p = pipeline("unify:\n  phone_regions: {store_pos: CN}\n");
    write_raw(
        root,
        "r1",
        &pos_orders(
            &["P1", "P2"],
            &[Some("13930284657"), Some("13100000001")],
            &[Some("a@x.com"), None],
            &["1", "2"],
            &["CNY", "CNY"],
        ),
    );
    let r1 = crate::unify(root, &p).unwrap();
    assert_eq!(r1.people, 2);
    let a = braid_of(root, "P1").unwrap();
    let b = braid_of(root, "P2").unwrap();
    assert_ne!(a, b);
    // P3 shares P1's email and P2's phone: the two people merge; the
    // surviving id is one of the existing ones and P1 keeps a stable id.
    write_raw(
        root,
        "r2",
        &pos_orders(
            &["P3"],
            &[Some("+86 131 0000 0001")],
            &[Some("A@X.com")],
            &["3"],
            &["CNY"],
        ),
    );
    let r2 = crate::unify(root, &p).unwrap();
    assert_eq!(r2.records_resolved, 1, "only the new record is resolved");
    assert_eq!(r2.people, 1);
    let merged = braid_of(root, "P3").unwrap();
    assert_eq!(braid_of(root, "P1").unwrap(), merged);
    assert_eq!(braid_of(root, "P2").unwrap(), merged);
    // The smaller existing id survives; the other is retired.
    assert_eq!(merged, a.clone().min(b.clone()));
    let explained = crate::explain(root, &a.max(b)).unwrap();
    assert_eq!(explained["braid_id"], merged.as_str());
    assert_eq!(explained["records"].as_array().unwrap().len(), 3);
    // Nothing new: nothing rebuilt, ids unchanged.
    let r3 = crate::unify(root, &p).unwrap();
    assert!(r3.sources.iter().all(|s| !s.rebuilt));
    assert_eq!(braid_of(root, "P1").unwrap(), merged);
    // Forget by email: gone from unified and the mart, erasure recorded, and
    // a rebuild from raw keeps the person out.
    let e = crate::forget(root, "a@x.com").unwrap();
    assert_eq!(e.braid_id, merged);
    assert_eq!(e.record_keys_sha256.len(), 3);
    assert_eq!(braid_of(root, "P1"), None);
    let mart = read_parquet(&parquet_files(&root.join("marts/customer_360")).unwrap()[0]).unwrap();
    assert_eq!(mart.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert_eq!(
        std::fs::read_dir(root.join("_braid/erasures"))
            .unwrap()
            .count(),
        1
    );
    write_raw(
        root,
        "r3",
        &pos_orders(&["P9"], &[Some("13999999999")], &[None], &["9"], &["CNY"]),
    );
    crate::unify(root, &p).unwrap();
    assert_eq!(braid_of(root, "P1"), None);
    assert!(braid_of(root, "P9").is_some());
}

#[test]
fn pipeline_overrides_are_validated_with_locations() {
    let yaml = "name: shop\nsources:\n  - name: store_pos\n    connector: files\nunify:\n  mappings:\n    - source: store_pos\n      stream: orders\n      table: orders\n      columns:\n        emial: customer_email\n";
    let p = braid_pipeline::parse(yaml, "shop.yaml", &|_| None).unwrap();
    let errs = crate::config::load(&p).unwrap_err().to_string();
    assert!(errs.starts_with("shop.yaml:11:16:"), "{errs}");
    assert!(errs.contains("did you mean \"email\""), "{errs}");
}

#[test]
fn type_change_policy_fail_stops_and_names_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let p = pipeline("unify:\n  type_changes: fail\n  phone_regions: {store_pos: CN}\n");
    write_raw(
        root,
        "r1",
        &pos_orders(&["P1"], &[None], &[Some("a@x.com")], &["1"], &["CNY"]),
    );
    crate::unify(root, &p).unwrap();
    // The same stream now sends amount as a decimal instead of text.
    let b = pos_orders(&["P2"], &[None], &[Some("b@x.com")], &["2"], &["CNY"]);
    let mut cols = b.columns().to_vec();
    cols[3] = Arc::new(
        Decimal128Array::from(vec![2_000_000_000i128])
            .with_precision_and_scale(38, 9)
            .unwrap(),
    );
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[3] = Field::new("amount", DataType::Decimal128(38, 9), true);
    let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    write_raw(root, "r2", &b);
    let err = crate::unify(root, &p).unwrap_err().to_string();
    assert!(
        err.contains("column amount") && err.contains("Utf8") && err.contains("Decimal128(38, 9)"),
        "{err}"
    );
}

#[test]
fn identity_section_is_validated_with_locations() {
    let yaml = "name: shop\nsources:\n  - name: store_pos\n    connector: files\nunify:\n  identity:\n    threshold: 6\n    types:\n      phnoe: {max_records_per_value: 5}\n";
    let p = braid_pipeline::parse(yaml, "shop.yaml", &|_| None).unwrap();
    let errs = crate::config::load(&p).unwrap_err().to_string();
    assert!(errs.contains("shop.yaml:9:"), "{errs}");
    assert!(errs.contains("unknown identifier type \"phnoe\""), "{errs}");
    assert!(errs.contains("shop.yaml:7:"), "{errs}");
    assert!(errs.contains("needs `probabilistic: true`"), "{errs}");
}

#[test]
fn identity_type_rules_come_from_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Three orders share one phone; a second phone joins only two of them.
    let orders = pos_orders(
        &["P1", "P2", "P3"],
        &[
            Some("13930284657"),
            Some("13930284657"),
            Some("13930284657"),
        ],
        &[Some("a@x.com"), Some("a@x.com"), Some("c@x.com")],
        &["1", "2", "3"],
        &["CNY", "CNY", "CNY"],
    );
    write_raw(root, "r1", &orders);
    let p = pipeline("unify:\n  phone_regions: {store_pos: CN}\n");
    let r = crate::unify(root, &p).unwrap();
    assert_eq!(r.people, 1, "the default limit (50) follows the phone");
    let one = braid_of(root, "P1").unwrap();
    // A limit of 2 records per phone: the phone is not followed, only the
    // shared email joins P1 and P2; the configuration change re-resolves
    // the whole graph and P1's part keeps its id.
    let p = pipeline(
        "unify:\n  phone_regions: {store_pos: CN}\n  identity:\n    types:\n      phone: {max_records_per_value: 2}\n",
    );
    let r = crate::unify(root, &p).unwrap();
    assert_eq!(r.identity.records_resolved, 3);
    assert_eq!(r.identity.not_followed, 1);
    assert_eq!(r.people, 2);
    assert_eq!(braid_of(root, "P1").unwrap(), one);
    assert_eq!(braid_of(root, "P2").unwrap(), one);
    assert_ne!(braid_of(root, "P3").unwrap(), one);
    let e = crate::explain(root, &one).unwrap();
    // One entry per record of the person holding the value.
    let held = e["not_followed"].as_array().unwrap();
    assert_eq!(held.len(), 2, "{e}");
    assert!(held
        .iter()
        .all(|h| h["identifier"] == "phone:+8613930284657" && h["records_holding_it"] == 3));
}

#[test]
fn a_graph_from_before_braid_identity_keeps_its_braid_ids() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let legacy = root.join("_braid/identity/graph.json");
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    std::fs::write(
        &legacy,
        serde_json::json!({
            "records": {
                "store_pos/orders/P1": ["store_pos", [["email", "a@x.com", 1_709_251_200_000_000i64]]],
                "store_pos/orders/P2": ["store_pos", [["email", "b@x.com", null]]],
            },
            "assigned": {"store_pos/orders/P1": "b_00000000000000aa", "store_pos/orders/P2": "b_00000000000000bb"},
            "retired": {"b_00000000000000a0": "b_00000000000000aa"},
            "capped": {},
        })
        .to_string(),
    )
    .unwrap();
    write_raw(
        root,
        "r1",
        &pos_orders(
            &["P1", "P2", "P3"],
            &[None, None, None],
            &[Some("a@x.com"), Some("b@x.com"), Some("c@x.com")],
            &["1", "2", "3"],
            &["CNY", "CNY", "CNY"],
        ),
    );
    let p = pipeline("unify:\n  phone_regions: {store_pos: CN}\n");
    let r = crate::unify(root, &p).unwrap();
    assert_eq!(r.people, 3);
    assert_eq!(braid_of(root, "P1").unwrap(), "b_00000000000000aa");
    assert_eq!(braid_of(root, "P2").unwrap(), "b_00000000000000bb");
    let p3 = braid_of(root, "P3").unwrap();
    assert!(p3.starts_with("b_") && p3.len() == 18, "{p3}");
    assert!(!legacy.exists(), "carried over, then removed");
    let e = crate::explain(root, "b_00000000000000a0").unwrap();
    assert_eq!(e["braid_id"], "b_00000000000000aa");
}
