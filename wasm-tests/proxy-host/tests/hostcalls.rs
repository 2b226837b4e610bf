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

#[test]
fn hostcalls_per_request() {
    let mut host = demo_host();
    one_request(&mut host, false);
    for stream in [false, true] {
        let calls = one_request(&mut host, stream);
        let total: u64 = calls.values().sum();
        println!("stream={stream}: {total} host calls: {calls:?}");
    }
}
