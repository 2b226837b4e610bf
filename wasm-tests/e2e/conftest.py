"""Fixtures for end-to-end tests: bedrock-sim and real Envoy with the built .wasm.

Everything listens on 127.0.0.1 on free ports, every wait is bounded, and every process
started here is stopped at the end of the session.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "envoy"))
import envoyctl  # noqa: E402

ACCESS_KEY = "AKIDE2ETESTEXAMPLE"
SECRET_KEY = "e2e/secret+key/EXAMPLEKEY"
SESSION_TOKEN = "e2e-session-token/with+chars="
REGION = "us-east-1"
BEARER_TOKEN = "bedrock-api-key-e2e-EXAMPLE"
# Aliases in the session Envoy's filter configuration.
ALIASES = {"claude": "anthropic.claude-3-haiku-20240307-v1:0",
           "claude-invoke": {"id": "anthropic.claude-3-haiku-20240307-v1:0", "api": "invoke"},
           # A Claude with extended thinking (Claude 3 Haiku has none), through InvokeModel.
           "sonnet-invoke": {"id": "anthropic.claude-sonnet-4-5-20250929-v1:0", "api": "invoke"},
           "nova-invoke": {"id": "amazon.nova-lite-v1:0", "api": "invoke"},
           "embed": "amazon.titan-embed-text-v2:0",
           # Claude Code's default model names, mapped to Bedrock's inference profiles.
           "claude-sonnet-4-5-20250929": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
           "claude-haiku-4-5-20251001": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
           "guarded": {"id": "amazon.nova-lite-v1:0",
                       "guardrail": {"identifier": "gr12ab34cd", "version": "2",
                                     "trace": "enabled", "stream_processing_mode": "async"},
                       "additional_request_fields": {"top_k": 40}}}


class Sim:
    """A running bedrock-sim and its control API."""

    def __init__(self, args, quiet=False):
        self.proc, self.port = envoyctl.start_sim(args, quiet=quiet)
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def requests(self):
        return self.http.get("/__sim/requests").json()

    def reset(self):
        self.http.delete("/__sim/requests")
        self.http.delete("/__sim/script")

    def script(self, *behaviours):
        r = self.http.post("/__sim/script", json=list(behaviours))
        assert r.status_code == 200, r.text

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Envoy:
    """A running Envoy with the given rendered config."""

    def __init__(self, cfg, tmp, env, listen_port, admin_port, name="envoy", extra_args=()):
        self.port, self.admin_port = listen_port, admin_port
        self.url = f"http://127.0.0.1:{listen_port}"
        path = envoyctl.write_config(cfg, tmp)
        self.log_path = Path(tmp) / f"{name}.log"
        self.log = open(self.log_path, "w")
        cmd = [*envoyctl.find_envoy(), "-c", str(path), "--disable-hot-restart",
               "--concurrency", "2", "--log-level", "info", *extra_args]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Envoy exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{admin_port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Envoy not ready in 60 s:\n{self.log_text()}")
            time.sleep(0.1)

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text()

    def access_log_line(self, request_id, timeout=10.0):
        """The JSON access-log line (on Envoy's stdout, as failover.yaml and the signer configs
        write it) of the request with this x-request-id, waited for up to `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                if line.startswith('{"') and json.loads(line)["request_id"] == request_id:
                    return json.loads(line)
            assert time.monotonic() < deadline, f"no access-log line for {request_id}"
            time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def envoy_env(**creds):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(creds)
    return env


@contextlib.contextmanager
def sim_pair(first, second):
    """Two bedrock-sims standing for the regions `first` and `second`, with the session's
    keys; both stopped on the way out."""
    creds = f"{ACCESS_KEY}:{SECRET_KEY}:{SESSION_TOKEN}"
    a = Sim(["--region", first, "--credentials", creds])
    try:
        b = Sim(["--region", second, "--credentials", creds])
    except Exception:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@contextlib.contextmanager
def envoyctl_run(args, env, admin_port, stderr_path, what):
    """`envoy/envoyctl.py *args` (what a `make run*` target runs) in a process group of its own,
    its stderr in `stderr_path`, yielded once Envoy's admin port says ready (60 s at most);
    the whole group (Envoy, simulators) is stopped on the way out."""
    with open(stderr_path, "w") as err_file:
        proc = subprocess.Popen([sys.executable, str(ROOT / "envoy/envoyctl.py"), *args],
                                env=env, stdout=subprocess.DEVNULL, stderr=err_file,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{admin_port}/ready",
                             timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, Path(stderr_path).read_text()[-3000:]
            assert time.monotonic() < deadline, f"{what} did not become ready"
            time.sleep(0.2)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def sim():
    s = Sim(["--region", REGION, "--credentials", f"{ACCESS_KEY}:{SECRET_KEY}:{SESSION_TOKEN}",
             "--bearer-token", BEARER_TOKEN])
    yield s
    s.stop()


@pytest.fixture(scope="session")
def envoy(sim, tmp_path_factory):
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=sim.port,
                               region=REGION, filter_config={
                                   "region": REGION, "endpoint": sim.url, "models": ALIASES})
    e = Envoy(cfg, tmp_path_factory.mktemp("envoy"), envoy_env(
        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN), listen, admin)
    yield e
    e.stop()


@pytest.fixture()
def fresh(sim):
    """Each test starts with no recorded requests and no scripted behaviour."""
    sim.reset()
    yield sim
    sim.reset()


@pytest.fixture()
def client(envoy):
    from openai import OpenAI
    return OpenAI(base_url=f"{envoy.url}/v1", api_key="sk-caller-key-never-upstream",
                  max_retries=0, timeout=30)


@pytest.fixture()
def http(envoy):
    with httpx.Client(base_url=envoy.url, timeout=30) as c:
        yield c
