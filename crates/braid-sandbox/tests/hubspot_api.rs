//! The HubSpot emulation over real loopback HTTP: paging, search, auth, rate
//! limits, mutations and faults.

use std::collections::BTreeSet;

use braid_sandbox::hubspot::{self, base_modified_ms};
use braid_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

const TOKEN: &str = "sandbox-hubspot-token";

/// A sandbox of `contacts` contacts with no rate limits.
async fn start(contacts: u64) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.hubspot.contacts = contacts;
    c.hubspot.requests_per_second = None;
    c.hubspot.search_requests_per_second = None;
    start_with(c).await
}

async fn start_with(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn get(sb: &Sandbox, path_and_query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path_and_query}", sb.hubspot_base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

async fn search(sb: &Sandbox, object: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/crm/v3/objects/{object}/search",
            sb.hubspot_base_url()
        ))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn admin(sb: &Sandbox, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn modified_gte(property: &str, ms: i64, after: u64, limit: u64) -> Value {
    json!({
        "filterGroups": [{"filters": [{"propertyName": property, "operator": "GTE", "value": ms.to_string()}]}],
        "sorts": [{"propertyName": property, "direction": "ASCENDING"}],
        "properties": [property, "lifecyclestage"],
        "limit": limit,
        "after": after.to_string(),
    })
}

fn ids(page: &Value) -> Vec<u64> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn assert_hubspot_error(body: &Value, category: &str) {
    assert_eq!(body["status"], "error");
    assert_eq!(body["category"], category, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["correlationId"].as_str().unwrap().len(), 36);
}

#[tokio::test]
async fn list_pages_visit_every_record_exactly_once_with_generated_values() {
    let sb = start(1050).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &after {
            Some(a) => format!("/crm/v3/objects/contacts?limit=100&after={a}&properties=email,phone,hs_wechat_unionid,lastmodifieddate&archived=false"),
            None => "/crm/v3/objects/contacts?limit=100&properties=email,phone,hs_wechat_unionid,lastmodifieddate&archived=false".into(),
        };
        let r = get(&sb, &q).await;
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        pages += 1;
        for rec in page["results"].as_array().unwrap() {
            let id: u64 = rec["id"].as_str().unwrap().parse().unwrap();
            let expected = hubspot::contact(42, id - 1);
            let props = rec["properties"].as_object().unwrap();
            assert_eq!(props.len(), 4, "only the requested properties");
            for name in ["email", "phone", "hs_wechat_unionid", "lastmodifieddate"] {
                assert_eq!(props[name].as_str(), expected.property(name), "{id} {name}");
            }
            assert_eq!(rec["archived"], false);
            assert_eq!(
                rec["updatedAt"].as_str(),
                expected.property("lastmodifieddate")
            );
            assert_eq!(
                rec["createdAt"].as_str(),
                expected.property("createdate"),
                "createdAt mirrors createdate"
            );
            seen.push(id);
        }
        match page["paging"]["next"]["after"].as_str() {
            Some(a) => {
                let link = page["paging"]["next"]["link"].as_str().unwrap();
                assert!(link.starts_with(&sb.base_url()) && link.contains(a));
                after = Some(a.to_owned());
            }
            None => {
                assert!(page.get("paging").is_none(), "no paging on the last page");
                break;
            }
        }
    }
    assert_eq!(pages, 11);
    assert_eq!(seen, (1..=1050).collect::<Vec<u64>>());
    sb.shutdown().await;
}

#[tokio::test]
async fn list_defaults_clamps_and_rejects_bad_limits() {
    let sb = start(500).await;
    let page: Value = get(&sb, "/crm/v3/objects/contacts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        ids(&page),
        (1..=10).collect::<Vec<u64>>(),
        "default limit 10"
    );
    let names: BTreeSet<&str> = page["results"][0]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname"
        ])
    );
    let page: Value = get(&sb, "/crm/v3/objects/contacts?limit=500")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page).len(), 100, "limits above 100 are clamped");
    assert_eq!(page["paging"]["next"]["after"], "100");

    let r = get(&sb, "/crm/v3/objects/contacts?limit=abc").await;
    assert_eq!(r.status(), 400);
    assert_hubspot_error(&r.json().await.unwrap(), "VALIDATION_ERROR");

    let r = get(&sb, "/crm/v3/objects/widgets").await;
    assert_eq!(r.status(), 404);
    assert_hubspot_error(&r.json().await.unwrap(), "OBJECT_NOT_FOUND");

    let page: Value = get(&sb, "/crm/v3/objects/contacts?archived=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 0);

    // Deals carry amounts with cents and one of three currencies.
    let page: Value = get(
        &sb,
        "/crm/v3/objects/deals?limit=100&properties=amount,deal_currency_code",
    )
    .await
    .json()
    .await
    .unwrap();
    for rec in page["results"].as_array().unwrap() {
        let ccy = rec["properties"]["deal_currency_code"].as_str().unwrap();
        assert!(["USD", "CNY", "EUR"].contains(&ccy));
        if let Some(a) = rec["properties"]["amount"].as_str() {
            assert!(a.parse::<f64>().unwrap() >= 10.0, "{a}");
        }
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn search_gte_includes_the_whole_tie_group_and_orders_by_time_then_id() {
    let sb = start(3000).await;
    // Index 1501 shares its timestamp with 1500 and 1502.
    let ms = base_modified_ms(1501);
    let page: Value = search(
        &sb,
        "contacts",
        modified_gte("lastmodifieddate", ms, 0, 200),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["total"], 1500);
    assert_eq!(ids(&page), (1501..=1700).collect::<Vec<u64>>());
    assert_eq!(page["paging"]["next"]["after"], "200");
    assert!(page["paging"]["next"].get("link").is_none());
    let first = &page["results"][0]["properties"];
    assert_eq!(
        first["lastmodifieddate"].as_str().unwrap(),
        hubspot::format_datetime(ms)
    );
    assert!(first.get("lifecyclestage").is_some());

    // GT skips the tie group; EQ is exactly it; LT/LTE bound the other side.
    let gt = json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": ms.to_string()}]}], "limit": 5});
    let page: Value = search(&sb, "contacts", gt).await.json().await.unwrap();
    assert_eq!(page["total"], 1497);
    assert_eq!(ids(&page), vec![1504, 1505, 1506, 1507, 1508]);
    let eq = json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "EQ", "value": ms.to_string()}]}]});
    let page: Value = search(&sb, "contacts", eq).await.json().await.unwrap();
    assert_eq!(ids(&page), vec![1501, 1502, 1503]);
    let range = json!({"filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": base_modified_ms(0).to_string()},
        {"propertyName": "lastmodifieddate", "operator": "LT", "value": ms.to_string()},
    ]}], "limit": 3});
    let page: Value = search(&sb, "contacts", range).await.json().await.unwrap();
    assert_eq!(page["total"], 1500);
    let lte = json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "LTE", "value": ms.to_string()}]}]});
    let page: Value = search(&sb, "contacts", lte).await.json().await.unwrap();
    assert_eq!(page["total"], 1503);

    // Descending order, and companies filter on hs_lastmodifieddate.
    let desc = json!({"sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}], "limit": 4});
    let page: Value = search(&sb, "contacts", desc).await.json().await.unwrap();
    assert_eq!(ids(&page), vec![3000, 2999, 2998, 2997]);
    let page: Value = search(
        &sb,
        "companies",
        modified_gte("hs_lastmodifieddate", base_modified_ms(498), 0, 100),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ids(&page), vec![499, 500]);
    assert!(page.get("paging").is_none());
    sb.shutdown().await;
}

#[tokio::test]
async fn search_rejects_bad_requests_in_hubspot_format() {
    let sb = start(100).await;
    for body in [
        json!({"filterGroups": [{"filters": [{"propertyName": "no_such_prop", "operator": "GTE", "value": "1"}]}]}),
        json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "yesterday"}]}]}),
        json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "BETWIXT", "value": "1"}]}]}),
        json!({"limit": 201}),
        json!({"limit": 0}),
    ] {
        let r = search(&sb, "contacts", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_hubspot_error(&r.json().await.unwrap(), "VALIDATION_ERROR");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/crm/v3/objects/contacts/search", sb.base_url()))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn search_pages_up_to_ten_thousand_results_then_400s() {
    let sb = start(12_000).await;
    let body = |after| modified_gte("lastmodifieddate", 0, after, 200);
    let page: Value = search(&sb, "contacts", body(9_800))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 12_000);
    assert_eq!(ids(&page), (9_801..=10_000).collect::<Vec<u64>>());
    assert_eq!(page["paging"]["next"]["after"], "10000");
    let r = search(&sb, "contacts", body(10_000)).await;
    assert_eq!(r.status(), 400);
    assert_hubspot_error(&r.json().await.unwrap(), "VALIDATION_ERROR");
    sb.shutdown().await;
}

#[tokio::test]
async fn missing_or_wrong_token_gets_hubspots_401() {
    let sb = start(10).await;
    let client = reqwest::Client::new();
    for req in [
        client.get(format!("{}/crm/v3/objects/contacts", sb.base_url())),
        client
            .get(format!("{}/crm/v3/objects/contacts", sb.base_url()))
            .bearer_auth("not-the-token"),
        client.get(format!("{}/crm/v3/properties/contacts", sb.base_url())),
        client
            .post(format!("{}/crm/v3/objects/deals/search", sb.base_url()))
            .json(&json!({})),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_hubspot_error(&body, "INVALID_AUTHENTICATION");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("Authentication credentials not found."));
        assert!(!body.to_string().contains(TOKEN), "no token echoed");
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn exceeding_the_secondly_budget_gets_429_with_hubspot_headers() {
    let mut c = SandboxConfig::default();
    c.hubspot.contacts = 10;
    c.hubspot.requests_per_second = Some(3);
    c.hubspot.search_requests_per_second = None;
    let sb = start_with(c).await;
    let (mut ok, mut limited) = (0, 0);
    // Ten quick requests span at most a couple of one-second windows of 3.
    for _ in 0..10 {
        let r = get(&sb, "/crm/v3/objects/contacts?limit=1").await;
        let h = r.headers().clone();
        assert_eq!(h["x-hubspot-ratelimit-secondly"], "3");
        assert!(h.contains_key("x-hubspot-ratelimit-secondly-remaining"));
        assert!(h.contains_key("x-hubspot-ratelimit-max"));
        assert!(h.contains_key("x-hubspot-ratelimit-remaining"));
        assert!(h.contains_key("x-hubspot-ratelimit-interval-milliseconds"));
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert_eq!(h["retry-after"], "1");
                assert_eq!(h["x-hubspot-ratelimit-secondly-remaining"], "0");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["status"], "error");
                assert_eq!(body["errorType"], "RATE_LIMIT");
                assert_eq!(body["policyName"], "SECONDLY");
                assert_eq!(body["message"], "You have reached your secondly limit.");
                assert!(body["correlationId"].is_string());
                assert!(body["groupName"].is_string());
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(ok >= 3 && limited >= 1, "{ok} ok, {limited} limited");
    let stats: Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 10);
    assert_eq!(stats["by_status"]["429"], limited);
    assert_eq!(stats["by_status"]["200"], ok);
    sb.shutdown().await;
}

#[tokio::test]
async fn search_has_its_own_smaller_budget() {
    let mut c = SandboxConfig::default();
    c.hubspot.contacts = 10;
    c.hubspot.requests_per_second = None;
    c.hubspot.search_requests_per_second = Some(2);
    let sb = start_with(c).await;
    let mut limited = 0;
    for _ in 0..8 {
        let r = search(&sb, "contacts", json!({"limit": 1})).await;
        if r.status() == 429 {
            limited += 1;
            assert_eq!(r.headers()["retry-after"], "1");
        } else {
            assert_eq!(r.status(), 200);
        }
        // The list endpoint is not limited meanwhile.
        assert_eq!(
            get(&sb, "/crm/v3/objects/contacts?limit=1").await.status(),
            200
        );
    }
    assert!(limited >= 2, "{limited} limited");
    sb.shutdown().await;
}

#[tokio::test]
async fn mutations_move_records_to_a_new_shared_time_and_show_in_search_and_list() {
    let sb = start(300).await;
    let m = admin(
        &sb,
        "/_sandbox/hubspot/mutate",
        json!({"object": "contacts", "count": 5}),
    )
    .await;
    let mut mutated: Vec<u64> = m["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    mutated.sort_unstable();
    mutated.dedup();
    assert_eq!(mutated.len(), 5);
    let at = m["modified_at"].as_str().unwrap().to_owned();
    let at_ms = m["modified_at_ms"].as_i64().unwrap();
    assert!(at_ms > base_modified_ms(299));
    assert_eq!(hubspot::format_datetime(at_ms), at);

    // The incremental search from the mutation time sees exactly those, tied.
    let page: Value = search(
        &sb,
        "contacts",
        modified_gte("lastmodifieddate", at_ms, 0, 100),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(ids(&page), mutated);
    for rec in page["results"].as_array().unwrap() {
        let id: u64 = rec["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(rec["properties"]["lastmodifieddate"], at.as_str());
        assert_eq!(rec["updatedAt"], at.as_str());
        let before = hubspot::contact(42, id - 1);
        assert_ne!(
            rec["properties"]["lifecyclestage"].as_str(),
            before.property("lifecyclestage"),
            "a visible property changed"
        );
    }
    // A full search still has 300 results; the mutated ones sort last.
    let all: Value = search(&sb, "contacts", modified_gte("lastmodifieddate", 0, 0, 200))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 300);
    let tail: Value = search(
        &sb,
        "contacts",
        modified_gte("lastmodifieddate", 0, 295, 200),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ids(&tail), mutated);
    let head = ids(&all);
    assert!(mutated.iter().all(|id| !head.contains(id)));

    // Creating appends ids after the last one, at a later shared time.
    let c = admin(
        &sb,
        "/_sandbox/hubspot/mutate",
        json!({"object": "contacts", "create": 3}),
    )
    .await;
    assert_eq!(c["ids"], json!(["301", "302", "303"]));
    assert!(c["modified_at_ms"].as_i64().unwrap() > at_ms);
    let page: Value = get(
        &sb,
        "/crm/v3/objects/contacts?limit=100&after=290&properties=lastmodifieddate",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ids(&page), (291..=303).collect::<Vec<u64>>());
    assert_eq!(
        page["results"][12]["properties"]["lastmodifieddate"],
        c["modified_at"]
    );

    // Reset forgets every mutation.
    admin(&sb, "/_sandbox/reset", json!({})).await;
    let page: Value = search(
        &sb,
        "contacts",
        modified_gte("lastmodifieddate", at_ms, 0, 100),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["total"], 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn status_faults_fail_the_next_matching_requests_then_clear() {
    let sb = start(50).await;
    admin(
        &sb,
        "/_sandbox/faults",
        json!({"path_prefix": "/crm/v3/objects/contacts", "kind": "status", "status": 502, "count": 2}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        json!({"path_prefix": "/crm/v3/objects/deals", "kind": "status", "status": 429, "count": 1}),
    )
    .await;
    // Other paths are untouched.
    assert_eq!(get(&sb, "/crm/v3/objects/companies").await.status(), 200);
    for _ in 0..2 {
        let r = get(&sb, "/crm/v3/objects/contacts").await;
        assert_eq!(r.status(), 502);
        assert_hubspot_error(&r.json().await.unwrap(), "INTERNAL_ERROR");
    }
    assert_eq!(get(&sb, "/crm/v3/objects/contacts").await.status(), 200);
    let r = get(&sb, "/crm/v3/objects/deals").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.json::<Value>().await.unwrap()["errorType"], "RATE_LIMIT");
    assert_eq!(get(&sb, "/crm/v3/objects/deals").await.status(), 200);

    let stats: Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 6);
    assert_eq!(stats["by_status"], json!({"200": 3, "429": 1, "502": 2}));
    assert_eq!(stats["by_path"]["/crm/v3/objects/contacts"], 3);

    // Reset clears pending faults and stats.
    admin(
        &sb,
        "/_sandbox/faults",
        json!({"path_prefix": "/crm", "kind": "status", "status": 500, "count": 5}),
    )
    .await;
    admin(&sb, "/_sandbox/reset", json!({})).await;
    assert_eq!(get(&sb, "/crm/v3/objects/contacts").await.status(), 200);
    let stats: Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn repeat_paging_truncate_delay_and_401_faults() {
    let sb = start(500).await;
    admin(
        &sb,
        "/_sandbox/faults",
        json!({"path_prefix": "/crm/v3/objects/contacts", "kind": "repeat_paging", "count": 2}),
    )
    .await;
    let page: Value = get(&sb, "/crm/v3/objects/contacts?limit=100&after=200")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page)[0], 201);
    assert_eq!(page["paging"]["next"]["after"], "200", "token repeated");
    let page: Value = search(
        &sb,
        "contacts",
        modified_gte("lastmodifieddate", 0, 100, 50),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        page["paging"]["next"]["after"], "100",
        "search token repeated"
    );
    let page: Value = get(&sb, "/crm/v3/objects/contacts?limit=100&after=200")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["paging"]["next"]["after"], "300", "fault used up");

    admin(
        &sb,
        "/_sandbox/faults",
        json!({"path_prefix": "/crm/v3/objects/contacts", "kind": "truncate", "count": 1}),
    )
    .await;
    let r = get(&sb, "/crm/v3/objects/contacts?limit=100").await;
    assert_eq!(r.status(), 200);
    let cut = r.bytes().await.unwrap();
    let full = get(&sb, "/crm/v3/objects/contacts?limit=100")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(cut.len(), full.len() / 2);
    assert_eq!(cut[..], full[..cut.len()]);
    assert!(serde_json::from_slice::<Value>(&cut).is_err());
    assert!(serde_json::from_slice::<Value>(&full).is_ok());

    admin(
        &sb,
        "/_sandbox/faults",
        json!({"path_prefix": "/crm/v3/properties", "kind": "delay_ms", "ms": 150, "count": 1}),
    )
    .await;
    let t = std::time::Instant::now();
    let r = get(&sb, "/crm/v3/properties/contacts").await;
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));

    admin(
        &sb,
        "/_sandbox/faults",
        json!({"path_prefix": "/crm/v3/objects/contacts", "kind": "status", "status": 401, "count": 1}),
    )
    .await;
    let r = get(&sb, "/crm/v3/objects/contacts").await;
    assert_eq!(r.status(), 401);
    assert_hubspot_error(&r.json().await.unwrap(), "INVALID_AUTHENTICATION");

    let r = reqwest::Client::new()
        .post(format!("{}/_sandbox/faults", sb.base_url()))
        .json(&json!({"path_prefix": "/", "kind": "explode"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "unknown fault kinds are refused");
    sb.shutdown().await;
}

#[tokio::test]
async fn properties_endpoint_serves_typed_definitions() {
    let sb = start(10).await;
    let body: Value = get(&sb, "/crm/v3/properties/contacts")
        .await
        .json()
        .await
        .unwrap();
    let props = body["results"].as_array().unwrap();
    let kind = |name: &str| {
        props
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))["type"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (name, t) in [
        ("email", "string"),
        ("firstname", "string"),
        ("lastname", "string"),
        ("phone", "phone_number"),
        ("mobilephone", "phone_number"),
        ("company", "string"),
        ("city", "string"),
        ("country", "string"),
        ("lifecyclestage", "enumeration"),
        ("hs_wechat_unionid", "string"),
        ("createdate", "datetime"),
        ("lastmodifieddate", "datetime"),
        ("hs_object_id", "number"),
        ("hs_email_optout", "bool"),
        ("date_of_birth", "date"),
    ] {
        assert_eq!(kind(name), t, "{name}");
    }
    let email = props.iter().find(|p| p["name"] == "email").unwrap();
    assert_eq!(email["label"], "Email");
    assert_eq!(email["fieldType"], "text");
    assert_eq!(email["groupName"], "contactinformation");

    for (object, names) in [
        (
            "companies",
            vec![
                "name",
                "domain",
                "numberofemployees",
                "annualrevenue",
                "hs_lastmodifieddate",
            ],
        ),
        (
            "deals",
            vec![
                "dealname",
                "amount",
                "deal_currency_code",
                "closedate",
                "hs_lastmodifieddate",
            ],
        ),
    ] {
        let body: Value = get(&sb, &format!("/crm/v3/properties/{object}"))
            .await
            .json()
            .await
            .unwrap();
        let got: Vec<&str> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for n in names {
            assert!(got.contains(&n), "{object}.{n}");
        }
    }
    assert_eq!(get(&sb, "/crm/v3/properties/widgets").await.status(), 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sb = start(10).await;
    let url = format!("{}/crm/v3/objects/contacts", sb.base_url());
    sb.shutdown().await;
    assert!(reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .is_err());
}
