"""Claude Code itself (the `claude` CLI, headless with `-p`) through Envoy to Bedrock, set up as
docs/api.md#claude-code says: ANTHROPIC_BASE_URL at the gateway, a caller key, Claude Code's
model names mapped to Bedrock IDs by aliases. Every request it makes must reach the simulator
signed and accepted — the beta flags Bedrock takes, the fields a Claude takes, thinking kept
valid across a tool call — and what it prints must be the simulator's answer."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from test_claude_code import BEDROCK_BETAS

NODE_DIR = pathlib.Path(__file__).resolve().parents[1] / "node"
CLAUDE = shutil.which("claude", path=str(NODE_DIR / "node_modules" / ".bin"))
SONNET_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

pytestmark = pytest.mark.skipif(CLAUDE is None,
                                reason="Claude Code is not installed: make node-clients")


def claude_code(envoy, cwd, *args):
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "TERM": "dumb",
           "ANTHROPIC_BASE_URL": envoy.url, "ANTHROPIC_API_KEY": "sk-ant-claude-code-caller",
           "ANTHROPIC_MODEL": "claude-sonnet-4-5-20250929",
           "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5-20251001",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
           "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1"}
    out = subprocess.run([CLAUDE, "-p", *args, "--output-format", "json"], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-2000:])
    return json.loads(out.stdout)


def model_calls(sim):
    calls = []
    for r in sim.requests():
        assert r["auth"]["ok"] and r["status"] == 200, r
        body = json.loads(r["body"])
        assert set(body.get("anthropic_beta", [])) <= BEDROCK_BETAS, body["anthropic_beta"]
        assert "model" not in body and "stream" not in body
        calls.append((r, body))
    assert calls
    return calls


def test_a_prompt_runs_to_its_answer(envoy, fresh, tmp_path):
    result = claude_code(envoy, tmp_path, "say hello to the gateway", "--max-turns", "1")
    assert result["is_error"] is False
    assert result["result"].startswith("You said:")
    assert result["result"].endswith("say hello to the gateway")
    for r, body in model_calls(fresh):
        assert r["model_id"] in (SONNET_ID, "us.anthropic.claude-haiku-4-5-20251001-v1:0")
        assert body["anthropic_version"] == "bedrock-2023-05-31"
    main = [b for r, b in model_calls(fresh) if r["model_id"] == SONNET_ID][-1]
    assert main["tools"] and main["system"]
    assert main["thinking"]["type"] in ("enabled", "adaptive")


def thinking_then_tool_use(command):
    """An InvokeModel stream in which Claude thinks, then calls Bash."""
    tool_input = json.dumps({"command": command, "description": "Print a word"})
    chunks = [
        {"type": "message_start", "message": {
            "id": "msg_cc1", "type": "message", "role": "assistant", "model": "claude",
            "content": [], "stop_reason": None,
            "usage": {"input_tokens": 20, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "thinking_delta", "thinking": "Run the command."}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "signature_delta", "signature": "c2lnLWNj"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_cc1", "name": "Bash", "input": {}}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": tool_input}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 30}},
        {"type": "message_stop"},
    ]
    return {"match": {"operation": "invoke-with-response-stream", "model_id": SONNET_ID},
            "events": [{"chunk": c} for c in chunks]}


def test_a_tool_call_runs_and_its_result_goes_back_with_the_thinking(envoy, fresh, tmp_path):
    fresh.script(thinking_then_tool_use("echo gateway-ok"))
    result = claude_code(envoy, tmp_path, "print a word with bash", "--max-turns", "3",
                         "--allowedTools", "Bash(echo:*)")
    assert result["is_error"] is False, result
    assert result["result"].startswith("You said:")
    turns = [b for r, b in model_calls(fresh) if r["model_id"] == SONNET_ID]
    second = turns[-1]
    # Claude Code sent the thinking block back first in the tool turn, signature intact, and
    # the gateway passed it untouched: Claude (the simulator) accepts the thinking request.
    assistant = second["messages"][-2]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["type"] == "thinking"
    assert assistant["content"][0]["signature"] == "c2lnLWNj"
    tool_result = next(c for c in second["messages"][-1]["content"]
                       if c["type"] == "tool_result")
    assert tool_result["tool_use_id"] == "toolu_cc1"
    assert "gateway-ok" in json.dumps(tool_result["content"])
