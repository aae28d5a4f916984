//! The `locus-peer` binary: configuration, logging, metrics and signals around
//! [`locus_peer::run`].

use std::path::PathBuf;

use anyhow::Context as _;
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
        .block_on(serve(config))
}

async fn serve(config: locus_peer::Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics = match config.metrics_listen {
        Some(addr) => {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .context("cannot install the metrics recorder")?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            tracing::info!(%addr, "metrics on /metrics");
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(locus_service::serve_metrics(
                listener,
                handle,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )))
        }
        None => None,
    };
    locus_peer::run(listener, config, locus_service::shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    if let Some(task) = metrics {
        task.await??;
    }
    Ok(())
}
