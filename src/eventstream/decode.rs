//! Reading frames from a byte stream that arrives in arbitrary pieces.

use super::crc32::{Crc32, crc32};
use super::error::DecodeError;
use super::wire::{self, HeaderValueRef, Headers};
use super::{
    DEFAULT_MAX_FRAME_LEN, DEFAULT_MAX_HEADERS, MESSAGE_CRC_LEN, MIN_FRAME_LEN, Message,
    PRELUDE_LEN,
};

/// Below this capacity an emptied buffer keeps its allocation for the next frames; above
/// it (after an unusually large frame) the memory goes back, so idle streams stay small.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// The validated prelude of the frame at the front of the buffer.
#[derive(Debug, Clone, Copy)]
struct Prelude {
    total_len: u32,
    headers_len: u32,
}

/// Incremental event-stream decoder: [`feed`](Decoder::feed) bytes as they arrive, then pull
/// messages until it answers `Ok(None)`. The first error is sticky: every later call returns
/// it again, so a corrupt stream can't be skipped past.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes before `start` belong to frames already handed out; `start <= buf.len()`.
    start: usize,
    /// Set once the prelude of the frame at `start` has been validated.
    prelude: Option<Prelude>,
    max_frame_len: u32,
    max_headers: usize,
    failed: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with [`DEFAULT_MAX_FRAME_LEN`] and [`DEFAULT_MAX_HEADERS`].
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_FRAME_LEN, DEFAULT_MAX_HEADERS)
    }

    /// A decoder that refuses frames longer than `max_frame_len` bytes (before buffering
    /// them) and messages with more than `max_headers` headers.
    pub fn with_limits(max_frame_len: u32, max_headers: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            start: 0,
            prelude: None,
            max_frame_len,
            max_headers,
            failed: None,
        }
    }

    /// Buffers more of the stream. After an error, bytes are dropped (the buffer was
    /// released when the error was returned).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_some() || bytes.is_empty() {
            return;
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as messages.
    pub fn buffered_len(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// The next message, owned. `Ok(None)`: feed more bytes.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        Ok(self.next_frame()?.map(|frame| frame.to_message()))
    }

    /// The next message, borrowed from the decoder's buffer (no allocation).
    /// `Ok(None)`: feed more bytes.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, DecodeError> {
        let ready = self.ready_frame();
        let (prelude, header_count) = match ready {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(e) => {
                // The stream is dead: keep the error, give the memory back.
                self.failed = Some(e.clone());
                self.buf = Vec::new();
                self.start = 0;
                self.prelude = None;
                return Err(e);
            }
        };
        let frame_start = self.start;
        let frame_end = frame_start.saturating_add(prelude.total_len as usize);
        self.start = frame_end;
        self.prelude = None;
        let bytes = self.buf.get(frame_start..frame_end).unwrap_or_default();
        Ok(Some(Frame::split(bytes, prelude.headers_len, header_count)))
    }

    /// At the end of the stream (after draining [`next_message`](Decoder::next_message)):
    /// `Err(Truncated)` if part of a frame is left over, or the earlier error.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.buffered_len() {
            0 => Ok(()),
            buffered => Err(DecodeError::Truncated { buffered }),
        }
    }

    /// Validates the frame at `start` once it is fully buffered; returns its prelude and
    /// header count without consuming it.
    fn ready_frame(&mut self) -> Result<Option<(Prelude, usize)>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let available = self.buffered_len();
        let prelude = match self.prelude {
            Some(prelude) => prelude,
            None => {
                let Some(bytes) = self.buf.get(self.start..).and_then(|b| b.first_chunk()) else {
                    return Ok(None);
                };
                let prelude = read_prelude(bytes, self.max_frame_len)?;
                self.prelude = Some(prelude);
                // One allocation for the rest of a large frame instead of repeated doubling.
                self.buf
                    .reserve((prelude.total_len as usize).saturating_sub(available));
                prelude
            }
        };
        let total_len = prelude.total_len as usize;
        let Some(frame) = self
            .buf
            .get(self.start..)
            .and_then(|rest| rest.get(..total_len))
        else {
            return Ok(None);
        };
        let header_count = check_frame(frame, prelude, self.max_headers)?;
        Ok(Some((prelude, header_count)))
    }

    /// Drops consumed bytes, copying the live tail only when it is no longer than the
    /// consumed prefix, so each byte is copied O(1) times overall.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > RETAINED_CAPACITY {
                self.buf = Vec::new();
            }
        } else if self.start >= self.buf.len() - self.start {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

fn read_prelude(bytes: &[u8; PRELUDE_LEN], max_frame_len: u32) -> Result<Prelude, DecodeError> {
    let (lengths, crc) = bytes.split_at(8);
    let computed = crc32(lengths);
    let expected = be_u32(crc);
    if computed != expected {
        return Err(DecodeError::PreludeChecksumMismatch { expected, computed });
    }
    let (total, headers) = lengths.split_at(4);
    let total_len = be_u32(total);
    let headers_len = be_u32(headers);
    let Some(max_headers_len) = total_len.checked_sub(MIN_FRAME_LEN) else {
        return Err(DecodeError::InvalidTotalLength(total_len));
    };
    if total_len > max_frame_len {
        return Err(DecodeError::FrameTooLarge {
            len: total_len,
            max: max_frame_len,
        });
    }
    // A header takes at least 2 bytes (name length and type), so 1 is never valid.
    if headers_len == 1 || headers_len > max_headers_len {
        return Err(DecodeError::InvalidHeadersLength(headers_len));
    }
    Ok(Prelude {
        total_len,
        headers_len,
    })
}

/// Checks the message CRC (before trusting any header) and the header block of a whole frame.
fn check_frame(frame: &[u8], prelude: Prelude, max_headers: usize) -> Result<usize, DecodeError> {
    let crc_at = frame.len().saturating_sub(MESSAGE_CRC_LEN);
    let (body, crc) = frame
        .split_at_checked(crc_at)
        .ok_or(DecodeError::InvalidTotalLength(prelude.total_len))?;
    let mut computed = Crc32::new();
    computed.update(body);
    let computed = computed.finalize();
    let expected = be_u32(crc);
    if computed != expected {
        return Err(DecodeError::MessageChecksumMismatch { expected, computed });
    }
    let block = body
        .get(PRELUDE_LEN..)
        .and_then(|rest| rest.get(..prelude.headers_len as usize))
        .ok_or(DecodeError::InvalidHeadersLength(prelude.headers_len))?;
    wire::validate_headers(block, max_headers)
}

fn be_u32(bytes: &[u8]) -> u32 {
    bytes
        .first_chunk()
        .map(|b| u32::from_be_bytes(*b))
        .unwrap_or_default()
}

/// A decoded message borrowed from the [`Decoder`]'s buffer: valid until the next call
/// on the decoder.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    headers: &'a [u8],
    payload: &'a [u8],
    header_count: usize,
}

impl<'a> Frame<'a> {
    /// `bytes` is a whole frame that passed [`check_frame`].
    fn split(bytes: &'a [u8], headers_len: u32, header_count: usize) -> Self {
        let body = bytes
            .get(PRELUDE_LEN..bytes.len().saturating_sub(MESSAGE_CRC_LEN))
            .unwrap_or_default();
        let (headers, payload) = body
            .split_at_checked(headers_len as usize)
            .unwrap_or_default();
        Frame {
            headers,
            payload,
            header_count,
        }
    }

    /// Headers in wire order.
    pub fn headers(&self) -> Headers<'a> {
        Headers::new(self.headers)
    }

    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<HeaderValueRef<'a>> {
        super::wire::find_header(self.headers, name)
    }

    /// The first header called `name`, if it is a string.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.header(name).and_then(|v| v.as_str())
    }

    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    pub fn to_message(&self) -> Message {
        let mut headers = Vec::with_capacity(self.header_count);
        headers.extend(self.headers().map(|h| h.to_owned()));
        Message {
            headers,
            payload: self.payload.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::{Header, HeaderValue, encode_to_vec};

    fn frames(count: usize, payload_len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..count {
            let msg = Message::new_event("chunk", vec![i as u8; payload_len]);
            crate::eventstream::encode(&msg, &mut out).unwrap();
        }
        out
    }

    fn drain(decoder: &mut Decoder) -> usize {
        let mut n = 0;
        while decoder.next_frame().unwrap().is_some() {
            n += 1;
        }
        n
    }

    #[test]
    fn byte_at_a_time_keeps_the_buffer_small() {
        let stream = frames(500, 100);
        let frame_len = stream.len() / 500;
        let mut decoder = Decoder::new();
        let mut decoded = 0;
        let mut peak = 0;
        for byte in stream.chunks(1) {
            decoder.feed(byte);
            decoded += drain(&mut decoder);
            peak = peak.max(decoder.buf.len());
        }
        assert_eq!(decoded, 500);
        assert!(
            peak <= 2 * frame_len,
            "buffer grew to {peak} for {frame_len}-byte frames"
        );
        decoder.finish().unwrap();
    }

    #[test]
    fn consumed_prefix_is_dropped_once_it_outweighs_the_rest() {
        let stream = frames(10, 50);
        let mut decoder = Decoder::new();
        decoder.feed(&stream);
        for _ in 0..4 {
            decoder.next_frame().unwrap().unwrap();
        }
        decoder.feed(&[0]);
        assert!(
            decoder.start > 0,
            "copied 6 live frames to drop 4 consumed ones"
        );
        // 6 consumed frames now outweigh 4 live ones (plus a byte).
        decoder.next_frame().unwrap().unwrap();
        decoder.next_frame().unwrap().unwrap();
        decoder.feed(&[0]);
        assert_eq!(decoder.start, 0);
        assert_eq!(decoder.buffered_len(), stream.len() / 10 * 4 + 2);
    }

    #[test]
    fn memory_of_a_large_frame_is_returned() {
        let mut decoder = Decoder::new();
        decoder.feed(&frames(1, 1 << 20));
        assert_eq!(drain(&mut decoder), 1);
        decoder.feed(&frames(1, 10));
        assert!(decoder.buf.capacity() <= RETAINED_CAPACITY);
        assert_eq!(drain(&mut decoder), 1);
    }

    #[test]
    fn large_frame_reserved_once_from_its_prelude() {
        let stream = frames(1, 1 << 20);
        let mut decoder = Decoder::new();
        decoder.feed(&stream[..PRELUDE_LEN]);
        assert!(decoder.next_frame().unwrap().is_none());
        assert!(decoder.buf.capacity() >= stream.len());
    }

    #[test]
    fn errors_are_sticky_and_later_bytes_ignored() {
        let mut stream = frames(2, 10);
        let last = stream.len() - 1;
        stream[last] ^= 0xFF;
        let mut decoder = Decoder::new();
        decoder.feed(&stream);
        assert!(decoder.next_message().unwrap().is_some());
        let err = decoder.next_message().unwrap_err();
        assert!(matches!(err, DecodeError::MessageChecksumMismatch { .. }));
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.buf.capacity(), 0);
        decoder.feed(&frames(1, 10));
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.next_frame().unwrap_err(), err);
        assert_eq!(decoder.finish(), Err(err));
    }

    #[test]
    fn finish_reports_a_partial_frame() {
        let stream = frames(1, 10);
        let mut decoder = Decoder::new();
        decoder.finish().unwrap();
        decoder.feed(&stream[..5]);
        assert!(decoder.next_message().unwrap().is_none());
        assert_eq!(
            decoder.finish(),
            Err(DecodeError::Truncated { buffered: 5 })
        );
        decoder.feed(&stream[5..]);
        assert!(decoder.next_message().unwrap().is_some());
        decoder.finish().unwrap();
    }

    #[test]
    fn borrowed_frame_reads_headers_in_place() {
        let msg = Message {
            headers: vec![
                Header::new(":event-type", HeaderValue::String("messageStop".into())),
                Header::new("n", HeaderValue::Int32(-3)),
                Header::new("n", HeaderValue::Int32(4)),
            ],
            payload: b"{}".to_vec(),
        };
        let mut decoder = Decoder::new();
        decoder.feed(&encode_to_vec(&msg).unwrap());
        let frame = decoder.next_frame().unwrap().unwrap();
        assert_eq!(frame.header_str(":event-type"), Some("messageStop"));
        assert_eq!(frame.header("n"), Some(HeaderValueRef::Int32(-3)));
        assert_eq!(frame.header_str("n"), None);
        assert_eq!(frame.headers().count(), 3);
        assert_eq!(frame.payload(), b"{}");
        assert_eq!(frame.to_message(), msg);
    }

    #[test]
    fn lookups_skip_every_header_type_by_its_length() {
        let values = [
            HeaderValue::Bool(true),
            HeaderValue::Bool(false),
            HeaderValue::Byte(-1),
            HeaderValue::Int16(-2),
            HeaderValue::Int32(3),
            HeaderValue::Int64(-4),
            HeaderValue::ByteArray(vec![0xff, 0, 1]),
            HeaderValue::String("é and more".into()),
            HeaderValue::Timestamp(1_700_000_000_000),
            HeaderValue::Uuid([7; 16]),
        ];
        let mut headers: Vec<Header> = (0..values.len())
            .map(|i| Header::new(format!("h{i}"), values[i].clone()))
            .collect();
        headers.push(Header::new("h", HeaderValue::Int32(9)));
        let msg = Message {
            headers,
            payload: Vec::new(),
        };
        let mut decoder = Decoder::new();
        decoder.feed(&encode_to_vec(&msg).unwrap());
        let frame = decoder.next_frame().unwrap().unwrap();
        for (i, value) in values.iter().enumerate() {
            assert_eq!(
                frame.header(&format!("h{i}")),
                Some(value.as_value_ref()),
                "h{i}"
            );
        }
        // A name that is a prefix of the others, a longer one, and one that is not there.
        assert_eq!(frame.header("h"), Some(HeaderValueRef::Int32(9)));
        assert_eq!(frame.header("h10"), None);
        assert_eq!(frame.header(""), None);
        assert_eq!(frame.header(&"x".repeat(300)), None);
    }
}
