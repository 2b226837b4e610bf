"""The OpenAI Agents SDK (openai-agents) through Envoy: an agent with a function tool on both of
its model classes (Responses and Chat Completions), streamed and not, then a second turn that
sends the whole history back — the way agent code runs a tool loop."""
import asyncio
import json

import pytest
from agents import (Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner,
                    function_tool, set_tracing_disabled)
from openai import AsyncOpenAI

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"

# Tracing would upload spans to OpenAI; nothing here may leave 127.0.0.1.
set_tracing_disabled(True)


@function_tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"18C in {city}"


def converse_bodies(sim):
    reqs = [r for r in sim.requests() if r["operation"] == "converse"
            or r["operation"] == "converse-stream"]
    assert reqs and all(r["auth"]["ok"] and r["status"] == 200 for r in reqs), reqs
    return [json.loads(r["body"]) for r in reqs]


async def run_agent(url, kind, stream):
    client = AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-agents-caller", max_retries=0,
                         timeout=30)
    model = (OpenAIResponsesModel if kind == "responses" else OpenAIChatCompletionsModel)(
        MODEL, client)
    agent = Agent(name="weather", instructions="Be brief.", model=model, tools=[get_weather])
    if stream:
        first = Runner.run_streamed(agent, "Weather in Paris?")
        async for _ in first.stream_events():
            pass
    else:
        first = await Runner.run(agent, "Weather in Paris?")
    second = await Runner.run(agent, first.to_input_list() + [
        {"role": "user", "content": "And Rome?"}])
    await client.close()
    return first, second


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("kind", ["responses", "chat"])
def test_agent_tool_loop_and_history(envoy, fresh, kind, stream):
    fresh.script({"reply": {"text": "Let me check.", "tool_uses": [
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_ag1"}]}})
    first, second = asyncio.run(run_agent(envoy.url, kind, stream))
    assert [i.type for i in first.new_items] == [
        "message_output_item", "tool_call_item", "tool_call_output_item", "message_output_item"]
    assert first.final_output == "You said: 18C in Paris"
    assert second.final_output == "You said: And Rome?"
    calls = converse_bodies(fresh)
    assert len(calls) == 3
    # The tool result answers the call, and the text said before it stays in its turn.
    assert calls[1]["system"] == [{"text": "Be brief."}]
    assert calls[1]["messages"][1] == {"role": "assistant", "content": [
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_ag1", "name": "get_weather",
                     "input": {"city": "Paris"}}}]}
    result = calls[1]["messages"][2]["content"][0]["toolResult"]
    assert result["toolUseId"] == "tooluse_ag1"
    assert result["content"] == [{"text": "18C in Paris"}]
    # The second turn carries the whole first one, then the new question.
    assert [m["role"] for m in calls[2]["messages"]] == [
        "user", "assistant", "user", "assistant", "user"]
    assert calls[2]["messages"][-1]["content"] == [{"text": "And Rome?"}]
