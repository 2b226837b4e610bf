//! Translation step of the pipeline: a complete client request becomes the upstream request
//! (path, headers, body; not yet signed) and the [`Exchange`] that will translate its answer.

use std::borrow::Cow;

use super::exchange::{Exchange, Kind};
use super::route::Endpoint;
use super::upstream::{ClientRequest, SignTarget, UpstreamRequest};
use super::worker::Worker;
use crate::bedrock::path::{NativeOperation, Operation, model_path, native_model_id};
use crate::config::{Api, ModelConfig};
use crate::error::ApiError;
use crate::http::{EVENT_STREAM, REGION_HEADER};
use crate::translate::chat::reasoning::{self, Reasoning};
use crate::translate::chat::{self, invoke, tool_choice};
use crate::translate::{embeddings, messages, responses};

/// `Accept` of calls answered with JSON.
const ACCEPT_JSON: (&str, &str) = ("accept", "application/json");
/// InvokeModelWithResponseStream names the content type of the chunks it streams in
/// `X-Amzn-Bedrock-Accept`; the stream itself is an event stream.
const ACCEPT_JSON_CHUNKS: (&str, &str) = ("x-amzn-bedrock-accept", "application/json");

impl Worker {
    /// Translate a complete request for `endpoint` into the upstream request and the state
    /// needed to translate its answer. Signing is a separate step ([`Worker::sign`]).
    pub fn translate(
        &mut self,
        endpoint: Endpoint,
        client: &ClientRequest<'_>,
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let body = client.body;
        if body.len() > self.config.max_request_bytes {
            return Err(request_too_large(self.config.max_request_bytes));
        }
        match endpoint {
            Endpoint::Native(op) => return self.native(op, client, now_secs),
            Endpoint::Models => {
                return Err(ApiError::invalid_request("GET /v1/models has no body"));
            }
            _ => {}
        }
        // serde would also read a struct from a JSON array; these bodies are objects.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid_request(
                "the request body must be a JSON object",
            ));
        }
        match endpoint {
            Endpoint::Embeddings => self.embeddings(body, now_secs),
            Endpoint::Messages => self.messages(client, now_secs),
            Endpoint::CountTokens => self.count_tokens(client, now_secs),
            Endpoint::Responses => self.responses(body, now_secs),
            Endpoint::ChatCompletions | Endpoint::Native(_) | Endpoint::Models => {
                self.chat(body, now_secs)
            }
        }
    }

    /// Sign the translated request over what it carries upstream (its new body, or the
    /// client's `client_body`), adding the signature headers.
    pub fn sign(
        &mut self,
        req: &mut UpstreamRequest,
        client_body: &[u8],
        now_secs: u64,
    ) -> Result<(), ApiError> {
        let signature = self.signer.sign(req, req.payload(client_body), now_secs)?;
        req.headers.extend(signature);
        Ok(())
    }

    /// `/v1/chat/completions` → Converse, or InvokeModel with the model family's body.
    fn chat(
        &mut self,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let parsed = chat::request::parse(body)?;
        let mut call = chat::request::to_request(&parsed)?;
        let model = self.fit_to_model(&mut call)?;
        let family = match (model.api, model.family) {
            (Api::Converse, _) => {
                return self.converse(call, &model, Kind::Chat, body.len(), now_secs);
            }
            (Api::Invoke, Some(family)) => family,
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
        };
        let max_tokens = model.max_tokens.unwrap_or(self.config.default_max_tokens);
        let body = invoke::request_body(family, &call, max_tokens)?;
        let (op, accept) = if call.stream {
            (Operation::InvokeModelWithResponseStream, ACCEPT_JSON_CHUNKS)
        } else {
            (Operation::InvokeModel, ACCEPT_JSON)
        };
        let mut req = self.upstream_request(&model, op);
        if let Some(g) = &model.guardrail {
            req.headers.extend(g.invoke_headers());
        }
        Ok(self.model_call(req, body, accept, call, Kind::ChatInvoke(family), now_secs))
    }

    /// `/v1/responses` → Converse. Always Converse, whatever the model's `api`: the Responses
    /// answer and its stream are written from Converse's.
    fn responses(
        &mut self,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let parsed = responses::parse(body)?;
        let echo = responses::echo(&parsed);
        let mut call = responses::to_request(&parsed)?;
        let model = self.fit_to_model(&mut call)?;
        let kind = Kind::Responses(Box::new(echo));
        self.converse(call, &model, kind, body.len(), now_secs)
    }

    /// Resolve the model of a translated chat or Responses request, then make the request one
    /// the model takes: the configuration's fields and guardrail, its way of reasoning, and
    /// Claude's single tool call.
    fn fit_to_model(
        &self,
        call: &mut chat::request::Translated<'_>,
    ) -> Result<ModelConfig, ApiError> {
        let model = self.config.resolve_model(&call.client_model)?;
        apply_model_options(call, &model);
        let reasoner = Reasoning::of_model(&model.id, model.family);
        reasoning::apply(call, reasoner)?;
        if model.api == Api::Converse && reasoner.is_claude() {
            tool_choice::single_tool_call_for_claude(call)?;
        }
        Ok(model)
    }

    /// Converse (ConverseStream when streamed) with the translated request's body, written
    /// into a buffer the size of the client's body (`client_len`) and a little more.
    fn converse(
        &mut self,
        call: chat::request::Translated<'_>,
        model: &ModelConfig,
        kind: Kind,
        client_len: usize,
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let body = chat::request::converse_body(&call, client_len)?;
        let (op, accept) = if call.stream {
            (Operation::ConverseStream, ("accept", EVENT_STREAM))
        } else {
            (Operation::Converse, ACCEPT_JSON)
        };
        let req = self.upstream_request(model, op);
        Ok(self.model_call(req, body, accept, call, kind, now_secs))
    }

    /// A model call with its JSON body, and the exchange that answers it.
    fn model_call(
        &mut self,
        mut req: UpstreamRequest,
        body: Vec<u8>,
        accept: (&'static str, &'static str),
        call: chat::request::Translated<'_>,
        kind: Kind,
        now_secs: u64,
    ) -> (UpstreamRequest, Exchange) {
        json_body(&mut req, body, accept);
        let fallback_id = self.next_fallback_id(now_secs);
        let mut exchange = Exchange::new(kind, call.client_model, now_secs, fallback_id)
            .with_tool_names(call.tool_names);
        if call.stream {
            exchange = exchange.streaming(call.include_usage);
        }
        (req, exchange)
    }

    /// `/v1/embeddings` → InvokeModel with the model family's body.
    fn embeddings(
        &mut self,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let config = &self.config;
        let resolve = |m: &str| config.resolve_model(m).map(|c| c.id);
        let call =
            embeddings::to_invoke(body, &embeddings::EmbeddingsOptions::default(), &resolve)?;
        let model = self.config.resolve_model(&call.client_model)?;
        let mut req = self.upstream_request(&model, Operation::InvokeModel);
        req.headers.extend([
            ("content-type", embeddings::CONTENT_TYPE.to_string()),
            ("accept", embeddings::CONTENT_TYPE.to_string()),
        ]);
        let mut bodies = call.bodies;
        if bodies.len() == 1 {
            let body = bodies.pop().unwrap_or_default();
            req.headers.push(("content-length", body.len().to_string()));
            req.body = Some(body);
        } else {
            req.batch = bodies;
        }
        let kind = Kind::Embeddings(call.plan);
        Ok((
            req,
            Exchange::new(kind, call.client_model, now_secs, String::new()),
        ))
    }

    /// `/v1/messages` → InvokeModel (or its stream) with the Anthropic body.
    fn messages(
        &mut self,
        client: &ClientRequest<'_>,
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let default_max_tokens = |model: &str| self.default_max_tokens(model);
        let betas = bedrock_betas(client.anthropic_beta);
        let call = messages::to_invoke(client.body, &default_max_tokens, &betas)?;
        let model = self.config.resolve_model(&call.model_id)?;
        let (op, accept) = if call.stream {
            (Operation::InvokeModelWithResponseStream, ACCEPT_JSON_CHUNKS)
        } else {
            (Operation::InvokeModel, ACCEPT_JSON)
        };
        let mut req = self.upstream_request(&model, op);
        if let Some(g) = &model.guardrail {
            req.headers.extend(g.invoke_headers());
        }
        json_body(&mut req, call.body, accept);
        let mut exchange =
            Exchange::new(Kind::Messages, call.client_model, now_secs, String::new());
        if call.stream {
            exchange = exchange.streaming(false);
        }
        Ok((req, exchange))
    }

    /// `/v1/messages/count_tokens` → CountTokens with the InvokeModel body the same request
    /// would send to `/v1/messages`.
    fn count_tokens(
        &mut self,
        client: &ClientRequest<'_>,
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let default_max_tokens = |model: &str| self.default_max_tokens(model);
        let betas = bedrock_betas(client.anthropic_beta);
        let call = messages::to_count_tokens(client.body, &default_max_tokens, &betas)?;
        let model = self.config.resolve_model(&call.model_id)?;
        let mut req = self.upstream_request(&model, Operation::CountTokens);
        json_body(&mut req, call.body, ACCEPT_JSON);
        let kind = Kind::CountTokens;
        Ok((
            req,
            Exchange::new(kind, call.client_model, now_secs, String::new()),
        ))
    }

    /// A native Bedrock request: path (as the client encoded it), method and body stay as they
    /// are; only the authority and the signature change. Its model is the path's, or the
    /// body's `modelId` for StartAsyncInvoke; the other operations name none.
    fn native(
        &self,
        op: NativeOperation,
        client: &ClientRequest<'_>,
        now_secs: u64,
    ) -> Result<(UpstreamRequest, Exchange), ApiError> {
        let c = &self.config;
        let path = client.path.split_once('?').map_or(client.path, |(p, _)| p);
        let model = match op {
            NativeOperation::Model(_) => native_model_id(path),
            // The model is in the body; a body the filter cannot read it from would pass
            // `allow_unlisted_models` and the caller's `allowed_models` unchecked.
            NativeOperation::StartAsyncInvoke => {
                Some(async_invoke_model(client.body).ok_or_else(|| {
                    ApiError::invalid(
                        "modelId",
                        "StartAsyncInvoke needs a JSON body with a string `modelId`",
                    )
                })?)
            }
            _ => None,
        };
        if let Some(model) = &model {
            c.admits_native(model)?;
        }
        let mut req = UpstreamRequest {
            method: op.method(),
            path: client.path.to_string(),
            body: None,
            batch: Vec::new(),
            region: c.region.clone(),
            headers: vec![
                (":authority", c.authority.clone()),
                (REGION_HEADER, c.region.clone()),
                ("content-length", client.body.len().to_string()),
            ],
            sign_target: SignTarget::Path(client.path.to_string()),
        };
        if let Some(ct) = client.content_type {
            req.headers.push(("content-type", ct.to_string()));
        }
        let model = model.unwrap_or_default();
        let exchange = Exchange::new(Kind::Native, model, now_secs, String::new());
        Ok((req, exchange))
    }

    /// `max_tokens` for a Messages request to `model` that sets none: the model entry's, else
    /// the configuration's default.
    fn default_max_tokens(&self, model: &str) -> u32 {
        self.config
            .resolve_model(model)
            .ok()
            .and_then(|m| m.max_tokens)
            .unwrap_or(self.config.default_max_tokens)
    }

    /// A POST of `op` at the model's region and endpoint (the model ID for that region in the
    /// path), with the routing header set.
    fn upstream_request(&self, model: &ModelConfig, op: Operation) -> UpstreamRequest {
        let (region, authority) = self.config.upstream_of(model);
        UpstreamRequest {
            method: "POST",
            path: model_path(model.id_in(region), op),
            body: None,
            batch: Vec::new(),
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
}

/// Give `req` its JSON body, with the headers that describe it.
fn json_body(req: &mut UpstreamRequest, body: Vec<u8>, accept: (&'static str, &'static str)) {
    req.headers.extend([
        ("content-type", "application/json".to_string()),
        (accept.0, accept.1.to_string()),
        ("content-length", body.len().to_string()),
    ]);
    req.body = Some(body);
}

/// The flags of an `anthropic-beta` header that Bedrock takes in the body's `anthropic_beta`;
/// others would make Bedrock refuse the whole request ("invalid beta flag"), so they are left
/// out (with a debug line).
fn bedrock_betas(header: Option<&str>) -> Vec<&str> {
    let Some(header) = header else {
        return Vec::new();
    };
    crate::anthropic::beta_flags(header)
        .filter(|flag| {
            let taken = crate::anthropic::BEDROCK_BETAS.contains(flag);
            if !taken {
                log::debug!(
                    "bedrock-filter: anthropic-beta {flag} left out: Bedrock does not take it"
                );
            }
            taken
        })
        .collect()
}

/// StartAsyncInvoke's `modelId`, read without the rest of the body.
fn async_invoke_model(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Start<'a> {
        #[serde(
            borrow,
            rename = "modelId",
            default,
            deserialize_with = "crate::json::opt_cow"
        )]
        model_id: Option<Cow<'a, str>>,
    }
    serde_json::from_slice::<Start<'_>>(body)
        .ok()?
        .model_id
        .map(Cow::into_owned)
}

/// The 413 for a body over the configured limit, declared or received.
pub fn request_too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        crate::error::ErrorType::InvalidRequest,
        format!("request body too large: this gateway accepts at most {limit} bytes"),
    )
    .with_code("request_too_large")
}

/// The configuration's per-model options on a translated chat request: the guardrail
/// (Converse carries it in the body; InvokeModel in headers, added with the request) and
/// default additional fields, which the request's own fields override.
fn apply_model_options(call: &mut chat::request::Translated<'_>, model: &ModelConfig) {
    let fields = &mut call.converse.additional_model_request_fields;
    for (key, value) in &model.additional_request_fields.0 {
        if !fields.0.iter().any(|(k, _)| k == key) {
            fields
                .0
                .push((Cow::Owned(key.clone()), Cow::Owned(value.clone())));
        }
    }
    if let Some(g) = &model.guardrail {
        call.converse.guardrail_config = Some(g.converse_config_owned(call.stream));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::path::native_operation;
    use crate::config::Config;
    use crate::credentials::{AwsCredentials, CredentialsProvider};
    use crate::pipeline::exchange::{ResponsePlan, UpstreamHeaders};
    use crate::pipeline::testing::{TWO_REGIONS, chat_req, config_in, keys, prepare, worker};
    use serde_json::{Value, json};

    const US_EAST: &str = r#"{"region":"us-east-1"}"#;

    #[test]
    fn prepare_signs_the_final_request() {
        let mut gw = worker(US_EAST, Some(keys(Some("TOKEN"))));
        let body = br#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = prepare(
            &mut gw,
            Endpoint::ChatCompletions,
            &chat_req(body),
            1_700_000_000,
        )
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

    #[test]
    fn translate_mode_translates_without_signing() {
        // No credentials at all: translate mode does not need them.
        let mut gw = Worker::with_provider(
            config_in("translate", TWO_REGIONS),
            CredentialsProvider::fixed(None),
        );
        let body =
            br#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = prepare(
            &mut gw,
            Endpoint::ChatCompletions,
            &chat_req(body),
            1_700_000_000,
        )
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
    fn bearer_and_missing_credentials() {
        let mut gw = worker(
            US_EAST,
            Some(AwsCredentials::Bearer("bedrock-api-key".into())),
        );
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap();
        assert_eq!(req.header("authorization"), Some("Bearer bedrock-api-key"));
        assert_eq!(req.header("x-amz-date"), None);
        let mut gw = worker(US_EAST, None);
        assert_eq!(
            prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0)
                .unwrap_err()
                .status,
            503
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
        let mut gw = Worker::with_provider(cfg, CredentialsProvider::fixed(Some(keys(None))));
        let body = br#"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, mut ex) =
            prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap();
        assert_eq!(req.path, "/model/amazon.nova-micro-v1%3A0/converse");
        ex.on_response_headers(&UpstreamHeaders {
            status: 200,
            error_type: None,
            request_id: None,
            input_tokens: None,
            output_tokens: None,
        });
        let ok = ex.finish(br#"{"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1},"metrics":{"latencyMs":1}}"#);
        let v: Value = serde_json::from_slice(&ok.response.body).unwrap();
        assert_eq!(v["model"], "fast", "the client's name comes back");
        let body =
            br#"{"model":"amazon.nova-pro-v1:0","messages":[{"role":"user","content":"hi"}]}"#;
        let e = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (404, Some("model")));
        // AWS SDKs name the Bedrock ID: the listed one passes, any other is refused too.
        let native = |path: &'static str, body: &'static [u8]| ClientRequest {
            anthropic_beta: None,
            path,
            content_type: Some("application/json"),
            body,
        };
        let converse = Endpoint::Native(NativeOperation::Model(Operation::Converse));
        let listed = native("/model/amazon.nova-micro-v1%3A0/converse", b"{}");
        assert!(prepare(&mut gw, converse, &listed, 0).is_ok());
        let unlisted = native("/model/amazon.nova-pro-v1:0/converse", b"{}");
        let e = prepare(&mut gw, converse, &unlisted, 0).unwrap_err();
        assert_eq!(e.status, 404);
        let start = native(
            "/async-invoke",
            br#"{"modelId":"amazon.nova-reel-v1:0","modelInput":{},"outputDataConfig":{}}"#,
        );
        let e = prepare(
            &mut gw,
            Endpoint::Native(NativeOperation::StartAsyncInvoke),
            &start,
            0,
        )
        .unwrap_err();
        assert_eq!(e.status, 404);
        // An alias is no Bedrock ID: the path would go to Bedrock as written.
        let alias = native("/model/fast/converse", b"{}");
        assert_eq!(
            prepare(&mut gw, converse, &alias, 0).unwrap_err().status,
            404
        );
        // A StartAsyncInvoke body the model cannot be read from is refused, not let through.
        for body in [
            &br#"{"modelId":"amazon.nova-micro-v1:0","modelId":"amazon.nova-reel-v1:0"}"#[..],
            b"\xef\xbb\xbf{\"modelId\":\"amazon.nova-reel-v1:0\"}",
            b"{}",
        ] {
            let start = ClientRequest {
                body,
                ..native("/async-invoke", b"")
            };
            let e = prepare(
                &mut gw,
                Endpoint::Native(NativeOperation::StartAsyncInvoke),
                &start,
                0,
            )
            .unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some("modelId")));
        }
        let guardrail = native("/guardrail/g1/version/1/apply", b"{}");
        let apply = native_operation("POST", "/guardrail/g1/version/1/apply").unwrap();
        assert!(prepare(&mut gw, Endpoint::Native(apply), &guardrail, 0).is_ok());
    }

    #[test]
    fn a_model_in_another_region_is_signed_and_routed_there() {
        let env = |_: &str| None;
        let cfg = Config::parse(
            br#"{"region":"us-east-1","models":{"west":{"id":"us.meta.llama3-1-8b-instruct-v1:0","region":"us-west-2"}}}"#,
            &env,
        )
        .unwrap();
        let mut gw = Worker::with_provider(cfg, CredentialsProvider::fixed(Some(keys(None))));
        let body = br#"{"model":"west","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = prepare(
            &mut gw,
            Endpoint::ChatCompletions,
            &chat_req(body),
            1_700_000_000,
        )
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
        let (req, _) = prepare(
            &mut gw,
            Endpoint::ChatCompletions,
            &chat_req(body),
            1_700_000_000,
        )
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
        let mut gw = Worker::with_provider(cfg, CredentialsProvider::fixed(Some(keys(None))));
        let body =
            br#"{"model":"g","stream":true,"top_k":7,"messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap();
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
        let (req, _) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap();
        let sent: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
        assert_eq!(sent["guardrailConfig"]["guardrailIdentifier"], "global1");
        let body = br#"{"model":"inv","messages":[{"role":"user","content":"hi"}]}"#;
        let (req, _) = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap();
        assert_eq!(
            req.header("x-amzn-bedrock-guardrailidentifier"),
            Some("global1")
        );
        assert_eq!(req.header("x-amzn-bedrock-guardrailversion"), Some("1"));
        let sent: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
        assert!(sent.get("guardrailConfig").is_none(), "{sent}");
    }

    #[test]
    fn native_requests_are_resigned_as_sent() {
        let mut gw = worker(US_EAST, Some(keys(None)));
        let body = br#"{"messages":[]}"#;
        for path in ["/model/x-v1:0/invoke", "/model/x-v1%3A0/invoke"] {
            let client = ClientRequest {
                anthropic_beta: None,
                path,
                content_type: Some("application/json"),
                body,
            };
            let (req, mut ex) = prepare(
                &mut gw,
                Endpoint::Native(NativeOperation::Model(Operation::InvokeModel)),
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
                    input_tokens: None,
                    output_tokens: None
                }),
                ResponsePlan::Passthrough
            );
        }
        // No content type: not signed, not invented.
        let client = ClientRequest {
            anthropic_beta: None,
            path: "/model/m/converse",
            content_type: None,
            body: b"{}",
        };
        let (req, _) = prepare(
            &mut gw,
            Endpoint::Native(NativeOperation::Model(Operation::Converse)),
            &client,
            0,
        )
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
        let mut gw = worker(US_EAST, Some(keys(None)));
        for body in [&b"[]"[..], b"", b"  \n", b"\"x\"", b"null"] {
            let e = prepare(&mut gw, Endpoint::ChatCompletions, &chat_req(body), 0).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, None), "{body:?}");
        }
    }
}
