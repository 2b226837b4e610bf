//! Requests answered from several Bedrock calls of the filter's own: Titan embeds one input per
//! InvokeModel call, so `input: [a, b, …]` becomes one signed call per input through the
//! configured cluster, at most [`MAX_IN_FLIGHT`] at a time, and the answers are put back
//! together in input order. The first failure ends the batch: no call is started after it,
//! and once the calls in flight are in, the client gets that error.

use std::time::Duration;

use super::exchange::{Answer, Exchange, UpstreamHeaders};
use super::host::Host;
use super::upstream::UpstreamRequest;
use super::worker::Worker;
use crate::error::ApiError;
use crate::http::{HeaderList, header_text};
use crate::translate::embeddings;

/// Calls of one request in flight at once: enough to hide Bedrock's latency, few enough not
/// to trip its per-account throttling with one client's batch.
pub const MAX_IN_FLIGHT: usize = 8;

/// How long one call may take before the batch fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// One answer in: its status, error type, token count and body.
struct Part {
    status: u16,
    error_type: Option<String>,
    input_tokens: Option<u64>,
    body: Vec<u8>,
}

/// A batch of calls for one client request.
pub struct FanOut {
    /// Path, method, region and headers every call shares (each adds its length and
    /// signature).
    template: UpstreamRequest,
    bodies: Vec<Vec<u8>>,
    answers: Vec<Option<Part>>,
    /// Calls in flight: token and input index.
    in_flight: Vec<(u32, usize)>,
    next: usize,
    failed: bool,
    exchange: Exchange,
    /// The Envoy cluster the calls go through: the model's, else the configuration's.
    cluster: String,
}

impl FanOut {
    /// A batch of `bodies`, sent like `template`, answered through `exchange`.
    pub fn new(
        template: UpstreamRequest,
        bodies: Vec<Vec<u8>>,
        exchange: Exchange,
        cluster: String,
    ) -> Self {
        let answers = bodies.iter().map(|_| None).collect();
        FanOut {
            template,
            bodies,
            answers,
            in_flight: Vec::with_capacity(MAX_IN_FLIGHT),
            next: 0,
            failed: false,
            exchange,
            cluster,
        }
    }

    /// Start calls until [`MAX_IN_FLIGHT`] are out or none is left. `Err`: a call could not
    /// be signed or dispatched (the batch is over).
    pub fn dispatch(&mut self, w: &mut Worker, host: &mut dyn Host) -> Result<(), ApiError> {
        while !self.failed && self.in_flight.len() < MAX_IN_FLIGHT {
            let index = self.next;
            let Some(body) = self.bodies.get(index) else {
                return Ok(());
            };
            let mut call = UpstreamRequest {
                method: self.template.method,
                path: self.template.path.clone(),
                body: None,
                batch: Vec::new(),
                region: self.template.region.clone(),
                headers: self.template.headers.clone(),
                sign_target: self.template.sign_target.clone(),
            };
            call.headers
                .push(("content-length", body.len().to_string()));
            let now = host.now_unix_secs();
            w.sign(&mut call, body, now)?;
            let mut headers: Vec<(&str, &str)> = Vec::with_capacity(call.headers.len() + 1);
            headers.push((":path", &call.path));
            headers.extend(call.headers.iter().map(|(n, v)| (*n, v.as_str())));
            let cluster = &self.cluster;
            let token = host
                .dispatch_http_call(cluster, &headers, Some(body), CALL_TIMEOUT)
                .map_err(|why| {
                    ApiError::internal(format!(
                        "cannot call Bedrock through cluster {cluster:?} ({why}): set `cluster` \
                         in the filter configuration (or the model's entry) to the Envoy cluster \
                         that reaches Bedrock"
                    ))
                })?;
            self.in_flight.push((token, index));
            self.next += 1;
        }
        Ok(())
    }

    /// Whether `token` is one of this batch's calls.
    pub fn owns(&self, token: u32) -> bool {
        self.in_flight.iter().any(|(t, _)| *t == token)
    }

    /// Record the answer of call `token` (`headers` empty: no answer at all, e.g. a reset or
    /// a timeout) and start the next calls. `Some`: the batch is over, with the client's
    /// answer.
    pub fn on_answer(
        &mut self,
        w: &mut Worker,
        host: &mut dyn Host,
        token: u32,
        headers: &HeaderList,
        body: Vec<u8>,
    ) -> Option<Answer> {
        let position = self.in_flight.iter().position(|(t, _)| *t == token)?;
        let (_, index) = self.in_flight.swap_remove(position);
        let get = |name: &str| header_text(headers, name);
        let part = Part {
            // No answer is what Envoy reports as 503 for its own failures.
            status: get(":status").and_then(|s| s.parse().ok()).unwrap_or(503),
            error_type: get("x-amzn-errortype").map(str::to_string),
            input_tokens: get("x-amzn-bedrock-input-token-count")
                .and_then(|t| t.trim().parse().ok()),
            body,
        };
        if part.status != 200 {
            self.failed = true;
        }
        if let Some(slot) = self.answers.get_mut(index) {
            *slot = Some(part);
        }
        if !self.failed
            && let Err(e) = self.dispatch(w, host)
        {
            self.failed = true;
            if self.in_flight.is_empty() {
                return Some(self.exchange.local_error(&e));
            }
        }
        if !self.in_flight.is_empty() || (!self.failed && self.next < self.bodies.len()) {
            return None;
        }
        Some(self.finish())
    }

    /// The client's answer once every call is in: the first failure in input order, or the
    /// vectors of every input.
    fn finish(&mut self) -> Answer {
        if let Some(part) = self.answers.iter().flatten().find(|p| p.status != 200) {
            self.exchange.on_response_headers(&UpstreamHeaders {
                status: part.status,
                error_type: part.error_type.as_deref(),
                ..UpstreamHeaders::default()
            });
            return self.exchange.finish(&part.body);
        }
        let answers: Vec<embeddings::Answer<'_>> = self
            .answers
            .iter()
            .flatten()
            .map(|p| embeddings::Answer {
                body: &p.body,
                input_tokens_header: p.input_tokens,
            })
            .collect();
        if answers.len() != self.bodies.len() {
            return self.exchange.local_error(&ApiError::internal(
                "a batch ended before every input was answered",
            ));
        }
        self.exchange.on_response_headers(&UpstreamHeaders {
            status: 200,
            ..UpstreamHeaders::default()
        });
        self.exchange.finish_embeddings(&answers)
    }

    /// The log line for a batch the proxy ended before every answer was in.
    pub fn unfinished_log(&self) -> String {
        format!(
            "{} of {} embedding calls answered when the request ended",
            self.answers.iter().flatten().count(),
            self.bodies.len()
        )
    }
}
