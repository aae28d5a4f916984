//! Refusals become one status code each with a `google.rpc.ErrorInfo`, cross the wire as HTTP/2
//! headers, and come back as the same `RequestError`; malformed requests carry a
//! `google.rpc.BadRequest` naming the field; transport failures become the core's `CallError`.

mod common;

use common::{group_id, peer};
use locus_core::{CallError, RequestError};
use std::collections::HashMap;

use locus_proto::{ERROR_DOMAIN, call_error_from_status, refused};
use tonic::codegen::http::HeaderMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A status as the client sees it: written to trailers by the server, parsed by the client.
fn through_wire(status: &Status) -> Status {
    let mut headers = HeaderMap::new();
    status
        .add_header(&mut headers)
        .expect("status fits in headers");
    Status::from_header_map(&headers).expect("headers carry a status")
}

#[test]
fn every_refusal_maps_to_its_code_and_round_trips() {
    let cases = [
        (
            RequestError::NotLeader {
                leader: Some(peer(3)),
            },
            Code::FailedPrecondition,
        ),
        (
            RequestError::NotLeader { leader: None },
            Code::FailedPrecondition,
        ),
        (
            RequestError::WrongGroup(group_id(4)),
            Code::FailedPrecondition,
        ),
        (
            RequestError::Moved {
                group: group_id(4),
                into: group_id(5),
                leader: peer(6),
            },
            Code::FailedPrecondition,
        ),
        (RequestError::NotJoined, Code::FailedPrecondition),
        (RequestError::MissingCaller, Code::InvalidArgument),
        (
            RequestError::Invalid("epoch from the future".into()),
            Code::InvalidArgument,
        ),
        (RequestError::Unsupported, Code::Unimplemented),
        (RequestError::Full, Code::ResourceExhausted),
    ];
    for (error, code) in cases {
        let status = through_wire(&refused(error.clone()));
        assert_eq!(status.code(), code, "{error:?}");
        assert_eq!(status.message(), error.to_string());
        assert_eq!(call_error_from_status(&status), CallError::Refused(error));
    }
}

#[test]
fn statuses_without_a_refusal_map_by_code() {
    let cases = [
        (Status::deadline_exceeded("late"), CallError::Timeout),
        (
            Status::unavailable("connection refused"),
            CallError::Unreachable("connection refused".into()),
        ),
        (
            Status::invalid_argument("caller.peer_id: invalid UUID"),
            CallError::Refused(RequestError::Invalid("caller.peer_id: invalid UUID".into())),
        ),
        (
            Status::failed_precondition("something"),
            CallError::Refused(RequestError::Invalid("something".into())),
        ),
        (
            Status::unimplemented("no such method"),
            CallError::Refused(RequestError::Unsupported),
        ),
        (
            Status::internal("boom"),
            CallError::Unreachable("Internal: boom".into()),
        ),
        (
            Status::resource_exhausted("message too large"),
            CallError::Unreachable("ResourceExhausted: message too large".into()),
        ),
    ];
    for (status, expected) in cases {
        assert_eq!(call_error_from_status(&through_wire(&status)), expected);
    }
}

#[test]
fn a_not_leader_naming_an_invalid_leader_keeps_the_refusal_but_not_the_leader() {
    let metadata = HashMap::from([
        ("leader_peer_id".to_string(), "not-a-uuid".to_string()),
        ("leader_addr".to_string(), "evil:1".to_string()),
    ]);
    let status = Status::with_error_details(
        Code::FailedPrecondition,
        "not the leader",
        ErrorDetails::with_error_info("NOT_LEADER", ERROR_DOMAIN, metadata),
    );
    assert_eq!(
        call_error_from_status(&through_wire(&status)),
        CallError::Refused(RequestError::NotLeader { leader: None })
    );
}

#[test]
fn details_of_another_domain_or_reason_fall_back_on_the_code() {
    for (reason, domain) in [
        ("NOT_LEADER", "example.com"),
        ("NO_SUCH_REASON", ERROR_DOMAIN),
    ] {
        let status = Status::with_error_details(
            Code::Unimplemented,
            "nope",
            ErrorDetails::with_error_info(reason, domain, HashMap::new()),
        );
        assert_eq!(
            call_error_from_status(&through_wire(&status)),
            CallError::Refused(RequestError::Unsupported)
        );
    }
}

#[test]
fn refusals_and_bad_requests_are_readable_google_rpc_details() {
    let status = through_wire(&refused(RequestError::NotLeader {
        leader: Some(peer(3)),
    }));
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("NOT_LEADER", ERROR_DOMAIN)
    );
    assert_eq!(info.metadata["leader_peer_id"], peer(3).id.to_string());
    assert_eq!(info.metadata["leader_addr"], peer(3).addr.to_string());

    let bad = locus_proto::pb::MeasureRequest {
        caller: Some(locus_proto::pb::PeerRef {
            peer_id: "zz".into(),
            addr: "a:1".into(),
        }),
    };
    use locus_proto::Unary;
    let status = through_wire(&Status::from(bad.into_core().unwrap_err()));
    assert_eq!(status.code(), Code::InvalidArgument);
    let request = status.get_details_bad_request().expect("a BadRequest");
    assert_eq!(request.field_violations.len(), 1);
    assert_eq!(request.field_violations[0].field, "caller.peer_id");
    assert_eq!(request.field_violations[0].description, "invalid UUID");
}
