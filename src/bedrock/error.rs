//! Bedrock error answers → OpenAI errors.
//!
//! Bedrock answers an error with an HTTP status, `x-amzn-ErrorType: <Code>[:<namespace>]` and a
//! JSON body `{"message": …}` (sometimes `Message`). The code decides the OpenAI status and
//! type; the message is passed on with AWS account IDs and ARNs redacted, since they describe the
//! gateway's AWS account, not anything the caller should see.

use serde::Deserialize;

use crate::error::{ApiError, ErrorType};

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default, alias = "Message")]
    message: Option<String>,
    #[serde(default, alias = "Code", rename = "code")]
    code: Option<String>,
    #[serde(default, rename = "__type")]
    amz_type: Option<String>,
    /// `{"error": {"message"}}`: what Envoy's `local_reply_config` in the shipped configs
    /// writes for its own answers (connect failure, reset, timeout).
    #[serde(default)]
    error: Option<ProxyError>,
}

#[derive(Deserialize, Default)]
struct ProxyError {
    #[serde(default)]
    message: Option<String>,
}

/// The error code from an `x-amzn-ErrorType` value: the text before the first `:`, after any `#`.
pub fn error_code_from_header(value: &str) -> &str {
    let before_colon = value.split(':').next().unwrap_or(value);
    before_colon
        .rsplit('#')
        .next()
        .unwrap_or(before_colon)
        .trim()
}

/// Translate a Bedrock error response. `error_type_header` is `x-amzn-ErrorType` if present.
pub fn from_response(status: u16, error_type_header: Option<&str>, body: &[u8]) -> ApiError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = error_type_header
        .map(error_code_from_header)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .or_else(|| parsed.code.clone())
        .or_else(|| {
            parsed
                .amz_type
                .as_deref()
                .map(|t| error_code_from_header(t).to_string())
        })
        .unwrap_or_default();
    let message = match parsed.message {
        Some(m) if !m.is_empty() => redact(&m),
        // A proxy's own short plain-text answer (Envoy's "upstream request timeout",
        // "upstream connect error or disconnect/reset before headers. …") says what happened.
        _ if code.is_empty() && proxy_reason(body, &parsed).is_some() => format!(
            "Bedrock answered HTTP {status}: {}",
            redact(proxy_reason(body, &parsed).unwrap_or_default())
        ),
        _ if code.is_empty() => format!("Bedrock answered HTTP {status}"),
        _ => format!("Bedrock answered HTTP {status} ({code})"),
    };
    from_code(status, &code, message)
}

/// A proxy's reason: a short one-line printable text body (not JSON, not markup), or the
/// message of an OpenAI-shaped body written by Envoy's `local_reply_config`.
fn proxy_reason<'a>(body: &'a [u8], parsed: &'a ErrorBody) -> Option<&'a str> {
    let nested = parsed.error.as_ref().and_then(|e| e.message.as_deref());
    nested.map_or_else(|| plain_text_reason(body), plain_text_reason_str)
}

fn plain_text_reason(body: &[u8]) -> Option<&str> {
    plain_text_reason_str(std::str::from_utf8(body).ok()?)
}

fn plain_text_reason_str(text: &str) -> Option<&str> {
    let text = text.trim();
    let printable = |c: char| !c.is_control() && c != '<' && c != '{';
    (!text.is_empty() && text.len() <= 200 && text.chars().all(printable)).then_some(text)
}

/// How Bedrock's `ValidationException` for a model ID it does not know begins.
const UNKNOWN_MODEL: &str = "The provided model identifier is invalid";

/// Map an error code (from a header or an event-stream exception) to an OpenAI error.
pub fn from_code(status: u16, code: &str, message: String) -> ApiError {
    let (status, kind, openai_code) = match code {
        // Bedrock's answer for a model ID it does not know is a validation error; OpenAI and
        // Anthropic clients expect the 404 their own APIs give for an unknown model.
        "ValidationException" if message.starts_with(UNKNOWN_MODEL) => {
            (404, ErrorType::NotFound, "model_not_found")
        }
        "ValidationException" | "ConflictException" | "ServiceQuotaExceededException" => {
            (400, ErrorType::InvalidRequest, code)
        }
        // The gateway's own AWS credentials were refused: the caller's key is not involved.
        "InvalidSignatureException"
        | "UnrecognizedClientException"
        | "MissingAuthenticationTokenException"
        | "IncompleteSignatureException"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch" => {
            // AWS appends the canonical request it expected, which holds the gateway's session
            // token: only the first line goes to the caller.
            let first_line = message.lines().next().unwrap_or_default().trim();
            return ApiError::new(
                401,
                ErrorType::Authentication,
                format!("Bedrock refused the gateway's AWS credentials: {first_line}"),
            )
            .with_code(code);
        }
        "AccessDeniedException" => (403, ErrorType::Permission, code),
        "ResourceNotFoundException" => (404, ErrorType::NotFound, "model_not_found"),
        "ModelTimeoutException" => (408, ErrorType::Api, code),
        "ModelErrorException" | "ModelStreamErrorException" => (424, ErrorType::Api, code),
        "ThrottlingException" | "TooManyRequestsException" => {
            (429, ErrorType::RateLimit, "rate_limit_exceeded")
        }
        "ModelNotReadyException" => (503, ErrorType::Api, code),
        "InternalServerException" | "InternalFailure" => (500, ErrorType::Api, code),
        "ServiceUnavailableException" | "ServiceUnavailable" => (503, ErrorType::Api, code),
        _ => match status {
            401 => (401, ErrorType::Authentication, code),
            403 => (403, ErrorType::Permission, code),
            404 => (404, ErrorType::NotFound, code),
            429 => (429, ErrorType::RateLimit, code),
            400..=499 => (status, ErrorType::InvalidRequest, code),
            500..=599 => (status, ErrorType::Api, code),
            _ => (502, ErrorType::Api, code),
        },
    };
    let mut err = ApiError::new(status, kind, message);
    if !openai_code.is_empty() {
        err = err.with_code(openai_code);
    }
    err
}

/// Replace ARNs and 12-digit AWS account IDs in an upstream message.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while !rest.is_empty() {
        if rest.starts_with("arn:aws") {
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ')' | ']'))
                .unwrap_or(rest.len());
            out.push_str("arn:(redacted)");
            rest = rest.get(end..).unwrap_or("");
            continue;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let run = rest.get(..digits).unwrap_or("");
            let preceded_by_alnum = out
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric());
            if digits == 12 && !preceded_by_alnum {
                out.push_str("************");
            } else {
                out.push_str(run);
            }
            rest = rest.get(digits..).unwrap_or("");
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// An exception frame (`:exception-type` is the lower-camel member name, e.g.
/// `throttlingException`) as an error of the matching class. The message comes from the
/// payload, redacted.
pub fn exception(kind: &str, payload: &[u8]) -> ApiError {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(default, alias = "Message")]
        message: Option<String>,
    }
    let message = serde_json::from_slice::<Body>(payload)
        .ok()
        .and_then(|b| b.message)
        .filter(|m| !m.is_empty())
        .map(|m| redact(&m))
        .unwrap_or_else(|| format!("Bedrock stream failed: {kind}"));
    let mut code = String::with_capacity(kind.len());
    let mut chars = kind.chars();
    if let Some(first) = chars.next() {
        code.extend(first.to_uppercase());
        code.push_str(chars.as_str());
    }
    upstream_failure(from_code(502, &code, message))
}

/// An `error` frame (`:error-code`, `:error-message`, empty payload).
pub fn stream_error(code: &str, message: &str) -> ApiError {
    let message = if message.is_empty() {
        format!("Bedrock stream failed: {code}")
    } else {
        redact(message)
    };
    upstream_failure(from_code(502, code, message))
}

/// An unknown code falls back to status 502, which `from_code` files under 4xx-or-5xx by
/// status; a 502 is never the caller's fault.
fn upstream_failure(mut err: ApiError) -> ApiError {
    if err.status == 502 {
        err.kind = ErrorType::Api;
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_plain_text_answers_are_quoted() {
        let e = from_response(504, None, b"upstream request timeout");
        assert_eq!(
            (e.status, e.message.as_str()),
            (504, "Bedrock answered HTTP 504: upstream request timeout")
        );
        let e = from_response(
            503,
            None,
            br#"{"error":{"message":"upstream connect error","type":"api_error"}}"#,
        );
        assert_eq!(
            e.message,
            "Bedrock answered HTTP 503: upstream connect error"
        );
        // Markup, long or multi-line bodies are not repeated to the client.
        for body in [&b"<html>x</html>"[..], &[b'a'; 300][..], b"a\nb", b"\xff"] {
            let e = from_response(502, None, body);
            assert_eq!(e.message, "Bedrock answered HTTP 502", "{body:?}");
        }
    }

    #[test]
    fn header_code_parsing() {
        assert_eq!(
            error_code_from_header("ValidationException"),
            "ValidationException"
        );
        assert_eq!(
            error_code_from_header(
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            ),
            "ThrottlingException"
        );
        assert_eq!(
            error_code_from_header("com.amazon.coral#AccessDeniedException"),
            "AccessDeniedException"
        );
    }

    #[test]
    fn maps_each_class() {
        let cases = [
            (400, "ValidationException", 400, ErrorType::InvalidRequest),
            (403, "AccessDeniedException", 403, ErrorType::Permission),
            (
                403,
                "InvalidSignatureException",
                401,
                ErrorType::Authentication,
            ),
            (
                403,
                "UnrecognizedClientException",
                401,
                ErrorType::Authentication,
            ),
            (404, "ResourceNotFoundException", 404, ErrorType::NotFound),
            (408, "ModelTimeoutException", 408, ErrorType::Api),
            (424, "ModelErrorException", 424, ErrorType::Api),
            (429, "ThrottlingException", 429, ErrorType::RateLimit),
            (429, "ModelNotReadyException", 503, ErrorType::Api),
            (500, "InternalServerException", 500, ErrorType::Api),
            (503, "ServiceUnavailableException", 503, ErrorType::Api),
            (418, "Teapot", 418, ErrorType::InvalidRequest),
            (502, "", 502, ErrorType::Api),
        ];
        for (status, code, want_status, want_kind) in cases {
            let body = br#"{"message":"m"}"#;
            let e = from_response(status, Some(code), body);
            assert_eq!((e.status, e.kind), (want_status, want_kind), "{code}");
        }
    }

    #[test]
    fn an_unknown_model_is_404_model_not_found() {
        let body = br#"{"message":"The provided model identifier is invalid."}"#;
        let e = from_response(400, Some("ValidationException"), body);
        assert_eq!(
            (e.status, e.kind, e.code.as_deref(), e.message.as_str()),
            (
                404,
                ErrorType::NotFound,
                Some("model_not_found"),
                "The provided model identifier is invalid."
            )
        );
        let other = br#"{"message":"Malformed input request, please reformat your input."}"#;
        let e = from_response(400, Some("ValidationException"), other);
        assert_eq!(
            (e.status, e.code.as_deref()),
            (400, Some("ValidationException"))
        );
    }

    #[test]
    fn signature_errors_never_echo_the_canonical_request() {
        let body = br#"{"message":"The request signature we calculated does not match.\n\nThe Canonical String for this request should have been\n'POST\nx-amz-security-token:SECRET-TOKEN\n'"}"#;
        let e = from_response(403, Some("InvalidSignatureException"), body);
        assert_eq!(e.status, 401);
        assert!(!e.message.contains("SECRET-TOKEN"), "{}", e.message);
        assert!(e.message.ends_with("does not match."), "{}", e.message);
    }

    #[test]
    fn message_from_body_variants() {
        let e = from_response(
            400,
            None,
            br#"{"Message":"bad thing","code":"ValidationException"}"#,
        );
        assert_eq!(e.message, "bad thing");
        assert_eq!(e.status, 400);
        let e = from_response(500, None, b"<html>oops</html>");
        assert_eq!(e.message, "Bedrock answered HTTP 500");
    }

    #[test]
    fn redacts_accounts_and_arns() {
        let m = "User: arn:aws:sts::123456789012:assumed-role/x is not authorized on account 123456789012 (id 1234567890123)";
        assert_eq!(
            redact(m),
            "User: arn:(redacted) is not authorized on account ************ (id 1234567890123)"
        );
        assert_eq!(redact("plain ü text"), "plain ü text");
    }
}
