//! Converse response → OpenAI `chat.completion`.

use std::borrow::Cow;

use super::tools::ToolNames;
use crate::bedrock::converse::{ConverseResponse, finish_reason};
use crate::error::ApiError;
use crate::openai::{
    AssistantMessage, ChatCompletion, Choice, CompletionUsage, FunctionCallOut,
    PromptTokensDetails, ThinkingBlockOut, ToolCallOut,
};
use crate::usage::Usage;

/// Identity of one completion: the same id/created/model go into every object answered for it.
#[derive(Debug, Clone)]
pub struct CompletionMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
}

/// Translate a successful Converse answer, also returning Bedrock's usage (for stats and access
/// logs). A body that is not a Converse response is a 502.
pub fn from_converse(
    body: &[u8],
    meta: &CompletionMeta,
    names: &ToolNames,
) -> Result<(Vec<u8>, Usage), ApiError> {
    let resp = read_converse(body)?;
    let usage = resp.usage;
    completion(resp, meta, names).map(|out| (out, usage))
}

/// A successful Converse answer's body, read; anything else is a 502.
pub(crate) fn read_converse(body: &[u8]) -> Result<ConverseResponse<'_>, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!(
            "Bedrock returned an unreadable Converse response: {e}"
        ))
    })
}

/// A Converse-shaped answer → OpenAI `chat.completion`. The InvokeModel families read their
/// native answers into a [`ConverseResponse`] and finish here, so every API gives the same
/// guarantees (tool names mapped back, the `json_object` tool as content, usage with cache).
pub fn completion(
    resp: ConverseResponse<'_>,
    meta: &CompletionMeta,
    names: &ToolNames,
) -> Result<Vec<u8>, ApiError> {
    let mut text: Option<Cow<str>> = None;
    let mut reasoning: Option<Cow<str>> = None;
    let mut signature = None;
    let mut tool_calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    // The input of the `json_object` stand-in tool: the answer itself.
    let mut json_answer = None;
    for block in resp.output.message.into_iter().flat_map(|m| m.content) {
        if let Some(t) = block.text {
            append(&mut text, t);
        } else if let Some(tu) = block.tool_use {
            let arguments = compact_json(tu.input.get());
            if names.is_response_tool(&tu.name) {
                json_answer = Some(arguments);
                continue;
            }
            let name = match names.to_client(&tu.name) {
                n if n == tu.name.as_ref() => tu.name,
                n => Cow::Owned(n.to_string()),
            };
            tool_calls.push(ToolCallOut {
                id: tu.tool_use_id,
                kind: "function",
                function: FunctionCallOut { name, arguments },
            });
        } else if let Some(r) = block.reasoning_content {
            if let Some(rt) = r.reasoning_text {
                let t = rt.text.unwrap_or(Cow::Borrowed(""));
                append(&mut reasoning, t.clone());
                if rt.signature.is_some() {
                    signature.clone_from(&rt.signature);
                }
                thinking_blocks.push(ThinkingBlockOut::Thinking {
                    thinking: t,
                    signature: rt.signature,
                });
            } else if let Some(data) = r.redacted_content {
                thinking_blocks.push(ThinkingBlockOut::RedactedThinking { data });
            }
        }
    }
    let mut finish = finish_reason(&resp.stop_reason);
    let content = match json_answer {
        Some(json) => {
            if tool_calls.is_empty() {
                // The model "called" the stand-in tool to answer: that is a normal stop.
                finish = "stop";
            }
            Some(json)
        }
        None if text.is_none() && !tool_calls.is_empty() => None,
        None => Some(text.unwrap_or(Cow::Borrowed(""))),
    };
    let completion = ChatCompletion {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: &meta.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
                reasoning_content: reasoning,
                reasoning_signature: signature,
                thinking_blocks,
            },
            finish_reason: finish,
            logprobs: None,
        }],
        usage: completion_usage(&resp.usage),
    };
    serde_json::to_vec(&completion)
        .map_err(|e| ApiError::bad_upstream(format!("cannot encode response: {e}")))
}

fn append<'a>(acc: &mut Option<Cow<'a, str>>, more: Cow<'a, str>) {
    *acc = Some(match acc.take() {
        None => more,
        Some(prev) => Cow::Owned(prev.into_owned() + &more),
    });
}

/// Bedrock usage → OpenAI usage. Bedrock's `inputTokens` excludes prompt-cache reads and
/// writes; OpenAI's `prompt_tokens` counts every input token and details the cached part, so
/// the cache counts are added back in. Cache writes are reported as
/// `prompt_tokens_details.cache_creation_tokens`.
pub fn completion_usage(u: &Usage) -> CompletionUsage {
    let prompt = u.prompt_tokens();
    CompletionUsage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt.saturating_add(u.output_tokens),
        prompt_tokens_details: u.used_cache().then_some(PromptTokensDetails {
            cached_tokens: u.cache_read_tokens,
            cache_creation_tokens: u.cache_write_tokens,
        }),
    }
}

/// `raw` (valid JSON) without insignificant whitespace, as OpenAI's `arguments` strings are.
pub fn compact_json(raw: &str) -> Cow<'_, str> {
    let mut in_string = false;
    let mut escaped = false;
    let needs = raw.bytes().any(|b| {
        let ws = !in_string && b.is_ascii_whitespace();
        step(b, &mut in_string, &mut escaped);
        ws
    });
    if !needs {
        return Cow::Borrowed(raw);
    }
    let (mut in_string, mut escaped) = (false, false);
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if !in_string && c.is_ascii_whitespace() {
            continue;
        }
        if c.is_ascii() {
            step(c as u8, &mut in_string, &mut escaped);
        } else {
            escaped = false;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn step(b: u8, in_string: &mut bool, escaped: &mut bool) {
    if *escaped {
        *escaped = false;
    } else if *in_string && b == b'\\' {
        *escaped = true;
    } else if b == b'"' {
        *in_string = !*in_string;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn meta() -> CompletionMeta {
        CompletionMeta {
            id: "chatcmpl-1".into(),
            created: 1700000000,
            model: "my-model".into(),
        }
    }

    #[test]
    fn golden_text_answer() {
        let body = json!({"output": {"message": {"role": "assistant", "content": [
                {"text": "Hello"}, {"text": ", world"}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 12, "outputTokens": 2, "totalTokens": 14},
            "metrics": {"latencyMs": 120}});
        let out: Value = serde_json::from_slice(
            &from_converse(
                &serde_json::to_vec(&body).unwrap(),
                &meta(),
                &ToolNames::default(),
            )
            .unwrap()
            .0,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
                "model": "my-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world", "refusal": null},
                             "finish_reason": "length", "logprobs": null}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}})
        );
    }

    #[test]
    fn garbage_is_a_502() {
        let e = from_converse(b"<html>", &meta(), &ToolNames::default()).unwrap_err();
        assert_eq!(e.status, 502);
        let e = from_converse(br#"{"output":{}}"#, &meta(), &ToolNames::default()).unwrap_err();
        assert_eq!(e.status, 502);
    }

    fn translate(body: Value, names: &ToolNames) -> Value {
        serde_json::from_slice(
            &from_converse(&serde_json::to_vec(&body).unwrap(), &meta(), names)
                .unwrap()
                .0,
        )
        .unwrap()
    }

    /// The tool names a request with these tools produced.
    fn names_for(tools: Value, extra: Value) -> ToolNames {
        let mut req =
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        crate::translate::chat::to_converse(&serde_json::to_vec(&req).unwrap())
            .unwrap()
            .tool_names
    }

    #[test]
    fn golden_tool_calls_reasoning_and_cache_usage() {
        let names = names_for(
            json!([{"type": "function", "function": {"name": "files.read"}}]),
            json!({}),
        );
        let bedrock_name =
            crate::translate::chat::tools::bedrock_tool_name("files.read").into_owned();
        assert_ne!(bedrock_name, "files.read");
        let body = json!({"output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "Need ", "signature": "s0"}}},
                {"reasoningContent": {"reasoningText": {"text": "files.", "signature": "s1"}}},
                {"reasoningContent": {"redactedContent": "ZW5j"}},
                {"text": "Reading."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": bedrock_name, "input": {"path": "/a b", "n": [1, 2]}}},
                {"toolUse": {"toolUseId": "tooluse_2", "name": "other", "input": {}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 4, "outputTokens": 10, "totalTokens": 114,
                      "cacheReadInputTokens": 60, "cacheWriteInputTokens": 40},
            "metrics": {"latencyMs": 1}});
        assert_eq!(
            translate(body, &names),
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "my-model",
                "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": "Reading.", "refusal": null,
                    "tool_calls": [
                        {"id": "tooluse_1", "type": "function", "function": {"name": "files.read", "arguments": "{\"n\":[1,2],\"path\":\"/a b\"}"}},
                        {"id": "tooluse_2", "type": "function", "function": {"name": "other", "arguments": "{}"}}],
                    "reasoning_content": "Need files.", "reasoning_signature": "s1",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "Need ", "signature": "s0"},
                        {"type": "thinking", "thinking": "files.", "signature": "s1"},
                        {"type": "redacted_thinking", "data": "ZW5j"}]},
                    "finish_reason": "tool_calls", "logprobs": null}],
                "usage": {"prompt_tokens": 104, "completion_tokens": 10, "total_tokens": 114,
                          "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 40}}})
        );
    }

    #[test]
    fn reasoning_round_trips_through_history_unchanged() {
        let blocks = json!([
            {"reasoningContent": {"reasoningText": {"text": "a", "signature": "s0"}}},
            {"reasoningContent": {"redactedContent": "ZW5j"}},
            {"reasoningContent": {"reasoningText": {"text": "b", "signature": "s1"}}},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"x": 1}}}]);
        let body = json!({"output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}});
        let answer = translate(body, &ToolNames::default());
        // The client appends the assistant message as is, then the tool result.
        let req = json!({"model": "m", "messages": [
            {"role": "user", "content": "go"},
            answer["choices"][0]["message"],
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "ok"}]});
        let call = crate::translate::chat::to_converse(&serde_json::to_vec(&req).unwrap()).unwrap();
        let sent: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(sent["messages"][1]["content"], blocks);
        // A client that keeps only reasoning_content + reasoning_signature replays one block.
        let mut msg = answer["choices"][0]["message"].clone();
        msg.as_object_mut().unwrap().remove("thinking_blocks");
        let req = json!({"model": "m", "messages": [{"role": "user", "content": "go"}, msg,
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "ok"}]});
        let call = crate::translate::chat::to_converse(&serde_json::to_vec(&req).unwrap()).unwrap();
        let sent: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            sent["messages"][1]["content"][0],
            json!({"reasoningContent": {"reasoningText": {"text": "ab", "signature": "s1"}}})
        );
    }

    #[test]
    fn only_tool_calls_means_null_content() {
        let body = json!({"output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}});
        let out = translate(body, &ToolNames::default());
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert!(out["usage"].get("prompt_tokens_details").is_none());
    }

    #[test]
    fn json_object_answer_tool_becomes_content() {
        let names = names_for(
            json!([]),
            json!({"response_format": {"type": "json_object"}}),
        );
        let body = json!({"output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t", "name": "json_response", "input": {"a": 1, "b": "x y"}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}});
        let out = translate(body, &names);
        assert_eq!(
            out["choices"][0],
            json!({"index": 0, "message": {"role": "assistant", "content": "{\"a\":1,\"b\":\"x y\"}", "refusal": null},
                   "finish_reason": "stop", "logprobs": null})
        );
        // Without json_object, a tool of that name is an ordinary tool call.
        let body = json!({"output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t", "name": "json_response", "input": {}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}});
        let out = translate(body, &ToolNames::default());
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn arguments_are_compact_json_text() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[
            {"toolUse":{"toolUseId":"t","name":"f","input":{ "z" : 1,
              "a" : "x y" }}}]}},"stopReason":"tool_use",
            "usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#;
        let out: Value = serde_json::from_slice(
            &from_converse(body, &meta(), &ToolNames::default())
                .unwrap()
                .0,
        )
        .unwrap();
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            r#"{"z":1,"a":"x y"}"#
        );
    }

    #[test]
    fn compacts_json_outside_strings() {
        assert!(matches!(compact_json(r#"{"a":1}"#), Cow::Borrowed(_)));
        assert_eq!(
            compact_json("{ \"a b\" : [ 1 ,\n 2 ],\"c\":\"\\\" x\" }"),
            r#"{"a b":[1,2],"c":"\" x"}"#
        );
        assert_eq!(compact_json(r#"{"k": "é ü\\"}"#), r#"{"k":"é ü\\"}"#);
    }
}
