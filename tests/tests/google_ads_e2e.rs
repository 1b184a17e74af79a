//! The Google Ads pipeline end to end: sandbox → `braid run` → Parquet, read back by DuckDB.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use braid_sandbox::google_ads::{ad_groups, campaigns, figures, today_in};
use braid_sandbox::{GoogleAdsConfig, SandboxConfig};
use chrono::NaiveDate;
use common::*;

const SECRET: &str = "GOCSPX-e2eGoogleSecret31337";
const REFRESH: &str = "1//0e2eGoogleRefreshToken";
const DEV: &str = "e2eDeveloperToken_31337";
const SEED: u64 = 42;

fn config() -> SandboxConfig {
    let mut c = SandboxConfig {
        seed: SEED,
        ..Default::default()
    };
    c.google_ads.client_secret = SECRET.into();
    c.google_ads.refresh_token = REFRESH.into();
    // As before Google's 2026-09-09 developer-token sunset: the token is required.
    c.google_ads.developer_token = Some(DEV.into());
    c.google_ads.history_days = 40;
    c.google_ads.requests_per_second = None;
    c.google_ads.batch_rows = 50;
    c
}

fn g() -> GoogleAdsConfig {
    config().google_ads
}

/// The New York account's day (the western one; Berlin may be a day ahead).
fn today_ny() -> NaiveDate {
    today_in("America/New_York")
}

fn start(days_back: u64) -> NaiveDate {
    today_ny() - chrono::Days::new(days_back)
}

fn env(sb: &braid_sandbox::Sandbox, refresh: &str, days_back: u64) -> Vec<(String, String)> {
    let c = g();
    let ids: Vec<String> = c.customers.iter().map(|c| c.id.clone()).collect();
    vec![
        ("GOOGLE_ADS_BASE_URL".into(), sb.base_url()),
        (
            "GOOGLE_ADS_TOKEN_URL".into(),
            format!("{}/token", sb.base_url()),
        ),
        ("GOOGLE_ADS_CLIENT_ID".into(), c.client_id.clone()),
        ("GOOGLE_ADS_CLIENT_SECRET".into(), SECRET.into()),
        ("GOOGLE_ADS_REFRESH_TOKEN".into(), refresh.into()),
        ("GOOGLE_ADS_DEVELOPER_TOKEN".into(), DEV.into()),
        // Written with dashes, as the Google Ads UI shows it.
        ("GOOGLE_ADS_LOGIN_CUSTOMER_ID".into(), "999-000-1111".into()),
        ("GOOGLE_ADS_CUSTOMER_IDS".into(), ids.join(",")),
        ("GOOGLE_ADS_START_DATE".into(), start(days_back).to_string()),
        ("GOOGLE_ADS_LOOKBACK_DAYS".into(), "3".into()),
    ]
}

fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/google_ads.yaml")
}

fn leaked(text: &str) -> bool {
    [SECRET, REFRESH, DEV, "ya29."]
        .iter()
        .any(|s| text.contains(s))
}

/// What the generator says one (customer, campaign, day) row holds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Expected {
    clicks: u64,
    cost_micros: u64,
    conversions: f64,
}

/// Every metrics row from `from` to each account's today, with restatement
/// rounds per day, keyed by (customer, campaign id, day).
fn expected_metrics(
    from: NaiveDate,
    rounds: &BTreeMap<NaiveDate, u32>,
) -> BTreeMap<(String, String, NaiveDate), Expected> {
    let c = g();
    let mut out = BTreeMap::new();
    for (k, cust) in c.customers.iter().enumerate() {
        let today = today_in(&cust.time_zone);
        let groups = ad_groups(&c, SEED, k);
        for camp in campaigns(&c, SEED, k) {
            for d in from.iter_days().take_while(|d| *d <= today) {
                let r = rounds.get(&d).copied().unwrap_or(0);
                let mut imp = 0;
                let mut e = Expected {
                    clicks: 0,
                    cost_micros: 0,
                    conversions: 0.0,
                };
                for ag in groups.iter().filter(|ag| ag.campaign.id == camp.id) {
                    let x = figures(&c, SEED, ag, d, r);
                    imp += x.impressions;
                    e.clicks += x.clicks;
                    e.cost_micros += x.cost_micros;
                    e.conversions = ((e.conversions + x.conversions) * 100.0).round() / 100.0;
                }
                if imp > 0 {
                    out.insert((cust.id.clone(), camp.id.to_string(), d), e);
                }
            }
        }
    }
    out
}

/// Clicks per (customer, day) from `from` to each account's today.
fn expected_clicks(from: NaiveDate) -> u64 {
    let c = g();
    let mut n = 0;
    for (k, cust) in c.customers.iter().enumerate() {
        let today = today_in(&cust.time_zone);
        for ag in ad_groups(&c, SEED, k) {
            for d in from.iter_days().take_while(|d| *d <= today) {
                n += figures(&c, SEED, &ag, d, 0).clicks;
            }
        }
    }
    n
}

fn entities() -> (i64, i64) {
    let c = g();
    let campaigns = c.campaigns_per_customer * c.customers.len() as u64;
    (
        campaigns as i64,
        (campaigns * c.ad_groups_per_campaign) as i64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_restates_the_lookback_days_only() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let from = start(9);
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb, REFRESH, 9)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    assert!(!leaked(&ran.all()), "a secret leaked:\n{}", ran.all());
    let (n_campaigns, n_groups) = entities();
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "google", "campaigns")
        )),
        n_campaigns
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {} WHERE status = 'REMOVED'",
            raw(&wh, "google", "campaigns")
        )),
        2,
        "removed campaigns are kept (their past metrics land)"
    );
    // v26 names the dates start_date_time/end_date_time; the day lands, and
    // only the removed campaigns have an end.
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FILTER (WHERE start_date IS NOT NULL) + 100 * count(*) FILTER (WHERE end_date IS NOT NULL) FROM {}",
            raw(&wh, "google", "campaigns")
        )),
        n_campaigns + 200
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (customer_id, id)) FROM {} WHERE cpc_bid > 0 AND currency IN ('USD', 'EUR')",
            raw(&wh, "google", "ad_groups")
        )),
        n_groups
    );
    let met = raw(&wh, "google", "campaign_daily_metrics");
    let want = expected_metrics(from, &BTreeMap::new());
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {met}")),
        want.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (customer_id, campaign_id, date)) FROM {met}"
        )),
        want.len() as i64
    );
    // Values: micros as an exact decimal in the account currency, conversions as Google's double.
    let ((cust, camp, day), e) = want
        .iter()
        .find(|(_, e)| e.clicks > 0)
        .map(|(k, v)| (k.clone(), *v))
        .unwrap();
    let rows = duckdb(&format!(
        "SELECT cost::VARCHAR, clicks, conversions, currency, time_zone FROM {met} \
         WHERE customer_id = '{cust}' AND campaign_id = '{camp}' AND date = DATE '{day}'"
    ));
    assert_eq!(rows.len(), 1);
    let cost: f64 = rows[0][0].as_str().unwrap().parse().unwrap();
    assert_eq!((cost * 1e6).round() as u64, e.cost_micros);
    assert_eq!(rows[0][1].as_i64().unwrap() as u64, e.clicks);
    assert_eq!(rows[0][2].as_f64().unwrap(), e.conversions);
    assert_eq!(rows[0][3], "USD");
    assert_eq!(rows[0][4], "America/New_York");
    let clicks = raw(&wh, "google", "click_views");
    let n_clicks = expected_clicks(from);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {clicks}")),
        n_clicks as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT gclid) FROM {clicks} WHERE gclid LIKE 'Cj0KCQiA%'"
        )),
        n_clicks as i64
    );
    // A campaign's clicks are its click_view rows.
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {clicks}")),
        duckdb_int(&format!("SELECT sum(clicks)::BIGINT FROM {met}"))
    );
    let stats = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        stats["by_path"]["/token"], 1,
        "one access token for the run: {stats}"
    );

    // Google restates the last 2 days (late conversions); a day later the run goes again.
    let restated = admin(
        &sb,
        "/_sandbox/google_ads/restate",
        serde_json::json!({"days": 2}),
    )
    .await;
    let rounds: BTreeMap<NaiveDate, u32> = restated["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d.as_str().unwrap().parse().unwrap(), 1))
        .collect();
    let committed: NaiveDate = duckdb(&format!("SELECT max(date)::VARCHAR FROM {met}"))[0][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let committed_clicks: NaiveDate = duckdb(&format!("SELECT max(date)::VARCHAR FROM {clicks}"))
        [0][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb, REFRESH, 9)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    let run2 = rep["run_id"].as_str().unwrap();
    let want2 = expected_metrics(from, &rounds);
    let lookback = committed - chrono::Days::new(3);
    let re_read = want2.keys().filter(|(_, _, d)| *d >= lookback).count();
    assert_eq!(
        stream_report(&rep, "campaign_daily_metrics")["rows_committed"],
        re_read as u64,
        "{rep}"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {met} WHERE _braid_run_id = '{run2}' AND date < DATE '{lookback}'"
        )),
        0,
        "days before the lookback are not re-pulled"
    );
    // Latest version per key: one row each, restated days carry the new conversions.
    let latest = format!(
        "(SELECT * FROM {met} QUALIFY row_number() OVER (PARTITION BY customer_id, campaign_id, date ORDER BY _braid_ingested_at DESC) = 1)"
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {latest}")),
        want2.len() as i64
    );
    let mut checked = 0;
    for row in duckdb(&format!("SELECT customer_id, campaign_id, date::VARCHAR, conversions FROM {latest} WHERE date >= DATE '{lookback}'")) {
        let key = (
            row[0].as_str().unwrap().to_owned(),
            row[1].as_str().unwrap().to_owned(),
            row[2].as_str().unwrap().parse::<NaiveDate>().unwrap(),
        );
        assert_eq!(row[3].as_f64().unwrap(), want2[&key].conversions, "{key:?}");
        if rounds.contains_key(&key.2) && want2[&key].clicks > 0 {
            assert_ne!(want2[&key].conversions, want[&key].conversions);
            checked += 1;
        }
    }
    assert!(checked > 0, "some restated rows were compared");
    // Clicks: the day before the committed one and after land again; nothing older.
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {clicks} WHERE _braid_run_id = '{run2}' AND date < DATE '{}'",
            committed_clicks - chrono::Days::new(1)
        )),
        0
    );
    let latest_clicks = format!(
        "(SELECT * FROM {clicks} QUALIFY row_number() OVER (PARTITION BY customer_id, gclid ORDER BY _braid_ingested_at DESC) = 1)"
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {latest_clicks}")),
        n_clicks as i64
    );

    // The unified layer: ad_performance from daily metrics, touchpoints from clicks.
    let ap = format!(
        "read_parquet('{}/unified/ad_performance/google/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT source_id) FROM {ap} WHERE platform = 'google_ads' AND currency IN ('USD', 'EUR')")),
        want2.len() as i64
    );
    let tp = format!(
        "read_parquet('{}/unified/touchpoints/google/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT click_id) FROM {tp} WHERE event = 'click' AND channel = 'google_ads' AND click_id = source_id AND occurred_at IS NOT NULL"
        )),
        n_clicks as i64
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_storms_server_errors_timeouts_expired_tokens_cut_answers_and_a_new_field_are_survived(
) {
    // No request budget: every RESOURCE_EXHAUSTED is an injected one (the
    // same answer the budget gives), so the retries are exactly the plan's
    // and do not depend on the machine's pace.
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let c = g();
    let p0 = format!(
        "/v26/customers/{}/googleAds:searchStream",
        c.customers[0].id
    );
    let p1 = format!(
        "/v26/customers/{}/googleAds:searchStream",
        c.customers[1].id
    );
    let fault = |path: &str, kind: &str, extra: serde_json::Value| {
        let mut f = serde_json::json!({"path_prefix": path, "kind": kind});
        f.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        f
    };
    // A RESOURCE_EXHAUSTED storm, a 5xx burst, an expired token, a timeout and cut answers.
    admin(
        &sb,
        "/_sandbox/faults",
        fault(
            &p0,
            "status",
            serde_json::json!({"status": 429, "count": 4}),
        ),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        fault(
            &p1,
            "status",
            serde_json::json!({"status": 503, "count": 2}),
        ),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        fault(
            &p1,
            "status",
            serde_json::json!({"status": 500, "count": 1}),
        ),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        fault(
            &p0,
            "status",
            serde_json::json!({"status": 401, "count": 1}),
        ),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        fault(&p1, "delay_ms", serde_json::json!({"ms": 8000, "count": 1})),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        fault(&p0, "truncate", serde_json::json!({"count": 2})),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/google_ads/extra_field",
        serde_json::json!({"enabled": true}),
    )
    .await;
    let yaml = std::fs::read_to_string(pipeline()).unwrap().replace(
        "click_view_days:",
        "request_timeout_ms: 3000\n      click_view_days:",
    );
    let file = tmp.path().join("google.yaml");
    std::fs::write(&file, yaml).unwrap();
    let r = tmp.path().join("r.json");
    let ran = braid_async(run_args(&file, &wh, &r), env(&sb, REFRESH, 3)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(!leaked(&ran.all()), "a secret leaked:\n{}", ran.all());
    assert!(ran.stderr.contains("RESOURCE_EXHAUSTED"), "{}", ran.stderr);
    let rep = report(&r);
    let retries: u64 = [
        "campaigns",
        "ad_groups",
        "campaign_daily_metrics",
        "click_views",
    ]
    .iter()
    .map(|s| stream_report(&rep, s)["retries"].as_u64().unwrap())
    .sum();
    // Faults are served in the order they were added, per path: the US
    // account's customer query gets 4 × 429, then the 401 (the request goes
    // again with a new token), then two cut answers (the query runs again);
    // the German one's gets 503, 503, 500 and the answer that times out.
    // Each is one retry: 4 + 1 + 2 on the first, 2 + 1 + 1 on the second.
    assert_eq!(retries, 4 + 1 + 2 + (2 + 1 + 1), "{rep}\n{}", ran.stderr);
    let stats = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    for (status, n) in [("429", 4), ("503", 2), ("500", 1), ("401", 1)] {
        assert_eq!(stats["by_status"][status], n, "{status}: {stats}");
    }
    assert_eq!(
        stats["by_path"]["/token"], 2,
        "the expired token was refreshed once: {stats}"
    );
    // Every record once.
    let from = start(3);
    let want = expected_metrics(from, &BTreeMap::new());
    let met = raw(&wh, "google", "campaign_daily_metrics");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {met}")),
        want.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (customer_id, campaign_id, date)) FROM {met}"
        )),
        want.len() as i64
    );
    let clicks = raw(&wh, "google", "click_views");
    let n = expected_clicks(from) as i64;
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {clicks}")), n);
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT gclid) FROM {clicks}")),
        n
    );
    let (n_campaigns, n_groups) = entities();
    for (stream, n) in [("campaigns", n_campaigns), ("ad_groups", n_groups)] {
        let t = raw(&wh, "google", stream);
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(DISTINCT (customer_id, id)) FROM {t}"
            )),
            n,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            n,
            "{stream}"
        );
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_stays_cut_fails_as_a_data_error_and_lands_nothing() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let p0 = format!(
        "/v26/customers/{}/googleAds:searchStream",
        g().customers[0].id
    );
    // The first three answers for the US account are cut: its customer query never decodes.
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": p0, "kind": "truncate", "count": 3}),
    )
    .await;
    let r = tmp.path().join("r.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r), env(&sb, REFRESH, 2)).await;
    assert_eq!(ran.code, 4, "source errors exit 4: {}", ran.all());
    assert_eq!(report(&r)["error"]["kind"], "data");
    assert!(
        ran.stderr.contains("googleAds:searchStream") && ran.stderr.contains("after 3 fetches"),
        "{}",
        ran.stderr
    );
    assert!(!wh.join("raw/google/campaigns").exists());
    assert!(!wh.join("raw/google/campaign_daily_metrics").exists());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_auth_errors_quoting_google_without_secrets() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    // A revoked refresh token: the token endpoint's invalid_grant.
    let wrong = "1//0revokedRefreshToken999";
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        env(&sb, wrong, 2),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(ran.stderr.contains("invalid_grant"), "{}", ran.stderr);
    assert!(
        !ran.all().contains(wrong) && !leaked(&ran.all()),
        "{}",
        ran.all()
    );
    assert_eq!(report(&r)["error"]["kind"], "auth");
    // Without the manager's login-customer-id, Google refuses the client accounts.
    let mut e = env(&sb, REFRESH, 2);
    e.retain(|(k, _)| k != "GOOGLE_ADS_LOGIN_CUSTOMER_ID");
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &tmp.path().join("wh2"), &r2), e).await;
    assert_eq!(ran.code, 3, "{}", ran.all());
    assert!(
        ran.stderr.contains("USER_PERMISSION_DENIED"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("login_customer_id"), "{}", ran.stderr);
    assert!(!leaked(&ran.all()), "{}", ran.all());
    // This sandbox still wants a developer token (Google before its sunset).
    let mut e = env(&sb, REFRESH, 2);
    e.retain(|(k, _)| k != "GOOGLE_ADS_DEVELOPER_TOKEN");
    let ran = braid_async(
        run_args(
            &pipeline(),
            &tmp.path().join("wh3"),
            &tmp.path().join("r3.json"),
        ),
        e,
    )
    .await;
    assert_eq!(ran.code, 3, "{}", ran.all());
    assert!(
        ran.stderr.contains("DEVELOPER_TOKEN_INVALID"),
        "{}",
        ran.stderr
    );
    // With everything right, check answers with the accounts.
    let ok = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        env(&sb, REFRESH, 2),
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(
        ok.all().contains("1234567890 (USD, America/New_York)"),
        "{}",
        ok.all()
    );
    sb.shutdown().await;
}
