//! `locus-proto`: the locus wire schema in Rust, and the one place where wire types convert to
//! and from core types.
//!
//! The schema lives in `proto/locus/v1/` at the workspace root; the build script compiles it
//! with protox (no `protoc` needed) into prost messages and tonic clients and servers. Both the
//! peer (`locus-peer`) and the rendezvous (`locus-rendezvous`) depend on this crate, as do the
//! command-line client and tests; the protocol itself (`locus-core`) knows nothing of it.
//!
//! Modules:
//! - [`pb`]: the generated code of package `locus.v1`: messages, `peer_service_{client,server}`,
//!   `rendezvous_{client,server}`.
//! - [`convert`]: `TryFrom<pb::X> for core::X`, validating on receipt (caps, UUIDs, addresses,
//!   RTTs, enums), and `From<core::X> for pb::X` going out.
//! - [`rpc`]: per RPC, a received request to `(caller, core::Request)` and a core `Response` to
//!   the reply ([`rpc::Unary`]); a core request to the RPC that sends it ([`rpc::Outgoing`]).
//! - [`directory`]: the rendezvous RPCs that read its directory (`ListGroups`, `GetOverlay`,
//!   `WatchOverlay`): request validation, entries, links and change events in wire form.
//! - [`status`]: the one place where errors become `tonic::Status`, and statuses become the
//!   core's `CallError` again.
//! - [`error`]: [`ProtoError`], naming the offending field of a rejected message.
//!
//! [`FILE_DESCRIPTOR_SET`] is the compiled schema, for gRPC server reflection.

#![warn(missing_docs)]

pub mod convert;
pub mod directory;
pub mod error;
pub mod rpc;
pub mod status;

/// The generated code of package `locus.v1`.
pub mod pb {
    #![allow(
        missing_docs,
        missing_debug_implementations,
        unreachable_pub,
        clippy::all,
        clippy::pedantic
    )]
    tonic::include_proto!("locus.v1");
}

pub use error::{MismatchedResponse, ProtoError, Violation};
pub use rpc::{Outgoing, Unary};
pub use status::{ERROR_DOMAIN, call_error_from_reply, call_error_from_status, refused};

/// The encoded `FileDescriptorSet` of the schema (imports included), for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/locus_descriptor.bin"));
