"""Native Bedrock requests (boto3, AnthropicBedrock) through the gateway: the clients hold
deliberately wrong credentials, so only the filter's re-signing with the gateway's own makes
the strict simulator accept them. Bodies and answers pass through untouched."""
import json

import boto3
import pytest
from botocore.config import Config

from conftest import ACCESS_KEY

CLIENT_KEY = "AKIDCLIENTSOWNKEYXXX"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x7k2m9p4q1w8"


@pytest.fixture()
def bedrock(envoy):
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=envoy.url,
        aws_access_key_id=CLIENT_KEY, aws_secret_access_key="client-secret-that-is-wrong",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def assert_resigned(sim, path_fragment):
    req = sim.requests()[-1]
    assert path_fragment in req["path"], req["path"]
    assert req["auth"]["ok"], req["auth"]
    assert req["auth"]["access_key"] == ACCESS_KEY
    assert CLIENT_KEY not in json.dumps(req["headers"])
    return req


def test_boto3_converse(bedrock, fresh):
    r = bedrock.converse(modelId=CLAUDE, messages=[
        {"role": "user", "content": [{"text": "native hello"}]}],
        inferenceConfig={"maxTokens": 50})
    assert r["output"]["message"]["content"][0]["text"] == "You said: native hello"
    assert r["stopReason"] == "end_turn"
    req = assert_resigned(fresh, "/converse")
    assert req["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"


def test_boto3_converse_with_an_arn(bedrock, fresh):
    r = bedrock.converse(modelId=ARN, messages=[{"role": "user", "content": [{"text": "arn"}]}])
    assert r["output"]["message"]["content"][0]["text"] == "You said: arn"
    req = assert_resigned(fresh, "%2Fx7k2m9p4q1w8/converse")
    assert req["model_id"] == ARN


def test_boto3_converse_stream(bedrock, fresh):
    r = bedrock.converse_stream(modelId=CLAUDE, messages=[
        {"role": "user", "content": [{"text": "streamed natively"}]}])
    text, stop, usage = "", None, None
    for event in r["stream"]:
        if "contentBlockDelta" in event:
            text += event["contentBlockDelta"]["delta"]["text"]
        stop = event.get("messageStop", {}).get("stopReason", stop)
        usage = event.get("metadata", {}).get("usage", usage)
    assert (text, stop) == ("You said: streamed natively", "end_turn")
    assert usage["outputTokens"] == 4
    assert_resigned(fresh, "/converse-stream")


def anthropic_body(text):
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": text}]})


def test_boto3_invoke_model(bedrock, fresh):
    r = bedrock.invoke_model(modelId=CLAUDE, body=anthropic_body("invoke me"),
                             contentType="application/json", accept="application/json")
    out = json.loads(r["body"].read())
    assert out["content"][0]["text"] == "You said: invoke me"
    req = assert_resigned(fresh, "/invoke")
    assert json.loads(req["body"]) == json.loads(anthropic_body("invoke me"))


def test_boto3_invoke_model_with_response_stream(bedrock, fresh):
    r = bedrock.invoke_model_with_response_stream(
        modelId=CLAUDE, body=anthropic_body("stream invoke"), contentType="application/json")
    types, text = [], ""
    for event in r["body"]:
        chunk = json.loads(event["chunk"]["bytes"])
        types.append(chunk["type"])
        if chunk["type"] == "content_block_delta":
            text += chunk["delta"]["text"]
    assert text == "You said: stream invoke"
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert_resigned(fresh, "/invoke-with-response-stream")


def test_boto3_sees_bedrock_errors_unchanged(bedrock, fresh):
    fresh.script({"error": {"status": 429, "type": "ThrottlingException", "message": "slow"}})
    with pytest.raises(bedrock.exceptions.ThrottlingException) as info:
        bedrock.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert info.value.response["Error"]["Message"] == "slow"


def test_anthropic_bedrock_client(envoy, fresh):
    from anthropic import AnthropicBedrock
    client = AnthropicBedrock(aws_access_key=CLIENT_KEY, aws_secret_key="wrong-secret",
                              aws_region="us-east-1", base_url=envoy.url, max_retries=0)
    msg = client.messages.create(model=CLAUDE, max_tokens=64,
                                 messages=[{"role": "user", "content": "from anthropic"}])
    assert msg.content[0].text == "You said: from anthropic"
    req = assert_resigned(fresh, "/invoke")
    # The Anthropic client sends the model ID's ':' raw; it is signed exactly as sent.
    assert req["path"] == "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke"
    with client.messages.stream(model=CLAUDE, max_tokens=64,
                                messages=[{"role": "user", "content": "stream it"}]) as s:
        assert s.get_final_text() == "You said: stream it"
    assert_resigned(fresh, "/invoke-with-response-stream")
