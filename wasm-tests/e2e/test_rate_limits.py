"""Rate limits and budgets per caller and model, counted by the filter in one Envoy (two
workers sharing the counts): requests per minute, tokens per minute (answers and streams),
spend per day, narrowing to models, the headers of every answer, the three error shapes,
concurrency against a limit, per-caller stats, and configurations refused at load."""
import concurrent.futures
import hashlib
import time

import anthropic
import boto3
import httpx
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import envoyctl
from conftest import ACCESS_KEY, REGION, SECRET_KEY, SESSION_TOKEN, Envoy, envoy_env

CLAUDE_ID = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA_ID = "amazon.nova-lite-v1:0"
CALLERS = ["rpm", "tpm", "stream", "budget", "crowd", "free"]
KEYS = {name: f"sk-{name}-key-never-upstream" for name in CALLERS}
# Tokens each caller's answers use in the concurrency test, and its limit.
CROWD_TOKENS, CROWD_LIMIT, CROWD_CLIENTS = 100, 1000, 32

FILTER_CONFIG = {
    "region": REGION,
    "models": {
        # $0.001 per 1k input tokens, $0.002 per 1k output tokens.
        "claude": {"id": CLAUDE_ID, "pricing": {"input_per_1k": 0.001, "output_per_1k": 0.002}},
        "nova": NOVA_ID,
    },
    "callers": [{"name": n, "key_sha256": hashlib.sha256(KEYS[n].encode()).hexdigest(),
                 "allowed_models": ["*"]} for n in CALLERS],
    "limits": [
        {"callers": ["rpm"], "requests_per_minute": 3},
        # The default rule: every caller no rule names, each with its own 100 tokens a minute,
        # on Claude only.
        {"models": ["claude*"], "tokens_per_minute": 100},
        {"callers": ["budget"], "models": ["claude"], "usd_per_day": 0.008},
        {"callers": ["crowd"], "tokens_per_minute": CROWD_LIMIT},
        {"callers": ["free"], "models": ["nova"], "requests_per_minute": 1000},
    ],
}


def start(sim, tmp, filter_config):
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=sim.port,
                               region=REGION, filter_config={**filter_config, "endpoint": sim.url})
    return Envoy(cfg, tmp, envoy_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                                     AWS_SESSION_TOKEN=SESSION_TOKEN), listen, admin)


@pytest.fixture(scope="module")
def gw(sim, tmp_path_factory):
    e = start(sim, tmp_path_factory.mktemp("limits"), FILTER_CONFIG)
    yield e
    e.stop()


def fresh_minute():
    """Start a test early in a UTC minute, so its requests share one window."""
    into = time.time() % 60
    if into > 45:
        time.sleep(60.5 - into)


def oai(envoy, caller):
    # A client per call: new connections land on either of Envoy's two workers.
    return openai.OpenAI(base_url=f"{envoy.url}/v1", api_key=KEYS[caller], max_retries=0,
                         timeout=30, http_client=httpx.Client(timeout=30))


def chat(envoy, caller, model="claude", **kw):
    return oai(envoy, caller).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **kw)


def reply(input_tokens, output_tokens, operation="converse", **extra):
    return {"match": {"operation": operation},
            "reply": {"text": "ok", "usage": {"input_tokens": input_tokens,
                                              "output_tokens": output_tokens}}, **extra}


def go_duration(secs):
    """How OpenAI writes reset headers: 12s, 1m0s, 1h2m3s."""
    h, m, s = secs // 3600, secs % 3600 // 60, secs % 60
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s" if m else f"{s}s"


def stat(envoy, name):
    text = httpx.get(f"http://127.0.0.1:{envoy.admin_port}/stats?filter={name}$").text
    for line in text.splitlines():
        n, _, v = line.partition(": ")
        if n.endswith(name):
            return int(v)
    return 0


def test_requests_per_minute_are_exact_across_workers_with_headers(gw, fresh):
    fresh_minute()
    for remaining in ["2", "1", "0"]:
        r = chat(gw, "rpm", model="nova")
        assert r.parse().choices[0].message.content == "You said: hi"
        assert r.headers["x-ratelimit-limit-requests"] == "3"
        assert r.headers["x-ratelimit-remaining-requests"] == remaining
        assert r.headers["x-ratelimit-reset-requests"].endswith("s")
        assert "x-ratelimit-limit-tokens" not in r.headers
    with pytest.raises(openai.RateLimitError) as e:
        chat(gw, "rpm", model="nova")
    err = e.value.response.json()["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "rate_limit_error"
    assert "requests per minute (RPM)" in err["message"] and "`rpm`" in err["message"]
    h = e.value.response.headers
    retry = int(h["retry-after"])
    assert 1 <= retry <= 60
    assert h["x-ratelimit-remaining-requests"] == "0"
    assert h["x-ratelimit-reset-requests"] == go_duration(retry)
    assert len(fresh.requests()) == 3, "the refused request never reached Bedrock"
    assert stat(gw, "bedrock_filter.caller_rate_limited.caller.rpm.limit.requests") >= 1


def test_the_anthropic_and_aws_shapes_of_a_refusal(gw, fresh):
    fresh_minute()
    # Spend the minute's requests (the previous test may have spent them already, in this
    # window or not); only what follows must never reach Bedrock.
    for _ in range(3):
        try:
            chat(gw, "rpm", model="nova")
        except openai.RateLimitError:
            pass
    fresh.reset()
    a = anthropic.Anthropic(base_url=gw.url, api_key=KEYS["rpm"], max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as e:
        a.messages.create(model="claude", max_tokens=10,
                          messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert int(e.value.response.headers["retry-after"]) >= 1
    bedrock = boto3.client(
        "bedrock-runtime", region_name=REGION, endpoint_url=gw.url,
        aws_access_key_id="AKIDCLIENT", aws_secret_access_key="client-secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    bedrock.meta.events.register(
        "before-send.bedrock-runtime.*",
        lambda request, **_: request.headers.__setitem__("x-api-key", KEYS["rpm"]))
    with pytest.raises(ClientError) as e:
        bedrock.converse(modelId=CLAUDE_ID,
                         messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert fresh.requests() == []


def test_tokens_per_minute_charged_after_each_answer_and_narrowed_to_models(gw, fresh):
    fresh_minute()
    fresh.script(reply(40, 30), reply(40, 30))
    first = chat(gw, "tpm")
    assert first.headers["x-ratelimit-limit-tokens"] == "100"
    assert first.headers["x-ratelimit-remaining-tokens"] == "100"
    assert first.parse().usage.total_tokens == 70
    second = chat(gw, "tpm")
    assert second.headers["x-ratelimit-remaining-tokens"] == "30"
    with pytest.raises(openai.RateLimitError) as e:
        chat(gw, "tpm")
    err = e.value.response.json()["error"]
    assert err["code"] == "rate_limit_exceeded"
    assert "tokens per minute (TPM)" in err["message"] and "Used 140" in err["message"]
    assert e.value.response.headers["x-ratelimit-remaining-tokens"] == "0"
    # The rule is for Claude: Nova is not held to it.
    assert chat(gw, "tpm", model="nova").parse().choices[0].message.content == "You said: hi"
    assert len(fresh.requests()) == 3
    assert stat(gw, "bedrock_filter.caller_tokens.caller.tpm") >= 140 + 4


def test_a_stream_is_charged_at_its_end(gw, fresh):
    fresh_minute()
    fresh.script(reply(50, 45, operation="converse-stream"))
    with httpx.Client(timeout=30) as h:
        with h.stream("POST", f"{gw.url}/v1/chat/completions",
                      headers={"authorization": f"Bearer {KEYS['stream']}"},
                      json={"model": "claude", "stream": True,
                            "stream_options": {"include_usage": True},
                            "messages": [{"role": "user", "content": "hi"}]}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-ratelimit-remaining-tokens"] == "100"
            body = r.read().decode()
    assert '"total_tokens":95' in body and body.rstrip().endswith("data: [DONE]")
    # 95 of 100 charged: one more is admitted, and that one is told 5 remain.
    fresh.script(reply(3, 3))
    assert chat(gw, "stream").headers["x-ratelimit-remaining-tokens"] == "5"
    with pytest.raises(openai.RateLimitError):
        chat(gw, "stream")
    # openai-python's own stream, refused in the same shape.
    with pytest.raises(openai.RateLimitError):
        oai(gw, "stream").chat.completions.create(
            model="claude", stream=True, messages=[{"role": "user", "content": "hi"}])


def test_a_daily_budget_in_usd(gw, fresh):
    # Each answer: 1000 input tokens × $0.001/1k + 2000 output × $0.002/1k = $0.005.
    fresh.script(reply(1000, 2000), reply(1000, 2000))
    chat(gw, "budget")
    chat(gw, "budget")
    with pytest.raises(openai.RateLimitError) as e:
        chat(gw, "budget")
    err = e.value.response.json()["error"]
    assert err["type"] == "insufficient_quota" and err["code"] == "insufficient_quota"
    assert "0.010000 of its 0.008000 USD daily budget" in err["message"]
    assert int(e.value.response.headers["retry-after"]) <= 86_400
    assert stat(gw, "bedrock_filter.caller_cost_micro_usd.caller.budget") == 10_000
    assert stat(gw, "bedrock_filter.caller_rate_limited.caller.budget.limit.micro_usd") == 1
    # demo.yaml's stats_tags make caller and limit Prometheus labels.
    prom = httpx.get(f"http://127.0.0.1:{gw.admin_port}/stats/prometheus").text
    assert 'bedrock_filter_caller_cost_micro_usd{caller="budget"} 10000' in prom, prom[-2000:]
    assert 'bedrock_filter_caller_rate_limited{caller="budget",limit="micro_usd"} 1' in prom
    # The budget is for Claude: Nova (no price) is not held to it.
    chat(gw, "budget", model="nova")


def test_concurrency_32_overshoots_no_more_than_the_requests_in_flight(gw, fresh):
    fresh_minute()
    total = 2 * CROWD_CLIENTS
    fresh.script(*[reply(CROWD_TOKENS // 2, CROWD_TOKENS // 2, stall_ms=300)
                   for _ in range(total)])

    def one(_):
        try:
            chat(gw, "crowd")
            return "ok"
        except openai.RateLimitError:
            return "limited"

    with concurrent.futures.ThreadPoolExecutor(CROWD_CLIENTS) as pool:
        results = list(pool.map(one, range(total)))
    admitted = results.count("ok")
    charged = admitted * CROWD_TOKENS
    # Every admitted request found the caller under its limit; the ones admitted together
    # are charged only when they answer: at most CROWD_CLIENTS of them past the limit.
    assert CROWD_LIMIT // CROWD_TOKENS <= admitted, results
    assert charged < CROWD_LIMIT + CROWD_CLIENTS * CROWD_TOKENS, (admitted, results)
    assert results.count("limited") > 0
    assert len(fresh.requests()) == admitted
    assert stat(gw, "bedrock_filter.caller_tokens.caller.crowd") == charged
    # Once the answers are in, nothing more is admitted this minute.
    with pytest.raises(openai.RateLimitError):
        chat(gw, "crowd")


def test_callers_without_limits_on_a_model_get_no_headers(gw, fresh):
    r = chat(gw, "free", model="claude")
    # `free` has a rule of its own (for nova), so the default rule is not its: unlimited here.
    assert not any(h.startswith("x-ratelimit-") for h in r.headers)
    assert stat(gw, "bedrock_filter.caller_requests.caller.free") >= 1


@pytest.mark.parametrize("limits, message", [
    ([{"callers": ["nobody"], "requests_per_minute": 1}], "is not a caller"),
    ([{"tokens_per_minute": 0}], "must be at least 1"),
    ([{"models": ["nova"], "usd_per_day": 1}], "has no `pricing`"),
    ([{"requests_per_hour": 5}], "unknown field"),
])
def test_bad_limits_are_refused_at_load(sim, tmp_path, limits, message):
    with pytest.raises(RuntimeError) as info:
        start(sim, tmp_path, {**FILTER_CONFIG, "limits": limits})
    log = str(info.value)
    assert "bedrock-filter configuration rejected" in log
    assert message in log
