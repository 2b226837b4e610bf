//! ConverseStream (binary AWS event-stream) → the Responses API's server-sent events.
//!
//! Each event is written once as `event: <type>\ndata: <json>\n\n`, its JSON carrying `type`
//! and a `sequence_number` that grows by one from 0:
//!
//! ```text
//! response.created, response.in_progress                 (the response, in_progress, no output)
//! per reasoning item:  output_item.added, reasoning_summary_part.added,
//!                      reasoning_summary_text.delta…, reasoning_summary_text.done,
//!                      reasoning_summary_part.done, output_item.done
//! per message:         output_item.added, content_part.added, output_text.delta…,
//!                      output_text.done, content_part.done, output_item.done
//! per function call:   output_item.added, function_call_arguments.delta…,
//!                      function_call_arguments.done, output_item.done
//! response.completed or response.incomplete               (the whole response, with usage)
//! ```
//!
//! A message or reasoning item ends when the next kind of content starts or the message stops; a
//! function call ends at its block's `contentBlockStop` (or, without one, with the message), so
//! each call is done before the next is added, as OpenAI streams them. Tool input is found by
//! its block index.
//! Claude's thinking goes out as reasoning *summary* text, which is what the SDKs (the AI SDK
//! among them) show; its signature is the item's `encrypted_content`, sent back to replay it.
//!
//! A stream that ends before Bedrock's `messageStop` and `metadata`, an exception or error
//! frame, or a corrupt frame ends with an `error` event and `response.failed`, never
//! `response.completed`: openai-python then raises (`get_final_response`, or at once on the
//! nested `error`), openai-node throws on the `error` event, and the AI SDK reports the error.

use std::borrow::Cow;

use serde::Serialize;

use super::response::{
    Outcome, ResponseMeta, State, call_item, message_item, reasoning_item, write_json,
    write_response,
};
use crate::error::{ApiError, ErrorType};
use crate::openai::responses::{OutputItem, OutputText, SummaryText};
use crate::translate::chat::ToolNames;
use crate::translate::chat::stream::{ConverseFrames, Step, StepSink};
use crate::usage::Usage;

/// Translates one ConverseStream response.
#[derive(Debug)]
pub struct ResponsesStreamTranslator {
    frames: ConverseFrames,
    events: Events,
}

/// Everything but the decoder, so frames borrowed from the decoder can drive it.
#[derive(Debug)]
struct Events {
    meta: ResponseMeta,
    names: ToolNames,
    w: Writer,
    /// Output items so far: the next item's `output_index`.
    items: usize,
    started: bool,
    /// Set by `messageStop`.
    outcome: Option<Outcome>,
    /// `metadata` (usage) is the last event Bedrock sends; a stream is complete only after it.
    got_metadata: bool,
    usage: Option<Usage>,
    ended: bool,
    /// The message or reasoning item being written (at most one at a time).
    open: Option<OpenItem>,
    /// Function calls being written, in output order.
    calls: Vec<OpenCall>,
    /// The block of the `json_object` stand-in tool: its input is message text.
    answer_block: Option<u32>,
    /// The finished items' JSON, comma-separated: the final response's `output`.
    done: Vec<u8>,
}

#[derive(Debug)]
struct OpenItem {
    reasoning: bool,
    index: usize,
    id: String,
    text: String,
    signature: Option<String>,
}

impl OpenItem {
    fn new(reasoning: bool, index: usize, id: String) -> Self {
        OpenItem {
            reasoning,
            index,
            id,
            text: String::new(),
            signature: None,
        }
    }
}

#[derive(Debug)]
struct OpenCall {
    index: usize,
    id: String,
    block: u32,
    call_id: String,
    name: String,
    arguments: String,
    /// Its block's `contentBlockStop` arrived.
    stopped: bool,
}

impl ResponsesStreamTranslator {
    pub fn new(meta: ResponseMeta, names: ToolNames) -> Self {
        ResponsesStreamTranslator {
            frames: ConverseFrames::new(),
            events: Events::new(meta, names),
        }
    }

    /// Bedrock's usage, once the stream's `metadata` event arrived.
    pub fn usage(&self) -> Option<Usage> {
        self.events.usage
    }

    /// Translate more upstream bytes, appending SSE text to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.events.ended {
            return;
        }
        self.events.start(out);
        self.frames.feed(bytes, &mut self.events, out);
    }

    /// The upstream body is complete: end with `response.completed` (or `.incomplete`), or
    /// with an error if the stream was cut short.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.frames.finish(&mut self.events, out);
    }
}

impl StepSink for Events {
    fn apply(&mut self, step: Step<'_>, out: &mut Vec<u8>) {
        Events::apply(self, step, out);
    }

    fn is_ended(&self) -> bool {
        self.ended
    }

    fn finish(&mut self, decoded: Result<(), ApiError>, out: &mut Vec<u8>) {
        Events::finish(self, decoded, out);
    }
}

impl Events {
    fn new(meta: ResponseMeta, names: ToolNames) -> Self {
        Events {
            meta,
            names,
            w: Writer { seq: 0 },
            items: 0,
            started: false,
            outcome: None,
            got_metadata: false,
            usage: None,
            ended: false,
            open: None,
            calls: Vec::new(),
            answer_block: None,
            done: Vec::new(),
        }
    }

    /// The end of the upstream body (`decoded`: whether the decoder ended cleanly).
    fn finish(&mut self, decoded: Result<(), ApiError>, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start(out);
        if let Err(e) = decoded {
            return self.fail(&e, out);
        }
        let Some(outcome) = self.outcome.filter(|_| self.got_metadata) else {
            let e = ApiError::bad_upstream(
                "Bedrock's response stream ended before the message was complete",
            );
            return self.fail(&e, out);
        };
        let kind = match outcome {
            Outcome::Completed => "response.completed",
            Outcome::Incomplete(_) => "response.incomplete",
        };
        self.w.begin(kind, out);
        out.extend_from_slice(b",\"response\":");
        write_response(
            &self.meta,
            State::Done(outcome),
            &self.done,
            self.usage.as_ref(),
            out,
        );
        Writer::end(out);
        self.ended = true;
    }

    /// `response.created` and `response.in_progress`, before anything else.
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        for kind in ["response.created", "response.in_progress"] {
            self.w.begin(kind, out);
            out.extend_from_slice(b",\"response\":");
            write_response(&self.meta, State::InProgress, b"", None, out);
            Writer::end(out);
        }
    }

    fn fail(&mut self, err: &ApiError, out: &mut Vec<u8>) {
        log::warn!("bedrock-filter: stream {} failed: {err}", self.meta.id);
        let code = err.code.as_deref().unwrap_or(match err.kind {
            ErrorType::RateLimit => "rate_limit_exceeded",
            other => other.as_str(),
        });
        let detail = ErrorDetail {
            kind: err.kind.as_str(),
            code,
            message: &err.message,
            param: err.param.as_deref(),
        };
        // The documented flat members, and OpenAI's own nesting under `error` (which the
        // SDKs and the AI SDK read too).
        let body = ErrorEvent {
            code,
            message: &err.message,
            param: err.param.as_deref(),
            error: detail,
        };
        self.w.event("error", &body, out);
        self.w.begin("response.failed", out);
        out.extend_from_slice(b",\"response\":");
        write_response(
            &self.meta,
            State::Failed(err),
            &self.done,
            self.usage.as_ref(),
            out,
        );
        Writer::end(out);
        self.ended = true;
    }

    fn apply(&mut self, step: Step<'_>, out: &mut Vec<u8>) {
        match step {
            Step::Skip | Step::Role => {}
            Step::Fail(e) => self.fail(&e, out),
            Step::Text(t) => self.text(&t.text(), out),
            Step::Reasoning(t) => self.reasoning(&t.text(), None, out),
            Step::Signature(s) => self.reasoning("", Some(&s), out),
            Step::ToolStart { block, id, name } => {
                if self.names.is_response_tool(&name) {
                    self.answer_block = Some(block);
                    return self.text("", out);
                }
                self.close_open(Outcome::Completed, out);
                let index = self.next_index();
                let call = OpenCall {
                    index,
                    id: self.meta.item_id("fc", index),
                    block,
                    call_id: id.into_owned(),
                    name: self.names.to_client(&name).to_string(),
                    arguments: String::new(),
                    stopped: false,
                };
                let mut item = call_item(&call.id, &call.call_id, &call.name, "");
                if let OutputItem::FunctionCall { status, .. } = &mut item {
                    *status = "in_progress";
                }
                self.w.added(index, &item, out);
                self.calls.push(call);
            }
            Step::ToolInput { block, input } if self.answer_block == Some(block) => {
                self.text(&input, out);
            }
            Step::ToolInput { block, input } => {
                let Some(call) = self.calls.iter_mut().find(|c| c.block == block) else {
                    let e = ApiError::bad_upstream(format!(
                        "Bedrock streamed tool input for block {block} that never started"
                    ));
                    return self.fail(&e, out);
                };
                call.arguments.push_str(&input);
                let body = Body {
                    delta: Some(&input),
                    ..Body::new(&call.id, call.index)
                };
                self.w
                    .event("response.function_call_arguments.delta", &body, out);
            }
            Step::BlockStop(block) => {
                if let Some(call) = self.calls.iter_mut().find(|c| c.block == block) {
                    call.stopped = true;
                }
                // Done in output order: a call whose block stopped waits for earlier ones.
                while self.calls.first().is_some_and(|c| c.stopped) {
                    let call = self.calls.remove(0);
                    self.finish_call(call, out);
                }
            }
            Step::Stop(reason) => {
                let outcome = Outcome::of(&reason);
                self.close_open(outcome, out);
                self.close_calls(out);
                self.outcome = Some(outcome);
            }
            Step::Usage(u) => {
                self.got_metadata = true;
                self.usage = Some(u);
            }
        }
    }

    /// Whether a reasoning item (`true`) or a message (`false`) is open.
    fn open_is(&self, reasoning: bool) -> bool {
        self.open.as_ref().is_some_and(|o| o.reasoning == reasoning)
    }

    fn next_index(&mut self) -> usize {
        let index = self.items;
        self.items = self.items.saturating_add(1);
        index
    }

    /// Message text: into the open message, or a new one after whatever was open.
    fn text(&mut self, delta: &str, out: &mut Vec<u8>) {
        if !self.open_is(false) {
            self.close_open(Outcome::Completed, out);
            self.close_calls(out);
            let index = self.next_index();
            let id = self.meta.item_id("msg", index);
            let mut item = message_item(&id, "", "in_progress");
            if let OutputItem::Message { content, .. } = &mut item {
                content.clear();
            }
            self.w.added(index, &item, out);
            let body = Body {
                content_index: Some(0),
                part: Some(Part::Text(OutputText::new(""))),
                ..Body::new(&id, index)
            };
            self.w.event("response.content_part.added", &body, out);
            self.open = Some(OpenItem::new(false, index, id));
        }
        let Some(open) = self.open.as_mut().filter(|_| !delta.is_empty()) else {
            return;
        };
        open.text.push_str(delta);
        let body = Body {
            content_index: Some(0),
            delta: Some(delta),
            logprobs: Some([]),
            ..Body::new(&open.id, open.index)
        };
        self.w.event("response.output_text.delta", &body, out);
    }

    /// Reasoning text or signature: into the open reasoning item, or a new one. Its summary
    /// part opens with the first text, so a reasoning item without text has no part, as in
    /// the buffered answer.
    fn reasoning(&mut self, delta: &str, signature: Option<&str>, out: &mut Vec<u8>) {
        if !self.open_is(true) {
            self.close_open(Outcome::Completed, out);
            self.close_calls(out);
            let index = self.next_index();
            let id = self.meta.item_id("rs", index);
            self.w.added(index, &reasoning_item(&id, "", None), out);
            self.open = Some(OpenItem::new(true, index, id));
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if let Some(s) = signature {
            open.signature.get_or_insert_with(String::new).push_str(s);
        }
        if delta.is_empty() {
            return;
        }
        if open.text.is_empty() {
            let body = Body {
                summary_index: Some(0),
                part: Some(Part::Summary(SummaryText::new(""))),
                ..Body::new(&open.id, open.index)
            };
            self.w
                .event("response.reasoning_summary_part.added", &body, out);
        }
        open.text.push_str(delta);
        let body = Body {
            summary_index: Some(0),
            delta: Some(delta),
            ..Body::new(&open.id, open.index)
        };
        self.w
            .event("response.reasoning_summary_text.delta", &body, out);
    }

    /// Ends the open message or reasoning item; a message ends with the answer's status.
    fn close_open(&mut self, outcome: Outcome, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        let (id, index, text) = (open.id.as_str(), open.index, open.text.as_str());
        if open.reasoning {
            if !text.is_empty() {
                let done = Body {
                    summary_index: Some(0),
                    text: Some(text),
                    ..Body::new(id, index)
                };
                self.w
                    .event("response.reasoning_summary_text.done", &done, out);
                let part = Body {
                    summary_index: Some(0),
                    part: Some(Part::Summary(SummaryText::new(text))),
                    ..Body::new(id, index)
                };
                self.w
                    .event("response.reasoning_summary_part.done", &part, out);
            }
            let sealed = open.signature.as_deref().map(Cow::Borrowed);
            let item = reasoning_item(id, text, sealed);
            self.w.item_done(index, &item, &mut self.done, out);
        } else {
            let done = Body {
                content_index: Some(0),
                text: Some(text),
                logprobs: Some([]),
                ..Body::new(id, index)
            };
            self.w.event("response.output_text.done", &done, out);
            let part = Body {
                content_index: Some(0),
                part: Some(Part::Text(OutputText::new(text))),
                ..Body::new(id, index)
            };
            self.w.event("response.content_part.done", &part, out);
            let item = message_item(id, text, outcome.status());
            self.w.item_done(index, &item, &mut self.done, out);
        }
    }

    /// Ends the function calls still open, in output order.
    fn close_calls(&mut self, out: &mut Vec<u8>) {
        for call in std::mem::take(&mut self.calls) {
            self.finish_call(call, out);
        }
    }

    /// `function_call_arguments.done` and `output_item.done` for one call.
    fn finish_call(&mut self, mut call: OpenCall, out: &mut Vec<u8>) {
        if call.arguments.is_empty() {
            // A call without input streams none; its arguments are still an object.
            call.arguments.push_str("{}");
            let body = Body {
                delta: Some(&call.arguments),
                ..Body::new(&call.id, call.index)
            };
            self.w
                .event("response.function_call_arguments.delta", &body, out);
        }
        let body = Body {
            arguments: Some(&call.arguments),
            ..Body::new(&call.id, call.index)
        };
        self.w
            .event("response.function_call_arguments.done", &body, out);
        let item = call_item(&call.id, &call.call_id, &call.name, &call.arguments);
        self.w.item_done(call.index, &item, &mut self.done, out);
    }
}

/// Writes events with their growing `sequence_number`.
#[derive(Debug)]
struct Writer {
    seq: u64,
}

impl Writer {
    /// `event: <kind>\ndata: {"type":"<kind>","sequence_number":N` — the caller adds members
    /// (each starting with `,`) and [`Writer::end`].
    fn begin(&mut self, kind: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"sequence_number\":");
        write_json(&self.seq, out);
        self.seq = self.seq.saturating_add(1);
    }

    fn end(out: &mut Vec<u8>) {
        out.extend_from_slice(b"}\n\n");
    }

    /// An event whose other members are `body`'s.
    fn event<T: Serialize>(&mut self, kind: &str, body: &T, out: &mut Vec<u8>) {
        self.begin(kind, out);
        let at = out.len();
        write_json(body, out);
        // `body`'s own `{` becomes the `,` after `sequence_number`; its `}` ends the event.
        if let Some(brace) = out.get_mut(at) {
            *brace = b',';
        }
        out.extend_from_slice(b"\n\n");
    }

    fn added(&mut self, index: usize, item: &OutputItem<'_>, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct Added<'i, 'a> {
            output_index: usize,
            item: &'i OutputItem<'a>,
        }
        let body = Added {
            output_index: index,
            item,
        };
        self.event("response.output_item.added", &body, out);
    }

    /// `response.output_item.done`, and the item's JSON kept for the final response.
    fn item_done(
        &mut self,
        index: usize,
        item: &OutputItem<'_>,
        done: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) {
        if !done.is_empty() {
            done.push(b',');
        }
        let at = done.len();
        write_json(item, done);
        self.begin("response.output_item.done", out);
        out.extend_from_slice(b",\"output_index\":");
        write_json(&index, out);
        out.extend_from_slice(b",\"item\":");
        out.extend_from_slice(done.get(at..).unwrap_or_default());
        Writer::end(out);
    }
}

/// The members of an item's events besides `type` and `sequence_number`.
#[derive(Serialize)]
struct Body<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<Part<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
}

impl<'a> Body<'a> {
    fn new(item_id: &'a str, output_index: usize) -> Self {
        Body {
            item_id,
            output_index,
            content_index: None,
            summary_index: None,
            delta: None,
            text: None,
            arguments: None,
            part: None,
            logprobs: None,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Part<'a> {
    Text(OutputText<'a>),
    Summary(SummaryText<'a>),
}

#[derive(Serialize)]
struct ErrorEvent<'a> {
    code: &'a str,
    message: &'a str,
    param: Option<&'a str>,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
    message: &'a str,
    param: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::stream::testing::event;
    use crate::eventstream::{Message, encode};
    use crate::translate::chat::tools::bedrock_tool_name;
    use crate::translate::responses::{echo, from_converse, parse, to_request};
    use serde_json::{Value, json};

    const REQUEST: &str = r#"{"model":"claude","input":"Weather?","stream":true,
        "tools":[{"type":"function","name":"weather.get"},{"type":"function","name":"get_time"}]}"#;

    fn setup(request: &str) -> (ResponseMeta, ToolNames) {
        let parsed = parse(request.as_bytes()).unwrap();
        let names = to_request(&parsed).unwrap().tool_names;
        let meta = ResponseMeta {
            id: "resp_s1".into(),
            created_at: 1_700_000_000,
            model: "claude".into(),
            echo: echo(&parsed),
        };
        (meta, names)
    }

    fn usage() -> Value {
        json!({"inputTokens": 10, "outputTokens": 5, "totalTokens": 115,
               "cacheReadInputTokens": 60, "cacheWriteInputTokens": 40})
    }

    /// Reasoning with its signature, text, then two tool calls (one name mapped, one
    /// without input).
    fn sample() -> Vec<u8> {
        let weather = bedrock_tool_name("weather.get").into_owned();
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        for delta in [
            json!({"text": "Let me "}),
            json!({"text": "check."}),
            json!({"signature": "c2lnbmF0dXJl"}),
        ] {
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": delta}}),
                &mut b,
            );
        }
        event("contentBlockStop", json!({"contentBlockIndex": 0}), &mut b);
        for text in ["Checking ", "wörld."] {
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"text": text}}),
                &mut b,
            );
        }
        event("contentBlockStop", json!({"contentBlockIndex": 1}), &mut b);
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 2,
            "start": {"toolUse": {"toolUseId": "tooluse_a", "name": weather}}}),
            &mut b,
        );
        for input in ["{\"city\":", "\"Paris\"}"] {
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": input}}}),
                &mut b,
            );
        }
        event("contentBlockStop", json!({"contentBlockIndex": 2}), &mut b);
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 3,
            "start": {"toolUse": {"toolUseId": "tooluse_b", "name": "get_time"}}}),
            &mut b,
        );
        event("contentBlockStop", json!({"contentBlockIndex": 3}), &mut b);
        event("messageStop", json!({"stopReason": "tool_use"}), &mut b);
        event(
            "metadata",
            json!({"usage": usage(), "metrics": {"latencyMs": 1}}),
            &mut b,
        );
        b
    }

    /// The same answer as one Converse body.
    fn sample_converse() -> Value {
        json!({"output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Let me check.", "signature": "c2lnbmF0dXJl"}}},
            {"text": "Checking wörld."},
            {"toolUse": {"toolUseId": "tooluse_a", "name": bedrock_tool_name("weather.get"), "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "tooluse_b", "name": "get_time", "input": {}}}]}},
            "stopReason": "tool_use", "usage": usage(), "metrics": {"latencyMs": 1}})
    }

    fn run(request: &str, input: &[u8], split: usize) -> Vec<u8> {
        let (meta, names) = setup(request);
        let mut t = ResponsesStreamTranslator::new(meta, names);
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            t.feed(piece, &mut out);
        }
        t.finish(&mut out);
        out
    }

    /// The events as (type, data); checks the SSE framing, the `event:` line against `type`,
    /// and sequence numbers counting up from 0.
    fn events(sse: &[u8]) -> Vec<(String, Value)> {
        let text = std::str::from_utf8(sse).unwrap();
        assert!(text.ends_with("\n\n"), "{text}");
        let all: Vec<(String, Value)> = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (head, data) = e.split_once('\n').unwrap();
                let kind = head.strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], kind);
                (kind.to_string(), data)
            })
            .collect();
        for (i, (_, data)) in all.iter().enumerate() {
            assert_eq!(data["sequence_number"], i, "{data}");
        }
        all
    }

    /// Replays the events the way openai-node's accumulator does, with its checks (and
    /// stricter ones): the response snapshot a client ends up with, and the last error event.
    fn accumulate(events: &[(String, Value)]) -> (Value, Option<Value>) {
        let mut snapshot = Value::Null;
        let mut error = None;
        for (kind, e) in events {
            if snapshot.is_null() {
                assert_eq!(
                    kind, "response.created",
                    "the first event creates the response"
                );
            }
            let oi = e["output_index"].as_u64().map(|i| i as usize);
            if let (Some(oi), Some(id)) = (oi, e["item_id"].as_str()) {
                assert_eq!(snapshot["output"][oi]["id"], id, "{e}");
            }
            let output = |s: &mut Value| s["output"][oi.unwrap()].take();
            match kind.as_str() {
                "response.created" | "response.in_progress" => {
                    assert_eq!(e["response"]["status"], "in_progress");
                    assert_eq!(e["response"]["output"], json!([]));
                    snapshot = e["response"].clone();
                }
                "response.completed" | "response.incomplete" => {
                    assert_eq!(
                        e["response"]["output"], snapshot["output"],
                        "accumulated output"
                    );
                    snapshot = e["response"].clone();
                }
                "response.failed" => snapshot = e["response"].clone(),
                "error" => error = Some(e.clone()),
                "response.output_item.added" => {
                    let list = snapshot["output"].as_array_mut().unwrap();
                    assert_eq!(oi, Some(list.len()), "items are appended");
                    let id = &e["item"]["id"];
                    assert!(list.iter().all(|i| &i["id"] != id), "unique ids");
                    list.push(e["item"].clone());
                }
                "response.output_item.done" => {
                    let mut item = output(&mut snapshot);
                    for key in ["type", "id", "call_id"] {
                        assert_eq!(item[key], e["item"][key], "{e}");
                    }
                    // What the deltas built is what the item says.
                    for key in ["status", "encrypted_content"] {
                        if let Some(v) = e["item"].get(key) {
                            item[key] = v.clone();
                        }
                    }
                    assert_eq!(item, e["item"]);
                    snapshot["output"][oi.unwrap()] = item;
                }
                "response.content_part.added" | "response.reasoning_summary_part.added" => {
                    let (list, index) = if kind == "response.content_part.added" {
                        ("content", &e["content_index"])
                    } else {
                        ("summary", &e["summary_index"])
                    };
                    let parts = snapshot["output"][oi.unwrap()][list]
                        .as_array_mut()
                        .unwrap();
                    assert_eq!(index, parts.len(), "parts are appended");
                    parts.push(e["part"].clone());
                }
                "response.output_text.delta" => {
                    let part = &mut snapshot["output"][oi.unwrap()]["content"]
                        [e["content_index"].as_u64().unwrap() as usize];
                    assert_eq!(part["type"], "output_text");
                    part["text"] = json!(format!(
                        "{}{}",
                        part["text"].as_str().unwrap(),
                        e["delta"].as_str().unwrap()
                    ));
                }
                "response.reasoning_summary_text.delta" => {
                    let part = &mut snapshot["output"][oi.unwrap()]["summary"]
                        [e["summary_index"].as_u64().unwrap() as usize];
                    part["text"] = json!(format!(
                        "{}{}",
                        part["text"].as_str().unwrap(),
                        e["delta"].as_str().unwrap()
                    ));
                }
                "response.function_call_arguments.delta" => {
                    let item = &mut snapshot["output"][oi.unwrap()];
                    assert_eq!(item["type"], "function_call");
                    item["arguments"] = json!(format!(
                        "{}{}",
                        item["arguments"].as_str().unwrap(),
                        e["delta"].as_str().unwrap()
                    ));
                }
                "response.output_text.done" => {
                    assert_eq!(
                        snapshot["output"][oi.unwrap()]["content"][0]["text"],
                        e["text"]
                    );
                }
                "response.content_part.done" => {
                    assert_eq!(snapshot["output"][oi.unwrap()]["content"][0], e["part"]);
                }
                "response.reasoning_summary_text.done" => {
                    assert_eq!(
                        snapshot["output"][oi.unwrap()]["summary"][0]["text"],
                        e["text"]
                    );
                }
                "response.reasoning_summary_part.done" => {
                    assert_eq!(snapshot["output"][oi.unwrap()]["summary"][0], e["part"]);
                }
                "response.function_call_arguments.done" => {
                    assert_eq!(snapshot["output"][oi.unwrap()]["arguments"], e["arguments"]);
                }
                other => panic!("an event the SDKs do not know: {other}"),
            }
        }
        (snapshot, error)
    }

    fn kinds(events: &[(String, Value)]) -> Vec<&str> {
        events
            .iter()
            .map(|(k, _)| k.strip_prefix("response.").unwrap_or(k))
            .collect()
    }

    #[test]
    fn golden_stream() {
        let all = events(&run(REQUEST, &sample(), usize::MAX));
        assert_eq!(
            kinds(&all),
            [
                "created",
                "in_progress",
                "output_item.added",
                "reasoning_summary_part.added",
                "reasoning_summary_text.delta",
                "reasoning_summary_text.delta",
                "reasoning_summary_text.done",
                "reasoning_summary_part.done",
                "output_item.done",
                "output_item.added",
                "content_part.added",
                "output_text.delta",
                "output_text.delta",
                "output_text.done",
                "content_part.done",
                "output_item.done",
                // Each call is done at its block's stop, before the next is added.
                "output_item.added",
                "function_call_arguments.delta",
                "function_call_arguments.delta",
                "function_call_arguments.done",
                "output_item.done",
                "output_item.added",
                "function_call_arguments.delta",
                "function_call_arguments.done",
                "output_item.done",
                "completed",
            ]
        );
        let data = |i: usize| {
            let mut d = all[i].1.clone();
            d.as_object_mut().unwrap().remove("sequence_number");
            d
        };
        assert_eq!(
            data(2),
            json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_s1_0", "summary": []}})
        );
        assert_eq!(
            data(3),
            json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_s1_0",
            "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})
        );
        assert_eq!(
            data(4),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_s1_0",
            "output_index": 0, "summary_index": 0, "delta": "Let me "})
        );
        assert_eq!(
            data(8),
            json!({"type": "response.output_item.done", "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_s1_0", "summary": [{"type": "summary_text", "text": "Let me check."}],
                     "encrypted_content": "c2lnbmF0dXJl"}})
        );
        assert_eq!(
            data(9),
            json!({"type": "response.output_item.added", "output_index": 1,
            "item": {"type": "message", "id": "msg_s1_1", "status": "in_progress", "role": "assistant", "content": []}})
        );
        assert_eq!(
            data(10),
            json!({"type": "response.content_part.added", "item_id": "msg_s1_1", "output_index": 1,
            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}})
        );
        assert_eq!(
            data(12),
            json!({"type": "response.output_text.delta", "item_id": "msg_s1_1", "output_index": 1,
            "content_index": 0, "delta": "wörld.", "logprobs": []})
        );
        assert_eq!(
            data(13),
            json!({"type": "response.output_text.done", "item_id": "msg_s1_1", "output_index": 1,
            "content_index": 0, "text": "Checking wörld.", "logprobs": []})
        );
        assert_eq!(
            data(16),
            json!({"type": "response.output_item.added", "output_index": 2,
            "item": {"type": "function_call", "id": "fc_s1_2", "call_id": "tooluse_a", "name": "weather.get",
                     "arguments": "", "status": "in_progress"}})
        );
        assert_eq!(
            data(19),
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_s1_2",
            "output_index": 2, "arguments": "{\"city\":\"Paris\"}"})
        );
        assert_eq!(
            data(22),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_s1_3",
            "output_index": 3, "delta": "{}"})
        );
        let (snapshot, error) = accumulate(&all);
        assert!(error.is_none());
        assert_eq!(snapshot["status"], "completed");
        assert_eq!(snapshot["incomplete_details"], Value::Null);
        assert_eq!(
            snapshot["usage"],
            json!({"input_tokens": 110, "input_tokens_details": {"cached_tokens": 60},
                   "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 115})
        );
        assert_eq!(snapshot["tools"][0]["name"], "weather.get");
        // The stream ends with the very response the buffered answer gives.
        let (meta, names) = setup(REQUEST);
        let (buffered, _) = from_converse(
            &serde_json::to_vec(&sample_converse()).unwrap(),
            &meta,
            &names,
        )
        .unwrap();
        let buffered: Value = serde_json::from_slice(&buffered).unwrap();
        assert_eq!(snapshot, buffered);
    }

    #[test]
    fn calls_are_done_in_output_order_whatever_order_their_blocks_stop() {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        for (block, id) in [(0, "tooluse_a"), (1, "tooluse_b")] {
            event(
                "contentBlockStart",
                json!({"contentBlockIndex": block,
                "start": {"toolUse": {"toolUseId": id, "name": "get_time"}}}),
                &mut b,
            );
        }
        // Block 1 stops first: its call waits for block 0's.
        event("contentBlockStop", json!({"contentBlockIndex": 1}), &mut b);
        event("contentBlockStop", json!({"contentBlockIndex": 0}), &mut b);
        event("messageStop", json!({"stopReason": "tool_use"}), &mut b);
        event(
            "metadata",
            json!({"usage": usage(), "metrics": {"latencyMs": 1}}),
            &mut b,
        );
        let all = events(&run(REQUEST, &b, usize::MAX));
        let done: Vec<&Value> = all
            .iter()
            .filter(|(k, _)| k == "response.output_item.done")
            .map(|(_, d)| &d["output_index"])
            .collect();
        assert_eq!(done, [&json!(0), &json!(1)]);
        let (snapshot, error) = accumulate(&all);
        assert!(error.is_none());
        let ids: Vec<&Value> = snapshot["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["call_id"])
            .collect();
        assert_eq!(ids, [&json!("tooluse_a"), &json!("tooluse_b")]);
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let input = sample();
        let whole = run(REQUEST, &input, usize::MAX);
        for split in 1..input.len() {
            assert_eq!(run(REQUEST, &input, split), whole, "split {split}");
        }
        let (meta, names) = setup(REQUEST);
        for cut in 0..input.len() {
            let mut t = ResponsesStreamTranslator::new(meta.clone(), names.clone());
            let mut out = Vec::new();
            t.feed(&input[..cut], &mut out);
            t.feed(&input[cut..], &mut out);
            t.finish(&mut out);
            assert_eq!(out, whole, "cut {cut}");
            assert_eq!(t.usage().map(|u| u.cache_read_tokens), Some(60));
        }
    }

    /// The last two events are `error` then `response.failed`; returns the error event.
    fn failure(sse: &[u8]) -> Value {
        let all = events(sse);
        let n = all.len();
        assert!(
            all.iter()
                .all(|(k, _)| k != "response.completed" && k != "response.incomplete")
        );
        assert_eq!(
            (all[n - 2].0.as_str(), all[n - 1].0.as_str()),
            ("error", "response.failed")
        );
        let (snapshot, error) = accumulate(&all);
        let error = error.unwrap();
        assert_eq!(snapshot["status"], "failed");
        assert_eq!(snapshot["error"]["message"], error["message"]);
        // Both the documented flat members and OpenAI's nested `error`.
        for key in ["code", "message", "param"] {
            assert_eq!(error[key], error["error"][key], "{error}");
        }
        assert!(error["code"].is_string() && error["message"].is_string());
        error
    }

    #[test]
    fn truncation_anywhere_ends_in_error_and_failed() {
        let input = sample();
        for cut in 0..input.len() {
            for split in [7, usize::MAX] {
                let err = failure(&run(REQUEST, &input[..cut], split));
                assert_eq!(err["error"]["type"], "api_error", "cut {cut}");
                assert_eq!(err["code"], "bad_upstream_response");
            }
        }
        // A stream stopped without its metadata is incomplete too.
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
            &mut b,
        );
        event("messageStop", json!({"stopReason": "end_turn"}), &mut b);
        failure(&run(REQUEST, &b, usize::MAX));
    }

    #[test]
    fn exceptions_mid_stream_fail_the_response() {
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
        for split in [1, 5, usize::MAX] {
            let out = run(REQUEST, &b, split);
            assert!(!String::from_utf8_lossy(&out).contains("never"));
            let err = failure(&out);
            assert_eq!(
                (
                    err["code"].as_str(),
                    err["message"].as_str(),
                    err["error"]["type"].as_str()
                ),
                (
                    Some("rate_limit_exceeded"),
                    Some("Too many tokens"),
                    Some("rate_limit_error")
                )
            );
            let all = events(&out);
            assert_eq!(
                all.last().unwrap().1["response"]["error"],
                json!({"code": "rate_limit_exceeded", "message": "Too many tokens"})
            );
        }
        // An exception before anything else still follows response.created.
        let mut b = Vec::new();
        let exc = Message::new_exception(
            "modelStreamErrorException",
            br#"{"message":"model broke","originalStatusCode":500}"#.to_vec(),
        );
        encode(&exc, &mut b).unwrap();
        let out = run(REQUEST, &b, usize::MAX);
        assert_eq!(
            kinds(&events(&out)),
            ["created", "in_progress", "error", "failed"]
        );
        assert_eq!(failure(&out)["error"]["type"], "api_error");
        // A corrupt frame is an error too, not a skip.
        let mut input = sample();
        let n = input.len();
        input[n / 2] ^= 0x40;
        let err = failure(&run(REQUEST, &input, 5));
        assert!(
            err["message"].as_str().unwrap().contains("corrupt"),
            "{err}"
        );
        // An empty body: the response fails at once.
        assert_eq!(
            kinds(&events(&run(REQUEST, b"", 1))),
            ["created", "in_progress", "error", "failed"]
        );
    }

    #[test]
    fn max_tokens_ends_incomplete() {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Once upon"}}),
            &mut b,
        );
        event("messageStop", json!({"stopReason": "max_tokens"}), &mut b);
        event(
            "metadata",
            json!({"usage": {"inputTokens": 3, "outputTokens": 2}}),
            &mut b,
        );
        let all = events(&run(REQUEST, &b, 3));
        assert_eq!(all.last().unwrap().0, "response.incomplete");
        let (snapshot, _) = accumulate(&all);
        assert_eq!(
            (
                &snapshot["status"],
                &snapshot["incomplete_details"],
                &snapshot["output"][0]["status"]
            ),
            (
                &json!("incomplete"),
                &json!({"reason": "max_output_tokens"}),
                &json!("incomplete")
            )
        );
    }

    #[test]
    fn json_object_answer_tool_streams_as_text() {
        let request =
            r#"{"model":"claude","input":"JSON","text":{"format":{"type":"json_object"}}}"#;
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 0,
            "start": {"toolUse": {"toolUseId": "t", "name": "json_response"}}}),
            &mut b,
        );
        for input in ["{\"a\":", "1}"] {
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": input}}}),
                &mut b,
            );
        }
        event("messageStop", json!({"stopReason": "tool_use"}), &mut b);
        event(
            "metadata",
            json!({"usage": {"inputTokens": 3, "outputTokens": 2}}),
            &mut b,
        );
        let all = events(&run(request, &b, usize::MAX));
        assert!(all.iter().all(|(k, _)| !k.contains("function_call")));
        let (snapshot, _) = accumulate(&all);
        assert_eq!(snapshot["status"], "completed");
        assert_eq!(snapshot["output"][0]["content"][0]["text"], "{\"a\":1}");
        // Without json_object the same stream is a function call.
        let all = events(&run(REQUEST, &b, usize::MAX));
        let (snapshot, _) = accumulate(&all);
        assert_eq!(snapshot["output"][0]["type"], "function_call");
    }

    #[test]
    fn unknown_events_are_ignored_and_tool_input_must_follow_its_start() {
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event("somethingNew", json!({"x": 1}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"citation": {}}}),
            &mut b,
        );
        event("messageStop", json!({"stopReason": "end_turn"}), &mut b);
        event(
            "metadata",
            json!({"usage": {"inputTokens": 1, "outputTokens": 0}}),
            &mut b,
        );
        let all = events(&run(REQUEST, &b, usize::MAX));
        assert_eq!(kinds(&all), ["created", "in_progress", "completed"]);
        let mut b = Vec::new();
        event("messageStart", json!({"role": "assistant"}), &mut b);
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 4, "delta": {"toolUse": {"input": "{}"}}}),
            &mut b,
        );
        failure(&run(REQUEST, &b, usize::MAX));
    }
}
