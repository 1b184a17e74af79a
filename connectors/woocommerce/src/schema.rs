//! Arrow schemas of the streams.
//!
//! WooCommerce sends ids as JSON integers (WordPress post and user ids,
//! kept as `Int64`, nested ones too), money as decimal strings in the store
//! currency (`"19.99"`; the number of decimals is a store setting, and a
//! line item's `price` is a JSON number), decoded straight to
//! `Decimal128(38, 6)` beside the order's `currency`, and every time twice:
//! in the site's zone without an offset (`date_modified`) and in UTC
//! without an offset (`date_modified_gmt`). Only the `_gmt` renderings are
//! landed, as `Timestamp(µs, UTC)`: the site's zone is not in the record, so
//! the local ones name no instant. Nested objects stay structs, lists of
//! objects lists of structs; fields WooCommerce (or a plugin) adds are
//! skipped, and so is `meta_data`, whose values are free-form JSON.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Type of every money amount: six decimals hold every store setting and a
/// line's float `price` to a millionth.
pub const MONEY: DataType = DataType::Decimal128(38, 6);

/// The cursor field of every stream.
pub const CURSOR: &str = "date_modified_gmt";

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

fn id_list(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
        true,
    )
}

/// A billing (with email) or shipping address.
fn address(name: &str, with_email: bool) -> Field {
    let mut f = vec![
        s("first_name"),
        s("last_name"),
        s("company"),
        s("address_1"),
        s("address_2"),
        s("city"),
        s("state"),
        s("postcode"),
        s("country"),
    ];
    if with_email {
        f.push(s("email"));
    }
    f.push(s("phone"));
    st(name, f)
}

/// `customers`. `date_modified_gmt` may be null (a customer never edited
/// since registering).
pub fn customers() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        s("email"),
        s("first_name"),
        s("last_name"),
        s("role"),
        s("username"),
        address("billing", true),
        address("shipping", false),
        b("is_paying_customer"),
        s("avatar_url"),
        t("date_created_gmt"),
        t(CURSOR),
    ]))
}

/// One line item of an order.
pub fn line_item_fields() -> Vec<Field> {
    vec![
        i("id"),
        s("name"),
        i("product_id"),
        i("variation_id"),
        i("quantity"),
        s("tax_class"),
        m("subtotal"),
        m("subtotal_tax"),
        m("total"),
        m("total_tax"),
        s("sku"),
        m("price"),
        s("parent_name"),
        list("taxes", vec![i("id"), m("total"), m("subtotal")]),
    ]
}

/// `orders`.
pub fn orders() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        i("parent_id"),
        s("number"),
        s("order_key"),
        s("created_via"),
        s("version"),
        s("status"),
        s("currency"),
        b("prices_include_tax"),
        m("discount_total"),
        m("discount_tax"),
        m("shipping_total"),
        m("shipping_tax"),
        m("cart_tax"),
        m("total"),
        m("total_tax"),
        i("customer_id"),
        s("customer_note"),
        address("billing", true),
        address("shipping", false),
        s("payment_method"),
        s("payment_method_title"),
        s("transaction_id"),
        s("cart_hash"),
        list("line_items", line_item_fields()),
        list(
            "tax_lines",
            vec![
                i("id"),
                s("rate_code"),
                i("rate_id"),
                s("label"),
                b("compound"),
                m("tax_total"),
                m("shipping_tax_total"),
            ],
        ),
        list(
            "shipping_lines",
            vec![
                i("id"),
                s("method_title"),
                s("method_id"),
                m("total"),
                m("total_tax"),
            ],
        ),
        list(
            "fee_lines",
            vec![
                i("id"),
                s("name"),
                s("tax_class"),
                s("tax_status"),
                m("total"),
                m("total_tax"),
            ],
        ),
        list(
            "coupon_lines",
            vec![i("id"), s("code"), m("discount"), m("discount_tax")],
        ),
        list("refunds", vec![i("id"), s("reason"), m("total")]),
        t("date_created_gmt"),
        Field::new(CURSOR, ts(), false),
        t("date_paid_gmt"),
        t("date_completed_gmt"),
    ]))
}

/// `products` (variations are ids; their details are another endpoint).
pub fn products() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        s("name"),
        s("slug"),
        s("permalink"),
        s("type"),
        s("status"),
        b("featured"),
        s("catalog_visibility"),
        s("description"),
        s("short_description"),
        s("sku"),
        m("price"),
        m("regular_price"),
        m("sale_price"),
        b("on_sale"),
        b("purchasable"),
        i("total_sales"),
        b("manage_stock"),
        i("stock_quantity"),
        s("stock_status"),
        list("categories", vec![i("id"), s("name"), s("slug")]),
        list("tags", vec![i("id"), s("name"), s("slug")]),
        id_list("variations"),
        t("date_created_gmt"),
        Field::new(CURSOR, ts(), false),
    ]))
}
