//! The Ocean Engine pipeline end to end: sandbox → `braid run` → Parquet and
//! the unified `ad_performance` table, read back by DuckDB and pyarrow.

mod common;

use std::path::{Path, PathBuf};

use braid_sandbox::oceanengine::{
    advertiser_id, first_report_day, project_figures, project_id, today_shanghai,
};
use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "oe-e2e-access-token-8675309";
const SECRET: &str = "oe-e2e-app-secret-1138";
const REFRESH: &str = "oe-e2e-refresh-token-4242";
const PROJECTS: u64 = 20;
const PROMOTIONS: u64 = 3;

fn config() -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.oceanengine.access_token = TOKEN.into();
    c.oceanengine.secret = SECRET.into();
    c.oceanengine.refresh_token = REFRESH.into();
    c.oceanengine.advertisers = 2;
    c.oceanengine.projects_per_advertiser = PROJECTS;
    c.oceanengine.promotions_per_project = PROMOTIONS;
    c.oceanengine.history_days = 40;
    c
}

fn env(sb: &braid_sandbox::Sandbox, lookback: u32) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = sb
        .demo_env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("OCEANENGINE_"))
        .collect();
    env.push(("OCEANENGINE_LOOKBACK_DAYS".into(), lookback.to_string()));
    env
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/oceanengine_ads.yaml")
}

/// Project report rows the sandbox serves for `days` (advertiser, project, day, figures).
fn expected_rows(
    days: impl Iterator<Item = chrono::NaiveDate> + Clone,
    revision: impl Fn(chrono::NaiveDate) -> u32,
) -> Vec<(String, String, String, braid_sandbox::oceanengine::Figures)> {
    let mut out = Vec::new();
    for a in 0..2 {
        for d in days.clone() {
            for p in 0..PROJECTS {
                if let Some(f) = project_figures(42, a, p, d, revision(d), PROJECTS, PROMOTIONS) {
                    out.push((
                        advertiser_id(42, a).to_string(),
                        project_id(42, a, p, PROJECTS).to_string(),
                        d.to_string(),
                        f,
                    ));
                }
            }
        }
    }
    out
}

fn days(
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> impl Iterator<Item = chrono::NaiveDate> + Clone {
    from.iter_days().take_while(move |d| *d <= to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_restates_the_lookback_days_without_duplicates() {
    let c = config();
    let first = first_report_day(&c.oceanengine);
    let sb = sandbox(c).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb, 3)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    for secret in [TOKEN, SECRET, REFRESH] {
        assert!(!ran.all().contains(secret), "a secret leaked");
    }
    let today = today_shanghai();
    let expected = expected_rows(days(first, today), |_| 0);

    let report_t = raw(&wh, "oceanengine", "project_daily_report");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {report_t}")),
        expected.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (advertiser_id, project_id, stat_date)) FROM {report_t}"
        )),
        expected.len() as i64
    );
    for (stream, n) in [
        ("advertisers", 2),
        ("projects", 2 * PROJECTS),
        ("promotions", 2 * PROJECTS * PROMOTIONS),
    ] {
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(*) FROM {}",
                raw(&wh, "oceanengine", stream)
            )),
            n as i64,
            "{stream}"
        );
    }
    // Ids above 2^53 arrive digit for digit; figures equal the generator's.
    let projects_t = raw(&wh, "oceanengine", "projects");
    let ids: Vec<String> = duckdb(&format!(
        "SELECT project_id FROM {projects_t} ORDER BY project_id"
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    let mut want: Vec<String> = (0..2)
        .flat_map(|a| (0..PROJECTS).map(move |p| project_id(42, a, p, PROJECTS).to_string()))
        .collect();
    want.sort();
    assert_eq!(ids, want);
    for (adv, project, day, f) in expected.iter().step_by(97) {
        let rows = duckdb(&format!(
            "SELECT stat_cost::VARCHAR, show_cnt, click_cnt, convert_cnt FROM {report_t} WHERE advertiser_id = '{adv}' AND project_id = '{project}' AND stat_date = DATE '{day}'"
        ));
        assert_eq!(rows.len(), 1, "{project} {day}");
        assert_eq!(
            rows[0][0].as_str().unwrap().parse::<f64>().unwrap(),
            f.cost_fen as f64 / 100.0
        );
        assert_eq!(rows[0][1].as_i64(), Some(f.show_cnt));
        assert_eq!(rows[0][2].as_i64(), Some(f.click_cnt));
        assert_eq!(rows[0][3].as_i64(), Some(f.convert_cnt));
    }
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/oceanengine/project_daily_report"),
    );
    for want in [
        "stat_date: date32",
        "stat_cost: decimal128(38, 4)",
        "project_id: string not null",
        "show_cnt: int64",
    ] {
        assert!(schema.contains(want), "{want}: {schema}");
    }
    let promo_schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/oceanengine/promotions"),
    );
    assert!(
        promo_schema.contains("promotion_create_time: timestamp[us, tz=UTC]"),
        "{promo_schema}"
    );

    // The unified layer: one ad_performance row per (advertiser, project, day).
    let unified = format!(
        "read_parquet('{}/unified/ad_performance/oceanengine/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {unified}")),
        expected.len() as i64
    );
    let spend: i64 = expected.iter().map(|e| e.3.cost_fen).sum();
    assert_eq!(
        duckdb_int(&format!("SELECT (sum(spend) * 100)::BIGINT FROM {unified} WHERE platform = 'oceanengine' AND currency = 'CNY'")),
        spend
    );

    // Ocean Engine restates the last two days (late conversions).
    admin(
        &sb,
        "/_sandbox/oceanengine/restate",
        serde_json::json!({"days": 2}),
    )
    .await;
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb, 3)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    let lookback_from = today - chrono::Duration::days(3);
    let restated_from = today - chrono::Duration::days(1);
    let rev = |d: chrono::NaiveDate| u32::from(d >= restated_from);
    let re_pulled = expected_rows(days(lookback_from, today), rev);
    let s = stream_report(&rep, "project_daily_report");
    assert_eq!(s["rows_committed"], re_pulled.len() as u64, "{rep}");
    assert_eq!(s["rows_deduplicated"], 0, "{rep}");
    let run2 = rep["run_id"].as_str().unwrap();
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {report_t} WHERE _braid_run_id = '{run2}' AND stat_date < DATE '{lookback_from}'")),
        0,
        "only the lookback days were re-pulled"
    );
    // The latest version of every key carries the restated figures; the unified table has no duplicates.
    let all_now = expected_rows(days(first, today), rev);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {unified}")),
        all_now.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT source_id) FROM {unified}")),
        all_now.len() as i64
    );
    let conversions: i64 = all_now.iter().map(|e| e.3.convert_cnt).sum();
    assert_eq!(
        duckdb_int(&format!("SELECT sum(conversions)::BIGINT FROM {unified}")),
        conversions
    );
    let old_conversions: i64 = expected.iter().map(|e| e.3.convert_cnt).sum();
    assert!(
        conversions > old_conversions,
        "the restatement added conversions"
    );
    sb.shutdown().await;
}

/// A copy of the shipped pipeline with a short request timeout.
fn fast_timeout_pipeline(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(pipeline()).unwrap().replace(
        "      lookback_days: ${OCEANENGINE_LOOKBACK_DAYS:-7}\n",
        "      lookback_days: ${OCEANENGINE_LOOKBACK_DAYS:-7}\n      request_timeout_ms: 1500\n",
    );
    let p = dir.join("oceanengine.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_codes_5xx_timeouts_cut_bodies_new_fields_and_expired_tokens_land_every_row_once(
) {
    let c = config();
    let first = first_report_day(&c.oceanengine);
    let sb = sandbox(c).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let fault = |body: serde_json::Value| admin(&sb, "/_sandbox/faults", body);
    // A storm of code 40100 (HTTP 200) on the report, a 5xx burst, a slow answer, a cut body.
    fault(serde_json::json!({"path_prefix": "/open_api/v3.0/report/custom/get/", "kind": "status", "status": 429, "count": 4})).await;
    fault(serde_json::json!({"path_prefix": "/open_api/v3.0/project/list/", "kind": "status", "status": 502, "count": 2})).await;
    fault(serde_json::json!({"path_prefix": "/open_api/2/advertiser/info/", "kind": "delay_ms", "ms": 4000, "count": 1})).await;
    fault(serde_json::json!({"path_prefix": "/open_api/v3.0/promotion/list/", "kind": "truncate", "count": 1})).await;
    // Ocean Engine adds a field; the configured access token has expired (40102).
    admin(
        &sb,
        "/_sandbox/oceanengine/extra_field",
        serde_json::json!({"name": "brand_new_metric"}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/oceanengine/expire_tokens",
        serde_json::json!({}),
    )
    .await;

    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&fast_timeout_pipeline(tmp.path()), &wh, &r),
        env(&sb, 3),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    for secret in [TOKEN, SECRET, REFRESH] {
        assert!(!ran.all().contains(secret), "a secret leaked");
    }
    // Every fault was served and got past: the sandbox saw the 502s, the 40100
    // storm and the abandoned slow request (the run report's retry counts
    // leave out the attempts before a token refresh, so the sandbox counts).
    let stats: serde_json::Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_status"]["502"], 2, "{stats}");
    let served = |p: &str| stats["by_path"][p].as_u64().unwrap_or(0);
    // The slow request was abandoned (the sandbox never finished it), then sent again.
    assert!(served("/open_api/2/advertiser/info/") >= 2, "{stats}");
    // Per advertiser: projects 1 page in each of 2 windows, promotions 2 + 1 pages; + 4 codes 40100.
    assert!(
        served("/open_api/v3.0/report/custom/get/") >= 2 * 5 + 4,
        "{stats}"
    );
    assert_eq!(
        served("/open_api/oauth2/refresh_token/"),
        1,
        "one refresh, shared by every stream"
    );
    assert!(served("/open_api/v3.0/promotion/list/") >= 3, "{stats}");
    let rep = report(&r);
    assert!(
        rep["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["retries"].as_u64().unwrap())
            .sum::<u64>()
            >= 4,
        "{rep}"
    );

    let expected = expected_rows(days(first, today_shanghai()), |_| 0);
    let report_t = raw(&wh, "oceanengine", "project_daily_report");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {report_t}")),
        expected.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (advertiser_id, project_id, stat_date)) FROM {report_t}"
        )),
        expected.len() as i64
    );
    let promos = raw(&wh, "oceanengine", "promotions");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {promos}")),
        (2 * PROJECTS * PROMOTIONS) as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT promotion_id) FROM {promos}"
        )),
        (2 * PROJECTS * PROMOTIONS) as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "oceanengine", "projects")
        )),
        (2 * PROJECTS) as i64
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_without_refresh_credentials_is_an_auth_error_quoting_ocean_engine() {
    let sb = sandbox(config()).await;
    admin(
        &sb,
        "/_sandbox/oceanengine/expire_tokens",
        serde_json::json!({}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = env(&sb, 7)
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "OCEANENGINE_APP_ID" | "OCEANENGINE_SECRET" | "OCEANENGINE_REFRESH_TOKEN" => {
                (k, String::new())
            }
            _ => (k, v),
        })
        .collect();
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        env.clone(),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(ran.stderr.contains("code 40102"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("/open_api/"),
        "names the endpoint: {}",
        ran.stderr
    );
    assert!(!ran.all().contains(TOKEN), "the token leaked");
    assert_eq!(report(&r)["error"]["kind"], "auth");
    // A wrong app secret is refused by the token endpoint with its words.
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "OCEANENGINE_APP_ID" => (k, "1780000000000001".into()),
            "OCEANENGINE_SECRET" => (k, "wrong-secret-777".into()),
            "OCEANENGINE_REFRESH_TOKEN" => (k, REFRESH.into()),
            _ => (k, v),
        })
        .collect();
    let check = braid_async(vec!["check".into(), pipeline().display().to_string()], env).await;
    assert_eq!(check.code, 3, "{}", check.all());
    assert!(
        check.stderr.contains("app_id") || check.all().contains("code 40001"),
        "{}",
        check.all()
    );
    assert!(!check.all().contains("wrong-secret-777"));
    sb.shutdown().await;
}
