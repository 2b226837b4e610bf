//! The Anthropic Messages API's own wire pieces the filter needs wherever it speaks to Anthropic
//! clients or writes Anthropic bodies: the version Bedrock wants, beta flags, and the error shape.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorType};

/// The `anthropic_version` Bedrock requires in InvokeModel bodies for Claude.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The beta flags Bedrock takes in an Anthropic body's `anthropic_beta` for the Claude models
/// that have them; Bedrock refuses a request naming any other flag ("invalid beta flag").
/// Claude Code relies on these: context management, effort, interleaved thinking, 1M context,
/// tool search and examples, computer use, 128k output.
pub const BEDROCK_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "computer-use-2025-11-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
];

/// `budget_tokens` of an Anthropic `thinking` member (raw JSON) that is `enabled`, if any.
pub fn thinking_budget(thinking: &str) -> Option<u32> {
    #[derive(Deserialize)]
    struct Thinking<'b> {
        #[serde(
            rename = "type",
            borrow,
            default,
            deserialize_with = "crate::json::opt_cow"
        )]
        kind: Option<Cow<'b, str>>,
        #[serde(default)]
        budget_tokens: Option<u32>,
    }
    let t: Thinking<'_> = serde_json::from_str(thinking).ok()?;
    (t.kind.as_deref() == Some("enabled"))
        .then_some(t.budget_tokens)
        .flatten()
}

/// The `max_tokens` to send when the client gave none: the default, or — when the thinking
/// budget needs more, since Claude wants `max_tokens` above the budget — the budget plus the
/// default, so the answer keeps the default's room.
pub fn default_max_tokens(default: u32, thinking_budget: Option<u32>) -> u32 {
    match thinking_budget {
        Some(b) if b >= default => b.saturating_add(default),
        _ => default,
    }
}

/// The flags of an `anthropic-beta` header value (comma-separated, possibly repeated).
pub fn beta_flags(header: &str) -> impl Iterator<Item = &str> {
    header.split(',').map(str::trim).filter(|f| !f.is_empty())
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
            ErrorType::RateLimit | ErrorType::InsufficientQuota => "rate_limit_error",
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
