//! The `weft.v1` descriptor pool, decoded once from the encoded descriptor
//! set (custom options such as `google.api.http` intact), and JSON
//! transcoding of generated messages through it.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value;

/// The pool of every message and service of the API.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(weft_proto::FILE_DESCRIPTOR_SET).expect("the built-in descriptor set is valid")
    })
}

fn descriptor(full_name: &str) -> MessageDescriptor {
    pool().get_message_by_name(full_name).unwrap_or_else(|| panic!("{full_name} is in the descriptor set"))
}

/// A generated message as canonical protobuf JSON (camelCase, default
/// values omitted, 64-bit integers as numbers).
pub fn message_to_json<M: prost::Message>(full_name: &str, message: &M) -> Value {
    let dynamic = DynamicMessage::decode(descriptor(full_name), message.encode_to_vec().as_slice())
        .expect("a generated message decodes against its own descriptor");
    let options = SerializeOptions::new().stringify_64_bit_integers(false);
    dynamic.serialize_with_options(serde_json::value::Serializer, &options).expect("protobuf JSON always serializes")
}

/// Canonical protobuf JSON into a generated message; unknown fields are an
/// error naming the field.
pub fn json_to_message<M: prost::Message + Default>(full_name: &str, json: Value) -> Result<M, String> {
    let dynamic = DynamicMessage::deserialize(descriptor(full_name), json).map_err(|e| e.to_string())?;
    dynamic.transcode_to::<M>().map_err(|e| e.to_string())
}
