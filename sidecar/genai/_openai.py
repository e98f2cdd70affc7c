"""What the OpenAI-family dialects share: usage objects, llama.cpp timings, the choices stream.

OpenAI chat and legacy completions stream ``data: {chunk}`` messages ending with
``data: [DONE]``. Each chunk carries ``id`` and ``model``, a list of ``choices`` (each with an
``index``, its delta, and a ``finish_reason`` on its last chunk) and ``usage``, which is null
except on the final usage-only chunk (``stream_options.include_usage``) or on every chunk with
vLLM's ``continuous_usage_stats`` (cumulative, so each usage report replaces the last).
llama.cpp's server adds a ``timings`` object to its last chunk, read as the server timing (and
as the sign that the upstream is llama.cpp, :mod:`sidecar.genai.provider`).

Where no usage object comes, the server's own counts stand in (recorded with their source):
llama.cpp's ``timings.prompt_n`` (+ ``cache_n``, the prompt tokens served from its cache) and
``predicted_n``, sent even without ``include_usage``; Groq's ``x_groq.usage`` on its last chunk.

A stream is complete at ``[DONE]``, or when the body ends after every choice has a finish reason
(Perplexity, Cerebras and others send no ``[DONE]``): every choice seen, and at least the ``n``
the request asked for. A chunk with an ``error`` object fails the call, and the ``usage`` it may
carry as well (OpenRouter) is recorded too.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any, Final

from sidecar.genai import _fields
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.observations import Modality, ModalityCounts, OutputKind, RequestInfo, modality_counts
from sidecar.genai.observer import Observer, error_of, event_error, parse, read_error_body
from sidecar.genai.provider import LLAMA_CPP, is_llamacpp_timings
from sidecar.wire.events import SSEMessage

Outputs = list[tuple[OutputKind, str]]

#: Usage sources of the server counts used when no usage object comes.
TIMINGS: Final = "timings"
X_GROQ: Final = "x_groq.usage"
#: Details keys of the usage breakdown by modality.
_MODALITY_KEYS: Final = (
    (Modality.TEXT, "text_tokens"),
    (Modality.IMAGE, "image_tokens"),
    (Modality.AUDIO, "audio_tokens"),
)


def chat_usage(acc: CallAccumulator, usage: Any) -> None:
    """An OpenAI ``usage`` object (``prompt_tokens`` style) into ``acc``.

    ``prompt_tokens`` already includes ``prompt_tokens_details.cached_tokens``, and
    ``completion_tokens`` includes ``completion_tokens_details.reasoning_tokens``.
    """
    _usage(acc, usage, "prompt_tokens", "completion_tokens")


def responses_usage(acc: CallAccumulator, usage: Any) -> None:
    """A Responses-API usage object (``input_tokens`` style) into ``acc``.

    ``input_tokens`` includes ``input_tokens_details.cached_tokens``.
    """
    _usage(acc, usage, "input_tokens", "output_tokens")


def _usage(acc: CallAccumulator, usage: Any, input_key: str, output_key: str) -> None:
    """Both OpenAI usage styles: the two counts, each with a ``<key>_details`` object holding
    ``cached_tokens`` (input) or ``reasoning_tokens`` (output), and the breakdown by modality
    where the server gives one (``text_tokens``, ``image_tokens``, ``audio_tokens``; for the
    cached input in ``cached_tokens_details``)."""
    if not isinstance(usage, dict):
        return
    input_details = _fields.get_dict(usage, input_key + "_details")
    output_details = _fields.get_dict(usage, output_key + "_details")
    acc.usage(
        input_tokens=_fields.get_int(usage, input_key),
        output_tokens=_fields.get_int(usage, output_key),
        cache_read_tokens=_fields.get_int(input_details, "cached_tokens"),
        reasoning_tokens=_fields.get_int(output_details, "reasoning_tokens"),
        input_modalities=_modalities(input_details),
        output_modalities=_modalities(output_details),
        cache_read_modalities=_modalities(_fields.get_dict(input_details, "cached_tokens_details")),
    )


def _modalities(details: dict[str, Any] | None) -> ModalityCounts | None:
    """The non-zero ``<modality>_tokens`` counts of a details object (None without one)."""
    if details is None:
        return None
    return modality_counts((modality, _fields.get_int(details, key)) for modality, key in _MODALITY_KEYS)


def llamacpp_timings(acc: CallAccumulator, timings: Any) -> None:
    """llama.cpp's ``timings`` (milliseconds) into ``acc`` (seconds).

    Time to first token is the prompt phase (``prompt_ms``); time per output token is
    ``predicted_per_token_ms`` (else ``predicted_ms / predicted_n``); the request duration is
    both phases together. Negative values are ignored. The object names its server
    (:mod:`sidecar.genai.provider`): only chunks that carry it get here.
    """
    if not isinstance(timings, dict):
        return
    if is_llamacpp_timings(timings):
        acc.reveal(LLAMA_CPP)
    prompt_ms = _non_negative(_fields.get_float(timings, "prompt_ms"))
    predicted_ms = _non_negative(_fields.get_float(timings, "predicted_ms"))
    per_token_ms = _non_negative(_fields.get_float(timings, "predicted_per_token_ms"))
    predicted_n = _fields.get_int(timings, "predicted_n")
    if per_token_ms is None and predicted_ms is not None and predicted_n and predicted_n > 0:
        per_token_ms = predicted_ms / predicted_n
    prompt_n = _fields.get_int(timings, "prompt_n")
    cache_n = _fields.get_int(timings, "cache_n")
    acc.fallback_usage(
        TIMINGS,
        input_tokens=prompt_n + (cache_n or 0) if prompt_n is not None else None,
        output_tokens=predicted_n,
    )
    acc.server_timing(
        time_to_first_token_s=_seconds(prompt_ms),
        time_per_output_token_s=_seconds(per_token_ms),
        request_duration_s=(
            (prompt_ms + predicted_ms) / 1000.0
            if prompt_ms is not None and predicted_ms is not None
            else None
        ),
    )


def groq_usage(acc: CallAccumulator, x_groq: Any) -> None:
    """Groq's ``x_groq.usage`` (OpenAI style) as the fallback when no usage object comes."""
    usage = _fields.get_dict(x_groq, "usage")
    if usage is not None:
        acc.fallback_usage(
            X_GROQ,
            input_tokens=_fields.get_int(usage, "prompt_tokens"),
            output_tokens=_fields.get_int(usage, "completion_tokens"),
        )


def _non_negative(value: float | None) -> float | None:
    return value if value is not None and value >= 0.0 else None


def _seconds(ms: float | None) -> float | None:
    return ms / 1000.0 if ms is not None else None


def choice_index(choice: dict[str, Any]) -> int:
    """A choice's ``index`` (0 when missing or not an integer)."""
    index = _fields.get_int(choice, "index")
    return index if index is not None else 0


class ChoicesObserver(Observer):
    """Observer for ``choices``-shaped responses (chat and legacy completions), streamed or not.

    Subclasses say which outputs one choice carries: in a complete body (``_outputs``, the full
    message) and in a streamed chunk (``_chunk_output``, the one output kind its delta carries).
    An error (an SSE ``error`` event or an error object) fails the call; events after it are
    still read (vLLM sends ``[DONE]`` after an error).

    Per chunk this is the hot path: the response model, id, service tier and fingerprint are
    handed on only when they differ from the previous chunk's, and ``usage``, ``timings`` and
    ``x_groq`` are read only when the chunk has them. Servers write every text chunk of a
    stream alike but for the text itself; a chunk that is the last parsed one's :class:`Template`
    with other plain text is read without parsing (it says the same, with this text).
    """

    __slots__ = ("_head", "_template")
    lines_are_bodies = True
    #: ``"key":"`` of the one string member a text chunk's text is in (None: no template).
    text_key: str | None = None

    def __init__(
        self, request: RequestInfo, *, streaming: bool, accumulator: CallAccumulator | None = None
    ) -> None:
        super().__init__(request, streaming=streaming, accumulator=accumulator)
        self._head: tuple[Any, ...] = ()
        self._template: Template | None = None

    @abstractmethod
    def _outputs(self, choice: dict[str, Any], index: int, *, whole: bool) -> Outputs:
        """The outputs choice ``index`` carries (its delta, or its whole message when ``whole``)."""

    def _chunk_output(self, choice: dict[str, Any], index: int) -> tuple[OutputKind, str] | None:
        """The one output a streamed chunk's choice ``index`` carries, or ``None``."""
        found = self._outputs(choice, index, whole=False)
        return found[0] if found else None

    def _text_of(self, choice: dict[str, Any]) -> str | None:
        """The string value of :attr:`text_key` in a streamed chunk's choice, if it has one."""
        return None

    def _on_message(self, message: SSEMessage) -> None:
        data = message.data
        template = self._template
        if template is not None:
            span = template.match(message)
            if span is not None:
                acc = self.acc
                acc.output(OutputKind.TEXT, data[span[0] : span[1]] if acc.capturing else "", template.index)
                return
        if data[:1] != "{" and data.strip() == "[DONE]":  # a chunk object is never stripped
            self.acc.terminal()
            return
        obj = parse(data)
        if type(obj) is not dict:
            return
        if message.event == "error" or error_of(obj) is not None:
            self.acc.error(*event_error(obj))
            chat_usage(self.acc, obj.get("usage"))
            return
        output = self._choices(obj, whole=False)
        self._template = None if self.text_key is None else self._template_of(message, obj, output)

    def _template_of(
        self, message: SSEMessage, obj: dict[str, Any], output: tuple[OutputKind, str] | None
    ) -> Template | None:
        """The template of a chunk whose one choice's one output is the plain text of its
        :attr:`text_key` member. Its text is the only ``"key":"`` of the chunk, and the chunk has
        no backslash at all (no escaped key or text can hide elsewhere). Everything else a chunk
        says (model, id, finish reason, usage, server counts) is folded by replace rules, so a
        chunk that says it again changes nothing but the output count and text."""
        if output is None or output[0] is not OutputKind.TEXT:
            return None
        choices = obj["choices"]
        if len(choices) != 1:
            return None
        text = self._text_of(choices[0])
        data = message.data
        key = self.text_key
        if text != output[1] or key is None or "\\" in data or data.count(key) != 1:
            return None
        start = data.index(key) + len(key)
        end = start + len(text)
        if data[start:end] != text or data[end : end + 1] != '"':
            return None
        index = choices[0].get("index")
        return Template(message.event, data[:start], data[end:], index if type(index) is int else 0)

    def close(self) -> None:
        acc = self.acc
        if self.streaming and not acc.ended and self._every_choice_finished():
            acc.terminal()
        super().close()

    def _every_choice_finished(self) -> bool:
        reasons = self.acc.finish_reasons
        expected = max(self.request.choice_count or 1, 1)
        return len(reasons) >= expected and self.acc.choices <= reasons.keys()

    def _on_body(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        if not read_error_body(self.acc, value):
            self._choices(value, whole=True)
        return True

    def _choices(self, obj: dict[str, Any], *, whole: bool) -> tuple[OutputKind, str] | None:
        """Read a chunk (or a whole body); for a chunk with one choice, that choice's output."""
        acc = self.acc
        last: tuple[OutputKind, str] | None = None
        head = (obj.get("model"), obj.get("id"), obj.get("service_tier"), obj.get("system_fingerprint"))
        if head != self._head:
            self._head = head
            acc.identify(head[0], head[1])
            acc.openai_response(head[2], head[3])
        choices = obj.get("choices")
        if type(choices) is list:
            for choice in choices:
                if type(choice) is not dict:
                    continue
                index = choice.get("index")
                if type(index) is not int:
                    index = choice_index(choice)
                if whole:
                    for kind, text in self._outputs(choice, index, whole=True):
                        acc.output(kind, text, index)
                else:
                    last = output = self._chunk_output(choice, index)
                    if output is not None:
                        acc.output(output[0], output[1], index)
                reason = choice.get("finish_reason")
                if reason and type(reason) is str:
                    acc.finish_reason(reason, index)
        usage = obj.get("usage")
        if usage is not None:
            chat_usage(acc, usage)
        timings = obj.get("timings")
        if timings is not None:
            llamacpp_timings(acc, timings)
        x_groq = obj.get("x_groq")
        if x_groq is not None:
            groq_usage(acc, x_groq)
        return last


#: Text a JSON string holds as itself: no quote, no backslash, no control character.
_PLAIN_TEXT: Final = re.compile(r'[^"\\\x00-\x1f]+')


class Template:
    """A text chunk cut around its text: a chunk that starts with ``prefix``, ends with
    ``suffix`` and has plain text between them says what the template's chunk said, with that
    text (the same JSON but for one string value)."""

    __slots__ = ("event", "index", "prefix", "suffix")

    def __init__(self, event: str, prefix: str, suffix: str, index: int) -> None:
        self.event = event
        self.prefix = prefix
        self.suffix = suffix
        self.index = index

    def match(self, message: SSEMessage) -> tuple[int, int] | None:
        """Where the text of ``message`` is, when it is this template with other plain text."""
        data = message.data
        start = len(self.prefix)
        end = len(data) - len(self.suffix)
        if (
            end > start
            and message.event == self.event
            and data.startswith(self.prefix)
            and data.endswith(self.suffix)
            and _PLAIN_TEXT.fullmatch(data, start, end) is not None
        ):
            return start, end
        return None
