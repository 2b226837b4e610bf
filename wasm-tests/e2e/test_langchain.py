"""LangChain's OpenAI integration (langchain-openai) through Envoy, as agent code uses it: a tool
loop with reasoning on a Claude that thinks — LangChain does not send thinking blocks back, so
turn 2 must still be a request Claude takes — streaming, the Responses API, and
`embed_documents` on Titan, which embeds one input per call."""
import json

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

KEY = "sk-langchain-caller-key"
SONNET = "claude-sonnet-4-5-20250929"  # an alias of the Bedrock inference profile


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"18°C in {city}"


def converse_bodies(sim, operation="converse"):
    reqs = [r for r in sim.requests() if r["operation"] == operation]
    assert reqs and all(r["auth"]["ok"] and r["status"] == 200 for r in reqs), reqs
    return [json.loads(r["body"]) for r in reqs]


def thinking_and_tool_use():
    return {"match": {"operation": "converse"}, "json": {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Look it up.", "signature": "sig-l"}}},
            {"toolUse": {"toolUseId": "tooluse_lc1", "name": "get_weather",
                         "input": {"city": "Lima"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 9, "outputTokens": 12,
                                            "totalTokens": 21}, "metrics": {"latencyMs": 1}}}


@pytest.fixture()
def chat(envoy):
    def make(**kw):
        return ChatOpenAI(base_url=f"{envoy.url}/v1", api_key=KEY, max_retries=0, timeout=30, **kw)
    return make


def test_tool_loop_with_reasoning_when_thinking_blocks_are_not_sent_back(chat, fresh):
    fresh.script(thinking_and_tool_use())
    llm = chat(model=SONNET, reasoning_effort="low").bind_tools([get_weather])
    messages = [HumanMessage("Weather in Lima?")]
    ai = llm.invoke(messages)
    assert ai.tool_calls == [{"name": "get_weather", "args": {"city": "Lima"},
                              "id": "tooluse_lc1", "type": "tool_call"}]
    messages += [ai, ToolMessage(get_weather.invoke({"city": "Lima"}),
                                 tool_call_id="tooluse_lc1")]
    final = llm.invoke(messages)
    assert final.content.startswith("You said:")
    first, second = converse_bodies(fresh)
    assert first["additionalModelRequestFields"]["thinking"] == \
        {"type": "enabled", "budget_tokens": 1024}
    # LangChain sent the tool call back without its thinking block: this request goes without
    # thinking, which Claude (the simulator) accepts; with thinking it would refuse it.
    assert second["messages"][1]["content"][0]["toolUse"]["toolUseId"] == "tooluse_lc1"
    assert "thinking" not in second.get("additionalModelRequestFields", {})
    assert second["messages"][2]["content"][0]["toolResult"]["content"] == \
        [{"text": "18°C in Lima"}]


def test_streaming(chat, fresh):
    text = "".join(chunk.content for chunk in chat(model="claude").stream("stream langchain"))
    assert text == "You said: stream langchain"
    converse_bodies(fresh, "converse-stream")


def test_responses_api(chat, fresh):
    llm = chat(model="claude", use_responses_api=True)
    ai = llm.invoke("hello responses")
    assert ai.text == "You said: hello responses"
    assert ai.response_metadata["id"].startswith("resp_")
    converse_bodies(fresh)


def test_embed_documents_on_titan(envoy, fresh):
    # check_embedding_ctx_length=False sends the texts themselves (the default sends OpenAI
    # token IDs, which no Bedrock model reads).
    emb = OpenAIEmbeddings(model="embed", base_url=f"{envoy.url}/v1", api_key=KEY,
                           check_embedding_ctx_length=False, max_retries=0)
    docs = ["first document", "second", "the third document here"]
    vectors = emb.embed_documents(docs)
    assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1
    assert vectors[0] != vectors[1]
    assert sorted(b["inputText"] for b in converse_bodies(fresh, "invoke")) == sorted(docs)
    assert emb.embed_query("second") == vectors[1]
