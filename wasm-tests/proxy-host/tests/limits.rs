//! Per-caller rate limits the way Envoy runs them: several VMs of the plugin (one per worker
//! thread) count in one shared-data store with compare-and-swap. Requests alternate between
//! the workers; conflicts between them are forced with a hook between one worker's read of a
//! counter and its write; a host without shared data refuses limits at load.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_filter::metrics::{caller_limited_name, caller_name};
use common::*;
use proxy_host::{ClientResponse, Host, HostError, SharedData};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TEAM_A_KEY: &str = "sk-team-a-0123456789";
const TEAM_B_KEY: &str = "sk-team-b-9876543210";
/// The builder's clock: 2026-01-15T12:00:00Z, the start of a minute.
const START: u64 = 1_768_478_400;
/// Every test starts 15 s into that minute: its counters reset in 45 s.
const INTO_MINUTE: u64 = 15;
const VM_ID: &str = "bedrock-filter";

/// A counter of the filter: the shared-data key of its record (one per caller and rule
/// models) and its slot in the record (the filter's `limits::admit::SLOTS`).
#[derive(Clone)]
struct Slot(String, usize);

impl std::ops::Deref for Slot {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

fn requests_key(caller: &str) -> Slot {
    Slot(format!("bedrock_limit|{caller}|*"), 0)
}

fn tokens_key(caller: &str) -> Slot {
    Slot(format!("bedrock_limit|{caller}|*"), 1)
}

/// demo.yaml's configuration with two callers and `limits`.
fn config(limits: &Value) -> String {
    let caller = |name: &str, key: &str| json!({"name": name, "key_sha256": hex::encode(Sha256::digest(key)), "allowed_models": ["*"]});
    let mut c: Value = serde_json::from_str(&shipped_plugin_config("demo.yaml")).unwrap();
    c["callers"] = json!([caller("team-a", TEAM_A_KEY), caller("team-b", TEAM_B_KEY)]);
    if !limits.is_null() {
        c["limits"] = limits.clone();
    }
    c.to_string()
}

/// `n` workers of the demo host with `limits`, sharing `shared`, 15 s into the minute.
fn workers(limits: Value, shared: &SharedData, n: usize) -> Vec<Host> {
    let mut hosts = demo_builder()
        .plugin_configuration(config(&limits))
        .shared_data(shared)
        .load_workers(&wasm_path(), n)
        .unwrap();
    advance(&mut hosts, INTO_MINUTE);
    hosts
}

/// Time passes for every worker (each VM has its own clock; Envoy's share the wall clock).
fn advance(hosts: &mut [Host], secs: u64) {
    for h in hosts {
        h.advance_time(Duration::from_secs(secs)).unwrap();
    }
}

fn headers(key: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":path", "/v1/chat/completions".into()),
        (":authority", "localhost:10000".into()),
        (":scheme", "http".into()),
        ("content-type", "application/json".into()),
        ("authorization", format!("Bearer {key}")),
    ]
}

/// How Bedrock answers a request that went up.
#[derive(Clone, Copy)]
enum Answer {
    /// Converse: 12 input + 3 output tokens.
    Buffered,
    /// ConverseStream with these many words: 5 input + one output token per word.
    Streamed(usize),
}

/// Send a chat request as `key`'s caller through `host`. Admitted: it must go upstream, and
/// Bedrock answers with `answer`. Returns the client's answer and whether it went upstream.
fn chat(host: &mut Host, key: &str, answer: Answer) -> (ClientResponse, bool) {
    let id = start(host, key, answer);
    let mut r = host.stream(id);
    if r.upstream_request().is_none() {
        return (r.client_response(), false);
    }
    (finish(host, id, answer), true)
}

/// The request half of [`chat`]: the stream's id (it may have been answered locally).
fn start(host: &mut Host, key: &str, answer: Answer) -> u32 {
    let h = headers(key);
    let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut r = host.request(&h).unwrap();
    let stream = matches!(answer, Answer::Streamed(_));
    r.body(&chat_body("Hello!", stream), true).unwrap();
    r.id()
}

/// The answer half of [`chat`], for a request that went upstream.
fn finish(host: &mut Host, id: u32, answer: Answer) -> ClientResponse {
    let mut r = host.stream(id);
    assert!(r.upstream_request().is_some_and(|u| u.complete));
    match answer {
        Answer::Buffered => r
            .respond(
                200,
                &[("content-type", "application/json")],
                &[&converse_answer("Hi.")],
            )
            .unwrap(),
        Answer::Streamed(words) => {
            let all = ["one", "two", "three", "four", "five", "six"];
            r.respond(
                200,
                &[("content-type", "application/vnd.amazon.eventstream")],
                &[&converse_stream_answer(&all[..words])],
            )
            .unwrap()
        }
    };
    let answer = r.client_response();
    assert!(answer.complete && r.finished());
    assert_eq!(answer.status(), 200, "{}", answer.text());
    answer
}

/// A counter as the filter stores it: (window start, count), both u64 little-endian, at its
/// slot of a record of five.
fn counter(shared: &SharedData, key: &Slot) -> (u64, u64) {
    let (value, _) = shared
        .entry(VM_ID, key)
        .unwrap_or_else(|| panic!("no counter {}", key.0));
    assert_eq!(value.len(), 5 * 16, "{value:?}");
    let at = key.1 * 16;
    let word = |i: usize| u64::from_le_bytes(value[at + i..at + i + 8].try_into().unwrap());
    (word(0), word(8))
}

/// Another worker's charge, written straight into the store.
fn charge_directly(shared: &SharedData, key: &Slot, amount: u64) {
    let (value, _) = shared.entry(VM_ID, key).unwrap();
    let mut value = value.to_vec();
    let (_, count) = counter(shared, key);
    let at = key.1 * 16 + 8;
    value[at..at + 8].copy_from_slice(&(count + amount).to_le_bytes());
    shared.set(VM_ID, key, &value, 0).unwrap();
}

fn header<'a>(answer: &'a ClientResponse, name: &str) -> &'a str {
    answer
        .header(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", answer.headers))
}

/// A 429 in OpenAI's shape for `limit` ("requests per minute (RPM)" ...), `used` of `max`,
/// with `retry-after` and the `x-ratelimit-*` headers of `kind` ("requests" or "tokens").
fn assert_refused(answer: &ClientResponse, kind: &str, limit: &str, max: u64, used: u64) {
    let retry = 60 - INTO_MINUTE;
    assert_eq!(answer.status(), 429, "{}", answer.text());
    let reply = answer.local_reply.as_ref().expect("answered by the filter");
    assert_eq!(reply.status, 429);
    assert_eq!(header(answer, "retry-after"), retry.to_string());
    assert_eq!(
        header(answer, &format!("x-ratelimit-limit-{kind}")),
        max.to_string()
    );
    assert_eq!(
        header(answer, &format!("x-ratelimit-remaining-{kind}")),
        "0"
    );
    assert_eq!(
        header(answer, &format!("x-ratelimit-reset-{kind}")),
        format!("{retry}s")
    );
    assert_eq!(header(answer, "content-type"), "application/json");
    let body = json_of(&answer.body);
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "Rate limit reached for {limit} for caller `team-a` on model `{MODEL}`: Limit {max}, \
             Used {used}. Please try again in {retry}s."
        )
    );
}

/// (a) requests_per_minute 5 for team-a: exactly five admitted across both workers, the sixth
/// refused whichever worker takes it; team-b, which no rule names, is not held; the next
/// minute admits again.
#[test]
fn requests_per_minute_hold_across_two_workers() {
    let shared = SharedData::new();
    let mut w = workers(
        json!([{"callers": ["team-a"], "requests_per_minute": 5}]),
        &shared,
        2,
    );
    // The counter exists once the first worker is configured; the second found it there.
    assert_eq!(counter(&shared, &requests_key("team-a")), (0, 0));
    assert_eq!(
        shared.entries(VM_ID).keys().collect::<Vec<_>>(),
        [&requests_key("team-a").0]
    );
    for i in 0..5u64 {
        let (answer, upstream) = chat(&mut w[(i % 2) as usize], TEAM_A_KEY, Answer::Buffered);
        assert!(upstream, "request {i} admitted");
        assert_eq!(header(&answer, "x-ratelimit-limit-requests"), "5");
        assert_eq!(
            header(&answer, "x-ratelimit-remaining-requests"),
            (4 - i).to_string()
        );
        assert_eq!(header(&answer, "x-ratelimit-reset-requests"), "45s");
        assert_eq!(answer.header("x-ratelimit-limit-tokens"), None);
        assert_eq!(
            json_of(&answer.body)["choices"][0]["message"]["content"],
            "Hi."
        );
    }
    assert_eq!(
        counter(&shared, &requests_key("team-a")),
        (START, 5),
        "this minute's window, five requests"
    );
    // The sixth on worker 1, the seventh on worker 0: both refused before Bedrock.
    for (i, worker) in [(6, 1), (7, 0)] {
        let (answer, upstream) = chat(&mut w[worker], TEAM_A_KEY, Answer::Buffered);
        assert!(!upstream, "request {i} went to Bedrock");
        assert_refused(&answer, "requests", "requests per minute (RPM)", 5, 5);
    }
    assert_eq!(
        counter(&shared, &requests_key("team-a")).1,
        5,
        "refusals are not counted"
    );
    for h in &w {
        assert_eq!(
            h.metric(&caller_limited_name("team-a", "requests")),
            Some(1),
            "{:?}",
            h.metrics()
        );
        assert!(h.dispatched_calls().is_empty());
    }
    // team-b has no rule: admitted, and no x-ratelimit headers.
    let (answer, upstream) = chat(&mut w[1], TEAM_B_KEY, Answer::Buffered);
    assert!(upstream);
    assert_eq!(answer.header("x-ratelimit-limit-requests"), None);
    // The next minute starts from zero, in either worker.
    advance(&mut w, 60 - INTO_MINUTE);
    let (answer, upstream) = chat(&mut w[1], TEAM_A_KEY, Answer::Buffered);
    assert!(upstream);
    assert_eq!(header(&answer, "x-ratelimit-remaining-requests"), "4");
    assert_eq!(header(&answer, "x-ratelimit-reset-requests"), "1m0s");
    assert_eq!(counter(&shared, &requests_key("team-a")), (START + 60, 1));
    for h in &w {
        assert_clean(h);
    }
}

/// (b) tokens_per_minute: each answer's tokens are charged when it is complete, in the
/// worker that served it; the other worker's next answer shows what is left, and once the
/// caller is over, the next request is refused by whichever worker takes it.
#[test]
fn tokens_charged_in_one_worker_hold_the_caller_in_the_other() {
    let shared = SharedData::new();
    let mut w = workers(
        json!([{"callers": ["team-a"], "tokens_per_minute": 40}]),
        &shared,
        2,
    );
    let key = tokens_key("team-a");
    // (worker, answer, tokens it uses, remaining-tokens its answer shows)
    let steps = [
        (0, Answer::Buffered, 15, 40),
        (1, Answer::Streamed(3), 8, 25),
        (0, Answer::Buffered, 15, 17),
        // Still under (38 of 40): admitted, and its 15 take the caller past the limit.
        (1, Answer::Buffered, 15, 2),
    ];
    let mut used = 0;
    for (i, (worker, answer, tokens, remaining)) in steps.into_iter().enumerate() {
        let (answer, upstream) = chat(&mut w[worker], TEAM_A_KEY, answer);
        assert!(upstream, "request {i} admitted");
        assert_eq!(header(&answer, "x-ratelimit-limit-tokens"), "40");
        assert_eq!(
            header(&answer, "x-ratelimit-remaining-tokens"),
            remaining.to_string(),
            "request {i}: where the caller stood when admitted"
        );
        assert_eq!(header(&answer, "x-ratelimit-reset-tokens"), "45s");
        assert_eq!(answer.header("x-ratelimit-limit-requests"), None);
        used += tokens;
        assert_eq!(counter(&shared, &key), (START, used), "after request {i}");
    }
    assert_eq!(used, 53);
    for worker in [0, 1] {
        let (answer, upstream) = chat(&mut w[worker], TEAM_A_KEY, Answer::Buffered);
        assert!(!upstream, "refused in worker {worker}");
        assert_refused(&answer, "tokens", "tokens per minute (TPM)", 40, 53);
        assert_eq!(
            w[worker].metric(&caller_limited_name("team-a", "tokens")),
            Some(1)
        );
    }
    // Each worker's own stats hold what it served; the counter holds both.
    let tokens = caller_name("team-a", "tokens");
    assert_eq!(w[0].metric(&tokens), Some(30));
    assert_eq!(w[1].metric(&tokens), Some(23));
    assert_eq!(
        counter(&shared, &key),
        (START, 53),
        "refusals charge nothing"
    );
    advance(&mut w, 60 - INTO_MINUTE);
    let (answer, upstream) = chat(&mut w[1], TEAM_A_KEY, Answer::Buffered);
    assert!(upstream);
    assert_eq!(header(&answer, "x-ratelimit-remaining-tokens"), "40");
    for h in &w {
        assert_clean(h);
    }
}

/// (c) A request counted by worker 1 between worker 0's read of the counter and its write:
/// worker 0's compare-and-swap fails, it reads again and counts on top. Neither request is
/// lost, and each answer says where the count stood after it.
#[test]
fn a_request_counted_by_another_worker_mid_admission_is_not_lost() {
    let shared = SharedData::new();
    let mut w = workers(
        json!([{"callers": ["team-a"], "requests_per_minute": 10}]),
        &shared,
        2,
    );
    let key = requests_key("team-a");
    let (answer, _) = chat(&mut w[0], TEAM_A_KEY, Answer::Buffered);
    assert_eq!(header(&answer, "x-ratelimit-remaining-requests"), "9");
    let w1 = Arc::new(Mutex::new(w.pop().unwrap()));
    let in_between: Arc<Mutex<Option<ClientResponse>>> = Arc::default();
    {
        let (w1, in_between) = (w1.clone(), in_between.clone());
        shared.before_write(&key, move || {
            let mut w1 = w1.lock().unwrap();
            let (answer, upstream) = chat(&mut w1, TEAM_A_KEY, Answer::Buffered);
            assert!(upstream);
            *in_between.lock().unwrap() = Some(answer);
        });
    }
    let before = (shared.stats(), w[0].hostcalls_used());
    let (answer, upstream) = chat(&mut w[0], TEAM_A_KEY, Answer::Buffered);
    assert!(upstream);
    assert_eq!(shared.pending_hooks(), 0, "the hook ran");
    let w1_answer = in_between.lock().unwrap().take().unwrap();
    // Worker 1 counted the second request; worker 0's write was refused, it counted the third.
    assert_eq!(header(&w1_answer, "x-ratelimit-remaining-requests"), "8");
    assert_eq!(header(&answer, "x-ratelimit-remaining-requests"), "7");
    assert_eq!(counter(&shared, &key), (START, 3));
    let stats = shared.stats();
    assert_eq!(stats.cas_mismatches - before.0.cas_mismatches, 1);
    let calls = w[0].hostcalls_used();
    let made = |name: &str| calls[name] - before.1.get(name).copied().unwrap_or(0);
    assert_eq!(made("proxy_get_shared_data"), 2, "read, and read again");
    assert_eq!(made("proxy_set_shared_data"), 2, "refused, then written");
    assert_clean(&w[0]);
    assert_clean(&w1.lock().unwrap());
}

/// (c) Two answers complete at once in two workers: worker 1 charges its tokens between
/// worker 0's read of the counter and its write. Both charges land.
#[test]
fn tokens_charged_by_two_workers_at_once_are_both_counted() {
    let shared = SharedData::new();
    let mut w = workers(
        json!([{"callers": ["team-a"], "tokens_per_minute": 1000}]),
        &shared,
        2,
    );
    let key = tokens_key("team-a");
    // Both requests admitted and upstream before either answer.
    let a = start(&mut w[0], TEAM_A_KEY, Answer::Buffered);
    let b = start(&mut w[1], TEAM_A_KEY, Answer::Streamed(4));
    let w1 = Arc::new(Mutex::new(w.pop().unwrap()));
    let in_between: Arc<Mutex<Option<ClientResponse>>> = Arc::default();
    {
        let (w1, in_between) = (w1.clone(), in_between.clone());
        shared.before_write(&key, move || {
            let answer = finish(&mut w1.lock().unwrap(), b, Answer::Streamed(4));
            *in_between.lock().unwrap() = Some(answer);
        });
    }
    let mismatches = shared.stats().cas_mismatches;
    let answer = finish(&mut w[0], a, Answer::Buffered);
    assert!(
        in_between.lock().unwrap().is_some(),
        "worker 1 answered in between"
    );
    assert_eq!(shared.stats().cas_mismatches - mismatches, 1);
    // 15 (worker 0) + 9 (worker 1): neither lost.
    assert_eq!(counter(&shared, &key), (START, 24));
    assert_eq!(header(&answer, "x-ratelimit-remaining-tokens"), "1000");
    let (answer, _) = chat(&mut w[0], TEAM_A_KEY, Answer::Buffered);
    assert_eq!(header(&answer, "x-ratelimit-remaining-tokens"), "976");
    assert_clean(&w[0]);
    assert_clean(&w1.lock().unwrap());
}

/// (c) A counter other workers write every time this one tries: the filter gives up after a
/// bounded number of attempts and refuses the request (503, retry in 1 s) rather than spin
/// or let it through uncounted.
#[test]
fn a_counter_that_never_stops_changing_refuses_rather_than_spins() {
    fn keep_writing(shared: SharedData, key: Slot, times: usize) {
        if times == 0 {
            return;
        }
        let next = shared.clone();
        shared.before_write(&key.clone(), move || {
            // Write first: a hook armed before this write would run inside it.
            charge_directly(&next, &key, 1);
            keep_writing(next.clone(), key, times - 1);
        });
    }
    let shared = SharedData::new();
    let mut w = workers(
        json!([{"callers": ["team-a"], "requests_per_minute": 1000}]),
        &shared,
        1,
    );
    let key = requests_key("team-a");
    chat(&mut w[0], TEAM_A_KEY, Answer::Buffered);
    keep_writing(shared.clone(), key.clone(), 100);
    let (answer, upstream) = chat(&mut w[0], TEAM_A_KEY, Answer::Buffered);
    assert!(!upstream);
    assert_eq!(answer.status(), 503, "{}", answer.text());
    assert_eq!(header(&answer, "retry-after"), "1");
    assert_eq!(json_of(&answer.body)["error"]["code"], "limits_unavailable");
    // One write of the other workers per attempt of this one, each refused: only theirs
    // are in the count.
    let (start, count) = counter(&shared, &key);
    let attempts = count - 1;
    assert_eq!(start, START);
    assert_eq!(shared.stats().cas_mismatches, attempts);
    assert!((2..=32).contains(&attempts), "{attempts} attempts");
    assert_eq!(shared.pending_hooks(), 1, "the other workers would go on");
    assert!(
        w[0].log_text()
            .contains("the rate-limit counters failed: CasMismatch"),
        "{}",
        w[0].log_text()
    );
    assert_clean(&w[0]);
}

/// Two workers on two threads, as Envoy runs them, each sending 20 requests at once against
/// 25 per minute: exactly 25 are admitted, and each admitted answer shows a count no other
/// answer shows.
#[test]
fn workers_on_two_threads_admit_exactly_the_limit() {
    let shared = SharedData::new();
    let mut w = workers(
        json!([{"callers": ["team-a"], "requests_per_minute": 25}]),
        &shared,
        2,
    );
    let results: Vec<Vec<(bool, Option<String>)>> = std::thread::scope(|s| {
        let threads: Vec<_> = w
            .iter_mut()
            .map(|host| {
                s.spawn(move || {
                    (0..20)
                        .map(|_| {
                            let (answer, upstream) = chat(host, TEAM_A_KEY, Answer::Buffered);
                            let remaining = answer
                                .header("x-ratelimit-remaining-requests")
                                .map(String::from);
                            (upstream, remaining)
                        })
                        .collect()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let all: Vec<&(bool, Option<String>)> = results.iter().flatten().collect();
    let admitted: Vec<u64> = all
        .iter()
        .filter(|(up, _)| *up)
        .map(|(_, r)| r.as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(admitted.len(), 25);
    let mut sorted = admitted.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..25).collect::<Vec<_>>(), "each count once");
    assert!(
        all.iter()
            .filter(|(up, _)| !*up)
            .all(|(_, r)| r.as_deref() == Some("0"))
    );
    assert_eq!(counter(&shared, &requests_key("team-a")), (START, 25));
    for h in &w {
        assert_clean(h);
    }
}

/// (d) A host without shared data cannot count: a configuration with limits is refused at
/// load (the log says why), one without limits loads and serves.
#[test]
fn a_host_without_shared_data_refuses_limits_and_takes_the_rest() {
    let limits = json!([{"callers": ["team-a"], "requests_per_minute": 5}]);
    let refused = demo_builder()
        .without_shared_data()
        .plugin_configuration(config(&limits))
        .load(&wasm_path());
    let (callback, logs) = match refused {
        Err(HostError::Configure { callback, logs }) => (callback, logs),
        Err(e) => panic!("not a refused configuration: {e}"),
        Ok(_) => panic!("a configuration with limits loaded without shared data"),
    };
    assert_eq!(callback, "proxy_on_configure");
    let text: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("limits") && l.contains("shared data")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|l| l.contains("cannot read shared data") && l.contains("status 12")),
        "{text:#?}"
    );
    let mut host = demo_builder()
        .without_shared_data()
        .plugin_configuration(config(&Value::Null))
        .load(&wasm_path())
        .unwrap();
    let (answer, upstream) = chat(&mut host, TEAM_A_KEY, Answer::Buffered);
    assert!(upstream);
    assert_eq!(answer.header("x-ratelimit-limit-requests"), None);
    assert_eq!(host.hostcalls_used().get("proxy_get_shared_data"), None);
    assert_clean(&host);
}
