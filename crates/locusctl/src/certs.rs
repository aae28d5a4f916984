//! The cluster's certificates and join tokens, made without openssl: `ca init`, `token
//! create`, `cert operator`, `cert show`.
//!
//! Private keys and token files are written readable by their owner only (0600), certificates
//! 0644; nothing that exists is overwritten without `--force`.

use std::fs::{OpenOptions, Permissions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use locus_service::tls::{self, Identity, pki};
use serde::Serialize;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::{Failure, units};

/// `locusctl ca`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CaCommand {
    /// A new CA: DIR/ca.pem (trusted by everyone) and DIR/ca-key.pem (for the rendezvous only).
    Init {
        /// Where to write them (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// The CA's name (its certificate's common name is "NAME CA").
        #[arg(long, default_value = "locus")]
        name: String,
        /// Days the CA is valid.
        #[arg(long, default_value_t = DEFAULT_CA_DAYS)]
        ttl_days: u64,
        /// Overwrite existing files: every certificate the old CA issued stops being trusted.
        #[arg(long)]
        force: bool,
    },
}

/// `locusctl token`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// A new join token, appended to the rendezvous' tokens file (created 0600 if missing) and
    /// printed, for a peer's token file.
    Create {
        /// The rendezvous' tokens file (its `--tokens`).
        #[arg(long)]
        tokens: PathBuf,
    },
}

/// `locusctl cert`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CertCommand {
    /// A key and client certificate for an operator: OUT/NAME.pem and OUT/NAME-key.pem.
    Operator {
        /// The directory of `ca init`: ca.pem and ca-key.pem.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The operator's name.
        #[arg(long)]
        name: String,
        /// Where to write them (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = DEFAULT_OPERATOR_DAYS)]
        ttl_days: u64,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// What a certificate (PEM) says: identity, expiry, issuer.
    Show {
        /// The certificate file.
        file: PathBuf,
    },
}

/// Default lifetime of a CA, in days: [`locus_service::tls::pki::DEFAULT_CA_TTL`].
const DEFAULT_CA_DAYS: u64 = locus_service::tls::pki::DEFAULT_CA_TTL.as_secs() / 86_400;
/// Default lifetime of an operator's certificate, in days:
/// [`locus_service::tls::pki::DEFAULT_OPERATOR_TTL`].
const DEFAULT_OPERATOR_DAYS: u64 = locus_service::tls::pki::DEFAULT_OPERATOR_TTL.as_secs() / 86_400;

const SECRET: u32 = 0o600;
const PUBLIC: u32 = 0o644;
const DAY: u64 = 24 * 3600;

/// `ca …`.
pub(crate) fn ca(command: CaCommand) -> Result<(), Failure> {
    match command {
        CaCommand::Init {
            dir,
            name,
            ttl_days,
            force,
        } => ca_init(&dir, &name, ttl_days, force),
    }
}

/// `token …`.
pub(crate) fn token(command: TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Create { tokens } => token_create(&tokens),
    }
}

/// `cert …`, printing JSON with `json`.
pub(crate) fn cert(command: CertCommand, json: bool) -> Result<(), Failure> {
    match command {
        CertCommand::Operator {
            ca_dir,
            name,
            out_dir,
            ttl_days,
            force,
        } => cert_operator(&ca_dir, &name, &out_dir, ttl_days, force),
        CertCommand::Show { file } => {
            let out = cert_show(&file)?;
            if json {
                return crate::print_json(&out);
            }
            outln!("identity   {}", out.identity);
            let expired = if out.expired { " (expired)" } else { "" };
            outln!("not after  {}{expired}", out.not_after);
            outln!("issuer     {}", out.issuer);
            if !out.dns_names.is_empty() {
                outln!("dns names  {}", out.dns_names.join(", "));
            }
            Ok(())
        }
    }
}

/// `ca init`: a new CA in `dir`, as `ca.pem` and `ca-key.pem`.
fn ca_init(dir: &Path, name: &str, ttl_days: u64, force: bool) -> Result<(), Failure> {
    if !pki::valid_name(name) {
        return Err(Failure::new(
            2,
            format!("--name {name:?}: use 1 to 64 of letters, digits, '.', '_' and '-'"),
        ));
    }
    let cert = dir.join("ca.pem");
    let key = dir.join("ca-key.pem");
    // Both or neither: a new key beside an old certificate would be a broken CA.
    refuse_existing(&[&cert, &key], force)?;
    let ca = pki::Ca::create(name, days(ttl_days)?).map_err(|e| Failure::new(1, e.to_string()))?;
    create_dir(dir)?;
    write(&key, ca.key_pem(), SECRET, force)?;
    write(&cert, ca.cert_pem(), PUBLIC, force)?;
    outln!(
        "wrote {} and {} (keep the key secret: it signs every certificate)",
        cert.display(),
        key.display()
    );
    Ok(())
}

/// `token create`: a new join token appended to `file`, and printed.
fn token_create(file: &Path) -> Result<(), Failure> {
    let token = pki::new_token();
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(SECRET)
        .open(file)
        .map_err(|e| io_failure(file, e))?;
    // A file whose last line lacks its newline would have the token glued onto it.
    let mut line = format!("{token}\n");
    let len = f.metadata().map_err(|e| io_failure(file, e))?.len();
    if len > 0 {
        let mut last = [0u8];
        f.seek(SeekFrom::End(-1))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(|e| io_failure(file, e))?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    f.write_all(line.as_bytes())
        .map_err(|e| io_failure(file, e))?;
    let mode = f
        .metadata()
        .map_err(|e| io_failure(file, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        eprintln!(
            "locusctl: warning: {} is readable by others (mode {:o}): chmod 600 it",
            file.display(),
            mode & 0o777
        );
    }
    outln!("{token}");
    Ok(())
}

/// `cert operator`: a key and a client certificate for operator `name`, signed by the CA in
/// `ca_dir`, as `out_dir/NAME.pem` and `out_dir/NAME-key.pem`.
fn cert_operator(
    ca_dir: &Path,
    name: &str,
    out_dir: &Path,
    ttl_days: u64,
    force: bool,
) -> Result<(), Failure> {
    if !pki::valid_name(name) {
        return Err(Failure::new(
            2,
            format!("--name {name:?}: use 1 to 64 of letters, digits, '.', '_' and '-'"),
        ));
    }
    let ca_cert = read(&ca_dir.join("ca.pem"))?;
    let ca_key = read(&ca_dir.join("ca-key.pem"))?;
    let ca = pki::Ca::load(&ca_cert, &ca_key)
        .map_err(|e| Failure::new(1, format!("the CA in {}: {e}", ca_dir.display())))?;
    let cert = out_dir.join(format!("{name}.pem"));
    let key = out_dir.join(format!("{name}-key.pem"));
    refuse_existing(&[&cert, &key], force)?;
    let validity = pki::Validity::for_ttl(days(ttl_days)?);
    let issued = ca
        .issue(&Identity::Operator(name.to_string()), &[], validity)
        .map_err(|e| Failure::new(1, e.to_string()))?;
    create_dir(out_dir)?;
    write(&key, &issued.key_pem, SECRET, force)?;
    write(&cert, &issued.cert_pem, PUBLIC, force)?;
    let until = validity
        .not_after
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    outln!(
        "wrote {} (operator {name}, valid until {}) and {}",
        cert.display(),
        units::date_time(until),
        key.display()
    );
    outln!(
        "export LOCUS_CA={} LOCUS_CERT={} LOCUS_KEY={}",
        ca_dir.join("ca.pem").display(),
        cert.display(),
        key.display()
    );
    Ok(())
}

/// What `cert show` tells of a certificate.
#[derive(Debug, Serialize)]
pub(crate) struct CertOut {
    /// The locus identity it names (`operator alice`), or `CA` for a certificate authority.
    pub(crate) identity: String,
    /// When it stops being valid, RFC 3339 UTC.
    pub(crate) not_after: String,
    /// Whether that time has passed.
    pub(crate) expired: bool,
    /// The common name of its issuer.
    pub(crate) issuer: String,
    /// The DNS names it carries.
    pub(crate) dns_names: Vec<String>,
}

/// `cert show`: who the first certificate in `file` names, until when, and who issued it.
fn cert_show(file: &Path) -> Result<CertOut, Failure> {
    let pem = read(file)?;
    let chain =
        tls::pem_certs(&pem).map_err(|e| Failure::new(1, format!("{}: {e}", file.display())))?;
    let (_, cert) = X509Certificate::from_der(&chain[0])
        .map_err(|e| Failure::new(1, format!("{}: not a certificate: {e}", file.display())))?;
    let identity = match pki::identity_of(&chain[0]) {
        Ok((identity, _)) => identity.to_string(),
        Err(_) if cert.is_ca() => "CA".to_string(),
        Err(e) => return Err(Failure::new(1, format!("{}: {e}", file.display()))),
    };
    let not_after = u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0);
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(n) = name {
                dns_names.push((*n).to_string());
            }
        }
    }
    Ok(CertOut {
        identity,
        not_after: units::date_time(not_after),
        expired: !cert.validity().is_valid(),
        issuer: common_name(cert.issuer()),
        dns_names,
    })
}

fn common_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("?")
        .to_string()
}

fn days(n: u64) -> Result<Duration, Failure> {
    match n.checked_mul(DAY) {
        Some(s) if n > 0 && n <= 100 * 365 => Ok(Duration::from_secs(s)),
        _ => Err(Failure::new(2, format!("--ttl-days {n}: from 1 to 36500"))),
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    tls::read_file(path).map_err(|e| Failure::new(1, e.to_string()))
}

fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::new(1, format!("{}: {e}", path.display()))
}

fn refuse_existing(paths: &[&PathBuf], force: bool) -> Result<(), Failure> {
    if force {
        return Ok(());
    }
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(Failure::new(
            1,
            format!("{} exists: pass --force to overwrite it", p.display()),
        )),
        None => Ok(()),
    }
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| io_failure(dir, e))
}

/// Writes `text` to `path` with exactly `mode` (not the umask's): a new file, or with `force`
/// an existing one, whose mode is set before the text goes in.
fn write(path: &Path, text: &str, mode: u32, force: bool) -> Result<(), Failure> {
    let mut options = OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut f = options.open(path).map_err(|e| io_failure(path, e))?;
    f.set_permissions(Permissions::from_mode(mode))
        .and_then(|()| f.write_all(text.as_bytes()))
        .map_err(|e| io_failure(path, e))
}
