//! Which API a request is for, decided from its method and path alone.

use crate::bedrock::path::{NativeOperation, Operation, native_operation};
use crate::error::{ApiError, ErrorType};

/// An API the filter serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`: Converse, or InvokeModel with a family's body.
    ChatCompletions,
    /// A request already in Bedrock Runtime's own shape (`/model/{id}/converse`,
    /// `/async-invoke`, …) from an AWS SDK: re-signed with the gateway's credentials, body and
    /// answer untouched.
    Native(NativeOperation),
    /// `POST /v1/embeddings`: InvokeModel with a Titan or Cohere body.
    Embeddings,
    /// `GET /v1/models` and `GET /v1/models/{id}`: answered by the filter from its config.
    Models,
    /// `POST /v1/messages` (Anthropic Messages API): InvokeModel with the Anthropic body.
    Messages,
    /// `POST /v1/messages/count_tokens`: CountTokens with the Anthropic body.
    CountTokens,
    /// `POST /v1/responses` (OpenAI Responses API): Converse.
    Responses,
}

impl Endpoint {
    /// Whether the filter answers without calling Bedrock (and without reading a body).
    pub fn is_local(self) -> bool {
        matches!(self, Endpoint::Models)
    }

    /// The one HTTP method the endpoint takes.
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::Native(op) => op.method(),
            Endpoint::Models => "GET",
            _ => "POST",
        }
    }
}

/// Decide from the request line whether the filter serves the request.
pub fn route(method: &str, path: &str) -> Result<Endpoint, ApiError> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let endpoint = if let Some(op) = native_operation(method, path) {
        if op == NativeOperation::Model(Operation::InvokeModelWithBidirectionalStream) {
            return Err(ApiError::invalid_request(
                "InvokeModelWithBidirectionalStream cannot pass through this gateway: each of its \
                 events is signed with the caller's own credentials, which the gateway replaces; \
                 call Bedrock directly for bidirectional streams",
            )
            .with_code("unsupported_operation"));
        }
        Endpoint::Native(op)
    } else {
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let trimmed = trimmed.strip_prefix("/v1").unwrap_or(trimmed);
        match trimmed {
            "/chat/completions" => Endpoint::ChatCompletions,
            "/embeddings" => Endpoint::Embeddings,
            "/messages" => Endpoint::Messages,
            "/messages/count_tokens" => Endpoint::CountTokens,
            "/responses" => Endpoint::Responses,
            "/models" => Endpoint::Models,
            p if p.starts_with("/models/") => Endpoint::Models,
            _ => {
                return Err(ApiError::new(
                    404,
                    ErrorType::NotFound,
                    format!(
                        "Unknown request URL: {method} {path}. This gateway serves POST \
                         /v1/chat/completions, POST /v1/responses, POST /v1/embeddings, GET \
                         /v1/models, POST /v1/messages, POST /v1/messages/count_tokens and \
                         Bedrock Runtime's own operations (/model/{{id}}/…, /async-invoke, \
                         /guardrail/…)."
                    ),
                )
                .with_code("unknown_url"));
            }
        }
    };
    let allowed = endpoint.method();
    if method == allowed {
        return Ok(endpoint);
    }
    // `/async-invoke` takes GET (ListAsyncInvokes) and POST (StartAsyncInvoke).
    let both = native_operation("GET", path).is_some_and(|op| op.method() == "GET")
        && native_operation("POST", path).is_some_and(|op| op.method() == "POST");
    let allowed = if both { "GET, POST" } else { allowed };
    Err(ApiError::method_not_allowed(method, path, allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("POST", "/v1/chat/completions"),
            Ok(Endpoint::ChatCompletions)
        );
        assert_eq!(
            route("POST", "/v1/chat/completions?x=1"),
            Ok(Endpoint::ChatCompletions)
        );
        let e = route("GET", "/v1/chat/completions").unwrap_err();
        assert_eq!((e.status, e.allow), (405, Some("POST")));
        let e = route("DELETE", "/v1/models/m").unwrap_err();
        assert_eq!((e.status, e.allow), (405, Some("GET")));
        let e = route("PUT", "/async-invoke").unwrap_err();
        assert_eq!((e.status, e.allow), (405, Some("GET, POST")));
        let e = route("PUT", "/model/m/converse").unwrap_err();
        assert_eq!((e.status, e.allow), (405, Some("POST")));
        assert_eq!(route("POST", "/v1/unknown").unwrap_err().status, 404);
    }

    #[test]
    fn native_routes() {
        let ok = |p: &str, op| {
            assert_eq!(
                route("POST", p),
                Ok(Endpoint::Native(NativeOperation::Model(op))),
                "{p}"
            )
        };
        ok(
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            Operation::Converse,
        );
        ok("/model/x-v1:0/converse-stream", Operation::ConverseStream);
        ok(
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ax%2Fy/invoke",
            Operation::InvokeModel,
        );
        ok(
            "/model/m/invoke-with-response-stream",
            Operation::InvokeModelWithResponseStream,
        );
        assert_eq!(route("POST", "/model/m/unknown").unwrap_err().status, 404);
        assert_eq!(route("POST", "/model//converse").unwrap_err().status, 404);
        assert_eq!(route("GET", "/model/m/converse").unwrap_err().status, 405);
    }
}
