"""Typed reads from a request's JSON body, without trusting its shape."""

from __future__ import annotations

from collections.abc import Mapping

from sidecar import _json


class BodyError(ValueError):
    """The request body is not a JSON object (answered with 400 in the API's error format)."""


def parse_object(raw: bytes) -> dict[str, object]:
    """Parse ``raw`` as a JSON object; an empty body counts as ``{}``."""
    if not raw.strip():
        return {}
    try:
        value: object = _json.loads(raw)
    except _json.JSONDecodeError as exc:
        raise BodyError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BodyError("request body must be a JSON object")
    return {str(k): v for k, v in value.items()}


def get_str(body: Mapping[str, object], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def get_int(body: Mapping[str, object], key: str) -> int | None:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def get_bool(body: Mapping[str, object], key: str, default: bool) -> bool:
    value = body.get(key)
    return value if isinstance(value, bool) else default


def get_map(body: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = body.get(key)
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return {}


def first_tool_name(tools: object) -> str | None:
    """Name of the first declared tool, in OpenAI (``function.name``) or flat (``name``) shape."""
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], Mapping):
        return None
    tool = tools[0]
    function = tool.get("function")
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        return str(function["name"])
    name = tool.get("name")
    return name if isinstance(name, str) else None
