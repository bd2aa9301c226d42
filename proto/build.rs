//! Compiles `weft/v1/*.proto` with protox (no system protoc), generates prost
//! messages and tonic stubs, and writes the *encoded* descriptor set, which
//! keeps custom options such as `google.api.http` for reflection and REST.
//!
//! Servers and clients are generated in two passes because they decode with
//! different codecs: a server stub decodes a *request*, and an undecodable
//! request is the client's mistake (INVALID_ARGUMENT, `codec::RequestCodec`);
//! a client stub decodes a *response*, where gRPC's INTERNAL is right
//! (`tonic_prost::ProstCodec`).

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("weft/v1"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    // Served by reflection so tools such as grpcurl can decode the error
    // details (ErrorInfo, BadRequest) that every Weft error carries.
    files.push(root.join("google/rpc/error_details.proto"));
    // The REST gateway decodes grpc-status-details-bin as a google.rpc.Status.
    files.push(root.join("google/rpc/status.proto"));
    println!("cargo:rerun-if-changed=weft");
    println!("cargo:rerun-if-changed=google");

    // The encoded set, straight from protox, keeps custom options such as
    // google.api.http; decoding into prost_types would drop them.
    let encoded = protox::Compiler::new([&root])?
        .include_imports(true)
        .include_source_info(true)
        .open_files(&files)?
        .encode_file_descriptor_set();
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("weft_descriptor.bin"), &encoded)?;
    let descriptors = prost_types::FileDescriptorSet::decode(encoded.as_slice())?;

    // Messages and server stubs, in OUT_DIR.
    tonic_prost_build::configure()
        .build_client(false)
        .generate_default_stubs(true)
        .codec_path("crate::codec::RequestCodec")
        // A worker stream's refused report carries a google.rpc.Status:
        // tonic-types' own, which its error details decode into.
        .extern_path(".google.rpc.Status", "::tonic_types::Status")
        .compile_fds(descriptors.clone())?;

    // Client stubs only, in OUT_DIR/client: every message is the one
    // generated above.
    let clients = out.join("client");
    fs::create_dir_all(&clients)?;
    tonic_prost_build::configure()
        .build_server(false)
        .extern_path(".weft.v1", "crate::v1")
        .extern_path(".google.api", "crate::google::api")
        .extern_path(".google.rpc.Status", "::tonic_types::Status")
        .out_dir(&clients)
        .compile_fds(descriptors)?;
    Ok(())
}
