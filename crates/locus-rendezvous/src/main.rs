//! The `locus-rendezvous` binary: configuration, logging, metrics and signals around
//! [`locus_rendezvous::run`].

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use locus_rendezvous::config::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

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
            eprintln!("locus-rendezvous: {}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: most messages here already quote
/// their cause.
fn report(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
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
    init_logging(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(config))
}

async fn serve(config: locus_rendezvous::Config) -> anyhow::Result<()> {
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
            Some(tokio::spawn(locus_rendezvous::metrics::serve(
                listener,
                handle,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )))
        }
        None => None,
    };
    locus_rendezvous::run(listener, config, shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    if let Some(task) = metrics {
        task.await??;
    }
    Ok(())
}

/// Resolves on SIGTERM (the container runtime's stop) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
