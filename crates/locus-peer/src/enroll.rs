//! A peer's certificate: read from files, or obtained from a rendezvous with a join token
//! (`Enroll`), and renewed (`Renew`) before it expires (docs/security.md).
//!
//! With enrollment the rendezvous picks the peer's id, so identical replicas (`docker compose
//! up --scale peer=N`, a Kubernetes Deployment) each get their own identity from the same
//! token. The key is generated here and never leaves the process.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use locus_proto::pb;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::pki::KeyRequest;
use locus_service::tls::{self, ClientTls, Credentials, Expect, TlsError};
use thiserror::Error;

use crate::config::{IdentitySource, Tls};

/// Pause between two enrollment or renewal rounds over the rendezvous list.
const RETRY: Duration = Duration::from_secs(1);
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

/// The peer's credentials, from files or by enrolling with the first of `rendezvous` that
/// answers; while none does, it retries every second (the caller bounds the wait by its
/// shutdown).
pub(crate) async fn credentials(
    config: &Tls,
    rendezvous: &[String],
    timeout: Duration,
) -> Result<Arc<Credentials>, EnrollError> {
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
                tokio::time::sleep(RETRY).await;
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
