//! AWS-style error answers: status, `x-amzn-ErrorType`, JSON `{"message": ...}` body.

use serde_json::{Value, json};

const BEDROCK_NS: &str = "http://internal.amazon.com/coral/com.amazon.bedrock/";
const CORAL_NS: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

/// An error the simulator answers with, before any body bytes were sent.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    pub status: u16,
    /// The error code, e.g. `ValidationException`.
    pub code: String,
    pub message: String,
    /// Appended to the `x-amzn-ErrorType` header after a `:` when set, as real AWS does
    /// for some codes.
    pub namespace: Option<&'static str>,
    /// The body key of the message: `message`, or `Message` as some AWS front ends write it.
    pub message_key: &'static str,
    /// Scripted extras (boxed: errors travel in `Result`s and should stay small).
    pub extras: Option<Box<ErrorExtras>>,
}

/// What a scripted error may add.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorExtras {
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// A body to send instead of `{"message": ...}`.
    pub body: Option<Value>,
}

impl AwsError {
    /// An error with the namespace real AWS uses for `code`.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        AwsError {
            status,
            code: code.to_owned(),
            message: message.into(),
            namespace: default_namespace(code),
            message_key: "message",
            extras: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }

    /// ValidationException with the JSON-schema style of model-body errors:
    /// `Malformed input request: <detail>, please reformat your input and try again.`
    pub fn malformed(detail: impl AsRef<str>) -> Self {
        Self::validation(format!(
            "Malformed input request: {}, please reformat your input and try again.",
            detail.as_ref()
        ))
    }

    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(403, "InvalidSignatureException", message)
    }

    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new(403, "IncompleteSignatureException", message)
    }

    pub fn unrecognized_client() -> Self {
        Self::new(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    }

    pub fn missing_token() -> Self {
        Self::new(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    }

    pub fn unknown_operation() -> Self {
        Self::new(404, "UnknownOperationException", "")
    }

    /// The `x-amzn-ErrorType` header value.
    pub fn error_type_header(&self) -> String {
        match self.namespace {
            Some(ns) => format!("{}:{ns}", self.code),
            None => self.code.clone(),
        }
    }

    pub fn extra_headers(&self) -> &[(String, String)] {
        self.extras.as_ref().map_or(&[], |x| x.headers.as_slice())
    }

    pub fn body_json(&self) -> Value {
        match self.extras.as_ref().and_then(|x| x.body.as_ref()) {
            Some(b) => b.clone(),
            None if self.code == "UnknownOperationException" => json!({}),
            None => json!({ self.message_key: self.message }),
        }
    }
}

fn default_namespace(code: &str) -> Option<&'static str> {
    match code {
        "ValidationException"
        | "AccessDeniedException"
        | "ResourceNotFoundException"
        | "ServiceQuotaExceededException"
        | "ConflictException" => Some(BEDROCK_NS),
        "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "UnrecognizedClientException" => Some(CORAL_NS),
        _ => None,
    }
}

/// The HTTP status Bedrock uses for a modeled error code (scripts may omit the status).
pub fn status_for_code(code: &str) -> u16 {
    match code {
        "ValidationException" | "ConflictException" | "ServiceQuotaExceededException" => 400,
        "AccessDeniedException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "UnrecognizedClientException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException" => 403,
        "ResourceNotFoundException" | "UnknownOperationException" => 404,
        "ModelTimeoutException" => 408,
        "ModelErrorException" | "ModelStreamErrorException" => 424,
        "ThrottlingException" | "ModelNotReadyException" => 429,
        "InternalServerException" => 500,
        "ServiceUnavailableException" => 503,
        _ => 400,
    }
}
