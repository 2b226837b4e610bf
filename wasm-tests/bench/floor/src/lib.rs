//! Baselines for `make bench`: what any proxy-wasm filter costs in Envoy before it does work.
//!
//! The plugin configuration picks the mode:
//! - `noop`: every callback answers Continue (the price of having a Wasm filter at all);
//! - `rewrite`: the shape of a translating filter without the translation: pause the request
//!   headers, buffer the body, set three headers and write the body back, then buffer the
//!   response body and write it back with a new content-length.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { rewrite: false }) });
}}

struct Root {
    rewrite: bool,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        self.rewrite = config.windows(7).any(|w| w == b"rewrite");
        true
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            rewrite: self.rewrite,
            stream: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    rewrite: bool,
    stream: bool,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        if !self.rewrite || end_of_stream {
            return Action::Continue;
        }
        let headers = hostcalls::get_map(MapType::HttpRequestHeaders).unwrap_or_default();
        self.stream = headers.iter().any(|(n, _)| n == "x-bench-stream");
        Action::Pause
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if !self.rewrite {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            ":path",
            Some("/v1/chat/completions"),
        );
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            "x-amz-date",
            Some("20261130T000000Z"),
        );
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            "authorization",
            Some("AWS4-HMAC-SHA256 x"),
        );
        let _ = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, &body);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        if !self.rewrite || end_of_stream || self.stream {
            return Action::Continue;
        }
        Action::Pause
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if !self.rewrite {
            return Action::Continue;
        }
        if self.stream {
            // Each chunk read and written back, as a stream translator does.
            let chunk = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
                .ok()
                .flatten()
                .unwrap_or_default();
            let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, &chunk);
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let len = body.len().to_string();
        let _ =
            hostcalls::set_map_value(MapType::HttpResponseHeaders, "content-length", Some(&len));
        let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, &body);
        Action::Continue
    }
}
