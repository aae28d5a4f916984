//! Refusals become one status code each, cross the wire as HTTP/2 headers, and come back as
//! the same `RequestError`; transport failures become the core's `CallError`.

mod common;

use common::{group_id, peer};
use locus_core::{CallError, RequestError};
use locus_proto::{REFUSAL_METADATA_KEY, call_error_from_status, refused};
use tonic::codegen::http::HeaderMap;
use tonic::{Code, Status};

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
    use prost::Message;
    let refusal = locus_proto::pb::Refusal {
        kind: locus_proto::pb::RefusalKind::NotLeader.into(),
        leader: Some(locus_proto::pb::PeerRef {
            peer_id: "not-a-uuid".into(),
            addr: "evil:1".into(),
        }),
        ..Default::default()
    };
    let mut status = Status::failed_precondition("not the leader");
    status.metadata_mut().insert_bin(
        REFUSAL_METADATA_KEY,
        tonic::metadata::MetadataValue::from_bytes(&refusal.encode_to_vec()),
    );
    assert_eq!(
        call_error_from_status(&through_wire(&status)),
        CallError::Refused(RequestError::NotLeader { leader: None })
    );
}

#[test]
fn garbage_refusal_metadata_falls_back_on_the_code() {
    let mut status = Status::unimplemented("nope");
    status.metadata_mut().insert_bin(
        REFUSAL_METADATA_KEY,
        tonic::metadata::MetadataValue::from_bytes(&[0xff, 0xff, 0xff]),
    );
    assert_eq!(
        call_error_from_status(&through_wire(&status)),
        CallError::Refused(RequestError::Unsupported)
    );
}
