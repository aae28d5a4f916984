//! Distance emulation for test clusters (DESIGN §4).
//!
//! On one machine every peer is microseconds from every other, so there is no locality to
//! find. With a topology configured, every peer knows its site (a region of the topology) and
//! sends its region's name in the [`SITE_METADATA_KEY`] request metadata; the [`Layer`] on the
//! server delays each reply by the modelled RTT between the caller's region and its own
//! (with the topology's jitter). The whole round trip is paid on the server side, so the time
//! the caller measures is the model's RTT plus the real (tiny) one, and probes still measure
//! real elapsed time, noise included.
//!
//! This is for test clusters only: both ends must load the same topology file, and a caller
//! that sends no site (operator tools, health checks) or an unknown one is not delayed. Without
//! a topology, the layer passes every call straight through and peers measure the real network.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use locus_core::Rng;
use locus_topology::Topology;
use tonic::metadata::AsciiMetadataValue;

/// The request metadata entry that carries the caller's region name.
pub const SITE_METADATA_KEY: &str = "locus-site";

/// A peer's place in an emulated topology.
#[derive(Debug)]
pub struct Site {
    topology: Arc<Topology>,
    region: usize,
    name: AsciiMetadataValue,
    /// Jitter samples come from a counter-seeded generator: no lock, no shared state to fight
    /// over, and spread enough for queueing noise.
    draws: AtomicU64,
}

impl Site {
    /// This peer at `region` of `topology`; `None` if the index is out of range or the
    /// region's name cannot travel in metadata.
    pub fn new(topology: Arc<Topology>, region: usize) -> Option<Self> {
        let name = topology.regions().get(region)?.name.parse().ok()?;
        Some(Site {
            topology,
            region,
            name,
            draws: AtomicU64::new(region as u64),
        })
    }

    /// This peer's region name, as sent in [`SITE_METADATA_KEY`].
    pub fn name(&self) -> &AsciiMetadataValue {
        &self.name
    }

    /// The region index.
    pub fn region(&self) -> usize {
        self.region
    }

    /// The modelled RTT to a caller in the named region, with jitter; `None` for an unknown
    /// region.
    pub fn delay_from(&self, caller_region: &str) -> Option<Duration> {
        let theirs = self.topology.region_index(caller_region)?;
        let draw = self
            .draws
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let u = Rng::new(draw).unit();
        self.topology.sample_rtt(theirs, self.region, u)
    }
}

/// The tower layer that delays replies by the emulated RTT; a pass-through without a site.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    site: Option<Arc<Site>>,
}

impl Layer {
    /// A layer for a server at `site`, or a pass-through for `None`.
    pub fn new(site: Option<Arc<Site>>) -> Self {
        Layer { site }
    }
}

impl<S> tower::Layer<S> for Layer {
    type Service = Delay<S>;
    fn layer(&self, inner: S) -> Delay<S> {
        Delay {
            inner,
            site: self.site.clone(),
        }
    }
}

/// The service [`Layer`] wraps around the gRPC server.
#[derive(Debug, Clone)]
pub struct Delay<S> {
    inner: S,
    site: Option<Arc<Site>>,
}

impl<S, B> tower::Service<http::Request<B>> for Delay<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let delay = self.site.as_ref().and_then(|site| {
            let caller = request.headers().get(SITE_METADATA_KEY)?.to_str().ok()?;
            site.delay_from(caller)
        });
        let reply = self.inner.call(request);
        Box::pin(async move {
            let response = reply.await;
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPOLOGY: &str = "jitter_ms: 0.5\nregions:\n  - name: eu\n    coordinates: [0, 0]\n  - name: us\n    coordinates: [90, 0]\n";

    #[test]
    fn delay_is_the_model_rtt_plus_at_most_the_jitter() {
        let topology = Arc::new(Topology::parse(TOPOLOGY).unwrap());
        let us = Site::new(topology, 1).unwrap();
        assert_eq!(us.name(), "us");
        for _ in 0..100 {
            let d = us.delay_from("eu").unwrap();
            assert!(
                d >= Duration::from_millis(90) && d <= Duration::from_micros(90_500),
                "{d:?}"
            );
        }
        let local = us.delay_from("us").unwrap();
        assert!(local >= Duration::from_millis(2) && local <= Duration::from_micros(2_500));
        assert_eq!(
            us.delay_from("mars"),
            None,
            "an unknown region is not delayed"
        );
    }
}
