//! A newcomer's first try: plain `docker-compose up -d` (or `docker compose up -d`) on a fresh
//! copy of the repository (its tracked files, no `deploy/secrets/`) with the binaries built
//! where `deploy/Dockerfile` says. It either gives a converged cluster, or stops at once and
//! prints one line naming what to do; the test shows which, and fails on anything else (a
//! cluster that never converges, or an error that names nothing to do).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};

use crate::support::{Cluster, say, step};

/// What a line must name for a newcomer to know what to do: the command that makes the
/// secrets (docker-compose.yml requires `LOCUS_SECRETS`, which only the `.env` it writes sets).
const WHAT_TO_DO: [&str; 1] = ["cargo xtask secrets"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_compose_up_on_a_fresh_copy_converges_or_names_what_to_do() {
    let mut cluster = Cluster::prepare("newcomer").await;
    let result = cluster.newcomer().await;
    cluster.finish(result);
}

impl Cluster {
    async fn newcomer(&mut self) -> Result<()> {
        let root = self.docker.root().to_path_buf();
        let copy = fresh_copy(&root)?;
        // Beside the suite's own project: the copy runs as `<project>-fresh`.
        let project = format!("{}-fresh", self.docker.project());
        let compose = self.docker.compose_name();
        step(&format!(
            "`{compose} up -d` on a fresh copy ({}), binaries built, no secrets",
            copy.display()
        ));
        let fresh = self.docker.elsewhere(&copy, &project);
        let t = Instant::now();
        let mut words = compose.split_whitespace();
        let out = Command::new(words.next().context("no Compose")?)
            .args(words)
            .args(["up", "-d"])
            .current_dir(&copy)
            .env("COMPOSE_PROJECT_NAME", &project)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {compose}"))?;
        let took = t.elapsed();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let outcome = if out.status.success() {
            // Started: it must converge, like any cluster.
            let previous = std::mem::replace(&mut self.docker, fresh);
            let converged = self
                .converge("a fresh copy's cluster converged", t, None, |_| Vec::new())
                .await;
            let fresh = std::mem::replace(&mut self.docker, previous);
            let down = xtask::down(&fresh);
            converged?;
            down?;
            "a converged cluster".to_string()
        } else {
            let _ = xtask::down(&fresh);
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| WHAT_TO_DO.iter().any(|w| l.contains(w)))
                .collect();
            let Some(line) = lines.first() else {
                bail!(
                    "`{compose} up -d` on a fresh copy failed and names nothing to do \
                     ({WHAT_TO_DO:?}): {text}"
                );
            };
            say!(
                "  it stops at once ({:.1} s) and says: {line}",
                took.as_secs_f64()
            );
            "one line naming the command to run (`cargo xtask secrets`)".to_string()
        };
        say!("  outcome for a newcomer: {outcome}");
        self.timings
            .push((format!("fresh copy, `{compose} up -d`: {outcome}"), took));
        let _ = std::fs::remove_dir_all(&copy);
        Ok(())
    }
}

/// A copy of the repository's tracked files, as `git clone` gives them, plus the static
/// binaries in `target/<triple>/release/` (as `deploy/Dockerfile`'s `cargo build` leaves
/// them), under the test's temporary directory.
fn fresh_copy(root: &Path) -> Result<PathBuf> {
    let copy = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-fresh-copy");
    let _ = std::fs::remove_dir_all(&copy);
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .context("cannot run git ls-files")?;
    ensure!(listed.status.success(), "git ls-files failed");
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let rel = Path::new(std::str::from_utf8(file)?);
        let from = root.join(rel);
        if !from.is_file() {
            continue;
        }
        let to = copy.join(rel);
        std::fs::create_dir_all(to.parent().expect("a file has a folder"))?;
        std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
    }
    let bins = xtask::images::bin_dir(root)?;
    let dest = copy
        .join("target")
        .join(xtask::images::host_triple()?)
        .join("release");
    std::fs::create_dir_all(&dest)?;
    for bin in xtask::images::BINARIES {
        std::fs::copy(bins.join(bin), dest.join(bin))
            .with_context(|| format!("cannot copy the built {bin}"))?;
    }
    Ok(copy)
}
