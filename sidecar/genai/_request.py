"""Body readers shared by the dialects: text of a content value, output type, route, counts.

Request content for opt-in capture is shaped in :mod:`sidecar.genai.content`. Nothing here
raises on odd input.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai import _fields

#: Content-part types whose ``text`` is prompt text.
_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})

#: ``response_format.type`` (and Responses ``text.format.type``) -> ``gen_ai.output.type``.
_OUTPUT_TYPES: Final = {"json_object": "json", "json_schema": "json", "text": "text"}


def content_text(content: Any) -> str | None:
    """The text of a message's content, or ``None`` when it has no text part."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = [
        part["text"]
        for part in content
        if isinstance(part, dict)
        and isinstance(part.get("text"), str)
        and part.get("type", "text") in _TEXT_PARTS
    ]
    return "\n".join(texts) if texts else None


def output_type(fmt: Any) -> str | None:
    """``{"type": "json_schema" | "json_object" | "text"}`` -> ``json`` / ``text``."""
    kind = _fields.get_str(fmt, "type")
    return _OUTPUT_TYPES.get(kind) if kind is not None else None


def route(path: str) -> str:
    """The request path without query string, fragment or trailing slash."""
    return path.partition("?")[0].partition("#")[0].rstrip("/")


def non_negative(value: int | None) -> int | None:
    """A count where a negative value means "unlimited" or "random" (``num_predict: -1``)."""
    return value if value is not None and value >= 0 else None


def text_of(content: Any) -> str | None:
    """Text of a message's content: a string, or the ``text`` of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _fields.get_str(content, "text")
    if isinstance(content, list):
        found = [text for part in content if (text := text_of(part)) is not None]
        return "".join(found) if found else None
    return None
