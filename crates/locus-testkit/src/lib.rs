//! `locus-testkit`: a deterministic harness that runs many `locus-core` peers on virtual time.
//!
//! It is the core's proving ground: no async runtime, no sockets, no wall clock. Every call is
//! delivered after half the modelled round-trip time between the two peers' sites, and its
//! reply after the other half, so the RTTs the peers measure are the model's. A rendezvous
//! ([`locus_core::rendezvous::Directory`]) answers boot lists and announcements.
//!
//! Failures are injected on a schedule: crash (silent), graceful leave, restart, partitions
//! into any number of sides, the rendezvous going down and up, and a message drop rate.
//! Forged requests from a stray sender are delivered with [`Sim::inject`]. Like the real one,
//! the harness rendezvous takes a new group, a change of leadership or an end only once the
//! announced leader bears it out ([`locus_core::rendezvous::confirms`]). Everything random comes from one seed,
//! printed by [`seed`] and overridable with the `LOCUS_TEST_SEED` environment variable, so any
//! failing run can be replayed exactly.
//!
//! - [`Sim`]: the harness.
//! - [`check`]: invariants and overlay figures that tests assert on.

#![warn(missing_docs)]

pub mod check;
mod sim;

pub use sim::{Injection, Node, Recipient, Sim, SimOptions};

/// The seed for a test: `LOCUS_TEST_SEED` if set, else `default`. Prints it, so that a failing
/// run's output says how to replay it.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("LOCUS_TEST_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default);
    println!("testkit seed = {seed} (set LOCUS_TEST_SEED={seed} to replay)");
    seed
}
