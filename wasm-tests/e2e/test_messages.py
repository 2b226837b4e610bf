"""Anthropic Messages API (/v1/messages) served by Bedrock InvokeModel, driven by the official
anthropic SDK (the client Claude Code and Anthropic-API tools use)."""
import json

import anthropic
import httpx
import pytest

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
CALLER_KEY = "sk-ant-caller-key-never-upstream"


@pytest.fixture()
def claude(envoy):
    return anthropic.Anthropic(base_url=envoy.url, api_key=CALLER_KEY, max_retries=0)


def upstream(sim):
    req = sim.requests()[-1]
    assert req["auth"]["ok"], req["auth"]
    return req


def test_messages_non_stream(claude, fresh):
    msg = claude.messages.create(model=CLAUDE, max_tokens=64, system="Be brief.",
                                 messages=[{"role": "user", "content": "hello messages"}])
    assert msg.content[0].text == "You said: hello messages"
    assert msg.model == CLAUDE and msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 4
    req = upstream(fresh)
    assert req["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    body = json.loads(req["body"])
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in body and "stream" not in body
    assert body["system"] == "Be brief." and body["max_tokens"] == 64
    names = {n for n, _ in req["headers"]}
    assert not names & {"x-api-key", "anthropic-version"}
    assert CALLER_KEY not in json.dumps(req["headers"])


def test_messages_stream(claude, fresh):
    with claude.messages.stream(model=CLAUDE, max_tokens=64,
                                messages=[{"role": "user", "content": "stream messages"}]) as s:
        events = [e.type for e in s]
        final = s.get_final_message()
    assert final.content[0].text == "You said: stream messages"
    assert final.model == CLAUDE
    assert events[0] == "message_start" and "content_block_delta" in events
    assert upstream(fresh)["path"].endswith("/invoke-with-response-stream")


def test_messages_alias_and_default_max_tokens(envoy, fresh):
    r = httpx.post(f"{envoy.url}/v1/messages", timeout=30, json={
        "model": "claude", "messages": [{"role": "user", "content": "no max"}]})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "claude"
    body = json.loads(upstream(fresh)["body"])
    assert body["max_tokens"] == 4096


def test_messages_errors_in_anthropic_format(claude, fresh):
    fresh.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow"}})
    with pytest.raises(anthropic.RateLimitError) as info:
        claude.messages.create(model=CLAUDE, max_tokens=8,
                               messages=[{"role": "user", "content": "x"}])
    assert info.value.body == {"type": "error",
                               "error": {"type": "rate_limit_error", "message": "slow"}}
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_messages_unknown_model_is_404(claude):
    """Bedrock says ValidationException; Anthropic answers an unknown model with a 404."""
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(model="claude-unknown", max_tokens=8,
                               messages=[{"role": "user", "content": "x"}])
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "not_found_error"


def test_messages_mid_stream_exception_raises(claude, fresh):
    fresh.script({"events": [
        {"chunk": {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": CLAUDE,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 0}}}},
        {"exception": "throttlingException", "payload": {"message": "Too many tokens"}}]})
    with pytest.raises(anthropic.APIStatusError) as info:
        with claude.messages.stream(model=CLAUDE, max_tokens=8,
                                    messages=[{"role": "user", "content": "x"}]) as s:
            for _ in s:
                pass
    assert "Too many tokens" in str(info.value)
