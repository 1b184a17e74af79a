//! Airbyte sources and Singer taps as braid sources.
//!
//! `connector: airbyte:<command>` runs an Airbyte source (`spec`, `check`,
//! `discover`, `read --config --catalog [--state]`) and decodes its JSON lines
//! of `AirbyteMessage`s; `connector: singer:<command>` runs a Singer tap
//! (`--discover`, then `--config --catalog|--properties [--state]`) and
//! decodes its SCHEMA, RECORD and STATE messages. `<command>` is a program
//! (found on `PATH`, or a path; relative paths resolve from the pipeline
//! file's directory) optionally followed by arguments, split on whitespace.
//!
//! ```yaml
//! sources:
//!   - name: faker
//!     connector: "airbyte:${AIRBYTE_SOURCE_FAKER:-source-faker}"
//!     config:
//!       connector_config: {count: 1000, seed: 7}
//!   - name: events
//!     connector: "singer:tap-jsonl"
//!     config:
//!       connector_config: {path: "data/*.jsonl", stream_name: events, primary_keys: [id]}
//! ```
//!
//! Records become Arrow batches typed from the stream's JSON Schema
//! ([`schema`]), decoded by arrow-json ([`records`]). Each STATE message first
//! flushes the records before it, then becomes a checkpoint whose `resume`
//! is the connector's state, committed with those records and handed back
//! (`--state`) on the next run. LOG and TRACE messages and stderr go to
//! braid's logs; a non-zero exit fails the read with the connector's last
//! TRACE error and the tail of its stderr. The process (its whole process
//! group) is killed when the run stops reading.

mod airbyte;
mod config;
mod driver;
mod filter;
mod process;
pub mod records;
pub mod schema;
mod singer;

use std::io::Write;
use std::path::{Path, PathBuf};

use braid_core::{Error, Result, StreamDescriptor, SyncMode};

pub use airbyte::{AirbyteConnector, AirbyteSource};
pub use config::{
    config_json_schema, CatalogFlag, StreamOverride, SubprocessConfig, DEFAULT_BATCH_ROWS,
    DEFAULT_STDERR_TAIL_LINES,
};
pub use filter::ResendFilter;
pub use process::CommandSpec;
pub use singer::{SingerConnector, SingerSource};

/// The connector-name prefix of Airbyte sources (`airbyte:<command>`).
pub const AIRBYTE_PREFIX: &str = "airbyte";
/// The connector-name prefix of Singer taps (`singer:<command>`).
pub const SINGER_PREFIX: &str = "singer";

/// The command of `<protocol>:<command>` with the config's environment and
/// working directory; relative paths resolve against `base_dir`.
pub fn command_spec(
    protocol: &'static str,
    command: &str,
    base_dir: Option<&Path>,
    config: &SubprocessConfig,
) -> Result<CommandSpec> {
    let mut words = command.split_whitespace();
    let program = words.next().ok_or_else(|| {
        Error::Config(format!(
            "{protocol}: no command after `{protocol}:` (write `connector: {protocol}:<command>`)"
        ))
    })?;
    let resolve = |p: &str| resolve_program(p, base_dir);
    let cwd = config.cwd.as_deref().map(|c| match base_dir {
        Some(base) if Path::new(c).is_relative() => base.join(c),
        _ => PathBuf::from(c),
    });
    Ok(CommandSpec {
        protocol,
        program: resolve(program),
        args: words.map(str::to_owned).collect(),
        env: config
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        cwd,
        stderr_tail_lines: config.stderr_tail_lines,
    })
}

/// A program word: a path (relative ones from `base_dir`), or a bare name
/// left for the `PATH` lookup.
fn resolve_program(program: &str, base_dir: Option<&Path>) -> PathBuf {
    let path = PathBuf::from(program);
    match base_dir {
        Some(base) if path.is_relative() && program.contains('/') => base.join(path),
        _ => path,
    }
}

/// The executable that `<command>` (as written after `airbyte:` or
/// `singer:`) would start: its path (relative ones from `base_dir`), or the
/// first match of a bare name on `PATH`. `None` when there is no such
/// executable file, i.e. the connector is not installed there.
pub fn find_program(command: &str, base_dir: Option<&Path>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let program = command.split_whitespace().next()?;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = resolve_program(program, base_dir);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// Private files for one command (config, catalog, state), removed with it.
pub(crate) struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub(crate) fn new(protocol: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("braid-{protocol}-"))
            .tempdir()
            .map_err(|e| Error::Internal(format!("{protocol}: temporary directory: {e}")))?;
        Ok(Self { dir })
    }

    /// Writes `name` (mode 0600) and returns its path.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::Internal(format!("writing {}: {e}", path.display())))?;
        f.write_all(bytes)
            .map_err(|e| Error::Internal(format!("writing {}: {e}", path.display())))?;
        Ok(path)
    }
}

fn is_cursor_type(t: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType::*;
    matches!(t, Int64 | Timestamp(_, _) | Date32 | Utf8)
}

/// A stream's descriptor from what its catalog entry says, overridden by the
/// pipeline; a primary key or cursor that is not a column is dropped with a
/// warning (the stream then reads in full refresh only).
pub(crate) fn describe(
    protocol: &str,
    name: &str,
    schema: arrow_schema::SchemaRef,
    catalog_key: Vec<String>,
    catalog_cursor: Option<String>,
    incremental_offered: bool,
    over: Option<&StreamOverride>,
) -> StreamDescriptor {
    let mut primary_key = over
        .and_then(|o| o.primary_key.clone())
        .unwrap_or(catalog_key);
    if let Some(missing) = primary_key.iter().find(|k| schema.index_of(k).is_err()) {
        tracing::warn!(
            stream = name,
            "{protocol}: primary-key column `{missing}` is not in the stream's schema; the stream has no primary key"
        );
        primary_key.clear();
    }
    let overridden_cursor = over.and_then(|o| o.cursor_field.clone());
    let cursor_field = overridden_cursor
        .clone()
        .or(catalog_cursor)
        .filter(|c| match schema.field_with_name(c) {
            Ok(f) if is_cursor_type(f.data_type()) => true,
            Ok(f) => {
                tracing::warn!(stream = name, "{protocol}: cursor `{c}` has type {}; a cursor must be an integer, date, timestamp or string", f.data_type());
                false
            }
            Err(_) => {
                tracing::warn!(stream = name, "{protocol}: cursor `{c}` is not in the stream's schema");
                false
            }
        });
    let mut sync_modes = vec![SyncMode::FullRefresh];
    if cursor_field.is_some() && (incremental_offered || overridden_cursor.is_some()) {
        sync_modes.push(SyncMode::Incremental);
    }
    StreamDescriptor {
        name: name.to_owned(),
        schema,
        primary_key,
        cursor_field,
        sync_modes,
    }
}

/// Runs blocking process work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        f()
    })
    .await
    .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

/// The `seq` of a `resume` written for a source-wide state (Airbyte GLOBAL or
/// LEGACY, Singer): streams committed at different checkpoints hold
/// different copies, and the next run resumes from the oldest (a record is
/// re-read rather than lost; re-read records below a stream's committed
/// cursor are dropped by [`ResendFilter`]).
pub(crate) const SEQ: &str = "seq";

/// The oldest source-wide state among the streams' resumes under `key`, and
/// the highest `seq` seen (new checkpoints count on from it).
pub(crate) fn oldest_shared_state<'a>(
    resumes: impl Iterator<Item = &'a serde_json::Value>,
    key: &str,
) -> (Option<serde_json::Value>, u64) {
    let mut oldest: Option<(u64, &serde_json::Value)> = None;
    let mut max_seq = 0;
    for r in resumes {
        let (Some(state), Some(seq)) = (r.get(key), r.get(SEQ).and_then(|s| s.as_u64())) else {
            continue;
        };
        max_seq = max_seq.max(seq);
        if oldest.is_none_or(|(s, _)| seq < s) {
            oldest = Some((seq, state));
        }
    }
    (oldest.map(|(_, v)| v.clone()), max_seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_words_and_relative_paths() {
        let c = SubprocessConfig::from_value("airbyte", json!({"cwd": "work"})).unwrap();
        let s = command_spec(
            "airbyte",
            "./bin/source-x --debug",
            Some(Path::new("/p")),
            &c,
        )
        .unwrap();
        assert_eq!(s.program, PathBuf::from("/p/./bin/source-x"));
        assert_eq!(s.args, vec!["--debug".to_string()]);
        assert_eq!(s.cwd, Some(PathBuf::from("/p/work")));
        let s = command_spec("airbyte", "source-faker", Some(Path::new("/p")), &c).unwrap();
        assert_eq!(
            s.program,
            PathBuf::from("source-faker"),
            "bare names are looked up on PATH"
        );
        assert!(command_spec("singer", "  ", None, &c).is_err());
    }

    #[test]
    fn programs_are_found_by_path_or_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let exe = bin.join("source-x");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let plain = bin.join("not-executable");
        std::fs::write(&plain, "").unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(
            find_program("./bin/source-x --debug", Some(dir.path())),
            Some(dir.path().join("./bin/source-x"))
        );
        assert_eq!(find_program("./bin/not-executable", Some(dir.path())), None);
        assert_eq!(find_program("./bin/missing", Some(dir.path())), None);
        assert_eq!(
            find_program("sh -c true", None).map(|p| p.is_file()),
            Some(true)
        );
        assert_eq!(find_program("braid-no-such-connector-anywhere", None), None);
        assert_eq!(find_program("   ", None), None);
    }

    #[test]
    fn the_oldest_shared_state_wins() {
        let a = json!({"singer": {"v": 1}, "seq": 7});
        let b = json!({"singer": {"v": 2}, "seq": 9});
        let other = json!({"files_done": []});
        let (s, max) = oldest_shared_state([&b, &a, &other].into_iter(), "singer");
        assert_eq!(s, Some(json!({"v": 1})));
        assert_eq!(max, 9);
        assert_eq!(
            oldest_shared_state([&other].into_iter(), "singer"),
            (None, 0)
        );
    }
}
