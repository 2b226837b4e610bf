//! The pipeline's [`Host`] for proxy-wasm: each call returns a plain value and logs a failure.
//!
//! The SDK's `Context` helpers `unwrap` host results; these call `proxy_wasm::hostcalls` (or
//! [`abi`] where the SDK's wrappers trap on statuses other hosts legitimately return) and
//! handle the `Err`, so a host that refuses a call degrades one request instead of trapping the
//! VM. The calls act on the context the host is currently calling back.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::BufferType;

use super::abi::{self, HeaderMap};
use crate::http::HeaderList;
use crate::limits::{SharedStore, StoreError};
use crate::metrics::CounterHost;
use crate::pipeline::Host;

/// The proxy-wasm host the module runs in.
pub struct ProxyWasm;

pub fn plugin_configuration(size: usize) -> Vec<u8> {
    match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
        Ok(b) => b.unwrap_or_default(),
        Err(s) => {
            log::error!("bedrock-filter: cannot read the plugin configuration: {s:?}");
            Vec::new()
        }
    }
}

/// A whole header map in one host call, values as bytes (empty when the host refuses).
fn header_map(map: HeaderMap) -> HeaderList {
    abi::get_header_map(map).unwrap_or_else(|status| {
        log::warn!("bedrock-filter: cannot read a header map: status {status}");
        Vec::new()
    })
}

/// Replace a whole header map in one host call (each single-header call is a boundary
/// crossing, and makes Envoy clear the route cache again). `false` when refused.
fn set_header_map(map: HeaderMap, headers: &[(&str, &[u8])], what: &str) -> bool {
    match abi::set_header_map(map, headers) {
        Ok(()) => true,
        Err(s) => {
            log::error!("bedrock-filter: cannot rewrite the {what} headers: {s:?}");
            false
        }
    }
}

fn body(buffer: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(buffer, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn replace_body(buffer: BufferType, old_size: usize, new: &[u8]) -> bool {
    hostcalls::set_buffer(buffer, 0, old_size, new).is_ok()
}

impl Host for ProxyWasm {
    fn now_unix_secs(&mut self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    }

    fn request_headers(&mut self) -> HeaderList {
        header_map(HeaderMap::Request)
    }

    fn set_request_headers(&mut self, headers: &[(&str, &[u8])]) -> bool {
        set_header_map(HeaderMap::Request, headers, "request")
    }

    fn request_body(&mut self, size: usize) -> Vec<u8> {
        body(BufferType::HttpRequestBody, size)
    }

    fn set_request_body(&mut self, size: usize, body: &[u8]) -> bool {
        replace_body(BufferType::HttpRequestBody, size, body)
    }

    fn response_headers(&mut self) -> HeaderList {
        header_map(HeaderMap::Response)
    }

    fn set_response_headers(&mut self, headers: &[(&str, &[u8])]) -> bool {
        set_header_map(HeaderMap::Response, headers, "response")
    }

    fn response_body(&mut self, size: usize) -> Vec<u8> {
        body(BufferType::HttpResponseBody, size)
    }

    fn set_response_body(&mut self, size: usize, body: &[u8]) -> bool {
        replace_body(BufferType::HttpResponseBody, size, body)
    }

    fn send_reply(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        if let Err(s) =
            hostcalls::send_http_response(u32::from(status), headers.to_vec(), Some(body))
        {
            log::error!("bedrock-filter: cannot send a local reply: {s:?}");
        }
    }

    /// Envoy answers NotFound for what it does not have; the SDK's helper would trap on that.
    fn property(&mut self, path: &[&str]) -> Option<String> {
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

    /// Envoy keeps it as filter state `wasm.<name>`, which `%FILTER_STATE(wasm.<name>:PLAIN)%`
    /// prints. A host without filter state is complained about once.
    fn set_property(&mut self, name: &str, value: &str) -> bool {
        match abi::set_property(&[name], value.as_bytes()) {
            Ok(()) => true,
            Err(status) => {
                warn_once(
                    Once::SetProperty,
                    &format!("cannot set property {name} (filter state): status {status}"),
                );
                false
            }
        }
    }

    fn dispatch_http_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<u32, String> {
        hostcalls::dispatch_http_call(cluster, headers.to_vec(), body, Vec::new(), timeout)
            .map_err(|s| format!("{s:?}"))
    }

    /// Only called when the host reported headers: without them the map does not exist and
    /// the SDK would trap.
    fn http_call_headers(&mut self) -> HeaderList {
        header_map(HeaderMap::HttpCallResponse)
    }

    fn http_call_body(&mut self, size: usize) -> Vec<u8> {
        body(BufferType::HttpCallResponseBody, size)
    }

    fn set_tick_period(&mut self, period: Duration) {
        if let Err(s) = hostcalls::set_tick_period(period) {
            log::error!("bedrock-filter: cannot start the credentials timer: {s:?}");
        }
    }
}

/// Counters through the host's stats (`define_metric` / `increment_metric`).
/// Shared data: one key-value store for every worker (VM) of the plugin's `vm_id`.
impl SharedStore for ProxyWasm {
    fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        abi::get_shared_data(key).map_err(|status| {
            log::warn!("bedrock-filter: cannot read shared data {key}: status {status}");
            StoreError::Unavailable
        })
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        match abi::set_shared_data(key, value, cas.unwrap_or(0)) {
            Ok(()) => Ok(()),
            Err(abi::CAS_MISMATCH) => Err(StoreError::CasMismatch),
            Err(status) => {
                log::warn!("bedrock-filter: cannot write shared data {key}: status {status}");
                Err(StoreError::Unavailable)
            }
        }
    }
}

impl CounterHost for ProxyWasm {
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
