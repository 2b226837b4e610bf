//! The HTTP server: routing, recording, the Bedrock operations and the `/__sim/` control API.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::async_invoke::{self, AsyncStore};
use crate::auth::{AuthConfig, RequestParts, authenticate};
use crate::converse;
use crate::count_tokens;
use crate::errors::{AwsError, ErrorExtras, status_for_code};
use crate::guardrail;
use crate::invoke::{self, Embedding};
use crate::model_id::{
    Family, ModelInfo, Operation, Route, anthropic_model_name, check_model_id, parse_path, route,
};
use crate::reply::{Prompt, Reply, ToolCall, chunk_item};
use crate::rules;
use crate::script::{Behaviour, EventSpec, Kind, Queue, ReplySpec, parse_script};
use crate::stream::{
    ConnControl, RespBody, StreamItem, Transport, encode_items, full_body, make_body,
};
use crate::util::{now_unix, now_unix_ms, uuid_v4};

/// Bodies above this are refused (Bedrock's InvokeModel limit is 25,000,000 bytes).
const MAX_BODY: usize = 25_000_000;
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Shared simulator state.
pub struct State {
    pub auth: AuthConfig,
    requests: Mutex<Vec<Value>>,
    queue: Mutex<Queue>,
    async_invokes: Mutex<AsyncStore>,
    seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    pub fn new(auth: AuthConfig) -> State {
        State {
            auth,
            requests: Mutex::new(Vec::new()),
            queue: Mutex::new(Queue::default()),
            async_invokes: Mutex::new(AsyncStore::default()),
            seq: AtomicU64::new(1),
        }
    }
}

/// A response about to be sent.
struct Out {
    status: u16,
    headers: Vec<(String, String)>,
    segments: Vec<Vec<u8>>,
    transport: Transport,
}

impl Out {
    fn json(status: u16, v: &Value) -> Out {
        Out {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            segments: vec![v.to_string().into_bytes()],
            transport: Transport::default(),
        }
    }

    fn error(e: &AwsError) -> Out {
        let mut out = Out::json(e.status, &e.body_json());
        out.headers
            .push(("x-amzn-ErrorType".into(), e.error_type_header()));
        out.headers.extend(e.extra_headers().iter().cloned());
        out
    }

    fn frames(status: u16, frames: Vec<Vec<u8>>) -> Out {
        Out {
            status,
            headers: vec![("content-type".into(), EVENT_STREAM.into())],
            segments: frames,
            transport: Transport::default(),
        }
    }
}

fn build_response(out: Out, request_id: &str, conn: Arc<ConnControl>) -> Response<RespBody> {
    let body = make_body(out.segments, &out.transport, conn);
    let mut resp = Response::new(body);
    *resp.status_mut() =
        StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    let mut put = |name: &str, value: &str| match (
        hyper::header::HeaderName::from_bytes(name.as_bytes()),
        hyper::header::HeaderValue::from_str(value),
    ) {
        (Ok(n), Ok(v)) => {
            h.append(n, v);
        }
        _ => eprintln!("bedrock-sim: dropping invalid response header {name:?}: {value:?}"),
    };
    put("x-amzn-RequestId", request_id);
    for (n, v) in &out.headers {
        put(n, v);
    }
    resp
}

fn simple(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<RespBody> {
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

fn control_json(status: StatusCode, v: &Value) -> Response<RespBody> {
    simple(status, "application/json", v.to_string())
}

/// Entry point of every request.
pub async fn handle(
    state: Arc<State>,
    conn: Arc<ConnControl>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/__sim" || path.starts_with("/__sim/") {
        let method = req.method().as_str().to_owned();
        let resp = control(&state, req).await;
        eprintln!("{method} {path} -> {} (control)", resp.status().as_u16());
        return Ok(resp);
    }
    Ok(bedrock(&state, conn, req).await)
}

async fn control(state: &State, req: Request<Incoming>) -> Response<RespBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    match (method.as_str(), path.as_str()) {
        ("GET", "/__sim/health") => simple(StatusCode::OK, "text/plain", "ok"),
        ("GET", "/__sim/requests") => {
            let all = Value::Array(lock(&state.requests).clone());
            control_json(StatusCode::OK, &all)
        }
        ("DELETE", "/__sim/requests") => {
            let mut r = lock(&state.requests);
            let n = r.len();
            r.clear();
            control_json(StatusCode::OK, &json!({ "cleared": n }))
        }
        ("GET", "/__sim/script") => {
            let pending = lock(&state.queue).pending();
            control_json(StatusCode::OK, &json!({ "pending": pending }))
        }
        ("DELETE", "/__sim/script") => {
            let n = lock(&state.queue).clear();
            control_json(StatusCode::OK, &json!({ "cleared": n }))
        }
        ("POST", "/__sim/script") => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return control_json(
                        StatusCode::BAD_REQUEST,
                        &json!({ "error": format!("cannot read the script: {e}") }),
                    );
                }
            };
            let parsed = serde_json::from_slice::<Value>(&body)
                .map_err(|e| format!("the script is not JSON: {e}"))
                .and_then(|v| parse_script(&v));
            match parsed {
                Ok(items) => {
                    let added = items.len();
                    let queued = lock(&state.queue).push_all(items);
                    control_json(StatusCode::OK, &json!({ "added": added, "queued": queued }))
                }
                Err(e) => control_json(StatusCode::BAD_REQUEST, &json!({ "error": e })),
            }
        }
        _ => control_json(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no control endpoint {method} {path}") }),
        ),
    }
}

async fn bedrock(
    state: &State,
    conn: Arc<ConnControl>,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let start = Instant::now();
    let request_id = uuid_v4();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let headers: Vec<(String, Vec<u8>)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let body: Result<Bytes, String> = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string());
    let (body, body_error) = match body {
        Ok(b) => (b, None),
        Err(e) => (Bytes::new(), Some(e)),
    };
    let route = route(&method, &path);
    let op = route.as_ref().map(|r| r.op);
    // The decoded {modelId} (whatever the method), or StartAsyncInvoke's body modelId:
    // recorded, and what `match.model_id` compares with.
    let model_id = match op {
        Some(Operation::StartAsyncInvoke) => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("modelId")?.as_str().map(str::to_owned)),
        _ => parse_path(&path).and_then(|r| r.model_id),
    };

    let auth = authenticate(
        &state.auth,
        &RequestParts {
            method: &method,
            path: &path,
            query: query.as_deref(),
            headers: &headers,
            body: &body,
            now: now_unix(),
        },
    );
    let (body_text, body_b64) = match std::str::from_utf8(&body) {
        Ok(s) => (Some(s.to_owned()), None),
        Err(_) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(&body)),
        ),
    };
    let seq = state.seq.fetch_add(1, Ordering::Relaxed);
    let record = json!({
        "seq": seq,
        "request_id": request_id,
        "method": method,
        "path": path,
        "query": query,
        "operation": op.map(Operation::as_str),
        "model_id": model_id,
        "headers": headers.iter().map(|(n, v)| json!([n, header_text(v)])).collect::<Vec<_>>(),
        "body": body_text,
        "body_base64": body_b64,
        "auth": auth.to_json(),
        "status": null,
    });
    let index = {
        let mut r = lock(&state.requests);
        r.push(record);
        r.len() - 1
    };

    let out = if let Some(e) = body_error {
        Out::error(&AwsError::validation(format!(
            "Request body could not be read: {e}"
        )))
    } else if let Some(e) = &auth.error {
        Out::error(e)
    } else {
        // ARNs the simulator makes are in the region the request was signed for.
        let region = auth
            .region
            .clone()
            .filter(|_| auth.mode == "sigv4")
            .or_else(|| state.auth.regions.first().cloned())
            .unwrap_or_else(|| "us-east-1".into());
        let req = BedrockRequest {
            route: route.as_ref(),
            model_id: model_id.as_deref(),
            query: query.as_deref(),
            body: &body,
            region: &region,
        };
        serve(state, &req, start).await
    };
    let status = out.status;
    {
        let mut r = lock(&state.requests);
        // A DELETE in between may have emptied the list; find the record by seq.
        let slot = match r.get_mut(index) {
            Some(rec) if rec.get("seq") == Some(&json!(seq)) => Some(rec),
            _ => r.iter_mut().find(|rec| rec.get("seq") == Some(&json!(seq))),
        };
        if let Some(rec) = slot
            && let Some(obj) = rec.as_object_mut()
        {
            obj.insert("status".into(), json!(status));
        }
    }
    let verdict = if auth.ok { "ok" } else { "REJECTED" };
    let path = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let reason = auth
        .reason
        .as_deref()
        .map(|r| format!(" ({})", r.lines().next().unwrap_or("")))
        .unwrap_or_default();
    eprintln!(
        "{method} {path} -> {status} auth={}:{verdict}{reason}",
        auth.mode
    );
    build_response(out, &request_id, conn)
}

/// What the request said, once validated.
enum Parsed {
    /// Converse / ConverseStream, or an Anthropic InvokeModel body.
    Chat(Prompt),
    Embedding(Embedding),
    /// A model the simulator has no default answer for (scripts still work).
    Unsupported,
    /// CountTokens: the input token count.
    Tokens(u64),
    /// A default answer ready to send (ApplyGuardrail, InvokeGuardrailChecks).
    Answer(Value),
    StartAsync(async_invoke::StartRequest),
    GetAsync(String),
    ListAsync(async_invoke::ListQuery),
}

/// An authenticated Bedrock request, as `serve` needs it.
struct BedrockRequest<'a> {
    route: Option<&'a Route>,
    /// What `match.model_id` compares with.
    model_id: Option<&'a str>,
    query: Option<&'a str>,
    body: &'a [u8],
    /// The region of the ARNs the answer makes.
    region: &'a str,
}

async fn serve(state: &State, req: &BedrockRequest<'_>, start: Instant) -> Out {
    let Some(route) = req.route else {
        return Out::error(&AwsError::unknown_operation());
    };
    let op = route.op;
    let (info, parsed) = match prepare(route, req.query, req.body) {
        Ok(p) => p,
        Err(e) => return Out::error(&e),
    };
    let behaviour = lock(&state.queue).take(Some(op), req.model_id);
    let behaviour = behaviour.unwrap_or_else(|| Behaviour {
        match_operation: None,
        match_model_id: None,
        stall_ms: 0,
        headers: Vec::new(),
        kind: Kind::Default,
        transport: Transport::default(),
        no_padding: false,
        corrupt_crc_at_event: None,
        source: Value::Null,
    });
    if behaviour.stall_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.stall_ms)).await;
    }
    let ctx = Answering {
        state,
        op,
        info: info.as_ref(),
        region: req.region,
        start,
    };
    let mut out = match respond(&ctx, &parsed, &behaviour) {
        Ok(o) => o,
        Err(e) => Out::error(&e),
    };
    out.headers.extend(behaviour.headers.iter().cloned());
    out.transport.overlay(&behaviour.transport);
    out
}

/// Validates what the operation takes: the model ID and body of the `/model/` operations,
/// the URI labels, body or query string of the others.
fn prepare(
    route: &Route,
    query: Option<&str>,
    body: &[u8],
) -> Result<(Option<ModelInfo>, Parsed), AwsError> {
    let op = route.op;
    match op {
        Operation::ApplyGuardrail => {
            let answer = guardrail::apply(
                route.label("guardrailIdentifier"),
                route.label("guardrailVersion"),
                body,
            )?;
            return Ok((None, Parsed::Answer(answer)));
        }
        Operation::InvokeGuardrailChecks => {
            return Ok((None, Parsed::Answer(guardrail::checks(body)?)));
        }
        Operation::StartAsyncInvoke => {
            return Ok((None, Parsed::StartAsync(async_invoke::parse_start(body)?)));
        }
        Operation::GetAsyncInvoke => {
            let arn = async_invoke::parse_arn(route.label("invocationArn"))?;
            return Ok((None, Parsed::GetAsync(arn)));
        }
        Operation::ListAsyncInvokes => {
            return Ok((None, Parsed::ListAsync(async_invoke::parse_list(query)?)));
        }
        _ => {}
    }
    let Some(model_id) = route.model_id.as_deref() else {
        return Err(AwsError::validation(
            "The provided model identifier is invalid.",
        ));
    };
    let info = check_model_id(model_id)?;
    let parsed = if op == Operation::CountTokens {
        match count_tokens::count(&info, body)? {
            Some(n) => Parsed::Tokens(n),
            None => Parsed::Unsupported,
        }
    } else {
        parse_body(op, &info, body)?
    };
    Ok((Some(info), parsed))
}

fn parse_body(op: Operation, info: &ModelInfo, body: &[u8]) -> Result<Parsed, AwsError> {
    if op.is_converse() {
        let stream = op == Operation::ConverseStream;
        let (v, prompt) = converse::validate_value(body, stream)?;
        rules::check_converse(info, &v)?;
        return Ok(Parsed::Chat(prompt));
    }
    let no_stream = || {
        AwsError::validation(format!(
            "The model {} does not support streaming with InvokeModelWithResponseStream.",
            info.id
        ))
    };
    match info.family {
        Family::Anthropic => invoke::anthropic_prompt_for(info, body).map(Parsed::Chat),
        Family::TitanEmbedV1 | Family::TitanEmbedV2 if op == Operation::InvokeStream => {
            Err(no_stream())
        }
        Family::CohereEmbed if op == Operation::InvokeStream => Err(no_stream()),
        Family::TitanEmbedV1 => invoke::titan_embed(body, false).map(Parsed::Embedding),
        Family::TitanEmbedV2 => invoke::titan_embed(body, true).map(Parsed::Embedding),
        Family::CohereEmbed => invoke::cohere_embed(body, &info.base).map(Parsed::Embedding),
        Family::Other => Ok(Parsed::Unsupported),
    }
}

fn scripted_reply(prompt: &Prompt, spec: &ReplySpec) -> Reply {
    let tools: Vec<ToolCall> = spec
        .tool_uses
        .iter()
        .map(|(id, name, input)| ToolCall {
            id: id.clone(),
            name: name.clone(),
            input: input.clone(),
        })
        .collect();
    let mut reply = match &spec.text {
        Some(t) => Reply::with_text(prompt, t, tools),
        None if tools.is_empty() => Reply::echo(prompt),
        None => Reply::with_text(prompt, "", tools),
    };
    if let Some(s) = &spec.stop_reason {
        reply.stop_reason = s.clone();
    }
    if let Some(n) = spec.input_tokens {
        reply.input_tokens = n;
    }
    if let Some(n) = spec.output_tokens {
        reply.output_tokens = n;
    }
    reply
}

fn invoke_headers(input: u64, output: Option<u64>, latency: u64) -> Vec<(String, String)> {
    let mut h = vec![
        (
            "X-Amzn-Bedrock-Input-Token-Count".to_owned(),
            input.to_string(),
        ),
        (
            "X-Amzn-Bedrock-Invocation-Latency".to_owned(),
            latency.to_string(),
        ),
    ];
    if let Some(o) = output {
        h.push((
            "X-Amzn-Bedrock-Output-Token-Count".to_owned(),
            o.to_string(),
        ));
    }
    h
}

/// The answer for a chat reply in the operation's format.
fn render_reply(
    op: Operation,
    model: &str,
    prompt: &Prompt,
    reply: &Reply,
    pad: bool,
    corrupt: Option<usize>,
    latency: u64,
) -> Result<Out, AwsError> {
    let encode = |items: &[StreamItem]| {
        encode_items(items, pad, corrupt)
            .map_err(|e| AwsError::new(500, "InternalServerException", e))
    };
    match op {
        Operation::Converse => Ok(Out::json(200, &reply.converse_json(prompt, latency))),
        Operation::ConverseStream => Ok(Out::frames(
            200,
            encode(&reply.converse_events(prompt, latency))?,
        )),
        Operation::Invoke => {
            let mut out = Out::json(
                200,
                &reply.anthropic_json(model, &invoke::anthropic_message_id()),
            );
            out.headers.extend(invoke_headers(
                reply.input_tokens,
                Some(reply.output_tokens),
                latency,
            ));
            Ok(out)
        }
        Operation::InvokeStream => {
            let items: Vec<StreamItem> = reply
                .anthropic_stream_events(model, &invoke::anthropic_message_id(), latency)
                .iter()
                .map(chunk_item)
                .collect();
            let mut out = Out::frames(200, encode(&items)?);
            out.headers.push((
                "X-Amzn-Bedrock-Content-Type".into(),
                "application/json".into(),
            ));
            Ok(out)
        }
        _ => Err(no_reply(op)),
    }
}

/// A `reply` behaviour taken by an operation without a model answer.
fn no_reply(op: Operation) -> AwsError {
    AwsError::new(
        500,
        "InternalServerException",
        format!(
            "bedrock-sim: a reply behaviour cannot answer {}; script json, raw or error",
            op.as_str()
        ),
    )
}

/// What answering needs besides the request and the behaviour.
struct Answering<'a> {
    state: &'a State,
    op: Operation,
    info: Option<&'a ModelInfo>,
    region: &'a str,
    start: Instant,
}

/// The default answer of the operations without a model reply.
fn default_answer(ctx: &Answering<'_>, parsed: &Parsed) -> Result<Out, AwsError> {
    let now = now_unix_ms();
    let answer = match parsed {
        Parsed::Tokens(n) => json!({ "inputTokens": n }),
        Parsed::Answer(v) => v.clone(),
        Parsed::StartAsync(req) => lock(&ctx.state.async_invokes).start(req, ctx.region, now)?,
        Parsed::GetAsync(arn) => lock(&ctx.state.async_invokes).get(arn, now)?,
        Parsed::ListAsync(q) => lock(&ctx.state.async_invokes).list(q, ctx.region),
        Parsed::Chat(_) | Parsed::Embedding(_) | Parsed::Unsupported => {
            return Err(AwsError::new(
                500,
                "InternalServerException",
                "bedrock-sim: no default answer",
            ));
        }
    };
    Ok(Out::json(200, &answer))
}

fn respond(ctx: &Answering<'_>, parsed: &Parsed, b: &Behaviour) -> Result<Out, AwsError> {
    let op = ctx.op;
    let latency = u64::try_from(ctx.start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let pad = !b.no_padding;
    let model = ctx
        .info
        .map(|i| anthropic_model_name(&i.base))
        .unwrap_or_default();
    let no_default = || {
        AwsError::validation(format!(
            "bedrock-sim has no default {} answer for model {}; script one with POST /__sim/script.",
            op.as_str(),
            ctx.info.map_or("", |i| i.id.as_str())
        ))
    };
    let default_prompt = Prompt::default();
    let prompt = match parsed {
        Parsed::Chat(p) => p,
        _ => &default_prompt,
    };
    match &b.kind {
        Kind::Default => match parsed {
            Parsed::Chat(p) => render_reply(
                op,
                &model,
                p,
                &Reply::echo(p),
                pad,
                b.corrupt_crc_at_event,
                latency,
            ),
            Parsed::Embedding(e) => {
                let mut out = Out::json(200, &e.body);
                out.headers
                    .extend(invoke_headers(e.input_tokens, None, latency));
                Ok(out)
            }
            Parsed::Unsupported => Err(no_default()),
            _ => default_answer(ctx, parsed),
        },
        Kind::Reply(_) if !op.is_chat() => Err(no_reply(op)),
        Kind::Reply(spec) => {
            let reply = scripted_reply(prompt, spec);
            render_reply(
                op,
                &model,
                prompt,
                &reply,
                pad,
                b.corrupt_crc_at_event,
                latency,
            )
        }
        Kind::Error {
            status,
            code,
            message,
            headers,
            body,
        } => {
            let mut e = AwsError::new(
                status.unwrap_or_else(|| status_for_code(code)),
                code,
                message.clone(),
            );
            e.namespace = None;
            e.extras = Some(Box::new(ErrorExtras {
                headers: headers.clone(),
                body: body.clone(),
            }));
            Ok(Out::error(&e))
        }
        Kind::Json { status, body } => Ok(Out::json(*status, body)),
        Kind::Raw {
            status,
            content_type,
            body,
        } => Ok(Out {
            status: *status,
            headers: vec![(
                "content-type".into(),
                content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".into()),
            )],
            segments: vec![body.clone()],
            transport: Transport::default(),
        }),
        Kind::Events { status, items } => {
            let mut stream_items = Vec::new();
            for item in items {
                match item {
                    EventSpec::Event {
                        event_type,
                        payload,
                    } => stream_items.push(StreamItem::Event {
                        event_type: event_type.clone(),
                        payload: payload.clone(),
                    }),
                    EventSpec::Exception {
                        exception_type,
                        payload,
                    } => stream_items.push(StreamItem::Exception {
                        exception_type: exception_type.clone(),
                        payload: payload.clone(),
                    }),
                    EventSpec::ErrorFrame { code, message } => {
                        stream_items.push(StreamItem::ErrorFrame {
                            code: code.clone(),
                            message: message.clone(),
                        })
                    }
                    EventSpec::Chunk(native) => stream_items.push(chunk_item(native)),
                    EventSpec::RawHex(bytes) => stream_items.push(StreamItem::Raw(bytes.clone())),
                    EventSpec::Default => {
                        let reply = Reply::echo(prompt);
                        if op.is_converse() {
                            stream_items.extend(reply.converse_events(prompt, latency));
                        } else {
                            stream_items.extend(
                                reply
                                    .anthropic_stream_events(
                                        &model,
                                        &invoke::anthropic_message_id(),
                                        latency,
                                    )
                                    .iter()
                                    .map(chunk_item),
                            );
                        }
                    }
                }
            }
            let frames = encode_items(&stream_items, pad, b.corrupt_crc_at_event)
                .map_err(|e| AwsError::new(500, "InternalServerException", e))?;
            let mut out = Out::frames(*status, frames);
            if op == Operation::InvokeStream {
                out.headers.push((
                    "X-Amzn-Bedrock-Content-Type".into(),
                    "application/json".into(),
                ));
            }
            Ok(out)
        }
    }
}

/// Serves one connection. A duplicate of the socket is kept so that a scripted
/// `reset_after_bytes` can end the connection with a RST.
pub fn spawn_connection(stream: tokio::net::TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let (stream, dup) = match stream.into_std() {
        Ok(std) => {
            let dup = std.try_clone().ok();
            match tokio::net::TcpStream::from_std(std) {
                Ok(s) => (s, dup),
                Err(e) => {
                    eprintln!("bedrock-sim: cannot serve a connection: {e}");
                    return;
                }
            }
        }
        Err(e) => {
            eprintln!("bedrock-sim: cannot serve a connection: {e}");
            return;
        }
    };
    let conn = Arc::new(ConnControl::new(dup));
    tokio::spawn(async move {
        let svc = service_fn(move |req| handle(state.clone(), conn.clone(), req));
        // No header-read timeout: idle keep-alive connections (Envoy's upstream pool)
        // stay open until the client closes them, so a test never races a server close.
        if let Err(e) = http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(stream), svc)
            .await
        {
            let text = e.to_string();
            if !text.contains("scripted") {
                eprintln!("bedrock-sim: connection ended with an error: {text}");
            }
        }
    });
}

/// A header value as recorded: the text when it is UTF-8, else each byte outside ASCII as
/// `\xNN`, so tests can tell the bytes that arrived (obs-text) from a replacement character.
fn header_text(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) => s.to_string(),
        Err(_) => v
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    (b as char).to_string()
                } else {
                    format!("\\x{b:02x}")
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credential;
    use crate::script::parse_script;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start() -> (std::net::SocketAddr, Arc<State>) {
        let state = Arc::new(State::new(AuthConfig {
            regions: vec!["us-east-1".into()],
            credentials: vec![Credential::parse("AKID:secret").unwrap()],
            bearer_tokens: vec!["key-1".into()],
            max_skew_secs: 300,
            no_auth: false,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                spawn_connection(s, st.clone());
            }
        });
        (addr, state)
    }

    /// One HTTP/1.1 exchange; returns (status, lower-cased head, body).
    async fn call(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (u16, String, Vec<u8>) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let auth = auth
            .map(|a| format!("authorization: {a}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: sim\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let status = head[9..12].parse().unwrap();
        (status, head, raw[split + 4..].to_vec())
    }

    const CONVERSE: &str = "/model/anthropic.claude-3-haiku-20240307-v1:0/converse";
    const HELLO: &str = r#"{"messages":[{"role":"user","content":[{"text":"hello sim"}]}]}"#;

    #[tokio::test]
    async fn default_reply_and_recording() {
        let (addr, _) = start().await;
        let (status, head, body) = call(addr, "POST", CONVERSE, Some("Bearer key-1"), HELLO).await;
        assert_eq!(status, 200);
        assert!(head.contains("x-amzn-requestid: "));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["output"]["message"]["content"][0]["text"],
            "You said: hello sim"
        );
        assert_eq!(v["usage"]["totalTokens"], 6);

        let (status, _, body) = call(addr, "POST", CONVERSE, Some("Bearer sk-openai"), HELLO).await;
        assert_eq!(status, 403);
        assert!(String::from_utf8_lossy(&body).contains("API Key"));

        let (_, _, body) = call(addr, "GET", "/__sim/requests", None, "").await;
        let recs: Value = serde_json::from_slice(&body).unwrap();
        let recs = recs.as_array().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0]["operation"], "converse");
        assert_eq!(
            recs[0]["model_id"],
            "anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(recs[0]["status"], 200);
        assert_eq!(recs[0]["auth"]["mode"], "bearer");
        assert_eq!(recs[0]["body"], HELLO);
        assert_eq!(recs[1]["auth"]["ok"], false);
        assert_eq!(recs[1]["status"], 403);

        let (status, _, _) = call(addr, "DELETE", "/__sim/requests", None, "").await;
        assert_eq!(status, 200);
        let (_, _, body) = call(addr, "GET", "/__sim/requests", None, "").await;
        assert_eq!(body, b"[]");
    }

    #[tokio::test]
    async fn scripted_error_then_default() {
        let (addr, _) = start().await;
        let script = r#"[{"match": {"operation": "converse"}, "error": {"status": 429, "type": "ThrottlingException", "message": "slow", "headers": {"retry-after": "2"}}}]"#;
        let (status, _, _) = call(addr, "POST", "/__sim/script", None, script).await;
        assert_eq!(status, 200);
        let (status, head, body) = call(addr, "POST", CONVERSE, Some("Bearer key-1"), HELLO).await;
        assert_eq!(status, 429);
        assert!(
            head.contains("x-amzn-errortype: throttlingexception\r\n"),
            "{head}"
        );
        assert!(head.contains("retry-after: 2"));
        assert_eq!(body, br#"{"message":"slow"}"#);
        let (status, _, _) = call(addr, "POST", CONVERSE, Some("Bearer key-1"), HELLO).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn invalid_request_does_not_consume_the_script() {
        let (addr, state) = start().await;
        call(
            addr,
            "POST",
            "/__sim/script",
            None,
            r#"[{"json": {"ok": true}}]"#,
        )
        .await;
        let (status, head, _) = call(
            addr,
            "POST",
            CONVERSE,
            Some("Bearer key-1"),
            r#"{"messages": []}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert!(head.contains("x-amzn-errortype: validationexception:http://internal.amazon.com/coral/com.amazon.bedrock/"));
        assert_eq!(lock(&state.queue).pending().len(), 1);
        let (status, head, _) = call(
            addr,
            "POST",
            "/model/a.b/unknown-op",
            Some("Bearer key-1"),
            "{}",
        )
        .await;
        assert_eq!(status, 404);
        assert!(head.contains("unknownoperationexception"));
    }

    async fn json_call(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, String, Value) {
        let (status, head, body) = call(addr, method, path, Some("Bearer key-1"), body).await;
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, head, v)
    }

    fn encode_label(s: &str) -> String {
        s.replace(':', "%3A").replace('/', "%2F")
    }

    #[tokio::test]
    async fn count_tokens() {
        let (addr, state) = start().await;
        let path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/count-tokens";
        let converse = r#"{"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hello sim"}]}]}}}"#;
        let (status, _, v) = json_call(addr, "POST", path, converse).await;
        assert_eq!((status, v), (200, json!({"inputTokens": 2})));
        let native = base64::engine::general_purpose::STANDARD.encode(
            r#"{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "system": "be brief", "messages": [{"role": "user", "content": "one two three"}]}"#,
        );
        let body = json!({"input": {"invokeModel": {"body": native}}}).to_string();
        let (status, _, v) = json_call(addr, "POST", path, &body).await;
        assert_eq!((status, v), (200, json!({"inputTokens": 5})));
        let (status, head, _) = json_call(addr, "POST", path, r#"{"input": {}}"#).await;
        assert_eq!(status, 400);
        assert!(
            head.contains("x-amzn-errortype: validationexception:"),
            "{head}"
        );
        // A non-Anthropic InvokeModel body has no default count, but can be scripted.
        let nova = "/model/amazon.nova-lite-v1%3A0/count-tokens";
        let (status, _, v) = json_call(addr, "POST", nova, &body).await;
        assert_eq!(status, 400);
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("no default count-tokens answer"),
            "{v}"
        );
        lock(&state.queue).push_all(
            parse_script(
                &json!([{"match": {"operation": "count-tokens"}, "json": {"inputTokens": 42}}]),
            )
            .unwrap(),
        );
        let (status, _, v) = json_call(addr, "POST", nova, &body).await;
        assert_eq!((status, v), (200, json!({"inputTokens": 42})));
        let recs = lock(&state.requests).clone();
        assert_eq!(recs[0]["operation"], "count-tokens");
        assert_eq!(
            recs[0]["model_id"],
            "anthropic.claude-3-haiku-20240307-v1:0"
        );
    }

    #[tokio::test]
    async fn apply_guardrail_and_checks() {
        let (addr, state) = start().await;
        let path = "/guardrail/gr12ab34cd/version/2/apply";
        let (status, _, v) = json_call(
            addr,
            "POST",
            path,
            r#"{"source": "INPUT", "content": [{"text": {"text": "hello"}}]}"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!((&v["action"], &v["outputs"]), (&json!("NONE"), &json!([])));
        let (status, _, v) = json_call(
            addr,
            "POST",
            path,
            r#"{"source": "OUTPUT", "content": [{"text": {"text": "please BLOCKME"}}]}"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(v["action"], "GUARDRAIL_INTERVENED");
        assert_eq!(
            v["outputs"],
            json!([{"text": "Sorry, the model cannot answer this question."}])
        );
        let (status, _, v) = json_call(
            addr,
            "POST",
            "/guardrail/gr12ab34cd/version/v2/apply",
            r#"{"source": "INPUT", "content": []}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("'guardrailVersion'"),
            "{v}"
        );
        let (status, head, _) = json_call(addr, "GET", path, "").await;
        assert_eq!(status, 404);
        assert!(head.contains("unknownoperationexception"));
        let (status, _, v) = json_call(
            addr,
            "POST",
            "/guardrail-checks/invoke",
            r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "checks": {"promptAttack": {"categories": [{"category": "JAILBREAK"}]}}}"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            v,
            json!({"results": {"promptAttack": {"results": [{"category": "JAILBREAK", "severityScore": 0.0}]}},
                   "usage": {"promptAttack": {"textUnits": 1}}})
        );
        let recs = lock(&state.requests).clone();
        let ops: Vec<&Value> = recs.iter().map(|r| &r["operation"]).collect();
        assert_eq!(
            ops,
            [
                &json!("apply-guardrail"),
                &json!("apply-guardrail"),
                &json!("apply-guardrail"),
                &Value::Null,
                &json!("invoke-guardrail-checks")
            ]
        );
    }

    #[tokio::test]
    async fn async_invoke_lifecycle() {
        let (addr, state) = start().await;
        let start_body = |token: &str, text: &str| {
            json!({"clientRequestToken": token, "modelId": "amazon.nova-reel-v1:1",
                "modelInput": {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": text}},
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}}})
            .to_string()
        };
        let (status, _, v) =
            json_call(addr, "POST", "/async-invoke", &start_body("t1", "cat")).await;
        assert_eq!(status, 200);
        let arn = v["invocationArn"].as_str().unwrap().to_owned();
        assert!(arn.starts_with("arn:aws:bedrock:us-east-1:123456789012:async-invoke/"));
        let (_, _, again) =
            json_call(addr, "POST", "/async-invoke", &start_body("t1", "cat")).await;
        assert_eq!(again["invocationArn"], json!(arn));
        let (status, head, _) =
            json_call(addr, "POST", "/async-invoke", &start_body("t1", "dog")).await;
        assert_eq!(status, 400);
        assert!(
            head.contains("x-amzn-errortype: conflictexception:"),
            "{head}"
        );

        let get = format!("/async-invoke/{}", encode_label(&arn));
        let (status, _, v) = json_call(addr, "GET", &get, "").await;
        assert_eq!((status, &v["status"]), (200, &json!("InProgress")));
        let (_, _, v) = json_call(addr, "GET", &get, "").await;
        assert_eq!(v["status"], "Completed");
        assert!(v["endTime"].as_str().unwrap().ends_with('Z'));

        json_call(addr, "POST", "/async-invoke", &start_body("t2", "owl")).await;
        let (status, _, page) = json_call(addr, "GET", "/async-invoke?maxResults=1", "").await;
        assert_eq!(status, 200);
        assert_eq!(page["asyncInvokeSummaries"].as_array().unwrap().len(), 1);
        assert_eq!(page["asyncInvokeSummaries"][0]["clientRequestToken"], "t2");
        let token = page["nextToken"].as_str().unwrap();
        let (_, _, page) = json_call(
            addr,
            "GET",
            &format!("/async-invoke?maxResults=1&nextToken={token}"),
            "",
        )
        .await;
        assert_eq!(page["asyncInvokeSummaries"][0]["invocationArn"], json!(arn));
        assert!(page.get("nextToken").is_none());
        let (_, _, page) = json_call(addr, "GET", "/async-invoke?statusEquals=Completed", "").await;
        assert_eq!(page["asyncInvokeSummaries"].as_array().unwrap().len(), 1);

        let unknown = "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2F000000000000";
        let (status, head, v) = json_call(addr, "GET", unknown, "").await;
        assert_eq!(status, 400);
        assert!(
            head.contains("x-amzn-errortype: validationexception:"),
            "{head}"
        );
        assert!(
            v["message"].as_str().unwrap().contains("does not exist"),
            "{v}"
        );

        let recs = lock(&state.requests).clone();
        assert_eq!(recs[0]["operation"], "start-async-invoke");
        assert_eq!(recs[0]["model_id"], "amazon.nova-reel-v1:1");
        assert_eq!(recs[3]["operation"], "get-async-invoke");
        assert_eq!(recs[6]["operation"], "list-async-invokes");
        assert_eq!(recs[6]["query"], "maxResults=1");
    }

    #[tokio::test]
    async fn new_operations_take_scripts() {
        let (addr, state) = start().await;
        lock(&state.queue).push_all(
            parse_script(&json!([
                {"match": {"operation": "start-async-invoke", "model_id": "amazon.nova-reel-v1:1"},
                 "error": {"type": "ServiceQuotaExceededException", "message": "too many"}},
                {"match": {"operation": "list-async-invokes"}, "json": {"asyncInvokeSummaries": []}},
                {"reply": {"text": "x"}}
            ]))
            .unwrap(),
        );
        let body = r#"{"modelId": "amazon.nova-reel-v1:1", "modelInput": {}, "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}}}"#;
        let (status, head, _) = json_call(addr, "POST", "/async-invoke", body).await;
        assert_eq!(status, 400);
        assert!(head.contains("servicequotaexceededexception"), "{head}");
        let (status, _, v) = json_call(addr, "GET", "/async-invoke", "").await;
        assert_eq!((status, v), (200, json!({"asyncInvokeSummaries": []})));
        // A reply behaviour has no format for these operations.
        let (status, _, v) = json_call(
            addr,
            "POST",
            "/guardrail/gr1/version/DRAFT/apply",
            r#"{"source": "INPUT", "content": []}"#,
        )
        .await;
        assert_eq!(status, 500);
        assert!(
            v["message"].as_str().unwrap().contains("reply behaviour"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn bidirectional_stream_is_not_served() {
        let (addr, _) = start().await;
        let (status, head, _) = json_call(
            addr,
            "POST",
            "/model/amazon.nova-sonic-v1%3A0/invoke-with-bidirectional-stream",
            "",
        )
        .await;
        assert_eq!(status, 404);
        assert!(head.contains("unknownoperationexception"));
    }

    #[tokio::test]
    async fn family_rules_answer_400() {
        let (addr, _) = start().await;
        let body = r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}}}"#;
        let (status, head, v) = json_call(
            addr,
            "POST",
            "/model/amazon.nova-lite-v1%3A0/converse",
            body,
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            head.contains("x-amzn-errortype: validationexception:"),
            "{head}"
        );
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("extraneous key [thinking]"),
            "{v}"
        );
        let native = r#"{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "anthropic_beta": ["not-a-beta"], "messages": [{"role": "user", "content": "hi"}]}"#;
        let (status, _, v) = json_call(
            addr,
            "POST",
            "/model/anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke",
            native,
        )
        .await;
        assert_eq!((status, v), (400, json!({"message": "invalid beta flag"})));
    }

    #[tokio::test]
    async fn stream_frames() {
        let (addr, _) = start().await;
        let (status, head, body) = call(
            addr,
            "POST",
            "/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream",
            Some("Bearer key-1"),
            HELLO,
        )
        .await;
        assert_eq!(status, 200);
        assert!(head.contains("content-type: application/vnd.amazon.eventstream"));
        assert!(head.contains("transfer-encoding: chunked"));
        // De-chunk, then decode the frames.
        let mut data = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
            if n == 0 {
                break;
            }
            data.extend_from_slice(&rest[line_end + 2..line_end + 2 + n]);
            rest = &rest[line_end + 4 + n..];
        }
        let mut dec = bedrock_filter::eventstream::Decoder::new();
        dec.feed(&data);
        let mut types = Vec::new();
        while let Some(m) = dec.next_message().unwrap() {
            types.push(m.header_str(":event-type").unwrap().to_owned());
        }
        assert_eq!(
            types,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
    }
}
