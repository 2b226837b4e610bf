//! The filter's errors: [`ApiError`] for everything answered to a client, [`ConfigError`] for
//! everything wrong in the configuration.
//!
//! Every failure the filter answers — bad input, a refused caller, a Bedrock error, a broken
//! upstream body — ends up as one [`ApiError`]: a status, an OpenAI-style class, a message and
//! the parameter it concerns. How it is written (OpenAI, Anthropic or AWS shape) is decided once
//! per request by the pipeline (`pipeline::respond`); the OpenAI shape is [`ApiError::to_json`].

use serde::Serialize;

/// The `type` field of an OpenAI error object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    /// A spend budget is used up (OpenAI's `insufficient_quota`, a 429).
    InsufficientQuota,
    /// Upstream or internal failure (5xx).
    Api,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Permission => "permission_error",
            ErrorType::NotFound => "not_found_error",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::InsufficientQuota => "insufficient_quota",
            ErrorType::Api => "api_error",
        }
    }
}

/// An error answered to the client in OpenAI's format.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub kind: ErrorType,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<String>,
    /// Seconds for a `retry-after` header on a local answer (e.g. no credentials yet).
    pub retry_after: Option<u32>,
    /// The method an `allow` header names on a 405, as HTTP requires.
    pub allow: Option<&'static str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: u16, kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
            allow: None,
        }
    }

    /// 400 `invalid_request_error` naming the offending parameter.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        ApiError::new(400, ErrorType::InvalidRequest, message).with_param(param)
    }

    /// 400 `invalid_request_error` about the request as a whole (no single parameter).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(400, ErrorType::InvalidRequest, message)
    }

    /// 500 `api_error`: the filter or the proxy failed, not the client or Bedrock.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, ErrorType::Api, message)
    }

    /// 502 `api_error`: the upstream answered something the filter cannot translate.
    pub fn bad_upstream(message: impl Into<String>) -> Self {
        ApiError::new(502, ErrorType::Api, message).with_code("bad_upstream_response")
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }

    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 405: `method` is not allowed on `path`, `allowed` is (and goes in the `allow` header).
    pub fn method_not_allowed(method: &str, path: &str, allowed: &'static str) -> Self {
        ApiError {
            allow: Some(allowed),
            ..ApiError::new(
                405,
                ErrorType::InvalidRequest,
                format!("{method} is not allowed on {path}: use {allowed}"),
            )
            .with_code("method_not_allowed")
        }
    }

    /// The JSON body `{"error":{…}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let envelope = Envelope {
            error: Body {
                message: &self.message,
                kind: self.kind.as_str(),
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        };
        // Serialising plain strings cannot fail; fall back to a fixed body rather than panic.
        serde_json::to_vec(&envelope).unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"api_error","param":null,"code":null}}"#
                .to_vec()
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            self.kind.as_str(),
            self.message
        )
    }
}

/// One problem found in the configuration, with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_openai_shape() {
        let e = ApiError::invalid("messages", "`messages` must not be empty");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"message": "`messages` must not be empty",
                "type": "invalid_request_error", "param": "messages", "code": null}})
        );
    }
}
