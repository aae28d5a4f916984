//! `locus-peer`: a locus peer node, the network runtime of `locus-core`.
//!
//! The protocol is the core's [`Peer`] state machine; this crate drives it over gRPC. One
//! driver task owns the engine and is the only code that touches it; the tonic handlers
//! validate each request through `locus-proto`, hand it over on a bounded channel and await
//! the answer. The engine's outgoing calls go through a pool of lazily connected channels,
//! each with the protocol's request timeout as deadline and a cap on calls in flight.
//! Announcements to the rendezvous are simply the engine's calls to `Target::Rendezvous`; the
//! driver sends each to every configured rendezvous, so that each holds the whole directory.
//!
//! Modules:
//! - [`config`]: settings from file, environment and flags; protocol presets.
//! - `driver`: the task that owns the engine: commands, timers, calls, graceful leave.
//! - `server`: the `locus.v1.PeerService` handlers.
//! - `client`: the channel pool and the call of one transmit.
//! - `enroll`: the peer's certificate: from files, or enrolled with a rendezvous by join
//!   token, and renewed before it expires (docs/security.md).
//! - [`emulation`]: distance emulation for test clusters, a tower layer on the server.
//! - [`metrics`]: metric names and the Prometheus endpoint.
//!
//! [`run`] serves the peer, gRPC health and server reflection on an already-bound listener
//! until a shutdown future resolves, then leaves the overlay gracefully; tests bind
//! `127.0.0.1:0` and embed it. Dropping the future instead stops the peer without a word to
//! anyone, like a crash.

#![warn(missing_docs)]

mod client;
pub mod config;
mod driver;
pub mod emulation;
mod enroll;
pub mod metrics;
mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use locus_core::{BootSource, Peer, PeerId, PeerRef};
use locus_proto::pb::peer_service_server::PeerServiceServer;
use locus_service::accounting::Accounting;
use locus_service::tls::{self, ClientTls, Identity};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tonic::transport::Server;

use crate::metrics as m;

pub use config::{Config, Settings};

/// Largest request a peer decodes. The largest valid message, an `Alive` with a full roster,
/// leadership list and neighbour list at their longest addresses, is under 250 kB.
pub const MAX_MESSAGE_SIZE: usize = 1 << 20;

/// Why the peer could not start, or stopped other than by its shutdown signal.
#[derive(Debug, Error)]
pub enum Error {
    /// The listener's address could not be read.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The protocol settings do not work together.
    #[error("protocol: {0}")]
    Protocol(#[from] locus_core::ConfigError),
    /// The peer's site is not in the topology.
    #[error("site: {0}")]
    Site(#[from] locus_topology::topology::SiteError),
    /// The site's region name cannot travel in request metadata.
    #[error("site: region {0} has a name that is not valid metadata")]
    SiteName(usize),
    /// The peer has no certificate it can use.
    #[error("certificate: {0}")]
    Enroll(#[from] enroll::EnrollError),
    /// The TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// The certificate names someone other than a peer.
    #[error("certificate: it names {0}, not a peer")]
    NotAPeer(Identity),
}

/// The service reflection lists: the peer's own (health and reflection come with it).
const SERVED: [&str; 1] =
    [<PeerServiceServer<server::Handler> as tonic::server::NamedService>::NAME];

/// The address other peers reach a peer at that listens on `local`: the address itself, or,
/// for an unspecified IP (`0.0.0.0`), the `HOSTNAME` environment variable (set in containers)
/// with the port, else `127.0.0.1` with the port.
pub fn advertised_addr(local: SocketAddr) -> String {
    if !local.ip().is_unspecified() {
        return local.to_string();
    }
    match std::env::var("HOSTNAME") {
        Ok(host) if !host.is_empty() => format!("{host}:{}", local.port()),
        _ => format!("127.0.0.1:{}", local.port()),
    }
}

/// Runs a peer on `listener`: joins the overlay from the configured rendezvous and bootstrap
/// addresses (founding a group when there are none), serves until `shutdown` resolves, then
/// leaves gracefully — followers tell their links, a leader hands its group over — and stops.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    config.protocol.validate()?;
    metrics::describe();
    tokio::pin!(shutdown);
    // Background tasks (certificate renewal) end with `run`, even when it is dropped.
    let mut tasks = JoinSet::new();
    let credentials = match &config.tls {
        Some(tls) => {
            let creds = tokio::select! {
                c = enroll::credentials(tls, &config.rendezvous, config.protocol.request_timeout) => c?,
                () = &mut shutdown => return Ok(()),
            };
            Some(creds)
        }
        None => {
            tracing::warn!(
                "TLS is OFF (insecure_plaintext): anyone who reaches this peer can speak for any peer; use it for local experiments only"
            );
            None
        }
    };
    let client_tls = match &credentials {
        Some(creds) => ClientTls::Tls(creds.client_config()?),
        None => ClientTls::Plaintext,
    };
    if let Some(creds) = &credentials
        && !config.rendezvous.is_empty()
    {
        tasks.spawn(enroll::renew_forever(
            Arc::clone(creds),
            client_tls.clone(),
            config.rendezvous.clone(),
            config.protocol.request_timeout,
        ));
    }
    let clock = locus_service::Clock::new();
    let addr = config
        .advertise
        .clone()
        .unwrap_or_else(|| advertised_addr(listener.local_addr().unwrap_or(config.listen)));
    let id = match &credentials {
        Some(creds) => match creds.identity() {
            Identity::Peer(id) => id,
            other => return Err(Error::NotAPeer(other)),
        },
        None => config
            .peer_id
            .unwrap_or_else(|| PeerId(uuid::Uuid::new_v4())),
    };
    let seed = config
        .seed
        .unwrap_or_else(|| id.0.as_u64_pair().0 ^ clock_seed());
    let site = match &config.emulation {
        Some((topology, spec)) => {
            let region = topology.resolve_site(spec, id.as_bytes())?;
            let site = emulation::Site::new(Arc::clone(topology), region)
                .ok_or(Error::SiteName(region))?;
            Some(Arc::new(site))
        }
        None => None,
    };
    let me = PeerRef::new(id, addr);
    tracing::info!(
        peer = %id, addr = %me.addr, seed,
        site = site.as_ref().and_then(|s| s.name().to_str().ok()).unwrap_or("-"),
        "peer starting"
    );

    let mut boot = Vec::new();
    if !config.rendezvous.is_empty() {
        boot.push(BootSource::Rendezvous);
    }
    boot.extend(config.bootstrap.iter().cloned().map(BootSource::Peer));

    let (commands_tx, commands) = mpsc::channel(config.command_queue);
    let pool = client::Pool::new(
        config.client_pool_size,
        config.protocol.request_timeout,
        client_tls,
        tls::Policy {
            allow_private: config.allow_private_addresses,
        },
    );
    let ctx = client::CallContext {
        site: site.as_ref().map(|s| s.name().clone()),
        timeout: config.protocol.request_timeout,
    };
    let mut driver = driver::Driver::new(
        Peer::new(me, config.protocol.clone(), seed),
        clock,
        pool,
        ctx,
        config.max_inflight_calls,
        config.rendezvous.clone(),
        commands,
    );
    let role = driver.role();
    driver.peer_mut().join(clock.now(), boot);

    let (stop_tx, stop) = watch::channel(false);
    // The server as a whole ("") serves from the start; `locus.v1.PeerService` only once the
    // peer is in a group (readiness): a peer still walking has no group to answer for.
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_not_serving::<PeerServiceServer<server::Handler>>()
        .await;
    let (in_group, mut ready) = watch::channel(false);
    let reporter = health.clone();
    tokio::spawn(async move {
        while ready.changed().await.is_ok() {
            if *ready.borrow_and_update() {
                reporter
                    .set_serving::<PeerServiceServer<server::Handler>>()
                    .await;
            } else {
                reporter
                    .set_not_serving::<PeerServiceServer<server::Handler>>()
                    .await;
            }
        }
    });
    let mut server_stop = stop.clone();
    let router = config
        .limits
        .apply(
            Server::builder(),
            Accounting::new(
                m::REQUESTS,
                m::REQUEST_DURATION,
                config.limits.max_calls_in_flight as usize,
                // The group's own traffic: a flood of Measure cannot shed it.
                &server::GROUP_CALLS,
                Some(Arc::new(move || {
                    driver::role_name(role.load(std::sync::atomic::Ordering::Relaxed))
                })),
            ),
        )
        .layer(emulation::Layer::new(site))
        .add_service(health_service)
        .add_service(locus_service::reflection(&SERVED).build_v1()?)
        .add_service(locus_service::reflection(&SERVED).build_v1alpha()?)
        .add_service(
            PeerServiceServer::new(server::Handler::new(commands_tx, credentials.is_some()))
                .max_decoding_message_size(MAX_MESSAGE_SIZE),
        );
    let stopped = async move {
        let _ = server_stop.wait_for(|s| *s).await;
    };
    // With TLS, every client must present a certificate from the cluster CA at the handshake.
    let server_tls = match &credentials {
        Some(creds) => Some(creds.server_config(false)?),
        None => None,
    };
    let incoming = tls::incoming(listener, server_tls, config.limits.tcp_keepalive());
    let serve = router.serve_with_incoming_shutdown(incoming, stopped);
    let drive = driver.run(stop, config.leave_grace, in_group);
    tokio::pin!(serve, drive);

    tokio::select! {
        result = &mut serve => {
            result?;
            return Ok(());
        }
        () = &mut drive => return Ok(()),
        () = &mut shutdown => {}
    }
    health
        .set_not_serving::<PeerServiceServer<server::Handler>>()
        .await;
    let _ = stop_tx.send(true);
    // The driver leaves (its goodbye calls bounded by the leave grace) while the server
    // finishes the calls in progress; both within the grace, so that a stuck client cannot
    // hold the shutdown.
    let grace = config.leave_grace + config.protocol.request_timeout;
    let (_, served) = tokio::join!(drive, tokio::time::timeout(grace, serve));
    tasks.shutdown().await;
    match served {
        Ok(result) => result.map_err(Error::from),
        Err(_) => Ok(()),
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}
