//! How locusctl reaches the services: in plaintext, or over TLS with the cluster CA, with an
//! operator's certificate or without one; and what a failed call tells the operator.

use std::path::PathBuf;
use std::time::Duration;

use locus_proto::pb::peer_service_client::PeerServiceClient;
use locus_proto::pb::rendezvous_client::RendezvousClient;
use locus_service::tls::{self, ClientTls, Credentials, Expect, Identity};
use tonic::Code;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::Failure;

/// What to tell an operator whose call failed for want of the right TLS material.
const FIX: &str =
    "pass --ca/--cert/--key or set LOCUS_CA/LOCUS_CERT/LOCUS_KEY; `cargo xtask up` prints them";
/// What to tell an operator who talks TLS to a plaintext service.
const FIX_PLAINTEXT: &str =
    "for a plaintext service drop --ca/--cert/--key and unset LOCUS_CA/LOCUS_CERT/LOCUS_KEY";

/// The TLS flags, global to every command that makes calls.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct TlsArgs {
    /// The cluster CA's certificate (PEM): talk TLS and trust only it. Alone it is enough for
    /// `health` on a rendezvous; every other call needs `--cert` and `--key` too. Without it,
    /// plaintext.
    #[arg(long, env = "LOCUS_CA", value_name = "FILE", global = true)]
    pub(crate) ca: Option<PathBuf>,
    /// This operator's certificate (PEM), from `locusctl cert operator`; needs `--key`.
    #[arg(long, env = "LOCUS_CERT", value_name = "FILE", global = true)]
    pub(crate) cert: Option<PathBuf>,
    /// The private key of `--cert` (PEM).
    #[arg(long, env = "LOCUS_KEY", value_name = "FILE", global = true)]
    pub(crate) key: Option<PathBuf>,
}

/// How calls go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No TLS.
    Plaintext,
    /// TLS that trusts the cluster CA and presents no certificate.
    Anonymous,
    /// Mutual TLS as this identity.
    Mutual(Identity),
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Plaintext => f.write_str("plaintext"),
            Mode::Anonymous => f.write_str("TLS without a client certificate"),
            Mode::Mutual(id) => write!(f, "mutual TLS as {id}"),
        }
    }
}

/// Sets the deadline of every call it sees: sent as `grpc-timeout`, which tonic's channel
/// also enforces on the client side (the call ends `CANCELLED` when it passes).
#[derive(Debug, Clone)]
pub(crate) struct Deadline(Option<Duration>);

impl Interceptor for Deadline {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(d) = self.0 {
            request.set_timeout(d);
        }
        Ok(request)
    }
}

/// A channel whose calls carry a deadline.
pub(crate) type Svc = InterceptedService<Channel, Deadline>;

/// The connection settings every command that makes calls shares.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    tls: ClientTls,
    mode: Mode,
    timeout: Duration,
}

impl Client {
    /// From the TLS flags; `timeout` bounds each call, and each connection and handshake.
    pub(crate) fn new(args: &TlsArgs, timeout: Duration) -> Result<Client, Failure> {
        let read =
            |path: &PathBuf| tls::read_file(path).map_err(|e| Failure::new(1, e.to_string()));
        let (tls, mode) = match (&args.ca, &args.cert, &args.key) {
            (None, None, None) => (ClientTls::Plaintext, Mode::Plaintext),
            (Some(ca), None, None) => {
                let config = tls::anonymous_client_config(&read(ca)?)
                    .map_err(|e| Failure::new(1, format!("--ca {}: {e}", ca.display())))?;
                (ClientTls::Tls(config), Mode::Anonymous)
            }
            (Some(ca), Some(cert), Some(key)) => {
                let credentials =
                    Credentials::new(&read(ca)?, &read(cert)?, &read(key)?).map_err(|e| {
                        Failure::new(
                            1,
                            format!("--cert {} / --key {}: {e}", cert.display(), key.display()),
                        )
                    })?;
                let config = credentials
                    .client_config()
                    .map_err(|e| Failure::new(1, e.to_string()))?;
                (ClientTls::Tls(config), Mode::Mutual(credentials.identity()))
            }
            (_, Some(_), None) | (_, None, Some(_)) => {
                return Err(Failure::new(
                    2,
                    "--cert and --key (LOCUS_CERT, LOCUS_KEY) go together: give both or neither",
                ));
            }
            (None, Some(_), Some(_)) => {
                return Err(Failure::new(
                    2,
                    "--cert and --key need --ca (LOCUS_CA), the cluster CA's certificate",
                ));
            }
        };
        Ok(Client { tls, mode, timeout })
    }

    /// How calls go out.
    pub(crate) fn mode(&self) -> &Mode {
        &self.mode
    }

    /// A lazily connected channel to `addr`, expecting `expect` there when over TLS.
    pub(crate) fn channel(&self, addr: &str, expect: Expect) -> Result<Channel, Failure> {
        tls::lazy_channel(&self.tls, addr, expect, self.timeout)
            .map_err(|_| Failure::new(2, format!("`{addr}` is not an address: use host:port")))
    }

    /// The deadline of each call.
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline(Some(self.timeout))
    }

    /// A rendezvous client for `addr`.
    pub(crate) fn rendezvous(&self, addr: &str) -> Result<RendezvousClient<Svc>, Failure> {
        let channel = self.channel(addr, Expect::Rendezvous)?;
        Ok(RendezvousClient::with_interceptor(channel, self.deadline())
            .max_decoding_message_size(64 << 20))
    }

    /// A rendezvous client for `addr` that presents `tls`'s certificate instead of the
    /// operator's (`bench --fill`'s synthetic leaders).
    pub(crate) fn rendezvous_as(
        &self,
        tls: &ClientTls,
        addr: &str,
    ) -> Result<RendezvousClient<Svc>, Failure> {
        let channel = tls::lazy_channel(tls, addr, Expect::Rendezvous, self.timeout)
            .map_err(|_| Failure::new(2, format!("`{addr}` is not an address: use host:port")))?;
        Ok(RendezvousClient::with_interceptor(channel, self.deadline()))
    }

    /// A client of the peer at `addr`, which must be `expect`.
    pub(crate) fn peer(
        &self,
        addr: &str,
        expect: Expect,
    ) -> Result<PeerServiceClient<Svc>, Failure> {
        Ok(PeerServiceClient::with_interceptor(
            self.channel(addr, expect)?,
            self.deadline(),
        ))
    }

    /// A failed call to `what` at `addr`, with a hint for the common causes.
    pub(crate) fn fail(&self, what: &str, addr: &str, status: tonic::Status) -> Failure {
        let detail = describe(&status);
        if let Some((why, fix)) = tls_mismatch(&self.mode, status.code(), &detail) {
            return Failure::new(1, format!("{what} at {addr}: {why} ({detail}): {fix}"));
        }
        if detail.contains("as expected") {
            // The connector's refusal: another kind of service listens at that address.
            return Failure::new(1, format!("{what} at {addr}: {detail}"));
        }
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Failure::new(
                3,
                format!(
                    "{what} at {addr} did not answer ({detail}): is it running, and is the address right?"
                ),
            ),
            Code::Unimplemented => Failure::new(
                1,
                format!("{addr} does not serve this call: is it a {what}?"),
            ),
            code => Failure::new(1, format!("{what} at {addr}: {code:?}: {detail}")),
        }
    }
}

/// A status' message and the chain of errors beneath it, which is where a failed connection
/// or handshake says what went wrong (tonic's own message is often "transport error").
pub(crate) fn describe(status: &tonic::Status) -> String {
    let mut parts = vec![status.message().to_string()];
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    // An error's text often repeats its source's: keep the most specific words, once.
    let mut kept: Vec<String> = Vec::new();
    for part in parts {
        if part.is_empty() || part == "transport error" || kept.iter().any(|k| k.contains(&part)) {
            continue;
        }
        kept.retain(|k| !part.contains(k.as_str()));
        kept.push(part);
    }
    if kept.is_empty() {
        "transport error".into()
    } else {
        kept.join(": ")
    }
}

/// Why a failure with `code` and `detail` looks like TLS on one side and not the other, or
/// like credentials the service does not take, and the fix; `None` when it does not.
pub(crate) fn tls_mismatch(
    mode: &Mode,
    code: Code,
    detail: &str,
) -> Option<(&'static str, &'static str)> {
    let lower = detail.to_ascii_lowercase();
    let has = |needles: &[&str]| {
        needles
            .iter()
            .any(|n| lower.contains(&n.to_ascii_lowercase()))
    };
    if code == Code::Unauthenticated {
        let why = match mode {
            Mode::Mutual(_) => "the service refused this client certificate (UNAUTHENTICATED)",
            _ => "the service wants a client certificate from the cluster CA (UNAUTHENTICATED)",
        };
        return Some((why, FIX));
    }
    if code != Code::Unavailable && code != Code::Unknown && code != Code::Internal {
        return None;
    }
    if has(&["UnknownIssuer", "BadSignature", "invalid peer certificate"]) {
        let why = "its certificate is not from the CA given by --ca (LOCUS_CA)";
        return Some((why, FIX));
    }
    if has(&["CertificateRequired", "certificate required"]) {
        return Some((
            "the service wants a client certificate from the cluster CA",
            FIX,
        ));
    }
    let unreachable = has(&[
        "connection refused",
        "tcp connect",
        "timed out",
        "dns error",
    ]);
    match mode {
        // A TLS server reads a plaintext HTTP/2 preface as a broken handshake and hangs up.
        Mode::Plaintext
            if !unreachable
                && has(&[
                    "connection reset",
                    "connection closed",
                    "broken pipe",
                    "unexpected eof",
                    "h2 protocol error",
                    "frame with invalid size",
                ]) =>
        {
            let why = "the service seems to talk TLS while locusctl talks plaintext";
            Some((why, FIX))
        }
        // A plaintext server answers a ClientHello with HTTP/2 bytes, which are no TLS record.
        Mode::Anonymous | Mode::Mutual(_)
            if has(&["InvalidContentType", "corrupt message", "tls handshake eof"]) =>
        {
            let why = "the service seems to talk plaintext while locusctl talks TLS";
            Some((why, FIX_PLAINTEXT))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_are_named_and_unreachable_services_are_not() {
        let plain = Mode::Plaintext;
        let tls = Mode::Anonymous;
        let unauthenticated = tls_mismatch(&plain, Code::Unauthenticated, "certificate required");
        assert_eq!(unauthenticated.unwrap().1, FIX);
        let other_ca = tls_mismatch(
            &tls,
            Code::Unavailable,
            "invalid peer certificate: BadSignature",
        );
        assert!(other_ca.unwrap().0.contains("--ca"));
        let plaintext_server = tls_mismatch(
            &tls,
            Code::Unavailable,
            "received corrupt message of type InvalidContentType",
        );
        assert_eq!(plaintext_server.unwrap().1, FIX_PLAINTEXT);
        let tls_server = tls_mismatch(
            &plain,
            Code::Unavailable,
            "stream closed because of a broken pipe",
        );
        assert_eq!(tls_server.unwrap().1, FIX);
        for mode in [&plain, &tls] {
            let down = tls_mismatch(mode, Code::Unavailable, "Connection refused (os error 111)");
            assert_eq!(down, None);
        }
        assert_eq!(
            tls_mismatch(&plain, Code::NotFound, "connection reset"),
            None
        );
    }
}
