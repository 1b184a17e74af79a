//! `braid unify`, `braid identity explain|forget`, and the unified stage after `braid run`/`demo`.

use std::path::Path;

use braid_pipeline::Pipeline;
use braid_runtime::exit_code;
use clap::Subcommand;

/// `braid identity ...`
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Show which records and shared identifiers make up a braid_id.
    Explain {
        /// The braid_id (a retired id shows the person it merged into).
        braid_id: String,
        /// Warehouse directory.
        #[arg(long, default_value = "warehouse")]
        warehouse: String,
    },
    /// Remove a person from every unified table and mart, and record the erasure under `_braid/erasures/`.
    Forget {
        /// A braid_id, an email, an E.164 phone, or type:value (e.g. wechat_unionid:o6_...).
        who: String,
        /// Warehouse directory.
        #[arg(long, default_value = "warehouse")]
        warehouse: String,
    },
}

/// Runs the unified stage for `pipeline` on a local warehouse; prints a line
/// per source. Returns the exit code.
pub fn unify(pipeline: &Pipeline, location: &str) -> i32 {
    if braid_warehouse::is_remote(location) {
        eprintln!("unify: skipped, the unified stage runs on local warehouses only for now");
        return exit_code::OK;
    }
    if pipeline
        .unify
        .as_ref()
        .is_some_and(|u| u.value.get("enabled") == Some(&serde_json::Value::Bool(false)))
    {
        return exit_code::OK;
    }
    match braid_normalize::unify(Path::new(location), pipeline) {
        Ok(r) => {
            for s in r.sources.iter().filter(|s| s.rebuilt) {
                let rows: Vec<String> = s.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
                eprintln!(
                    "unified {}: {} ({} record(s) and {} field(s) quarantined)",
                    s.source,
                    rows.join(", "),
                    s.quarantined_records,
                    s.quarantined_fields
                );
            }
            eprintln!(
                "unified layer {}: {} record(s) resolved, {} people in marts/customer_360 ({} file(s) written, {} kept)",
                r.version, r.records_resolved, r.people, r.files_written, r.files_kept
            );
            let id = &r.identity;
            if id.records_resolved > 0 {
                eprintln!(
                    "identity: {} record(s) re-stitched, {} braid_id(s) minted, {} merged into older ids, {} value(s) not followed, {} per-person conflict(s), {} probabilistic match(es)",
                    id.records_resolved,
                    id.ids_minted,
                    id.merges.len(),
                    id.not_followed,
                    id.conflicts,
                    id.probabilistic_matches
                );
            }
            exit_code::OK
        }
        Err(braid_normalize::UnifyError::Config(errors)) => {
            eprintln!("{errors}");
            exit_code::CONFIG
        }
        Err(e) => {
            eprintln!("error: unify {}: {e}", pipeline.name);
            exit_code::WAREHOUSE
        }
    }
}

/// `braid identity ...`.
pub fn identity(command: IdentityCommand) -> anyhow::Result<i32> {
    match command {
        IdentityCommand::Explain {
            braid_id,
            warehouse,
        } => match braid_normalize::explain(Path::new(&warehouse), &braid_id) {
            Ok(v) => {
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(exit_code::OK)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(exit_code::CONFIG)
            }
        },
        IdentityCommand::Forget { who, warehouse } => {
            match braid_normalize::forget(Path::new(&warehouse), &who) {
                Ok(e) => {
                    println!(
                    "forgot {}: {} record(s), {} file(s) rewritten; erasure {} recorded under _braid/erasures/",
                    e.braid_id,
                    e.record_keys_sha256.len(),
                    e.files_rewritten.len(),
                    e.id
                );
                    Ok(exit_code::OK)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(exit_code::CONFIG)
                }
            }
        }
    }
}
