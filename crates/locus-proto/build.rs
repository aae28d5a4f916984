//! Compiles `proto/locus/v1/*.proto` with protox (no `protoc` needed), keeps the encoded
//! descriptor set for server reflection, and generates the prost messages and tonic services.

use std::path::PathBuf;

use prost::Message;

/// The schema files, relative to the proto root.
const FILES: [&str; 3] = [
    "locus/v1/common.proto",
    "locus/v1/peer.proto",
    "locus/v1/rendezvous.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in FILES {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }

    let fds = protox::compile(FILES, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("locus_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
