//! Bedrock's streamed answers: which frames are events and which report an error, and the
//! payload parts of InvokeModelWithResponseStream.
//!
//! Both streaming operations answer with an AWS event stream. [`event_of`] triages one frame
//! for every stream translator: an `event` frame is an [`Event`] (its `:event-type` and
//! payload); `exception` and `error` frames, and message types the API does not define, are
//! the [`ApiError`] they report. ConverseStream's events are the Converse stream events
//! themselves.
//!
//! InvokeModelWithResponseStream's `chunk` events carry `{"bytes": "<base64>"}` (plus Bedrock's
//! random `"p"` padding); the decoded bytes are one model-native event, e.g. an Anthropic
//! Messages stream event. [`ChunkDecoder`] takes the body in any split and hands back those
//! decoded bytes, borrowed from one reusable buffer, so each event is copied once
//! (base64 → scratch) between the proxy's buffer and the translator. Corrupt frames and
//! undecodable payloads become an [`ApiError`] too; the first one is sticky, so a broken
//! stream can't be read past.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::error::{exception, stream_error};
use crate::error::ApiError;
use crate::eventstream::{Decoder, Frame, header_name, message_type};

/// The `:event-type` of a payload part.
pub const CHUNK_EVENT: &str = "chunk";

/// Scratch capacity kept between chunks; a larger one (after an unusually large chunk) is
/// released so idle streams stay small.
const RETAINED_SCRATCH: usize = 64 * 1024;

/// Incremental reader of an InvokeModelWithResponseStream body.
///
/// ```text
/// decoder.feed(bytes);
/// while let Some(event) = decoder.next_chunk()? { /* event: &[u8] */ }
/// // at end of body:
/// decoder.finish()?;
/// ```
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    frames: Decoder,
    /// The base64-decoded bytes of the last chunk handed out.
    scratch: Vec<u8>,
    failed: Option<ApiError>,
}

impl ChunkDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers more of the body. Bytes after an error are dropped.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.frames.feed(bytes);
        }
    }

    /// The decoded `bytes` of the next `chunk` event, valid until the next call.
    /// `Ok(None)`: feed more bytes. Chunks with empty `bytes` and event types other than
    /// `chunk` are skipped. After an error every call returns it again.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, ApiError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.scratch.capacity() > RETAINED_SCRATCH {
            self.scratch = Vec::new();
        }
        loop {
            let frame = match self.frames.next_frame() {
                Ok(None) => return Ok(None),
                Ok(Some(frame)) => frame,
                Err(e) => {
                    let err = ApiError::bad_upstream(format!(
                        "Bedrock's response stream is corrupt: {e}"
                    ));
                    return Err(self.failed.insert(err).clone());
                }
            };
            self.scratch.clear();
            match decode_frame(&frame, &mut self.scratch) {
                Ok(true) if !self.scratch.is_empty() => return Ok(Some(&self.scratch)),
                Ok(_) => {}
                Err(err) => return Err(self.failed.insert(err).clone()),
            }
        }
    }

    /// At the end of the body (after draining [`next_chunk`](ChunkDecoder::next_chunk)): an
    /// error if the body stopped inside a frame, or the earlier error.
    pub fn finish(&self) -> Result<(), ApiError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.frames.finish().map_err(|e| {
            ApiError::bad_upstream(format!("Bedrock's response stream ended early: {e}"))
        })
    }
}

/// One event of a Bedrock event stream: its `:event-type` and JSON payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    pub event_type: Option<&'a str>,
    pub payload: &'a [u8],
}

/// The event a frame carries, or the error it reports: an `exception` frame (a modelled
/// exception such as `throttlingException`), an `error` frame (`:error-code`,
/// `:error-message`), or a message type the API does not define.
pub fn event_of<'a>(frame: &Frame<'a>) -> Result<Event<'a>, ApiError> {
    match frame.header_str(header_name::MESSAGE_TYPE) {
        Some(message_type::EVENT) => Ok(Event {
            event_type: frame.header_str(header_name::EVENT_TYPE),
            payload: frame.payload(),
        }),
        Some(message_type::EXCEPTION) => {
            let kind = frame
                .header_str(header_name::EXCEPTION_TYPE)
                .unwrap_or("internalServerException");
            Err(exception(kind, frame.payload()))
        }
        Some(message_type::ERROR) => {
            let code = frame
                .header_str(header_name::ERROR_CODE)
                .unwrap_or("InternalFailure");
            let message = frame.header_str(header_name::ERROR_MESSAGE).unwrap_or("");
            Err(stream_error(code, message))
        }
        other => Err(ApiError::bad_upstream(format!(
            "Bedrock sent an event-stream message of type {other:?}"
        ))),
    }
}

/// Decodes a `chunk` frame's bytes into `out`. `Ok(false)`: a frame to skip.
fn decode_frame(frame: &Frame<'_>, out: &mut Vec<u8>) -> Result<bool, ApiError> {
    let event = event_of(frame)?;
    // ResponseStream has one event, `chunk`; events added to the API later carry nothing
    // this decoder's consumers could use.
    if event.event_type != Some(CHUNK_EVENT) {
        return Ok(false);
    }
    #[derive(Deserialize)]
    struct PayloadPart<'a> {
        #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
        bytes: Option<Cow<'a, str>>,
    }
    let part: PayloadPart<'_> = serde_json::from_slice(event.payload).map_err(|e| {
        ApiError::bad_upstream(format!("Bedrock sent an unreadable stream chunk: {e}"))
    })?;
    let Some(bytes) = part.bytes else {
        return Ok(false);
    };
    STANDARD.decode_vec(bytes.as_bytes(), out).map_err(|e| {
        ApiError::bad_upstream(format!(
            "Bedrock sent a stream chunk that is not base64: {e}"
        ))
    })?;
    Ok(true)
}

/// Bedrock's streamed frames, as test input for every stream translator.
#[cfg(test)]
pub(crate) mod testing {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::{Value, json};

    use super::CHUNK_EVENT;
    use crate::eventstream::{Message, encode};

    /// Bedrock's random padding member.
    const PADDING: &str = "abcdefghijklmnopqrstuvwxyz0123";

    /// One ConverseStream event frame (with Bedrock's `"p"` padding added to the payload).
    pub fn event(event_type: &str, mut payload: Value, out: &mut Vec<u8>) {
        payload["p"] = json!(PADDING);
        let msg = Message::new_event(event_type, serde_json::to_vec(&payload).unwrap());
        encode(&msg, out).unwrap();
    }

    /// One InvokeModelWithResponseStream `chunk` frame carrying `bytes`.
    pub fn chunk(bytes: impl AsRef<[u8]>, out: &mut Vec<u8>) {
        let payload = json!({"bytes": STANDARD.encode(bytes), "p": PADDING});
        let msg = Message::new_event(CHUNK_EVENT, serde_json::to_vec(&payload).unwrap());
        encode(&msg, out).unwrap();
    }

    /// A `chunk` frame carrying the JSON `event`.
    pub fn chunk_json(event: &Value, out: &mut Vec<u8>) {
        chunk(serde_json::to_vec(event).unwrap(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::testing::chunk;
    use super::*;
    use crate::error::ErrorType;
    use crate::eventstream::{Header, HeaderValue, Message, encode};

    /// Everything the decoder yields for `input` fed in `split`-byte pieces, then `finish`.
    fn drain(input: &[u8], split: usize) -> (Vec<Vec<u8>>, Result<(), ApiError>) {
        let mut d = ChunkDecoder::new();
        let mut got = Vec::new();
        for piece in input.chunks(split.max(1)) {
            d.feed(piece);
            loop {
                match d.next_chunk() {
                    Ok(Some(bytes)) => got.push(bytes.to_vec()),
                    Ok(None) => break,
                    Err(e) => return (got, Err(e)),
                }
            }
        }
        (got, d.finish())
    }

    #[test]
    fn yields_decoded_chunks_in_any_split() {
        let events: [&[u8]; 3] = [br#"{"type":"message_start"}"#, b"x", &[0xff, 0, 1]];
        let mut input = Vec::new();
        for e in events {
            chunk(e, &mut input);
        }
        for split in 1..=input.len() {
            let (got, end) = drain(&input, split);
            assert_eq!(got, events.map(<[u8]>::to_vec), "split {split}");
            end.unwrap();
        }
    }

    #[test]
    fn skips_padding_only_chunks_and_other_events() {
        let mut input = Vec::new();
        let only_padding = Message::new_event(CHUNK_EVENT, br#"{"p":"abc"}"#.to_vec());
        encode(&only_padding, &mut input).unwrap();
        let other = Message::new_event("somethingNew", br#"{"x":1}"#.to_vec());
        encode(&other, &mut input).unwrap();
        chunk(b"", &mut input);
        chunk(b"ok", &mut input);
        let (got, end) = drain(&input, usize::MAX);
        assert_eq!(got, vec![b"ok".to_vec()]);
        end.unwrap();
    }

    #[test]
    fn exceptions_map_to_their_class_and_stick() {
        let cases = [
            ("throttlingException", 429, ErrorType::RateLimit),
            ("validationException", 400, ErrorType::InvalidRequest),
            ("modelStreamErrorException", 424, ErrorType::Api),
            ("modelTimeoutException", 408, ErrorType::Api),
            ("internalServerException", 500, ErrorType::Api),
            ("serviceUnavailableException", 503, ErrorType::Api),
            ("brandNewException", 502, ErrorType::Api),
        ];
        for (kind, status, class) in cases {
            let mut input = Vec::new();
            chunk(b"first", &mut input);
            let body = br#"{"message":"no for account 123456789012"}"#.to_vec();
            encode(&Message::new_exception(kind, body), &mut input).unwrap();
            chunk(b"never", &mut input);
            let mut d = ChunkDecoder::new();
            d.feed(&input);
            assert_eq!(d.next_chunk().unwrap(), Some(&b"first"[..]));
            let err = d.next_chunk().unwrap_err();
            assert_eq!((err.status, err.kind), (status, class), "{kind}");
            assert_eq!(err.message, "no for account ************");
            d.feed(&input);
            assert_eq!(d.next_chunk().unwrap_err(), err);
            assert_eq!(d.finish().unwrap_err(), err);
        }
    }

    #[test]
    fn error_frames_use_their_headers() {
        let msg = Message {
            headers: vec![
                Header::new(":message-type", HeaderValue::String("error".into())),
                Header::new(
                    ":error-code",
                    HeaderValue::String("ThrottlingException".into()),
                ),
                Header::new(":error-message", HeaderValue::String("slow down".into())),
            ],
            payload: Vec::new(),
        };
        let mut input = Vec::new();
        encode(&msg, &mut input).unwrap();
        let (_, end) = drain(&input, 3);
        let err = end.unwrap_err();
        assert_eq!((err.status, err.message.as_str()), (429, "slow down"));
    }

    #[test]
    fn corrupt_frames_and_payloads_are_errors() {
        let mut input = Vec::new();
        chunk(b"one", &mut input);
        chunk(b"two", &mut input);
        let n = input.len();
        input[n - 10] ^= 0x01;
        let (got, end) = drain(&input, 4);
        assert_eq!(got, vec![b"one".to_vec()]);
        let err = end.unwrap_err();
        assert_eq!(err.status, 502);
        assert!(err.message.contains("corrupt"), "{}", err.message);

        for payload in [
            &br#"{"bytes":"!!notbase64"}"#[..],
            b"not json",
            br#"{"bytes":7}"#,
        ] {
            let mut input = Vec::new();
            encode(
                &Message::new_event(CHUNK_EVENT, payload.to_vec()),
                &mut input,
            )
            .unwrap();
            let (got, end) = drain(&input, usize::MAX);
            assert!(got.is_empty());
            assert_eq!(end.unwrap_err().status, 502);
        }
    }

    #[test]
    fn truncation_is_reported_by_finish() {
        let mut input = Vec::new();
        chunk(b"whole", &mut input);
        let whole = input.len();
        chunk(b"cut", &mut input);
        let (got, end) = drain(&input[..whole + 5], usize::MAX);
        assert_eq!(got, vec![b"whole".to_vec()]);
        let err = end.unwrap_err();
        assert!(err.message.contains("ended early"), "{}", err.message);
    }

    #[test]
    fn large_scratch_is_released() {
        let mut input = Vec::new();
        chunk(vec![b'a'; 200_000], &mut input);
        chunk(b"small", &mut input);
        let mut d = ChunkDecoder::new();
        d.feed(&input);
        assert_eq!(d.next_chunk().unwrap().map(<[u8]>::len), Some(200_000));
        assert_eq!(d.next_chunk().unwrap(), Some(&b"small"[..]));
        assert!(d.scratch.capacity() <= RETAINED_SCRATCH);
    }
}
