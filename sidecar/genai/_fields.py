"""Tolerant readers for fields of parsed JSON. Wire formats vary; a wrong type yields ``None``."""

from __future__ import annotations

from typing import Any

from sidecar import _json


def parse_object(data: bytes | str) -> dict[str, Any] | None:
    """Parse a JSON document and return it if it is an object, else ``None`` (never raises)."""
    try:
        value = _json.loads(data)
    except _json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def proto_field(obj: Any, camel: str, snake: str) -> Any:
    """A field of a proto-JSON object, which accepts lowerCamelCase and snake_case names alike."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(camel)
    return value if value is not None else obj.get(snake)


def get_dict(obj: Any, key: str) -> dict[str, Any] | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else None


def get_list(obj: Any, key: str) -> list[Any] | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else None


def get_str(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def get_int(obj: Any, key: str) -> int | None:
    """An integer field; bools are not integers here, and integral floats are accepted."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def get_float(obj: Any, key: str) -> float | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def get_bool(obj: Any, key: str) -> bool | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, bool) else None


def get_stop(obj: Any, key: str) -> tuple[str, ...] | None:
    """Stop sequences given as one string or a list of strings."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        items = tuple(v for v in value if isinstance(v, str))
        return items or None
    return None
