//! A real plugin (the fixture cdylib), loaded with libloading and driven
//! through the C ABI: spec, check, discover, reads, state, errors, panics,
//! ABI refusal, lookup by name and listing.

mod common;

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use braid_core::{
    ConfiguredStream, Connector, CursorValue, ErrorKind, Message, ReadRequest, Source, SourceState,
    StreamState, SyncMode,
};
use braid_plugin::host::{self, Plugin, PluginConnector};
use futures::StreamExt;
use serde_json::json;

fn connector() -> PluginConnector {
    PluginConnector::load(&common::fixture()).expect("fixture loads")
}

async fn read_all(
    source: &dyn Source,
    state: SourceState,
) -> braid_core::Result<(Vec<i64>, Vec<serde_json::Value>, u64)> {
    let catalog = source.discover().await?;
    let streams = catalog
        .streams
        .iter()
        .map(|s| ConfiguredStream {
            stream: s.clone(),
            sync_mode: SyncMode::Incremental,
        })
        .collect();
    let mut messages = source.read(ReadRequest { streams, state }).await?;
    let (mut ids, mut resumes, mut pages) = (Vec::new(), Vec::new(), 0);
    while let Some(m) = messages.next().await {
        match m? {
            Message::Batch { stream, batch } => {
                assert_eq!(stream, "numbers");
                assert_eq!(
                    batch.schema().fields(),
                    braid_plugin_fixture::schema().fields()
                );
                ids.extend(batch.column(0).as_primitive::<Int64Type>().values().iter());
                let labels = batch.column(1).as_string::<i32>();
                for (i, id) in batch
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .enumerate()
                {
                    assert_eq!(
                        labels.is_null(i),
                        id % 3 == 0,
                        "null labels cross the boundary"
                    );
                }
            }
            Message::Checkpoint { resume, .. } => resumes.push(resume.unwrap()),
            Message::Progress { pages: p, .. } => pages += p,
        }
    }
    Ok((ids, resumes, pages))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_plugin_answers_spec_check_discover_and_read() {
    let c = connector();
    let spec = c.spec();
    assert_eq!(spec.name, "fixture");
    assert_eq!(
        spec.config_schema["properties"]["token"]["secret"],
        json!(true)
    );
    assert_eq!(c.plugin().abi_version(), braid_plugin::ABI_VERSION);

    let source = c.build(json!({"rows": 10, "batch_rows": 4})).unwrap();
    assert_eq!(
        source.check().await.unwrap().message,
        "fixture with 10 rows"
    );
    let catalog = source.discover().await.unwrap();
    assert_eq!(catalog.streams.len(), 1);
    let s = &catalog.streams[0];
    assert_eq!(s.schema, braid_plugin_fixture::schema());
    assert_eq!(s.primary_key, vec!["id".to_string()]);
    assert_eq!(s.cursor_field.as_deref(), Some("id"));

    let (ids, resumes, pages) = read_all(source.as_ref(), SourceState::default())
        .await
        .unwrap();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    assert_eq!(
        resumes,
        vec![json!({"next": 4}), json!({"next": 8}), json!({"next": 10})]
    );
    assert_eq!(pages, 3);
}

#[tokio::test(flavor = "current_thread")]
async fn state_crosses_the_boundary_and_a_current_thread_host_is_not_blocked() {
    let source = connector()
        .build(json!({"rows": 9, "batch_rows": 2}))
        .unwrap();
    let mut streams = BTreeMap::new();
    streams.insert(
        "numbers".to_string(),
        StreamState {
            cursor: Some(CursorValue::Int(5)),
            ..Default::default()
        },
    );
    // The host's only thread keeps running other tasks while the plugin works.
    let ticker = tokio::spawn(async {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        true
    });
    let (ids, _, _) = read_all(source.as_ref(), SourceState { streams })
        .await
        .unwrap();
    assert_eq!(ids, vec![5, 6, 7, 8]);
    assert!(ticker.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_their_kind_and_the_vendor_message() {
    let c = connector();
    let e = c
        .build(json!({"rows": "many"}))
        .err()
        .expect("bad config refused");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("fixture config"), "{e}");

    let source = c.build(json!({"fail_in": "check"})).unwrap();
    let e = source.check().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.to_string(),
        "authentication failed at /fixture/check: fixture refuses"
    );

    let source = c.build(json!({"fail_in": "stream", "rows": 10})).unwrap();
    let e = read_all(source.as_ref(), SourceState::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "authentication failed at /fixture/stream: fixture refuses mid-stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_in_the_plugin_come_back_as_errors() {
    let c = connector();
    let build = std::panic::catch_unwind(|| c.build(json!({"panic_in": "build"})))
        .expect("the host does not unwind");
    let e = build.err().expect("a panicking build is an error");
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert!(
        e.to_string()
            .contains("plugin panicked: fixture panics in build"),
        "{e}"
    );

    let s = c.build(json!({"panic_in": "check"})).unwrap();
    let e = s.check().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("plugin panicked: fixture panics in check"),
        "{e}"
    );

    let s = c.build(json!({"panic_in": "discover"})).unwrap();
    let e = s.discover().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("plugin panicked: fixture panics in discover"),
        "{e}"
    );

    let s = c.build(json!({"panic_in": "read"})).unwrap();
    let e = read_all(s.as_ref(), SourceState::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("plugin panicked: fixture panics in read"),
        "{e}"
    );

    // A panic while the plugin's runtime polls the stream, after batches.
    let s = c.build(json!({"panic_in": "stream", "rows": 10})).unwrap();
    let e = read_all(s.as_ref(), SourceState::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert!(
        e.to_string()
            .contains("plugin panicked: fixture panics in stream at row 4"),
        "{e}"
    );

    // The plugin still works afterwards.
    let s = c.build(json!({"rows": 3})).unwrap();
    let (ids, _, _) = read_all(s.as_ref(), SourceState::default()).await.unwrap();
    assert_eq!(ids, vec![0, 1, 2]);
}

#[test]
fn a_plugin_of_another_abi_version_is_refused_before_anything_else_is_resolved() {
    let dir = tempfile::tempdir().unwrap();
    // Exports only the version function: had the host resolved any other
    // symbol first, it would report a missing symbol instead.
    let lib = common::rustc_cdylib(
        dir.path(),
        "future_plugin",
        "#[no_mangle]\npub extern \"C\" fn braid_plugin_abi_version() -> u32 { 7 }\n",
    );
    let e = Plugin::load(&lib).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            braid_plugin::PluginError::AbiMismatch {
                plugin: 7,
                host: 1,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("ABI version 7"), "{msg}");
    assert!(msg.contains("ABI version 1"), "{msg}");
    assert_eq!(host::abi_version(&lib).unwrap(), 7);

    let half = common::rustc_cdylib(
        dir.path(),
        "half_plugin",
        "#[no_mangle]\npub extern \"C\" fn braid_plugin_abi_version() -> u32 { 1 }\n",
    );
    let e = Plugin::load(&half).unwrap_err();
    assert!(
        e.to_string()
            .contains("does not export `braid_plugin_string_free`"),
        "{e}"
    );

    let not_a_library = dir.path().join("libnothing.so");
    std::fs::write(&not_a_library, b"not an ELF file").unwrap();
    let e = Plugin::load(&not_a_library).unwrap_err();
    assert!(e.to_string().starts_with("cannot load plugin"), "{e}");
}

#[test]
fn plugins_are_found_by_file_name_or_spec_name_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libacme_pos.so");
    std::fs::copy(common::fixture(), &copy).unwrap();
    common::rustc_cdylib(
        dir.path(),
        "old_plugin",
        "#[no_mangle]\npub extern \"C\" fn braid_plugin_abi_version() -> u32 { 0 }\n",
    );
    let dirs = vec![dir.path().to_owned()];
    let base = std::path::Path::new("/pipelines");

    assert_eq!(host::resolve("acme_pos", base, &dirs).unwrap(), copy);
    assert_eq!(host::resolve("acme-pos", base, &dirs).unwrap(), copy);
    assert_eq!(host::resolve("fixture", base, &dirs).unwrap(), copy);
    assert_eq!(
        host::resolve("./plugins/libx.so", base, &dirs).unwrap(),
        base.join("./plugins/libx.so")
    );
    let e = host::resolve("nope", base, &dirs).unwrap_err();
    assert!(e.to_string().contains("no plugin named `nope`"), "{e}");

    let listed = host::list(&dirs);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let good = listed.iter().find(|l| l.path == copy).unwrap();
    assert_eq!(good.spec.as_ref().unwrap().name, "fixture");
    assert_eq!(good.abi_version, Some(braid_plugin::ABI_VERSION));
    assert!(good.problem.is_none());
    let old = listed.iter().find(|l| l.path != copy).unwrap();
    assert_eq!(old.abi_version, Some(0));
    assert!(old.problem.as_deref().unwrap().contains("ABI version 0"));
}
