//! The proxy-wasm adapter: the only module that talks to the host.
//!
//! It moves headers and bodies between the host and [`crate::gateway`], and nothing else:
//! every decision (routing, translation, signing, error mapping) is made by the core. All host
//! calls go through [`host`], which turns failures into `Err` and logs them.

mod abi;
mod host;
mod sign;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

use crate::access::{self, Caller, Identity, Target};
use crate::config::{Config, Mode};
use crate::credentials::{self, CredentialSource, CredentialsProvider, Event};
use crate::error::{ApiError, ErrorType};
use crate::gateway::{
    self, ClientRequest, Endpoint, ErrorFormat, Exchange, Gateway, ResponsePlan, UpstreamHeaders,
};
use crate::metrics::{Metrics, ResultClass, Usage};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// How often the root context checks whether credentials are due for a refresh.
const CREDENTIALS_TICK: Duration = Duration::from_secs(1);

/// One per worker (VM): holds the validated configuration and the signing state.
#[derive(Default)]
struct Root {
    /// The metadata call in flight, if any: answers with another token are not ours.
    credentials_call: Option<u32>,
    gateway: Option<Rc<RefCell<Gateway>>>,
    /// Stat ids, defined on first use and shared by the worker's streams.
    metrics: Rc<RefCell<Metrics>>,
    mode: Mode,
}

impl Root {
    /// Make the credentials call that is due, if any (one at a time).
    fn fetch_credentials(&mut self) {
        let Some(gateway) = &self.gateway else {
            return;
        };
        let Ok(mut gw) = gateway.try_borrow_mut() else {
            return;
        };
        let now = host::now_unix_secs();
        if let Some(event) = gw.credentials.check(now) {
            if matches!(event, Event::Failed { .. }) {
                self.credentials_call = None;
            }
            log_event(&event);
        }
        let Some(request) = gw.credentials.poll(now) else {
            return;
        };
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let timeout = Duration::from_millis(request.timeout_ms);
        match host::dispatch_http_call(&request.cluster, &headers, timeout) {
            Ok(token) => self.credentials_call = Some(token),
            Err(why) => {
                let why = format!("{why}; is cluster {:?} defined?", request.cluster);
                log_event(&gw.credentials.on_dispatch_failed(now, &why));
            }
        }
    }
}

/// One log line per refresh or failure; none for the steps between.
fn log_event(event: &Event) {
    match event {
        Event::Refreshed { .. } => log::info!("bedrock-filter: {event}"),
        Event::Failed { .. } | Event::Expired { .. } => log::warn!("bedrock-filter: {event}"),
        Event::Continue | Event::Ignored => {}
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if self.credentials_call != Some(token_id) {
            return;
        }
        self.credentials_call = None;
        // No headers means no answer (reset, connection failure): the host has no map then.
        let status = if num_headers > 0 {
            host::http_call_status()
        } else {
            None
        };
        // One byte over the limit is enough for the provider to refuse an oversized answer.
        let body = if body_size > 0 {
            host::http_call_body(body_size.min(credentials::MAX_ANSWER_BYTES + 1))
        } else {
            Vec::new()
        };
        let event = match &self.gateway {
            Some(gateway) => match gateway.try_borrow_mut() {
                Ok(mut gw) => gw
                    .credentials
                    .on_response(status, &body, host::now_unix_secs()),
                Err(_) => Event::Ignored,
            },
            None => Event::Ignored,
        };
        log_event(&event);
        if event == Event::Continue {
            self.fetch_credentials();
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = host::plugin_configuration(plugin_configuration_size);
        let config = match Config::parse(&bytes, &env_var) {
            Ok(c) => c,
            Err(errors) => {
                for e in &errors {
                    log::error!("bedrock-filter configuration rejected: {e}");
                }
                return false;
            }
        };
        self.mode = config.mode;
        let source = if config.mode.signs() {
            config.credentials.clone()
        } else {
            // Translate mode never signs: the sign-mode filter holds the credentials.
            CredentialSource::None
        };
        match &source {
            CredentialSource::None if !config.mode.signs() => log::info!(
                "bedrock-filter: translate mode, region {}; requests are signed by the \
                 sign-mode filter of the cluster",
                config.region
            ),
            CredentialSource::None => log::warn!(
                "bedrock-filter: no AWS credentials in the environment or configuration; \
                 requests will fail with 503"
            ),
            other => log::info!(
                "bedrock-filter: region {}, endpoint {}, {}",
                config.region,
                config.endpoint.authority,
                other.describe()
            ),
        }
        self.metrics = Rc::new(RefCell::new(Metrics::new(config.metrics)));
        if let Some(warning) = credentials::token_file_warning(&source, &env_var) {
            log::warn!("bedrock-filter: {warning}");
        }
        let remote = source.is_remote();
        let provider = CredentialsProvider::new(source);
        self.gateway = Some(Rc::new(RefCell::new(Gateway::with_provider(
            config, provider,
        ))));
        self.credentials_call = None;
        if remote {
            host::set_tick_period(CREDENTIALS_TICK);
            // The first fetch now rather than a tick later: requests fail until it lands.
            self.fetch_credentials();
        }
        true
    }

    fn on_tick(&mut self) {
        self.fetch_credentials();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.mode == Mode::Sign {
            return Some(Box::new(sign::Attempt::new(self.gateway.clone())));
        }
        Some(Box::new(Stream {
            gateway: self.gateway.clone(),
            state: State::Passthrough,
            error_format: ErrorFormat::OpenAi,
            metrics: self.metrics.clone(),
            caller: None,
            target: None,
            path: String::new(),
            content_type: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

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
}

struct Stream {
    gateway: Option<Rc<RefCell<Gateway>>>,
    state: State,
    /// How local errors are written for this request (by its path).
    error_format: ErrorFormat,
    metrics: Rc<RefCell<Metrics>>,
    /// The authenticated caller; `None` when no callers are configured.
    caller: Option<Caller>,
    /// The model, once the request body named it.
    target: Option<Target>,
    /// What the request-headers callback read, kept for the body callback so each header
    /// crosses the host boundary once.
    path: String,
    content_type: Option<String>,
    /// The client's request headers, read once; rewritten in one host call when forwarded.
    request_headers: gateway::HeaderList,
    /// The upstream's response headers while its body is buffered, rewritten with the answer.
    response_headers: gateway::HeaderList,
}

impl Context for Stream {}

impl Stream {
    /// Answer the client directly with an OpenAI error and stop processing.
    fn reply_error(&mut self, e: &ApiError) -> Action {
        self.state = State::Passthrough;
        log::info!("bedrock-filter: {e}");
        let answer = gateway::error_response_in(self.error_format, e);
        host::send_response_with(
            answer.status,
            answer.content_type,
            e.retry_after,
            &answer.body,
        );
        self.count(ResultClass::LocalError, None);
        Action::Pause
    }

    /// Refuse a caller (401/403) in the error shape of the client on `path`.
    fn refuse(&mut self, path: &str, e: &ApiError) -> Action {
        self.state = State::Passthrough;
        log::info!("bedrock-filter: {e}");
        let answer = access::refusal(path, e);
        host::send_response(answer.status, answer.content_type, &answer.body);
        self.count(ResultClass::LocalError, None);
        Action::Pause
    }

    fn identity(&self) -> Identity<'_> {
        self.caller
            .as_ref()
            .map_or(Identity::Anonymous, Identity::Caller)
    }

    /// Who presents the request's key (`Ok(None)`: no callers configured, everyone is in).
    fn authenticate(
        &self,
        authorization: Option<&str>,
        api_key: Option<&str>,
    ) -> Result<Option<Caller>, ApiError> {
        let gateway = self.gateway.as_ref().ok_or_else(not_configured)?;
        let gw = gateway.try_borrow().map_err(|_| not_configured())?;
        if gw.config.callers.is_empty() {
            return Ok(None);
        }
        let key = access::presented_key(authorization, api_key);
        match gw.config.callers.authenticate(key)? {
            Identity::Caller(c) => Ok(Some(c.clone())),
            Identity::Anonymous => Ok(None),
        }
    }

    /// Count a finished request in the stats and put its tokens in the access-log properties.
    fn count(&self, class: ResultClass, usage: Option<Usage>) {
        let model = self.target.as_ref().map_or("unknown", |t| t.model.as_str());
        let pricing = self.target.as_ref().and_then(|t| t.pricing.as_ref());
        if let Ok(mut m) = self.metrics.try_borrow_mut() {
            m.request(
                &mut host::HostCounters,
                model,
                class,
                usage.as_ref(),
                pricing,
            );
        }
        if let Some(u) = usage {
            for (kind, tokens) in u.kinds() {
                host::set_log_property(&format!("bedrock_{kind}_tokens"), &tokens.to_string());
            }
        }
    }

    fn max_request_bytes(&self) -> usize {
        self.gateway
            .as_ref()
            .and_then(|g| g.try_borrow().ok().map(|g| g.config.max_request_bytes))
            .unwrap_or(crate::config::DEFAULT_MAX_REQUEST_BYTES)
    }

    /// Translate and sign the complete body, then rewrite the request in place.
    fn forward(&mut self, endpoint: Endpoint, body: &[u8], body_size: usize) -> Action {
        let Some(gateway) = self.gateway.clone() else {
            return self.reply_error(&not_configured());
        };
        let Ok(mut gw) = gateway.try_borrow_mut() else {
            return self.reply_error(&not_configured());
        };
        let path = std::mem::take(&mut self.path);
        let content_type = self.content_type.take();
        let client = ClientRequest {
            path: &path,
            content_type: content_type.as_deref(),
            body,
        };
        let prepared = gw.prepare(endpoint, &client, host::now_unix_secs());
        let (req, exchange) = match prepared {
            Ok(p) => p,
            Err(e) => {
                drop(gw);
                return self.reply_error(&e);
            }
        };
        let target = access::target(&gw.config, exchange.client_model(), &path, &req.region);
        let allowed = self.identity().may_use(&gw.config, &target);
        let translate_only = gw.config.mode == Mode::Translate;
        drop(gw);
        // For the access log, refused requests included.
        host::set_log_property("bedrock_model", &target.model);
        host::set_log_property("bedrock_model_id", &target.model_id);
        let caller = self.identity().name().to_string();
        if !allowed {
            let e = access::model_not_allowed(&caller, &target.model);
            self.target = Some(target);
            return self.refuse(&path, &e);
        }
        // Set while the request is still paused, so Envoy's route selection and the filters
        // after this one (rate limits, RBAC) see the identity headers.
        if translate_only
            && !host::set_required_property(gateway::SIGN_PROPERTY, &req.sign_target.encode())
        {
            return self.reply_error(&ApiError::new(
                500,
                ErrorType::Api,
                "translate mode needs the proxy's filter state to hand requests to the sign-mode \
                 filter, and this proxy refused it; use \"mode\": \"single\"",
            ));
        }
        let client_headers = std::mem::take(&mut self.request_headers);
        let identity = access::identity_headers(&target, &caller);
        let rewritten = gateway::rewrite_request_headers(&client_headers, &req, &identity);
        let replaced = host::replace_request_headers(&rewritten);
        self.target = Some(target);
        if !replaced {
            return self.reply_error(&ApiError::new(
                500,
                ErrorType::Api,
                "the proxy refused the rewritten request headers",
            ));
        }
        if let Some(new_body) = &req.body
            && !host::replace_request_body(body_size, new_body)
        {
            return self.reply_error(&ApiError::new(
                500,
                ErrorType::Api,
                "the proxy refused the rewritten request body",
            ));
        }
        self.state = State::Response(exchange);
        Action::Continue
    }
}

pub(super) fn trailers_refused() -> ApiError {
    ApiError::invalid_request(
        "request trailers are not supported: the gateway translates and signs complete bodies; \
         send the request without trailers",
    )
}

pub(super) fn not_configured() -> ApiError {
    ApiError::new(503, ErrorType::Api, "bedrock-filter is not configured")
        .with_code("not_configured")
}

impl HttpContext for Stream {
    fn on_log(&mut self) {
        // Still waiting for (or translating) the upstream answer when the exchange is over:
        // Envoy reset it, timed it out or the client left. The translated paths log their own
        // failures; this is the one line for the others.
        match &self.state {
            State::Response(exchange) => {
                log::warn!("bedrock-filter: {}", exchange.unfinished_log(false));
            }
            State::Streaming(exchange) => {
                log::warn!("bedrock-filter: {}", exchange.unfinished_log(true));
            }
            _ => {}
        }
    }

    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let headers = host::request_headers();
        let get = |name: &str| gateway::header_text(&headers, name);
        let method = get(":method").unwrap_or_default().to_string();
        let path = get(":path").unwrap_or_default().to_string();
        self.content_type = get("content-type").map(str::to_string);
        let authenticated = self.authenticate(get("authorization"), get("x-api-key"));
        self.path.clone_from(&path);
        self.error_format = gateway::error_format(&path);
        match authenticated {
            Ok(caller) => self.caller = caller,
            Err(e) => return self.refuse(&path, &e),
        }
        host::set_log_property("bedrock_caller", self.identity().name());
        let endpoint = match gateway::route(&method, &path) {
            Ok(e) => e,
            Err(e) => return self.reply_error(&e),
        };
        if endpoint.is_local() {
            let Some(gateway) = &self.gateway else {
                return self.reply_error(&not_configured());
            };
            let Ok(gw) = gateway.try_borrow() else {
                return self.reply_error(&not_configured());
            };
            let identity = self.identity();
            let visible = |m: &crate::config::ModelConfig| identity.allows(&m.alias, &m.id);
            let answer = gw.answer_locally(&path, host::now_unix_secs(), &visible);
            drop(gw);
            host::send_response(answer.status, answer.content_type, &answer.body);
            return Action::Pause;
        }
        let limit = self.max_request_bytes();
        let declared = get("content-length").and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return self.reply_error(&gateway::request_too_large(limit));
        }
        self.request_headers = headers;
        if end_of_stream {
            // No body will follow, so the body callback never runs: translate the empty body now.
            return self.forward(endpoint, b"", 0);
        }
        self.state = State::Request(endpoint);
        // Hold the headers until the body is complete: they change with it.
        Action::Pause
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if matches!(self.state, State::Request(_)) {
            // The body never reached end of stream, so it was never translated or signed:
            // passing the request on would send the client's own request (and key) upstream.
            return self.reply_error(&trailers_refused());
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let State::Request(endpoint) = self.state else {
            return Action::Continue;
        };
        let limit = self.max_request_bytes();
        if body_size > limit {
            return self.reply_error(&gateway::request_too_large(limit));
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = host::request_body(body_size);
        self.forward(endpoint, &body, body_size)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let State::Response(exchange) = &mut self.state else {
            return Action::Continue;
        };
        let headers = host::response_headers();
        let get = |name: &str| gateway::header_text(&headers, name);
        let status = get(":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(502);
        let error_type = get("x-amzn-errortype");
        let input_tokens = get("x-amzn-bedrock-input-token-count");
        let plan = exchange.on_response_headers(&UpstreamHeaders {
            status,
            error_type,
            request_id: get("x-amzn-requestid"),
            input_tokens,
        });
        if status >= 400
            && let Ok(mut m) = self.metrics.try_borrow_mut()
        {
            m.upstream_error(&mut host::HostCounters, error_type);
        }
        if plan == ResponsePlan::Passthrough {
            self.state = State::Passthrough;
            // Native InvokeModel answers carry their token counts as headers (Converse ones
            // only in the body, which passes through unread).
            let usage = if status == 200 {
                let output = get("x-amzn-bedrock-output-token-count");
                crate::metrics::usage_from_headers(input_tokens, output)
            } else {
                None
            };
            self.count(ResultClass::Status(status), usage);
            return Action::Continue;
        }
        if end_of_stream {
            // No body callback will follow: answer now.
            let answer = exchange.finish_without_body(plan);
            if let Some(line) = exchange.failure_log(&answer) {
                log::warn!("bedrock-filter: {line}");
            }
            self.state = State::Passthrough;
            host::send_response(answer.status, answer.content_type, &answer.body);
            self.count(ResultClass::Status(answer.status), None);
            return Action::Pause;
        }
        match plan {
            ResponsePlan::Buffer | ResponsePlan::Passthrough => {
                // Rewritten with the translated answer once its body is complete.
                self.response_headers = headers;
                Action::Pause
            }
            ResponsePlan::Stream => {
                let model = self.target.as_ref().map_or("unknown", |t| t.model.as_str());
                if let Ok(mut m) = self.metrics.try_borrow_mut() {
                    m.stream_started(&mut host::HostCounters, model);
                }
                // The body is replaced piece by piece: the upstream length no longer holds.
                let rewritten = gateway::rewrite_response_headers(
                    &headers,
                    &[
                        ("content-type", "text/event-stream"),
                        ("cache-control", "no-cache"),
                    ],
                );
                host::replace_response_headers(&rewritten);
                if let State::Response(exchange) =
                    std::mem::replace(&mut self.state, State::Passthrough)
                {
                    self.state = State::Streaming(exchange);
                }
                Action::Continue
            }
        }
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match &mut self.state {
            State::Streaming(exchange) => {
                let chunk = host::response_body(body_size);
                let mut out = Vec::with_capacity(chunk.len().saturating_mul(2));
                exchange.stream_chunk(&chunk, &mut out);
                if end_of_stream {
                    exchange.stream_end(&mut out);
                    let usage = exchange.stream_usage();
                    self.state = State::Passthrough;
                    self.count(ResultClass::Status(200), usage);
                }
                if !host::replace_response_body(body_size, &out) {
                    log::error!("bedrock-filter: the proxy refused a translated stream chunk");
                }
                Action::Continue
            }
            State::Response(exchange) => {
                if !end_of_stream {
                    return Action::Pause;
                }
                let body = host::response_body(body_size);
                let (answer, usage) = exchange.finish_with_usage(&body);
                if let Some(line) = exchange.failure_log(&answer) {
                    log::warn!("bedrock-filter: {line}");
                }
                self.state = State::Passthrough;
                self.count(ResultClass::Status(answer.status), usage);
                let status = answer.status.to_string();
                let length = answer.body.len().to_string();
                let upstream = std::mem::take(&mut self.response_headers);
                let rewritten = gateway::rewrite_response_headers(
                    &upstream,
                    &[
                        (":status", &status),
                        ("content-type", answer.content_type),
                        ("content-length", &length),
                    ],
                );
                host::replace_response_headers(&rewritten);
                if !host::replace_response_body(body_size, &answer.body) {
                    log::error!("bedrock-filter: the proxy refused the translated response body");
                }
                Action::Continue
            }
            _ => Action::Continue,
        }
    }
}
