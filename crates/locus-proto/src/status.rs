//! The one place where errors become `tonic::Status`, and where a status becomes the core's
//! [`CallError`] again on the calling side.
//!
//! | error | code |
//! | --- | --- |
//! | [`ProtoError`] (a malformed request) | `INVALID_ARGUMENT` |
//! | [`refused`]`(RequestError::NotLeader`, `WrongGroup`, `NotJoined)` | `FAILED_PRECONDITION` |
//! | [`refused`]`(RequestError::MissingCaller`, `Invalid)` | `INVALID_ARGUMENT` |
//! | [`refused`]`(RequestError::Unsupported)` | `UNIMPLEMENTED` |
//! | [`refused`]`(RequestError::Full)` | `RESOURCE_EXHAUSTED` |
//! | [`MismatchedResponse`] (a bug in the node) | `INTERNAL` |
//!
//! A [`RequestError`] also travels whole, as a `locus.v1.Refusal` in the binary metadata entry
//! [`REFUSAL_METADATA_KEY`], so that the caller gets back exactly what the callee said —
//! in particular the leader that a `NotLeader` refusal names.

use locus_core::{CallError, RequestError};
use prost::Message;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::convert::{group_id, optional};
use crate::error::{MismatchedResponse, ProtoError};
use crate::pb;

/// The binary metadata entry of a refusing status that carries the encoded `locus.v1.Refusal`.
pub const REFUSAL_METADATA_KEY: &str = "locus-refusal-bin";

impl From<ProtoError> for Status {
    fn from(e: ProtoError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

impl From<MismatchedResponse> for Status {
    fn from(e: MismatchedResponse) -> Self {
        Status::internal(e.to_string())
    }
}

/// The status that carries a refusal to the caller.
///
/// A function rather than `From<RequestError> for Status`: both types are foreign to this
/// crate, so the orphan rule forbids the impl. Handlers write `.map_err(status::refused)?`.
pub fn refused(e: RequestError) -> Status {
    let code = match &e {
        RequestError::NotLeader { .. } | RequestError::WrongGroup(_) | RequestError::NotJoined => {
            Code::FailedPrecondition
        }
        RequestError::MissingCaller | RequestError::Invalid(_) => Code::InvalidArgument,
        RequestError::Unsupported => Code::Unimplemented,
        RequestError::Full => Code::ResourceExhausted,
    };
    let message = e.to_string();
    let mut metadata = MetadataMap::new();
    let refusal = refusal(e).encode_to_vec();
    metadata.insert_bin(REFUSAL_METADATA_KEY, MetadataValue::from_bytes(&refusal));
    Status::with_metadata(code, message, metadata)
}

/// The wire form of a refusal.
fn refusal(e: RequestError) -> pb::Refusal {
    use pb::RefusalKind as K;
    let mut r = pb::Refusal::default();
    let kind = match e {
        RequestError::NotLeader { leader } => {
            r.leader = leader.map(Into::into);
            K::NotLeader
        }
        RequestError::WrongGroup(group) => {
            r.group_id = group.to_string();
            K::WrongGroup
        }
        RequestError::NotJoined => K::NotJoined,
        RequestError::MissingCaller => K::MissingCaller,
        RequestError::Unsupported => K::Unsupported,
        RequestError::Full => K::Full,
        RequestError::Invalid(detail) => {
            r.detail = detail;
            K::Invalid
        }
    };
    r.kind = kind.into();
    r
}

/// The refusal a status carries, if it carries a well-formed one. A `NotLeader` whose leader
/// does not validate loses the leader rather than the refusal: the caller never follows an
/// address it cannot check.
fn refusal_from_status(status: &Status) -> Option<RequestError> {
    use pb::RefusalKind as K;
    let bytes = status
        .metadata()
        .get_bin(REFUSAL_METADATA_KEY)?
        .to_bytes()
        .ok()?;
    let r = pb::Refusal::decode(bytes.as_ref()).ok()?;
    Some(match K::try_from(r.kind).ok()? {
        K::Unspecified => return None,
        K::NotLeader => RequestError::NotLeader {
            leader: optional(r.leader, "leader").ok().flatten(),
        },
        K::WrongGroup => RequestError::WrongGroup(group_id(&r.group_id, "group_id").ok()?),
        K::NotJoined => RequestError::NotJoined,
        K::MissingCaller => RequestError::MissingCaller,
        K::Unsupported => RequestError::Unsupported,
        K::Invalid => RequestError::Invalid(r.detail),
        K::Full => RequestError::Full,
    })
}

/// How a call that ended in `status` failed, as the core understands it.
///
/// `DEADLINE_EXCEEDED` is a timeout; `FAILED_PRECONDITION`, `INVALID_ARGUMENT` and
/// `UNIMPLEMENTED` are refusals, recovered exactly from the refusal metadata when present
/// (else `UNIMPLEMENTED` is `Unsupported` and the others `Invalid` with the status message);
/// every other code — `UNAVAILABLE` first of all — means the peer could not be reached or could
/// not answer, which the core treats alike.
pub fn call_error_from_status(status: &Status) -> CallError {
    match status.code() {
        Code::DeadlineExceeded => CallError::Timeout,
        // A full group says so in the refusal metadata; any other RESOURCE_EXHAUSTED (a message
        // over the size limit) is a failure to get an answer.
        Code::ResourceExhausted if refusal_from_status(status).is_some() => {
            CallError::Refused(refusal_from_status(status).unwrap_or(RequestError::Full))
        }
        Code::FailedPrecondition | Code::InvalidArgument | Code::Unimplemented => {
            let refusal = refusal_from_status(status).unwrap_or_else(|| match status.code() {
                Code::Unimplemented => RequestError::Unsupported,
                _ => RequestError::Invalid(status.message().to_owned()),
            });
            CallError::Refused(refusal)
        }
        Code::Unavailable => CallError::Unreachable(status.message().to_owned()),
        code => CallError::Unreachable(format!("{code:?}: {}", status.message())),
    }
}

/// How a call whose reply did not validate failed: the peer answered nonsense, which the core
/// treats as not reaching it.
pub fn call_error_from_reply(e: &ProtoError) -> CallError {
    CallError::Unreachable(format!("malformed reply: {e}"))
}
