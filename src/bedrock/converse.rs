//! Converse request and response shapes (`POST /model/{modelId}/converse`), as the API model
//! `bedrock-runtime` 2023-09-30 defines them.
//!
//! Requests serialise from structs that borrow the client's text. Unions (ContentBlock, …) are
//! externally tagged enums, which is exactly their JSON form (`{"text": "…"}`). Responses parse
//! into structs of optional members so that members this filter does not know yet (new content
//! block kinds, the `p` padding) are ignored rather than failing the whole answer.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest<'a> {
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock<'a>>,
    #[serde(skip_serializing_if = "InferenceConfiguration::is_empty")]
    pub inference_config: InferenceConfiguration<'a>,
}

#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub role: Role,
    pub content: Vec<ContentBlock<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock<'a> {
    Text(Cow<'a, str>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemContentBlock<'a> {
    Text(Cow<'a, str>),
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfiguration<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<Cow<'a, str>>,
}

impl InferenceConfiguration<'_> {
    pub fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse<'a> {
    #[serde(borrow)]
    pub output: ConverseOutput<'a>,
    #[serde(borrow)]
    pub stop_reason: Cow<'a, str>,
    pub usage: TokenUsage,
}

#[derive(Debug, Deserialize)]
pub struct ConverseOutput<'a> {
    #[serde(borrow, default)]
    pub message: Option<OutputMessage<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct OutputMessage<'a> {
    #[serde(borrow, default)]
    pub content: Vec<OutputContentBlock<'a>>,
}

/// A response content block: one member is set; unknown kinds leave all of these empty.
#[derive(Debug, Deserialize)]
pub struct OutputContentBlock<'a> {
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_input_tokens: Option<u64>,
}

/// Bedrock `stopReason` → OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        // end_turn, stop_sequence, malformed_* and reasons added later all end the turn.
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_serialises_as_the_api_model_says() {
        let req = ConverseRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text("hi".into())],
            }],
            system: vec![SystemContentBlock::Text("be brief".into())],
            inference_config: InferenceConfiguration {
                max_tokens: Some(10),
                temperature: Some(0.0),
                ..Default::default()
            },
        };
        let v: serde_json::Value = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                "system": [{"text": "be brief"}],
                "inferenceConfig": {"maxTokens": 10, "temperature": 0.0}
            })
        );
    }

    #[test]
    fn response_ignores_unknown_members_and_padding() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[
            {"text":"Hello"},{"citationsContent":{}},{"text":" world"}]}},
            "stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5},
            "metrics":{"latencyMs":10},"p":"abc"}"#;
        let r: ConverseResponse = serde_json::from_slice(body).unwrap();
        let texts: Vec<_> = r
            .output
            .message
            .unwrap()
            .content
            .into_iter()
            .filter_map(|b| b.text)
            .collect();
        assert_eq!(texts, ["Hello", " world"]);
        assert_eq!(r.usage.total_tokens, Some(5));
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason("end_turn"), "stop");
        assert_eq!(finish_reason("stop_sequence"), "stop");
        assert_eq!(finish_reason("tool_use"), "tool_calls");
        assert_eq!(finish_reason("max_tokens"), "length");
        assert_eq!(finish_reason("guardrail_intervened"), "content_filter");
        assert_eq!(finish_reason("content_filtered"), "content_filter");
    }
}
