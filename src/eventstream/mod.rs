//! AWS event-stream codec (`application/vnd.amazon.eventstream`).
//!
//! Bedrock's streaming APIs (ConverseStream, InvokeModelWithResponseStream) answer with a
//! sequence of binary frames. Each frame:
//!
//! ```text
//! +-----------+-------------+-------------+---------+---------+-------------+
//! | total_len | headers_len | prelude_crc | headers | payload | message_crc |
//! |  u32 BE   |   u32 BE    |   u32 BE    |         |         |   u32 BE    |
//! +-----------+-------------+-------------+---------+---------+-------------+
//! ```
//!
//! `prelude_crc` is the CRC-32 of the first 8 bytes, `message_crc` the CRC-32 of everything
//! before it. A header is `name_len u8, name, type u8, value` (see [`header_type`]).
//!
//! [`encode`] appends one frame to a buffer; [`Decoder`] takes bytes in any split and hands
//! back whole messages, either owned ([`Decoder::next_message`]) or borrowed from its buffer
//! without allocating ([`Decoder::next_frame`]).

mod crc32;
mod decode;
mod encode;
mod error;
mod wire;

pub use crc32::{Crc32, crc32};
pub use decode::{Decoder, Frame};
pub use encode::{encode, encode_to_vec};
pub use error::{DecodeError, EncodeError};
pub use wire::{HeaderRef, HeaderValueRef, Headers};

/// Bytes of `total_len`, `headers_len` and `prelude_crc`.
pub const PRELUDE_LEN: usize = 12;
/// Bytes of the trailing `message_crc`.
pub const MESSAGE_CRC_LEN: usize = 4;
/// Smallest frame: a prelude and a message CRC, no headers, no payload.
pub const MIN_FRAME_LEN: u32 = 16;
/// Largest frame [`Decoder::new`] accepts and [`encode`] writes (AWS caps payloads at 16 MiB).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;
/// Most headers per message [`Decoder::new`] accepts.
pub const DEFAULT_MAX_HEADERS: usize = 256;
/// A header name's length is one byte on the wire.
pub const MAX_HEADER_NAME_LEN: usize = u8::MAX as usize;
/// Byte-array and string header values carry a `u16` length.
pub const MAX_HEADER_VALUE_LEN: usize = u16::MAX as usize;

/// Header value type codes, as on the wire.
pub mod header_type {
    pub const BOOL_TRUE: u8 = 0;
    pub const BOOL_FALSE: u8 = 1;
    pub const BYTE: u8 = 2;
    pub const INT16: u8 = 3;
    pub const INT32: u8 = 4;
    pub const INT64: u8 = 5;
    pub const BYTE_ARRAY: u8 = 6;
    pub const STRING: u8 = 7;
    pub const TIMESTAMP: u8 = 8;
    pub const UUID: u8 = 9;
}

/// Header names Bedrock and the other AWS event-stream services set on every message.
pub mod header_name {
    pub const MESSAGE_TYPE: &str = ":message-type";
    pub const EVENT_TYPE: &str = ":event-type";
    pub const EXCEPTION_TYPE: &str = ":exception-type";
    pub const ERROR_CODE: &str = ":error-code";
    pub const ERROR_MESSAGE: &str = ":error-message";
    pub const CONTENT_TYPE: &str = ":content-type";
}

/// Values of the `:message-type` header.
pub mod message_type {
    pub const EVENT: &str = "event";
    pub const EXCEPTION: &str = "exception";
    pub const ERROR: &str = "error";
}

const CONTENT_TYPE_JSON: &str = "application/json";

/// A header value, one variant per wire type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    ByteArray(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch, as on the wire.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The borrowed form, as [`Frame`] hands it out.
    pub fn as_value_ref(&self) -> HeaderValueRef<'_> {
        match self {
            HeaderValue::Bool(v) => HeaderValueRef::Bool(*v),
            HeaderValue::Byte(v) => HeaderValueRef::Byte(*v),
            HeaderValue::Int16(v) => HeaderValueRef::Int16(*v),
            HeaderValue::Int32(v) => HeaderValueRef::Int32(*v),
            HeaderValue::Int64(v) => HeaderValueRef::Int64(*v),
            HeaderValue::ByteArray(v) => HeaderValueRef::ByteArray(v),
            HeaderValue::String(v) => HeaderValueRef::String(v),
            HeaderValue::Timestamp(v) => HeaderValueRef::Timestamp(*v),
            HeaderValue::Uuid(v) => HeaderValueRef::Uuid(*v),
        }
    }
}

/// One header: a name and a typed value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    pub name: String,
    pub value: HeaderValue,
}

impl Header {
    pub fn new(name: impl Into<String>, value: HeaderValue) -> Self {
        Header {
            name: name.into(),
            value,
        }
    }
}

/// One event-stream message: headers in wire order and an opaque payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Message {
    pub headers: Vec<Header>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The first header called `name`, if it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// An event as AWS services send it: `:event-type`, `:content-type` JSON,
    /// `:message-type` event.
    pub fn new_event(event_type: &str, payload: Vec<u8>) -> Message {
        Self::typed(
            header_name::EVENT_TYPE,
            event_type,
            message_type::EVENT,
            payload,
        )
    }

    /// A modeled exception: `:exception-type`, `:content-type` JSON, `:message-type` exception.
    pub fn new_exception(exception_type: &str, payload: Vec<u8>) -> Message {
        Self::typed(
            header_name::EXCEPTION_TYPE,
            exception_type,
            message_type::EXCEPTION,
            payload,
        )
    }

    fn typed(type_header: &str, type_value: &str, message_type: &str, payload: Vec<u8>) -> Message {
        let string = |s: &str| HeaderValue::String(s.to_owned());
        Message {
            headers: vec![
                Header::new(type_header, string(type_value)),
                Header::new(header_name::CONTENT_TYPE, string(CONTENT_TYPE_JSON)),
                Header::new(header_name::MESSAGE_TYPE, string(message_type)),
            ],
            payload,
        }
    }
}
