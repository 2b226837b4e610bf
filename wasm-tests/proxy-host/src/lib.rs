//! proxy-host: a second Proxy-Wasm host, on wasmtime, for tests.
//!
//! It loads the same `.wasm` Envoy loads (WASI preview 1 plus the Proxy-Wasm ABI v0.2.1
//! hostcalls), drives it the way Envoy's filter manager does, and records what the filter did:
//! the request as it would go upstream, local replies, the response as the client would see
//! it, stats, logs, properties, HTTP calls out. Anything a real host would refuse or ignore is
//! recorded in [`Host::violations`]; hostcalls it does not implement trap with their name.
//!
//! ```no_run
//! # fn main() -> Result<(), proxy_host::HostError> {
//! let mut host = proxy_host::Host::builder()
//!     .env("AWS_ACCESS_KEY_ID", "AKID")
//!     .plugin_configuration(r#"{"region": "us-east-1"}"#)
//!     .load("bedrock_filter.wasm".as_ref())?;
//! let mut r = host.request(&[(":method", "POST"), (":path", "/v1/chat/completions")])?;
//! r.body(br#"{"model": "m", "messages": []}"#, true)?;
//! let upstream = r.upstream_request();
//! r.respond(200, &[("content-type", "application/json")], &[b"{}"])?;
//! let answer = r.client_response();
//! # Ok(()) }
//! ```

mod abi;
mod access;
mod guest;
mod hostcalls;
mod request;
mod shared;
mod state;
mod stream;
mod vm;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use wasmtime::{Instance, Store, Val};

pub use abi::{Field, LogLevel, MetricType, Status, deserialize_map, serialize_map};
pub use hostcalls::{IMPLEMENTED, TRAPPING};
pub use request::{ClientResponse, Request, UpstreamRequest};
pub use shared::{SharedData, SharedDataStats, WriteHook};
pub use state::{
    Extras, ForeignFunction, ForeignFunctionImpl, HttpCall, LocalReply, LogLine, Metric,
};
pub use vm::{HostBuilder, module_imports};

use state::{CallAnswer, Callback, HostData};

/// Why the host could not do what a test asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The module could not be read, compiled, linked or started.
    Load(String),
    /// `proxy_on_vm_start` or `proxy_on_configure` answered false; the guest's log says why.
    Configure {
        callback: &'static str,
        logs: Vec<LogLine>,
    },
    /// The guest trapped (a panic, or a hostcall this host refuses). The VM is failed.
    Trap(String),
    /// The VM trapped earlier and serves nothing more.
    Failed(String),
    /// The test used the host wrongly (e.g. answered a request that never went upstream).
    Usage(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Load(m) => write!(f, "load: {m}"),
            HostError::Configure { callback, logs } => {
                write!(f, "{callback} answered false")?;
                for l in logs {
                    write!(f, "\n  [{:?}] {}", l.level, l.message)?;
                }
                Ok(())
            }
            HostError::Trap(m) => write!(f, "trap: {m}"),
            HostError::Failed(m) => write!(f, "the VM failed earlier: {m}"),
            HostError::Usage(m) => write!(f, "usage: {m}"),
        }
    }
}

impl std::error::Error for HostError {}

/// One VM with the plugin configured: a worker's filter instance.
pub struct Host {
    store: Store<HostData>,
    instance: Instance,
    exports: vm::Exports,
    vm_context: u32,
    root_context: u32,
    next_context: u32,
    failed: Option<String>,
}

pub(crate) fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

impl Host {
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Load with default settings.
    pub fn load(path: &Path) -> Result<Host, HostError> {
        HostBuilder::default().load(path)
    }

    /// A new request whose body follows (`end_of_stream` false on the headers).
    pub fn request(&mut self, headers: &[(&str, &str)]) -> Result<Request<'_>, HostError> {
        let id = self.open_stream(fields(headers), false)?;
        Ok(Request { host: self, id })
    }

    /// A new request without a body (headers end the stream), e.g. a GET.
    pub fn request_without_body(
        &mut self,
        headers: &[(&str, &str)],
    ) -> Result<Request<'_>, HostError> {
        let id = self.open_stream(fields(headers), true)?;
        Ok(Request { host: self, id })
    }

    /// A new request with raw header values (bytes Envoy may pass through, e.g. obs-text).
    pub fn request_with_fields(
        &mut self,
        headers: Vec<Field>,
        end_of_stream: bool,
    ) -> Result<Request<'_>, HostError> {
        let id = self.open_stream(headers, end_of_stream)?;
        Ok(Request { host: self, id })
    }

    /// A new request whose stream starts with these properties (dot-separated paths): what
    /// Envoy would answer `proxy_get_property` with for this stream, e.g. filter state an
    /// earlier filter set, or `xds.upstream_host_metadata.filter_metadata.*` for an upstream
    /// filter.
    pub fn request_with_properties(
        &mut self,
        headers: Vec<Field>,
        end_of_stream: bool,
        properties: &[(&str, &[u8])],
    ) -> Result<Request<'_>, HostError> {
        let properties = properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        let id = self.open_stream_with(headers, end_of_stream, properties)?;
        Ok(Request { host: self, id })
    }

    /// An earlier request, by its context id.
    pub fn stream(&mut self, id: u32) -> Request<'_> {
        Request { host: self, id }
    }

    // ---- HTTP calls out

    /// Calls dispatched and not answered yet, oldest first.
    pub fn pending_calls(&self) -> Vec<HttpCall> {
        self.store.data().http_calls.values().cloned().collect()
    }

    /// Every call ever dispatched, in order.
    pub fn dispatched_calls(&self) -> &[HttpCall] {
        &self.store.data().dispatched
    }

    /// Answer a pending call: `proxy_on_http_call_response` with these headers (`:status`
    /// first) and body.
    pub fn answer_call(
        &mut self,
        token: u32,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        let mut all = vec![(":status".to_string(), status.to_string().into_bytes())];
        all.extend(fields(headers));
        self.deliver_call(
            token,
            CallAnswer {
                headers: all,
                body: body.to_vec(),
                trailers: Vec::new(),
                status: u32::from(status),
            },
        )
    }

    /// The call failed without an answer (connection refused, reset): no headers, as Envoy
    /// reports it.
    pub fn fail_call(&mut self, token: u32) -> Result<(), HostError> {
        self.deliver_call(token, CallAnswer::default())
    }

    fn deliver_call(&mut self, token: u32, answer: CallAnswer) -> Result<(), HostError> {
        let call = self
            .store
            .data_mut()
            .http_calls
            .remove(&token)
            .ok_or_else(|| HostError::Usage(format!("no pending call with token {token}")))?;
        let (n, body, trailers) = (
            answer.headers.len(),
            answer.body.len(),
            answer.trailers.len(),
        );
        self.store.data_mut().call_answer = Some(answer);
        let ctx = call.context_id;
        let params = (
            ctx as i32,
            token as i32,
            n as i32,
            body as i32,
            trailers as i32,
        );
        let result = self.invoke(
            Callback::HttpCallResponse,
            ctx,
            |e| &e.http_call_response,
            params,
        );
        self.store.data_mut().call_answer = None;
        result?;
        self.settle()
    }

    // ---- time

    pub fn now(&self) -> SystemTime {
        self.store.data().clock.now()
    }

    /// Move the clock forward by `d`, running every timer tick and HTTP-call timeout that falls
    /// due on the way, in time order (a timed-out call is answered 504, as Envoy does).
    pub fn advance_time(&mut self, d: Duration) -> Result<(), HostError> {
        let target = self.now() + d;
        loop {
            let data = self.store.data();
            let tick = data
                .next_ticks
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(c, t)| (*t, *c));
            let call = data
                .http_calls
                .values()
                .min_by_key(|c| c.deadline)
                .map(|c| (c.deadline, c.token));
            let next = match (tick, call) {
                (Some(t), Some(c)) if c.0 < t.0 => Some((c.0, None, Some(c.1))),
                (Some(t), _) => Some((t.0, Some(t.1), None)),
                (None, Some(c)) => Some((c.0, None, Some(c.1))),
                (None, None) => None,
            };
            match next {
                Some((at, tick_ctx, call_token)) if at <= target => {
                    self.store.data().clock.set(at);
                    if let Some(ctx) = tick_ctx {
                        self.tick_context(ctx)?;
                    }
                    if let Some(token) = call_token {
                        self.time_out_call(token)?;
                    }
                }
                _ => break,
            }
        }
        self.store.data().clock.set(target);
        Ok(())
    }

    /// Set the clock (backwards too: a host's wall clock can step).
    pub fn set_time(&mut self, t: SystemTime) {
        self.store.data().clock.set(t);
    }

    /// Run `proxy_on_tick` now on every root context with a tick period, whatever the clock.
    pub fn tick(&mut self) -> Result<(), HostError> {
        let contexts: Vec<u32> = self.store.data().tick_periods.keys().copied().collect();
        for ctx in contexts {
            self.tick_context(ctx)?;
        }
        Ok(())
    }

    fn tick_context(&mut self, ctx: u32) -> Result<(), HostError> {
        let data = self.store.data_mut();
        if let Some(period) = data.tick_periods.get(&ctx).copied() {
            let next = data.clock.now() + period;
            data.next_ticks.insert(ctx, next);
        }
        self.invoke(Callback::Tick, ctx, |e| &e.tick, ctx as i32)?;
        self.settle()
    }

    fn time_out_call(&mut self, token: u32) -> Result<(), HostError> {
        let body = b"upstream request timeout".to_vec();
        let headers = vec![
            (":status".to_string(), b"504".to_vec()),
            (
                "content-length".to_string(),
                body.len().to_string().into_bytes(),
            ),
            ("content-type".to_string(), b"text/plain".to_vec()),
        ];
        self.deliver_call(
            token,
            CallAnswer {
                headers,
                body,
                trailers: Vec::new(),
                status: 504,
            },
        )
    }

    /// The tick period the plugin's root context asked for.
    pub fn tick_period(&self) -> Option<Duration> {
        self.store
            .data()
            .tick_periods
            .get(&self.root_context)
            .copied()
    }

    // ---- what the filter left behind

    /// Size of the guest's linear memory in bytes (64 KiB pages).
    pub fn memory_size(&self) -> usize {
        self.store
            .data()
            .memory
            .map_or(0, |m| m.data_size(&self.store))
    }

    pub fn memory_pages(&self) -> usize {
        self.memory_size() / 65536
    }

    pub fn logs(&self) -> &[LogLine] {
        &self.store.data().logs
    }

    pub fn clear_logs(&mut self) {
        self.store.data_mut().logs.clear();
    }

    /// All log lines, one per line, `LEVEL message`.
    pub fn log_text(&self) -> String {
        self.logs()
            .iter()
            .map(|l| format!("{:?} {}\n", l.level, l.message))
            .collect()
    }

    /// A counter's or gauge's value by the name the filter defined.
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.store
            .data()
            .metrics
            .values()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }

    pub fn metrics(&self) -> Vec<Metric> {
        self.store.data().metrics.values().cloned().collect()
    }

    /// What a real host would have refused or ignored; empty for a portable filter.
    pub fn violations(&self) -> &[String] {
        &self.store.data().violations
    }

    /// How often the guest made each hostcall.
    pub fn hostcalls_used(&self) -> BTreeMap<&'static str, u64> {
        self.store.data().hostcalls.clone()
    }

    /// Streams whose context has not been deleted.
    pub fn live_streams(&self) -> usize {
        self.store
            .data()
            .streams
            .values()
            .filter(|s| !s.finished)
            .count()
    }

    /// Forget finished streams (a long run keeps only what it still needs).
    pub fn forget_finished_streams(&mut self) {
        self.store.data_mut().streams.retain(|_, s| !s.finished);
    }

    /// A shared-data value as this VM sees it (under its `vm_id`).
    pub fn shared_data(&self, key: &str) -> Option<Vec<u8>> {
        let data = self.store.data();
        let shared = data.shared_data.as_ref()?;
        shared.entry(&data.vm_id, key).map(|(v, _)| v)
    }

    /// The shared-data store this VM uses (`None` for a host without shared data).
    pub fn shared(&self) -> Option<&SharedData> {
        self.store.data().shared_data.as_ref()
    }

    /// The VM's `vm_id`.
    pub fn vm_id(&self) -> &str {
        &self.store.data().vm_id
    }

    /// A property set on the root context (not on a stream).
    pub fn property(&self, path: &str) -> Option<Vec<u8>> {
        self.store.data().properties.get(path).cloned()
    }

    /// Why the VM failed, if a callback trapped.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    // ---- direct access, for testing the host itself with small guests

    /// Call the guest's export `name` (i32 parameters, one i32 result) with `context` as the
    /// effective context, then carry out what it asked for (resumes, `proxy_done`, queues).
    pub fn call_guest(&mut self, context: u32, name: &str, args: &[i32]) -> Result<i32, HostError> {
        if let Some(why) = &self.failed {
            return Err(HostError::Failed(why.clone()));
        }
        let f = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| HostError::Usage(format!("no export {name}")))?;
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut results = [Val::I32(0)];
        let data = self.store.data_mut();
        let saved = (data.current, data.effective_context);
        data.current = Some((Callback::External, context));
        data.effective_context = context;
        let result = f.call(&mut self.store, &params, &mut results);
        let data = self.store.data_mut();
        (data.current, data.effective_context) = saved;
        result.map_err(|e| HostError::Trap(format!("{name}: {e:#}")))?;
        self.settle()?;
        Ok(results[0].i32().unwrap_or_default())
    }

    /// Bytes of the guest's linear memory (empty if out of bounds).
    pub fn read_memory(&self, ptr: u32, len: u32) -> Vec<u8> {
        let Some(memory) = self.store.data().memory else {
            return Vec::new();
        };
        let (start, end) = (ptr as usize, ptr as usize + len as usize);
        memory
            .data(&self.store)
            .get(start..end)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }

    pub fn write_memory(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), HostError> {
        let memory = self
            .store
            .data()
            .memory
            .ok_or_else(|| HostError::Usage("no memory".into()))?;
        memory
            .write(&mut self.store, ptr as usize, bytes)
            .map_err(|e| HostError::Usage(format!("write at {ptr}: {e}")))
    }

    /// The context ids Envoy would use: the VM's root context and the plugin's.
    pub fn root_contexts(&self) -> (u32, u32) {
        (self.vm_context, self.root_context)
    }
}
