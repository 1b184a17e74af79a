//! The WeChat Official Account pipeline end to end: sandbox → `braid run` →
//! Parquet, the unified customers/touchpoints stitched by unionid to HubSpot
//! contacts, read back by DuckDB and pyarrow.

mod common;

use std::path::{Path, PathBuf};

use braid_sandbox::wechat::{
    first_analytics_day, openid, unionid, user_summary, yesterday_shanghai,
};
use braid_sandbox::SandboxConfig;
use common::*;

const SECRET: &str = "wechat-e2e-appsecret-31337";
const FOLLOWERS: u64 = 2500;
const HISTORY: u32 = 40;

fn config() -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.wechat.secret = SECRET.into();
    c.wechat.followers = FOLLOWERS;
    // Three listed pages (and the empty one that ends the list).
    c.wechat.page_size = 1000;
    c.wechat.history_days = HISTORY;
    c.hubspot.contacts = 400;
    c
}

fn env(sb: &braid_sandbox::Sandbox, lookback: u32) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = sb
        .demo_env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("WECHAT_") || k.starts_with("HUBSPOT_"))
        .collect();
    env.push(("WECHAT_LOOKBACK_DAYS".into(), lookback.to_string()));
    env
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/wechat_oa.yaml")
}

fn days(
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> impl Iterator<Item = chrono::NaiveDate> + Clone {
    from.iter_days().take_while(move |d| *d <= to)
}

/// `getusersummary` rows the sandbox serves for `days`.
fn summary_rows(
    days: impl Iterator<Item = chrono::NaiveDate>,
    revision: impl Fn(chrono::NaiveDate) -> u32,
) -> Vec<(chrono::NaiveDate, i64, i64)> {
    days.flat_map(|d| {
        user_summary(42, d, revision(d))
            .into_iter()
            .map(move |(src, new, _)| (d, src, new))
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_and_analytics_land_then_restate_and_unionids_stitch_to_crm_contacts() {
    let c = config();
    let first = first_analytics_day(&c.wechat);
    let sb = sandbox(c).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    // The CRM first, so unified customers hold both silos.
    let hubspot = common::manifest_dir().join("../pipelines/hubspot_crm.yaml");
    let ran = braid_async(
        run_args(&hubspot, &wh, &tmp.path().join("h.json")),
        env(&sb, 3),
    )
    .await;
    assert_eq!(ran.code, 0, "hubspot run failed:\n{}", ran.all());
    let r1 = tmp.path().join("r1.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb, 3)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    assert!(!ran.all().contains(SECRET), "the secret leaked");

    let followers = raw(&wh, "wechat_oa", "followers");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {followers}")),
        FOLLOWERS as i64
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT openid) FROM {followers}")),
        FOLLOWERS as i64
    );
    // Openids and unionids arrive as WeChat issued them; followers without an
    // open-platform binding have no unionid.
    let without: i64 = (0..FOLLOWERS).filter(|i| unionid(42, *i).is_none()).count() as i64;
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {followers} WHERE unionid IS NULL"
        )),
        without
    );
    for i in [0u64, 7, 999, 1000, 2499] {
        let rows = duckdb(&format!(
            "SELECT unionid, subscribe FROM {followers} WHERE openid = '{}'",
            openid(42, i)
        ));
        assert_eq!(rows.len(), 1, "follower {i}");
        assert_eq!(
            rows[0][0].as_str(),
            unionid(42, i).as_deref(),
            "follower {i}"
        );
        assert_eq!(rows[0][1], serde_json::Value::Bool(true));
    }
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/wechat_oa/followers"),
    );
    for want in [
        "openid: string not null",
        "subscribe: bool",
        "subscribe_time: timestamp[us, tz=UTC]",
        "tagid_list: list<item: int64>",
    ] {
        assert!(schema.contains(want), "{want}: {schema}");
    }

    let yesterday = yesterday_shanghai();
    let summary = raw(&wh, "wechat_oa", "user_summary");
    let expected = summary_rows(days(first, yesterday), |_| 0);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {summary}")),
        expected.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!("SELECT sum(new_user)::BIGINT FROM {summary}")),
        expected.iter().map(|e| e.2).sum::<i64>()
    );
    let cumulate = raw(&wh, "wechat_oa", "user_cumulate");
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT ref_date) FROM {cumulate} WHERE ref_date BETWEEN DATE '{first}' AND DATE '{yesterday}'"
        )),
        i64::from(HISTORY)
    );

    // Unified: every follower is a customer and a subscribe touchpoint; a
    // follower whose unionid a HubSpot contact carries is the same person.
    let unified = |t: &str| {
        format!(
            "read_parquet('{}/unified/{t}/*/*.parquet', union_by_name = true)",
            wh.display()
        )
    };
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {} WHERE source = 'wechat_oa'",
            unified("customers")
        )),
        FOLLOWERS as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {} WHERE source = 'wechat_oa' AND event = 'subscribe' AND occurred_at IS NOT NULL",
            unified("touchpoints")
        )),
        FOLLOWERS as i64
    );
    let pairs = format!(
        "SELECT w.braid_id = h.braid_id AS same FROM {c} w JOIN {c} h ON w.wechat_unionid = h.wechat_unionid WHERE w.source = 'wechat_oa' AND h.source = 'hubspot'",
        c = unified("customers")
    );
    let stitched = duckdb_int(&format!("SELECT count(*) FROM ({pairs}) WHERE same"));
    assert!(stitched > 10, "followers stitched to contacts: {stitched}");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM ({pairs}) WHERE NOT same")),
        0,
        "a shared unionid is one person"
    );

    // WeChat corrects the last two days; 5 people follow, 3 leave.
    admin(
        &sb,
        "/_sandbox/wechat/restate",
        serde_json::json!({"days": 2}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/wechat/subscribe",
        serde_json::json!({"count": 5}),
    )
    .await;
    let gone: Vec<String> = [3u64, 1500, 2000].iter().map(|i| openid(42, *i)).collect();
    admin(
        &sb,
        "/_sandbox/wechat/unsubscribe",
        serde_json::json!({"openids": gone}),
    )
    .await;
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb, 3)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    let run2 = rep["run_id"].as_str().unwrap().to_owned();
    assert_eq!(
        stream_report(&rep, "followers")["rows_committed"],
        FOLLOWERS - 3 + 5,
        "{rep}"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {followers} WHERE _braid_run_id = '{run2}' AND openid IN ('{}', '{}')",
            openid(42, 3),
            openid(42, FOLLOWERS + 4)
        )),
        1,
        "the new follower is listed, the one who left is not"
    );
    let lookback_from = yesterday - chrono::Duration::days(3);
    let restated_from = yesterday - chrono::Duration::days(1);
    let rev = |d: chrono::NaiveDate| u32::from(d >= restated_from);
    let re_pulled = summary_rows(days(lookback_from, yesterday), rev);
    let s = stream_report(&rep, "user_summary");
    assert_eq!(s["rows_committed"], re_pulled.len() as u64, "{rep}");
    assert_eq!(s["rows_deduplicated"], 0, "{rep}");
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {summary} WHERE _braid_run_id = '{run2}' AND ref_date < DATE '{lookback_from}'"
        )),
        0,
        "only the lookback days were re-pulled"
    );
    // The newest version of each (day, source) carries the corrected figures.
    let latest = format!(
        "SELECT * FROM {summary} QUALIFY row_number() OVER (PARTITION BY ref_date, user_source ORDER BY _braid_ingested_at DESC) = 1"
    );
    let all_now = summary_rows(days(first, yesterday), rev);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM ({latest})")),
        all_now.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!("SELECT sum(new_user)::BIGINT FROM ({latest})")),
        all_now.iter().map(|e| e.2).sum::<i64>()
    );
    sb.shutdown().await;
}

/// A copy of the shipped pipeline with a short request timeout.
fn fast_timeout_pipeline(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(pipeline()).unwrap().replace(
        "      lookback_days: ${WECHAT_LOOKBACK_DAYS:-3}\n",
        "      lookback_days: ${WECHAT_LOOKBACK_DAYS:-3}\n      request_timeout_ms: 1500\n",
    );
    let p = dir.join("wechat.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

async fn fetch_token(sb: &braid_sandbox::Sandbox, appid: &str) -> String {
    let v: serde_json::Value = reqwest::get(format!(
        "{}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={SECRET}",
        sb.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_storms_busy_answers_timeouts_cut_bodies_new_fields_and_expired_tokens_land_every_row_once(
) {
    let c = config();
    let appid = c.wechat.appid.clone();
    let first = first_analytics_day(&c.wechat);
    let sb = sandbox(c).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let fault = |body: serde_json::Value| admin(&sb, "/_sandbox/faults", body);
    // A storm of 45011 (HTTP 200) on batchget, system busy (-1 on HTTP 200)
    // and a 502 on the list, a slow datacube answer, a cut batchget body.
    fault(serde_json::json!({"path_prefix": "/cgi-bin/user/info/batchget", "kind": "status", "status": 429, "count": 4})).await;
    fault(serde_json::json!({"path_prefix": "/cgi-bin/user/get", "kind": "status", "status": 503, "count": 2})).await;
    fault(serde_json::json!({"path_prefix": "/cgi-bin/user/get", "kind": "status", "status": 502, "count": 1})).await;
    fault(serde_json::json!({"path_prefix": "/datacube/getusercumulate", "kind": "delay_ms", "ms": 4000, "count": 1})).await;
    fault(serde_json::json!({"path_prefix": "/cgi-bin/user/info/batchget", "kind": "truncate", "count": 1})).await;
    admin(
        &sb,
        "/_sandbox/wechat/extra_field",
        serde_json::json!({"name": "brand_new_field"}),
    )
    .await;
    // The central token service's token has expired (42001): the connector
    // fetches its own with the appid and secret, once for every stream.
    let stale = fetch_token(&sb, &appid).await;
    admin(&sb, "/_sandbox/wechat/expire_tokens", serde_json::json!({})).await;
    let mut env = env(&sb, 3);
    env.push(("WECHAT_ACCESS_TOKEN".into(), stale.clone()));

    let r = tmp.path().join("r.json");
    let ran = braid_async(run_args(&fast_timeout_pipeline(tmp.path()), &wh, &r), env).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(!ran.all().contains(SECRET), "the secret leaked");
    assert!(!ran.all().contains(&stale), "the token leaked");
    let stats: serde_json::Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_status"]["502"], 1, "{stats}");
    let served = |p: &str| stats["by_path"][p].as_u64().unwrap_or(0);
    assert_eq!(
        served("/cgi-bin/token"),
        2,
        "the test's fetch and one by the connector: {stats}"
    );
    // 4 pages + 3 faults; 25 batches + 4 quota answers + 1 cut body.
    assert!(served("/cgi-bin/user/get") >= 4 + 3, "{stats}");
    assert!(served("/cgi-bin/user/info/batchget") >= 25 + 5, "{stats}");
    // The slow answer was abandoned (the sandbox never finished it), then sent again.
    assert!(served("/datacube/getusercumulate") >= 6, "{stats}");
    let rep = report(&r);
    assert!(
        rep["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["retries"].as_u64().unwrap())
            .sum::<u64>()
            // The report leaves out the attempts before a token refresh.
            >= 6,
        "{rep}"
    );

    let followers = raw(&wh, "wechat_oa", "followers");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {followers}")),
        FOLLOWERS as i64
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT openid) FROM {followers}")),
        FOLLOWERS as i64
    );
    let expected = summary_rows(days(first, yesterday_shanghai()), |_| 0);
    let summary = raw(&wh, "wechat_oa", "user_summary");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {summary}")),
        expected.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (ref_date, user_source)) FROM {summary}"
        )),
        expected.len() as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "wechat_oa", "user_cumulate")
        )),
        i64::from(HISTORY)
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_a_spent_daily_quota_fail_with_wechat_errcodes() {
    let mut c = config();
    c.wechat.daily_quota = Some(5);
    let appid = c.wechat.appid.clone();
    let sb = sandbox(c).await;
    let tmp = tempfile::tempdir().unwrap();
    let with = |k: &str, v: &str| {
        let mut e: Vec<(String, String)> =
            env(&sb, 3).into_iter().filter(|(n, _)| n != k).collect();
        e.push((k.into(), v.into()));
        e
    };
    // A wrong AppSecret: the token endpoint's 40125, exit 3, the secret never printed.
    let check = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        with("WECHAT_SECRET", "wrong-secret-777"),
    )
    .await;
    assert_eq!(check.code, 3, "{}", check.all());
    assert!(check.all().contains("errcode 40125"), "{}", check.all());
    assert!(check.all().contains("/cgi-bin/token"), "{}", check.all());
    assert!(!check.all().contains("wrong-secret-777"));

    // A token without the secret to fetch another, replaced elsewhere: 40001, exit 3.
    let token = fetch_token(&sb, &appid).await;
    admin(
        &sb,
        "/_sandbox/wechat/replace_tokens",
        serde_json::json!({}),
    )
    .await;
    let mut token_only = with("WECHAT_SECRET", "");
    token_only.push(("WECHAT_ACCESS_TOKEN".into(), token.clone()));
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        token_only,
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(ran.stderr.contains("errcode 40001"), "{}", ran.stderr);
    assert!(!ran.all().contains(&token), "the token leaked");
    assert_eq!(report(&r)["error"]["kind"], "auth");

    // Five calls a day per API: the sixth batchget or datacube call answers
    // 45009, which is not retried (it refills at midnight) and exits 4.
    let r = tmp.path().join("q.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh2"), &r),
        env(&sb, 3),
    )
    .await;
    assert_eq!(ran.code, 4, "a spent daily quota exits 4:\n{}", ran.all());
    assert!(ran.stderr.contains("errcode 45009"), "{}", ran.stderr);
    assert_eq!(report(&r)["error"]["kind"], "rate_limit");
    let stats: serde_json::Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/cgi-bin/user/info/batchget",
        "/datacube/getusersummary",
        "/datacube/getusercumulate",
    ] {
        assert!(
            // 5 served + 1 refused, + 1 refused by the 40001 run before.
            stats["by_path"][path].as_u64().unwrap_or(0) <= 7,
            "45009 is not retried: {stats}"
        );
    }
    sb.shutdown().await;
}
