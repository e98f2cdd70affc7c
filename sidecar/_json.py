"""The one place that imports orjson: every other module parses and writes JSON through here."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse one JSON document; raises :class:`JSONDecodeError` on bad input."""
    return orjson.loads(data)


def dumps(obj: Any) -> bytes:
    """Serialise ``obj`` to compact UTF-8 JSON bytes."""
    return orjson.dumps(obj)


def dumps_str(obj: Any) -> str:
    """Serialise ``obj`` to a compact JSON string."""
    return orjson.dumps(obj).decode()
