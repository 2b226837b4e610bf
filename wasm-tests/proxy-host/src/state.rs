//! What the host keeps between hostcalls: contexts, HTTP streams, calls out, stats, shared
//! data, logs. Everything the tests read afterwards lives here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::{Memory, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::abi::{Field, LogLevel, MetricType};
use crate::shared::SharedData;

/// The host clock: what `proxy_get_current_time_nanoseconds` and WASI's clocks answer. Tests
/// move it; nothing reads the machine's clock.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Mutex<Duration>>);

impl Clock {
    pub fn at(t: SystemTime) -> Clock {
        Clock(Arc::new(Mutex::new(
            t.duration_since(UNIX_EPOCH).unwrap_or_default(),
        )))
    }

    pub fn since_epoch(&self) -> Duration {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + self.since_epoch()
    }

    pub fn set(&self, t: SystemTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
            t.duration_since(UNIX_EPOCH).unwrap_or_default();
    }
}

impl wasmtime_wasi::HostWallClock for Clock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        self.since_epoch()
    }
}

impl wasmtime_wasi::HostMonotonicClock for Clock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        u64::try_from(self.since_epoch().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One line the guest logged (`proxy_log`, or stdout / stderr through WASI `fd_write`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub context_id: u32,
    pub message: String,
}

/// A stat the guest defined, under the name it gave (Envoy adds a `wasmcustom.` prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    pub kind: MetricType,
    pub name: String,
    /// Counter and gauge value; for a histogram, the last recorded value.
    pub value: i64,
    /// Every value recorded into a histogram.
    pub samples: Vec<u64>,
}

/// An HTTP call the guest dispatched (`proxy_http_call`), waiting for the test's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    /// The context that dispatched it; the answer goes to this context.
    pub context_id: u32,
    pub cluster: String,
    pub headers: Vec<Field>,
    pub body: Vec<u8>,
    pub trailers: Vec<Field>,
    pub timeout: Duration,
    /// Host clock time at which Envoy would give up and answer 504.
    pub deadline: SystemTime,
}

impl HttpCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        field(&self.headers, name)
    }
}

/// The first value of `name` (case-insensitive), if it is UTF-8.
pub fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// Where one direction's headers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadersState {
    NotReceived,
    /// Received, and held by the filter (its headers callback, or everything since, paused).
    Held,
    /// Passed on (upstream for the request, to the client for the response).
    Sent,
}

/// One direction (request or response) of an HTTP stream as the host moves it.
#[derive(Clone, Debug)]
pub struct Direction {
    pub headers: Vec<Field>,
    pub headers_state: HeadersState,
    pub trailers: Vec<Field>,
    /// The body buffer the filter sees: the current chunk, or everything buffered since it
    /// started pausing. `None` outside a body callback and when nothing is held.
    pub body: Option<Vec<u8>>,
    /// The filter answered `Pause` to a body callback: the next chunk is appended, not swapped.
    pub buffering: bool,
    /// End of stream has arrived from the peer.
    pub end_seen: bool,
    /// The filter paused at the end of stream: only `proxy_continue_stream` (or a local reply)
    /// moves this direction on.
    pub waiting_for_continue: bool,
    /// Everything passed on, in order: the headers when sent, each body piece, trailers.
    pub sent_body: Vec<u8>,
    pub sent_chunks: Vec<Vec<u8>>,
    pub sent_trailers: Option<Vec<Field>>,
    /// The headers as they were when passed on.
    pub sent_headers: Option<Vec<Field>>,
    /// End of stream has been passed on.
    pub complete: bool,
}

impl Default for Direction {
    fn default() -> Self {
        Direction {
            headers: Vec::new(),
            headers_state: HeadersState::NotReceived,
            trailers: Vec::new(),
            body: None,
            buffering: false,
            end_seen: false,
            waiting_for_continue: false,
            sent_body: Vec::new(),
            sent_chunks: Vec::new(),
            sent_trailers: None,
            sent_headers: None,
            complete: false,
        }
    }
}

/// A reply the filter asked for with `proxy_send_local_response`; applied once the callback
/// returns, as Envoy does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub headers: Vec<Field>,
    pub body: Vec<u8>,
    pub grpc_status: i32,
}

/// One HTTP stream (request and response share a context, as in the ABI).
#[derive(Clone, Debug, Default)]
pub struct HttpStream {
    pub request: Direction,
    pub response: Direction,
    pub pending_local_reply: Option<LocalReply>,
    /// The local reply the filter sent, once applied.
    pub local_reply: Option<LocalReply>,
    /// The filter (or the host on its behalf) reset the stream.
    pub reset: bool,
    /// Properties the filter set on this stream (`proxy_set_property`), e.g. access-log fields.
    pub properties: BTreeMap<String, Vec<u8>>,
    /// The upstream response has started (local replies from now on bypass the filter).
    pub upstream_responded: bool,
    /// on_done / on_log / on_delete have run.
    pub finished: bool,
}

/// Which callback is running, so hostcalls can tell what the guest may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    Start,
    VmStart,
    Configure,
    ContextCreate,
    Tick,
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
    HttpCallResponse,
    QueueReady,
    /// A test calling a guest export directly ([`crate::Host::call_guest`]).
    External,
    Done,
    Log,
    Delete,
    MemoryAllocate,
}

/// A resume or reset the guest asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamAction {
    Continue(crate::abi::StreamType),
    Close(crate::abi::StreamType),
}

/// The answer being delivered to `proxy_on_http_call_response`.
#[derive(Clone, Debug, Default)]
pub struct CallAnswer {
    pub headers: Vec<Field>,
    pub body: Vec<u8>,
    pub trailers: Vec<Field>,
    pub status: u32,
}

/// A foreign function the test registers (`proxy_call_foreign_function`).
pub type ForeignFunction = Box<ForeignFunctionImpl>;

/// What a [`ForeignFunction`] boxes (shared by the workers of [`crate::HostBuilder::load_workers`]).
pub type ForeignFunctionImpl = dyn Fn(&[u8]) -> Result<Vec<u8>, crate::abi::Status> + Send + Sync;

/// Which of Envoy's extras the host offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extras {
    /// Properties answered like Envoy (set ones read back; `plugin_name`, `plugin_root_id`,
    /// `plugin_vm_id` and request attributes known), foreign functions the test registered.
    Envoy,
    /// A bare host: every `proxy_get_property` is NotFound, `proxy_set_property` is accepted
    /// and dropped, no foreign functions.
    Bare,
    /// A bare host that refuses `proxy_set_property` with NotFound, as the spec allows.
    BareRefusingSetProperty,
}

/// Everything a Store carries.
pub struct HostData {
    pub wasi: WasiP1Ctx,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
    /// How much of stdout / stderr has already become log lines.
    pub stdio_read: (usize, usize),
    pub memory: Option<Memory>,
    pub allocate: Option<TypedFunc<i32, i32>>,
    pub clock: Clock,
    pub log_level: LogLevel,
    pub extras: Extras,
    /// A host without stats answers `proxy_define_metric` Unimplemented.
    pub metrics_enabled: bool,
    pub vm_configuration: Vec<u8>,
    pub plugin_configuration: Vec<u8>,
    pub plugin_name: String,
    pub root_id: String,
    pub vm_id: String,
    /// Clusters `proxy_http_call` may name (Envoy answers BadArgument for others).
    pub clusters: HashSet<String>,
    pub properties: BTreeMap<String, Vec<u8>>,
    pub foreign_functions: HashMap<String, Arc<ForeignFunctionImpl>>,

    /// The running callback and the context it runs for.
    pub current: Option<(Callback, u32)>,
    /// `proxy_set_effective_context` changes this; each callback starts with its own context.
    pub effective_context: u32,
    pub root_contexts: HashSet<u32>,
    pub streams: BTreeMap<u32, HttpStream>,
    /// Stream contexts whose on_done answered false: waiting for `proxy_done`.
    pub pending_done: HashSet<u32>,
    /// `proxy_done` was called for these during a callback.
    pub done_called: Vec<u32>,
    /// `proxy_continue_stream` / `proxy_close_stream` calls, carried out once the running
    /// callback returns.
    pub stream_actions: Vec<(u32, StreamAction)>,

    pub tick_periods: BTreeMap<u32, Duration>,
    pub next_ticks: BTreeMap<u32, SystemTime>,
    pub next_token: u32,
    pub http_calls: BTreeMap<u32, HttpCall>,
    pub dispatched: Vec<HttpCall>,
    pub call_answer: Option<CallAnswer>,

    pub metrics: BTreeMap<u32, Metric>,
    pub metric_ids: HashMap<(MetricType, String), u32>,
    /// The process's shared data, seen through this VM's `vm_id`; `None`: a host without
    /// shared data (get and set answer Unimplemented).
    pub shared_data: Option<SharedData>,
    pub queues: BTreeMap<u32, (String, String, VecDeque<Vec<u8>>)>,
    /// Queues that got an item: `proxy_on_queue_ready` is due for their owner.
    pub queue_ready: Vec<u32>,
    pub queue_owner: HashMap<u32, u32>,

    pub logs: Vec<LogLine>,
    /// Things a real host would refuse, ignore or behave differently on (headers changed after
    /// they were sent, a body replacement Envoy cannot do ...). Tests assert this stays empty.
    pub violations: Vec<String>,
    /// How often each hostcall was made, by name.
    pub hostcalls: BTreeMap<&'static str, u64>,
}

impl HostData {
    pub fn violation(&mut self, what: String) {
        self.violations.push(what);
    }

    pub fn count(&mut self, name: &'static str) {
        *self.hostcalls.entry(name).or_insert(0) += 1;
    }

    pub fn current_callback(&self) -> Option<Callback> {
        self.current.map(|(c, _)| c)
    }
}
