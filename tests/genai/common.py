"""Helpers the per-dialect tests share: JSON strategies over a dialect's keys, and observer runs.

The native-API tests (Ollama, llama.cpp, TGI, Gemini, Cohere) draw request bodies and response
events from JSON values whose object keys are the dialect's own field names, so that generated
input reaches the dialect's branches. Every test drives an observer the same way: each event in
order, then ``close()``, and compares the final state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis import strategies as st

from sidecar.genai.dialect import Dialect
from sidecar.genai.observations import RequestInfo
from sidecar.genai.observer import Observer
from sidecar.wire.events import JSONDocument, Oversize, SSEMessage, WireEvent
from tests.steps import RecordingAccumulator, State, state_of

#: Leaves of generated JSON: every scalar type, small and large numbers, short strings.
SCALARS: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)

#: Wire events no dialect expects: odd SSE messages, non-JSON documents, an oversize marker.
ODD: st.SearchStrategy[WireEvent] = (
    st.builds(SSEMessage, event=st.text(max_size=8), data=st.text(max_size=20))
    | st.builds(JSONDocument, data=st.binary(max_size=20))
    | st.just(Oversize(size=2, limit=1))
)

_WIRE_TYPES = (SSEMessage, JSONDocument, Oversize)


def json_values(
    keys: st.SearchStrategy[str], leaves: st.SearchStrategy[Any] = SCALARS
) -> st.SearchStrategy[Any]:
    """Nested lists and objects over ``leaves`` whose object keys are drawn from ``keys``."""
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=6),
        max_leaves=12,
    )


def request_bodies_over(keys: Iterable[str]) -> st.SearchStrategy[bytes]:
    """Request bodies: arbitrary bytes, or JSON over ``keys`` (and short random keys)."""
    values = json_values(st.sampled_from(tuple(keys)) | st.text(max_size=4))
    return st.binary(max_size=64) | values.map(encode)


def message_events_over(keys: Iterable[str]) -> st.SearchStrategy[WireEvent]:
    """SSE messages whose data is a JSON value over ``keys``, or a short list of such values."""
    values = json_values(st.sampled_from(tuple(keys)))
    return (values | st.lists(values, max_size=3)).map(as_message)


def encode(body: Any) -> bytes:
    """``body`` as request bytes: bytes stay as they are, anything else is JSON-encoded."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def as_message(value: Any) -> SSEMessage:
    """An unnamed SSE message carrying ``value`` as JSON."""
    return SSEMessage(event="message", data=json.dumps(value))


def as_typed_message(payload: dict[str, Any]) -> SSEMessage:
    """An SSE message named after the payload's ``type`` (``message`` without one)."""
    return SSEMessage(event=str(payload.get("type", "message")), data=json.dumps(payload))


def as_document(value: Any) -> JSONDocument:
    """A JSON document (an NDJSON line or a whole body) carrying ``value``."""
    return JSONDocument(data=json.dumps(value).encode())


def parse_ok(dialect: Dialect, path: str, body: Any, provider: str) -> RequestInfo:
    """``dialect.parse_request`` of ``body`` (JSON-encoded unless bytes), which must be read."""
    info = dialect.parse_request(path, encode(body), provider)
    assert info is not None
    return info


def recording(dialect: Dialect, request: RequestInfo, streaming: bool) -> Observer:
    """A fresh observer of ``dialect`` writing into a :class:`RecordingAccumulator`."""
    return dialect.observer(request, streaming=streaming, accumulator=RecordingAccumulator())


def observe_all(
    observer: Observer,
    items: Iterable[Any],
    wrap: Callable[[Any], WireEvent] = as_message,
) -> State:
    """The final state after every item in order, then ``close()``. The observer must write into
    a :class:`RecordingAccumulator` (see :func:`recording`). Items that are not wire events are
    turned into one with ``wrap``.
    """
    acc = observer.acc
    assert isinstance(acc, RecordingAccumulator)
    for item in items:
        observer.observe(item if isinstance(item, _WIRE_TYPES) else wrap(item))
    observer.close()
    return state_of(acc)
