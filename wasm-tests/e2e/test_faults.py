"""Upstream faults, end to end: one table per kind of answer, each fault followed by a good request.

Every fault must reach the client as an OpenAI error (an HTTP status before the stream starts,
an SSE `{"error": …}` event after it, or a broken connection when Envoy itself cuts a started
stream), leave one `bedrock-filter: …` line in Envoy's log, and leave the worker serving.

The faults run against a dedicated Envoy whose Bedrock route has a 2 s `timeout`, so that a
stalled upstream is cut quickly (Envoy's route timeout spans the whole answer, streams included).
"""
import contextlib
import json
import subprocess
import time

import httpx
import openai
import pytest

import envoyctl
from conftest import ACCESS_KEY, REGION, SECRET_KEY, SESSION_TOKEN, Envoy, envoy_env

MODEL = "amazon.nova-lite-v1:0"
MESSAGES = [{"role": "user", "content": "hello there"}]
ROUTE_TIMEOUT = "2s"
CREDS = dict(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
             AWS_SESSION_TOKEN=SESSION_TOKEN)
STREAM_START = [
    {"type": "messageStart", "payload": {"role": "assistant"}},
    {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "partial "}}},
]


def _route(cfg):
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]


def start_envoy(tmp, upstream_port, route_changes=None, name="envoy"):
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=upstream_port,
                               region=REGION, filter_config={
                                   "region": REGION,
                                   "endpoint": f"http://127.0.0.1:{upstream_port}"})
    _route(cfg).update(route_changes or {})
    return Envoy(cfg, tmp, envoy_env(**CREDS), listen, admin, name=name)


@pytest.fixture(scope="module")
def fenv(sim, tmp_path_factory):
    e = start_envoy(tmp_path_factory.mktemp("faults"), sim.port, {"timeout": ROUTE_TIMEOUT})
    yield e
    e.stop()


class LogWatch:
    """The filter's lines in Envoy's log written after this point."""

    def __init__(self, envoy):
        self.envoy, self.start = envoy, len(envoy.log_text())

    def lines(self):
        return [line for line in self.envoy.log_text()[self.start:].splitlines()
                if "bedrock-filter: " in line]

    def wait_for(self, needle, timeout=3.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines() if needle in line]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no log line with {needle!r}; filter lines: {self.lines()}")


def good_request(envoy, sim):
    """The same Envoy serves a normal request right after the fault."""
    sim.reset()
    r = httpx.post(f"{envoy.url}/v1/chat/completions", timeout=30,
                   json={"model": MODEL, "messages": MESSAGES})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "You said: hello there"


# id, scripted behaviour, status, error type, code (None: not checked), text in the message,
# text in the filter's log line
NON_STREAM = [
    ("429-retry-after",
     {"error": {"status": 429, "type": "ThrottlingException", "message": "Too many requests",
                "headers": {"retry-after": "7"}}},
     429, "rate_limit_error", "rate_limit_exceeded", "Too many requests",
     "upstream answered 429 ThrottlingException; client gets 429"),
    ("500",
     {"error": {"status": 500, "type": "InternalServerException", "message": "boom"}},
     500, "api_error", None, "boom", "upstream answered 500 InternalServerException"),
    ("503",
     {"error": {"status": 503, "type": "ServiceUnavailableException", "message": "unavailable"}},
     503, "api_error", None, "unavailable", "upstream answered 503 ServiceUnavailableException"),
    ("403-signature-mismatch",
     {"error": {"status": 403,
                "type": "InvalidSignatureException:http://internal.amazon.com/coral/"
                        "com.amazon.coral.service/",
                "message": "The request signature we calculated does not match the signature "
                           "you provided.\n\nThe Canonical String for this request should have "
                           "been\n'POST\n/model/x/converse\n'"}},
     401, "authentication_error", None, "gateway's AWS credentials",
     "upstream answered 403 InvalidSignatureException; client gets 401"),
    ("body-not-json",
     {"raw": "<html>oops</html>", "status": 200, "content_type": "text/html"},
     502, "api_error", "bad_upstream_response", "unreadable", "upstream answered 200; client gets 502"),
    ("error-status-with-html-body",
     {"raw": "<html><body>Bad Gateway</body></html>", "status": 502, "content_type": "text/html"},
     502, "api_error", None, "Bedrock answered HTTP 502", "upstream answered 502; client gets 502"),
    ("truncated-json-body",
     {"truncate_after_bytes": 40},
     502, "api_error", "bad_upstream_response", "EOF while parsing",
     "upstream answered 200; client gets 502"),
    # The upstream resets after sending headers and a few bytes: the filter had paused the
    # answer to buffer it, so Envoy's own 502 bypasses the filter; `local_reply_config` in the
    # shipped configs gives it the OpenAI shape.
    ("reset-mid-body",
     {"reset_after_bytes": 40},
     502, "api_error", None, "upstream connect error or disconnect/reset",
     "the request ended before Bedrock's answer was complete"),
    # Stalls longer than the route timeout: Envoy answers 504 before any upstream header, through
    # the filter, which translates it.
    ("upstream-timeout",
     {"stall_ms": 4000},
     504, "api_error", None, "upstream request timeout", "upstream answered 504; client gets 504"),
]


@pytest.mark.parametrize("behaviour,status,etype,code,message,log_line",
                         [c[1:] for c in NON_STREAM], ids=[c[0] for c in NON_STREAM])
def test_non_stream_fault(fenv, sim, behaviour, status, etype, code, message, log_line):
    sim.reset()
    sim.script(behaviour)
    log = LogWatch(fenv)
    r = httpx.post(f"{fenv.url}/v1/chat/completions", timeout=30,
                   json={"model": MODEL, "messages": MESSAGES})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["type"] == etype, err
    assert message in err["message"], err
    if code is not None:
        assert err["code"] == code, err
    if status == 429:
        assert r.headers["retry-after"] == "7"
    if status == 401:
        # The canonical request AWS echoes (with the gateway's session token) stays private.
        assert "Canonical" not in err["message"] and SESSION_TOKEN not in r.text
    assert len(log.wait_for(log_line)) == 1
    good_request(fenv, sim)


def sse_events(body):
    return [e for e in body.decode().split("\n\n") if e.strip()]


# id, behaviour, error type in the SSE error event, text in its message
STREAM_SSE_ERRORS = [
    # Without padding the events have fixed sizes, so byte 150 is always inside the second
    # frame (with Bedrock's random `p` padding it can land on a boundary).
    ("cut-mid-frame", {"events": [{"default": True}], "no_padding": True,
                       "truncate_after_bytes": 150}, "api_error", "ended inside a frame"),
    ("corrupt-message-crc", {"corrupt_crc_at_event": 2}, "api_error", "checksum mismatch"),
    ("exception-after-text",
     {"events": STREAM_START + [
         {"exception": "throttlingException", "payload": {"message": "Too many tokens"}}]},
     "rate_limit_error", "Too many tokens"),
    ("error-frame",
     {"events": STREAM_START + [{"error_frame": {"code": "InternalFailure", "message": "oops"}}]},
     "api_error", "oops"),
]


@pytest.mark.parametrize("behaviour,etype,message", [c[1:] for c in STREAM_SSE_ERRORS],
                         ids=[c[0] for c in STREAM_SSE_ERRORS])
def test_stream_fault_ends_with_an_sse_error(fenv, sim, behaviour, etype, message):
    sim.reset()
    sim.script(behaviour)
    log = LogWatch(fenv)
    with httpx.stream("POST", f"{fenv.url}/v1/chat/completions", timeout=30,
                      json={"model": MODEL, "messages": MESSAGES, "stream": True}) as r:
        body = r.read()
    assert r.status_code == 200
    events = sse_events(body)
    assert events[-1].startswith('data: {"error":'), events[-3:]
    assert "[DONE]" not in body.decode()
    err = json.loads(events[-1][len("data: "):])["error"]
    assert err["type"] == etype and message in err["message"], err
    assert len(log.wait_for("failed: ")) == 1
    # The SDK raises on it.
    sim.script(behaviour)
    c = openai.OpenAI(base_url=f"{fenv.url}/v1", api_key="sk-x", max_retries=0, timeout=30)
    with pytest.raises(openai.APIError):
        for _ in c.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            pass
    good_request(fenv, sim)


# Envoy cuts a started stream itself: the client sees the connection end without the last
# chunk (no error event can be sent, no [DONE]), and the SDK raises.
STREAM_CUT = [
    ("reset-mid-stream", {"reset_after_bytes": 150}),
    # 700 ms between frames, ~10 frames: longer than the 2 s route timeout.
    ("stall-mid-stream", {"delay_ms": 700}),
]


@pytest.mark.parametrize("behaviour", [c[1] for c in STREAM_CUT], ids=[c[0] for c in STREAM_CUT])
def test_stream_cut_by_envoy(fenv, sim, behaviour):
    sim.reset()
    sim.script(behaviour)
    log = LogWatch(fenv)
    body = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", f"{fenv.url}/v1/chat/completions", timeout=30,
                          json={"model": MODEL, "messages": MESSAGES, "stream": True}) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                body += chunk
    assert b"[DONE]" not in body
    assert len(log.wait_for("the stream ended before Bedrock's answer was complete")) == 1
    sim.script(behaviour)
    c = openai.OpenAI(base_url=f"{fenv.url}/v1", api_key="sk-x", max_retries=0, timeout=30)
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        for _ in c.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            pass
    good_request(fenv, sim)


@pytest.mark.parametrize("behaviour,status,etype", [
    ({"error": {"status": 429, "type": "ThrottlingException", "message": "slow",
                "headers": {"retry-after": "3"}}}, 429, "rate_limit_error"),
    ({"error": {"status": 503, "type": "ServiceUnavailableException", "message": "x"}},
     503, "api_error"),
    ({"stall_ms": 4000}, 504, "api_error"),
], ids=["429", "503", "timeout"])
def test_stream_fault_before_the_stream_is_an_http_error(fenv, sim, behaviour, status, etype):
    sim.reset()
    sim.script(behaviour)
    log = LogWatch(fenv)
    r = httpx.post(f"{fenv.url}/v1/chat/completions", timeout=30,
                   json={"model": MODEL, "messages": MESSAGES, "stream": True})
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == etype
    if status == 429:
        assert r.headers["retry-after"] == "3"
    assert len(log.wait_for(f"upstream answered {status}")) == 1
    good_request(fenv, sim)


def test_connection_refused_then_the_upstream_comes_back(tmp_path):
    port = envoyctl.free_port()  # nothing listens here yet
    e = start_envoy(tmp_path, port, name="refused")
    sim_proc = None
    try:
        log = LogWatch(e)
        r = httpx.post(f"{e.url}/v1/chat/completions", timeout=30,
                       json={"model": MODEL, "messages": MESSAGES})
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert err["type"] == "api_error"
        assert "upstream connect error" in err["message"], err
        assert len(log.wait_for("upstream answered 503; client gets 503")) == 1
        # Stream requests get the same HTTP error (nothing has started).
        r = httpx.post(f"{e.url}/v1/chat/completions", timeout=30,
                       json={"model": MODEL, "messages": MESSAGES, "stream": True})
        assert r.status_code == 503 and r.json()["error"]["type"] == "api_error"
        # The upstream starts on that port: the same Envoy serves.
        sim_proc = subprocess.Popen(
            [str(envoyctl.SIM), "--listen", f"127.0.0.1:{port}", "--region", REGION,
             "--credentials", f"{ACCESS_KEY}:{SECRET_KEY}:{SESSION_TOKEN}"],
            stdout=subprocess.PIPE, text=True)
        assert sim_proc.stdout.readline().startswith("LISTENING ")
        r = httpx.post(f"{e.url}/v1/chat/completions", timeout=30,
                       json={"model": MODEL, "messages": MESSAGES})
        assert r.status_code == 200, r.text
    finally:
        e.stop()
        if sim_proc:
            sim_proc.terminate()
            sim_proc.wait(timeout=10)


def test_worker_healthy_after_the_faults(fenv, sim):
    assert httpx.get(f"http://127.0.0.1:{fenv.admin_port}/ready", timeout=5).status_code == 200
    stats = httpx.get(f"http://127.0.0.1:{fenv.admin_port}/stats", timeout=5).text
    # No VM was lost or restarted: a crashed VM shows up as a failed / restarted runtime.
    for line in stats.splitlines():
        if line.startswith("wasm.") and ("crash" in line or "restart" in line or "fail" in line):
            assert line.rstrip().endswith(": 0"), line
    assert "panicked" not in fenv.log_text()
    good_request(fenv, sim)


# The retry policy docs/resilience.md recommends for the Bedrock route (back-off shortened for the test).
RETRY_POLICY = {
    "retry_on": "retriable-status-codes,reset,connect-failure",
    "retriable_status_codes": [429, 503],
    "num_retries": 2,
    "per_try_timeout": "60s",
    "retry_back_off": {"base_interval": "0.05s", "max_interval": "0.2s"},
}


@pytest.fixture(scope="module")
def renv(sim, tmp_path_factory):
    e = start_envoy(tmp_path_factory.mktemp("retry"), sim.port,
                    {"timeout": "300s", "retry_policy": RETRY_POLICY}, name="retry")
    yield e
    e.stop()


def test_retry_policy_replays_the_signed_request(renv, sim):
    sim.reset()
    sim.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow"}},
               {"error": {"status": 503, "type": "ServiceUnavailableException", "message": "x"}})
    r = httpx.post(f"{renv.url}/v1/chat/completions", timeout=30,
                   json={"model": MODEL, "messages": MESSAGES})
    assert r.status_code == 200, r.text
    attempts = sim.requests()
    assert [a["status"] for a in attempts] == [429, 503, 200]
    # Signed once by the filter, replayed by Envoy: same date and signature, each verified.
    assert all(a["auth"]["ok"] for a in attempts), [a["auth"] for a in attempts]
    headers = [dict(a["headers"]) for a in attempts]
    assert len({h["x-amz-date"] for h in headers}) == 1
    assert len({h["authorization"] for h in headers}) == 1
    assert len({a["body"] for a in attempts}) == 1


def test_retry_policy_gives_up_with_the_last_error(renv, sim):
    sim.reset()
    sim.script(*[{"error": {"status": 429, "type": "ThrottlingException", "message": "slow",
                            "headers": {"retry-after": "2"}}}] * 3)
    r = httpx.post(f"{renv.url}/v1/chat/completions", timeout=30,
                   json={"model": MODEL, "messages": MESSAGES})
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert r.headers["retry-after"] == "2"
    assert len(sim.requests()) == 3
    good_request(renv, sim)


def test_retry_policy_retries_a_stream_only_before_it_starts(renv, sim):
    sim.reset()
    sim.script({"error": {"status": 503, "type": "ServiceUnavailableException", "message": "x"}})
    with httpx.stream("POST", f"{renv.url}/v1/chat/completions", timeout=30,
                      json={"model": MODEL, "messages": MESSAGES, "stream": True}) as r:
        body = r.read()
    assert r.status_code == 200 and body.endswith(b"data: [DONE]\n\n")
    assert [a["status"] for a in sim.requests()] == [503, 200]
    # Once the stream has begun, a failure is the client's: no retry, whatever the cause.
    for behaviour in ({"events": STREAM_START + [
                          {"exception": "serviceUnavailableException",
                           "payload": {"message": "gone"}}]},
                      {"reset_after_bytes": 150}):
        sim.reset()
        sim.script(behaviour)
        body = b""
        cut = "reset_after_bytes" in behaviour
        with pytest.raises(httpx.RemoteProtocolError) if cut else contextlib.nullcontext():
            with httpx.stream("POST", f"{renv.url}/v1/chat/completions", timeout=30,
                              json={"model": MODEL, "messages": MESSAGES, "stream": True}) as r:
                for chunk in r.iter_raw():
                    body += chunk
        assert b"[DONE]" not in body
        assert len(sim.requests()) == 1, sim.requests()
    good_request(renv, sim)

