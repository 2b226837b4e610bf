//! Chat through InvokeModel / InvokeModelWithResponseStream, with a model family's own body.
//!
//! The chat translation validates the OpenAI request once and builds the typed Converse
//! request ([`Translated`]); that is the intermediate form every family writes its native
//! body from. Answers come back the same way: a family reads its native answer into a
//! [`ConverseResponse`](crate::bedrock::converse::ConverseResponse) and its stream events into
//! the [`Step`]s the Converse stream uses, so tool-name mapping, dense tool indexes, usage,
//! finish reasons and error handling are shared, not repeated per family.
//!
//! Adding a family is one module with three functions (`request_body`, `response`, and a
//! `StreamEvents` type with `event`), its variant in [`Family`], plus its arm in each `match`
//! below.

pub mod anthropic;
pub mod nova;

use super::request::Translated;
use super::response::{self, CompletionMeta};
use super::stream::{Step, StreamState};
use super::tools::ToolNames;
use crate::bedrock::Family;
use crate::bedrock::stream::ChunkDecoder;
use crate::error::ApiError;
use crate::usage::Usage;

/// The InvokeModel body of a chat family. `default_max_tokens` fills in `max_tokens` where the
/// family requires one and the request set none. Families without a chat body are a 400
/// (configuration validation keeps them from `"api": "invoke"` chat models).
pub fn request_body(
    family: Family,
    t: &Translated<'_>,
    default_max_tokens: u32,
) -> Result<Vec<u8>, ApiError> {
    match family {
        Family::Anthropic => anthropic::request_body(t, default_max_tokens),
        Family::Nova => nova::request_body(t, default_max_tokens),
        other => Err(not_chat(other)),
    }
}

/// A successful InvokeModel answer → OpenAI `chat.completion`, and the answer's usage (for
/// stats and access logs).
pub fn completion(
    family: Family,
    body: &[u8],
    meta: &CompletionMeta,
    names: &ToolNames,
) -> Result<(Vec<u8>, Usage), ApiError> {
    let resp = match family {
        Family::Anthropic => anthropic::response(body)?,
        Family::Nova => nova::response(body)?,
        other => return Err(not_chat(other)),
    };
    let usage = resp.usage;
    response::completion(resp, meta, names).map(|out| (out, usage))
}

fn not_chat(family: Family) -> ApiError {
    ApiError::invalid(
        "model",
        format!(
            "the model family {} has no chat completions over InvokeModel",
            family.name()
        ),
    )
}

/// A family's per-stream event mapping.
#[derive(Debug)]
enum Events {
    Anthropic(anthropic::StreamEvents),
    Nova(nova::StreamEvents),
    NotChat(Family),
}

impl Events {
    fn event<'e>(&mut self, event: &'e [u8], emit: &mut dyn FnMut(Step<'e>)) {
        match self {
            Events::Anthropic(e) => e.event(event, emit),
            Events::Nova(e) => e.event(event, emit),
            Events::NotChat(f) => emit(Step::Fail(not_chat(*f))),
        }
    }
}

/// InvokeModelWithResponseStream body → OpenAI `chat.completion.chunk` events: the `chunk`
/// events' decoded bytes go through the family's mapping into the shared stream state.
#[derive(Debug)]
pub struct InvokeStreamTranslator {
    chunks: ChunkDecoder,
    events: Events,
    state: StreamState,
}

impl InvokeStreamTranslator {
    pub fn new(
        family: Family,
        meta: CompletionMeta,
        include_usage: bool,
        names: ToolNames,
    ) -> Self {
        InvokeStreamTranslator {
            chunks: ChunkDecoder::new(),
            events: match family {
                Family::Anthropic => Events::Anthropic(anthropic::StreamEvents::default()),
                Family::Nova => Events::Nova(nova::StreamEvents),
                // The request translation already refused these families.
                other => Events::NotChat(other),
            },
            state: StreamState::new(meta, include_usage, names),
        }
    }

    /// Bedrock's usage, once the family's last event reported it.
    pub fn usage(&self) -> Option<Usage> {
        self.state.usage()
    }

    /// Translate more upstream bytes, appending SSE text to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.state.is_ended() {
            return;
        }
        self.chunks.feed(bytes);
        while !self.state.is_ended() {
            match self.chunks.next_chunk() {
                Ok(None) => return,
                Ok(Some(event)) => {
                    let state = &mut self.state;
                    self.events.event(event, &mut |step| {
                        if !state.is_ended() {
                            state.apply(step, out);
                        }
                    });
                }
                Err(e) => self.state.fail(&e, out),
            }
        }
    }

    /// The upstream body is complete: `[DONE]`, or an error if it was cut short.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let decoded = self.chunks.finish();
        self.state.finish(decoded, out);
    }
}

#[cfg(test)]
mod tests {
    use crate::bedrock::stream::testing::chunk_json;
    // Golden tests of the InvokeModel families, through the same request translation, response
    // and stream code the gateway uses.

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::{Value, json};

    use super::*;
    use crate::bedrock::stream::CHUNK_EVENT;
    use crate::eventstream::{Message, encode};
    use crate::translate::chat::reasoning::{self, Reasoning};
    use crate::translate::chat::request::{parse, to_request};
    use crate::translate::chat::tools::bedrock_tool_name;

    /// The Claude body of `req`, after the reasoning step a Claude 4 model gets.
    fn body_of(req: &Value, default_max_tokens: u32) -> Value {
        let bytes = serde_json::to_vec(req).unwrap();
        let parsed = parse(&bytes).unwrap();
        let mut t = to_request(&parsed).unwrap();
        reasoning::apply(
            &mut t,
            Reasoning::of_model("anthropic.claude-sonnet-4-20250514-v1:0", None),
        )
        .unwrap();
        let body = request_body(Family::Anthropic, &t, default_max_tokens).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn err_of(req: &Value) -> ApiError {
        let bytes = serde_json::to_vec(req).unwrap();
        let parsed = parse(&bytes).unwrap();
        let t = to_request(&parsed).unwrap();
        request_body(Family::Anthropic, &t, 100).unwrap_err()
    }

    fn names_for(req: &Value) -> ToolNames {
        crate::translate::chat::to_converse(&serde_json::to_vec(req).unwrap())
            .unwrap()
            .tool_names
    }

    const PNG: &str = "iVBORw0KGgo=";
    const PDF: &str = "JVBERi0xLjQ=";

    #[test]
    fn golden_anthropic_request_with_every_block_kind() {
        let req = json!({"model": "claude", "max_tokens": 300, "temperature": 0.5, "top_p": 0.9,
            "stop": ["END", "STOP"], "top_k": 40,
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "sys one", "cache_control": {"type": "ephemeral"}}]},
                {"role": "developer", "content": "dev two"},
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{PNG}")}},
                    {"type": "file", "file": {"filename": "report.pdf", "file_data": format!("data:application/pdf;base64,{PDF}")}},
                    {"type": "file", "file": {"filename": "notes.txt", "file_data": format!("data:text/plain;base64,{}", STANDARD.encode("héllo"))},
                     "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                {"role": "assistant", "content": "Calling.",
                 "thinking_blocks": [
                    {"type": "thinking", "thinking": "plan", "signature": "sig1"},
                    {"type": "redacted_thinking", "data": "ZW5j"}],
                 "tool_calls": [
                    {"id": "call.1:x", "type": "function", "function": {"name": "files.read", "arguments": "{\"path\": \"/a\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}}]},
                {"role": "tool", "tool_call_id": "call.1:x", "content": "data"},
                {"role": "tool", "tool_call_id": "call_2", "content": "", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "thanks"}],
            "tools": [
                {"type": "function", "function": {"name": "files.read", "description": "Read a file",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
                {"type": "function", "function": {"name": "now", "strict": true}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": "required"});
        let mapped = bedrock_tool_name("files.read").into_owned();
        let id1 = crate::translate::chat::tools::name_safe_id("call.1:x").into_owned();
        assert_ne!(id1, "call.1:x");
        assert_eq!(
            body_of(&req, 4096),
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 300,
                "system": [
                    {"type": "text", "text": "sys one", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "dev two"}],
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}},
                        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}, "title": "report"},
                        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "héllo"}, "title": "notes",
                         "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                    {"role": "assistant", "content": [
                        {"type": "thinking", "thinking": "plan", "signature": "sig1"},
                        {"type": "redacted_thinking", "data": "ZW5j"},
                        {"type": "text", "text": "Calling."},
                        {"type": "tool_use", "id": id1, "name": mapped, "input": {"path": "/a"}},
                        {"type": "tool_use", "id": "call_2", "name": "now", "input": {}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": id1, "content": [{"type": "text", "text": "data"}]},
                        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "(no output)"}],
                         "cache_control": {"type": "ephemeral"}},
                        {"type": "text", "text": "thanks"}]}],
                "temperature": 0.5,
                "top_p": 0.9,
                "stop_sequences": ["END", "STOP"],
                "tools": [
                    {"name": mapped, "description": "Read a file",
                     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
                    {"name": "now", "input_schema": {"type": "object", "properties": {}},
                     "cache_control": {"type": "ephemeral"}}],
                "tool_choice": {"type": "any"},
                "top_k": 40
            })
        );
    }

    #[test]
    fn defaults_choices_and_thinking() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(
            body_of(&base, 777),
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 777,
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
        );
        let mut req = base.clone();
        req["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
        for (choice, want) in [
            (json!("auto"), json!({"type": "auto"})),
            (
                json!({"type": "function", "function": {"name": "f"}}),
                json!({"type": "tool", "name": "f"}),
            ),
        ] {
            req["tool_choice"] = choice;
            assert_eq!(body_of(&req, 10)["tool_choice"], want);
        }
        req["parallel_tool_calls"] = json!(false);
        assert_eq!(
            body_of(&req, 10)["tool_choice"],
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
        );
        req.as_object_mut().unwrap().remove("tool_choice");
        assert_eq!(
            body_of(&req, 10)["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        req["parallel_tool_calls"] = json!(true);
        assert!(body_of(&req, 10).get("tool_choice").is_none());
        // reasoning_effort: thinking at the top level and room for the answer.
        let mut req = base.clone();
        req["reasoning_effort"] = json!("low");
        let out = body_of(&req, 100);
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": 1024})
        );
        assert_eq!(out["max_tokens"], 1024 + 4096);
        // Thinking from additional fields with a default below the budget: raised above it.
        let mut req = base.clone();
        req["additional_model_request_fields"] = json!({"thinking": {"type": "enabled", "budget_tokens": 2000}, "anthropic_beta": ["b1"]});
        let out = body_of(&req, 1000);
        assert_eq!(out["max_tokens"], 3000);
        assert_eq!(out["anthropic_beta"], json!(["b1"]));
        // json_object answers through the forced tool, as on Converse.
        let mut req = base.clone();
        req["response_format"] = json!({"type": "json_object"});
        let out = body_of(&req, 10);
        assert_eq!(
            out["tool_choice"],
            json!({"type": "tool", "name": "json_response"})
        );
        assert_eq!(out["tools"][0]["input_schema"], json!({"type": "object"}));
    }

    #[test]
    fn what_the_family_cannot_carry_is_a_400_naming_the_parameter() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let mut req = base.clone();
        req["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}});
        assert_eq!(err_of(&req).param.as_deref(), Some("response_format"));
        let mut req = base.clone();
        req["additional_model_request_fields"] = json!({"max_tokens": 5});
        let e = err_of(&req);
        assert_eq!(
            (e.status, e.param.as_deref()),
            (400, Some("additional_model_request_fields"))
        );
        let req = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"filename": "a.docx", "file_data": format!("data:application/vnd.openxmlformats-officedocument.wordprocessingml.document;base64,{PDF}")}}]}]});
        assert_eq!(err_of(&req).param.as_deref(), Some("messages"));
    }

    fn meta() -> CompletionMeta {
        CompletionMeta {
            id: "chatcmpl-1".into(),
            created: 1_700_000_000,
            model: "claude-invoke".into(),
        }
    }

    fn complete(answer: &Value, names: &ToolNames) -> Value {
        let out = completion(
            Family::Anthropic,
            &serde_json::to_vec(answer).unwrap(),
            &meta(),
            names,
        )
        .unwrap()
        .0;
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn golden_anthropic_answer() {
        let req = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "files.read"}}]});
        let names = names_for(&req);
        let mapped = bedrock_tool_name("files.read").into_owned();
        let answer = json!({"id": "msg_bdrk_01", "type": "message", "role": "assistant",
            "model": "claude-3-haiku-20240307",
            "content": [
                {"type": "thinking", "thinking": "Need a file.", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "ZW5j"},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": mapped, "input": {"path": "/a b", "n": [1, 2]}},
                {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
                {"type": "tool_use", "id": "toolu_2", "name": "other", "input": {}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 4, "cache_creation_input_tokens": 40, "cache_read_input_tokens": 60, "output_tokens": 10}});
        assert_eq!(
            complete(&answer, &names),
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "claude-invoke",
                "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": "Reading.", "refusal": null,
                    "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "files.read", "arguments": "{\"n\":[1,2],\"path\":\"/a b\"}"}},
                        {"id": "toolu_2", "type": "function", "function": {"name": "other", "arguments": "{}"}}],
                    "reasoning_content": "Need a file.", "reasoning_signature": "sig==",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "Need a file.", "signature": "sig=="},
                        {"type": "redacted_thinking", "data": "ZW5j"}]},
                    "finish_reason": "tool_calls", "logprobs": null}],
                "usage": {"prompt_tokens": 104, "completion_tokens": 10, "total_tokens": 114,
                          "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 40}}})
        );
    }

    #[test]
    fn answer_stop_reasons_and_plain_usage() {
        for (reason, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("refusal", "content_filter"),
            ("pause_turn", "stop"),
            ("model_context_window_exceeded", "length"),
            ("something_new", "stop"),
        ] {
            let answer = json!({"type": "message", "content": [{"type": "text", "text": "hi"}],
                "stop_reason": reason,
                "usage": {"input_tokens": 3, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}});
            let out = complete(&answer, &ToolNames::default());
            assert_eq!(out["choices"][0]["finish_reason"], finish, "{reason}");
            assert_eq!(
                out["usage"],
                json!({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})
            );
        }
        // The json_object stand-in tool's input is the content.
        let names = names_for(
            &json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"}}),
        );
        let answer = json!({"content": [{"type": "tool_use", "id": "t", "name": "json_response", "input": {"a": 1}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}});
        let out = complete(&answer, &names);
        assert_eq!(out["choices"][0]["message"]["content"], "{\"a\":1}");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        for bad in [&b"<html>"[..], b"[]", b"", b"{}", br#"{"content": 3}"#] {
            let e = completion(Family::Anthropic, bad, &meta(), &ToolNames::default()).unwrap_err();
            assert_eq!(e.status, 502);
        }
    }

    /// Thinking with a signature, text, two parallel tool calls (blocks 2 and 3, one without
    /// input), usage with cache, as Claude streams them.
    fn sample(tool_name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for ev in [
            json!({"type": "message_start", "message": {"id": "msg_bdrk_1", "type": "message", "role": "assistant",
                "model": "claude-3-haiku-20240307", "content": [], "stop_reason": null,
                "usage": {"input_tokens": 3, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 20, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "think"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig=="}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "ping"}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hé"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_a", "name": tool_name, "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "now", "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
            json!({"type": "content_block_stop", "index": 2}),
            json!({"type": "content_block_stop", "index": 3}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 7}}),
            json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3, "outputTokenCount": 7, "invocationLatency": 5, "firstByteLatency": 1}}),
        ] {
            chunk_json(&ev, &mut b);
        }
        b
    }

    fn run(input: &[u8], split: usize, names: &ToolNames, include_usage: bool) -> Vec<u8> {
        let mut t =
            InvokeStreamTranslator::new(Family::Anthropic, meta(), include_usage, names.clone());
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
    fn golden_anthropic_stream() {
        let req = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "files.read"}}, {"type": "function", "function": {"name": "now"}}]});
        let names = names_for(&req);
        let mapped = bedrock_tool_name("files.read").into_owned();
        let input = sample(&mapped);
        let whole = run(&input, usize::MAX, &names, true);
        let ev = events(&whole);
        assert_eq!(ev.last().unwrap(), "[DONE]");
        let parsed: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        for c in &parsed {
            assert_eq!(c["id"], "chatcmpl-1");
            assert_eq!(c["model"], "claude-invoke");
            assert_eq!(c["object"], "chat.completion.chunk");
        }
        let deltas: Vec<Value> = parsed
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| c["delta"].clone())
            .collect();
        assert_eq!(
            deltas,
            [
                json!({"role": "assistant", "content": ""}),
                json!({"reasoning_content": "think"}),
                json!({"reasoning_signature": "sig=="}),
                json!({"content": "Hé"}),
                json!({"tool_calls": [{"index": 0, "id": "toolu_a", "type": "function", "function": {"name": "files.read", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}),
                json!({"tool_calls": [{"index": 1, "id": "toolu_b", "type": "function", "function": {"name": "now", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
                json!({}),
            ]
        );
        let finish = &parsed[parsed.len() - 2]["choices"][0]["finish_reason"];
        assert_eq!(finish, "tool_calls");
        let last = parsed.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens": 33, "completion_tokens": 7, "total_tokens": 40,
                "prompt_tokens_details": {"cached_tokens": 20, "cache_creation_tokens": 10}})
        );
        // Without include_usage: no usage chunk, still [DONE].
        let ev = events(&run(&input, usize::MAX, &names, false));
        assert!(ev.iter().all(|e| !e.contains("\"usage\"")));
        assert_eq!(ev.last().unwrap(), "[DONE]");
        // Any split gives the same output.
        for split in 1..input.len() {
            assert_eq!(run(&input, split, &names, true), whole, "split {split}");
        }
        for cut in 0..input.len() {
            let mut t = InvokeStreamTranslator::new(Family::Anthropic, meta(), true, names.clone());
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
        assert!(!ev.iter().any(|e| e == "[DONE]"));
        let v: Value = serde_json::from_str(ev.last().unwrap()).unwrap();
        v["error"].clone()
    }

    #[test]
    fn truncation_anywhere_ends_in_an_error() {
        let input = sample("f");
        for cut in 0..input.len() {
            let err = last_error(&run(&input[..cut], usize::MAX, &ToolNames::default(), true));
            assert_eq!(err["type"], "api_error", "cut {cut}");
        }
        // Complete frames, but no message_stop: incomplete.
        let mut b = Vec::new();
        chunk_json(
            &json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}}),
            &mut b,
        );
        chunk_json(
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}),
            &mut b,
        );
        chunk_json(
            &json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 1}}),
            &mut b,
        );
        let out = run(&b, usize::MAX, &ToolNames::default(), true);
        assert!(String::from_utf8_lossy(&out).contains("\"finish_reason\":\"length\""));
        assert_eq!(last_error(&out)["type"], "api_error");
    }

    #[test]
    fn exceptions_error_events_and_corruption_surface() {
        let mut b = Vec::new();
        chunk_json(
            &json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}}),
            &mut b,
        );
        chunk_json(
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "partial"}}),
            &mut b,
        );
        let exc = Message::new_exception(
            "throttlingException",
            br#"{"message":"Too many tokens"}"#.to_vec(),
        );
        encode(&exc, &mut b).unwrap();
        chunk_json(
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "never"}}),
            &mut b,
        );
        let out = run(&b, 7, &ToolNames::default(), true);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("partial") && !text.contains("never"),
            "{text}"
        );
        let err = last_error(&out);
        assert_eq!(
            (err["type"].as_str(), err["message"].as_str()),
            (Some("rate_limit_error"), Some("Too many tokens"))
        );

        // The model's own error event.
        let mut b = Vec::new();
        chunk_json(
            &json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}}),
            &mut b,
        );
        chunk_json(
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            &mut b,
        );
        let err = last_error(&run(&b, usize::MAX, &ToolNames::default(), true));
        assert_eq!(
            (err["type"].as_str(), err["message"].as_str()),
            (Some("api_error"), Some("Overloaded"))
        );

        // A corrupt frame, a chunk that is not base64, an event that is not JSON.
        let mut input = sample("f");
        let n = input.len();
        input[n / 2] ^= 0x40;
        let err = last_error(&run(&input, 5, &ToolNames::default(), true));
        assert!(
            err["message"].as_str().unwrap().contains("corrupt"),
            "{err}"
        );
        let mut b = Vec::new();
        let msg = Message::new_event(CHUNK_EVENT, br#"{"bytes":"!!!"}"#.to_vec());
        encode(&msg, &mut b).unwrap();
        assert_eq!(
            last_error(&run(&b, 3, &ToolNames::default(), true))["type"],
            "api_error"
        );
        let mut b = Vec::new();
        let payload = json!({"bytes": STANDARD.encode("{not json")});
        let msg = Message::new_event(CHUNK_EVENT, serde_json::to_vec(&payload).unwrap());
        encode(&msg, &mut b).unwrap();
        let err = last_error(&run(&b, usize::MAX, &ToolNames::default(), true));
        assert!(
            err["message"].as_str().unwrap().contains("unreadable"),
            "{err}"
        );
    }

    /// The Nova body of `req`, after the reasoning step its model gets.
    fn nova_body(req: &Value) -> Result<Value, ApiError> {
        let bytes = serde_json::to_vec(req).unwrap();
        let parsed = parse(&bytes).unwrap();
        let mut t = to_request(&parsed).unwrap();
        reasoning::apply(
            &mut t,
            Reasoning::of_model(req["model"].as_str().unwrap(), None),
        )?;
        request_body(Family::Nova, &t, 4096).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn golden_nova_request() {
        let req = json!({"model": "nova", "max_tokens": 300, "temperature": 0.5, "top_p": 0.9,
            "stop": "END", "top_k": 20,
            "additional_model_request_fields": {"inferenceConfig": {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}}},
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]},
                {"role": "assistant", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto"});
        assert_eq!(
            nova_body(&req).unwrap(),
            json!({
                "system": [{"text": "sys"}, {"cachePoint": {"type": "default"}}],
                "messages": [
                    {"role": "user", "content": [{"text": "look"},
                        {"image": {"format": "png", "source": {"bytes": PNG}}}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "f", "input": {}}}]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "ok"}]}}]}],
                "inferenceConfig": {"maxTokens": 300, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"],
                    "topK": 20, "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}},
                "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}],
                    "toolChoice": {"auto": {}}}
            })
        );
        // Nova needs no max_tokens: none asked, none sent.
        let out =
            nova_body(&json!({"model": "n", "messages": [{"role": "user", "content": "hi"}]}))
                .unwrap();
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        );
        let base = json!({"model": "n", "messages": [{"role": "user", "content": "hi"}]});
        for (extra, param) in [
            (json!({"reasoning_effort": "low"}), "reasoning_effort"),
            (
                json!({"additional_model_request_fields": {"foo": 1}}),
                "additional_model_request_fields",
            ),
            (
                json!({"additional_model_request_fields": {"inferenceConfig": {"maxTokens": 5}}}),
                "additional_model_request_fields",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}),
                "response_format",
            ),
        ] {
            let mut req = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                req[k] = v.clone();
            }
            assert_eq!(
                nova_body(&req).unwrap_err().param.as_deref(),
                Some(param),
                "{extra}"
            );
        }
        let req = json!({"model": "n", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"filename": "a.pdf", "file_data": format!("data:application/pdf;base64,{PDF}")}}]}]});
        assert_eq!(
            nova_body(&req).unwrap_err().param.as_deref(),
            Some("messages")
        );
    }

    #[test]
    fn golden_nova_answer() {
        let answer = json!({"output": {"message": {"role": "assistant", "content": [
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"a": 1}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 18,
                      "cacheReadInputTokenCount": 10, "cacheWriteInputTokenCount": 0}});
        let out = completion(
            Family::Nova,
            &serde_json::to_vec(&answer).unwrap(),
            &meta(),
            &ToolNames::default(),
        )
        .unwrap()
        .0;
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], "Checking.");
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"],
            json!({"name": "f", "arguments": "{\"a\":1}"})
        );
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 15, "completion_tokens": 3, "total_tokens": 18,
                   "prompt_tokens_details": {"cached_tokens": 10, "cache_creation_tokens": 0}})
        );
        for bad in [&b"[]"[..], b"{}", b"nope"] {
            assert_eq!(
                completion(Family::Nova, bad, &meta(), &ToolNames::default())
                    .unwrap_err()
                    .status,
                502
            );
        }
    }

    fn nova_sample() -> Vec<u8> {
        let mut b = Vec::new();
        for ev in [
            json!({"messageStart": {"role": "assistant"}}),
            json!({"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}}),
            json!({"contentBlockStop": {"contentBlockIndex": 0}}),
            json!({"contentBlockStart": {"start": {"toolUse": {"toolUseId": "tooluse_1", "name": "f"}}, "contentBlockIndex": 1}}),
            json!({"contentBlockDelta": {"delta": {"toolUse": {"input": "{\"a\":1}"}}, "contentBlockIndex": 1}}),
            json!({"contentBlockStop": {"contentBlockIndex": 1}}),
            json!({"messageStop": {"stopReason": "tool_use"}}),
            json!({"metadata": {"usage": {"inputTokens": 4, "outputTokens": 2}, "metrics": {}, "trace": {}},
                   "amazon-bedrock-invocationMetrics": {"inputTokenCount": 4, "outputTokenCount": 2}}),
        ] {
            chunk_json(&ev, &mut b);
        }
        b
    }

    #[test]
    fn golden_nova_stream() {
        let input = nova_sample();
        let run_nova = |input: &[u8], split: usize| {
            let mut t =
                InvokeStreamTranslator::new(Family::Nova, meta(), true, ToolNames::default());
            let mut out = Vec::new();
            for piece in input.chunks(split.max(1)) {
                t.feed(piece, &mut out);
            }
            t.finish(&mut out);
            out
        };
        let whole = run_nova(&input, usize::MAX);
        let ev = events(&whole);
        assert_eq!(ev.last().unwrap(), "[DONE]");
        let parsed: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let deltas: Vec<Value> = parsed
            .iter()
            .filter_map(|c| c["choices"].get(0))
            .map(|c| c["delta"].clone())
            .collect();
        assert_eq!(
            deltas,
            [
                json!({"role": "assistant", "content": ""}),
                json!({"content": "Hi"}),
                json!({"tool_calls": [{"index": 0, "id": "tooluse_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]}),
                json!({}),
            ]
        );
        assert_eq!(
            parsed.last().unwrap()["usage"],
            json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
        );
        for split in 1..input.len() {
            assert_eq!(run_nova(&input, split), whole, "split {split}");
        }
        for cut in 0..input.len() {
            let err = last_error(&run_nova(&input[..cut], usize::MAX));
            assert_eq!(err["type"], "api_error", "cut {cut}");
        }
    }
}
