"""Envoy's own AWS signer: the listener's filter translates ("mode": "translate"),
envoy.filters.http.aws_request_signing signs every attempt as the cluster's upstream filter
(envoy/native-signer.yaml, envoy/native-signer-failover.yaml).

bedrock-sim verifies every signature with AWS's aws-sigv4. Envoy's signer gets the test keys
as `inline_credential` in a `custom_credential_provider_chain`, so it never looks anywhere
else for credentials (no environment, no files, no instance metadata at 169.254.169.254).
"""
import json
import re
import subprocess

import boto3
import httpx
import openai
import pytest
from botocore.config import Config

import envoyctl
from conftest import (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, Envoy, envoy_env,
                      envoyctl_run, sim_pair)
from test_deploy import make_certs, tls_terminator

A, B = "us-east-1", "eu-west-1"
A_HOST, B_HOST = envoyctl.aws_host(A), envoyctl.aws_host(B)
A_ID = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
B_ID = "eu.anthropic.claude-3-5-haiku-20241022-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x7k2m9p4q1w8"
FILTER_CONFIG = {"models": {"claude": A_ID,
                            "profile": {"id": ARN, "family": "anthropic"}}}
MESSAGES = [{"role": "user", "content": "hello there"}]


def inline(secret=SECRET_KEY, token=SESSION_TOKEN):
    """Only these keys: Envoy builds no provider chain at all."""
    return {"custom_credential_provider_chain": True,
            "inline_credential": {"access_key_id": ACCESS_KEY, "secret_access_key": secret,
                                  "session_token": token}}


def start(tmp, regions, name, credential_provider=None, per_try_timeout=None, ca_file=None):
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_native_signer(
        listen_port=listen, admin_port=admin, regions=regions, filter_config=FILTER_CONFIG,
        credential_provider=credential_provider or inline(), ca_file=ca_file)
    if per_try_timeout:
        for route in envoyctl._hcm(cfg)["route_config"]["virtual_hosts"][0]["routes"]:
            route["route"]["retry_policy"]["per_try_timeout"] = per_try_timeout
    d = tmp / name
    d.mkdir()
    # No AWS_* variables, and instance metadata switched off, should anything look.
    env = envoy_env(AWS_EC2_METADATA_DISABLED="true")
    return Envoy(cfg, d, env, listen, admin, name=name,
                 extra_args=["--file-flush-interval-msec", "100"])


def local(region, port):
    return {"region": region, "address": "127.0.0.1", "port": port, "tls": False}


@pytest.fixture(scope="module")
def sims():
    with sim_pair(A, B) as pair:
        yield pair


@pytest.fixture(scope="module")
def single(sims, tmp_path_factory):
    a, _ = sims
    e = start(tmp_path_factory.mktemp("native"), [local(A, a.port)], "native")
    yield e
    e.stop()


@pytest.fixture()
def fresh(sims):
    for s in sims:
        s.reset()
    yield sims
    for s in sims:
        s.reset()


def chat(envoy, stream=False, model="claude", messages=MESSAGES, **kw):
    c = openai.OpenAI(base_url=f"{envoy.url}/v1", api_key="sk-x", max_retries=0, timeout=30)
    return c.chat.completions.create(model=model, messages=messages, stream=stream, **kw)


def headers_of(req):
    out = {}
    for name, value in req["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


def assert_signed_by_envoy(req, region, host):
    """Accepted by the simulator, signed for `region` and `host` with the test keys, the
    payload hash signed; Envoy's and the gateway's own headers left out of the signature."""
    assert req["auth"]["ok"], req["auth"]
    assert (req["auth"]["mode"], req["auth"]["region"]) == ("sigv4", region), req["auth"]
    h = headers_of(req)
    assert h["host"] == [host], h
    [authorization] = h["authorization"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/"), authorization
    assert f"/{region}/bedrock/aws4_request" in authorization
    assert h["x-amz-security-token"] == [SESSION_TOKEN]
    signed = req["auth"]["signed_headers"]
    assert {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"} <= set(signed)
    assert not [s for s in signed if s.startswith(("x-envoy-", "x-bedrock-"))], signed


# --- one region ----------------------------------------------------------------------------

def test_chat(single, fresh):
    a, _ = fresh
    r = chat(single)
    assert r.choices[0].message.content == "You said: hello there"
    assert r.model == "claude"
    [got] = a.requests()
    assert got["model_id"] == A_ID and got["operation"] == "converse"
    assert_signed_by_envoy(got, A, A_HOST)
    # The filter's translation, untouched by the signer: the Converse body.
    assert json.loads(got["body"])["messages"] == [
        {"role": "user", "content": [{"text": "hello there"}]}]


def test_stream(single, fresh):
    a, _ = fresh
    chunks = list(chat(single, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: hello there"
    assert chunks[-1].usage.completion_tokens == 4
    [got] = a.requests()
    assert got["operation"] == "converse-stream"
    assert_signed_by_envoy(got, A, A_HOST)


def test_large_prompt_is_hashed_and_signed(single, fresh):
    """A 1 MiB prompt: Envoy's signer buffers the whole body and signs its SHA-256."""
    a, _ = fresh
    prompt = "x" * (1 << 20)
    r = chat(single, messages=[{"role": "user", "content": prompt}], max_tokens=8)
    assert r.choices[0].finish_reason in ("stop", "length")
    [got] = a.requests()
    assert_signed_by_envoy(got, A, A_HOST)
    assert len(got["body"]) > 1 << 20


def test_application_inference_profile_arn(single, fresh):
    """`:` and `/` of an ARN are percent-encoded in the path by the filter, and encoded once
    more in Envoy's canonical request, as Bedrock (and aws-sigv4) expect."""
    a, _ = fresh
    r = chat(single, model="profile")
    assert r.choices[0].message.content == "You said: hello there"
    [got] = a.requests()
    assert_signed_by_envoy(got, A, A_HOST)
    assert got["path"] == ("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
                           "application-inference-profile%2Fx7k2m9p4q1w8/converse")
    assert got["model_id"] == ARN


def test_native_converse_with_boto3(single, fresh):
    """boto3's own signature (other keys) is dropped by the filter; Envoy signs with its own."""
    a, _ = fresh
    client = boto3.client("bedrock-runtime", region_name=A, endpoint_url=single.url,
                          aws_access_key_id="AKIDCLIENTONLY", aws_secret_access_key="client",
                          config=Config(retries={"max_attempts": 1}, read_timeout=30))
    r = client.converse(modelId=ARN, messages=[
        {"role": "user", "content": [{"text": "native"}]}])
    assert r["output"]["message"]["content"][0]["text"] == "You said: native"
    [got] = a.requests()
    assert_signed_by_envoy(got, A, A_HOST)
    assert got["model_id"] == ARN
    assert "AKIDCLIENTONLY" not in json.dumps(got["headers"])


def test_native_invoke_raw_path(single, fresh):
    a, _ = fresh
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 32,
            "messages": [{"role": "user", "content": "raw"}]}
    r = httpx.post(f"{single.url}/model/anthropic.claude-3-haiku-20240307-v1:0/invoke",
                   json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"] == "You said: raw"
    [got] = a.requests()
    assert got["operation"] == "invoke"
    assert_signed_by_envoy(got, A, A_HOST)


def test_wrong_secret_is_refused(sims, tmp_path):
    """The control: the same deployment with a wrong inline secret is refused by the
    simulator (403, signature mismatch; the filter tells the client 401), so the other tests'
    passes mean something."""
    a, _ = sims
    a.reset()
    e = start(tmp_path, [local(A, a.port)], "wrong",
              credential_provider=inline(secret="not-the-secret"))
    try:
        with pytest.raises(openai.AuthenticationError) as info:
            chat(e)
        assert "refused the gateway's AWS credentials" in str(info.value)
        [got] = a.requests()
        assert not got["auth"]["ok"]
        assert got["auth"]["reason"].startswith("signature mismatch"), got["auth"]
        assert got["status"] == 403
    finally:
        e.stop()
        a.reset()


def test_retry_in_the_region_is_signed_afresh(single, fresh):
    """A throttle, then success: two attempts, each with its own valid signature."""
    a, _ = fresh
    a.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow down"},
              "stall_ms": 1100})
    assert chat(single).choices[0].message.content == "You said: hello there"
    first, second = a.requests()
    assert first["status"] == 429 and second["status"] == 200
    for got in (first, second):
        assert_signed_by_envoy(got, A, A_HOST)
    dates = [headers_of(x)["x-amz-date"][0] for x in (first, second)]
    sigs = [headers_of(x)["authorization"][0] for x in (first, second)]
    assert sigs[0] != sigs[1], dates


def test_over_tls_with_the_regions_name(sims, tmp_path):
    """As shipped: TLS with SNI and certificate name bedrock-runtime.us-east-1.amazonaws.com
    (a local TLS front door with a test CA's certificate for that name)."""
    a, _ = sims
    a.reset()
    (tmp_path / "certs").mkdir()
    certs = make_certs(tmp_path / "certs")  # server.crt: us-east-1's host
    port, admin = envoyctl.free_port(), envoyctl.free_port()
    (tmp_path / "front").mkdir()
    front = Envoy(tls_terminator(certs, port, admin, a.port, server_names=[A_HOST]),
                  tmp_path / "front", envoy_env(), port, admin, name="front")
    e = None
    try:
        e = start(tmp_path, [{"region": A, "address": "127.0.0.1", "port": port}], "tls",
                  ca_file=certs / "ca.crt")
        assert chat(e).choices[0].message.content == "You said: hello there"
        [got] = a.requests()
        assert_signed_by_envoy(got, A, A_HOST)
        ssl = httpx.get(f"http://127.0.0.1:{e.admin_port}/stats",
                        params={"filter": "^cluster.bedrock.ssl.handshake"}, timeout=5).text
        assert "cluster.bedrock.ssl.handshake: 1" in ssl, ssl
    finally:
        if e:
            e.stop()
        front.stop()
        a.reset()


# --- two regions ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two(sims, tmp_path_factory):
    a, b = sims
    e = start(tmp_path_factory.mktemp("native-failover"),
              [local(A, a.port), local(B, b.port)], "native-failover", per_try_timeout="3s")
    yield e
    e.stop()


def err(status, kind):
    return {"error": {"status": status, "type": kind, "message": f"scripted {status}"}}


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_failover_to_the_second_region(two, fresh, stream):
    """us-east-1 answers 503 then 429 (both retryable); the third attempt goes to eu-west-1,
    signed there by eu-west-1's signer, with eu-west-1's host and `eu.` model ID."""
    a, b = fresh
    a.script(err(503, "ServiceUnavailableException"), err(429, "ThrottlingException"))
    r = chat(two, stream=stream)
    text = ("".join(c.choices[0].delta.content or "" for c in r if c.choices)
            if stream else r.choices[0].message.content)
    assert text == "You said: hello there"
    first, second = a.requests()
    assert (first["status"], second["status"]) == (503, 429)
    for got in (first, second):
        assert_signed_by_envoy(got, A, A_HOST)
        assert got["model_id"] == A_ID
    [got] = b.requests()
    assert got["status"] == 200
    assert_signed_by_envoy(got, B, B_HOST)
    assert got["model_id"] == B_ID
    assert got["operation"] == ("converse-stream" if stream else "converse")
    h = headers_of(got)
    assert h["x-bedrock-region"] == [B]
    # Nothing of us-east-1's attempts reaches eu-west-1.
    assert A not in json.dumps(got["headers"]) and A_HOST not in json.dumps(got["headers"])
    line = two.access_log_line(h["x-request-id"][0])
    assert (line["attempts"], line["region"], line["status"]) == (3, B, 200), line


def test_first_region_serves_when_healthy(two, fresh):
    a, b = fresh
    assert chat(two).choices[0].message.content == "You said: hello there"
    [got] = a.requests()
    assert_signed_by_envoy(got, A, A_HOST)
    assert b.requests() == []


def test_first_region_down_fails_over(sims, tmp_path):
    """us-east-1 refuses connections (a closed port): Envoy's 503 from its cluster is
    retried, and eu-west-1 serves."""
    a, b = sims
    b.reset()
    closed = envoyctl.free_port()
    e = start(tmp_path, [local(A, closed), local(B, b.port)], "down", per_try_timeout="3s")
    try:
        assert chat(e).choices[0].message.content == "You said: hello there"
        [got] = b.requests()
        assert_signed_by_envoy(got, B, B_HOST)
        assert got["model_id"] == B_ID
    finally:
        e.stop()
        b.reset()


# --- the shipped files ---------------------------------------------------------------------

@pytest.mark.parametrize("regions", [None, [{"region": A}, {"region": B}]],
                         ids=["native-signer", "native-signer-failover"])
def test_shipped_config_loads(tmp_path, regions):
    """The files as shipped (real AWS hosts, TLS, Envoy's default credential chain; only the
    .wasm path changed) are accepted by this Envoy. Validation makes no connections."""
    cfg = envoyctl.render_native_signer(listen_port=envoyctl.free_port(),
                                        admin_port=envoyctl.free_port(), regions=regions)
    for c in cfg["static_resources"]["clusters"]:
        if c["name"] != "bedrock" or regions is None:
            assert "credential_provider" not in envoyctl._upstream_filter(c, envoyctl.AWS_SIGNER)
    path = envoyctl.write_config(cfg, tmp_path)
    r = subprocess.run([*envoyctl.find_envoy(), "--mode", "validate", "-c", str(path)],
                       capture_output=True, text=True, timeout=180,
                       env=envoy_env(AWS_EC2_METADATA_DISABLED="true"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_make_run_native_serves_offline(tmp_path):
    """`make run-native` without AWS credentials: a bedrock-sim, Envoy's signer with the demo
    keys; a chat request is answered and the simulator verified its signature."""
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    env = envoy_env(LISTEN_PORT=str(listen), ADMIN_PORT=str(admin))
    err_path = tmp_path / "stderr"
    with envoyctl_run(["native"], env, admin, err_path, "make run-native"):
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{listen}/v1", api_key="x",
                          max_retries=0, timeout=30)
        r = c.chat.completions.create(model="anthropic.claude-3-haiku-20240307-v1:0",
                                      messages=[{"role": "user", "content": "demo"}])
        assert r.choices[0].message.content == "You said: demo"
        sim_port = re.search(r"bedrock-sim on 127\.0\.0\.1:(\d+)", err_path.read_text()).group(1)
        [got] = httpx.get(f"http://127.0.0.1:{sim_port}/__sim/requests", timeout=5).json()
        assert got["auth"]["ok"] and got["auth"]["access_key"] == envoyctl.DEMO_ACCESS_KEY
