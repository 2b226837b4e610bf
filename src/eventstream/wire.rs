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
    let mut rest = block;
    while !rest.is_empty() {
        let mut one = rest;
        let (this_name, _, _) = split_header(&mut rest).ok()?;
        if this_name == name.as_bytes() {
            return parse_header(&mut one).ok().map(|h| h.value);
        }
    }
    None
}

/// Checks a whole header block; returns how many headers it holds.
pub(crate) fn validate_headers(mut block: &[u8], max_headers: usize) -> Result<usize, DecodeError> {
    let mut count = 0usize;
    while !block.is_empty() {
        if count >= max_headers {
            return Err(DecodeError::TooManyHeaders);
        }
        check_header(&mut block)?;
        count = count.saturating_add(1);
    }
    Ok(count)
}

/// One header split off the front of `rest` by its lengths, nothing converted yet: its name,
/// type byte and value bytes (a fixed-size value, or a byte array's or string's bytes without
/// their length).
fn split_header<'a>(rest: &mut &'a [u8]) -> Result<(&'a [u8], u8, &'a [u8]), DecodeError> {
    let (&name_len, after) = rest
        .split_first()
        .ok_or(DecodeError::InvalidHeaderNameLength)?;
    // The name must leave room for at least the type byte.
    let (name, after) = after
        .split_at_checked(usize::from(name_len))
        .filter(|(_, after)| !after.is_empty())
        .ok_or(DecodeError::InvalidHeaderNameLength)?;
    let (&type_code, mut after) = after
        .split_first()
        .ok_or(DecodeError::InvalidHeaderNameLength)?;
    let fixed = |after: &mut &'a [u8], len: usize| {
        let (value, rest) = after
            .split_at_checked(len)
            .ok_or(DecodeError::InvalidHeaderValue)?;
        *after = rest;
        Ok::<_, DecodeError>(value)
    };
    let value = match type_code {
        header_type::BOOL_TRUE | header_type::BOOL_FALSE => &[][..],
        header_type::BYTE => fixed(&mut after, 1)?,
        header_type::INT16 => fixed(&mut after, 2)?,
        header_type::INT32 => fixed(&mut after, 4)?,
        header_type::INT64 | header_type::TIMESTAMP => fixed(&mut after, 8)?,
        header_type::UUID => fixed(&mut after, 16)?,
        header_type::BYTE_ARRAY | header_type::STRING => take_var(&mut after)?,
        other => return Err(DecodeError::InvalidHeaderValueType(other)),
    };
    *rest = after;
    Ok((name, type_code, value))
}

/// A fixed-size value's bytes as an array ([`split_header`] took exactly `N`).
fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    bytes
        .try_into()
        .map_err(|_| DecodeError::InvalidHeaderValue)
}

/// Text of a header name or string value.
fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
}

/// Checks the header at the front of `rest` as [`parse_header`] reads it, without building it:
/// the check every frame's headers get when it is decoded (names and strings are nearly always
/// ASCII, which is cheaper to confirm than to convert).
fn check_header(rest: &mut &[u8]) -> Result<(), DecodeError> {
    let (name, type_code, value) = split_header(rest)?;
    let text = |b: &[u8]| b.is_ascii() || std::str::from_utf8(b).is_ok();
    if !text(name) || (type_code == header_type::STRING && !text(value)) {
        return Err(DecodeError::InvalidUtf8);
    }
    Ok(())
}

/// Reads one header from the front of `rest`, which holds the rest of the header block.
pub(crate) fn parse_header<'a>(rest: &mut &'a [u8]) -> Result<HeaderRef<'a>, DecodeError> {
    let (name, type_code, bytes) = split_header(rest)?;
    let name = utf8(name)?;
    let value = match type_code {
        header_type::BOOL_TRUE => HeaderValueRef::Bool(true),
        header_type::BOOL_FALSE => HeaderValueRef::Bool(false),
        header_type::BYTE => HeaderValueRef::Byte(i8::from_be_bytes(array(bytes)?)),
        header_type::INT16 => HeaderValueRef::Int16(i16::from_be_bytes(array(bytes)?)),
        header_type::INT32 => HeaderValueRef::Int32(i32::from_be_bytes(array(bytes)?)),
        header_type::INT64 => HeaderValueRef::Int64(i64::from_be_bytes(array(bytes)?)),
        header_type::BYTE_ARRAY => HeaderValueRef::ByteArray(bytes),
        header_type::STRING => HeaderValueRef::String(utf8(bytes)?),
        header_type::TIMESTAMP => HeaderValueRef::Timestamp(i64::from_be_bytes(array(bytes)?)),
        header_type::UUID => HeaderValueRef::Uuid(array(bytes)?),
        other => return Err(DecodeError::InvalidHeaderValueType(other)),
    };
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
