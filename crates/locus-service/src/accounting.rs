//! One tower layer in front of every gRPC server ([`Accounting`]): it names each call, sheds it
//! when the process already has its limit of calls under way, and counts and times it.
//!
//! - **Counting and timing.** Every call is counted by `rpc` and gRPC status `code` (plus
//!   `role`, when the service gives one), and its duration goes into a histogram in seconds:
//!   from the request's arrival to the end of its response body, which for a unary call is the
//!   reply and for a server stream (`WatchOverlay`, health `Watch`) is the stream's life. The
//!   code comes from the response headers (a refusal) or from the trailers; a response whose
//!   body is dropped before its trailers (the client went away) counts as `Cancelled`.
//! - **Names.** `rpc` is the method name for the methods the server's schemas define, and
//!   `unknown` for any other path, so that a client cannot grow the metrics with made-up paths.
//! - **Shedding.** At most `max_calls_in_flight` handlers run at once across all connections;
//!   a call past it is answered at once with `RESOURCE_EXHAUSTED` instead of queueing. A
//!   stream holds its place only until its handler has returned the stream, not for its life.
//!   The calls that keep the overlay together (a peer's `Alive`, `ConnectIntraGroup`, ...; the
//!   rendezvous' `AnnounceGroup`, ...: the service names them) have places of their own, as
//!   many again: a flood of open calls such as `Measure` cannot shed them. (Per-connection
//!   limits are tonic's, see [`crate::limits`].)

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use prost::Message as _;
use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::{Code, Status};

/// Buckets of every `_seconds` histogram, from 100 µs to 10 s: loopback calls take a fraction
/// of a millisecond, wide-area RTTs tens to hundreds, deadlines seconds.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Where the current role comes from, for the `role` label.
pub type RoleFn = Arc<dyn Fn() -> &'static str + Send + Sync>;

/// The metric names and limit of one server.
pub struct Accounting {
    shared: Arc<Shared>,
}

struct Shared {
    requests: &'static str,
    duration: &'static str,
    /// Method name by path, for the methods the schemas define.
    known: &'static HashMap<String, &'static str>,
    in_flight: Arc<Semaphore>,
    /// Methods with places of their own, and those places.
    reserved: Vec<&'static str>,
    reserved_in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    role: Option<RoleFn>,
}

impl fmt::Debug for Accounting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounting")
            .field("requests", &self.shared.requests)
            .field("max_in_flight", &self.shared.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Clone for Accounting {
    fn clone(&self) -> Self {
        Accounting {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Accounting {
    /// Counts into the counter `requests` and the histogram `duration`, with at most
    /// `max_in_flight` calls under way, and as many again of the `reserved` methods; `role`,
    /// when given, labels every call with the role the service has at that moment.
    pub fn new(
        requests: &'static str,
        duration: &'static str,
        max_in_flight: usize,
        reserved: &[&'static str],
        role: Option<RoleFn>,
    ) -> Self {
        Accounting {
            shared: Arc::new(Shared {
                requests,
                duration,
                known: known_methods(),
                in_flight: Arc::new(Semaphore::new(max_in_flight)),
                reserved: reserved.to_vec(),
                reserved_in_flight: Arc::new(Semaphore::new(max_in_flight)),
                max_in_flight,
                role,
            }),
        }
    }

    /// The label `rpc` of a request path.
    pub fn rpc_label(&self, path: &str) -> &'static str {
        self.shared.known.get(path).copied().unwrap_or("unknown")
    }
}

/// Method name by path, for every method of the schemas compiled in (locus, health,
/// reflection): read once per process, since the names live as long as it does.
fn known_methods() -> &'static HashMap<String, &'static str> {
    static KNOWN: std::sync::OnceLock<HashMap<String, &'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known = HashMap::new();
        for set in [
            locus_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            // Both sets are compiled in from this build's own schemas.
            let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    for method in &service.method {
                        let name: &'static str =
                            Box::leak(method.name().to_string().into_boxed_str());
                        let path = format!("/{}.{}/{name}", file.package(), service.name());
                        known.insert(path, name);
                    }
                }
            }
        }
        for version in ["v1", "v1alpha"] {
            known.insert(
                format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"),
                "ServerReflectionInfo",
            );
        }
        known
    })
}

impl<S> tower::Layer<S> for Accounting {
    type Service = Accounted<S>;
    fn layer(&self, inner: S) -> Accounted<S> {
        Accounted {
            inner,
            accounting: self.clone(),
        }
    }
}

/// A service behind [`Accounting`].
#[derive(Debug, Clone)]
pub struct Accounted<S> {
    inner: S,
    accounting: Accounting,
}

impl<S, B> tower::Service<http::Request<B>> for Accounted<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let tally = Tally {
            shared: Arc::clone(&self.accounting.shared),
            rpc: self.accounting.rpc_label(request.uri().path()),
            role: self.accounting.shared.role.as_ref().map(|role| role()),
            started: Instant::now(),
            code: None,
            recorded: false,
        };
        let shared = &self.accounting.shared;
        let places = if shared.reserved.contains(&tally.rpc) {
            &shared.reserved_in_flight
        } else {
            &shared.in_flight
        };
        let Ok(permit) = Arc::clone(places).try_acquire_owned() else {
            let mut tally = tally;
            tally.code = Some(Code::ResourceExhausted);
            tally.record();
            let status = Status::resource_exhausted(format!(
                "the server has {} calls under way (limits.max_calls_in_flight): try again shortly",
                self.accounting.shared.max_in_flight
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        // The clone that was polled ready serves this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            drop(permit);
            let (parts, body) = response.into_parts();
            let mut tally = tally;
            // A refusal comes with its status in the headers and an empty body.
            tally.code = Status::from_header_map(&parts.headers).map(|s| s.code());
            Ok(http::Response::from_parts(
                parts,
                Body::new(Counted { inner: body, tally }),
            ))
        })
    }
}

/// One call's accounting, recorded once: at the trailers, or when the body goes.
struct Tally {
    shared: Arc<Shared>,
    rpc: &'static str,
    role: Option<&'static str>,
    started: Instant,
    code: Option<Code>,
    recorded: bool,
}

impl Tally {
    fn record(&mut self) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let code = code_label(self.code.unwrap_or(Code::Cancelled));
        let seconds = self.started.elapsed().as_secs_f64();
        match self.role {
            Some(role) => {
                metrics::counter!(self.shared.requests, "rpc" => self.rpc, "code" => code, "role" => role)
                    .increment(1);
                metrics::histogram!(self.shared.duration, "rpc" => self.rpc, "role" => role)
                    .record(seconds);
            }
            None => {
                metrics::counter!(self.shared.requests, "rpc" => self.rpc, "code" => code)
                    .increment(1);
                metrics::histogram!(self.shared.duration, "rpc" => self.rpc).record(seconds);
            }
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.record();
    }
}

/// A code's label, as tonic's `Debug` spells it (`Ok`, `ResourceExhausted`, ...): a static
/// string, so that counting a call allocates nothing.
fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "Ok",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// A response body that records its call when its trailers pass, or when it is dropped.
struct Counted {
    inner: Body,
    tally: Tally,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(status) = Status::from_header_map(trailers) {
                        self.tally.code = Some(status.code());
                    }
                    self.tally.record();
                }
            }
            Poll::Ready(None) => {
                // No trailers: a refusal whose status came in the headers.
                self.tally.record();
            }
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_schemas_methods_get_a_label_of_their_own() {
        let a = Accounting::new("t_requests_total", "t_duration_seconds", 8, &[], None);
        assert_eq!(
            a.rpc_label("/locus.v1.Rendezvous/GetBootList"),
            "GetBootList"
        );
        assert_eq!(a.rpc_label("/locus.v1.PeerService/Measure"), "Measure");
        assert_eq!(a.rpc_label("/grpc.health.v1.Health/Check"), "Check");
        assert_eq!(
            a.rpc_label("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            "ServerReflectionInfo"
        );
        for code in [Code::Ok, Code::ResourceExhausted, Code::Unauthenticated] {
            assert_eq!(
                code_label(code),
                format!("{code:?}"),
                "the label is tonic's name"
            );
        }
        // Made-up paths share one label, however many a client sends.
        assert_eq!(a.rpc_label("/locus.v1.Rendezvous/DropAllTables"), "unknown");
        assert_eq!(a.rpc_label("/x"), "unknown");
    }
}
