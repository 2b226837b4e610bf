//! The Amazon Nova family: Nova's native InvokeModel body is the Converse request with base64
//! text for bytes (what Converse's JSON form already carries), and its answer and stream
//! events are Converse's, the stream's as `{"<eventType>": <payload>}` chunks.
//!
//! Differences from Converse handled here: Nova-specific inference parameters (`topK`,
//! `reasoningConfig`) sit in `inferenceConfig` instead of `additionalModelRequestFields`
//! (`top_k` maps to `topK`; an `additional_model_request_fields.inferenceConfig` object is
//! merged into it; other members are a 400), documents are not accepted through InvokeModel
//! (400), nor is structured output (400, as for the Anthropic family). `max_tokens` is sent
//! only when the request sets it: Nova does not require one.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::bedrock::converse::{
    ContentBlock, ConverseResponse, FieldMap, Message, SystemContentBlock, ToolConfiguration,
};
use crate::error::ApiError;
use crate::translate::chat::request::Translated;
use crate::translate::chat::stream::Step;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'r> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    system: &'r [SystemContentBlock<'r>],
    messages: &'r [Message<'r>],
    #[serde(skip_serializing_if = "Inference::is_empty")]
    inference_config: Inference<'r>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<&'r ToolConfiguration<'r>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Inference<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'r [Cow<'r, str>],
    /// `topK`, `reasoningConfig`, … from the request's additional fields.
    #[serde(flatten)]
    extra: FieldMap<'r>,
}

impl Inference<'_> {
    fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
            && self.extra.is_empty()
    }
}

/// Members of `inferenceConfig` the gateway writes from the request's own parameters.
const RESERVED: &[&str] = &["maxTokens", "temperature", "topP", "stopSequences"];

/// The Nova InvokeModel body for a translated chat request. Nova needs no `max_tokens`, so
/// the default is not used.
pub fn request_body(t: &Translated<'_>, _default_max_tokens: u32) -> Result<Vec<u8>, ApiError> {
    let c = &t.converse;
    if c.output_config.is_some() {
        return Err(ApiError::invalid(
            "response_format",
            "`json_schema` structured output is not available for this model through InvokeModel: use `json_object`, or route the model through Converse",
        ));
    }
    if c.messages
        .iter()
        .flat_map(|m| &m.content)
        .any(|b| matches!(b, ContentBlock::Document(_)))
    {
        return Err(ApiError::invalid(
            "messages",
            "Amazon Nova takes documents through Converse only, not InvokeModel",
        ));
    }
    let mut extra = FieldMap::default();
    for (k, v) in &c.additional_model_request_fields.0 {
        match k.as_ref() {
            "top_k" => extra.insert(Cow::Borrowed("topK"), v.clone()),
            // Nova 2's extended thinking, written by the reasoning step.
            "reasoningConfig" => extra.insert(k.clone(), v.clone()),
            "inferenceConfig" => {
                let members: BTreeMap<String, &RawValue> =
                    serde_json::from_str(v.get()).map_err(|_| {
                        ApiError::invalid(
                            "additional_model_request_fields",
                            "`inferenceConfig` must be a JSON object",
                        )
                    })?;
                for (name, value) in members {
                    if RESERVED.contains(&name.as_str()) {
                        return Err(ApiError::invalid(
                            "additional_model_request_fields",
                            format!(
                                "`inferenceConfig.{name}` is set from the request's own parameters"
                            ),
                        ));
                    }
                    extra.insert(Cow::Owned(name), Cow::Owned(value.to_owned()));
                }
            }
            "thinking" => {
                return Err(ApiError::invalid(
                    "reasoning_effort",
                    "Amazon Nova does not take Anthropic's `thinking`: set `additional_model_request_fields.inferenceConfig.reasoningConfig` for models that reason",
                ));
            }
            other => {
                return Err(ApiError::invalid(
                    "additional_model_request_fields",
                    format!(
                        "`{other}` is not a member Amazon Nova's InvokeModel body takes (use `inferenceConfig`)"
                    ),
                ));
            }
        }
    }
    let body = Body {
        system: &c.system,
        messages: &c.messages,
        inference_config: Inference {
            max_tokens: c.inference_config.max_tokens,
            temperature: c.inference_config.temperature,
            top_p: c.inference_config.top_p,
            stop_sequences: &c.inference_config.stop_sequences,
            extra,
        },
        tool_config: c.tool_config.as_ref(),
    };
    serde_json::to_vec(&body)
        .map_err(|e| ApiError::invalid("messages", format!("cannot encode request: {e}")))
}

/// A Nova InvokeModel answer: Converse's shape.
pub fn response(body: &[u8]) -> Result<ConverseResponse<'_>, ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_upstream(
            "Bedrock returned a Nova response that is not a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!("Bedrock returned an unreadable Nova response: {e}"))
    })
}

/// Nova's stream events need no state of their own: each chunk is one Converse event.
#[derive(Debug, Default)]
pub struct StreamEvents;

impl StreamEvents {
    pub(crate) fn event<'e>(&mut self, event: &'e [u8], emit: &mut dyn FnMut(Step<'e>)) {
        let members: BTreeMap<Cow<'e, str>, &'e RawValue> = match serde_json::from_slice(event) {
            Ok(m) => m,
            Err(e) => {
                return emit(Step::Fail(ApiError::bad_upstream(format!(
                    "Bedrock streamed an unreadable Nova event: {e}"
                ))));
            }
        };
        // One member names the event; Bedrock's own members (the invocation metrics) are not
        // events.
        for (name, payload) in &members {
            if name.starts_with("amazon-bedrock-") {
                continue;
            }
            let payload: &'e RawValue = payload;
            emit(Step::from_event(Some(name), payload.get().as_bytes()));
        }
    }
}
