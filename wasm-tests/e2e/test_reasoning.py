"""`reasoning_effort` per model family through Envoy with openai-python: each model gets the
switch it takes (Claude's `thinking` — by budget, or adaptive with an effort — Nova 2's
`reasoningConfig`, gpt-oss's `reasoning_effort`), DeepSeek-R1 reasons anyway and its reasoning
comes back, and a model without reasoning gets the gateway's 400 naming the parameter rather
than a body Bedrock refuses. The simulator enforces Bedrock's per-family rules, so a wrong
switch fails here."""
import json

import openai
import pytest


def fields(sim):
    reqs = sim.requests()
    assert len(reqs) == 1 and reqs[0]["status"] == 200 and reqs[0]["auth"]["ok"], reqs
    body = json.loads(reqs[0]["body"])
    return body.get("additionalModelRequestFields", {}), body.get("inferenceConfig", {})


def ask(client, model, **kw):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "think about it"}], **kw)


@pytest.mark.parametrize("model, effort, expected", [
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "medium",
     {"thinking": {"type": "enabled", "budget_tokens": 4096}}),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "minimal",
     {"thinking": {"type": "enabled", "budget_tokens": 1024}}),
    ("global.anthropic.claude-opus-4-6-v1", "high",
     {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}),
    ("us.amazon.nova-2-lite-v1:0", "low",
     {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}}),
    ("openai.gpt-oss-120b-1:0", "high", {"reasoning_effort": "high"}),
])
def test_each_family_gets_its_own_switch(client, fresh, model, effort, expected):
    r = ask(client, model, reasoning_effort=effort)
    assert r.choices[0].message.content == "You said: think about it"
    extra, _ = fields(fresh)
    assert extra == expected


@pytest.mark.parametrize("model", [
    "amazon.nova-pro-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "mistral.mistral-large-2407-v1:0",
])
def test_models_without_reasoning_get_a_400_naming_it(client, fresh, model):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, model, reasoning_effort="medium")
    assert e.value.body["param"] == "reasoning_effort"
    assert model in e.value.message
    assert fresh.requests() == []
    # "none" asks for no reasoning: fine for every model.
    ask(client, model, reasoning_effort="none")
    assert fields(fresh)[0] == {}


def test_deepseek_r1_reasons_anyway_and_its_reasoning_comes_back(client, fresh):
    fresh.script({"json": {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Step one, step two."}}},
            {"text": "Done."}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 9,
                                            "totalTokens": 12}, "metrics": {"latencyMs": 1}}})
    r = ask(client, "us.deepseek.r1-v1:0", reasoning_effort="high")
    message = r.choices[0].message
    assert message.content == "Done."
    assert message.model_extra["reasoning_content"] == "Step one, step two."
    assert fields(fresh)[0] == {}


def test_high_effort_fits_under_a_small_max_completion_tokens(client, fresh):
    # OpenAI counts reasoning inside max_completion_tokens: 4,000 with "high" works there,
    # so the budget shrinks to fit instead of the request being refused.
    ask(client, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", reasoning_effort="high",
        max_completion_tokens=4000)
    extra, inference = fields(fresh)
    assert extra["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert inference["maxTokens"] == 4000


def test_only_what_cannot_fit_is_refused(client, fresh):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", reasoning_effort="low",
            max_completion_tokens=1000)
    assert e.value.body["param"] == "max_completion_tokens"
    assert "1024" in e.value.message
    assert fresh.requests() == []


def test_anthropic_thinking_on_another_family_is_refused(client, fresh):
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "amazon.nova-pro-v1:0",
            extra_body={"thinking": {"type": "enabled", "budget_tokens": 2048}})
    assert e.value.body["param"] == "thinking"
    assert fresh.requests() == []


def test_a_tool_loop_without_thinking_blocks_goes_without_thinking(client, fresh):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    ask_again = [{"role": "user", "content": "Weather in Oslo?"},
                 {"role": "assistant", "content": None, "tool_calls": [
                     {"id": "tooluse_1", "type": "function",
                      "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
                 {"role": "tool", "tool_call_id": "tooluse_1", "content": "cold"}]
    r = client.chat.completions.create(model="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                                       messages=ask_again, tools=tools, reasoning_effort="high")
    assert r.choices[0].message.content.startswith("You said:")
    extra, _ = fields(fresh)
    assert "thinking" not in extra


def test_parallel_tool_calls_false_reaches_claude(client, fresh):
    tools = [{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
             {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}}]
    client.chat.completions.create(model="claude", tools=tools, parallel_tool_calls=False,
                                   messages=[{"role": "user", "content": "one at a time"}])
    extra, _ = fields(fresh)
    assert extra["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    fresh.reset()
    # Other models have no such switch: the parameter is accepted and not sent.
    client.chat.completions.create(model="amazon.nova-pro-v1:0", tools=tools,
                                   parallel_tool_calls=False,
                                   messages=[{"role": "user", "content": "one at a time"}])
    assert fields(fresh)[0] == {}


def test_png_bytes_labelled_jpeg_go_as_png(client, fresh):
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
           "60e6kgAAAABJRU5ErkJggg==")
    client.chat.completions.create(model="claude", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is it"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{png}"}}]}])
    body = json.loads(fresh.requests()[0]["body"])
    assert body["messages"][0]["content"][1]["image"]["format"] == "png"


def test_claude_thinks_only_with_its_own_sampling(client, fresh):
    for extra, param in [({"temperature": 0.2}, "temperature"), ({"top_p": 0.5}, "top_p")]:
        with pytest.raises(openai.BadRequestError) as e:
            ask(client, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", reasoning_effort="low",
                **extra)
        assert e.value.body["param"] == param
    assert fresh.requests() == []
    ask(client, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", reasoning_effort="low",
        temperature=1)
    assert fields(fresh)[0]["thinking"]["type"] == "enabled"


def test_a_forced_tool_call_goes_without_thinking(client, fresh):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}]
    fresh.script({"reply": {"tool_uses": [{"name": "lookup", "input": {"q": "x"},
                                           "id": "tooluse_f"}]}})
    r = ask(client, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", reasoning_effort="high",
            tools=tools, tool_choice="required")
    assert r.choices[0].message.tool_calls[0].function.name == "lookup"
    assert "thinking" not in fields(fresh)[0]


def test_nova_2_at_high_effort_sets_its_own_length(client, fresh):
    ask(client, "us.amazon.nova-2-lite-v1:0", reasoning_effort="high", max_completion_tokens=500)
    extra, inference = fields(fresh)
    assert extra == {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}}
    assert "maxTokens" not in inference
    fresh.reset()
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "us.amazon.nova-2-lite-v1:0", reasoning_effort="high", temperature=0.3)
    assert e.value.body["param"] == "temperature"
    assert fresh.requests() == []
