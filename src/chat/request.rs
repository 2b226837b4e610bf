//! OpenAI chat request → Converse request body.
//!
//! Validation happens here, before anything goes upstream, and every rejection names the
//! offending parameter (`param`) as OpenAI does.

use std::borrow::Cow;

use crate::bedrock::converse::{
    ContentBlock, ConverseRequest, InferenceConfiguration, Message, Role, SystemContentBlock,
};
use crate::bedrock::path::MAX_MODEL_ID_LEN;
use crate::error::ApiError;
use crate::openai::{ChatCompletionRequest, ChatMessage, MessageContent, Stop};

/// What the translation produced: the Bedrock model ID and the Converse body.
#[derive(Debug)]
pub struct ConverseCall {
    /// The model as the client named it (echoed back in responses).
    pub client_model: String,
    /// The Bedrock model ID, inference profile ID or ARN to put in the path.
    pub model_id: String,
    pub stream: bool,
    /// `stream_options.include_usage`: end the stream with a usage chunk.
    pub include_usage: bool,
    pub body: Vec<u8>,
}

/// OpenAI allows at most 4 stop sequences; so does every Bedrock text model we route to.
const MAX_STOP_SEQUENCES: usize = 4;

/// Parse and translate a chat completions request body.
pub fn to_converse(body: &[u8]) -> Result<ConverseCall, ApiError> {
    let req: ChatCompletionRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })?;
    let model = match req.model.as_deref().map(str::trim) {
        None => {
            return Err(ApiError::invalid(
                "model",
                "you must provide a `model` parameter",
            ));
        }
        Some("") => return Err(ApiError::invalid("model", "`model` must not be empty")),
        Some(m) if m.len() > MAX_MODEL_ID_LEN => {
            return Err(ApiError::invalid("model", "`model` is too long"));
        }
        Some(m) => m.to_string(),
    };
    reject_unsupported(&req)?;
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
    let (system, turns) = translate_messages(messages)?;
    let converse = ConverseRequest {
        messages: turns,
        system,
        inference_config: inference_config(&req)?,
    };
    let body = serde_json::to_vec(&converse)
        .map_err(|e| ApiError::invalid("messages", format!("cannot encode request: {e}")))?;
    Ok(ConverseCall {
        client_model: model.clone(),
        model_id: model,
        stream,
        include_usage,
        body,
    })
}

fn reject_unsupported(req: &ChatCompletionRequest) -> Result<(), ApiError> {
    if let Some(n) = req.n
        && n != 1
    {
        return Err(ApiError::invalid(
            "n",
            "Bedrock returns one choice per request: `n` must be 1",
        ));
    }
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::invalid(
            "tools",
            "tools are not supported by this gateway yet",
        ));
    }
    if let Some(rf) = &req.response_format
        && rf.kind != "text"
    {
        return Err(ApiError::invalid(
            "response_format",
            format!(
                "response_format `{}` is not supported by this gateway yet",
                rf.kind
            ),
        ));
    }
    Ok(())
}

type Translated<'a> = (Vec<SystemContentBlock<'a>>, Vec<Message<'a>>);

fn translate_messages<'a>(messages: &'a [ChatMessage<'a>]) -> Result<Translated<'a>, ApiError> {
    let mut system = Vec::new();
    let mut turns: Vec<Message<'a>> = Vec::with_capacity(messages.len());
    for (i, msg) in messages.iter().enumerate() {
        let role = msg.role.as_deref().ok_or_else(|| {
            ApiError::invalid(
                &format!("messages[{i}].role"),
                "each message needs a `role`",
            )
        })?;
        let role = match role {
            "system" | "developer" => {
                for text in texts(msg, i)? {
                    system.push(SystemContentBlock::Text(text));
                }
                continue;
            }
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" | "function" => {
                return Err(ApiError::invalid(
                    &format!("messages[{i}].role"),
                    "tool messages are not supported by this gateway yet",
                ));
            }
            other => {
                return Err(ApiError::invalid(
                    &format!("messages[{i}].role"),
                    format!(
                        "invalid role `{other}`: expected system, developer, user, assistant or tool"
                    ),
                ));
            }
        };
        if msg.tool_calls.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(ApiError::invalid(
                &format!("messages[{i}].tool_calls"),
                "tool calls are not supported by this gateway yet",
            ));
        }
        let blocks: Vec<ContentBlock<'a>> =
            texts(msg, i)?.into_iter().map(ContentBlock::Text).collect();
        if blocks.is_empty() {
            // Bedrock rejects blank text; an empty turn carries nothing, so it is dropped.
            continue;
        }
        // Converse needs strict user/assistant alternation: merge consecutive same-role turns.
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    match turns.first() {
        None => Err(ApiError::invalid(
            "messages",
            "`messages` must contain at least one user message with non-empty content",
        )),
        Some(first) if first.role != Role::User => Err(ApiError::invalid(
            "messages",
            "the conversation must start with a user message (after any system messages)",
        )),
        Some(_) => Ok((system, turns)),
    }
}

/// The non-blank text pieces of a message's content.
fn texts<'a>(msg: &'a ChatMessage<'a>, i: usize) -> Result<Vec<Cow<'a, str>>, ApiError> {
    match &msg.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(non_blank(t).into_iter().collect()),
        Some(MessageContent::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let param = || format!("messages[{i}].content[{j}]");
                match part.kind.as_deref() {
                    Some("text") => {
                        let text = part.text.as_ref().ok_or_else(|| {
                            ApiError::invalid(
                                &format!("{}.text", param()),
                                "a text part needs `text`",
                            )
                        })?;
                        out.extend(non_blank(text));
                    }
                    Some(other) => {
                        return Err(ApiError::invalid(
                            &format!("{}.type", param()),
                            format!(
                                "content part type `{other}` is not supported by this gateway yet"
                            ),
                        ));
                    }
                    None => {
                        return Err(ApiError::invalid(
                            &format!("{}.type", param()),
                            "each content part needs a `type`",
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

fn non_blank<'a>(t: &'a Cow<'a, str>) -> Option<Cow<'a, str>> {
    if t.trim().is_empty() {
        None
    } else {
        Some(Cow::Borrowed(t.as_ref()))
    }
}

fn inference_config<'a>(
    req: &'a ChatCompletionRequest<'a>,
) -> Result<InferenceConfiguration<'a>, ApiError> {
    let (param, max) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(v), _) => ("max_completion_tokens", Some(v)),
        (None, v) => ("max_tokens", v),
    };
    let max_tokens = match max {
        None => None,
        Some(v) if v >= 1 => Some(
            u32::try_from(v)
                .map_err(|_| ApiError::invalid(param, format!("`{param}` is too large")))?,
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
        Some(Stop::One(s)) => vec![Cow::Borrowed(s.as_ref())],
        Some(Stop::Many(v)) => v.iter().map(|s| Cow::Borrowed(s.as_ref())).collect(),
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
    Ok(InferenceConfiguration {
        max_tokens,
        temperature,
        top_p,
        stop_sequences,
    })
}

/// Bedrock's Converse accepts temperature and top_p in [0, 1] (OpenAI allows temperature up to 2).
fn unit_interval(v: Option<f64>, param: &str) -> Result<Option<f64>, ApiError> {
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
}
