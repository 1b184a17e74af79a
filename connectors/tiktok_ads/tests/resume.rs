//! The connector against the sandbox, in process: a crashed full refresh
//! resumes at its committed page, and an incremental report re-reads the
//! lookback days.

use braid_connector_tiktok_ads::TikTokAdsConnector;
use braid_sandbox::tiktok::{advertiser_id, campaign_id, today_for, Shape};
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::arrow_array::cast::AsArray;
use braid_sdk::{Connector, CursorValue, Message, ReadRequest, SourceState, StreamState, SyncMode};
use futures::StreamExt;

async fn start() -> Sandbox {
    let mut c = SandboxConfig::default();
    c.tiktok.campaigns_per_advertiser = 12;
    c.tiktok.requests_per_second = None;
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn source(sb: &Sandbox, lookback: u64) -> Box<dyn braid_sdk::Source> {
    TikTokAdsConnector
        .build(serde_json::json!({
            "base_url": sb.base_url(),
            "access_token": "sandbox-tiktok-token",
            "advertiser_ids": [advertiser_id(42, 0).to_string(), advertiser_id(42, 1).to_string()],
            "page_size": 5,
            "lookback_days": lookback,
            "requests_per_second": 0,
        }))
        .unwrap()
}

/// Reads `stream` with `state`: (ids in column 0, checkpoints' resume values).
async fn read(
    src: &dyn braid_sdk::Source,
    stream: &str,
    mode: SyncMode,
    state: StreamState,
) -> (Vec<String>, Vec<Option<serde_json::Value>>) {
    let catalog = src.discover().await.unwrap();
    let mut s = SourceState::default();
    s.streams.insert(stream.into(), state);
    let req = ReadRequest {
        streams: vec![braid_sdk::ConfiguredStream {
            stream: catalog.stream(stream).unwrap().clone(),
            sync_mode: mode,
        }],
        state: s,
    };
    let mut msgs = src.read(req).await.unwrap();
    let (mut ids, mut resumes) = (Vec::new(), Vec::new());
    while let Some(m) = msgs.next().await {
        match m.unwrap() {
            Message::Batch { batch, .. } => {
                let col = batch.column_by_name(match stream {
                    "campaigns" => "campaign_id",
                    _ => "stat_date",
                });
                if let Some(c) = col.and_then(|c| c.as_string_opt::<i32>()) {
                    ids.extend(c.iter().map(|v| v.unwrap_or_default().to_owned()));
                } else if let Some(c) = col {
                    let d = c.as_primitive::<braid_sdk::arrow_array::types::Date32Type>();
                    ids.extend(d.iter().map(|v| v.unwrap_or_default().to_string()));
                }
            }
            Message::Checkpoint { resume, .. } => resumes.push(resume),
            _ => {}
        }
    }
    (ids, resumes)
}

#[tokio::test]
async fn a_full_refresh_resumes_at_the_committed_advertiser_and_page() {
    let sb = start().await;
    let src = source(&sb, 7);
    let (all, resumes) = read(
        src.as_ref(),
        "campaigns",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await;
    assert_eq!(all.len(), 24);
    // Pages of 5 (below the flush size): one checkpoint per advertiser.
    assert_eq!(
        resumes[0],
        Some(
            serde_json::json!({"advertiser": 1, "advertiser_id": advertiser_id(42, 1).to_string(), "page": 1})
        )
    );
    assert_eq!(resumes.last().unwrap(), &None);
    // A run that crashed after committing advertiser 1's first two pages.
    let state = StreamState {
        resume: Some(
            serde_json::json!({"advertiser": 1, "advertiser_id": advertiser_id(42, 1).to_string(), "page": 3}),
        ),
        ..StreamState::default()
    };
    let (rest, _) = read(src.as_ref(), "campaigns", SyncMode::FullRefresh, state).await;
    let shape = Shape {
        campaigns: 12,
        adgroups: 2,
        ads: 2,
    };
    let want: Vec<String> = (10..12)
        .map(|c| campaign_id(42, shape.campaign_index(1, c)).to_string())
        .collect();
    assert_eq!(rest, want);
    // A resume token for another advertiser list starts over.
    let stale = StreamState {
        resume: Some(serde_json::json!({"advertiser": 1, "advertiser_id": "123", "page": 3})),
        ..StreamState::default()
    };
    let (again, _) = read(src.as_ref(), "campaigns", SyncMode::FullRefresh, stale).await;
    assert_eq!(again, all);
    sb.shutdown().await;
}

#[tokio::test]
async fn an_incremental_report_rereads_the_lookback_days_and_says_so() {
    let sb = start().await;
    let src = source(&sb, 2);
    let today = (0..2).map(today_for).max().unwrap();
    let committed = today - chrono::Duration::days(5);
    let days = |d: chrono::NaiveDate| {
        (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    };
    let state = StreamState {
        cursor: Some(CursorValue::Date(days(committed))),
        ..StreamState::default()
    };
    assert_eq!(
        src.restates_from("campaign_daily_report", &state),
        Some(CursorValue::Date(days(
            committed - chrono::Duration::days(2)
        )))
    );
    assert_eq!(src.restates_from("campaigns", &state), None);
    let (read_days, _) = read(
        src.as_ref(),
        "campaign_daily_report",
        SyncMode::Incremental,
        state,
    )
    .await;
    let first: i32 = read_days
        .iter()
        .map(|d| d.parse::<i32>().unwrap())
        .min()
        .unwrap();
    let last: i32 = read_days
        .iter()
        .map(|d| d.parse::<i32>().unwrap())
        .max()
        .unwrap();
    assert_eq!(first, days(committed - chrono::Duration::days(2)));
    assert_eq!(last, days(today));
    sb.shutdown().await;
}
