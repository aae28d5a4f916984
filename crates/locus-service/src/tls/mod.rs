//! Mutual TLS for every locus connection: rustls on ring, TLS 1.3 only (docs/security.md).
//!
//! - [`pki`]: identities, the cluster CA, signing requests and join tokens.
//! - [`Credentials`]: the CA to trust and this process' own certificate, which renewal
//!   replaces in place: new connections present the new one, open ones keep theirs.
//! - [`incoming`]: a listener's connections after their handshake, for tonic's
//!   `serve_with_incoming`, with a deadline and a cap on handshakes in progress.
//! - [`Connector`]: the client side, which verifies that the server is the identity the caller
//!   meant ([`Expect`]), not merely someone the CA knows.
//! - [`caller`]: the identity of the verified certificate a request came with.
//!
//! Nothing here reads a request body: an identity comes from a certificate chain that rustls
//! has verified against the cluster CA.

pub mod pki;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use locus_core::PeerId;
pub use locus_core::addr::Policy;
pub use pki::Identity;

/// Longest a TLS handshake may take, on either side, before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Handshakes a server runs at once; connections beyond are closed at once (load shedding),
/// so that a flood of idle connections cannot hold the accept loop.
pub const MAX_HANDSHAKES: usize = 256;

/// Why TLS could not be set up.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// PEM text holds no usable certificate or key.
    #[error("{0}")]
    Pem(String),
    /// rustls refused the configuration or the key.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The trust roots could not make a verifier.
    #[error("TLS verifier: {0}")]
    Verifier(String),
    /// The certificate is not one a locus CA issues.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// A replacement certificate names another identity than the current one.
    #[error("the new certificate names {new}, not {current}")]
    IdentityChanged {
        /// The identity so far.
        current: Identity,
        /// The one the new certificate names.
        new: Identity,
    },
}

/// When to renew a certificate valid until `not_after`: after two thirds of what is left of it
/// at `now`, and at least a second from now. Renewing from the time of issue, that is at two
/// thirds of the lifetime, leaving a third for retries while no rendezvous answers.
pub fn renew_in(now: SystemTime, not_after: SystemTime) -> Duration {
    let left = not_after.duration_since(now).unwrap_or_default();
    (left * 2 / 3).max(Duration::from_secs(1))
}

/// Reads a file, naming it in the error.
pub fn read_file(path: &std::path::Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The certificates in PEM text, in order.
pub fn pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Pem("no certificate in the PEM text".into()));
    }
    Ok(certs)
}

fn pem_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::Pem(format!("bad private key PEM: {e}")))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in pem_certs(ca_pem)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
    }
    Ok(Arc::new(roots))
}

/// What this process trusts and presents.
#[derive(Debug)]
pub struct Credentials {
    ca_pem: String,
    roots: Arc<RootCertStore>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Current>,
}

#[derive(Debug, Clone)]
struct Current {
    key: Arc<CertifiedKey>,
    identity: Identity,
    not_after: SystemTime,
}

impl Credentials {
    /// Trust `ca_pem`; present `cert_pem` (the certificate first, then any intermediates) with
    /// `key_pem`.
    pub fn new(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let current = load(&provider, cert_pem, key_pem)?;
        Ok(Arc::new(Credentials {
            ca_pem: ca_pem.to_string(),
            roots: roots(ca_pem)?,
            provider,
            current: RwLock::new(current),
        }))
    }

    /// Presents `cert_pem` and `key_pem` from now on; they must name the same identity.
    pub fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<(), TlsError> {
        let next = load(&self.provider, cert_pem, key_pem)?;
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if next.identity != current.identity {
            return Err(TlsError::IdentityChanged {
                current: current.identity.clone(),
                new: next.identity,
            });
        }
        *current = next;
        Ok(())
    }

    fn current(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Who this process is.
    pub fn identity(&self) -> Identity {
        self.current().identity
    }

    /// When the certificate presented now stops being valid.
    pub fn not_after(&self) -> SystemTime {
        self.current().not_after
    }

    /// The CA certificate this process trusts (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A server configuration that presents the current certificate and requires one from
    /// every client, or accepts clients without one when `anonymous_clients` (the rendezvous,
    /// for enrollment; its handlers then refuse everything else from them).
    pub fn server_config(
        self: &Arc<Self>,
        anonymous_clients: bool,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let builder = WebPkiClientVerifier::builder_with_provider(
            Arc::clone(&self.roots),
            Arc::clone(&self.provider),
        );
        let builder = if anonymous_clients {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        let verifier = builder
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// A client configuration that presents the current certificate.
    pub fn client_config(self: &Arc<Self>) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(Arc::clone(&self.roots))
            .with_client_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A client configuration that trusts `ca_pem` and presents no certificate: what a peer uses
/// to enroll.
pub fn anonymous_client_config(ca_pem: &str) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn load(
    provider: &rustls::crypto::CryptoProvider,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Current, TlsError> {
    let chain = pem_certs(cert_pem)?;
    let (identity, not_after) = pki::identity_of(&chain[0])?;
    let key = CertifiedKey::from_der(chain, pem_key(key_pem)?, provider)?;
    Ok(Current {
        key: Arc::new(key),
        identity,
        not_after,
    })
}

/// Presents the credentials' current certificate, on both sides of a connection.
#[derive(Debug)]
struct Resolver(Arc<Credentials>);

impl rustls::server::ResolvesServerCert for Resolver {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current().key)
    }
}

impl rustls::client::ResolvesClientCert for Resolver {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current().key)
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The connections of `listener` once their TLS handshake has completed (with `config`;
/// without, in plaintext, once the client has sent the HTTP/2 preface), for tonic's
/// `serve_with_incoming`. Handshakes run in their own tasks, at most [`MAX_HANDSHAKES`] at once
/// and each within [`HANDSHAKE_TIMEOUT`], so one slow client holds nobody else up and one that
/// says nothing is closed; a failed TLS handshake is counted
/// (`locus_tls_handshakes_total{outcome}`) and logged at debug.
/// The accept loop ends when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Option<Arc<ServerConfig>>,
    tcp_keepalive: Duration,
) -> ReceiverStream<Result<Verified, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = config.map(TlsAcceptor::from);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = tx.closed() => return,
            };
            let (mut tcp, from) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
                metrics::counter!(HANDSHAKES, "outcome" => "shed").increment(1);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let keepalive = socket2::TcpKeepalive::new().with_time(tcp_keepalive);
            let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive);
            let tx = tx.clone();
            let Some(acceptor) = acceptor.clone() else {
                // Plaintext (insecure_plaintext): nothing to verify, but the client must start
                // HTTP/2 within the handshake's time, as a TLS client must start TLS: a
                // connection that says nothing is not held open.
                tokio::spawn(async move {
                    let _permit = permit;
                    let mut preface = [0u8; H2_PREFACE.len()];
                    let read = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                        tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut preface).await
                    });
                    match read.await {
                        Ok(Ok(_)) if preface == *H2_PREFACE => {
                            let _ = tx.send(Ok(Verified::plaintext(tcp, preface))).await;
                        }
                        Ok(Ok(_)) => tracing::debug!(%from, "not an HTTP/2 client"),
                        Ok(Err(e)) => {
                            tracing::debug!(%from, error = %e, "connection closed before HTTP/2 started")
                        }
                        Err(_) => tracing::debug!(%from, "no HTTP/2 preface in time"),
                    }
                });
                continue;
            };
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => match Verified::new(stream) {
                        Ok(stream) => {
                            metrics::counter!(HANDSHAKES, "outcome" => "ok").increment(1);
                            let _ = tx.send(Ok(stream)).await;
                        }
                        Err(e) => {
                            metrics::counter!(HANDSHAKES, "outcome" => "failed").increment(1);
                            tracing::debug!(%from, error = %e, "client certificate names no locus identity");
                        }
                    },
                    Ok(Err(e)) => {
                        metrics::counter!(HANDSHAKES, "outcome" => "failed").increment(1);
                        tracing::debug!(%from, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        metrics::counter!(HANDSHAKES, "outcome" => "timeout").increment(1);
                        tracing::debug!(%from, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// A server-side connection: a TLS one whose client certificate (if any) has been verified and
/// read once, so that handlers get its identity from the request's extensions ([`caller`])
/// without parsing the certificate on every call; or a plaintext one, with no identity.
pub struct Verified {
    stream: Box<dyn Io>,
    info: ConnInfo,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// What a handler learns of a [`Verified`] connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: Option<std::net::SocketAddr>,
    /// The identity its certificate names; `None` without a certificate.
    pub identity: Option<Arc<Identity>>,
}

impl Verified {
    /// Reads the identity of the client's certificate, which rustls has verified; a
    /// certificate that names no locus identity is refused.
    fn new(stream: tokio_rustls::server::TlsStream<TcpStream>) -> Result<Self, pki::PkiError> {
        let (tcp, session) = stream.get_ref();
        let identity = match session.peer_certificates().and_then(|c| c.first()) {
            Some(leaf) => Some(Arc::new(pki::identity_of(leaf)?.0)),
            None => None,
        };
        let info = ConnInfo {
            remote: tcp.peer_addr().ok(),
            identity,
        };
        Ok(Verified {
            stream: Box::new(stream),
            info,
        })
    }

    /// A plaintext connection whose first bytes, the HTTP/2 preface, were read already: its
    /// address, no identity.
    fn plaintext(tcp: TcpStream, preface: [u8; H2_PREFACE.len()]) -> Self {
        let info = ConnInfo {
            remote: tcp.peer_addr().ok(),
            identity: None,
        };
        Verified {
            stream: Box::new(Rewound {
                read: preface,
                replayed: 0,
                tcp,
            }),
            info,
        }
    }
}

impl tonic::transport::server::Connected for Verified {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl tokio::io::AsyncRead for Verified {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Verified {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What every HTTP/2 client sends first (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A TCP stream whose first bytes were read to check them, and are read again from here.
struct Rewound {
    read: [u8; H2_PREFACE.len()],
    replayed: usize,
    tcp: TcpStream,
}

impl tokio::io::AsyncRead for Rewound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.read.len() {
            let rest = &this.read[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Rewound {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Counter of server-side TLS handshakes by outcome: `ok`, `failed` (no certificate, another
/// CA, expired, not TLS), `timeout`, `shed` (too many at once).
pub const HANDSHAKES: &str = "locus_tls_handshakes_total";

/// Whom a client means to reach.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expect {
    /// This peer and no other.
    Peer(PeerId),
    /// Any peer of the cluster (an address given by the operator, with no id).
    AnyPeer,
    /// A rendezvous.
    Rendezvous,
    /// A peer or a rendezvous: an operator's tool given an address (`locusctl health`).
    AnyServer,
}

impl Expect {
    fn admits(&self, identity: &Identity) -> bool {
        match (self, identity) {
            (Expect::Peer(want), Identity::Peer(got)) => want == got,
            (Expect::AnyPeer | Expect::AnyServer, Identity::Peer(_)) => true,
            (Expect::Rendezvous | Expect::AnyServer, Identity::Rendezvous(_)) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Peer(id) => write!(f, "peer {id}"),
            Expect::AnyPeer => f.write_str("a peer"),
            Expect::Rendezvous => f.write_str("a rendezvous"),
            Expect::AnyServer => f.write_str("a peer or rendezvous"),
        }
    }
}

/// A tonic connector that resolves the address, dials only IPs its [`Policy`] admits, and,
/// with TLS, runs the handshake and checks that the server's certificate names the identity
/// expected: a peer that answers at an address another peer was announced at is refused before
/// any request is sent.
#[derive(Debug, Clone)]
pub struct Connector {
    tls: Option<Arc<ClientConfig>>,
    expect: Expect,
    policy: Policy,
}

impl Connector {
    /// Connects with `config` (plaintext when `None`), expecting `expect` at the other end,
    /// dialling what `policy` admits.
    pub fn new(config: Option<Arc<ClientConfig>>, expect: Expect, policy: Policy) -> Self {
        Connector {
            tls: config,
            expect,
            policy,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection, plaintext or TLS.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let config = self.tls.clone();
        let expect = self.expect.clone();
        let policy = self.policy;
        Box::pin(async move {
            let host = uri.host().ok_or("address without a host")?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().ok_or("address without a port")?;
            let tcp = dial(host, port, policy).await?;
            tcp.set_nodelay(true)?;
            let Some(config) = config else {
                return Ok(TokioIo::new(Box::new(tcp) as Box<dyn Io>));
            };
            let name = ServerName::try_from(pki::SERVER_NAME).map_err(|e| e.to_string())?;
            let handshake = TlsConnector::from(config).connect(name, tcp);
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
                .await
                .map_err(|_| "TLS handshake timed out")??;
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or("the server presented no certificate")?;
            let (identity, _) = pki::identity_of(cert)?;
            if !expect.admits(&identity) {
                return Err(format!(
                    "{identity} answered at {host}:{port}, not {expect} as expected"
                )
                .into());
            }
            Ok(TokioIo::new(Box::new(stream) as Box<dyn Io>))
        })
    }
}

/// Connects to the first address `host` resolves to that `policy` admits; refuses when it
/// resolves to none.
async fn dial(host: &str, port: u16, policy: Policy) -> Result<TcpStream, BoxError> {
    let mut refused = None;
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        if let Err(class) = policy.admits(addr.ip()) {
            refused = Some((addr.ip(), class));
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    match (last, refused) {
        (Some(e), _) => Err(e.into()),
        (None, Some((ip, class))) => Err(format!(
            "{host}:{port} resolves to {ip}, a {class} address, which this process does not dial (allow_private_addresses)"
        )
        .into()),
        (None, None) => Err(format!("{host}:{port} resolves to no address").into()),
    }
}

/// How a process reaches others: with TLS (its client configuration), or in plaintext.
#[derive(Debug, Clone)]
pub enum ClientTls {
    /// Mutual TLS with this configuration.
    Tls(Arc<ClientConfig>),
    /// Plaintext, only by an explicit setting (see docs/security.md).
    Plaintext,
}

/// A lazily connected channel to `addr` (`host:port`), with `connect_timeout` for the TCP
/// connection and the handshake each, dialling any address but the classes no peer is at:
/// for operator tools, which dial what their user typed.
pub fn lazy_channel(
    tls: &ClientTls,
    addr: &str,
    expect: Expect,
    connect_timeout: Duration,
) -> Result<Channel, String> {
    let policy = Policy {
        allow_private: true,
    };
    lazy_channel_with(tls, addr, expect, connect_timeout, policy)
}

/// [`lazy_channel`] that dials only the IPs `policy` admits: for peers and the rendezvous,
/// which dial what messages tell them.
pub fn lazy_channel_with(
    tls: &ClientTls,
    addr: &str,
    expect: Expect,
    connect_timeout: Duration,
    policy: Policy,
) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("bad address {addr:?}: {e}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    let config = match tls {
        ClientTls::Tls(config) => Some(Arc::clone(config)),
        ClientTls::Plaintext => None,
    };
    Ok(endpoint.connect_with_connector_lazy(Connector::new(config, expect, policy)))
}

/// The identity of the verified client certificate `request` came with, read once per
/// connection by [`incoming`]: `None` on a plaintext connection or a TLS one without a client
/// certificate (the rendezvous' enrollment).
pub fn caller<T>(request: &tonic::Request<T>) -> Option<Arc<Identity>> {
    request
        .extensions()
        .get::<ConnInfo>()
        .and_then(|info| info.identity.clone())
}
