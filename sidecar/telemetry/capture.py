"""Opt-in capture of prompt and completion content, redacted and truncated before export.

Off by default (``NO_CONTENT``); the recorder asks :attr:`ContentCapture.enabled` (and whether the
span records) before anything here is built. Content takes the semantic-convention JSON shape:
``gen_ai.input.messages``, ``gen_ai.system_instructions`` and ``gen_ai.tool.definitions`` as
:mod:`sidecar.genai.content` reads them from the request; ``gen_ai.output.messages`` = one
assistant message per choice that produced output, reassembled from the stream (none for a call
that got no response): reasoning, text, and one ``tool_call`` part per tool call with its id, name
and arguments. On spans each is a JSON string; on the
``gen_ai.client.inference.operation.details`` event it is structured.

Every content string (anything but structure: ``type``, ``role``, ``id``, ``name``, ...; inside
tool-call ``arguments`` and a tool's ``response`` every string, whatever its key) passes
the redaction patterns (built-in: credentials, keys, tokens, e-mail addresses; plus configured
regexes) *before* it is truncated, so a cut never splits a secret out of reach of
its pattern. Request headers (where credentials live) are never captured.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from sidecar import _json
from sidecar.config import CaptureConfig
from sidecar.genai.content import tool_call
from sidecar.genai.observations import CapturedChoice, CapturedToolCall, OutputKind, RequestInfo
from sidecar.telemetry import semconv

REDACTED: Final = "[REDACTED]"
TRUNCATED: Final = "...[truncated]"

#: Names whose value is a credential, in ``name=value``, ``name: value`` and JSON/YAML forms.
_SECRET_NAMES: Final = (
    r"api[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|client[_-]?secret"
    r"|secret[_-]?key|aws_secret_access_key|secret|password|passwd"
)

#: Built-in patterns: credentials and personal data that must not leave the process. A pattern
#: with a group named ``secret`` replaces only that group (the label stays readable).
BUILTIN_PATTERNS: Final[tuple[str, ...]] = (
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
    r"(?i)\bbasic\s+[A-Za-z0-9+/=]{8,}",
    r"\bsk-[A-Za-z0-9_-]{16,}",  # OpenAI / Anthropic style secret keys
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"\bAIza[0-9A-Za-z_-]{35}\b",  # Google API keys
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{22,}",  # GitHub fine-grained tokens
    r"\bhf_[A-Za-z0-9]{30,}\b",  # Hugging Face tokens
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack tokens
    # JSON web tokens: base64url header and payload (both start {" -> eyJ) and a signature.
    r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
    # PEM private keys (RSA, EC, OPENSSH, ENCRYPTED, PKCS#8), up to END or, cut, to the end.
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[\s\S]*\Z)",
    # Quoted values: "api_key": "...", password = 'two words', aws_secret_access_key: "..."
    rf"""(?i)(["']?)\b(?:{_SECRET_NAMES})\b\1\s*[:=]\s*(["'])(?P<secret>(?:\\.|(?!\2)[^\\\n])+)\2""",
    # Bare values: password=hunter2, api-key: abc, aws_secret_access_key=...
    rf"""(?i)\b(?:{_SECRET_NAMES})\b\s*[:=]\s*(?P<secret>[^\s,;"']+)""",
    r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",  # e-mail addresses
)

#: Keys whose string values are structure, never content: kept as they are (not redacted, not
#: truncated). Every other string in a captured value is content.
_STRUCTURE_KEYS: Final = frozenset({"type", "role", "id", "name", "mime_type", "modality", "finish_reason"})
#: Keys whose whole value is content (tool-call arguments, tool results): every string below them
#: is content, whatever key holds it (an argument named ``id`` or ``name`` is redacted too).
_PAYLOAD_KEYS: Final = frozenset({"arguments", "response"})
#: The key every value below a payload key is read under.
_IN_PAYLOAD: Final = "\0payload"
#: Characters of output text kept per choice while the stream runs (bounded memory).
_PART_SLACK: Final = 256


def _redact(match: re.Match[str]) -> str:
    """The match replaced by ``[REDACTED]``; only its ``secret`` group when it has one."""
    if "secret" in match.re.groupindex and match.group("secret") is not None:
        start, end = match.span("secret")
        whole = match.group(0)
        offset = match.start(0)
        return whole[: start - offset] + REDACTED + whole[end - offset :]
    return REDACTED


class Redactor:
    """Replaces every match of the built-in and configured patterns with ``[REDACTED]`` (only
    the ``(?P<secret>...)`` group of a pattern that names one)."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._patterns = [re.compile(p) for p in (*BUILTIN_PATTERNS, *extra_patterns)]

    def __call__(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(_redact, text)
        return text


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    keep = max(0, max_bytes - len(TRUNCATED))
    return data[:keep].decode(errors="ignore") + TRUNCATED


def _child(key: str | None, name: str) -> str:
    """The key an item ``name`` of a dict held under ``key`` is read under."""
    return _IN_PAYLOAD if key == _IN_PAYLOAD or key in _PAYLOAD_KEYS else name


def _texts(value: Any, key: str | None = None) -> list[str]:
    """Every content string inside a captured structure (in document order)."""
    if isinstance(value, str):
        return [] if key in _STRUCTURE_KEYS else [value]
    out: list[str] = []
    if isinstance(value, dict):
        for name, item in value.items():
            out.extend(_texts(item, _child(key, name)))
    elif isinstance(value, list):
        for item in value:
            out.extend(_texts(item, key))
    return out


def _with_texts(value: Any, texts: Iterator[str], key: str | None = None) -> Any:
    """A copy of ``value`` with its content strings replaced, in order, from ``texts``."""
    if isinstance(value, str):
        return value if key in _STRUCTURE_KEYS else next(texts)
    if isinstance(value, dict):
        return {name: _with_texts(item, texts, _child(key, name)) for name, item in value.items()}
    if isinstance(value, list):
        return [_with_texts(item, texts, key) for item in value]
    return value


def fit(structure: list[Any], max_bytes: int) -> list[Any]:
    """Shrink the content strings of ``structure`` until its JSON fits in ``max_bytes``,
    keeping the JSON structure valid. Later texts are cut first; if even empty texts do not fit,
    trailing entries are dropped."""
    if len(_json.dumps(structure)) <= max_bytes:
        return structure
    items = list(structure)
    while items:
        texts = _texts(items)
        skeleton = _with_texts(items, iter(["" for _ in texts]))
        overhead = len(_json.dumps(skeleton)) + len(TRUNCATED) * len(texts)
        if overhead <= max_bytes:
            break
        items.pop()
    if not items:
        return []
    budget = max_bytes - len(_json.dumps(_with_texts(items, iter(["" for _ in _texts(items)]))))
    for _ in range(8):
        remaining = budget
        shrunk: list[str] = []
        for text in _texts(items):
            size = len(_json.dumps(text)) - 2
            if size <= remaining:
                shrunk.append(text)
                remaining -= size
            else:
                shrunk.append(_truncate_utf8(text, max(0, remaining)))
                remaining = 0
        candidate: list[Any] = _with_texts(items, iter(shrunk))
        excess = len(_json.dumps(candidate)) - max_bytes
        if excess <= 0:
            return candidate
        budget -= excess
    emptied: list[Any] = _with_texts(items, iter(["" for _ in _texts(items)]))
    return emptied


def tool_call_part(call: CapturedToolCall) -> dict[str, Any]:
    """A captured tool call as a ``tool_call`` part: its id, its name (``""`` when the provider
    named none: the schema requires one) and its arguments as :func:`~sidecar.genai.content.tool_call`
    reads them (the object the JSON text encodes, else the text as it is: not JSON, or cut at
    the capture bound, which also sets ``"truncated": true``); no ``arguments`` when none came."""
    part = tool_call(call.id, call.name or "", call.arguments or None)
    if call.truncated:
        part["truncated"] = True
    return part


def output_messages(
    choices: Mapping[int, CapturedChoice], finish_reasons: Mapping[int, str]
) -> list[dict[str, Any]]:
    """One assistant message per choice that produced output: reasoning, text, then each tool
    call."""
    out: list[dict[str, Any]] = []
    for choice in sorted(choices):
        captured = choices[choice]
        message_parts: list[dict[str, Any]] = []
        if captured.reasoning:
            message_parts.append({"type": OutputKind.REASONING.value, "content": captured.reasoning})
        if captured.text:
            message_parts.append({"type": OutputKind.TEXT.value, "content": captured.text})
        message_parts.extend(tool_call_part(call) for call in captured.tool_calls)
        if not message_parts:
            continue
        message: dict[str, Any] = {"role": "assistant", "parts": message_parts}
        message["finish_reason"] = finish_reasons.get(choice, "error")
        out.append(message)
    return out


class ContentCapture:
    """Gating, shaping, redaction and truncation of captured content for one process."""

    def __init__(self, config: CaptureConfig) -> None:
        self.mode = config.mode
        self.max_bytes = config.max_bytes
        self.on_span = config.mode in ("SPAN_ONLY", "SPAN_AND_EVENT")
        self.on_event = config.mode in ("EVENT_ONLY", "SPAN_AND_EVENT")
        self.enabled = self.on_span or self.on_event
        self._redact = Redactor(config.redact_patterns)

    @property
    def output_chars(self) -> int:
        """Characters of output text kept per choice and kind while a stream runs (bounded
        memory; anything beyond cannot survive truncation anyway)."""
        return self.max_bytes + _PART_SLACK

    def _shape(self, structure: list[Any]) -> list[Any]:
        texts = [self._redact(t) for t in _texts(structure)]
        return fit(_with_texts(structure, iter(texts)), self.max_bytes)

    def input_content(self, request: RequestInfo) -> dict[str, list[Any]]:
        """Structured input content: system instructions, input messages and tool definitions
        (redacted, fitted), each only when the request has some."""
        content = request.content
        if content is None:
            return {}
        out: dict[str, list[Any]] = {}
        for key, value in (
            (semconv.GEN_AI_SYSTEM_INSTRUCTIONS, content.system_instructions()),
            (semconv.GEN_AI_INPUT_MESSAGES, content.input_messages()),
            (semconv.GEN_AI_TOOL_DEFINITIONS, content.tool_definitions()),
        ):
            if value:
                out[key] = self._shape(value)
        return out

    def output_content(
        self, choices: Mapping[int, CapturedChoice], finish_reasons: Mapping[int, str]
    ) -> dict[str, list[Any]]:
        """Structured output content: the reassembled assistant messages (redacted, fitted)."""
        messages = output_messages(choices, finish_reasons)
        if not messages:
            return {}
        return {semconv.GEN_AI_OUTPUT_MESSAGES: self._shape(messages)}


def as_span_attributes(content: Mapping[str, Sequence[Any]]) -> dict[str, str]:
    """Content attributes as JSON strings (the span form)."""
    return {key: _json.dumps_str(value) for key, value in content.items()}
