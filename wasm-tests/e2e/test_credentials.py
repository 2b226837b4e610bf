"""Credentials the filter fetches itself (IMDSv2, container endpoint), and secrets kept out of
everything Envoy shows (log, /config_dump, /stats).

The metadata services are fakes in this process (stdlib http.server in a thread, on free
127.0.0.1 ports); Envoy reaches them through the clusters of envoy/imds.yaml, re-pointed. A
dedicated bedrock-sim accepts both key sets the fakes hand out, so the tests see which one
signed each request.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

import envoyctl
from conftest import REGION, SECRET_KEY, SESSION_TOKEN, Envoy, Sim, envoy_env

MODEL = "amazon.nova-lite-v1:0"
ROLE = "e2e-gateway-role"
KEYS_A = ("ASIAE2EFIRSTKEY", "first/secret+KEY/e2eEXAMPLEaaaa", "first-session-token/e2e+AAAA=")
KEYS_B = ("ASIAE2ESECONDKEY", "second/secret+KEY/e2eEXAMPLEbbb", "second-session-token/e2e+BBB=")
CONTAINER_PATH = "/v2/credentials/e2e-task"
CONTAINER_TOKEN = "container-authorization-token-e2e-SECRET"
CONTAINER_ENV_KEYS = ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN"]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class FakeMetadata:
    """EC2 instance metadata (IMDSv2 only: GETs without a session token get 401) or a container
    credentials endpoint (GET with the authorization token), handing out `keys` that expire
    `lifetime` seconds after each answer. `mode`: ok, malformed (cut-off JSON), denied
    (Code AssumeRoleUnauthorizedAccess), slow (GETs answer after 2 s)."""

    def __init__(self, kind, keys, lifetime):
        self.kind, self.keys, self.lifetime, self.mode = kind, keys, lifetime, "ok"
        self.lock = threading.Lock()
        self.calls = []          # (method, path, headers with lower-case names)
        self.issued = []         # (access key id, expires at)
        self.session_tokens = []
        self.rejected = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                fake.record(self)
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                if fake.kind != "imds" or self.path != "/latest/api/token" or not ttl:
                    return self.answer(400, b"")
                token = f"imds-session-token-{len(fake.session_tokens)}-SECRET"
                with fake.lock:
                    fake.session_tokens.append(token)
                self.answer(200, token.encode())

            def do_GET(self):
                fake.record(self)
                if fake.mode == "slow":
                    time.sleep(2)
                if fake.kind == "imds":
                    with fake.lock:
                        ok = self.headers.get("X-aws-ec2-metadata-token") in fake.session_tokens
                        fake.rejected += not ok
                    if not ok:
                        return self.answer(401, b"")
                    base = "/latest/meta-data/iam/security-credentials/"
                    if self.path == base:
                        return self.answer(200, ROLE.encode())
                    if self.path == base + ROLE:
                        return self.answer(200, fake.credentials_body())
                    return self.answer(404, b"")
                if self.headers.get("Authorization") != CONTAINER_TOKEN:
                    with fake.lock:
                        fake.rejected += 1
                    return self.answer(401, b'{"code":"AccessDenied","message":"bad token"}')
                if self.path != CONTAINER_PATH:
                    return self.answer(404, b"")
                self.answer(200, fake.credentials_body())

            def answer(self, status, body):
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def record(self, handler):
        with self.lock:
            self.calls.append((handler.command, handler.path,
                               {k.lower(): v for k, v in handler.headers.items()}))

    def credentials_body(self):
        akid, secret, token = self.keys
        expires = int(time.time()) + self.lifetime
        body = {"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                "Expiration": iso(expires)}
        if self.kind == "imds":
            body = {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC", **body}
        if self.mode == "denied":
            body = {"Code": "AssumeRoleUnauthorizedAccess", "Message": "EC2 cannot assume the role",
                    "LastUpdated": iso(time.time())}
        text = json.dumps(body).encode()
        if self.mode == "malformed":
            return text[:-40]
        with self.lock:
            self.issued.append((akid, expires))
        return text

    def switch(self, keys=None, lifetime=None, mode=None):
        with self.lock:
            self.keys = keys or self.keys
            self.lifetime = lifetime or self.lifetime
            self.mode = mode or self.mode

    def last_expiry(self):
        with self.lock:
            return max(e for _, e in self.issued)

    def secrets(self):
        with self.lock:
            return [KEYS_A[1], KEYS_A[2], KEYS_B[1], KEYS_B[2], CONTAINER_TOKEN,
                    *self.session_tokens]

    def stop(self):
        if self.running:
            self.running = False
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def cred_sim():
    s = Sim(["--region", REGION, "--credentials", ":".join(KEYS_A),
             "--credentials", ":".join(KEYS_B)])
    yield s
    s.stop()


def start_envoy(sim, tmp, fake, credentials=None, env=None, cluster_port=None):
    """demo.yaml against `sim`, plus envoy/imds.yaml's metadata clusters pointed at `fake`."""
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    filter_config = {"region": REGION, "endpoint": sim.url}
    if credentials is not None:
        filter_config["credentials"] = credentials
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=sim.port,
                               region=REGION, filter_config=filter_config)
    shipped = envoyctl.load("imds.yaml")
    for name in ("imds", "container_credentials"):
        cluster = envoyctl._cluster(shipped, name)
        envoyctl._set_upstream(cluster, "127.0.0.1", cluster_port or fake.port)
        cfg["static_resources"]["clusters"].append(cluster)
    vm = envoyctl._wasm_filter(cfg)["vm_config"]
    vm["environment_variables"]["host_env_keys"] += CONTAINER_ENV_KEYS
    return Envoy(cfg, tmp, envoy_env(**(env or {})), listen, admin)


def chat(url, content="ping"):
    return httpx.post(f"{url}/v1/chat/completions", timeout=30,
                      json={"model": MODEL, "messages": [{"role": "user", "content": content}]})


def assert_no_credentials_503(r):
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "no_credentials", r.text
    assert r.headers.get("retry-after") == "1"


def wait_until_served(url, seconds=20):
    """Requests before the first fetch lands get 503 no_credentials; then they succeed."""
    deadline = time.monotonic() + seconds
    while True:
        r = chat(url, "first")
        if r.status_code == 200:
            return r
        assert_no_credentials_503(r)
        assert time.monotonic() < deadline, "no credentials fetched in time"
        time.sleep(0.2)


def signed_with(sim):
    return sim.requests()[-1]["auth"]


def wait_for_log(envoy, text, seconds=20):
    deadline = time.monotonic() + seconds
    while text not in envoy.log_text():
        assert time.monotonic() < deadline, f"no log line with {text!r}:\n{envoy.log_text()}"
        time.sleep(0.2)


def assert_no_secrets(envoy, secrets):
    """Envoy's whole log, the admin config dump and both stats pages never show a secret."""
    admin = f"http://127.0.0.1:{envoy.admin_port}"
    pages = {"log": envoy.log_text()}
    for page in ("/config_dump?include_eds", "/stats", "/stats/prometheus"):
        pages[page] = httpx.get(admin + page, timeout=10).text
    for name, text in pages.items():
        leaked = [i for i, s in enumerate(secrets) if s in text]
        assert not leaked, f"{name} shows secret #{leaked} of the test's list"


def test_imds_first_fetch_then_rotation_before_expiry(cred_sim, tmp_path):
    fake = FakeMetadata("imds", KEYS_A, lifetime=20)
    e = start_envoy(cred_sim, tmp_path, fake, credentials={"source": "imds", "cluster": "imds"})
    try:
        assert wait_until_served(e.url).json()["choices"][0]["message"]["content"] == "You said: first"
        auth = signed_with(cred_sim)
        assert (auth["ok"], auth["access_key"]) == (True, KEYS_A[0]), auth
        # IMDSv2: a token PUT first, every GET with a token; the fake refuses GETs without one.
        method, path, headers = fake.calls[0]
        assert (method, path) == ("PUT", "/latest/api/token")
        assert headers.get("x-aws-ec2-metadata-token-ttl-seconds") == "21600"
        # Real IMDS refuses token requests that carry X-Forwarded-For.
        assert "x-forwarded-for" not in headers
        assert fake.rejected == 0
        assert httpx.get(f"http://127.0.0.1:{fake.port}/latest/meta-data/iam/security-credentials/"
                         ).status_code == 401
        assert fake.rejected == 1   # that probe
        wait_for_log(e, f"AWS credentials from EC2 instance metadata (IMDS): access key {KEYS_A[0]}")

        # Rotation: the service now hands out B; A (20 s) is refreshed halfway through its life.
        fake.switch(keys=KEYS_B, lifetime=3600)
        a_expires = fake.last_expiry()
        deadline = time.monotonic() + 30
        while True:
            r = chat(e.url, "rotate")
            assert r.status_code == 200, r.text    # no gap while rotating
            if signed_with(cred_sim)["access_key"] == KEYS_B[0]:
                break
            assert time.monotonic() < deadline, "the filter never picked up the new keys"
            time.sleep(0.5)
        assert time.time() < a_expires, "B arrived only after A expired"
        # Once A has expired on every worker, every request is signed with B.
        time.sleep(max(0.0, a_expires + 1 - time.time()))
        for _ in range(6):
            assert chat(e.url, "after").status_code == 200
            assert signed_with(cred_sim)["access_key"] == KEYS_B[0]
        assert fake.rejected == 1, "the filter sent a GET without its IMDS token"
        assert_no_secrets(e, fake.secrets())
    finally:
        e.stop()
        fake.stop()


def test_container_endpoint_from_env_server_down_then_expiry(cred_sim, tmp_path):
    fake = FakeMetadata("container", KEYS_A, lifetime=20)
    # No "credentials" section and no keys in the environment: the container variables decide.
    e = start_envoy(cred_sim, tmp_path, fake, env={
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{fake.port}{CONTAINER_PATH}",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": CONTAINER_TOKEN})
    try:
        wait_until_served(e.url)
        assert signed_with(cred_sim)["access_key"] == KEYS_A[0]
        method, path, headers = fake.calls[0]
        assert (method, path, headers.get("authorization")) == ("GET", CONTAINER_PATH,
                                                                 CONTAINER_TOKEN)
        assert fake.rejected == 0

        # The endpoint goes away: the credentials held keep working until they expire …
        fake.stop()
        stopped = time.time()
        while time.time() < stopped + 5:
            assert chat(e.url, "still").status_code == 200
            time.sleep(0.5)
        wait_for_log(e, "AWS credentials from the container credentials endpoint failed: "
                        f"GET http://127.0.0.1:{fake.port}{CONTAINER_PATH}", seconds=20)
        # … and are never used after that: 503 until the endpoint is back.
        time.sleep(max(0.0, fake.last_expiry() + 1.5 - time.time()))
        r = chat(e.url, "expired")
        assert_no_credentials_503(r)
        assert "expired" in r.json()["error"]["message"]
        wait_for_log(e, f"(access key {KEYS_A[0]}) expired at", seconds=5)
        assert_no_secrets(e, fake.secrets())
    finally:
        e.stop()
        fake.stop()


def test_malformed_and_refused_answers_give_503_and_say_why(cred_sim, tmp_path):
    cred_sim.reset()
    fake = FakeMetadata("imds", KEYS_A, lifetime=3600)
    fake.switch(mode="malformed")
    e = start_envoy(cred_sim, tmp_path, fake, credentials={"source": "imds"})
    try:
        wait_for_log(e, "the credentials answer is not the expected JSON")
        r = chat(e.url)
        assert_no_credentials_503(r)
        assert "no AWS credentials yet" in r.json()["error"]["message"]
        fake.switch(mode="denied")
        wait_for_log(e, 'answered Code "AssumeRoleUnauthorizedAccess": EC2 cannot assume the role')
        assert_no_credentials_503(chat(e.url))
        assert cred_sim.requests() == [], "nothing may reach Bedrock without credentials"
        assert_no_secrets(e, fake.secrets())
    finally:
        e.stop()
        fake.stop()


def test_a_metadata_call_that_times_out_is_a_failure(cred_sim, tmp_path):
    fake = FakeMetadata("container", KEYS_A, lifetime=3600)
    fake.switch(mode="slow")
    e = start_envoy(cred_sim, tmp_path, fake, credentials={
        "source": "container", "uri": f"http://127.0.0.1:{fake.port}{CONTAINER_PATH}",
        "timeout_ms": 300})
    try:
        wait_for_log(e, "AWS credentials from the container credentials endpoint failed: "
                        f"GET http://127.0.0.1:{fake.port}{CONTAINER_PATH} answered 504 "
                        "(no answer within the timeout)")
        assert_no_credentials_503(chat(e.url))
    finally:
        e.stop()
        fake.stop()


def test_a_missing_metadata_cluster_is_reported_not_fatal(cred_sim, tmp_path):
    fake = FakeMetadata("imds", KEYS_A, lifetime=3600)
    e = start_envoy(cred_sim, tmp_path, fake, credentials={"source": "imds", "cluster": "nowhere"})
    try:
        wait_for_log(e, 'the proxy cannot make the call')
        assert 'is cluster "nowhere" defined?' in e.log_text()
        assert_no_credentials_503(chat(e.url))
        assert fake.calls == []
    finally:
        e.stop()
        fake.stop()


def test_static_credentials_from_the_configuration(cred_sim, tmp_path):
    akid, secret, token = KEYS_B
    fake = FakeMetadata("imds", KEYS_A, lifetime=3600)
    e = start_envoy(cred_sim, tmp_path, fake, credentials={
        "source": "static", "access_key_id": akid, "secret_access_key": secret,
        "session_token": token})
    try:
        assert chat(e.url).status_code == 200
        assert signed_with(cred_sim)["access_key"] == akid
        assert fake.calls == []
        # As documented: configuration is visible in /config_dump (prefer the environment) …
        dump = httpx.get(f"http://127.0.0.1:{e.admin_port}/config_dump", timeout=10).text
        assert secret in dump
        # … but never in the log or the stats.
        log = e.log_text()
        assert secret not in log and token not in log
        assert f"SigV4 with access key {akid} and session token from the configuration" in log
    finally:
        e.stop()
        fake.stop()


def test_env_secrets_never_in_envoy_output(envoy, client):
    """The session Envoy signs with keys and a session token from its environment."""
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert_no_secrets(envoy, [SECRET_KEY, SESSION_TOKEN])
