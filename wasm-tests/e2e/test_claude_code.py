"""Claude Code and the anthropic SDK against the gateway: anthropic-beta headers become the
body's anthropic_beta (the flags Bedrock takes; the others are left out), count_tokens goes to
Bedrock's CountTokens, Claude Code's default model names map to Bedrock IDs through aliases,
and the fields Claude Code sends (context_management, output_config, adaptive thinking,
metadata, cache control) reach a Claude that takes them. The simulator refuses what Bedrock
refuses (an unknown beta flag, context_management without its beta, adaptive thinking on an
older Claude), so each test can fail."""
import base64
import json

import anthropic
import pytest

CALLER_KEY = "sk-ant-caller-key-never-upstream"
# The anthropic_beta flags Bedrock's Claude models take (Bedrock user guide, Anthropic Claude
# Messages API request parameters); any other flag makes Bedrock refuse the request.
BEDROCK_BETAS = {
    "computer-use-2024-10-22", "computer-use-2025-01-24", "computer-use-2025-11-24",
    "token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19", "dev-full-thinking-2025-05-14", "context-1m-2025-08-07",
    "context-management-2025-06-27", "effort-2025-11-24", "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29"}
SONNET_46 = "us.anthropic.claude-sonnet-4-6"


@pytest.fixture()
def claude(envoy):
    return anthropic.Anthropic(base_url=envoy.url, api_key=CALLER_KEY, max_retries=0)


def upstream(sim, operation):
    req = sim.requests()[-1]
    assert req["status"] == 200, req
    assert req["auth"]["ok"] and req["operation"] == operation, req
    return req, json.loads(req["body"])


def test_beta_headers_become_the_bodys_anthropic_beta(claude, fresh):
    msg = claude.beta.messages.create(
        model="claude-sonnet-4-5-20250929", max_tokens=64,
        betas=["interleaved-thinking-2025-05-14", "claude-code-20250219",
               "context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14"],
        messages=[{"role": "user", "content": "hello betas"}])
    assert msg.content[0].text == "You said: hello betas"
    assert msg.model == "claude-sonnet-4-5-20250929"
    req, body = upstream(fresh, "invoke")
    # Claude Code's default name is an alias of the gateway's configuration.
    assert req["model_id"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    # Only the flags Bedrock takes; the others would make it refuse the whole request.
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]
    assert "anthropic-beta" not in {n for n, _ in req["headers"]}


def test_claude_code_fields_reach_a_claude_that_takes_them(claude, fresh):
    msg = claude.beta.messages.create(
        model=SONNET_46, max_tokens=2048,
        betas=["context-management-2025-06-27", "effort-2025-11-24"],
        thinking={"type": "adaptive"},
        output_config={"effort": "medium"},
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
        metadata={"user_id": "user-1"},
        system=[{"type": "text", "text": "You are Claude Code.",
                 "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "fix the bug"}])
    assert msg.content[-1].text == "You said: fix the bug"
    _, body = upstream(fresh, "invoke")
    for member in ("thinking", "output_config", "context_management", "metadata"):
        assert member in body, member
    assert body["anthropic_beta"] == ["context-management-2025-06-27", "effort-2025-11-24"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_without_its_beta_bedrock_refuses_context_management(claude, fresh):
    # The simulator stands in for Bedrock: the gateway passes the member, Bedrock says why.
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(
            model=SONNET_46, max_tokens=64,
            extra_body={"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}},
            messages=[{"role": "user", "content": "x"}])
    assert "context_management" in e.value.message
    assert e.value.body["type"] == "error"


def test_count_tokens_goes_to_bedrock_count_tokens(claude, fresh):
    count = claude.messages.count_tokens(
        model="claude-sonnet-4-5-20250929", system="be brief",
        messages=[{"role": "user", "content": "how many tokens here"}])
    assert count.input_tokens == 6
    req, body = upstream(fresh, "count-tokens")
    assert req["path"].endswith("/count-tokens")
    invoke = json.loads(base64.b64decode(body["input"]["invokeModel"]["body"]))
    assert invoke["anthropic_version"] == "bedrock-2023-05-31"
    assert invoke["messages"] == [{"role": "user", "content": "how many tokens here"}]
    assert "model" not in invoke


def test_count_tokens_errors_are_anthropic_shaped(claude, fresh):
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.count_tokens(model="claude-sonnet-4-5-20250929", messages=[],
                                     extra_body={"stream": True})
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert fresh.requests() == []
