//! OpenAI Responses API wire types (`POST /v1/responses`).
//!
//! As for chat, requests parse into structs that borrow from the body, every member optional at
//! the serde level so that validation names the offending parameter, unknown members ignored.
//! The members a response object repeats (`tools`, `text`, `reasoning`, …) are kept as the raw
//! JSON the client wrote too ([`WithRaw`]), so that the answer can echo them without a re-parse.

use std::borrow::Cow;

use serde::de::{self, Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ImageUrl, ListOf, TextOr};
use crate::json::JsonText;

#[derive(Debug, Default, Deserialize)]
pub struct ResponsesRequest<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub model: Option<Cow<'a, str>>,
    /// A string (one user message) or a list of input items.
    #[serde(borrow, default)]
    pub input: Option<TextOr<'a, InputItem<'a>>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub instructions: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tools: Option<WithRaw<'a, Vec<ToolDefinition<'a>>>>,
    /// `"auto" | "none" | "required"`, `{"type": "function", "name"}` or a hosted tool's choice;
    /// parsed by the translator so that errors can name the parameter.
    #[serde(borrow, default)]
    pub tool_choice: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub text: Option<WithRaw<'a, TextConfig<'a>>>,
    #[serde(borrow, default)]
    pub reasoning: Option<WithRaw<'a, ReasoningConfig<'a>>>,
    #[serde(default)]
    pub max_output_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// OpenAI's default is `true`; the gateway keeps nothing, so absent means `false`.
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(borrow, default)]
    pub metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub include: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub user: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub safety_identifier: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub prompt_cache_key: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub service_tier: Option<Cow<'a, str>>,
    // Accepted only when they ask for nothing a gateway without storage can do.
    #[serde(default)]
    pub previous_response_id: Option<IgnoredAny>,
    #[serde(default)]
    pub conversation: Option<IgnoredAny>,
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default)]
    pub prompt: Option<IgnoredAny>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub truncation: Option<Cow<'a, str>>,
    #[serde(default)]
    pub top_logprobs: Option<i64>,
}

/// A member parsed into `T` and kept as the client wrote it, for the response to echo.
#[derive(Debug)]
pub struct WithRaw<'a, T> {
    pub raw: &'a RawValue,
    pub value: T,
}

impl<'de: 'a, 'a, T: Deserialize<'a>> Deserialize<'de> for WithRaw<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'a RawValue = Deserialize::deserialize(d)?;
        // The member is read twice, once as text and once typed: it is small next to `input`.
        let value = serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
        Ok(WithRaw { raw, value })
    }
}

impl ListOf for InputItem<'_> {
    const ITEMS: &'static str = "input items";
}

impl ListOf for InputPart<'_> {
    const ITEMS: &'static str = "content parts";
}

/// One input item. Only the members of its `type` are meaningful; the translator checks them.
/// An item without `type` but with `role` is a message.
#[derive(Debug, Deserialize)]
pub struct InputItem<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    /// `message`: `user | assistant | system | developer`.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub role: Option<Cow<'a, str>>,
    /// `message`: a string or parts; `reasoning`: `reasoning_text` parts.
    #[serde(borrow, default, deserialize_with = "super::literal_content")]
    pub content: Option<TextOr<'a, InputPart<'a>>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub id: Option<Cow<'a, str>>,
    /// `function_call` and `function_call_output`.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub name: Option<Cow<'a, str>>,
    /// `function_call`: JSON text.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub arguments: Option<Cow<'a, str>>,
    /// `function_call_output`: a string or input parts.
    #[serde(borrow, default, deserialize_with = "super::literal_content")]
    pub output: Option<TextOr<'a, InputPart<'a>>>,
    /// `reasoning`: `summary_text` parts.
    #[serde(borrow, default)]
    pub summary: Option<Vec<InputPart<'a>>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub encrypted_content: Option<Cow<'a, str>>,
}

/// One content part: `input_text`, `input_image`, `input_file`, `output_text`, `refusal`,
/// `summary_text`, `reasoning_text`.
#[derive(Debug, Deserialize)]
pub struct InputPart<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub text: Option<JsonText<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub refusal: Option<Cow<'a, str>>,
    /// A URL string (chat's `{"url"}` object is accepted too).
    #[serde(borrow, default)]
    pub image_url: Option<ImageUrl<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub file_id: Option<Cow<'a, str>>,
    /// A `data:<mime>;base64,…` URL.
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub file_data: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub filename: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub file_url: Option<Cow<'a, str>>,
}

/// One entry of `tools`: `{"type": "function", "name", "description", "parameters", "strict"}`
/// (flat, unlike chat's), or a hosted tool the gateway refuses.
#[derive(Debug, Deserialize)]
pub struct ToolDefinition<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub name: Option<Cow<'a, str>>,
    /// Kept as the client's literal and copied out verbatim.
    #[serde(borrow, default)]
    pub description: Option<JsonText<'a>>,
    #[serde(borrow, default)]
    pub parameters: Option<&'a RawValue>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `text`: `{"format": …, "verbosity"?}`.
#[derive(Debug, Default, Deserialize)]
pub struct TextConfig<'a> {
    #[serde(borrow, default)]
    pub format: Option<TextFormat<'a>>,
}

/// `text.format`: `{"type": "text" | "json_object" | "json_schema", …}`; a JSON schema's
/// members sit beside `type`, not under `json_schema` as in chat.
#[derive(Debug, Deserialize)]
pub struct TextFormat<'a> {
    #[serde(
        rename = "type",
        borrow,
        default,
        deserialize_with = "crate::json::opt_cow"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub schema: Option<&'a RawValue>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `reasoning`: `{"effort"?, "summary"?}`.
#[derive(Debug, Default, Deserialize)]
pub struct ReasoningConfig<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub effort: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    pub summary: Option<Cow<'a, str>>,
}

/// One item of a response's `output`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem<'a> {
    Reasoning {
        id: &'a str,
        summary: Vec<SummaryText<'a>>,
        /// Bedrock's signature of the reasoning (or its redacted form): what the client sends
        /// back with the reasoning item so the model can check it.
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<Cow<'a, str>>,
    },
    Message {
        id: &'a str,
        /// `in_progress | completed | incomplete`.
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText<'a>>,
    },
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        /// JSON text.
        arguments: &'a str,
        status: &'static str,
    },
}

/// `{"type": "output_text", "text", "annotations": [], "logprobs": []}`.
#[derive(Debug, Serialize)]
pub struct OutputText<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
    pub annotations: [(); 0],
    pub logprobs: [(); 0],
}

impl<'a> OutputText<'a> {
    pub fn new(text: &'a str) -> Self {
        OutputText {
            kind: "output_text",
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

/// `{"type": "summary_text", "text"}`.
#[derive(Debug, Serialize)]
pub struct SummaryText<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
}

impl<'a> SummaryText<'a> {
    pub fn new(text: &'a str) -> Self {
        SummaryText {
            kind: "summary_text",
            text,
        }
    }
}

/// A response's `usage`. `input_tokens` counts every input token, cached or not.
#[derive(Debug, Default, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct InputTokensDetails {
    /// Read from the prompt cache.
    pub cached_tokens: u64,
}

/// Bedrock does not report reasoning tokens apart from the answer's.
#[derive(Debug, Default, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_borrows_and_items_parse() {
        let body = br#"{"model":"m","input":[{"role":"user","content":"hi"},
            {"type":"function_call","call_id":"c1","name":"f","arguments":"{\"a\":1}"},
            {"type":"function_call_output","call_id":"c1","output":[{"type":"input_text","text":"ok"}]}],
            "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],
            "text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}}}"#;
        let req: ResponsesRequest = serde_json::from_slice(body).unwrap();
        let Some(TextOr::List(items)) = &req.input else {
            panic!("items expected")
        };
        assert!(matches!(
            &items[0].content,
            Some(TextOr::Text(t @ JsonText::Literal(_))) if t.text() == "hi"
        ));
        assert_eq!(items[1].arguments.as_deref(), Some(r#"{"a":1}"#));
        assert!(matches!(items[2].output, Some(TextOr::List(ref p)) if p.len() == 1));
        let tools = req.tools.unwrap();
        assert_eq!(
            tools.raw.get(),
            r#"[{"type":"function","name":"f","parameters":{"type":"object"}}]"#
        );
        assert_eq!(tools.value[0].name.as_deref(), Some("f"));
        let format = req.text.unwrap().value.format.unwrap();
        assert_eq!(format.schema.unwrap().get(), r#"{"type":"object"}"#);
    }

    #[test]
    fn input_as_a_string_and_nulls() {
        let req: ResponsesRequest = serde_json::from_slice(
            br#"{"input":"a\nb","previous_response_id":null,"tools":null,"instructions":null}"#,
        )
        .unwrap();
        assert!(matches!(req.input, Some(TextOr::Text(ref t)) if t.text() == "a\nb"));
        assert!(req.previous_response_id.is_none() && req.tools.is_none());
        assert!(serde_json::from_slice::<ResponsesRequest>(br#"{"input":5}"#).is_err());
        assert!(serde_json::from_slice::<ResponsesRequest>(br#"{"tools":{}}"#).is_err());
    }

    #[test]
    fn output_items_serialise_as_the_sdks_read_them() {
        let items = [
            OutputItem::Reasoning {
                id: "rs_1",
                summary: vec![SummaryText::new("hmm")],
                encrypted_content: Some(Cow::Borrowed("sig")),
            },
            OutputItem::Message {
                id: "msg_1",
                status: "completed",
                role: "assistant",
                content: vec![OutputText::new("hi")],
            },
            OutputItem::FunctionCall {
                id: "fc_1",
                call_id: "c",
                name: "f",
                arguments: "{}",
                status: "completed",
            },
        ];
        assert_eq!(
            serde_json::to_value(items).unwrap(),
            serde_json::json!([
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}],
                 "encrypted_content": "sig"},
                {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": "{}",
                 "status": "completed"}])
        );
    }
}
