//! Converse answer → the Responses API's `response` object.
//!
//! Output items follow Bedrock's content blocks in order: each reasoning block is a `reasoning`
//! item (its text as the summary, its signature as `encrypted_content`, which the client sends
//! back to replay it), consecutive text a `message`, each tool use a `function_call` with the
//! client's tool name. The `json_object` stand-in tool's input is the message text, as in chat.
//! The object is written once, with the request members the response repeats ([`Echo`]).

use std::borrow::Cow;

use serde::Serialize;

use super::input::REDACTED_PREFIX;
use super::request::Echo;
use crate::bedrock::converse::ConverseResponse;
use crate::error::{ApiError, ErrorType};
use crate::openai::responses::{
    InputTokensDetails, OutputItem, OutputText, OutputTokensDetails, ResponseUsage, SummaryText,
};
use crate::translate::chat::ToolNames;
use crate::translate::chat::response::{compact_json, read_converse};
use crate::usage::Usage;

/// Identity of one response: the same id, `created_at` and model in every object answered for
/// it, and the request members it repeats.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// `resp_…`
    pub id: String,
    pub created_at: u64,
    /// The model as the client named it.
    pub model: String,
    pub echo: Echo,
}

impl ResponseMeta {
    /// The ID of the response's output item `index`: `<prefix>_<response id>_<index>`, unique
    /// within the response and stable between its events.
    pub(crate) fn item_id(&self, prefix: &str, index: usize) -> String {
        let base = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        format!("{prefix}_{base}_{index}")
    }
}

/// How a response ended, from Bedrock's `stopReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    /// `incomplete_details.reason`: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
}

impl Outcome {
    pub(crate) fn of(stop_reason: &str) -> Outcome {
        match stop_reason {
            "max_tokens" | "model_context_window_exceeded" => {
                Outcome::Incomplete("max_output_tokens")
            }
            "guardrail_intervened" | "content_filtered" => Outcome::Incomplete("content_filter"),
            // end_turn, tool_use, stop_sequence and reasons added later end the turn.
            _ => Outcome::Completed,
        }
    }

    /// The `status` of the response, and of its last message.
    pub(crate) fn status(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Incomplete(_) => "incomplete",
        }
    }
}

/// The state a response object reports.
#[derive(Debug, Clone, Copy)]
pub(crate) enum State<'e> {
    InProgress,
    Done(Outcome),
    Failed(&'e ApiError),
}

/// Translate a successful Converse answer, also returning Bedrock's usage (for stats and access
/// logs). A body that is not a Converse response is a 502.
pub fn from_converse(
    body: &[u8],
    meta: &ResponseMeta,
    names: &ToolNames,
) -> Result<(Vec<u8>, Usage), ApiError> {
    let resp = read_converse(body)?;
    let usage = resp.usage;
    Ok((response(resp, meta, names), usage))
}

/// A Converse-shaped answer → the response object. The InvokeModel families read their native
/// answers into a [`ConverseResponse`] (as for chat), so they can finish here too.
pub fn response(resp: ConverseResponse<'_>, meta: &ResponseMeta, names: &ToolNames) -> Vec<u8> {
    let outcome = Outcome::of(&resp.stop_reason);
    let usage = resp.usage;
    let items = items(resp, names);
    let mut output = Vec::with_capacity(256);
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            output.push(b',');
        }
        item.write(meta, index, outcome, &mut output);
    }
    let mut out = Vec::with_capacity(output.len() + meta.echo.members().len() + 512);
    write_response(meta, State::Done(outcome), &output, Some(&usage), &mut out);
    out
}

/// An output item as read from the answer, before it gets its ID.
enum Item<'a> {
    Reasoning {
        text: Cow<'a, str>,
        signature: Option<Cow<'a, str>>,
    },
    Redacted(Cow<'a, str>),
    Text(Cow<'a, str>),
    Call {
        call_id: Cow<'a, str>,
        name: Cow<'a, str>,
        arguments: Cow<'a, str>,
    },
}

fn items<'a>(resp: ConverseResponse<'a>, names: &ToolNames) -> Vec<Item<'a>> {
    let mut items: Vec<Item<'a>> = Vec::new();
    let text = |items: &mut Vec<Item<'a>>, t: Cow<'a, str>| match items.last_mut() {
        Some(Item::Text(prev)) => prev.to_mut().push_str(&t),
        _ => items.push(Item::Text(t)),
    };
    for block in resp.output.message.into_iter().flat_map(|m| m.content) {
        if let Some(t) = block.text {
            text(&mut items, t);
        } else if let Some(tu) = block.tool_use {
            let arguments = compact_json(tu.input.get());
            if names.is_response_tool(&tu.name) {
                // The `json_object` stand-in: its input is the answer.
                text(&mut items, arguments);
                continue;
            }
            let name = match names.to_client(&tu.name) {
                n if n == tu.name.as_ref() => tu.name,
                n => Cow::Owned(n.to_string()),
            };
            items.push(Item::Call {
                call_id: tu.tool_use_id,
                name,
                arguments,
            });
        } else if let Some(r) = block.reasoning_content {
            if let Some(rt) = r.reasoning_text {
                items.push(Item::Reasoning {
                    text: rt.text.unwrap_or_default(),
                    signature: rt.signature,
                });
            } else if let Some(data) = r.redacted_content {
                items.push(Item::Redacted(data));
            }
        }
    }
    if items.is_empty() {
        // An answer without content is still an (empty) assistant message.
        items.push(Item::Text(Cow::Borrowed("")));
    }
    items
}

impl Item<'_> {
    /// Writes the item as output item `index`.
    fn write(&self, meta: &ResponseMeta, index: usize, outcome: Outcome, out: &mut Vec<u8>) {
        match self {
            Item::Reasoning { text, signature } => {
                let id = meta.item_id("rs", index);
                let sealed = signature.as_deref().map(Cow::Borrowed);
                write_json(&reasoning_item(&id, text, sealed), out);
            }
            Item::Redacted(data) => {
                let id = meta.item_id("rs", index);
                let sealed = Cow::Owned(format!("{REDACTED_PREFIX}{data}"));
                write_json(&reasoning_item(&id, "", Some(sealed)), out);
            }
            Item::Text(text) => {
                let id = meta.item_id("msg", index);
                write_json(&message_item(&id, text, outcome.status()), out);
            }
            Item::Call {
                call_id,
                name,
                arguments,
            } => {
                let id = meta.item_id("fc", index);
                write_json(&call_item(&id, call_id, name, arguments), out);
            }
        }
    }
}

/// A reasoning item: the text as its one summary part (no part when there is no text).
pub(crate) fn reasoning_item<'a>(
    id: &'a str,
    text: &'a str,
    sealed: Option<Cow<'a, str>>,
) -> OutputItem<'a> {
    OutputItem::Reasoning {
        id,
        summary: if text.is_empty() {
            Vec::new()
        } else {
            vec![SummaryText::new(text)]
        },
        encrypted_content: sealed,
    }
}

pub(crate) fn message_item<'a>(id: &'a str, text: &'a str, status: &'static str) -> OutputItem<'a> {
    OutputItem::Message {
        id,
        status,
        role: "assistant",
        content: vec![OutputText::new(text)],
    }
}

pub(crate) fn call_item<'a>(
    id: &'a str,
    call_id: &'a str,
    name: &'a str,
    arguments: &'a str,
) -> OutputItem<'a> {
    OutputItem::FunctionCall {
        id,
        call_id,
        name,
        arguments,
        // The SDKs expect a finished call to say so, even when the answer was cut short.
        status: "completed",
    }
}

/// Bedrock usage → the response's `usage`. `input_tokens` counts every input token, cache
/// reads and writes included (Bedrock's `inputTokens` counts neither), as chat's
/// `prompt_tokens` does.
pub(crate) fn response_usage(u: &Usage) -> ResponseUsage {
    let input = u.prompt_tokens();
    ResponseUsage {
        input_tokens: input,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u.cache_read_tokens,
        },
        output_tokens: u.output_tokens,
        output_tokens_details: OutputTokensDetails::default(),
        total_tokens: input.saturating_add(u.output_tokens),
    }
}

/// `error` of a failed response: `{code, message}`, with the codes OpenAI uses there.
#[derive(Serialize)]
struct ResponseError<'e> {
    code: &'static str,
    message: &'e str,
}

/// Writes the response object: its own members, `output` (the items' JSON, comma-separated),
/// then the echoed request members.
pub(crate) fn write_response(
    meta: &ResponseMeta,
    state: State<'_>,
    output: &[u8],
    usage: Option<&Usage>,
    out: &mut Vec<u8>,
) {
    let (status, incomplete, error) = match state {
        State::InProgress => ("in_progress", None, None),
        State::Done(outcome @ Outcome::Completed) => (outcome.status(), None, None),
        State::Done(outcome @ Outcome::Incomplete(reason)) => {
            (outcome.status(), Some(reason), None)
        }
        State::Failed(e) => (
            "failed",
            None,
            Some(ResponseError {
                code: if e.kind == ErrorType::RateLimit {
                    "rate_limit_exceeded"
                } else {
                    "server_error"
                },
                message: &e.message,
            }),
        ),
    };
    #[derive(Serialize)]
    struct Incomplete {
        reason: &'static str,
    }
    out.extend_from_slice(b"{\"id\":");
    write_json(&meta.id, out);
    out.extend_from_slice(b",\"object\":\"response\",\"created_at\":");
    write_json(&meta.created_at, out);
    out.extend_from_slice(b",\"status\":");
    write_json(&status, out);
    out.extend_from_slice(b",\"error\":");
    write_json(&error, out);
    out.extend_from_slice(b",\"incomplete_details\":");
    write_json(&incomplete.map(|reason| Incomplete { reason }), out);
    out.extend_from_slice(b",\"model\":");
    write_json(&meta.model, out);
    out.extend_from_slice(b",\"output\":[");
    out.extend_from_slice(output);
    out.extend_from_slice(b"],\"usage\":");
    write_json(&usage.map(response_usage), out);
    let echo = meta.echo.members();
    if !echo.is_empty() {
        out.push(b',');
        out.extend_from_slice(echo.as_bytes());
    }
    out.push(b'}');
}

/// Appends `value` as JSON. Plain structs and strings cannot fail to serialise into a Vec.
pub(crate) fn write_json<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::chat::request::converse_body;
    use crate::translate::chat::tools::bedrock_tool_name;
    use crate::translate::responses::{echo, parse, to_request};
    use serde_json::{Value, json};

    /// The meta and tool names a request produces.
    fn meta_for(req: &Value) -> (ResponseMeta, ToolNames) {
        let bytes = serde_json::to_vec(req).unwrap();
        let parsed = parse(&bytes).unwrap();
        let names = to_request(&parsed).unwrap().tool_names;
        let meta = ResponseMeta {
            id: "resp_abc".into(),
            created_at: 1_700_000_000,
            model: "claude".into(),
            echo: echo(&parsed),
        };
        (meta, names)
    }

    fn answer(req: &Value, body: Value) -> Value {
        let (meta, names) = meta_for(req);
        let (out, _) = from_converse(&serde_json::to_vec(&body).unwrap(), &meta, &names).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    fn converse(content: Value, stop: &str, usage: Value) -> Value {
        json!({"output": {"message": {"role": "assistant", "content": content}},
               "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 9}})
    }

    #[test]
    fn golden_text_answer() {
        let req = json!({"model": "claude", "input": "Hi", "instructions": "Be brief.",
            "max_output_tokens": 64, "metadata": {"run": "7"}});
        let out = answer(
            &req,
            converse(
                json!([{"text": "Hello"}, {"text": ", world"}]),
                "end_turn",
                json!({"inputTokens": 12, "outputTokens": 3, "totalTokens": 15}),
            ),
        );
        assert_eq!(
            out,
            json!({"id": "resp_abc", "object": "response", "created_at": 1_700_000_000,
                "status": "completed", "error": null, "incomplete_details": null, "model": "claude",
                "output": [{"type": "message", "id": "msg_abc_0", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello, world", "annotations": [], "logprobs": []}]}],
                "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15},
                "background": false, "instructions": "Be brief.", "max_output_tokens": 64,
                "max_tool_calls": null, "metadata": {"run": "7"}, "parallel_tool_calls": true,
                "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
                "store": false, "temperature": null, "text": {"format": {"type": "text"}},
                "tool_choice": "auto", "tools": [], "top_p": null, "truncation": "disabled"})
        );
    }

    #[test]
    fn golden_reasoning_and_tool_calls_with_names_mapped_and_cache_usage() {
        let req = json!({"model": "claude", "input": "Read it",
            "tools": [{"type": "function", "name": "files.read", "parameters": {"type": "object"}}]});
        let mapped = bedrock_tool_name("files.read").into_owned();
        let out = answer(
            &req,
            converse(
                json!([
                    {"reasoningContent": {"reasoningText": {"text": "Need the file.", "signature": "c2ln"}}},
                    {"reasoningContent": {"redactedContent": "ZW5j"}},
                    {"text": "Reading."},
                    {"toolUse": {"toolUseId": "tooluse_1", "name": mapped, "input": {"path": "/a b", "n": [1, 2]}}},
                    {"toolUse": {"toolUseId": "tooluse_2", "name": "other", "input": {}}}]),
                "tool_use",
                json!({"inputTokens": 4, "outputTokens": 10, "totalTokens": 114,
                       "cacheReadInputTokens": 60, "cacheWriteInputTokens": 40}),
            ),
        );
        assert_eq!(out["status"], "completed");
        assert_eq!(
            out["output"],
            json!([
                {"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "Need the file."}],
                 "encrypted_content": "c2ln"},
                {"type": "reasoning", "id": "rs_abc_1", "summary": [], "encrypted_content": "bedrock-redacted:ZW5j"},
                {"type": "message", "id": "msg_abc_2", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Reading.", "annotations": [], "logprobs": []}]},
                {"type": "function_call", "id": "fc_abc_3", "call_id": "tooluse_1", "name": "files.read",
                 "arguments": "{\"n\":[1,2],\"path\":\"/a b\"}", "status": "completed"},
                {"type": "function_call", "id": "fc_abc_4", "call_id": "tooluse_2", "name": "other",
                 "arguments": "{}", "status": "completed"}])
        );
        assert_eq!(
            out["usage"],
            json!({"input_tokens": 104, "input_tokens_details": {"cached_tokens": 60},
                   "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 114})
        );
        assert_eq!(out["tools"][0]["name"], "files.read");
    }

    #[test]
    fn output_items_replay_as_the_same_blocks() {
        // The client appends the output items to its input, then the tool results: Bedrock
        // gets its reasoning blocks back exactly, signatures included.
        let req = json!({"model": "claude", "input": "go"});
        let blocks = json!([
            {"reasoningContent": {"reasoningText": {"text": "a", "signature": "s0"}}},
            {"reasoningContent": {"redactedContent": "ZW5j"}},
            {"reasoningContent": {"reasoningText": {"text": "b", "signature": "s1"}}},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"x": 1}}}]);
        let out = answer(
            &req,
            converse(
                blocks.clone(),
                "tool_use",
                json!({"inputTokens": 1, "outputTokens": 1}),
            ),
        );
        let mut input = vec![json!({"role": "user", "content": "go"})];
        input.extend(out["output"].as_array().unwrap().iter().cloned());
        input.push(json!({"type": "function_call_output", "call_id": "tooluse_1", "output": "ok"}));
        let next = serde_json::to_vec(&json!({"model": "claude", "input": input})).unwrap();
        let parsed = parse(&next).unwrap();
        let sent: Value =
            serde_json::from_slice(&converse_body(&to_request(&parsed).unwrap(), 0).unwrap())
                .unwrap();
        assert_eq!(sent["messages"][1]["content"], blocks);
    }

    #[test]
    fn max_tokens_and_filters_are_incomplete() {
        let req = json!({"model": "claude", "input": "Hi"});
        let usage = json!({"inputTokens": 1, "outputTokens": 1});
        let out = answer(
            &req,
            converse(json!([{"text": "Once upon"}]), "max_tokens", usage.clone()),
        );
        assert_eq!(out["status"], "incomplete");
        assert_eq!(
            out["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(out["output"][0]["status"], "incomplete");
        let out = answer(
            &req,
            converse(
                json!([{"text": "Sorry."}]),
                "guardrail_intervened",
                usage.clone(),
            ),
        );
        assert_eq!(
            out["incomplete_details"],
            json!({"reason": "content_filter"})
        );
        let out = answer(&req, converse(json!([]), "content_filtered", usage.clone()));
        assert_eq!(
            (&out["status"], &out["output"][0]["content"][0]["text"]),
            (&json!("incomplete"), &json!(""))
        );
        let out = answer(
            &req,
            converse(json!([{"text": "x"}]), "stop_sequence", usage),
        );
        assert_eq!(
            (&out["status"], &out["incomplete_details"]),
            (&json!("completed"), &Value::Null)
        );
    }

    #[test]
    fn json_object_answer_tool_becomes_the_text() {
        let req = json!({"model": "claude", "input": "JSON please", "text": {"format": {"type": "json_object"}}});
        let out = answer(
            &req,
            converse(
                json!([{"toolUse": {"toolUseId": "t", "name": "json_response", "input": {"a": 1, "b": "x y"}}}]),
                "tool_use",
                json!({"inputTokens": 1, "outputTokens": 1}),
            ),
        );
        assert_eq!(out["status"], "completed");
        assert_eq!(
            out["output"],
            json!([{"type": "message", "id": "msg_abc_0", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "{\"a\":1,\"b\":\"x y\"}", "annotations": [], "logprobs": []}]}])
        );
        assert_eq!(out["text"], json!({"format": {"type": "json_object"}}));
    }

    #[test]
    fn garbage_is_a_502() {
        let (meta, names) = meta_for(&json!({"model": "m", "input": "x"}));
        for body in [&b"<html>"[..], br#"{"output":{}}"#] {
            let e = from_converse(body, &meta, &names).unwrap_err();
            assert_eq!(e.status, 502);
        }
    }

    #[test]
    fn failed_and_in_progress_objects() {
        let (meta, _) = meta_for(&json!({"model": "m", "input": "x"}));
        let mut out = Vec::new();
        write_response(&meta, State::InProgress, b"", None, &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (&v["status"], &v["output"], &v["usage"], &v["error"]),
            (
                &json!("in_progress"),
                &json!([]),
                &Value::Null,
                &Value::Null
            )
        );
        let e = ApiError::new(429, ErrorType::RateLimit, "slow down");
        out.clear();
        write_response(&meta, State::Failed(&e), b"", None, &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(
            v["error"],
            json!({"code": "rate_limit_exceeded", "message": "slow down"})
        );
    }
}
