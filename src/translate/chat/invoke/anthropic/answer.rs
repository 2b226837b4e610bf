//! Claude's InvokeModel answer and stream events, read into the Converse form.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::bedrock::converse::{
    ConverseOutput, ConverseResponse, OutputContentBlock, OutputMessage, OutputReasoning,
    OutputReasoningText, OutputToolUse,
};
use crate::error::{ApiError, ErrorType};
use crate::translate::chat::stream::Step;
use crate::usage::Usage;

/// An Anthropic content block (answers and `content_block_start`), every kind's members
/// optional: kinds this filter does not know are skipped, not fatal.
#[derive(Deserialize)]
struct AnswerBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    data: Option<Cow<'a, str>>,
}

/// Anthropic `stop_reason` → Converse `stopReason` (which the shared code maps to OpenAI).
/// `refusal` is a content filter; `pause_turn` (a server tool paused a long turn) ends
/// the turn as far as a chat client can tell.
fn stop_reason(reason: &str) -> Cow<'static, str> {
    Cow::Borrowed(match reason {
        "end_turn" | "pause_turn" => "end_turn",
        "stop_sequence" => "stop_sequence",
        "max_tokens" => "max_tokens",
        "tool_use" => "tool_use",
        "refusal" => "content_filtered",
        "model_context_window_exceeded" => "model_context_window_exceeded",
        _ => "end_turn",
    })
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    content: Vec<AnswerBlock<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Usage,
}

/// The empty object, for a `tool_use` block without `input`.
fn empty_input() -> Result<&'static RawValue, ApiError> {
    serde_json::from_str("{}").map_err(|e| ApiError::bad_upstream(format!("internal error: {e}")))
}

/// An InvokeModel answer in the Converse form. Anything but a Messages answer is a 502.
pub fn response(body: &[u8]) -> Result<ConverseResponse<'_>, ApiError> {
    // serde would also read a struct from a JSON array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_upstream(
            "Bedrock returned an Anthropic response that is not a JSON object",
        ));
    }
    let answer: Answer<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!(
            "Bedrock returned an unreadable Anthropic response: {e}"
        ))
    })?;
    let mut content = Vec::with_capacity(answer.content.len());
    for b in answer.content {
        let mut out = OutputContentBlock {
            text: None,
            tool_use: None,
            reasoning_content: None,
        };
        match b.kind.as_ref() {
            "text" => out.text = Some(b.text.unwrap_or_default()),
            "tool_use" => {
                out.tool_use = Some(OutputToolUse {
                    tool_use_id: b.id.unwrap_or_default(),
                    name: b.name.unwrap_or_default(),
                    input: match b.input {
                        Some(i) => i,
                        None => empty_input()?,
                    },
                })
            }
            "thinking" => {
                out.reasoning_content = Some(OutputReasoning {
                    reasoning_text: Some(OutputReasoningText {
                        text: b.thinking,
                        signature: b.signature,
                    }),
                    redacted_content: None,
                })
            }
            "redacted_thinking" => {
                out.reasoning_content = Some(OutputReasoning {
                    reasoning_text: None,
                    redacted_content: b.data,
                })
            }
            // server_tool_use, web_search_tool_result, … have no chat completion form.
            _ => continue,
        }
        content.push(out);
    }
    let stop = answer
        .stop_reason
        .as_deref()
        .map_or(Cow::Borrowed("end_turn"), stop_reason);
    Ok(ConverseResponse {
        output: ConverseOutput {
            message: Some(OutputMessage { content }),
        },
        stop_reason: stop,
        usage: answer.usage,
    })
}

/// A stream event: every kind's members optional.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(borrow, default)]
    content_block: Option<AnswerBlock<'a>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(borrow, default)]
    error: Option<EventError<'a>>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EventError<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    message: Option<Cow<'a, str>>,
}

/// Per-stream state of the Anthropic event mapping.
#[derive(Debug, Default)]
pub struct StreamEvents {
    usage: Usage,
    /// Tool blocks started and whether any input arrived for them: a call without input
    /// gets `{}` at its end, so clients always read JSON arguments.
    tools: Vec<(u32, bool)>,
}

impl StreamEvents {
    /// Map one decoded stream event to steps. `message_stop` is the last event of a complete
    /// message: it carries the usage, so a stream that never reaches it ends in an error.
    pub(crate) fn event<'e>(&mut self, event: &'e [u8], emit: &mut dyn FnMut(Step<'e>)) {
        let ev: Event<'e> = match serde_json::from_slice(event) {
            Ok(ev) => ev,
            Err(e) => {
                return emit(Step::Fail(ApiError::bad_upstream(format!(
                    "Bedrock streamed an unreadable Anthropic event: {e}"
                ))));
            }
        };
        let index = ev.index.unwrap_or(0);
        match ev.kind.as_ref() {
            "message_start" => {
                if let Some(u) = ev.message.and_then(|m| m.usage) {
                    self.usage.update(&u);
                }
                emit(Step::Role);
            }
            "content_block_start" => {
                let Some(b) = ev.content_block else { return };
                match b.kind.as_ref() {
                    "tool_use" => {
                        self.tools.push((index, false));
                        emit(Step::ToolStart {
                            block: index,
                            id: b.id.unwrap_or_default(),
                            name: b.name.unwrap_or_default(),
                        });
                    }
                    "text" => {
                        if let Some(t) = b.text.filter(|t| !t.is_empty()) {
                            emit(Step::Text(t.into()));
                        }
                    }
                    "thinking" => {
                        if let Some(t) = b.thinking.filter(|t| !t.is_empty()) {
                            emit(Step::Reasoning(t.into()));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let Some(d) = ev.delta else { return };
                match d.kind.as_deref() {
                    Some("text_delta") => emit(Step::Text(d.text.unwrap_or_default().into())),
                    Some("input_json_delta") => {
                        let input = d.partial_json.unwrap_or_default();
                        if input.is_empty() {
                            return;
                        }
                        if let Some(t) = self.tools.iter_mut().find(|(b, _)| *b == index) {
                            t.1 = true;
                        }
                        emit(Step::ToolInput {
                            block: index,
                            input,
                        });
                    }
                    Some("thinking_delta") => {
                        emit(Step::Reasoning(d.thinking.unwrap_or_default().into()))
                    }
                    Some("signature_delta") => {
                        emit(Step::Signature(d.signature.unwrap_or_default()))
                    }
                    // citations_delta and kinds added later carry nothing for a chat client.
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(t) = self.tools.iter_mut().find(|(b, _)| *b == index)
                    && !t.1
                {
                    t.1 = true;
                    emit(Step::ToolInput {
                        block: index,
                        input: Cow::Borrowed("{}"),
                    });
                }
                emit(Step::BlockStop(index));
            }
            "message_delta" => {
                if let Some(u) = &ev.usage {
                    self.usage.update(u);
                }
                if let Some(r) = ev.delta.and_then(|d| d.stop_reason) {
                    emit(Step::Stop(stop_reason(&r)));
                }
            }
            "message_stop" => emit(Step::Usage(self.usage)),
            "error" => emit(Step::Fail(stream_error(ev.error))),
            // ping and event types added later.
            _ => {}
        }
    }
}

/// The model's own `error` event (e.g. `overloaded_error` mid-stream).
fn stream_error(e: Option<EventError<'_>>) -> ApiError {
    let (kind, message) = match e {
        Some(e) => (e.kind.unwrap_or_default(), e.message.unwrap_or_default()),
        None => (Cow::Borrowed(""), Cow::Borrowed("")),
    };
    let (status, class) = match kind.as_ref() {
        "rate_limit_error" => (429, ErrorType::RateLimit),
        "overloaded_error" => (503, ErrorType::Api),
        "invalid_request_error" => (400, ErrorType::InvalidRequest),
        _ => (502, ErrorType::Api),
    };
    let message = if message.is_empty() {
        format!("the model's stream failed: {kind}")
    } else {
        crate::bedrock::error::redact(&message)
    };
    ApiError::new(status, class, message)
}
