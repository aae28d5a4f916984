//! The `locus-peer` binary: configuration, logging, metrics and signals around
//! [`locus_peer::run`].

use std::path::PathBuf;

use clap::Parser;
use locus_peer::config::{LogFormat, Settings};

/// A peer of a locus overlay: joins the group in its network locality and keeps the overlay
/// together with its neighbours.
///
/// Settings come from the YAML file, then `LOCUS_*` environment variables, then flags; each
/// overrides the one before. Logging follows `RUST_LOG` (default `info`).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// YAML configuration file.
    #[arg(long, short, env = "LOCUS_CONFIG")]
    config: Option<PathBuf>,
    /// Print the resolved configuration as YAML and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    settings: Settings,
}

fn main() -> std::process::ExitCode {
    match try_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("locus-peer: {}", locus_service::report(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let (full, config) = file.merge(cli.settings).resolve()?;
    if cli.print_config {
        print!("{}", serde_yaml::to_string(&full)?);
        return Ok(());
    }
    locus_service::init_logging(matches!(config.log_format, LogFormat::Json));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(locus_service::serve(
            config.listen,
            config.metrics_listen,
            axum::Router::new(),
            |listener, shutdown| locus_peer::run(listener, config, shutdown),
        ))?;
    Ok(())
}
