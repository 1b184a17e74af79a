//! Per-page decode cost of the Ocean Engine connector, without HTTP or
//! Parquet: fetches one real page of each kind from the sandbox (a 1,000-row
//! promotion report page and a 100-row promotion list page), then times,
//! per page, the 2xx envelope check the HTTP client runs on every body
//! ([`envelope`]) and the arrow-json decode of the rows (with and without the
//! envelope's `code`/`message`/`request_id` read in the same pass).
//!
//! ```sh
//! cargo run --release -p braid-connector-oceanengine --example decode_page -- 2000
//! ```

use std::sync::Arc;
use std::time::Instant;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use braid_connector_oceanengine::{envelope, schema};
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::JsonPageDecoder;

fn path(p: &str) -> Vec<String> {
    p.split('.').map(str::to_owned).collect()
}

fn time(label: &str, body: &[u8], iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 + 1 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
    println!(
        "  {label:<44} {us:>10.3} µs/page  {:>8.0} MB/s",
        body.len() as f64 / us
    );
    us
}

fn bench(what: &str, body: &[u8], wire: SchemaRef, records: &str, iters: u32) {
    println!("{what}: {} bytes", body.len());
    let check = time("envelope check (HttpConfig::envelope)", body, iters, || {
        assert!(envelope(body).is_none());
    });
    let values = [path("data.page_info.total_page")];
    let mut rows_only = JsonPageDecoder::new(wire.clone(), &path(records), &values).unwrap();
    let decode = time("arrow-json decode of the rows", body, iters, || {
        rows_only.decode(body).unwrap();
    });
    let values = [
        path("data.page_info.total_page"),
        path("code"),
        path("message"),
        path("request_id"),
    ];
    let mut with_envelope = JsonPageDecoder::new(wire, &path(records), &values).unwrap();
    let one = time(
        "arrow-json decode of rows + code/message",
        body,
        iters,
        || {
            let p = with_envelope.decode(body).unwrap();
            assert_eq!(p.values[1].as_deref(), Some("0"));
        },
    );
    println!(
        "  => check + decode {:.1} µs/page; check + decode with the envelope {:.1} µs/page\n",
        check + decode,
        check + one
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iters: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let mut config = SandboxConfig::default();
    config.oceanengine.advertisers = 1;
    config.oceanengine.projects_per_advertiser = 400;
    config.oceanengine.history_days = 30;
    config.oceanengine.requests_per_second = None;
    let sb = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let env: std::collections::HashMap<String, String> = sb.demo_env().into_iter().collect();
    let token = env["OCEANENGINE_ACCESS_TOKEN"].clone();
    let adv = env["OCEANENGINE_ADVERTISER_IDS"]
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let start = env["OCEANENGINE_START_DATE"].clone();
    let today = braid_connector_oceanengine::today_shanghai().to_string();
    let http = reqwest::Client::new();
    let get = |path: &str, query: Vec<(&str, String)>| {
        let req = http
            .get(format!("{}{path}", sb.base_url()))
            .header("Access-Token", &token)
            .query(&query);
        async move { req.send().await.unwrap().bytes().await.unwrap() }
    };

    let report = get(
        "/open_api/v3.0/report/custom/get/",
        vec![
            ("advertiser_id", adv.clone()),
            (
                "dimensions",
                r#"["stat_time_day","cdp_promotion_id","cdp_promotion_name"]"#.into(),
            ),
            ("metrics", serde_json::to_string(&schema::METRICS).unwrap()),
            ("start_time", start),
            ("end_time", today),
            ("filters", "[]".into()),
            (
                "order_by",
                r#"[{"field":"stat_time_day","type":"ASC"}]"#.into(),
            ),
            ("page", "1".into()),
            ("page_size", "1000".into()),
        ],
    )
    .await;
    let stream = schema::report("promotion");
    let dims = vec![
        Field::new("stat_time_day", DataType::Utf8, true),
        Field::new("cdp_promotion_id", DataType::Utf8, true),
        Field::new("cdp_promotion_name", DataType::Utf8, true),
    ];
    let metrics: Vec<Field> = schema::METRICS
        .iter()
        .map(|m| {
            let dt = stream.field_with_name(m).unwrap().data_type().clone();
            Field::new(*m, dt, true)
        })
        .collect();
    let report_wire = Arc::new(Schema::new(vec![
        Field::new("dimensions", DataType::Struct(dims.into()), true),
        Field::new("metrics", DataType::Struct(metrics.into()), true),
    ]));
    bench(
        "promotion report page (1,000 rows)",
        &report,
        report_wire,
        "data.rows",
        iters,
    );

    let list = get(
        "/open_api/v3.0/promotion/list/",
        vec![
            ("advertiser_id", adv),
            ("page", "1".into()),
            ("page_size", "100".into()),
        ],
    )
    .await;
    bench(
        "promotion list page (100 promotions)",
        &list,
        schema::wire(&schema::promotions()),
        "data.list",
        iters,
    );
    sb.shutdown().await;
}
