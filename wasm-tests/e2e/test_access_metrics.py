"""Caller keys, identity headers, a local rate limit per caller, stats and access logs, in real
Envoy with the shipped snippets (`envoy/ratelimit-per-caller.yaml`, `envoy/access-log.yaml`)."""
import hashlib
import json
import re
import time

import anthropic
import httpx
import openai
import pytest

import envoyctl
from conftest import ACCESS_KEY, REGION, SECRET_KEY, SESSION_TOKEN, Envoy, envoy_env

CLAUDE_ID = "anthropic.claude-3-haiku-20240307-v1:0"
EMBED_ID = "amazon.titan-embed-text-v2:0"
NOVA_ID = "amazon.nova-lite-v1:0"
KEYS = {"team-a": "sk-team-a-key-never-upstream", "team-b": "sk-team-b-key-never-upstream",
        "team-c": "sk-team-c-key-never-upstream"}
IDENTITY = ["x-bedrock-model", "x-bedrock-model-id", "x-bedrock-region", "x-bedrock-caller"]


def sha256(key):
    return hashlib.sha256(key.encode()).hexdigest()


FILTER_CONFIG = {
    "region": REGION,
    "models": {
        "claude": {"id": CLAUDE_ID, "pricing": {"input_per_1k": 0.25, "output_per_1k": 1.25}},
        "embed": EMBED_ID,
        "nova": NOVA_ID,
    },
    "callers": [
        {"name": "team-a", "key_sha256": sha256(KEYS["team-a"]),
         "allowed_models": ["claude*", "embed"]},
        {"name": "team-b", "key_sha256": sha256(KEYS["team-b"]), "allowed_models": ["*"]},
        {"name": "team-c", "key_sha256": sha256(KEYS["team-c"]),
         "allowed_models": ["embed", "amazon.nova*"]},
    ],
}


def start(sim, tmp, ratelimit=False):
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=sim.port,
                               region=REGION,
                               filter_config={**FILTER_CONFIG, "endpoint": sim.url})
    log = tmp / "access.log"
    envoyctl.add_access_log(cfg, log)
    if ratelimit:
        envoyctl.add_ratelimit_per_caller(cfg)
    e = Envoy(cfg, tmp, envoy_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                                  AWS_SESSION_TOKEN=SESSION_TOKEN), listen, admin)
    e.access_log = log
    return e


@pytest.fixture(scope="module")
def gw(sim, tmp_path_factory):
    e = start(sim, tmp_path_factory.mktemp("access"))
    yield e
    e.stop()


def oai(envoy, caller):
    return openai.OpenAI(base_url=f"{envoy.url}/v1", api_key=KEYS[caller], max_retries=0,
                         timeout=30)


def ask(envoy, caller, model="claude", content="hi"):
    return oai(envoy, caller).chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}])


def upstream(sim):
    req = sim.requests()[-1]
    assert req["auth"]["ok"], req["auth"]
    return req


def headers_of(req):
    out = {}
    for n, v in req["headers"]:
        out.setdefault(n.lower(), v)
    return out


def test_allowed_caller_reaches_bedrock_with_identity_headers(gw, fresh):
    r = ask(gw, "team-a", content="allowed")
    assert r.choices[0].message.content == "You said: allowed"
    req = upstream(fresh)
    h = headers_of(req)
    assert {k: h.get(k) for k in IDENTITY} == {
        "x-bedrock-model": "claude", "x-bedrock-model-id": CLAUDE_ID,
        "x-bedrock-region": REGION, "x-bedrock-caller": "team-a"}
    # The caller's key never leaves Envoy.
    dump = json.dumps(req["headers"])
    assert all(k not in dump for k in KEYS.values())
    assert "x-api-key" not in h and h["authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_patterns_match_alias_or_bedrock_id(gw, fresh):
    # team-c: "amazon.nova*" matches the alias "nova" through its Bedrock ID.
    assert ask(gw, "team-c", model="nova").choices[0].message.content == "You said: hi"
    assert headers_of(upstream(fresh))["x-bedrock-model-id"] == NOVA_ID


def test_model_not_allowed_is_403_and_never_upstream(gw, fresh):
    with pytest.raises(openai.PermissionDeniedError) as e:
        ask(gw, "team-a", model="nova")
    body = e.value.response.json()["error"]
    assert body["type"] == "permission_error" and body["code"] == "model_not_allowed"
    assert "team-a" in body["message"] and "nova" in body["message"]
    # A raw Bedrock ID outside the patterns too.
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "team-a", model=NOVA_ID)
    assert fresh.requests() == []


def test_missing_and_unknown_keys_are_401(gw, fresh):
    body = {"model": "claude", "messages": [{"role": "user", "content": "x"}]}
    r = httpx.post(f"{gw.url}/v1/chat/completions", json=body)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "authentication_error" and err["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gw.url}/v1", api_key="sk-unknown",
                      max_retries=0).chat.completions.create(**body)
    # /v1/models needs a key too.
    assert httpx.get(f"{gw.url}/v1/models").status_code == 401
    assert fresh.requests() == []


def test_anthropic_clients_get_anthropic_errors(gw, fresh):
    denied = anthropic.Anthropic(base_url=gw.url, api_key=KEYS["team-c"], max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        denied.messages.create(model="claude", max_tokens=8,
                               messages=[{"role": "user", "content": "x"}])
    assert e.value.response.json()["error"]["type"] == "permission_error"
    stranger = anthropic.Anthropic(base_url=gw.url, api_key="sk-ant-unknown", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        stranger.messages.create(model="claude", max_tokens=8,
                                 messages=[{"role": "user", "content": "x"}])
    ok = anthropic.Anthropic(base_url=gw.url, api_key=KEYS["team-a"], max_retries=0)
    msg = ok.messages.create(model="claude", max_tokens=8,
                             messages=[{"role": "user", "content": "anthropic ok"}])
    assert msg.content[0].text == "You said: anthropic ok"
    h = headers_of(upstream(fresh))
    assert h["x-bedrock-caller"] == "team-a" and "x-api-key" not in h


def test_native_requests_get_aws_shaped_refusals(gw, fresh):
    path = f"/model/{CLAUDE_ID.replace(':', '%3A')}/converse"
    body = {"messages": [{"role": "user", "content": [{"text": "native"}]}]}
    r = httpx.post(gw.url + path, json=body, headers={"x-api-key": KEYS["team-c"]})
    assert r.status_code == 403
    assert r.json()["__type"] == "AccessDeniedException"
    r = httpx.post(gw.url + path, json=body)
    assert (r.status_code, r.json()["__type"]) == (401, "UnrecognizedClientException")
    r = httpx.post(gw.url + path, json=body, headers={"x-api-key": KEYS["team-a"]})
    assert r.status_code == 200, r.text
    h = headers_of(upstream(fresh))
    assert (h["x-bedrock-model"], h["x-bedrock-caller"]) == (CLAUDE_ID, "team-a")
    assert KEYS["team-a"] not in json.dumps(fresh.requests()[-1]["headers"])


def test_models_list_is_filtered_per_caller(gw):
    ids = lambda caller: sorted(m.id for m in oai(gw, caller).models.list())  # noqa: E731
    assert ids("team-a") == ["claude", "embed"]
    assert ids("team-b") == ["claude", "embed", "nova"]
    assert ids("team-c") == ["embed", "nova"]
    with pytest.raises(openai.NotFoundError):
        oai(gw, "team-a").models.retrieve("nova")


def test_client_identity_headers_are_replaced(gw, fresh):
    spoof = {k: "spoofed" for k in IDENTITY}
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=KEYS["team-b"], max_retries=0,
                      default_headers=spoof)
    c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    req = upstream(fresh)
    values = [v for n, v in req["headers"] if n.lower() in IDENTITY]
    assert "spoofed" not in values and len(values) == 4
    assert headers_of(req)["x-bedrock-caller"] == "team-b"


def prometheus(envoy):
    text = httpx.get(f"http://127.0.0.1:{envoy.admin_port}/stats/prometheus").text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def stat(stats, name, **labels):
    """A counter by name and labels, whether Envoy extracted the labels (demo.yaml's
    stats_tags) or left them in the name."""
    want = sorted(labels.items())
    for key, value in stats.items():
        m = re.fullmatch(r"([^{]+)(?:\{(.*)\})?", key)
        base, tags = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if base == name and sorted(tags.items()) == want:
            return value
    return 0


def test_token_and_request_stats(gw, fresh):
    before = prometheus(gw)
    c = oai(gw, "team-b")
    c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "one two"}])
    mid = prometheus(gw)
    for _ in c.chat.completions.create(model="claude", stream=True,
                                       messages=[{"role": "user", "content": "streamed"}]):
        pass
    # The stream's own tokens (its usage arrives in the last event).
    streamed = prometheus(gw)
    for kind in ("input", "output"):
        assert (stat(streamed, "bedrock_filter_tokens", model="claude", kind=kind)
                > stat(mid, "bedrock_filter_tokens", model="claude", kind=kind)), kind
    c.embeddings.create(model="embed", input="three words here")
    # A native InvokeModel request: tokens from Bedrock's token-count headers.
    native = httpx.post(f"{gw.url}/model/{CLAUDE_ID.replace(':', '%3A')}/invoke",
                        headers={"x-api-key": KEYS["team-b"]},
                        json={"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16,
                              "messages": [{"role": "user", "content": "native tokens"}]})
    assert native.status_code == 200, native.text
    with pytest.raises(openai.PermissionDeniedError):
        ask(gw, "team-c", model="claude")
    fresh.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow"}})
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="nova", messages=[{"role": "user", "content": "x"}])
    after = prometheus(gw)

    def delta(name, **labels):
        return stat(after, name, **labels) - stat(before, name, **labels)

    req = "bedrock_filter_requests"
    tok = "bedrock_filter_tokens"
    assert delta(req, model="claude", result="2xx") == 2, sorted(after)[:40]
    assert delta(req, model="embed", result="2xx") == 1
    assert delta(req, model="claude", result="local_error") == 1
    assert delta(req, model="nova", result="4xx") == 1
    assert delta(tok, model="claude", kind="input") > 0
    assert delta(tok, model="claude", kind="output") > 0
    assert delta(tok, model="embed", kind="input") > 0
    assert delta(req, model=CLAUDE_ID.replace(".", "_").replace(":", "_"), result="2xx") == 1
    assert delta(tok, model="anthropic_claude-3-haiku-20240307-v1_0", kind="output") > 0
    assert delta("bedrock_filter_streams", model="claude") == 1
    assert delta("bedrock_filter_upstream_errors", error_type="ThrottlingException") == 1
    # claude is priced: 0.25 / 1.25 USD per 1k tokens, i.e. 250 / 1250 micro-USD a token.
    assert delta("bedrock_filter_cost_micro_usd", model="claude") >= 250 + 1250


def access_line(envoy, **fields):
    """The first access-log line with these fields (Envoy flushes the file about every second)."""
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:
        text = envoy.access_log.read_text() if envoy.access_log.exists() else ""
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        for line in lines:
            if all(str(line.get(k)) == str(v) for k, v in fields.items()):
                return line
        time.sleep(0.2)
    raise AssertionError(f"no access-log line with {fields} in {lines}")


def test_access_log_has_model_caller_and_tokens(gw, fresh):
    prompt = " ".join(["unique"] * 37)
    r = oai(gw, "team-a").chat.completions.create(
        model="claude", messages=[{"role": "user", "content": prompt}])
    line = access_line(gw, caller="team-a", model="claude", input_tokens=r.usage.prompt_tokens)
    assert line["status"] == 200 and line["model_id"] == CLAUDE_ID
    assert int(line["output_tokens"]) == r.usage.completion_tokens > 0
    assert line["upstream_path"] == f"/model/{CLAUDE_ID.replace(':', '%3A')}/converse"
    # A refused request is logged with the caller, before any model was read: "-" for the rest.
    httpx.post(f"{gw.url}/v1/embeddings", json={"model": "embed", "input": "x"},
               headers={"authorization": "Bearer wrong-key-xyz"})
    line = access_line(gw, status=401, upstream_path="/v1/embeddings")
    assert line["model"] is None or line["model"] == "-", line


def test_local_rate_limit_per_caller(sim, tmp_path):
    e = start(sim, tmp_path, ratelimit=True)
    try:
        # team-a: 2 requests a minute (envoy/ratelimit-per-caller.yaml).
        for i in range(2):
            ask(e, "team-a", content=f"a{i}")
        with pytest.raises(openai.RateLimitError) as exc:
            ask(e, "team-a", content="a2")
        assert exc.value.response.headers.get("x-ratelimit-scope") == "bedrock-caller"
        # Envoy's refusal, answered in the OpenAI shape by the filter.
        err = exc.value.response.json()["error"]
        assert err["code"] == "rate_limit_exceeded" and err["type"] == "rate_limit_error", err
        assert int(exc.value.response.headers["retry-after"]) >= 1
        # team-b has its own bucket, untouched by team-a's.
        for i in range(3):
            assert ask(e, "team-b", content=f"b{i}").choices[0].message.content == f"You said: b{i}"
    finally:
        e.stop()
