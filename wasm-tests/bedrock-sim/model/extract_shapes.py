#!/usr/bin/env python3
"""Regenerates converse-shapes.json: the shapes reachable from ConverseRequest and
ConverseStreamRequest (whose guardrailConfig has streamProcessingMode) in the
Bedrock Runtime API model (botocore's bedrock-runtime service-2.json), documentation
stripped. The simulator validates Converse/ConverseStream request bodies against it.

usage: extract_shapes.py path/to/service-2.json > converse-shapes.json
"""
import json
import sys

KEEP = ("type", "members", "required", "union", "member", "key", "value",
        "min", "max", "pattern", "enum", "document")


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
                m: {k: v for k, v in ref.items() if k in ("shape", "location")}
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

    walk("ConverseRequest")
    walk("ConverseStreamRequest")
    json.dump(dict(sorted(seen.items())), sys.stdout, indent=0, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
