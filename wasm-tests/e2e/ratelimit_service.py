#!/usr/bin/env python3
"""A small RateLimitService (Envoy's RLS v3, gRPC over HTTP/2) for the end-to-end tests.

Envoy's `envoy.filters.http.ratelimit` filter calls
`/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` with a domain and a list of
descriptors; this service counts them in fixed windows the way envoyproxy/ratelimit does, with
limits written in envoyproxy/ratelimit's own configuration format, and records every call so that
tests can read what Envoy sent. A test tool, not a product: counters live in one process's memory.

    ratelimit_service.py [--listen 127.0.0.1:0] [--control 127.0.0.1:0] [--config FILE|TEXT]...

Prints `LISTENING grpc=127.0.0.1:<port> control=127.0.0.1:<port>` once both listen, and stops
cleanly on SIGTERM or SIGINT. `--config` (repeatable) is a file, or the YAML/JSON text itself, of
one domain in envoyproxy/ratelimit's format:

    domain: bedrock
    descriptors:
    - key: kind
      value: requests
      descriptors:
      - key: caller                      # no value: any caller, a counter per caller
        rate_limit: {unit: minute, requests_per_unit: 600}
      - key: caller
        value: team-a                    # this caller's own limit instead
        rate_limit: {unit: minute, requests_per_unit: 60}

Lookup as envoyproxy/ratelimit does it: for each entry of the descriptor, the node `key` with that
value, else the node `key` without value; a limit applies only at the depth of the descriptor's
last entry. Descriptors without a limit are answered OK and not counted. Units: second, minute,
hour, day. Not supported: wildcard values, `unlimited`, `shadow_mode`, `replaces`.

Counting, as envoyproxy/ratelimit's fixed-window cache does it:
  - hits: the descriptor's own `hits_addend` when Envoy set it (0 included: a check that adds
    nothing), else the request's `hits_addend`, else 1 (proto3 cannot tell 0 from unset there);
  - the hits are added first, whatever the answer; the descriptor is OVER_LIMIT when its count
    after adding exceeds the limit, and the call is OVER_LIMIT when any descriptor is;
  - each status has the limit, what remains of it (never below 0) and the time to the window's
    end; windows are aligned to the unit (a minute starts at :00, a day at 00:00 UTC).

Control endpoint (plain HTTP on 127.0.0.1):
  GET /requests      every call so far, oldest first: {"domain", "hits_addend", "descriptors":
                     [{"entries": [[key, value], ...], "hits_addend": int or null, "hits": int}],
                     "overall_code", "statuses": [{"code", "limit_remaining"}], "time"}
  DELETE /requests   forget them
  PUT /config        replace the configuration (body: YAML or JSON, as --config) and reset counters
  DELETE /counters   reset every counter
"""
import argparse
import json
import math
import signal
import sys
import tempfile
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import grpc
import yaml
from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parent / "proto"
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def compile_proto(out_dir):
    """rls.proto → rls_pb2 and rls_pb2_grpc in `out_dir`; returns the two modules."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    code = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{well_known}", f"--python_out={out_dir}",
                        f"--grpc_python_out={out_dir}", str(PROTO_DIR / "rls.proto")])
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO_DIR / 'rls.proto'} ({code})")
    sys.path.insert(0, str(out_dir))
    import rls_pb2  # noqa: E402
    import rls_pb2_grpc  # noqa: E402
    return rls_pb2, rls_pb2_grpc


class Limit:
    def __init__(self, node, path):
        rl = node["rate_limit"]
        self.requests_per_unit = int(rl["requests_per_unit"])
        self.unit = str(rl["unit"]).lower()
        if self.unit not in UNITS:
            raise ValueError(f"{path}: unit must be one of {sorted(UNITS)}, not {rl['unit']!r}")
        self.name = rl.get("name", "")


class Domain:
    """One domain of envoyproxy/ratelimit's configuration: a tree of descriptors, each with a
    key, an optional value (without one it matches any value) and an optional rate_limit."""

    def __init__(self, config):
        self.name = config["domain"]
        self.tree = self._load(config.get("descriptors") or [], self.name)

    @classmethod
    def _load(cls, nodes, path):
        tree = {}
        for node in nodes:
            key, value = node["key"], node.get("value")
            if not key:
                raise ValueError(f"{path}: a descriptor without key")
            name = key if value in (None, "") else f"{key}_{value}"
            if name in tree:
                raise ValueError(f"{path}.{name}: defined twice")
            limit = Limit(node, f"{path}.{name}") if node.get("rate_limit") else None
            tree[name] = (limit, cls._load(node.get("descriptors") or [], f"{path}.{name}"))
        return tree

    def limit_for(self, entries):
        """envoyproxy/ratelimit's lookup: per entry key_value, else key alone; the limit counts
        only at the depth of the descriptor's last entry."""
        tree, found = self.tree, None
        for i, (key, value) in enumerate(entries):
            node = tree.get(f"{key}_{value}") or tree.get(key)
            if node is None:
                return None
            limit, children = node
            if limit is not None and i == len(entries) - 1:
                found = limit
            if not children:
                break
            tree = children
        return found


def parse_config(text):
    """YAML or JSON text of one domain (or a list of them) → {domain name: Domain}."""
    data = yaml.safe_load(text)
    configs = data if isinstance(data, list) else [data] if data else []
    return {d.name: d for d in (Domain(c) for c in configs)}


def load_config(arg):
    """--config: a file path, or the YAML / JSON text itself."""
    try:
        is_file = "\n" not in arg and Path(arg).is_file()
    except OSError:  # e.g. one line of JSON longer than a file name may be
        is_file = False
    return parse_config(Path(arg).read_text() if is_file else arg)


class Counter:
    """Fixed windows per (domain, descriptor, window), shared by every gRPC worker thread."""

    def __init__(self, domains, clock=time.time):
        self.lock = threading.Lock()
        self.domains, self.counts, self.calls, self.clock = domains, {}, [], clock

    def set_domains(self, domains):
        with self.lock:
            self.domains, self.counts = domains, {}

    def reset_counts(self):
        with self.lock:
            self.counts = {}

    def check(self, domain, request_hits, descriptors):
        """descriptors: [(entries, hits_addend or None)] → (over, [(status, limit or None,
        seconds to the window's end)])."""
        now = self.clock()
        statuses, over = [], False
        with self.lock:
            for entries, own_hits in descriptors:
                hits = own_hits if own_hits is not None else (request_hits or 1)
                domain_config = self.domains.get(domain)
                limit = domain_config.limit_for(entries) if domain_config else None
                if limit is None:
                    statuses.append(({"code": "OK", "limit_remaining": 0, "hits": hits}, None, 0))
                    continue
                length = UNITS[limit.unit]
                window = math.floor(now / length)
                key = (domain, tuple(entries), limit.unit, window)
                count = self.counts.get(key, 0) + hits
                self.counts[key] = count
                exceeded = count > limit.requests_per_unit
                over = over or exceeded
                statuses.append(({"code": "OVER_LIMIT" if exceeded else "OK",
                                  "limit_remaining": max(0, limit.requests_per_unit - count),
                                  "hits": hits}, limit, (window + 1) * length - now))
        return over, statuses

    def record(self, call):
        with self.lock:
            self.calls.append(call)

    def recorded(self):
        with self.lock:
            return list(self.calls)

    def forget(self):
        with self.lock:
            self.calls = []


def make_servicer(pb2, pb2_grpc, counter):
    Response = pb2.RateLimitResponse

    class RateLimitService(pb2_grpc.RateLimitServiceServicer):
        def ShouldRateLimit(self, request, context):
            descriptors = []
            for d in request.descriptors:
                entries = [(e.key, e.value) for e in d.entries]
                own = d.hits_addend.value if d.HasField("hits_addend") else None
                descriptors.append((entries, own))
            over, statuses = counter.check(request.domain, request.hits_addend, descriptors)
            response = Response(overall_code=Response.OVER_LIMIT if over else Response.OK)
            for (status, limit, until_reset) in statuses:
                s = response.statuses.add(code=getattr(Response, status["code"]),
                                          limit_remaining=status["limit_remaining"])
                if limit is not None:
                    s.current_limit.requests_per_unit = limit.requests_per_unit
                    s.current_limit.unit = getattr(Response.RateLimit, limit.unit.upper())
                    s.current_limit.name = limit.name
                    s.duration_until_reset.seconds = max(0, math.ceil(until_reset))
            counter.record({
                "time": time.time(), "domain": request.domain,
                "hits_addend": request.hits_addend,
                "descriptors": [{"entries": [list(e) for e in entries], "hits_addend": own,
                                 "hits": st["hits"]}
                                for (entries, own), (st, _, _) in zip(descriptors, statuses)],
                "overall_code": "OVER_LIMIT" if over else "OK",
                "statuses": [{"code": st["code"], "limit_remaining": st["limit_remaining"]}
                             for st, _, _ in statuses]})
            return response

    return RateLimitService()


def make_control(counter, address):
    class Control(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body=None):
            data = json.dumps(body if body is not None else {}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/requests":
                return self.answer(200, counter.recorded())
            self.answer(404, {"error": f"no {self.path}"})

        def do_DELETE(self):
            if self.path == "/requests":
                counter.forget()
                return self.answer(200)
            if self.path == "/counters":
                counter.reset_counts()
                return self.answer(200)
            self.answer(404, {"error": f"no {self.path}"})

        def do_PUT(self):
            if self.path != "/config":
                return self.answer(404, {"error": f"no {self.path}"})
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                counter.set_domains(parse_config(body.decode()))
            except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as e:
                return self.answer(400, {"error": str(e)})
            self.answer(200)

    host, port = address.rsplit(":", 1)
    return ThreadingHTTPServer((host, int(port)), Control)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="gRPC address (port 0: a free one)")
    ap.add_argument("--control", default="127.0.0.1:0", help="control HTTP address")
    ap.add_argument("--config", action="append", default=[],
                    help="envoyproxy/ratelimit configuration: a YAML file, or YAML/JSON text")
    args = ap.parse_args(argv)
    if not args.listen.startswith("127.0.0.1:") or not args.control.startswith("127.0.0.1:"):
        ap.error("a test service: listen on 127.0.0.1 only")

    domains = {}
    for arg in args.config:
        domains.update(load_config(arg))
    counter = Counter(domains)
    with tempfile.TemporaryDirectory(prefix="rls-proto-") as out:
        pb2, pb2_grpc = compile_proto(out)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb2_grpc.add_RateLimitServiceServicer_to_server(
            make_servicer(pb2, pb2_grpc, counter), server)
        port = server.add_insecure_port(args.listen)
        if port == 0:
            sys.exit(f"cannot listen on {args.listen}")
        server.start()
        control = make_control(counter, args.control)
        threading.Thread(target=control.serve_forever, daemon=True).start()

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        print(f"LISTENING grpc=127.0.0.1:{port} control=127.0.0.1:{control.server_address[1]}",
              flush=True)
        while not stop.wait(0.5):
            pass
        control.shutdown()
        control.server_close()
        server.stop(grace=1).wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
