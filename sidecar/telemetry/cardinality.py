"""Cardinality guard for metric attributes.

Each guarded attribute keeps at most ``max_values`` distinct values; once full, a new value is
reported as ``_OTHER`` (values already admitted keep their name). An allow-list, when given, pins
the model attributes: only listed model names appear, every other becomes ``_OTHER``. Runs on the
event-loop thread only, so it needs no lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.genai.accumulator import MAX_VALUE_CHARS
from sidecar.telemetry import semconv

#: Attributes whose value is a model name (subject to the allow-list).
MODEL_ATTRIBUTES = frozenset({semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL})


class CardinalityGuard:
    """Caps the distinct values of each metric attribute."""

    def __init__(self, max_values: int, model_allow_list: Iterable[str] = ()) -> None:
        self._max = max(0, max_values)
        self._allow = frozenset(model_allow_list)
        self._seen: dict[str, set[str]] = {}

    def value(self, key: str, value: str) -> str:
        """``value`` if ``key`` may carry it, else ``_OTHER``."""
        if self._allow and key in MODEL_ATTRIBUTES:
            return value if value in self._allow else semconv.OTHER
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = set()
        if value in seen:
            return value
        if len(seen) >= self._max or len(value) > MAX_VALUE_CHARS:
            return semconv.OTHER
        seen.add(value)
        return value

    def distinct(self, key: str) -> int:
        """How many distinct values ``key`` has admitted so far."""
        return len(self._seen.get(key, ()))
