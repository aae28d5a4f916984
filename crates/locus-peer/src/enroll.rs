//! A peer's certificate: read from files, or obtained from a rendezvous with a join token
//! (`Enroll`), and renewed (`Renew`) before it expires (docs/security.md).
//!
//! With enrollment the rendezvous picks the peer's id, so identical replicas (`docker compose
//! up --scale peer=N`, a Kubernetes Deployment) each get their own identity from the same
//! token. The key is generated here and never leaves the process.
//!
//! Enrollment is not a protocol call: it is a TLS handshake and a signature at a rendezvous
//! that may be enrolling a whole fleet that started at once. So it has its own deadline,
//! [`ENROLL_DEADLINE`] at least, and a peer that cannot enroll yet retries after a random
//! pause that doubles each round ([`Backoff`]): a hundred replicas that started together and
//! timed out together do not come back together every second (an enrollment storm).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use locus_proto::pb;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::pki::KeyRequest;
use locus_service::tls::{self, ClientTls, Credentials, Expect, TlsError};
use thiserror::Error;

use crate::config::{IdentitySource, Tls};

/// Pause between two renewal rounds over the rendezvous list.
const RETRY: Duration = Duration::from_secs(1);
/// Shortest deadline of one enrollment: a TLS handshake and a signature, queued behind those
/// of every peer that started at the same moment. The protocol's `request_timeout` (1 s in the
/// `test` preset) bounds a call between running peers and is too short for that; the longer
/// of the two applies.
pub(crate) const ENROLL_DEADLINE: Duration = Duration::from_secs(10);
/// The first pause after a failed enrollment round, before jitter; it doubles each round.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The longest pause between two enrollment rounds, before jitter.
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// Longest reply read from `Enroll` or `Renew`: a certificate is under 2 kB.
const MAX_REPLY: usize = 16 * 1024;

/// Why the peer has no certificate.
#[derive(Debug, Error)]
pub enum EnrollError {
    /// The files could not be read or used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A rendezvous refused the token: retrying will not help.
    #[error("enrollment refused by {rendezvous}: {message}")]
    Refused {
        /// The rendezvous.
        rendezvous: String,
        /// What it said.
        message: String,
    },
    /// The certificate issued is not one this peer can use.
    #[error("the certificate issued by {rendezvous} is unusable: {source}")]
    BadCertificate {
        /// The rendezvous.
        rendezvous: String,
        /// Why.
        source: TlsError,
    },
}

/// The pauses between enrollment rounds: "equal jitter" exponential backoff, each pause drawn
/// uniformly from the upper half of a ceiling that starts at [`BACKOFF_FIRST`] and doubles up
/// to [`BACKOFF_MAX`]. The lower half keeps a retry from coming straight back; the upper half
/// spreads the retries of peers that failed together.
#[derive(Debug)]
pub(crate) struct Backoff {
    ceiling: Duration,
    rng: locus_core::Rng,
}

impl Backoff {
    /// A backoff drawing from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Backoff {
            ceiling: BACKOFF_FIRST,
            rng: locus_core::Rng::new(seed),
        }
    }

    /// The next pause.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (self.ceiling * 2).min(BACKOFF_MAX);
        let half = ceiling / 2;
        let jitter_us = self.rng.below(half.as_micros() as u64 + 1);
        half + Duration::from_micros(jitter_us)
    }
}

/// The peer's credentials, from files or by enrolling with the first of `rendezvous` that
/// answers, each attempt within `timeout` but at least [`ENROLL_DEADLINE`]; while none
/// answers, it retries after a [`Backoff`] pause (the caller bounds the wait by its shutdown).
pub(crate) async fn credentials(
    config: &Tls,
    rendezvous: &[String],
    timeout: Duration,
) -> Result<Arc<Credentials>, EnrollError> {
    let timeout = timeout.max(ENROLL_DEADLINE);
    let ca_pem = tls::read_file(&config.ca)?;
    match &config.identity {
        IdentitySource::Files { cert, key } => Ok(Credentials::new(
            &ca_pem,
            &tls::read_file(cert)?,
            &tls::read_file(key)?,
        )?),
        IdentitySource::Enroll { token_file } => {
            let token = tls::read_file(token_file)?.trim().to_string();
            let anonymous = ClientTls::Tls(tls::anonymous_client_config(&ca_pem)?);
            // Replicas share their configuration: the jitter comes from fresh randomness.
            let mut backoff = Backoff::new(uuid::Uuid::new_v4().as_u64_pair().0);
            loop {
                for addr in rendezvous {
                    let request = KeyRequest::generate().map_err(TlsError::from)?;
                    let call = enroll(&anonymous, addr, &token, &request.csr_der, timeout);
                    match call.await {
                        Ok(reply) => {
                            let creds =
                                Credentials::new(&ca_pem, &reply.certificate_pem, &request.key_pem)
                                    .map_err(|source| EnrollError::BadCertificate {
                                        rendezvous: addr.clone(),
                                        source,
                                    })?;
                            tracing::info!(
                                rendezvous = %addr, identity = %creds.identity(),
                                "enrolled"
                            );
                            return Ok(creds);
                        }
                        Err(status)
                            if matches!(
                                status.code(),
                                tonic::Code::PermissionDenied | tonic::Code::InvalidArgument
                            ) =>
                        {
                            return Err(EnrollError::Refused {
                                rendezvous: addr.clone(),
                                message: status.message().to_string(),
                            });
                        }
                        Err(status) => tracing::warn!(
                            rendezvous = %addr, code = ?status.code(), error = status.message(),
                            "cannot enroll yet"
                        ),
                    }
                }
                tokio::time::sleep(backoff.next_pause()).await;
            }
        }
    }
}

async fn enroll(
    tls: &ClientTls,
    addr: &str,
    token: &str,
    csr_der: &[u8],
    timeout: Duration,
) -> Result<pb::EnrollReply, tonic::Status> {
    let channel = tls::lazy_channel(tls, addr, Expect::Rendezvous, timeout)
        .map_err(tonic::Status::invalid_argument)?;
    let mut client = RendezvousClient::new(channel).max_decoding_message_size(MAX_REPLY);
    let mut request = tonic::Request::new(pb::EnrollRequest {
        token: token.to_string(),
        csr_der: csr_der.to_vec(),
    });
    request.set_timeout(timeout);
    Ok(tokio::time::timeout(timeout, client.enroll(request))
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("enrollment timed out"))??
        .into_inner())
}

/// Renews `creds` from the rendezvous at two thirds of each certificate's lifetime, trying
/// them in turn every second until one answers; runs until dropped.
pub(crate) async fn renew_forever(
    creds: Arc<Credentials>,
    client: ClientTls,
    rendezvous: Vec<String>,
    timeout: Duration,
) {
    loop {
        tokio::time::sleep(tls::renew_in(SystemTime::now(), creds.not_after())).await;
        'renewed: loop {
            for addr in &rendezvous {
                match renew(&creds, &client, addr, timeout).await {
                    Ok(()) => {
                        tracing::info!(rendezvous = %addr, "certificate renewed");
                        break 'renewed;
                    }
                    Err(e) => tracing::warn!(rendezvous = %addr, error = %e, "cannot renew yet"),
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

async fn renew(
    creds: &Credentials,
    client: &ClientTls,
    addr: &str,
    timeout: Duration,
) -> Result<(), String> {
    let request = KeyRequest::generate().map_err(|e| e.to_string())?;
    let channel = tls::lazy_channel(client, addr, Expect::Rendezvous, timeout)?;
    let mut rpc = RendezvousClient::new(channel).max_decoding_message_size(MAX_REPLY);
    let mut call = tonic::Request::new(pb::RenewRequest {
        csr_der: request.csr_der.clone(),
    });
    call.set_timeout(timeout);
    let reply = tokio::time::timeout(timeout, rpc.renew(call))
        .await
        .map_err(|_| "renewal timed out".to_string())?
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    creds
        .replace(&reply.certificate_pem, &request.key_pem)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(7);
        let pauses: Vec<Duration> = (0..8).map(|_| b.next_pause()).collect();
        let mut ceiling = BACKOFF_FIRST;
        for p in &pauses {
            assert!(
                *p >= ceiling / 2 && *p <= ceiling,
                "{p:?} outside of {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(BACKOFF_MAX);
        }
        assert!(
            pauses[7] >= BACKOFF_MAX / 2,
            "capped at {BACKOFF_MAX:?}: {pauses:?}"
        );
    }

    #[test]
    fn peers_that_fail_together_retry_apart() {
        let firsts: std::collections::BTreeSet<Duration> = (0..20)
            .map(|seed| Backoff::new(seed).next_pause())
            .collect();
        assert!(
            firsts.len() >= 15,
            "twenty seeds, few distinct pauses: {firsts:?}"
        );
    }
}
