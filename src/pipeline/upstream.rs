//! The request on its way to Bedrock: what the client sent ([`ClientRequest`]), what leaves
//! ([`UpstreamRequest`]), and what a later signing step needs to sign it again ([`SignTarget`]).

use crate::bedrock::path::Operation;

/// What the host read of the client's request once its body was complete.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// `:path` as received (query included).
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    /// `anthropic-beta` (Anthropic clients name beta features there).
    pub anthropic_beta: Option<&'a str>,
    pub body: &'a [u8],
}

/// A request ready to leave for Bedrock.
#[derive(Debug)]
pub struct UpstreamRequest {
    /// `POST`, or the native request's own method (`GET /async-invoke`).
    pub method: &'static str,
    pub path: String,
    /// The new body; `None` keeps the client's body as it is.
    pub body: Option<Vec<u8>>,
    /// Bodies of calls of their own, in order, when one upstream call cannot answer the
    /// request (a batch for a model that embeds one input per call); the request itself then
    /// does not go upstream.
    pub batch: Vec<Vec<u8>>,
    /// The region the request is signed for (and routed to, by `x-bedrock-region`).
    pub region: String,
    /// Headers to set on the request (the filter removes stripped client headers first).
    pub headers: Vec<(&'static str, String)>,
    /// What a signing step needs to sign this request again for another region (translate mode
    /// hands it to the sign-mode filter through [`crate::http::SIGN_PROPERTY`]).
    pub sign_target: SignTarget,
}

impl UpstreamRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The bytes the request carries upstream: the translated body, or the client's own.
    pub fn payload<'a>(&'a self, client_body: &'a [u8]) -> &'a [u8] {
        self.body.as_deref().unwrap_or(client_body)
    }
}

/// What to sign: a model operation, whose path names the model ID of the region signed for,
/// or a native path sent as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignTarget {
    /// `model` is an alias of the configuration or a Bedrock ID.
    Model {
        op: Operation,
        model: String,
    },
    Path(String),
}

impl SignTarget {
    /// `model <operation> <model>` or `path <path>`: one line, readable in access logs.
    pub fn encode(&self) -> String {
        match self {
            SignTarget::Model { op, model } => format!("model {} {model}", op.path_suffix()),
            SignTarget::Path(p) => format!("path {p}"),
        }
    }

    pub fn decode(s: &str) -> Option<SignTarget> {
        match s.split_once(' ')? {
            ("model", rest) => {
                let (op, model) = rest.split_once(' ')?;
                let op = Operation::from_path_suffix(op)?;
                (!model.is_empty()).then(|| SignTarget::Model {
                    op,
                    model: model.to_string(),
                })
            }
            ("path", p) if p.starts_with('/') => Some(SignTarget::Path(p.to_string())),
            _ => None,
        }
    }
}

/// One Envoy attempt to sign: where it goes, from the endpoint's metadata
/// (`filter_metadata.bedrock`), and what of its request headers the signature covers.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptTarget<'a> {
    pub region: Option<&'a str>,
    pub host: Option<&'a str>,
    /// `:method` (empty: POST).
    pub method: &'a str,
    pub content_type: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_targets_survive_their_text_form() {
        for t in [
            SignTarget::Model {
                op: Operation::ConverseStream,
                model: "claude".into(),
            },
            SignTarget::Model {
                op: Operation::InvokeModel,
                model: "my model with spaces".into(),
            },
            SignTarget::Path("/model/arn%3Aaws%3Abedrock%2Fx/invoke".into()),
        ] {
            assert_eq!(SignTarget::decode(&t.encode()), Some(t.clone()), "{t:?}");
        }
        assert_eq!(
            SignTarget::Model {
                op: Operation::ConverseStream,
                model: "claude".into()
            }
            .encode(),
            "model converse-stream claude"
        );
        for bad in [
            "",
            "model",
            "model converse",
            "model talk claude",
            "path x",
            "x y z",
        ] {
            assert_eq!(SignTarget::decode(bad), None, "{bad:?}");
        }
    }
}
