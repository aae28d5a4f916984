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
    let (listen, metrics_listen) = (config.listen, config.metrics_listen);
    if let Some(addr) = metrics_listen {
        tracing::info!(%addr, "live map on / (plain HTTP, for the internal network)");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            // The directory exists before either port is served: the map's routes go to the
            // HTTP server, the rendezvous to the gRPC one.
            let rendezvous = locus_rendezvous::Rendezvous::new(config);
            let routes = rendezvous.http_routes();
            locus_service::serve(listen, metrics_listen, routes, |listener, shutdown| {
                rendezvous.run(listener, shutdown)
            })
            .await
        })?;
    Ok(())
}
