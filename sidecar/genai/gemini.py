"""Google Gemini ``models/{model}:generateContent`` and ``:streamGenerateContent``.

Wire facts (ai.google.dev API reference ``GenerateContentResponse``; SEMCONV.md section 4.8): the
request model is in the path, not the body; ``:streamGenerateContent`` streams either SSE
(``?alt=sse``) or one JSON array whose elements arrive one by one -- both reach the observer as
one JSON object per event. Each object has ``candidates[]`` (``index``, omitted when 0;
``content.parts[]`` with ``text`` (``thought: true`` marks reasoning) or ``functionCall``;
``finishReason``), ``usageMetadata``, ``modelVersion`` and ``responseId``; a blocked prompt has
``promptFeedback.blockReason`` and no candidates. Errors are ``{"error": {"code", "message",
"status"}}``.

Usage (``usageMetadata``, the latest chunk's values replace earlier ones): input =
``promptTokenCount`` (cached content included), output = ``candidatesTokenCount +
thoughtsTokenCount`` (candidates exclude thoughts), cache read = ``cachedContentTokenCount``,
reasoning = ``thoughtsTokenCount``. The breakdowns by modality (``promptTokensDetails``,
``candidatesTokensDetails``, ``cacheTokensDetails``: ``[{modality, tokenCount}]``) are read from
the final object (the one with the finish reason); ``TEXT``, ``IMAGE`` and ``AUDIO`` are kept.

Called as Google's own SDKs call it (``$alt=json;enum-encoding=int``), ``finishReason`` and
``blockReason`` are numbers (1 = ``STOP``): they are read by the proto's enum numbers.

There is no terminal sentinel. The stream is complete when every requested candidate
(``candidateCount``, default 1) has reported a ``finishReason``, or when the prompt was blocked.

Finish reasons are the provider's own value, as sent (``STOP``, ``MAX_TOKENS``, ``SAFETY``, ...;
a number by the proto's enum name, a number the table does not know as its decimal digits). A
blocked prompt reports its ``blockReason`` (``SAFETY``, ``BLOCKLIST``, ...).
:mod:`sidecar.genai.finish` gives the counter its normalised label.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sidecar.genai._fields import get_dict, get_float, get_int, get_list, get_stop, get_str, proto_field
from sidecar.genai._request import route
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import (
    Modality,
    ModalityCounts,
    Operation,
    OutputKind,
    RequestInfo,
    modality_counts,
)
from sidecar.genai.observer import Observer, first_output, list_of_dicts, native_error
from sidecar.wire.events import SSEMessage

_PATH: Final = re.compile(r"(?:^|/)(?:models|tunedModels)/([^/:?]+):(\w+)")
_OUTPUT_TYPES: Final = {"application/json": "json", "text/plain": "text"}


#: ``Candidate.FinishReason`` by number, for ``$alt=json;enum-encoding=int`` (as Google's own SDKs
#: call the API): googleapis ``google/ai/generativelanguage/v1beta/generative_service.proto``.
_FINISH_NUMBERS: Final = (
    "FINISH_REASON_UNSPECIFIED",
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "OTHER",
    "LANGUAGE",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "IMAGE_SAFETY",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
)
#: ``PromptFeedback.BlockReason`` by number.
_BLOCK_NUMBERS: Final = (
    "BLOCK_REASON_UNSPECIFIED",
    "SAFETY",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "IMAGE_SAFETY",
)


#: ``ModalityTokenCount.modality`` by number (``google/ai/generativelanguage/v1beta/content.proto``
#: ``Modality``), and the names read as a token modality (video and document tokens are not one
#: of the conventions' modalities: they stay in the rest, reported as ``unknown``).
_MODALITY_NUMBERS: Final = ("MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "VIDEO", "AUDIO", "DOCUMENT")
_MODALITIES: Final = {"TEXT": Modality.TEXT, "IMAGE": Modality.IMAGE, "AUDIO": Modality.AUDIO}


def _modalities(meta: dict[str, Any], key: str) -> ModalityCounts | None:
    """A ``[{modality, tokenCount}]`` breakdown as modality counts (None when absent)."""
    entries = get_list(meta, key)
    if entries is None:
        return None
    pairs: list[tuple[Modality, int | None]] = []
    for entry in entries:
        name = enum_name(entry.get("modality"), _MODALITY_NUMBERS) if isinstance(entry, dict) else None
        modality = _MODALITIES.get(name) if name is not None else None
        if modality is not None:
            pairs.append((modality, get_int(entry, "tokenCount")))
    return modality_counts(pairs)


def enum_name(value: Any, names: tuple[str, ...]) -> str | None:
    """A proto enum field as its name: a string as it is, a number (int encoding) by ``names``
    (a number this table does not know as its digits, never a guessed name); 0, the unspecified
    value, is no value."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return names[value] if value < len(names) else str(value)
    return None


def _int(obj: Any, camel: str, snake: str) -> int | None:
    return get_int({"v": proto_field(obj, camel, snake)}, "v")


def _float(obj: Any, camel: str, snake: str) -> float | None:
    return get_float({"v": proto_field(obj, camel, snake)}, "v")


class GeminiObserver(Observer):
    """``GenerateContentResponse`` objects: SSE messages, JSON-array elements or one body."""

    __slots__ = ("_finished",)

    def __init__(
        self, request: RequestInfo, *, streaming: bool, accumulator: CallAccumulator | None = None
    ) -> None:
        super().__init__(request, streaming=streaming, accumulator=accumulator)
        self._finished: set[int] = set()

    def _on_value(self, value: Any, message: SSEMessage | None) -> None:
        # A list is a streamed array read as one body (the proxy had no stream hint).
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, dict):
                self._response(item)

    def _response(self, obj: dict[str, Any]) -> None:
        acc = self.acc
        error = native_error(obj.get("error"))
        if error is not None:
            acc.error(*error)
            return
        acc.identify(get_str(obj, "modelVersion"), get_str(obj, "responseId"))
        reasons = False
        for candidate in list_of_dicts(obj, "candidates"):
            choice = get_int(candidate, "index") or 0
            found = self._candidate_output(candidate, choice)
            if found is not None:
                acc.output(found[0], found[1], choice)
            reason = enum_name(candidate.get("finishReason"), _FINISH_NUMBERS)
            if reason:
                acc.finish_reason(reason, choice)
                self._finished.add(choice)
                reasons = True
        feedback = get_dict(obj, "promptFeedback")
        blocked = enum_name(feedback.get("blockReason"), _BLOCK_NUMBERS) if feedback is not None else None
        # The breakdowns by modality: read from the final object only (a finish reason or a
        # blocked prompt), not from every chunk's usageMetadata.
        self._metadata(get_dict(obj, "usageMetadata"), details=reasons or bool(blocked))
        if blocked and not reasons:
            acc.finish_reason(blocked)
        expected = self.request.choice_count or 1
        if blocked or len(self._finished) >= expected:
            acc.terminal()

    def _candidate_output(self, candidate: dict[str, Any], choice: int) -> tuple[OutputKind, str] | None:
        texts: list[str] = []
        thoughts: list[str] = []
        calls = False
        for part in list_of_dicts(get_dict(candidate, "content"), "parts"):
            call = get_dict(part, "functionCall")
            if call is not None:
                calls = True
                if self.acc.capturing:  # each functionCall part is one whole call
                    self.acc.tool_call(
                        None,
                        call_id=call.get("id"),
                        name=call.get("name"),
                        arguments=call.get("args"),
                        choice=choice,
                    )
            text = get_str(part, "text")
            if text:
                (thoughts if part.get("thought") is True else texts).append(text)
        return first_output(tool_calls=calls, text="".join(texts), reasoning="".join(thoughts))

    def _metadata(self, meta: dict[str, Any] | None, *, details: bool) -> None:
        if meta is None:
            return
        if details:
            self.acc.usage(
                input_modalities=_modalities(meta, "promptTokensDetails"),
                output_modalities=_modalities(meta, "candidatesTokensDetails"),
                cache_read_modalities=_modalities(meta, "cacheTokensDetails"),
            )
        candidates = get_int(meta, "candidatesTokenCount")
        thoughts = get_int(meta, "thoughtsTokenCount")
        output = None
        if candidates is not None or thoughts is not None:
            output = (candidates or 0) + (thoughts or 0)
        self.acc.usage(
            input_tokens=get_int(meta, "promptTokenCount"),
            output_tokens=output,
            cache_read_tokens=get_int(meta, "cachedContentTokenCount"),
            reasoning_tokens=thoughts,
        )


class GeminiDialect(ObjectRequestDialect):
    """The ``gemini`` dialect."""

    name: str = "gemini"
    observer_class = GeminiObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        match = _PATH.search(route(path).replace("%3A", ":").replace("%3a", ":"))
        config = proto_field(obj, "generationConfig", "generation_config")
        mime = proto_field(config, "responseMimeType", "response_mime_type")
        return RequestInfo(
            operation=Operation.GENERATE_CONTENT,
            provider=provider,
            model=match.group(1) if match else None,
            stream=match is not None and match.group(2) == "streamGenerateContent",
            temperature=get_float(config, "temperature"),
            top_p=_float(config, "topP", "top_p"),
            top_k=_int(config, "topK", "top_k"),
            max_tokens=_int(config, "maxOutputTokens", "max_output_tokens"),
            stop_sequences=get_stop({"v": proto_field(config, "stopSequences", "stop_sequences")}, "v"),
            seed=get_int(config, "seed"),
            choice_count=_int(config, "candidateCount", "candidate_count"),
            frequency_penalty=_float(config, "frequencyPenalty", "frequency_penalty"),
            presence_penalty=_float(config, "presencePenalty", "presence_penalty"),
            output_type=_OUTPUT_TYPES.get(mime) if isinstance(mime, str) else None,
            content=RequestContent("gemini", obj),
        )


DIALECT: Final = GeminiDialect()
