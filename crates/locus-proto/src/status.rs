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
//! A [`RequestError`] also travels whole, as a `google.rpc.ErrorInfo` in the status details
//! (domain [`ERROR_DOMAIN`], reason the refusal's kind, metadata its leader or group), and a
//! [`ProtoError`] as a `google.rpc.BadRequest` naming the field, so that grpcurl and clients in
//! other languages read them (`tonic-types`), and the caller gets back exactly what the callee
//! said — in particular the leader that a `NotLeader` refusal names.

use std::collections::HashMap;

use locus_core::{CallError, PeerRef, RequestError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::convert::group_id;
use crate::error::{MismatchedResponse, ProtoError};
use crate::pb;

/// The `google.rpc.ErrorInfo` domain of locus' refusals.
pub const ERROR_DOMAIN: &str = "locus.v1";

impl From<ProtoError> for Status {
    fn from(e: ProtoError) -> Self {
        let details =
            ErrorDetails::with_bad_request_violation(e.field(), e.violation().to_string());
        Status::with_error_details(Code::InvalidArgument, e.to_string(), details)
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
        RequestError::NotLeader { .. }
        | RequestError::WrongGroup(_)
        | RequestError::Moved { .. }
        | RequestError::NotJoined => Code::FailedPrecondition,
        RequestError::MissingCaller | RequestError::Invalid(_) => Code::InvalidArgument,
        RequestError::Unsupported => Code::Unimplemented,
        RequestError::Full => Code::ResourceExhausted,
    };
    let message = e.to_string();
    let (reason, metadata) = error_info(e);
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

/// A refusal's `ErrorInfo` reason and metadata.
fn error_info(e: RequestError) -> (&'static str, HashMap<String, String>) {
    let mut metadata = HashMap::new();
    let reason = match e {
        RequestError::NotLeader { leader } => {
            if let Some(leader) = leader {
                metadata.insert("leader_peer_id".to_string(), leader.id.to_string());
                metadata.insert("leader_addr".to_string(), leader.addr.to_string());
            }
            "NOT_LEADER"
        }
        RequestError::WrongGroup(group) => {
            metadata.insert("group_id".to_string(), group.to_string());
            "WRONG_GROUP"
        }
        RequestError::Moved {
            group,
            into,
            leader,
        } => {
            metadata.insert("group_id".to_string(), group.to_string());
            metadata.insert("into_group_id".to_string(), into.to_string());
            metadata.insert("leader_peer_id".to_string(), leader.id.to_string());
            metadata.insert("leader_addr".to_string(), leader.addr.to_string());
            "MOVED"
        }
        RequestError::NotJoined => "NOT_JOINED",
        RequestError::MissingCaller => "MISSING_CALLER",
        RequestError::Unsupported => "UNSUPPORTED",
        RequestError::Full => "FULL",
        RequestError::Invalid(detail) => {
            metadata.insert("detail".to_string(), detail);
            "INVALID"
        }
    };
    (reason, metadata)
}

/// The refusal a status carries, if it carries a well-formed one. A `NotLeader` whose leader
/// does not validate loses the leader rather than the refusal: the caller never follows an
/// address it cannot check.
fn refusal_from_status(status: &Status) -> Option<RequestError> {
    let info = status.get_details_error_info()?;
    if info.domain != ERROR_DOMAIN {
        return None;
    }
    let get = |k: &str| info.metadata.get(k).cloned().unwrap_or_default();
    Some(match info.reason.as_str() {
        "NOT_LEADER" => RequestError::NotLeader {
            leader: PeerRef::try_from(pb::PeerRef {
                peer_id: get("leader_peer_id"),
                addr: get("leader_addr"),
            })
            .ok(),
        },
        "WRONG_GROUP" => RequestError::WrongGroup(group_id(&get("group_id"), "group_id").ok()?),
        // A hint whose leader does not validate is only the refusal it wraps.
        "MOVED" => {
            let group = group_id(&get("group_id"), "group_id").ok()?;
            let leader = PeerRef::try_from(pb::PeerRef {
                peer_id: get("leader_peer_id"),
                addr: get("leader_addr"),
            });
            match (group_id(&get("into_group_id"), "into_group_id"), leader) {
                (Ok(into), Ok(leader)) => RequestError::Moved {
                    group,
                    into,
                    leader,
                },
                _ => RequestError::WrongGroup(group),
            }
        }
        "NOT_JOINED" => RequestError::NotJoined,
        "MISSING_CALLER" => RequestError::MissingCaller,
        "UNSUPPORTED" => RequestError::Unsupported,
        "INVALID" => RequestError::Invalid(get("detail")),
        "FULL" => RequestError::Full,
        _ => return None,
    })
}

/// How a call that ended in `status` failed, as the core understands it.
///
/// `DEADLINE_EXCEEDED` is a timeout; `FAILED_PRECONDITION`, `INVALID_ARGUMENT` and
/// `UNIMPLEMENTED` are refusals, recovered exactly from the `ErrorInfo` details when present
/// (else `UNIMPLEMENTED` is `Unsupported` and the others `Invalid` with the status message);
/// every other code — `UNAVAILABLE` first of all — means the peer could not be reached or could
/// not answer, which the core treats alike.
pub fn call_error_from_status(status: &Status) -> CallError {
    match status.code() {
        Code::DeadlineExceeded => CallError::Timeout,
        // A full group says so in its `ErrorInfo`; any other RESOURCE_EXHAUSTED (a message
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
