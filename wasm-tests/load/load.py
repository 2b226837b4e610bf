#!/usr/bin/env python3
"""Load: mixed requests (chat, stream, tools, embeddings, expected errors) at a fixed
concurrency through real Envoy + the filter + bedrock-sim. Reports throughput, unexpected
answers (must be 0), Envoy RSS before/after, and whether any Wasm VM failed.

usage: load.py [--requests 50000] [--concurrency 64]     (make load)
Everything runs on 127.0.0.1 on free ports and is stopped at the end.
"""
import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "wasm-tests" / "e2e"))
sys.path.insert(0, str(ROOT / "envoy"))
import envoyctl  # noqa: E402
from conftest import ACCESS_KEY, SECRET_KEY, Envoy, Sim, envoy_env  # noqa: E402

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}

# (name, path, body, expected status, check on the body text)
MIX = [
    ("chat", "/v1/chat/completions",
     {"model": MODEL, "messages": [{"role": "user", "content": "hello load"}]}, 200,
     lambda t: json.loads(t)["choices"][0]["message"]["content"] == "You said: hello load"),
    ("stream", "/v1/chat/completions",
     {"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
      "messages": [{"role": "user", "content": "stream load"}]}, 200,
     lambda t: t.rstrip().endswith("data: [DONE]") and sse_text(t) == "You said: stream load"),
    ("tools", "/v1/chat/completions",
     {"model": MODEL, "tools": [TOOL], "tool_choice": "auto",
      "messages": [{"role": "user", "content": "weather"}]}, 200,
     lambda t: json.loads(t)["object"] == "chat.completion"),
    ("embeddings", "/v1/embeddings",
     {"model": "amazon.titan-embed-text-v2:0", "input": "embed me", "encoding_format": "float"},
     200, lambda t: len(json.loads(t)["data"][0]["embedding"]) == 1024),
    ("bad-request", "/v1/chat/completions", {"model": MODEL, "messages": []}, 400,
     lambda t: json.loads(t)["error"]["param"] == "messages"),
]


def sse_text(body):
    """The concatenated content deltas of an OpenAI SSE body."""
    text = ""
    for event in body.split("\n\n"):
        data = event.removeprefix("data: ").strip()
        if data and data != "[DONE]":
            for choice in json.loads(data).get("choices", []):
                text += choice["delta"].get("content") or ""
    return text


def rss_kb(pid):
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))


async def run(base, total, concurrency):
    counts = {name: 0 for name, *_ in MIX}
    bad = []
    next_i = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        async def worker():
            nonlocal next_i
            while next_i < total:
                i = next_i
                next_i += 1
                name, path, body, status, check = MIX[i % len(MIX)]
                try:
                    r = await client.post(path, json=body)
                    ok = r.status_code == status and check(r.text)
                except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                    ok, r = False, e
                counts[name] += 1
                if not ok and len(bad) < 10:
                    bad.append((name, getattr(r, "status_code", r), getattr(r, "text", "")[:200]))
                elif not ok:
                    bad.append(None)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=50_000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bedrock-load-"))
    sim = Sim(["--credentials", f"{ACCESS_KEY}:{SECRET_KEY}"], quiet=True)
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=sim.port)
    envoy = Envoy(cfg, tmp, envoy_env(AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                     AWS_SECRET_ACCESS_KEY=SECRET_KEY), listen, admin)
    try:
        asyncio.run(run(envoy.url, 500, args.concurrency))  # warm up
        before = rss_kb(envoy.proc.pid)
        start = time.monotonic()
        counts, bad = asyncio.run(run(envoy.url, args.requests, args.concurrency))
        elapsed = time.monotonic() - start
        after = rss_kb(envoy.proc.pid)
        log = envoy.log_text()
        vm_failures = len(re.findall(r"Wasm VM failed|panicked|wasm trap|Function: .* failed", log))
        unexpected = len(bad)
        print(f"| requests | {args.requests} at concurrency {args.concurrency} "
              f"({', '.join(f'{k} {v}' for k, v in counts.items())}) |")
        print(f"| time | {elapsed:.1f} s ({args.requests / elapsed:.0f} requests/s) |")
        print(f"| unexpected answers | {unexpected} |")
        print(f"| Wasm VM failures in Envoy's log | {vm_failures} |")
        print(f"| Envoy RSS | {before / 1024:.1f} MiB → {after / 1024:.1f} MiB "
              f"({(after - before) * 100 / before:+.1f} %) |")
        for b in [b for b in bad if b][:10]:
            print("unexpected:", b, file=sys.stderr)
        return 1 if unexpected or vm_failures else 0
    finally:
        envoy.stop()
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
