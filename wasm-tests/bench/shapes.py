#!/usr/bin/env python3
"""The requests and canned answers of `make bench`, in one place, generated deterministically.

Real agent traffic is 20–200 KB per request: a system prompt, a long history of turns with
prose and code (full of newlines, quotes and backslashes, i.e. JSON escapes), tool
definitions with JSON-schema parameters, tool calls with JSON `arguments` strings and tool
results. The shapes here:

- `chat-0.5k`: a system prompt and one question (the small case);
- `chat-8k`, `chat-32k`, `chat-128k`: a conversation grown turn by turn (user and assistant
  alternating, prose and code) until the body reaches the size;
- `agent-30k`: a coding agent's request: system prompt, 20 tools, a tool loop in the history
  (assistant `tool_calls`, `tool` results holding file contents and command output).

Answers: a Converse JSON answer, and ConverseStream event-streams of 60 and 600 events.

Nothing is random: every text is picked by index from fixed lists, so every run (and the native
bench, tests/bench.rs, which reads the files this writes) sees the same bytes.

`python3 wasm-tests/bench/shapes.py DIR` writes `<shape>.json` (non-stream bodies) and
`converse-stream-<n>.bin` into DIR (`make bench` uses target/bench/requests).
"""
import json
import struct
import sys
import zlib
from pathlib import Path

MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

# ---------------------------------------------------------------------------- texts

SYSTEM_SHORT = "You are a helpful assistant. Answer briefly and precisely; say so when unsure."

SYSTEM_LONG = """You are a senior software engineer pairing with the user on their repository.
Rules:
- Read before you write: open the files you change, and quote the lines you refer to.
- Keep changes small and explain the "why" in one sentence each.
- Code blocks use fenced markdown with the language, e.g. ```python.
- Windows paths such as C:\\Users\\dev\\project must keep their backslashes.
- Never invent APIs; if a function is not in the code you were shown, say "I have not seen it".
Style: short sentences, no filler, lists for steps, and "quotes" only for literal strings."""

PROSE = [
    "The function reads the whole file into memory before it parses it, which is fine for the "
    "configuration files you showed me (a few kilobytes) but not for the 2 GB log you mentioned. "
    "I would stream it line by line instead and keep only the counters.",
    "Two things stand out. First, the retry loop sleeps for a fixed second, so a burst of "
    "failures hammers the service at the worst moment; an exponential back-off with jitter "
    "avoids that. Second, the \"timeout\" argument is in milliseconds in one place and seconds "
    "in the other.",
    "Yes, that works, but note the escaping: the shell sees the string first, so the regex "
    "needs its backslashes doubled (\\\\d+ instead of \\d+) inside double quotes, or use single "
    "quotes and leave it alone.",
    "I ran the tests after the change: 214 passed, 3 skipped (they need a database). The one "
    "that failed before, test_parse_dates, now passes because the parser accepts the trailing "
    "'Z' as UTC.",
    "Could you also make it handle the case where the input has Windows line endings (\\r\\n)? "
    "Our CI runs on both, and last week a file checked out with CRLF broke the parser silently.",
    "Let me summarise where we are:\n1. the loader streams the file;\n2. the parser accepts "
    "CRLF;\n3. the retry uses back-off.\nStill open: the config keys named \"timeout\" and "
    "\"timeout_ms\" should become one.",
]

CODE = [
    '```python\ndef load(path):\n    """Read a JSON-lines file and count the events per type."""\n'
    '    counts = {}\n    with open(path, encoding="utf-8") as f:\n        for line in f:\n'
    '            event = json.loads(line)\n            kind = event.get("type", "unknown")\n'
    '            counts[kind] = counts.get(kind, 0) + 1\n    return counts\n```',
    '```rust\nfn parse_line(line: &str) -> Result<(String, u64), String> {\n'
    '    let (key, value) = line\n        .split_once(\'=\')\n'
    '        .ok_or_else(|| format!("no \'=\' in {line:?}"))?;\n'
    '    let n = value.trim().parse::<u64>().map_err(|e| e.to_string())?;\n'
    '    Ok((key.trim().to_string(), n))\n}\n```',
    '```bash\n#!/usr/bin/env bash\nset -euo pipefail\nfor f in "$@"; do\n'
    '  if grep -qE \'^\\s*TODO\' "$f"; then\n    printf "%s: has TODOs\\n" "$f"\n  fi\n'
    'done\n```',
    '```javascript\nexport async function fetchWithRetry(url, tries = 3) {\n'
    '  for (let i = 0; i < tries; i++) {\n    const res = await fetch(url);\n'
    '    if (res.ok) return res.json();\n'
    '    await new Promise((r) => setTimeout(r, 2 ** i * 100));\n  }\n'
    '  throw new Error(`GET ${url} failed after ${tries} tries`);\n}\n```',
    '```python\nPATTERN = re.compile(r"(?P<date>\\d{4}-\\d{2}-\\d{2})T(?P<time>[\\d:]+)Z?")\n\n'
    'def parse(ts: str) -> datetime:\n    m = PATTERN.match(ts.strip())\n    if not m:\n'
    '        raise ValueError(f"not a timestamp: {ts!r}")\n'
    '    return datetime.fromisoformat(f"{m[\'date\']} {m[\'time\']}+00:00")\n```',
]

QUESTIONS = [
    "Why does this loader run out of memory on the big log file?",
    "Can you review this and tell me what you would change?",
    "The regex does not match in the shell script; what am I missing?",
    "Does the date parser handle the trailing Z now?",
    "What happens with CRLF line endings here?",
    "OK, what is left before I open the pull request?",
]


def user_turn(i):
    """User turns: a question, sometimes with code pasted under it."""
    text = QUESTIONS[i % len(QUESTIONS)]
    if i % 2 == 0:
        text += "\n\n" + CODE[i % len(CODE)]
    return {"role": "user", "content": text}


def assistant_turn(i):
    """Assistant turns: prose, a code block, more prose."""
    return {"role": "assistant",
            "content": f"{PROSE[i % len(PROSE)]}\n\n{CODE[(i + 2) % len(CODE)]}\n\n"
                       f"{PROSE[(i + 3) % len(PROSE)]}"}


def dumps(body):
    return json.dumps(body, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------- chat requests

def small_chat(stream=False):
    """The small case: a system prompt and one question (about 0.5 KB)."""
    return finish({"model": MODEL,
                   "messages": [{"role": "system", "content": SYSTEM_SHORT},
                                {"role": "user", "content":
                                 "In one paragraph: what does a reverse proxy do, and why put "
                                 "one in front of an API that several teams call? Mention "
                                 "retries, authentication and rate limits, and say which of "
                                 "them belong in the proxy."}]},
                  stream)


def finish(body, stream):
    body.update({"max_tokens": 1024, "temperature": 0.2, "stream": stream})
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


# A pasted log excerpt: what fills the last user turn up to the wanted size.
LOG = "".join(f'2026-12-07T06:{n // 60 % 60:02d}:{n % 60:02d}Z INFO handler "GET /v1/items?id={n}" '
              f"took {n * 7 % 97} ms\n" for n in range(200))


def chat_history(target_bytes, stream=False):
    """A conversation grown a user/assistant pair at a time while the next pair fits in
    `target_bytes`; the last user turn then pastes as much of a log as still fits."""
    messages = [{"role": "system", "content": SYSTEM_LONG}]
    i = 0

    def body(log_chars):
        last = user_turn(i)
        if log_chars > 0:
            last["content"] += "\n\nThe log:\n```\n" + LOG[:log_chars] + "```"
        return finish({"model": MODEL, "messages": messages + [last]}, stream)

    while len(dumps(body(0))) + len(dumps([user_turn(i), assistant_turn(i)])) <= target_bytes:
        messages += [user_turn(i), assistant_turn(i)]
        i += 1
    # JSON escapes (\n, \") make the encoded log longer than its text: shrink until it fits.
    chars = target_bytes - len(dumps(body(0)))
    while chars > 0 and len(dumps(body(chars))) > target_bytes:
        chars -= 32
    return body(chars)


# ---------------------------------------------------------------------------- agent request

def _param(kind, description, **extra):
    return {"type": kind, "description": description, **extra}


def agent_tools():
    """20 tools with JSON-schema parameters as coding agents declare them."""
    path = _param("string", "Path relative to the repository root, e.g. \"src/main.rs\".")
    specs = [
        ("read_file", "Read a file. Returns its text with line numbers.",
         {"path": path, "offset": _param("integer", "First line, 1-based.", minimum=1),
          "limit": _param("integer", "Lines to read at most.", minimum=1, maximum=2000)},
         ["path"]),
        ("write_file", "Create or overwrite a file with the given content.",
         {"path": path, "content": _param("string", "The whole new content.")}, ["path", "content"]),
        ("edit_file", "Replace one exact occurrence of old_string by new_string in a file.",
         {"path": path, "old_string": _param("string", "Text to find, unique in the file."),
          "new_string": _param("string", "Replacement text."),
          "replace_all": _param("boolean", "Replace every occurrence.", default=False)},
         ["path", "old_string", "new_string"]),
        ("list_dir", "List a directory, one entry per line, directories ending in '/'.",
         {"path": path, "depth": _param("integer", "How deep to descend.", default=1)}, ["path"]),
        ("grep", "Search file contents with a regular expression (ripgrep syntax).",
         {"pattern": _param("string", "The regex, e.g. \"fn\\\\s+main\"."),
          "glob": _param("string", "Only files matching this glob, e.g. \"*.py\"."),
          "case_insensitive": _param("boolean", "Ignore case.", default=False),
          "context": _param("integer", "Lines of context around each match.", default=0)},
         ["pattern"]),
        ("glob", "Find files by name pattern.",
         {"pattern": _param("string", "Glob such as \"src/**/*.rs\".")}, ["pattern"]),
        ("run_shell", "Run a shell command in the repository and return stdout, stderr and status.",
         {"command": _param("string", "The command line, run with bash -c."),
          "timeout_s": _param("integer", "Kill it after this many seconds.", default=120,
                              maximum=600),
          "env": {"type": "object", "description": "Extra environment variables.",
                  "additionalProperties": {"type": "string"}}},
         ["command"]),
        ("git_status", "Show the working tree status (porcelain v2).", {}, []),
        ("git_diff", "Show changes, staged or not.",
         {"staged": _param("boolean", "Only staged changes.", default=False),
          "paths": {"type": "array", "items": {"type": "string"},
                    "description": "Limit to these paths."}}, []),
        ("git_commit", "Commit the staged changes.",
         {"message": _param("string", "Commit message: a summary line, a blank line, the why."),
          "amend": _param("boolean", "Amend the last commit instead.", default=False)},
         ["message"]),
        ("run_tests", "Run the test suite or a subset and report failures.",
         {"selector": _param("string", "Test name filter, e.g. \"parser::\"."),
          "release": _param("boolean", "Build in release mode.", default=False)}, []),
        ("web_fetch", "Fetch a URL and return its text (HTML converted to markdown).",
         {"url": _param("string", "An http(s) URL.", format="uri"),
          "max_bytes": _param("integer", "Truncate after this many bytes.", default=100000)},
         ["url"]),
        ("web_search", "Search the web; returns titles, URLs and snippets.",
         {"query": _param("string", "Search terms."),
          "count": _param("integer", "Results wanted.", default=5, maximum=20)}, ["query"]),
        ("python_eval", "Evaluate Python 3 code in a sandbox and return what it prints.",
         {"code": _param("string", "The program."),
          "packages": {"type": "array", "items": {"type": "string"},
                       "description": "pip packages to install first."}}, ["code"]),
        ("sql_query", "Run a read-only SQL query against the development database.",
         {"sql": _param("string", "One SELECT statement."),
          "params": {"type": "array", "items": {"type": ["string", "number", "null"]},
                     "description": "Positional parameters ($1, $2, ...)."},
          "limit": _param("integer", "Rows at most.", default=100)}, ["sql"]),
        ("http_request", "Send an HTTP request to a service of the local stack.",
         {"method": _param("string", "HTTP method.", enum=["GET", "POST", "PUT", "DELETE"]),
          "url": _param("string", "Absolute URL."),
          "headers": {"type": "object", "additionalProperties": {"type": "string"}},
          "body": _param("string", "Request body, as text.")}, ["method", "url"]),
        ("create_issue", "Open an issue in the tracker.",
         {"title": _param("string", "One line."), "body": _param("string", "Markdown."),
          "labels": {"type": "array", "items": {"type": "string", "enum":
                     ["bug", "feature", "docs", "performance"]}}}, ["title"]),
        ("todo_write", "Replace the task list shown to the user.",
         {"todos": {"type": "array", "description": "The tasks in order.",
                    "items": {"type": "object", "properties": {
                        "content": {"type": "string"},
                        "status": {"type": "string", "enum": ["pending", "in_progress", "done"]}},
                        "required": ["content", "status"]}}}, ["todos"]),
        ("ask_user", "Ask the user a question and wait for the answer.",
         {"question": _param("string", "The question, self-contained."),
          "choices": {"type": "array", "items": {"type": "string"}}}, ["question"]),
        ("search_docs", "Search the project's documentation.",
         {"query": _param("string", "What to look for."),
          "section": _param("string", "Restrict to a section.",
                            enum=["api", "configuration", "deploying", "testing"])}, ["query"]),
    ]
    assert len(specs) == 20
    return [{"type": "function",
             "function": {"name": name, "description": description,
                          "parameters": {"type": "object", "properties": props,
                                         "required": required, "additionalProperties": False}}}
            for name, description, props, required in specs]


def _tool_loop_step(i):
    """One step of the agent's loop: the assistant calls one or two tools, the results come back."""
    path = ["src/loader.py", "src/parser.rs", "scripts/check.sh", "web/retry.js", "src/dates.py"][i % 5]
    calls = [("read_file", {"path": path, "offset": 1, "limit": 400})]
    if i % 3 == 1:
        calls.append(("grep", {"pattern": "def \\w+\\(|fn \\w+", "glob": "*.{py,rs}",
                               "context": 2}))
    if i % 4 == 3:
        calls = [("run_shell", {"command": "pytest -q tests/test_dates.py 2>&1 | tail -n 20",
                                "timeout_s": 300})]
    ids = [f"call_{i:02d}_{n}_{'abcdefghij'[i % 10]}Xy7Qk" for n in range(len(calls))]
    assistant = {"role": "assistant",
                 "content": PROSE[i % len(PROSE)].split(". ")[0] + ". Let me look.",
                 "tool_calls": [{"id": cid, "type": "function",
                                 "function": {"name": name,
                                              "arguments": json.dumps(args)}}
                                for cid, (name, args) in zip(ids, calls)]}
    results = []
    for cid, (name, _) in zip(ids, calls):
        if name == "run_shell":
            out = ("============================= test session starts ==============================\n"
                   "collected 12 items\n\ntests/test_dates.py ........F...                      [100%]\n\n"
                   "FAILED tests/test_dates.py::test_trailing_z - ValueError: not a timestamp: "
                   "'2026-12-07T06:05:00Z'\n1 failed, 11 passed in 0.41s\n")
        else:
            code = CODE[i % len(CODE)].split("\n")[1:-1]
            out = "".join(f"{n + 1:>5}\t{line}\n" for n, line in enumerate(code * 3))
        results.append({"role": "tool", "tool_call_id": cid, "content": out})
    return [assistant, *results]


def agent_request(target_bytes, stream=False):
    """A coding agent mid-task: system prompt, 20 tools, the user's task, then tool-loop steps
    until the body reaches about `target_bytes`; the last message is a tool result (the model's
    turn)."""
    messages = [{"role": "system", "content": SYSTEM_LONG},
                {"role": "user", "content": QUESTIONS[0] + "\n\nThe file is src/loader.py; "
                 "fix it, run the tests, and commit."}]
    body = {"model": MODEL, "messages": messages, "tools": agent_tools(), "tool_choice": "auto"}
    i = 0
    while len(dumps(finish(dict(body), stream))) < target_bytes:
        messages += _tool_loop_step(i)
        i += 1
    return finish(body, stream)


# The shapes of the bench: name -> body builder (stream flag).
SHAPES = {
    "chat-0.5k": small_chat,
    "chat-8k": lambda stream=False: chat_history(8 * 1024, stream),
    "chat-32k": lambda stream=False: chat_history(32 * 1024, stream),
    "chat-128k": lambda stream=False: chat_history(128 * 1024, stream),
    "agent-30k": lambda stream=False: agent_request(30 * 1024, stream),
}


def request(shape, stream=False):
    return dumps(SHAPES[shape](stream))


# ---------------------------------------------------------------------------- answers

ANSWER_TEXT = ("Here is what I would do next, step by step, keeping it short and practical. " * 23).strip()
ANSWER_TOKENS = (500, 400)


def converse_answer():
    return dumps({
        "output": {"message": {"role": "assistant", "content": [{"text": ANSWER_TEXT}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": ANSWER_TOKENS[0], "outputTokens": ANSWER_TOKENS[1],
                  "totalTokens": sum(ANSWER_TOKENS)},
        "metrics": {"latencyMs": 1200}})


def _header(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v


def event_frame(event_type, payload):
    """One AWS event-stream message: prelude (total length, headers length, CRC32), string
    headers (type 7), payload, message CRC32."""
    headers = (_header(":event-type", event_type) + _header(":content-type", "application/json")
               + _header(":message-type", "event"))
    body = dumps(payload)
    prelude = struct.pack(">II", 12 + len(headers) + len(body) + 4, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def stream_deltas(events):
    """The text deltas of an `events`-event stream (start, deltas, block stop, stop, metadata)."""
    return [f"token{i} and some more text " for i in range(events - 4)]


def stream_usage(events):
    return {"inputTokens": 500, "outputTokens": events - 4, "totalTokens": 500 + events - 4}


def converse_stream(events=60):
    """A ConverseStream answer of `events` events, with Bedrock's "p" padding field."""
    pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
    frames = [("messageStart", {"role": "assistant"})]
    frames += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}})
               for t in stream_deltas(events)]
    frames += [("contentBlockStop", {"contentBlockIndex": 0}),
               ("messageStop", {"stopReason": "end_turn"}),
               ("metadata", {"usage": stream_usage(events), "metrics": {"latencyMs": 900}})]
    assert len(frames) == events
    return b"".join(event_frame(name, {**payload, "p": pad}) for name, payload in frames)


STREAM_EVENTS = (60, 600)


def write_all(directory):
    """The files the native bench reads: every shape's non-stream body, the streams."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for shape in SHAPES:
        (d / f"{shape}.json").write_bytes(request(shape))
    for events in STREAM_EVENTS:
        (d / f"converse-stream-{events}.bin").write_bytes(converse_stream(events))
    return d


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} DIR")
    out = write_all(sys.argv[1])
    for f in sorted(out.iterdir()):
        print(f"{f}: {f.stat().st_size:,} B")
