//! Support for locus' whole-system tests, the test targets of this package:
//!
//! - `cluster` (`tests/cluster.rs`): a rendezvous and peers on loopback, in one process;
//! - `e2e` (`tests/e2e/`): the real images in real containers, through `xtask`'s cluster
//!   commands, with the live map in a headless browser.
//!
//! The support is shared with the crates' own integration tests: [`loopback`] (the in-process
//! cluster, for `locus-peer`'s tests) and [`browser`] (a headless Chromium driver, for
//! `locus-rendezvous`' map tests).

#![warn(missing_docs)]

pub mod browser;
pub mod loopback;
