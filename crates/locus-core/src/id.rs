//! Identities: peers and groups are named by UUIDs, peers are reached at a gRPC address.

use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

use crate::rng::Rng;

/// Longest accepted peer address, in bytes (`host:port`, a DNS name at most 253 bytes).
pub const MAX_ADDR_LEN: usize = 260;

/// A peer's identity, chosen by the peer at start-up.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub Uuid);

/// A peer group's identity, chosen by the peer that founds it [0055].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub Uuid);

macro_rules! uuid_newtype {
    ($name:ident) => {
        impl $name {
            /// A random (version 4) identity drawn from the given generator.
            pub fn random(rng: &mut Rng) -> Self {
                Self(uuid::Builder::from_random_bytes(rng.bytes16()).into_uuid())
            }

            /// The identity as 16 raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // The first block is enough to tell peers apart in logs and test output.
                let s = self.0.simple().to_string();
                write!(f, "{}", &s[..8])
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_newtype!(PeerId);
uuid_newtype!(GroupId);

/// How to reach a peer: its identity and its gRPC address (`host:port`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerRef {
    /// The peer's identity.
    pub id: PeerId,
    /// Where its gRPC server listens, as `host:port`. Shared: references are copied into every
    /// list a peer keeps and sends, and a clone should not allocate.
    pub addr: Arc<str>,
}

impl PeerRef {
    /// A reference to `id` at `addr`.
    pub fn new(id: PeerId, addr: impl Into<Arc<str>>) -> Self {
        Self {
            id,
            addr: addr.into(),
        }
    }
}

impl fmt::Debug for PeerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", self.id, self.addr)
    }
}
