//! The Salesforce connector against the sandbox's Salesforce emulation.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, TimestampMicrosecondType};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, TimeUnit};
use braid_connector_salesforce::SalesforceConnector;
use braid_sandbox::salesforce::{self as sf, SObject};
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::{
    Catalog, Connector, CursorValue, Error, Message, MessageStream, ReadRequest, Source,
    SourceState, StreamState, SyncMode,
};
use futures::StreamExt;

const SECRET: &str = "sf-test-consumer-secret-8812";
const REFRESH: &str = "5Aep861-test-refresh-token-4471";

fn config(n: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.salesforce.client_secret = SECRET.into();
    c.salesforce.refresh_token = REFRESH.into();
    c.salesforce.contacts = n;
    c.salesforce.leads = n / 2;
    c.salesforce.accounts = 50;
    c.salesforce.opportunities = n / 2;
    c.salesforce.campaigns = 10;
    c.salesforce.campaign_members = n / 2;
    c
}

async fn sandbox(c: SandboxConfig) -> Sandbox {
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn source_with(sb: &Sandbox, extra: serde_json::Value) -> Box<dyn Source> {
    let mut cfg = serde_json::json!({
        "login_url": sb.base_url(),
        "client_id": braid_sandbox::SalesforceConfig::default().client_id,
        "client_secret": SECRET,
        "refresh_token": REFRESH,
        "max_retries": 3,
    });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    SalesforceConnector.build(cfg).unwrap()
}

fn source(sb: &Sandbox) -> Box<dyn Source> {
    source_with(sb, serde_json::json!({}))
}

async fn admin(sb: &Sandbox, path: &str, body: serde_json::Value) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn usage(sb: &Sandbox) -> serde_json::Value {
    reqwest::get(format!("{}/_sandbox/salesforce/usage", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn request(catalog: &Catalog, stream: &str, mode: SyncMode, state: StreamState) -> ReadRequest {
    let mut st = SourceState::default();
    st.streams.insert(stream.into(), state);
    ReadRequest {
        streams: vec![braid_sdk::ConfiguredStream {
            stream: catalog.stream(stream).unwrap().clone(),
            sync_mode: mode,
        }],
        state: st,
    }
}

#[derive(Default)]
struct Read {
    batches: Vec<RecordBatch>,
    checkpoints: Vec<Option<serde_json::Value>>,
    pages: u64,
    retries: u64,
}

impl Read {
    fn column(&self, name: &str) -> Vec<Option<String>> {
        self.batches
            .iter()
            .flat_map(|b| {
                let c = b.column_by_name(name).unwrap().as_string::<i32>().clone();
                c.iter().map(|v| v.map(str::to_owned)).collect::<Vec<_>>()
            })
            .collect()
    }
    fn ids(&self) -> Vec<String> {
        self.column("Id").into_iter().map(Option::unwrap).collect()
    }
    fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
    fn max_cursor(&self) -> Option<i64> {
        self.batches
            .iter()
            .filter_map(|b| {
                let c = b.column_by_name("SystemModstamp").unwrap();
                let c = c.as_primitive::<TimestampMicrosecondType>();
                (0..c.len()).map(|i| c.value(i)).max()
            })
            .max()
    }
}

async fn drain(mut messages: MessageStream, out: &mut Read) -> Result<(), Error> {
    while let Some(m) = messages.next().await {
        match m? {
            Message::Batch { batch, .. } => out.batches.push(batch),
            Message::Checkpoint { resume, .. } => out.checkpoints.push(resume),
            Message::Progress { pages, retries, .. } => {
                out.pages += pages;
                out.retries += retries;
            }
        }
    }
    Ok(())
}

async fn read(
    src: &dyn Source,
    catalog: &Catalog,
    stream: &str,
    mode: SyncMode,
    state: StreamState,
) -> Result<Read, Error> {
    let mut out = Read::default();
    drain(
        src.read(request(catalog, stream, mode, state)).await?,
        &mut out,
    )
    .await?;
    Ok(out)
}

fn sizes(c: &SandboxConfig) -> sf::Sizes {
    sf::Sizes {
        accounts: c.salesforce.accounts,
        campaigns: c.salesforce.campaigns,
        contacts: c.salesforce.contacts,
        leads: c.salesforce.leads,
    }
}

#[tokio::test]
async fn discover_maps_describe_types_to_arrow() {
    let sb = sandbox(config(100)).await;
    let catalog = source(&sb).discover().await.unwrap();
    let names: Vec<&str> = catalog.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Contact",
            "Lead",
            "Account",
            "Opportunity",
            "Campaign",
            "CampaignMember"
        ]
    );
    let ty = |stream: &str, field: &str| {
        catalog
            .stream(stream)
            .unwrap()
            .schema
            .field_with_name(field)
            .map(|f| f.data_type().clone())
            .map_err(|_| format!("{stream}.{field} missing"))
    };
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    assert_eq!(ty("Contact", "SystemModstamp").unwrap(), ts);
    assert_eq!(ty("Contact", "Birthdate").unwrap(), DataType::Date32);
    assert_eq!(ty("Contact", "Email").unwrap(), DataType::Utf8);
    assert_eq!(ty("Contact", "AccountId").unwrap(), DataType::Utf8);
    assert_eq!(ty("Contact", "IsDeleted").unwrap(), DataType::Boolean);
    assert_eq!(
        ty("Contact", "MailingLatitude").unwrap(),
        DataType::Decimal128(18, 15)
    );
    assert!(
        ty("Contact", "MailingAddress").is_err(),
        "compound address skipped"
    );
    assert_eq!(
        ty("Opportunity", "Amount").unwrap(),
        DataType::Decimal128(18, 2)
    );
    assert_eq!(
        ty("Opportunity", "Probability").unwrap(),
        DataType::Decimal128(3, 0)
    );
    assert_eq!(ty("Opportunity", "CloseDate").unwrap(), DataType::Date32);
    assert_eq!(ty("Lead", "NumberOfEmployees").unwrap(), DataType::Int64);
    assert_eq!(
        ty("Campaign", "ExpectedResponse").unwrap(),
        DataType::Decimal128(8, 2)
    );
    for s in &catalog.streams {
        assert_eq!(s.primary_key, vec!["Id"]);
        assert_eq!(s.cursor_field.as_deref(), Some("SystemModstamp"));
    }
}

#[tokio::test]
async fn full_refresh_reads_every_record_with_deleted_ones_and_their_values() {
    let cfg = config(4500);
    let sb = sandbox(cfg.clone()).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    let r = read(
        src.as_ref(),
        &catalog,
        "Contact",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.rows(), 4500);
    let ids: HashSet<String> = r.ids().into_iter().collect();
    assert_eq!(ids.len(), 4500, "every record once");
    assert_eq!(r.pages, 3, "pages of 2,000");
    // Recycle-bin records come from queryAll with IsDeleted = true.
    let deleted: usize = r
        .batches
        .iter()
        .map(|b| {
            b.column_by_name("IsDeleted")
                .unwrap()
                .as_boolean()
                .true_count()
        })
        .sum();
    let want = (0..4500).filter(|i| sf::base_deleted(42, *i)).count();
    assert!(want > 0);
    assert_eq!(deleted, want);
    // Values are the generator's, typed.
    let rec = sf::record(SObject::Contact, 42, 7, sizes(&cfg));
    let pos = r.ids().iter().position(|i| *i == rec.id).unwrap();
    assert_eq!(
        r.column("Email")[pos].as_deref(),
        rec.str(SObject::Contact, "Email")
    );
    assert_eq!(
        r.max_cursor(),
        Some(sf::base_modstamp_ms(4499) * 1000),
        "SystemModstamp parsed from +0000"
    );
    // The full refresh checkpoints where a crashed run would resume.
    let resumes: Vec<i64> = r
        .checkpoints
        .iter()
        .flatten()
        .map(|v| v["since_ms"].as_i64().unwrap())
        .collect();
    assert!(!resumes.is_empty(), "{:?}", r.checkpoints);
    assert_eq!(r.checkpoints.last(), Some(&None));

    // Resuming at a checkpoint reads only what follows it, and nothing before it was left out.
    let since = resumes[0];
    let state = StreamState {
        resume: Some(serde_json::json!({ "since_ms": since })),
        ..Default::default()
    };
    let rest = read(
        src.as_ref(),
        &catalog,
        "Contact",
        SyncMode::FullRefresh,
        state,
    )
    .await
    .unwrap();
    let landed_before: usize = r.batches[0].num_rows();
    assert_eq!(landed_before + rest.rows(), 4500);

    let opp = read(
        src.as_ref(),
        &catalog,
        "Opportunity",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    let rec = sf::record(SObject::Opportunity, 42, 3, sizes(&cfg));
    let pos = opp.ids().iter().position(|i| *i == rec.id).unwrap();
    let amount: Vec<Option<i128>> = opp
        .batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("Amount")
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    let want = match rec.get(SObject::Opportunity, "Amount").unwrap() {
        sf::Value::Num(n) => Some((n.parse::<f64>().unwrap() * 100.0).round() as i128),
        _ => None,
    };
    assert_eq!(amount[pos], want);
}

#[tokio::test]
async fn incremental_reads_from_the_cursor_and_sees_changes_and_deletions() {
    let sb = sandbox(config(3000)).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    let first = read(
        src.as_ref(),
        &catalog,
        "Lead",
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.rows(), 1500);
    assert!(first.checkpoints.iter().all(Option::is_none));
    let cursor = first.max_cursor().unwrap();

    let changed = admin(
        &sb,
        "/_sandbox/salesforce/mutate",
        serde_json::json!({"object": "Lead", "count": 30, "delete": 5, "create": 4}),
    )
    .await;
    let state = StreamState {
        cursor: Some(CursorValue::TimestampMicros(cursor)),
        ..Default::default()
    };
    let second = read(src.as_ref(), &catalog, "Lead", SyncMode::Incremental, state)
        .await
        .unwrap();
    let got: HashSet<String> = second.ids().into_iter().collect();
    let mut want: HashSet<String> = HashSet::new();
    for k in ["modified", "deleted", "created"] {
        for v in changed[k].as_array().unwrap() {
            want.insert(v.as_str().unwrap().to_owned());
        }
    }
    assert_eq!(want.len(), 39);
    assert!(want.is_subset(&got), "every change is read");
    // Beyond the changes only the records at the committed cursor (the runtime drops those).
    let extra = got.difference(&want).count();
    assert!(extra <= 3, "{extra} records re-read at the boundary");
    let deleted: HashSet<String> = changed["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for b in &second.batches {
        let ids = b.column_by_name("Id").unwrap().as_string::<i32>();
        let del = b.column_by_name("IsDeleted").unwrap().as_boolean();
        for i in 0..b.num_rows() {
            if want.contains(ids.value(i)) {
                assert_eq!(
                    del.value(i),
                    deleted.contains(ids.value(i)),
                    "{}",
                    ids.value(i)
                );
            }
        }
    }
}

#[tokio::test]
async fn an_expired_session_is_refreshed_once_mid_read() {
    let sb = sandbox(config(6000)).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    assert_eq!(usage(&sb).await["tokens_issued"], 1);
    let mut messages = src
        .read(request(
            &catalog,
            "Contact",
            SyncMode::FullRefresh,
            StreamState::default(),
        ))
        .await
        .unwrap();
    let mut out = Read::default();
    // After the first page, every session ends.
    while let Some(m) = messages.next().await {
        if let Message::Progress { .. } = m.unwrap() {
            break;
        }
    }
    let expired = admin(
        &sb,
        "/_sandbox/salesforce/expire_sessions",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(expired["expired"], 1);
    drain(messages, &mut out).await.unwrap();
    let batches: usize = out.rows();
    assert_eq!(batches, 6000, "the read went on with the new token");
    assert_eq!(usage(&sb).await["tokens_issued"], 2, "one refresh");
}

#[tokio::test]
async fn bad_credentials_are_auth_errors_quoting_salesforce_without_secrets() {
    let sb = sandbox(config(50)).await;
    let src = source_with(
        &sb,
        serde_json::json!({"refresh_token": "5Aep-WRONG-token"}),
    );
    let e = src.check().await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Auth { .. }), "{text}");
    assert!(
        text.contains("invalid_grant: expired access/refresh token"),
        "{text}"
    );
    assert!(text.contains("/services/oauth2/token"), "{text}");
    assert!(!text.contains("WRONG") && !text.contains(SECRET), "{text}");

    let e = source_with(&sb, serde_json::json!({"client_secret": "nope"}))
        .check()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_client"), "{e}");

    // The client credentials flow.
    let cc = source_with(&sb, serde_json::json!({"refresh_token": ""}));
    let ok = cc.check().await.unwrap();
    assert!(ok.message.contains("client credentials"), "{}", ok.message);
    assert!(ok.message.contains("Contact"), "{}", ok.message);
    assert!(ok.message.contains(&sb.base_url()), "{}", ok.message);

    // An unreachable host is a transient error naming the connection.
    let dead = SalesforceConnector
        .build(serde_json::json!({
            "login_url": "http://127.0.0.1:9", "client_id": "x", "client_secret": "y",
            "refresh_token": "z"
        }))
        .unwrap();
    let e = dead.check().await.unwrap_err();
    assert!(matches!(e, Error::Transient { .. }), "{e}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

#[tokio::test]
async fn a_hidden_object_is_a_missing_permission_naming_it() {
    let mut c = config(50);
    c.salesforce.hidden_objects = vec!["Campaign".into()];
    let sb = sandbox(c).await;
    let e = source(&sb).check().await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Auth { .. }), "{text}");
    assert!(
        text.contains("missing permission") && text.contains("Campaign"),
        "{text}"
    );
    assert!(text.contains("NOT_FOUND"), "{text}");
    // Leaving it out works.
    let src = source_with(
        &sb,
        serde_json::json!({"objects": ["Contact", "Lead", "Account", "Opportunity", "CampaignMember"]}),
    );
    src.check().await.unwrap();
}

#[tokio::test]
async fn the_daily_request_limit_is_a_rate_limit_error_and_no_refresh() {
    let mut c = config(5000);
    c.salesforce.daily_api_requests = 8;
    let sb = sandbox(c).await;
    let src = source_with(&sb, serde_json::json!({"batch_size": 2000}));
    let catalog = src.discover().await.unwrap();
    let e = read(
        src.as_ref(),
        &catalog,
        "Contact",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .err()
    .unwrap();
    let text = e.to_string();
    assert!(matches!(e, Error::RateLimit { .. }), "{text}");
    assert!(
        text.contains("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."),
        "{text}"
    );
    assert!(text.contains("/services/data/v64.0/query"), "{text}");
    assert_eq!(usage(&sb).await["tokens_issued"], 1, "no token refresh");
}

#[tokio::test]
async fn cut_pages_are_fetched_again_and_faults_are_retried() {
    let sb = sandbox(config(4100)).await;
    let src = source_with(&sb, serde_json::json!({"max_retries": 4}));
    let catalog = src.discover().await.unwrap();
    for fault in [
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll/", "kind": "truncate", "count": 1}),
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll", "kind": "status", "status": 429, "count": 2}),
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll/", "kind": "status", "status": 503, "count": 2}),
    ] {
        admin(&sb, "/_sandbox/faults", fault).await;
    }
    let r = read(
        src.as_ref(),
        &catalog,
        "Contact",
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.rows(), 4100);
    assert_eq!(r.ids().into_iter().collect::<HashSet<_>>().len(), 4100);
    assert!(r.retries >= 5, "retries counted: {}", r.retries);

    // A page locator handed back twice stops the read.
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/services/data/v64.0/queryAll/", "kind": "repeat_paging", "count": 1}),
    )
    .await;
    let e = read(
        src.as_ref(),
        &catalog,
        "Contact",
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, Error::Data { .. }), "{e}");
}
