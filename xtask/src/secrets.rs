//! The compose cluster's TLS material under `deploy/secrets/` (issue #12), made with
//! `locus_service::tls::pki` directly.
//!
//! One folder per reader, each bind-mounted read-only by `docker-compose.yml`:
//! - `rendezvous/`: `ca.pem`, `ca-key.pem` (it signs the peers' keys) and `tokens`;
//! - `peer/`: `ca.pem`, `token` (to enroll) and `probe.pem`/`probe-key.pem`, an operator
//!   certificate named `probe` for the containers' health checks, which a peer only answers
//!   over mutual TLS;
//! - `operator/`: `ca.pem`, `operator.pem`, `operator-key.pem`, for `locusctl` and xtask on the
//!   host.
//!
//! What exists is kept: a rerun, or a restarted rendezvous, keeps the CA and so every
//! certificate issued under it. Only what is missing is made, plus what no longer fits: a copy
//! of the CA that differs from `rendezvous/ca.pem` (the CA was made anew), the operator
//! certificates beside such a copy, and those with less than [`RENEW_BEFORE`] left.
//!
//! The services run as uid 65532, not the host's user: `rendezvous/` and `peer/` are readable
//! by everyone. That is for this development cluster only; Kubernetes mounts Secrets
//! (`deploy/k8s/`). `operator/` stays the host user's own.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use locus_core::PeerId;
use locus_service::tls::pki::{self, Ca, Identity, Validity};
use locus_service::tls::{self, ClientTls, Credentials};

/// Where the secrets live, under the workspace root.
pub const DIR: &str = "deploy/secrets";
/// The variable `docker-compose.yml` takes the secrets' folder from: unset (a fresh clone),
/// Compose stops at once with one line naming `cargo xtask secrets`.
pub const SECRETS_VAR: &str = "LOCUS_SECRETS";

/// Writes `root/.env`, which plain `docker compose` reads: the project name and where the
/// secrets are. It is not tracked, so that a fresh clone has no [`SECRETS_VAR`]; an existing
/// file that already names the secrets is left as it is.
pub fn write_env(root: &Path) -> Result<()> {
    let path = root.join(".env");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current
        .lines()
        .any(|l| l.trim_start().starts_with(&format!("{SECRETS_VAR}=")))
    {
        return Ok(());
    }
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text
        .lines()
        .any(|l| l.trim_start().starts_with("COMPOSE_PROJECT_NAME="))
    {
        text.push_str(&format!(
            "# Written by `cargo xtask secrets` for plain `docker compose`: the project name\n\
             # (containers, network) and the folder of the cluster's secrets.\n\
             COMPOSE_PROJECT_NAME={}\n",
            crate::docker::PROJECT
        ));
    }
    text.push_str(&format!("{SECRETS_VAR}=./{DIR}\n"));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}
/// The CA's name in its certificate.
const CA_NAME: &str = "locus dev cluster";
/// The operator certificate xtask and `locusctl` on the host use.
const OPERATOR: &str = "operator";
/// The operator certificate the peers' health checks use.
const PROBE: &str = "probe";
/// An operator certificate with less than this left is issued again.
const RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);
/// Files the services read (uid 65532 in the containers): readable by everyone.
const SHARED_FILE: u32 = 0o644;
const SHARED_DIR: u32 = 0o755;
/// The host user's own files.
const PRIVATE_FILE: u32 = 0o600;
const PRIVATE_DIR: u32 = 0o700;

/// The files of `deploy/secrets/` that the host side uses.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// `operator/ca.pem`.
    pub ca: PathBuf,
    /// `operator/operator.pem`.
    pub cert: PathBuf,
    /// `operator/operator-key.pem`.
    pub key: PathBuf,
}

impl Secrets {
    /// Makes whatever is missing under `root/deploy/secrets`, and `root/.env` for plain
    /// `docker compose` ([`write_env`]), and says what it made.
    pub fn ensure(root: &Path) -> Result<Secrets> {
        write_env(root)?;
        let dir = root.join(DIR);
        let rendezvous = dir.join("rendezvous");
        let peer = dir.join("peer");
        let operator = dir.join("operator");
        make_dir(&dir, SHARED_DIR)?;
        make_dir(&rendezvous, SHARED_DIR)?;
        make_dir(&peer, SHARED_DIR)?;
        make_dir(&operator, PRIVATE_DIR)?;

        // The CA: kept when both halves exist, made when neither does.
        let (ca_path, key_path) = (rendezvous.join("ca.pem"), rendezvous.join("ca-key.pem"));
        let ca = match (ca_path.exists(), key_path.exists()) {
            (true, true) => Ca::load(&read(&ca_path)?, &read(&key_path)?)
                .with_context(|| format!("cannot load the CA in {}", rendezvous.display()))?,
            (false, false) => {
                let ca = Ca::create(CA_NAME, pki::DEFAULT_CA_TTL)?;
                write(&key_path, ca.key_pem(), SHARED_FILE)?;
                write(&ca_path, ca.cert_pem(), SHARED_FILE)?;
                made(&ca_path, "a new CA");
                ca
            }
            _ => bail!(
                "{} holds half a CA (ca.pem and ca-key.pem go together): restore the other \
                 half, or delete {} to start over with a new CA and new certificates",
                rendezvous.display(),
                dir.display()
            ),
        };
        // A copy of the CA that differs means the CA was made anew: what sits beside the copy
        // was issued by another CA and is issued again.
        let mut stale = [false; 2];
        for (i, (copy, mode)) in [
            (peer.join("ca.pem"), SHARED_FILE),
            (operator.join("ca.pem"), PRIVATE_FILE),
        ]
        .into_iter()
        .enumerate()
        {
            if read(&copy).ok().as_deref() != Some(ca.cert_pem()) {
                stale[i] = copy.exists();
                write(&copy, ca.cert_pem(), mode)?;
                made(&copy, "the CA's certificate");
            }
        }
        let [peer_stale, operator_stale] = stale;

        // The join token: the peers' one must be among the rendezvous' tokens.
        let (tokens_path, token_path) = (rendezvous.join("tokens"), peer.join("token"));
        let tokens = read(&tokens_path).ok();
        match (tokens, read(&token_path).ok()) {
            (Some(tokens), Some(token)) if !pki::token_matches(&token, &tokens) => bail!(
                "{} is not among {}, so the peers could not enroll: add it there, or delete \
                 {} for a new one (docs/operations.md, \"Rotating the join token\")",
                token_path.display(),
                tokens_path.display(),
                token_path.display()
            ),
            (_, Some(_)) => {}
            (tokens, None) => {
                let token = pki::new_token();
                let mut all = tokens.unwrap_or_else(|| {
                    "# Join tokens, one per line: a peer that shows one enrolls.\n".into()
                });
                if !all.is_empty() && !all.ends_with('\n') {
                    all.push('\n');
                }
                all.push_str(&token);
                all.push('\n');
                write(&tokens_path, &all, SHARED_FILE)?;
                write(&token_path, &format!("{token}\n"), SHARED_FILE)?;
                made(&token_path, "a new join token, added to rendezvous/tokens");
            }
        }

        // Operator certificates: the probe for the peers' health checks, and the host's.
        let probe = (peer.join("probe.pem"), peer.join("probe-key.pem"));
        operator_cert(&ca, PROBE, &probe.0, &probe.1, SHARED_FILE, peer_stale)?;
        let secrets = Secrets {
            ca: operator.join("ca.pem"),
            cert: operator.join("operator.pem"),
            key: operator.join("operator-key.pem"),
        };
        operator_cert(
            &ca,
            OPERATOR,
            &secrets.cert,
            &secrets.key,
            PRIVATE_FILE,
            operator_stale,
        )?;
        Ok(secrets)
    }

    /// A certificate for a new peer id, issued here rather than by enrollment, in
    /// `deploy/secrets/e2e/{peer.pem,peer-key.pem}`: for a peer that starts while no rendezvous
    /// runs. Returns the folder and the id.
    pub fn issue_peer(&self) -> Result<(PathBuf, PeerId)> {
        let root = self
            .ca
            .parent()
            .and_then(Path::parent)
            .context("no secrets folder")?;
        let rendezvous = root.join("rendezvous");
        let ca = Ca::load(
            &read(&rendezvous.join("ca.pem"))?,
            &read(&rendezvous.join("ca-key.pem"))?,
        )?;
        let id = PeerId(uuid::Uuid::new_v4());
        let issued = ca.issue(
            &Identity::Peer(id),
            &[],
            Validity::for_ttl(pki::DEFAULT_CERT_TTL),
        )?;
        let dir = root.join("e2e");
        make_dir(&dir, SHARED_DIR)?;
        write(&dir.join("peer-key.pem"), &issued.key_pem, SHARED_FILE)?;
        write(&dir.join("peer.pem"), &issued.cert_pem, SHARED_FILE)?;
        Ok((dir, id))
    }

    /// The client side of mutual TLS with the operator certificate.
    pub fn client(&self) -> Result<ClientTls> {
        let credentials = Credentials::new(&read(&self.ca)?, &read(&self.cert)?, &read(&self.key)?)
            .context("cannot load the operator certificate")?;
        Ok(ClientTls::Tls(credentials.client_config()?))
    }

    /// The shell line that points `locusctl` at the cluster with these files.
    pub fn exports(&self) -> String {
        format!(
            "export LOCUS_CA={} LOCUS_CERT={} LOCUS_KEY={}",
            self.ca.display(),
            self.cert.display(),
            self.key.display()
        )
    }
}

/// Issues the operator certificate `name` into `cert`/`key` unless one naming it with more
/// than [`RENEW_BEFORE`] left is there and not `stale` (issued by an earlier CA).
fn operator_cert(
    ca: &Ca,
    name: &str,
    cert: &Path,
    key: &Path,
    mode: u32,
    stale: bool,
) -> Result<()> {
    if !stale
        && key.exists()
        && let Ok(pem) = read(cert)
        && let Ok(ders) = tls::pem_certs(&pem)
        && let Ok((Identity::Operator(n), not_after)) = pki::identity_of(&ders[0])
        && n == name
        && not_after > SystemTime::now() + RENEW_BEFORE
    {
        return Ok(());
    }
    let issued = ca.issue(
        &Identity::Operator(name.into()),
        &[],
        Validity::for_ttl(pki::DEFAULT_OPERATOR_TTL),
    )?;
    write(key, &issued.key_pem, mode)?;
    write(cert, &issued.cert_pem, mode)?;
    made(cert, &format!("the operator certificate `{name}`"));
    Ok(())
}

fn made(path: &Path, what: &str) {
    println!("xtask: wrote {} ({what})", path.display());
}

fn make_dir(dir: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the permissions of {}", dir.display()))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes `text` to `path` with `mode`, through a temporary file renamed over it, so that a
/// service starting meanwhile reads the old file or the new one, never half of one.
fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the permissions of {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh workspace root under the system's temporary folder.
    fn root() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-secrets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn file(root: &Path, rel: &str) -> String {
        read(&root.join(DIR).join(rel)).unwrap()
    }

    fn mode(root: &Path, rel: &str) -> u32 {
        std::fs::metadata(root.join(DIR).join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn makes_what_is_missing_and_keeps_the_rest() {
        let root = root();
        let first = Secrets::ensure(&root).unwrap();
        assert!(first.client().is_ok());
        let token = file(&root, "peer/token");
        assert!(pki::token_matches(
            &token,
            &file(&root, "rendezvous/tokens")
        ));
        assert_eq!(file(&root, "peer/ca.pem"), file(&root, "rendezvous/ca.pem"));
        // The containers' user reads the shared folders; the operator's stay the host user's.
        assert_eq!(mode(&root, "rendezvous/ca-key.pem"), SHARED_FILE);
        assert_eq!(mode(&root, "peer/probe-key.pem"), SHARED_FILE);
        assert_eq!(mode(&root, "operator"), PRIVATE_DIR);
        assert_eq!(mode(&root, "operator/operator-key.pem"), PRIVATE_FILE);

        let before: Vec<String> = [
            "rendezvous/ca.pem",
            "peer/probe.pem",
            "operator/operator.pem",
        ]
        .iter()
        .map(|f| file(&root, f))
        .collect();
        Secrets::ensure(&root).unwrap();
        let after: Vec<String> = [
            "rendezvous/ca.pem",
            "peer/probe.pem",
            "operator/operator.pem",
        ]
        .iter()
        .map(|f| file(&root, f))
        .collect();
        assert_eq!(before, after);
        assert_eq!(file(&root, "peer/token"), token);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_new_ca_reissues_what_the_old_one_signed() {
        let root = root();
        Secrets::ensure(&root).unwrap();
        let probe = file(&root, "peer/probe.pem");
        let operator = file(&root, "operator/operator.pem");
        let token = file(&root, "peer/token");
        for f in ["ca.pem", "ca-key.pem"] {
            std::fs::remove_file(root.join(DIR).join("rendezvous").join(f)).unwrap();
        }
        Secrets::ensure(&root).unwrap();
        assert_eq!(
            file(&root, "operator/ca.pem"),
            file(&root, "rendezvous/ca.pem")
        );
        assert_ne!(file(&root, "peer/probe.pem"), probe);
        assert_ne!(file(&root, "operator/operator.pem"), operator);
        // The token does not depend on the CA.
        assert_eq!(file(&root, "peer/token"), token);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn refuses_half_a_ca_and_a_token_the_rendezvous_does_not_know() {
        let root = root();
        Secrets::ensure(&root).unwrap();
        std::fs::write(root.join(DIR).join("peer/token"), pki::new_token()).unwrap();
        let e = Secrets::ensure(&root).unwrap_err().to_string();
        assert!(e.contains("is not among"), "{e}");

        std::fs::remove_file(root.join(DIR).join("peer/token")).unwrap();
        std::fs::remove_file(root.join(DIR).join("rendezvous/ca-key.pem")).unwrap();
        let e = Secrets::ensure(&root).unwrap_err().to_string();
        assert!(e.contains("half a CA"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
