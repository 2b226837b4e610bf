//! The proxy-wasm adapter: the only module that talks to a proxy-wasm host.
//!
//! It implements the pipeline's [`Host`](crate::pipeline::Host) for proxy-wasm ([`host`]) and
//! hands every callback to the pipeline: the root context to the [`Worker`], each HTTP context
//! to a [`RequestContext`] (or, in sign mode, a [`SignAttempt`]). Every decision — routing,
//! translation, authorization, signing, error shapes — is made there.

mod abi;
mod host;

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

use crate::config::Mode;
use crate::pipeline::{Flow, RequestContext, SignAttempt, Worker};
use host::ProxyWasm;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Pause => Action::Pause,
    }
}

/// One per VM: the worker, once configured.
#[derive(Default)]
struct Root {
    worker: Option<Rc<RefCell<Worker>>>,
}

impl Root {
    fn with_worker(&self, f: impl FnOnce(&mut Worker)) {
        if let Some(mut w) = self.worker.as_ref().and_then(|w| w.try_borrow_mut().ok()) {
            f(&mut w);
        }
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
        self.with_worker(|w| {
            w.on_http_call_response(&mut ProxyWasm, token_id, num_headers, body_size);
        });
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = host::plugin_configuration(plugin_configuration_size);
        match Worker::configure(&mut ProxyWasm, &bytes, &env_var) {
            Ok(worker) => {
                self.worker = Some(Rc::new(RefCell::new(worker)));
                true
            }
            Err(errors) => {
                for e in &errors {
                    log::error!("bedrock-filter configuration rejected: {e}");
                }
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.with_worker(|w| w.on_tick(&mut ProxyWasm));
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let worker = self.worker.clone();
        let sign_mode = worker
            .as_ref()
            .and_then(|w| w.try_borrow().ok().map(|w| w.config.mode == Mode::Sign))
            .unwrap_or(false);
        if sign_mode {
            return Some(Box::new(Attempt {
                worker,
                attempt: SignAttempt::new(),
            }));
        }
        Some(Box::new(Http {
            worker,
            request: RequestContext::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Runs `f` with the worker borrowed for one callback (`None` when there is none).
fn with<T>(worker: &Option<Rc<RefCell<Worker>>>, f: impl FnOnce(Option<&mut Worker>) -> T) -> T {
    let mut borrowed = worker.as_ref().and_then(|w| w.try_borrow_mut().ok());
    f(borrowed.as_deref_mut())
}

/// An HTTP context in single or translate mode.
struct Http {
    worker: Option<Rc<RefCell<Worker>>>,
    request: RequestContext,
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let r = &mut self.request;
        with(&self.worker, |w| {
            r.on_http_call_response(w, &mut ProxyWasm, token_id, num_headers, body_size);
        });
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let r = &mut self.request;
        action(with(&self.worker, |w| {
            r.on_request_headers(w, &mut ProxyWasm, end_of_stream)
        }))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let r = &mut self.request;
        action(with(&self.worker, |w| {
            r.on_request_body(w, &mut ProxyWasm, body_size, end_of_stream)
        }))
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let r = &mut self.request;
        action(with(&self.worker, |w| {
            r.on_request_trailers(w, &mut ProxyWasm)
        }))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let r = &mut self.request;
        action(with(&self.worker, |w| {
            r.on_response_headers(w, &mut ProxyWasm, end_of_stream)
        }))
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let r = &mut self.request;
        action(with(&self.worker, |w| {
            r.on_response_body(w, &mut ProxyWasm, body_size, end_of_stream)
        }))
    }

    fn on_log(&mut self) {
        let r = &mut self.request;
        with(&self.worker, |w| r.on_done(w, &mut ProxyWasm));
    }
}

/// An HTTP context in sign mode: one Envoy attempt.
struct Attempt {
    worker: Option<Rc<RefCell<Worker>>>,
    attempt: SignAttempt,
}

impl Context for Attempt {}

impl HttpContext for Attempt {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let a = &mut self.attempt;
        action(with(&self.worker, |w| {
            a.on_request_headers(w, &mut ProxyWasm, end_of_stream)
        }))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let a = &mut self.attempt;
        action(with(&self.worker, |w| {
            a.on_request_body(w, &mut ProxyWasm, body_size, end_of_stream)
        }))
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        action(self.attempt.on_request_trailers(&mut ProxyWasm))
    }
}
