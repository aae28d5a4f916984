//! Static binaries and the `FROM scratch` images around them (DESIGN §6).
//!
//! The binaries are built on the host with glibc's `crt-static` and an explicit `--target`
//! (the host's own triple), so that build scripts and proc-macros stay dynamic. Cargo builds
//! only what changed, and the image layers are cached by content, so a second run is quick.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

/// The binaries that go into the images, which Compose's own build (`deploy/Dockerfile`)
/// expects in `target/<triple>/release/`.
pub const BINARIES: [&str; 3] = ["locus-rendezvous", "locus-peer", "locusctl"];
/// The static binaries' flags, as a `--config` setting: the same as in the `xtask` alias of
/// `.cargo/config.toml`, which builds xtask itself this way.
const STATIC_RUSTFLAGS: &str = "build.rustflags = ['-C', 'target-feature=+crt-static']";
/// The images: tag and Dockerfile target.
pub const IMAGES: [(&str, &str); 2] = [
    ("locus-rendezvous:latest", "rendezvous"),
    ("locus-peer:latest", "peer"),
];

/// Builds the static binaries and both images.
pub fn build(root: &Path) -> Result<()> {
    let started = Instant::now();
    let bin_dir = build_binaries(root)?;
    let context = target_dir(root).join("docker-context");
    std::fs::create_dir_all(&context)
        .with_context(|| format!("cannot create {}", context.display()))?;
    for bin in BINARIES {
        // The layer cache is keyed by content, so an unchanged binary keeps its layer.
        std::fs::copy(bin_dir.join(bin), context.join(bin))
            .with_context(|| format!("cannot copy {bin} into {}", context.display()))?;
    }
    let dockerfile = root.join("deploy/Dockerfile");
    // The legacy builder (BuildKit needs the buildx plugin, which this engine's hosts lack)
    // warns that it is deprecated on every build: its standard error is passed on once per
    // line, so the warning shows once, not once per image.
    let mut said = std::collections::BTreeSet::new();
    for (tag, target) in IMAGES {
        println!("xtask: image {tag}");
        let out = Command::new("docker")
            .arg("build")
            .arg("--quiet")
            .arg("--file")
            .arg(&dockerfile)
            .args(["--target", target, "--tag", tag])
            .arg(&context)
            .env("DOCKER_BUILDKIT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .context("cannot run `docker build`")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!(
                "`docker build` of {tag} failed ({}): {}",
                out.status,
                stderr.trim()
            );
        }
        let new: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && said.insert(l.to_string()))
            .collect();
        if !new.is_empty() {
            eprintln!("{}", new.join("\n"));
        }
    }
    println!(
        "xtask: images built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds the static release binaries; returns their directory.
fn build_binaries(root: &Path) -> Result<PathBuf> {
    let triple = host_triple()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("xtask: static binaries for {triple} (cargo build --release)");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--locked", "--release", "--target", &triple]);
    for bin in BINARIES {
        cmd.args(["--package", bin]);
    }
    // Without RUSTFLAGS in the environment, the flags go in as `.cargo/config.toml`'s `xtask`
    // alias passes them for xtask itself, so that both builds share every dependency: a cold
    // `cargo xtask up` compiles the gRPC stack once. RUSTFLAGS would override that setting, so
    // with RUSTFLAGS set, crt-static is added to them instead (and the two builds share less).
    match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => {
            cmd.env("RUSTFLAGS", format!("{f} -C target-feature=+crt-static"));
        }
        _ => {
            cmd.env_remove("RUSTFLAGS")
                .args(["--config", STATIC_RUSTFLAGS]);
        }
    }
    // Cargo hands a program it runs (`cargo xtask`, a test of `cargo test`) the variables of
    // that program's package: CARGO_MANIFEST_DIR, CARGO_PKG_NAME and the like. Build scripts
    // watch some of them (ring's `rerun-if-env-changed=CARGO_MANIFEST_DIR`), so passing them
    // on would rebuild ring and all above it whenever the caller changes: xtask, the container
    // suite, a shell. Cargo sets its own for each build script anyway.
    for (var, _) in std::env::vars_os() {
        let Some(var) = var.to_str() else { continue };
        if var.starts_with("CARGO_PKG_")
            || var.starts_with("CARGO_MANIFEST_")
            || var.starts_with("CARGO_BIN_")
            || matches!(
                var,
                "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "OUT_DIR"
            )
        {
            cmd.env_remove(var);
        }
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("building the static binaries failed ({status})");
    }
    Ok(target_dir(root).join(triple).join("release"))
}

/// The static `locusctl` that [`build`] leaves on the host, beside the services' binaries.
pub fn locusctl(root: &Path) -> Result<PathBuf> {
    Ok(bin_dir(root)?.join("locusctl"))
}

/// Where [`build`] leaves the static binaries: `<target dir>/<host triple>/release`.
pub fn bin_dir(root: &Path) -> Result<PathBuf> {
    Ok(target_dir(root).join(host_triple()?).join("release"))
}

/// The host's target triple, from `rustc -vV`.
pub fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("cannot run `rustc -vV`")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|s| s.trim().to_string())
        .context("`rustc -vV` names no host triple")
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` in the workspace.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
