"""Transcript harness: a recorded response body through the real decoder and a dialect observer.

Corpus layout (``tests/data/transcripts/<dialect>/``):

* ``<case>.<ext>`` is the raw response body as the server sends it; the extension picks the
  decoder: ``.sse`` -> ``SSEDecoder``, ``.ndjson`` -> ``NDJSONDecoder``, ``.json`` ->
  ``JSONBodyDecoder`` (a non-streamed body), ``.jsonarray`` -> ``JSONArrayDecoder``.
* ``<case>.expected.json`` is ``{"source", "dialect", "request"?, "path"?, "expected"}``,
  written by hand: ``expected`` is the call's final state (see ``tests/data/transcripts/README.md``
  for the keys): the output chunks in arrival order, the output text per choice, the tool calls
  per choice, usage (with its breakdowns by modality), server timing, finish reasons, response
  model and id, the upstream error, complete and premature.

:func:`observe_transcript` returns the final state of one transcript; :func:`check_transcript`
feeds it whole, byte by byte and at seeded random split points and asserts each way gives the
expected state. ``test_transcripts.py`` runs it for every ``*.expected.json`` it finds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hypothesis import strategies as st

from sidecar.genai.accumulator import USAGE_FIELD
from sidecar.genai.dialect import Dialect
from sidecar.genai.observations import (
    Modality,
    Operation,
    RequestInfo,
    ServerTiming,
    UpstreamError,
    Usage,
    modality_counts,
)
from sidecar.genai.provider import revealed
from sidecar.genai.registry import DEFAULT_PROVIDERS, DIALECTS
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from sidecar.wire.jsonarray import JSONArrayDecoder
from sidecar.wire.jsonbody import JSONBodyDecoder
from sidecar.wire.ndjson import NDJSONDecoder
from sidecar.wire.sse import SSEDecoder
from tests.helpers import Feedable, split_at
from tests.steps import RecordingAccumulator, State, state_of

ROOT: Final = Path(__file__).resolve().parents[1] / "data" / "transcripts"

#: Body extension -> (decoder factory, whether the body is a stream).
DECODERS: Final[dict[str, tuple[Callable[[], Feedable[WireEvent]], bool]]] = {
    ".sse": (SSEDecoder, True),
    ".ndjson": (NDJSONDecoder, True),
    ".json": (JSONBodyDecoder, False),
    ".jsonarray": (JSONArrayDecoder, True),
}

#: Request path used when an expected file gives none.
DEFAULT_PATHS: Final = {
    "openai_chat": "/v1/chat/completions",
    "openai_completions": "/v1/completions",
    "openai_embeddings": "/v1/embeddings",
    "openai_responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "ollama": "/api/chat",
    "llamacpp": "/completion",
    "tgi": "/generate_stream",
    "gemini": "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
    "cohere": "/v2/chat",
}

_EXPECTED_SUFFIX: Final = ".expected.json"


@dataclass(frozen=True)
class Transcript:
    """One recorded body and what it should yield."""

    expected_path: Path
    body_path: Path
    source: str
    dialect_name: str
    request: dict[str, Any] | None
    path: str
    expected: dict[str, Any]

    @property
    def dialect(self) -> Dialect:
        return DIALECTS[self.dialect_name]

    @property
    def streaming(self) -> bool:
        return DECODERS[self.body_path.suffix][1]

    @property
    def body(self) -> bytes:
        return self.body_path.read_bytes()


def discover(root: Path = ROOT) -> list[Path]:
    """Every ``<dialect>/<case>.expected.json`` under ``root``, sorted."""
    return sorted(root.glob(f"*/*{_EXPECTED_SUFFIX}"))


def case_id(expected_path: Path) -> str:
    """``<dialect>/<case>`` for test ids."""
    return f"{expected_path.parent.name}/{expected_path.name.removesuffix(_EXPECTED_SUFFIX)}"


def load(expected_path: Path) -> Transcript:
    """Read an expected file and find its body file (exactly one known extension)."""
    spec = json.loads(expected_path.read_text(encoding="utf-8"))
    stem = expected_path.name.removesuffix(_EXPECTED_SUFFIX)
    bodies = [expected_path.with_name(stem + ext) for ext in DECODERS]
    found = [p for p in bodies if p.exists()]
    assert len(found) == 1, f"{expected_path}: need exactly one body file, found {found}"
    assert spec.get("source"), f"{expected_path}: name the transcript's source"
    dialect_name = spec["dialect"]
    assert dialect_name in DIALECTS, f"{expected_path}: unknown dialect {dialect_name!r}"
    return Transcript(
        expected_path=expected_path,
        body_path=found[0],
        source=spec["source"],
        dialect_name=dialect_name,
        request=spec.get("request"),
        path=spec.get("path") or DEFAULT_PATHS[dialect_name],
        expected=spec["expected"],
    )


def request_info(transcript: Transcript) -> RequestInfo:
    """The transcript's request parsed by its dialect (``{}`` when it gives none)."""
    body = json.dumps(transcript.request if transcript.request is not None else {}).encode()
    provider = DEFAULT_PROVIDERS[transcript.dialect_name]
    info = transcript.dialect.parse_request(transcript.path, body, provider)
    return info if info is not None else RequestInfo(operation=Operation.CHAT, provider=provider)


def run_transcript(
    path: Path,
    *,
    chunks: Callable[[bytes], Iterable[bytes]] | None = None,
    capture_bytes: int | None = None,
) -> RecordingAccumulator:
    """The accumulator one transcript (``path``: its expected file) leaves, fed in
    ``chunks(body)`` (default: whole), as the proxy's tap drives decoder and observer
    (``capture_bytes``: the capture bound, default far above any transcript). Each event's
    returned chunk count must match the output the observer wrote."""
    transcript = load(path)
    make_decoder, streaming = DECODERS[transcript.body_path.suffix]
    decoder = make_decoder()
    acc = RecordingAccumulator(capture_bytes=capture_bytes)
    observer = transcript.dialect.observer(request_info(transcript), streaming=streaming, accumulator=acc)
    body = transcript.body
    pieces = list(chunks(body)) if chunks is not None else [body]
    for piece in [*pieces, None]:
        for event in decoder.feed(piece) if piece is not None else decoder.close():
            before = len(acc.arrivals)
            assert observer.observe(event) == len(acc.arrivals) - before
    observer.close()
    return acc


def observe_transcript(path: Path, *, chunks: Callable[[bytes], Iterable[bytes]] | None = None) -> State:
    """The final state of one transcript, fed in ``chunks(body)`` (see :func:`run_transcript`)."""
    acc = run_transcript(path, chunks=chunks)
    return dataclasses.replace(state_of(acc), provider=revealed(acc))


def expected_state(transcript: Transcript) -> State:
    """The hand-written expected state of a transcript."""
    spec = transcript.expected
    usage = spec.get("usage")
    timing = spec.get("server_timing")
    error = spec.get("error")
    return State(
        chunks=tuple((kind, choice) for kind, choice in spec.get("output_chunks", ())),
        output={int(choice): dict(texts) for choice, texts in spec.get("output", {}).items()},
        tool_calls={int(choice): list(calls) for choice, calls in spec.get("tool_calls", {}).items()},
        usage=_usage(usage) if usage is not None else None,
        server_timing=ServerTiming(**timing) if timing is not None else None,
        finish_reasons={int(choice): reason for choice, reason in spec.get("finish_reasons", {}).items()},
        response_model=spec.get("response_model"),
        response_id=spec.get("response_id"),
        error=UpstreamError(**error) if error is not None else None,
        complete=spec.get("complete", False),
        premature=spec.get("premature", False),
        usage_source=spec.get("usage_source", USAGE_FIELD if usage is not None else None),
        provider=spec.get("provider"),
    )


def _usage(spec: dict[str, Any]) -> Usage:
    """An expected ``usage``: its breakdowns by modality written as ``{"text": 10, ...}``."""
    fields = dict(spec)
    for key in ("input_modalities", "output_modalities", "cache_read_modalities"):
        if key in fields:
            fields[key] = modality_counts((Modality(name), count) for name, count in fields[key].items())
    return Usage(**fields)


def same(actual: State, expected: State) -> bool:
    """Equal states, floats (server timings) compared to 1e-9 relative."""
    a, e = actual.server_timing, expected.server_timing
    if (a is None) != (e is None):
        return False
    if a is not None and e is not None:
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(e, f.name)
            if (x is None) != (y is None):
                return False
            if x is not None and not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                return False
    return dataclasses.replace(actual, server_timing=None) == dataclasses.replace(
        expected, server_timing=None
    )


def random_chunks(seed: int) -> Callable[[bytes], list[bytes]]:
    """A chunker cutting the body at a few seeded random offsets."""

    def chunker(body: bytes) -> list[bytes]:
        rng = random.Random(seed)
        count = rng.randint(1, max(1, min(12, len(body))))
        return split_at(body, [rng.randint(0, len(body)) for _ in range(count)])

    return chunker


def bytewise(body: bytes) -> list[bytes]:
    """One byte per chunk."""
    return [body[i : i + 1] for i in range(len(body))]


def check_transcript(path: Path, *, seeds: Iterable[int] = range(8)) -> None:
    """Assert the transcript yields its expected state whole, byte by byte and split."""
    want = expected_state(load(path))
    ways: list[tuple[str, Callable[[bytes], Iterable[bytes]] | None]] = [
        ("whole", None),
        ("byte by byte", bytewise),
    ]
    ways += [(f"split (seed {seed})", random_chunks(seed)) for seed in seeds]
    for label, chunks in ways:
        got = observe_transcript(path, chunks=chunks)
        assert same(got, want), f"{case_id(path)} {label}:\n got {got}\nwant {want}"


# ---------------------------------------------------------------- hypothesis strategies

#: Keys the dialects read, so generated JSON reaches deep into the observers' branches.
FIELD_NAMES: Final = (
    "type", "event", "id", "model", "object", "choices", "index", "delta", "message", "content",
    "text", "refusal", "reasoning", "reasoning_content", "tool_calls", "function", "arguments",
    "function_call", "finish_reason", "usage", "prompt_tokens", "completion_tokens",
    "prompt_tokens_details", "completion_tokens_details", "cached_tokens", "reasoning_tokens",
    "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details",
    "cache_read_input_tokens", "cache_creation_input_tokens", "thinking_tokens", "timings",
    "prompt_ms", "predicted_ms", "predicted_per_token_ms", "predicted_n", "error", "code",
    "status", "incomplete_details", "reason", "response", "output", "summary", "content_block",
    "stop_reason", "partial_json", "thinking", "input", "data", "done", "done_reason",
    "candidates", "usageMetadata", "details", "token", "stop", "generated_text", "eval_count",
    "messages", "role", "stream", "stream_options", "include_usage", "temperature", "top_p",
    "top_k", "max_tokens", "max_completion_tokens", "max_output_tokens", "stop_sequences", "seed",
    "n", "frequency_penalty", "presence_penalty", "response_format", "system", "instructions",
    "conversation", "output_config", "output_format", "format", "prompt",
)  # fmt: skip

#: Values of ``type`` / event names the dialects dispatch on.
TYPE_NAMES: Final = (
    "message", "error", "ping", "message_start", "message_delta", "message_stop",
    "content_block_start", "content_block_delta", "content_block_stop", "text_delta",
    "input_json_delta", "thinking_delta", "text", "thinking", "tool_use", "response.created",
    "response.in_progress", "response.queued", "response.completed", "response.incomplete",
    "response.failed", "response.output_text.delta", "response.function_call_arguments.delta",
    "response.reasoning_text.delta", "function_call", "custom_tool_call", "reasoning",
    "incomplete", "failed", "completed", "cancelled", "message-start", "content-delta",
    "message-end", "stream-end",
)  # fmt: skip

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(TYPE_NAMES)
    | st.text(max_size=12)
)

json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=15,
)


def _encode(value: Any) -> str:
    return json.dumps(value)


#: Event data: valid JSON (mostly objects with known keys), ``[DONE]``, or arbitrary text.
event_data: st.SearchStrategy[str] = st.one_of(
    json_values.map(_encode),
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8).map(_encode),
    st.just("[DONE]"),
    st.text(max_size=40),
)

#: Request bodies: JSON objects over the known keys, other JSON, or arbitrary bytes.
request_bodies: st.SearchStrategy[bytes] = st.one_of(
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=10).map(_encode),
    json_values.map(_encode),
    st.text(max_size=40),
).map(str.encode) | st.binary(max_size=60)

wire_events: st.SearchStrategy[WireEvent] = st.one_of(
    st.builds(
        SSEMessage,
        event=st.sampled_from(TYPE_NAMES) | st.text(max_size=8),
        data=event_data,
        id=st.none() | st.text(max_size=4),
    ),
    st.builds(JSONDocument, data=event_data.map(str.encode) | st.binary(max_size=40)),
    st.builds(Oversize, size=st.integers(0, 10), limit=st.integers(0, 10)),
)
