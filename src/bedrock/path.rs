//! Bedrock Runtime operations and their request paths.

/// The four Bedrock Runtime operations the filter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
    InvokeModel,
    InvokeModelWithResponseStream,
}

impl Operation {
    /// The last path segment after `/model/{modelId}/`.
    pub fn path_suffix(self) -> &'static str {
        match self {
            Operation::Converse => "converse",
            Operation::ConverseStream => "converse-stream",
            Operation::InvokeModel => "invoke",
            Operation::InvokeModelWithResponseStream => "invoke-with-response-stream",
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
}
