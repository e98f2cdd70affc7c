"""Request-body readers shared by the OpenAI-family and Anthropic dialects.

Content is read best effort for opt-in capture: a string, or the text of the text parts of a
content list (``text``, ``input_text``, ``output_text``); images, audio and tool payloads are
left out. Nothing here raises on odd input.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai import _fields
from sidecar.genai.observations import Message

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


def messages(items: Any) -> tuple[Message, ...]:
    """``[{"role": ..., "content": ...}, ...]`` -> messages with text; other items are skipped."""
    if not isinstance(items, list):
        return ()
    found: list[Message] = []
    for item in items:
        role = _fields.get_str(item, "role")
        if role is None:
            continue
        text = content_text(item.get("content"))
        if text is not None:
            found.append(Message(role=role, content=text))
    return tuple(found)


def texts(value: Any) -> tuple[str, ...]:
    """A string, or the text of a list of text blocks, as a tuple of instructions."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(
            block["text"] for block in value if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return ()


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


def split_messages(
    items: list[Any] | None, *, system_roles: frozenset[str] = frozenset({"system"})
) -> tuple[tuple[str, ...], tuple[Message, ...]]:
    """System instructions and input messages of a native chat request (best effort, text only)."""
    system: list[str] = []
    inputs: list[Message] = []
    for item in items or ():
        role = _fields.get_str(item, "role")
        content = text_of(item.get("content")) if isinstance(item, dict) else None
        if role is None or content is None:
            continue
        if role in system_roles:
            system.append(content)
        else:
            inputs.append(Message(role=role, content=content))
    return tuple(system), tuple(inputs)
