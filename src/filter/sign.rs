//! Sign mode: the filter as an Envoy upstream (cluster) HTTP filter, run once per attempt.
//!
//! Envoy runs upstream filters in a new context for every attempt — the first try, each retry,
//! each failover to another priority — with the request headers as the previous attempt left
//! them and the original body. So each attempt is signed afresh for the region and host of the
//! endpoint Envoy picked (its `filter_metadata.bedrock`), with a new `x-amz-date`, and every
//! signature header of an earlier attempt is replaced or removed. What to sign comes from the
//! translate-mode filter's filter state, never from a `:path` this filter rewrote.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::host;
use crate::error::ApiError;
use crate::gateway::{self, AttemptTarget, Gateway, SignTarget};

/// Where Envoy keeps the metadata of the endpoint an attempt goes to.
const HOST_METADATA: [&str; 4] = [
    "xds",
    "upstream_host_metadata",
    "filter_metadata",
    "bedrock",
];

pub struct Attempt {
    gateway: Option<Rc<RefCell<Gateway>>>,
    target: Option<SignTarget>,
    headers: gateway::HeaderList,
}

impl Attempt {
    pub fn new(gateway: Option<Rc<RefCell<Gateway>>>) -> Self {
        Attempt {
            gateway,
            target: None,
            headers: Vec::new(),
        }
    }

    fn sign(&mut self, body: &[u8]) -> Action {
        let Some(target) = self.target.take() else {
            return Action::Continue;
        };
        let region = host::property(&metadata("region"));
        let host_name = host::property(&metadata("host"));
        let at = AttemptTarget {
            region: region.as_deref(),
            host: host_name.as_deref(),
        };
        let content_type = gateway::header_text(&self.headers, "content-type");
        let signed = match &self.gateway {
            Some(g) => match g.try_borrow_mut() {
                Ok(mut gw) => {
                    gw.sign_attempt(&target, at, content_type, body, host::now_unix_secs())
                }
                Err(_) => Err(super::not_configured()),
            },
            None => Err(super::not_configured()),
        };
        match signed {
            Ok(req) => {
                let rewritten = gateway::rewrite_signed_headers(&self.headers, &req);
                if host::replace_request_headers(&rewritten) {
                    Action::Continue
                } else {
                    fail(&ApiError::new(
                        500,
                        crate::error::ErrorType::Api,
                        "the proxy refused the signed request headers",
                    ))
                }
            }
            Err(e) => fail(&e),
        }
    }
}

fn metadata(key: &str) -> [&str; 5] {
    let [a, b, c, d] = HOST_METADATA;
    [a, b, c, d, key]
}

/// This attempt cannot be signed: answer it locally. The translate-mode filter turns the
/// answer into the client's error shape like any upstream error.
fn fail(e: &ApiError) -> Action {
    log::warn!("bedrock-filter (sign): {e}");
    let answer = gateway::error_response_in(gateway::ErrorFormat::OpenAi, e);
    host::send_response_with(
        answer.status,
        answer.content_type,
        e.retry_after,
        &answer.body,
    );
    Action::Pause
}

impl Context for Attempt {}

impl HttpContext for Attempt {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let described = host::property(&[gateway::SIGN_PROPERTY]);
        self.target = described.as_deref().and_then(SignTarget::decode);
        if self.target.is_none() {
            // Forwarding it would send the client's request, and its credentials, to Bedrock
            // unsigned: a configuration error to show, not to pass on.
            let found = described.map_or("no filter state".to_string(), |d| {
                format!("unreadable filter state {d:?}")
            });
            return fail(&ApiError::new(
                500,
                crate::error::ErrorType::Api,
                format!(
                    "bedrock-filter (sign mode) found no translated request to sign ({found}); \
                     a bedrock-filter with \"mode\": \"translate\" must run in the listener"
                ),
            ));
        }
        self.headers = host::request_headers();
        if end_of_stream {
            return self.sign(b"");
        }
        // The signature covers the body: hold the headers until it is complete.
        Action::Pause
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.target.is_some() {
            // Still waiting for the body's end: unsigned, the request must not go on.
            return fail(&super::trailers_refused());
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.target.is_none() {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = host::request_body(body_size);
        self.sign(&body)
    }
}
