//! Header encoding shared by the encoder and the decoder, and the borrowed header views a
//! decoded [`Frame`](super::Frame) hands out without allocating.

use super::error::DecodeError;
use super::{Header, HeaderValue, header_type};

/// A header value borrowed from a frame (or from a [`HeaderValue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderValueRef<'a> {
    Bool(bool),
    Byte(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    ByteArray(&'a [u8]),
    String(&'a str),
    /// Milliseconds since the Unix epoch, as on the wire.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl<'a> HeaderValueRef<'a> {
    pub fn to_owned(&self) -> HeaderValue {
        match *self {
            HeaderValueRef::Bool(v) => HeaderValue::Bool(v),
            HeaderValueRef::Byte(v) => HeaderValue::Byte(v),
            HeaderValueRef::Int16(v) => HeaderValue::Int16(v),
            HeaderValueRef::Int32(v) => HeaderValue::Int32(v),
            HeaderValueRef::Int64(v) => HeaderValue::Int64(v),
            HeaderValueRef::ByteArray(v) => HeaderValue::ByteArray(v.to_vec()),
            HeaderValueRef::String(v) => HeaderValue::String(v.to_owned()),
            HeaderValueRef::Timestamp(v) => HeaderValue::Timestamp(v),
            HeaderValueRef::Uuid(v) => HeaderValue::Uuid(v),
        }
    }

    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            HeaderValueRef::String(s) => Some(s),
            _ => None,
        }
    }

    /// Bytes this value takes on the wire, type byte included.
    pub(crate) fn encoded_len(&self) -> usize {
        1 + match self {
            HeaderValueRef::Bool(_) => 0,
            HeaderValueRef::Byte(_) => 1,
            HeaderValueRef::Int16(_) => 2,
            HeaderValueRef::Int32(_) => 4,
            HeaderValueRef::Int64(_) | HeaderValueRef::Timestamp(_) => 8,
            HeaderValueRef::ByteArray(v) => 2 + v.len(),
            HeaderValueRef::String(v) => 2 + v.len(),
            HeaderValueRef::Uuid(_) => 16,
        }
    }

    /// Appends type byte and value. The caller has checked variable lengths fit a `u16`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match *self {
            HeaderValueRef::Bool(true) => out.push(header_type::BOOL_TRUE),
            HeaderValueRef::Bool(false) => out.push(header_type::BOOL_FALSE),
            HeaderValueRef::Byte(v) => {
                out.push(header_type::BYTE);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValueRef::Int16(v) => {
                out.push(header_type::INT16);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValueRef::Int32(v) => {
                out.push(header_type::INT32);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValueRef::Int64(v) => {
                out.push(header_type::INT64);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValueRef::ByteArray(v) => write_var(out, header_type::BYTE_ARRAY, v),
            HeaderValueRef::String(v) => write_var(out, header_type::STRING, v.as_bytes()),
            HeaderValueRef::Timestamp(v) => {
                out.push(header_type::TIMESTAMP);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValueRef::Uuid(v) => {
                out.push(header_type::UUID);
                out.extend_from_slice(&v);
            }
        }
    }
}

fn write_var(out: &mut Vec<u8>, type_code: u8, value: &[u8]) {
    out.push(type_code);
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// A header borrowed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRef<'a> {
    pub name: &'a str,
    pub value: HeaderValueRef<'a>,
}

impl HeaderRef<'_> {
    pub fn to_owned(&self) -> Header {
        Header::new(self.name, self.value.to_owned())
    }
}

/// The headers of a decoded frame, in wire order. The block was validated when the frame
/// was decoded, so iteration never meets a malformed header.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    rest: &'a [u8],
}

impl<'a> Headers<'a> {
    pub(crate) fn new(block: &'a [u8]) -> Self {
        Headers { rest: block }
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = HeaderRef<'a>;

    fn next(&mut self) -> Option<HeaderRef<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = parse_header(&mut self.rest);
        if parsed.is_err() {
            self.rest = &[];
        }
        parsed.ok()
    }
}

/// The value of the first header called `name` in a block that passed [`validate_headers`].
/// Headers before it are skipped by their lengths; only the one found is read (and its
/// strings checked): a lookup costs no UTF-8 validation of the headers it passes.
pub(crate) fn find_header<'a>(block: &'a [u8], name: &str) -> Option<HeaderValueRef<'a>> {
    let name_len = u8::try_from(name.len()).ok()?;
    let mut rest = block;
    while !rest.is_empty() {
        let (this, after) = rest.split_at_checked(header_len(rest)?)?;
        if this.first() == Some(&name_len) && this.get(1..=name.len()) == Some(name.as_bytes()) {
            let mut one = this;
            return parse_header(&mut one).ok().map(|h| h.value);
        }
        rest = after;
    }
    None
}

/// Bytes the header at the front of `block` takes (name length, name, type, value), read from
/// its lengths alone; `None` if they do not fit.
fn header_len(block: &[u8]) -> Option<usize> {
    let type_at = 1 + usize::from(*block.first()?);
    let value_len = match *block.get(type_at)? {
        header_type::BOOL_TRUE | header_type::BOOL_FALSE => 0,
        header_type::BYTE => 1,
        header_type::INT16 => 2,
        header_type::INT32 => 4,
        header_type::INT64 | header_type::TIMESTAMP => 8,
        header_type::UUID => 16,
        header_type::BYTE_ARRAY | header_type::STRING => {
            let len = block.get(type_at + 1..)?.first_chunk::<2>()?;
            2 + usize::from(u16::from_be_bytes(*len))
        }
        _ => return None,
    };
    let len = type_at + 1 + value_len;
    (len <= block.len()).then_some(len)
}

/// Checks a whole header block; returns how many headers it holds.
pub(crate) fn validate_headers(mut block: &[u8], max_headers: usize) -> Result<usize, DecodeError> {
    let mut count = 0usize;
    while !block.is_empty() {
        if count >= max_headers {
            return Err(DecodeError::TooManyHeaders);
        }
        parse_header(&mut block)?;
        count = count.saturating_add(1);
    }
    Ok(count)
}

/// Reads one header from the front of `rest`, which holds the rest of the header block.
pub(crate) fn parse_header<'a>(rest: &mut &'a [u8]) -> Result<HeaderRef<'a>, DecodeError> {
    let (&name_len, after) = rest
        .split_first()
        .ok_or(DecodeError::InvalidHeaderNameLength)?;
    // The name must leave room for at least the type byte.
    let (name, after) = after
        .split_at_checked(usize::from(name_len))
        .filter(|(_, after)| !after.is_empty())
        .ok_or(DecodeError::InvalidHeaderNameLength)?;
    let name = std::str::from_utf8(name).map_err(|_| DecodeError::InvalidUtf8)?;
    let (&type_code, mut after) = after
        .split_first()
        .ok_or(DecodeError::InvalidHeaderNameLength)?;
    let value = match type_code {
        header_type::BOOL_TRUE => HeaderValueRef::Bool(true),
        header_type::BOOL_FALSE => HeaderValueRef::Bool(false),
        header_type::BYTE => HeaderValueRef::Byte(i8::from_be_bytes(take(&mut after)?)),
        header_type::INT16 => HeaderValueRef::Int16(i16::from_be_bytes(take(&mut after)?)),
        header_type::INT32 => HeaderValueRef::Int32(i32::from_be_bytes(take(&mut after)?)),
        header_type::INT64 => HeaderValueRef::Int64(i64::from_be_bytes(take(&mut after)?)),
        header_type::BYTE_ARRAY => HeaderValueRef::ByteArray(take_var(&mut after)?),
        header_type::STRING => {
            let bytes = take_var(&mut after)?;
            HeaderValueRef::String(
                std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?,
            )
        }
        header_type::TIMESTAMP => HeaderValueRef::Timestamp(i64::from_be_bytes(take(&mut after)?)),
        header_type::UUID => HeaderValueRef::Uuid(take(&mut after)?),
        other => return Err(DecodeError::InvalidHeaderValueType(other)),
    };
    *rest = after;
    Ok(HeaderRef { name, value })
}

fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let (value, after) = rest
        .split_first_chunk::<N>()
        .ok_or(DecodeError::InvalidHeaderValue)?;
    *rest = after;
    Ok(*value)
}

/// A `u16`-length-prefixed value (byte array or string).
fn take_var<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = u16::from_be_bytes(take(rest)?);
    let (value, after) = rest
        .split_at_checked(usize::from(len))
        .ok_or(DecodeError::InvalidHeaderValue)?;
    *rest = after;
    Ok(value)
}
