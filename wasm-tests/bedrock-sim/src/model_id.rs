//! Request routing (the operations' HTTP methods and paths) and model identifier checks.

use std::sync::OnceLock;

use regex_lite::Regex;

use crate::errors::AwsError;
use crate::util::percent_decode;

/// The Bedrock Runtime operations the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
    CountTokens,
    ApplyGuardrail,
    InvokeGuardrailChecks,
    StartAsyncInvoke,
    GetAsyncInvoke,
    ListAsyncInvokes,
}

impl Operation {
    pub const ALL: [Operation; 10] = [
        Operation::Converse,
        Operation::ConverseStream,
        Operation::Invoke,
        Operation::InvokeStream,
        Operation::CountTokens,
        Operation::ApplyGuardrail,
        Operation::InvokeGuardrailChecks,
        Operation::StartAsyncInvoke,
        Operation::GetAsyncInvoke,
        Operation::ListAsyncInvokes,
    ];

    /// The operation name in the recorded requests and scripts: the path suffix for the
    /// `/model/{modelId}/...` operations, the kebab-case operation name for the others.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Converse => "converse",
            Operation::ConverseStream => "converse-stream",
            Operation::Invoke => "invoke",
            Operation::InvokeStream => "invoke-with-response-stream",
            Operation::CountTokens => "count-tokens",
            Operation::ApplyGuardrail => "apply-guardrail",
            Operation::InvokeGuardrailChecks => "invoke-guardrail-checks",
            Operation::StartAsyncInvoke => "start-async-invoke",
            Operation::GetAsyncInvoke => "get-async-invoke",
            Operation::ListAsyncInvokes => "list-async-invokes",
        }
    }

    pub fn from_name(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// The operations under `/model/{modelId}/`, by their last path segment.
    fn from_model_segment(s: &str) -> Option<Operation> {
        match s {
            "converse" => Some(Operation::Converse),
            "converse-stream" => Some(Operation::ConverseStream),
            "invoke" => Some(Operation::Invoke),
            "invoke-with-response-stream" => Some(Operation::InvokeStream),
            "count-tokens" => Some(Operation::CountTokens),
            _ => None,
        }
    }

    /// The HTTP method of the operation in the API model.
    pub fn method(self) -> &'static str {
        match self {
            Operation::GetAsyncInvoke | Operation::ListAsyncInvokes => "GET",
            _ => "POST",
        }
    }

    pub fn is_converse(self) -> bool {
        matches!(self, Operation::Converse | Operation::ConverseStream)
    }

    /// The operations that answer with a model reply (Converse or the model's own format).
    pub fn is_chat(self) -> bool {
        matches!(
            self,
            Operation::Converse
                | Operation::ConverseStream
                | Operation::Invoke
                | Operation::InvokeStream
        )
    }
}

/// A request path that names one of the operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub op: Operation,
    /// The `{modelId}` label as it was on the wire (empty for the operations without one).
    pub raw_model_id: String,
    /// The `{modelId}` label percent-decoded, or `None` if it does not decode (bad escape,
    /// not UTF-8) or the operation has none.
    pub model_id: Option<String>,
    /// The other URI labels by their member name in the API model (`guardrailIdentifier`,
    /// `guardrailVersion`, `invocationArn`), percent-decoded (`None` if they do not decode).
    pub labels: Vec<(&'static str, Option<String>)>,
}

impl Route {
    fn new(op: Operation, labels: Vec<(&'static str, Option<String>)>) -> Route {
        Route {
            op,
            raw_model_id: String::new(),
            model_id: None,
            labels,
        }
    }

    /// A decoded URI label by its member name.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Matches `/model/{modelId}/{operation}` on the raw path, whatever the method.
/// `{modelId}` is a single segment: an unencoded `/` (an ARN sent raw) makes the path
/// match no operation, as on the real service.
pub fn parse_path(raw_path: &str) -> Option<Route> {
    let rest = raw_path.strip_prefix("/model/")?;
    let (label, op) = rest.split_once('/')?;
    if label.is_empty() || op.contains('/') {
        return None;
    }
    let op = Operation::from_model_segment(op)?;
    Some(Route {
        op,
        raw_model_id: label.to_owned(),
        model_id: percent_decode(label),
        labels: Vec::new(),
    })
}

/// The operation a request names by its method and raw path, as in the API model:
/// `POST /model/{modelId}/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)`,
/// `POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply`,
/// `POST /guardrail-checks/invoke`, `POST /async-invoke`, `GET /async-invoke` and
/// `GET /async-invoke/{invocationArn}`. Every label is one non-empty path segment (an
/// ARN comes percent-encoded). A known path with another method names no operation.
pub fn route(method: &str, raw_path: &str) -> Option<Route> {
    if let Some(r) = parse_path(raw_path) {
        return (r.op.method() == method).then_some(r);
    }
    let segments: Vec<&str> = raw_path.strip_prefix('/')?.split('/').collect();
    let label = |s: &str| (!s.is_empty()).then(|| percent_decode(s));
    let r = match segments.as_slice() {
        ["guardrail", id, "version", version, "apply"] => Route::new(
            Operation::ApplyGuardrail,
            vec![
                ("guardrailIdentifier", label(id)?),
                ("guardrailVersion", label(version)?),
            ],
        ),
        ["guardrail-checks", "invoke"] => Route::new(Operation::InvokeGuardrailChecks, Vec::new()),
        ["async-invoke"] if method == "GET" => Route::new(Operation::ListAsyncInvokes, Vec::new()),
        ["async-invoke"] => Route::new(Operation::StartAsyncInvoke, Vec::new()),
        ["async-invoke", arn] => Route::new(
            Operation::GetAsyncInvoke,
            vec![("invocationArn", label(arn)?)],
        ),
        _ => return None,
    };
    (r.op.method() == method).then_some(r)
}

/// Which simulated model family answers InvokeModel for a model ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Anthropic,
    TitanEmbedV1,
    TitanEmbedV2,
    CohereEmbed,
    Other,
}

/// A model identifier that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The decoded identifier as given.
    pub id: String,
    /// The foundation model it names when that can be told (inference-profile prefix
    /// and ARN stripped), else the ARN resource.
    pub base: String,
    pub family: Family,
}

fn plain_id_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // vendor.model[-version][:n][:ctx], optionally behind a cross-region
        // inference-profile prefix (us., eu., apac., global., ...).
        Regex::new(
            r"^(?:(us|us-gov|eu|apac|jp|au|ca|global)\.)?([a-z0-9-]{1,63}\.[a-z0-9-]{1,63}(?:[.:][a-z0-9-]{1,63})*)$",
        )
        .unwrap_or_else(|e| panic!("built-in regex: {e}"))
    })
}

fn arn_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]{1,20}):([0-9]{12})?:(foundation-model|inference-profile|application-inference-profile|provisioned-model|custom-model|imported-model|custom-model-deployment)/(.+)$",
        )
        .unwrap_or_else(|e| panic!("built-in regex: {e}"))
    })
}

fn family_of(base: &str, id: &str) -> Family {
    if id.contains("anthropic.") {
        Family::Anthropic
    } else if base.starts_with("amazon.titan-embed-text-v2") {
        Family::TitanEmbedV2
    } else if base.starts_with("amazon.titan-embed-text-v1") {
        Family::TitanEmbedV1
    } else if base.starts_with("cohere.embed-") {
        Family::CohereEmbed
    } else {
        Family::Other
    }
}

fn invalid_id() -> AwsError {
    AwsError::validation("The provided model identifier is invalid.")
}

/// Accepts foundation model IDs (`anthropic.claude-3-haiku-20240307-v1:0`), inference
/// profile IDs (`us.`/`eu.`/`apac.`/`global.` + model ID) and Bedrock ARNs
/// (`arn:aws:bedrock:REGION:ACCOUNT:(foundation-model|inference-profile|
/// application-inference-profile|provisioned-model|...)/...`). Anything else is the real
/// service's `The provided model identifier is invalid.`
pub fn check_model_id(id: &str) -> Result<ModelInfo, AwsError> {
    if id.is_empty() || id.len() > 2048 {
        return Err(invalid_id());
    }
    if let Some(c) = plain_id_re().captures(id) {
        let base = c.get(2).map_or(id, |m| m.as_str()).to_owned();
        return Ok(ModelInfo {
            family: family_of(&base, id),
            id: id.to_owned(),
            base,
        });
    }
    let c = arn_re().captures(id).ok_or_else(invalid_id)?;
    let account = c.get(2).map(|m| m.as_str());
    let kind = c.get(3).map_or("", |m| m.as_str());
    let resource = c.get(4).map_or("", |m| m.as_str());
    let base = match kind {
        "foundation-model" => {
            // Foundation-model ARNs carry no account, and name a model ID without prefix.
            if account.is_some() {
                return Err(invalid_id());
            }
            let m = plain_id_re().captures(resource).ok_or_else(invalid_id)?;
            if m.get(1).is_some() {
                return Err(invalid_id());
            }
            resource.to_owned()
        }
        "inference-profile" => {
            account.ok_or_else(invalid_id)?;
            let m = plain_id_re().captures(resource).ok_or_else(invalid_id)?;
            m.get(2).map_or(resource, |x| x.as_str()).to_owned()
        }
        "application-inference-profile" | "provisioned-model" => {
            account.ok_or_else(invalid_id)?;
            let ok = resource.len() == 12
                && resource
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !ok {
                return Err(invalid_id());
            }
            resource.to_owned()
        }
        _ => {
            account.ok_or_else(invalid_id)?;
            let ok = resource
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:/".contains(&b));
            if !ok {
                return Err(invalid_id());
            }
            resource.to_owned()
        }
    };
    Ok(ModelInfo {
        family: family_of(&base, id),
        id: id.to_owned(),
        base,
    })
}

/// The Anthropic model name a Bedrock model ID stands for, as the Messages API answers it:
/// `anthropic.claude-3-5-sonnet-20240620-v1:0` -> `claude-3-5-sonnet-20240620`.
pub fn anthropic_model_name(base: &str) -> String {
    let name = base
        .rsplit_once("anthropic.")
        .map_or(base, |(_, rest)| rest)
        .to_owned();
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"-v[0-9]+(?::[0-9]+)?(?::[0-9a-z]+)?$")
            .unwrap_or_else(|e| panic!("built-in regex: {e}"))
    });
    re.replace(&name, "").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_with_encoded_colon() {
        let r = parse_path("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse").unwrap();
        assert_eq!(r.op, Operation::Converse);
        assert_eq!(r.raw_model_id, "anthropic.claude-3-haiku-20240307-v1%3A0");
        assert_eq!(
            r.model_id.as_deref(),
            Some("anthropic.claude-3-haiku-20240307-v1:0")
        );
    }

    #[test]
    fn path_with_raw_colon() {
        let r = parse_path("/model/us.anthropic.claude-3-5-sonnet-20241022-v2:0/invoke").unwrap();
        assert_eq!(r.op, Operation::Invoke);
        assert_eq!(
            r.model_id.as_deref(),
            Some("us.anthropic.claude-3-5-sonnet-20241022-v2:0")
        );
    }

    #[test]
    fn path_with_encoded_arn() {
        let raw = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream";
        let r = parse_path(raw).unwrap();
        assert_eq!(r.op, Operation::ConverseStream);
        let id = r.model_id.unwrap();
        assert_eq!(
            id,
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
        );
        let info = check_model_id(&id).unwrap();
        assert_eq!(info.base, "anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(info.family, Family::Anthropic);
    }

    #[test]
    fn raw_slash_in_arn_is_no_operation() {
        assert!(
            parse_path(
                "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x.y/converse"
            )
            .is_none()
        );
    }

    #[test]
    fn unknown_paths() {
        assert!(parse_path("/model/a.b/chat").is_none());
        assert!(parse_path("/model//converse").is_none());
        assert!(parse_path("/models/a.b/converse").is_none());
        assert!(parse_path("/model/a.b/converse/").is_none());
        assert!(parse_path("/v1/chat/completions").is_none());
    }

    #[test]
    fn routes_by_method_and_path() {
        let op = |m: &str, p: &str| route(m, p).map(|r| r.op);
        assert_eq!(
            op("POST", "/model/a.b%3A0/count-tokens"),
            Some(Operation::CountTokens)
        );
        assert_eq!(op("GET", "/model/a.b/converse"), None);
        assert_eq!(op("POST", "/model/a.b/converse"), Some(Operation::Converse));
        let r = route("POST", "/guardrail/gr12ab34cd/version/DRAFT/apply").unwrap();
        assert_eq!(r.op, Operation::ApplyGuardrail);
        assert_eq!(r.label("guardrailIdentifier"), Some("gr12ab34cd"));
        assert_eq!(r.label("guardrailVersion"), Some("DRAFT"));
        let r = route(
            "POST",
            "/guardrail/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aguardrail%2Fabc/version/1/apply",
        )
        .unwrap();
        assert_eq!(
            r.label("guardrailIdentifier"),
            Some("arn:aws:bedrock:us-east-1:123456789012:guardrail/abc")
        );
        assert_eq!(op("GET", "/guardrail/x/version/1/apply"), None);
        assert_eq!(op("POST", "/guardrail//version/1/apply"), None);
        assert_eq!(
            op("POST", "/guardrail-checks/invoke"),
            Some(Operation::InvokeGuardrailChecks)
        );
        assert_eq!(
            op("POST", "/async-invoke"),
            Some(Operation::StartAsyncInvoke)
        );
        assert_eq!(
            op("GET", "/async-invoke"),
            Some(Operation::ListAsyncInvokes)
        );
        assert_eq!(op("DELETE", "/async-invoke"), None);
        let r = route(
            "GET",
            "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2Fabcdef123456",
        )
        .unwrap();
        assert_eq!(r.op, Operation::GetAsyncInvoke);
        assert_eq!(
            r.label("invocationArn"),
            Some("arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef123456")
        );
        // A raw ARN is two segments: no operation, as for model IDs.
        assert_eq!(
            op(
                "GET",
                "/async-invoke/arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef123456"
            ),
            None
        );
        assert_eq!(op("POST", "/async-invoke/x"), None);
        assert_eq!(op("GET", "/async-invoke/"), None);
        assert_eq!(
            op("POST", "/model/a.b/invoke-with-bidirectional-stream"),
            None
        );
        for o in Operation::ALL {
            assert_eq!(Operation::from_name(o.as_str()), Some(o));
        }
    }

    #[test]
    fn bad_escape_is_kept_undecoded() {
        let r = parse_path("/model/a%ZZb/converse").unwrap();
        assert_eq!(r.model_id, None);
    }

    #[test]
    fn model_ids() {
        for ok in [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0:200k",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "apac.amazon.nova-pro-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "amazon.titan-embed-text-v2:0",
            "cohere.embed-english-v3",
            "mistral.mistral-7b-instruct-v0:2",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3d4e5f6",
            "arn:aws:bedrock:us-west-2:123456789012:provisioned-model/a1b2c3d4e5f6",
        ] {
            assert!(check_model_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "claude",
            "anthropic.claude-3-haiku-20240307-v1%3A0",
            "Anthropic.Claude",
            "anthropic.claude v1",
            "arn:aws:bedrock:us-east-1:123456789012:foundation-model/anthropic.claude-v2",
            "arn:aws:bedrock:us-east-1::inference-profile/us.anthropic.claude-v2",
            "arn:aws:s3:::bucket/key",
        ] {
            assert!(check_model_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn families() {
        let f = |id| check_model_id(id).unwrap().family;
        assert_eq!(
            f("us.anthropic.claude-3-haiku-20240307-v1:0"),
            Family::Anthropic
        );
        assert_eq!(f("amazon.titan-embed-text-v2:0"), Family::TitanEmbedV2);
        assert_eq!(f("amazon.titan-embed-text-v1"), Family::TitanEmbedV1);
        assert_eq!(f("cohere.embed-multilingual-v3"), Family::CohereEmbed);
        assert_eq!(f("amazon.nova-pro-v1:0"), Family::Other);
    }

    #[test]
    fn anthropic_names() {
        assert_eq!(
            anthropic_model_name("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "claude-3-5-sonnet-20240620"
        );
        assert_eq!(
            anthropic_model_name("anthropic.claude-3-haiku-20240307-v1:0:200k"),
            "claude-3-haiku-20240307"
        );
    }
}
