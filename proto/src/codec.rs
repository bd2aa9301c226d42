//! The codec of the generated *server* stubs: prost, except that a request
//! that does not decode is the client's mistake.
//!
//! `tonic_prost::ProstCodec` answers INTERNAL to a `prost::DecodeError` (an
//! invalid varint, a truncated field, invalid UTF-8 in a string, a message
//! nested past prost's recursion limit of 100). On a server that error can
//! only come from the request bytes a client sent, so it is INVALID_ARGUMENT.
//! Client stubs keep `ProstCodec`: there an undecodable *response* is the
//! server's fault, and INTERNAL is right.
//!
//! The generated code names this codec by path, so the server cannot pass it
//! a status builder; instead it installs one once with
//! [`set_decode_error_status`] (the server builds every status in one place).
//! Until then a plain INVALID_ARGUMENT is sent.

use std::marker::PhantomData;
use std::sync::OnceLock;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

/// Builds the status of a request that is not valid protobuf.
pub type DecodeErrorStatus = fn(prost::DecodeError) -> Status;

static DECODE_ERROR_STATUS: OnceLock<DecodeErrorStatus> = OnceLock::new();

/// Installs the builder of the status answered to an undecodable request.
/// The first call wins; later calls (another server in the same process)
/// are ignored, as they install the same function.
pub fn set_decode_error_status(build: DecodeErrorStatus) {
    let _ = DECODE_ERROR_STATUS.set(build);
}

fn decode_error_status(error: prost::DecodeError) -> Status {
    match DECODE_ERROR_STATUS.get() {
        Some(build) => build(error),
        None => Status::invalid_argument(format!("the request message is not valid protobuf: {error}")),
    }
}

/// Server codec: encodes responses like `ProstCodec`, decodes requests with
/// INVALID_ARGUMENT on malformed bytes.
#[derive(Debug, Clone)]
pub struct RequestCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        Self { _types: PhantomData }
    }
}

impl<T, U> Codec for RequestCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder { _type: PhantomData }
    }
}

/// Decodes one request message; see [`RequestCodec`].
#[derive(Debug, Clone)]
pub struct RequestDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(decode_error_status)
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Value { struct_value: Struct { fields: { "a": <inner> } } }, `depth`
    /// times around a null Value: what a client can send in any Struct
    /// field. Written outside in, so building it is linear in its size.
    fn nested_value(depth: usize) -> Vec<u8> {
        let varint_len = |n: usize| prost::encoding::encoded_len_varint(n as u64);
        // (entry, fields, inner value) lengths of each level, innermost first.
        let mut levels = Vec::with_capacity(depth);
        let mut value = 2; // null_value: NULL_VALUE
        for _ in 0..depth {
            let entry = 3 + 1 + varint_len(value) + value;
            let fields = 1 + varint_len(entry) + entry;
            levels.push((entry, fields, value));
            value = 1 + varint_len(fields) + fields;
        }
        let mut out = Vec::with_capacity(value);
        for &(entry, fields, inner) in levels.iter().rev() {
            out.push(0x2a); // Value.struct_value
            prost::encoding::encode_varint(fields as u64, &mut out);
            out.push(0x0a); // Struct.fields entry
            prost::encoding::encode_varint(entry as u64, &mut out);
            out.extend_from_slice(&[0x0a, 0x01, b'a', 0x12]); // key "a", value
            prost::encoding::encode_varint(inner as u64, &mut out);
        }
        out.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(out.len(), value);
        out
    }

    #[test]
    fn a_struct_nested_100k_deep_is_a_decode_error_not_a_stack_overflow() {
        let bytes = nested_value(100_000);
        let error = prost_types::Value::decode(bytes.as_slice()).unwrap_err();
        assert!(error.to_string().contains("recursion limit"), "{error}");
        let status = decode_error_status(error);
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        // A shallow one decodes: the limit is prost's, not ours.
        prost_types::Value::decode(nested_value(20).as_slice()).unwrap();
    }
}
