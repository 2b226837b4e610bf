"""Streaming chat completions: ConverseStream event-stream → OpenAI SSE, through real Envoy."""
import json

import openai
import pytest

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": "hello streaming world"}]
EXPECTED = "You said: hello streaming world"


def collect(stream):
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def test_stream_with_openai_sdk(client, fresh):
    chunks, text = collect(client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True))
    assert text == EXPECTED
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert len({c.created for c in chunks}) == 1
    assert {c.model for c in chunks} == {MODEL}
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert all(c.usage is None for c in chunks)
    req = fresh.requests()[0]
    assert req["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    assert req["auth"]["ok"], req["auth"]
    body = json.loads(req["body"])
    assert "stream" not in body and "stream_options" not in body


def test_include_usage_adds_a_final_usage_chunk(client, fresh):
    chunks, text = collect(client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert text == EXPECTED
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens == 3
    assert last.usage.completion_tokens == 5
    assert last.usage.total_tokens == 8
    assert "stream_options" not in json.loads(fresh.requests()[0]["body"])


@pytest.mark.parametrize("transport", [{"chunk_size": 1}, {"chunk_size": 7, "delay_ms": 2}])
def test_frames_split_anywhere(client, fresh, transport):
    fresh.script(transport)
    _, text = collect(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert text == EXPECTED


def raw_sse(http, **extra):
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, **extra}
    r = http.post("/v1/chat/completions", json=body)
    return r, [e for e in r.text.split("\n\n") if e]


def test_raw_sse_shape(http, fresh):
    r, events = raw_sse(http)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"


STREAM_START = [
    {"type": "messageStart", "payload": {"role": "assistant"}},
    {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "partial "}}},
]


@pytest.mark.parametrize("behaviour,needle", [
    ({"events": STREAM_START + [
        {"exception": "throttlingException", "payload": {"message": "Too many tokens"}}]},
     "Too many tokens"),
    ({"events": STREAM_START + [
        {"exception": "modelStreamErrorException",
         "payload": {"message": "model failed", "originalStatusCode": 500}}]},
     "model failed"),
    ({"events": STREAM_START + [{"error_frame": {"code": "InternalFailure", "message": "oops"}}]},
     "oops"),
    ({"events": STREAM_START}, "ended"),  # no messageStop / metadata: truncated
    ({"truncate_after_bytes": 150}, "ended"),
    ({"corrupt_crc_at_event": 2}, "corrupt"),
])
def test_mid_stream_failures_raise_in_the_sdk(client, fresh, behaviour, needle):
    fresh.script(behaviour)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert needle in str(info.value.message), info.value.message


def test_error_before_the_stream_is_an_http_error(client, fresh):
    fresh.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow"}})
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
