//! `POST /v1/messages` (the Anthropic Messages API) ↔ Bedrock InvokeModel with Claude's body.
//!
//! Clients built on Anthropic's SDKs (Claude Code among them) speak the Messages API; Bedrock
//! serves Claude with the same body through InvokeModel and the same stream events wrapped in
//! its event stream. This module translates requests and answers; [`stream`] turns an
//! InvokeModelWithResponseStream body into Anthropic's server-sent events.
//!
//!
//! Bedrock's Anthropic body *is* the Messages API body, minus `model` (it goes in the path)
//! and `stream` (the operation decides), plus `anthropic_version`. Everything else passes
//! through byte for byte, so tools, thinking, cache control and content blocks Anthropic adds
//! later reach the model without the gateway knowing them. Bedrock validates the body itself
//! and answers a 400 naming any member it does not accept.

pub mod stream;

pub use stream::MessagesStreamTranslator;

use crate::anthropic::{self, BEDROCK_ANTHROPIC_VERSION};
use crate::error::ApiError;
use crate::json::{RawObject, to_json};
use crate::usage::Usage;

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
/// Bedrock requires and Anthropic clients sometimes leave out; it is asked with the client's
/// `model` (the default may differ per model) and only when the body has no `max_tokens`
/// (then raised to the thinking budget plus the default when the budget needs more).
///
/// `betas` go in the body's `anthropic_beta` (Bedrock takes them there, not from an
/// `anthropic-beta` header), only when the client's body has none, as Anthropic's own Bedrock
/// client does. Bedrock answers 400 "invalid beta flag" for flags it does not support for the
/// model, so the caller decides which header flags to pass on
/// ([`crate::anthropic::beta_flags`] splits a header value).
pub fn to_invoke(
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
        let budget = obj.get("thinking").and_then(anthropic::thinking_budget);
        let max_tokens = anthropic::default_max_tokens(default_max_tokens(&model), budget);
        obj.remove("max_tokens");
        obj.prepend_raw("max_tokens", max_tokens.to_string());
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

/// Translate a `/v1/messages/count_tokens` body into CountTokens' body: the InvokeModel body
/// the same request would send (`max_tokens` filled in as for `/v1/messages`, above any
/// thinking budget, as Bedrock validates it like an InvokeModel body), base64-encoded in
/// `input.invokeModel.body`.
pub fn to_count_tokens(
    body: &[u8],
    default_max_tokens: &dyn Fn(&str) -> u32,
    betas: &[&str],
) -> Result<MessagesCall, ApiError> {
    let mut call = to_invoke(body, default_max_tokens, betas)?;
    if call.stream {
        return Err(ApiError::invalid(
            "stream",
            "counting tokens streams nothing",
        ));
    }
    #[derive(serde::Serialize)]
    struct CountTokens<'a> {
        input: Input<'a>,
    }
    #[derive(serde::Serialize)]
    struct Input<'a> {
        #[serde(rename = "invokeModel")]
        invoke_model: InvokeModel<'a>,
    }
    #[derive(serde::Serialize)]
    struct InvokeModel<'a> {
        body: &'a str,
    }
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&call.body);
    let wrapped = CountTokens {
        input: Input {
            invoke_model: InvokeModel { body: &encoded },
        },
    };
    call.body = serde_json::to_vec(&wrapped)
        .map_err(|e| ApiError::internal(format!("cannot encode CountTokens: {e}")))?;
    Ok(call)
}

/// CountTokens' answer (`{"inputTokens": n}`) as Anthropic's (`{"input_tokens": n}`).
pub fn from_count_tokens(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Counted {
        #[serde(rename = "inputTokens")]
        input_tokens: u64,
    }
    let counted: Counted = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!("Bedrock's CountTokens answer is unreadable: {e}"))
    })?;
    Ok(format!(r#"{{"input_tokens":{}}}"#, counted.input_tokens).into_bytes())
}

/// Translate an InvokeModel answer: Bedrock returns the Messages API response with its own
/// model ID in `model`; the client gets the name it asked for. Nothing else changes. Also
/// returns the answer's `usage` (for stats and access logs).
pub fn from_invoke(body: &[u8], client_model: &str) -> Result<(Vec<u8>, Option<Usage>), ApiError> {
    let mut obj = RawObject::parse(body).map_err(|e| {
        ApiError::bad_upstream(format!("Bedrock's answer is not a JSON object: {e}"))
    })?;
    let usage = obj
        .get("usage")
        .and_then(|u| serde_json::from_str::<Usage>(u).ok());
    obj.set_raw("model", to_json(client_model));
    let mut out = Vec::with_capacity(obj.written_len());
    obj.write(&mut out);
    Ok((out, usage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;

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
        let call = to_invoke(req, &|_| 4096, &[]).unwrap();
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
        let call = to_invoke(req, &|_| 333, &[]).unwrap();
        assert!(call.stream);
        assert_eq!(
            body(&call),
            r#"{"max_tokens":333,"anthropic_version":"bedrock-2099-01-01","messages":[]}"#
        );
    }

    #[test]
    fn a_default_max_tokens_leaves_room_beside_the_thinking_budget() {
        // Claude wants max_tokens above the budget; count_tokens takes no max_tokens at all.
        for (thinking, max_tokens) in [
            (r#"{"type":"enabled","budget_tokens":8000}"#, 12096),
            (r#"{"type":"enabled","budget_tokens":2048}"#, 4096),
            (r#"{"type":"disabled"}"#, 4096),
            (r#"{"type":"adaptive"}"#, 4096),
        ] {
            let req = format!(r#"{{"model":"m","messages":[],"thinking":{thinking}}}"#);
            let call = to_invoke(req.as_bytes(), &|_| 4096, &[]).unwrap();
            assert_eq!(
                body(&call),
                format!(
                    r#"{{"anthropic_version":"bedrock-2023-05-31","max_tokens":{max_tokens},"messages":[],"thinking":{thinking}}}"#
                )
            );
            let count = to_count_tokens(req.as_bytes(), &|_| 4096, &[]).unwrap();
            let sent: serde_json::Value = serde_json::from_slice(&count.body).unwrap();
            use base64::Engine as _;
            let inner = base64::engine::general_purpose::STANDARD
                .decode(sent["input"]["invokeModel"]["body"].as_str().unwrap())
                .unwrap();
            assert_eq!(inner, call.body, "{thinking}");
        }
        // The client's own max_tokens stays, even below the budget: Claude says why it refuses.
        let req = br#"{"model":"m","messages":[],"max_tokens":100,"thinking":{"type":"enabled","budget_tokens":8000}}"#;
        assert!(body(&to_invoke(req, &|_| 4096, &[]).unwrap()).contains(r#""max_tokens":100,"#));
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
        let call = to_invoke(req.as_bytes(), &|_| 1, &[]).unwrap();
        assert_eq!(call.model_id, "us.anthropic.claude-sonnet-4-v1:0");
        assert_eq!(
            body(&call),
            format!(r#"{{"anthropic_version":"bedrock-2023-05-31","max_tokens":4096,{rest}}}"#)
        );
    }

    #[test]
    fn header_betas_go_in_the_body_unless_the_client_set_some() {
        let flags: Vec<&str> = crate::anthropic::beta_flags(" a-1, ,b-2 ,").collect();
        assert_eq!(flags, ["a-1", "b-2"]);
        let req = br#"{"model":"m","messages":[],"max_tokens":1}"#;
        let call = to_invoke(req, &|_| 1, &flags).unwrap();
        assert_eq!(
            body(&call),
            r#"{"anthropic_version":"bedrock-2023-05-31","messages":[],"max_tokens":1,"anthropic_beta":["a-1","b-2"]}"#
        );
        let req = br#"{"model":"m","messages":[],"max_tokens":1,"anthropic_beta":["c-3"]}"#;
        let call = to_invoke(req, &|_| 1, &flags).unwrap();
        assert!(body(&call).ends_with(r#""anthropic_beta":["c-3"]}"#));
    }

    #[test]
    fn drops_service_tier_only() {
        let req =
            br#"{"model":"m","service_tier":"auto","messages":[],"max_tokens":1,"mcp_servers":[]}"#;
        let call = to_invoke(req, &|_| 1, &[]).unwrap();
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
            let e = to_invoke(req, &|_| 1, &[]).unwrap_err();
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
        let out = from_invoke(answer, "my-claude").unwrap().0;
        let expected = std::str::from_utf8(answer)
            .unwrap()
            .replace("claude-3-5-sonnet-20241022", "my-claude");
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);

        let out = from_invoke(br#"{"id":"x"}"#, "a\"b").unwrap().0;
        assert_eq!(out, br#"{"id":"x","model":"a\"b"}"#);

        for bad in [&b"<html>"[..], b"[]", b""] {
            let e = from_invoke(bad, "m").unwrap_err();
            assert_eq!(e.status, 502);
        }
    }
}
