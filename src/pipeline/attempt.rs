//! Sign mode: the filter as an Envoy upstream (cluster) HTTP filter, run once per attempt.
//!
//! Envoy runs upstream filters in a new context for every attempt — the first try, each retry,
//! each failover to another priority — with the request headers as the previous attempt left
//! them and the original body. So each attempt is signed afresh for the region and host of the
//! endpoint Envoy picked (its `filter_metadata.bedrock`), with a new `x-amz-date`, and every
//! signature header of an earlier attempt is replaced or removed. What to sign comes from the
//! translate-mode filter's filter state, never from a `:path` this filter rewrote.

use super::context::{not_configured, send, trailers_refused};
use super::headers::rewrite_signed_headers;
use super::host::{Flow, Host};
use super::respond::ErrorShape;
use super::upstream::{AttemptTarget, SignTarget};
use super::worker::Worker;
use crate::error::ApiError;
use crate::http::{HeaderList, SIGN_PROPERTY, header_text};

/// Where Envoy keeps the metadata of the endpoint an attempt goes to.
const HOST_METADATA: [&str; 4] = [
    "xds",
    "upstream_host_metadata",
    "filter_metadata",
    "bedrock",
];

fn metadata(key: &str) -> [&str; 5] {
    let [a, b, c, d] = HOST_METADATA;
    [a, b, c, d, key]
}

/// The pipeline's state for one attempt of one request.
#[derive(Default)]
pub struct SignAttempt {
    target: Option<SignTarget>,
    headers: HeaderList,
}

/// This attempt cannot be signed: answer it locally. The translate-mode filter turns the
/// answer into the client's error shape like any upstream error.
fn fail(host: &mut dyn Host, e: &ApiError) -> Flow {
    log::warn!("bedrock-filter (sign): {e}");
    send(host, &ErrorShape::OpenAi.render(e));
    Flow::Pause
}

impl SignAttempt {
    pub fn new() -> Self {
        SignAttempt::default()
    }

    pub fn on_request_headers(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Flow {
        let described = host.property(&[SIGN_PROPERTY]);
        self.target = described.as_deref().and_then(SignTarget::decode);
        if self.target.is_none() {
            // Forwarding it would send the client's request, and its credentials, to Bedrock
            // unsigned: a configuration error to show, not to pass on.
            let found = described.map_or("no filter state".to_string(), |d| {
                format!("unreadable filter state {d:?}")
            });
            return fail(
                host,
                &ApiError::internal(format!(
                    "bedrock-filter (sign mode) found no translated request to sign ({found}); \
                     a bedrock-filter with \"mode\": \"translate\" must run in the listener"
                )),
            );
        }
        self.headers = host.request_headers();
        if end_of_stream {
            return self.sign(w, host, b"");
        }
        // The signature covers the body: hold the headers until it is complete.
        Flow::Pause
    }

    pub fn on_request_trailers(&mut self, host: &mut dyn Host) -> Flow {
        if self.target.is_some() {
            // Still waiting for the body's end: unsigned, the request must not go on.
            return fail(host, &trailers_refused());
        }
        Flow::Continue
    }

    pub fn on_request_body(
        &mut self,
        w: Option<&mut Worker>,
        host: &mut dyn Host,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        if self.target.is_none() {
            return Flow::Continue;
        }
        if !end_of_stream {
            return Flow::Pause;
        }
        let body = host.request_body(body_size);
        self.sign(w, host, &body)
    }

    fn sign(&mut self, w: Option<&mut Worker>, host: &mut dyn Host, body: &[u8]) -> Flow {
        let Some(target) = self.target.take() else {
            return Flow::Continue;
        };
        let Some(w) = w else {
            return fail(host, &not_configured());
        };
        let region = host.property(&metadata("region"));
        let host_name = host.property(&metadata("host"));
        let at = AttemptTarget {
            region: region.as_deref(),
            host: host_name.as_deref(),
            method: header_text(&self.headers, ":method").unwrap_or_default(),
            content_type: header_text(&self.headers, "content-type"),
        };
        let now = host.now_unix_secs();
        let signed = w.signer.sign_attempt(&w.config, &target, at, body, now);
        match signed {
            Ok(req) => {
                let rewritten = rewrite_signed_headers(&self.headers, &req);
                if host.set_request_headers(&rewritten) {
                    Flow::Continue
                } else {
                    let e = ApiError::internal("the proxy refused the signed request headers");
                    fail(host, &e)
                }
            }
            Err(e) => fail(host, &e),
        }
    }
}
