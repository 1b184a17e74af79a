//! `braid plugins …`: the dynamic-library connectors braid can find.

use std::path::PathBuf;

use braid_plugin::host;
use braid_runtime::exit_code;
use clap::Subcommand;

/// `braid plugins ...`
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the plugins in BRAID_PLUGIN_PATH (and --dir): name, version, ABI version, path.
    List {
        /// Also search this directory (before BRAID_PLUGIN_PATH); repeatable.
        #[arg(long = "dir")]
        dirs: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `plugins` subcommand; returns the exit code.
pub fn plugins(command: PluginsCommand) -> i32 {
    match command {
        PluginsCommand::List { mut dirs, json } => {
            dirs.extend(host::search_dirs());
            list(&dirs, json)
        }
    }
}

fn list(dirs: &[PathBuf], json: bool) -> i32 {
    let found = host::list(dirs);
    if json {
        let rows: Vec<serde_json::Value> = found
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.spec.as_ref().map(|s| s.name.clone()),
                    "version": l.spec.as_ref().map(|s| s.version.clone()),
                    "abi_version": l.abi_version,
                    "path": l.path.display().to_string(),
                    "problem": l.problem,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return exit_code::OK;
    }
    if dirs.is_empty() {
        eprintln!(
            "no plugin directories: set {} (`:`-separated) or pass --dir",
            host::PLUGIN_PATH_ENV
        );
        return exit_code::OK;
    }
    if found.is_empty() {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        println!("no plugins found in {}", searched.join(":"));
        return exit_code::OK;
    }
    println!("{:<24} {:<10} {:<4} PATH", "NAME", "VERSION", "ABI");
    for l in &found {
        let abi = l.abi_version.map_or("?".to_string(), |v| v.to_string());
        match (&l.spec, &l.problem) {
            (Some(spec), _) => println!(
                "{:<24} {:<10} {:<4} {}",
                spec.name,
                spec.version,
                abi,
                l.path.display()
            ),
            (None, problem) => println!(
                "{:<24} {:<10} {:<4} {}  ({})",
                "-",
                "-",
                abi,
                l.path.display(),
                problem.as_deref().unwrap_or("not loadable")
            ),
        }
    }
    exit_code::OK
}
