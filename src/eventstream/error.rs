//! Why bytes are not an event stream, and why a message cannot become a frame.

use std::fmt;

use super::{MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN, MIN_FRAME_LEN};

/// Why a byte stream is not a valid event stream. Checksum fields: `expected` is the CRC
/// the frame carries, `computed` the CRC of the bytes received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    PreludeChecksumMismatch {
        expected: u32,
        computed: u32,
    },
    MessageChecksumMismatch {
        expected: u32,
        computed: u32,
    },
    /// `total_len` is below the 16-byte minimum frame.
    InvalidTotalLength(u32),
    FrameTooLarge {
        len: u32,
        max: u32,
    },
    /// `headers_len` does not fit in the frame (or is 1, shorter than any header).
    InvalidHeadersLength(u32),
    InvalidHeaderNameLength,
    InvalidHeaderValueType(u8),
    /// A header value runs past the end of the header block.
    InvalidHeaderValue,
    InvalidUtf8,
    TooManyHeaders,
    /// The stream ended inside a frame.
    Truncated {
        buffered: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::PreludeChecksumMismatch { expected, computed } => write!(
                f,
                "event-stream prelude checksum mismatch (frame carries {expected:#010x}, computed {computed:#010x})"
            ),
            DecodeError::MessageChecksumMismatch { expected, computed } => write!(
                f,
                "event-stream message checksum mismatch (frame carries {expected:#010x}, computed {computed:#010x})"
            ),
            DecodeError::InvalidTotalLength(len) => write!(
                f,
                "event-stream frame length {len} is below the minimum of {MIN_FRAME_LEN} bytes"
            ),
            DecodeError::FrameTooLarge { len, max } => write!(
                f,
                "event-stream frame of {len} bytes exceeds the limit of {max} bytes"
            ),
            DecodeError::InvalidHeadersLength(len) => write!(
                f,
                "event-stream headers length {len} does not fit in the frame"
            ),
            DecodeError::InvalidHeaderNameLength => {
                f.write_str("event-stream header name runs past the end of the headers")
            }
            DecodeError::InvalidHeaderValueType(t) => {
                write!(f, "event-stream header has unknown value type {t}")
            }
            DecodeError::InvalidHeaderValue => {
                f.write_str("event-stream header value runs past the end of the headers")
            }
            DecodeError::InvalidUtf8 => {
                f.write_str("event-stream header name or string value is not valid UTF-8")
            }
            DecodeError::TooManyHeaders => f.write_str("event-stream message has too many headers"),
            DecodeError::Truncated { buffered } => write!(
                f,
                "event stream ended inside a frame ({buffered} bytes of an incomplete frame)"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message can't be written as a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// Header names are at most 255 bytes.
    HeaderNameTooLong { name_len: usize },
    /// String and byte-array values are at most 65535 bytes.
    HeaderValueTooLong { name: String, len: usize },
    /// More headers than [`DEFAULT_MAX_HEADERS`](super::DEFAULT_MAX_HEADERS); a default [`Decoder`](super::Decoder) would
    /// refuse the frame.
    TooManyHeaders { count: usize, max: usize },
    /// The frame would exceed [`DEFAULT_MAX_FRAME_LEN`](super::DEFAULT_MAX_FRAME_LEN).
    FrameTooLarge { len: usize, max: u32 },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::HeaderNameTooLong { name_len } => write!(
                f,
                "event-stream header name is {name_len} bytes; the limit is {MAX_HEADER_NAME_LEN}"
            ),
            EncodeError::HeaderValueTooLong { name, len } => write!(
                f,
                "event-stream header {name:?} has a {len}-byte value; the limit is {MAX_HEADER_VALUE_LEN}"
            ),
            EncodeError::TooManyHeaders { count, max } => write!(
                f,
                "event-stream message has {count} headers; the limit is {max}"
            ),
            EncodeError::FrameTooLarge { len, max } => write!(
                f,
                "event-stream frame would be {len} bytes; the limit is {max}"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}
