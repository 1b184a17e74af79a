//! The `braid` command.

mod output;
mod plugins_cmd;
mod progress;
mod serve;
mod unify_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use braid_pipeline::Pipeline;
use braid_runtime::{exit_code, Registry, RunError, RunOptions, RunReport};
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_warehouse::Warehouse;
use clap::{Parser, Subcommand, ValueEnum};

/// braid: pull marketing silos into one Parquet warehouse.
#[derive(Debug, Parser)]
#[command(name = "braid", version, about, long_about = None)]
struct Cli {
    /// Log format: `auto` shows progress bars on a terminal and plain logs otherwise.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto, env = "BRAID_LOG_FORMAT")]
    log_format: LogFormat,
    /// More logging (-v info on a terminal, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Auto,
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipeline files: YAML, names, cron, connectors and their configs. Prints every error with file:line:column.
    Validate {
        /// Pipeline files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Connect to every source of a pipeline and report whether it authenticates.
    Check {
        /// Pipeline file.
        file: PathBuf,
    },
    /// Print the catalog (streams, schemas, keys, cursors, sync modes) of a pipeline's sources.
    Discover {
        /// Pipeline file.
        file: PathBuf,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a pipeline once.
    Run {
        /// Pipeline file.
        file: PathBuf,
        /// Warehouse directory or object-store URI (`s3://bucket/prefix`, `gs://…`, `az://…`);
        /// overrides the pipeline's `warehouse`.
        #[arg(long)]
        warehouse: Option<String>,
        /// Also write the JSON run report here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Re-pull a date range of the streams with a date or timestamp cursor
        /// (committed cursors are kept; other streams are not read).
        #[arg(long, requires_all = ["from", "to"])]
        backfill: bool,
        /// First day of the backfill (YYYY-MM-DD, UTC).
        #[arg(long, requires = "backfill")]
        from: Option<chrono::NaiveDate>,
        /// Last day of the backfill, inclusive (YYYY-MM-DD, UTC).
        #[arg(long, requires = "backfill")]
        to: Option<chrono::NaiveDate>,
    },
    /// Run every pipeline of a directory on its cron schedule until SIGTERM/SIGINT.
    ///
    /// Files added, changed or removed are picked up without a restart; a
    /// file that does not validate is reported and skipped.
    Serve {
        /// Directory of pipeline files.
        #[arg(default_value = "pipelines")]
        dir: PathBuf,
        /// Warehouse directory or object-store URI for every pipeline (overrides their `warehouse`).
        #[arg(long)]
        warehouse: Option<String>,
        /// Runs at once across all pipelines.
        #[arg(long, default_value_t = 2)]
        max_concurrent_runs: usize,
        /// Retries of a run that failed for a reason that may pass (rate limits, 5xx, timeouts).
        #[arg(long, default_value_t = 3)]
        retries: u32,
        /// First retry delay in seconds (doubling, with jitter, up to 15 minutes).
        #[arg(long, default_value_t = 30)]
        retry_backoff_seconds: u64,
        /// After downtime: `skip` missed runs, or run `once` at start.
        #[arg(long, default_value = "skip", value_parser = serve::parse_catch_up)]
        catch_up: braid_scheduler::CatchUp,
        /// How often the directory is rescanned for changes, in seconds.
        #[arg(long, default_value_t = 5)]
        reload_seconds: u64,
        /// Serve Prometheus metrics (`/metrics`) and `/healthz` here, e.g. 0.0.0.0:9464.
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Print the run history of a warehouse.
    Runs {
        /// Warehouse directory or object-store URI.
        #[arg(long, default_value = "warehouse")]
        warehouse: String,
        /// Only this pipeline.
        #[arg(long)]
        pipeline: Option<String>,
        /// The last N runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Start the vendor sandbox and run every pipeline in `pipelines/` against it.
    Demo {
        /// Warehouse directory.
        #[arg(long, default_value = "warehouse")]
        warehouse: PathBuf,
        /// Directory of pipeline files.
        #[arg(long, default_value = "pipelines")]
        pipelines: PathBuf,
        /// HubSpot contacts the sandbox serves.
        #[arg(long, default_value_t = 3000)]
        contacts: u64,
    },
    /// Serve the vendor API emulations until Ctrl-C or SIGTERM.
    Sandbox {
        /// Port.
        #[arg(long, default_value_t = 8089)]
        port: u16,
        /// Address to bind (0.0.0.0 in a container).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Write the environment the demo pipelines read (base URLs, sandbox credentials) to this file as KEY=VALUE lines.
        #[arg(long)]
        env_file: Option<PathBuf>,
        /// The URL other hosts reach the sandbox at, for `--env-file` (e.g. http://sandbox:8089).
        #[arg(long)]
        advertise_url: Option<String>,
        /// Seed of the generated data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// HubSpot contacts to serve.
        #[arg(long, default_value_t = 3000)]
        contacts: u64,
        /// HubSpot companies to serve.
        #[arg(long, default_value_t = 500)]
        companies: u64,
        /// HubSpot deals to serve.
        #[arg(long, default_value_t = 1500)]
        deals: u64,
        /// Requests per second before HubSpot-style 429s (0 = unlimited).
        #[arg(long, default_value_t = 100)]
        rate_limit: u32,
        /// Search requests per second before 429s (HubSpot allows 5; 0 = unlimited).
        #[arg(long, default_value_t = 5)]
        search_rate_limit: u32,
    },
    /// Print the JSON Schema of pipeline files (for editor autocompletion).
    Schema,
    /// Build unified/, marts/ and quarantine/ from a pipeline's raw data (runs after `braid run` too).
    Unify {
        /// Pipeline file.
        file: PathBuf,
        /// Warehouse directory (overrides the pipeline's `warehouse`).
        #[arg(long)]
        warehouse: Option<String>,
    },
    /// Identity graph: explain a braid_id, forget a person.
    #[command(subcommand)]
    Identity(unify_cmd::IdentityCommand),
    /// Dynamic-library connectors (`connector: plugin:<path or name>`).
    #[command(subcommand)]
    Plugins(plugins_cmd::PluginsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let interactive = progress::stderr_is_terminal() && cli.log_format == LogFormat::Auto;
    output::init_logging(cli.log_format == LogFormat::Json, interactive, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit_code::INTERNAL as u8);
        }
    };
    let code = runtime.block_on(dispatch(cli.command, interactive));
    ExitCode::from(code as u8)
}

async fn dispatch(command: Command, interactive: bool) -> i32 {
    let result = match command {
        Command::Validate { files } => validate(&files).await,
        Command::Check { file } => check(&file).await,
        Command::Discover { file, source, json } => discover(&file, source.as_deref(), json).await,
        Command::Run {
            file,
            warehouse,
            report,
            backfill,
            from,
            to,
        } => {
            let window = match (backfill, from, to) {
                (true, Some(from), Some(to)) if from <= to => {
                    Some(braid_runtime::Backfill { from, to })
                }
                (true, Some(from), Some(to)) => {
                    eprintln!("error: --from {from} is after --to {to}");
                    return exit_code::CONFIG;
                }
                _ => None,
            };
            run(&file, warehouse, report, window, interactive).await
        }
        Command::Demo {
            warehouse,
            pipelines,
            contacts,
        } => demo(&warehouse, &pipelines, contacts, interactive).await,
        Command::Sandbox {
            port,
            host,
            env_file,
            advertise_url,
            seed,
            contacts,
            companies,
            deals,
            rate_limit,
            search_rate_limit,
        } => {
            sandbox(
                (host, port).into(),
                (env_file, advertise_url),
                seed,
                (contacts, companies, deals),
                (rate_limit, search_rate_limit),
            )
            .await
        }
        Command::Serve {
            dir,
            warehouse,
            max_concurrent_runs,
            retries,
            retry_backoff_seconds,
            catch_up,
            reload_seconds,
            metrics_addr,
        } => {
            let policy = braid_scheduler::Policy {
                max_concurrent_runs: max_concurrent_runs.max(1),
                max_retries: retries,
                min_backoff: std::time::Duration::from_secs(retry_backoff_seconds.max(1)),
                max_backoff: std::time::Duration::from_secs(15 * 60),
                catch_up,
            };
            serve::serve(serve::ServeArgs {
                dir,
                warehouse,
                policy,
                reload_every: std::time::Duration::from_secs(reload_seconds.max(1)),
                metrics_addr,
            })
            .await
        }
        Command::Runs {
            warehouse,
            pipeline,
            limit,
            json,
        } => runs(&warehouse, pipeline.as_deref(), limit, json),
        Command::Unify { file, warehouse } => match load(&file, &process_env) {
            Some(p) => {
                let location = warehouse
                    .or_else(|| p.warehouse.clone())
                    .unwrap_or_else(|| "warehouse".into());
                Ok(unify_cmd::unify(&p, &location))
            }
            None => Ok(exit_code::CONFIG),
        },
        Command::Identity(c) => unify_cmd::identity(c),
        Command::Plugins(c) => Ok(plugins_cmd::plugins(c)),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&braid_pipeline::json_schema()).unwrap_or_default()
            );
            Ok(exit_code::OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code::INTERNAL
        }
    }
}

fn registry_for(file: &Path) -> Registry {
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    Registry::builtin(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &dir
    })
}

/// Loads a pipeline, printing its errors; `None` means exit with CONFIG.
fn load(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<Pipeline> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return None;
        }
    };
    match braid_pipeline::parse(&text, &file.display().to_string(), env) {
        Ok(p) => Some(p),
        Err(errors) => {
            eprintln!("{errors}");
            None
        }
    }
}

/// The variables `file` references without a default (`${NAME}`) that `env`
/// does not set, when they are all that stops it from loading.
fn unset_variables(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let name = file.display().to_string();
    if braid_pipeline::parse(&text, &name, env).is_ok() {
        return Vec::new();
    }
    let unset = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let filled = |n: &str| {
        env(n).or_else(|| {
            unset.borrow_mut().insert(n.to_owned());
            Some("unset".to_owned())
        })
    };
    if braid_pipeline::parse(&text, &name, &filled).is_err() {
        return Vec::new();
    }
    unset
        .into_inner()
        .into_iter()
        .filter(|n| text.contains(&format!("${{{n}}}")))
        .collect()
}

/// Whether one of the `missing` variables is in a `connector:` line (an
/// `airbyte:${VAR}` or `singer:${VAR}` command).
fn names_a_connector_command(file: &Path, missing: &[String]) -> bool {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter(|l| l.trim_start().starts_with("connector:"))
        .any(|l| missing.iter().any(|v| l.contains(&format!("${{{v}"))))
}

/// The first subprocess connector (`airbyte:<command>`, `singer:<command>`)
/// of `pipeline` whose program is not there, as `airbyte: `<command>``.
fn uninstalled_command(pipeline: &Pipeline, file: &Path) -> Option<String> {
    let base = file.parent();
    pipeline.sources.iter().find_map(|s| {
        let (prefix, command) = s.connector.value.split_once(':')?;
        let subprocess = [
            braid_connector_subprocess::AIRBYTE_PREFIX,
            braid_connector_subprocess::SINGER_PREFIX,
        ];
        if !subprocess.contains(&prefix) {
            return None;
        }
        braid_connector_subprocess::find_program(command, base)
            .is_none()
            .then(|| format!("{prefix}: `{}`", command.trim()))
    })
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn validate(files: &[PathBuf]) -> anyhow::Result<i32> {
    let mut ok = true;
    for file in files {
        let Some(pipeline) = load(file, &process_env) else {
            ok = false;
            continue;
        };
        let registry = registry_for(file);
        let mut file_ok = true;
        for source in &pipeline.sources {
            if let Err(e) = braid_runtime::build_source(&pipeline, source, &registry) {
                file_ok = false;
                eprintln!("{e}");
            }
        }
        if file_ok {
            println!(
                "{}: ok ({} source(s))",
                file.display(),
                pipeline.sources.len()
            );
        }
        ok &= file_ok;
    }
    Ok(if ok { exit_code::OK } else { exit_code::CONFIG })
}

async fn check(file: &Path) -> anyhow::Result<i32> {
    let Some(pipeline) = load(file, &process_env) else {
        return Ok(exit_code::CONFIG);
    };
    let registry = registry_for(file);
    let mut worst = exit_code::OK;
    for source in &pipeline.sources {
        let name = &source.name.value;
        let outcome = match braid_runtime::build_source(&pipeline, source, &registry) {
            Ok(built) => built.check().await.map_err(|error| RunError::Source {
                source_name: name.clone(),
                error,
            }),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(o) => println!("{name}: ok: {}", o.message),
            Err(err) => {
                eprintln!("{name}: FAILED ({}): {err}", err.kind());
                worst = worst.max(err.exit_code());
            }
        }
    }
    Ok(worst)
}

async fn discover(file: &Path, only: Option<&str>, json: bool) -> anyhow::Result<i32> {
    let Some(pipeline) = load(file, &process_env) else {
        return Ok(exit_code::CONFIG);
    };
    let registry = registry_for(file);
    let mut catalogs = serde_json::Map::new();
    for source in &pipeline.sources {
        let name = &source.name.value;
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let catalog = match braid_runtime::build_source(&pipeline, source, &registry) {
            Ok(built) => built.discover().await.map_err(|error| RunError::Source {
                source_name: name.clone(),
                error,
            }),
            Err(e) => Err(e),
        };
        let catalog = match catalog {
            Ok(c) => c,
            Err(err) => {
                eprintln!("error: {err}");
                return Ok(err.exit_code());
            }
        };
        if json {
            catalogs.insert(
                name.clone(),
                serde_json::to_value(&catalog).context("serialising the catalog")?,
            );
        } else {
            output::print_catalog(name, &catalog);
        }
    }
    if only.is_some() && catalogs.is_empty() && json {
        eprintln!(
            "no source named `{}` in {}",
            only.unwrap_or_default(),
            file.display()
        );
        return Ok(exit_code::CONFIG);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&catalogs)?);
    }
    Ok(exit_code::OK)
}

/// A run's cancel signal, flipped by SIGINT/SIGTERM.
fn cancel_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("stop requested: committing at the next checkpoint (Ctrl-C again to abort)");
        let _ = tx.send(true);
        wait_for_signal().await;
        eprintln!("aborted; uncommitted data is discarded on the next start");
        std::process::exit(exit_code::INTERRUPTED);
    });
    rx
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run_one(
    pipeline: &Pipeline,
    file: &Path,
    warehouse: &Warehouse,
    interactive: bool,
    cancel: tokio::sync::watch::Receiver<bool>,
    backfill: Option<braid_runtime::Backfill>,
) -> (RunReport, Option<RunError>) {
    let registry = registry_for(file);
    let mut options = RunOptions::new();
    options.cancel = cancel;
    options.backfill = backfill;
    let live = options.live.clone();
    let display = progress::Display::start(live, interactive, &pipeline.name);
    let result = braid_runtime::run_pipeline(pipeline, &registry, warehouse, options).await;
    display.finish().await;
    match result {
        Ok(report) => (report, None),
        Err((report, e)) => (report, Some(e)),
    }
}

fn open_warehouse(location: &str) -> Result<Warehouse, i32> {
    Warehouse::open_location(location).map_err(|e| {
        eprintln!("error: warehouse {location}: {e}");
        exit_code::WAREHOUSE
    })
}

async fn run(
    file: &Path,
    warehouse: Option<String>,
    report_path: Option<PathBuf>,
    backfill: Option<braid_runtime::Backfill>,
    interactive: bool,
) -> anyhow::Result<i32> {
    let Some(pipeline) = load(file, &process_env) else {
        return Ok(exit_code::CONFIG);
    };
    let location = warehouse
        .or_else(|| pipeline.warehouse.clone())
        .unwrap_or_else(|| "warehouse".into());
    let wh = match open_warehouse(&location) {
        Ok(w) => w,
        Err(code) => return Ok(code),
    };
    let (report, error) = run_one(
        &pipeline,
        file,
        &wh,
        interactive,
        cancel_on_signals(),
        backfill,
    )
    .await;
    if let Some(path) = report_path {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    output::print_summary(&[report], Path::new(&wh.location()));
    Ok(match error {
        None => unify_cmd::unify(&pipeline, &wh.location()),
        Some(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    })
}

fn runs(warehouse: &str, pipeline: Option<&str>, limit: usize, json: bool) -> anyhow::Result<i32> {
    if !braid_warehouse::is_remote(warehouse) && !Path::new(warehouse).join("_braid").is_dir() {
        eprintln!("error: {warehouse} is not a braid warehouse (no _braid/)");
        return Ok(exit_code::CONFIG);
    }
    let wh = match open_warehouse(warehouse) {
        Ok(w) => w,
        Err(code) => return Ok(code),
    };
    let all = match braid_runtime::read_history(&wh, pipeline) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: reading the run history: {e}");
            return Ok(exit_code::WAREHOUSE);
        }
    };
    let shown = &all[all.len().saturating_sub(limit)..];
    if json {
        for r in shown {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        output::print_runs(shown);
    }
    Ok(exit_code::OK)
}

async fn demo(
    warehouse: &Path,
    pipelines: &Path,
    contacts: u64,
    interactive: bool,
) -> anyhow::Result<i32> {
    let mut config = SandboxConfig::default();
    config.hubspot.contacts = contacts;
    let sandbox = Sandbox::start(config.clone(), "127.0.0.1:0".parse()?)
        .await
        .context("starting the vendor sandbox")?;
    eprintln!("vendor sandbox listening on {}", sandbox.base_url());
    let overlay = sandbox.demo_env();
    let env = move |name: &str| {
        overlay
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(pipelines)
        .with_context(|| format!("reading {}", pipelines.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no pipeline files (*.yaml) in {}", pipelines.display());
    }
    let wh = match open_warehouse(&warehouse.display().to_string()) {
        Ok(w) => w,
        Err(code) => return Ok(code),
    };
    let cancel = cancel_on_signals();
    let mut reports = Vec::new();
    let mut worst = exit_code::OK;
    for file in &files {
        // A pipeline needing a server the sandbox cannot stand in for (a
        // database) runs only when its variables are set.
        let missing = unset_variables(file, &env);
        if !missing.is_empty() {
            let why = if names_a_connector_command(file, &missing) {
                "to the connector's command (install it as the file's header says)"
            } else {
                "to include it (the demo has no server for it)"
            };
            eprintln!(
                "{}: skipped: set {} {why}",
                file.display(),
                missing.join(", ")
            );
            continue;
        }
        let Some(pipeline) = load(file, &env) else {
            worst = worst.max(exit_code::CONFIG);
            continue;
        };
        if let Some(command) = uninstalled_command(&pipeline, file) {
            eprintln!(
                "{}: skipped: {command} is not installed (install it as the file's header says)",
                file.display()
            );
            continue;
        }
        let (report, error) =
            run_one(&pipeline, file, &wh, interactive, cancel.clone(), None).await;
        if let Some(e) = error {
            eprintln!("{}: error: {e}", file.display());
            worst = worst.max(e.exit_code());
        } else {
            worst = worst.max(unify_cmd::unify(
                &pipeline,
                &warehouse.display().to_string(),
            ));
        }
        reports.push(report);
    }
    sandbox.shutdown().await;
    output::print_summary(&reports, warehouse);
    Ok(worst)
}

async fn sandbox(
    addr: std::net::SocketAddr,
    (env_file, advertise_url): (Option<PathBuf>, Option<String>),
    seed: u64,
    sizes: (u64, u64, u64),
    limits: (u32, u32),
) -> anyhow::Result<i32> {
    let (contacts, companies, deals) = sizes;
    let (rate_limit, search_rate_limit) = limits;
    let mut config = SandboxConfig {
        seed,
        ..SandboxConfig::default()
    };
    config.hubspot.contacts = contacts;
    config.hubspot.companies = companies;
    config.hubspot.deals = deals;
    config.hubspot.requests_per_second = (rate_limit > 0).then_some(rate_limit);
    config.hubspot.search_requests_per_second =
        (search_rate_limit > 0).then_some(search_rate_limit);
    let token = config.hubspot.access_token.clone();
    let sandbox = Sandbox::start(config, addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    if let Some(path) = env_file {
        let base = sandbox.base_url();
        let advertised = advertise_url.unwrap_or_else(|| base.clone());
        let text: String = sandbox
            .demo_env()
            .into_iter()
            .map(|(k, v)| format!("{k}={}\n", v.replace(&base, &advertised)))
            .collect();
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("  demo environment written to {}", path.display());
    }
    println!("vendor sandbox on {}", sandbox.base_url());
    println!(
        "  HubSpot CRM v3: {}  (Authorization: Bearer {token})",
        sandbox.hubspot_base_url()
    );
    println!(
        "  try: curl -H 'Authorization: Bearer {token}' '{}/crm/v3/objects/contacts?limit=2'",
        sandbox.hubspot_base_url()
    );
    println!("  run a pipeline against it: HUBSPOT_BASE_URL={} HUBSPOT_ACCESS_TOKEN={token} braid run pipelines/hubspot_crm.yaml", sandbox.hubspot_base_url());
    wait_for_signal().await;
    sandbox.shutdown().await;
    Ok(exit_code::OK)
}
