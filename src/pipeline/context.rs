//! One request's life, as a state machine the host drives with its callbacks:
//!
//! ```text
//! request headers  authenticate the caller → route → (local answer: /v1/models)
//! request body     translate → authorize the model → sign → rewrite headers and body
//! response headers plan the answer: buffer it, stream it, or pass it through (native)
//! response body    translate the answer (whole or piece by piece) → count usage
//! ```
//!
//! Every refusal is a local reply in the shape of the API the request came in on, and leaves
//! the context passing everything through — including the local reply itself, which the proxy
//! sends through the response callbacks like any answer.

use super::exchange::{Exchange, ResponsePlan, SSE_HEADERS, UpstreamHeaders};
use super::fanout::FanOut;
use super::headers::{rewrite_request_headers, rewrite_response_headers};
use super::host::{Flow, Host};
use super::prepare::request_too_large;
use super::respond::{ClientResponse, ErrorShape};
use super::route::{Endpoint, route};
use super::upstream::{ClientRequest, UpstreamRequest};
use super::worker::{Target, Worker};
use crate::access::{self, Caller, Identity};
use crate::error::{ApiError, ErrorType};
use crate::http::{
    CALLER_HEADER, HeaderList, MODEL_HEADER, MODEL_ID_HEADER, SIGN_PROPERTY, header_text,
    log_property,
};
use crate::limits::{self, Admission};
use crate::metrics::ResultClass;
use crate::usage::Usage;

/// Where one request is in its life.
enum State {
    /// Not ours (or already answered locally): leave it alone.
    Passthrough,
    /// Buffering the client's body for this endpoint.
    Request(Endpoint),
    /// Sent upstream; the answer will be buffered and translated whole.
    Response(Exchange),
    /// Upstream answered with an event stream; translating it piece by piece.
    Streaming(Exchange),
    /// Answered from calls of the filter's own (a batch of single-input embeddings).
    Batch(Box<FanOut>),
}

/// The pipeline's state for one HTTP request.
pub struct RequestContext {
    state: State,
    /// How errors are written for this request (by its path).
    shape: ErrorShape,
    /// The authenticated caller; `None` when no callers are configured.
    caller: Option<Caller>,
    /// The model, once the request body named it.
    target: Option<Target>,
    /// What the request-headers callback read, kept for the body callback so each header
    /// crosses the host boundary once.
    path: String,
    content_type: Option<String>,
    /// The `anthropic-beta` header of an Anthropic Messages request, for Bedrock's body field.
    anthropic_beta: Option<String>,
    /// The client's request headers, read once; rewritten in one host call when forwarded.
    request_headers: HeaderList,
    /// The upstream's response headers while its body is buffered, rewritten with the answer.
    response_headers: HeaderList,
    /// What the caller's limits admitted this request on: charged when the answer is
    /// complete, and the `x-ratelimit-*` headers of every answer.
    admission: Option<Admission>,
    /// Size of the client's request body (what an abandoned stream's estimate starts from).
    request_bytes: usize,
    /// Whether this request publishes its filter state (`filter_state` of the configuration).
    publish: bool,
    /// Whether per-caller stats are counted: only where callers or limits make callers mean
    /// something (without them every request is `anonymous`, which the totals already count).
    per_caller_stats: bool,
}

impl Default for RequestContext {
    fn default() -> Self {
        RequestContext {
            state: State::Passthrough,
            shape: ErrorShape::OpenAi,
            caller: None,
            target: None,
            path: String::new(),
            content_type: None,
            anthropic_beta: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            admission: None,
            request_bytes: 0,
            publish: true,
            per_caller_stats: false,
        }
    }
}

/// The 503 of a worker without a configuration (the proxy refused it, or it is not loaded).
pub fn not_configured() -> ApiError {
    ApiError::new(503, ErrorType::Api, "bedrock-filter is not configured")
        .with_code("not_configured")
}

/// The 400 for a request whose body ends in trailers: it was never complete, so it was never
/// translated or signed.
pub fn trailers_refused() -> ApiError {
    ApiError::invalid_request(
        "request trailers are not supported: the gateway translates and signs complete bodies; \
         send the request without trailers",
    )
}

/// The 415 for a compressed request body: the gateway reads (and signs) the body as JSON, and
/// Bedrock takes no compressed request bodies, so it would only fail further on, less clearly.
pub fn compressed_body_refused(encoding: &str) -> ApiError {
    ApiError::new(
        415,
        ErrorType::InvalidRequest,
        format!(
            "compressed request bodies (content-encoding: {encoding}) are not supported: send \
             the body uncompressed"
        ),
    )
    .with_code("unsupported_content_encoding")
}

/// The answer for a request one of Envoy's rate limit filters refused (`ratelimit` marks it
/// `x-envoy-ratelimited`; `local_ratelimit` answers a bare 429), with the reset Envoy reported
/// (`x-ratelimit-reset`, when its `enable_x_ratelimit_headers` is on), else 1 s.
pub fn envoy_rate_limited(reset: Option<&str>) -> ApiError {
    let secs = reset
        .and_then(|r| r.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    ApiError::new(
        429,
        ErrorType::RateLimit,
        format!(
            "Rate limit reached: the gateway's rate limits refused this request. Please try \
             again in {secs}s."
        ),
    )
    .with_code("rate_limit_exceeded")
    .with_retry_after(secs)
}

/// Answer locally with `answer`; the request goes no further.
pub fn send(host: &mut dyn Host, answer: &ClientResponse) {
    let headers = answer.reply_headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    host.send_reply(answer.status, &headers, &answer.body);
}

impl RequestContext {
    pub fn new() -> Self {
        RequestContext::default()
    }

    fn identity(&self) -> Identity<'_> {
        self.caller
            .as_ref()
            .map_or(Identity::Anonymous, Identity::Caller)
    }

    /// Answer the client directly with `e` in the request's error shape and stop processing.
    fn reply_error(&mut self, w: Option<&mut Worker>, host: &mut dyn Host, e: &ApiError) -> Flow {
        self.reply_error_with(w, host, e, Vec::new())
    }

    /// [`Self::reply_error`], with `extra` headers on the answer.
    fn reply_error_with(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        e: &ApiError,
        extra: Vec<(&str, String)>,
    ) -> Flow {
        self.state = State::Passthrough;
        log::info!("bedrock-filter: {e}");
        self.send_with(host, &self.shape.render(e), extra);
        self.count(w, host, ResultClass::LocalError, None);
        Flow::Pause
    }

    /// Answer locally, with the caller's `x-ratelimit-*` headers when limits hold the request.
    fn send(&self, host: &mut dyn Host, answer: &ClientResponse) {
        self.send_with(host, answer, Vec::new());
    }

    /// [`Self::send`], with `extra` headers.
    fn send_with(&self, host: &mut dyn Host, answer: &ClientResponse, extra: Vec<(&str, String)>) {
        let mut headers: Vec<(&str, String)> = answer.reply_headers();
        headers.extend(self.rate_headers());
        headers.extend(extra);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        host.send_reply(answer.status, &headers, &answer.body);
    }

    /// The `x-ratelimit-*` headers of this request's answer (none when no limit holds it).
    fn rate_headers(&self) -> Vec<(&'static str, String)> {
        self.admission
            .as_ref()
            .map_or_else(Vec::new, Admission::headers)
    }

    /// Count a finished request in the stats, charge its tokens and cost to the caller's
    /// limits, and publish them as filter state (access logs; Envoy's global rate limit reads
    /// `bedrock_total_tokens` and `bedrock_cost_micro_usd` as hits).
    fn count(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        class: ResultClass,
        usage: Option<Usage>,
    ) {
        let model = self.target.as_ref().map_or("unknown", |t| t.model.as_str());
        let pricing = self.target.as_ref().and_then(|t| t.pricing.as_ref());
        let cost = match (&usage, pricing) {
            (Some(u), Some(p)) => p.cost_micro_usd(u),
            _ => 0,
        };
        let caller = self
            .caller
            .as_ref()
            .map_or(access::ANONYMOUS, |c| c.name.as_str());
        if let Some(w) = w {
            w.metrics
                .request(host, model, class, usage.as_ref(), pricing);
            if self.per_caller_stats {
                w.metrics.caller_request(host, caller, usage.as_ref(), cost);
            }
        }
        let admission = self.admission.take();
        let Some(u) = usage else { return };
        let total = u.prompt_tokens().saturating_add(u.output_tokens);
        if self.publish {
            for (kind, tokens) in u.kinds() {
                host.set_property(&log_property::tokens(kind), &tokens.to_string());
            }
            host.set_property(log_property::TOTAL_TOKENS, &total.to_string());
            host.set_property(log_property::COST_MICRO_USD, &cost.to_string());
        }
        if let Some(a) = admission {
            let now = host.now_unix_secs();
            if let Err(e) = a.charge(host, &u, cost, now) {
                log::error!(
                    "bedrock-filter: could not charge caller `{caller}` for {total} tokens: {e:?}"
                );
            }
        }
    }

    /// Hold the request to its caller's limits, before anything is sent: `Err` is the refusal.
    fn admit(&mut self, w: &mut Worker, host: &mut dyn Host, now: u64) -> Result<(), ApiError> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        if w.config.limits.is_empty() {
            return Ok(());
        }
        let caller = self
            .caller
            .as_ref()
            .map_or(access::ANONYMOUS, |c| c.name.as_str());
        let admitted = limits::admit(
            host,
            &w.config.limits,
            caller,
            &target.model,
            &target.model_id,
            target.pricing.is_some(),
            now,
        );
        match admitted {
            Ok(a) => {
                self.admission = a.is_limited().then_some(a);
                Ok(())
            }
            Err(refused) => {
                if let limits::Refused::Store(e) = &refused {
                    log::error!("bedrock-filter: the rate-limit counters failed: {e:?}");
                }
                if let limits::Refused::Over { limit, .. } = &refused {
                    w.metrics
                        .caller_limited(host, caller, limit.measure.label());
                }
                self.admission = refused.admission();
                Err(refused.to_error(caller, &target.model))
            }
        }
    }

    /// The request headers arrived: authenticate, route, answer what is local, and hold the
    /// headers until the body is complete.
    pub fn on_request_headers(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Flow {
        let headers = host.request_headers();
        let get = |name: &str| header_text(&headers, name);
        let method = get(":method").unwrap_or_default().to_string();
        self.path = get(":path").unwrap_or_default().to_string();
        self.content_type = get("content-type").map(str::to_string);
        self.anthropic_beta = get("anthropic-beta").map(str::to_string);
        self.shape = ErrorShape::of_path(&self.path);
        let Some(w) = w else {
            return self.reply_error(None, host, &not_configured());
        };
        self.publish = w.config.filter_state;
        self.per_caller_stats = !w.config.callers.is_empty() || !w.config.limits.is_empty();
        if !w.config.callers.is_empty() {
            let key = access::presented_key(get("authorization"), get("x-api-key"));
            match w.config.callers.authenticate(key) {
                Ok(Identity::Caller(c)) => self.caller = Some(c.clone()),
                Ok(Identity::Anonymous) => {}
                Err(e) => return self.reply_error(Some(w), host, &e),
            }
        }
        if self.publish {
            host.set_property(log_property::CALLER, self.identity().name());
        }
        let endpoint = match route(&method, &self.path) {
            Ok(e) => e,
            Err(e) => return self.reply_error(Some(w), host, &e),
        };
        if endpoint.is_local() {
            let identity = self.identity();
            let visible = |m: &crate::config::ModelConfig| identity.allows(&m.alias, &m.id);
            let now = host.now_unix_secs();
            let answer = w.answer_models(&self.path, now, &visible);
            let answer = answer.map_or_else(|e| self.shape.render(&e), ClientResponse::json);
            send(host, &answer);
            return Flow::Pause;
        }
        if let Some(encoding) = get("content-encoding")
            && !encoding.trim().is_empty()
            && !encoding.trim().eq_ignore_ascii_case("identity")
        {
            return self.reply_error(Some(w), host, &compressed_body_refused(encoding));
        }
        let limit = w.config.max_request_bytes;
        let declared = get("content-length").and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return self.reply_error(Some(w), host, &request_too_large(limit));
        }
        self.request_headers = headers;
        if end_of_stream {
            // No body will follow, so the body callback never runs: translate the empty body now.
            return self.forward(w, host, endpoint, b"", 0);
        }
        self.state = State::Request(endpoint);
        // Hold the headers until the body is complete: they change with it.
        Flow::Pause
    }

    /// The request ended in trailers: if its body was still awaited, it was never translated
    /// or signed, and passing it on would send the client's own request (and key) upstream.
    pub fn on_request_trailers(&mut self, w: Option<&mut Worker>, host: &mut dyn Host) -> Flow {
        if matches!(self.state, State::Request(_)) {
            return self.reply_error(w, host, &trailers_refused());
        }
        Flow::Continue
    }

    /// More of the request body arrived; at its end, translate and forward it.
    pub fn on_request_body(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        let State::Request(endpoint) = self.state else {
            return Flow::Continue;
        };
        let Some(w) = w else {
            return self.reply_error(None, host, &not_configured());
        };
        let limit = w.config.max_request_bytes;
        if body_size > limit {
            return self.reply_error(Some(w), host, &request_too_large(limit));
        }
        if !end_of_stream {
            return Flow::Pause;
        }
        let body = host.request_body(body_size);
        self.forward(w, host, endpoint, &body, body_size)
    }

    /// Translate the complete body, authorize the model, sign, then rewrite the request in
    /// place.
    fn forward(
        &mut self,
        w: &mut Worker,
        host: &mut dyn Host,
        endpoint: Endpoint,
        body: &[u8],
        body_size: usize,
    ) -> Flow {
        let now = host.now_unix_secs();
        let path = std::mem::take(&mut self.path);
        let content_type = self.content_type.take();
        let anthropic_beta = self.anthropic_beta.take();
        let client = ClientRequest {
            anthropic_beta: anthropic_beta.as_deref(),
            path: &path,
            content_type: content_type.as_deref(),
            body,
        };
        let (mut req, exchange) = match w.translate(endpoint, &client, now) {
            Ok(p) => p,
            Err(e) => return self.reply_error(Some(w), host, &e),
        };
        let target = w.target(exchange.client_model(), exchange.is_native(), &req.region);
        // For the access log, refused requests included.
        if self.publish {
            host.set_property(log_property::MODEL, &target.model);
            host.set_property(log_property::MODEL_ID, &target.model_id);
        }
        // Native operations that name no model (ApplyGuardrail, the async-invoke reads) are
        // open to every authenticated caller.
        let allowed = target.model_id.is_empty() || w.may_use(self.identity(), &target);
        let model = target.model.clone();
        self.target = Some(target);
        if !allowed {
            let e = access::model_not_allowed(self.identity().name(), &model);
            return self.reply_error(Some(w), host, &e);
        }
        self.request_bytes = body_size;
        if let Err(e) = self.admit(w, host, now) {
            return self.reply_error(Some(w), host, &e);
        }
        if !req.batch.is_empty() {
            return self.start_batch(w, host, req, exchange);
        }
        if w.config.mode.signs() {
            if let Err(e) = w.sign(&mut req, body, now) {
                return self.reply_error(Some(w), host, &e);
            }
        } else if !host.set_property(SIGN_PROPERTY, &req.sign_target.encode()) {
            // Set while the request is still paused, so the sign-mode filter of the cluster
            // finds it on every attempt.
            log::error!("bedrock-filter: cannot set property {SIGN_PROPERTY} (filter state)");
            let e = ApiError::internal(
                "translate mode needs the proxy's filter state to hand requests to the sign-mode \
                 filter, and this proxy refused it; use \"mode\": \"single\"",
            );
            return self.reply_error(Some(w), host, &e);
        }
        // Set while the request is still paused, so Envoy's route selection and the filters
        // after this one (rate limits, RBAC) see the identity headers.
        let client_headers = std::mem::take(&mut self.request_headers);
        let target = self.target.as_ref();
        let who = self.identity();
        let identity = [
            (MODEL_HEADER, target.map_or("", |t| t.model.as_str())),
            (MODEL_ID_HEADER, target.map_or("", |t| t.model_id.as_str())),
            (CALLER_HEADER, who.name()),
        ];
        let rewritten = rewrite_request_headers(&client_headers, &req, &identity);
        if !host.set_request_headers(&rewritten) {
            let e = ApiError::internal("the proxy refused the rewritten request headers");
            return self.reply_error(Some(w), host, &e);
        }
        if let Some(new_body) = &req.body
            && !host.set_request_body(body_size, new_body)
        {
            let e = ApiError::internal("the proxy refused the rewritten request body");
            return self.reply_error(Some(w), host, &e);
        }
        self.state = State::Response(exchange);
        Flow::Continue
    }

    /// Send a batch's calls; the request waits for their answers and is answered locally.
    fn start_batch(
        &mut self,
        w: &mut Worker,
        host: &mut dyn Host,
        mut req: UpstreamRequest,
        exchange: Exchange,
    ) -> Flow {
        if !w.config.mode.signs() {
            let e = ApiError::invalid(
                "input",
                "this model embeds one input per call, and a batch needs calls the gateway \
                 signs itself, which it cannot in \"mode\": \"translate\": send one input per \
                 request, or use \"mode\": \"single\"",
            );
            return self.reply_error(Some(w), host, &e);
        }
        let bodies = std::mem::take(&mut req.batch);
        let cluster = w
            .config
            .resolve_model(exchange.client_model())
            .ok()
            .and_then(|m| m.cluster)
            .unwrap_or_else(|| w.config.cluster.clone());
        let mut batch = Box::new(FanOut::new(req, bodies, exchange, cluster));
        if let Err(e) = batch.dispatch(w, host) {
            return self.reply_error(Some(w), host, &e);
        }
        self.state = State::Batch(batch);
        Flow::Pause
    }

    /// The answer of an HTTP call this request made arrived (`num_headers` 0: none came).
    pub fn on_http_call_response(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        token: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        let (State::Batch(batch), Some(w)) = (&mut self.state, w) else {
            return;
        };
        if !batch.owns(token) {
            return;
        }
        let headers = if num_headers > 0 {
            host.http_call_headers()
        } else {
            Vec::new()
        };
        let body = if body_size > 0 {
            host.http_call_body(body_size)
        } else {
            Vec::new()
        };
        let status = header_text(&headers, ":status").and_then(|s| s.parse::<u16>().ok());
        if status.is_some_and(|s| s >= 400) {
            w.metrics
                .upstream_error(host, header_text(&headers, "x-amzn-errortype"));
        }
        let Some(answer) = batch.on_answer(w, host, token, &headers, body) else {
            return;
        };
        if let Some(line) = &answer.failure {
            log::warn!("bedrock-filter: {line}");
        }
        self.state = State::Passthrough;
        self.send(host, &answer.response);
        let class = ResultClass::Status(answer.response.status);
        self.count(Some(w), host, class, answer.usage);
    }

    /// Bedrock's response headers arrived: plan the answer.
    pub fn on_response_headers(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Flow {
        if !matches!(self.state, State::Response(_)) {
            return Flow::Continue;
        }
        let mut w = w;
        let headers = host.response_headers();
        let get = |name: &str| header_text(&headers, name);
        let status = get(":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(502);
        if status == 429
            && (get("x-envoy-ratelimited").is_some() || get("x-amzn-errortype").is_none())
        {
            // Envoy's rate limit filters (after this one) refused the request: it never reached
            // Bedrock, whose throttling answers always name their error type. Answer in the
            // API's own shape.
            let e = envoy_rate_limited(get("x-ratelimit-reset"));
            // Envoy's own headers on its refusal (x-ratelimit-*, response_headers_to_add) stay.
            let kept = headers
                .iter()
                .filter(|(n, _)| {
                    !n.starts_with(':')
                        && !matches!(
                            n.as_str(),
                            "content-type" | "content-length" | "retry-after" | "date" | "server"
                        )
                })
                .filter_map(|(n, v)| Some((n.as_str(), String::from_utf8(v.clone()).ok()?)))
                .collect();
            return self.reply_error_with(w, host, &e, kept);
        }
        let State::Response(exchange) = &mut self.state else {
            return Flow::Continue;
        };
        let error_type = get("x-amzn-errortype");
        let plan = exchange.on_response_headers(&UpstreamHeaders {
            status,
            error_type,
            request_id: get("x-amzn-requestid"),
            input_tokens: get("x-amzn-bedrock-input-token-count"),
            output_tokens: get("x-amzn-bedrock-output-token-count"),
        });
        if status >= 400
            && let Some(w) = w.as_deref_mut()
        {
            w.metrics.upstream_error(host, error_type);
        }
        if plan == ResponsePlan::Passthrough {
            let usage = exchange.native_usage();
            // A field of its own, beside the exchange's: the same headers `rate_headers` gives.
            let rate = self
                .admission
                .as_ref()
                .map_or_else(Vec::new, Admission::headers);
            if !rate.is_empty() {
                let rate: Vec<(&str, &str)> = rate.iter().map(|(n, v)| (*n, v.as_str())).collect();
                host.set_response_headers(&rewrite_response_headers(&headers, &rate));
            }
            self.state = State::Passthrough;
            self.count(w, host, ResultClass::Status(status), usage);
            return Flow::Continue;
        }
        if end_of_stream {
            // No body callback will follow: answer now, with a local reply.
            let answer = exchange.finish_without_body(plan);
            if let Some(line) = &answer.failure {
                log::warn!("bedrock-filter: {line}");
            }
            self.state = State::Passthrough;
            self.send(host, &answer.response);
            self.count(w, host, ResultClass::Status(answer.response.status), None);
            return Flow::Pause;
        }
        match plan {
            ResponsePlan::Buffer | ResponsePlan::Passthrough => {
                // Rewritten with the translated answer once its body is complete.
                self.response_headers = headers;
                Flow::Pause
            }
            ResponsePlan::Stream => {
                let model = self.target.as_ref().map_or("unknown", |t| t.model.as_str());
                if let Some(w) = w {
                    w.metrics.stream_started(host, model);
                }
                // The body is replaced piece by piece: the upstream length no longer holds.
                let rate = self
                    .admission
                    .as_ref()
                    .map_or_else(Vec::new, Admission::headers);
                let mut set: Vec<(&str, &str)> = SSE_HEADERS.to_vec();
                set.extend(rate.iter().map(|(n, v)| (*n, v.as_str())));
                let rewritten = rewrite_response_headers(&headers, &set);
                host.set_response_headers(&rewritten);
                if let State::Response(exchange) =
                    std::mem::replace(&mut self.state, State::Passthrough)
                {
                    self.state = State::Streaming(exchange);
                }
                Flow::Continue
            }
        }
    }

    /// More of Bedrock's answer arrived: translate it (piece by piece for a stream, whole at
    /// its end otherwise).
    pub fn on_response_body(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        match &mut self.state {
            State::Streaming(exchange) => {
                let chunk = host.response_body(body_size);
                let mut out = Vec::with_capacity(chunk.len().saturating_mul(2));
                exchange.stream_chunk(&chunk, &mut out);
                if end_of_stream {
                    exchange.stream_end(&mut out);
                    let usage = exchange.stream_usage();
                    self.state = State::Passthrough;
                    self.count(w, host, ResultClass::Status(200), usage);
                }
                if !host.set_response_body(body_size, &out) {
                    log::error!("bedrock-filter: the proxy refused a translated stream chunk");
                }
                Flow::Continue
            }
            State::Response(exchange) => {
                if !end_of_stream {
                    return Flow::Pause;
                }
                let body = host.response_body(body_size);
                let answer = exchange.finish(&body);
                if let Some(line) = &answer.failure {
                    log::warn!("bedrock-filter: {line}");
                }
                self.state = State::Passthrough;
                let response = answer.response;
                // Before `count`, which charges the admission and lets it go.
                let rate = self.rate_headers();
                self.count(w, host, ResultClass::Status(response.status), answer.usage);
                let status = response.status.to_string();
                let length = response.body.len().to_string();
                let upstream = std::mem::take(&mut self.response_headers);
                let mut set = vec![
                    (":status", status.as_str()),
                    ("content-type", response.content_type),
                    ("content-length", length.as_str()),
                ];
                set.extend(rate.iter().map(|(n, v)| (*n, v.as_str())));
                let rewritten = rewrite_response_headers(&upstream, &set);
                host.set_response_headers(&rewritten);
                if !host.set_response_body(body_size, &response.body) {
                    log::error!("bedrock-filter: the proxy refused the translated response body");
                }
                Flow::Continue
            }
            State::Passthrough | State::Request(_) | State::Batch(_) => Flow::Continue,
        }
    }

    /// The exchange is over. Still waiting for (or translating) the upstream answer means the
    /// proxy reset it, timed it out or the client left: the translated paths log their own
    /// failures, this is the one line for the others.
    pub fn on_done(&mut self, w: Option<&mut Worker>, host: &mut dyn Host) {
        match &self.state {
            State::Response(exchange) => {
                log::warn!("bedrock-filter: {}", exchange.unfinished_log(false));
            }
            State::Streaming(exchange) => {
                log::warn!("bedrock-filter: {}", exchange.unfinished_log(true));
                // The client left (or the proxy cut the stream): charge what was produced.
                let usage = exchange.abandoned_usage(self.request_bytes);
                self.state = State::Passthrough;
                self.count(w, host, ResultClass::Status(200), Some(usage));
            }
            State::Batch(batch) => {
                log::warn!("bedrock-filter: {}", batch.unfinished_log());
            }
            State::Passthrough | State::Request(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::stream::testing::event;
    use crate::credentials::CredentialsProvider;
    use crate::pipeline::SignAttempt;
    use crate::pipeline::testing::{MemoryHost, keys, raw_caller, worker};
    use serde_json::{Value, json};

    const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    const CONFIG: &str = r#"{"region":"us-east-1","models":{"claude":{"id":"anthropic.claude-3-haiku-20240307-v1:0","pricing":{"input_per_1k":1,"output_per_1k":2}}}}"#;

    fn chat_host(body: &Value) -> MemoryHost {
        let mut host = MemoryHost::new(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "gateway.local"),
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-caller"),
        ]);
        host.request_body = serde_json::to_vec(body).unwrap();
        host
    }

    fn chat_body(model: &str, stream: bool) -> Value {
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
    }

    /// Headers, then the whole body: what the proxy does for a client's request.
    fn send_request(r: &mut RequestContext, w: &mut Worker, host: &mut MemoryHost) -> Flow {
        let headers = r.on_request_headers(Some(w), host, false);
        if headers != Flow::Pause || !host.replies.is_empty() {
            return headers;
        }
        let size = host.request_body.len();
        r.on_request_body(Some(w), host, size, true)
    }

    fn answer(host: &mut MemoryHost, status: &str, headers: &[(&str, &str)], body: &[u8]) {
        host.response_headers = crate::pipeline::testing::owned(&[(":status", status)]);
        host.response_headers
            .extend(crate::pipeline::testing::owned(headers));
        host.response_body = body.to_vec();
    }

    const CONVERSE_ANSWER: &[u8] = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":1000,"outputTokens":500},"metrics":{"latencyMs":1}}"#;

    #[test]
    fn a_chat_request_goes_up_signed_and_comes_back_translated() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let mut host = chat_host(&chat_body("claude", false));
        let mut r = RequestContext::new();
        assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Continue);
        assert_eq!(
            host.request_header(":path"),
            Some("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
        );
        assert_eq!(
            host.request_header(":authority"),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        let auth = host.request_header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert_eq!(host.request_header(MODEL_HEADER), Some("claude"));
        assert_eq!(host.request_header(MODEL_ID_HEADER), Some(CLAUDE));
        assert_eq!(host.request_header(CALLER_HEADER), Some("anonymous"));
        let sent: Value = serde_json::from_slice(&host.request_body).unwrap();
        assert_eq!(sent["messages"][0]["content"][0]["text"], "hi");

        answer(
            &mut host,
            "200",
            &[("x-amzn-requestid", "r-1")],
            CONVERSE_ANSWER,
        );
        assert_eq!(
            r.on_response_headers(Some(&mut w), &mut host, false),
            Flow::Pause
        );
        let size = host.response_body.len();
        let flow = r.on_response_body(Some(&mut w), &mut host, size, true);
        assert_eq!(flow, Flow::Continue);
        let out: Value = serde_json::from_slice(&host.response_body).unwrap();
        assert_eq!(out["id"], "chatcmpl-r-1");
        assert_eq!(out["model"], "claude");
        assert_eq!(out["choices"][0]["message"]["content"], "hello");
        assert_eq!(
            host.response_header("content-length").map(str::to_string),
            Some(host.response_body.len().to_string())
        );
        assert_eq!(host.counter("requests.model.claude.result.2xx"), 1);
        assert_eq!(host.counter("tokens.model.claude.kind.output"), 500);
        // 1000 × $1/1k + 500 × $2/1k = $2.
        assert_eq!(host.counter("cost_micro_usd.model.claude"), 2_000_000);
        assert_eq!(host.properties["bedrock_input_tokens"], "1000");
        assert_eq!(host.properties["bedrock_model_id"], CLAUDE);
        r.on_done(Some(&mut w), &mut host);
    }

    /// One buffered chat request answered, through a worker configured with `json`.
    fn answered(json: &str, authorization: &str) -> MemoryHost {
        let mut w = worker(json, Some(keys(None)));
        let mut host = chat_host(&chat_body("claude", false));
        host.request_headers.retain(|(n, _)| n != "authorization");
        host.request_headers
            .push(("authorization".into(), authorization.as_bytes().to_vec()));
        let mut r = RequestContext::new();
        assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Continue);
        answer(&mut host, "200", &[], CONVERSE_ANSWER);
        r.on_response_headers(Some(&mut w), &mut host, false);
        let size = host.response_body.len();
        assert_eq!(
            r.on_response_body(Some(&mut w), &mut host, size, true),
            Flow::Continue
        );
        host
    }

    #[test]
    fn filter_state_and_caller_stats_only_where_configured() {
        // By default: the access-log filter state, no per-caller stats (no callers or limits).
        let host = answered(CONFIG, "Bearer sk-caller");
        let names: Vec<&str> = host.properties.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "bedrock_cache_read_tokens",
                "bedrock_cache_write_tokens",
                "bedrock_caller",
                "bedrock_cost_micro_usd",
                "bedrock_input_tokens",
                "bedrock_model",
                "bedrock_model_id",
                "bedrock_output_tokens",
                "bedrock_total_tokens",
            ]
        );
        assert!(host.counters.iter().all(|(n, _)| !n.starts_with("caller_")));
        assert_eq!(host.counter("requests.model.claude.result.2xx"), 1);

        // `"filter_state": false`: nothing published, the stats unchanged.
        let quiet = CONFIG.replacen('{', r#"{"filter_state":false,"#, 1);
        let host = answered(&quiet, "Bearer sk-caller");
        assert!(host.properties.is_empty(), "{:?}", host.properties);
        assert_eq!(host.counter("requests.model.claude.result.2xx"), 1);

        // With callers, each caller's stats.
        let caller = json!({
            "name": "team-a",
            "key_sha256": raw_caller("team-a", "sk-caller", &[]).key_sha256,
            "allowed_models": ["*"],
        });
        let with_callers = CONFIG.replacen('{', &format!(r#"{{"callers":[{caller}],"#), 1);
        let host = answered(&with_callers, "Bearer sk-caller");
        assert_eq!(host.counter("caller_requests.caller.team-a"), 1);
        assert_eq!(host.counter("caller_tokens.caller.team-a"), 1500);
        assert_eq!(host.properties["bedrock_caller"], "team-a");
    }

    #[test]
    fn a_caller_not_allowed_a_model_is_refused_before_anything_is_signed() {
        let json = CONFIG.replacen(
            "{",
            &format!(
                r#"{{"callers":[{}],"#,
                serde_json::to_string(&json!({
                    "name": "team-a",
                    "key_sha256": raw_caller("team-a", "sk-caller", &[]).key_sha256,
                    "allowed_models": ["nova*"]
                }))
                .unwrap()
            ),
            1,
        );
        // No credentials: had the request been signed first, the answer would be a 503.
        let mut w = worker(&json, None);
        let mut host = chat_host(&chat_body("claude", false));
        let mut r = RequestContext::new();
        assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Pause);
        let reply = &host.replies[0];
        assert_eq!(reply.status, 403, "{}", reply.json());
        assert_eq!(reply.json()["error"]["code"], "model_not_allowed");
        assert_eq!(
            host.calls,
            ["send_reply"],
            "nothing rewritten, nothing signed"
        );
        assert_eq!(
            host.request_header("authorization"),
            Some("Bearer sk-caller")
        );
        assert_eq!(host.properties["bedrock_caller"], "team-a");
        assert_eq!(host.properties["bedrock_model"], "claude");
        assert_eq!(host.counter("requests.model.claude.result.local_error"), 1);
        // The same caller's own model goes through (and then needs credentials).
        let mut host = chat_host(&chat_body("nova-pro", false));
        let mut r = RequestContext::new();
        send_request(&mut r, &mut w, &mut host);
        assert_eq!(host.replies[0].status, 503);
    }

    #[test]
    fn a_request_ending_in_trailers_is_refused_and_never_forwarded() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let mut host = chat_host(&chat_body("claude", false));
        let mut r = RequestContext::new();
        assert_eq!(
            r.on_request_headers(Some(&mut w), &mut host, false),
            Flow::Pause
        );
        let size = host.request_body.len();
        assert_eq!(
            r.on_request_body(Some(&mut w), &mut host, size, false),
            Flow::Pause
        );
        assert_eq!(r.on_request_trailers(Some(&mut w), &mut host), Flow::Pause);
        assert_eq!(host.replies[0].status, 400);
        assert!(
            host.replies[0].json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("trailers")
        );
        assert_eq!(host.calls, ["send_reply"]);
        // Trailers after a complete body are the proxy's business.
        let mut host = chat_host(&chat_body("claude", false));
        let mut r = RequestContext::new();
        send_request(&mut r, &mut w, &mut host);
        assert_eq!(
            r.on_request_trailers(Some(&mut w), &mut host),
            Flow::Continue
        );
    }

    #[test]
    fn a_local_reply_after_the_answer_started() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let mut host = chat_host(&chat_body("claude", false));
        let mut r = RequestContext::new();
        send_request(&mut r, &mut w, &mut host);
        // Bedrock answers with headers only: the filter answers the client itself.
        answer(
            &mut host,
            "403",
            &[(
                "x-amzn-errortype",
                "AccessDeniedException:http://internal.amazon.com/",
            )],
            b"",
        );
        assert_eq!(
            r.on_response_headers(Some(&mut w), &mut host, true),
            Flow::Pause
        );
        let reply = host.replies.last().unwrap();
        assert_eq!(reply.status, 403);
        assert_eq!(reply.json()["error"]["type"], "permission_error");
        assert_eq!(
            host.counter("upstream_errors.type.AccessDeniedException"),
            1
        );
        // The proxy sends that reply through the response callbacks: it passes untouched.
        let calls = host.calls.len();
        answer(
            &mut host,
            "403",
            &[("content-type", "application/json")],
            b"{}",
        );
        assert_eq!(
            r.on_response_headers(Some(&mut w), &mut host, false),
            Flow::Continue
        );
        assert_eq!(
            r.on_response_body(Some(&mut w), &mut host, 2, true),
            Flow::Continue
        );
        assert_eq!(host.calls.len(), calls, "nothing rewritten");
        assert_eq!(host.response_body, b"{}");
        r.on_done(Some(&mut w), &mut host);
    }

    fn frames(events: &[(&str, Value)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (event_type, payload) in events {
            event(event_type, payload.clone(), &mut out);
        }
        out
    }

    #[test]
    fn a_stream_is_translated_piece_by_piece_and_an_error_after_it_started_goes_in_band() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let mut host = chat_host(&chat_body("claude", true));
        let mut r = RequestContext::new();
        send_request(&mut r, &mut w, &mut host);
        assert!(
            host.request_header(":path")
                .unwrap()
                .ends_with("/converse-stream")
        );
        answer(&mut host, "200", &[("content-length", "999")], b"");
        assert_eq!(
            r.on_response_headers(Some(&mut w), &mut host, false),
            Flow::Continue
        );
        assert_eq!(
            host.response_header("content-type"),
            Some("text/event-stream")
        );
        assert_eq!(host.response_header("content-length"), None);
        assert_eq!(host.counter("streams.model.claude"), 1);
        let body = frames(&[
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "hel"}}),
            ),
        ]);
        let (first, rest) = body.split_at(body.len() / 2);
        let mut sse = Vec::new();
        for (piece, end) in [(first, false), (rest, false), (&b""[..], true)] {
            host.response_body = piece.to_vec();
            let flow = r.on_response_body(Some(&mut w), &mut host, piece.len(), end);
            assert_eq!(flow, Flow::Continue);
            sse.extend_from_slice(&host.response_body);
        }
        let sse = String::from_utf8(sse).unwrap();
        assert!(sse.contains(r#""content":"hel""#), "{sse}");
        // The stream ended before Bedrock's messageStop: an error event, no [DONE], no reply.
        assert!(
            sse.contains(r#"data: {"error""#) && !sse.contains("[DONE]"),
            "{sse}"
        );
        assert!(host.replies.is_empty());
        assert_eq!(host.counter("requests.model.claude.result.2xx"), 1);
    }

    #[test]
    fn native_requests_pass_through_with_usage_from_headers() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke";
        let mut host = MemoryHost::new(&[
            (":method", "POST"),
            (":path", path),
            ("content-type", "application/json"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=CLIENT/..."),
            ("x-amz-date", "20200101T000000Z"),
        ]);
        host.request_body = br#"{"messages":[]}"#.to_vec();
        let mut r = RequestContext::new();
        assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Continue);
        assert_eq!(host.request_header(":path"), Some(path));
        assert!(
            !host
                .request_header("authorization")
                .unwrap()
                .contains("CLIENT")
        );
        assert!(
            !host.calls.contains(&"set_request_body"),
            "the body is the client's"
        );
        answer(
            &mut host,
            "200",
            &[
                ("x-amzn-bedrock-input-token-count", "12"),
                ("x-amzn-bedrock-output-token-count", "7"),
            ],
            b"{}",
        );
        assert_eq!(
            r.on_response_headers(Some(&mut w), &mut host, false),
            Flow::Continue
        );
        assert_eq!(
            host.counter(&format!(
                "tokens.model.{}.kind.input",
                "anthropic_claude-3-haiku-20240307-v1_0"
            )),
            12
        );
        assert_eq!(host.properties["bedrock_output_tokens"], "7");
    }

    #[test]
    fn compressed_request_bodies_are_refused_in_the_apis_shape() {
        let mut w = worker(CONFIG, Some(keys(None)));
        for (path, check) in [
            ("/model/m/converse", "__type"),
            ("/v1/messages", "type"),
            ("/v1/chat/completions", "error"),
        ] {
            let mut host = MemoryHost::new(&[
                (":method", "POST"),
                (":path", path),
                ("content-encoding", "gzip"),
            ]);
            let mut r = RequestContext::new();
            assert_eq!(
                r.on_request_headers(Some(&mut w), &mut host, false),
                Flow::Pause
            );
            let reply = &host.replies[0];
            assert_eq!(reply.status, 415, "{path}");
            assert!(reply.json().get(check).is_some(), "{path}");
            assert!(
                reply.json().to_string().contains("content-encoding: gzip"),
                "{}",
                reply.json()
            );
        }
        let mut host = MemoryHost::new(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            ("content-encoding", "identity"),
        ]);
        let mut r = RequestContext::new();
        assert_eq!(
            r.on_request_headers(Some(&mut w), &mut host, false),
            Flow::Pause
        );
        assert!(host.replies.is_empty(), "identity is no encoding");
    }

    #[test]
    fn local_errors_come_in_the_shape_of_the_api() {
        let mut w = worker(CONFIG, Some(keys(None)));
        for (path, method, check) in [
            ("/model/m/invoke", "GET", "__type"),
            ("/v1/messages", "GET", "type"),
            ("/v1/chat/completions", "GET", "error"),
        ] {
            let mut host = MemoryHost::new(&[(":method", method), (":path", path)]);
            let mut r = RequestContext::new();
            assert_eq!(
                r.on_request_headers(Some(&mut w), &mut host, true),
                Flow::Pause
            );
            let reply = &host.replies[0];
            assert_eq!(reply.status, 405, "{path}");
            let allow = reply.headers.iter().find(|(n, _)| n == "allow");
            assert_eq!(allow.map(|(_, v)| v.as_str()), Some("POST"), "{path}");
            assert!(
                reply.json().get(check).is_some(),
                "{path}: {}",
                reply.json()
            );
        }
        let mut host = MemoryHost::new(&[
            (":method", "POST"),
            (":path", "/model/m/invoke"),
            ("content-length", "999999999999"),
        ]);
        let mut r = RequestContext::new();
        r.on_request_headers(Some(&mut w), &mut host, false);
        let reply = &host.replies[0];
        assert_eq!(reply.status, 413);
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ValidationException")
        );
        // No worker (the configuration was refused): a 503 in the same shapes.
        let mut host = MemoryHost::new(&[(":method", "POST"), (":path", "/v1/messages")]);
        let mut r = RequestContext::new();
        assert_eq!(r.on_request_headers(None, &mut host, true), Flow::Pause);
        assert_eq!(host.replies[0].status, 503);
        assert_eq!(host.replies[0].json()["error"]["type"], "overloaded_error");
    }

    #[test]
    fn models_are_answered_locally() {
        let mut w = worker(CONFIG, None);
        let mut host = MemoryHost::new(&[(":method", "GET"), (":path", "/v1/models")]);
        let mut r = RequestContext::new();
        assert_eq!(
            r.on_request_headers(Some(&mut w), &mut host, true),
            Flow::Pause
        );
        assert_eq!(host.replies[0].status, 200);
        assert_eq!(host.replies[0].json()["data"][0]["id"], "claude");
    }

    #[test]
    fn translate_mode_hands_the_request_to_the_sign_mode_filter() {
        let json = r#"{"region":"us-east-1","models":{"claude":{"id":"us.anthropic.claude-3-5-haiku-20241022-v1:0","region_ids":{"eu-west-1":"eu.anthropic.claude-3-5-haiku-20241022-v1:0"}}}}"#;
        let mut translate = worker(&json.replacen('{', r#"{"mode":"translate","#, 1), None);
        let mut host = chat_host(&chat_body("claude", false));
        let mut r = RequestContext::new();
        assert_eq!(
            send_request(&mut r, &mut translate, &mut host),
            Flow::Continue
        );
        assert_eq!(host.request_header("authorization"), None, "unsigned");
        assert_eq!(host.properties[SIGN_PROPERTY], "model converse claude");
        // The cluster's sign-mode filter signs each attempt for the region Envoy picked.
        let mut sign = Worker::with_provider(
            crate::pipeline::testing::config(&json.replacen('{', r#"{"mode":"sign","#, 1)),
            CredentialsProvider::fixed(Some(keys(None))),
        );
        host.properties.insert(
            "xds.upstream_host_metadata.filter_metadata.bedrock.region".into(),
            "eu-west-1".into(),
        );
        let mut a = SignAttempt::new();
        assert_eq!(
            a.on_request_headers(Some(&mut sign), &mut host, false),
            Flow::Pause
        );
        let size = host.request_body.len();
        assert_eq!(
            a.on_request_body(Some(&mut sign), &mut host, size, true),
            Flow::Continue
        );
        assert_eq!(
            host.request_header(":path"),
            Some("/model/eu.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse")
        );
        assert!(
            host.request_header("authorization")
                .unwrap()
                .contains("/eu-west-1/bedrock/aws4_request")
        );
        // Without the translate-mode filter's word, an attempt is refused, never sent unsigned.
        let mut bare = MemoryHost::new(&[(":method", "POST"), (":path", "/model/x/converse")]);
        let mut a = SignAttempt::new();
        assert_eq!(
            a.on_request_headers(Some(&mut sign), &mut bare, true),
            Flow::Pause
        );
        assert_eq!(bare.replies[0].status, 500);
    }

    fn embeddings_host(inputs: usize) -> MemoryHost {
        let mut host = MemoryHost::new(&[
            (":method", "POST"),
            (":path", "/v1/embeddings"),
            ("content-type", "application/json"),
        ]);
        let input: Vec<String> = (0..inputs).map(|i| format!("text {i}")).collect();
        host.request_body =
            serde_json::to_vec(&json!({"model": "amazon.titan-embed-text-v2:0", "input": input}))
                .unwrap();
        host
    }

    /// Deliver the answer of call `token` (1-based, in dispatch order).
    fn answer_call(
        r: &mut RequestContext,
        w: &mut Worker,
        host: &mut MemoryHost,
        token: u32,
        status: &str,
        body: &[u8],
    ) {
        let mut headers = crate::pipeline::testing::owned(&[(":status", status)]);
        if status == "429" {
            headers.push(("x-amzn-errortype".into(), b"ThrottlingException".to_vec()));
        }
        host.http_answer = Some((headers, body.to_vec()));
        r.on_http_call_response(Some(w), host, token, 1, body.len());
    }

    #[test]
    fn a_titan_batch_becomes_one_call_per_input_answered_in_order() {
        let mut w = worker(r#"{"region":"us-east-1"}"#, Some(keys(None)));
        let mut host = embeddings_host(10);
        let mut r = RequestContext::new();
        assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Pause);
        assert_eq!(host.http_calls.len(), 8, "at most 8 in flight");
        let (cluster, headers, body) = &host.http_calls[0];
        assert_eq!(cluster, "bedrock");
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get(":path"),
            Some("/model/amazon.titan-embed-text-v2%3A0/invoke")
        );
        assert!(
            get("authorization")
                .unwrap()
                .starts_with("AWS4-HMAC-SHA256")
        );
        assert_eq!(
            get("content-length").map(str::to_string),
            Some(body.len().to_string())
        );
        assert_eq!(
            body.as_slice(),
            br#"{"inputText":"text 0","normalize":true}"#
        );
        // Answers arrive out of order; each one lets the next call out.
        for token in [2u32, 1, 3, 4, 5, 6, 7, 8, 9, 10] {
            let i = token - 1;
            let answer = format!(r#"{{"embedding":[{i}.5],"inputTextTokenCount":2}}"#);
            answer_call(&mut r, &mut w, &mut host, token, "200", answer.as_bytes());
        }
        assert_eq!(host.http_calls.len(), 10);
        let reply = &host.replies[0];
        assert_eq!(reply.status, 200);
        let v = reply.json();
        let firsts: Vec<f64> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["embedding"][0].as_f64().unwrap())
            .collect();
        assert_eq!(
            firsts,
            (0..10).map(|i| f64::from(i) + 0.5).collect::<Vec<_>>()
        );
        assert_eq!(v["usage"]["prompt_tokens"], 20, "token counts summed");
        assert_eq!(
            host.calls,
            ["send_reply"],
            "the request itself never went upstream"
        );
    }

    #[test]
    fn a_failed_part_fails_the_batch_with_its_error() {
        let mut w = worker(r#"{"region":"us-east-1"}"#, Some(keys(None)));
        let mut host = embeddings_host(10);
        let mut r = RequestContext::new();
        send_request(&mut r, &mut w, &mut host);
        answer_call(&mut r, &mut w, &mut host, 1, "200", br#"{"embedding":[1]}"#);
        answer_call(
            &mut r,
            &mut w,
            &mut host,
            2,
            "429",
            br#"{"message":"slow down"}"#,
        );
        assert_eq!(host.http_calls.len(), 9, "no new call after a failure");
        assert!(
            host.replies.is_empty(),
            "the calls in flight are waited for"
        );
        for token in 3..=9 {
            answer_call(
                &mut r,
                &mut w,
                &mut host,
                token,
                "200",
                br#"{"embedding":[1]}"#,
            );
        }
        let reply = &host.replies[0];
        assert_eq!(reply.status, 429);
        assert_eq!(reply.json()["error"]["message"], "slow down");
        assert_eq!(host.counter("upstream_errors.type.ThrottlingException"), 1);
        // A call that never answers (reset, timeout) is a failure too.
        let mut host = embeddings_host(2);
        let mut r = RequestContext::new();
        send_request(&mut r, &mut w, &mut host);
        r.on_http_call_response(Some(&mut w), &mut host, 1, 0, 0);
        answer_call(&mut r, &mut w, &mut host, 2, "200", br#"{"embedding":[1]}"#);
        assert_eq!(host.replies[0].status, 503);
        // Translate mode signs nothing itself: a batch is refused, clearly.
        let mut t = worker(r#"{"mode":"translate","region":"us-east-1"}"#, None);
        let mut host = embeddings_host(2);
        let mut r = RequestContext::new();
        send_request(&mut r, &mut t, &mut host);
        assert_eq!(host.replies[0].status, 400);
        assert_eq!(host.replies[0].json()["error"]["param"], "input");
    }

    #[test]
    fn the_anthropic_beta_header_reaches_bedrock_as_the_body_field_bedrock_knows() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let mut host = MemoryHost::new(&[
            (":method", "POST"),
            (":path", "/v1/messages"),
            ("content-type", "application/json"),
            (
                "anthropic-beta",
                "context-management-2025-06-27, claude-code-20250219",
            ),
        ]);
        let body = json!({"model": "claude", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]});
        host.request_body = serde_json::to_vec(&body).unwrap();
        let mut r = RequestContext::new();
        assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Continue);
        let sent: Value = serde_json::from_slice(&host.request_body).unwrap();
        assert_eq!(
            sent["anthropic_beta"],
            json!(["context-management-2025-06-27"])
        );
        assert_eq!(host.request_header("anthropic-beta"), None);
    }

    fn responses_host(body: &Value) -> MemoryHost {
        let mut host = MemoryHost::new(&[
            (":method", "POST"),
            (":path", "/v1/responses"),
            ("content-type", "application/json"),
        ]);
        host.request_body = serde_json::to_vec(body).unwrap();
        host
    }

    #[test]
    fn a_responses_request_goes_to_converse_and_comes_back_a_response_object() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let body = json!({"model": "claude", "instructions": "be brief", "input": "hi",
            "max_output_tokens": 50, "store": false});
        let mut host = responses_host(&body);
        let mut r = RequestContext::new();
        assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Continue);
        assert_eq!(
            host.request_header(":path"),
            Some("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
        );
        let sent: Value = serde_json::from_slice(&host.request_body).unwrap();
        assert_eq!(sent["system"][0]["text"], "be brief");
        assert_eq!(sent["messages"][0]["content"][0]["text"], "hi");
        assert_eq!(sent["inferenceConfig"]["maxTokens"], 50);
        answer(
            &mut host,
            "200",
            &[("x-amzn-requestid", "r-9")],
            CONVERSE_ANSWER,
        );
        r.on_response_headers(Some(&mut w), &mut host, false);
        let size = host.response_body.len();
        r.on_response_body(Some(&mut w), &mut host, size, true);
        let out: Value = serde_json::from_slice(&host.response_body).unwrap();
        assert_eq!(out["id"], "resp_r-9");
        assert_eq!(out["object"], "response");
        assert_eq!(out["status"], "completed");
        assert_eq!(out["model"], "claude");
        assert_eq!(out["output"][0]["content"][0]["text"], "hello");
        assert_eq!(out["usage"]["input_tokens"], 1000);
        assert_eq!(host.counter("tokens.model.claude.kind.output"), 500);
    }

    #[test]
    fn a_streamed_response_is_the_responses_event_sequence() {
        let mut w = worker(CONFIG, Some(keys(None)));
        let body = json!({"model": "claude", "input": "hi", "stream": true});
        let mut host = responses_host(&body);
        let mut r = RequestContext::new();
        send_request(&mut r, &mut w, &mut host);
        assert!(
            host.request_header(":path")
                .unwrap()
                .ends_with("/converse-stream")
        );
        answer(&mut host, "200", &[], b"");
        assert_eq!(
            r.on_response_headers(Some(&mut w), &mut host, false),
            Flow::Continue
        );
        host.response_body = frames(&[
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "hello"}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 0})),
            ("messageStop", json!({"stopReason": "end_turn"})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 3, "outputTokens": 1}, "metrics": {"latencyMs": 1}}),
            ),
        ]);
        let size = host.response_body.len();
        r.on_response_body(Some(&mut w), &mut host, size, true);
        let sse = String::from_utf8(host.response_body.clone()).unwrap();
        let events: Vec<&str> = sse
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(events.first(), Some(&"response.created"));
        assert!(events.contains(&"response.output_text.delta"), "{sse}");
        assert_eq!(events.last(), Some(&"response.completed"), "{sse}");
        assert_eq!(host.counter("tokens.model.claude.kind.input"), 3);
    }

    #[test]
    fn a_titan_batch_goes_through_its_models_cluster() {
        let config = r#"{"region":"us-east-1","cluster":"bedrock-us","models":{
            "embed-eu":{"id":"amazon.titan-embed-text-v2:0","region":"eu-west-1",
                        "cluster":"bedrock-eu-west-1"}}}"#;
        let mut w = worker(config, Some(keys(None)));
        for (model, cluster, authority) in [
            (
                "embed-eu",
                "bedrock-eu-west-1",
                "bedrock-runtime.eu-west-1.amazonaws.com",
            ),
            (
                "amazon.titan-embed-text-v2:0",
                "bedrock-us",
                "bedrock-runtime.us-east-1.amazonaws.com",
            ),
        ] {
            let mut host = embeddings_host(2);
            host.request_body =
                serde_json::to_vec(&json!({"model": model, "input": ["a", "b"]})).unwrap();
            let mut r = RequestContext::new();
            assert_eq!(send_request(&mut r, &mut w, &mut host), Flow::Pause);
            let (called, headers, _) = &host.http_calls[0];
            assert_eq!(called, cluster);
            assert!(
                headers
                    .iter()
                    .any(|(n, v)| n == ":authority" && v == authority),
                "{headers:?}"
            );
        }
    }

    /// Flows under the caller's rate limits and budgets.
    mod limited {
        use super::*;
        use std::collections::BTreeMap;

        type Shared = BTreeMap<String, (Vec<u8>, u32)>;

        fn limited_worker(limits: &str) -> Worker {
            let callers = json!([raw_caller_json("team-a", "sk-caller")]);
            let json = format!(
                r#"{{"region":"us-east-1","callers":{callers},"limits":{limits},
                    "models":{{"claude":{{"id":"{CLAUDE}","pricing":{{"input_per_1k":1,"output_per_1k":2}}}}}}}}"#
            );
            worker(&json, Some(keys(None)))
        }

        fn raw_caller_json(name: &str, key: &str) -> Value {
            let c = raw_caller(name, key, &["*"]);
            json!({"name": c.name, "key_sha256": c.key_sha256, "allowed_models": ["*"]})
        }

        /// A request on `path` with `body`, the shared data carried from request to request.
        fn request(
            w: &mut Worker,
            shared: &mut Shared,
            path: &str,
            body: &Value,
        ) -> (RequestContext, MemoryHost) {
            let mut host = chat_host(body);
            host.request_headers.retain(|(n, _)| n != ":path");
            host.request_headers
                .push((":path".into(), path.as_bytes().to_vec()));
            host.shared = std::mem::take(shared);
            let mut r = RequestContext::new();
            send_request(&mut r, w, &mut host);
            (r, host)
        }

        fn reply_header<'a>(host: &'a MemoryHost, name: &str) -> Option<&'a str> {
            host.replies[0]
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        #[test]
        fn over_a_limit_is_refused_before_bedrock_in_the_shape_of_each_api() {
            let mut w = limited_worker(r#"[{"requests_per_minute":1}]"#);
            let mut shared = Shared::new();
            let (_, host) = request(
                &mut w,
                &mut shared,
                "/v1/chat/completions",
                &chat_body("claude", false),
            );
            assert!(host.replies.is_empty(), "the first request goes up");
            shared = host.shared;
            let messages = json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
            let native = format!("/model/{}/converse", CLAUDE.replace(':', "%3A"));
            for (path, body, check) in [
                ("/v1/chat/completions", chat_body("claude", false), "openai"),
                ("/v1/messages", messages, "anthropic"),
                (native.as_str(), json!({"messages": []}), "aws"),
            ] {
                let (_, host) = request(&mut w, &mut shared, path, &body);
                shared = host.shared.clone();
                let reply = &host.replies[0];
                assert_eq!(reply.status, 429, "{path}");
                assert_eq!(
                    host.calls,
                    ["send_reply"],
                    "nothing signed or rewritten: {path}"
                );
                let retry: u64 = reply_header(&host, "retry-after").unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry), "{retry}");
                assert_eq!(reply_header(&host, "x-ratelimit-limit-requests"), Some("1"));
                assert_eq!(
                    reply_header(&host, "x-ratelimit-remaining-requests"),
                    Some("0")
                );
                assert_eq!(
                    reply_header(&host, "x-ratelimit-reset-requests"),
                    Some(format!("{retry}s").as_str())
                );
                let body = reply.json();
                match check {
                    "openai" => {
                        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
                        assert_eq!(body["error"]["type"], "rate_limit_error");
                    }
                    "anthropic" => {
                        assert_eq!(body["type"], "error");
                        assert_eq!(body["error"]["type"], "rate_limit_error");
                    }
                    _ => {
                        assert_eq!(
                            reply_header(&host, "x-amzn-errortype"),
                            Some("ThrottlingException")
                        );
                        assert_eq!(body["__type"], "ThrottlingException");
                    }
                }
            }
        }

        #[test]
        fn every_answer_carries_the_headers_and_tokens_are_charged_when_it_is_complete() {
            let mut w = limited_worker(
                r#"[{"requests_per_minute":10,"tokens_per_minute":2000,"usd_per_day":100}]"#,
            );
            let mut shared = Shared::new();
            let (mut r, mut host) = request(
                &mut w,
                &mut shared,
                "/v1/chat/completions",
                &chat_body("claude", false),
            );
            answer(&mut host, "200", &[], CONVERSE_ANSWER);
            assert_eq!(
                r.on_response_headers(Some(&mut w), &mut host, false),
                Flow::Pause
            );
            let size = host.response_body.len();
            r.on_response_body(Some(&mut w), &mut host, size, true);
            assert_eq!(
                host.response_header("x-ratelimit-remaining-requests"),
                Some("9")
            );
            assert_eq!(
                host.response_header("x-ratelimit-limit-tokens"),
                Some("2000")
            );
            // Headers say where the caller stood when admitted; the answer's 1500 tokens are
            // charged once it is complete, and published for Envoy and the access log.
            assert_eq!(
                host.response_header("x-ratelimit-remaining-tokens"),
                Some("2000")
            );
            assert_eq!(host.properties["bedrock_total_tokens"], "1500");
            assert_eq!(host.properties["bedrock_cost_micro_usd"], "2000000");
            assert_eq!(host.counter("caller_tokens.caller.team-a"), 1500);
            assert_eq!(
                host.counter("caller_cost_micro_usd.caller.team-a"),
                2_000_000
            );
            assert_eq!(host.counter("caller_requests.caller.team-a"), 1);
            shared = host.shared;
            // A stream: headers with the SSE ones, charged at its end.
            let (mut r, mut host) = request(
                &mut w,
                &mut shared,
                "/v1/chat/completions",
                &chat_body("claude", true),
            );
            answer(&mut host, "200", &[], b"");
            r.on_response_headers(Some(&mut w), &mut host, false);
            assert_eq!(
                host.response_header("content-type"),
                Some("text/event-stream")
            );
            assert_eq!(
                host.response_header("x-ratelimit-remaining-tokens"),
                Some("500")
            );
            let body = frames(&[
                ("messageStart", json!({"role": "assistant"})),
                (
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": "hi"}}),
                ),
                ("contentBlockStop", json!({"contentBlockIndex": 0})),
                ("messageStop", json!({"stopReason": "end_turn"})),
                (
                    "metadata",
                    json!({"usage": {"inputTokens": 10, "outputTokens": 20}, "metrics": {"latencyMs": 1}}),
                ),
            ]);
            host.response_body = body.clone();
            r.on_response_body(Some(&mut w), &mut host, body.len(), true);
            assert_eq!(host.properties["bedrock_total_tokens"], "30");
            shared = host.shared;
            // 1530 of 2000: the next is admitted; an upstream error charges nothing.
            let (mut r, mut host) = request(
                &mut w,
                &mut shared,
                "/v1/chat/completions",
                &chat_body("claude", false),
            );
            answer(
                &mut host,
                "429",
                &[("x-amzn-errortype", "ThrottlingException")],
                br#"{"message":"slow down"}"#,
            );
            r.on_response_headers(Some(&mut w), &mut host, false);
            let size = host.response_body.len();
            r.on_response_body(Some(&mut w), &mut host, size, true);
            assert_eq!(
                host.response_header("x-ratelimit-remaining-tokens"),
                Some("470")
            );
            assert!(!host.properties.contains_key("bedrock_total_tokens"));
            shared = host.shared;
            let (_, host) = request(
                &mut w,
                &mut shared,
                "/v1/chat/completions",
                &chat_body("claude", false),
            );
            assert!(host.replies.is_empty(), "still under: 1530 < 2000");
        }

        #[test]
        fn an_abandoned_stream_is_charged_what_was_produced() {
            let mut w = limited_worker(r#"[{"tokens_per_day":100000}]"#);
            let mut shared = Shared::new();
            let client_body = chat_body("claude", true);
            // What the client sent (the body Bedrock gets is another).
            let request_bytes = serde_json::to_vec(&client_body).unwrap().len() as u64;
            let (mut r, mut host) =
                request(&mut w, &mut shared, "/v1/chat/completions", &client_body);
            answer(&mut host, "200", &[], b"");
            r.on_response_headers(Some(&mut w), &mut host, false);
            let body = frames(&[
                ("messageStart", json!({"role": "assistant"})),
                (
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": "a long answer"}}),
                ),
            ]);
            host.response_body = body.clone();
            r.on_response_body(Some(&mut w), &mut host, body.len(), false);
            // The client leaves: Bedrock's counts never came, so the estimate is charged.
            r.on_done(Some(&mut w), &mut host);
            let want = request_bytes / 4 + body.len() as u64 / 4;
            assert_eq!(host.properties["bedrock_total_tokens"], want.to_string());
            let key = w.config.limits.keys_of("team-a").remove(0);
            let now = host.now;
            let counts =
                crate::limits::counter::read(&mut host, &key, &crate::limits::admit::WINDOWS, now)
                    .unwrap();
            assert_eq!(counts[2], want, "tokens per day");
        }

        #[test]
        fn envoys_rate_limit_refusal_is_answered_in_the_apis_shape() {
            let mut w = worker(CONFIG, Some(keys(None)));
            let mut host = chat_host(&chat_body("claude", false));
            let mut r = RequestContext::new();
            send_request(&mut r, &mut w, &mut host);
            answer(
                &mut host,
                "429",
                &[
                    ("x-envoy-ratelimited", "true"),
                    ("x-ratelimit-reset", "17"),
                    ("x-ratelimit-scope", "team"),
                ],
                b"",
            );
            assert_eq!(
                r.on_response_headers(Some(&mut w), &mut host, true),
                Flow::Pause
            );
            let reply = &host.replies[0];
            assert_eq!(reply.status, 429);
            assert_eq!(reply.json()["error"]["code"], "rate_limit_exceeded");
            assert_eq!(reply_header(&host, "retry-after"), Some("17"));
            // Envoy's own headers stay; its content type does not.
            assert_eq!(reply_header(&host, "x-ratelimit-scope"), Some("team"));
            assert_eq!(reply_header(&host, "x-ratelimit-reset"), Some("17"));
            assert_eq!(
                reply_header(&host, "content-type"),
                Some("application/json")
            );
            assert!(!host.properties.contains_key("bedrock_total_tokens"));
            // local_ratelimit's bare 429 (no error type: not Bedrock's) is Envoy's refusal too.
            let mut host = chat_host(&chat_body("claude", false));
            let mut r = RequestContext::new();
            send_request(&mut r, &mut w, &mut host);
            answer(
                &mut host,
                "429",
                &[("content-type", "text/plain")],
                b"local_rate_limited",
            );
            r.on_response_headers(Some(&mut w), &mut host, false);
            assert_eq!(
                host.replies[0].json()["error"]["code"],
                "rate_limit_exceeded"
            );
            assert_eq!(reply_header(&host, "retry-after"), Some("1"));
        }

        #[test]
        fn limits_a_host_cannot_count_refuse_the_configuration() {
            let callers = json!([raw_caller_json("team-a", "k")]);
            let json = format!(
                r#"{{"region":"us-east-1","callers":{callers},"limits":[{{"requests_per_minute":5}}]}}"#
            );
            let env = |_: &str| None;
            let mut host = MemoryHost {
                no_shared_data: true,
                ..MemoryHost::default()
            };
            let errors = Worker::configure(&mut host, json.as_bytes(), &env)
                .err()
                .unwrap();
            assert_eq!(errors[0].field, "limits");
            assert!(errors[0].message.contains("shared data"));
            // With shared data, every counter exists once the worker is configured.
            let mut host = MemoryHost::default();
            assert!(Worker::configure(&mut host, json.as_bytes(), &env).is_ok());
            assert_eq!(
                host.shared.keys().collect::<Vec<_>>(),
                ["bedrock_limit|team-a|*"]
            );
        }
    }
}
