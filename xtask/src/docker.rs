//! The Docker engine and Compose, driven through their command-line clients.
//!
//! Compose is `docker compose` (v2) when the plugin is there, else `docker-compose` (v1); the
//! project is `locus` (as in the `.env` that `cargo xtask secrets` writes) unless
//! `COMPOSE_PROJECT_NAME` names another (so that two clusters, a test's and yours, can run side by
//! side), and both name things alike. Containers are found by Compose's labels, which both versions
//! set, not by their names, which differ. The cluster runs with TLS from `docker-compose.yml`, or
//! without it with `docker-compose.plaintext.yml` laid over it ([`Docker::plaintext`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// The Compose project name (also in the `.env` that `cargo xtask secrets` writes, for plain
/// `docker compose up`), unless
/// `COMPOSE_PROJECT_NAME` is set.
pub const PROJECT: &str = "locus";
/// The override that runs the cluster without TLS.
const PLAINTEXT_FILE: &str = "docker-compose.plaintext.yml";

/// A running or stopped container of the project.
#[derive(Debug, Clone)]
pub struct Container {
    /// Full container id.
    pub id: String,
    /// Container name, without the leading `/`.
    pub name: String,
    /// Its hostname: the first 12 characters of the id unless set; peers advertise it.
    pub hostname: String,
    /// The Compose service (`rendezvous` or `peer`).
    pub service: String,
    /// Its address on the project's network.
    pub ip: Option<IpAddr>,
    /// Whether it runs without TLS: `--insecure-plaintext=true` in its command, as
    /// `docker-compose.plaintext.yml` sets it, or `LOCUS_INSECURE_PLAINTEXT=true`.
    pub plaintext: bool,
}

/// How to reach Docker and Compose from this workspace.
#[derive(Debug, Clone)]
pub struct Docker {
    root: PathBuf,
    /// `["docker", "compose"]` or `["docker-compose"]`.
    compose: Vec<String>,
    /// The Compose files, relative to the root: `docker-compose.yml` and any overrides.
    files: Vec<&'static str>,
    /// The Compose project: `COMPOSE_PROJECT_NAME`, else [`PROJECT`].
    project: String,
}

impl Docker {
    /// Checks that the engine answers and finds a Compose; the error says what to do.
    pub fn connect(root: &Path) -> Result<Self> {
        let info = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(Stdio::null())
            .output();
        match info {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "the `docker` command is not installed: install Docker Engine \
                 (https://docs.docker.com/engine/install/) and try again"
            ),
            Err(e) => bail!("cannot run `docker`: {e}"),
            Ok(out) if !out.status.success() => bail!(
                "the Docker engine is not running or not reachable ({}): start it \
                 (`sudo systemctl start docker`, or `sudo dockerd &` where there is no \
                 systemd), check that your user may use it (`docker info`), and try again",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Ok(_) => {}
        }
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let compose = if v2 {
            vec!["docker".into(), "compose".into()]
        } else if Command::new("docker-compose")
            .arg("version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            vec!["docker-compose".into()]
        } else {
            bail!(
                "neither `docker compose` (v2) nor `docker-compose` (v1) is installed: \
                 install the Compose plugin (https://docs.docker.com/compose/install/)"
            )
        };
        let project = std::env::var("COMPOSE_PROJECT_NAME")
            .ok()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| PROJECT.into());
        Ok(Docker {
            root: root.to_path_buf(),
            compose,
            files: vec!["docker-compose.yml"],
            project,
        })
    }

    /// The same, with `docker-compose.plaintext.yml` over `docker-compose.yml` when
    /// `plaintext`: the cluster without TLS.
    pub fn plaintext(mut self, plaintext: bool) -> Self {
        self.files.truncate(1);
        if plaintext {
            self.files.push(PLAINTEXT_FILE);
        }
        self
    }

    /// The workspace root the cluster runs from.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The same cluster definition run from another directory (a copy of the repository) as
    /// another project.
    pub fn elsewhere(&self, root: &Path, project: &str) -> Self {
        Docker {
            root: root.to_path_buf(),
            project: project.to_string(),
            ..self.clone()
        }
    }

    /// The Compose project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The Compose command line in use, for messages.
    pub fn compose_name(&self) -> String {
        self.compose.join(" ")
    }

    /// Runs `docker ARGS`, failing with its standard error when it fails.
    pub fn docker(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("docker");
        cmd.args(args).current_dir(&self.root);
        output(cmd, &format!("docker {}", args.join(" ")))
    }

    /// Runs Compose with the project's file and name, its output passed through.
    pub fn compose(&self, args: &[&str]) -> Result<()> {
        let mut cmd = self.compose_command(args);
        let status = cmd
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", self.compose_name()))?;
        if !status.success() {
            bail!(
                "`{} {}` failed ({status})",
                self.compose_name(),
                args.join(" ")
            );
        }
        Ok(())
    }

    /// Runs Compose, capturing its standard output.
    pub fn compose_output(&self, args: &[&str]) -> Result<String> {
        let cmd = self.compose_command(args);
        output(cmd, &format!("{} {}", self.compose_name(), args.join(" ")))
    }

    fn compose_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..])
            .args(["--project-name", &self.project]);
        for file in &self.files {
            cmd.arg("--file").arg(self.root.join(file));
        }
        cmd.args(args)
            .current_dir(&self.root)
            .env("COMPOSE_PROJECT_NAME", &self.project);
        // The secrets' folder, which docker-compose.yml requires (a plaintext run replaces
        // the mounts, but Compose reads the variable first); one set by the caller stands.
        if std::env::var_os(crate::secrets::SECRETS_VAR).is_none() {
            cmd.env(
                crate::secrets::SECRETS_VAR,
                format!("./{}", crate::secrets::DIR),
            );
        }
        cmd
    }

    /// The project's containers, running ones only unless `all`.
    pub fn containers(&self, all: bool) -> Result<Vec<Container>> {
        let project = format!("label=com.docker.compose.project={}", self.project);
        let mut args = vec!["ps", "-q", "--no-trunc", "--filter", &project];
        if all {
            args.push("-a");
        }
        let ids = self.docker(&args)?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["inspect"];
        args.extend(&ids);
        let json: Value = serde_json::from_str(&self.docker(&args)?)
            .context("cannot read the output of `docker inspect`")?;
        let mut out: Vec<Container> = json
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let str_at = |ptr: &str| c.pointer(ptr).and_then(Value::as_str).unwrap_or("");
                let ip = c
                    .pointer("/NetworkSettings/Networks")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|nets| nets.values())
                    .filter_map(|n| n.get("IPAddress").and_then(Value::as_str))
                    .find_map(|ip| ip.parse().ok());
                Container {
                    id: str_at("/Id").to_string(),
                    name: str_at("/Name").trim_start_matches('/').to_string(),
                    hostname: str_at("/Config/Hostname").to_string(),
                    service: str_at("/Config/Labels/com.docker.compose.service").to_string(),
                    ip,
                    plaintext: ["/Config/Cmd", "/Config/Env"]
                        .iter()
                        .filter_map(|ptr| c.pointer(ptr).and_then(Value::as_array))
                        .flatten()
                        .filter_map(Value::as_str)
                        .any(|v| {
                            matches!(
                                v,
                                "--insecure-plaintext=true"
                                    | "--insecure-plaintext"
                                    | "LOCUS_INSECURE_PLAINTEXT=true"
                            )
                        }),
                }
            })
            .collect();
        out.sort_by_key(|c| natural_key(&c.name));
        Ok(out)
    }

    /// The last `lines` lines of a container's log (standard output and error).
    pub fn logs(&self, container: &str, lines: usize) -> String {
        let out = Command::new("docker")
            .args(["logs", "--tail", &lines.to_string(), container])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => {
                let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
                s.push_str(&String::from_utf8_lossy(&o.stderr));
                s
            }
            Err(e) => format!("(cannot read the logs: {e})"),
        }
    }
}

/// Sorts `locus_peer_10` after `locus_peer_9`.
fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_string(), num.parse().unwrap_or(0))
}

/// Runs `cmd`, returning its standard output; its standard error becomes the error.
fn output(mut cmd: Command, what: &str) -> Result<String> {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{what}`"))?;
    if !status.success() {
        bail!(
            "`{what}` failed ({status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}
