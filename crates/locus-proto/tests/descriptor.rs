//! The embedded descriptor set describes the whole schema, for server reflection.

use locus_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::FileDescriptorSet;

#[test]
fn descriptor_set_decodes_and_holds_both_services() {
    let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("a valid descriptor set");
    let mut files: Vec<_> = fds.file.iter().map(|f| f.name()).collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "locus/v1/common.proto",
            "locus/v1/peer.proto",
            "locus/v1/rendezvous.proto"
        ]
    );
    let services: Vec<String> = fds
        .file
        .iter()
        .flat_map(|f| {
            f.service
                .iter()
                .map(move |s| format!("{}.{}", f.package(), s.name()))
        })
        .collect();
    assert!(
        services.contains(&"locus.v1.PeerService".to_owned()),
        "{services:?}"
    );
    assert!(
        services.contains(&"locus.v1.Rendezvous".to_owned()),
        "{services:?}"
    );

    let peer_service = fds
        .file
        .iter()
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "PeerService")
        .unwrap();
    let methods: Vec<_> = peer_service.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "Measure",
            "GetNeighboringPeerGroups",
            "GetPeerGroupMembers",
            "ConnectIntraGroup",
            "ConnectInterGroup",
            "ConnectCross",
            "Leave",
            "Alive",
            "NewLeader",
            "GetStatus",
            "Nearby",
            "GetBootList"
        ]
    );
}

#[test]
fn descriptor_set_keeps_the_schema_comments() {
    // Reflection clients (grpcurl describe) show these.
    let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let peer = fds
        .file
        .iter()
        .find(|f| f.name() == "locus/v1/peer.proto")
        .unwrap();
    let info = peer.source_code_info.as_ref().expect("source info kept");
    assert!(
        info.location
            .iter()
            .any(|l| l.leading_comments().contains("Probe for round-trip time"))
    );
}

#[test]
fn watch_overlay_is_server_streaming() {
    let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let watch = fds
        .file
        .iter()
        .flat_map(|f| &f.service)
        .flat_map(|s| &s.method)
        .find(|m| m.name() == "WatchOverlay")
        .unwrap();
    assert!(watch.server_streaming() && !watch.client_streaming());
    assert_eq!(watch.output_type(), ".locus.v1.OverlayEvent");
}
