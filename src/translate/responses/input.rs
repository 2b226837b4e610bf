//! `instructions` and `input` → Converse `system` and `messages`.
//!
//! Items become turns as chat's messages do (chat's turn builder does the work): consecutive
//! items of one role share a turn, `function_call` items are toolUse blocks of the assistant
//! turn, `function_call_output` items toolResult blocks at the head of the next user turn, and
//! system or developer messages go to `system`, after `instructions`. A `reasoning` item that
//! carries `encrypted_content` (the signature this gateway handed out) is replayed as a
//! reasoningContent block at the head of the assistant turn it precedes, so a tool loop that
//! sends its reasoning back keeps Claude's thinking valid; one without is dropped, as chat drops
//! unsigned reasoning.

use std::borrow::Cow;

use crate::bedrock::converse::{
    ContentBlock, ReasoningContentBlock, ReasoningText, Role, SystemContentBlock, ToolResultBlock,
    ToolResultContent, ToolUseBlock,
};
use crate::error::ApiError;
use crate::json::JsonText;
use crate::openai::TextOr;
use crate::openai::responses::{InputItem, InputPart};
use crate::translate::chat::content;
use crate::translate::chat::messages::{
    Builder, Conversation, EMPTY_TOOL_RESULT, non_blank, redacted, tool_input,
};
use crate::translate::chat::param::At;
use crate::translate::chat::tools::{ToolNamer, tool_use_id};

/// `encrypted_content` of a reasoning item that stands for Bedrock's redacted reasoning (whose
/// data follows). Signatures are base64, which has no `:`, so the two never mix up.
pub const REDACTED_PREFIX: &str = "bedrock-redacted:";

/// What a tool result says when its output is only images or files (they follow it).
const ATTACHED_TOOL_RESULT: &str = "(the output is attached)";

pub(crate) fn conversation<'a>(
    instructions: Option<&'a Cow<'a, str>>,
    input: &'a TextOr<'a, InputItem<'a>>,
    namer: &mut ToolNamer<'a>,
) -> Result<Conversation<'a>, ApiError> {
    let mut system: Vec<SystemContentBlock<'a>> = instructions
        .filter(|t| !t.trim().is_empty())
        .map(|t| SystemContentBlock::Text(JsonText::from(t.as_ref())))
        .into_iter()
        .collect();
    let items = match input {
        TextOr::Text(t) => {
            let mut b = Builder::new(1);
            if let Some(text) = non_blank(t) {
                b.add(Role::User, Vec::new(), vec![ContentBlock::Text(text)]);
            }
            return b.finish(system, "input");
        }
        TextOr::List(items) => items,
    };
    let mut b = Builder::new(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = At::Item(i);
        match (item.kind.as_deref(), &item.role) {
            (Some("message"), _) | (None, Some(_)) => message(item, i, &mut system, &mut b)?,
            (Some("function_call"), _) => function_call(item, at, &mut b, namer)?,
            (Some("function_call_output"), _) => function_call_output(item, i, &mut b)?,
            (Some("reasoning"), _) => reasoning(item, at, &mut b)?,
            (Some("item_reference"), _) => {
                return Err(at.invalid(
                    "type",
                    "an item reference points to a stored item, and this gateway stores none: \
                     send the item itself (the Vercel AI SDK sends references unless its provider \
                     option `store` is false)",
                ));
            }
            (Some(other), _) => {
                return Err(at.invalid(
                    "type",
                    format!(
                        "input items of type `{other}` are not supported: use message, function_call, function_call_output or reasoning"
                    ),
                ));
            }
            (None, None) => {
                return Err(at.invalid(
                    "type",
                    "each input item needs a `type` (or, for a message, a `role`)",
                ));
            }
        }
    }
    b.finish(system, "input")
}

fn message<'a>(
    item: &'a InputItem<'a>,
    i: usize,
    system: &mut Vec<SystemContentBlock<'a>>,
    b: &mut Builder<'a>,
) -> Result<(), ApiError> {
    let at = At::Item(i);
    let role = item
        .role
        .as_deref()
        .ok_or_else(|| at.invalid("role", "a message needs a `role`"))?;
    let role = match role {
        "system" | "developer" => None,
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        other => {
            return Err(at.invalid(
                "role",
                format!("invalid role `{other}`: expected user, assistant, system or developer"),
            ));
        }
    };
    let parts = match &item.content {
        None => return Ok(()),
        Some(TextOr::Text(t)) => {
            if let Some(text) = non_blank(t) {
                match role {
                    None => system.push(SystemContentBlock::Text(text)),
                    Some(role) => b.add(role, Vec::new(), vec![ContentBlock::Text(text)]),
                }
            }
            return Ok(());
        }
        Some(TextOr::List(parts)) => parts,
    };
    let mut blocks = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let at = At::ItemPart(i, j);
        let kind = part.kind.as_deref();
        let block = match (role, kind) {
            (_, Some("input_text")) | (Some(Role::Assistant), Some("output_text")) => {
                text(part, at)?.map(ContentBlock::Text)
            }
            (Some(Role::Assistant), Some("refusal")) => part
                .refusal
                .as_deref()
                .filter(|r| !r.trim().is_empty())
                .map(|r| ContentBlock::Text(r.into())),
            (Some(Role::User), Some("input_image")) => Some(image(part, at)?),
            (Some(Role::User), Some("input_file")) => Some(file(part, at, b)?),
            (_, Some(other)) => {
                let allowed = match role {
                    None => "input_text",
                    Some(Role::User) => "input_text, input_image or input_file",
                    Some(Role::Assistant) => "output_text, input_text or refusal",
                };
                return Err(at.invalid(
                    "type",
                    format!("content part type `{other}` is not allowed here: use {allowed}"),
                ));
            }
            (_, None) => return Err(at.invalid("type", "each content part needs a `type`")),
        };
        blocks.extend(block);
    }
    match role {
        None => system.extend(blocks.into_iter().filter_map(|block| match block {
            ContentBlock::Text(t) => Some(SystemContentBlock::Text(t)),
            _ => None,
        })),
        // An empty turn carries nothing, and Bedrock rejects blank text.
        Some(_) if blocks.is_empty() => {}
        Some(role) => b.add(role, Vec::new(), blocks),
    }
    Ok(())
}

/// A text part's non-blank text.
fn text<'a>(part: &'a InputPart<'a>, at: At) -> Result<Option<JsonText<'a>>, ApiError> {
    let text = part
        .text
        .as_ref()
        .ok_or_else(|| at.invalid("text", "a text part needs `text`"))?;
    Ok(non_blank(text))
}

/// `input_image` → image block, from a data URL (a gateway can fetch neither URLs nor files).
fn image<'a>(part: &'a InputPart<'a>, at: At) -> Result<ContentBlock<'a>, ApiError> {
    if let Some(url) = part.image_url.as_ref().and_then(|u| u.url.as_deref()) {
        return content::image_url(url, at, "image_url");
    }
    if part.file_id.is_some() {
        return Err(at.invalid(
            "file_id",
            "uploaded files (`file_id`) are not available through this gateway; send `image_url` as a data: URL",
        ));
    }
    Err(at.invalid(
        "image_url",
        "an input_image part needs `image_url` (a data: URL)",
    ))
}

/// `input_file` → document block, from `file_data`.
fn file<'a>(
    part: &'a InputPart<'a>,
    at: At,
    b: &mut Builder<'a>,
) -> Result<ContentBlock<'a>, ApiError> {
    if let Some(data) = part.file_data.as_deref() {
        let filename = part.filename.as_deref().unwrap_or("");
        return content::file_data(data, filename, at, "file_data", &mut b.document_names);
    }
    if part.file_id.is_some() {
        return Err(at.invalid(
            "file_id",
            "uploaded files (`file_id`) are not available through this gateway; send `file_data` as a data: URL",
        ));
    }
    if part.file_url.is_some() {
        return Err(at.invalid(
            "file_url",
            "a gateway cannot fetch file URLs; send `file_data` as a data: URL",
        ));
    }
    Err(at.invalid(
        "file_data",
        "an input_file part needs `file_data` (a data: URL)",
    ))
}

fn function_call<'a>(
    item: &'a InputItem<'a>,
    at: At,
    b: &mut Builder<'a>,
    namer: &mut ToolNamer<'a>,
) -> Result<(), ApiError> {
    let call_id = item
        .call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| at.invalid("call_id", "a function call needs a `call_id`"))?;
    let name = item
        .name
        .as_deref()
        .ok_or_else(|| at.invalid("name", "a function call needs a `name`"))?;
    let name = namer.name(name, &|| format!("{at}.name"))?;
    let input = tool_input(item.arguments.as_deref().unwrap_or(""), at, "arguments")?;
    let block = ContentBlock::ToolUse(ToolUseBlock {
        tool_use_id: tool_use_id(call_id),
        name,
        input,
    });
    b.add(Role::Assistant, Vec::new(), vec![block]);
    b.open_calls.push(call_id);
    b.uses_tools = true;
    Ok(())
}

fn function_call_output<'a>(
    item: &'a InputItem<'a>,
    i: usize,
    b: &mut Builder<'a>,
) -> Result<(), ApiError> {
    let at = At::Item(i);
    let call_id = item
        .call_id
        .as_deref()
        .ok_or_else(|| at.invalid("call_id", "a function call output needs a `call_id`"))?;
    if !b.open_calls.contains(&call_id) {
        return Err(at.invalid(
            "call_id",
            format!(
                "`call_id` `{call_id}` does not match a function call of the preceding assistant turn"
            ),
        ));
    }
    let mut content = Vec::new();
    // Images and files of the output follow the tool results in the same user turn: Converse
    // takes only text in a tool result here.
    let mut attached = Vec::new();
    match &item.output {
        None => {}
        Some(TextOr::Text(t)) => content.extend(non_blank(t).map(ToolResultContent::Text)),
        Some(TextOr::List(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let at = At::ItemOutput(i, j);
                match part.kind.as_deref() {
                    Some("input_text") => {
                        content.extend(text(part, at)?.map(ToolResultContent::Text));
                    }
                    Some("input_image") => attached.push(image(part, at)?),
                    Some("input_file") => attached.push(file(part, at, b)?),
                    Some(other) => {
                        return Err(at.invalid(
                            "type",
                            format!(
                                "output part type `{other}` is not allowed: use input_text, input_image or input_file"
                            ),
                        ));
                    }
                    None => return Err(at.invalid("type", "each output part needs a `type`")),
                }
            }
        }
    }
    if content.is_empty() {
        // Bedrock refuses both blank text and an empty result: say what there is.
        let why = if attached.is_empty() {
            EMPTY_TOOL_RESULT
        } else {
            ATTACHED_TOOL_RESULT
        };
        content.push(ToolResultContent::Text(why.into()));
    }
    let result = ContentBlock::ToolResult(ToolResultBlock {
        tool_use_id: tool_use_id(call_id),
        content,
    });
    b.uses_tools = true;
    b.add(Role::User, vec![result], attached);
    Ok(())
}

/// A reasoning item → the reasoningContent block it was made from, at the head of the
/// assistant turn it belongs to.
fn reasoning<'a>(item: &'a InputItem<'a>, at: At, b: &mut Builder<'a>) -> Result<(), ApiError> {
    let Some(sealed) = item.encrypted_content.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let block = match sealed.strip_prefix(REDACTED_PREFIX) {
        Some(data) => redacted(data, at, "encrypted_content")?,
        None => {
            // The exact text the signature covers: the content when the client kept it, else
            // the summary (this gateway writes the text there).
            let (field, parts) = match item.content.as_ref() {
                Some(TextOr::List(parts)) if !parts.is_empty() => ("content", parts.as_slice()),
                _ => ("summary", item.summary.as_deref().unwrap_or(&[])),
            };
            ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(ReasoningText {
                text: joined(parts, at, field)?,
                signature: Some(Cow::Borrowed(sealed)),
            }))
        }
    };
    b.add(Role::Assistant, vec![block], Vec::new());
    Ok(())
}

/// The parts' texts one after the other (borrowed when there is one).
fn joined<'a>(parts: &'a [InputPart<'a>], at: At, field: &str) -> Result<Cow<'a, str>, ApiError> {
    let mut out: Option<Cow<'a, str>> = None;
    for (j, part) in parts.iter().enumerate() {
        let text = part.text.as_ref().map(JsonText::text).ok_or_else(|| {
            at.invalid(
                &format!("{field}[{j}].text"),
                "a reasoning part needs `text`",
            )
        })?;
        out = Some(match out {
            None => text,
            Some(prev) => Cow::Owned(prev.into_owned() + &text),
        });
    }
    Ok(out.unwrap_or(Cow::Borrowed("")))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::translate::chat::request::converse_body;
    use crate::translate::chat::tools::bedrock_tool_name;
    use crate::translate::responses::{parse, to_request};

    const PNG: &str = "data:image/png;base64,iVBORw0KGgo=";

    fn body_of(req: Value) -> Value {
        let bytes = serde_json::to_vec(&req).unwrap();
        let parsed = parse(&bytes).unwrap();
        let t = to_request(&parsed).unwrap();
        serde_json::from_slice(&converse_body(&t, 0).unwrap()).unwrap()
    }

    fn err_param(items: Value) -> Option<String> {
        let bytes = serde_json::to_vec(&json!({"model": "m", "input": items})).unwrap();
        let parsed = parse(&bytes).unwrap();
        let e = to_request(&parsed).unwrap_err();
        assert_eq!(e.status, 400, "{}", e.message);
        e.param
    }

    #[test]
    fn a_string_input_is_one_user_message() {
        let out = body_of(json!({"model": "m", "input": "Hello!", "instructions": "Be brief."}));
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": [{"text": "Hello!"}]}],
                   "system": [{"text": "Be brief."}]})
        );
        assert_eq!(err_param(json!("  ")).as_deref(), Some("input"));
        assert_eq!(err_param(json!([])).as_deref(), Some("input"));
    }

    #[test]
    fn every_item_kind_golden() {
        let out = body_of(json!({"model": "m", "instructions": "Rules.", "input": [
            {"role": "developer", "content": "Dev note."},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Sys note."}]},
            {"role": "user", "content": [
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "image_url": PNG, "detail": "auto"},
                {"type": "input_file", "filename": "Q3 report.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed", "content": [
                {"type": "output_text", "text": "A cat and a report.", "annotations": []},
                {"type": "refusal", "refusal": "No more."}]},
            {"role": "user", "content": "Look it up."},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "I should call f."}],
             "encrypted_content": "c2lnLTE="},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup", "arguments": "{\"q\": \"cat\"}", "status": "completed"},
            {"type": "function_call_output", "call_id": "call_1", "output": [
                {"type": "input_text", "text": "Found it."},
                {"type": "input_image", "image_url": PNG}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Here."}]},
            {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "no signature: dropped"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "Thanks."}]}]}));
        assert_eq!(
            out,
            json!({
                "system": [{"text": "Rules."}, {"text": "Dev note."}, {"text": "Sys note."}],
                "messages": [
                    {"role": "user", "content": [
                        {"text": "What is in these?"},
                        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                        {"document": {"format": "pdf", "name": "Q3 report", "source": {"bytes": "JVBERi0="}}}]},
                    {"role": "assistant", "content": [{"text": "A cat and a report."}, {"text": "No more."}]},
                    {"role": "user", "content": [{"text": "Look it up."}]},
                    {"role": "assistant", "content": [
                        {"reasoningContent": {"reasoningText": {"text": "I should call f.", "signature": "c2lnLTE="}}},
                        {"toolUse": {"toolUseId": "call_1", "name": "lookup", "input": {"q": "cat"}}}]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "Found it."}]}},
                        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]},
                    {"role": "assistant", "content": [{"text": "Here."}]},
                    {"role": "user", "content": [{"text": "Thanks."}]}],
                "toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}
            })
        );
    }

    /// A two-call tool loop as the SDKs send it back, with or without the reasoning item.
    fn tool_loop(reasoning: Option<Value>) -> Value {
        let mut items = vec![json!({"role": "user", "content": "Weather in Paris and Rome?"})];
        items.extend(reasoning);
        items.extend([
            json!({"type": "function_call", "call_id": "tooluse_a", "name": "weather.get", "arguments": "{\"city\":\"Paris\"}"}),
            json!({"type": "function_call", "call_id": "tooluse_b", "name": "weather.get", "arguments": ""}),
            json!({"type": "function_call_output", "call_id": "tooluse_a", "output": "20C"}),
            json!({"type": "function_call_output", "call_id": "tooluse_b", "output": ""}),
        ]);
        body_of(json!({"model": "m", "input": items, "tool_choice": "auto",
            "tools": [{"type": "function", "name": "weather.get", "description": "Weather now",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                       "strict": true}]}))
    }

    #[test]
    fn tool_loop_without_reasoning() {
        let out = tool_loop(None);
        let name = bedrock_tool_name("weather.get").into_owned();
        assert_ne!(name, "weather.get");
        assert_eq!(
            out,
            json!({
                "messages": [
                    {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
                    {"role": "assistant", "content": [
                        {"toolUse": {"toolUseId": "tooluse_a", "name": name, "input": {"city": "Paris"}}},
                        {"toolUse": {"toolUseId": "tooluse_b", "name": name, "input": {}}}]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "tooluse_a", "content": [{"text": "20C"}]}},
                        {"toolResult": {"toolUseId": "tooluse_b", "content": [{"text": "(no output)"}]}}]}],
                "toolConfig": {
                    "tools": [{"toolSpec": {"name": name, "description": "Weather now",
                        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
                        "strict": true}}],
                    "toolChoice": {"auto": {}}}
            })
        );
    }

    #[test]
    fn tool_loop_with_reasoning_keeps_the_thinking_first() {
        let out = tool_loop(Some(json!({"type": "reasoning", "id": "rs_x",
            "summary": [{"type": "summary_text", "text": "Two cities, "}, {"type": "summary_text", "text": "two calls."}],
            "encrypted_content": "RXFVaw=="})));
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"reasoningContent": {"reasoningText": {"text": "Two cities, two calls.", "signature": "RXFVaw=="}}})
        );
        assert_eq!(
            out["messages"][1]["content"][1]["toolUse"]["toolUseId"],
            "tooluse_a"
        );
        // The raw reasoning text wins over the summary when the client kept it; redacted
        // reasoning comes back as it went out.
        let out = tool_loop(Some(json!({"type": "reasoning", "summary": [],
            "content": [{"type": "reasoning_text", "text": "raw"}], "encrypted_content": "c2ln"})));
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"reasoningContent": {"reasoningText": {"text": "raw", "signature": "c2ln"}}})
        );
        let out = tool_loop(Some(json!({"type": "reasoning", "summary": [],
            "encrypted_content": "bedrock-redacted:ZW5j"})));
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"reasoningContent": {"redactedContent": "ZW5j"}})
        );
    }

    #[test]
    fn item_errors_name_the_item() {
        let user = json!({"role": "user", "content": "x"});
        let call = |id: &str| json!({"type": "function_call", "call_id": id, "name": "f", "arguments": "{}"});
        let part = |p: Value| json!([{"role": "user", "content": [p]}]);
        let cases = [
            (
                part(json!({"type": "input_image", "image_url": "https://x/cat.png"})),
                "input[0].content[0].image_url",
            ),
            (
                part(json!({"type": "input_image", "image_url": "data:image/bmp;base64,Qk0="})),
                "input[0].content[0].image_url",
            ),
            (
                part(json!({"type": "input_image", "file_id": "file-1"})),
                "input[0].content[0].file_id",
            ),
            (
                part(json!({"type": "input_image"})),
                "input[0].content[0].image_url",
            ),
            (
                part(json!({"type": "input_file", "file_id": "file-1"})),
                "input[0].content[0].file_id",
            ),
            (
                part(json!({"type": "input_file", "file_url": "https://x/a.pdf"})),
                "input[0].content[0].file_url",
            ),
            (
                part(
                    json!({"type": "input_file", "filename": "a.zip", "file_data": "data:application/zip;base64,UEs="}),
                ),
                "input[0].content[0].file_data",
            ),
            (
                part(json!({"type": "input_audio"})),
                "input[0].content[0].type",
            ),
            (
                part(json!({"type": "output_text", "text": "x"})),
                "input[0].content[0].type",
            ),
            (part(json!({"text": "x"})), "input[0].content[0].type"),
            (
                json!([{"role": "system", "content": [{"type": "input_image", "image_url": PNG}]}, user]),
                "input[0].content[0].type",
            ),
            (json!([{"role": "tool", "content": "x"}]), "input[0].role"),
            (
                json!([{"type": "message", "content": "x"}]),
                "input[0].role",
            ),
            (json!([{"content": "x"}]), "input[0].type"),
            (
                json!([user, {"type": "item_reference", "id": "msg_1"}]),
                "input[1].type",
            ),
            (
                json!([user, {"type": "web_search_call", "id": "ws_1"}]),
                "input[1].type",
            ),
            (
                json!([user, {"type": "function_call", "name": "f"}]),
                "input[1].call_id",
            ),
            (
                json!([user, {"type": "function_call", "call_id": "c"}]),
                "input[1].name",
            ),
            (
                json!([user, {"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}]),
                "input[1].arguments",
            ),
            (
                json!([user, {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{no"}]),
                "input[1].arguments",
            ),
            (
                json!([user, {"type": "function_call_output", "call_id": "c", "output": "1"}]),
                "input[1].call_id",
            ),
            (
                json!([user, call("a"), {"type": "function_call_output", "call_id": "a", "output": "1"},
                    call("b"), {"type": "function_call_output", "call_id": "a", "output": "1"}]),
                "input[4].call_id",
            ),
            (
                json!([user, call("a"), {"type": "function_call_output", "call_id": "a", "output": [{"type": "refusal"}]}]),
                "input[2].output[0].type",
            ),
            (
                json!([user, call("a"), {"type": "function_call_output", "call_id": "a", "output": [{"type": "input_image", "image_url": "http://x"}]}]),
                "input[2].output[0].image_url",
            ),
            (
                json!([user, {"type": "reasoning", "summary": [], "encrypted_content": "bedrock-redacted:not base64!"}, call("a")]),
                "input[1].encrypted_content",
            ),
            (
                json!([user, {"type": "reasoning", "summary": [{"type": "summary_text"}], "encrypted_content": "c2ln"}]),
                "input[1].summary[0].text",
            ),
            (json!([{"role": "assistant", "content": "first"}]), "input"),
        ];
        for (items, param) in cases {
            assert_eq!(err_param(items.clone()).as_deref(), Some(param), "{items}");
        }
    }
}
