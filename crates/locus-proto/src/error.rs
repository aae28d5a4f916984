//! Why a received message was rejected, naming the offending field.

use thiserror::Error;

/// A received wire message that does not make a valid core message. Its text names the field
/// by its path from the root of the message, as on the wire:
/// `leadership: 40 entries, at most 32`, `caller.peer_id: invalid UUID`,
/// `neighbors[3].leader.addr: empty address`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {violation}")]
pub struct ProtoError {
    field: String,
    violation: Violation,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    /// A required field is absent or empty.
    #[error("missing")]
    Missing,
    /// An identity that is not a UUID.
    #[error("invalid UUID")]
    InvalidUuid,
    /// A list longer than its cap.
    #[error("{len} entries, at most {max}")]
    TooMany {
        /// Entries received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A peer address that is empty.
    #[error("empty address")]
    EmptyAddress,
    /// A peer address longer than `MAX_ADDR_LEN`.
    #[error("address of {len} bytes, at most {max}")]
    AddressTooLong {
        /// Bytes received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A peer address that is not `host:port`, or an IP of a class no peer is at
    /// (`locus_core::addr::parse`).
    #[error("{0}")]
    Address(locus_core::addr::AddrError),
    /// A round-trip time above `MAX_RTT`: a measurement error.
    #[error("rtt of {rtt_us} us, at most {max_us} us")]
    RttTooLarge {
        /// The RTT received, in microseconds.
        rtt_us: u64,
        /// The cap, in microseconds.
        max_us: u64,
    },
    /// An epoch above `locus_core::term::MAX_EPOCH`: no group changes leader that often.
    #[error("epoch {epoch} above the largest, {max}")]
    EpochTooLarge {
        /// The epoch received.
        epoch: u64,
        /// The cap.
        max: u64,
    },
    /// An enum left at its `*_UNSPECIFIED` value where a value is required.
    #[error("unspecified")]
    Unspecified,
    /// An enum value this schema does not know.
    #[error("unknown value {0}")]
    UnknownEnum(i32),
    /// A field set where the rest of the message does not allow it; says why.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
}

impl ProtoError {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, violation: Violation) -> Self {
        Self {
            field: field.into(),
            violation,
        }
    }

    /// The path of the offending field from the root of the message.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn violation(&self) -> &Violation {
        &self.violation
    }

    /// The same error seen from the message that holds `parent`.
    pub(crate) fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

/// Prefixes the field path of an error with the field that contains it.
pub(crate) trait At {
    /// The result, with any error's path prefixed by `parent`.
    fn at(self, parent: &str) -> Self;
}

impl<T> At for Result<T, ProtoError> {
    fn at(self, parent: &str) -> Self {
        self.map_err(|e| e.within(parent))
    }
}

/// The core answered an RPC with a response of another kind: a bug in the node, not the
/// caller's fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the node answered {rpc} with {response}")]
pub struct MismatchedResponse {
    /// The RPC being served.
    pub rpc: &'static str,
    /// The kind of response the core gave.
    pub response: &'static str,
}
