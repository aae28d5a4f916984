//! The process around a service, once for both binaries: settings from a YAML file, then
//! `LOCUS_*` environment variables, then flags, each overriding the one before
//! ([`ServiceSettings`]); `--print-config`; logging; the runtime; one-line errors ([`main`]).
//!
//! A service says what its settings are and how they resolve, and gives [`main`] the future
//! that runs it; everything else here is the same for the rendezvous and the peer.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A settings file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid YAML for these settings (the message names the line and the
    /// field).
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line and column.
        source: serde_yaml::Error,
    },
}

/// A service's settings as given (every field optional), and how they become its
/// configuration.
pub trait ServiceSettings:
    Sized + Default + Serialize + DeserializeOwned + clap::Args + clap::FromArgMatches
{
    /// The resolved configuration.
    type Config: Send + 'static;
    /// Why settings do not resolve.
    type Error: std::error::Error + Send + Sync + 'static;

    /// These settings with every field that `over` sets taken from `over`.
    fn merge(self, over: Self) -> Self;

    /// Fills in the defaults and checks every value: the complete settings (what
    /// `--print-config` prints) and the configuration.
    fn resolve(self) -> Result<(Self, Self::Config), Self::Error>;

    /// How the configuration wants its logs.
    fn log_format(config: &Self::Config) -> LogFormat;

    /// Reads a YAML settings file; unknown fields are refused, with their line.
    fn from_file(path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_yaml::from_str(&text).map_err(|source| FileError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[derive(Debug, Parser)]
#[command(version)]
struct Cli<S: clap::Args> {
    /// YAML configuration file.
    #[arg(long, short, env = "LOCUS_CONFIG")]
    config: Option<PathBuf>,
    /// Print the resolved configuration as YAML and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    settings: S,
}

/// The boxed error a service's run ends with.
pub type RunError = Box<dyn std::error::Error + Send + Sync>;

/// A service binary's `main`: the command line `name` with `about` as its help, the settings
/// layered and resolved, logging, a multi-threaded runtime, and `run` with the configuration;
/// a failure is one line on standard error (`name: what went wrong: why`) and exit code 1.
pub fn main<S, F, Fut>(name: &'static str, about: &'static str, run: F) -> ExitCode
where
    S: ServiceSettings,
    F: FnOnce(S::Config) -> Fut,
    Fut: Future<Output = Result<(), RunError>>,
{
    match try_main::<S, F, Fut>(name, about, run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {}", crate::report(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn try_main<S, F, Fut>(name: &'static str, about: &'static str, run: F) -> Result<(), RunError>
where
    S: ServiceSettings,
    F: FnOnce(S::Config) -> Fut,
    Fut: Future<Output = Result<(), RunError>>,
{
    let command = Cli::<S>::command()
        .name(name)
        .bin_name(name)
        .about(about)
        .after_help(
            "Settings come from the YAML file, then LOCUS_* environment variables, then flags; \
             each overrides the one before. Logging follows RUST_LOG (default info).",
        );
    let cli = Cli::<S>::from_arg_matches(&command.get_matches())?;
    let file = match &cli.config {
        Some(path) => S::from_file(path)?,
        None => S::default(),
    };
    let (full, config) = file.merge(cli.settings).resolve()?;
    if cli.print_config {
        print!("{}", serde_yaml::to_string(&full)?);
        return Ok(());
    }
    crate::init_logging(S::log_format(&config) == LogFormat::Json);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config))
}
