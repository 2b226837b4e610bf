"""Models in two regions: each request is signed for its model's region, carries that region's
host, and Envoy routes it to that region's cluster (two simulators, each accepting only its
own region)."""
import openai
import pytest

import envoyctl
from conftest import ACCESS_KEY, SECRET_KEY, Envoy, Sim, envoy_env


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    creds = f"{ACCESS_KEY}:{SECRET_KEY}"
    east = Sim(["--region", "us-east-1", "--credentials", creds])
    west = Sim(["--region", "us-west-2", "--credentials", creds])
    listen, admin = envoyctl.free_port(), envoyctl.free_port()
    cfg = envoyctl.render_two_regions(listen_port=listen, admin_port=admin,
                                      east_port=east.port, west_port=west.port)
    e = Envoy(cfg, tmp_path_factory.mktemp("regions"), envoy_env(
        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY), listen, admin)
    yield east, west, e
    e.stop()
    east.stop()
    west.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_each_model_goes_to_its_region(regions, stream):
    east, west, envoy = regions
    east.reset()
    west.reset()
    client = openai.OpenAI(base_url=f"{envoy.url}/v1", api_key="x", max_retries=0)
    for alias, sim, region in [("claude-west", west, "us-west-2"),
                               ("claude-east", east, "us-east-1")]:
        r = client.chat.completions.create(model=alias, stream=stream,
                                           messages=[{"role": "user", "content": alias}])
        text = ("".join(c.choices[0].delta.content or "" for c in r if c.choices)
                if stream else r.choices[0].message.content)
        assert text == f"You said: {alias}"
        req = sim.requests()[-1]
        assert req["auth"]["ok"], req["auth"]
        assert req["auth"]["region"] == region
        assert dict(req["headers"])["host"] == f"127.0.0.1:{sim.port}"
    # Each simulator saw exactly the request for its own region.
    assert len(west.requests()) == 1 and len(east.requests()) == 1


def test_a_titan_batch_reaches_its_models_region(regions):
    # The filter sends a batch's calls itself, straight to the model entry's cluster.
    east, west, envoy = regions
    east.reset()
    west.reset()
    client = openai.OpenAI(base_url=f"{envoy.url}/v1", api_key="x", max_retries=0)
    r = client.embeddings.create(model="embed-west", input=["one", "two", "three"])
    assert [d.index for d in r.data] == [0, 1, 2]
    reqs = west.requests()
    assert len(reqs) == 3 and east.requests() == []
    assert all(q["auth"]["ok"] and q["auth"]["region"] == "us-west-2" for q in reqs)
