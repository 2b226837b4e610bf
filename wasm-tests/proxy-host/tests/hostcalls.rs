//! What one request costs in host calls: every call crosses the VM boundary, so the fixed
//! cost of a small request is mostly their number.

mod common;

use std::collections::BTreeMap;

use common::*;
use proxy_host::Host;

fn one_request(host: &mut Host, stream: bool) -> BTreeMap<&'static str, u64> {
    let before = host.hostcalls_used();
    let mut r = host.request(&chat_headers("/v1/chat/completions")).unwrap();
    r.body(&chat_body("Hello!", stream), true).unwrap();
    assert!(r.upstream_request().is_some());
    if stream {
        r.respond(
            200,
            &[("content-type", "application/vnd.amazon.eventstream")],
            &[&converse_stream_answer(&["Hi", " there."])],
        )
        .unwrap();
    } else {
        r.respond(
            200,
            &[
                ("content-type", "application/json"),
                ("x-amzn-requestid", "req-1"),
            ],
            &[&converse_answer("Hi there.")],
        )
        .unwrap();
    }
    assert_eq!(r.client_response().status(), 200);
    assert!(r.finished());
    let after = host.hostcalls_used();
    after
        .into_iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then_some((k, d))
        })
        .collect()
}

/// The calls of one buffered and one streamed chat request with `demo.yaml`'s configuration
/// (no callers, no limits: no per-caller stats; filter state on, as by default). A change that
/// adds host calls to every request shows here.
#[test]
fn hostcalls_per_request() {
    let mut host = demo_host();
    one_request(&mut host, false);
    let expected = |stream: bool| -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::from([
            // The request body, then the answer's body.
            ("proxy_get_buffer_bytes", 2),
            ("proxy_set_buffer_bytes", 2),
            // Request and response headers: read once, rewritten in one call each.
            ("proxy_get_header_map_pairs", 2),
            ("proxy_set_header_map_pairs", 2),
            // The signature's date.
            ("proxy_get_current_time_nanoseconds", 1),
            // requests by model and result, input and output tokens (+ streams).
            ("proxy_increment_metric", if stream { 4 } else { 3 }),
            // caller, model, model ID; four token kinds, total, cost.
            ("proxy_set_property", 9),
        ]);
        if stream {
            // The model's stream counter, defined the first time it is counted.
            m.insert("proxy_define_metric", 1);
        }
        m
    };
    for stream in [false, true] {
        let calls = one_request(&mut host, stream);
        println!(
            "stream={stream}: {} host calls: {calls:?}",
            calls.values().sum::<u64>()
        );
        assert_eq!(calls, expected(stream), "stream={stream}");
    }
}
