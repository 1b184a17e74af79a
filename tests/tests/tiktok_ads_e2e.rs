//! The TikTok Ads pipeline end to end: sandbox → `braid run` → Parquet and
//! the unified `ad_performance` table, read back by DuckDB and pyarrow.

mod common;

use std::path::{Path, PathBuf};

use braid_sandbox::tiktok::{
    account_locale, ad_figures, adgroup_figures, advertiser_id, campaign_figures, campaign_id,
    first_report_day, today_for, Figures, Shape,
};
use braid_sandbox::SandboxConfig;
use chrono::NaiveDate;
use common::*;

const TOKEN: &str = "tt-e2e-access-token-5551234";
const CAMPAIGNS: u64 = 10;
const ADGROUPS: u64 = 2;
const ADS: u64 = 2;

fn config() -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.tiktok.access_token = TOKEN.into();
    c.tiktok.advertisers = 2;
    c.tiktok.campaigns_per_advertiser = CAMPAIGNS;
    c.tiktok.adgroups_per_campaign = ADGROUPS;
    c.tiktok.ads_per_adgroup = ADS;
    c.tiktok.history_days = 40;
    c
}

fn shape() -> Shape {
    Shape {
        campaigns: CAMPAIGNS,
        adgroups: ADGROUPS,
        ads: ADS,
    }
}

fn env(sb: &braid_sandbox::Sandbox, lookback: u32) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = sb
        .demo_env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("TIKTOK_"))
        .collect();
    env.push(("TIKTOK_LOOKBACK_DAYS".into(), lookback.to_string()));
    env
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/tiktok_ads.yaml")
}

fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> + Clone {
    from.iter_days().take_while(move |d| *d <= to)
}

/// One expected campaign report row: (advertiser, campaign, day, figures).
type Row = (String, String, NaiveDate, Figures);

/// Campaign rows the sandbox serves from day `from(a)` to each account's today.
fn campaign_rows(
    from: impl Fn(u64) -> NaiveDate,
    revision: impl Fn(u64, NaiveDate) -> u32,
) -> Vec<Row> {
    let s = shape();
    let mut out = Vec::new();
    for a in 0..2 {
        for d in days(from(a), today_for(a)) {
            for c in 0..CAMPAIGNS {
                if let Some(f) = campaign_figures(42, &s, a, c, d, revision(a, d)) {
                    out.push((
                        advertiser_id(42, a).to_string(),
                        campaign_id(42, s.campaign_index(a, c)).to_string(),
                        d,
                        f,
                    ));
                }
            }
        }
    }
    out
}

/// How many ad-group and ad rows the sandbox serves over each account's whole history.
fn finer_rows() -> (usize, usize) {
    let (s, c) = (shape(), config().tiktok);
    let (mut groups, mut ads) = (0, 0);
    for a in 0..2 {
        for d in days(first_report_day(&c, a), today_for(a)) {
            for cc in 0..CAMPAIGNS {
                for g in 0..ADGROUPS {
                    groups += usize::from(adgroup_figures(42, &s, a, cc, g, d, 0).is_some());
                    for k in 0..ADS {
                        ads += usize::from(ad_figures(42, s.ad_index(a, cc, g, k), d, 0).is_some());
                    }
                }
            }
        }
    }
    (groups, ads)
}

fn no_secret(ran: &Ran) {
    assert!(!ran.all().contains(TOKEN), "the token leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_restates_the_lookback_days_without_duplicates() {
    let c = config();
    let first = |a: u64| first_report_day(&c.tiktok, a);
    let sb = sandbox(c.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb, 3)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    no_secret(&ran);
    let expected = campaign_rows(first, |_, _| 0);

    let report_t = raw(&wh, "tiktok", "campaign_daily_report");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {report_t}")),
        expected.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (advertiser_id, campaign_id, stat_date)) FROM {report_t}"
        )),
        expected.len() as i64
    );
    let (groups, ads) = finer_rows();
    for (stream, n) in [
        ("advertisers", 2),
        ("campaigns", 2 * CAMPAIGNS),
        ("adgroups", 2 * CAMPAIGNS * ADGROUPS),
        ("ads", 2 * CAMPAIGNS * ADGROUPS * ADS),
        ("adgroup_daily_report", groups as u64),
        ("ad_daily_report", ads as u64),
    ] {
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(*) FROM {}",
                raw(&wh, "tiktok", stream)
            )),
            n as i64,
            "{stream}"
        );
    }
    // 19-digit ids arrive digit for digit; figures, currency and zone per account.
    let ids: Vec<String> = duckdb(&format!(
        "SELECT campaign_id FROM {} ORDER BY campaign_id",
        raw(&wh, "tiktok", "campaigns")
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    let mut want: Vec<String> = (0..2 * CAMPAIGNS)
        .map(|i| campaign_id(42, i).to_string())
        .collect();
    want.sort();
    assert_eq!(ids, want);
    for (adv, campaign, day, f) in expected.iter().step_by(37) {
        let rows = duckdb(&format!(
            "SELECT spend::VARCHAR, impressions, clicks, conversion, currency, account_timezone FROM {report_t} WHERE advertiser_id = '{adv}' AND campaign_id = '{campaign}' AND stat_date = DATE '{day}'"
        ));
        assert_eq!(rows.len(), 1, "{campaign} {day}");
        assert_eq!(
            rows[0][0].as_str().unwrap().parse::<f64>().unwrap(),
            f.spend_cents as f64 / 100.0
        );
        assert_eq!(rows[0][1].as_i64(), Some(f.impressions));
        assert_eq!(rows[0][2].as_i64(), Some(f.clicks));
        assert_eq!(rows[0][3].as_i64(), Some(f.conversion));
        let a = if *adv == advertiser_id(42, 0).to_string() {
            0
        } else {
            1
        };
        let (currency, tz) = account_locale(a);
        assert_eq!(rows[0][4].as_str(), Some(currency));
        assert_eq!(rows[0][5].as_str(), Some(tz));
    }
    let schema = |stream: &str| {
        pyarrow(
            "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
            &wh.join(format!("raw/tiktok/{stream}")),
        )
    };
    let report_schema = schema("ad_daily_report");
    for want in [
        "stat_date: date32",
        "spend: decimal128(38, 6)",
        "ad_id: string not null",
        "campaign_id: string",
        "impressions: int64",
    ] {
        assert!(report_schema.contains(want), "{want}: {report_schema}");
    }
    let campaigns_schema = schema("campaigns");
    for want in [
        "create_time: timestamp[us, tz=UTC]",
        "budget: decimal128(38, 6)",
        "is_smart_performance_campaign: bool",
    ] {
        assert!(
            campaigns_schema.contains(want),
            "{want}: {campaigns_schema}"
        );
    }

    // The unified layer: one ad_performance row per (advertiser, campaign, day), spend by currency.
    let unified = format!(
        "read_parquet('{}/unified/ad_performance/tiktok/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {unified}")),
        expected.len() as i64
    );
    for a in 0..2u64 {
        let (currency, _) = account_locale(a);
        let adv = advertiser_id(42, a).to_string();
        let spend: i64 = expected
            .iter()
            .filter(|e| e.0 == adv)
            .map(|e| e.3.spend_cents)
            .sum();
        assert_eq!(
            duckdb_int(&format!("SELECT (sum(spend) * 100)::BIGINT FROM {unified} WHERE platform = 'tiktok' AND account_id = '{adv}' AND currency = '{currency}'")),
            spend,
            "{currency}"
        );
    }

    // TikTok restates each account's last two days (late conversions).
    admin(
        &sb,
        "/_sandbox/tiktok/restate",
        serde_json::json!({"days": 2}),
    )
    .await;
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb, 3)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    // The committed cursor is the latest account day; three days before it are re-pulled.
    let committed = (0..2).map(today_for).max().unwrap();
    let lookback_from = committed - chrono::Duration::days(3);
    let rev = |a: u64, d: NaiveDate| u32::from(d >= today_for(a) - chrono::Duration::days(1));
    let re_pulled = campaign_rows(|a| lookback_from.max(first(a)), rev);
    let s = stream_report(&rep, "campaign_daily_report");
    assert_eq!(s["rows_committed"], re_pulled.len() as u64, "{rep}");
    assert_eq!(s["rows_deduplicated"], 0, "{rep}");
    let run2 = rep["run_id"].as_str().unwrap();
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {report_t} WHERE _braid_run_id = '{run2}' AND stat_date < DATE '{lookback_from}'")),
        0,
        "only the lookback days were re-pulled"
    );
    // The latest version of every key carries the restated figures; no duplicates.
    let all_now = campaign_rows(first, rev);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {unified}")),
        all_now.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT source_id) FROM {unified}")),
        all_now.len() as i64
    );
    let conversions: i64 = all_now.iter().map(|e| e.3.conversion).sum();
    assert_eq!(
        duckdb_int(&format!("SELECT sum(conversions)::BIGINT FROM {unified}")),
        conversions
    );
    let old: i64 = expected.iter().map(|e| e.3.conversion).sum();
    assert!(conversions > old, "the restatement added conversions");
    sb.shutdown().await;
}

/// A copy of the shipped pipeline with a short request timeout.
fn fast_timeout_pipeline(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(pipeline()).unwrap().replace(
        "      lookback_days: ${TIKTOK_LOOKBACK_DAYS:-7}\n",
        "      lookback_days: ${TIKTOK_LOOKBACK_DAYS:-7}\n      request_timeout_ms: 1500\n      page_size: 15\n",
    );
    let p = dir.join("tiktok.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qps_storms_5xx_timeouts_cut_bodies_and_new_fields_land_every_row_once() {
    let mut c = config();
    // The app's QPS limit is below the connector's pace: real 40100 answers.
    c.tiktok.requests_per_second = Some(4);
    let first = |a: u64| first_report_day(&c.tiktok, a);
    let sb = sandbox(c.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let fault = |body: serde_json::Value| admin(&sb, "/_sandbox/faults", body);
    // A storm of code 40100 (HTTP 200) on the report, a 5xx burst, a slow answer, a cut body.
    fault(serde_json::json!({"path_prefix": "/open_api/v1.3/report/integrated/get/", "kind": "status", "status": 429, "count": 5})).await;
    fault(serde_json::json!({"path_prefix": "/open_api/v1.3/campaign/get/", "kind": "status", "status": 503, "count": 3})).await;
    fault(serde_json::json!({"path_prefix": "/open_api/v1.3/advertiser/info/", "kind": "delay_ms", "ms": 4000, "count": 1})).await;
    fault(serde_json::json!({"path_prefix": "/open_api/v1.3/ad/get/", "kind": "truncate", "count": 2})).await;
    // TikTok adds a field to every item and report row.
    admin(
        &sb,
        "/_sandbox/tiktok/extra_field",
        serde_json::json!({"name": "brand_new_metric"}),
    )
    .await;

    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&fast_timeout_pipeline(tmp.path()), &wh, &r),
        env(&sb, 3),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    no_secret(&ran);
    let stats: serde_json::Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_status"]["503"], 3, "{stats}");
    let served = |p: &str| stats["by_path"][p].as_u64().unwrap_or(0);
    // advertiser/info is always requested, so its 4 s answer (beyond the
    // 1.5 s timeout) was met: the run only succeeded because the abandoned
    // attempt (which the sandbox never finished, so never counted) was sent
    // again. Accounts once per run + the advertisers stream.
    assert!(served("/open_api/v1.3/advertiser/info/") >= 2, "{stats}");
    // 3 levels × 2 windows × 2 accounts, + 5 codes 40100 injected.
    assert!(
        served("/open_api/v1.3/report/integrated/get/") >= 12 + 5,
        "{stats}"
    );
    let rep = report(&r);
    let retries: u64 = rep["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["retries"].as_u64().unwrap())
        .sum();
    assert!(retries >= 5 + 3 + 2, "{rep}");

    let expected = campaign_rows(first, |_, _| 0);
    let report_t = raw(&wh, "tiktok", "campaign_daily_report");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {report_t}")),
        expected.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (advertiser_id, campaign_id, stat_date)) FROM {report_t}"
        )),
        expected.len() as i64
    );
    let (_, ads) = finer_rows();
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (advertiser_id, ad_id, stat_date)) FROM {}",
            raw(&wh, "tiktok", "ad_daily_report")
        )),
        ads as i64
    );
    // Lists paged 15 at a time: every item once.
    for (stream, id, n) in [
        ("campaigns", "campaign_id", 2 * CAMPAIGNS),
        ("adgroups", "adgroup_id", 2 * CAMPAIGNS * ADGROUPS),
        ("ads", "ad_id", 2 * CAMPAIGNS * ADGROUPS * ADS),
    ] {
        let t = raw(&wh, "tiktok", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            n as i64,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT {id}) FROM {t}")),
            n as i64,
            "{stream}"
        );
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_or_a_foreign_advertiser_is_an_auth_error_quoting_tiktok() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let with = |key: &str, value: &str| -> Vec<(String, String)> {
        env(&sb, 7)
            .into_iter()
            .map(|(k, v)| {
                if k == key {
                    (k, value.to_owned())
                } else {
                    (k, v)
                }
            })
            .collect()
    };
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        with("TIKTOK_ACCESS_TOKEN", "wrong-token-31337"),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(ran.stderr.contains("code 40105"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("/open_api/v1.3/"),
        "names the endpoint: {}",
        ran.stderr
    );
    assert!(!ran.all().contains("wrong-token-31337"), "the token leaked");
    assert_eq!(report(&r)["error"]["kind"], "auth");
    // An advertiser the token may not read: TikTok's 40001 with its words.
    let foreign = format!("{},{}", advertiser_id(42, 0), advertiser_id(42, 5));
    let check = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        with("TIKTOK_ADVERTISER_IDS", &foreign),
    )
    .await;
    assert_eq!(check.code, 3, "{}", check.all());
    assert!(check.all().contains("code 40001"), "{}", check.all());
    no_secret(&check);
    // The right token and accounts check out, naming currency and zone.
    let ok = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        env(&sb, 7),
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(ok.all().contains("USD, America/New_York"), "{}", ok.all());
    no_secret(&ok);
    sb.shutdown().await;
}
