//! `weft-proto`: the generated code of the public `weft.v1` API.
//!
//! Everything in [`v1`] and [`google`] comes from `proto/weft/v1/*.proto` at
//! build time; nothing is hand-edited. [`codec`] is the one hand-written
//! part: the codec the server stubs decode requests with.
//! [`FILE_DESCRIPTOR_SET`] holds the encoded descriptors, with custom
//! options (`google.api.http`) intact, for server reflection and the REST
//! gateway.

pub mod codec;

/// Messages and services of package `weft.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("weft.v1");
    // The client stubs, generated in a second pass with tonic's own codec.
    include!(concat!(env!("OUT_DIR"), "/client/weft.v1.rs"));
}

/// Types of `google.api` referenced by the annotations.
pub mod google {
    /// `google.api`: HTTP rules.
    pub mod api {
        #![allow(clippy::all, missing_docs)]
        tonic::include_proto!("google.api");
    }
}

/// Encoded `FileDescriptorSet` of every proto file of the API, dependencies
/// included.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("weft_descriptor");
