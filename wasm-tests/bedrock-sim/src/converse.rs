//! Converse / ConverseStream request validation, strict like the real service.
//!
//! First the body is checked against the API model (see [`crate::shapes`]); then the
//! rules the service enforces beyond the model: a non-empty conversation that starts
//! with a user turn and alternates roles, no empty content, no blank text, tool blocks
//! only with a `toolConfig` and in the right turn, tool results answering exactly the
//! tool calls of the previous assistant turn, unique tool names, a `toolChoice` naming a
//! defined tool, object-typed tool schemas and tool inputs, valid document names.

use std::collections::HashSet;

use serde_json::Value;

use crate::errors::AwsError;
use crate::reply::Prompt;
use crate::shapes::{Model, violations_message};
use crate::util::word_count;

/// Parses the body as JSON, or the real service's malformed-request error.
pub fn parse_json_body(body: &[u8]) -> Result<Value, AwsError> {
    if body.is_empty() {
        return Err(AwsError::malformed("#: request body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| AwsError::malformed(format!("#: request body is not valid JSON ({e})")))
}

/// Validates a Converse or ConverseStream body (each against its own request shape: only
/// ConverseStream's guardrailConfig has streamProcessingMode) and extracts what the reply needs.
#[cfg(test)]
pub fn validate(body: &[u8], stream: bool) -> Result<Prompt, AwsError> {
    validate_value(body, stream).map(|(_, p)| p)
}

/// [`validate`], also returning the body (for the model family rules, see
/// [`crate::rules::check_converse`]).
pub fn validate_value(body: &[u8], stream: bool) -> Result<(Value, Prompt), AwsError> {
    let v = parse_json_body(body)?;
    if !v.is_object() {
        return Err(AwsError::malformed(format!(
            "#: expected type: JSONObject, found: {}",
            match v {
                Value::Array(_) => "JSONArray",
                Value::String(_) => "String",
                Value::Number(_) => "Number",
                Value::Bool(_) => "Boolean",
                _ => "Null",
            }
        )));
    }
    let root = if stream {
        "ConverseStreamRequest"
    } else {
        "ConverseRequest"
    };
    let violations = Model::runtime().validate(root, &v);
    if let Some(msg) = violations_message(&violations) {
        return Err(AwsError::validation(msg));
    }
    check_rules(&v)?;
    let prompt = prompt_of(&v);
    Ok((v, prompt))
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The service's rules beyond the API model (see the module documentation).
pub fn check_rules(v: &Value) -> Result<(), AwsError> {
    let messages = arr(v, "messages");
    if messages.is_empty() {
        return Err(AwsError::validation(
            "The messages field is empty. Add at least one message to the messages field and try again.",
        ));
    }
    let has_tool_config = v.get("toolConfig").is_some_and(|t| !t.is_null());
    let mut prev_role = "";
    let mut prev_tool_uses: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                i + 1
            )));
        }
        if i == 0 && role != "user" {
            return Err(AwsError::validation(
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
            ));
        }
        if role == prev_role {
            return Err(AwsError::validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
            ));
        }
        let content = arr(m, "content");
        if content.is_empty() {
            return Err(AwsError::validation(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        let mut tool_uses = Vec::new();
        let mut results_seen: Vec<String> = Vec::new();
        for (j, block) in content.iter().enumerate() {
            if let Some(text) = block.get("text").and_then(Value::as_str)
                && text.trim().is_empty()
            {
                return Err(AwsError::validation(format!(
                    "The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                )));
            }
            if let Some(doc) = block.get("document") {
                check_document_name(doc)?;
            }
            let tool_use = block.get("toolUse");
            let tool_result = block.get("toolResult");
            if (tool_use.is_some() || tool_result.is_some()) && !has_tool_config {
                return Err(AwsError::validation(
                    "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
                ));
            }
            if let Some(tu) = tool_use {
                if role != "assistant" {
                    return Err(AwsError::validation(format!(
                        "The toolUse block at messages.{i}.content.{j} is in a user message. toolUse blocks are only allowed in assistant messages."
                    )));
                }
                if !tu.get("input").is_some_and(Value::is_object) {
                    return Err(AwsError::validation(format!(
                        "The input field of the toolUse block at messages.{i}.content.{j} must be a JSON object."
                    )));
                }
                let id = tu.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                if tool_uses.iter().any(|t| t == id) {
                    return Err(AwsError::validation(format!(
                        "The toolUse blocks at messages.{i}.content contain duplicate Ids: {id}"
                    )));
                }
                tool_uses.push(id.to_owned());
            }
            if let Some(tr) = tool_result {
                if role != "user" {
                    return Err(AwsError::validation(format!(
                        "The toolResult block at messages.{i}.content.{j} is in an assistant message. toolResult blocks are only allowed in user messages."
                    )));
                }
                let id = tr.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                if results_seen.iter().any(|t| t == id) {
                    return Err(AwsError::validation(format!(
                        "The toolResult blocks at messages.{i}.content contain duplicate Ids: {id}"
                    )));
                }
                if !prev_tool_uses.iter().any(|t| t == id) {
                    return Err(AwsError::validation(format!(
                        "The toolUseId {id} of the toolResult block at messages.{i}.content.{j} does not match any toolUse block in the previous assistant turn."
                    )));
                }
                results_seen.push(id.to_owned());
            }
        }
        if role == "user" && !prev_tool_uses.is_empty() {
            let missing: Vec<&str> = prev_tool_uses
                .iter()
                .filter(|id| !results_seen.contains(id))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(AwsError::validation(format!(
                    "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                    missing.join(", ")
                )));
            }
        }
        prev_tool_uses = tool_uses;
        prev_role = role;
    }
    if let Some(tc) = v.get("toolConfig") {
        check_tool_config(tc)?;
    }
    Ok(())
}

fn check_tool_config(tc: &Value) -> Result<(), AwsError> {
    let mut names: HashSet<&str> = HashSet::new();
    for (i, tool) in arr(tc, "tools").iter().enumerate() {
        let Some(spec) = tool.get("toolSpec") else {
            continue;
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        if !names.insert(name) {
            return Err(AwsError::validation(format!(
                "The tool name {name} at toolConfig.tools.{i}.toolSpec is used by more than one tool. Tool names must be unique."
            )));
        }
        let schema = spec.get("inputSchema").and_then(|s| s.get("json"));
        match schema {
            Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some("object") => {}
            Some(Value::Object(_)) => {
                return Err(AwsError::validation(format!(
                    "The JSON schema at toolConfig.tools.{i}.toolSpec.inputSchema.json must have \"type\": \"object\"."
                )));
            }
            _ => {
                return Err(AwsError::validation(format!(
                    "The inputSchema.json at toolConfig.tools.{i}.toolSpec must be a JSON object (a JSON schema)."
                )));
            }
        }
    }
    if let Some(name) = tc
        .get("toolChoice")
        .and_then(|c| c.get("tool"))
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        && !names.contains(name)
    {
        return Err(AwsError::validation(format!(
            "The tool {name} named in toolConfig.toolChoice is not defined in toolConfig.tools."
        )));
    }
    Ok(())
}

fn check_document_name(doc: &Value) -> Result<(), AwsError> {
    let name = doc.get("name").and_then(Value::as_str).unwrap_or("");
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || "-()[]".contains(c));
    if !chars_ok || name.contains("  ") {
        return Err(AwsError::validation(
            "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character.",
        ));
    }
    Ok(())
}

fn texts_of_blocks(blocks: &[Value]) -> Vec<String> {
    blocks
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn tool_result_texts(blocks: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for b in blocks {
        if let Some(tr) = b.get("toolResult") {
            for c in arr(tr, "content") {
                if let Some(t) = c.get("text").and_then(Value::as_str) {
                    out.push(t.to_owned());
                } else if let Some(j) = c.get("json") {
                    out.push(j.to_string());
                }
            }
        }
    }
    out
}

/// The prompt of a valid Converse body: input words are those of the system text blocks,
/// the messages' text blocks and their tool results' text; the echoed text is the last
/// user message's text blocks joined with a space (its tool results if it has no text).
pub fn prompt_of(v: &Value) -> Prompt {
    let messages = arr(v, "messages");
    let mut input_words = texts_of_blocks(arr(v, "system"))
        .iter()
        .map(|t| word_count(t))
        .sum::<u64>();
    for m in messages {
        let content = arr(m, "content");
        for t in texts_of_blocks(content)
            .iter()
            .chain(tool_result_texts(content).iter())
        {
            input_words += word_count(t);
        }
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let last_user_text = last_user
        .map(|m| {
            let content = arr(m, "content");
            let texts = texts_of_blocks(content);
            if texts.is_empty() {
                tool_result_texts(content).join(" ")
            } else {
                texts.join(" ")
            }
        })
        .unwrap_or_default();
    let ic = v.get("inferenceConfig");
    Prompt {
        input_words,
        last_user_text,
        max_tokens: ic.and_then(|c| c.get("maxTokens")).and_then(Value::as_u64),
        stop_sequences: ic
            .map(|c| {
                arr(c, "stopSequences")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        response_field_paths: arr(v, "additionalModelResponseFieldPaths")
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<Prompt, String> {
        validate(v.to_string().as_bytes(), false).map_err(|e| {
            assert_eq!(e.status, 400);
            assert_eq!(e.code, "ValidationException");
            e.message
        })
    }

    fn err(v: Value) -> String {
        check(v).expect_err("expected a ValidationException")
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": [{"text": text}]})
    }

    fn assistant(text: &str) -> Value {
        json!({"role": "assistant", "content": [{"text": text}]})
    }

    fn tools() -> Value {
        json!({"tools": [{"toolSpec": {"name": "get_weather",
            "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
    }

    #[test]
    fn valid_request_and_prompt() {
        let p = check(json!({
            "system": [{"text": "be brief"}],
            "messages": [user("hi there"), assistant("hello"), user("how are you")],
            "inferenceConfig": {"maxTokens": 10, "temperature": 0.5, "topP": 1, "stopSequences": ["END"]},
        }))
        .unwrap();
        assert_eq!(p.input_words, 2 + 2 + 1 + 3);
        assert_eq!(p.last_user_text, "how are you");
        assert_eq!(p.max_tokens, Some(10));
        assert_eq!(p.stop_sequences, vec!["END"]);
    }

    #[test]
    fn body_must_be_json_object() {
        assert!(validate(b"", false).unwrap_err().message.contains("empty"));
        assert!(
            validate(b"{not json", false)
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
        assert!(err(json!([1])).contains("expected type: JSONObject, found: JSONArray"));
    }

    #[test]
    fn unknown_top_level_member() {
        let m = err(json!({"messages": [user("a")], "foo": 1}));
        assert_eq!(
            m,
            "Malformed input request: #: extraneous key [foo] is not permitted, please reformat your input and try again."
        );
    }

    #[test]
    fn model_id_is_not_a_body_member() {
        let m = err(json!({"modelId": "anthropic.claude-v2", "messages": [user("a")]}));
        assert!(m.contains("extraneous key [modelId]"), "{m}");
    }

    #[test]
    fn unknown_member_in_content_block() {
        let m = err(
            json!({"messages": [{"role": "user", "content": [{"text": "a", "type": "text"}]}]}),
        );
        assert!(
            m.contains("#/messages/0/content/0: extraneous key [type]"),
            "{m}"
        );
    }

    #[test]
    fn unknown_member_in_inference_config() {
        let m = err(json!({"messages": [user("a")], "inferenceConfig": {"max_tokens": 5}}));
        assert!(
            m.contains("#/inferenceConfig: extraneous key [max_tokens]"),
            "{m}"
        );
    }

    #[test]
    fn unknown_member_in_tool_spec() {
        let m = err(
            json!({"messages": [user("a")], "toolConfig": {"tools": [{"toolSpec": {
            "name": "f", "inputSchema": {"json": {"type": "object"}}, "parameters": {}}}]}}),
        );
        assert!(
            m.contains("#/toolConfig/tools/0/toolSpec: extraneous key [parameters]"),
            "{m}"
        );
    }

    #[test]
    fn content_block_union_exactly_one() {
        let m = err(
            json!({"messages": [{"role": "user", "content": [{"text": "a", "image": {"format": "png", "source": {"bytes": "AAAA"}}}]}]}),
        );
        assert!(
            m.contains("must have exactly one member set, found 2"),
            "{m}"
        );
        let m = err(json!({"messages": [{"role": "user", "content": [{}]}]}));
        assert!(m.contains("found 0"), "{m}");
    }

    #[test]
    fn wrong_json_type() {
        let m = err(json!({"messages": [{"role": "user", "content": "hello"}]}));
        assert!(
            m.contains("#/messages/0/content: expected type: Array, found: String"),
            "{m}"
        );
        let m = err(json!({"messages": [user("a")], "inferenceConfig": {"maxTokens": "5"}}));
        assert!(m.contains("expected type: Integer, found: String"), "{m}");
    }

    #[test]
    fn messages_non_empty() {
        assert!(err(json!({"messages": []})).contains("messages field is empty"));
        assert!(err(json!({})).contains("messages field is empty"));
    }

    #[test]
    fn role_must_be_user_or_assistant() {
        let m = err(json!({"messages": [{"role": "system", "content": [{"text": "a"}]}]}));
        assert!(
            m.contains("Member must satisfy enum value set: [user, assistant]"),
            "{m}"
        );
        let m = err(json!({"messages": [{"role": "tool", "content": [{"text": "a"}]}]}));
        assert!(m.contains("'messages.1.member.role'"), "{m}");
    }

    #[test]
    fn first_message_user() {
        let m = err(json!({"messages": [assistant("a"), user("b")]}));
        assert!(
            m.starts_with("A conversation must start with a user message"),
            "{m}"
        );
    }

    #[test]
    fn roles_alternate() {
        let m = err(json!({"messages": [user("a"), user("b")]}));
        assert!(m.starts_with("A conversation must alternate between user and assistant roles"));
    }

    #[test]
    fn content_non_empty() {
        let m = err(json!({"messages": [{"role": "user", "content": []}]}));
        assert!(
            m.contains("content field in the Message object at messages.0 is empty"),
            "{m}"
        );
    }

    #[test]
    fn no_blank_text() {
        let m = err(json!({"messages": [user("a"), assistant(" \n\t")]}));
        assert!(m.contains("messages.1.content.0 is blank"), "{m}");
        let m = err(json!({"messages": [user("")]}));
        assert!(m.contains("messages.0.content.0 is blank"), "{m}");
    }

    #[test]
    fn tool_blocks_need_tool_config() {
        let m = err(json!({"messages": [user("a"),
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}]}]}));
        assert!(m.starts_with("The toolConfig field must be defined"), "{m}");
    }

    #[test]
    fn tool_result_must_match_previous_tool_use() {
        let base = |result_id: &str| {
            json!({"toolConfig": tools(), "messages": [user("a"),
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": result_id, "content": [{"text": "sunny"}]}}]}]})
        };
        let p = check(base("t1")).unwrap();
        assert_eq!(p.last_user_text, "sunny");
        let m = err(base("t2"));
        assert!(m.contains("toolUseId t2"), "{m}");
    }

    #[test]
    fn every_tool_use_needs_a_result() {
        let m = err(json!({"toolConfig": tools(), "messages": [user("a"),
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}},
                {"toolUse": {"toolUseId": "t2", "name": "get_weather", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "x"}]}}]}]}));
        assert_eq!(
            m,
            "Expected toolResult blocks at messages.2.content for the following Ids: t2"
        );
    }

    #[test]
    fn tool_use_input_must_be_object() {
        let m = err(json!({"toolConfig": tools(), "messages": [user("a"),
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": "{\"a\":1}"}}]}]}));
        assert!(m.contains("must be a JSON object"), "{m}");
    }

    #[test]
    fn tool_use_only_in_assistant_turn() {
        let m = err(json!({"toolConfig": tools(), "messages": [
            {"role": "user", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}]}]}));
        assert!(m.contains("only allowed in assistant messages"), "{m}");
    }

    #[test]
    fn max_tokens_at_least_one() {
        let m = err(json!({"messages": [user("a")], "inferenceConfig": {"maxTokens": 0}}));
        assert_eq!(
            m,
            "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn temperature_and_top_p_range() {
        let m = err(
            json!({"messages": [user("a")], "inferenceConfig": {"temperature": 1.5, "topP": -0.1}}),
        );
        assert!(m.starts_with("2 validation errors detected"), "{m}");
        assert!(m.contains("'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"), "{m}");
        assert!(m.contains("'inferenceConfig.topP' failed to satisfy constraint: Member must have value greater than or equal to 0"), "{m}");
    }

    #[test]
    fn stop_sequences_limits() {
        let many: Vec<String> = (0..2501).map(|i| format!("s{i}")).collect();
        let m = err(json!({"messages": [user("a")], "inferenceConfig": {"stopSequences": many}}));
        assert!(
            m.contains("Member must have length less than or equal to 2500"),
            "{m}"
        );
        let m = err(json!({"messages": [user("a")], "inferenceConfig": {"stopSequences": [""]}}));
        assert!(
            m.contains("'inferenceConfig.stopSequences.1.member'"),
            "{m}"
        );
    }

    #[test]
    fn tool_name_pattern_and_length() {
        let spec = |name: &str| {
            json!({"messages": [user("a")], "toolConfig": {"tools": [{"toolSpec": {
            "name": name, "inputSchema": {"json": {"type": "object"}}}}]}})
        };
        check(spec("get_weather-2")).unwrap();
        let m = err(spec("get weather"));
        assert!(
            m.contains("Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"),
            "{m}"
        );
        let m = err(spec(&"x".repeat(65)));
        assert!(
            m.contains("Member must have length less than or equal to 64"),
            "{m}"
        );
        let m = err(spec(""));
        assert!(m.contains("greater than or equal to 1"), "{m}");
    }

    #[test]
    fn tool_names_unique_and_choice_defined() {
        let t = json!({"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}});
        let m =
            err(json!({"messages": [user("a")], "toolConfig": {"tools": [t.clone(), t.clone()]}}));
        assert!(m.contains("must be unique"), "{m}");
        let m = err(json!({"messages": [user("a")], "toolConfig": {"tools": [t],
            "toolChoice": {"tool": {"name": "g"}}}}));
        assert!(m.contains("not defined"), "{m}");
    }

    #[test]
    fn tool_schema_must_be_object_schema() {
        let m = err(
            json!({"messages": [user("a")], "toolConfig": {"tools": [{"toolSpec": {
            "name": "f", "inputSchema": {"json": {"properties": {}}}}}]}}),
        );
        assert!(m.contains("\"type\": \"object\""), "{m}");
    }

    #[test]
    fn tool_config_needs_tools() {
        let m = err(json!({"messages": [user("a")], "toolConfig": {"tools": []}}));
        assert!(m.contains("'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"), "{m}");
    }

    #[test]
    fn image_format_and_bytes() {
        let img = |format: &str, bytes: &str| {
            json!({"messages": [{"role": "user", "content": [
            {"image": {"format": format, "source": {"bytes": bytes}}}, {"text": "what is this"}]}]})
        };
        check(img("png", "iVBORw0KGgo=")).unwrap();
        let m = err(img("bmp", "iVBORw0KGgo="));
        assert!(
            m.contains("Member must satisfy enum value set: [png, jpeg, gif, webp]"),
            "{m}"
        );
        let m = err(img("png", "not base64!"));
        assert!(m.contains("invalid base64"), "{m}");
        let m = err(img("png", ""));
        assert!(
            m.contains("'messages.1.member.content.1.member.image.source.bytes'"),
            "{m}"
        );
    }

    #[test]
    fn document_name_rules() {
        let doc = |name: &str| {
            json!({"messages": [{"role": "user", "content": [
            {"document": {"format": "txt", "name": name, "source": {"bytes": "aGk="}}}, {"text": "summarise"}]}]})
        };
        check(doc("notes (v2)")).unwrap();
        assert!(err(doc("notes.txt")).contains("document file name"));
    }

    #[test]
    fn required_members() {
        let m = err(json!({"messages": [{"content": [{"text": "a"}]}]}));
        assert!(m.contains("Value null at 'messages.1.member.role' failed to satisfy constraint: Member must not be null"), "{m}");
    }
}

#[cfg(test)]
mod stream_shape_tests {
    use super::validate;

    #[test]
    fn only_converse_stream_takes_stream_processing_mode() {
        let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],
            "guardrailConfig":{"guardrailIdentifier":"gr1","guardrailVersion":"1","streamProcessingMode":"async"}}"#;
        assert!(validate(body, true).is_ok());
        let err = validate(body, false).unwrap_err();
        assert!(
            err.message.contains("streamProcessingMode"),
            "{}",
            err.message
        );
    }
}
