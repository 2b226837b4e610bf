#!/usr/bin/env python3
"""Regenerates runtime-shapes.json: the shapes reachable from the request shapes of the
operations the simulator serves, and from the response shapes of those it answers with
modeled JSON, in the Bedrock Runtime API model (botocore's bedrock-runtime
service-2.json), documentation stripped. The simulator validates request bodies, URI
labels and query strings against it; its unit tests check its default answers against
the response shapes.

The output depends only on the input file (keys sorted, fixed layout), so running it
again on the same service-2.json gives the same bytes.

usage: extract_shapes.py path/to/service-2.json > runtime-shapes.json
"""
import json
import sys

# Request shapes: validated by the simulator. ConverseStreamRequest is separate from
# ConverseRequest because only its guardrailConfig has streamProcessingMode.
REQUEST_ROOTS = (
    "ConverseRequest",
    "ConverseStreamRequest",
    "CountTokensRequest",
    "ApplyGuardrailRequest",
    "InvokeGuardrailChecksRequest",
    "StartAsyncInvokeRequest",
    "GetAsyncInvokeRequest",
    "ListAsyncInvokesRequest",
)
# Response shapes of the operations answered with plain modeled JSON: the unit tests
# validate the default answers against them.
RESPONSE_ROOTS = (
    "CountTokensResponse",
    "ApplyGuardrailResponse",
    "InvokeGuardrailChecksResponse",
    "StartAsyncInvokeResponse",
    "GetAsyncInvokeResponse",
    "ListAsyncInvokesResponse",
)

KEEP = ("type", "members", "required", "union", "member", "key", "value",
        "min", "max", "pattern", "enum", "document", "timestampFormat")
MEMBER_KEEP = ("shape", "location", "locationName")


def main() -> None:
    model = json.load(open(sys.argv[1]))
    shapes = model["shapes"]
    seen = {}

    def walk(name: str) -> None:
        if name in seen:
            return
        shape = shapes[name]
        out = {k: v for k, v in shape.items() if k in KEEP}
        if "members" in out:
            out["members"] = {
                m: {k: v for k, v in ref.items() if k in MEMBER_KEEP}
                for m, ref in shape["members"].items()
            }
        for k in ("member", "key", "value"):
            if k in out:
                out[k] = {"shape": shape[k]["shape"]}
        seen[name] = out
        for k in ("member", "key", "value"):
            if k in shape:
                walk(shape[k]["shape"])
        for ref in shape.get("members", {}).values():
            walk(ref["shape"])

    for root in REQUEST_ROOTS + RESPONSE_ROOTS:
        walk(root)
    json.dump(dict(sorted(seen.items())), sys.stdout, indent=0, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
