//! What the pipeline needs from a proxy: the [`Host`] trait.
//!
//! A handful of calls — headers, bodies, properties, stats, the clock, a local reply, HTTP
//! calls — so the whole per-request flow runs natively against an in-memory host in tests, and
//! `filter` implements it once for proxy-wasm. Every call degrades instead of failing: a host
//! that refuses one answers `false`, `None` or an empty value, and the pipeline decides what
//! that means for the request.

use std::time::Duration;

use crate::http::HeaderList;
use crate::limits::SharedStore;
use crate::metrics::CounterHost;

/// Whether the proxy goes on with the request or response after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Hold it: the callback buffers the body, or answered the request itself.
    Pause,
}

/// The proxy, as one request (or the worker) sees it. Stats and the shared data of rate limits
/// are their layers' traits.
pub trait Host: CounterHost + SharedStore {
    /// Seconds since the Unix epoch (0 if the host cannot tell).
    fn now_unix_secs(&mut self) -> u64;

    /// The client's request headers, in one call (names lower-case).
    fn request_headers(&mut self) -> HeaderList;
    /// Replace the request headers in one call; `false` when refused.
    fn set_request_headers(&mut self, headers: &[(&str, &[u8])]) -> bool;
    /// The first `size` bytes of the buffered request body.
    fn request_body(&mut self, size: usize) -> Vec<u8>;
    /// Replace the first `size` bytes of the request body with `body`; `false` when refused.
    fn set_request_body(&mut self, size: usize, body: &[u8]) -> bool;

    fn response_headers(&mut self) -> HeaderList;
    fn set_response_headers(&mut self, headers: &[(&str, &[u8])]) -> bool;
    fn response_body(&mut self, size: usize) -> Vec<u8>;
    fn set_response_body(&mut self, size: usize, body: &[u8]) -> bool;

    /// Answer the request locally: it goes no further upstream.
    fn send_reply(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]);

    /// A property of the host as text (`None` when absent, refused or not UTF-8).
    fn property(&mut self, path: &[&str]) -> Option<String>;
    /// Set a filter-state property (Envoy: `wasm.<name>`); `false` when refused.
    fn set_property(&mut self, name: &str, value: &str) -> bool;

    /// Start an HTTP call through an upstream cluster; the answer arrives with the returned
    /// token, at the worker (root context) or the request that made the call. `Err` says why
    /// the host refused (e.g. no such cluster).
    fn dispatch_http_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<u32, String>;
    /// The headers of the HTTP call answer being delivered (only when it has headers).
    fn http_call_headers(&mut self) -> HeaderList;
    /// The first `size` bytes of the HTTP call answer being delivered.
    fn http_call_body(&mut self, size: usize) -> Vec<u8>;
    /// Ask for a tick every `period` (the worker's timer).
    fn set_tick_period(&mut self, period: Duration);
}
