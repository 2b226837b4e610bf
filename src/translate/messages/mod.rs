//! `POST /v1/messages` bodies ↔ Bedrock InvokeModel Anthropic bodies, and Anthropic errors.
//!
//! Bedrock's Anthropic body *is* the Messages API body, minus `model` (it goes in the path)
//! and `stream` (the operation decides), plus `anthropic_version`. Everything else passes
//! through byte for byte, so tools, thinking, cache control and content blocks Anthropic adds
//! later reach the model without the gateway knowing them. Bedrock validates the body itself
//! and answers a 400 naming any member it does not accept.

use serde::Serialize;

use super::object::{RawObject, to_json};
use crate::error::{ApiError, ErrorType};

/// The `anthropic_version` Bedrock requires in InvokeModel bodies for Claude.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// Top-level members the gateway drops before Bedrock sees the body.
///
/// - `service_tier` (`auto` | `standard_only`): Anthropic's capacity preference. Bedrock's
///   schema has no such member (the tier is the `X-Amzn-Bedrock-Service-Tier` header) and
///   rejects unknown members; without it Bedrock serves the default tier, which satisfies
///   `standard_only` and is a valid outcome of `auto`, so dropping it never changes an answer.
///
/// Not dropped, on purpose: `metadata` (Bedrock's schema accepts `metadata.user_id`);
/// `mcp_servers`, `container`, `context_management`, `output_config` and other features
/// Bedrock supports for some models only or not at all: dropping them would silently give an
/// answer without the tools or limits the client asked for, and the model-dependent support
/// would be stale in a static list. Bedrock's own 400 names the member to remove.
pub const DROPPED_MEMBERS: &[&str] = &["service_tier"];

/// A Messages API request turned into an InvokeModel call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesCall {
    /// The model as the client named it (echoed back in responses).
    pub client_model: String,
    /// The Bedrock model ID, inference profile ID or ARN to put in the path.
    pub model_id: String,
    /// `InvokeModelWithResponseStream` rather than `InvokeModel`.
    pub stream: bool,
    /// The InvokeModel body.
    pub body: Vec<u8>,
}

/// Translate a Messages API request body. `default_max_tokens` fills in `max_tokens`, which
/// Bedrock requires and Anthropic clients sometimes leave out.
pub fn to_invoke(body: &[u8], default_max_tokens: u32) -> Result<MessagesCall, ApiError> {
    to_invoke_with_betas(body, &|_| default_max_tokens, &[])
}

/// [`to_invoke`], plus beta flags for the body's `anthropic_beta` (Bedrock takes them there,
/// not from an `anthropic-beta` header), used only when the client's body has none, as
/// Anthropic's own Bedrock client does. Bedrock answers 400 "invalid beta flag" for flags it
/// does not support for the model, so the caller decides which header flags to pass on;
/// [`beta_flags`] splits a header value.
///
/// `default_max_tokens` is asked with the client's `model` (the default may differ per model)
/// and only when the body has no `max_tokens`.
pub fn to_invoke_with_betas(
    body: &[u8],
    default_max_tokens: &dyn Fn(&str) -> u32,
    betas: &[&str],
) -> Result<MessagesCall, ApiError> {
    let mut obj = RawObject::parse(body).map_err(|e| {
        ApiError::invalid_request(format!("the request body must be a JSON object: {e}"))
    })?;
    // Members the gateway reads must mean the same to it and to Bedrock.
    for key in [
        "model",
        "messages",
        "stream",
        "max_tokens",
        "anthropic_version",
    ] {
        if obj.count(key) > 1 {
            return Err(ApiError::invalid(
                key,
                format!("`{key}` appears more than once"),
            ));
        }
    }
    let model = match obj.get("model") {
        None => return Err(ApiError::invalid("model", "`model` is required")),
        Some(raw) => serde_json::from_str::<String>(raw)
            .ok()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| ApiError::invalid("model", "`model` must be a non-empty string"))?,
    };
    match obj.get("messages") {
        None => return Err(ApiError::invalid("messages", "`messages` is required")),
        Some(raw) if !raw.starts_with('[') => {
            return Err(ApiError::invalid("messages", "`messages` must be an array"));
        }
        Some(_) => {}
    }
    let stream = match obj.get("stream") {
        None | Some("null") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("stream", "`stream` must be a boolean")),
    };
    obj.remove("model");
    obj.remove("stream");
    for key in DROPPED_MEMBERS {
        obj.remove(key);
    }
    if matches!(obj.get("max_tokens"), None | Some("null")) {
        obj.remove("max_tokens");
        obj.prepend_raw("max_tokens", default_max_tokens(&model).to_string());
    }
    if matches!(obj.get("anthropic_version"), None | Some("null")) {
        obj.remove("anthropic_version");
        obj.prepend_raw("anthropic_version", to_json(BEDROCK_ANTHROPIC_VERSION));
    }
    if !betas.is_empty() && obj.get("anthropic_beta").is_none() {
        obj.set_raw("anthropic_beta", to_json(betas));
    }
    let mut out = Vec::with_capacity(obj.written_len());
    obj.write(&mut out);
    Ok(MessagesCall {
        client_model: model.clone(),
        model_id: model,
        stream,
        body: out,
    })
}

/// The flags of an `anthropic-beta` header value (comma-separated, possibly repeated).
pub fn beta_flags(header: &str) -> impl Iterator<Item = &str> {
    header.split(',').map(str::trim).filter(|f| !f.is_empty())
}

/// Translate an InvokeModel answer: Bedrock returns the Messages API response with its own
/// model ID in `model`; the client gets the name it asked for. Nothing else changes.
pub fn from_invoke(body: &[u8], client_model: &str) -> Result<Vec<u8>, ApiError> {
    from_invoke_with_usage(body, client_model).map(|(out, _)| out)
}

/// [`from_invoke`], also returning the answer's `usage` (for stats and access logs).
pub fn from_invoke_with_usage(
    body: &[u8],
    client_model: &str,
) -> Result<(Vec<u8>, Option<crate::metrics::Usage>), ApiError> {
    let mut obj = RawObject::parse(body).map_err(|e| {
        ApiError::bad_upstream(format!("Bedrock's answer is not a JSON object: {e}"))
    })?;
    let usage = obj
        .get("usage")
        .and_then(|u| serde_json::from_str::<AnthropicUsage>(u).ok())
        .map(|u| crate::metrics::Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_tokens: u.cache_read_input_tokens.unwrap_or(0),
            cache_write_tokens: u.cache_creation_input_tokens.unwrap_or(0),
        });
    obj.set_raw("model", to_json(client_model));
    let mut out = Vec::with_capacity(obj.written_len());
    obj.write(&mut out);
    Ok((out, usage))
}

/// The `usage` member of an Anthropic message.
#[derive(serde::Deserialize)]
struct AnthropicUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

/// The Anthropic `error.type` for an error, chosen by HTTP status as Anthropic's API does;
/// statuses Anthropic does not list keep the class the Bedrock mapping gave them (so a 408
/// model timeout or 424 model failure is an `api_error`, a 409 an `invalid_request_error`).
pub fn error_type(e: &ApiError) -> &'static str {
    match e.status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        500 => "api_error",
        503 | 529 => "overloaded_error",
        _ => match e.kind {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Permission => "permission_error",
            ErrorType::NotFound => "not_found_error",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::Api => "api_error",
        },
    }
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// An error in Anthropic's format: `{"type":"error","error":{"type":…,"message":…}}`.
pub fn error_json(e: &ApiError) -> Vec<u8> {
    let envelope = ErrorEnvelope {
        kind: "error",
        error: ErrorBody {
            kind: error_type(e),
            message: &e.message,
        },
    };
    // Serialising plain strings into a Vec cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_else(|_| {
        br#"{"type":"error","error":{"type":"api_error","message":"internal error"}}"#.to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn body(call: &MessagesCall) -> &str {
        std::str::from_utf8(&call.body).unwrap()
    }

    #[test]
    fn golden_request() {
        let req = br#"{
            "model": "claude-sonnet",
            "max_tokens": 1024,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hi \u00e9 \ud83d\ude00"}],
            "temperature": 0.50,
            "stream": false
        }"#;
        let call = to_invoke(req, 4096).unwrap();
        assert_eq!(call.client_model, "claude-sonnet");
        assert_eq!(call.model_id, "claude-sonnet");
        assert!(!call.stream);
        assert_eq!(
            body(&call),
            r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"system":"Be brief.","messages":[{"role": "user", "content": "Hi \u00e9 \ud83d\ude00"}],"temperature":0.50}"#
        );
    }

    #[test]
    fn defaults_max_tokens_and_keeps_the_clients_version() {
        let req = br#"{"anthropic_version":"bedrock-2099-01-01","model":"m","messages":[],"stream":true,"max_tokens":null}"#;
        let call = to_invoke(req, 333).unwrap();
        assert!(call.stream);
        assert_eq!(
            body(&call),
            r#"{"max_tokens":333,"anthropic_version":"bedrock-2099-01-01","messages":[]}"#
        );
    }

    #[test]
    fn tools_and_thinking_pass_through_unchanged() {
        let tools = r#"[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"cache_control":{"type":"ephemeral"}}]"#;
        let thinking = r#"{"type":"enabled","budget_tokens":2048}"#;
        let messages = r#"[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":[{"type":"thinking","thinking":"I should call the tool.","signature":"EqQBCgIYAhIM"},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"18°C"}]}]"#;
        let rest = format!(
            r#""tools":{tools},"tool_choice":{{"type":"auto"}},"thinking":{thinking},"metadata":{{"user_id":"u-1"}},"messages":{messages},"anthropic_beta":["interleaved-thinking-2025-05-14"],"future_field":{{"x":[1,2]}}"#
        );
        let req =
            format!(r#"{{"model":"us.anthropic.claude-sonnet-4-v1:0","max_tokens":4096,{rest}}}"#);
        let call = to_invoke(req.as_bytes(), 1).unwrap();
        assert_eq!(call.model_id, "us.anthropic.claude-sonnet-4-v1:0");
        assert_eq!(
            body(&call),
            format!(r#"{{"anthropic_version":"bedrock-2023-05-31","max_tokens":4096,{rest}}}"#)
        );
    }

    #[test]
    fn header_betas_go_in_the_body_unless_the_client_set_some() {
        let flags: Vec<&str> = beta_flags(" a-1, ,b-2 ,").collect();
        assert_eq!(flags, ["a-1", "b-2"]);
        let req = br#"{"model":"m","messages":[],"max_tokens":1}"#;
        let call = to_invoke_with_betas(req, &|_| 1, &flags).unwrap();
        assert_eq!(
            body(&call),
            r#"{"anthropic_version":"bedrock-2023-05-31","messages":[],"max_tokens":1,"anthropic_beta":["a-1","b-2"]}"#
        );
        let req = br#"{"model":"m","messages":[],"max_tokens":1,"anthropic_beta":["c-3"]}"#;
        let call = to_invoke_with_betas(req, &|_| 1, &flags).unwrap();
        assert!(body(&call).ends_with(r#""anthropic_beta":["c-3"]}"#));
    }

    #[test]
    fn drops_service_tier_only() {
        let req =
            br#"{"model":"m","service_tier":"auto","messages":[],"max_tokens":1,"mcp_servers":[]}"#;
        let call = to_invoke(req, 1).unwrap();
        assert_eq!(
            body(&call),
            r#"{"anthropic_version":"bedrock-2023-05-31","messages":[],"max_tokens":1,"mcp_servers":[]}"#
        );
    }

    #[test]
    fn invalid_requests_are_400s_naming_the_member() {
        let cases: [(&[u8], Option<&str>); 11] = [
            (b"[]", None),
            (b"not json", None),
            (br#"{"model":"m","messages":[]"#, None),
            (br#"{"messages":[]}"#, Some("model")),
            (br#"{"model":"","messages":[]}"#, Some("model")),
            (br#"{"model":7,"messages":[]}"#, Some("model")),
            (br#"{"model":"m"}"#, Some("messages")),
            (br#"{"model":"m","messages":{}}"#, Some("messages")),
            (
                br#"{"model":"m","messages":[],"stream":"yes"}"#,
                Some("stream"),
            ),
            (br#"{"model":"a","model":"b","messages":[]}"#, Some("model")),
            (
                br#"{"model":"m","messages":[],"max_tokens":1,"max_tokens":2}"#,
                Some("max_tokens"),
            ),
        ];
        for (req, param) in cases {
            let e = to_invoke(req, 1).unwrap_err();
            assert_eq!((e.status, e.kind), (400, ErrorType::InvalidRequest));
            assert_eq!(
                e.param.as_deref(),
                param,
                "{}",
                String::from_utf8_lossy(req)
            );
        }
    }

    #[test]
    fn golden_response() {
        let answer = br#"{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-3-5-sonnet-20241022","content":[{"type":"text","text":"Hello"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5}}"#;
        let out = from_invoke(answer, "my-claude").unwrap();
        let expected = std::str::from_utf8(answer)
            .unwrap()
            .replace("claude-3-5-sonnet-20241022", "my-claude");
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);

        let out = from_invoke(br#"{"id":"x"}"#, "a\"b").unwrap();
        assert_eq!(out, br#"{"id":"x","model":"a\"b"}"#);

        for bad in [&b"<html>"[..], b"[]", b""] {
            let e = from_invoke(bad, "m").unwrap_err();
            assert_eq!(e.status, 502);
        }
    }

    #[test]
    fn errors_in_anthropic_shape() {
        let cases = [
            (400, ErrorType::InvalidRequest, "invalid_request_error"),
            (401, ErrorType::Authentication, "authentication_error"),
            (403, ErrorType::Permission, "permission_error"),
            (404, ErrorType::NotFound, "not_found_error"),
            (413, ErrorType::InvalidRequest, "request_too_large"),
            (429, ErrorType::RateLimit, "rate_limit_error"),
            (500, ErrorType::Api, "api_error"),
            (503, ErrorType::Api, "overloaded_error"),
            (529, ErrorType::Api, "overloaded_error"),
            (408, ErrorType::Api, "api_error"),
            (424, ErrorType::Api, "api_error"),
            (409, ErrorType::InvalidRequest, "invalid_request_error"),
            (502, ErrorType::Api, "api_error"),
        ];
        for (status, kind, want) in cases {
            let e = ApiError::new(status, kind, "boom \"x\"");
            let v: Value = serde_json::from_slice(&error_json(&e)).unwrap();
            assert_eq!(
                v,
                json!({"type": "error", "error": {"type": want, "message": "boom \"x\""}}),
                "{status}"
            );
        }
    }
}
