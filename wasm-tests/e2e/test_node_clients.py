"""The Node.js clients — openai-node and the Vercel AI SDK (whose `openai(model)` speaks the
Responses API) — through Envoy: each scenario of wasm-tests/node/clients.mjs runs in node and
prints what the client saw; the test asserts on it and on what reached the simulator. The
packages are installed by `make node-clients` (npm ci, from package-lock.json)."""
import json
import os
import pathlib
import subprocess

import pytest

NODE_DIR = pathlib.Path(__file__).resolve().parents[1] / "node"
SONNET_45 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def run(envoy, scenario):
    out = subprocess.run(["node", str(NODE_DIR / "clients.mjs"), scenario],
                         env={**os.environ, "BASE_URL": envoy.url}, capture_output=True,
                         text=True, timeout=60, check=False)
    lines = out.stdout.strip().splitlines()
    assert lines, f"{scenario}: no output; stderr:\n{out.stderr}"
    result = json.loads(lines[-1])
    assert "thrown" not in result, f"{scenario}: {result['thrown']}\n{out.stderr}"
    return result


def bodies(sim, operation):
    reqs = [r for r in sim.requests() if r["operation"] == operation]
    assert reqs and all(r["auth"]["ok"] and r["status"] == 200 for r in reqs), reqs
    return [json.loads(r["body"]) for r in reqs]


def test_openai_node_responses(envoy, fresh):
    r = run(envoy, "openai-responses")
    assert r["id"].startswith("resp_") and r["status"] == "completed"
    assert r["text"] == "You said: hello from node"
    assert r["usage"]["output_tokens"] == 5
    [body] = bodies(fresh, "converse")
    assert body["system"] == [{"text": "Be brief."}]


def test_openai_node_responses_stream(envoy, fresh):
    r = run(envoy, "openai-responses-stream")
    assert r["events"][0] == "response.created" and r["events"][-1] == "response.completed"
    assert "response.output_text.delta" in r["events"]
    assert r["text"] == "You said: stream from node" and r["status"] == "completed"
    bodies(fresh, "converse-stream")


def test_openai_node_responses_tool_loop(envoy, fresh):
    fresh.script({"reply": {"tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_n1"}]}})
    r = run(envoy, "openai-responses-tools")
    assert r["call"] == {"name": "get_weather", "call_id": "tooluse_n1",
                         "arguments": '{"city":"Paris"}'}
    assert r["text"].startswith("You said:")
    first, second = bodies(fresh, "converse")
    assert second["messages"][2]["content"][0]["toolResult"]["content"] == [{"text": "18°C"}]


def test_openai_node_refusal_is_a_bad_request(envoy, fresh):
    r = run(envoy, "openai-responses-refused")
    assert r["error"]["status"] == 400 and r["error"]["name"] == "BadRequestError"
    assert r["error"]["param"] == "previous_response_id"
    assert fresh.requests() == []


def test_openai_node_chat_stream(envoy, fresh):
    r = run(envoy, "openai-chat-stream")
    assert r["text"] == "You said: chat from node"
    assert r["usage"]["completion_tokens"] == 5


def test_openai_node_batch_embeddings_on_titan(envoy, fresh):
    r = run(envoy, "openai-embeddings-batch")
    assert r["indexes"] == [0, 1, 2]
    assert len(set(r["dims"])) == 1 and r["dims"][0] > 0
    texts = [b["inputText"] for b in bodies(fresh, "invoke")]
    assert sorted(texts) == ["one", "three more words", "two words"]
    # Summed over the three calls (Titan counts words in the simulator).
    assert r["usage"]["prompt_tokens"] == 6


def test_vercel_generate_text_speaks_responses(envoy, fresh):
    r = run(envoy, "ai-generate")
    assert r["text"] == "You said: hello vercel" and r["finishReason"] == "stop"
    assert r["usage"]["outputTokens"] == 4
    [body] = bodies(fresh, "converse")
    assert body["system"] == [{"text": "Be brief."}]


def test_vercel_stream_text(envoy, fresh):
    r = run(envoy, "ai-stream")
    assert r["text"] == "You said: stream vercel" and r["finishReason"] == "stop"
    bodies(fresh, "converse-stream")


def test_vercel_tool_loop(envoy, fresh):
    fresh.script({"reply": {"tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_v1"}]}})
    r = run(envoy, "ai-tools")
    assert r["steps"] == 2 and r["toolResults"] == ["18°C and sunny in Paris"]
    assert r["text"].startswith("You said:")
    first, second = bodies(fresh, "converse")
    result = second["messages"][-1]["content"][0]["toolResult"]
    assert result["toolUseId"] == "tooluse_v1"


def test_vercel_tool_loop_that_speaks_before_its_call(envoy, fresh):
    """The SDK's default `store` sends earlier assistant texts as item references: refused with
    the way out in the message; with `store: false` the text goes back as a message."""
    call = {"text": "Let me look.", "tool_uses": [
        {"name": "get_weather", "input": {"city": "Rome"}, "id": "tooluse_v3"}]}
    # One scripted call per loop: the first loop's second step never reaches Bedrock.
    fresh.script({"reply": call}, {"reply": call})
    r = run(envoy, "ai-tools-text")
    assert "stores none" in r["stored"] and "`store` is false" in r["stored"], r["stored"]
    assert r["steps"] == 2 and r["text"].startswith("You said:")
    second = bodies(fresh, "converse")[-1]
    assert second["messages"][1]["role"] == "assistant"
    assert second["messages"][1]["content"][0] == {"text": "Let me look."}


def test_vercel_tool_loop_with_reasoning(envoy, fresh):
    fresh.script({"match": {"operation": "converse"}, "json": {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Check it.", "signature": "sig-v"}}},
            {"toolUse": {"toolUseId": "tooluse_v2", "name": "get_weather",
                         "input": {"city": "Oslo"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 7,
                                            "totalTokens": 12}, "metrics": {"latencyMs": 1}}})
    r = run(envoy, "ai-tools-reasoning")
    assert r["steps"] == 2 and r["finishReason"] == "stop"
    first, second = bodies(fresh, "converse")
    assert first["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
    # With store: false the SDK asks for encrypted reasoning and sends it back: the thinking
    # block is replayed first in its turn, signature intact, and Claude keeps thinking.
    assert second["messages"][1]["content"][0] == {"reasoningContent": {"reasoningText": {
        "text": "Check it.", "signature": "sig-v"}}}
    assert second["additionalModelRequestFields"]["thinking"]["type"] == "enabled"


def test_vercel_chat_provider(envoy, fresh):
    r = run(envoy, "ai-chat")
    assert r["text"] == "You said: hello chat provider"
    bodies(fresh, "converse")


def test_vercel_embed_many_on_titan(envoy, fresh):
    r = run(envoy, "ai-embed-many")
    assert r["count"] == 3 and len(set(r["dims"])) == 1
    assert len(bodies(fresh, "invoke")) == 3
