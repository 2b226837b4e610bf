//! The request pipeline, independent of any proxy-wasm host.
//!
//! The host adapter (`filter`) asks three things of it: what to do with a request's headers
//! ([`route`]), what to send upstream once the body is complete ([`Gateway::prepare`]), and how to
//! turn the upstream answer into the client's ([`Exchange`]). Translation produces the upstream
//! request; signing is a separate step after it ([`Gateway::sign`]), over the final host, path
//! and body.

use crate::anthropic::{self, MessagesStreamTranslator};
use crate::bedrock;
use crate::bedrock::path::{Operation, model_path};
use crate::chat::invoke::{Family, InvokeStreamTranslator};
use crate::chat::{self, response::CompletionMeta, stream::ConverseStreamTranslator};
use crate::config::{Api, Config, ModelConfig, is_region};
use crate::embeddings::{self, EmbeddingsOptions, EmbeddingsPlan};
use crate::error::{ApiError, ErrorType};
use crate::metrics::Usage;
use crate::models::{self, ModelEntry};
use crate::sigv4;

pub use crate::credentials::AwsCredentials;
use crate::credentials::CredentialsProvider;

/// What a request is, decided from its method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    /// A request already in Bedrock Runtime's own shape (`/model/{id}/converse`, …) from an
    /// AWS SDK: re-signed with the gateway's credentials, body and answer untouched.
    Native(Operation),
    /// `POST /v1/embeddings`: InvokeModel with a Titan or Cohere body.
    Embeddings,
    /// `GET /v1/models` and `GET /v1/models/{id}`: answered by the filter from its config.
    Models,
    /// `POST /v1/messages` (Anthropic Messages API): InvokeModel with the Anthropic body.
    Messages,
}

/// The error shape a client expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `{"error": {"message", "type", "param", "code"}}`
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`
    Anthropic,
}

/// Anthropic clients talk to `/v1/messages` and read Anthropic errors there, also for
/// requests that never got as far as an endpoint (wrong method, too large).
pub fn error_format(path: &str) -> ErrorFormat {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path = path.strip_prefix("/v1").unwrap_or(path);
    if path == "/messages" || path.starts_with("/messages/") {
        ErrorFormat::Anthropic
    } else {
        ErrorFormat::OpenAi
    }
}

/// An error as a client of `format` receives it.
pub fn error_response_in(format: ErrorFormat, e: &ApiError) -> ClientResponse {
    ClientResponse {
        status: e.status,
        content_type: "application/json",
        body: match format {
            ErrorFormat::OpenAi => e.to_json(),
            ErrorFormat::Anthropic => anthropic::error_json(e),
        },
    }
}

impl Endpoint {
    /// Whether the filter answers without calling Bedrock (and without reading a body).
    pub fn is_local(self) -> bool {
        matches!(self, Endpoint::Models)
    }
}

/// Decide from the request line whether the filter serves the request.
pub fn route(method: &str, path: &str) -> Result<Endpoint, ApiError> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let (endpoint, allowed) = if let Some(op) = native_operation(path) {
        (Endpoint::Native(op), "POST")
    } else {
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let trimmed = trimmed.strip_prefix("/v1").unwrap_or(trimmed);
        match trimmed {
            "/chat/completions" => (Endpoint::ChatCompletions, "POST"),
            "/embeddings" => (Endpoint::Embeddings, "POST"),
            "/messages" => (Endpoint::Messages, "POST"),
            "/models" => (Endpoint::Models, "GET"),
            p if p.starts_with("/models/") => (Endpoint::Models, "GET"),
            _ => {
                return Err(ApiError::new(
                    404,
                    ErrorType::NotFound,
                    format!(
                        "Unknown request URL: {method} {path}. This gateway serves POST \
                         /v1/chat/completions, POST /v1/embeddings, GET /v1/models and Bedrock \
                         Runtime's /model/{{id}}/… operations."
                    ),
                )
                .with_code("unknown_url"));
            }
        }
    };
    if method == allowed {
        Ok(endpoint)
    } else {
        Err(ApiError::new(
            405,
            ErrorType::InvalidRequest,
            format!("{method} is not allowed on {path}: use {allowed}"),
        )
        .with_code("method_not_allowed"))
    }
}

/// `/v1/models/{id}` → the percent-decoded id; `None` for the list.
fn requested_model_id(path: &str) -> Option<String> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let id = path
        .strip_prefix("/v1/models/")
        .or_else(|| path.strip_prefix("/models/"))?;
    let id = id.strip_suffix('/').unwrap_or(id);
    Some(percent_decode(id))
}

pub(crate) fn percent_decode(s: &str) -> String {
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

/// `/model/{modelId}/{operation}` with a one-segment model ID (AWS SDKs percent-encode the `/`
/// of an ARN; a raw `/` matches no Bedrock operation, as on AWS).
fn native_operation(path: &str) -> Option<Operation> {
    let rest = path.strip_prefix("/model/")?;
    let (model, op) = rest.split_once('/')?;
    if model.is_empty() {
        return None;
    }
    operation_of(op)
}

/// The operation whose path ends in `suffix` (`converse`, `invoke-with-response-stream`, …).
fn operation_of(suffix: &str) -> Option<Operation> {
    [
        Operation::Converse,
        Operation::ConverseStream,
        Operation::InvokeModel,
        Operation::InvokeModelWithResponseStream,
    ]
    .into_iter()
    .find(|o| o.path_suffix() == suffix)
}

/// Headers of the client's request that must never reach Bedrock: the caller's credentials,
/// values the filter replaces, and `accept-encoding` (a compressed answer could not be
/// translated).
pub fn is_stripped_request_header(name: &str) -> bool {
    matches!(
        name,
        "authorization"
            | "x-api-key"
            | "api-key"
            | "cookie"
            | "openai-organization"
            | "openai-project"
            | "accept-encoding"
            | "content-length"
            | "content-encoding"
            | "transfer-encoding"
            | "expect"
            | "x-amz-date"
            | "x-amz-security-token"
            | "x-amz-content-sha256"
            | "x-amz-user-agent"
            | "anthropic-version"
            | "anthropic-beta"
    )
}

/// The request headers as they leave for Bedrock, for one host call that replaces them all:
/// the client's headers minus the stripped ones, minus any client copy of the identity headers
/// (only the filter sets those: a client's would spoof routing and rate limits), minus anything
/// set here; then the new `:path`, the translation's and signature's headers, and `identity`.
pub fn rewrite_request_headers<'a>(
    client: &'a [(String, Vec<u8>)],
    req: &'a UpstreamRequest,
    identity: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = rewrite(client, req, |n| {
        is_stripped_request_header(n)
            || crate::access::IDENTITY_HEADERS.contains(&n)
            || identity.iter().any(|(i, _)| *i == n)
    });
    out.extend(identity.iter().map(|(n, v)| (*n, v.as_bytes())));
    pseudo_headers_first(&mut out);
    out
}

/// A request or response header list as the host hands it over. Values are bytes: HTTP allows
/// obs-text (0x80–0xFF) in them, and a value that is not UTF-8 must pass through untouched.
pub type HeaderList = Vec<(String, Vec<u8>)>;

/// The value of header `name` when it is text (a value that is not UTF-8 reads as absent).
pub fn header_text<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The request headers of one signed attempt: those it arrived with minus every signature
/// header (an earlier attempt's), then the new `:path`, authority, region and signature.
pub fn rewrite_signed_headers<'a>(
    current: &'a [(String, Vec<u8>)],
    req: &'a UpstreamRequest,
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = rewrite(current, req, |n| SIGNATURE_HEADERS.contains(&n));
    pseudo_headers_first(&mut out);
    out
}

/// `current` without `:path`, the headers `req` sets and those `drop` names; then `req`'s.
fn rewrite<'a>(
    current: &'a [(String, Vec<u8>)],
    req: &'a UpstreamRequest,
    drop: impl Fn(&str) -> bool,
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = Vec::with_capacity(current.len() + req.headers.len() + 4);
    out.extend(
        current
            .iter()
            .filter(|(n, _)| {
                n != ":path" && !drop(n) && !req.headers.iter().any(|(set, _)| set == n)
            })
            .map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    out.push((":path", req.path.as_bytes()));
    out.extend(req.headers.iter().map(|(n, v)| (*n, v.as_bytes())));
    out
}

/// HTTP/2 wants pseudo-headers before the others; Envoy reorders them itself, other hosts may not.
fn pseudo_headers_first(headers: &mut [(&str, &[u8])]) {
    headers.sort_by_key(|(n, _)| !n.starts_with(':'));
}

/// Response headers with `set` replacing (or adding) values and the ones that no longer
/// describe a translated answer removed: its length and Bedrock's error type.
pub fn rewrite_response_headers<'a>(
    upstream: &'a [(String, Vec<u8>)],
    set: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a [u8])> {
    let mut out = Vec::with_capacity(upstream.len() + set.len());
    out.extend(
        upstream
            .iter()
            .filter(|(n, _)| {
                n != "content-length" && n != "x-amzn-errortype" && !set.iter().any(|(s, _)| s == n)
            })
            .map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    out.extend(set.iter().map(|(n, v)| (*n, v.as_bytes())));
    pseudo_headers_first(&mut out);
    out
}

/// A request ready to leave for Bedrock.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub path: String,
    /// The new body; `None` keeps the client's body as it is.
    pub body: Option<Vec<u8>>,
    /// The region the request is signed for (and routed to, by `x-bedrock-region`).
    pub region: String,
    /// Headers to set on the request (the filter removes stripped client headers first).
    pub headers: Vec<(&'static str, String)>,
    /// What a signing step needs to sign this request again for another region (translate mode
    /// hands it to the sign-mode filter through [`SIGN_PROPERTY`]).
    pub sign_target: SignTarget,
}

/// The filter-state property (Envoy: `wasm.bedrock_sign`) through which a translate-mode filter
/// tells the sign-mode filter what it translated. Filter state, not a header: it is not sent
/// upstream, and it survives Envoy's retries (header changes of one attempt carry over to the
/// next, so a header the signer removed would be gone on the retry).
pub const SIGN_PROPERTY: &str = "bedrock_sign";

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
                let op = operation_of(op)?;
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

/// Where one attempt goes, from the Envoy endpoint's metadata (`filter_metadata.bedrock`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptTarget<'a> {
    pub region: Option<&'a str>,
    pub host: Option<&'a str>,
}

/// Headers a signature owns: replaced or removed on every attempt, whatever an earlier
/// attempt (possibly for another region or credential) left behind.
const SIGNATURE_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

impl UpstreamRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Per-worker state: the validated configuration, credentials and the signing-key cache.
pub struct Gateway {
    pub config: Config,
    /// Shared by every stream of the worker; the host adapter drives its refreshes.
    pub credentials: CredentialsProvider,
    signer: sigv4::SigningKeyCache,
    next_id: u64,
}

impl Gateway {
    /// A gateway that signs with fixed `credentials` (or answers 503 without).
    pub fn new(config: Config, credentials: Option<AwsCredentials>) -> Self {
        Gateway::with_provider(config, CredentialsProvider::fixed(credentials))
    }

    pub fn with_provider(config: Config, credentials: CredentialsProvider) -> Self {
        Gateway {
            config,
            credentials,
            signer: sigv4::SigningKeyCache::new(),
            next_id: 0,
        }
    }

    /// Translate a complete request for `endpoint` into a signed upstream request and the
    /// state needed to translate its answer. `client` is what the adapter read of the request.
    pub fn prepare(
        &mut self,
        endpoint: Endpoint,
        client: &ClientRequest<'_>,
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let body = client.body;
        if body.len() > self.config.max_request_bytes {
            return Err(too_large(self.config.max_request_bytes));
        }
        match endpoint {
            Endpoint::Native(_) => return self.prepare_native(client, now_secs),
            Endpoint::Models => {
                return Err(ApiError::invalid_request("GET /v1/models has no body"));
            }
            Endpoint::Embeddings | Endpoint::ChatCompletions | Endpoint::Messages => {}
        }
        // serde would also read a struct from a JSON array; OpenAI bodies are objects.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid_request(
                "the request body must be a JSON object",
            ));
        }
        match endpoint {
            Endpoint::Embeddings => return self.prepare_embeddings(body, now_secs),
            Endpoint::Messages => return self.prepare_messages(body, now_secs),
            _ => {}
        }
        let parsed = chat::request::parse(body)?;
        let mut call = chat::request::to_request(&parsed)?;
        let model = self.config.resolve_model(&call.client_model)?;
        let stream = call.stream;
        apply_model_options(&mut call, &model);
        let (op, accept, body, kind) = match (model.api, model.family) {
            (Api::Invoke, Some(family)) => {
                let max_tokens = model.max_tokens.unwrap_or(self.config.default_max_tokens);
                let body = family.request_body(&call, max_tokens)?;
                if stream {
                    (
                        Operation::InvokeModelWithResponseStream,
                        ("x-amzn-bedrock-accept", "application/json"),
                        body,
                        Kind::ChatInvoke(family),
                    )
                } else {
                    (
                        Operation::InvokeModel,
                        ("accept", "application/json"),
                        body,
                        Kind::ChatInvoke(family),
                    )
                }
            }
            // Configuration validation gives every `invoke` model a family.
            (Api::Invoke, None) => {
                return Err(ApiError::invalid(
                    "model",
                    format!(
                        "model `{}` is configured for InvokeModel without a known model family",
                        model.alias
                    ),
                ));
            }
            (Api::Converse, _) => {
                let body = chat::request::converse_body(&call)?;
                if stream {
                    (
                        Operation::ConverseStream,
                        ("accept", EVENT_STREAM),
                        body,
                        Kind::Chat,
                    )
                } else {
                    (
                        Operation::Converse,
                        ("accept", "application/json"),
                        body,
                        Kind::Chat,
                    )
                }
            }
        };
        let mut req = self.upstream_request(&model, op, Some(body));
        if let (Some(g), Kind::ChatInvoke(_)) = (&model.guardrail, &kind) {
            req.headers.extend(g.invoke_headers());
        }
        req.headers.extend([
            ("content-type", "application/json".to_string()),
            (accept.0, accept.1.to_string()),
        ]);
        let len = req.body.as_ref().map_or(0, Vec::len);
        req.headers.push(("content-length", len.to_string()));
        let payload = req.body.take().unwrap_or_default();
        let signed = self.sign(&mut req, &payload, now_secs);
        req.body = Some(payload);
        signed?;
        self.next_id = self.next_id.wrapping_add(1);
        let mut exchange = Exchange::new(
            kind,
            call.client_model,
            now_secs,
            stream,
            call.include_usage,
        );
        exchange.fallback_id = format!("{now_secs:x}{:08x}", self.next_id);
        exchange.tool_names = call.tool_names;
        Ok((req, exchange))
    }

    /// A POST of `op` at the model's region and endpoint (the model ID for that region in the
    /// path), with the routing header set.
    fn upstream_request(
        &self,
        model: &ModelConfig,
        op: Operation,
        body: Option<Vec<u8>>,
    ) -> UpstreamRequest {
        let (region, authority) = self.config.upstream_of(model);
        UpstreamRequest {
            path: model_path(model.id_in(region), op),
            body,
            region: region.to_string(),
            headers: vec![
                (":method", "POST".to_string()),
                (":authority", authority.to_string()),
                (REGION_HEADER, region.to_string()),
            ],
            sign_target: SignTarget::Model {
                op,
                model: model.alias.clone(),
            },
        }
    }

    /// `/v1/embeddings` → InvokeModel with the model family's body.
    fn prepare_embeddings(
        &mut self,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let config = &self.config;
        let resolve = |m: &str| config.resolve_model(m).map(|c| c.id);
        let call = embeddings::to_invoke(body, &EmbeddingsOptions::default(), &resolve)?;
        let model = self.config.resolve_model(&call.client_model)?;
        let mut req = self.upstream_request(&model, Operation::InvokeModel, None);
        req.headers.extend([
            ("content-type", embeddings::CONTENT_TYPE.to_string()),
            ("accept", embeddings::CONTENT_TYPE.to_string()),
            ("content-length", call.body.len().to_string()),
        ]);
        self.sign(&mut req, &call.body, now_secs)?;
        req.body = Some(call.body);
        let exchange = Exchange::new(
            Kind::Embeddings(call.plan),
            call.client_model,
            now_secs,
            false,
            false,
        );
        Ok((req, exchange))
    }

    /// `/v1/messages` → InvokeModel (or its stream) with the Anthropic body.
    fn prepare_messages(
        &mut self,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let config = &self.config;
        let default_max_tokens = |model: &str| {
            config
                .resolve_model(model)
                .ok()
                .and_then(|m| m.max_tokens)
                .unwrap_or(config.default_max_tokens)
        };
        let call = anthropic::to_invoke_with_betas(body, &default_max_tokens, &[])?;
        let model = self.config.resolve_model(&call.model_id)?;
        let (op, accept) = if call.stream {
            (
                Operation::InvokeModelWithResponseStream,
                ("x-amzn-bedrock-accept", "application/json"),
            )
        } else {
            (Operation::InvokeModel, ("accept", "application/json"))
        };
        let mut req = self.upstream_request(&model, op, None);
        req.headers.extend([
            ("content-type", "application/json".to_string()),
            (accept.0, accept.1.to_string()),
            ("content-length", call.body.len().to_string()),
        ]);
        if let Some(g) = &model.guardrail {
            req.headers.extend(g.invoke_headers());
        }
        self.sign(&mut req, &call.body, now_secs)?;
        req.body = Some(call.body);
        let exchange = Exchange::new(
            Kind::Messages,
            call.client_model,
            now_secs,
            call.stream,
            false,
        );
        Ok((req, exchange))
    }

    /// The answer to a request the filter serves itself (`GET /v1/models[/{id}]`), listing the
    /// models `visible` lets the caller see.
    pub fn answer_locally(
        &self,
        path: &str,
        now_secs: u64,
        visible: &dyn Fn(&crate::config::ModelConfig) -> bool,
    ) -> ClientResponse {
        let entries: Vec<ModelEntry> = self
            .config
            .models
            .iter()
            .filter(|m| visible(m))
            .map(|m| ModelEntry::new(m.alias.clone(), &m.id))
            .collect();
        match requested_model_id(path) {
            None => ClientResponse {
                status: 200,
                content_type: "application/json",
                body: models::list(&entries, now_secs),
            },
            Some(id) => match models::retrieve(&entries, &id, now_secs) {
                Ok(body) => ClientResponse {
                    status: 200,
                    content_type: "application/json",
                    body,
                },
                Err(e) => error_response(&e),
            },
        }
    }

    /// A native Bedrock request: path (as the client encoded it) and body stay as they are;
    /// only the authority and the signature change.
    fn prepare_native(
        &mut self,
        client: &ClientRequest<'_>,
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let mut req = UpstreamRequest {
            path: client.path.to_string(),
            body: None,
            region: self.config.region.clone(),
            headers: vec![
                (":authority", self.config.endpoint.authority.clone()),
                (REGION_HEADER, self.config.region.clone()),
                ("content-length", client.body.len().to_string()),
            ],
            sign_target: SignTarget::Path(client.path.to_string()),
        };
        if let Some(ct) = client.content_type {
            req.headers.push(("content-type", ct.to_string()));
        }
        self.sign(&mut req, client.body, now_secs)?;
        let exchange = Exchange::new(Kind::Native, String::new(), now_secs, false, false);
        Ok((req, exchange))
    }

    /// Sign one Envoy attempt (sign mode) of the request `target` describes, for the region and
    /// host of the endpoint Envoy picked (`at`; the configuration's when the endpoint says
    /// nothing). Returns the path and headers to set; the adapter removes any older signature.
    pub fn sign_attempt(
        &mut self,
        target: &SignTarget,
        at: AttemptTarget<'_>,
        content_type: Option<&str>,
        payload: &[u8],
        now_secs: u64,
    ) -> Result<UpstreamRequest, ApiError> {
        let (region, authority) = match at.region {
            Some(r) if !is_region(r) => {
                return Err(ApiError::new(
                    500,
                    ErrorType::Api,
                    format!("the upstream endpoint's metadata names no AWS region: {r:?}"),
                ));
            }
            Some(r) => (
                r.to_string(),
                at.host.map_or_else(
                    || format!("bedrock-runtime.{r}.amazonaws.com"),
                    str::to_string,
                ),
            ),
            None => {
                let (r, a) = match target {
                    SignTarget::Model { model, .. } => {
                        match self.config.models.iter().find(|m| m.alias == *model) {
                            Some(m) => self.config.upstream_of(m),
                            None => (&*self.config.region, &*self.config.endpoint.authority),
                        }
                    }
                    SignTarget::Path(_) => (&*self.config.region, &*self.config.endpoint.authority),
                };
                (r.to_string(), at.host.unwrap_or(a).to_string())
            }
        };
        let path = match target {
            SignTarget::Model { op, model } => {
                model_path(self.config.model_id_in(model, &region), *op)
            }
            SignTarget::Path(p) => p.clone(),
        };
        let mut req = UpstreamRequest {
            path,
            body: None,
            headers: vec![(":authority", authority), (REGION_HEADER, region.clone())],
            region,
            sign_target: target.clone(),
        };
        if let Some(ct) = content_type {
            req.headers.push(("content-type", ct.to_string()));
        }
        self.sign(&mut req, payload, now_secs)?;
        Ok(req)
    }

    /// Sign `req` (whose body is `payload`) for Bedrock: SigV4 over host, content-type (when
    /// set), x-amz-date (and the session token), or a bearer API key. Headers Envoy may still
    /// rewrite (content-length, x-forwarded-*, x-request-id, x-envoy-*) are never signed.
    pub fn sign(
        &mut self,
        req: &mut UpstreamRequest,
        payload: &[u8],
        now_secs: u64,
    ) -> Result<(), ApiError> {
        if !self.config.mode.signs() {
            // Translate mode: the sign-mode filter signs each attempt (see `sign_attempt`).
            return Ok(());
        }
        let creds = match self.credentials.current(now_secs) {
            None => return Err(self.credentials.unavailable()),
            Some(AwsCredentials::Bearer(token)) => {
                req.headers
                    .push(("authorization", format!("Bearer {token}")));
                return Ok(());
            }
            Some(AwsCredentials::Keys(k)) => k,
        };
        let host = req
            .header(":authority")
            .unwrap_or(self.config.endpoint.authority.as_str());
        let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
        let with_type;
        let without_type;
        let headers: &[(&str, &str)] = match req.header("content-type") {
            Some(ct) => {
                with_type = [("host", host), ("content-type", ct)];
                &with_type
            }
            None => {
                without_type = [("host", host)];
                &without_type
            }
        };
        let signable = sigv4::SignableRequest {
            method: "POST",
            path,
            query,
            headers,
            payload,
        };
        let params = sigv4::SigningParams {
            credentials: creds,
            region: &req.region,
            service: "bedrock",
            unix_time_secs: now_secs,
            settings: sigv4::Settings::default(),
        };
        let out = self.signer.sign(&signable, &params).map_err(|e| {
            ApiError::new(
                500,
                ErrorType::Api,
                format!("cannot sign the Bedrock request: {e}"),
            )
        })?;
        req.headers.push(("x-amz-date", out.amz_date));
        if let Some(token) = out.session_token {
            req.headers.push(("x-amz-security-token", token));
        }
        req.headers.push(("authorization", out.authorization));
        Ok(())
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        ErrorType::InvalidRequest,
        format!("request body too large: this gateway accepts at most {limit} bytes"),
    )
    .with_code("request_too_large")
}

/// The 413 answered when a body grows past the limit while it is still arriving.
pub fn request_too_large(limit: usize) -> ApiError {
    too_large(limit)
}

/// The configuration's per-model options on a translated chat request: the guardrail
/// (Converse carries it in the body; InvokeModel in headers, added with the request) and
/// default additional fields, which the request's own fields override.
fn apply_model_options(call: &mut chat::request::Translated<'_>, model: &ModelConfig) {
    let fields = &mut call.converse.additional_model_request_fields;
    for (key, value) in &model.additional_request_fields.0 {
        if !fields.0.iter().any(|(k, _)| k == key) {
            fields.0.push((
                std::borrow::Cow::Owned(key.clone()),
                std::borrow::Cow::Owned(value.clone()),
            ));
        }
    }
    if let Some(g) = &model.guardrail {
        call.converse.guardrail_config = Some(g.converse_config_owned(call.stream));
    }
}

/// The request header naming the region a request is signed for. Envoy routes can match it
/// to send each region's requests to that region's cluster; Bedrock ignores it (unsigned).
pub const REGION_HEADER: &str = "x-bedrock-region";

const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// What the adapter read of the client's request once its body was complete.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// `:path` as received (query included).
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What kind of answer an exchange translates.
#[derive(Debug)]
enum Kind {
    Chat,
    /// Chat completions over InvokeModel with a family's native body.
    ChatInvoke(Family),
    /// A native Bedrock request: the answer goes back untouched.
    Native,
    Embeddings(EmbeddingsPlan),
    /// Anthropic Messages API over InvokeModel.
    Messages,
}

/// What the adapter read of the upstream response headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpstreamHeaders<'a> {
    pub status: u16,
    /// `x-amzn-ErrorType`
    pub error_type: Option<&'a str>,
    /// `x-amzn-RequestId`
    pub request_id: Option<&'a str>,
    /// `X-Amzn-Bedrock-Input-Token-Count` (InvokeModel)
    pub input_tokens: Option<&'a str>,
}

/// Per-request state between the upstream call and the client's answer.
#[derive(Debug)]
pub struct Exchange {
    meta: CompletionMeta,
    fallback_id: String,
    /// Tool names the request translation changed, mapped back in the answer.
    tool_names: chat::ToolNames,
    status: u16,
    error_type: Option<String>,
    /// `X-Amzn-Bedrock-Input-Token-Count`, when Bedrock sent it.
    input_tokens: Option<u64>,
    kind: Kind,
    /// Set when the client asked for `stream: true`.
    stream: Option<StreamMode>,
}

#[derive(Debug)]
struct StreamMode {
    include_usage: bool,
    /// Created once the upstream answered 200 with its event stream.
    translator: Option<StreamTranslator>,
}

#[derive(Debug)]
enum StreamTranslator {
    Chat(ConverseStreamTranslator),
    ChatInvoke(InvokeStreamTranslator),
    Messages(MessagesStreamTranslator),
}

impl StreamTranslator {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        match self {
            StreamTranslator::Chat(t) => t.feed(bytes, out),
            StreamTranslator::ChatInvoke(t) => t.feed(bytes, out),
            StreamTranslator::Messages(t) => t.feed(bytes, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            StreamTranslator::Chat(t) => t.finish(out),
            StreamTranslator::ChatInvoke(t) => t.finish(out),
            StreamTranslator::Messages(t) => t.finish(out),
        }
    }
}

/// How the adapter handles the upstream response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsePlan {
    /// Buffer the whole body, then replace it with [`Exchange::finish`]; headers wait for it.
    Buffer,
    /// Send headers now (`content-type: text/event-stream`) and translate each piece with
    /// [`Exchange::stream_chunk`], closing with [`Exchange::stream_end`].
    Stream,
    /// Leave the answer alone (native Bedrock requests): nothing is buffered.
    Passthrough,
}

/// The translated answer: status, content type and body to send to the client.
#[derive(Debug)]
pub struct ClientResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Exchange {
    /// State for an upstream call of `kind` answering the client's `model`, before any
    /// response header arrived.
    fn new(kind: Kind, model: String, created: u64, stream: bool, include_usage: bool) -> Self {
        Exchange {
            meta: CompletionMeta {
                id: String::new(),
                created,
                model,
            },
            fallback_id: String::new(),
            tool_names: chat::ToolNames::default(),
            status: 0,
            error_type: None,
            input_tokens: None,
            kind,
            stream: stream.then_some(StreamMode {
                include_usage,
                translator: None,
            }),
        }
    }

    /// Record what the upstream response headers say. `request_id` is `x-amzn-RequestId`.
    pub fn on_response_headers(&mut self, upstream: &UpstreamHeaders<'_>) -> ResponsePlan {
        let UpstreamHeaders {
            status,
            error_type,
            request_id,
            input_tokens,
        } = *upstream;
        if let Kind::Native = self.kind {
            return ResponsePlan::Passthrough;
        }
        self.input_tokens = input_tokens.and_then(|t| t.trim().parse().ok());
        self.status = status;
        self.error_type = error_type.map(str::to_string);
        let suffix = request_id
            .filter(|r| !r.is_empty() && r.len() <= 128)
            .unwrap_or(&self.fallback_id);
        self.meta.id = format!("chatcmpl-{suffix}");
        match &mut self.stream {
            // An error before the stream starts is an ordinary HTTP error answer.
            Some(mode) if status == 200 => {
                mode.translator = Some(match self.kind {
                    Kind::Messages => StreamTranslator::Messages(MessagesStreamTranslator::new(
                        self.meta.model.clone(),
                    )),
                    Kind::ChatInvoke(family) => {
                        StreamTranslator::ChatInvoke(InvokeStreamTranslator::new(
                            family,
                            self.meta.clone(),
                            mode.include_usage,
                            std::mem::take(&mut self.tool_names),
                        ))
                    }
                    _ => StreamTranslator::Chat(ConverseStreamTranslator::new(
                        self.meta.clone(),
                        mode.include_usage,
                        std::mem::take(&mut self.tool_names),
                    )),
                });
                ResponsePlan::Stream
            }
            _ => ResponsePlan::Buffer,
        }
    }

    /// The answer when the upstream response has no body at all.
    pub fn finish_without_body(&mut self, plan: ResponsePlan) -> ClientResponse {
        match plan {
            ResponsePlan::Stream => {
                let mut body = Vec::new();
                self.stream_end(&mut body);
                ClientResponse {
                    status: 200,
                    content_type: "text/event-stream",
                    body,
                }
            }
            ResponsePlan::Buffer | ResponsePlan::Passthrough => self.finish(b""),
        }
    }

    /// Translate one piece of a streamed upstream body, appending SSE to `out`.
    pub fn stream_chunk(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if let Some(t) = self.stream.as_mut().and_then(|m| m.translator.as_mut()) {
            t.feed(bytes, out);
        }
    }

    /// The streamed upstream body ended: close the SSE stream (with an error if it was cut).
    pub fn stream_end(&mut self, out: &mut Vec<u8>) {
        if let Some(t) = self.stream.as_mut().and_then(|m| m.translator.as_mut()) {
            t.finish(out);
        }
    }

    /// Translate the complete upstream body.
    pub fn finish(&self, body: &[u8]) -> ClientResponse {
        self.finish_with_usage(body).0
    }

    /// [`Exchange::finish`], also returning the tokens the answer reported (for stats and logs).
    pub fn finish_with_usage(&self, body: &[u8]) -> (ClientResponse, Option<Usage>) {
        let result = if self.status == 200 {
            match &self.kind {
                Kind::Chat => {
                    chat::response::from_converse_with_usage(body, &self.meta, &self.tool_names)
                        .map(|(b, u)| (b, Some(Usage::from(u))))
                }
                Kind::ChatInvoke(family) => family
                    .completion_with_usage(body, &self.meta, &self.tool_names)
                    .map(|(b, u)| (b, Some(Usage::from(u)))),
                Kind::Embeddings(plan) => {
                    embeddings::from_invoke_with_tokens(body, plan, self.input_tokens).map(
                        |(b, tokens)| {
                            let usage = Usage {
                                input_tokens: tokens,
                                ..Usage::default()
                            };
                            (b, Some(usage))
                        },
                    )
                }
                Kind::Messages => {
                    anthropic::messages::from_invoke_with_usage(body, &self.meta.model)
                }
                Kind::Native => Ok((body.to_vec(), None)),
            }
        } else {
            Err(bedrock::error::from_response(
                self.status,
                self.error_type.as_deref(),
                body,
            ))
        };
        match result {
            Ok((body, usage)) => (
                ClientResponse {
                    status: 200,
                    content_type: "application/json",
                    body,
                },
                usage,
            ),
            Err(e) => (error_response_in(self.error_format(), &e), None),
        }
    }

    /// One log line for an answer that failed (upstream error status or an unreadable body),
    /// naming the request, the model, what the upstream said and what the client gets; `None`
    /// for a success. The message is the client's (already redacted), cut to 300 bytes.
    pub fn failure_log(&self, answer: &ClientResponse) -> Option<String> {
        if answer.status < 400 {
            return None;
        }
        let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut cut = message.len().min(300);
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let error_type = self
            .error_type
            .as_deref()
            .map(|t| t.split(':').next().unwrap_or(t))
            .filter(|t| !t.is_empty())
            .map_or(String::new(), |t| format!(" {t}"));
        Some(format!(
            "{} model {}: upstream answered {}{}; client gets {}: {}",
            self.meta.id,
            if self.meta.model.is_empty() {
                "-"
            } else {
                &self.meta.model
            },
            self.status,
            error_type,
            answer.status,
            &message[..cut]
        ))
    }

    /// The tokens a translated stream reported (known once it ended).
    pub fn stream_usage(&self) -> Option<Usage> {
        match self.stream.as_ref()?.translator.as_ref()? {
            StreamTranslator::Chat(t) => t.usage().map(Usage::from),
            StreamTranslator::ChatInvoke(t) => t.usage().map(Usage::from),
            StreamTranslator::Messages(t) => t.usage(),
        }
    }

    /// The log line for an exchange the proxy ended before the upstream answer was complete
    /// (a connection reset, a route or idle timeout, the client going away).
    pub fn unfinished_log(&self, streaming: bool) -> String {
        let id = if self.meta.id.is_empty() {
            "request"
        } else {
            &self.meta.id
        };
        let model = if self.meta.model.is_empty() {
            "-"
        } else {
            &self.meta.model
        };
        let what = if streaming {
            "the stream ended before Bedrock's answer was complete"
        } else {
            "the request ended before Bedrock's answer was complete"
        };
        format!(
            "{id} model {model}: {what} (upstream reset, timeout or client gone; \
             Envoy's response flags say which)"
        )
    }

    /// The model as the client named it (empty for native Bedrock requests).
    pub fn client_model(&self) -> &str {
        &self.meta.model
    }

    fn error_format(&self) -> ErrorFormat {
        match self.kind {
            Kind::Messages => ErrorFormat::Anthropic,
            _ => ErrorFormat::OpenAi,
        }
    }
}

/// An error as the client receives it.
pub fn error_response(e: &ApiError) -> ClientResponse {
    ClientResponse {
        status: e.status,
        content_type: "application/json",
        body: e.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::{Value, json};

    fn gateway(creds: Option<AwsCredentials>) -> Gateway {
        let env = |_: &str| None;
        let cfg = Config::parse(br#"{"region":"us-east-1"}"#, &env).unwrap();
        Gateway::new(cfg, creds)
    }

    fn chat_req(body: &[u8]) -> ClientRequest<'_> {
        ClientRequest {
            path: "/v1/chat/completions",
            content_type: Some("application/json"),
            body,
        }
    }

    fn keys(token: Option<&str>) -> AwsCredentials {
        AwsCredentials::Keys(sigv4::Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
        })
    }

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
        assert_eq!(
            route("GET", "/v1/chat/completions").unwrap_err().status,
            405
        );
        assert_eq!(route("POST", "/v1/unknown").unwrap_err().status, 404);
    }

    #[test]
    fn prepare_signs_the_final_request() {
        let mut gw = gateway(Some(keys(Some("TOKEN"))));
        let body = br#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 1_700_000_000)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
        );
        assert_eq!(
            req.header(":authority"),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        assert_eq!(req.header("x-amz-date"), Some("20231114T221320Z"));
        assert_eq!(req.header("x-amz-security-token"), Some("TOKEN"));
        assert_eq!(
            req.header("content-length").map(str::to_string),
            Some(req.body.as_ref().unwrap().len().to_string())
        );
        let auth = req.header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="),
            "{auth}"
        );
    }

    const TWO_REGIONS: &[u8] = br#"{"region":"us-east-1","models":{"claude":{
        "id":"us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "region_ids":{"eu-west-1":"eu.anthropic.claude-3-5-haiku-20241022-v1:0"}}}}"#;

    fn gateway_in(mode: &str, creds: Option<AwsCredentials>) -> Gateway {
        let env = |_: &str| None;
        let json = String::from_utf8_lossy(TWO_REGIONS).replacen(
            "{\"region\"",
            &format!("{{\"mode\":\"{mode}\",\"region\""),
            1,
        );
        let cfg = Config::parse(json.as_bytes(), &env).unwrap();
        Gateway::new(cfg, creds)
    }

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

    #[test]
    fn translate_mode_translates_without_signing() {
        // No credentials at all: translate mode does not need them.
        let mut gw = gateway_in("translate", None);
        let body =
            br#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 1_700_000_000)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
        );
        assert_eq!(req.header("authorization"), None);
        assert_eq!(req.header("x-amz-date"), None);
        assert_eq!(req.sign_target.encode(), "model converse-stream claude");
    }

    #[test]
    fn each_attempt_is_signed_for_its_region_with_its_model_id() {
        let mut gw = gateway_in("sign", Some(keys(Some("TOKEN"))));
        let target = SignTarget::decode("model converse claude").unwrap();
        let body = br#"{"messages":[]}"#;
        let eu = AttemptTarget {
            region: Some("eu-west-1"),
            host: Some("127.0.0.1:9001"),
        };
        let req = gw
            .sign_attempt(&target, eu, Some("application/json"), body, 1_700_000_000)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/eu.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        assert_eq!(req.header(":authority"), Some("127.0.0.1:9001"));
        assert_eq!(req.header(REGION_HEADER), Some("eu-west-1"));
        let auth = req.header("authorization").unwrap();
        assert!(
            auth.contains("/20231114/eu-west-1/bedrock/aws4_request"),
            "{auth}"
        );
        // Without a host in the metadata: the region's public endpoint.
        let east = AttemptTarget {
            region: Some("us-east-1"),
            host: None,
        };
        let req = gw
            .sign_attempt(&target, east, Some("application/json"), body, 1_700_000_005)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        assert_eq!(
            req.header(":authority"),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        assert_eq!(req.header("x-amz-date"), Some("20231114T221325Z"));
        // Without metadata: the configuration's region and endpoint.
        let req = gw
            .sign_attempt(&target, AttemptTarget::default(), None, body, 0)
            .unwrap();
        assert_eq!(req.header(REGION_HEADER), Some("us-east-1"));
        // Native paths are signed as the client wrote them.
        let native = SignTarget::Path("/model/amazon.nova-lite-v1%3A0/invoke".into());
        let req = gw.sign_attempt(&native, eu, None, body, 0).unwrap();
        assert_eq!(req.path, "/model/amazon.nova-lite-v1%3A0/invoke");
        // Metadata that names no region is a configuration error, not a guess.
        let bad = AttemptTarget {
            region: Some("mars"),
            host: None,
        };
        assert_eq!(
            gw.sign_attempt(&target, bad, None, body, 0)
                .unwrap_err()
                .status,
            500
        );
        let mut none = gateway_in("sign", None);
        assert_eq!(
            none.sign_attempt(&target, eu, None, body, 0)
                .unwrap_err()
                .status,
            503
        );
    }

    #[test]
    fn a_retry_keeps_nothing_of_the_earlier_signature() {
        let mut gw = gateway_in("sign", Some(keys(None)));
        let target = SignTarget::decode("model converse claude").unwrap();
        // What the first attempt (us-east-1, with a session token) left on the request.
        let after_first = owned(&[
            (":method", "POST"),
            (
                ":path",
                "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            ),
            (":authority", "bedrock-runtime.us-east-1.amazonaws.com"),
            ("content-type", "application/json"),
            ("content-length", "15"),
            (REGION_HEADER, "us-east-1"),
            ("x-amz-date", "20231114T221320Z"),
            ("x-amz-security-token", "OLD-TOKEN"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=OLD/us-east-1"),
            ("x-request-id", "r-1"),
        ]);
        let eu = AttemptTarget {
            region: Some("eu-west-1"),
            host: Some("bedrock-runtime.eu-west-1.amazonaws.com"),
        };
        let req = gw
            .sign_attempt(&target, eu, Some("application/json"), b"{}", 1_700_000_030)
            .unwrap();
        let out = rewrite_signed_headers(&after_first, &req);
        let out = text(&out);
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        for once in [
            ":path",
            ":authority",
            "authorization",
            "x-amz-date",
            REGION_HEADER,
        ] {
            assert_eq!(
                names.iter().filter(|n| **n == once).count(),
                1,
                "{once}: {out:?}"
            );
        }
        assert!(!names.contains(&"x-amz-security-token"), "{out:?}");
        assert!(out.contains(&("content-length", "15")));
        assert!(out.contains(&("x-request-id", "r-1")));
        assert!(out.contains(&(REGION_HEADER, "eu-west-1")));
        assert!(out.iter().all(|(_, v)| !v.contains("us-east-1")), "{out:?}");
        assert!(out.first().is_some_and(|(n, _)| n.starts_with(':')));
    }

    #[test]
    fn bearer_and_missing_credentials() {
        let mut gw = gateway(Some(AwsCredentials::Bearer("bedrock-api-key".into())));
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap();
        assert_eq!(req.header("authorization"), Some("Bearer bedrock-api-key"));
        assert_eq!(req.header("x-amz-date"), None);
        let mut gw = gateway(None);
        assert_eq!(
            gw.prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
                .unwrap_err()
                .status,
            503
        );
    }

    #[test]
    fn credentials_from_env() {
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AK".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("SK".to_string()),
            "AWS_SESSION_TOKEN" => Some(" ".to_string()),
            _ => None,
        };
        let Some(AwsCredentials::Keys(k)) = AwsCredentials::from_env(&env) else {
            panic!()
        };
        assert_eq!(
            (k.access_key_id.as_str(), k.session_token.as_deref()),
            ("AK", None)
        );
        let shown = format!("{:?}", AwsCredentials::Keys(k));
        assert!(!shown.contains("SK"), "{shown}");
    }

    #[test]
    fn exchange_translates_answers_and_errors() {
        let mut gw = gateway(Some(keys(None)));
        let body = br#"{"model":"my-alias","messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 42)
            .unwrap();
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: Some("req-1"),
            input_tokens: None,
        });
        let ok = ex.finish(br#"{"output":{"message":{"role":"assistant","content":[{"text":"yo"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#);
        let v: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(
            (ok.status, &v["id"], &v["model"], &v["created"]),
            (
                200,
                &json!("chatcmpl-req-1"),
                &json!("my-alias"),
                &json!(42)
            )
        );
        ex.on_response_headers(&UpstreamHeaders {
            status: 429,
            error_type: Some("ThrottlingException"),
            request_id: None,
            input_tokens: None,
        });
        let err = ex.finish(br#"{"message":"slow down"}"#);
        let v: Value = serde_json::from_slice(&err.body).unwrap();
        assert_eq!(
            (err.status, &v["error"]["type"]),
            (429, &json!("rate_limit_error"))
        );
    }

    #[test]
    fn failed_answers_get_one_log_line() {
        let mut gw = gateway(Some(keys(None)));
        let body = br#"{"model":"my-alias","messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 42)
            .unwrap();
        ex.on_response_headers(&UpstreamHeaders {
            status: 503,
            error_type: Some("ServiceUnavailableException:http://internal.amazon.com/coral/x/"),
            request_id: Some("req-9"),
            input_tokens: None,
        });
        let err = ex.finish(br#"{"message":"try later"}"#);
        assert_eq!(
            ex.failure_log(&err).as_deref(),
            Some(
                "chatcmpl-req-9 model my-alias: upstream answered 503 \
                 ServiceUnavailableException; client gets 503: try later"
            )
        );
        // An unreadable 200 is a failure too; a good answer logs nothing.
        ex.on_response_headers(&ok_headers());
        let bad = ex.finish(b"<html>");
        let line = ex.failure_log(&bad).unwrap();
        assert!(
            line.contains("upstream answered 200; client gets 502: "),
            "{line}"
        );
        let ok = ex.finish(br#"{"output":{"message":{"role":"assistant","content":[{"text":"yo"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#);
        assert_eq!(ex.failure_log(&ok), None);
        assert!(
            ex.unfinished_log(true)
                .contains(" model my-alias: the stream ended before"),
            "{}",
            ex.unfinished_log(true)
        );
    }

    fn ok_headers() -> UpstreamHeaders<'static> {
        UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: None,
            input_tokens: None,
        }
    }

    #[test]
    fn usage_of_each_answer() {
        let mut gw = gateway(Some(keys(None)));
        // Chat: Bedrock's counts, cache kept apart from input.
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap();
        ex.on_response_headers(&ok_headers());
        let (_, usage) = ex.finish_with_usage(br#"{"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":4,"cacheReadInputTokens":100},"metrics":{"latencyMs":1}}"#);
        assert_eq!(
            usage,
            Some(Usage {
                input_tokens: 3,
                output_tokens: 4,
                cache_read_tokens: 100,
                cache_write_tokens: 0
            })
        );
        assert_eq!(ex.client_model(), "m");
        // An error answer has none.
        ex.on_response_headers(&UpstreamHeaders {
            status: 429,
            ..ok_headers()
        });
        assert_eq!(ex.finish_with_usage(b"{}").1, None);
        // Embeddings: Titan's own count.
        let client = ClientRequest {
            path: "/v1/embeddings",
            content_type: Some("application/json"),
            body: br#"{"model":"amazon.titan-embed-text-v2:0","input":"hello"}"#,
        };
        let (_, mut ex) = gw.prepare(Endpoint::Embeddings, &client, 0).unwrap();
        ex.on_response_headers(&ok_headers());
        let (_, usage) = ex.finish_with_usage(br#"{"embedding":[0.5],"inputTextTokenCount":6}"#);
        assert_eq!(usage.map(|u| u.input_tokens), Some(6));
        // Messages: the answer's usage.
        let client = ClientRequest {
            path: "/v1/messages",
            content_type: Some("application/json"),
            body: br#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#,
        };
        let (_, mut ex) = gw.prepare(Endpoint::Messages, &client, 0).unwrap();
        ex.on_response_headers(&ok_headers());
        let (_, usage) = ex.finish_with_usage(br#"{"id":"m","type":"message","role":"assistant","content":[],"usage":{"input_tokens":11,"output_tokens":12,"cache_creation_input_tokens":5}}"#);
        assert_eq!(
            usage.map(|u| (u.input_tokens, u.output_tokens, u.cache_write_tokens)),
            Some((11, 12, 5))
        );
    }

    #[test]
    fn stream_usage_after_metadata() {
        let mut gw = gateway(Some(keys(None)));
        let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let (_, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap();
        assert_eq!(ex.on_response_headers(&ok_headers()), ResponsePlan::Stream);
        assert_eq!(ex.stream_usage(), None);
        let mut frames = Vec::new();
        for (event, payload) in [
            ("messageStart", json!({"role": "assistant"})),
            ("messageStop", json!({"stopReason": "end_turn"})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 7, "outputTokens": 8}, "metrics": {"latencyMs": 1}}),
            ),
        ] {
            let msg = crate::eventstream::Message::new_event(
                event,
                serde_json::to_vec(&payload).unwrap(),
            );
            crate::eventstream::encode(&msg, &mut frames).unwrap();
        }
        let mut out = Vec::new();
        ex.stream_chunk(&frames, &mut out);
        ex.stream_end(&mut out);
        assert_eq!(
            ex.stream_usage().map(|u| (u.input_tokens, u.output_tokens)),
            Some((7, 8))
        );
    }

    #[test]
    fn models_list_shows_what_the_caller_may_see() {
        let env = |_: &str| None;
        let cfg = Config::parse(
            br#"{"region":"us-east-1","models":{"claude":"anthropic.claude-v2","nova":"amazon.nova-lite-v1:0"}}"#,
            &env,
        )
        .unwrap();
        let gw = Gateway::new(cfg, None);
        let only_claude = |m: &crate::config::ModelConfig| m.alias.starts_with("claude");
        let list = gw.answer_locally("/v1/models", 0, &only_claude);
        let v: Value = serde_json::from_slice(&list.body).unwrap();
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["claude"]);
        assert_eq!(
            gw.answer_locally("/v1/models/nova", 0, &only_claude).status,
            404
        );
    }

    #[test]
    fn aliases_resolve_and_unlisted_models_can_be_refused() {
        let env = |_: &str| None;
        let cfg = Config::parse(
            br#"{"region":"us-east-1","allow_unlisted_models":false,"models":{"fast":"amazon.nova-micro-v1:0"}}"#,
            &env,
        )
        .unwrap();
        let mut gw = Gateway::new(cfg, Some(keys(None)));
        let body = br#"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap();
        assert_eq!(req.path, "/model/amazon.nova-micro-v1%3A0/converse");
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: None,
            input_tokens: None,
        });
        let ok = ex.finish(br#"{"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1},"metrics":{"latencyMs":1}}"#);
        let v: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(v["model"], "fast", "the client's name comes back");
        let body =
            br#"{"model":"amazon.nova-pro-v1:0","messages":[{"role":"user","content":"hi"}]}"#;
        let e = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (404, Some("model")));
    }

    #[test]
    fn a_model_in_another_region_is_signed_and_routed_there() {
        let env = |_: &str| None;
        let cfg = Config::parse(
            br#"{"region":"us-east-1","models":{"west":{"id":"us.meta.llama3-1-8b-instruct-v1:0","region":"us-west-2"}}}"#,
            &env,
        )
        .unwrap();
        let mut gw = Gateway::new(cfg, Some(keys(None)));
        let body = br#"{"model":"west","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 1_700_000_000)
            .unwrap();
        assert_eq!(
            req.header(":authority"),
            Some("bedrock-runtime.us-west-2.amazonaws.com")
        );
        assert_eq!(req.header(REGION_HEADER), Some("us-west-2"));
        let auth = req.header("authorization").unwrap();
        assert!(
            auth.contains("/20231114/us-west-2/bedrock/aws4_request"),
            "{auth}"
        );
        let body =
            br#"{"model":"amazon.nova-lite-v1:0","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 1_700_000_000)
            .unwrap();
        assert_eq!(req.header(REGION_HEADER), Some("us-east-1"));
        assert!(
            req.header("authorization")
                .unwrap()
                .contains("/us-east-1/bedrock/")
        );
    }

    #[test]
    fn configured_guardrails_and_fields() {
        let env = |_: &str| None;
        let cfg = Config::parse(
            br#"{"region":"us-east-1","guardrail":{"identifier":"global1","version":"1"},
                "models":{"g":{"id":"amazon.nova-lite-v1:0","guardrail":{"identifier":"gr2","version":"DRAFT","trace":"enabled","stream_processing_mode":"async"},
                               "additional_request_fields":{"top_k":40,"other":{"x":1}}},
                          "inv":{"id":"anthropic.claude-3-haiku-20240307-v1:0","api":"invoke"}}}"#,
            &env,
        )
        .unwrap();
        let mut gw = Gateway::new(cfg, Some(keys(None)));
        let body =
            br#"{"model":"g","stream":true,"top_k":7,"messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap();
        let sent: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            sent["guardrailConfig"],
            json!({"guardrailIdentifier": "gr2", "guardrailVersion": "DRAFT", "trace": "enabled", "streamProcessingMode": "async"})
        );
        assert_eq!(
            sent["additionalModelRequestFields"],
            json!({"top_k": 7, "other": {"x": 1}}),
            "the request's top_k wins"
        );
        // Unlisted models get the top-level guardrail; InvokeModel carries it in headers.
        let body = br#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap();
        let sent: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
        assert_eq!(sent["guardrailConfig"]["guardrailIdentifier"], "global1");
        let body = br#"{"model":"inv","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
            .unwrap();
        assert_eq!(
            req.header("x-amzn-bedrock-guardrailidentifier"),
            Some("global1")
        );
        assert_eq!(req.header("x-amzn-bedrock-guardrailversion"), Some("1"));
        let sent: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
        assert!(sent.get("guardrailConfig").is_none(), "{sent}");
    }

    #[test]
    fn native_routes() {
        let ok = |p: &str, op| assert_eq!(route("POST", p), Ok(Endpoint::Native(op)), "{p}");
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

    #[test]
    fn native_requests_are_resigned_as_sent() {
        let mut gw = gateway(Some(keys(None)));
        let body = br#"{"messages":[]}"#;
        for path in ["/model/x-v1:0/invoke", "/model/x-v1%3A0/invoke"] {
            let client = ClientRequest {
                path,
                content_type: Some("application/json"),
                body,
            };
            let (req, mut ex) = gw
                .prepare(
                    Endpoint::Native(Operation::InvokeModel),
                    &client,
                    1_700_000_000,
                )
                .unwrap();
            assert_eq!(req.path, path, "the wire path is kept");
            assert!(req.body.is_none(), "the body is kept");
            assert_eq!(req.header("content-length"), Some("15"));
            let auth = req.header("authorization").unwrap();
            assert!(
                auth.contains("SignedHeaders=content-type;host;x-amz-date,"),
                "{auth}"
            );
            assert_eq!(
                ex.on_response_headers(&UpstreamHeaders {
                    status: 200,
                    error_type: None,
                    request_id: None,
                    input_tokens: None
                }),
                ResponsePlan::Passthrough
            );
        }
        // No content type: not signed, not invented.
        let client = ClientRequest {
            path: "/model/m/converse",
            content_type: None,
            body: b"{}",
        };
        let (req, _) = gw
            .prepare(Endpoint::Native(Operation::Converse), &client, 0)
            .unwrap();
        assert_eq!(req.header("content-type"), None);
        assert!(
            req.header("authorization")
                .unwrap()
                .contains("SignedHeaders=host;x-amz-date,")
        );
    }

    #[test]
    fn body_must_be_an_object() {
        let mut gw = gateway(Some(keys(None)));
        for body in [&b"[]"[..], b"", b"  \n", b"\"x\"", b"null"] {
            let e = gw
                .prepare(Endpoint::ChatCompletions, &chat_req(body), 0)
                .unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, None), "{body:?}");
        }
    }

    #[test]
    fn exchange_maps_tool_names_back() {
        let mut gw = gateway(Some(keys(None)));
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"files.read"}}]}"#;
        let (req, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 42)
            .unwrap();
        let sent: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        let bedrock_name = sent["toolConfig"]["tools"][0]["toolSpec"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(bedrock_name, "files.read");
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: Some("r"),
            input_tokens: None,
        });
        let answer = json!({"output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t1", "name": bedrock_name, "input": {}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}});
        let ok = ex.finish(&serde_json::to_vec(&answer).unwrap());
        let v: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "files.read"
        );

        // Streaming: the translator gets the same names.
        let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"files.read"}}]}"#;
        let (_, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 42)
            .unwrap();
        assert_eq!(
            ex.on_response_headers(&UpstreamHeaders {
                status: 200,
                error_type: None,
                request_id: None,
                input_tokens: None
            }),
            ResponsePlan::Stream
        );
        let mut frames = Vec::new();
        let start = json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1", "name": bedrock_name}}});
        for (event, payload) in [
            ("messageStart", json!({"role": "assistant"})),
            ("contentBlockStart", start),
        ] {
            let msg = crate::eventstream::Message::new_event(
                event,
                serde_json::to_vec(&payload).unwrap(),
            );
            crate::eventstream::encode(&msg, &mut frames).unwrap();
        }
        let mut out = Vec::new();
        ex.stream_chunk(&frames, &mut out);
        let sse = String::from_utf8(out).unwrap();
        assert!(sse.contains(r#""name":"files.read""#), "{sse}");
    }

    #[test]
    fn invoke_models_get_the_family_body_path_and_answer() {
        let env = |_: &str| None;
        let cfg = Config::parse(
            br#"{"region":"us-east-1","default_max_tokens":999,"models":{
                "claude-invoke":{"id":"anthropic.claude-3-haiku-20240307-v1:0","api":"invoke"}}}"#,
            &env,
        )
        .unwrap();
        let mut gw = Gateway::new(cfg, Some(keys(None)));
        let body = br#"{"model":"claude-invoke","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"files.read"}}]}"#;
        let (req, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 42)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
        );
        assert_eq!(req.header("accept"), Some("application/json"));
        let sent: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
        assert_eq!(sent["max_tokens"], 999);
        let mapped = sent["tools"][0]["name"].as_str().unwrap().to_string();
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: Some("r1"),
            input_tokens: None,
        });
        let answer = json!({"id": "msg_bdrk_1", "type": "message", "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": mapped, "input": {}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}});
        let ok = ex.finish(&serde_json::to_vec(&answer).unwrap());
        let v: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(
            (&v["id"], &v["model"]),
            (&json!("chatcmpl-r1"), &json!("claude-invoke"))
        );
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "files.read"
        );

        let body = br#"{"model":"claude-invoke","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let (req, mut ex) = gw
            .prepare(Endpoint::ChatCompletions, &chat_req(body), 42)
            .unwrap();
        assert_eq!(
            req.path,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"
        );
        assert_eq!(
            req.header("x-amzn-bedrock-accept"),
            Some("application/json")
        );
        assert_eq!(req.header("accept"), None);
        assert_eq!(
            ex.on_response_headers(&UpstreamHeaders {
                status: 200,
                error_type: None,
                request_id: None,
                input_tokens: None
            }),
            ResponsePlan::Stream
        );
        let mut frames = Vec::new();
        let event = br#"{"type":"message_start","message":{"usage":{"input_tokens":1}}}"#;
        let payload = format!(
            r#"{{"bytes":"{}"}}"#,
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, event)
        );
        let msg = crate::eventstream::Message::new_event("chunk", payload.into_bytes());
        crate::eventstream::encode(&msg, &mut frames).unwrap();
        let mut out = Vec::new();
        ex.stream_chunk(&frames, &mut out);
        ex.stream_end(&mut out);
        let sse = String::from_utf8(out).unwrap();
        assert!(sse.contains(r#""role":"assistant""#), "{sse}");
        assert!(
            sse.contains(r#""error""#) && !sse.contains("[DONE]"),
            "{sse}"
        );
    }

    fn owned(pairs: &[(&str, &str)]) -> HeaderList {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn text<'a>(headers: &[(&'a str, &'a [u8])]) -> Vec<(&'a str, &'a str)> {
        headers
            .iter()
            .map(|(n, v)| (*n, std::str::from_utf8(v).unwrap()))
            .collect()
    }

    #[test]
    fn request_headers_are_rewritten_in_one_list() {
        let client = owned(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "gateway.local"),
            ("authorization", "Bearer sk-caller"),
            ("content-length", "120"),
            ("x-bedrock-model", "spoofed"),
            ("x-bedrock-region", "spoofed"),
            ("user-agent", "OpenAI/Python"),
            ("x-request-id", "a"),
            ("x-request-id", "b"),
        ]);
        let req = UpstreamRequest {
            path: "/model/m/converse".into(),
            body: None,
            region: "us-east-1".into(),
            headers: vec![
                (
                    ":authority",
                    "bedrock-runtime.us-east-1.amazonaws.com".into(),
                ),
                (REGION_HEADER, "us-east-1".into()),
                ("authorization", "AWS4-HMAC-SHA256 ...".into()),
            ],
            sign_target: SignTarget::Path("/model/m/converse".into()),
        };
        let identity = [
            ("x-bedrock-model", "claude"),
            ("x-bedrock-caller", "team-a"),
        ];
        let out = rewrite_request_headers(&client, &req, &identity);
        assert_eq!(
            text(&out),
            vec![
                (":method", "POST"),
                (":path", "/model/m/converse"),
                (":authority", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("user-agent", "OpenAI/Python"),
                ("x-request-id", "a"),
                ("x-request-id", "b"),
                (REGION_HEADER, "us-east-1"),
                ("authorization", "AWS4-HMAC-SHA256 ..."),
                ("x-bedrock-model", "claude"),
                ("x-bedrock-caller", "team-a"),
            ]
        );
    }

    #[test]
    fn header_values_that_are_not_utf8_pass_through_untouched() {
        let mut client = owned(&[(":method", "POST"), (":path", "/v1/chat/completions")]);
        client.push(("x-caller-note".into(), b"caf\xe9".to_vec()));
        client.push(("content-type".into(), b"application/json\xff".to_vec()));
        assert_eq!(header_text(&client, ":path"), Some("/v1/chat/completions"));
        assert_eq!(header_text(&client, "content-type"), None);
        let req = UpstreamRequest {
            path: "/model/m/converse".into(),
            body: None,
            region: "us-east-1".into(),
            headers: vec![("content-type", "application/json".into())],
            sign_target: SignTarget::Path("/model/m/converse".into()),
        };
        let out = rewrite_request_headers(&client, &req, &[]);
        assert!(out.contains(&("x-caller-note", &b"caf\xe9"[..])), "{out:?}");
        assert!(out.contains(&("content-type", &b"application/json"[..])));
        assert_eq!(out.iter().filter(|(n, _)| *n == "content-type").count(), 1);
    }

    #[test]
    fn response_headers_lose_the_upstream_length_and_error_type() {
        let upstream = owned(&[
            (":status", "429"),
            ("content-type", "application/json"),
            ("content-length", "80"),
            (
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/",
            ),
            ("x-amzn-requestid", "r-1"),
        ]);
        let out =
            rewrite_response_headers(&upstream, &[(":status", "429"), ("content-length", "120")]);
        assert_eq!(
            text(&out),
            vec![
                (":status", "429"),
                ("content-type", "application/json"),
                ("x-amzn-requestid", "r-1"),
                ("content-length", "120"),
            ]
        );
    }

    #[test]
    fn strips_caller_credentials() {
        for h in [
            "authorization",
            "x-api-key",
            "accept-encoding",
            "content-length",
        ] {
            assert!(is_stripped_request_header(h), "{h}");
        }
        assert!(!is_stripped_request_header("user-agent"));
    }
}
