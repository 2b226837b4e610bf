//! InvokeModelWithResponseStream bodies → the model's own stream events.
//!
//! The response is an AWS event stream whose `chunk` events carry `{"bytes": "<base64>"}`
//! (plus Bedrock's random `"p"` padding); the decoded bytes are one model-native event, e.g.
//! an Anthropic Messages stream event. [`ChunkDecoder`] takes the body in any split and hands
//! back those decoded bytes, borrowed from one reusable buffer, so each event is copied once
//! (base64 → scratch) between the proxy's buffer and the translator.
//!
//! Exception frames, `error` frames, corrupt frames and undecodable payloads become an
//! [`ApiError`]; the first one is sticky, so a broken stream can't be read past.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::error::{from_code, redact};
use crate::error::{ApiError, ErrorType};
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

/// Decodes a `chunk` frame's bytes into `out`. `Ok(false)`: a frame to skip.
fn decode_frame(frame: &Frame<'_>, out: &mut Vec<u8>) -> Result<bool, ApiError> {
    match frame.header_str(header_name::MESSAGE_TYPE) {
        Some(message_type::EVENT) => {}
        Some(message_type::EXCEPTION) => {
            let kind = frame
                .header_str(header_name::EXCEPTION_TYPE)
                .unwrap_or("internalServerException");
            return Err(exception(kind, frame.payload()));
        }
        Some(message_type::ERROR) => {
            let code = frame
                .header_str(header_name::ERROR_CODE)
                .unwrap_or("InternalFailure");
            let message = frame.header_str(header_name::ERROR_MESSAGE).unwrap_or("");
            return Err(stream_error(code, message));
        }
        other => {
            return Err(ApiError::bad_upstream(format!(
                "Bedrock sent an event-stream message of type {other:?}"
            )));
        }
    }
    // ResponseStream has one event, `chunk`; events added to the API later carry nothing
    // this decoder's consumers could use.
    if frame.header_str(header_name::EVENT_TYPE) != Some(CHUNK_EVENT) {
        return Ok(false);
    }
    #[derive(Deserialize)]
    struct PayloadPart<'a> {
        #[serde(borrow, default)]
        bytes: Option<Cow<'a, str>>,
    }
    let part: PayloadPart<'_> = serde_json::from_slice(frame.payload()).map_err(|e| {
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

/// An exception frame (`:exception-type` is the lower-camel member name, e.g.
/// `throttlingException`) as an error of the matching class. The message comes from the
/// payload, redacted.
pub fn exception(kind: &str, payload: &[u8]) -> ApiError {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default, alias = "Message")]
        message: Option<String>,
    }
    let message = serde_json::from_slice::<Body>(payload)
        .ok()
        .and_then(|b| b.message)
        .filter(|m| !m.is_empty())
        .map(|m| redact(&m))
        .unwrap_or_else(|| format!("Bedrock stream failed: {kind}"));
    let mut code = String::with_capacity(kind.len());
    let mut chars = kind.chars();
    if let Some(first) = chars.next() {
        code.extend(first.to_uppercase());
        code.push_str(chars.as_str());
    }
    upstream_failure(from_code(502, &code, message))
}

/// An `error` frame (`:error-code`, `:error-message`, empty payload).
pub fn stream_error(code: &str, message: &str) -> ApiError {
    let message = if message.is_empty() {
        format!("Bedrock stream failed: {code}")
    } else {
        redact(message)
    };
    upstream_failure(from_code(502, code, message))
}

/// An unknown code falls back to status 502, which `from_code` files under 4xx-or-5xx by
/// status; a 502 is never the caller's fault.
fn upstream_failure(mut err: ApiError) -> ApiError {
    if err.status == 502 {
        err.kind = ErrorType::Api;
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventstream::{Header, HeaderValue, Message, encode};

    fn chunk(event: &[u8], out: &mut Vec<u8>) {
        let payload = serde_json::json!({"bytes": STANDARD.encode(event), "p": "abcdefghij"});
        let msg = Message::new_event(CHUNK_EVENT, serde_json::to_vec(&payload).unwrap());
        encode(&msg, out).unwrap();
    }

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
        chunk(&vec![b'a'; 200_000], &mut input);
        chunk(b"small", &mut input);
        let mut d = ChunkDecoder::new();
        d.feed(&input);
        assert_eq!(d.next_chunk().unwrap().map(<[u8]>::len), Some(200_000));
        assert_eq!(d.next_chunk().unwrap(), Some(&b"small"[..]));
        assert!(d.scratch.capacity() <= RETAINED_SCRATCH);
    }
}
