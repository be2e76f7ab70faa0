//! The few `google.rpc` messages OTLP answers with: `Status` (HTTP error bodies, gRPC
//! status details) and `RetryInfo` (how long a refused sender should wait).

use bytes::Bytes;
use prost::Message;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// gRPC code numbers used in HTTP error bodies.
pub const INVALID_ARGUMENT: i32 = 3;
pub const RESOURCE_EXHAUSTED: i32 = 8;
pub const UNAUTHENTICATED: i32 = 16;
pub const UNAVAILABLE: i32 = 14;

/// A `Status` with a `RetryInfo` detail asking to retry after `seconds`.
pub fn retry_status(code: i32, message: &str, seconds: i64) -> RpcStatus {
    RpcStatus {
        code,
        message: message.to_string(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: RetryInfo {
                retry_delay: Some(ProtoDuration { seconds, nanos: 0 }),
            }
            .encode_to_vec(),
        }],
    }
}

/// The protobuf encoding.
pub fn encode(status: &RpcStatus) -> Bytes {
    Bytes::from(status.encode_to_vec())
}
