//! CountTokens: the input token count an InvokeModel or Converse request would be
//! charged, by the simulator's word-count rule, after the same checks those operations
//! apply.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::converse::{self, parse_json_body};
use crate::errors::AwsError;
use crate::invoke;
use crate::model_id::{Family, ModelInfo};
use crate::rules;
use crate::shapes::{Model, violations_message};

/// Checks a CountTokens body and counts its input tokens. `Ok(None)`: a valid request
/// the simulator has no count for (an InvokeModel body of a non-Anthropic model).
///
/// - `{"input": {"converse": {...}}}`: the ConverseTokensRequest shape, then the
///   Converse rules and the model family rules; the count is Converse's `inputTokens`
///   (words of the system text, the messages' text and tool results).
/// - `{"input": {"invokeModel": {"body": "<base64>"}}}`: for `anthropic.*` models the
///   decoded body gets InvokeModel's Anthropic checks; the count is its `system` and
///   `messages` words, as InvokeModel's input token count.
pub fn count(info: &ModelInfo, body: &[u8]) -> Result<Option<u64>, AwsError> {
    let model = Model::runtime();
    let mut violations = model.validate_member(
        "FoundationModelVersionIdentifier",
        &json!(info.id),
        "modelId",
    );
    let v = parse_json_body(body)?;
    if !v.is_object() {
        return Err(AwsError::malformed("#: expected type: JSONObject"));
    }
    violations.extend(model.validate("CountTokensRequest", &v));
    if let Some(m) = violations_message(&violations) {
        return Err(AwsError::validation(m));
    }
    let input = v.get("input").unwrap_or(&Value::Null);
    if let Some(c) = input.get("converse") {
        converse::check_rules(c)?;
        rules::check_converse(info, c)?;
        return Ok(Some(converse::prompt_of(c).input_words));
    }
    let b64 = input
        .get("invokeModel")
        .and_then(|i| i.get("body"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| {
            AwsError::malformed(format!("#/input/invokeModel/body: invalid base64 ({e})"))
        })?;
    match info.family {
        Family::Anthropic => {
            invoke::anthropic_prompt_for(info, &decoded).map(|p| Some(p.input_words))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_id::check_model_id;

    const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

    fn count_for(id: &str, v: Value) -> Result<Option<u64>, String> {
        count(&check_model_id(id).unwrap(), v.to_string().as_bytes()).map_err(|e| {
            assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));
            e.message
        })
    }

    fn invoke_body(v: Value) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD.encode(v.to_string());
        json!({"input": {"invokeModel": {"body": b64}}})
    }

    #[test]
    fn converse_input_counts_like_converse() {
        let n = count_for(
            "amazon.nova-lite-v1:0",
            json!({"input": {"converse": {
                "system": [{"text": "be brief"}],
                "messages": [{"role": "user", "content": [{"text": "hello there sim"}]}],
                "additionalModelRequestFields": {"top_k": 5}}}}),
        )
        .unwrap();
        assert_eq!(n, Some(5));
        let n = count_for(
            HAIKU,
            json!({"input": {"converse": {
                "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]},
                "messages": [
                    {"role": "user", "content": [{"text": "weather?"}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny and warm"}]}}]}]}}}),
        )
        .unwrap();
        assert_eq!(n, Some(4));
    }

    #[test]
    fn converse_input_gets_converse_and_family_rules() {
        let m = count_for(
            HAIKU,
            json!({"input": {"converse": {"messages": [{"role": "assistant", "content": [{"text": "a"}]}]}}}),
        )
        .unwrap_err();
        assert!(m.contains("must start with a user message"), "{m}");
        let m = count_for(
            "amazon.nova-lite-v1:0",
            json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "a"}]}],
                "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}}}}}),
        )
        .unwrap_err();
        assert!(m.contains("extraneous key [thinking]"), "{m}");
        // Not a ConverseTokensRequest member.
        let m = count_for(
            HAIKU,
            json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "a"}]}],
                "inferenceConfig": {"maxTokens": 5}}}}),
        )
        .unwrap_err();
        assert!(m.contains("extraneous key [inferenceConfig]"), "{m}");
    }

    #[test]
    fn invoke_model_input_counts_the_anthropic_body() {
        let n = count_for(
            HAIKU,
            invoke_body(
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                "system": "be nice", "messages": [{"role": "user", "content": "one two three"}]}),
            ),
        )
        .unwrap();
        assert_eq!(n, Some(5));
        let m = count_for(
            HAIKU,
            invoke_body(json!({"messages": [{"role": "user", "content": "hi"}]})),
        )
        .unwrap_err();
        assert!(
            m.contains("required key [anthropic_version] not found"),
            "{m}"
        );
        assert!(m.contains("required key [max_tokens] not found"), "{m}");
        let m = count_for(
            HAIKU,
            invoke_body(
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "messages": [{"role": "user", "content": "hi"}]}),
            ),
        )
        .unwrap_err();
        assert!(m.contains("extraneous key [thinking]"), "{m}");
        // Other models: valid, but no default count.
        let n = count_for(
            "amazon.nova-lite-v1:0",
            invoke_body(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})),
        )
        .unwrap();
        assert_eq!(n, None);
    }

    #[test]
    fn request_follows_the_model() {
        let m = count_for(HAIKU, json!({})).unwrap_err();
        assert!(m.contains("Value null at 'input'"), "{m}");
        let m = count_for(HAIKU, json!({"input": {}})).unwrap_err();
        assert!(
            m.contains("must have exactly one member set, found 0"),
            "{m}"
        );
        let m = count_for(
            HAIKU,
            json!({"input": {"invokeModel": {"body": "not base64!"}}}),
        )
        .unwrap_err();
        assert!(m.contains("invalid base64"), "{m}");
        let m = count_for(HAIKU, json!({"input": {"invokeModel": {}}})).unwrap_err();
        assert!(m.contains("'input.invokeModel.body'"), "{m}");
        let m = count_for(
            HAIKU,
            json!({"modelId": HAIKU, "input": {"invokeModel": {"body": ""}}}),
        )
        .unwrap_err();
        assert!(m.contains("extraneous key [modelId]"), "{m}");
    }
}
