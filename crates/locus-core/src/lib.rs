//! `locus-core`: the locus protocol as pure state machines.
//!
//! This crate is the protocol and nothing else: no sockets, no async runtime, no clock, no
//! randomness of its own. Drivers — the peer service in `locus-peer`, the simulator in
//! `locus-sim`, the deterministic harness in `locus-testkit` — feed it time, requests and
//! results, and carry out what it asks for. The code measured at 100,000 simulated peers is
//! the code that runs in the containers.
//!
//! Modules:
//! - [`id`], [`time`], [`rng`]: identities, injected instants, the seeded generator.
//! - [`addr`]: peer addresses parsed, and the IP classes a peer may dial.
//! - [`config`]: settings with the seed's defaults and presets.
//! - [`message`]: every request and reply, with the caps that bound them.
//! - [`peer`]: the [`Peer`] engine drivers run; its submodules hold the procedures.
//! - [`join`]: the join walk and the locality test (Figure 10).
//! - [`link`]: the neighbour search (Figure 11) and the inter-group cache.
//! - `election`: the leaderless election (internal).
//! - [`term`]: how two leaderships of one group are ordered; the bound on epochs.
//! - [`rendezvous`]: the rendezvous point's directory of live groups.
//! - [`event`]: what a peer reports to its driver.

#![warn(missing_docs)]

pub mod addr;
pub mod config;
mod election;
pub mod event;
pub mod id;
pub mod join;
pub mod link;
pub mod message;
pub mod peer;
pub mod rendezvous;
pub mod rng;
pub mod term;
pub mod time;

pub use config::{Config, ConfigError};
pub use event::{Event, JoinStats};
pub use id::{GroupId, PeerId, PeerRef};
pub use message::{CallError, Request, RequestError, RequestId, Response, Target, Transmit};
pub use peer::{BootSource, Peer};
pub use rng::Rng;
pub use time::Time;
