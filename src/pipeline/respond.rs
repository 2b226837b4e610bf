//! What the client gets: [`ClientResponse`], and the one place that decides the shape of every
//! error answered — local or translated from Bedrock — by the API the request came in on.

use serde::Serialize;

use crate::error::ApiError;

/// An answer for the client: status, content type and body (plus `retry-after` for errors
/// that say when to come back, `allow` for a wrong method).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub retry_after: Option<u32>,
    /// `allow` of a 405.
    pub allow: Option<&'static str>,
    /// `x-amzn-ErrorType` of an AWS-shaped error.
    pub aws_error_type: Option<&'static str>,
}

impl ClientResponse {
    /// A `200 application/json` answer.
    pub fn json(body: Vec<u8>) -> Self {
        ClientResponse {
            status: 200,
            content_type: "application/json",
            body,
            retry_after: None,
            allow: None,
            aws_error_type: None,
        }
    }

    /// The headers of a local reply with this answer.
    pub fn reply_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("content-type", self.content_type.to_string())];
        if let Some(secs) = self.retry_after {
            headers.push(("retry-after", secs.to_string()));
        }
        if let Some(method) = self.allow {
            headers.push(("allow", method.to_string()));
        }
        if let Some(t) = self.aws_error_type {
            headers.push(("x-amzn-errortype", t.to_string()));
        }
        headers
    }
}

/// The error shape a client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error": {"message", "type", "param", "code"}}`
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`
    Anthropic,
    /// `x-amzn-ErrorType: <code>` and `{"__type": <code>, "message"}`, as Bedrock answers
    /// (botocore and the AWS SDKs read the code from either).
    Aws,
}

impl ErrorShape {
    /// The shape for a request path, decided before routing so that requests that never reach
    /// an endpoint (wrong method, unknown operation, too large, refused caller) get it too:
    /// Anthropic clients talk to `/v1/messages`, AWS SDKs to `/model/…`.
    pub fn of_path(path: &str) -> ErrorShape {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        if [
            "/model/",
            "/guardrail/",
            "/guardrail-checks",
            "/async-invoke",
        ]
        .iter()
        .any(|p| path.starts_with(p))
        {
            return ErrorShape::Aws;
        }
        let path = path.strip_prefix("/v1").unwrap_or(path);
        if path == "/messages" || path.starts_with("/messages/") {
            ErrorShape::Anthropic
        } else {
            ErrorShape::OpenAi
        }
    }

    /// An error as a client of this shape receives it.
    pub fn render(self, e: &ApiError) -> ClientResponse {
        let (body, aws_error_type) = match self {
            ErrorShape::OpenAi => (e.to_json(), None),
            ErrorShape::Anthropic => (crate::anthropic::error_json(e), None),
            ErrorShape::Aws => {
                let code = aws_error_code(e);
                (aws_error_json(code, &e.message), Some(code))
            }
        };
        ClientResponse {
            status: e.status,
            content_type: "application/json",
            body,
            retry_after: e.retry_after,
            allow: e.allow,
            aws_error_type,
        }
    }
}

/// The Bedrock Runtime error code for a local error, by status.
fn aws_error_code(e: &ApiError) -> &'static str {
    match e.status {
        401 => "UnrecognizedClientException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        429 => "ThrottlingException",
        500 => "InternalServerException",
        503 => "ServiceUnavailableException",
        s if s < 500 => "ValidationException",
        _ => "InternalServerException",
    }
}

fn aws_error_json(code: &str, message: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct AwsError<'a> {
        #[serde(rename = "__type")]
        kind: &'a str,
        message: &'a str,
    }
    // Serialising two strings cannot fail.
    serde_json::to_vec(&AwsError {
        kind: code,
        message,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{model_not_allowed, unauthenticated};
    use serde_json::Value;

    fn body(r: &ClientResponse) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn refusals_in_each_format() {
        let e = model_not_allowed("team-a", "nova");
        let r = ErrorShape::of_path("/v1/chat/completions").render(&e);
        let v = body(&r);
        assert_eq!(r.status, 403);
        assert_eq!(v["error"]["type"], "permission_error");
        assert_eq!(v["error"]["code"], "model_not_allowed");
        let r = ErrorShape::of_path("/v1/messages").render(&e);
        let v = body(&r);
        assert_eq!(
            (&v["type"], &v["error"]["type"]),
            (&"error".into(), &"permission_error".into())
        );
        let r = ErrorShape::of_path("/model/amazon.nova-lite-v1%3A0/converse").render(&e);
        let v = body(&r);
        assert_eq!(v["__type"], "AccessDeniedException");
        assert_eq!(r.aws_error_type, Some("AccessDeniedException"));
        let r = ErrorShape::of_path("/model/m/converse").render(&unauthenticated("no"));
        let v = body(&r);
        assert_eq!(
            (r.status, &v["__type"]),
            (401, &"UnrecognizedClientException".into())
        );
    }

    #[test]
    fn every_local_error_on_a_native_path_is_aws_shaped() {
        let too_large = ApiError::new(413, crate::error::ErrorType::InvalidRequest, "too big");
        let r = ErrorShape::of_path("/model/m/invoke?x=1").render(&too_large);
        assert_eq!(
            (r.status, body(&r)),
            (
                413,
                serde_json::json!({"__type": "ValidationException", "message": "too big"})
            )
        );
        let unavailable =
            ApiError::new(503, crate::error::ErrorType::Api, "no credentials").with_retry_after(2);
        let r = ErrorShape::Aws.render(&unavailable);
        assert_eq!(r.aws_error_type, Some("ServiceUnavailableException"));
        assert_eq!(r.retry_after, Some(2));
        assert_eq!(ErrorShape::of_path("/v1/messages/"), ErrorShape::Anthropic);
        assert_eq!(ErrorShape::of_path("/v1/models"), ErrorShape::OpenAi);
        for native in [
            "/guardrail-checks",
            "/guardrail-checks/invoke",
            "/async-invoke?x=1",
        ] {
            assert_eq!(ErrorShape::of_path(native), ErrorShape::Aws, "{native}");
        }
    }
}
