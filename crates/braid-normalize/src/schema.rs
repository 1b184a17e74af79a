//! The canonical Arrow schema of the unified layer (documented column by
//! column in `docs/schema.md`).

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Version of the canonical schema; written into every unified file's
/// metadata under [`SCHEMA_VERSION_KEY`]. Bump it on an incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// Parquet/Arrow metadata key holding [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_KEY: &str = "braid.schema_version";

/// Money: 38 digits, 9 after the point (what the HubSpot connector lands).
pub const MONEY: DataType = DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE);
/// Precision of [`MONEY`].
pub const MONEY_PRECISION: u8 = 38;
/// Scale of [`MONEY`].
pub const MONEY_SCALE: i8 = 9;

/// A UTC timestamp in microseconds.
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A canonical table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per source customer/contact/member record.
    Customers,
    /// E-commerce and POS orders, CRM deals; `items` lists the lines.
    Orders,
    /// Marketing interactions of a person (clicks, form fills, messages).
    Touchpoints,
    /// Daily performance per ad campaign.
    AdPerformance,
    /// Identity edges: which identifier joined which record to which braid_id.
    IdentityLinks,
}

impl Table {
    /// Every table, in documentation order.
    pub const ALL: [Table; 5] = [
        Table::Customers,
        Table::Orders,
        Table::Touchpoints,
        Table::AdPerformance,
        Table::IdentityLinks,
    ];

    /// Tables a mapping can fill (identity_links is written by the identity stage).
    pub const MAPPABLE: [Table; 4] = [
        Table::Customers,
        Table::Orders,
        Table::Touchpoints,
        Table::AdPerformance,
    ];

    /// The directory name under `unified/`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Orders => "orders",
            Table::Touchpoints => "touchpoints",
            Table::AdPerformance => "ad_performance",
            Table::IdentityLinks => "identity_links",
        }
    }

    /// The table's Arrow schema (shared, built once).
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<Vec<SchemaRef>> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| Table::ALL.iter().map(|t| Arc::new(build(*t))).collect());
        all[Table::ALL.iter().position(|t| *t == self).unwrap_or(0)].clone()
    }

    /// Whether the table has `column`.
    pub fn has_column(self, column: &str) -> bool {
        self.schema().field_with_name(column).is_ok()
    }

    /// The columns a mapping may set (everything but the lineage and
    /// identity columns the stage fills itself).
    pub fn mappable_columns(self) -> Vec<String> {
        self.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| !STAGE_COLUMNS.contains(&n.as_str()))
            .collect()
    }
}

/// Columns the unified stage fills, not a mapping.
pub const STAGE_COLUMNS: &[&str] = &["source", "ingested_at", "braid_id", "extra"];

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Table {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Table::ALL
            .iter()
            .find(|t| t.name() == s)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = Table::MAPPABLE.iter().map(|t| t.name()).collect();
                format!("unknown table {s:?}, expected one of {}", names.join(", "))
            })
    }
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// The struct of one order line in `orders.items`.
pub fn item_fields() -> Fields {
    Fields::from(vec![
        utf8("sku"),
        utf8("name"),
        Field::new("quantity", MONEY, true),
        Field::new("unit_price", MONEY, true),
        Field::new("amount", MONEY, true),
    ])
}

fn build(table: Table) -> Schema {
    let mut fields = vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("source_id", DataType::Utf8, false),
        Field::new("ingested_at", timestamp(), false),
        utf8("braid_id"),
    ];
    let ts = |n: &str| Field::new(n, timestamp(), true);
    match table {
        Table::Customers => fields.extend([
            utf8("source_stream"),
            utf8("email"),
            utf8("phone"),
            utf8("first_name"),
            utf8("last_name"),
            utf8("full_name"),
            Field::new("birth_date", DataType::Date32, true),
            utf8("address"),
            utf8("city"),
            utf8("postcode"),
            utf8("country"),
            utf8("wechat_unionid"),
            utf8("loyalty_id"),
            utf8("customer_id"),
            ts("created_at"),
            ts("updated_at"),
            utf8("source_tz"),
            utf8("extra"),
        ]),
        Table::Orders => fields.extend([
            utf8("source_stream"),
            utf8("customer_id"),
            utf8("email"),
            utf8("phone"),
            utf8("wechat_unionid"),
            utf8("loyalty_id"),
            utf8("channel"),
            utf8("store_id"),
            utf8("status"),
            Field::new("amount", MONEY, true),
            utf8("currency"),
            ts("ordered_at"),
            ts("updated_at"),
            utf8("source_tz"),
            Field::new(
                "items",
                DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Struct(item_fields()),
                    true,
                ))),
                true,
            ),
            utf8("extra"),
        ]),
        Table::Touchpoints => fields.extend([
            utf8("source_stream"),
            ts("occurred_at"),
            utf8("source_tz"),
            utf8("channel"),
            utf8("event"),
            utf8("campaign"),
            utf8("utm_source"),
            utf8("utm_medium"),
            utf8("utm_campaign"),
            utf8("utm_content"),
            utf8("click_id"),
            utf8("email"),
            utf8("phone"),
            utf8("wechat_unionid"),
            utf8("device_id"),
            utf8("customer_id"),
            utf8("extra"),
        ]),
        Table::AdPerformance => fields.extend([
            utf8("source_stream"),
            Field::new("date", DataType::Date32, true),
            utf8("platform"),
            utf8("account_id"),
            utf8("campaign_id"),
            utf8("campaign_name"),
            Field::new("impressions", DataType::Int64, true),
            Field::new("clicks", DataType::Int64, true),
            Field::new("conversions", DataType::Int64, true),
            Field::new("spend", MONEY, true),
            utf8("currency"),
            utf8("extra"),
        ]),
        Table::IdentityLinks => {
            // source_id here is the linked record's id in its source.
            fields.extend([
                utf8("record_table"),
                utf8("id_type"),
                utf8("id_value"),
                ts("first_seen"),
                ts("last_seen"),
                utf8("status"),
                utf8("retired_braid_id"),
            ])
        }
    }
    let metadata = [(SCHEMA_VERSION_KEY.to_owned(), SCHEMA_VERSION.to_string())]
        .into_iter()
        .collect();
    Schema::new_with_metadata(fields, metadata)
}

/// The schema of `quarantine/<table>/` files.
pub fn quarantine_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, false),
            utf8("source_stream"),
            utf8("source_id"),
            Field::new("action", DataType::Utf8, false),
            utf8("column"),
            Field::new("reason", DataType::Utf8, false),
            utf8("record"),
            utf8("raw_file"),
            Field::new("quarantined_at", timestamp(), false),
        ]))
    })
    .clone()
}

/// The schema of `marts/customer_360/` files.
pub fn customer_360_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let list = |n: &str| {
            Field::new(
                n,
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            )
        };
        let revenue = Field::new(
            "revenue",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(Fields::from(vec![
                    utf8("currency"),
                    Field::new("orders", DataType::Int64, false),
                    Field::new("amount", MONEY, true),
                ])),
                true,
            ))),
            true,
        );
        let last_touch = Field::new(
            "last_touchpoints",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(Fields::from(vec![
                    utf8("channel"),
                    Field::new("occurred_at", timestamp(), true),
                    utf8("campaign"),
                    utf8("source"),
                ])),
                true,
            ))),
            true,
        );
        Arc::new(Schema::new_with_metadata(
            vec![
                Field::new("braid_id", DataType::Utf8, false),
                utf8("name"),
                list("emails"),
                list("phones"),
                list("sources"),
                Field::new("records", DataType::Int64, false),
                Field::new("first_seen", timestamp(), true),
                Field::new("last_seen", timestamp(), true),
                Field::new("order_count", DataType::Int64, false),
                revenue,
                last_touch,
            ],
            [(SCHEMA_VERSION_KEY.to_owned(), SCHEMA_VERSION.to_string())]
                .into_iter()
                .collect(),
        ))
    })
    .clone()
}
