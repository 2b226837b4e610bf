"""Retries and cross-region failover with envoy/failover.yaml, end to end in real Envoy.

The listener's filter translates (`"mode": "translate"`), the cluster's upstream filter signs
each attempt (`"mode": "sign"`) for the region of the host Envoy picked. Two bedrock-sims are
the two regions: A (priority 0) accepts only signatures for us-east-1, B (priority 1) only for
eu-west-1, so an attempt signed for the wrong region is refused with 403 (never retried).
"""
import json
import re
import subprocess
import time
from datetime import datetime, timezone

import httpx
import openai
import pytest

import envoyctl
from conftest import (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, Envoy, envoy_env,
                      envoyctl_run, sim_pair)
from test_deploy import issue_cert, make_certs, tls_terminator

A, B = "us-east-1", "eu-west-1"
A_HOST, B_HOST = envoyctl.aws_host(A), envoyctl.aws_host(B)
A_ID = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
B_ID = "eu.anthropic.claude-3-5-haiku-20241022-v1:0"
FILTER_CONFIG = {"region": A, "models": {
    "claude": {"id": A_ID, "region_ids": {A: A_ID, B: B_ID}}}}
CREDS = dict(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
             AWS_SESSION_TOKEN=SESSION_TOKEN)
MESSAGES = [{"role": "user", "content": "hello there"}]
# Shorter than the file's 60 s / 120 s, so that a region that hangs is given up quickly.
PER_TRY_TIMEOUT = "3s"


def err(status):
    types = {429: "ThrottlingException", 500: "InternalServerException",
             503: "ServiceUnavailableException"}
    return {"error": {"status": status, "type": types[status], "message": f"scripted {status}"}}


def delta(text):
    return {"type": "contentBlockDelta",
            "payload": {"contentBlockIndex": 0, "delta": {"text": text}}}


# Without padding: messageStart ends at byte ~118, "partial " at ~278, so byte 300 is inside
# the third frame.
STREAM_START = ([{"type": "messageStart", "payload": {"role": "assistant"}}, delta("partial ")]
                + [delta("more ")] * 20)


@pytest.fixture(scope="module")
def regions():
    with sim_pair(A, B) as pair:
        yield pair


def local(region, port, **kw):
    return {"region": region, "address": "127.0.0.1", "port": port, **kw}


def start_failover(tmp, regions, name="failover", env=None, buffer_limit=None, **kw):
    """Envoy running failover.yaml for `regions` (render_failover's list)."""
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_failover(listen_port=listen, admin_port=admin, regions=regions,
                                   filter_config=FILTER_CONFIG, **kw)
    vhost = envoyctl._hcm(cfg)["route_config"]["virtual_hosts"][0]
    for route in vhost["routes"]:
        route["route"]["retry_policy"]["per_try_timeout"] = PER_TRY_TIMEOUT
    if buffer_limit:
        vhost["request_body_buffer_limit"] = buffer_limit
    d = tmp / name
    d.mkdir()
    # Access-log lines reach the file within 0.1 s rather than Envoy's default 10 s.
    return Envoy(cfg, d, env or envoy_env(**CREDS), listen, admin, name=name,
                 extra_args=["--file-flush-interval-msec", "100"])


@pytest.fixture(scope="module")
def fo(regions, tmp_path_factory):
    a, b = regions
    e = start_failover(tmp_path_factory.mktemp("failover"), [local(A, a.port), local(B, b.port)])
    yield e
    e.stop()


@pytest.fixture()
def ab(regions, fo):
    """Both regions with nothing recorded or scripted; afterwards a good request must be served
    by A at the first attempt (A was not ejected, and its run of failures is reset)."""
    a, b = regions
    a.reset()
    b.reset()
    yield a, b
    a.reset()
    b.reset()
    assert chat(fo).choices[0].message.content == "You said: hello there"
    assert len(a.requests()) == 1 and b.requests() == []
    a.reset()


def chat(envoy, stream=False, model="claude", **kw):
    c = openai.OpenAI(base_url=f"{envoy.url}/v1", api_key="sk-x", max_retries=0, timeout=60)
    return c.chat.completions.create(model=model, messages=MESSAGES, stream=stream, **kw)


def stream_text(chunks):
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def headers_of(req):
    """Header name → every value received under it."""
    out = {}
    for name, value in req["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


def amz_time(value):
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def assert_signed_for(req, region, host, model_id=None):
    """One attempt as a region received it: accepted, signed for that region and host, and
    carrying nothing of another attempt (every signing header exactly once)."""
    assert req["auth"]["ok"], req["auth"]
    assert req["auth"]["mode"] == "sigv4" and req["auth"]["region"] == region, req["auth"]
    h = headers_of(req)
    assert h["host"] == [host], h
    assert len(h["authorization"]) == 1, h
    assert f"/{region}/bedrock/aws4_request" in h["authorization"][0]
    assert h["authorization"][0].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert len(h["x-amz-date"]) == 1, h
    assert abs((datetime.now(timezone.utc) - amz_time(h["x-amz-date"][0])).total_seconds()) < 120
    assert h["x-amz-security-token"] == [SESSION_TOKEN], h
    assert h["x-bedrock-region"] == [region], h
    other = {A: (B, B_HOST), B: (A, A_HOST)}[region]
    for name, values in h.items():
        for v in values:
            assert other[0] not in v and other[1] not in v, (name, v)
    if model_id:
        assert req["model_id"] == model_id, req["path"]
        assert req["path"] == f"/model/{model_id.replace(':', '%3A')}/{req['operation']}"


def access_log(envoy, request, timeout=10.0):
    """failover.yaml's JSON access-log line (Envoy's stdout) of the request a simulator
    recorded, found by its x-request-id."""
    [request_id] = headers_of(request)["x-request-id"]
    return envoy.access_log_line(request_id, timeout)


def stats(envoy, prefix):
    text = httpx.get(f"http://127.0.0.1:{envoy.admin_port}/stats",
                     params={"filter": f"^{re.escape(prefix)}"}, timeout=5).text
    return {k: int(v) for k, v in (line.split(": ", 1) for line in text.splitlines())
            if v.isdigit()}


# --- retries within a region ---------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 503])
def test_retry_in_the_same_region_is_signed_afresh(fo, ab, status):
    a, b = ab
    # The error takes 1.2 s, so a retry signed afresh carries another x-amz-date (whole seconds).
    a.script({**err(status), "stall_ms": 1200})
    r = chat(fo)
    assert r.choices[0].message.content == "You said: hello there"
    attempts = a.requests()
    assert [x["status"] for x in attempts] == [status, 200]
    assert b.requests() == []
    for x in attempts:
        assert_signed_for(x, A, f"127.0.0.1:{a.port}", A_ID)
    dates = [headers_of(x)["x-amz-date"][0] for x in attempts]
    assert (amz_time(dates[1]) - amz_time(dates[0])).total_seconds() >= 1, dates
    sigs = [headers_of(x)["authorization"][0] for x in attempts]
    assert sigs[0] != sigs[1]
    assert attempts[0]["body"] == attempts[1]["body"]
    line = access_log(fo, attempts[1])
    assert (line["attempts"], line["region"], line["status"]) == (2, A, 200), line


# --- failover ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [503, 500, 429])
def test_failover_to_the_second_region(fo, ab, status):
    a, b = ab
    a.script(*[err(status)] * 5)
    r = chat(fo)
    assert r.choices[0].message.content == "You said: hello there"
    assert r.model == "claude"
    # Two attempts in A (update_frequency 2), the third in B.
    assert [x["status"] for x in a.requests()] == [status, status]
    for x in a.requests():
        assert_signed_for(x, A, f"127.0.0.1:{a.port}", A_ID)
    [got] = b.requests()
    assert got["status"] == 200
    assert_signed_for(got, B, f"127.0.0.1:{b.port}", B_ID)
    assert got["body"] == a.requests()[0]["body"]
    line = access_log(fo, got)
    assert (line["attempts"], line["region"], line["status"]) == (3, B, 200), line
    assert line["upstream_host"] == f"127.0.0.1:{b.port}"


def test_every_region_failing_gives_the_last_error(fo, ab):
    a, b = ab
    a.script(*[err(503)] * 2)
    b.script({"error": {"status": 429, "type": "ThrottlingException", "message": "B is busy",
                        "headers": {"retry-after": "4"}}})
    with pytest.raises(openai.RateLimitError) as info:
        chat(fo)
    assert "B is busy" in info.value.body["message"]
    assert info.value.response.headers["retry-after"] == "4"
    assert len(a.requests()) == 2 and len(b.requests()) == 1


def test_stale_headers_never_reach_the_second_region(fo, ab):
    """A native request (boto3's shape) with the client's own signature, date and session
    token: A's two attempts and B's one each carry exactly the gateway's, signed for their
    own region; nothing of the client's or of A's attempts reaches B."""
    a, b = ab
    a.script(*[err(503)] * 2)
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    client_auth = ("AWS4-HMAC-SHA256 Credential=AKIDCLIENTKEY/20200101/us-east-1/bedrock/"
                   "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
    r = httpx.post(f"{fo.url}/model/{model.replace(':', '%3A')}/converse", timeout=60,
                   headers={"authorization": client_auth, "x-amz-date": "20200101T000000Z",
                            "x-amz-security-token": "client-session-token",
                            "x-bedrock-region": "ap-south-1"},
                   json={"messages": [{"role": "user", "content": [{"text": "native"}]}]})
    assert r.status_code == 200, r.text
    assert r.json()["output"]["message"]["content"][0]["text"] == "You said: native"
    for x in a.requests():
        assert_signed_for(x, A, f"127.0.0.1:{a.port}", model)
    [got] = b.requests()
    assert_signed_for(got, B, f"127.0.0.1:{b.port}", model)
    text = json.dumps(got["headers"])
    for stale in ("AKIDCLIENTKEY", "20200101", "client-session-token", "ap-south-1",
                  f"127.0.0.1:{a.port}"):
        assert stale not in text, stale


def test_region_refusing_connections(regions, tmp_path):
    """Priority 0 points at a port nothing listens on: every request is served by B."""
    a, b = regions
    b.reset()
    closed = envoyctl.free_port()
    e = start_failover(tmp_path, [local(A, closed), local(B, b.port)], name="refused")
    try:
        assert chat(e).choices[0].message.content == "You said: hello there"
        assert stream_text(chat(e, stream=True)) == "You said: hello there"
        got = b.requests()
        assert [x["operation"] for x in got] == ["converse", "converse-stream"]
        for x in got:
            assert_signed_for(x, B, f"127.0.0.1:{b.port}", B_ID)
        assert stats(e, "cluster.bedrock.upstream_cx_connect_fail")[
            "cluster.bedrock.upstream_cx_connect_fail"] >= 2
    finally:
        e.stop()
        b.reset()


def test_outlier_detection_ejects_the_failing_region(regions, tmp_path):
    """After 5 consecutive 503s A is ejected: new requests go to B at the first attempt and
    A's request count stops growing."""
    a, b = regions
    a.reset()
    b.reset()
    e = start_failover(tmp_path, [local(A, a.port), local(B, b.port)], name="outlier")
    try:
        a.script(*[err(503)] * 30)
        ejected = "cluster.bedrock.outlier_detection.ejections_active"
        for _ in range(3):  # two 503s per request
            assert chat(e).choices[0].message.content == "You said: hello there"
            if stats(e, ejected).get(ejected):
                break
        deadline = time.monotonic() + 5
        while stats(e, ejected).get(ejected) != 1:
            assert time.monotonic() < deadline, stats(e, "cluster.bedrock.outlier_detection")
            time.sleep(0.1)
        time.sleep(0.5)  # the ejection reaches the workers from the main thread
        seen_a, seen_b = len(a.requests()), len(b.requests())
        assert seen_a >= 5
        for i in range(4):
            assert chat(e).choices[0].message.content == "You said: hello there"
        assert len(a.requests()) == seen_a
        assert len(b.requests()) == seen_b + 4  # one attempt each, straight to B
        for got in b.requests()[seen_b:]:
            line = access_log(e, got)
            assert (line["attempts"], line["region"]) == (1, B), line
    finally:
        e.stop()
        a.reset()
        b.reset()


def test_region_that_hangs_is_given_up_after_per_try_timeout(fo, ab):
    a, b = ab
    a.script({"stall_ms": 10000}, {"stall_ms": 10000})
    started = time.monotonic()
    assert stream_text(chat(fo, stream=True)) == "You said: hello there"
    took = time.monotonic() - started
    assert 5.5 < took < 9.5, took  # two per-try timeouts of 3 s, then B
    assert len(a.requests()) == 2
    [got] = b.requests()
    assert_signed_for(got, B, f"127.0.0.1:{b.port}", B_ID)
    line = access_log(fo, got)
    assert (line["attempts"], line["region"], line["status"]) == (3, B, 200), line


# --- streams -------------------------------------------------------------------------------

def test_stream_failing_before_its_first_byte_fails_over(fo, ab):
    a, b = ab
    a.script(*[{**err(503), "match": {"operation": "converse-stream"}}] * 2)
    chunks = list(chat(fo, stream=True, stream_options={"include_usage": True}))
    assert stream_text(chunks) == "You said: hello there"
    assert chunks[-1].usage.completion_tokens == 4
    assert [x["status"] for x in a.requests()] == [503, 503]
    [got] = b.requests()
    assert got["operation"] == "converse-stream"
    assert_signed_for(got, B, f"127.0.0.1:{b.port}", B_ID)


def test_started_stream_is_not_cut_by_per_try_timeout(fo, ab):
    """Eight frames 0.5 s apart take longer than the 3 s per-try timeout: the stream, once
    started, runs to its end and is not retried."""
    a, b = ab
    a.script({"delay_ms": 500})
    started = time.monotonic()
    text = stream_text(chat(fo, stream=True))
    assert time.monotonic() - started > 3.3
    assert text == "You said: hello there"
    assert len(a.requests()) == 1 and b.requests() == []


@pytest.mark.parametrize("behaviour,raised,message", [
    # Cut inside the third frame, the connection ending cleanly: the filter sends an SSE error
    # event, which the SDK raises.
    ({"events": STREAM_START, "no_padding": True, "truncate_after_bytes": 300},
     openai.APIError, "ended inside a frame"),
    # The connection is reset after the same bytes: Envoy resets the client's stream too (no
    # event can follow), and the SDK raises a connection error.
    ({"events": STREAM_START, "no_padding": True, "reset_after_bytes": 300},
     openai.APIConnectionError, "Connection error"),
], ids=["truncated", "reset"])
def test_stream_failing_after_its_first_byte_is_not_retried(fo, ab, behaviour, raised, message):
    a, b = ab
    a.script(behaviour)
    text = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in chat(fo, stream=True):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    assert text == "partial ", text
    assert type(info.value) is raised, repr(info.value)
    assert message in str(info.value), repr(info.value)
    assert len(a.requests()) == 1
    assert b.requests() == []


def test_answer_failing_after_its_headers_is_not_retried(fo, ab):
    """A non-stream answer reset after its headers and a few bytes: Envoy has passed the
    headers on to the filter, so it cannot retry; the client gets a 502, B nothing."""
    a, b = ab
    a.script({"reset_after_bytes": 40})
    with pytest.raises(openai.APIStatusError) as info:
        chat(fo)
    assert info.value.status_code == 502
    assert info.value.body["type"] == "api_error"
    assert len(a.requests()) == 1 and b.requests() == []


def test_request_larger_than_the_retry_buffer_is_sent_once(regions, tmp_path):
    """Envoy keeps the body for retries only up to request_body_buffer_limit (here 2000
    bytes): a larger request still goes out, but its 503 reaches the client unretried."""
    a, b = regions
    a.reset()
    b.reset()
    e = start_failover(tmp_path, [local(A, a.port), local(B, b.port)], name="buffer",
                       buffer_limit=2000)
    try:
        for size, served_by_b in ((100, True), (5000, False)):
            a.reset()
            b.reset()
            a.script(*[err(503)] * 2)
            r = httpx.post(f"{e.url}/v1/chat/completions", timeout=30, json={
                "model": "claude", "messages": [{"role": "user", "content": "x" * size}]})
            if served_by_b:
                assert r.status_code == 200, r.text
                assert [x["status"] for x in a.requests() + b.requests()] == [503, 503, 200]
            else:
                assert r.status_code == 503 and r.json()["error"]["message"] == "scripted 503"
                assert [x["status"] for x in a.requests()] == [503] and b.requests() == []
        abandoned = "cluster.bedrock.retry_or_shadow_abandoned"
        assert stats(e, abandoned)[abandoned] == 1
    finally:
        e.stop()
        a.reset()
        b.reset()


def test_single_mode_cannot_fail_over(regions, tmp_path):
    """Why the signer is an upstream filter: with the listener signing once ("mode": "single")
    the retry to B replays A's signature and host, and B refuses it."""
    a, b = regions
    a.reset()
    b.reset()
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_failover(listen_port=listen, admin_port=admin,
                                   regions=[local(A, a.port), local(B, b.port)],
                                   filter_config=FILTER_CONFIG)
    envoyctl._wasm_filter(cfg)["configuration"]["value"] = json.dumps(
        {**FILTER_CONFIG, "mode": "single", "endpoint": a.url})
    envoyctl._wasm_filter(cfg)["vm_config"]["environment_variables"] = {
        "host_env_keys": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]}
    opts = envoyctl._cluster(cfg)["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    opts["http_filters"] = [f for f in opts["http_filters"]
                            if f["name"] != "envoy.filters.http.wasm"]
    (tmp_path / "single").mkdir()
    e = Envoy(cfg, tmp_path / "single", envoy_env(**CREDS), listen, admin, name="single")
    try:
        a.script(*[err(503)] * 2)
        with pytest.raises(openai.AuthenticationError):
            chat(e)
        assert len(a.requests()) == 2
        [got] = b.requests()
        assert not got["auth"]["ok"]
        assert f"valid region, not '{A}'" in got["auth"]["reason"], got["auth"]
        assert headers_of(got)["host"] == [f"127.0.0.1:{a.port}"]
    finally:
        e.stop()
        a.reset()
        b.reset()


def test_stats_and_their_labels(fo, ab):
    """The filter's stats after a failover, under either spelling (`wasmcustom.…`, or
    `cluster.bedrock.wasmcustom.…` for stats an upstream filter defines on Envoy 1.36), and
    as Prometheus labels through failover.yaml's stats_tags."""
    a, b = ab
    a.script(*[err(503)] * 2)
    chat(fo)
    text = httpx.get(f"http://127.0.0.1:{fo.admin_port}/stats", timeout=5).text
    names = {line.split(": ")[0] for line in text.splitlines()}
    ok = "bedrock_filter.requests.model.claude.result.2xx"
    assert names & {f"wasmcustom.{ok}", f"cluster.bedrock.wasmcustom.{ok}"}, sorted(
        n for n in names if "wasmcustom" in n)
    prom = httpx.get(f"http://127.0.0.1:{fo.admin_port}/stats/prometheus", timeout=5).text
    assert re.search(r'^(envoy_cluster_wasmcustom_)?bedrock_filter_requests\{'
                     r'(envoy_cluster_name="bedrock",)?model="claude",result="2xx"\} [1-9]',
                     prom, re.M), [x for x in prom.splitlines() if "bedrock_filter_req" in x]


# --- TLS per region ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = make_certs(tmp_path_factory.mktemp("certs"))  # server.crt: us-east-1's host
    issue_cert(d, B_HOST, "eu")
    return d


def start_terminator(tmp, name, certs, sim, cert, sni):
    port, admin = envoyctl.free_port(), envoyctl.free_port()
    d = tmp / name
    d.mkdir()
    return Envoy(tls_terminator(certs, port, admin, sim.port, cert=cert, server_names=[sni]),
                 d, envoy_env(), port, admin, name=name)


def tls_regions(a_port, b_port):
    return [local(A, a_port, tls=True), local(B, b_port, tls=True)]


def test_failover_over_tls_with_each_regions_sni_and_certificate(regions, certs, tmp_path):
    """Each region is a TLS endpoint that serves only its own host name (SNI) with a
    certificate for it: A fails, B answers over TLS, each attempt signed for its host."""
    a, b = regions
    a.reset()
    b.reset()
    front_a = start_terminator(tmp_path, "front-a", certs, a, "server", A_HOST)
    front_b = start_terminator(tmp_path, "front-b", certs, b, "eu", B_HOST)
    e = None
    try:
        e = start_failover(tmp_path, tls_regions(front_a.port, front_b.port), name="tls",
                           ca_file=certs / "ca.crt")
        a.script(*[err(503)] * 2)
        assert chat(e).choices[0].message.content == "You said: hello there"
        for x in a.requests():
            assert_signed_for(x, A, A_HOST, A_ID)
        [got] = b.requests()
        assert_signed_for(got, B, B_HOST, B_ID)
        ssl = stats(e, "cluster.bedrock.ssl")
        assert ssl["cluster.bedrock.ssl.handshake"] >= 2, ssl
        assert ssl.get("cluster.bedrock.ssl.fail_verify_san", 0) == 0
        # Each front door saw its own name: connections with another SNI would find no chain.
        for front in (front_a, front_b):
            s = stats(front, "listener.")
            assert not any(k.endswith("no_filter_chain_match") and v for k, v in s.items()), s
    finally:
        if e:
            e.stop()
        front_a.stop()
        front_b.stop()
        a.reset()
        b.reset()


def test_wrong_certificate_in_the_second_region_fails(regions, certs, tmp_path):
    """B's front door presents A's certificate: Envoy refuses the connection (certificate name
    check against B's host), so B's server never sees the request."""
    a, b = regions
    a.reset()
    b.reset()
    front_a = start_terminator(tmp_path, "front-a", certs, a, "server", A_HOST)
    wrong_b = start_terminator(tmp_path, "wrong-b", certs, b, "server", B_HOST)
    e = None
    try:
        e = start_failover(tmp_path, tls_regions(front_a.port, wrong_b.port), name="tls-wrong",
                           ca_file=certs / "ca.crt")
        a.script(*[err(503)] * 2)
        with pytest.raises(openai.APIStatusError) as info:
            chat(e)
        assert info.value.status_code == 503
        assert len(a.requests()) == 2
        assert b.requests() == []
        assert stats(e, "cluster.bedrock.ssl").get("cluster.bedrock.ssl.fail_verify_san", 0) >= 1
    finally:
        if e:
            e.stop()
        front_a.stop()
        wrong_b.stop()
        a.reset()
        b.reset()


# --- the shipped file and `make run-failover` ----------------------------------------------

def test_shipped_failover_config_loads(tmp_path):
    """failover.yaml as shipped (real AWS hosts, system CAs; only the .wasm path changed) is
    accepted by this Envoy, the filter configurations included."""
    cfg = envoyctl.render_failover(listen_port=envoyctl.free_port(),
                                   admin_port=envoyctl.free_port())
    shipped = envoyctl._cluster(envoyctl.load("failover.yaml"))
    cluster = envoyctl._cluster(cfg)
    for key in ("type", "load_assignment", "transport_socket_matches", "outlier_detection"):
        assert cluster[key] == shipped[key], key
    path = envoyctl.write_config(cfg, tmp_path)
    r = subprocess.run([*envoyctl.find_envoy(), "--mode", "validate", "-c", str(path)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_make_run_failover_demo(tmp_path):
    """What `make run-failover` runs: two simulators as two regions; the printed command makes
    the first fail, and the next request is answered by the second."""
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    env = envoy_env(LISTEN_PORT=str(listen), ADMIN_PORT=str(admin))
    err_path = tmp_path / "stderr"
    with envoyctl_run(["failover"], env, admin, err_path, "make run-failover") as proc:
        deadline = time.monotonic() + 30
        # The instructions follow Envoy's start-up log.
        while "-X POST" not in err_path.read_text():
            assert time.monotonic() < deadline, err_path.read_text()[-3000:]
            time.sleep(0.1)
        banner = err_path.read_text()
        fail_cmd = next(line.strip() for line in banner.splitlines()
                        if "curl" in line and "/__sim/script" in line and "POST" in line)
        sim_b = re.search(rf"priority 1\s+{B}\s+(http://\S+)", banner).group(1)
        assert subprocess.run(fail_cmd, shell=True, capture_output=True,
                              timeout=10).returncode == 0
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{listen}/v1", api_key="x", max_retries=0,
                          timeout=60)
        r = c.chat.completions.create(model="claude-haiku",
                                      messages=[{"role": "user", "content": "demo"}])
        assert r.choices[0].message.content == "You said: demo"
        [got] = httpx.get(f"{sim_b}/__sim/requests", timeout=5).json()
        assert got["auth"]["ok"] and got["auth"]["region"] == B
        assert got["model_id"] == B_ID
        assert proc.poll() is None, err_path.read_text()[-5000:]
