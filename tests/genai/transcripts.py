"""Transcript harness: a recorded response body through the real decoder and a dialect observer.

Corpus layout (``tests/data/transcripts/<dialect>/``):

* ``<case>.<ext>`` is the raw response body as the server sends it; the extension picks the
  decoder: ``.sse`` -> ``SSEDecoder``, ``.ndjson`` -> ``NDJSONDecoder``, ``.json`` ->
  ``JSONBodyDecoder`` (a non-streamed body), ``.jsonarray`` -> ``JSONArrayDecoder``.
* ``<case>.expected.json`` is ``{"source", "dialect", "request"?, "path"?, "observations"}``,
  written by hand: ``observations`` lists every observation in order, each as
  ``{"type": "<ClassName>", ...fields}`` (fields left out take their defaults). The field
  ``UpstreamError.type`` shares its name with the class key: write it as a second ``"type"``
  key after the first (``{"type": "UpstreamError", "type": "overloaded_error", ...}``, read
  in order) or as ``"error_type"``.

:func:`observe_transcript` returns the observations of one transcript; :func:`check_transcript`
feeds it whole, byte by byte and at seeded random split points and asserts each way gives the
expected list. ``test_transcripts.py`` runs it for every ``*.expected.json`` it finds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hypothesis import strategies as st

from sidecar.genai import observations as obs_types
from sidecar.genai.dialect import Dialect, ResponseObserver
from sidecar.genai.observations import Observation, Operation, RequestInfo
from sidecar.genai.registry import DEFAULT_PROVIDERS, DIALECTS
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from sidecar.wire.jsonarray import JSONArrayDecoder
from sidecar.wire.jsonbody import JSONBodyDecoder
from sidecar.wire.ndjson import NDJSONDecoder
from sidecar.wire.sse import SSEDecoder
from tests.helpers import Feedable, feed_split, split_at

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

_TYPES: Final[dict[str, type[Any]]] = {
    cls.__name__: cls
    for cls in (
        obs_types.OutputChunk,
        obs_types.Usage,
        obs_types.FinishReason,
        obs_types.ResponseInfo,
        obs_types.UpstreamError,
        obs_types.ServerTiming,
        obs_types.StreamComplete,
        obs_types.PrematureEnd,
    )
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
    expected: list[dict[str, Any]]

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


_FIELD_TYPE: Final = "error_type"


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object where a repeated ``"type"`` key is the ``type`` field (see module doc)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        found[_FIELD_TYPE if key == "type" and "type" in found else key] = value
    return found


def load(expected_path: Path) -> Transcript:
    """Read an expected file and find its body file (exactly one known extension)."""
    spec = json.loads(expected_path.read_text(encoding="utf-8"), object_pairs_hook=_object)
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
        expected=spec["observations"],
    )


def request_info(transcript: Transcript) -> RequestInfo:
    """The transcript's request parsed by its dialect (``{}`` when it gives none)."""
    body = json.dumps(transcript.request if transcript.request is not None else {}).encode()
    provider = DEFAULT_PROVIDERS[transcript.dialect_name]
    info = transcript.dialect.parse_request(transcript.path, body, provider)
    return info if info is not None else RequestInfo(operation=Operation.CHAT, provider=provider)


class _Tap:
    """Decoder + observer behind one ``feed`` / ``close`` pair, as the proxy's tap drives them."""

    def __init__(self, transcript: Transcript, request: RequestInfo) -> None:
        make_decoder, streaming = DECODERS[transcript.body_path.suffix]
        self.decoder = make_decoder()
        self.observer: ResponseObserver = transcript.dialect.observer(request, streaming=streaming)

    def feed(self, data: bytes) -> list[Observation]:
        return [o for event in self.decoder.feed(data) for o in self.observer.observe(event)]

    def close(self) -> list[Observation]:
        found = [o for event in self.decoder.close() for o in self.observer.observe(event)]
        return found + self.observer.close()


def observe_transcript(
    path: Path, *, chunks: Callable[[bytes], Iterable[bytes]] | None = None
) -> list[Observation]:
    """Observations of one transcript (``path``: its expected file), fed in ``chunks(body)``
    (default: whole)."""
    transcript = load(path)
    request = request_info(transcript)
    body = transcript.body
    pieces = list(chunks(body)) if chunks is not None else [body]
    make = lambda: _Tap(transcript, request)  # noqa: E731
    return feed_split(make, b"".join(pieces), _offsets(pieces))


def _offsets(pieces: Sequence[bytes]) -> list[int]:
    total, points = 0, []
    for piece in pieces[:-1]:
        total += len(piece)
        points.append(total)
    return points


def as_dict(observation: Observation) -> dict[str, Any]:
    """An observation as ``{"observation": ClassName, ...fields}`` (enums as their values)."""
    fields = {
        f.name: (v.value if hasattr(v, "value") else v)
        for f in dataclasses.fields(observation)
        for v in [getattr(observation, f.name)]
    }
    return {"observation": type(observation).__name__, **fields}


def expected_observations(transcript: Transcript) -> list[dict[str, Any]]:
    """The expected list, each entry completed with its dataclass defaults."""
    found = []
    for entry in transcript.expected:
        fields = dict(entry)
        cls = _TYPES[fields.pop("type")]
        if _FIELD_TYPE in fields:
            fields["type"] = fields.pop(_FIELD_TYPE)
        if cls is obs_types.OutputChunk and "kind" in fields:
            fields["kind"] = obs_types.OutputKind(fields["kind"])
        found.append(as_dict(cls(**fields)))
    return found


def same(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """Equal lists of observation dicts, floats compared to 1e-9 relative."""
    if len(actual) != len(expected):
        return False
    for a, e in zip(actual, expected, strict=True):
        if a.keys() != e.keys():
            return False
        for key, value in a.items():
            other = e[key]
            if isinstance(value, float) and isinstance(other, (int, float)):
                if not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif value != other:
                return False
    return True


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
    """Assert the transcript yields its expected observations whole, byte by byte and split."""
    want = expected_observations(load(path))
    ways: list[tuple[str, Callable[[bytes], Iterable[bytes]] | None]] = [
        ("whole", None),
        ("byte by byte", bytewise),
    ]
    ways += [(f"split (seed {seed})", random_chunks(seed)) for seed in seeds]
    for label, chunks in ways:
        got = [as_dict(o) for o in observe_transcript(path, chunks=chunks)]
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
