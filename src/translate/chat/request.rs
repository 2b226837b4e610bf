//! OpenAI chat request → Converse request body.
//!
//! Validation happens here, before anything goes upstream, and every rejection names the
//! offending parameter (`param`) as OpenAI does. Nothing the client sent reaches Bedrock unless
//! it is written here on purpose: Bedrock rejects unknown members.
//!
//! Provider-specific members go to `additionalModelRequestFields` only on explicit request:
//! - `additional_model_request_fields` (an object) is passed as is;
//! - `top_k` becomes its `top_k` member;
//! - `thinking` (`{"type":"enabled","budget_tokens":N}`) is passed as its `thinking` member
//!   (Claude only, checked once the model is known);
//! - `reasoning_effort` is kept as an [`Effort`]: what it becomes depends on the model, and
//!   [`super::reasoning::apply`] writes it once the model is resolved.
//!
//! These named fields replace members of the same name in `additional_model_request_fields`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::effort::{ANSWER_TOKENS, Effort, MAX_TOKENS_LIMIT};
use super::messages;
use super::tools::{self, ToolNamer, ToolNames};
use crate::bedrock::converse::{
    ConverseRequest, FieldMap, InferenceConfiguration, JsonSchemaDefinition, OutputConfig,
    OutputFormat, OutputFormatStructure,
};
use crate::bedrock::path::MAX_MODEL_ID_LEN;
use crate::error::ApiError;
use crate::openai::{ChatCompletionRequest, TextOr};

/// What [`to_converse`] produced: the Bedrock model ID and the Converse body.
#[cfg(test)]
#[derive(Debug)]
pub struct ConverseCall {
    /// The model as the client named it (echoed back in responses).
    pub client_model: String,
    /// The Bedrock model ID, inference profile ID or ARN to put in the path.
    pub model_id: String,
    pub stream: bool,
    /// `stream_options.include_usage`: end the stream with a usage chunk.
    pub include_usage: bool,
    /// Tool names the translation changed, to map the answer's tool calls back.
    pub tool_names: ToolNames,
    pub body: Vec<u8>,
}

/// OpenAI allows at most 4 stop sequences; so does every Bedrock text model we route to.
const MAX_STOP_SEQUENCES: usize = 4;

/// A validated chat request in Converse's typed form, before serialisation: the intermediate
/// form every upstream API is written from (Converse serialises it as is; the InvokeModel
/// families in [`crate::translate::chat::invoke`] write their native bodies from it).
#[derive(Debug)]
pub struct Translated<'a> {
    /// The model as the client named it (echoed back in responses).
    pub client_model: String,
    pub stream: bool,
    /// `stream_options.include_usage`: end the stream with a usage chunk.
    pub include_usage: bool,
    /// Tool names the translation changed, to map the answer's tool calls back.
    pub tool_names: ToolNames,
    /// The thinking budget, when the request enabled thinking with `thinking` (or, once
    /// [`super::reasoning::apply`] ran, with `reasoning_effort`); `max_tokens` stays above it.
    pub thinking_budget: Option<u32>,
    /// `reasoning_effort` (or the Responses API's `reasoning.effort`), for
    /// [`super::reasoning::apply`].
    pub reasoning: Option<Effort>,
    /// The client set Anthropic's `thinking` itself (Claude only).
    pub explicit_thinking: bool,
    /// `json_object` output, answered through a forced tool (which Claude refuses with thinking).
    pub json_answer_tool: bool,
    /// The request's parameters as the client's API names them, for errors found after
    /// translation.
    pub params: ParamNames,
    /// `parallel_tool_calls` as the client sent it (Converse has no form for it).
    pub parallel_tool_calls: Option<bool>,
    pub converse: ConverseRequest<'a>,
}

/// Names of parameters that errors found after translation point at: the chat and Responses
/// APIs spell them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamNames {
    /// What sets `maxTokens` (`max_tokens`, `max_completion_tokens`, `max_output_tokens`).
    pub max_tokens: &'static str,
    /// How hard to reason (`reasoning_effort`, `reasoning.effort`).
    pub effort: &'static str,
    /// The answer's format (`response_format`, `text.format`).
    pub format: &'static str,
}

/// Parse a chat completions request body (the borrowed form [`to_request`] reads).
pub fn parse(body: &[u8]) -> Result<ChatCompletionRequest<'_>, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })
}

/// Parse and translate a chat completions request body, as the tests of every chat module do.
#[cfg(test)]
pub fn to_converse(body: &[u8]) -> Result<ConverseCall, ApiError> {
    let req = parse(body)?;
    let t = to_request(&req)?;
    let body = converse_body(&t, body.len())?;
    Ok(ConverseCall {
        model_id: t.client_model.clone(),
        client_model: t.client_model,
        stream: t.stream,
        include_usage: t.include_usage,
        tool_names: t.tool_names,
        body,
    })
}

/// The Converse body of a translated request. `client_len`, the size of the client's body,
/// sizes the buffer: the Converse body is about as long (texts, schemas and arguments are
/// copied as they came), so it is written once, without regrowing.
pub fn converse_body(t: &Translated<'_>, client_len: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(
        client_len
            .saturating_add(client_len / 8)
            .saturating_add(256),
    );
    serde_json::to_writer(&mut out, &t.converse)
        .map_err(|e| ApiError::invalid("messages", format!("cannot encode request: {e}")))?;
    Ok(out)
}

/// Validate a parsed request and translate it into the typed Converse request.
pub fn to_request<'a>(req: &'a ChatCompletionRequest<'a>) -> Result<Translated<'a>, ApiError> {
    let model = client_model(req.model.as_deref())?;
    reject_unsupported(req)?;
    let stream = req.stream.unwrap_or(false);
    let include_usage = stream
        && req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
    let Some(messages) = req.messages.as_deref() else {
        return Err(ApiError::invalid(
            "messages",
            "you must provide a `messages` parameter",
        ));
    };
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must not be empty",
        ));
    }
    let mut namer = ToolNamer::default();
    let conversation = messages::translate(messages, &mut namer)?;
    let (output_config, response_tool) = response_format(req)?;
    let (mut inference_config, max_param) = inference_config(req)?;
    let (additional, budget, reasoning) = additional_fields(req)?;
    if response_tool && budget.is_some() {
        return Err(ApiError::invalid(
            "response_format",
            "`json_object` is answered through a forced tool, which Bedrock does not allow with reasoning: use `json_schema`",
        ));
    }
    if let Some(budget) = budget {
        match inference_config.max_tokens {
            None => {
                let max = budget
                    .checked_add(ANSWER_TOKENS)
                    .filter(|m| *m <= MAX_TOKENS_LIMIT)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "thinking.budget_tokens",
                            format!(
                                "`thinking.budget_tokens` ({budget}) leaves no room for an answer \
                                 within Bedrock's largest `maxTokens` ({MAX_TOKENS_LIMIT})"
                            ),
                        )
                    })?;
                inference_config.max_tokens = Some(max);
            }
            Some(max) if max <= budget => {
                return Err(ApiError::invalid(
                    max_param,
                    format!(
                        "`{max_param}` ({max}) must be greater than the thinking budget ({budget})"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let tool_config = tools::tool_config(req, &mut namer, conversation.uses_tools, response_tool)?;
    // `guardrailConfig` comes from the plugin configuration, never from the request: the
    // pipeline sets it with the model's other configured options.
    let converse = ConverseRequest {
        messages: conversation.messages,
        system: conversation.system,
        inference_config,
        tool_config,
        output_config,
        additional_model_request_fields: additional,
        guardrail_config: None,
    };
    Ok(Translated {
        client_model: model,
        stream,
        include_usage,
        tool_names: namer.finish(),
        thinking_budget: budget,
        reasoning,
        explicit_thinking: req.thinking.is_some_and(|t| t.get() != "null"),
        json_answer_tool: response_tool,
        params: ParamNames {
            max_tokens: max_param,
            effort: "reasoning_effort",
            format: "response_format",
        },
        parallel_tool_calls: req.parallel_tool_calls,
        converse,
    })
}

/// The client's `model`, checked: present, not blank, not longer than any Bedrock model ID.
pub(crate) fn client_model(model: Option<&str>) -> Result<String, ApiError> {
    match model.map(str::trim) {
        None => Err(ApiError::invalid(
            "model",
            "you must provide a `model` parameter",
        )),
        Some("") => Err(ApiError::invalid("model", "`model` must not be empty")),
        Some(m) if m.len() > MAX_MODEL_ID_LEN => {
            Err(ApiError::invalid("model", "`model` is too long"))
        }
        Some(m) => Ok(m.to_string()),
    }
}

fn reject_unsupported(req: &ChatCompletionRequest) -> Result<(), ApiError> {
    let refuse = |param: &str, why: &str| Err(ApiError::invalid(param, why));
    if req.n.is_some_and(|n| n != 1) {
        return refuse("n", "Bedrock returns one choice per request: `n` must be 1");
    }
    if req.logprobs == Some(true) {
        return refuse("logprobs", "Bedrock does not return log probabilities");
    }
    if req.top_logprobs.is_some_and(|n| n != 0) {
        return refuse("top_logprobs", "Bedrock does not return log probabilities");
    }
    if req.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
        return refuse("logit_bias", "Bedrock does not support `logit_bias`");
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return refuse(
            "frequency_penalty",
            "Bedrock's Converse API has no frequency penalty",
        );
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return refuse(
            "presence_penalty",
            "Bedrock's Converse API has no presence penalty",
        );
    }
    if req.audio.is_some() {
        return refuse("audio", "audio output is not supported through Bedrock");
    }
    if req
        .modalities
        .iter()
        .flatten()
        .any(|m| m.as_ref() != "text")
    {
        return refuse("modalities", "only the `text` output modality is supported");
    }
    if req.prediction.is_some() {
        return refuse(
            "prediction",
            "predicted outputs are not supported by Bedrock",
        );
    }
    if req.web_search_options.is_some() {
        return refuse(
            "web_search_options",
            "web search is not available through Bedrock",
        );
    }
    if req.functions.is_some() {
        return refuse(
            "functions",
            "the deprecated `functions` parameter is not supported: use `tools`",
        );
    }
    if req.function_call.is_some() {
        return refuse(
            "function_call",
            "the deprecated `function_call` parameter is not supported: use `tool_choice`",
        );
    }
    Ok(())
}

/// `response_format` → (`outputConfig`, whether to answer through the `json_object` tool).
///
/// `json_schema` uses Converse structured output (`outputConfig.textFormat`), which the API
/// model has: the model is constrained by the schema itself and answers in plain text, so the
/// response needs no rewriting. `json_object` has no schema, and structured output wants one
/// that is closed (`additionalProperties: false`), which would only allow `{}`; it falls back to
/// a forced tool with schema `{"type":"object"}` whose input is returned as the content.
/// A model without structured output answers `json_schema` with Bedrock's ValidationException,
/// which reaches the client as a 400.
fn response_format<'a>(
    req: &'a ChatCompletionRequest<'a>,
) -> Result<(Option<OutputConfig<'a>>, bool), ApiError> {
    let Some(rf) = &req.response_format else {
        return Ok((None, false));
    };
    match rf.kind.as_ref() {
        "text" => Ok((None, false)),
        "json_object" => Ok((None, true)),
        "json_schema" => {
            let js = rf.json_schema.as_ref().ok_or_else(|| {
                ApiError::invalid(
                    "response_format.json_schema",
                    "`json_schema` response format needs `json_schema`",
                )
            })?;
            let config = json_schema_output(
                js.schema,
                js.name.as_deref(),
                js.description.as_deref(),
                "response_format.json_schema.schema",
            )?;
            Ok((Some(config), false))
        }
        other => Err(ApiError::invalid(
            "response_format.type",
            format!(
                "unknown response_format type `{other}`: expected text, json_object or json_schema"
            ),
        )),
    }
}

/// Converse structured output for a JSON schema (which must be an object; `param` names it).
pub(crate) fn json_schema_output<'a>(
    schema: Option<&'a RawValue>,
    name: Option<&'a str>,
    description: Option<&'a str>,
    param: &str,
) -> Result<OutputConfig<'a>, ApiError> {
    let schema = schema.filter(|s| s.get().starts_with('{')).ok_or_else(|| {
        ApiError::invalid(param, format!("`{param}` must be a JSON schema object"))
    })?;
    Ok(OutputConfig {
        text_format: OutputFormat {
            kind: "json_schema",
            structure: OutputFormatStructure {
                json_schema: JsonSchemaDefinition {
                    schema: schema.get(),
                    name,
                    description,
                },
            },
        },
    })
}

/// `additionalModelRequestFields`, the thinking budget when `thinking` enables it, and the
/// reasoning effort.
fn additional_fields<'a>(
    req: &'a ChatCompletionRequest<'a>,
) -> Result<(FieldMap<'a>, Option<u32>, Option<Effort>), ApiError> {
    let mut fields = FieldMap::default();
    if let Some(raw) = req.additional_model_request_fields {
        let map: BTreeMap<String, &'a RawValue> =
            serde_json::from_str(raw.get()).map_err(|_| {
                ApiError::invalid(
                    "additional_model_request_fields",
                    "`additional_model_request_fields` must be a JSON object",
                )
            })?;
        for (k, v) in map {
            fields.insert(Cow::Owned(k), Cow::Borrowed(v));
        }
    }
    if let Some(k) = req.top_k {
        if k < 0 {
            return Err(ApiError::invalid("top_k", "`top_k` must not be negative"));
        }
        fields.insert(Cow::Borrowed("top_k"), owned_json(k.to_string(), "top_k")?);
    }
    let mut budget = None;
    let reasoning = match req.reasoning_effort.as_deref() {
        None => None,
        Some(effort) => Some(Effort::parse(effort).ok_or_else(|| {
            ApiError::invalid(
                "reasoning_effort",
                format!("`reasoning_effort` must be {}", Effort::NAMES),
            )
        })?),
    };
    if let Some(raw) = req.thinking.filter(|t| t.get() != "null") {
        // The explicit field wins over `reasoning_effort`.
        #[derive(Deserialize)]
        struct Thinking<'b> {
            #[serde(rename = "type", borrow)]
            kind: Cow<'b, str>,
            #[serde(default)]
            budget_tokens: Option<u32>,
        }
        let t: Thinking = serde_json::from_str(raw.get()).map_err(|_| {
            ApiError::invalid(
                "thinking",
                r#"`thinking` must be {"type": "enabled", "budget_tokens": N} or {"type": "disabled"}"#,
            )
        })?;
        budget = match (t.kind.as_ref(), t.budget_tokens) {
            ("enabled", Some(b)) => Some(b),
            ("enabled", None) => {
                return Err(ApiError::invalid(
                    "thinking.budget_tokens",
                    "enabled `thinking` needs `budget_tokens`",
                ));
            }
            _ => None,
        };
        fields.insert(Cow::Borrowed("thinking"), Cow::Borrowed(raw));
    }
    Ok((fields, budget, reasoning))
}

fn owned_json(text: String, param: &str) -> Result<Cow<'static, RawValue>, ApiError> {
    RawValue::from_string(text)
        .map(Cow::Owned)
        .map_err(|e| ApiError::invalid(param, format!("internal error: {e}")))
}

/// `inferenceConfig`, and the name of the parameter that set `maxTokens`.
fn inference_config<'a>(
    req: &'a ChatCompletionRequest<'a>,
) -> Result<(InferenceConfiguration<'a>, &'static str), ApiError> {
    let (param, max) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(v), _) => ("max_completion_tokens", Some(v)),
        (None, v) => ("max_tokens", v),
    };
    let max_tokens = match max {
        None => None,
        Some(v) if v >= 1 => Some(
            u32::try_from(v)
                .ok()
                .filter(|v| *v <= MAX_TOKENS_LIMIT)
                .ok_or_else(|| {
                    ApiError::invalid(
                        param,
                        format!(
                            "`{param}` ({v}) is too large: Bedrock takes at most {MAX_TOKENS_LIMIT}"
                        ),
                    )
                })?,
        ),
        Some(_) => {
            return Err(ApiError::invalid(
                param,
                format!("`{param}` must be at least 1"),
            ));
        }
    };
    let temperature = unit_interval(req.temperature, "temperature")?;
    let top_p = unit_interval(req.top_p, "top_p")?;
    let stop_sequences: Vec<Cow<'a, str>> = match &req.stop {
        None => Vec::new(),
        Some(TextOr::Text(s)) => vec![s.text()],
        Some(TextOr::List(v)) => v.iter().map(|s| Cow::Borrowed(s.as_ref())).collect(),
    };
    if stop_sequences.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid(
            "stop",
            "`stop` allows at most 4 sequences",
        ));
    }
    if stop_sequences.iter().any(|s| s.is_empty()) {
        return Err(ApiError::invalid(
            "stop",
            "stop sequences must not be empty",
        ));
    }
    Ok((
        InferenceConfiguration {
            max_tokens,
            temperature,
            top_p,
            stop_sequences,
        },
        param,
    ))
}

/// Bedrock's Converse accepts temperature and top_p in [0, 1] (OpenAI allows temperature up to 2).
pub(crate) fn unit_interval(v: Option<f64>, param: &str) -> Result<Option<f64>, ApiError> {
    match v {
        None => Ok(None),
        Some(x) if (0.0..=1.0).contains(&x) => Ok(Some(x)),
        Some(x) => Err(ApiError::invalid(
            param,
            format!("`{param}` must be between 0 and 1 for Bedrock models (got {x})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn body_of(req: Value) -> Value {
        let call = to_converse(&serde_json::to_vec(&req).unwrap()).unwrap();
        serde_json::from_slice(&call.body).unwrap()
    }

    fn err_of(req: Value) -> ApiError {
        to_converse(&serde_json::to_vec(&req).unwrap()).unwrap_err()
    }

    #[test]
    fn plain_text_with_system_and_developer() {
        let out = body_of(
            json!({"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "messages": [
                {"role": "system", "content": "sys one"},
                {"role": "developer", "content": [{"type": "text", "text": "dev two"}]},
                {"role": "user", "content": "hello"}]}),
        );
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": [{"text": "hello"}]}],
                   "system": [{"text": "sys one"}, {"text": "dev two"}]})
        );
    }

    #[test]
    fn parameters_map_to_inference_config() {
        let out = body_of(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 50, "max_completion_tokens": 20, "temperature": 0, "top_p": 0.5,
            "stop": "END", "user": "u1", "seed": 3, "metadata": {"a": "b"}, "n": 1,
            "stream_options": {"include_usage": true}}),
        );
        assert_eq!(
            out["inferenceConfig"],
            json!({"maxTokens": 20, "temperature": 0.0, "topP": 0.5, "stopSequences": ["END"]})
        );
        // Nothing the client sent leaks as an unknown member.
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["inferenceConfig", "messages"]);
    }

    #[test]
    fn merges_same_role_and_drops_blank() {
        let out = body_of(json!({"model": "m", "messages": [
            {"role": "user", "content": "a"}, {"role": "user", "content": "  "},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "c"}, {"role": "assistant", "content": ""},
            {"role": "user", "content": "d"}]}));
        assert_eq!(
            out["messages"],
            json!([{"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                   {"role": "assistant", "content": [{"text": "c"}]},
                   {"role": "user", "content": [{"text": "d"}]}])
        );
    }

    #[test]
    fn keeps_model_ids_and_arns_as_given() {
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1";
        let call = to_converse(
            &serde_json::to_vec(
                &json!({"model": arn, "messages": [{"role": "user", "content": "x"}]}),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(call.model_id, arn);
        assert_eq!(call.client_model, arn);
    }

    #[test]
    fn rejections_name_the_parameter() {
        let cases = [
            (
                json!({"messages": [{"role": "user", "content": "x"}]}),
                Some("model"),
            ),
            (json!({"model": "m"}), Some("messages")),
            (json!({"model": "m", "messages": []}), Some("messages")),
            (
                json!({"model": "m", "messages": [{"role": "system", "content": "s"}]}),
                Some("messages"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "wizard", "content": "s"}]}),
                Some("messages[0].role"),
            ),
            (
                json!({"model": "m", "messages": [{"content": "s"}]}),
                Some("messages[0].role"),
            ),
            (
                json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
                Some("n"),
            ),
            (
                json!({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}),
                Some("max_tokens"),
            ),
            // maxTokens is a 32-bit signed Integer in Bedrock's API model.
            (
                json!({"model": "m", "max_tokens": 3_000_000_000_u64, "messages": [{"role": "user", "content": "x"}]}),
                Some("max_tokens"),
            ),
            (
                json!({"model": "m", "max_completion_tokens": 2_147_483_648_u64, "messages": [{"role": "user", "content": "x"}]}),
                Some("max_completion_tokens"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                    "thinking": {"type": "enabled", "budget_tokens": 4_294_967_295_u64}}),
                Some("thinking.budget_tokens"),
            ),
            (
                json!({"model": "m", "temperature": 1.5, "messages": [{"role": "user", "content": "x"}]}),
                Some("temperature"),
            ),
            (
                json!({"model": "m", "stop": ["a","b","c","d","e"], "messages": [{"role": "user", "content": "x"}]}),
                Some("stop"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}),
                Some("messages[0].content[0].type"),
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "content": "hi"}]}),
                Some("messages"),
            ),
            (json!({"model": "m", "messages": "hi"}), None),
        ];
        for (req, param) in cases {
            let e = err_of(req.clone());
            assert_eq!(e.status, 400, "{req}");
            assert_eq!(e.param.as_deref(), param, "{req}: {}", e.message);
        }
    }

    #[test]
    fn not_json_is_a_400() {
        let e = to_converse(b"{not json").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("parse"), "{}", e.message);
    }

    fn param_of(req: Value) -> Option<String> {
        let e = err_of(req.clone());
        assert_eq!(e.status, 400, "{req}");
        e.param
    }

    fn user(extra: Value) -> Value {
        let mut req = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        req
    }

    #[test]
    fn accepted_parameters_never_leak_upstream() {
        let out = body_of(user(json!({
            "stream": true, "stream_options": {"include_usage": true}, "user": "u", "seed": 1,
            "metadata": {"k": "v"}, "n": 1, "parallel_tool_calls": true, "service_tier": "auto",
            "store": false, "logit_bias": {}, "logprobs": false, "top_logprobs": 0,
            "modalities": ["text"], "frequency_penalty": 0, "presence_penalty": 0.0,
            "reasoning_effort": "none", "response_format": {"type": "text"},
            "tool_choice": "auto", "tools": [], "name": "x", "prompt_cache_key": "k",
            "safety_identifier": "s", "verbosity": "low"})));
        assert_eq!(
            out,
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]})
        );
    }

    #[test]
    fn things_bedrock_cannot_do_are_refused_by_name() {
        let cases = [
            (json!({"n": 3}), "n"),
            (json!({"logprobs": true}), "logprobs"),
            (json!({"top_logprobs": 2}), "top_logprobs"),
            (json!({"logit_bias": {"50256": -100}}), "logit_bias"),
            (json!({"frequency_penalty": 0.5}), "frequency_penalty"),
            (json!({"presence_penalty": -1}), "presence_penalty"),
            (
                json!({"audio": {"voice": "alloy", "format": "wav"}}),
                "audio",
            ),
            (json!({"modalities": ["text", "audio"]}), "modalities"),
            (
                json!({"prediction": {"type": "content", "content": "x"}}),
                "prediction",
            ),
            (json!({"web_search_options": {}}), "web_search_options"),
            (json!({"functions": [{"name": "f"}]}), "functions"),
            (json!({"function_call": "auto"}), "function_call"),
            (json!({"reasoning_effort": "extreme"}), "reasoning_effort"),
            (json!({"top_k": -1}), "top_k"),
            (
                json!({"additional_model_request_fields": [1]}),
                "additional_model_request_fields",
            ),
            (
                json!({"thinking": {"type": "enabled"}}),
                "thinking.budget_tokens",
            ),
            (json!({"thinking": "yes"}), "thinking"),
            (
                json!({"response_format": {"type": "xml"}}),
                "response_format.type",
            ),
            (
                json!({"response_format": {"type": "json_schema"}}),
                "response_format.json_schema",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
                "response_format.json_schema.schema",
            ),
            (
                json!({"response_format": {"type": "json_object"},
                    "thinking": {"type": "enabled", "budget_tokens": 1024}}),
                "response_format",
            ),
            (
                json!({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_completion_tokens": 1000, "max_tokens": 9000}),
                "max_completion_tokens",
            ),
        ];
        for (extra, param) in cases {
            assert_eq!(
                param_of(user(extra.clone())).as_deref(),
                Some(param),
                "{extra}"
            );
        }
    }

    #[test]
    fn reasoning_effort_waits_for_the_model() {
        // What it becomes depends on the model: the reasoning step writes it (reasoning.rs).
        let req = user(json!({"reasoning_effort": "medium"}));
        let bytes = serde_json::to_vec(&req).unwrap();
        let parsed = parse(&bytes).unwrap();
        let t = to_request(&parsed).unwrap();
        assert_eq!(t.reasoning, Some(Effort::Medium));
        assert!(t.converse.additional_model_request_fields.is_empty());
        assert_eq!(t.converse.inference_config.max_tokens, None);
    }

    #[test]
    fn additional_fields_top_k_and_explicit_thinking() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],
            "additional_model_request_fields":{"top_k":1,"anthropic_beta":["x"],"thinking":{"type":"disabled"}},
            "top_k":40,"reasoning_effort":"high",
            "thinking":{"type":"enabled", "budget_tokens":2048}}"#;
        let call = to_converse(body).unwrap();
        // Passed through byte for byte (the client's spacing survives), named fields win.
        let text = std::str::from_utf8(&call.body).unwrap();
        assert!(
            text.contains(r#""additionalModelRequestFields":{"anthropic_beta":["x"],"thinking":{"type":"enabled", "budget_tokens":2048},"top_k":40}"#),
            "{text}"
        );
        let out: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(out["inferenceConfig"], json!({"maxTokens": 6144}));
        // Nothing asked, nothing sent.
        assert!(
            body_of(user(json!({})))
                .get("additionalModelRequestFields")
                .is_none()
        );
    }

    #[test]
    fn json_schema_uses_structured_output() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,
            "description":"A person","schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}}}}"#;
        let call = to_converse(body).unwrap();
        let out: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            out["outputConfig"],
            json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
                "schema": r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}"#,
                "name": "person", "description": "A person"}}}})
        );
        assert!(out.get("toolConfig").is_none());
        assert_eq!(call.tool_names, ToolNames::default());
    }

    #[test]
    fn json_object_answers_through_a_forced_tool() {
        let out = body_of(user(json!({"response_format": {"type": "json_object"}})));
        assert_eq!(
            out["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "json_response",
                "description": "Answer the user with this tool: its input is the final answer, a JSON object.",
                "inputSchema": {"json": {"type": "object"}}}}],
                "toolChoice": {"tool": {"name": "json_response"}}})
        );
        // With the client's tools, the model must use a tool: a real one or the answer tool.
        let out = body_of(user(json!({"response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "f"}}]})));
        assert_eq!(out["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert_eq!(out["toolConfig"]["tools"].as_array().unwrap().len(), 2);
        let call = to_converse(
            &serde_json::to_vec(&user(json!({"response_format": {"type": "json_object"}})))
                .unwrap(),
        )
        .unwrap();
        assert!(call.tool_names.is_response_tool("json_response"));
        assert_eq!(
            param_of(user(json!({"response_format": {"type": "json_object"},
                "tools": [{"type": "function", "function": {"name": "json_response"}}]}))),
            Some("response_format".into())
        );
    }
}
