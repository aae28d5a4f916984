//! The `locus-rendezvous` binary: configuration, logging, metrics and signals around
//! [`locus_rendezvous::run`].

use std::path::PathBuf;

use clap::Parser;
use locus_rendezvous::config::{LogFormat, Settings};

/// The rendezvous of a locus overlay: boot lists, the directory of live groups, overlay
/// snapshots and events over gRPC.
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
            eprintln!("locus-rendezvous: {}", locus_service::report(e.as_ref()));
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
            |listener, shutdown| locus_rendezvous::run(listener, config, shutdown),
        ))?;
    Ok(())
}
