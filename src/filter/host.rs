//! Host calls used by the filter, each returning a plain value and logging a failure.
//!
//! The SDK's `Context` helpers `unwrap` host results; these call `proxy_wasm::hostcalls` and
//! handle the `Err`, so a host that refuses a call degrades one request instead of trapping the
//! VM.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::BufferType;

use super::abi::{self, HeaderMap};
use crate::gateway::HeaderList;

pub fn plugin_configuration(size: usize) -> Vec<u8> {
    match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
        Ok(b) => b.unwrap_or_default(),
        Err(s) => {
            log::error!("bedrock-filter: cannot read the plugin configuration: {s:?}");
            Vec::new()
        }
    }
}

/// Seconds since the Unix epoch from the host clock (0 if the host cannot tell).
pub fn now_unix_secs() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// Ask for `on_tick` every `period` on this root context.
pub fn set_tick_period(period: Duration) {
    if let Err(s) = hostcalls::set_tick_period(period) {
        log::error!("bedrock-filter: cannot start the credentials timer: {s:?}");
    }
}

/// Start an HTTP call through an Envoy cluster; the answer arrives in `on_http_call_response`
/// with the returned token. `Err` says why the host refused (e.g. no such cluster).
pub fn dispatch_http_call(
    cluster: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<u32, String> {
    hostcalls::dispatch_http_call(cluster, headers.to_vec(), None, Vec::new(), timeout)
        .map_err(|s| format!("{s:?}"))
}

/// `:status` of the answer being delivered to `on_http_call_response`. Call only when the
/// host reported headers: without them the map does not exist and the SDK would trap.
pub fn http_call_status() -> Option<u16> {
    let headers = header_map(HeaderMap::HttpCallResponse);
    crate::gateway::header_text(&headers, ":status").and_then(|s| s.parse().ok())
}

/// The body of the answer being delivered to `on_http_call_response`.
pub fn http_call_body(size: usize) -> Vec<u8> {
    body(BufferType::HttpCallResponseBody, size)
}

/// A whole header map in one host call, values as bytes (empty when the host refuses).
fn header_map(map: HeaderMap) -> HeaderList {
    abi::get_header_map(map).unwrap_or_else(|status| {
        log::warn!("bedrock-filter: cannot read a header map: status {status}");
        Vec::new()
    })
}

/// All response headers in one host call.
pub fn response_headers() -> HeaderList {
    header_map(HeaderMap::Response)
}

/// Replace the whole request header map in one host call (each single-header call is a
/// boundary crossing and makes Envoy clear the route cache again). `false` when refused.
pub fn replace_request_headers(headers: &[(&str, &[u8])]) -> bool {
    match abi::set_header_map(HeaderMap::Request, headers) {
        Ok(()) => true,
        Err(s) => {
            log::error!("bedrock-filter: cannot rewrite the request headers: {s:?}");
            false
        }
    }
}

/// Replace the whole response header map in one host call.
pub fn replace_response_headers(headers: &[(&str, &[u8])]) {
    if let Err(s) = abi::set_header_map(HeaderMap::Response, headers) {
        log::error!("bedrock-filter: cannot rewrite the response headers: {s:?}");
    }
}

/// All request headers in one host call (names are lower-case in Envoy).
pub fn request_headers() -> HeaderList {
    header_map(HeaderMap::Request)
}

fn body(buffer: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(buffer, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub fn request_body(size: usize) -> Vec<u8> {
    body(BufferType::HttpRequestBody, size)
}

pub fn response_body(size: usize) -> Vec<u8> {
    body(BufferType::HttpResponseBody, size)
}

fn replace_body(buffer: BufferType, old_size: usize, new: &[u8]) -> bool {
    hostcalls::set_buffer(buffer, 0, old_size, new).is_ok()
}

pub fn replace_request_body(old_size: usize, new: &[u8]) -> bool {
    replace_body(BufferType::HttpRequestBody, old_size, new)
}

pub fn replace_response_body(old_size: usize, new: &[u8]) -> bool {
    replace_body(BufferType::HttpResponseBody, old_size, new)
}

/// A local reply: the request goes no further.
pub fn send_response(status: u16, content_type: &str, body: &[u8]) {
    send_response_with(status, content_type, None, body);
}

/// A local reply with a `retry-after` header when `retry_after` is set.
pub fn send_response_with(status: u16, content_type: &str, retry_after: Option<u32>, body: &[u8]) {
    let retry_after = retry_after.map(|s| s.to_string());
    let mut headers = vec![("content-type", content_type)];
    if let Some(secs) = &retry_after {
        headers.push(("retry-after", secs));
    }
    if let Err(s) = hostcalls::send_http_response(u32::from(status), headers, Some(body)) {
        log::error!("bedrock-filter: cannot send a local reply: {s:?}");
    }
}

/// Counters through the host's stats (`define_metric` / `increment_metric`).
pub struct HostCounters;

impl crate::metrics::CounterHost for HostCounters {
    fn define_counter(&mut self, name: &str) -> Option<u32> {
        match abi::define_counter(name) {
            Ok(id) => Some(id),
            Err(status) => {
                warn_once(
                    Once::Metrics,
                    &format!("cannot define stat {name}: status {status}"),
                );
                None
            }
        }
    }

    fn add(&mut self, id: u32, value: u64) {
        let offset = i64::try_from(value).unwrap_or(i64::MAX);
        if let Err(s) = hostcalls::increment_metric(id, offset) {
            log::warn!("bedrock-filter: cannot increment a stat: {s:?}");
        }
    }
}

/// A property of the host as text (`None` when absent, refused or not UTF-8). Envoy answers
/// NotFound for what it does not have; the SDK's helper would trap on that.
pub fn property(path: &[&str]) -> Option<String> {
    match abi::get_property(path) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        Ok(None) => None,
        Err(status) => {
            warn_once(
                Once::GetProperty,
                &format!("cannot read property {path:?}: status {status}"),
            );
            None
        }
    }
}

/// Host features the filter can do without, each complained about once per worker.
#[derive(Clone, Copy)]
enum Once {
    GetProperty = 1,
    SetProperty = 2,
    Metrics = 4,
}

thread_local! {
    static WARNED: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// One log line the first time a host lacks `what`; the filter goes on without it.
fn warn_once(what: Once, message: &str) {
    let bit = what as u8;
    if WARNED.with(|w| w.replace(w.get() | bit)) & bit == 0 {
        log::warn!("bedrock-filter: {message} (this host lacks it; going on without, said once)");
    }
}

/// Set a property the request cannot do without; `false` (and one log line) when refused.
pub fn set_required_property(name: &str, value: &str) -> bool {
    match abi::set_property(&[name], value.as_bytes()) {
        Ok(()) => true,
        Err(status) => {
            log::error!(
                "bedrock-filter: cannot set property {name} (filter state): status {status}"
            );
            false
        }
    }
}

/// A value for the access log: Envoy keeps it as filter state `wasm.<name>`, which
/// `%FILTER_STATE(wasm.<name>:PLAIN)%` prints.
pub fn set_log_property(name: &str, value: &str) {
    if let Err(status) = abi::set_property(&[name], value.as_bytes()) {
        warn_once(
            Once::SetProperty,
            &format!("cannot set property {name} (filter state): status {status}"),
        );
    }
}
