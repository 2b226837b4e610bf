//! Writing frames.

use super::crc32::{Crc32, crc32};
use super::error::EncodeError;
use super::{
    DEFAULT_MAX_FRAME_LEN, DEFAULT_MAX_HEADERS, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN,
    MESSAGE_CRC_LEN, Message, PRELUDE_LEN,
};

/// Appends `msg` to `out` as one frame. On error `out` is left as it was.
pub fn encode(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let headers_len = headers_len(msg)?;
    let too_large = |len| EncodeError::FrameTooLarge {
        len,
        max: DEFAULT_MAX_FRAME_LEN,
    };
    let total_len = PRELUDE_LEN
        .checked_add(headers_len)
        .and_then(|n| n.checked_add(msg.payload.len()))
        .and_then(|n| n.checked_add(MESSAGE_CRC_LEN))
        .ok_or(too_large(usize::MAX))?;
    let total_u32 = u32::try_from(total_len)
        .ok()
        .filter(|&n| n <= DEFAULT_MAX_FRAME_LEN)
        .ok_or(too_large(total_len))?;
    // Both fit: headers_len < total_len <= DEFAULT_MAX_FRAME_LEN.
    let headers_u32 = u32::try_from(headers_len).map_err(|_| too_large(total_len))?;

    out.reserve(total_len);
    let mut prelude = [0u8; 8];
    let (total_bytes, headers_bytes) = prelude.split_at_mut(4);
    total_bytes.copy_from_slice(&total_u32.to_be_bytes());
    headers_bytes.copy_from_slice(&headers_u32.to_be_bytes());

    let mut message_crc = Crc32::new();
    let prelude_crc = crc32(&prelude).to_be_bytes();
    message_crc.update(&prelude);
    message_crc.update(&prelude_crc);
    out.extend_from_slice(&prelude);
    out.extend_from_slice(&prelude_crc);

    let headers_start = out.len();
    for header in &msg.headers {
        // Checked by headers_len: the name fits a u8.
        out.push(u8::try_from(header.name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(header.name.as_bytes());
        header.value.as_value_ref().write(out);
    }
    if let Some(headers) = out.get(headers_start..) {
        message_crc.update(headers);
    }
    message_crc.update(&msg.payload);
    out.extend_from_slice(&msg.payload);
    out.extend_from_slice(&message_crc.finalize().to_be_bytes());
    Ok(())
}

/// Encodes `msg` into a fresh buffer.
pub fn encode_to_vec(msg: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(msg, &mut out)?;
    Ok(out)
}

/// Validates every header and returns the header block's length.
fn headers_len(msg: &Message) -> Result<usize, EncodeError> {
    if msg.headers.len() > DEFAULT_MAX_HEADERS {
        return Err(EncodeError::TooManyHeaders {
            count: msg.headers.len(),
            max: DEFAULT_MAX_HEADERS,
        });
    }
    let mut total = 0usize;
    for header in &msg.headers {
        let name_len = header.name.len();
        if name_len > MAX_HEADER_NAME_LEN {
            return Err(EncodeError::HeaderNameTooLong { name_len });
        }
        let value = header.value.as_value_ref();
        let var_len = match value {
            super::HeaderValueRef::ByteArray(v) => v.len(),
            super::HeaderValueRef::String(v) => v.len(),
            _ => 0,
        };
        if var_len > MAX_HEADER_VALUE_LEN {
            return Err(EncodeError::HeaderValueTooLong {
                name: header.name.clone(),
                len: var_len,
            });
        }
        // name_len byte + name + value: at most 1 + 255 + 3 + 65535 bytes, 256 times.
        total = total
            .checked_add(1 + name_len + value.encoded_len())
            .ok_or(EncodeError::FrameTooLarge {
                len: usize::MAX,
                max: DEFAULT_MAX_FRAME_LEN,
            })?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::{Header, HeaderValue};

    #[test]
    fn appends_after_existing_bytes() {
        let msg = Message {
            headers: vec![Header::new("h", HeaderValue::Int16(500))],
            payload: b"abc".to_vec(),
        };
        let mut out = b"prefix".to_vec();
        encode(&msg, &mut out).unwrap();
        let frame = &out[6..];
        assert_eq!(frame.len(), 16 + 5 + 3);
        assert_eq!(&frame[..4], &(frame.len() as u32).to_be_bytes());
        assert_eq!(&frame[4..8], &5u32.to_be_bytes());
        assert_eq!(&frame[8..12], &crc32(&frame[..8]).to_be_bytes());
        assert_eq!(&frame[12..17], &[1, b'h', 3, 0x01, 0xF4]);
        let end = frame.len() - 4;
        assert_eq!(&frame[end..], &crc32(&frame[..end]).to_be_bytes());
    }
}
