//! The rendezvous as the cluster's certificate authority (docs/security.md): it enrolls peers
//! that present a join token, renews their certificates, and issues its own.
//!
//! A peer generates its key and sends a signing request; the rendezvous picks the peer's id,
//! so that no peer chooses whom it claims to be, and signs the request's key for
//! [`Tls::cert_ttl`](crate::config::Tls::cert_ttl). The CA key and the tokens are files
//! (Kubernetes secrets, compose bind mounts): a restarted rendezvous issues from the same CA, so
//! certificates issued before the restart stay valid. The tokens file is read at every
//! enrollment, so adding or revoking a token needs no restart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use locus_core::PeerId;
use locus_proto::pb;
use locus_service::tls::pki::{self, Ca, Validity};
use locus_service::tls::{self, Credentials, Identity, TlsError};
use tonic::Status;

use crate::config::Tls;
use crate::metrics as m;

/// Longest join token read from a request.
const MAX_TOKEN: usize = 256;
/// Longest signing request read from a request: a P-256 or RSA-4096 request is well under.
const MAX_CSR: usize = 4096;

/// The CA, the tokens, and the rendezvous' own credentials.
#[derive(Debug)]
pub(crate) struct Authority {
    ca: Ca,
    tokens: Option<PathBuf>,
    cert_ttl: Duration,
    name: String,
    names: Vec<String>,
    credentials: Arc<Credentials>,
}

impl Authority {
    /// Loads the CA from `config`'s files and issues the rendezvous' own certificate.
    pub(crate) fn load(config: &Tls) -> Result<Authority, TlsError> {
        let ca = Ca::load(
            &tls::read_file(&config.ca)?,
            &tls::read_file(&config.ca_key)?,
        )?;
        let own = ca.issue(
            &Identity::Rendezvous(config.name.clone()),
            &config.names,
            Validity::for_ttl(config.cert_ttl),
        )?;
        let credentials = Credentials::new(ca.cert_pem(), &own.cert_pem, &own.key_pem)?;
        Ok(Authority {
            ca,
            tokens: config.tokens.clone(),
            cert_ttl: config.cert_ttl,
            name: config.name.clone(),
            names: config.names.clone(),
            credentials,
        })
    }

    /// What the rendezvous presents and trusts.
    pub(crate) fn credentials(&self) -> &Arc<Credentials> {
        &self.credentials
    }

    /// Issues the rendezvous' own certificate again; its renewal task calls this at two thirds
    /// of the certificate's lifetime.
    pub(crate) fn renew_own(&self) -> Result<(), TlsError> {
        let own = self.ca.issue(
            &Identity::Rendezvous(self.name.clone()),
            &self.names,
            Validity::for_ttl(self.cert_ttl),
        )?;
        self.credentials.replace(&own.cert_pem, &own.key_pem)
    }

    /// `Enroll`: a certificate for a new peer, if its token is one of the tokens file's.
    pub(crate) fn enroll(&self, request: pb::EnrollRequest) -> Result<pb::EnrollReply, Status> {
        if request.token.is_empty() || request.token.len() > MAX_TOKEN {
            return Err(Status::invalid_argument(format!(
                "token: required, at most {MAX_TOKEN} bytes"
            )));
        }
        check_csr(&request.csr_der)?;
        let Some(path) = &self.tokens else {
            metrics::counter!(m::ENROLLMENTS, "outcome" => "off").increment(1);
            return Err(Status::permission_denied(
                "enrollment is off: this rendezvous has no tokens file",
            ));
        };
        let tokens = std::fs::read_to_string(path).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot read the tokens file");
            Status::unavailable("the rendezvous cannot read its tokens, try again later")
        })?;
        if !pki::token_matches(&request.token, &tokens) {
            metrics::counter!(m::ENROLLMENTS, "outcome" => "bad_token").increment(1);
            tracing::warn!("enrollment refused: unknown join token");
            return Err(Status::permission_denied("the join token is not valid"));
        }
        let id = PeerId(uuid::Uuid::new_v4());
        let reply = self.issue(id, &request.csr_der)?;
        metrics::counter!(m::ENROLLMENTS, "outcome" => "enrolled").increment(1);
        tracing::info!(peer = %id, "peer enrolled");
        Ok(reply)
    }

    /// `Renew`: a new certificate for the peer `caller`'s current certificate names.
    pub(crate) fn renew(
        &self,
        caller: PeerId,
        request: pb::RenewRequest,
    ) -> Result<pb::EnrollReply, Status> {
        check_csr(&request.csr_der)?;
        let reply = self.issue(caller, &request.csr_der)?;
        metrics::counter!(m::ENROLLMENTS, "outcome" => "renewed").increment(1);
        tracing::debug!(peer = %caller, "certificate renewed");
        Ok(reply)
    }

    fn issue(&self, id: PeerId, csr_der: &[u8]) -> Result<pb::EnrollReply, Status> {
        let validity = Validity::for_ttl(self.cert_ttl);
        let certificate_pem = self
            .ca
            .sign_request(csr_der, &Identity::Peer(id), validity)
            .map_err(|e| Status::invalid_argument(format!("csr_der: {e}")))?;
        Ok(pb::EnrollReply {
            peer_id: id.0.to_string(),
            certificate_pem,
            not_after_unix_ms: unix_ms(validity.not_after),
        })
    }
}

fn check_csr(csr: &[u8]) -> Result<(), Status> {
    if csr.is_empty() || csr.len() > MAX_CSR {
        return Err(Status::invalid_argument(format!(
            "csr_der: required, at most {MAX_CSR} bytes"
        )));
    }
    Ok(())
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
