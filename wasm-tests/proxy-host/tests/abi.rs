//! The host itself against the Proxy-Wasm ABI v0.2.1: each hostcall called directly from a
//! small hand-assembled guest, with the spec's status codes, serialization and pointer checks.

mod common;

use std::time::Duration;

use common::assert_clean;
use common::wasm::{hostcall_harness, hostcall_harness_marked};
use proxy_host::{Host, HostError, Status, deserialize_map, serialize_map};

const HOSTCALLS: &[(&str, &str)] = &[
    ("proxy_log", "iii"),
    ("proxy_get_log_level", "i"),
    ("proxy_get_current_time_nanoseconds", "i"),
    ("proxy_set_tick_period_milliseconds", "i"),
    ("proxy_get_buffer_bytes", "iiiii"),
    ("proxy_get_buffer_status", "iii"),
    ("proxy_set_buffer_bytes", "iiiii"),
    ("proxy_get_header_map_pairs", "iii"),
    ("proxy_set_header_map_pairs", "iii"),
    ("proxy_get_header_map_size", "ii"),
    ("proxy_get_header_map_value", "iiiii"),
    ("proxy_add_header_map_value", "iiiii"),
    ("proxy_replace_header_map_value", "iiiii"),
    ("proxy_remove_header_map_value", "iii"),
    ("proxy_get_property", "iiii"),
    ("proxy_set_property", "iiii"),
    ("proxy_get_shared_data", "iiiii"),
    ("proxy_set_shared_data", "iiiii"),
    ("proxy_register_shared_queue", "iii"),
    ("proxy_resolve_shared_queue", "iiiii"),
    ("proxy_enqueue_shared_queue", "iii"),
    ("proxy_dequeue_shared_queue", "iii"),
    ("proxy_continue_stream", "i"),
    ("proxy_close_stream", "i"),
    ("proxy_send_local_response", "iiiiiiii"),
    ("proxy_http_call", "iiiiiiiiii"),
    ("proxy_get_status", "iii"),
    ("proxy_set_effective_context", "i"),
    ("proxy_call_foreign_function", "iiiiii"),
    ("proxy_done", ""),
    ("proxy_define_metric", "iiii"),
    ("proxy_increment_metric", "iI"),
    ("proxy_record_metric", "iI"),
    ("proxy_get_metric", "ii"),
];

/// Where tests put arguments and where hostcalls write results.
const ARGS: u32 = 1024;
const RET_PTR: i32 = 8192;
const RET_SIZE: i32 = 8196;
const RET_EXTRA: i32 = 8200;

struct Guest {
    host: Host,
    next: u32,
}

impl Guest {
    fn new() -> Guest {
        Guest::with(Host::builder().cluster("metadata"))
    }

    fn with(builder: proxy_host::HostBuilder) -> Guest {
        let host = builder.load_bytes(&hostcall_harness(HOSTCALLS)).unwrap();
        Guest { host, next: ARGS }
    }

    fn root(&self) -> u32 {
        self.host.root_contexts().1
    }

    /// Put `bytes` in guest memory: (pointer, length).
    fn put(&mut self, bytes: &[u8]) -> (i32, i32) {
        let at = self.next;
        self.host.write_memory(at, bytes).unwrap();
        self.next += bytes.len() as u32 + 8;
        (at as i32, bytes.len() as i32)
    }

    fn call(&mut self, context: u32, hostcall: &str, args: &[i32]) -> i32 {
        self.next = ARGS;
        self.host
            .call_guest(context, &format!("call_{hostcall}"), args)
            .unwrap()
    }

    fn u32_at(&self, ptr: i32) -> u32 {
        u32::from_le_bytes(self.host.read_memory(ptr as u32, 4).try_into().unwrap())
    }

    fn u64_at(&self, ptr: i32) -> u64 {
        u64::from_le_bytes(self.host.read_memory(ptr as u32, 8).try_into().unwrap())
    }

    /// The (pointer, size) pair a hostcall returned, read from guest memory.
    fn returned(&self) -> Vec<u8> {
        let (ptr, size) = (self.u32_at(RET_PTR), self.u32_at(RET_SIZE));
        if ptr == 0 {
            assert_eq!(size, 0);
            return Vec::new();
        }
        self.host.read_memory(ptr, size)
    }
}

const OK: i32 = Status::Ok as i32;
const NOT_FOUND: i32 = Status::NotFound as i32;
const BAD_ARGUMENT: i32 = Status::BadArgument as i32;
const INVALID_MEMORY: i32 = Status::InvalidMemoryAccess as i32;

#[test]
fn logging_levels_and_bad_pointers() {
    let mut g = Guest::new();
    let root = g.root();
    let (p, l) = g.put(b"hello from the guest");
    assert_eq!(g.call(root, "proxy_log", &[2, p, l]), OK);
    let last = g.host.logs().last().unwrap().clone();
    assert_eq!(last.message, "hello from the guest");
    assert_eq!(last.context_id, root);
    let (p, l) = g.put(b"x");
    assert_eq!(g.call(root, "proxy_log", &[9, p, l]), BAD_ARGUMENT);
    assert_eq!(
        g.call(root, "proxy_log", &[2, 4 * 65536 - 2, 10]),
        INVALID_MEMORY
    );
    assert_eq!(g.call(root, "proxy_log", &[2, -1, 10]), INVALID_MEMORY);
    assert_eq!(g.call(root, "proxy_get_log_level", &[RET_PTR]), OK);
    assert_eq!(g.u32_at(RET_PTR), 2, "info");
    assert_eq!(
        g.call(root, "proxy_get_log_level", &[4 * 65536]),
        INVALID_MEMORY
    );
    assert_clean(&g.host);
}

#[test]
fn time_follows_the_host_clock() {
    let mut g = Guest::new();
    let root = g.root();
    assert_eq!(
        g.call(root, "proxy_get_current_time_nanoseconds", &[RET_PTR]),
        OK
    );
    let t0 = g.u64_at(RET_PTR);
    assert_eq!(t0, 1_768_478_400 * 1_000_000_000);
    g.host.advance_time(Duration::from_millis(1500)).unwrap();
    g.call(root, "proxy_get_current_time_nanoseconds", &[RET_PTR]);
    assert_eq!(g.u64_at(RET_PTR) - t0, 1_500_000_000);
    assert_eq!(
        g.call(root, "proxy_set_tick_period_milliseconds", &[250]),
        OK
    );
    assert_eq!(g.host.tick_period(), Some(Duration::from_millis(250)));
    assert_eq!(g.call(root, "proxy_set_tick_period_milliseconds", &[0]), OK);
    assert_eq!(g.host.tick_period(), None);
}

impl Guest {
    fn get_shared(&mut self, key: &[u8]) -> i32 {
        let root = self.root();
        let (k, kl) = self.put(key);
        self.call(
            root,
            "proxy_get_shared_data",
            &[k, kl, RET_PTR, RET_SIZE, RET_EXTRA],
        )
    }

    fn set_shared(&mut self, key: &[u8], value: &[u8], cas: u32) -> i32 {
        let root = self.root();
        let (k, kl) = self.put(key);
        let (v, vl) = self.put(value);
        self.call(root, "proxy_set_shared_data", &[k, kl, v, vl, cas as i32])
    }

    /// The cas the last successful get returned.
    fn cas(&self) -> u32 {
        self.u32_at(RET_EXTRA)
    }
}

const CAS_MISMATCH: i32 = Status::CasMismatch as i32;

#[test]
fn shared_data_with_compare_and_swap() {
    let mut g = Guest::new();
    assert_eq!(g.get_shared(b"key"), NOT_FOUND);
    assert_eq!(g.set_shared(b"key", b"one", 0), OK);
    assert_eq!(g.get_shared(b"key"), OK);
    assert_eq!(g.returned(), b"one");
    let cas = g.cas();
    assert_ne!(cas, 0);
    assert_eq!(g.set_shared(b"key", b"two", cas + 1), CAS_MISMATCH);
    assert_eq!(g.set_shared(b"key", b"two", cas), OK);
    assert_eq!(
        g.set_shared(b"key", b"three", cas),
        CAS_MISMATCH,
        "cas moved on"
    );
    g.get_shared(b"key");
    assert_eq!(g.returned(), b"two");
    assert!(g.cas() > cas, "a key's cas only increases");
    assert_eq!(g.host.shared_data("key").as_deref(), Some(&b"two"[..]));
    // cas 0 writes whatever is there.
    assert_eq!(g.set_shared(b"key", b"four", 0), OK);
    g.get_shared(b"key");
    assert_eq!(g.returned(), b"four");
    // A key that does not exist is written whatever the cas (Envoy: nothing to compare with).
    assert_eq!(g.set_shared(b"fresh", b"x", 12_345), OK);
    assert_eq!(g.get_shared(b"fresh"), OK);
    assert_eq!(g.returned(), b"x");
    let stats = g.host.shared().unwrap().stats();
    assert_eq!(stats.cas_mismatches, 2);
    assert_clean(&g.host);
}

/// Envoy's workers: VMs with the same vm_id share one store, cas values come from one
/// process-wide counter, another vm_id sees nothing of it.
#[test]
fn shared_data_is_shared_by_the_vms_of_one_vm_id() {
    let shared = proxy_host::SharedData::new();
    let mut a = Guest::with(Host::builder().shared_data(&shared));
    let mut b = Guest::with(Host::builder().shared_data(&shared));
    let mut other = Guest::with(Host::builder().shared_data(&shared).vm_id("another-plugin"));
    assert_eq!(a.set_shared(b"k", b"from a", 0), OK);
    assert_eq!(b.get_shared(b"k"), OK);
    assert_eq!(b.returned(), b"from a");
    let seen_by_b = b.cas();
    assert_eq!(a.get_shared(b"k"), OK);
    assert_eq!(a.cas(), seen_by_b, "one value, one cas, whoever reads it");
    // A writes with the cas it read; B's cas is now stale.
    assert_eq!(a.set_shared(b"k", b"a again", seen_by_b), OK);
    assert_eq!(b.set_shared(b"k", b"from b", seen_by_b), CAS_MISMATCH);
    assert_eq!(b.get_shared(b"k"), OK);
    assert_eq!(b.returned(), b"a again");
    let latest = b.cas();
    assert!(latest > seen_by_b);
    assert_eq!(b.set_shared(b"k", b"from b", latest), OK);
    // Every write, to any key by any VM, takes the next cas.
    assert_eq!(a.set_shared(b"j", b"1", 0), OK);
    a.get_shared(b"j");
    let j = a.cas();
    a.get_shared(b"k");
    assert_eq!(j, a.cas() + 1);
    // Another vm_id: its own keys, in the same process.
    assert_eq!(other.get_shared(b"k"), NOT_FOUND);
    assert_eq!(other.set_shared(b"k", b"other", 0), OK);
    a.get_shared(b"k");
    assert_eq!(a.returned(), b"from b");
    assert_eq!(
        shared.entries("bedrock-filter").keys().collect::<Vec<_>>(),
        ["j", "k"]
    );
    assert_eq!(
        shared
            .entry("another-plugin", "k")
            .map(|(v, _)| v)
            .as_deref(),
        Some(&b"other"[..])
    );
    assert_eq!(shared.stats().cas_mismatches, 1);
    for g in [&a, &b, &other] {
        assert_clean(&g.host);
    }
}

/// A hook runs between a VM's read and its write: the write then carries a stale cas.
#[test]
fn a_write_hook_interleaves_another_worker() {
    let shared = proxy_host::SharedData::new();
    let mut a = Guest::with(Host::builder().shared_data(&shared));
    assert_eq!(a.set_shared(b"n", b"1", 0), OK);
    assert_eq!(a.get_shared(b"n"), OK);
    let cas = a.cas();
    let other = shared.clone();
    shared.before_write("n", move || {
        other.set("bedrock-filter", "n", b"2", 0).unwrap();
    });
    assert_eq!(shared.pending_hooks(), 1);
    assert_eq!(a.set_shared(b"n", b"3", cas), CAS_MISMATCH);
    assert_eq!(shared.pending_hooks(), 0, "a hook runs once");
    assert_eq!(a.get_shared(b"n"), OK);
    assert_eq!(a.returned(), b"2");
    assert_eq!(a.set_shared(b"n", b"3", a.cas()), OK);
    assert_eq!(a.host.shared_data("n").as_deref(), Some(&b"3"[..]));
}

#[test]
fn a_host_without_shared_data_answers_unimplemented() {
    let mut g = Guest::with(Host::builder().without_shared_data());
    let unimplemented = Status::Unimplemented as i32;
    assert_eq!(g.get_shared(b"key"), unimplemented);
    assert_eq!(g.set_shared(b"key", b"v", 0), unimplemented);
    assert!(g.host.shared().is_none());
    assert_eq!(g.host.shared_data("key"), None);
    assert_clean(&g.host);
}

#[test]
fn shared_queues() {
    let mut g = Guest::new();
    let root = g.root();
    let (n, nl) = g.put(b"jobs");
    assert_eq!(
        g.call(root, "proxy_register_shared_queue", &[n, nl, RET_PTR]),
        OK
    );
    let id = g.u32_at(RET_PTR) as i32;
    let (vm, vml) = g.put(b"bedrock-filter");
    let (n, nl) = g.put(b"jobs");
    assert_eq!(
        g.call(
            root,
            "proxy_resolve_shared_queue",
            &[vm, vml, n, nl, RET_PTR]
        ),
        OK
    );
    assert_eq!(g.u32_at(RET_PTR) as i32, id);
    let (vm, vml) = g.put(b"bedrock-filter");
    let (n, nl) = g.put(b"nope");
    assert_eq!(
        g.call(
            root,
            "proxy_resolve_shared_queue",
            &[vm, vml, n, nl, RET_PTR]
        ),
        NOT_FOUND
    );
    assert_eq!(
        g.call(root, "proxy_dequeue_shared_queue", &[id, RET_PTR, RET_SIZE]),
        Status::Empty as i32
    );
    let (v, vl) = g.put(b"job-1");
    assert_eq!(g.call(root, "proxy_enqueue_shared_queue", &[id, v, vl]), OK);
    assert_eq!(
        g.call(root, "proxy_dequeue_shared_queue", &[id, RET_PTR, RET_SIZE]),
        OK
    );
    assert_eq!(g.returned(), b"job-1");
    let (v, vl) = g.put(b"x");
    assert_eq!(
        g.call(root, "proxy_enqueue_shared_queue", &[id + 7, v, vl]),
        NOT_FOUND
    );
}

#[test]
fn metrics_of_each_kind() {
    let mut g = Guest::new();
    let root = g.root();
    let define = |g: &mut Guest, kind: i32, name: &[u8]| {
        let (n, nl) = g.put(name);
        let status = g.call(root, "proxy_define_metric", &[kind, n, nl, RET_PTR]);
        (status, g.u32_at(RET_PTR) as i32)
    };
    let (status, counter) = define(&mut g, 0, b"requests");
    assert_eq!(status, OK);
    assert_eq!(
        define(&mut g, 0, b"requests"),
        (OK, counter),
        "same name, same id"
    );
    let (_, gauge) = define(&mut g, 1, b"in_flight");
    let (_, histogram) = define(&mut g, 2, b"latency");
    assert_eq!(define(&mut g, 9, b"bad").0, BAD_ARGUMENT);

    assert_eq!(g.call(root, "proxy_increment_metric", &[counter, 5]), OK);
    assert_eq!(
        g.call(root, "proxy_increment_metric", &[counter, -1]),
        BAD_ARGUMENT
    );
    assert_eq!(g.call(root, "proxy_get_metric", &[counter, RET_PTR]), OK);
    assert_eq!(g.u64_at(RET_PTR), 5);
    assert_eq!(g.call(root, "proxy_record_metric", &[gauge, 7]), OK);
    assert_eq!(g.call(root, "proxy_increment_metric", &[gauge, -2]), OK);
    g.call(root, "proxy_get_metric", &[gauge, RET_PTR]);
    assert_eq!(g.u64_at(RET_PTR), 5);
    assert_eq!(g.call(root, "proxy_record_metric", &[histogram, 3]), OK);
    assert_eq!(
        g.call(root, "proxy_get_metric", &[histogram, RET_PTR]),
        BAD_ARGUMENT
    );
    assert_eq!(
        g.call(root, "proxy_increment_metric", &[histogram, 1]),
        BAD_ARGUMENT
    );
    assert_eq!(g.call(root, "proxy_get_metric", &[99, RET_PTR]), NOT_FOUND);
    assert_eq!(g.host.metric("requests"), Some(5));
    assert_eq!(g.host.metric("in_flight"), Some(5));
    let latency = g
        .host
        .metrics()
        .into_iter()
        .find(|m| m.name == "latency")
        .unwrap();
    assert_eq!(latency.samples, vec![3]);
}

#[test]
fn header_maps_serialized_as_the_spec_says() {
    let mut g = Guest::new();
    let id = g
        .host
        .request_without_body(&[
            (":method", "GET"),
            (":path", "/x"),
            ("X-Mixed", "v1"),
            ("x-mixed", "v2"),
        ])
        .unwrap()
        .id();
    // The harness has no proxy_on_request_headers: the headers went on at once.
    assert_eq!(
        g.call(id, "proxy_get_header_map_pairs", &[0, RET_PTR, RET_SIZE]),
        OK
    );
    let pairs = deserialize_map(&g.returned()).unwrap();
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [":method", ":path", "x-mixed", "x-mixed"],
        "lower-cased, in order"
    );
    assert_eq!(g.call(id, "proxy_get_header_map_size", &[0, RET_PTR]), OK);
    assert_eq!(g.u32_at(RET_PTR) as usize, serialize_map(&pairs).len());

    let (k, kl) = g.put(b"X-MIXED");
    assert_eq!(
        g.call(
            id,
            "proxy_get_header_map_value",
            &[0, k, kl, RET_PTR, RET_SIZE]
        ),
        OK
    );
    assert_eq!(
        g.returned(),
        b"v1",
        "the first value, name case-insensitive"
    );
    let (k, kl) = g.put(b"absent");
    assert_eq!(
        g.call(
            id,
            "proxy_get_header_map_value",
            &[0, k, kl, RET_PTR, RET_SIZE]
        ),
        NOT_FOUND
    );
    // Response headers do not exist yet; call answers only in their callback.
    assert_eq!(
        g.call(id, "proxy_get_header_map_pairs", &[2, RET_PTR, RET_SIZE]),
        BAD_ARGUMENT
    );
    assert_eq!(
        g.call(id, "proxy_get_header_map_pairs", &[6, RET_PTR, RET_SIZE]),
        BAD_ARGUMENT
    );
    assert_eq!(
        g.call(id, "proxy_get_header_map_pairs", &[42, RET_PTR, RET_SIZE]),
        BAD_ARGUMENT
    );
    assert!(g.host.violations().is_empty());

    // Changing headers that were already sent upstream: applied, and reported.
    let (k, kl) = g.put(b"x-late");
    let (v, vl) = g.put(b"1");
    assert_eq!(
        g.call(id, "proxy_replace_header_map_value", &[0, k, kl, v, vl]),
        OK
    );
    assert_eq!(g.host.violations().len(), 1);
    assert!(
        g.host.violations()[0].contains("after they were passed on"),
        "{:?}",
        g.host.violations()
    );
    let (m, ml) = g.put(&[9, 0, 0, 0]);
    assert_eq!(
        g.call(id, "proxy_set_header_map_pairs", &[0, m, ml]),
        BAD_ARGUMENT,
        "malformed"
    );
}

#[test]
fn buffers_outside_their_callbacks() {
    let mut g = Guest::with(Host::builder().plugin_configuration("{}"));
    let root = g.root();
    // PLUGIN_CONFIGURATION is readable in proxy_on_configure only.
    assert_eq!(
        g.call(
            root,
            "proxy_get_buffer_bytes",
            &[7, 0, 100, RET_PTR, RET_SIZE]
        ),
        NOT_FOUND
    );
    assert_eq!(
        g.call(root, "proxy_get_buffer_status", &[7, RET_PTR, RET_EXTRA]),
        NOT_FOUND
    );
    assert_eq!(
        g.call(
            root,
            "proxy_get_buffer_bytes",
            &[0, 0, 100, RET_PTR, RET_SIZE]
        ),
        NOT_FOUND
    );
    assert_eq!(
        g.call(
            root,
            "proxy_get_buffer_bytes",
            &[99, 0, 1, RET_PTR, RET_SIZE]
        ),
        BAD_ARGUMENT
    );
    let (v, vl) = g.put(b"x");
    assert_eq!(
        g.call(root, "proxy_set_buffer_bytes", &[4, 0, 0, v, vl]),
        BAD_ARGUMENT,
        "read-only"
    );
}

#[test]
fn properties() {
    let mut g = Guest::with(Host::builder().property("node.id", "n-1"));
    let root = g.root();
    let get = |g: &mut Guest, ctx: u32, path: &[u8]| {
        let (p, pl) = g.put(path);
        g.call(ctx, "proxy_get_property", &[p, pl, RET_PTR, RET_SIZE])
    };
    assert_eq!(get(&mut g, root, b"plugin_root_id"), OK);
    assert_eq!(g.returned(), b"bedrock-filter");
    assert_eq!(
        get(&mut g, root, b"node\0id"),
        OK,
        "path parts NUL-separated"
    );
    assert_eq!(g.returned(), b"n-1");
    assert_eq!(get(&mut g, root, b"no\0such\0thing"), NOT_FOUND);
    let id = g
        .host
        .request_without_body(&[(":method", "GET"), (":path", "/p?q=1")])
        .unwrap()
        .id();
    assert_eq!(get(&mut g, id, b"request\0path"), OK);
    assert_eq!(g.returned(), b"/p?q=1");
    let (p, pl) = g.put(b"my_field");
    let (v, vl) = g.put(b"42");
    assert_eq!(g.call(id, "proxy_set_property", &[p, pl, v, vl]), OK);
    assert_eq!(get(&mut g, id, b"my_field"), OK);
    assert_eq!(g.returned(), b"42");
}

#[test]
fn http_calls_need_a_known_cluster_and_the_pseudo_headers() {
    let mut g = Guest::new();
    let root = g.root();
    let call = |g: &mut Guest, cluster: &[u8], headers: &[(&str, &str)]| {
        let fields: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let (c, cl) = g.put(cluster);
        let (h, hl) = g.put(&serialize_map(&fields));
        let (b, bl) = g.put(b"body");
        g.call(
            root,
            "proxy_http_call",
            &[c, cl, h, hl, b, bl, 0, 0, 1000, RET_PTR],
        )
    };
    let full = [(":method", "GET"), (":path", "/x"), (":authority", "meta")];
    assert_eq!(call(&mut g, b"elsewhere", &full), BAD_ARGUMENT);
    assert_eq!(call(&mut g, b"metadata", &full[..2]), BAD_ARGUMENT);
    assert_eq!(call(&mut g, b"metadata", &full), OK);
    let token = g.u32_at(RET_PTR);
    let pending = g.host.pending_calls();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].token, token);
    assert_eq!(pending[0].body, b"body");
    assert_eq!(pending[0].timeout, Duration::from_millis(1000));
    // The guest has no proxy_on_http_call_response: answering is a no-op for it.
    g.host.answer_call(token, 200, &[], b"{}").unwrap();
    assert!(g.host.pending_calls().is_empty());
    assert!(matches!(
        g.host.answer_call(token, 200, &[], b""),
        Err(HostError::Usage(_))
    ));
}

#[test]
fn contexts_streams_and_foreign_functions() {
    let echo: proxy_host::ForeignFunction =
        Box::new(|args| Ok(args.iter().rev().copied().collect()));
    let mut g = Guest::with(Host::builder().foreign_function("reverse", echo));
    let root = g.root();
    assert_eq!(
        g.call(root, "proxy_set_effective_context", &[777]),
        BAD_ARGUMENT
    );
    assert_eq!(
        g.call(root, "proxy_set_effective_context", &[root as i32]),
        OK
    );
    assert_eq!(
        g.call(root, "proxy_done", &[]),
        NOT_FOUND,
        "nothing pending finalization"
    );
    assert_eq!(g.call(root, "proxy_continue_stream", &[9]), BAD_ARGUMENT);
    assert_eq!(
        g.call(root, "proxy_continue_stream", &[2]),
        Status::Unimplemented as i32
    );
    assert_eq!(
        g.call(root, "proxy_continue_stream", &[0]),
        BAD_ARGUMENT,
        "not a stream"
    );
    let (n, nl) = g.put(b"reverse");
    let (a, al) = g.put(b"abc");
    assert_eq!(
        g.call(
            root,
            "proxy_call_foreign_function",
            &[n, nl, a, al, RET_PTR, RET_SIZE]
        ),
        OK
    );
    assert_eq!(g.returned(), b"cba");
    let (n, nl) = g.put(b"compress");
    assert_eq!(
        g.call(
            root,
            "proxy_call_foreign_function",
            &[n, nl, 0, 0, RET_PTR, RET_SIZE]
        ),
        NOT_FOUND
    );
    // A local reply from a stream context is applied once the call returns (here through
    // the guest's response side, which it does not have); closing a stream resets it.
    let id = g
        .host
        .request(&[(":method", "POST"), (":path", "/")])
        .unwrap()
        .id();
    let headers = serialize_map(&[("content-type".into(), b"text/plain".to_vec())]);
    let (h, hl) = g.put(&headers);
    let (b, bl) = g.put(b"nope");
    assert_eq!(
        g.call(
            id,
            "proxy_send_local_response",
            &[403, 0, 0, b, bl, h, hl, -1]
        ),
        OK
    );
    let mut r = g.host.stream(id);
    let answer = r.client_response();
    assert_eq!((answer.status(), answer.text().as_str()), (403, "nope"));
    assert_eq!(answer.header("content-length"), Some("4"));
    assert!(r.finished());
    let id = g
        .host
        .request(&[(":method", "POST"), (":path", "/")])
        .unwrap()
        .id();
    assert_eq!(g.call(id, "proxy_close_stream", &[0]), OK);
    let mut r = g.host.stream(id);
    assert!(r.finished());
    assert!(r.client_response().reset);
    assert_clean(&g.host);
}

#[test]
fn abi_versions_0_2_1_and_0_2_0_load_others_do_not() {
    for marker in ["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"] {
        let host = Host::builder().load_bytes(&hostcall_harness_marked(HOSTCALLS, marker));
        assert!(host.is_ok(), "{marker}: {:?}", host.err());
    }
    for marker in ["proxy_abi_version_0_1_0", "not_a_marker"] {
        let err = Host::builder()
            .load_bytes(&hostcall_harness_marked(HOSTCALLS, marker))
            .err()
            .unwrap();
        let HostError::Load(message) = err else {
            panic!("{marker}: {err}")
        };
        assert!(
            message.contains("this host speaks 0.2.1 and 0.2.0"),
            "{message}"
        );
    }
}
