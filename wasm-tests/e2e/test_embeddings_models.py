"""/v1/embeddings (Titan, Cohere → InvokeModel) and /v1/models (answered from the config)."""
import json

import openai
import pytest

from conftest import ALIASES

TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"


def test_titan_base64_default_matches_float(client, fresh):
    # The openai SDK asks for base64 by default and decodes it to floats.
    b64 = client.embeddings.create(model=TITAN, input="hello embeddings")
    flt = client.embeddings.create(model=TITAN, input="hello embeddings", encoding_format="float")
    assert len(b64.data) == 1 and len(b64.data[0].embedding) == 1024
    assert b64.data[0].embedding == pytest.approx(flt.data[0].embedding, rel=1e-6, abs=1e-7)
    assert b64.model == TITAN and b64.usage.prompt_tokens == b64.usage.total_tokens > 0
    reqs = fresh.requests()
    assert [r["operation"] for r in reqs] == ["invoke", "invoke"]
    assert all(r["auth"]["ok"] for r in reqs)
    assert json.loads(reqs[0]["body"]) == {"inputText": "hello embeddings", "normalize": True}


def test_titan_dimensions(client, fresh):
    r = client.embeddings.create(model=TITAN, input="short", dimensions=256)
    assert len(r.data[0].embedding) == 256
    assert json.loads(fresh.requests()[0]["body"])["dimensions"] == 256


def test_titan_batches_fan_out_one_call_per_input(client, fresh):
    texts = ["first", "the second one", "third text", "fourth"]
    r = client.embeddings.create(model=TITAN, input=texts, dimensions=256)
    assert [d.index for d in r.data] == [0, 1, 2, 3]
    assert all(len(d.embedding) == 256 for d in r.data)
    reqs = fresh.requests()
    assert len(reqs) == 4 and all(q["auth"]["ok"] and q["status"] == 200 for q in reqs)
    sent = sorted(json.loads(q["body"])["inputText"] for q in reqs)
    assert sent == sorted(texts)
    # Each answer lands at its input's index, whatever order the calls finished in.
    by_text = {}
    for text in texts:
        one = client.embeddings.create(model=TITAN, input=text, dimensions=256)
        by_text[text] = one.data[0].embedding
    assert [d.embedding for d in r.data] == [by_text[t] for t in texts]
    # Usage is the sum of the calls' token counts.
    assert r.usage.prompt_tokens == sum(len(t.split()) for t in texts)


def test_a_failed_part_fails_the_whole_batch(client, fresh):
    fresh.script({"match": {"operation": "invoke"}},
                 {"match": {"operation": "invoke"},
                  "error": {"type": "ThrottlingException", "message": "Too many requests"}})
    with pytest.raises(openai.RateLimitError) as info:
        client.embeddings.create(model=TITAN, input=["a", "b", "c"])
    assert "Too many requests" in info.value.message


def test_cohere_batch(client, fresh):
    texts = ["first text", "second text", "third"]
    r = client.embeddings.create(model=COHERE, input=texts, encoding_format="float")
    assert [d.index for d in r.data] == [0, 1, 2]
    assert len({tuple(d.embedding) for d in r.data}) == 3
    body = json.loads(fresh.requests()[0]["body"])
    assert body["texts"] == texts and body["input_type"] == "search_document"


def test_embeddings_through_an_alias(client, fresh):
    r = client.embeddings.create(model="embed", input="via alias")
    assert r.model == "embed"
    assert fresh.requests()[0]["model_id"] == ALIASES["embed"]


def test_models_list_and_retrieve(client, fresh):
    listed = client.models.list()
    assert sorted(m.id for m in listed.data) == sorted(ALIASES)
    owners = {m.id: m.owned_by for m in listed.data}
    assert owners["claude"] == "anthropic" and owners["nova-invoke"] == "amazon"
    assert owners["claude-sonnet-4-5-20250929"] == "anthropic"
    assert owners["embed"] == "amazon" and owners["guarded"] == "amazon"
    assert client.models.retrieve("claude").id == "claude"
    # Any Bedrock ID chat accepts (allow_unlisted_models is on) is a model here too.
    for bedrock_id in ("anthropic.claude-3-5-haiku-20241022-v1:0",
                       "us.meta.llama3-2-90b-instruct-v1:0",
                       "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"):
        assert client.models.retrieve(bedrock_id).id == bedrock_id
    assert client.models.retrieve("amazon.titan-embed-text-v2:0").owned_by == "amazon"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")
    assert fresh.requests() == [], "answered by the filter, never by Bedrock"


def test_chat_through_an_alias(client, fresh):
    r = client.chat.completions.create(model="claude",
                                       messages=[{"role": "user", "content": "alias"}])
    assert r.model == "claude"
    assert r.choices[0].message.content == "You said: alias"
    assert fresh.requests()[0]["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
