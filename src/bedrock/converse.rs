//! Converse request and response shapes (`POST /model/{modelId}/converse`), as the API model
//! `bedrock-runtime` 2023-09-30 defines them.
//!
//! Requests serialise from structs that borrow the client's text. Unions (ContentBlock, …) are
//! externally tagged enums, which is exactly their JSON form (`{"text": "…"}`). Responses parse
//! into structs of optional members so that members this filter does not know yet (new content
//! block kinds, the `p` padding) are ignored rather than failing the whole answer.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::json::JsonText;
use crate::usage::Usage;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest<'a> {
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock<'a>>,
    #[serde(skip_serializing_if = "InferenceConfiguration::is_empty")]
    pub inference_config: InferenceConfiguration<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfiguration<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig<'a>>,
    #[serde(skip_serializing_if = "FieldMap::is_empty")]
    pub additional_model_request_fields: FieldMap<'a>,
    /// From the configuration, never from the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<GuardrailConfiguration<'a>>,
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
    Text(JsonText<'a>),
    Image(ImageBlock<'a>),
    Document(DocumentBlock<'a>),
    ToolUse(ToolUseBlock<'a>),
    ToolResult(ToolResultBlock<'a>),
    ReasoningContent(ReasoningContentBlock<'a>),
    CachePoint(CachePointBlock<'a>),
}

#[derive(Debug, Serialize)]
pub struct ImageBlock<'a> {
    /// `png | jpeg | gif | webp`.
    pub format: &'static str,
    pub source: BytesSource<'a>,
}

#[derive(Debug, Serialize)]
pub struct DocumentBlock<'a> {
    /// `pdf | csv | doc | docx | xls | xlsx | html | txt | md`.
    pub format: &'static str,
    pub name: String,
    pub source: BytesSource<'a>,
}

/// `{"bytes": "<base64>"}`: the JSON protocol carries blobs as base64 text.
#[derive(Debug, Serialize)]
pub struct BytesSource<'a> {
    pub bytes: Cow<'a, str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock<'a> {
    pub tool_use_id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    /// A JSON object.
    pub input: Cow<'a, RawValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock<'a> {
    pub tool_use_id: Cow<'a, str>,
    pub content: Vec<ToolResultContent<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent<'a> {
    Text(JsonText<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningContentBlock<'a> {
    ReasoningText(ReasoningText<'a>),
    /// Base64 of the provider's encrypted reasoning.
    RedactedContent(Cow<'a, str>),
}

#[derive(Debug, Serialize)]
pub struct ReasoningText<'a> {
    pub text: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Cow<'a, str>>,
}

/// `{"type": "default", "ttl"?: "5m" | "1h"}`.
#[derive(Debug, Serialize, Clone, Copy)]
pub struct CachePointBlock<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemContentBlock<'a> {
    Text(JsonText<'a>),
    CachePoint(CachePointBlock<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfiguration<'a> {
    pub tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool<'a> {
    ToolSpec(ToolSpecification<'a>),
    CachePoint(CachePointBlock<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpecification<'a> {
    pub name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<JsonText<'a>>,
    pub input_schema: ToolInputSchema<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct ToolInputSchema<'a> {
    pub json: Cow<'a, RawValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice<'a> {
    Auto(Empty),
    Any(Empty),
    Tool(SpecificTool<'a>),
}

/// `{}`.
#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
pub struct SpecificTool<'a> {
    pub name: Cow<'a, str>,
}

/// Structured output: `{"textFormat": {"type": "json_schema", "structure": {"jsonSchema": …}}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig<'a> {
    pub text_format: OutputFormat<'a>,
}

#[derive(Debug, Serialize)]
pub struct OutputFormat<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub structure: OutputFormatStructure<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFormatStructure<'a> {
    pub json_schema: JsonSchemaDefinition<'a>,
}

#[derive(Debug, Serialize)]
pub struct JsonSchemaDefinition<'a> {
    /// The schema as JSON text inside a string (the API model types it `String`).
    pub schema: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
}

/// A JSON object written member by member from raw values (`additionalModelRequestFields`).
/// Later entries replace earlier ones with the same key, so the object never has duplicates.
#[derive(Debug, Default)]
pub struct FieldMap<'a>(pub Vec<(Cow<'a, str>, Cow<'a, RawValue>)>);

impl<'a> FieldMap<'a> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn insert(&mut self, key: Cow<'a, str>, value: Cow<'a, RawValue>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }
}

impl Serialize for FieldMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
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
    pub usage: Usage,
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
#[serde(rename_all = "camelCase")]
pub struct OutputContentBlock<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tool_use: Option<OutputToolUse<'a>>,
    #[serde(borrow, default)]
    pub reasoning_content: Option<OutputReasoning<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputToolUse<'a> {
    #[serde(borrow)]
    pub tool_use_id: Cow<'a, str>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub input: &'a RawValue,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputReasoning<'a> {
    #[serde(borrow, default)]
    pub reasoning_text: Option<OutputReasoningText<'a>>,
    /// Base64.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub redacted_content: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct OutputReasoningText<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub signature: Option<Cow<'a, str>>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trace {
    Enabled,
    Disabled,
    EnabledFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamProcessingMode {
    Sync,
    Async,
}

/// `guardrailConfig` of a Converse / ConverseStream request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailConfiguration<'a> {
    pub guardrail_identifier: Cow<'a, str>,
    pub guardrail_version: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_processing_mode: Option<StreamProcessingMode>,
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
            tool_config: None,
            output_config: None,
            additional_model_request_fields: FieldMap::default(),
            guardrail_config: None,
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
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (3, 2));
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
