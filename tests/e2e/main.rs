//! The container suite: the real images in real containers, on the cluster of
//! `docker-compose.yml`, driven through `xtask`'s cluster commands. It needs the Docker
//! engine with Compose, and headless Chromium for the live map; without either a test fails
//! and says what to do. The first test to run builds the static binaries and the images
//! (`cargo xtask images`).
//!
//! - `suite`: 12 peers converge; who the rendezvous lets in; 30 converge; a leader is stopped;
//!   the rendezvous is stopped while a peer joins through another peer, started again, and new
//!   peers enroll with it; half of a region's peers are killed;
//! - `map`: the live map in a browser shows one circle per group and one line per link of the
//!   directory, and the new leader after `docker stop` of a leader within the failover bound;
//! - `newcomer`: `docker-compose up -d` on a fresh copy of the repository, as a newcomer runs
//!   it: a converged cluster, or one line naming what to do.
//!
//! The tests take turns (one cluster at a time) and each tears its cluster down. Every step
//! prints what it checked and how long it took on standard error, past the test harness'
//! capture, so that the timings show in every run. `COMPOSE_PROJECT_NAME` (default `locus`) and
//! `LOCUS_RENDEZVOUS_PORT`/`LOCUS_RENDEZVOUS_METRICS_PORT` move the cluster aside from another;
//! `LOCUS_E2E_PLAINTEXT=1` runs it without TLS, `LOCUS_E2E_KEEP=1` leaves the last cluster
//! running, `LOCUS_E2E_NO_BUILD=1` uses the images as they are.

mod map;
mod newcomer;
mod suite;
mod support;
