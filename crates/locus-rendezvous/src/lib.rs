//! `locus-rendezvous`: the rendezvous point of a locus overlay, as a gRPC service.
//!
//! A joining peer asks the rendezvous for a boot list \[0044\] and from then on measures its way
//! to its group; the rendezvous is never on the join path beyond that. Group leaders announce
//! their groups here, so the rendezvous also holds a directory of live groups that operators
//! and applications read: a paged list, an overlay snapshot with the announced inter-group
//! links and their RTTs, and a live stream of changes. The directory logic itself is the core's
//! [`locus_core::rendezvous::Directory`]; this crate puts it on the network.
//!
//! Modules:
//! - [`config`]: settings from file, environment and flags, with their defaults.
//! - `registry`: the directory under its lock, boot-list sampling, the change broadcast.
//! - `service`: the `locus.v1.Rendezvous` handlers.
//! - `authority`: the cluster CA's side: enrollment of peers with a join token, renewal, the
//!   rendezvous' own certificate (docs/security.md).
//! - `check`: an announcement that would change the directory is checked with the leader it
//!   names (a `Measure` under a deadline, a bounded number at once) before it is taken.
//! - `rate`: a rate limit per caller on the calls that write.
//! - [`metrics`]: metric names and the Prometheus endpoint.
//! - `map`: the live map in a browser, on the HTTP port beside `/metrics`: positions from the
//!   measured RTTs, the overlay as JSON, changes as server-sent events, the page itself.
//!
//! [`run`] serves the rendezvous, gRPC health and server reflection on an already-bound
//! listener until a shutdown future resolves, so that tests bind `127.0.0.1:0` and embed it.
//! The map needs the directory, which lives as long as the gRPC side, while the HTTP port is
//! bound by whoever serves `/metrics` (`locus_service::serve`): [`Rendezvous::new`] makes the
//! directory, [`Rendezvous::http_routes`] hands out the map's routes for that server, and
//! [`Rendezvous::run`] serves gRPC (`run` is the three in one, without the map).
//!
//! Entries expire [`entry_ttl`](config::Config::entry_ttl) after their last announcement; a
//! background task sweeps them every `min(1 s, ttl / 4)`, so a reader may see an entry up to
//! one sweep past its TTL.

#![warn(missing_docs)]

mod authority;
mod check;
pub mod config;
mod map;
pub mod metrics;
mod rate;
mod registry;
mod service;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use locus_proto::pb::rendezvous_server::RendezvousServer;
use locus_service::accounting::Accounting;
use locus_service::tls;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::Server;

pub use config::{Config, Settings};

/// Largest request the rendezvous decodes; the largest valid one, an announcement with 64
/// neighbours, is about 30 kB.
pub const MAX_MESSAGE_SIZE: usize = 1 << 20;

/// Why the rendezvous stopped other than by its shutdown signal.
#[derive(Debug, Error)]
pub enum Error {
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The TLS material could not be loaded or used.
    #[error("TLS: {0}")]
    Tls(#[from] locus_service::tls::TlsError),
}

/// The service reflection lists: the rendezvous' own (health and reflection come with it).
const SERVED: [&str; 1] =
    [<RendezvousServer<service::Service> as tonic::server::NamedService>::NAME];

/// Serves the rendezvous on `listener` until `shutdown` resolves, then stops accepting calls,
/// ends the `WatchOverlay` streams and waits up to `config.shutdown_grace` for calls in
/// progress. The live map is not served: see [`Rendezvous`] for that.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    Rendezvous::new(config).run(listener, shutdown).await
}

/// A rendezvous whose directory exists but which serves nothing yet: its HTTP routes can be
/// handed to the server of the HTTP port before [`Rendezvous::run`] serves gRPC.
#[derive(Debug)]
pub struct Rendezvous {
    config: Config,
    clock: locus_service::Clock,
    registry: Arc<registry::Registry>,
    stopping: watch::Sender<bool>,
    map: map::Map,
}

impl Rendezvous {
    /// An empty directory with `config`'s settings.
    pub fn new(config: Config) -> Self {
        let clock = locus_service::Clock::new();
        let registry = Arc::new(registry::Registry::new(
            config.entry_ttl,
            config.watch_buffer,
            config.seed,
            config.max_groups,
        ));
        let (stopping, stopped) = watch::channel(false);
        let map = map::Map::new(Arc::clone(&registry), clock, stopped);
        Rendezvous {
            config,
            clock,
            registry,
            stopping,
            map,
        }
    }

    /// The live map's routes for the HTTP port: `/` (the page and its assets), `/api/overlay`
    /// (JSON) and `/api/events` (server-sent events); docs/operations.md, "Live map". The map
    /// is kept current while [`Rendezvous::run`] runs, and its event streams end when it stops.
    pub fn http_routes(&self) -> axum::Router {
        self.map.router()
    }

    /// Serves the rendezvous on `listener` until `shutdown` resolves, then stops accepting
    /// calls, ends the `WatchOverlay` and map streams and waits up to `config.shutdown_grace`
    /// for calls in progress.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let Rendezvous {
            config,
            clock,
            registry,
            stopping: stopping_tx,
            map,
        } = self;
        metrics::describe();
        let stopping = stopping_tx.subscribe();

        // Background tasks live in this set, so that dropping `run` (a test aborting it) ends
        // them.
        let mut tasks = JoinSet::new();
        tasks.spawn(map.run());
        let sweep = (config.entry_ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let expiring = Arc::clone(&registry);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(sweep);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let expired = expiring.expire(clock.now());
                if expired > 0 {
                    tracing::info!(expired, "entries expired");
                    ::metrics::counter!(metrics::EXPIRED).increment(expired as u64);
                    ::metrics::gauge!(metrics::GROUPS).set(expiring.len() as f64);
                }
            }
        });

        let authority = match &config.tls {
            Some(tls) => {
                let authority = Arc::new(authority::Authority::load(tls)?);
                // The rendezvous' own certificate is renewed like a peer's: at two thirds of it.
                let renewing = Arc::clone(&authority);
                tasks.spawn(async move {
                    loop {
                        let not_after = renewing.credentials().not_after();
                        let wait = tls::renew_in(std::time::SystemTime::now(), not_after);
                        tokio::time::sleep(wait).await;
                        match renewing.renew_own() {
                            Ok(()) => tracing::info!("own certificate renewed"),
                            Err(e) => tracing::error!(error = %e, "cannot renew own certificate"),
                        }
                    }
                });
                tracing::info!(
                    identity = %authority.credentials().identity(),
                    enrollment = tls.tokens.is_some(),
                    "mutual TLS on"
                );
                Some(authority)
            }
            None => {
                tracing::warn!(
                    "TLS is OFF (insecure_plaintext): anyone who reaches this port can speak for any peer; use it for local experiments only"
                );
                None
            }
        };
        let client = match &authority {
            Some(a) => tls::ClientTls::Tls(a.credentials().client_config()?),
            None => tls::ClientTls::Plaintext,
        };

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<RendezvousServer<service::Service>>()
            .await;
        let service = service::Service::new(
            registry,
            clock,
            &config,
            stopping.clone(),
            authority.clone(),
            client,
        );
        let addr = listener.local_addr().ok();
        let mut stop = stopping.clone();
        let router = config
            .limits
            .apply(
                Server::builder(),
                Accounting::new(
                    metrics::REQUESTS,
                    metrics::REQUEST_DURATION,
                    config.limits.max_calls_in_flight as usize,
                    // What keeps groups in the directory and peers' certificates valid.
                    &["AnnounceGroup", "Renew", "Enroll"],
                    None,
                ),
            )
            .add_service(health_service)
            .add_service(locus_service::reflection(&SERVED).build_v1()?)
            .add_service(locus_service::reflection(&SERVED).build_v1alpha()?)
            .add_service(
                RendezvousServer::new(service).max_decoding_message_size(MAX_MESSAGE_SIZE),
            );
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        // Clients without a certificate get through the handshake, for `Enroll`; the handlers
        // refuse them everything else.
        let server_tls = match &authority {
            Some(a) => Some(a.credentials().server_config(true)?),
            None => None,
        };
        let incoming = tls::incoming(listener, server_tls, config.limits.tcp_keepalive());
        let serve = router.serve_with_incoming_shutdown(incoming, stopped);
        tokio::pin!(serve);
        tracing::info!(
            ?addr,
            ttl_ms = config.entry_ttl.as_millis() as u64,
            "rendezvous serving"
        );

        tokio::select! {
            result = &mut serve => return result.map_err(Error::from),
            () = shutdown => {}
        }
        tracing::info!("rendezvous shutting down");
        health
            .set_not_serving::<RendezvousServer<service::Service>>()
            .await;
        let _ = stopping_tx.send(true);
        tasks.shutdown().await;
        match tokio::time::timeout(config.shutdown_grace, serve).await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => {
                tracing::warn!("calls still in progress at the end of the shutdown grace period");
                Ok(())
            }
        }
    }
}
