"""Request content in the semantic-convention shape, read only when opt-in capture asks for it.

A dialect's ``read_request`` attaches a :class:`RequestContent` (the parsed body and its format);
nothing is built unless capture is on. The shapes follow the GenAI JSON schemas
(``gen-ai-input-messages.json``, ``gen-ai-system-instructions.json``,
``gen-ai-tool-definitions.json``):

* every message keeps its place and role in ``gen_ai.input.messages``, ``system`` and ``developer``
  messages included; ``gen_ai.system_instructions`` holds only a separate field (Anthropic
  ``system``, Responses ``instructions``, Gemini ``systemInstruction``, Ollama generate ``system``);
* parts: ``text``; ``tool_call`` (``id``, ``name``, ``arguments`` as the object the JSON string
  encodes, the string itself when it is not JSON); ``tool_call_response`` (``id``, ``response``);
  ``reasoning``; images and audio as ``uri`` parts (a URL) or ``blob`` parts (inline base64, at
  most :data:`MAX_BLOB_CHARS`: a larger one keeps its modality and type with an empty
  ``content`` and ``"truncated": true``);
* tool definitions: ``{"type": "function", "name", "description", "parameters"}``; a provider's
  built-in tool as ``{"type": <its type>, "name": <its type or name>}``.

Nothing here raises on odd input: what does not fit a shape is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from sidecar import _json
from sidecar.genai._fields import get_dict, get_list, get_str, proto_field

#: Characters of inline base64 data kept in a ``blob`` part.
MAX_BLOB_CHARS: Final = 8192
#: Messages, parts and tools read from one request (the rest is not captured).
MAX_ITEMS: Final = 1024

ContentFormat = Literal[
    "openai_chat", "openai_responses", "anthropic", "ollama", "gemini", "cohere", "prompt"
]
Part = dict[str, Any]
Message = dict[str, Any]


def _dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value[:MAX_ITEMS] if isinstance(item, dict)]


def text_part(text: str) -> Part:
    return {"type": "text", "content": text}


def _arguments(value: Any) -> Any:
    """Tool-call arguments as the spec wants them: an object (decoded from the JSON string the
    provider sends), else the value as given."""
    if isinstance(value, str):
        try:
            decoded = _json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, dict) else value
    return value


def tool_call(call_id: Any, name: Any, arguments: Any) -> Part:
    part: Part = {"type": "tool_call", "name": name if isinstance(name, str) else ""}
    if isinstance(call_id, str):
        part["id"] = call_id
    if arguments is not None:
        part["arguments"] = _arguments(arguments)
    return part


def tool_response(call_id: Any, response: Any) -> Part:
    part: Part = {"type": "tool_call_response", "response": _response(response)}
    if isinstance(call_id, str):
        part["id"] = call_id
    return part


def _response(value: Any) -> Any:
    """A tool result: a string stays a string; a list of text blocks becomes their text."""
    if isinstance(value, list):
        texts = [t for block in _dicts(value) if (t := get_str(block, "text")) is not None]
        if len(texts) == len(value):
            return "".join(texts)
    return value


def _modality(mime: str | None, default: str) -> str:
    if mime:
        head = mime.split("/", 1)[0]
        if head in ("image", "audio", "video"):
            return head
    return default


def blob(data: Any, mime: str | None, modality: str) -> Part | None:
    if not isinstance(data, str):
        return None
    part: Part = {"type": "blob", "modality": _modality(mime, modality)}
    if mime:
        part["mime_type"] = mime
    if len(data) > MAX_BLOB_CHARS:
        part["content"] = ""
        part["truncated"] = True
    else:
        part["content"] = data
    return part


def uri(url: Any, mime: str | None, modality: str) -> Part | None:
    """A URL reference; a ``data:`` URL is inline data, so a ``blob``."""
    if not isinstance(url, str):
        return None
    if url.startswith("data:"):
        head, _, data = url[5:].partition(",")
        return blob(data, head.split(";", 1)[0] or mime, modality)
    part: Part = {"type": "uri", "modality": _modality(mime, modality), "uri": url}
    if mime:
        part["mime_type"] = mime
    return part


# ------------------------------------------------------------------- per format


def _openai_part(part: dict[str, Any]) -> Part | None:
    kind = part.get("type", "text")
    text = get_str(part, "text")
    if kind in ("text", "input_text", "output_text") and text is not None:
        return text_part(text)
    if kind == "refusal" and get_str(part, "refusal") is not None:
        return text_part(part["refusal"])
    if kind == "image_url":
        return uri(get_str(get_dict(part, "image_url"), "url"), None, "image")
    if kind == "input_image":
        return uri(part.get("image_url"), None, "image")
    if kind == "input_audio":
        audio = get_dict(part, "input_audio") or part
        fmt = get_str(audio, "format")
        return blob(audio.get("data"), f"audio/{fmt}" if fmt else None, "audio")
    return None


def _parts(content: Any, read_part: Callable[[dict[str, Any]], Part | None]) -> list[Part]:
    if isinstance(content, str):
        return [text_part(content)]
    return [p for item in _dicts(content) if (p := read_part(item)) is not None]


def _openai_messages(items: Any) -> list[Message]:
    """OpenAI chat (and Cohere v2, Ollama chat): every message in order."""
    out: list[Message] = []
    for item in _dicts(items):
        role = get_str(item, "role")
        if role is None:
            continue
        if role == "tool":
            parts = [tool_response(item.get("tool_call_id"), item.get("content"))]
        else:
            parts = _parts(item.get("content"), _openai_part)
            for image in (get_list(item, "images") or [])[:MAX_ITEMS]:  # Ollama: base64 images
                found = blob(image, None, "image")
                if found is not None:
                    parts.append(found)
            for call in _dicts(item.get("tool_calls")):
                function = get_dict(call, "function") or {}
                parts.append(tool_call(call.get("id"), function.get("name"), function.get("arguments")))
        out.append({"role": role, "parts": parts})
    return out


def _responses_input(value: Any) -> list[Message]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [text_part(value)]}]
    out: list[Message] = []
    for item in _dicts(value):
        kind = item.get("type", "message")
        if kind == "function_call":
            call = tool_call(item.get("call_id"), item.get("name"), item.get("arguments"))
            out.append({"role": "assistant", "parts": [call]})
        elif kind == "function_call_output":
            out.append({"role": "tool", "parts": [tool_response(item.get("call_id"), item.get("output"))]})
        elif kind == "message" and (role := get_str(item, "role")) is not None:
            out.append({"role": role, "parts": _parts(item.get("content"), _openai_part)})
    return out


def _anthropic_part(block: dict[str, Any]) -> Part | None:
    kind = block.get("type")
    if kind == "text" and get_str(block, "text") is not None:
        return text_part(block["text"])
    if kind == "thinking" and get_str(block, "thinking") is not None:
        return {"type": "reasoning", "content": block["thinking"]}
    if kind == "tool_use":
        return tool_call(block.get("id"), block.get("name"), block.get("input"))
    if kind == "tool_result":
        return tool_response(block.get("tool_use_id"), block.get("content"))
    if kind in ("image", "document"):
        source = get_dict(block, "source") or {}
        modality = "image" if kind == "image" else "document"
        if source.get("type") == "base64":
            return blob(source.get("data"), get_str(source, "media_type"), modality)
        if source.get("type") == "url":
            return uri(source.get("url"), None, modality)
    return None


def _anthropic_messages(items: Any) -> list[Message]:
    out: list[Message] = []
    for item in _dicts(items):
        role = get_str(item, "role")
        if role is not None:
            out.append({"role": role, "parts": _parts(item.get("content"), _anthropic_part)})
    return out


def _gemini_part(part: dict[str, Any]) -> Part | None:
    if get_str(part, "text") is not None:
        return (
            {"type": "reasoning", "content": part["text"]} if part.get("thought") else text_part(part["text"])
        )
    inline = proto_field(part, "inlineData", "inline_data")
    if isinstance(inline, dict):
        mime = proto_field(inline, "mimeType", "mime_type")
        return blob(inline.get("data"), mime if isinstance(mime, str) else None, "image")
    file = proto_field(part, "fileData", "file_data")
    if isinstance(file, dict):
        mime = proto_field(file, "mimeType", "mime_type")
        return uri(proto_field(file, "fileUri", "file_uri"), mime if isinstance(mime, str) else None, "image")
    call = proto_field(part, "functionCall", "function_call")
    if isinstance(call, dict):
        return tool_call(call.get("id"), call.get("name"), call.get("args"))
    result = proto_field(part, "functionResponse", "function_response")
    if isinstance(result, dict):
        return tool_response(result.get("id"), result.get("response"))
    return None


def _gemini_messages(body: Any) -> list[Message]:
    out: list[Message] = []
    for content in _dicts(proto_field(body, "contents", "contents")):
        parts = [p for item in _dicts(content.get("parts")) if (p := _gemini_part(item)) is not None]
        out.append({"role": get_str(content, "role") or "user", "parts": parts})
    return out


def _system_parts(value: Any) -> list[Part]:
    """A separate system field: a string, a list of text blocks, or a Gemini ``Content``."""
    if isinstance(value, str):
        return [text_part(value)]
    if isinstance(value, dict):
        value = value.get("parts")
    return [text_part(t) for block in _dicts(value) if (t := get_str(block, "text")) is not None]


def _function_tool(name: Any, description: Any, parameters: Any) -> dict[str, Any] | None:
    if not isinstance(name, str):
        return None
    tool: dict[str, Any] = {"type": "function", "name": name}
    if isinstance(description, str):
        tool["description"] = description
    if isinstance(parameters, dict):
        tool["parameters"] = parameters
    return tool


def _tool(item: dict[str, Any]) -> list[dict[str, Any]]:
    function = get_dict(item, "function")
    if function is not None:  # OpenAI chat, Ollama, Cohere
        found = _function_tool(function.get("name"), function.get("description"), function.get("parameters"))
        return [found] if found else []
    declarations = proto_field(item, "functionDeclarations", "function_declarations")
    if isinstance(declarations, list):  # Gemini
        return [
            t
            for d in _dicts(declarations)
            if (t := _function_tool(d.get("name"), d.get("description"), d.get("parameters")))
        ]
    kind = get_str(item, "type")
    if kind in (None, "function", "custom") and "input_schema" in item:  # Anthropic
        found = _function_tool(item.get("name"), item.get("description"), item.get("input_schema"))
        return [found] if found else []
    if kind == "function":  # Responses
        found = _function_tool(item.get("name"), item.get("description"), item.get("parameters"))
        return [found] if found else []
    if kind is not None:  # a provider's built-in tool (web search, code execution...)
        return [{"type": kind, "name": get_str(item, "name") or kind}]
    return []


@dataclass(frozen=True, slots=True)
class RequestContent:
    """A request's content, kept as parsed and shaped only on demand (opt-in capture)."""

    format: ContentFormat
    body: dict[str, Any]

    def input_messages(self) -> list[Message]:
        body = self.body
        if self.format in ("openai_chat", "cohere", "ollama") and "messages" in body:
            return _openai_messages(body.get("messages"))
        if self.format == "openai_responses":
            return _responses_input(body.get("input"))
        if self.format == "anthropic":
            return _anthropic_messages(body.get("messages"))
        if self.format == "gemini":
            return _gemini_messages(body)
        return _prompt_messages(body)

    def system_instructions(self) -> list[Part]:
        body = self.body
        if self.format == "anthropic":
            return _system_parts(body.get("system"))
        if self.format == "openai_responses":
            return _system_parts(body.get("instructions"))
        if self.format == "gemini":
            return _system_parts(proto_field(body, "systemInstruction", "system_instruction"))
        if self.format == "ollama" and "messages" not in body:  # /api/generate's system field
            return _system_parts(body.get("system"))
        return []

    def tool_definitions(self) -> list[dict[str, Any]]:
        return [tool for item in _dicts(self.body.get("tools")) for tool in _tool(item)]


def _prompt_messages(body: dict[str, Any]) -> list[Message]:
    """A completion prompt (``prompt`` / ``inputs``): one user message per prompt string."""
    prompt = body.get("prompt", body.get("inputs"))
    prompts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, list) else []
    out: list[Message] = []
    for text in prompts[:MAX_ITEMS]:
        if isinstance(text, str) and text:
            parts: list[Part] = [text_part(text)]
            for image in (get_list(body, "images") or [])[:MAX_ITEMS]:  # Ollama generate
                found = blob(image, None, "image")
                if found is not None:
                    parts.append(found)
            out.append({"role": "user", "parts": parts})
    return out
