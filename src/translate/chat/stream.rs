//! ConverseStream (binary AWS event-stream) → OpenAI `chat.completion.chunk` server-sent events.
//!
//! A state machine fed the upstream body in whatever pieces the proxy hands over. It keeps only
//! the decoder's partial frame and a few counters per stream, and writes each SSE event straight
//! into the output buffer. One id, one `created`, one model for the whole stream; tool calls get
//! dense OpenAI indexes in the order they start, not Bedrock's `contentBlockIndex`.
//!
//! A stream that ends before `messageStop`, an exception or error frame, or a corrupt frame ends
//! the SSE stream with a `data: {"error": …}` event and no `[DONE]`, so clients raise instead of
//! taking a partial answer for a complete one.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::response::{CompletionMeta, completion_usage};
use super::tools::ToolNames;
use crate::bedrock::converse::finish_reason;
use crate::bedrock::stream::event_of;
use crate::error::ApiError;
use crate::eventstream::{Decoder, Frame};
use crate::json::{JsonText, scan_literal};
use crate::usage::Usage;

/// Translates one ConverseStream response.
#[derive(Debug)]
pub struct ConverseStreamTranslator {
    frames: ConverseFrames,
    state: StreamState,
}

/// What a ConverseStream drives, one [`Step`] at a time: chat's [`StreamState`], the
/// Responses API's events.
pub(crate) trait StepSink {
    fn apply(&mut self, step: Step<'_>, out: &mut Vec<u8>);
    /// Nothing more is written once set.
    fn is_ended(&self) -> bool;
    /// The upstream body is complete (`decoded`: whether the decoder ended cleanly).
    fn finish(&mut self, decoded: Result<(), ApiError>, out: &mut Vec<u8>);
}

/// A ConverseStream body, fed in any split, decoded frame by frame into a [`StepSink`]; a
/// corrupt frame or a cut fails the sink.
#[derive(Debug)]
pub(crate) struct ConverseFrames {
    decoder: Decoder,
}

impl ConverseFrames {
    pub(crate) fn new() -> Self {
        ConverseFrames {
            decoder: Decoder::new(),
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8], sink: &mut impl StepSink, out: &mut Vec<u8>) {
        if sink.is_ended() {
            return;
        }
        self.decoder.feed(bytes);
        loop {
            let step = match self.decoder.next_frame() {
                Ok(None) => return,
                Ok(Some(frame)) => Step::from_frame(&frame),
                Err(e) => Step::Fail(ApiError::bad_upstream(format!(
                    "Bedrock's response stream is corrupt: {e}"
                ))),
            };
            sink.apply(step, out);
            if sink.is_ended() {
                return;
            }
        }
    }

    pub(crate) fn finish(&mut self, sink: &mut impl StepSink, out: &mut Vec<u8>) {
        let decoded = self.decoder.finish().map_err(|e| {
            ApiError::bad_upstream(format!("Bedrock's response stream ended early: {e}"))
        });
        sink.finish(decoded, out);
    }
}

/// Everything but the decoder, so frames borrowed from the decoder can drive it. Other event
/// sources (the InvokeModel families in [`crate::translate::chat::invoke`]) drive it with the same
/// [`Step`]s, so every stream gets the same guarantees.
#[derive(Debug)]
pub(crate) struct StreamState {
    meta: CompletionMeta,
    /// What every chunk of the stream starts with, up to its choice: written once.
    prefix: Vec<u8>,
    /// What every chunk with a choice ends with, after it: with `include_usage`, OpenAI gives
    /// those chunks `"usage": null` and the last one, without choices, the usage.
    suffix: &'static [u8],
    include_usage: bool,
    names: ToolNames,
    /// `contentBlockIndex` of each tool call, in OpenAI index order.
    tool_blocks: Vec<u32>,
    /// `contentBlockIndex` of calls of the `json_object` stand-in tool: their input is content.
    answer_blocks: Vec<u32>,
    stopped: bool,
    /// `metadata` (usage) is the last event Bedrock sends; a stream is complete only after it.
    got_metadata: bool,
    /// Bedrock's usage from `metadata`, for stats and access logs.
    usage: Option<Usage>,
    ended: bool,
}

impl StreamState {
    pub(crate) fn new(meta: CompletionMeta, include_usage: bool, names: ToolNames) -> Self {
        StreamState {
            prefix: chunk_prefix(&meta),
            suffix: if include_usage {
                b"],\"usage\":null}\n\n"
            } else {
                b"]}\n\n"
            },
            meta,
            include_usage,
            names,
            tool_blocks: Vec::new(),
            answer_blocks: Vec::new(),
            stopped: false,
            got_metadata: false,
            usage: None,
            ended: false,
        }
    }

    /// Bedrock's usage, once the stream's `metadata` (or the family's last event) arrived.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Nothing more is written once set (an error ended the stream, or it finished).
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// The upstream body is complete (`decoded` says whether the decoder ended cleanly): write
    /// `[DONE]`, or an error if the message was cut short.
    pub(crate) fn finish(&mut self, decoded: Result<(), ApiError>, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if let Err(e) = decoded {
            return self.fail(&e, out);
        }
        if !self.stopped || !self.got_metadata {
            let err = ApiError::bad_upstream(
                "Bedrock's response stream ended before the message was complete",
            );
            return self.fail(&err, out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.ended = true;
    }
}

impl ConverseStreamTranslator {
    pub fn new(meta: CompletionMeta, include_usage: bool, names: ToolNames) -> Self {
        ConverseStreamTranslator {
            frames: ConverseFrames::new(),
            state: StreamState::new(meta, include_usage, names),
        }
    }

    /// Bedrock's usage, once the stream's `metadata` event arrived.
    pub fn usage(&self) -> Option<Usage> {
        self.state.usage()
    }

    /// Translate more upstream bytes, appending SSE text to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.frames.feed(bytes, &mut self.state, out);
    }

    /// The upstream body is complete: close the SSE stream, with an error if it was cut short.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.frames.finish(&mut self.state, out);
    }
}

impl StepSink for StreamState {
    fn apply(&mut self, step: Step<'_>, out: &mut Vec<u8>) {
        StreamState::apply(self, step, out);
    }

    fn is_ended(&self) -> bool {
        self.ended
    }

    fn finish(&mut self, decoded: Result<(), ApiError>, out: &mut Vec<u8>) {
        StreamState::finish(self, decoded, out);
    }
}

impl StreamState {
    pub(crate) fn fail(&mut self, err: &ApiError, out: &mut Vec<u8>) {
        log::warn!("bedrock-filter: stream {} failed: {err}", self.meta.id);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&err.to_json());
        out.extend_from_slice(b"\n\n");
        self.ended = true;
    }

    pub(crate) fn apply(&mut self, step: Step, out: &mut Vec<u8>) {
        match step {
            // A chat chunk has nothing to say when a block ends.
            Step::Skip | Step::BlockStop(_) => {}
            Step::Fail(e) => self.fail(&e, out),
            Step::Role => self.chunk(
                Delta {
                    role: Some("assistant"),
                    content: Some(JsonText::from("")),
                    ..Delta::default()
                },
                None,
                out,
            ),
            Step::Text(t) => self.text_chunk(&t, out),
            Step::Reasoning(t) => self.chunk(
                Delta {
                    reasoning_content: Some(t),
                    ..Delta::default()
                },
                None,
                out,
            ),
            Step::Signature(s) => self.chunk(
                Delta {
                    reasoning_signature: Some(&s),
                    ..Delta::default()
                },
                None,
                out,
            ),
            Step::ToolStart { block, id, name } => {
                if self.names.is_response_tool(&name) {
                    self.answer_blocks.push(block);
                    return;
                }
                let name = self.names.to_client(&name);
                let index = self.tool_blocks.len();
                self.tool_blocks.push(block);
                let call = ToolCallDelta {
                    index,
                    id: Some(&id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(name),
                        arguments: "",
                    },
                };
                self.chunk(
                    Delta {
                        tool_calls: Some([call]),
                        ..Delta::default()
                    },
                    None,
                    out,
                );
            }
            Step::ToolInput { block, input } if self.answer_blocks.contains(&block) => self.chunk(
                Delta {
                    content: Some(JsonText::from(input.as_ref())),
                    ..Delta::default()
                },
                None,
                out,
            ),
            Step::ToolInput { block, input } => {
                let Some(index) = self.tool_blocks.iter().position(|b| *b == block) else {
                    let e = ApiError::bad_upstream(format!(
                        "Bedrock streamed tool input for block {block} that never started"
                    ));
                    return self.fail(&e, out);
                };
                let call = ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: &input,
                    },
                };
                self.chunk(
                    Delta {
                        tool_calls: Some([call]),
                        ..Delta::default()
                    },
                    None,
                    out,
                );
            }
            Step::Stop(reason) => {
                self.stopped = true;
                let finish = if reason == "tool_use"
                    && self.tool_blocks.is_empty()
                    && !self.answer_blocks.is_empty()
                {
                    // The model answered through the `json_object` stand-in tool.
                    "stop"
                } else {
                    finish_reason(&reason)
                };
                self.chunk(Delta::default(), Some(finish), out);
            }
            Step::Usage(u) => {
                self.got_metadata = true;
                self.usage = Some(u);
                if self.include_usage {
                    self.usage_chunk(u, out);
                }
            }
        }
    }

    /// One `chat.completion.chunk` event: the stream's prefix, then the choice. The same
    /// bytes as serialising a whole [`Chunk`], without escaping id and model every time.
    fn chunk(&self, delta: Delta<'_>, finish_reason: Option<&'static str>, out: &mut Vec<u8>) {
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        };
        out.extend_from_slice(&self.prefix);
        // Writing plain structs into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &choice);
        out.extend_from_slice(self.suffix);
    }

    /// A text delta, the event of nearly every chunk, written without serde: the bytes
    /// [`StreamState::chunk`] writes for a delta with only `content`, with Bedrock's text
    /// literal copied in.
    fn text_chunk(&self, text: &JsonText<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(br#"{"index":0,"delta":{"content":"#);
        text.write_json(out);
        out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":null}");
        out.extend_from_slice(self.suffix);
    }

    fn usage_chunk(&self, u: Usage, out: &mut Vec<u8>) {
        let chunk = Chunk {
            id: &self.meta.id,
            object: "chat.completion.chunk",
            created: self.meta.created,
            model: &self.meta.model,
            choices: &[],
            usage: Some(completion_usage(&u)),
        };
        write_event(&chunk, out);
    }
}

/// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[`: the
/// start of every chunk of a stream with choices, as [`Chunk`] serialises it.
fn chunk_prefix(meta: &CompletionMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + meta.id.len() + meta.model.len());
    write_event(
        &Chunk {
            id: &meta.id,
            object: "chat.completion.chunk",
            created: meta.created,
            model: &meta.model,
            choices: &[],
            usage: None,
        },
        &mut out,
    );
    // `…"choices":[]}\n\n` → `…"choices":[`
    out.truncate(out.len().saturating_sub(b"]}\n\n".len()));
    out
}

fn write_event<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    // Writing plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
    out.extend_from_slice(b"\n\n");
}

/// What one upstream event means for the client. `Stop` carries a Converse `stopReason`
/// (other APIs map theirs to it); `Usage` is the last event of a complete message.
pub(crate) enum Step<'a> {
    Skip,
    Role,
    /// Text as Bedrock's JSON wrote it, copied into the chunk as is.
    Text(JsonText<'a>),
    Reasoning(JsonText<'a>),
    Signature(Cow<'a, str>),
    ToolStart {
        block: u32,
        id: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    ToolInput {
        block: u32,
        input: Cow<'a, str>,
    },
    /// The content block at this index is complete (Converse `contentBlockStop`).
    BlockStop(u32),
    Stop(Cow<'a, str>),
    Usage(Usage),
    Fail(ApiError),
}

impl<'a> Step<'a> {
    fn from_frame(frame: &Frame<'a>) -> Step<'a> {
        match event_of(frame) {
            Ok(event) => Step::from_event(event.event_type, event.payload),
            Err(e) => Step::Fail(e),
        }
    }

    /// A ConverseStream event of type `event_type` (`messageStart`, `contentBlockDelta`, …)
    /// with its JSON payload. Amazon Nova's InvokeModel stream carries the same events as
    /// `{"<type>": <payload>}` chunks, so its family maps them through here too.
    pub(crate) fn from_event(event_type: Option<&str>, payload: &'a [u8]) -> Step<'a> {
        if event_type == Some("contentBlockDelta")
            && let Some(text) = text_delta(payload)
        {
            return Step::Text(text);
        }
        let parsed = match event_type {
            Some("messageStart") => Ok(Step::Role),
            Some("contentBlockStart") => {
                serde_json::from_slice::<BlockStart>(payload).map(|e| match e.start.tool_use {
                    Some(t) => Step::ToolStart {
                        block: e.content_block_index,
                        id: t.tool_use_id,
                        name: t.name,
                    },
                    None => Step::Skip,
                })
            }
            Some("contentBlockDelta") => serde_json::from_slice::<BlockDelta>(payload).map(|e| {
                let d = e.delta;
                if let Some(t) = d.text {
                    Step::Text(t)
                } else if let Some(t) = d.tool_use {
                    Step::ToolInput {
                        block: e.content_block_index,
                        input: t.input,
                    }
                } else if let Some(r) = d.reasoning_content {
                    match (r.text, r.signature) {
                        (Some(t), _) => Step::Reasoning(t),
                        (None, Some(s)) => Step::Signature(s),
                        (None, None) => Step::Skip,
                    }
                } else {
                    Step::Skip
                }
            }),
            // Nothing else in it matters: one without its index is skipped as before.
            Some("contentBlockStop") => Ok(serde_json::from_slice::<BlockStop>(payload)
                .map_or(Step::Skip, |e| Step::BlockStop(e.content_block_index))),
            Some("messageStop") => {
                serde_json::from_slice::<MessageStop>(payload).map(|e| Step::Stop(e.stop_reason))
            }
            Some("metadata") => {
                serde_json::from_slice::<Metadata>(payload).map(|e| Step::Usage(e.usage))
            }
            // Event types added to the API later carry nothing to send.
            _ => Ok(Step::Skip),
        };
        parsed.unwrap_or_else(|e| {
            Step::Fail(ApiError::bad_upstream(format!(
                "Bedrock sent an unreadable stream event: {e}"
            )))
        })
    }
}

/// `{"contentBlockIndex":N,"delta":{"text":"…"}}`, with or without Bedrock's padding
/// (`,"p":"abc…"`): the payload of nearly every event of a text answer, read without serde.
/// Any other shape (reasoning, tool input, members in another order, spaces) goes to serde.
fn text_delta(payload: &[u8]) -> Option<JsonText<'_>> {
    let rest = payload.strip_prefix(br#"{"contentBlockIndex":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    // A u32 without leading zeros, as serde would read it.
    if digits == 0 || digits > 9 || (digits > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    let rest = rest.get(digits..)?.strip_prefix(br#","delta":{"text":"#)?;
    let (text, rest) = scan_literal(rest)?;
    let rest = rest.strip_prefix(b"}")?;
    let end = match rest.strip_prefix(br#","p":""#) {
        Some(pad) => {
            let n = pad.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
            pad.get(n..)?.strip_prefix(b"\"")?
        }
        None => rest,
    };
    (end == b"}").then_some(text)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    content_block_index: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart<'a> {
    content_block_index: u32,
    #[serde(borrow)]
    start: BlockStartBody<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStartBody<'a> {
    #[serde(borrow, default)]
    tool_use: Option<ToolUseStart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart<'a> {
    #[serde(borrow)]
    tool_use_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta<'a> {
    content_block_index: u32,
    #[serde(borrow)]
    delta: BlockDeltaBody<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDeltaBody<'a> {
    #[serde(borrow, default)]
    text: Option<JsonText<'a>>,
    #[serde(borrow, default)]
    tool_use: Option<ToolUseDelta<'a>>,
    #[serde(borrow, default)]
    reasoning_content: Option<ReasoningDelta<'a>>,
}

#[derive(Deserialize)]
struct ToolUseDelta<'a> {
    #[serde(borrow)]
    input: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ReasoningDelta<'a> {
    #[serde(borrow, default)]
    text: Option<JsonText<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop<'a> {
    #[serde(borrow)]
    stop_reason: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Metadata {
    usage: Usage,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<crate::openai::CompletionUsage>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_signature: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::stream::testing::event;
    use crate::eventstream::{Message, encode};
    use serde_json::{Value, json};

    fn meta() -> CompletionMeta {
        CompletionMeta {
            id: "chatcmpl-s1".into(),
            created: 1_700_000_000,
            model: "claude".into(),
        }
    }

    /// A stream with text, two parallel tool calls (block indexes 1 and 3), reasoning and usage.
    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": " wörld"}}),
            &mut b,
        );
        event("contentBlockStop", json!({"contentBlockIndex": 0}), &mut b);
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather"}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
            &mut b,
        );
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "tooluse_b", "name": "get_time"}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}),
            &mut b,
        );
        event("contentBlockStop", json!({"contentBlockIndex": 1}), &mut b);
        event("messageStop", json!({"stopReason": "tool_use"}), &mut b);
        event(
            "metadata",
            json!({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}, "metrics": {"latencyMs": 1}}),
            &mut b,
        );
        b
    }

    fn run(input: &[u8], split: usize, include_usage: bool) -> Vec<u8> {
        let mut t = ConverseStreamTranslator::new(meta(), include_usage, ToolNames::default());
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            t.feed(piece, &mut out);
        }
        t.finish(&mut out);
        out
    }

    fn events(sse: &[u8]) -> Vec<String> {
        let text = std::str::from_utf8(sse).unwrap();
        assert!(text.ends_with("\n\n"), "{text}");
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap().to_string())
            .collect()
    }

    #[test]
    fn text_deltas_read_without_serde_match_serde() {
        let fast = [
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi \"there\"\n"},"p":"abcXYZ019"}"#,
            r#"{"contentBlockIndex":12,"delta":{"text":""}}"#,
        ];
        // Left to serde: other members, order, spacing, leading zeros, bad strings.
        let slow = [
            r#"{"contentBlockIndex":0,"delta":{"text":"a"},"p":"a-b"}"#,
            r#"{"delta":{"text":"a"},"contentBlockIndex":0}"#,
            r#"{"contentBlockIndex": 0,"delta":{"text":"a"}}"#,
            r#"{"contentBlockIndex":01,"delta":{"text":"a"}}"#,
            r#"{"contentBlockIndex":0,"delta":{"text":"a\q"}}"#,
            r#"{"contentBlockIndex":0,"delta":{"text":"a"}} "#,
            r#"{"contentBlockIndex":0,"delta":{"text":"a","x":1}}"#,
        ];
        for payload in fast {
            let text = text_delta(payload.as_bytes()).expect(payload);
            let Step::Text(serde) = Step::from_event(Some("contentBlockDelta"), payload.as_bytes())
            else {
                panic!("{payload}")
            };
            assert_eq!(text.text(), serde.text(), "{payload}");
        }
        for payload in slow {
            assert!(text_delta(payload.as_bytes()).is_none(), "{payload}");
        }
        // What serde refuses stays refused.
        let bad = br#"{"contentBlockIndex":0,"delta":{"text":"a\q"}}"#;
        assert!(matches!(
            Step::from_event(Some("contentBlockDelta"), bad),
            Step::Fail(_)
        ));
    }

    #[test]
    fn text_chunks_are_the_chunks_serde_writes() {
        for include_usage in [false, true] {
            text_chunks_match_serde(include_usage);
        }
    }

    fn text_chunks_match_serde(include_usage: bool) {
        let state = StreamState::new(meta(), include_usage, ToolNames::default());
        let literal: JsonText<'_> = serde_json::from_str(r#""say \"hi\"\n\u00e9""#).unwrap();
        let (scanned, _) = scan_literal(br#""scanned \u00e9\n""#).unwrap();
        for text in [
            literal,
            scanned,
            JsonText::from("plain \"quoted\"\n"),
            JsonText::from(""),
        ] {
            let (mut fast, mut prefixed, mut whole) = (Vec::new(), Vec::new(), Vec::new());
            state.text_chunk(&text, &mut fast);
            let delta = || Delta {
                content: Some(text.clone()),
                ..Delta::default()
            };
            state.chunk(delta(), None, &mut prefixed);
            let m = meta();
            let chunk = Chunk {
                id: &m.id,
                object: "chat.completion.chunk",
                created: m.created,
                model: &m.model,
                choices: &[ChunkChoice {
                    index: 0,
                    delta: delta(),
                    logprobs: None,
                    finish_reason: None,
                }],
                usage: None,
            };
            write_event(&chunk, &mut whole);
            let mut whole = String::from_utf8(whole).unwrap();
            if include_usage {
                whole = whole.replace("]}\n\n", "],\"usage\":null}\n\n");
            }
            assert_eq!(String::from_utf8(fast).unwrap(), whole);
            assert_eq!(String::from_utf8(prefixed).unwrap(), whole);
        }
    }

    #[test]
    fn golden_stream() {
        let ev = events(&run(&sample(), usize::MAX, true));
        let parsed: Vec<Value> = ev
            .iter()
            .take(ev.len() - 1)
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        assert_eq!(ev.last().unwrap(), "[DONE]");
        for c in &parsed {
            assert_eq!(
                (&c["id"], &c["created"], &c["model"], &c["object"]),
                (
                    &json!("chatcmpl-s1"),
                    &json!(1_700_000_000),
                    &json!("claude"),
                    &json!("chat.completion.chunk")
                )
            );
        }
        let deltas: Vec<&Value> = parsed
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| &c["delta"])
            .collect();
        assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
        assert_eq!(deltas[1], &json!({"reasoning_content": "hmm"}));
        assert_eq!(deltas[2], &json!({"content": "Hello"}));
        assert_eq!(deltas[3], &json!({"content": " wörld"}));
        assert_eq!(
            deltas[4],
            &json!({"tool_calls": [{"index": 0, "id": "tooluse_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
        );
        assert_eq!(
            deltas[5],
            &json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})
        );
        assert_eq!(
            deltas[6],
            &json!({"tool_calls": [{"index": 1, "id": "tooluse_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}]})
        );
        assert_eq!(
            deltas[7],
            &json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]})
        );
        assert_eq!(
            deltas[8],
            &json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]})
        );
        assert_eq!(deltas[9], &json!({}));
        let finish = &parsed[9]["choices"][0]["finish_reason"];
        assert_eq!(finish, "tool_calls");
        let last = parsed.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        // With include_usage every other chunk carries `"usage": null`, as OpenAI's do.
        let (last, others) = parsed.split_last().unwrap();
        assert!(
            others.iter().all(|c| c.get("usage") == Some(&Value::Null)),
            "{others:?}"
        );
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
        );
        // Without include_usage there is no usage chunk.
        let ev = events(&run(&sample(), usize::MAX, false));
        assert!(ev.iter().all(|e| !e.contains("\"usage\"")));
        assert_eq!(ev.last().unwrap(), "[DONE]");
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let input = sample();
        let whole = run(&input, usize::MAX, true);
        for split in 1..input.len() {
            assert_eq!(run(&input, split, true), whole, "split {split}");
        }
        // Two-piece cuts at every offset.
        for cut in 0..input.len() {
            let mut t = ConverseStreamTranslator::new(meta(), true, ToolNames::default());
            let mut out = Vec::new();
            t.feed(&input[..cut], &mut out);
            t.feed(&input[cut..], &mut out);
            t.finish(&mut out);
            assert_eq!(out, whole, "cut {cut}");
        }
    }

    fn last_error(sse: &[u8]) -> Value {
        let ev = events(sse);
        assert_ne!(ev.last().unwrap(), "[DONE]");
        let v: Value = serde_json::from_str(ev.last().unwrap()).unwrap();
        v["error"].clone()
    }

    #[test]
    fn truncation_anywhere_ends_in_an_error() {
        let input = sample();
        let stop_at = input.len() - 1;
        for cut in 0..stop_at {
            let out = run(&input[..cut], usize::MAX, true);
            let err = last_error(&out);
            assert_eq!(err["type"], "api_error", "cut {cut}");
        }
    }

    #[test]
    fn a_stream_without_metadata_is_incomplete() {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
            &mut b,
        );
        event("messageStop", json!({"stopReason": "max_tokens"}), &mut b);
        let out = run(&b, usize::MAX, false);
        assert!(String::from_utf8_lossy(&out).contains("\"finish_reason\":\"length\""));
        assert_eq!(last_error(&out)["type"], "api_error");
    }

    #[test]
    fn exception_frames_surface_with_their_class() {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "partial"}}),
            &mut b,
        );
        let exc = Message::new_exception(
            "throttlingException",
            br#"{"message":"Too many tokens"}"#.to_vec(),
        );
        encode(&exc, &mut b).unwrap();
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "never"}}),
            &mut b,
        );
        let out = run(&b, 7, true);
        assert!(!String::from_utf8_lossy(&out).contains("never"));
        let err = last_error(&out);
        assert_eq!(
            (err["type"].as_str(), err["message"].as_str()),
            (Some("rate_limit_error"), Some("Too many tokens"))
        );

        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        let exc = Message::new_exception(
            "modelStreamErrorException",
            br#"{"message":"model broke","originalStatusCode":500}"#.to_vec(),
        );
        encode(&exc, &mut b).unwrap();
        let err = last_error(&run(&b, usize::MAX, true));
        assert_eq!(err["type"], "api_error");
    }

    #[test]
    fn corrupt_crc_is_an_error_not_a_skip() {
        let mut input = sample();
        let n = input.len();
        input[n / 2] ^= 0x40;
        let err = last_error(&run(&input, 5, true));
        assert!(
            err["message"].as_str().unwrap().contains("corrupt"),
            "{err}"
        );
    }

    #[test]
    fn unknown_events_and_fields_are_ignored() {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event("somethingNew", json!({"x": 1}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"citation": {"x": 1}}}),
            &mut b,
        );
        event(
            "messageStop",
            json!({"stopReason": "end_turn", "additionalModelResponseFields": {}}),
            &mut b,
        );
        event(
            "metadata",
            json!({"usage": {"inputTokens": 1, "outputTokens": 1}, "metrics": {"latencyMs": 1}, "trace": {}}),
            &mut b,
        );
        let ev = events(&run(&b, usize::MAX, false));
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert_eq!(ev[2], "[DONE]");
    }

    fn run_with(input: &[u8], split: usize, names: &ToolNames) -> Vec<u8> {
        let mut t = ConverseStreamTranslator::new(meta(), true, names.clone());
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            t.feed(piece, &mut out);
        }
        t.finish(&mut out);
        out
    }

    fn names_for(req: Value) -> ToolNames {
        crate::translate::chat::to_converse(&serde_json::to_vec(&req).unwrap())
            .unwrap()
            .tool_names
    }

    /// Every delta and the usage of an SSE stream that ended with [DONE].
    fn deltas_and_usage(sse: &[u8]) -> (Vec<Value>, Vec<Option<&'static str>>, Value) {
        let ev = events(sse);
        assert_eq!(ev.last().unwrap(), "[DONE]");
        let parsed: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let mut deltas = Vec::new();
        let mut finishes = Vec::new();
        let mut usage = Value::Null;
        for c in parsed {
            match c["choices"].get(0) {
                Some(ch) => {
                    deltas.push(ch["delta"].clone());
                    finishes.push(match ch["finish_reason"].as_str() {
                        Some("stop") => Some("stop"),
                        Some("tool_calls") => Some("tool_calls"),
                        Some(_) => Some("other"),
                        None => None,
                    });
                }
                None => usage = c["usage"].clone(),
            }
        }
        (deltas, finishes, usage)
    }

    /// Reasoning with a signature, then a call of a tool whose name the request had to map.
    fn reasoning_sample(tool_name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think"}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig=="}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"redactedContent": "ZW5j"}}}),
            &mut b,
        );
        event("contentBlockStop", json!({"contentBlockIndex": 0}), &mut b);
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_x", "name": tool_name}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"a\":"}}}),
            &mut b,
        );
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "1}"}}}),
            &mut b,
        );
        event("contentBlockStop", json!({"contentBlockIndex": 1}), &mut b);
        event("messageStop", json!({"stopReason": "tool_use"}), &mut b);
        event(
            "metadata",
            json!({"usage": {"inputTokens": 3, "outputTokens": 7, "totalTokens": 40,
                "cacheReadInputTokens": 20, "cacheWriteInputTokens": 10}, "metrics": {"latencyMs": 1}}),
            &mut b,
        );
        b
    }

    #[test]
    fn reasoning_signatures_mapped_names_and_cache_usage() {
        let names = names_for(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "files.read"}}]}),
        );
        let bedrock = crate::translate::chat::tools::bedrock_tool_name("files.read").into_owned();
        let input = reasoning_sample(&bedrock);
        let whole = run_with(&input, usize::MAX, &names);
        let (deltas, finishes, usage) = deltas_and_usage(&whole);
        assert_eq!(
            deltas,
            [
                json!({"role": "assistant", "content": ""}),
                json!({"reasoning_content": "think"}),
                json!({"reasoning_signature": "sig=="}),
                json!({"tool_calls": [{"index": 0, "id": "tooluse_x", "type": "function",
                    "function": {"name": "files.read", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                json!({}),
            ]
        );
        assert_eq!(finishes.last().unwrap(), &Some("tool_calls"));
        assert_eq!(
            usage,
            json!({"prompt_tokens": 33, "completion_tokens": 7, "total_tokens": 40,
                "prompt_tokens_details": {"cached_tokens": 20, "cache_creation_tokens": 10}})
        );
        for split in 1..input.len() {
            assert_eq!(run_with(&input, split, &names), whole, "split {split}");
        }
        for cut in 0..input.len() {
            let mut t = ConverseStreamTranslator::new(meta(), true, names.clone());
            let mut out = Vec::new();
            t.feed(&input[..cut], &mut out);
            t.feed(&input[cut..], &mut out);
            t.finish(&mut out);
            assert_eq!(out, whole, "cut {cut}");
        }
    }

    #[test]
    fn json_object_answer_tool_streams_as_content() {
        let names = names_for(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"}}),
        );
        let input = reasoning_sample("json_response");
        let whole = run_with(&input, usize::MAX, &names);
        let (deltas, finishes, _) = deltas_and_usage(&whole);
        assert_eq!(
            deltas[3..],
            [
                json!({"content": "{\"a\":"}),
                json!({"content": "1}"}),
                json!({})
            ]
        );
        assert_eq!(finishes.last().unwrap(), &Some("stop"));
        for split in 1..input.len() {
            assert_eq!(run_with(&input, split, &names), whole, "split {split}");
        }
        // The same stream without json_object is a tool call.
        let (deltas, finishes, _) =
            deltas_and_usage(&run_with(&input, usize::MAX, &ToolNames::default()));
        assert_eq!(
            deltas[3]["tool_calls"][0]["function"]["name"],
            "json_response"
        );
        assert_eq!(finishes.last().unwrap(), &Some("tool_calls"));
    }
}
