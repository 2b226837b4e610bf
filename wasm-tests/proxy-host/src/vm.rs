//! Loading a module and starting it the way Envoy (proxy-wasm-cpp-host) does: WASI preview 1
//! and the `env` hostcalls linked, `_initialize` (then `main`) or `_start`, a VM context with
//! `proxy_on_vm_start`, then the plugin's root context with `proxy_on_configure`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use wasmtime::{Engine, Instance, Linker, Module, Store, TypedFunc, WasmParams, WasmResults};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::abi::LogLevel;
use crate::hostcalls;
use crate::shared::SharedData;
use crate::state::{
    Callback, Clock, Extras, ForeignFunction, ForeignFunctionImpl, HostData, LogLine,
};
use crate::{Host, HostError};

/// What stdout and stderr may hold over a VM's life; past it the guest's write fails.
const STDIO_CAPACITY: usize = 16 << 20;

/// The process's engine and the modules compiled with it, by a hash of their bytes.
type Compiled = Mutex<(Option<Engine>, HashMap<u64, Module>)>;

/// One engine per process, and each module compiled once per process (tests load the same
/// `.wasm` many times; compiling it is most of a load).
fn compiled(bytes: &[u8]) -> Result<(Engine, Module), HostError> {
    static CACHE: OnceLock<Compiled> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new((None, HashMap::new())));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let engine = cache.0.get_or_insert_with(Engine::default).clone();
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        h.finish()
    };
    if let Some(module) = cache.1.get(&key) {
        return Ok((engine, module.clone()));
    }
    let module = Module::new(&engine, bytes)
        .map_err(|e| HostError::Load(format!("cannot compile the module: {e:#}")))?;
    cache.1.insert(key, module.clone());
    Ok((engine, module))
}

/// What a module imports, as (module, name) pairs.
pub fn module_imports(bytes: &[u8]) -> Result<Vec<(String, String)>, HostError> {
    let (_, module) = compiled(bytes)?;
    Ok(module
        .imports()
        .map(|i| (i.module().to_string(), i.name().to_string()))
        .collect())
}

/// A callback taking (context id, call token, headers, body size, trailers).
type CallResponseFn = TypedFunc<(i32, i32, i32, i32, i32), ()>;

/// The module's callbacks, each optional as the spec says.
pub struct Exports {
    pub initialize: Option<TypedFunc<(), ()>>,
    pub main: Option<TypedFunc<(i32, i32), i32>>,
    pub start: Option<TypedFunc<(), ()>>,
    pub context_create: Option<TypedFunc<(i32, i32), ()>>,
    pub vm_start: Option<TypedFunc<(i32, i32), i32>>,
    pub configure: Option<TypedFunc<(i32, i32), i32>>,
    pub tick: Option<TypedFunc<i32, ()>>,
    pub request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub request_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub request_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub response_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub response_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    pub response_trailers: Option<TypedFunc<(i32, i32), i32>>,
    pub http_call_response: Option<CallResponseFn>,
    pub queue_ready: Option<TypedFunc<(i32, i32), ()>>,
    pub done: Option<TypedFunc<i32, i32>>,
    pub log: Option<TypedFunc<i32, ()>>,
    pub delete: Option<TypedFunc<i32, ()>>,
}

fn export<P: WasmParams, R: WasmResults>(
    instance: &Instance,
    store: &mut Store<HostData>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, HostError> {
    if instance.get_export(&mut *store, name).is_none() {
        return Ok(None);
    }
    instance
        .get_typed_func::<P, R>(&mut *store, name)
        .map(Some)
        .map_err(|e| HostError::Load(format!("export {name} has the wrong signature: {e:#}")))
}

/// Settings of a host before it loads a module: the plugin and VM configuration, the VM's
/// environment (Envoy's `host_env_keys`), clusters for HTTP calls, properties, the clock.
pub struct HostBuilder {
    env: Vec<(String, String)>,
    vm_configuration: Vec<u8>,
    plugin_configuration: Vec<u8>,
    clusters: HashSet<String>,
    extras: Extras,
    metrics_enabled: bool,
    properties: BTreeMap<String, Vec<u8>>,
    foreign_functions: HashMap<String, Arc<ForeignFunctionImpl>>,
    /// `None`: a store of its own per load; `Some(None)`: no shared data at all.
    shared_data: Option<Option<SharedData>>,
    time: SystemTime,
    log_level: LogLevel,
    plugin_name: String,
    root_id: String,
    vm_id: String,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            env: Vec::new(),
            vm_configuration: Vec::new(),
            plugin_configuration: Vec::new(),
            clusters: HashSet::new(),
            extras: Extras::Envoy,
            metrics_enabled: true,
            properties: BTreeMap::new(),
            foreign_functions: HashMap::new(),
            shared_data: None,
            // 2026-01-15T12:00:00Z: a fixed, recent time, so signatures are reproducible.
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_768_478_400),
            log_level: LogLevel::Info,
            plugin_name: "bedrock-filter".into(),
            root_id: "bedrock-filter".into(),
            vm_id: "bedrock-filter".into(),
        }
    }
}

impl HostBuilder {
    /// A variable in the VM's environment (what Envoy passes with `host_env_keys`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The plugin configuration (`configuration` in Envoy's Wasm filter config).
    pub fn plugin_configuration(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.plugin_configuration = bytes.into();
        self
    }

    /// The VM configuration (`vm_config.configuration`).
    pub fn vm_configuration(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.vm_configuration = bytes.into();
        self
    }

    /// A cluster `proxy_http_call` may name; calls to others answer BadArgument, as in Envoy.
    pub fn cluster(mut self, name: &str) -> Self {
        self.clusters.insert(name.into());
        self
    }

    pub fn extras(mut self, extras: Extras) -> Self {
        self.extras = extras;
        self
    }

    /// A host without stats: `proxy_define_metric` answers Unimplemented.
    pub fn without_metrics(mut self) -> Self {
        self.metrics_enabled = false;
        self
    }

    /// A property `proxy_get_property` answers (path parts joined with dots).
    pub fn property(mut self, path: &str, value: impl Into<Vec<u8>>) -> Self {
        self.properties.insert(path.into(), value.into());
        self
    }

    pub fn foreign_function(mut self, name: &str, f: ForeignFunction) -> Self {
        self.foreign_functions.insert(name.into(), Arc::from(f));
        self
    }

    /// The process's shared data this VM sees (under its `vm_id`): hand the same store to
    /// several hosts and they share it, as Envoy's workers do. Without this each host has a
    /// store of its own.
    pub fn shared_data(mut self, shared: &SharedData) -> Self {
        self.shared_data = Some(Some(shared.clone()));
        self
    }

    /// A host without shared data: `proxy_get_shared_data` and `proxy_set_shared_data` answer
    /// Unimplemented.
    pub fn without_shared_data(mut self) -> Self {
        self.shared_data = Some(None);
        self
    }

    /// The VM's `vm_id` (`vm_config.vm_id`): what partitions shared data and queues, and what
    /// `plugin_vm_id` answers.
    pub fn vm_id(mut self, vm_id: &str) -> Self {
        self.vm_id = vm_id.into();
        self
    }

    /// The host clock at start.
    pub fn time(mut self, t: SystemTime) -> Self {
        self.time = t;
        self
    }

    /// What `proxy_get_log_level` answers.
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// Load `path`, start the VM and configure the plugin. A plugin that refuses its
    /// configuration is an error carrying its log, as Envoy refuses such a filter config.
    pub fn load(self, path: &Path) -> Result<Host, HostError> {
        let bytes = std::fs::read(path)
            .map_err(|e| HostError::Load(format!("cannot read {}: {e}", path.display())))?;
        self.load_bytes(&bytes)
    }

    pub fn load_bytes(self, bytes: &[u8]) -> Result<Host, HostError> {
        let shared = self
            .shared_data
            .clone()
            .unwrap_or_else(|| Some(SharedData::new()));
        self.instantiate(bytes, shared)
    }

    /// `n` VMs of the module with these settings, as Envoy starts one per worker thread
    /// (`--concurrency n`): each started and configured in turn, all sharing one shared-data
    /// store (the one given with [`HostBuilder::shared_data`], else a new one). Each VM has
    /// its own contexts, stats, logs and clock (all starting at the builder's time: move
    /// each one's clock when time passes).
    pub fn load_workers(self, path: &Path, n: usize) -> Result<Vec<Host>, HostError> {
        let bytes = std::fs::read(path)
            .map_err(|e| HostError::Load(format!("cannot read {}: {e}", path.display())))?;
        let shared = self
            .shared_data
            .clone()
            .unwrap_or_else(|| Some(SharedData::new()));
        (0..n)
            .map(|_| self.instantiate(&bytes, shared.clone()))
            .collect()
    }

    fn instantiate(&self, bytes: &[u8], shared: Option<SharedData>) -> Result<Host, HostError> {
        let (engine, module) = compiled(bytes)?;
        check_abi(&module)?;
        let mut linker: Linker<HostData> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |d: &mut HostData| &mut d.wasi)
            .map_err(|e| HostError::Load(format!("{e:#}")))?;
        hostcalls::add_to_linker(&mut linker).map_err(|e| HostError::Load(format!("{e:#}")))?;
        let clock = Clock::at(self.time);
        let mut store = Store::new(&engine, self.data(&clock, shared));
        check_imports(&module, &linker, &mut store)?;
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(|e| HostError::Load(format!("cannot instantiate: {e:#}")))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| HostError::Load("the module exports no memory".into()))?;
        let allocate = match export(&instance, &mut store, "proxy_on_memory_allocate")? {
            Some(f) => Some(f),
            None => export(&instance, &mut store, "malloc")?,
        };
        store.data_mut().memory = Some(memory);
        store.data_mut().allocate = allocate;
        let exports = Exports {
            initialize: export(&instance, &mut store, "_initialize")?,
            main: export(&instance, &mut store, "main")?,
            start: export(&instance, &mut store, "_start")?,
            context_create: export(&instance, &mut store, "proxy_on_context_create")?,
            vm_start: export(&instance, &mut store, "proxy_on_vm_start")?,
            configure: export(&instance, &mut store, "proxy_on_configure")?,
            tick: export(&instance, &mut store, "proxy_on_tick")?,
            request_headers: export(&instance, &mut store, "proxy_on_request_headers")?,
            request_body: export(&instance, &mut store, "proxy_on_request_body")?,
            request_trailers: export(&instance, &mut store, "proxy_on_request_trailers")?,
            response_headers: export(&instance, &mut store, "proxy_on_response_headers")?,
            response_body: export(&instance, &mut store, "proxy_on_response_body")?,
            response_trailers: export(&instance, &mut store, "proxy_on_response_trailers")?,
            http_call_response: export(&instance, &mut store, "proxy_on_http_call_response")?,
            queue_ready: export(&instance, &mut store, "proxy_on_queue_ready")?,
            done: export(&instance, &mut store, "proxy_on_done")?,
            log: export(&instance, &mut store, "proxy_on_log")?,
            delete: export(&instance, &mut store, "proxy_on_delete")?,
        };
        let mut host = Host {
            store,
            instance,
            exports,
            vm_context: 1,
            root_context: 2,
            next_context: 3,
            failed: None,
        };
        host.start(self.vm_configuration.len(), self.plugin_configuration.len())?;
        Ok(host)
    }

    fn data(&self, clock: &Clock, shared_data: Option<SharedData>) -> HostData {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .envs(&self.env)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .build_p1();
        HostData {
            wasi,
            stdout,
            stderr,
            stdio_read: (0, 0),
            memory: None,
            allocate: None,
            clock: clock.clone(),
            log_level: self.log_level,
            extras: self.extras,
            metrics_enabled: self.metrics_enabled,
            vm_configuration: self.vm_configuration.clone(),
            plugin_configuration: self.plugin_configuration.clone(),
            plugin_name: self.plugin_name.clone(),
            root_id: self.root_id.clone(),
            vm_id: self.vm_id.clone(),
            clusters: self.clusters.clone(),
            properties: self.properties.clone(),
            foreign_functions: self.foreign_functions.clone(),
            current: None,
            effective_context: 0,
            root_contexts: HashSet::new(),
            streams: BTreeMap::new(),
            pending_done: HashSet::new(),
            done_called: Vec::new(),
            stream_actions: Vec::new(),
            tick_periods: BTreeMap::new(),
            next_ticks: BTreeMap::new(),
            next_token: 1,
            http_calls: BTreeMap::new(),
            dispatched: Vec::new(),
            call_answer: None,
            metrics: BTreeMap::new(),
            metric_ids: HashMap::new(),
            shared_data,
            queues: BTreeMap::new(),
            queue_ready: Vec::new(),
            queue_owner: HashMap::new(),
            logs: Vec::new(),
            violations: Vec::new(),
            hostcalls: BTreeMap::new(),
        }
    }
}

/// The module must declare an ABI version this host speaks.
fn check_abi(module: &Module) -> Result<(), HostError> {
    let versions: Vec<String> = module
        .exports()
        .map(|e| e.name().to_string())
        .filter(|n| n.starts_with("proxy_abi_version_"))
        .collect();
    if versions
        .iter()
        .any(|v| v == "proxy_abi_version_0_2_1" || v == "proxy_abi_version_0_2_0")
    {
        return Ok(());
    }
    Err(HostError::Load(format!(
        "the module declares ABI {versions:?}; this host speaks 0.2.1 and 0.2.0"
    )))
}

/// Every import must be one this host defines: name all the missing ones at once.
fn check_imports(
    module: &Module,
    linker: &Linker<HostData>,
    store: &mut Store<HostData>,
) -> Result<(), HostError> {
    let missing: Vec<String> = module
        .imports()
        .filter(|i| linker.get(&mut *store, i.module(), i.name()).is_err())
        .map(|i| format!("{}.{}", i.module(), i.name()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(HostError::Load(format!(
        "the module imports what this host does not implement: {}",
        missing.join(", ")
    )))
}

impl Host {
    fn start(&mut self, vm_config_len: usize, plugin_config_len: usize) -> Result<(), HostError> {
        if self.exports.initialize.is_some() {
            self.invoke(Callback::Start, 0, |e| &e.initialize, ())?;
            self.invoke(Callback::Start, 0, |e| &e.main, (0, 0))?;
        } else {
            self.invoke(Callback::Start, 0, |e| &e.start, ())?;
        }
        let (vm, root) = (self.vm_context, self.root_context);
        self.create_root(vm)?;
        let params = (vm as i32, vm_config_len as i32);
        let ok = self.invoke(Callback::VmStart, vm, |e| &e.vm_start, params)?;
        if ok == Some(0) {
            return Err(HostError::Configure {
                callback: "proxy_on_vm_start",
                logs: self.logs().to_vec(),
            });
        }
        self.create_root(root)?;
        let params = (root as i32, plugin_config_len as i32);
        let ok = self.invoke(Callback::Configure, root, |e| &e.configure, params)?;
        if ok == Some(0) {
            return Err(HostError::Configure {
                callback: "proxy_on_configure",
                logs: self.logs().to_vec(),
            });
        }
        self.settle()
    }

    fn create_root(&mut self, id: u32) -> Result<(), HostError> {
        self.store.data_mut().root_contexts.insert(id);
        self.invoke(
            Callback::ContextCreate,
            id,
            |e| &e.context_create,
            (id as i32, 0),
        )?;
        Ok(())
    }

    /// Run one callback for `context`: it becomes the effective context; a trap fails the VM
    /// (as in Envoy, where a trapped VM serves no more requests).
    pub(crate) fn invoke<P: WasmParams, R: WasmResults>(
        &mut self,
        callback: Callback,
        context: u32,
        select: fn(&Exports) -> &Option<TypedFunc<P, R>>,
        params: P,
    ) -> Result<Option<R>, HostError> {
        if let Some(why) = &self.failed {
            return Err(HostError::Failed(why.clone()));
        }
        let Some(f) = select(&self.exports).clone() else {
            return Ok(None);
        };
        let data = self.store.data_mut();
        let saved = (data.current, data.effective_context);
        data.current = Some((callback, context));
        data.effective_context = context;
        let result = f.call(&mut self.store, params);
        let data = self.store.data_mut();
        (data.current, data.effective_context) = saved;
        self.drain_stdio();
        match result {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                let panic = self
                    .logs()
                    .iter()
                    .rev()
                    .find(|l| l.level == LogLevel::Critical)
                    .map(|l| l.message.clone());
                let message = match panic {
                    Some(p) => format!("{e:#} (the guest logged: {p})"),
                    None => format!("{e:#}"),
                };
                let message = format!("{callback:?} on context {context} trapped: {message}");
                self.failed = Some(message.clone());
                Err(HostError::Trap(message))
            }
        }
    }

    /// stdout and stderr as log lines (INFO and ERROR, as the spec says for `fd_write`).
    fn drain_stdio(&mut self) {
        let data = self.store.data_mut();
        let out = data.stdout.contents();
        let err = data.stderr.contents();
        let (o, e) = data.stdio_read;
        let context = data.effective_context;
        for (bytes, from, level) in [(&out, o, LogLevel::Info), (&err, e, LogLevel::Error)] {
            let Some(new) = bytes.get(from..) else {
                continue;
            };
            for line in String::from_utf8_lossy(new).lines() {
                data.logs.push(LogLine {
                    level,
                    context_id: context,
                    message: line.to_string(),
                });
            }
        }
        data.stdio_read = (out.len(), err.len());
    }
}
