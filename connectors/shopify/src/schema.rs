//! Arrow schemas of the streams.
//!
//! Shopify sends ids as JSON integers (kept as `Int64`, including nested
//! ones), money as decimal strings in the shop's currency (`"19.99"`,
//! `"1500"` for yen; decoded straight to `Decimal128(38, 3)`, which holds
//! every ISO 4217 exponent exactly, beside the order's `currency`), and
//! timestamps in the shop's UTC offset (`2024-01-01T10:00:00-05:00`,
//! decoded to `Timestamp(µs, UTC)`). Nested objects stay structs, lists of
//! objects lists of structs; fields Shopify adds are skipped.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Type of every money amount.
pub const MONEY: DataType = DataType::Decimal128(38, 3);

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn i(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn t(name: &str) -> Field {
    Field::new(name, ts(), true)
}

fn b(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}

fn m(name: &str) -> Field {
    Field::new(name, MONEY, true)
}

fn st(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

fn list(name: &str, fields: Vec<Field>) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(Fields::from(fields)),
            true,
        ))),
        true,
    )
}

fn address_fields(with_ids: bool) -> Vec<Field> {
    let mut f = Vec::new();
    if with_ids {
        f.push(i("id"));
        f.push(i("customer_id"));
    }
    f.extend([
        s("first_name"),
        s("last_name"),
        s("name"),
        s("company"),
        s("address1"),
        s("address2"),
        s("city"),
        s("province"),
        s("province_code"),
        s("country"),
        s("country_code"),
        s("zip"),
        s("phone"),
    ]);
    if with_ids {
        f.push(b("default"));
    }
    f
}

/// `customers`.
pub fn customers() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        s("email"),
        s("phone"),
        s("first_name"),
        s("last_name"),
        s("state"),
        s("currency"),
        s("tags"),
        s("note"),
        b("verified_email"),
        b("tax_exempt"),
        st(
            "email_marketing_consent",
            vec![s("state"), s("opt_in_level"), t("consent_updated_at")],
        ),
        st("default_address", address_fields(true)),
        list("addresses", address_fields(true)),
        t("created_at"),
        Field::new("updated_at", ts(), false),
    ]))
}

/// One line item of an order.
pub fn line_item_fields() -> Vec<Field> {
    vec![
        i("id"),
        i("product_id"),
        i("variant_id"),
        s("title"),
        s("variant_title"),
        s("name"),
        s("sku"),
        s("vendor"),
        i("quantity"),
        m("price"),
        m("total_discount"),
        b("taxable"),
        b("requires_shipping"),
        s("fulfillment_status"),
        list(
            "tax_lines",
            vec![
                s("title"),
                m("price"),
                Field::new("rate", DataType::Float64, true),
            ],
        ),
    ]
}

/// `orders`.
pub fn orders() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        s("name"),
        i("order_number"),
        s("email"),
        s("phone"),
        s("currency"),
        s("presentment_currency"),
        m("total_price"),
        m("current_total_price"),
        m("subtotal_price"),
        m("total_line_items_price"),
        m("total_tax"),
        m("total_discounts"),
        b("taxes_included"),
        s("financial_status"),
        s("fulfillment_status"),
        s("source_name"),
        s("tags"),
        s("note"),
        b("test"),
        s("cancel_reason"),
        st(
            "customer",
            vec![
                i("id"),
                s("email"),
                s("first_name"),
                s("last_name"),
                s("phone"),
                s("state"),
            ],
        ),
        st("billing_address", address_fields(false)),
        list("line_items", line_item_fields()),
        list("shipping_lines", vec![s("title"), s("code"), m("price")]),
        t("created_at"),
        Field::new("updated_at", ts(), false),
        t("processed_at"),
        t("closed_at"),
        t("cancelled_at"),
    ]))
}

/// `products`.
pub fn products() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        s("title"),
        s("handle"),
        s("vendor"),
        s("product_type"),
        s("status"),
        s("tags"),
        s("body_html"),
        list(
            "variants",
            vec![
                i("id"),
                i("product_id"),
                s("title"),
                s("sku"),
                s("barcode"),
                i("position"),
                m("price"),
                m("compare_at_price"),
                i("inventory_quantity"),
                s("inventory_policy"),
                s("option1"),
                s("option2"),
                s("option3"),
                b("taxable"),
                t("created_at"),
                t("updated_at"),
            ],
        ),
        t("created_at"),
        Field::new("updated_at", ts(), false),
        t("published_at"),
    ]))
}
