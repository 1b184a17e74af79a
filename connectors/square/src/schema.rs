//! Arrow schemas of the streams, and Square money → decimals.
//!
//! Square sends money as `{"amount": 1999, "currency": "USD"}`, the amount
//! in the currency's smallest unit. Streams keep that shape as a struct, the
//! amount as `Decimal128(38, 3)` in major units: the minor units are divided
//! by 10^exponent of *each row's* currency (USD 2, JPY 0, KWD 3), and scale 3
//! holds every ISO 4217 currency Square settles in exactly.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Decimal128Array, ListArray, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Scale of every money amount.
pub const MONEY_SCALE: i8 = 3;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn money_fields(amount: DataType) -> Fields {
    Fields::from(vec![
        Field::new("amount", amount, true),
        Field::new("currency", DataType::Utf8, true),
    ])
}

/// The money struct as streams carry it.
pub fn money_type() -> DataType {
    DataType::Struct(money_fields(DataType::Decimal128(38, MONEY_SCALE)))
}

fn money(name: &str) -> Field {
    Field::new(name, money_type(), true)
}

fn list_of(name: &str, item: DataType) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, true))),
        true,
    )
}

fn address() -> Field {
    Field::new(
        "address",
        DataType::Struct(Fields::from(vec![
            s("address_line_1"),
            s("address_line_2"),
            s("locality"),
            s("administrative_district_level_1"),
            s("postal_code"),
            s("country"),
        ])),
        true,
    )
}

/// `locations`.
pub fn locations() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        s("name"),
        s("business_name"),
        s("type"),
        s("status"),
        address(),
        s("timezone"),
        s("country"),
        s("language_code"),
        s("currency"),
        s("merchant_id"),
        list_of("capabilities", DataType::Utf8),
        Field::new("created_at", ts(), true),
    ]))
}

/// `customers`.
pub fn customers() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("created_at", ts(), true),
        Field::new("updated_at", ts(), false),
        s("given_name"),
        s("family_name"),
        s("nickname"),
        s("company_name"),
        s("email_address"),
        s("phone_number"),
        address(),
        // Square allows a year of 0000 (birthday without a year): kept as text.
        s("birthday"),
        s("reference_id"),
        s("note"),
        Field::new(
            "preferences",
            DataType::Struct(Fields::from(vec![Field::new(
                "email_unsubscribed",
                DataType::Boolean,
                true,
            )])),
            true,
        ),
        s("creation_source"),
        list_of("group_ids", DataType::Utf8),
        list_of("segment_ids", DataType::Utf8),
        Field::new("version", DataType::Int64, true),
    ]))
}

/// One line item of an order.
pub fn line_item() -> DataType {
    DataType::Struct(Fields::from(vec![
        s("uid"),
        s("name"),
        // Square sends quantities as decimal strings with up to 5 decimals.
        Field::new("quantity", DataType::Decimal128(38, 5), true),
        s("catalog_object_id"),
        s("variation_name"),
        money("base_price_money"),
        money("gross_sales_money"),
        money("total_tax_money"),
        money("total_discount_money"),
        money("total_money"),
    ]))
}

/// `orders`.
pub fn orders() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        s("location_id"),
        s("reference_id"),
        s("customer_id"),
        s("state"),
        Field::new("version", DataType::Int64, true),
        Field::new("created_at", ts(), true),
        Field::new("updated_at", ts(), false),
        Field::new("closed_at", ts(), true),
        list_of("line_items", line_item()),
        money("total_money"),
        money("total_tax_money"),
        money("total_discount_money"),
        money("total_tip_money"),
        money("total_service_charge_money"),
        Field::new(
            "source",
            DataType::Struct(Fields::from(vec![s("name")])),
            true,
        ),
    ]))
}

/// `payments`.
pub fn payments() -> SchemaRef {
    let card = DataType::Struct(Fields::from(vec![
        s("card_brand"),
        s("last_4"),
        Field::new("exp_month", DataType::Int64, true),
        Field::new("exp_year", DataType::Int64, true),
    ]));
    let card_details = DataType::Struct(Fields::from(vec![
        s("status"),
        Field::new("card", card, true),
        s("entry_method"),
    ]));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("created_at", ts(), true),
        Field::new("updated_at", ts(), false),
        money("amount_money"),
        money("tip_money"),
        money("total_money"),
        money("approved_money"),
        s("status"),
        s("source_type"),
        Field::new("card_details", card_details, true),
        s("location_id"),
        s("order_id"),
        s("customer_id"),
        s("reference_id"),
        s("receipt_number"),
        s("note"),
        s("version_token"),
    ]))
}

fn is_money(fields: &Fields) -> bool {
    fields.len() == 2
        && fields[0].name() == "amount"
        && fields[1].name() == "currency"
        && matches!(fields[0].data_type(), DataType::Decimal128(_, _))
}

/// The type as Square sends it: every money amount an integer.
pub fn wire_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Struct(f) if is_money(f) => DataType::Struct(money_fields(DataType::Int64)),
        DataType::Struct(f) => DataType::Struct(
            f.iter()
                .map(|f| f.as_ref().clone().with_data_type(wire_type(f.data_type())))
                .collect(),
        ),
        DataType::List(item) => DataType::List(Arc::new(
            item.as_ref()
                .clone()
                .with_data_type(wire_type(item.data_type())),
        )),
        other => other.clone(),
    }
}

/// The schema pages are decoded with.
pub fn wire_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_data_type(wire_type(f.data_type())))
            .collect::<Vec<_>>(),
    ))
}

/// Digits after the decimal point of an ISO 4217 currency.
pub fn currency_exponent(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Converts every money struct of `array` (of the wire type of `target`) to `target`.
pub fn convert(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, String> {
    Ok(match target {
        DataType::Struct(f) if is_money(f) => {
            let st = array.as_struct();
            let amounts = st.column(0).as_primitive::<Int64Type>();
            let currencies = st.column(1).as_string::<i32>();
            let mut out = Vec::with_capacity(st.len());
            for i in 0..st.len() {
                if amounts.is_null(i) {
                    out.push(None);
                    continue;
                }
                let exp = if currencies.is_null(i) {
                    2
                } else {
                    currency_exponent(currencies.value(i))
                };
                let factor = 10i128.pow(MONEY_SCALE as u32 - exp);
                out.push(Some(amounts.value(i) as i128 * factor));
            }
            let DataType::Decimal128(p, sc) = f[0].data_type() else {
                unreachable!()
            };
            let dec = Decimal128Array::from(out)
                .with_precision_and_scale(*p, *sc)
                .map_err(|e| e.to_string())?;
            Arc::new(
                StructArray::try_new(
                    f.clone(),
                    vec![Arc::new(dec), st.column(1).clone()],
                    st.nulls().cloned(),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        DataType::Struct(f) => {
            let st = array.as_struct();
            let cols = f
                .iter()
                .zip(st.columns())
                .map(|(f, c)| convert(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(
                StructArray::try_new(f.clone(), cols, st.nulls().cloned())
                    .map_err(|e| e.to_string())?,
            )
        }
        DataType::List(item) if needs_conversion(item.data_type()) => {
            let l = array.as_list::<i32>();
            let values = convert(l.values(), item.data_type())?;
            Arc::new(
                ListArray::try_new(
                    item.clone(),
                    l.offsets().clone(),
                    values,
                    l.nulls().cloned(),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        _ => array.clone(),
    })
}

fn needs_conversion(dt: &DataType) -> bool {
    match dt {
        DataType::Struct(f) => is_money(f) || f.iter().any(|f| needs_conversion(f.data_type())),
        DataType::List(i) => needs_conversion(i.data_type()),
        _ => false,
    }
}

/// A decoded page (wire schema) as a batch of the stream's schema.
pub fn to_stream(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let cols = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if needs_conversion(f.data_type()) {
                convert(c, f.data_type()).map_err(|e| format!("`{}`: {e}", f.name()))
            } else {
                Ok(c.clone())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}
