"""Every Bedrock Runtime operation boto3 calls, through the gateway: CountTokens,
ApplyGuardrail, StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes (and its paginator) are
re-signed with the gateway's credentials, with their own method, path and query; the client's
wrong credentials never reach the simulator. Errors on these paths come back in AWS's shape,
so botocore raises with the real code and message."""
import json

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import ACCESS_KEY

CLIENT_KEY = "AKIDCLIENTSOWNKEYXXX"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
S3 = {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/"}}


@pytest.fixture()
def bedrock(envoy):
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=envoy.url,
        aws_access_key_id=CLIENT_KEY, aws_secret_access_key="client-secret-that-is-wrong",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def resigned(sim, operation):
    req = sim.requests()[-1]
    assert req["operation"] == operation, req
    assert req["status"] == 200, req
    assert req["auth"]["ok"] and req["auth"]["access_key"] == ACCESS_KEY, req["auth"]
    assert CLIENT_KEY not in json.dumps(req["headers"])
    return req


def test_count_tokens_converse_and_invoke_bodies(bedrock, fresh):
    r = bedrock.count_tokens(modelId=CLAUDE, input={"converse": {
        "messages": [{"role": "user", "content": [{"text": "four words to count"}]}]}})
    assert r["inputTokens"] == 4
    assert resigned(fresh, "count-tokens")["path"].endswith("%3A0/count-tokens")
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
            "messages": [{"role": "user", "content": "two words"}]}
    r = bedrock.count_tokens(modelId=CLAUDE,
                             input={"invokeModel": {"body": json.dumps(body).encode()}})
    assert r["inputTokens"] == 2


def test_apply_guardrail(bedrock, fresh):
    r = bedrock.apply_guardrail(guardrailIdentifier="gr12ab34cd", guardrailVersion="DRAFT",
                                source="INPUT", content=[{"text": {"text": "hello there"}}])
    assert r["action"] == "NONE"
    assert resigned(fresh, "apply-guardrail")["path"] == \
        "/guardrail/gr12ab34cd/version/DRAFT/apply"
    r = bedrock.apply_guardrail(guardrailIdentifier="gr12ab34cd", guardrailVersion="1",
                                source="OUTPUT", content=[{"text": {"text": "BLOCKME now"}}])
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["outputs"][0]["text"] == "Sorry, the model cannot answer this question."


def test_async_invoke_start_get_and_list(bedrock, fresh):
    started = bedrock.start_async_invoke(
        modelId="amazon.nova-reel-v1:0", clientRequestToken="token-0000000001",
        modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat"}},
        outputDataConfig=S3)
    arn = started["invocationArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:")
    req = resigned(fresh, "start-async-invoke")
    assert req["method"] == "POST" and req["path"] == "/async-invoke"
    # Idempotent: the same token is the same invocation.
    again = bedrock.start_async_invoke(
        modelId="amazon.nova-reel-v1:0", clientRequestToken="token-0000000001",
        modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat"}},
        outputDataConfig=S3)
    assert again["invocationArn"] == arn
    first = bedrock.get_async_invoke(invocationArn=arn)
    assert (first["invocationArn"], first["status"]) == (arn, "InProgress")
    req = resigned(fresh, "get-async-invoke")
    assert req["method"] == "GET" and "%3A" in req["path"], req["path"]
    done = bedrock.get_async_invoke(invocationArn=arn)
    assert done["status"] == "Completed" and done["endTime"] >= done["submitTime"]
    for i in range(2, 5):
        bedrock.start_async_invoke(
            modelId="amazon.nova-reel-v1:0", clientRequestToken=f"token-000000000{i}",
            modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": f"cat {i}"}},
            outputDataConfig=S3)
    listed = bedrock.list_async_invokes(maxResults=2, sortOrder="Ascending")
    assert len(listed["asyncInvokeSummaries"]) == 2 and listed["nextToken"]
    req = resigned(fresh, "list-async-invokes")
    assert req["method"] == "GET" and "maxResults=2" in (req["query"] or ""), req
    pages = bedrock.get_paginator("list_async_invokes").paginate(PaginationConfig={"PageSize": 2})
    arns = [s["invocationArn"] for page in pages for s in page["asyncInvokeSummaries"]]
    assert len(arns) == 4 and arn in arns
    completed = bedrock.list_async_invokes(statusEquals="Completed")["asyncInvokeSummaries"]
    assert [s["invocationArn"] for s in completed] == [arn]


def test_errors_on_aws_paths_are_aws_shaped(bedrock, fresh, http):
    # Bedrock's own error passes through untouched.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bedrock.get_async_invoke(invocationArn="arn:aws:bedrock:us-east-1:123456789012:async-invoke/nope")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    fresh.reset()
    # The gateway's own refusals read the same way: code and message.
    r = http.get("/model/m/converse")
    assert r.status_code == 405
    assert r.headers["x-amzn-errortype"] == "ValidationException"
    assert "use POST" in r.json()["message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bedrock.invoke_model(modelId=CLAUDE, body=b"x" * (21 * 1024 * 1024))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "too large" in e.value.response["Error"]["Message"]
    assert fresh.requests() == []


def test_bidirectional_streams_are_refused_clearly(http, fresh):
    r = http.post("/model/amazon.nova-sonic-v1%3A0/invoke-with-bidirectional-stream", content=b"")
    assert r.status_code == 400
    assert r.headers["x-amzn-errortype"] == "ValidationException"
    assert "signed with the caller's own credentials" in r.json()["message"]
    assert fresh.requests() == []
