//! Bedrock Runtime operations and their request paths: writing `/model/{modelId}/{operation}`
//! as the AWS SDKs do, and reading every operation of the API model back from a native
//! request.

/// The Bedrock Runtime operations on a model (`/model/{modelId}/{operation}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
    InvokeModel,
    InvokeModelWithResponseStream,
    CountTokens,
    /// HTTP/2 with every event signed by the caller: recognised so it can be refused clearly.
    InvokeModelWithBidirectionalStream,
}

/// Every Bedrock Runtime operation a native request (an AWS SDK's) can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeOperation {
    Model(Operation),
    ApplyGuardrail,
    InvokeGuardrailChecks,
    StartAsyncInvoke,
    GetAsyncInvoke,
    ListAsyncInvokes,
}

impl NativeOperation {
    /// The HTTP method of the operation.
    pub fn method(self) -> &'static str {
        match self {
            NativeOperation::GetAsyncInvoke | NativeOperation::ListAsyncInvokes => "GET",
            _ => "POST",
        }
    }

    /// The operation's name in the API model (`CountTokens`, `StartAsyncInvoke`, …).
    pub fn name(self) -> &'static str {
        match self {
            NativeOperation::Model(op) => op.name(),
            NativeOperation::ApplyGuardrail => "ApplyGuardrail",
            NativeOperation::InvokeGuardrailChecks => "InvokeGuardrailChecks",
            NativeOperation::StartAsyncInvoke => "StartAsyncInvoke",
            NativeOperation::GetAsyncInvoke => "GetAsyncInvoke",
            NativeOperation::ListAsyncInvokes => "ListAsyncInvokes",
        }
    }
}

/// The native operation of a request path (query removed) and method. `/async-invoke` is two
/// operations, told apart by the method; for other paths the method is checked by the caller
/// against [`NativeOperation::method`].
pub fn native_operation(method: &str, path: &str) -> Option<NativeOperation> {
    if let Some(op) = model_operation(path) {
        return Some(NativeOperation::Model(op));
    }
    match path {
        "/guardrail-checks/invoke" => Some(NativeOperation::InvokeGuardrailChecks),
        "/async-invoke" | "/async-invoke/" => Some(if method == "GET" {
            NativeOperation::ListAsyncInvokes
        } else {
            NativeOperation::StartAsyncInvoke
        }),
        _ => {
            if let Some(arn) = path.strip_prefix("/async-invoke/") {
                return (!arn.is_empty() && !arn.contains('/'))
                    .then_some(NativeOperation::GetAsyncInvoke);
            }
            let rest = path.strip_prefix("/guardrail/")?;
            let (id, rest) = rest.split_once('/')?;
            let version = rest.strip_prefix("version/")?.strip_suffix("/apply")?;
            (!id.is_empty() && !version.is_empty() && !version.contains('/'))
                .then_some(NativeOperation::ApplyGuardrail)
        }
    }
}

impl Operation {
    const ALL: [Operation; 6] = [
        Operation::Converse,
        Operation::ConverseStream,
        Operation::InvokeModel,
        Operation::InvokeModelWithResponseStream,
        Operation::CountTokens,
        Operation::InvokeModelWithBidirectionalStream,
    ];

    /// The operation's name in the API model.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Converse => "Converse",
            Operation::ConverseStream => "ConverseStream",
            Operation::InvokeModel => "InvokeModel",
            Operation::InvokeModelWithResponseStream => "InvokeModelWithResponseStream",
            Operation::CountTokens => "CountTokens",
            Operation::InvokeModelWithBidirectionalStream => "InvokeModelWithBidirectionalStream",
        }
    }

    /// The operation whose path ends in `suffix` (`converse`, `invoke-with-response-stream`, …).
    pub fn from_path_suffix(suffix: &str) -> Option<Operation> {
        Operation::ALL
            .into_iter()
            .find(|o| o.path_suffix() == suffix)
    }

    /// The last path segment after `/model/{modelId}/`.
    pub fn path_suffix(self) -> &'static str {
        match self {
            Operation::Converse => "converse",
            Operation::ConverseStream => "converse-stream",
            Operation::InvokeModel => "invoke",
            Operation::InvokeModelWithResponseStream => "invoke-with-response-stream",
            Operation::CountTokens => "count-tokens",
            Operation::InvokeModelWithBidirectionalStream => "invoke-with-bidirectional-stream",
        }
    }
}

/// Longest model identifier accepted (the API model's ARN-shaped IDs stay well below this).
pub const MAX_MODEL_ID_LEN: usize = 2048;

/// `/model/{modelId}/{operation}` with the model ID percent-encoded as the AWS SDKs do
/// (everything but `A-Za-z0-9-._~`), so `:` becomes `%3A` and an ARN's `/` becomes `%2F`.
/// The signer then canonicalises this wire path by encoding it once more.
pub fn model_path(model_id: &str, op: Operation) -> String {
    let suffix = op.path_suffix();
    let mut out = String::with_capacity(8 + model_id.len() * 3 + suffix.len());
    out.push_str("/model/");
    percent_encode_into(model_id, &mut out);
    out.push('/');
    out.push_str(suffix);
    out
}

/// The operation of a model path `/model/{modelId}/{operation}` (query removed), with a
/// one-segment model ID: AWS SDKs percent-encode the `/` of an ARN, and a raw `/` matches no
/// Bedrock operation, as on AWS.
pub fn model_operation(path: &str) -> Option<Operation> {
    let rest = path.strip_prefix("/model/")?;
    let (model, op) = rest.split_once('/')?;
    if model.is_empty() {
        return None;
    }
    Operation::from_path_suffix(op)
}

/// `/model/{id}/…` → the percent-decoded model ID.
pub fn native_model_id(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/model/")?;
    let (id, _) = rest.split_once('/')?;
    Some(percent_decode(id))
}

/// `%XX` sequences decoded; anything else (a lone `%` included) kept as it is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0x0f] {
                out.push(HEX.get(usize::from(nibble)).map_or('0', |&h| char::from(h)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_aws_sdks() {
        assert_eq!(
            model_path(
                "anthropic.claude-3-haiku-20240307-v1:0",
                Operation::Converse
            ),
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
        );
        assert_eq!(
            model_path(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
                Operation::ConverseStream
            ),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/converse-stream"
        );
        assert_eq!(
            model_path("a b/ü", Operation::InvokeModel),
            "/model/a%20b%2F%C3%BC/invoke"
        );
    }

    #[test]
    fn native_paths_read_back() {
        for op in Operation::ALL {
            let path = model_path(
                "arn:aws:bedrock:us-east-1:1:inference-profile/us.m-v1:0",
                op,
            );
            assert_eq!(model_operation(&path), Some(op), "{path}");
            assert_eq!(
                native_model_id(&path).as_deref(),
                Some("arn:aws:bedrock:us-east-1:1:inference-profile/us.m-v1:0")
            );
        }
        assert_eq!(model_operation("/model//converse"), None);
        assert_eq!(model_operation("/model/a/b/converse"), None);
        assert_eq!(model_operation("/model/m/chat"), None);
        let native = |m: &str, p: &str| native_operation(m, p);
        assert_eq!(
            native("POST", "/model/m/count-tokens"),
            Some(NativeOperation::Model(Operation::CountTokens))
        );
        assert_eq!(
            native("POST", "/guardrail/gr1abc/version/DRAFT/apply"),
            Some(NativeOperation::ApplyGuardrail)
        );
        assert_eq!(
            native(
                "POST",
                "/guardrail/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aguardrail%2Fx/version/1/apply"
            ),
            Some(NativeOperation::ApplyGuardrail)
        );
        assert_eq!(native("POST", "/guardrail/x/version/1"), None);
        assert_eq!(
            native("POST", "/guardrail-checks/invoke"),
            Some(NativeOperation::InvokeGuardrailChecks)
        );
        assert_eq!(
            native("POST", "/async-invoke"),
            Some(NativeOperation::StartAsyncInvoke)
        );
        assert_eq!(
            native("GET", "/async-invoke"),
            Some(NativeOperation::ListAsyncInvokes)
        );
        assert_eq!(
            native(
                "GET",
                "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aasync-invoke%2Fabc"
            ),
            Some(NativeOperation::GetAsyncInvoke)
        );
        assert_eq!(native("GET", "/async-invoke/a/b"), None);
        assert_eq!(percent_decode("a%3Ab%2"), "a:b%2");
        assert_eq!(percent_decode("%C3%BC%zz"), "ü%zz");
    }
}
