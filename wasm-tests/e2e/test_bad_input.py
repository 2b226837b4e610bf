"""Bad input through real Envoy: one table, each class with its exact status, error type and param.

Requests are sent with raw httpx (the SDKs validate some inputs themselves). `strict` cases run
against a dedicated Envoy with `allow_unlisted_models: false` and `max_request_bytes: 4096`;
the others against the session Envoy. After the whole table the filter still serves.
"""
import gzip
import json

import httpx
import pytest

import envoyctl
from conftest import ACCESS_KEY, REGION, SECRET_KEY, SESSION_TOKEN, Envoy, envoy_env

MODEL = "amazon.nova-lite-v1:0"
USER = [{"role": "user", "content": "hi"}]
JSON = {"content-type": "application/json"}
PNG = "data:image/png;base64,iVBORw0KGgo="


def body(**fields):
    b = {"model": MODEL, "messages": USER}
    b.update(fields)
    return b


def raw(data, headers=JSON):
    return {"content": data, "headers": headers}


def js(**fields):
    return {"json": body(**fields)}


def msgs(*messages):
    return js(messages=list(messages))


def image(url):
    return msgs({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]})


IMG_PARAM = "messages[0].content[0].image_url.url"
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
DEPTH = 10_000

# id, request (httpx kwargs; "method"/"path" optional), status, error type, param, where
# (None: the session Envoy; "strict": the dedicated one; "bedrock": the session Envoy, and the
# gateway passes the input on for Bedrock to refuse), message text (None: not checked).
# Status 200 rows are inputs the gateway accepts on purpose.
CASES = [
    # The body itself
    ("not-json", raw(b"{not json"), 400, "invalid_request_error", None, None,
     "could not parse the JSON body"),
    ("json-array", {"json": [1, 2]}, 400, "invalid_request_error", None, None, "JSON object"),
    ("json-string", {"json": "hello"}, 400, "invalid_request_error", None, None, "JSON object"),
    ("empty-body", raw(b""), 400, "invalid_request_error", None, None, "JSON object"),
    ("trailing-garbage", raw(json.dumps(body()).encode() + b" xx"), 400,
     "invalid_request_error", None, None, "trailing characters"),
    ("duplicate-key", raw(b'{"model":"a","model":"b","messages":[]}'), 400,
     "invalid_request_error", None, None, "duplicate field `model`"),
    ("invalid-utf8", raw(b'{"model":"' + MODEL.encode() +
                         b'","messages":[{"role":"user","content":"\xff\xfe"}]}'),
     400, "invalid_request_error", None, None, "could not parse"),
    # Texts are copied to Bedrock as the client wrote them (JSON-checked as serde_json checks
    # a skipped string, which lets a lone surrogate escape by): Bedrock refuses it, in the
    # client's shape.
    ("lone-surrogate-escape", raw(b'{"model":"' + MODEL.encode() +
                                  b'","messages":[{"role":"user","content":"\\ud800 x"}]}'),
     400, "invalid_request_error", None, "bedrock", "not valid JSON"),
    ("over-max-request-bytes", js(messages=[{"role": "user", "content": "x " * 4000}]),
     413, "invalid_request_error", None, "strict", None),
    # Content type: not checked, the body is parsed as JSON whatever it says (curl -d sends
    # application/x-www-form-urlencoded; OpenAI's API accepts that too).
    ("content-type-text-plain", raw(json.dumps(body()).encode(), {"content-type": "text/plain"}),
     200, None, None, None, None),
    ("content-type-form", raw(json.dumps(body()).encode(),
                              {"content-type": "application/x-www-form-urlencoded"}),
     200, None, None, None, None),
    ("no-content-type", raw(json.dumps(body()).encode(), {}), 200, None, None, None, None),
    # model
    ("missing-model", {"json": {"messages": USER}}, 400, "invalid_request_error", "model", None,
     "`model`"),
    ("empty-model", js(model=""), 400, "invalid_request_error", "model", None, None),
    ("model-wrong-type", js(model=5), 400, "invalid_request_error", None, None,
     "expected a string"),
    ("unknown-model-not-allowed", js(model="meta.llama3-8b-instruct-v1:0"), 404,
     "not_found_error", "model", "strict", None),
    # messages
    ("missing-messages", {"json": {"model": MODEL}}, 400, "invalid_request_error", "messages",
     None, None),
    ("empty-messages", js(messages=[]), 400, "invalid_request_error", "messages", None, None),
    ("messages-wrong-type", js(messages="hi"), 400, "invalid_request_error", None, None,
     "expected a sequence"),
    ("message-not-an-object", js(messages=["hi"]), 400, "invalid_request_error", None, None,
     "expected struct ChatMessage"),
    ("unknown-role", msgs({"role": "wizard", "content": "hi"}), 400, "invalid_request_error",
     "messages[0].role", None, "wizard"),
    ("missing-role", msgs({"content": "hi"}), 400, "invalid_request_error", "messages[0].role",
     None, None),
    ("system-only", msgs({"role": "system", "content": "be nice"}), 400,
     "invalid_request_error", "messages", None, "user message"),
    ("content-wrong-type", msgs({"role": "user", "content": 5}), 400, "invalid_request_error",
     None, None, "content parts"),
    # content parts
    ("part-of-unknown-type", msgs({"role": "user", "content": [{"type": "hologram"}]}), 400,
     "invalid_request_error", "messages[0].content[0].type", None, "hologram"),
    ("image-url-over-http", image("http://example.com/cat.png"), 400, "invalid_request_error",
     IMG_PARAM, None, "data: URL"),
    ("malformed-data-url", image("data:image/png,abc"), 400, "invalid_request_error", IMG_PARAM,
     None, "malformed data URL"),
    ("unsupported-image-type", image("data:image/tiff;base64,AAAA"), 400,
     "invalid_request_error", IMG_PARAM, None, "image/tiff"),
    ("bad-base64", image("data:image/png;base64,!!!not*base64"), 400, "invalid_request_error",
     IMG_PARAM, None, "base64"),
    # tools
    ("tool-without-name", js(tools=[{"type": "function", "function": {"parameters": {}}}]), 400,
     "invalid_request_error", "tools[0].function.name", None, None),
    # Accepted: mapped to a valid Bedrock name and back (test_long_tool_name_round_trips).
    ("tool-name-too-long", js(tools=[{"type": "function", "function": {"name": "x" * 200}}]),
     200, None, None, None, None),
    ("tool-call-arguments-not-json",
     msgs(USER[0], {"role": "assistant", "content": None, "tool_calls": [CALL]},
          {"role": "tool", "tool_call_id": "call_1", "content": "ok"}),
     400, "invalid_request_error", "messages[1].tool_calls[0].function.arguments", None,
     "not valid JSON"),
    ("tool-message-without-call", msgs(USER[0], {"role": "tool", "tool_call_id": "nope",
                                                 "content": "ok"}),
     400, "invalid_request_error", "messages[1].tool_call_id", None, "nope"),
    # parameters
    ("n-above-1", js(n=2), 400, "invalid_request_error", "n", None, None),
    ("max-tokens-negative", js(max_tokens=-1), 400, "invalid_request_error", "max_tokens", None,
     "at least 1"),
    ("max-tokens-zero", js(max_tokens=0), 400, "invalid_request_error", "max_tokens", None, None),
    ("max-tokens-huge", js(max_tokens=10**12), 400, "invalid_request_error", "max_tokens", None,
     "too large"),
    ("max-tokens-wrong-type", js(max_tokens="10"), 400, "invalid_request_error", None, None,
     "invalid type"),
    ("temperature-above-1", js(temperature=3), 400, "invalid_request_error", "temperature", None,
     None),
    ("temperature-negative", js(temperature=-0.5), 400, "invalid_request_error", "temperature",
     None, None),
    ("top-p-above-1", js(top_p=2), 400, "invalid_request_error", "top_p", None, None),
    ("stop-too-many", js(stop=["a", "b", "c", "d", "e"]), 400, "invalid_request_error", "stop",
     None, "at most 4"),
    ("stream-wrong-type", js(stream="yes"), 400, "invalid_request_error", None, None,
     "expected a boolean"),
    # sizes and depths
    ("depth-bomb-in-messages", raw(b'{"model":"m","messages":' + b"[" * DEPTH + b"]" * DEPTH
                                   + b"}"),
     400, "invalid_request_error", None, None, "could not parse"),
    ("depth-bomb-top-level", raw(b"[" * DEPTH + b"]" * DEPTH), 400, "invalid_request_error",
     None, None, None),
    # Tool schemas are passed on as raw JSON, never parsed into a tree (no recursion in the
    # filter, tried to 1,000,000 levels); Bedrock refuses the depth.
    ("depth-bomb-in-tool-schema", raw(
        b'{"model":"' + MODEL.encode() + b'","messages":[{"role":"user","content":"hi"}],'
        b'"tools":[{"type":"function","function":{"name":"f","parameters":'
        + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}}]}"),
     400, "invalid_request_error", None, "bedrock", "recursion limit"),
    # An ignored member (`metadata` is never sent upstream) is skipped without recursion.
    ("depth-bomb-in-ignored-member", raw(
        json.dumps(body()).encode()[:-1] + b',"metadata":' + b'{"a":' * DEPTH + b"1"
        + b"}" * DEPTH + b"}"),
     200, None, None, None, None),
    ("10k-stop-sequences", js(stop=["x"] * 10_000), 400, "invalid_request_error", "stop", None,
     None),
    # Accepted: nothing in the gateway limits counts; max_request_bytes bounds the size.
    ("10k-messages", js(messages=[{"role": ("user", "assistant")[i % 2], "content": "w"}
                                  for i in range(10_001)]),
     200, None, None, None, None),
    ("10k-tools", js(tools=[{"type": "function", "function": {"name": f"t{i}"}}
                            for i in range(10_000)]),
     200, None, None, None, None),
    # paths and methods
    ("unknown-path", {"method": "POST", "path": "/v1/nope", "json": body()}, 404,
     "not_found_error", None, None, "Unknown request URL"),
    ("unknown-version-path", {"method": "POST", "path": "/v2/chat/completions", "json": body()},
     404, "not_found_error", None, None, None),
    ("get-on-post-route", {"method": "GET", "path": "/v1/chat/completions"}, 405,
     "invalid_request_error", None, None, "use POST"),
    ("put-on-post-route", {"method": "PUT", "path": "/v1/chat/completions", "json": body()}, 405,
     "invalid_request_error", None, None, "use POST"),
    ("post-on-get-route", {"method": "POST", "path": "/v1/models", "json": {}}, 405,
     "invalid_request_error", None, None, "use GET"),
    ("gzip-body", {"content": gzip.compress(json.dumps(body()).encode()),
                   "headers": {"content-type": "application/json", "content-encoding": "gzip"}},
     415, "invalid_request_error", None, None, "content-encoding: gzip"),
]


@pytest.fixture(scope="module")
def strict(sim, tmp_path_factory):
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=sim.port,
                               region=REGION, filter_config={
                                   "region": REGION, "endpoint": sim.url,
                                   "models": {"claude": "anthropic.claude-3-haiku-20240307-v1:0"},
                                   "allow_unlisted_models": False, "max_request_bytes": 4096})
    e = Envoy(cfg, tmp_path_factory.mktemp("strict"), envoy_env(
        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN), listen, admin, name="strict")
    yield e
    e.stop()


@pytest.mark.parametrize("request_kw,status,etype,param,where,message",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(envoy, strict, fresh, request_kw, status, etype, param, where, message):
    target = strict if where == "strict" else envoy
    kw = dict(request_kw)
    method, path = kw.pop("method", "POST"), kw.pop("path", "/v1/chat/completions")
    r = httpx.request(method, f"{target.url}{path}", timeout=30, **kw)
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/json")
    if status == 405:
        assert r.headers["allow"] == ("GET" if path == "/v1/models" else "POST")
    if status == 200:
        assert r.json()["object"] == "chat.completion"
        return
    assert set(r.json()) == {"error"}
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert (err["type"], err["param"]) == (etype, param), err
    if message:
        assert message in err["message"], err
    if where == "bedrock":
        assert [q["status"] for q in fresh.requests()] == [status]
        assert err["code"] == "ValidationException"
    else:  # refused by the gateway: nothing reached Bedrock
        assert fresh.requests() == []


def test_long_tool_name_round_trips(http, fresh):
    """A name Bedrock refuses (over 64 characters) is sent as a valid one and mapped back."""
    long_name = "lookup_" + "x" * 193
    fresh.script({"reply": {"text": "", "tool_uses": [{"name": "PLACEHOLDER", "input": {}}]}})
    # Learn the upstream name from a first request, then answer with it.
    tools = [{"type": "function", "function": {"name": long_name}}]
    r = http.post("/v1/chat/completions", json=body(tools=tools))
    upstream = json.loads(fresh.requests()[-1]["body"])["toolConfig"]["tools"][0]["toolSpec"]
    sent = upstream["name"]
    assert len(sent) <= 64 and sent != long_name
    fresh.reset()
    fresh.script({"reply": {"tool_uses": [{"name": sent, "input": {"q": 1}, "id": "t1"}],
                            "stop_reason": "tool_use"}})
    r = http.post("/v1/chat/completions", json=body(tools=tools))
    assert r.status_code == 200, r.text
    call = r.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == long_name


def test_still_serving_after_the_table(envoy, strict, fresh):
    for e, model in ((envoy, MODEL), (strict, "claude")):
        r = httpx.post(f"{e.url}/v1/chat/completions", timeout=30,
                       json={"model": model, "messages": USER})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "You said: hi"
        assert "panicked" not in e.log_text()


def test_header_value_that_is_not_utf8_is_passed_on(envoy, fresh):
    """HTTP allows obs-text (bytes 0x80-0xFF) in header values and Envoy hands them to the
    filter as they are: a Latin-1 `café` must neither break the worker (the SDK's header
    helpers would trap on it) nor be rewritten on its way upstream."""
    import http.client
    payload = json.dumps({"model": MODEL, "messages": USER}).encode()
    for _ in range(3):  # the same worker keeps serving
        conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=30)
        try:
            # http.client writes header values as Latin-1: é is the single byte 0xE9.
            conn.request("POST", "/v1/chat/completions", body=payload,
                         headers={"content-type": "application/json", "x-caller-note": "café"})
            r = conn.getresponse()
            answer = r.read()
        finally:
            conn.close()
        assert r.status == 200, answer
        assert json.loads(answer)["choices"][0]["message"]["content"] == "You said: hi"
    seen = fresh.requests()[-1]["headers"]
    note = [v for k, v in seen if k == "x-caller-note"]
    # The simulator records bytes that are not UTF-8 as \xNN: the 0xE9 arrived as it was sent.
    assert note == ["caf\\xe9"], seen
    assert "panicked" not in envoy.log_text()


def test_unlisted_models_are_refused_to_aws_sdks_too(strict, fresh):
    """`allow_unlisted_models: false` holds on native paths: boto3 gets the modeled
    ResourceNotFoundException for a Bedrock ID no entry has, and the listed one is served."""
    import boto3
    from botocore.config import Config
    bedrock = boto3.client(
        "bedrock-runtime", region_name=REGION, endpoint_url=strict.url,
        aws_access_key_id="client-key", aws_secret_access_key="client-secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.converse(modelId="amazon.nova-pro-v1:0", messages=messages)
    assert not [r for r in fresh.requests() if "nova-pro" in r["path"]]
    r = bedrock.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=messages)
    assert r["output"]["message"]["content"][0]["text"] == "You said: hi"
