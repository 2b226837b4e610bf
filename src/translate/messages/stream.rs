//! InvokeModelWithResponseStream (Claude) → Anthropic Messages server-sent events.
//!
//! Each decoded `chunk` is already an Anthropic stream event (`{"type": …}`); it goes out as
//! Anthropic's API sends it, `event: <type>\ndata: <json>\n\n`, with the bytes unchanged except
//! `message_start.message.model`, which becomes the client's model name (Bedrock puts its own
//! model ID there).
//!
//! `message_stop` keeps Bedrock's `amazon-bedrock-invocationMetrics` member (token counts and
//! latencies): the Anthropic SDKs ignore members they don't know, `AnthropicBedrock` clients
//! see the same member today, and keeping it avoids re-serialising the event.
//!
//! A stream that ends before `message_stop`, an exception or error frame, a corrupt frame or
//! an unreadable event ends the output with `event: error` (which the Anthropic SDKs raise
//! on) and nothing after it, so a partial answer is never mistaken for a complete one.

use std::borrow::Cow;

use serde::Deserialize;

use crate::anthropic::error_json;
use crate::bedrock::stream::ChunkDecoder;
use crate::error::ApiError;
use crate::json::{RawObject, to_json};
use crate::usage::Usage;

/// Longest event type accepted (Anthropic's are short snake_case names).
const MAX_EVENT_NAME_LEN: usize = 64;

/// Translates one InvokeModelWithResponseStream body of a `/v1/messages` call.
#[derive(Debug)]
pub struct MessagesStreamTranslator {
    chunks: ChunkDecoder,
    state: StreamState,
}

/// Everything but the decoder, so chunks borrowed from the decoder can drive it.
#[derive(Debug)]
struct StreamState {
    client_model: String,
    /// `message_stop` seen: the message is complete.
    stopped: bool,
    /// Token counts from `message_stop`'s `amazon-bedrock-invocationMetrics`.
    usage: Option<Usage>,
    /// Nothing more is written once set.
    ended: bool,
}

impl MessagesStreamTranslator {
    pub fn new(client_model: impl Into<String>) -> Self {
        MessagesStreamTranslator {
            chunks: ChunkDecoder::new(),
            state: StreamState {
                client_model: client_model.into(),
                stopped: false,
                usage: None,
                ended: false,
            },
        }
    }

    /// Bedrock's token counts, once `message_stop` arrived.
    pub fn usage(&self) -> Option<Usage> {
        self.state.usage
    }

    /// Translate more upstream bytes, appending SSE text to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.state.ended {
            return;
        }
        self.chunks.feed(bytes);
        while !self.state.ended {
            match self.chunks.next_chunk() {
                Ok(None) => return,
                Ok(Some(event)) => self.state.event(event, out),
                Err(e) => self.state.fail(&e, out),
            }
        }
    }

    /// The upstream body is complete: end the SSE stream, with an error if it was cut short.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let st = &mut self.state;
        if st.ended {
            return;
        }
        if let Err(e) = self.chunks.finish() {
            return st.fail(&e, out);
        }
        if !st.stopped {
            let e = ApiError::bad_upstream(
                "Bedrock's response stream ended before the message was complete",
            );
            return st.fail(&e, out);
        }
        st.ended = true;
    }
}

impl StreamState {
    fn fail(&mut self, err: &ApiError, out: &mut Vec<u8>) {
        log::warn!("bedrock-filter: messages stream failed: {err}");
        write_event("error", &error_json(err), out);
        self.ended = true;
    }

    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        #[derive(Deserialize)]
        struct Typed<'a> {
            #[serde(borrow, rename = "type")]
            kind: Cow<'a, str>,
            #[serde(default, rename = "amazon-bedrock-invocationMetrics")]
            metrics: Option<Usage>,
        }
        let kind = match serde_json::from_slice::<Typed<'_>>(event) {
            Ok(t) if is_event_name(&t.kind) => {
                if let Some(m) = t.metrics {
                    self.usage = Some(m);
                }
                t.kind
            }
            Ok(t) => {
                let e = ApiError::bad_upstream(format!(
                    "Bedrock streamed an event of unexpected type {:?}",
                    t.kind
                ));
                return self.fail(&e, out);
            }
            Err(e) => {
                let e =
                    ApiError::bad_upstream(format!("Bedrock streamed an unreadable event: {e}"));
                return self.fail(&e, out);
            }
        };
        match kind.as_ref() {
            "message_start" => match with_model(event, &self.client_model) {
                Ok(rewritten) => write_event(&kind, &rewritten, out),
                Err(e) => self.fail(&e, out),
            },
            "message_stop" => {
                self.stopped = true;
                write_event(&kind, event, out);
            }
            // The model's own error event (e.g. overloaded mid-stream) ends the stream as
            // Anthropic's API does; clients raise on it.
            "error" => {
                log::warn!("bedrock-filter: messages stream ended by an error event");
                write_event(&kind, event, out);
                self.ended = true;
            }
            _ => write_event(&kind, event, out),
        }
    }
}

/// `message_start` with `message.model` set to the client's model.
fn with_model(event: &[u8], client_model: &str) -> Result<Vec<u8>, ApiError> {
    let unreadable =
        |e| ApiError::bad_upstream(format!("Bedrock streamed an unreadable message_start: {e}"));
    let mut outer = RawObject::parse(event).map_err(unreadable)?;
    let message = {
        let raw = outer.get("message").ok_or_else(|| {
            ApiError::bad_upstream("Bedrock streamed a message_start without a message")
        })?;
        let mut inner = RawObject::parse_str(raw).map_err(unreadable)?;
        inner.set_raw("model", to_json(client_model));
        let mut buf = Vec::with_capacity(inner.written_len());
        inner.write(&mut buf);
        String::from_utf8(buf).map_err(|_| {
            ApiError::bad_upstream("Bedrock streamed a message_start that is not UTF-8")
        })?
    };
    outer.set_raw("message", message);
    let mut out = Vec::with_capacity(outer.written_len());
    outer.write(&mut out);
    Ok(out)
}

fn is_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_EVENT_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One SSE event. `data` is JSON; JSON has raw line breaks only as whitespace between tokens,
/// and a line break would end the SSE `data:` line, so they become spaces.
fn write_event(name: &str, data: &[u8], out: &mut Vec<u8>) {
    out.reserve(name.len() + data.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if data.iter().any(|&b| b == b'\n' || b == b'\r') {
        out.extend(
            data.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(data);
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::stream::testing::chunk;
    use crate::eventstream::{Header, HeaderValue, Message, encode};
    use serde_json::Value;

    /// Claude's events for a thinking block, a text block and a tool call, as Bedrock streams
    /// them (its model ID in message_start, invocation metrics on message_stop).
    const EVENTS: [&str; 17] = [
        r#"{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"User wants weather."}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Let me check\nthe weather "}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"in Zürich 🌦"}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Zü"}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"rich\"}"}}"#,
        r#"{"type":"content_block_stop","index":2}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}"#,
        r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":42,"invocationLatency":1234,"firstByteLatency":321}}"#,
    ];

    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        for e in EVENTS {
            chunk(e, &mut b);
        }
        b
    }

    fn run(input: &[u8], split: usize) -> String {
        let mut t = MessagesStreamTranslator::new("my-claude");
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            t.feed(piece, &mut out);
        }
        t.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// `(event, data)` pairs of an SSE text, checking the framing on the way.
    fn events(sse: &str) -> Vec<(String, Value)> {
        assert!(sse.is_empty() || sse.ends_with("\n\n"), "{sse}");
        sse.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (event, data) = e.split_once('\n').unwrap();
                let event = event.strip_prefix("event: ").unwrap();
                let data = data.strip_prefix("data: ").unwrap();
                assert!(!data.contains('\n'), "{data}");
                (event.to_string(), serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    #[test]
    fn golden_stream() {
        let out = run(&sample(), usize::MAX);
        let mut expected = String::new();
        for (i, e) in EVENTS.iter().enumerate() {
            let v: Value = serde_json::from_str(e).unwrap();
            let data = if i == 0 {
                e.replace("claude-sonnet-4-20250514", "my-claude")
            } else {
                e.to_string()
            };
            expected.push_str(&format!(
                "event: {}\ndata: {data}\n\n",
                v["type"].as_str().unwrap()
            ));
        }
        assert_eq!(out, expected);
        let ev = events(&out);
        assert_eq!(ev[0].1["message"]["model"], "my-claude");
        assert_eq!(ev[0].1["message"]["id"], "msg_bdrk_01");
        assert_eq!(ev.last().unwrap().0, "message_stop");
    }

    #[test]
    fn usage_comes_from_the_invocation_metrics() {
        let mut t = MessagesStreamTranslator::new("my-claude");
        let mut out = Vec::new();
        t.feed(&sample(), &mut out);
        t.finish(&mut out);
        let u = t.usage().unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (25, 42));
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let input = sample();
        let whole = run(&input, usize::MAX);
        for split in 1..input.len() {
            assert_eq!(run(&input, split), whole, "split {split}");
        }
        for cut in 0..input.len() {
            let mut t = MessagesStreamTranslator::new("my-claude");
            let mut out = Vec::new();
            t.feed(&input[..cut], &mut out);
            t.feed(&input[cut..], &mut out);
            t.finish(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), whole, "cut {cut}");
        }
    }

    /// The last event is the only error, and it is Anthropic's error shape.
    fn ends_in_error(sse: &str) -> Value {
        let ev = events(sse);
        let (name, data) = ev.last().unwrap();
        assert_eq!(name, "error", "{sse}");
        assert_eq!(data["type"], "error");
        assert_eq!(ev.iter().filter(|(n, _)| n == "error").count(), 1);
        data["error"].clone()
    }

    #[test]
    fn truncation_anywhere_ends_in_an_error() {
        let input = sample();
        for cut in 0..input.len() {
            let out = run(&input[..cut], 97);
            let err = ends_in_error(&out);
            assert_eq!(err["type"], "api_error", "cut {cut}");
        }
    }

    #[test]
    fn a_stream_without_message_stop_is_incomplete() {
        let mut b = Vec::new();
        for e in &EVENTS[..EVENTS.len() - 1] {
            chunk(e, &mut b);
        }
        let out = run(&b, usize::MAX);
        let err = ends_in_error(&out);
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("before the message was complete"),
            "{err}"
        );
        assert_eq!(events(&out).len(), EVENTS.len());
    }

    /// Feeds `input`, then more valid chunks and `finish`: nothing may follow the error.
    fn run_then_more(input: &[u8]) -> String {
        let mut t = MessagesStreamTranslator::new("my-claude");
        let mut out = Vec::new();
        t.feed(input, &mut out);
        let len = out.len();
        t.feed(&sample(), &mut out);
        t.finish(&mut out);
        assert_eq!(out.len(), len, "output after the error");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn exceptions_end_the_stream_with_their_class() {
        let cases = [
            ("throttlingException", "rate_limit_error"),
            ("validationException", "invalid_request_error"),
            ("modelStreamErrorException", "api_error"),
            ("modelTimeoutException", "api_error"),
            ("internalServerException", "api_error"),
            ("serviceUnavailableException", "overloaded_error"),
        ];
        for (kind, want) in cases {
            let mut b = Vec::new();
            chunk(EVENTS[0], &mut b);
            chunk(EVENTS[5], &mut b);
            let payload = br#"{"message":"Too many requests, account 123456789012"}"#.to_vec();
            encode(&Message::new_exception(kind, payload), &mut b).unwrap();
            chunk(EVENTS[7], &mut b);
            let out = run_then_more(&b);
            let err = ends_in_error(&out);
            assert_eq!(err["type"], want, "{kind}");
            assert_eq!(err["message"], "Too many requests, account ************");
            assert_eq!(events(&out).len(), 3, "{out}");
        }
    }

    #[test]
    fn error_frames_end_the_stream() {
        let mut b = Vec::new();
        chunk(EVENTS[0], &mut b);
        let msg = Message {
            headers: vec![
                Header::new(":message-type", HeaderValue::String("error".into())),
                Header::new(":error-code", HeaderValue::String("InternalFailure".into())),
                Header::new(":error-message", HeaderValue::String("oops".into())),
            ],
            payload: Vec::new(),
        };
        encode(&msg, &mut b).unwrap();
        let err = ends_in_error(&run_then_more(&b));
        assert_eq!(
            (err["type"].as_str(), err["message"].as_str()),
            (Some("api_error"), Some("oops"))
        );
    }

    #[test]
    fn corrupt_crc_is_an_error_not_a_skip() {
        let mut input = sample();
        let n = input.len();
        input[n / 2] ^= 0x40;
        let out = run(&input, 5);
        let err = ends_in_error(&out);
        assert!(
            err["message"].as_str().unwrap().contains("corrupt"),
            "{err}"
        );
        ends_in_error(&run_then_more(&input));
    }

    #[test]
    fn unreadable_events_end_the_stream() {
        for bad in [
            "not json",
            r#"{"no_type":1}"#,
            r#"{"type":"bad\nname"}"#,
            r#"{"type":""}"#,
            r#"{"type":"message_start","message":"x"}"#,
            r#"{"type":"message_start"}"#,
        ] {
            let mut b = Vec::new();
            chunk(bad, &mut b);
            let err = ends_in_error(&run_then_more(&b));
            assert_eq!(err["type"], "api_error", "{bad}");
        }
    }

    #[test]
    fn the_models_error_event_is_passed_on_and_ends_the_stream() {
        let mut b = Vec::new();
        chunk(EVENTS[0], &mut b);
        chunk(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &mut b,
        );
        let err = ends_in_error(&run_then_more(&b));
        assert_eq!(err["type"], "overloaded_error");
    }

    #[test]
    fn line_breaks_between_json_tokens_do_not_break_framing() {
        let mut b = Vec::new();
        chunk("{\"type\":\"ping\",\r\n\"x\":\"a\\nb\"}", &mut b);
        let out = run(&b, usize::MAX);
        assert!(
            out.starts_with("event: ping\ndata: {\"type\":\"ping\",  \"x\":\"a\\nb\"}\n\n"),
            "{out}"
        );
    }
}
