//! `messages` → Converse `system` and `messages`.
//!
//! Converse wants strict user/assistant alternation, so consecutive same-role turns merge, and
//! `tool` messages become `toolResult` blocks of one user turn (a user message right after them
//! joins that turn). Within a user turn the tool results come first, as Anthropic models
//! require; within an assistant turn the replayed reasoning comes first. Blank text is dropped
//! (Bedrock rejects it).

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::content;
use super::param::At;
use super::tools::{ToolNamer, cache_point, tool_use_id};
use crate::bedrock::converse::{
    ContentBlock, Message, ReasoningContentBlock, ReasoningText, Role, SystemContentBlock,
    ToolResultBlock, ToolResultContent, ToolUseBlock,
};
use crate::error::ApiError;
use crate::json::JsonText;
use crate::openai::{ChatMessage, ContentPart, TextOr, ThinkingBlock, ToolCall};

/// What a tool result with no (or only blank) content says to the model.
pub(crate) const EMPTY_TOOL_RESULT: &str = "(no output)";

/// The translated conversation.
#[derive(Debug)]
pub struct Conversation<'a> {
    pub system: Vec<SystemContentBlock<'a>>,
    pub messages: Vec<Message<'a>>,
    /// Some message holds a toolUse or toolResult block (Bedrock then requires `toolConfig`).
    pub uses_tools: bool,
}

/// A turn under construction: `lead` (tool results, or replayed reasoning) goes first.
#[derive(Debug)]
struct Turn<'a> {
    role: Role,
    lead: Vec<ContentBlock<'a>>,
    blocks: Vec<ContentBlock<'a>>,
}

/// The conversation under construction, shared with the Responses API's input items.
#[derive(Debug)]
pub(crate) struct Builder<'a> {
    turns: Vec<Turn<'a>>,
    /// Client IDs of the tool calls of the latest assistant turn.
    pub(crate) open_calls: Vec<&'a str>,
    pub(crate) document_names: Vec<String>,
    pub(crate) uses_tools: bool,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(capacity: usize) -> Self {
        Builder {
            turns: Vec::with_capacity(capacity),
            open_calls: Vec::new(),
            document_names: Vec::new(),
            uses_tools: false,
        }
    }

    /// Add a message's blocks: to the last turn if it has the same role, else as a new turn.
    pub(crate) fn add(
        &mut self,
        role: Role,
        mut lead: Vec<ContentBlock<'a>>,
        mut blocks: Vec<ContentBlock<'a>>,
    ) {
        match self.turns.last_mut() {
            Some(t) if t.role == role => {
                t.lead.append(&mut lead);
                t.blocks.append(&mut blocks);
            }
            _ => {
                if role == Role::Assistant {
                    self.open_calls.clear();
                }
                self.turns.push(Turn { role, lead, blocks });
            }
        }
    }
}

pub fn translate<'a>(
    messages: &'a [ChatMessage<'a>],
    namer: &mut ToolNamer<'a>,
) -> Result<Conversation<'a>, ApiError> {
    let mut system = Vec::new();
    let mut b = Builder::new(messages.len());
    for (i, msg) in messages.iter().enumerate() {
        let at = At::Message(i);
        let role = msg
            .role
            .as_deref()
            .ok_or_else(|| at.invalid("role", "each message needs a `role`"))?;
        match role {
            "system" | "developer" => system_message(msg, i, &mut system)?,
            "user" => user_message(msg, i, &mut b)?,
            "assistant" => assistant_message(msg, i, &mut b, namer)?,
            "tool" => tool_message(msg, i, &mut b)?,
            "function" => {
                return Err(at.invalid(
                    "role",
                    "the deprecated `function` role is not supported: use `tool` messages",
                ));
            }
            other => {
                return Err(at.invalid(
                    "role",
                    format!(
                        "invalid role `{other}`: expected system, developer, user, assistant or tool"
                    ),
                ));
            }
        }
    }
    b.finish(system, "messages")
}

impl<'a> Builder<'a> {
    /// The finished conversation. It must start with a user turn; `param` names the list the
    /// turns came from (`messages`, or the Responses API's `input`).
    pub(crate) fn finish(
        self,
        system: Vec<SystemContentBlock<'a>>,
        param: &str,
    ) -> Result<Conversation<'a>, ApiError> {
        match self.turns.first() {
            None => {
                return Err(ApiError::invalid(
                    param,
                    format!(
                        "`{param}` must contain at least one user message with non-empty content"
                    ),
                ));
            }
            Some(first) if first.role != Role::User => {
                return Err(ApiError::invalid(
                    param,
                    "the conversation must start with a user message (after any system messages)",
                ));
            }
            Some(_) => {}
        }
        let messages = self
            .turns
            .into_iter()
            .map(|mut t| {
                t.lead.append(&mut t.blocks);
                Message {
                    role: t.role,
                    content: t.lead,
                }
            })
            .collect();
        Ok(Conversation {
            system,
            messages,
            uses_tools: self.uses_tools,
        })
    }
}

fn system_message<'a>(
    msg: &'a ChatMessage<'a>,
    i: usize,
    system: &mut Vec<SystemContentBlock<'a>>,
) -> Result<(), ApiError> {
    let before = system.len();
    match &msg.content {
        None => {}
        Some(TextOr::Text(t)) => system.extend(non_blank(t).map(SystemContentBlock::Text)),
        Some(TextOr::List(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let at = At::Part(i, j);
                let Some(text) = text_part(part, at)? else {
                    continue;
                };
                system.push(SystemContentBlock::Text(text));
                if let Some(cp) = cache_point(part.cache_control.as_ref(), at)? {
                    system.push(SystemContentBlock::CachePoint(cp));
                }
            }
        }
    }
    if system.len() > before
        && let Some(cp) = cache_point(msg.cache_control.as_ref(), At::Message(i))?
    {
        system.push(SystemContentBlock::CachePoint(cp));
    }
    Ok(())
}

/// A text (or, in assistant history, refusal) part's non-blank text; other types are an error.
fn text_part<'a>(part: &'a ContentPart<'a>, at: At) -> Result<Option<JsonText<'a>>, ApiError> {
    match part.kind.as_deref() {
        Some("text") => {
            let text = part
                .text
                .as_ref()
                .ok_or_else(|| at.invalid("text", "a text part needs `text`"))?;
            Ok(non_blank(text))
        }
        Some(other) => Err(at.invalid(
            "type",
            format!("content part type `{other}` is not allowed here: only `text`"),
        )),
        None => Err(at.invalid("type", "each content part needs a `type`")),
    }
}

fn user_message<'a>(
    msg: &'a ChatMessage<'a>,
    i: usize,
    b: &mut Builder<'a>,
) -> Result<(), ApiError> {
    let mut blocks = Vec::new();
    match &msg.content {
        None => {}
        Some(TextOr::Text(t)) => blocks.extend(non_blank(t).map(ContentBlock::Text)),
        Some(TextOr::List(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let at = At::Part(i, j);
                let block = match part.kind.as_deref() {
                    Some("text") => text_part(part, at)?.map(ContentBlock::Text),
                    Some("image_url") => Some(content::image(part.image_url.as_ref(), at)?),
                    Some("file") => Some(content::document(
                        part.file.as_ref(),
                        at,
                        &mut b.document_names,
                    )?),
                    Some("input_audio") => {
                        return Err(at.invalid(
                            "type",
                            "audio input is not supported by Bedrock's Converse API through this gateway",
                        ));
                    }
                    Some(other) => {
                        return Err(at.invalid(
                            "type",
                            format!(
                                "unknown content part type `{other}`: expected text, image_url or file"
                            ),
                        ));
                    }
                    None => {
                        return Err(at.invalid("type", "each content part needs a `type`"));
                    }
                };
                let Some(block) = block else { continue };
                blocks.push(block);
                if let Some(cp) = cache_point(part.cache_control.as_ref(), at)? {
                    blocks.push(ContentBlock::CachePoint(cp));
                }
            }
        }
    }
    if blocks.is_empty() {
        // Nothing but blank text: an empty turn carries nothing, and Bedrock rejects blank text.
        return Ok(());
    }
    if let Some(cp) = cache_point(msg.cache_control.as_ref(), At::Message(i))? {
        blocks.push(ContentBlock::CachePoint(cp));
    }
    b.add(Role::User, Vec::new(), blocks);
    Ok(())
}

fn assistant_message<'a>(
    msg: &'a ChatMessage<'a>,
    i: usize,
    b: &mut Builder<'a>,
    namer: &mut ToolNamer<'a>,
) -> Result<(), ApiError> {
    let lead = reasoning(msg, i)?;
    let mut blocks = Vec::new();
    match &msg.content {
        None => {}
        Some(TextOr::Text(t)) => blocks.extend(non_blank(t).map(ContentBlock::Text)),
        Some(TextOr::List(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let at = At::Part(i, j);
                let text = if part.kind.as_deref() == Some("refusal") {
                    part.refusal
                        .as_deref()
                        .filter(|r| !r.trim().is_empty())
                        .map(JsonText::from)
                } else {
                    text_part(part, at)?
                };
                let Some(text) = text else { continue };
                blocks.push(ContentBlock::Text(text));
                if let Some(cp) = cache_point(part.cache_control.as_ref(), at)? {
                    blocks.push(ContentBlock::CachePoint(cp));
                }
            }
        }
    }
    // What the model said when it refused, as OpenAI returns it beside `content: null`.
    let refusal = msg.refusal.as_deref().filter(|r| !r.trim().is_empty());
    blocks.extend(refusal.map(|r| ContentBlock::Text(JsonText::from(r))));
    let mut ids = Vec::new();
    for (j, call) in msg.tool_calls.iter().flatten().enumerate() {
        let (id, block) = tool_use(call, At::ToolCall(i, j), namer)?;
        ids.push(id);
        blocks.push(block);
    }
    if blocks.is_empty() && lead.is_empty() {
        return Ok(());
    }
    if !ids.is_empty() {
        b.uses_tools = true;
    }
    if let Some(cp) = cache_point(msg.cache_control.as_ref(), At::Message(i))? {
        blocks.push(ContentBlock::CachePoint(cp));
    }
    b.add(Role::Assistant, lead, blocks);
    b.open_calls.extend(ids);
    Ok(())
}

fn tool_use<'a>(
    call: &'a ToolCall<'a>,
    at: At,
    namer: &mut ToolNamer<'a>,
) -> Result<(&'a str, ContentBlock<'a>), ApiError> {
    if let Some(kind) = call.kind.as_deref()
        && kind != "function"
    {
        return Err(at.invalid("type", "only tool calls of type \"function\" are supported"));
    }
    let id = call
        .id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| at.invalid("id", "a tool call needs an `id`"))?;
    let f = call
        .function
        .as_ref()
        .ok_or_else(|| at.invalid("function", "a tool call needs `function`"))?;
    const NAME: &str = "function.name";
    let name = f
        .name
        .as_deref()
        .ok_or_else(|| at.invalid(NAME, "a tool call needs `function.name`"))?;
    let name = namer.name(name, &|| format!("{at}.{NAME}"))?;
    let input = tool_input(
        f.arguments.as_deref().unwrap_or(""),
        at,
        "function.arguments",
    )?;
    let block = ContentBlock::ToolUse(ToolUseBlock {
        tool_use_id: tool_use_id(id),
        name,
        input,
    });
    Ok((id, block))
}

/// A tool call's `arguments` (JSON text) as the toolUse input: a JSON object, `{}` for blank
/// text (which some clients send for a call without arguments). Errors name `<at>.<field>`.
pub(crate) fn tool_input<'a>(
    args: &'a str,
    at: At,
    field: &str,
) -> Result<Cow<'a, RawValue>, ApiError> {
    if args.trim().is_empty() {
        return RawValue::from_string("{}".to_string())
            .map(Cow::Owned)
            .map_err(|e| at.invalid(field, format!("internal error: {e}")));
    }
    let raw: &'a RawValue = serde_json::from_str(args)
        .map_err(|e| at.invalid(field, format!("`arguments` is not valid JSON: {e}")))?;
    if !raw.get().starts_with('{') {
        return Err(at.invalid(field, "`arguments` must be a JSON object"));
    }
    Ok(Cow::Borrowed(raw))
}

fn tool_message<'a>(
    msg: &'a ChatMessage<'a>,
    i: usize,
    b: &mut Builder<'a>,
) -> Result<(), ApiError> {
    let at = At::Message(i);
    let id = msg
        .tool_call_id
        .as_deref()
        .ok_or_else(|| at.invalid("tool_call_id", "a tool message needs `tool_call_id`"))?;
    if !b.open_calls.contains(&id) {
        return Err(at.invalid(
            "tool_call_id",
            format!(
                "`tool_call_id` `{id}` does not match a tool call of the preceding assistant message"
            ),
        ));
    }
    let mut content = Vec::new();
    match &msg.content {
        None => {}
        Some(TextOr::Text(t)) => {
            content.extend(non_blank(t).map(ToolResultContent::Text));
        }
        Some(TextOr::List(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let at = At::Part(i, j);
                content.extend(text_part(part, at)?.map(ToolResultContent::Text));
            }
        }
    }
    if content.is_empty() {
        // Bedrock refuses both blank text and an empty result: say plainly there was nothing.
        content.push(ToolResultContent::Text(EMPTY_TOOL_RESULT.into()));
    }
    let cache = cache_point(msg.cache_control.as_ref(), At::Message(i))?;
    b.uses_tools = true;
    let mut lead = vec![ContentBlock::ToolResult(ToolResultBlock {
        tool_use_id: tool_use_id(id),
        content,
    })];
    lead.extend(cache.map(ContentBlock::CachePoint));
    b.add(Role::User, lead, Vec::new());
    Ok(())
}

/// Reasoning replayed from assistant history, as reasoningContent blocks. Reasoning without a
/// signature is dropped: models that check reasoning (Claude) refuse it unsigned, and it carries
/// nothing the model needs to continue.
fn reasoning<'a>(msg: &'a ChatMessage<'a>, i: usize) -> Result<Vec<ContentBlock<'a>>, ApiError> {
    let mut out = Vec::new();
    if let Some(blocks) = msg.thinking_blocks.as_ref().filter(|b| !b.is_empty()) {
        for (j, tb) in blocks.iter().enumerate() {
            out.extend(thinking_block(tb, At::ThinkingBlock(i, j))?);
        }
    } else if let (Some(text), Some(sig)) = (&msg.reasoning_content, &msg.reasoning_signature)
        && !sig.is_empty()
    {
        out.push(reasoning_text(text, sig));
    }
    if let Some(data) = msg.redacted_content.as_deref() {
        out.push(redacted(data, At::Message(i), "redacted_content")?);
    }
    Ok(out)
}

fn thinking_block<'a>(
    tb: &'a ThinkingBlock<'a>,
    at: At,
) -> Result<Option<ContentBlock<'a>>, ApiError> {
    match tb.kind.as_deref() {
        Some("thinking") => Ok(match (&tb.thinking, &tb.signature) {
            (Some(text), Some(sig)) if !sig.is_empty() => Some(reasoning_text(text, sig)),
            _ => None,
        }),
        Some("redacted_thinking") => {
            let data = tb
                .data
                .as_deref()
                .ok_or_else(|| at.invalid("data", "a redacted_thinking block needs `data`"))?;
            Ok(Some(redacted(data, at, "data")?))
        }
        _ => Err(at.invalid(
            "type",
            "a thinking block's `type` must be \"thinking\" or \"redacted_thinking\"",
        )),
    }
}

pub(crate) fn reasoning_text<'a>(text: &'a str, sig: &'a str) -> ContentBlock<'a> {
    ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(ReasoningText {
        text: Cow::Borrowed(text),
        signature: Some(Cow::Borrowed(sig)),
    }))
}

pub(crate) fn redacted<'a>(
    data: &'a str,
    at: At,
    field: &str,
) -> Result<ContentBlock<'a>, ApiError> {
    if !content::is_base64(data) {
        return Err(at.invalid(field, "redacted reasoning must be base64"));
    }
    Ok(ContentBlock::ReasoningContent(
        ReasoningContentBlock::RedactedContent(Cow::Borrowed(data)),
    ))
}

pub(crate) fn non_blank<'a>(t: &'a JsonText<'a>) -> Option<JsonText<'a>> {
    if t.is_blank() {
        None
    } else {
        Some(t.reborrow())
    }
}

#[cfg(test)]
mod tests {
    use crate::translate::chat::to_converse;
    use serde_json::{Value, json};

    fn body_of(messages: Value) -> Value {
        let req = json!({"model": "m", "messages": messages});
        let call = to_converse(&serde_json::to_vec(&req).unwrap()).unwrap();
        serde_json::from_slice(&call.body).unwrap()
    }

    fn err_param(messages: Value) -> Option<String> {
        let req = json!({"model": "m", "messages": messages});
        let e = to_converse(&serde_json::to_vec(&req).unwrap()).unwrap_err();
        assert_eq!(e.status, 400, "{}", e.message);
        e.param
    }

    const PNG: &str = "data:image/png;base64,iVBORw0KGgo=";

    #[test]
    fn tool_loop_golden() {
        let out = body_of(json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in Paris and Rome?", "name": "bob"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\": 20}"},
            {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "rain"}]},
            {"role": "user", "content": "and tomorrow?"}]));
        assert_eq!(
            out,
            json!({
                "system": [{"text": "be brief"}],
                "messages": [
                    {"role": "user", "content": [{"text": "weather in Paris and Rome?"}]},
                    {"role": "assistant", "content": [
                        {"text": "Checking."},
                        {"toolUse": {"toolUseId": "call_a", "name": "get_weather", "input": {"city": "Paris"}}},
                        {"toolUse": {"toolUseId": "call_b", "name": "get_weather", "input": {}}}]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "call_a", "content": [{"text": "{\"temp\": 20}"}]}},
                        {"toolResult": {"toolUseId": "call_b", "content": [{"text": "rain"}]}},
                        {"text": "and tomorrow?"}]}],
                "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
            })
        );
    }

    #[test]
    fn tool_arguments_pass_through_verbatim() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"x"},
            {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\": [1, 2.50]}"}}]},
            {"role":"tool","tool_call_id":"c","content":""}]}"#;
        let call = to_converse(body).unwrap();
        let text = std::str::from_utf8(&call.body).unwrap();
        assert!(text.contains(r#""input":{"a": [1, 2.50]}"#), "{text}");
        // Bedrock refuses blank text and empty results alike: a blank result says so.
        assert!(
            text.contains(r#"{"toolResult":{"toolUseId":"c","content":[{"text":"(no output)"}]}}"#),
            "{text}"
        );
    }

    #[test]
    fn tool_results_come_first_in_their_user_turn() {
        let out = body_of(json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "user", "content": "meanwhile"},
            {"role": "tool", "tool_call_id": "b", "content": "2", "cache_control": {"type": "ephemeral"}}]));
        assert_eq!(
            out["messages"][2]["content"],
            json!([
                {"toolResult": {"toolUseId": "a", "content": [{"text": "1"}]}},
                {"toolResult": {"toolUseId": "b", "content": [{"text": "2"}]}},
                {"cachePoint": {"type": "default"}},
                {"text": "meanwhile"}])
        );
    }

    #[test]
    fn tool_message_errors() {
        let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}});
        // A result for a call the preceding assistant turn did not make.
        assert_eq!(
            err_param(json!([
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [call("a")]},
                {"role": "tool", "tool_call_id": "a", "content": "1"},
                {"role": "assistant", "content": "ok", "tool_calls": [call("b")]},
                {"role": "tool", "tool_call_id": "a", "content": "1"}]))
            .as_deref(),
            Some("messages[4].tool_call_id")
        );
        assert_eq!(
            err_param(json!([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "a", "content": "1"}])).as_deref(),
            Some("messages[1].tool_call_id")
        );
        assert_eq!(
            err_param(json!([{"role": "user", "content": "x"}, {"role": "tool", "content": "1"}]))
                .as_deref(),
            Some("messages[1].tool_call_id")
        );
        assert_eq!(
            err_param(json!([{"role": "user", "content": "x"}, {"role": "function", "name": "f", "content": "1"}])).as_deref(),
            Some("messages[1].role")
        );
        let args = |a: &str| {
            json!([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": a}}]}])
        };
        for bad in ["{not json", "[1]", "\"s\"", "{} x"] {
            assert_eq!(
                err_param(args(bad)).as_deref(),
                Some("messages[1].tool_calls[0].function.arguments"),
                "{bad}"
            );
        }
        assert_eq!(
            err_param(json!([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}])).as_deref(),
            Some("messages[1].tool_calls[0].id")
        );
        assert_eq!(
            err_param(json!([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"arguments": "{}"}}]}])).as_deref(),
            Some("messages[1].tool_calls[0].function.name")
        );
    }

    #[test]
    fn reasoning_is_replayed_first_with_its_signature() {
        let out = body_of(json!([
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": "Let me check.", "reasoning_content": "I should call f.",
             "reasoning_signature": "sig-1", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "assistant", "content": "Done.", "thinking_blocks": [
                {"type": "thinking", "thinking": "t1", "signature": "s1"},
                {"type": "redacted_thinking", "data": "ZW5j"},
                {"type": "thinking", "thinking": "unsigned"}]},
            {"role": "assistant", "content": "More.", "reasoning_content": "no signature, dropped"},
            {"role": "user", "content": "y"}]));
        assert_eq!(
            out["messages"][1]["content"],
            json!([
                {"reasoningContent": {"reasoningText": {"text": "I should call f.", "signature": "sig-1"}}},
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "a", "name": "f", "input": {}}}])
        );
        assert_eq!(
            out["messages"][3]["content"],
            json!([
                {"reasoningContent": {"reasoningText": {"text": "t1", "signature": "s1"}}},
                {"reasoningContent": {"redactedContent": "ZW5j"}},
                {"text": "Done."},
                {"text": "More."}])
        );
        assert_eq!(
            err_param(
                json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "a",
                "thinking_blocks": [{"type": "redacted_thinking", "data": "not base64!"}]}])
            )
            .as_deref(),
            Some("messages[1].thinking_blocks[0].data")
        );
        assert_eq!(
            err_param(
                json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "a",
                "thinking_blocks": [{"type": "musing"}]}])
            )
            .as_deref(),
            Some("messages[1].thinking_blocks[0].type")
        );
    }

    #[test]
    fn images_and_documents() {
        let out = body_of(json!([{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4A=="}},
            {"type": "file", "file": {"filename": "Q3 report.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
            {"type": "file", "file": {"filename": "Q3 report.md", "file_data": "data:application/octet-stream;base64,IyBoaQ=="}},
            {"type": "image_url", "image_url": PNG},
            {"type": "file", "file": {"filename": "notes.txt", "file_data": "aGk="}}]}]));
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"text": "what is this?"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/4A=="}}},
                {"document": {"format": "pdf", "name": "Q3 report", "source": {"bytes": "JVBERi0="}}},
                {"document": {"format": "md", "name": "Q3 report (2)", "source": {"bytes": "IyBoaQ=="}}},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                {"document": {"format": "txt", "name": "notes", "source": {"bytes": "aGk="}}}])
        );
    }

    #[test]
    fn repeated_long_document_names_stay_within_200_characters() {
        let long = format!("{}.pdf", "a".repeat(250));
        let file = json!({"type": "file", "file": {"filename": long, "file_data": "data:application/pdf;base64,JVBERi0="}});
        let out = body_of(json!([{"role": "user", "content": [file.clone(), file.clone(), file]}]));
        let names: Vec<&str> = out["messages"][0]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["document"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names[0], "a".repeat(200));
        assert_eq!(names[1], format!("{} (2)", "a".repeat(196)));
        assert_eq!(names[2], format!("{} (3)", "a".repeat(196)));
    }

    #[test]
    fn binary_part_errors() {
        let part = |p: Value| json!([{"role": "user", "content": [p]}]);
        let img = |url: &str| part(json!({"type": "image_url", "image_url": {"url": url}}));
        let url_param = Some("messages[0].content[0].image_url.url".to_string());
        for bad in [
            "https://example.com/cat.png",
            "http://example.com/cat.png",
            "data:image/png;base64,not base64!",
            "data:image/png,rawbytes",
            "data:image/bmp;base64,Qk0=",
            "data:image/png;base64",
            "ftp://x",
        ] {
            assert_eq!(err_param(img(bad)), url_param, "{bad}");
        }
        let e = to_converse(
            &serde_json::to_vec(&json!({"model": "m", "messages": img("https://x/y.png")}))
                .unwrap(),
        )
        .unwrap_err();
        assert!(
            e.message.contains("cannot fetch image URLs"),
            "{}",
            e.message
        );
        assert_eq!(err_param(part(json!({"type": "image_url"}))), url_param);
        for (file, why) in [
            (
                json!({"filename": "a.pdf", "file_data": "%%"}),
                "not base64",
            ),
            (
                json!({"file_data": "aGk="}),
                "bare base64 without a filename has no format",
            ),
        ] {
            assert_eq!(
                err_param(part(json!({"type": "file", "file": file}))).as_deref(),
                Some("messages[0].content[0].file.file_data"),
                "{why}"
            );
        }
        assert_eq!(
            err_param(part(
                json!({"type": "file", "file": {"file_id": "file-abc"}})
            ))
            .as_deref(),
            Some("messages[0].content[0].file.file_data")
        );
        assert_eq!(
            err_param(part(json!({"type": "file", "file": {"filename": "a.zip", "file_data": "data:application/zip;base64,UEs="}}))).as_deref(),
            Some("messages[0].content[0].file.file_data")
        );
        assert_eq!(
            err_param(part(
                json!({"type": "input_audio", "input_audio": {"data": "UEs=", "format": "wav"}})
            ))
            .as_deref(),
            Some("messages[0].content[0].type")
        );
        // Assistant and system turns take text only.
        assert_eq!(
            err_param(
                json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": [
                {"type": "image_url", "image_url": {"url": PNG}}]}])
            )
            .as_deref(),
            Some("messages[1].content[0].type")
        );
        assert_eq!(
            err_param(json!([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}, {"role": "user", "content": "x"}])).as_deref(),
            Some("messages[0].content[0].type")
        );
    }

    #[test]
    fn cache_control_becomes_cache_points() {
        let out = body_of(json!([
            {"role": "system", "content": [{"type": "text", "text": "long rules", "cache_control": {"type": "ephemeral"}}]},
            {"role": "developer", "content": "more rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"role": "user", "content": [
                {"type": "text", "text": "doc", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
                {"type": "text", "text": "question"}]},
            {"role": "assistant", "content": "answer", "cache_control": {"type": "ephemeral"}},
            {"role": "user", "content": "again", "cache_control": {"type": "ephemeral"}}]));
        assert_eq!(
            out["system"],
            json!([{"text": "long rules"}, {"cachePoint": {"type": "default"}},
                   {"text": "more rules"}, {"cachePoint": {"type": "default", "ttl": "1h"}}])
        );
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [{"text": "doc"}, {"cachePoint": {"type": "default", "ttl": "5m"}}, {"text": "question"}]},
                {"role": "assistant", "content": [{"text": "answer"}, {"cachePoint": {"type": "default"}}]},
                {"role": "user", "content": [{"text": "again"}, {"cachePoint": {"type": "default"}}]}])
        );
        assert_eq!(
            err_param(json!([{"role": "user", "content": "x", "cache_control": {"type": "ephemeral", "ttl": "2d"}}])).as_deref(),
            Some("messages[0].cache_control.ttl")
        );
        assert_eq!(
            err_param(json!([{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {}}]}])).as_deref(),
            Some("messages[0].content[0].cache_control.type")
        );
    }

    #[test]
    fn a_replayed_refusal_stays_the_assistants_turn() {
        let out = body_of(json!([
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": null, "refusal": "I can't help with that."},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "ok", "refusal": null}]));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "assistant", "content": [{"text": "I can't help with that."}]},
                {"role": "user", "content": [{"text": "b"}]},
                {"role": "assistant", "content": [{"text": "ok"}]}])
        );
    }

    #[test]
    fn blank_text_and_consecutive_turns() {
        let out = body_of(json!([
            {"role": "user", "content": [{"type": "text", "text": " "}, {"type": "text", "text": "a"}]},
            {"role": "user", "content": "\n\t"},
            {"role": "assistant", "content": [{"type": "text", "text": "b"}, {"type": "refusal", "refusal": "no"}]},
            {"role": "assistant", "content": null},
            {"role": "assistant", "content": "c"},
            {"role": "user", "content": "d"}]));
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "assistant", "content": [{"text": "b"}, {"text": "no"}, {"text": "c"}]},
                {"role": "user", "content": [{"text": "d"}]}])
        );
        // Starting with an assistant turn (once blanks are gone) is refused.
        assert_eq!(
            err_param(
                json!([{"role": "user", "content": " "}, {"role": "assistant", "content": "x"}])
            )
            .as_deref(),
            Some("messages")
        );
    }
}
