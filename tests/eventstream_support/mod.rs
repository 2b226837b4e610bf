//! Shared by the event-stream tests: a seeded generator of messages, the vectors directory,
//! and a chunked decode driver.
#![allow(dead_code)]

use std::path::PathBuf;

use bedrock_filter::eventstream::{DecodeError, Decoder, Header, HeaderValue, Message};

/// `tests/vectors/eventstream` (provenance and licences in its README).
pub fn vectors_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/eventstream");
    assert!(
        dir.is_dir(),
        "event-stream vectors not found at {}",
        dir.display()
    );
    dir
}

/// What a stream decodes to: the messages before the first error, and how it ended
/// (the error, or `finish()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub messages: Vec<Message>,
    pub end: Result<(), DecodeError>,
}

/// Feeds `bytes` in `chunk`-sized pieces, draining after each piece.
pub fn decode_chunked(bytes: &[u8], chunk: usize) -> Outcome {
    decode_with(Decoder::new(), bytes.chunks(chunk.max(1)))
}

pub fn decode_with<'a>(
    mut decoder: Decoder,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Outcome {
    let mut messages = Vec::new();
    for piece in pieces {
        decoder.feed(piece);
        loop {
            match decoder.next_message() {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => break,
                Err(e) => {
                    // Sticky: later calls must report the same error.
                    assert_eq!(decoder.next_message(), Err(e.clone()));
                    decoder.feed(b"more");
                    assert_eq!(decoder.next_message(), Err(e.clone()));
                    assert_eq!(decoder.finish(), Err(e.clone()));
                    return Outcome {
                        messages,
                        end: Err(e),
                    };
                }
            }
        }
    }
    Outcome {
        messages,
        end: decoder.finish(),
    }
}

/// SplitMix64: small, seeded, good enough to spread test cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A UTF-8 string of at most `max_bytes` bytes, mixing ASCII and multi-byte characters.
    pub fn string(&mut self, max_bytes: usize) -> String {
        const CHARS: [char; 8] = ['a', 'Z', ':', '-', ' ', 'é', '€', '𝄞'];
        let target = self.below(max_bytes + 1);
        let mut s = String::new();
        loop {
            let c = CHARS[self.below(CHARS.len())];
            if s.len() + c.len_utf8() > target {
                return s;
            }
            s.push(c);
        }
    }

    /// A value of wire type `type_code` (0..=9).
    pub fn value(&mut self, type_code: u8) -> HeaderValue {
        let long_var = self.below(20) == 0;
        match type_code {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(self.next_u64() as i8),
            3 => HeaderValue::Int16(self.next_u64() as i16),
            4 => HeaderValue::Int32(self.next_u64() as i32),
            5 => HeaderValue::Int64(self.next_u64() as i64),
            6 => {
                let len = if long_var {
                    self.below(65_536)
                } else {
                    self.below(40)
                };
                HeaderValue::ByteArray(self.bytes(len))
            }
            7 => HeaderValue::String(self.string(if long_var { 65_535 } else { 40 })),
            // Whole seconds plus ms, well inside what any DateTime type can hold.
            8 => HeaderValue::Timestamp(
                (self.next_u64() % 8_000_000_000_000) as i64 - 1_000_000_000_000,
            ),
            _ => {
                let mut uuid = [0u8; 16];
                uuid.copy_from_slice(&self.bytes(16));
                HeaderValue::Uuid(uuid)
            }
        }
    }

    /// A message with 0..12 headers of random types (all ten wire types appear across a
    /// few dozen messages) and a payload that is usually small, sometimes empty or large.
    pub fn message(&mut self) -> Message {
        let header_count = self.below(12);
        let headers = (0..header_count)
            .map(|_| {
                let name_max = if self.below(10) == 0 { 255 } else { 24 };
                let name = self.string(name_max);
                let type_code = self.below(10) as u8;
                Header {
                    name,
                    value: self.value(type_code),
                }
            })
            .collect();
        let payload_len = match self.below(10) {
            0 => 0,
            1 => self.below(100_000),
            _ => self.below(300),
        };
        Message {
            headers,
            payload: self.bytes(payload_len),
        }
    }
}

/// One header of every wire type.
pub fn all_types_message(payload: Vec<u8>) -> Message {
    let h = |name: &str, value| Header {
        name: name.to_owned(),
        value,
    };
    Message {
        headers: vec![
            h("true", HeaderValue::Bool(true)),
            h("false", HeaderValue::Bool(false)),
            h("byte", HeaderValue::Byte(-7)),
            h("short", HeaderValue::Int16(-20_000)),
            h("int", HeaderValue::Int32(500_000)),
            h("long", HeaderValue::Int64(-50_000_000_000)),
            h("bytes", HeaderValue::ByteArray(b"some bytes".to_vec())),
            h("str", HeaderValue::String("some str ✓".to_owned())),
            h("time", HeaderValue::Timestamp(1_700_000_000_123)),
            h("uuid", HeaderValue::Uuid(*b"0123456789abcdef")),
        ],
        payload,
    }
}

/// Recomputes both CRCs of the frame at the front of `bytes` (its `total_len` says where it
/// ends), so a hand-mutated frame reaches header validation.
pub fn repair_crcs(bytes: &mut [u8]) {
    use bedrock_filter::eventstream::crc32;
    let total = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    let prelude_crc = crc32(&bytes[..8]);
    bytes[8..12].copy_from_slice(&prelude_crc.to_be_bytes());
    let message_crc = crc32(&bytes[..total - 4]);
    bytes[total - 4..total].copy_from_slice(&message_crc.to_be_bytes());
}

/// A frame with the given raw header block and payload, CRCs correct.
pub fn raw_frame(headers_block: &[u8], payload: &[u8]) -> Vec<u8> {
    let total = 16 + headers_block.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers_block.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(headers_block);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[0; 4]);
    repair_crcs(&mut out);
    out
}
