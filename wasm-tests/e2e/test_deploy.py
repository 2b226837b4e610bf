"""The shipped Envoy configs and credential modes, end to end."""
import contextlib
import subprocess
import tempfile
from pathlib import Path

import httpx
import openai
import pytest

import envoyctl
from conftest import (ACCESS_KEY, BEARER_TOKEN, REGION, SECRET_KEY, SESSION_TOKEN, Envoy,
                      envoy_env, envoyctl_run)

MODEL = "amazon.nova-lite-v1:0"
PROD_HOST = f"bedrock-runtime.{REGION}.amazonaws.com"


def chat(base_url, content="ping"):
    c = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-x", max_retries=0, timeout=30)
    return c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])


def start_demo_envoy(sim, tmp, env, filter_config=None):
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_demo(listen_port=listen, admin_port=admin, upstream_port=sim.port,
                               region=REGION, filter_config=filter_config)
    return Envoy(cfg, tmp, env, listen, admin)


def _openssl(d, *args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)


def make_certs(d):
    """A throwaway CA and a server certificate for the real Bedrock host name."""
    _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=e2e test CA", "-keyout", "ca.key", "-out", "ca.crt")
    issue_cert(d, PROD_HOST, "server")
    return Path(d)


def issue_cert(d, host, name):
    """A server certificate for `host` from make_certs' CA in `d`: `name`.crt and `name`.key."""
    _openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
             "-keyout", f"{name}.key", "-out", f"{name}.csr")
    (Path(d) / f"{name}.ext").write_text(f"subjectAltName=DNS:{host}\n")
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")


def tls_terminator(certs, listen, admin, upstream_port, cert="server", server_names=None):
    """Envoy as a local stand-in for Bedrock's TLS front door: terminates TLS with a certificate
    for the real host name and passes requests (Host unchanged) to bedrock-sim. `cert` names
    the certificate in `certs`; with `server_names` only connections whose SNI is one of them
    are served (others are closed), which proves the SNI the client sent."""
    chain = {
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {"tls_certificates": [{
                    "certificate_chain": {"filename": str(certs / f"{cert}.crt")},
                    "private_key": {"filename": str(certs / f"{cert}.key")}}]}}},
    }
    if server_names:
        chain["filter_chain_match"] = {"server_names": list(server_names)}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{
                "name": "tls",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                **({"listener_filters": [{
                    "name": "envoy.filters.listener.tls_inspector",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}]}
                   if server_names else {}),
                "filter_chains": [{
                    **chain,
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "tls",
                            "route_config": {"virtual_hosts": [{
                                "name": "all", "domains": ["*"],
                                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "sim"}}]}]},
                            "http_filters": [{
                                "name": "envoy.filters.http.router",
                                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}],
            "clusters": [{
                "name": "sim", "type": "STATIC", "connect_timeout": "2s",
                "load_assignment": {"cluster_name": "sim", "endpoints": [{"lb_endpoints": [{
                    "endpoint": {"address": {"socket_address": {
                        "address": "127.0.0.1", "port_value": upstream_port}}}}]}]}}]}}


def cluster_stats(admin_port):
    text = httpx.get(f"http://127.0.0.1:{admin_port}/stats?filter=^cluster.bedrock.ssl").text
    return {k: int(v) for k, v in (line.split(": ", 1) for line in text.splitlines())
            if v.isdigit()}


def test_production_config_over_tls(sim, tmp_path):
    sim.reset()
    certs = make_certs(tmp_path)
    tls_port, tls_admin = envoyctl.free_port(), envoyctl.free_port()
    (tmp_path / "front").mkdir()
    front = Envoy(tls_terminator(certs, tls_port, tls_admin, sim.port), tmp_path / "front",
                  envoy_env(), tls_port, tls_admin, name="front")
    try:
        listen, admin = envoyctl.free_port(), envoyctl.free_port()
        cfg = envoyctl.render_production(listen_port=listen, admin_port=admin, region=REGION,
                                         connect_to=("127.0.0.1", tls_port),
                                         ca_file=certs / "ca.crt")
        (tmp_path / "prod").mkdir()
        prod = Envoy(cfg, tmp_path / "prod", envoy_env(
            AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_SESSION_TOKEN=SESSION_TOKEN), listen, admin, name="prod")
        try:
            r = chat(prod.url, "over tls")
            assert r.choices[0].message.content == "You said: over tls"
            req = sim.requests()[-1]
            assert req["auth"]["ok"], req["auth"]
            hosts = [v for n, v in req["headers"] if n.lower() == "host"]
            assert hosts == [PROD_HOST]
            # The request went over TLS to the bedrock cluster, with the certificate verified.
            stats = cluster_stats(admin)
            assert stats["cluster.bedrock.ssl.handshake"] >= 1, stats
            assert stats.get("cluster.bedrock.ssl.fail_verify_san", 0) == 0
        finally:
            prod.stop()
    finally:
        sim.reset()
        front.stop()


def test_production_config_rejects_a_wrong_certificate(sim, tmp_path):
    """Same as above but the client trusts a different CA: no request may reach the sim."""
    sim.reset()
    certs = make_certs(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    make_certs(other)
    tls_port, tls_admin = envoyctl.free_port(), envoyctl.free_port()
    (tmp_path / "front").mkdir()
    front = Envoy(tls_terminator(certs, tls_port, tls_admin, sim.port), tmp_path / "front",
                  envoy_env(), tls_port, tls_admin, name="front")
    try:
        listen, admin = envoyctl.free_port(), envoyctl.free_port()
        cfg = envoyctl.render_production(listen_port=listen, admin_port=admin, region=REGION,
                                         connect_to=("127.0.0.1", tls_port),
                                         ca_file=other / "ca.crt")
        (tmp_path / "prod").mkdir()
        prod = Envoy(cfg, tmp_path / "prod", envoy_env(
            AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY), listen, admin,
            name="prod")
        try:
            with pytest.raises(openai.APIStatusError) as info:
                chat(prod.url)
            assert info.value.status_code == 503
            assert info.value.body["type"] == "api_error"
            assert sim.requests() == []
            assert cluster_stats(admin).get("cluster.bedrock.ssl.fail_verify_error", 0) >= 1
        finally:
            prod.stop()
    finally:
        front.stop()


def test_bearer_api_key_mode(sim, tmp_path):
    sim.reset()
    e = start_demo_envoy(sim, tmp_path, envoy_env(AWS_BEARER_TOKEN_BEDROCK=BEARER_TOKEN,
                                                  AWS_ACCESS_KEY_ID="ignored-when-bearer"))
    try:
        assert chat(e.url, "bearer").choices[0].message.content == "You said: bearer"
        req = sim.requests()[-1]
        assert req["auth"] == {**req["auth"], "ok": True, "mode": "bearer"}
        assert [v for n, v in req["headers"] if n.lower() == "x-amz-date"] == []
    finally:
        e.stop()
        sim.reset()


def test_wrong_secret_is_reported_as_the_gateways_credentials(sim, tmp_path):
    sim.reset()
    e = start_demo_envoy(sim, tmp_path, envoy_env(AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                                  AWS_SECRET_ACCESS_KEY="not-the-secret",
                                                  AWS_SESSION_TOKEN=SESSION_TOKEN))
    try:
        with pytest.raises(openai.AuthenticationError) as info:
            chat(e.url)
        assert "gateway's AWS credentials" in info.value.body["message"]
        req = sim.requests()[-1]
        assert not req["auth"]["ok"]
        assert "signature" in req["auth"]["reason"].lower()
        # The gateway's session token (part of the canonical request AWS echoes) stays private.
        assert SESSION_TOKEN not in info.value.body["message"]
        assert "canonical" not in info.value.body["message"].lower()
    finally:
        e.stop()
        sim.reset()


def test_missing_credentials_answer_503(sim, tmp_path):
    e = start_demo_envoy(sim, tmp_path, envoy_env())
    try:
        with pytest.raises(openai.InternalServerError) as info:
            chat(e.url)
        assert info.value.status_code == 503
        assert "no AWS credentials" in info.value.body["message"]
    finally:
        e.stop()


def test_body_over_the_limit_is_413(sim, tmp_path):
    e = start_demo_envoy(sim, tmp_path, envoy_env(AWS_ACCESS_KEY_ID=ACCESS_KEY,
                                                  AWS_SECRET_ACCESS_KEY=SECRET_KEY),
                         filter_config={"region": REGION, "endpoint": sim.url,
                                        "max_request_bytes": 2000})
    try:
        big = "x " * 2000
        r = httpx.post(f"{e.url}/v1/chat/completions", timeout=30,
                       json={"model": MODEL, "messages": [{"role": "user", "content": big}]})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"
        # Same size without content-length (chunked upload) is caught while buffering.
        def gen():
            yield b'{"model": "m", "messages": [{"role": "user", "content": "'
            for _ in range(50):
                yield b"y" * 100
            yield b'"}]}'
        r = httpx.post(f"{e.url}/v1/chat/completions", content=gen(), timeout=30)
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "invalid_request_error"
    finally:
        e.stop()


def test_bad_plugin_config_is_refused(sim, tmp_path):
    with pytest.raises(RuntimeError) as info:
        start_demo_envoy(sim, tmp_path, envoy_env(),
                         filter_config={"region": "us-east-x", "bogus": 1})
    assert "bedrock-filter configuration rejected" in str(info.value)


@contextlib.contextmanager
def make_run(**env_vars):
    """What `make run` runs (envoy/envoyctl.py) on free ports; yields the OpenAI base URL."""
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    env = envoy_env(LISTEN_PORT=str(listen), ADMIN_PORT=str(admin), **env_vars)
    with tempfile.TemporaryDirectory() as tmp, \
            envoyctl_run([], env, admin, Path(tmp) / "stderr", "make run"):
        yield f"http://127.0.0.1:{listen}"


def test_make_run_serves_offline():
    """No credentials: bedrock-sim behind Envoy, ready for clients; a second `make run` on the
    same host (no hot-restart base ID to share) serves beside it."""
    with make_run() as url, make_run() as second:
        assert chat(url, "offline demo").choices[0].message.content == "You said: offline demo"
        assert chat(second, "second").choices[0].message.content == "You said: second"


def test_make_run_with_bedrock_endpoint_and_credentials(sim):
    """Credentials and BEDROCK_ENDPOINT=http://localhost:PORT (a name, not an address): the
    requests reach that server, signed with the given credentials."""
    sim.reset()
    try:
        with make_run(AWS_REGION=REGION, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                      AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_SESSION_TOKEN=SESSION_TOKEN,
                      BEDROCK_ENDPOINT=f"http://localhost:{sim.port}") as url:
            assert chat(url, "via endpoint").choices[0].message.content == "You said: via endpoint"
        req = sim.requests()[-1]
        assert req["auth"]["ok"] and dict(req["headers"])["host"] == f"localhost:{sim.port}"
    finally:
        sim.reset()
