//! The cluster's certificates: who a certificate names ([`Identity`]), the cluster CA that
//! issues them ([`Ca`]), a peer's key and signing request ([`KeyRequest`]), and join tokens.
//!
//! Every certificate a locus CA issues names exactly one identity as a URI SAN:
//! `locus://peer/<uuid>`, `locus://rendezvous/<name>` or `locus://operator/<name>`. Peer and
//! rendezvous certificates also carry one fixed DNS name, [`SERVER_NAME`], that clients verify
//! as the server name, since peers are dialled by addresses that no certificate could list;
//! the URI SAN then says who answered, and the client checks that it is whom it meant
//! (`tls::Expect`).

use std::fmt;
use std::time::{Duration, SystemTime};

use locus_core::PeerId;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::CertificateSigningRequestDer;
use thiserror::Error;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The DNS name every peer and rendezvous certificate carries, and clients verify as the
/// server name (`grpcurl -servername server.locus`).
pub const SERVER_NAME: &str = "server.locus";
/// Default lifetime of a peer's certificate: a day, renewed at two thirds of it, so a peer cut
/// off from every rendezvous keeps working for eight hours past its renewal time.
pub const DEFAULT_CERT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default lifetime of a CA: ten years.
pub const DEFAULT_CA_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Default lifetime of an operator's certificate: thirty days.
pub const DEFAULT_OPERATOR_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How far before "now" a certificate starts to be valid, for clocks a little behind.
const BACKDATE: Duration = Duration::from_secs(300);
/// Longest name of an operator or rendezvous identity.
const MAX_NAME: usize = 64;
const URI_PREFIX: &str = "locus://";

/// Who a certificate names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A peer of the overlay, by its id.
    Peer(PeerId),
    /// A rendezvous service, by name.
    Rendezvous(String),
    /// A person or tool reading the overlay, by name.
    Operator(String),
}

impl Identity {
    /// The URI SAN that names this identity in a certificate.
    pub fn uri(&self) -> String {
        match self {
            Identity::Peer(id) => format!("{URI_PREFIX}peer/{}", id.0),
            Identity::Rendezvous(n) => format!("{URI_PREFIX}rendezvous/{n}"),
            Identity::Operator(n) => format!("{URI_PREFIX}operator/{n}"),
        }
    }

    /// The identity a URI SAN names, if it is one of ours.
    pub fn from_uri(uri: &str) -> Option<Identity> {
        let rest = uri.strip_prefix(URI_PREFIX)?;
        let (kind, name) = rest.split_once('/')?;
        match kind {
            "peer" => uuid::Uuid::parse_str(name)
                .ok()
                .map(|u| Identity::Peer(PeerId(u))),
            "rendezvous" if valid_name(name) => Some(Identity::Rendezvous(name.to_string())),
            "operator" if valid_name(name) => Some(Identity::Operator(name.to_string())),
            _ => None,
        }
    }

    /// The peer id, when this is a peer.
    pub fn peer_id(&self) -> Option<PeerId> {
        match self {
            Identity::Peer(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Peer(id) => write!(f, "peer {id}"),
            Identity::Rendezvous(n) => write!(f, "rendezvous {n}"),
            Identity::Operator(n) => write!(f, "operator {n}"),
        }
    }
}

/// Whether `name` can name an operator or a rendezvous: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Why a certificate could not be made, read or used.
#[derive(Debug, Error)]
pub enum PkiError {
    /// rcgen refused to make or sign a certificate.
    #[error("certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A certificate could not be parsed.
    #[error("certificate cannot be parsed: {0}")]
    Parse(String),
    /// A certificate names no locus identity, or more than one.
    #[error("certificate names {0} locus identities (URI SAN locus://...), not exactly one")]
    Identity(usize),
    /// A name cannot be an identity.
    #[error("{0:?} is not a valid name: 1 to 64 of letters, digits, '.', '_' and '-'")]
    Name(String),
    /// A PEM file holds no certificate or no key.
    #[error("no {0} in the PEM text")]
    Missing(&'static str),
    /// A lifetime is too long to represent.
    #[error("lifetime out of range")]
    Lifetime,
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// Not before this time.
    pub not_before: SystemTime,
    /// Not after this time.
    pub not_after: SystemTime,
}

impl Validity {
    /// From a few minutes ago (clock skew) for `ttl` from now.
    pub fn for_ttl(ttl: Duration) -> Validity {
        let now = SystemTime::now();
        Validity {
            not_before: now.checked_sub(BACKDATE).unwrap_or(now),
            not_after: now.checked_add(ttl).unwrap_or(now),
        }
    }
}

fn offset(t: SystemTime) -> Result<time::OffsetDateTime, PkiError> {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| PkiError::Lifetime)?;
    let secs = i64::try_from(since.as_secs()).map_err(|_| PkiError::Lifetime)?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| PkiError::Lifetime)
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// The cluster's certificate authority: its certificate, and the key that signs.
pub struct Ca {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA named `name`, valid for `ttl`.
    pub fn create(name: &str, ttl: Duration) -> Result<Ca, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{name} CA"));
        dn.push(DnType::OrganizationName, "locus");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let validity = Validity::for_ttl(ttl);
        params.not_before = offset(validity.not_before)?;
        params.not_after = offset(validity.not_after)?;
        params.serial_number = Some(serial());
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        Ok(Ca {
            cert_pem,
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA from its certificate and key, as [`Ca::cert_pem`] and [`Ca::key_pem`] wrote them.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    /// The CA's certificate (PEM): what every peer, rendezvous and operator trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PEM): only the rendezvous needs it.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A new key and a certificate for it naming `identity`, with `names` (DNS names or IP
    /// addresses) as further SANs: for operators and the rendezvous' own certificate.
    pub fn issue(
        &self,
        identity: &Identity,
        names: &[String],
        validity: Validity,
    ) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let cert = leaf_params(identity, names, validity)?.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A certificate naming `identity` for the key of a signing request (DER). Only the key
    /// is taken from the request: what it asks for beyond that is ignored, and the request's
    /// signature proves that its sender holds the key.
    pub fn sign_request(
        &self,
        csr_der: &[u8],
        identity: &Identity,
        validity: Validity,
    ) -> Result<String, PkiError> {
        let csr = CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(
            csr_der.to_vec(),
        ))?;
        let cert =
            leaf_params(identity, &[], validity)?.signed_by(&csr.public_key, &self.issuer)?;
        Ok(cert.pem())
    }
}

/// The parameters of a certificate for `identity`: its URI, the server name of its kind, and
/// `names`; usable as a server and a client (peers and rendezvous) or as a client only
/// (operators).
fn leaf_params(
    identity: &Identity,
    names: &[String],
    validity: Validity,
) -> Result<CertificateParams, PkiError> {
    if let Identity::Rendezvous(n) | Identity::Operator(n) = identity
        && !valid_name(n)
    {
        return Err(PkiError::Name(n.clone()));
    }
    let mut dns: Vec<String> = match identity {
        Identity::Peer(_) | Identity::Rendezvous(_) => vec![SERVER_NAME.to_string()],
        Identity::Operator(_) => vec![],
    };
    dns.extend(names.iter().cloned());
    let mut params = CertificateParams::new(dns)?;
    params
        .subject_alt_names
        .push(SanType::URI(identity.uri().try_into()?));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, identity.to_string());
    dn.push(DnType::OrganizationName, "locus");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match identity {
        Identity::Operator(_) => vec![ExtendedKeyUsagePurpose::ClientAuth],
        _ => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    params.use_authority_key_identifier_extension = true;
    params.not_before = offset(validity.not_before)?;
    params.not_after = offset(validity.not_after)?;
    params.serial_number = Some(serial());
    Ok(params)
}

/// A random positive 128-bit serial number.
fn serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// A fresh key and a signing request for it: what a peer sends to enroll or renew.
pub struct KeyRequest {
    /// The private key (PEM, PKCS#8); it never leaves the peer.
    pub key_pem: String,
    /// The signing request (DER).
    pub csr_der: Vec<u8>,
}

impl fmt::Debug for KeyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRequest").finish_non_exhaustive()
    }
}

impl KeyRequest {
    /// A new P-256 key and its signing request.
    pub fn generate() -> Result<KeyRequest, PkiError> {
        let key = KeyPair::generate()?;
        let csr = CertificateParams::default().serialize_request(&key)?;
        Ok(KeyRequest {
            key_pem: key.serialize_pem(),
            csr_der: csr.der().to_vec(),
        })
    }
}

/// The identity a certificate (DER) names, and when it stops being valid.
pub fn identity_of(cert_der: &[u8]) -> Result<(Identity, SystemTime), PkiError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let mut found = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && uri.starts_with(URI_PREFIX)
            {
                found.push(Identity::from_uri(uri));
            }
        }
    }
    let not_after = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0));
    match found.as_slice() {
        [Some(identity)] => Ok((identity.clone(), not_after)),
        _ => Err(PkiError::Identity(found.len())),
    }
}

/// A new join token: 32 random bytes as hex, from the same source as keys.
pub fn new_token() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// Whether `given` is one of the tokens in `tokens` (one per line; blank lines and `#`
/// comments skipped), compared in time that does not depend on where they differ.
pub fn token_matches(given: &str, tokens: &str) -> bool {
    let given = given.trim().as_bytes();
    if given.len() < 16 {
        return false;
    }
    let mut any = false;
    for line in tokens.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.as_bytes();
        let same_len = t.len() == given.len();
        let diff = t
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        any |= same_len && diff == 0;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_through_their_uris() {
        let peer = Identity::Peer(PeerId(uuid::Uuid::from_u128(7)));
        for id in [
            peer,
            Identity::Operator("alice".into()),
            Identity::Rendezvous("r-1".into()),
        ] {
            assert_eq!(Identity::from_uri(&id.uri()), Some(id));
        }
        assert_eq!(Identity::from_uri("locus://peer/not-a-uuid"), None);
        assert_eq!(Identity::from_uri("locus://operator/a b"), None);
        assert_eq!(Identity::from_uri("locus://admin/root"), None);
        assert_eq!(Identity::from_uri("https://peer/x"), None);
    }

    #[test]
    fn issued_and_signed_certificates_name_their_identity() {
        let ca = Ca::create("test", DEFAULT_CA_TTL).unwrap();
        let ca = Ca::load(ca.cert_pem(), ca.key_pem()).unwrap();
        let op = Identity::Operator("alice".into());
        let issued = ca
            .issue(&op, &[], Validity::for_ttl(DEFAULT_OPERATOR_TTL))
            .unwrap();
        let der = super::super::pem_certs(&issued.cert_pem).unwrap();
        let (got, not_after) = identity_of(&der[0]).unwrap();
        assert_eq!(got, op);
        assert!(not_after > SystemTime::now() + Duration::from_secs(29 * 24 * 3600));

        let peer = Identity::Peer(PeerId(uuid::Uuid::new_v4()));
        let req = KeyRequest::generate().unwrap();
        let pem = ca
            .sign_request(&req.csr_der, &peer, Validity::for_ttl(DEFAULT_CERT_TTL))
            .unwrap();
        let der = super::super::pem_certs(&pem).unwrap();
        assert_eq!(identity_of(&der[0]).unwrap().0, peer);
        // A request whose signature does not match is refused.
        let mut bad = req.csr_der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(
            ca.sign_request(&bad, &peer, Validity::for_ttl(DEFAULT_CERT_TTL))
                .is_err()
        );
        assert!(matches!(
            ca.issue(
                &Identity::Operator("a b".into()),
                &[],
                Validity::for_ttl(DEFAULT_CERT_TTL)
            ),
            Err(PkiError::Name(_))
        ));
    }

    #[test]
    fn tokens_match_only_exactly() {
        let t = new_token();
        assert_eq!(t.len(), 64);
        let file = format!("# cluster tokens\n\n{}\n{t}\n", new_token());
        assert!(token_matches(&t, &file));
        assert!(token_matches(&format!(" {t}\n"), &file));
        assert!(!token_matches(&t[..63], &file));
        assert!(!token_matches("", &file));
        assert!(!token_matches("# cluster tokens", &file));
        assert!(!token_matches(&new_token(), &file));
    }
}
