//! The Salesforce pipeline end to end: sandbox → `braid run` → Parquet, read back by DuckDB and pyarrow.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use braid_sandbox::salesforce::{self as sf, SObject};
use braid_sandbox::{Sandbox, SandboxConfig};
use common::*;

const SECRET: &str = "sf-e2e-consumer-secret-1f9b2";
const REFRESH: &str = "5Aep861-e2e-refresh-token-77ac";
const STREAMS: [&str; 6] = [
    "Contact",
    "Lead",
    "Account",
    "Opportunity",
    "Campaign",
    "CampaignMember",
];

fn config() -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.salesforce.client_secret = SECRET.into();
    c.salesforce.refresh_token = REFRESH.into();
    c.salesforce.contacts = 3000;
    c.salesforce.leads = 900;
    c.salesforce.accounts = 200;
    c.salesforce.opportunities = 500;
    c.salesforce.campaigns = 12;
    c.salesforce.campaign_members = 700;
    c
}

fn sizes(c: &SandboxConfig) -> [u64; 6] {
    let s = &c.salesforce;
    [
        s.contacts,
        s.leads,
        s.accounts,
        s.opportunities,
        s.campaigns,
        s.campaign_members,
    ]
}

fn env_with(sb: &Sandbox, refresh: &str) -> Vec<(String, String)> {
    vec![
        ("SALESFORCE_LOGIN_URL".into(), sb.base_url()),
        (
            "SALESFORCE_CLIENT_ID".into(),
            braid_sandbox::SalesforceConfig::default().client_id,
        ),
        ("SALESFORCE_CLIENT_SECRET".into(), SECRET.into()),
        ("SALESFORCE_REFRESH_TOKEN".into(), refresh.into()),
    ]
}

fn env(sb: &Sandbox) -> Vec<(String, String)> {
    env_with(sb, REFRESH)
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/salesforce_crm.yaml")
}

/// The shipped pipeline with more connector options (e.g. `request_timeout_ms: 800`).
fn pipeline_with(dir: &Path, options: &str) -> PathBuf {
    let text = std::fs::read_to_string(pipeline()).unwrap();
    let marker = "      refresh_token: ${SALESFORCE_REFRESH_TOKEN:-}\n";
    assert!(text.contains(marker));
    let extra: String = options.lines().map(|l| format!("      {l}\n")).collect();
    let path = dir.join("salesforce.yaml");
    std::fs::write(&path, text.replace(marker, &format!("{marker}{extra}"))).unwrap();
    path
}

async fn usage(sb: &Sandbox) -> serde_json::Value {
    reqwest::get(format!("{}/_sandbox/salesforce/usage", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn no_secrets(ran: &Ran) {
    let all = ran.all();
    for s in [SECRET, REFRESH, "!AQ4AQ"] {
        assert!(!all.contains(s), "a secret ({s}) leaked:\n{all}");
    }
}

/// Every stream landed once per record (recycle-bin records included).
fn assert_full_landing(wh: &Path, c: &SandboxConfig) {
    for (stream, n) in STREAMS.iter().zip(sizes(c)) {
        let t = raw(wh, "salesforce", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            n as i64,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT Id) FROM {t}")),
            n as i64,
            "{stream}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_lands_exactly_the_changes_and_deletions() {
    let c = config();
    let sb = sandbox(c.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    no_secrets(&ran);
    assert_full_landing(&wh, &c);

    // queryAll brought the recycle bin, flagged.
    let contacts = raw(&wh, "salesforce", "Contact");
    let deleted = (0..c.salesforce.contacts)
        .filter(|i| sf::base_deleted(c.seed, *i))
        .count() as i64;
    assert!(deleted > 0);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {contacts} WHERE IsDeleted")),
        deleted
    );

    // Values equal the sandbox's generator, typed.
    let s = sf::Sizes {
        accounts: c.salesforce.accounts,
        campaigns: c.salesforce.campaigns,
        contacts: c.salesforce.contacts,
        leads: c.salesforce.leads,
    };
    for index in [0u64, 5, 1234, 2999] {
        let rec = sf::record(SObject::Contact, c.seed, index, s);
        let rows = duckdb(&format!(
            "SELECT Email, LastName, epoch_ms(SystemModstamp), MailingCity FROM {contacts} WHERE Id = '{}'",
            rec.id
        ));
        assert_eq!(rows.len(), 1, "contact {index}");
        assert_eq!(rows[0][0].as_str(), rec.str(SObject::Contact, "Email"));
        assert_eq!(rows[0][1].as_str(), rec.str(SObject::Contact, "LastName"));
        assert_eq!(rows[0][2].as_i64(), Some(rec.modstamp_ms));
        assert_eq!(
            rows[0][3].as_str(),
            rec.str(SObject::Contact, "MailingCity")
        );
    }
    let opps = raw(&wh, "salesforce", "Opportunity");
    for index in [1u64, 99] {
        let rec = sf::record(SObject::Opportunity, c.seed, index, s);
        let rows = duckdb(&format!(
            "SELECT Amount::VARCHAR, StageName, CloseDate::VARCHAR FROM {opps} WHERE Id = '{}'",
            rec.id
        ));
        let want_amount = match rec.get(SObject::Opportunity, "Amount").unwrap() {
            sf::Value::Num(n) => Some(n.clone()),
            _ => None,
        };
        assert_eq!(rows[0][0].as_str().map(str::to_owned), want_amount);
        assert_eq!(
            rows[0][1].as_str(),
            rec.str(SObject::Opportunity, "StageName")
        );
        assert_eq!(
            rows[0][2].as_str(),
            rec.str(SObject::Opportunity, "CloseDate")
        );
    }
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; d = ds.dataset(sys.argv[1], format='parquet', partitioning='hive'); print(d.schema)",
        &wh.join("raw/salesforce/Opportunity"),
    );
    assert!(
        schema.contains("SystemModstamp: timestamp[us, tz=UTC]"),
        "{schema}"
    );
    assert!(schema.contains("Amount: decimal128(18, 2)"), "{schema}");
    assert!(schema.contains("CloseDate: date32"), "{schema}");
    assert!(schema.contains("IsDeleted: bool"), "{schema}");

    // Salesforce changes, deletes and creates contacts, and changes opportunities.
    let changed = admin(
        &sb,
        "/_sandbox/salesforce/mutate",
        serde_json::json!({"object": "Contact", "count": 40, "delete": 6, "create": 5}),
    )
    .await;
    let opp_changed = admin(
        &sb,
        "/_sandbox/salesforce/mutate",
        serde_json::json!({"object": "Opportunity", "count": 10}),
    )
    .await;
    let mut expected: Vec<String> = ["modified", "deleted", "created"]
        .iter()
        .flat_map(|k| strings(&changed[k]))
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 51);

    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    assert_eq!(
        stream_report(&rep, "Contact")["rows_committed"],
        51,
        "{rep}"
    );
    assert_eq!(
        stream_report(&rep, "Opportunity")["rows_committed"],
        10,
        "{rep}"
    );
    for s in ["Lead", "Account", "Campaign", "CampaignMember"] {
        assert_eq!(stream_report(&rep, s)["rows_committed"], 0, "{s}: {rep}");
        assert!(
            stream_report(&rep, s)["rows_deduplicated"]
                .as_u64()
                .unwrap()
                >= 1,
            "{s} re-read its boundary: {rep}"
        );
    }
    let run2 = rep["run_id"].as_str().unwrap();
    let mut landed: Vec<String> = duckdb(&format!(
        "SELECT Id FROM {contacts} WHERE _braid_run_id = '{run2}' ORDER BY Id"
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    landed.sort();
    assert_eq!(
        landed, expected,
        "the second run landed exactly the changes"
    );
    // The deletions landed as deletions, at the mutation's SystemModstamp.
    let mut deleted_now: Vec<String> = duckdb(&format!(
        "SELECT Id FROM {contacts} WHERE _braid_run_id = '{run2}' AND IsDeleted AND epoch_ms(SystemModstamp) = {}",
        changed["system_modstamp_ms"]
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    deleted_now.sort();
    let mut want_deleted = strings(&changed["deleted"]);
    want_deleted.sort();
    assert_eq!(deleted_now, want_deleted);
    let opp_landed = duckdb_int(&format!(
        "SELECT count(*) FROM {opps} WHERE _braid_run_id = '{run2}' AND Id IN ({})",
        strings(&opp_changed["modified"])
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",")
    ));
    assert_eq!(opp_landed, 10);

    // Nothing changed: nothing lands.
    let r3 = tmp.path().join("r3.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r3), env(&sb)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r3);
    for s in STREAMS {
        assert_eq!(stream_report(&rep, s)["rows_committed"], 0, "{s}: {rep}");
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_mid_run_is_refreshed_once_and_the_run_completes() {
    let c = config();
    let sb = sandbox(c.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    // Contact's second page (the only second page) waits 3 s; the sessions end meanwhile.
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll/", "kind": "delay_ms", "ms": 3000, "count": 1}),
    )
    .await;
    let r = tmp.path().join("r.json");
    let run = tokio::spawn(braid_async(run_args(&pipeline(), &wh, &r), env(&sb)));
    let stats_url = format!("{}/_sandbox/stats", sb.base_url());
    loop {
        if run.is_finished() {
            let ran = run.await.unwrap();
            panic!(
                "the run ended before its first queryAll page: {}",
                ran.all()
            );
        }
        let stats: serde_json::Value = reqwest::get(&stats_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["by_path"]["/services/data/v64.0/queryAll"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expired = admin(
        &sb,
        "/_sandbox/salesforce/expire_sessions",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(expired["expired"], 1);
    let ran = run.await.unwrap();
    assert_eq!(ran.code, 0, "{}", ran.all());
    no_secrets(&ran);
    assert_full_landing(&wh, &c);
    assert_eq!(usage(&sb).await["tokens_issued"], 2, "one refresh");
    let stats: serde_json::Value = reqwest::get(&stats_url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats["by_status"]["401"].as_u64().unwrap() >= 1, "{stats}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_server_errors_timeouts_and_cut_pages_are_retried() {
    let c = config();
    let sb = sandbox(c.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let faults = [
        // A 429 storm on queries, a 5xx burst on describe and on a page,
        // a page slower than the timeout, and a page cut in half.
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll", "kind": "status", "status": 429, "count": 5}),
        serde_json::json!({"path_prefix": "/services/data/v64.0/sobjects/", "kind": "status", "status": 500, "count": 3}),
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll/", "kind": "status", "status": 503, "count": 2}),
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll/", "kind": "delay_ms", "ms": 2500, "count": 1}),
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll/", "kind": "truncate", "count": 1}),
    ];
    for f in faults {
        admin(&sb, "/_sandbox/faults", f).await;
    }
    let p = pipeline_with(tmp.path(), "request_timeout_ms: 1000\nmax_retries: 8");
    let r = tmp.path().join("r.json");
    let ran = braid_async(run_args(&p, &wh, &r), env(&sb)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    no_secrets(&ran);
    assert_full_landing(&wh, &c);
    let rep = report(&r);
    let retries: u64 = STREAMS
        .iter()
        .map(|s| stream_report(&rep, s)["retries"].as_u64().unwrap())
        .sum();
    assert!(
        retries >= 9,
        "5 × 429, 2 × 503, a timeout and a cut page: {rep}"
    );
    let stats: serde_json::Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_status"]["429"], 5, "{stats}");
    assert_eq!(stats["by_status"]["500"], 3, "{stats}");
    assert_eq!(stats["by_status"]["503"], 2, "{stats}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_request_limit_fails_clearly_and_is_no_refresh() {
    let mut c = config();
    c.salesforce.daily_api_requests = 9;
    let sb = sandbox(c).await;
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r.json");
    let ran = braid_async(run_args(&pipeline(), &tmp.path().join("wh"), &r), env(&sb)).await;
    assert_eq!(ran.code, 4, "a spent API limit exits 4:\n{}", ran.all());
    assert!(
        ran.stderr
            .contains("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("API request limit"), "{}", ran.stderr);
    assert_eq!(report(&r)["error"]["kind"], "rate_limit");
    assert_eq!(usage(&sb).await["tokens_issued"], 1, "no token refresh");
    no_secrets(&ran);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_bad_credentials_an_unreachable_host_and_a_missing_permission() {
    let mut c = config();
    c.salesforce.hidden_objects = vec!["CampaignMember".into()];
    let sb = sandbox(c).await;
    let check = |env: Vec<(String, String)>| {
        braid_async(vec!["check".into(), pipeline().display().to_string()], env)
    };
    let bad = check(env_with(&sb, "5Aep861-WRONG-refresh")).await;
    assert_eq!(bad.code, 3, "{}", bad.all());
    assert!(
        bad.all()
            .contains("invalid_grant: expired access/refresh token"),
        "{}",
        bad.all()
    );
    assert!(!bad.all().contains("WRONG"), "{}", bad.all());
    no_secrets(&bad);

    let mut unreachable = env(&sb);
    unreachable[0].1 = "http://127.0.0.1:9".into();
    let down = check(unreachable).await;
    assert_ne!(down.code, 0, "{}", down.all());
    assert!(down.all().contains("cannot connect"), "{}", down.all());

    let hidden = check(env(&sb)).await;
    assert_eq!(hidden.code, 3, "{}", hidden.all());
    assert!(
        hidden.all().contains("missing permission")
            && hidden.all().contains("cannot read CampaignMember"),
        "{}",
        hidden.all()
    );
    sb.shutdown().await;

    let sb = sandbox(config()).await;
    let ok = check(env(&sb)).await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(ok.all().contains("refresh token"), "{}", ok.all());
    no_secrets(&ok);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_added_in_salesforce_lands_as_a_new_column() {
    let c = config();
    let sb = sandbox(c.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let ran = braid_async(
        run_args(&pipeline(), &wh, &tmp.path().join("r1.json")),
        env(&sb),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    // An admin adds a custom field; records carry it, describe lists it.
    admin(
        &sb,
        "/_sandbox/salesforce/extra_field",
        serde_json::json!({"object": "Contact", "name": "Loyalty_Tier__c"}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/salesforce/mutate",
        serde_json::json!({"object": "Contact", "count": 7}),
    )
    .await;
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(stream_report(&report(&r2), "Contact")["rows_committed"], 7);
    let run2 = report(&r2)["run_id"].as_str().unwrap().to_owned();
    let t = format!(
        "read_parquet('{}/raw/salesforce/Contact/**/*.parquet', hive_partitioning = true, union_by_name = true)",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {t} WHERE _braid_run_id = '{run2}' AND Loyalty_Tier__c = 'gold'"
        )),
        7
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {t} WHERE Loyalty_Tier__c IS NULL"
        )),
        c.salesforce.contacts as i64,
        "the first run's rows stay as they were"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_mapping_fills_customers_touchpoints_and_orders() {
    let c = config();
    let sb = sandbox(c.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let ran = braid_async(
        run_args(&pipeline(), &wh, &tmp.path().join("r.json")),
        env(&sb),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let unified = |table: &str| {
        format!(
            "read_parquet('{}/unified/{table}/salesforce/*.parquet')",
            wh.display()
        )
    };
    let customers = unified("customers");
    let rows = duckdb(&format!(
        "SELECT source_stream, count(*), count(braid_id) FROM {customers} GROUP BY 1 ORDER BY 1"
    ));
    assert_eq!(
        rows,
        vec![
            vec![
                serde_json::json!("Contact"),
                serde_json::json!(c.salesforce.contacts),
                serde_json::json!(c.salesforce.contacts)
            ],
            vec![
                serde_json::json!("Lead"),
                serde_json::json!(c.salesforce.leads),
                serde_json::json!(c.salesforce.leads)
            ],
        ]
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {customers} WHERE email <> lower(email) OR phone NOT LIKE '+%'"
        )),
        0,
        "emails lower-cased, phones E.164"
    );
    // A Chinese mobile keeps its country code (the org's region is US).
    let raw_contacts = raw(&wh, "salesforce", "Contact");
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {raw_contacts} r JOIN {customers} u ON u.source_id = r.Id \
             WHERE coalesce(r.MobilePhone, r.Phone) LIKE '+86 138%' AND u.phone NOT LIKE '+86138%'"
        )),
        0
    );
    assert!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {customers} WHERE country = 'CN' AND city = '上海'"
        )) > 0
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {customers} WHERE json_extract(extra, '$.IsDeleted')::BOOLEAN"
        )),
        duckdb_int(&format!(
            "SELECT count(*) FROM {raw_contacts} WHERE IsDeleted"
        )) + duckdb_int(&format!(
            "SELECT count(*) FROM {} WHERE IsDeleted",
            raw(&wh, "salesforce", "Lead")
        )),
        "recycle-bin records carry IsDeleted in extra"
    );

    // Campaign members are touchpoints of their contact or lead: one braid_id.
    let touch = unified("touchpoints");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {touch} WHERE occurred_at IS NOT NULL AND channel = 'salesforce_campaign'")),
        c.salesforce.campaign_members as i64
    );
    let linked = duckdb_int(&format!(
        "SELECT count(*) FROM {touch} t JOIN {customers} c ON c.customer_id = t.customer_id WHERE c.braid_id = t.braid_id"
    ));
    let with_person = duckdb_int(&format!(
        "SELECT count(*) FROM {touch} t JOIN {customers} c ON c.customer_id = t.customer_id"
    ));
    assert!(with_person > 0);
    assert_eq!(
        linked, with_person,
        "a member and its contact/lead share a braid_id"
    );

    // Opportunities are orders of accounts: no person.
    let orders = unified("orders");
    assert_eq!(
        duckdb(&format!(
            "SELECT count(*), count(braid_id), count(*) FILTER (status = 'closedlost') > 0 FROM {orders}"
        )),
        vec![vec![
            serde_json::json!(c.salesforce.opportunities),
            serde_json::json!(0),
            serde_json::json!(true)
        ]]
    );
    assert!(
        !wh.join("quarantine/customers/salesforce").exists(),
        "nothing quarantined"
    );
    sb.shutdown().await;
}
