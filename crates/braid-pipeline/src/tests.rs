//! Tests of the public API with inline YAML.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc, Weekday};
use serde_json::json;

use crate::*;

const FILE: &str = "pipelines/x.yaml";

fn env(name: &str) -> Option<String> {
    match name {
        "HUBSPOT_ACCESS_TOKEN" => Some("pat-eu1-s3cr3t".into()),
        "DB_PASSWORD" => Some("hunter2-pw".into()),
        "EMPTY" => Some(String::new()),
        "BAD_MODE" => Some("sneaky-s3cr3t-mode".into()),
        _ => None,
    }
}

fn ok(yaml: &str) -> Pipeline {
    match parse(yaml, FILE, &env) {
        Ok(p) => p,
        Err(e) => panic!("expected a valid pipeline, got:\n{e}"),
    }
}

/// The rendered diagnostics, one string each.
fn errors(yaml: &str) -> Vec<String> {
    match parse(yaml, FILE, &env) {
        Ok(p) => panic!("expected errors, got {p:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

const FULL: &str = r#"# pipelines/hubspot_crm.yaml
name: hubspot_crm
description: CRM contacts, companies and deals from HubSpot
schedule: "*/30 * * * *"
timezone: Europe/Berlin
warehouse: ./warehouse
options:
  buffer_bytes: 256MiB
  commit_every_bytes: 134217728
  commit_every_seconds: 30
sources:
  - name: hubspot
    connector: hubspot
    config:
      base_url: ${HUBSPOT_BASE_URL:-https://api.hubapi.com}
      access_token: ${HUBSPOT_ACCESS_TOKEN}
      page_size: 100
      archived: false
      portal: 0042
      flag: yes
    streams:
      - contacts
      - name: deals
        sync_mode: incremental
"#;

#[test]
fn full_valid_file() {
    let p = ok(FULL);
    assert_eq!(p.file, FILE);
    assert_eq!(p.name, "hubspot_crm");
    assert_eq!(p.name_location, Location::new(2, 7));
    assert_eq!(
        p.description.as_deref(),
        Some("CRM contacts, companies and deals from HubSpot")
    );
    let s = p.schedule.as_ref().unwrap();
    assert_eq!(s.expression, "*/30 * * * *");
    assert_eq!(s.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(s.location, Location::new(4, 11));
    assert_eq!(p.warehouse.as_deref(), Some("./warehouse"));
    assert_eq!(
        p.options,
        RuntimeOptions {
            buffer_bytes: 268_435_456,
            commit_every_bytes: 134_217_728,
            commit_every_seconds: 30,
        }
    );

    assert_eq!(p.sources.len(), 1);
    let src = &p.sources[0];
    assert_eq!(src.path, "sources[0]");
    assert_eq!(src.name, "hubspot");
    assert_eq!(src.name.location, Location::new(12, 11));
    assert_eq!(src.connector, "hubspot");
    assert_eq!(src.connector.location, Location::new(13, 16));
    assert_eq!(
        src.config,
        json!({
            "base_url": "https://api.hubapi.com",
            "access_token": "pat-eu1-s3cr3t",
            "page_size": 100,
            "archived": false,
            "portal": "0042",
            "flag": "yes",
        })
    );
    assert_eq!(src.config_location, Location::new(15, 7));
    assert_eq!(src.location_of("/access_token"), Location::new(16, 21));
    assert_eq!(src.location_of("/access_token/nope"), Location::new(16, 21));
    assert_eq!(src.location_of("/missing"), Location::new(15, 7));

    assert_eq!(src.streams.len(), 2);
    assert_eq!(src.streams[0].name, "contacts");
    assert_eq!(src.streams[0].name.location, Location::new(22, 9));
    assert_eq!(src.streams[0].sync_mode, None);
    assert_eq!(src.streams[1].name, "deals");
    assert_eq!(src.streams[1].sync_mode, Some(SyncMode::Incremental));
    assert_eq!(
        src.streams[1].sync_mode_location,
        Some(Location::new(24, 20))
    );
    assert_eq!(src.streams[1].path, "sources[0].streams[1]");
    assert!(p.source("hubspot").is_some());
    assert!(p.source("nope").is_none());
}

#[test]
fn minimal_file_gets_defaults() {
    let p = ok("name: m\nsources:\n  - name: files\n    connector: files\n");
    assert_eq!(p.options, RuntimeOptions::default());
    assert_eq!(p.options.buffer_bytes, 64 * 1024 * 1024);
    assert_eq!(p.options.commit_every_bytes, 128 * 1024 * 1024);
    assert_eq!(p.options.commit_every_seconds, 60);
    assert!(p.schedule.is_none());
    assert!(p.description.is_none());
    assert!(p.warehouse.is_none());
    let s = &p.sources[0];
    assert_eq!(s.config, json!({}));
    assert_eq!(s.config_location, Location::new(3, 5));
    assert!(s.streams.is_empty(), "omitted streams = every stream");
}

#[test]
fn shorthand_and_flow_streams() {
    let p = ok("name: m\nsources:\n  - name: a\n    connector: c\n    streams: [contacts, {name: deals, sync_mode: full_refresh}, companies]\n");
    let names: Vec<&str> = p.sources[0]
        .streams
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["contacts", "deals", "companies"]);
    let modes: Vec<Option<SyncMode>> = p.sources[0].streams.iter().map(|s| s.sync_mode).collect();
    assert_eq!(modes, [None, Some(SyncMode::FullRefresh), None]);
    assert_eq!(p.sources[0].streams[0].name.location, Location::new(5, 15));
}

#[test]
fn bad_sync_mode_is_rendered_with_file_line_column_path() {
    let yaml = "\
name: x
sources:
  - name: hubspot
    connector: hubspot
    streams:
      - contacts
      - {name: deals, sync_mode: incremantal}
";
    assert_eq!(
        errors(yaml),
        [
            r#"pipelines/x.yaml:7:34: sources[0].streams[1].sync_mode: unknown variant "incremantal", expected one of full_refresh, incremental"#
        ]
    );
}

#[test]
fn every_semantic_error_is_reported_at_once() {
    let yaml = "\
name: Hub Spot
schedule: '61 * * * *'
timezone: Europe/Berln
options:
  buffer_bytes: 12 parsecs
  commit_every_seconds: 0
sources:
  - name: hubspot
    connector: hubspot
    config:
      token: ${MISSING_TOKEN}
  - name: hubspot
    connector: ''
    streams:
      - name: deals
        sync_mode: sometimes
";
    let e = errors(yaml);
    let expected = [
        r#"pipelines/x.yaml:1:7: name: invalid name "Hub Spot": expected lowercase letters, digits, '_' and '-' only"#,
        "pipelines/x.yaml:2:11: schedule: invalid cron expression \"61 * * * *\": ",
        r#"pipelines/x.yaml:3:11: timezone: unknown time zone "Europe/Berln", did you mean "Europe/Berlin"?"#,
        r#"pipelines/x.yaml:5:17: options.buffer_bytes: invalid value "12 parsecs": expected a size in bytes"#,
        "pipelines/x.yaml:6:25: options.commit_every_seconds: must be greater than 0",
        "pipelines/x.yaml:11:14: sources[0].config.token: environment variable MISSING_TOKEN is not set",
        r#"pipelines/x.yaml:12:11: sources[1].name: duplicate source name "hubspot" (first defined at line 8)"#,
        "pipelines/x.yaml:13:16: sources[1].connector: expected a connector name, found an empty string",
        r#"pipelines/x.yaml:16:20: sources[1].streams[0].sync_mode: unknown variant "sometimes", expected one of full_refresh, incremental"#,
    ];
    assert_eq!(e.len(), expected.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expected) {
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}…");
    }
    assert!(e[1].contains("expected 5 fields"), "{}", e[1]);
}

#[test]
fn duplicate_source_names_only_need_a_second_entry() {
    let yaml = "name: x\nsources:\n  - {name: a, connector: c}\n  - {name: b, connector: c}\n  - {name: a, connector: c}\n";
    assert_eq!(
        errors(yaml),
        [
            r#"pipelines/x.yaml:5:12: sources[2].name: duplicate source name "a" (first defined at line 3)"#
        ]
    );
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let yaml = "\
name: x
shedule: '@daily'
sources:
  - name: a
    conector: c
    wibble: 1
";
    assert_eq!(
        errors(yaml),
        [
            r#"pipelines/x.yaml:2:1: shedule: unknown key "shedule", did you mean "schedule"?"#,
            r#"pipelines/x.yaml:4:5: sources[0]: missing required key "connector""#,
            r#"pipelines/x.yaml:5:5: sources[0].conector: unknown key "conector", did you mean "connector"?"#,
            r#"pipelines/x.yaml:6:5: sources[0].wibble: unknown key "wibble", expected one of name, connector, config, streams"#,
        ]
    );
}

#[test]
fn missing_required_keys_and_wrong_types() {
    assert_eq!(
        errors("description: d\n"),
        [
            r#"pipelines/x.yaml:1:1: missing required key "name""#,
            r#"pipelines/x.yaml:1:1: missing required key "sources""#,
        ]
    );
    assert_eq!(
        errors("name: x\nsources: {a: 1}\n"),
        ["pipelines/x.yaml:2:10: sources: expected a sequence of sources, found a mapping"]
    );
    assert_eq!(
        errors("name: x\nsources: []\n"),
        ["pipelines/x.yaml:2:10: sources: expected at least one source"]
    );
    assert_eq!(
        errors("name: x\nsources:\n  - name: a\n    connector: c\n    streams: []\n    config: [1]\n"),
        [
            "pipelines/x.yaml:5:14: sources[0].streams: expected at least one stream (leave `streams` out to read every stream)",
            "pipelines/x.yaml:6:13: sources[0].config: expected a mapping (the connector's config), found a sequence",
        ]
    );
    assert_eq!(
        errors("- a\n- b\n"),
        ["pipelines/x.yaml:1:1: expected a mapping (the pipeline), found a sequence"]
    );
    assert_eq!(
        errors(""),
        ["pipelines/x.yaml:1:1: the file is empty: expected a mapping with keys name, description, schedule, timezone, warehouse, options, sources, unify"]
    );
    assert_eq!(
        errors("name: 42\nsources:\n  - name: a\n    connector: c\n    streams: [7]\n"),
        [
            "pipelines/x.yaml:1:7: name: expected a string, found an integer",
            "pipelines/x.yaml:5:15: sources[0].streams[0]: expected a stream name or a mapping with name and sync_mode, found an integer",
        ]
    );
}

#[test]
fn duplicate_key_is_an_error() {
    let yaml = "name: x\nsources:\n  - name: a\n    connector: c\n    name: b\n";
    let e = errors(yaml);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("pipelines/x.yaml:5:5: duplicate mapping key"),
        "{}",
        e[0]
    );
    assert!(e[0].contains("name"), "{}", e[0]);
}

#[test]
fn yaml_syntax_error_stops_with_one_located_error() {
    let e = parse("name: x\nsources: [a, b\nfoo: 1\n", FILE, &env).unwrap_err();
    assert_eq!(e.len(), 1);
    let d = &e.0[0];
    assert_eq!((d.line, d.column), (3, 4));
    assert_eq!(d.path, "");
    assert_eq!(d.file, FILE);
    assert!(!d.message.is_empty());
    assert_eq!(
        e.to_string(),
        format!("pipelines/x.yaml:3:4: {}", d.message)
    );
}

#[test]
fn merge_keys_and_anchors() {
    let yaml = "\
name: x
x-defaults: &hubspot
  connector: hubspot
  config: &cfg
    base_url: https://api.hubapi.com
    access_token: ${HUBSPOT_ACCESS_TOKEN}
sources:
  - <<: *hubspot
    name: eu
  - <<: *hubspot
    name: us
    connector: hubspot_v2
  - name: other
    connector: files
    config: *cfg
";
    let p = ok(yaml);
    let names: Vec<&str> = p.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["eu", "us", "other"]);
    assert_eq!(p.sources[0].connector, "hubspot");
    assert_eq!(
        p.sources[1].connector, "hubspot_v2",
        "explicit keys override merged ones"
    );
    for s in &p.sources {
        assert_eq!(s.config["access_token"], "pat-eu1-s3cr3t");
        assert_eq!(s.redacted_config()["access_token"], REDACTED);
    }
    // A merged value is located where it is written.
    assert_eq!(p.sources[0].connector.location, Location::new(3, 14));
    assert_eq!(p.sources[2].location_of("/base_url"), Location::new(5, 15));

    // A problem inside the anchor is reported at the anchor, once per use.
    let e = errors(&yaml.replace("HUBSPOT_ACCESS_TOKEN", "NOPE"));
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("pipelines/x.yaml:6:19: sources[0].config.access_token: environment variable NOPE is not set"), "{}", e[0]);
}

#[test]
fn interpolation() {
    let yaml = "\
name: x
warehouse: ${WAREHOUSE:-s3://bucket/braid}
sources:
  - name: a
    connector: c
    config:
      url: https://${HOST:-localhost}:${PORT:-8080}/x
      empty: ${EMPTY:-fallback}
      literal: 'costs $5 and $${NOT_A_VAR}'
      nested:
        - ${DB_PASSWORD}
";
    let p = ok(yaml);
    assert_eq!(p.warehouse.as_deref(), Some("s3://bucket/braid"));
    let c = &p.sources[0].config;
    assert_eq!(c["url"], "https://localhost:8080/x");
    assert_eq!(c["empty"], "fallback");
    assert_eq!(c["literal"], "costs $5 and ${NOT_A_VAR}");
    assert_eq!(c["nested"][0], "hunter2-pw");
    assert!(p.sources[0].is_interpolated("/url"));
    assert!(!p.sources[0].is_interpolated("/literal"));
}

#[test]
fn missing_variable_is_named_at_its_column() {
    let yaml = "\
name: x
sources:
  - name: a
    connector: c
    config:
      url: https://${API_HOST}/v1/${API_VERSION}
      quoted: \"${API_KEY}\"
";
    assert_eq!(
        errors(yaml),
        [
            "pipelines/x.yaml:6:20: sources[0].config.url: environment variable API_HOST is not set (write ${API_HOST:-default} to give a default)",
            "pipelines/x.yaml:6:35: sources[0].config.url: environment variable API_VERSION is not set (write ${API_VERSION:-default} to give a default)",
            "pipelines/x.yaml:7:15: sources[0].config.quoted: environment variable API_KEY is not set (write ${API_KEY:-default} to give a default)",
        ]
    );
}

#[test]
fn bad_references_are_errors() {
    let e = errors("name: x\nsources:\n  - name: a\n    connector: c\n    config: {a: '${A B}', b: 'x ${OPEN'}\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].contains("sources[0].config.a: invalid variable reference"),
        "{}",
        e[0]
    );
    assert!(
        e[1].contains("sources[0].config.b: unterminated"),
        "{}",
        e[1]
    );
}

#[test]
fn secrets_never_show_in_debug_or_redacted_config() {
    let yaml = "\
name: x
description: ${DB_PASSWORD}
sources:
  - name: a
    connector: c
    config:
      host: db.example.com
      user: braid
      password: literal-pass
      api_key: literal-key
      dsn: postgres://braid:${DB_PASSWORD}@db
      auth:
        bearer: ${HUBSPOT_ACCESS_TOKEN}
        refresh_token: [tok-one-9, tok-two-9]
";
    let p = ok(yaml);
    let debug = format!("{p:?}");
    let pretty = format!("{p:#?}");
    let redacted = p.redacted_config("a").unwrap();
    let redacted_text = redacted.to_string();
    for secret in [
        "hunter2-pw",
        "pat-eu1-s3cr3t",
        "literal-pass",
        "literal-key",
        "tok-one-9",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
        assert!(!pretty.contains(secret), "{secret} in {pretty}");
        assert!(
            !redacted_text.contains(secret),
            "{secret} in {redacted_text}"
        );
        assert!(!format!("{:?}", p.sources[0]).contains(secret));
    }
    assert_eq!(
        redacted,
        json!({
            "host": "db.example.com",
            "user": "braid",
            "password": "***",
            "api_key": "***",
            "dsn": "***",
            "auth": {"bearer": "***", "refresh_token": "***"},
        })
    );
    assert!(
        debug.contains("db.example.com"),
        "non-secrets stay visible: {debug}"
    );
    // The config itself keeps the values for the connector.
    assert_eq!(p.sources[0].config["dsn"], "postgres://braid:hunter2-pw@db");
    assert_eq!(p.description.as_deref(), Some("hunter2-pw"));
    assert!(p.redacted_config("nope").is_none());
}

#[test]
fn interpolated_values_are_not_echoed_in_errors() {
    let yaml = "name: x\nsources:\n  - name: a\n    connector: c\n    streams:\n      - name: s\n        sync_mode: ${BAD_MODE}\n";
    let e = errors(yaml);
    assert_eq!(e.len(), 1);
    assert!(!e[0].contains("sneaky"), "{}", e[0]);
    assert!(
        e[0].contains("unknown variant (value from ${...})"),
        "{}",
        e[0]
    );
}

#[test]
fn secret_key_names() {
    for k in [
        "token",
        "access_token",
        "API_KEY",
        "client_secret",
        "Password",
        "keyfile",
    ] {
        assert!(is_secret_key(k), "{k}");
    }
    for k in ["host", "user", "page_size", "base_url"] {
        assert!(!is_secret_key(k), "{k}");
    }
}

#[test]
fn options_accept_sizes_and_reject_junk() {
    let p = ok("name: x\noptions:\n  buffer_bytes: 1 GiB\n  commit_every_bytes: '64MB'\n  commit_every_seconds: '15'\nsources: [{name: a, connector: c}]\n");
    assert_eq!(p.options.buffer_bytes, 1 << 30);
    assert_eq!(p.options.commit_every_bytes, 64_000_000);
    assert_eq!(p.options.commit_every_seconds, 15);
    assert_eq!(
        errors("name: x\noptions:\n  buffer_bytes: -5\n  commit_every_seconds: 1.5\n  flush: 1\nsources: [{name: a, connector: c}]\n"),
        [
            "pipelines/x.yaml:3:17: options.buffer_bytes: must be greater than 0",
            "pipelines/x.yaml:4:25: options.commit_every_seconds: expected a whole number of seconds, found a number",
            r#"pipelines/x.yaml:5:3: options.flush: unknown key "flush", expected one of buffer_bytes, commit_every_bytes, commit_every_seconds"#,
        ]
    );
}

fn schedule(expr: &str, tz: &str) -> Schedule {
    let yaml = format!(
        "name: x\nschedule: '{expr}'\ntimezone: {tz}\nsources: [{{name: a, connector: c}}]\n"
    );
    ok(&yaml).schedule.unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

#[test]
fn cron_five_and_six_fields_and_nicknames() {
    let t = utc(2024, 3, 5, 10, 7, 30);
    assert_eq!(
        schedule("*/30 * * * *", "UTC").next_after(t),
        Some(utc(2024, 3, 5, 10, 30, 0))
    );
    assert_eq!(
        schedule("*/15 * * * * *", "UTC").next_after(t),
        Some(utc(2024, 3, 5, 10, 7, 45))
    );
    assert_eq!(
        schedule("@daily", "UTC").next_after(t),
        Some(utc(2024, 3, 6, 0, 0, 0))
    );
    assert_eq!(
        schedule("@hourly", "UTC").next_after(t),
        Some(utc(2024, 3, 5, 11, 0, 0))
    );
    // Strictly after: an exact match moves on.
    assert_eq!(
        schedule("0 * * * *", "UTC").next_after(utc(2024, 3, 5, 10, 0, 0)),
        Some(utc(2024, 3, 5, 11, 0, 0))
    );
}

#[test]
fn cron_weekdays_follow_crontab() {
    // 2024-03-05 is a Tuesday.
    let t = utc(2024, 3, 5, 12, 0, 0);
    for expr in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
        let next = schedule(expr, "UTC").next_after(t).unwrap();
        assert_eq!(next.weekday(), Weekday::Sun, "{expr}");
        assert_eq!(next, utc(2024, 3, 10, 9, 0, 0), "{expr}");
    }
    let monday = schedule("0 9 * * 1", "UTC").next_after(t).unwrap();
    assert_eq!(monday, utc(2024, 3, 11, 9, 0, 0));
    assert_eq!(monday.weekday(), Weekday::Mon);
    // Day-of-month OR day-of-week, as in Vixie cron: the 7th (a Thursday) matches.
    assert_eq!(
        schedule("0 9 7 * 1", "UTC").next_after(t),
        Some(utc(2024, 3, 7, 9, 0, 0))
    );
}

#[test]
fn cron_in_a_time_zone() {
    let berlin = schedule("0 2 * * *", "Europe/Berlin");
    // Winter: CET is UTC+1.
    assert_eq!(
        berlin.next_after(utc(2024, 1, 10, 12, 0, 0)),
        Some(utc(2024, 1, 11, 1, 0, 0))
    );
    // Summer: CEST is UTC+2.
    assert_eq!(
        berlin.next_after(utc(2024, 7, 10, 12, 0, 0)),
        Some(utc(2024, 7, 11, 0, 0, 0))
    );
    let ny = schedule("30 8 * * *", "America/New_York");
    let next = ny.next_after(utc(2024, 7, 10, 0, 0, 0)).unwrap();
    assert_eq!((next.hour(), next.minute()), (12, 30));
    // Default zone is UTC.
    let p = ok("name: x\nschedule: '0 3 * * *'\nsources: [{name: a, connector: c}]\n");
    assert_eq!(p.schedule.unwrap().timezone, chrono_tz::UTC);
}

#[test]
fn bad_cron_says_what_croner_said() {
    for expr in ["* * *", "0 0 0 * * * 2030", "0 25 * * *", "@fortnightly"] {
        let yaml = format!("name: x\nschedule: \"{expr}\"\nsources: [{{name: a, connector: c}}]\n");
        let e = errors(&yaml);
        assert_eq!(e.len(), 1, "{expr}: {e:?}");
        let prefix =
            format!("pipelines/x.yaml:2:11: schedule: invalid cron expression \"{expr}\": ");
        assert!(e[0].starts_with(&prefix), "{}", e[0]);
        let croner_said = e[0][prefix.len()..].split("; expected").next().unwrap();
        assert!(!croner_said.trim().is_empty(), "{}", e[0]);
    }
    let direct = Schedule::new("61 * * * *", chrono_tz::UTC).unwrap_err();
    assert!(!direct.message.is_empty());
}

#[test]
fn diagnostics_for_later_problems() {
    let p = ok(FULL);
    let s = &p.sources[0].streams[1];
    let d = p.diagnostic(
        s.name.location,
        format!("{}.name", s.path),
        "unknown stream \"deals\"",
    );
    assert_eq!(
        d.to_string(),
        r#"pipelines/x.yaml:23:15: sources[0].streams[1].name: unknown stream "deals""#
    );
    let errs = PipelineErrors(vec![d.clone(), d]);
    assert_eq!(errs.to_string().lines().count(), 2);
}

#[test]
fn load_reads_the_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        "name: p\nsources: [{name: a, connector: c, streams: [x, x]}]\n",
    )
    .unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e.0[0].file, path.display().to_string());
    assert_eq!((e.0[0].line, e.0[0].column), (2, 48));
    assert!(e.0[0].message.contains("selected twice"), "{}", e.0[0]);

    std::fs::write(&path, "name: p\nsources: [{name: a, connector: c}]\n").unwrap();
    assert_eq!(load(&path).unwrap().name, "p");

    let missing = load(&dir.path().join("nope.yaml")).unwrap_err();
    assert!(
        missing.to_string().contains("cannot read pipeline file"),
        "{missing}"
    );
}

#[test]
fn schema_mentions_sources_and_sync_modes() {
    let schema = json_schema();
    assert!(schema["properties"]["sources"].is_object());
    let text = schema.to_string();
    assert!(
        text.contains(r#""enum":["full_refresh","incremental"]"#),
        "{text}"
    );
    assert!(text.contains("sync_mode"));
}

#[test]
fn unquoted_cron_gets_a_hint() {
    let e = errors("name: x\nschedule: */30 * * * *\nsources: [{name: a, connector: c}]\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("pipelines/x.yaml:2:11: "), "{}", e[0]);
    assert!(e[0].contains("quote it"), "{}", e[0]);
    let e = errors("name: x\nschedule: @daily\nsources: [{name: a, connector: c}]\n");
    assert!(e[0].starts_with("pipelines/x.yaml:2:11: "), "{}", e[0]);
    assert!(e[0].contains("must be quoted"), "{}", e[0]);
}

#[test]
fn empty_values_and_odd_keys() {
    assert_eq!(
        errors("name:\nsources:\n  - name: a\n    connector:\n"),
        [
            "pipelines/x.yaml:1:1: name: expected a value, found null",
            "pipelines/x.yaml:4:5: sources[0].connector: expected a value, found null",
        ]
    );
    assert_eq!(
        errors("name: x\nsources: [{name: a, connector: c, config: {? [1]: 2}}]\n"),
        ["pipelines/x.yaml:2:46: sources[0].config: expected a scalar key, found a sequence"]
    );
    let p = ok("name: x\nsources: [{name: a, connector: c, config: {1: 2, true: x}}]\n");
    assert_eq!(p.sources[0].config, json!({"1": 2, "true": "x"}));
    let e = errors("name: x\nsources: [{name: a, connector: c}]\n---\nname: y\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("pipelines/x.yaml:4:1: "), "{}", e[0]);
}
