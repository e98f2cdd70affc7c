"""llama.cpp server's native completion API: ``/completion`` and ``/completions``.

Wire facts (``ggml-org/llama.cpp`` ``tools/server/README.md``, ``server-task.cpp``
``to_json_non_oaicompat``, ``server-context.cpp``): with ``"stream": true`` the body is SSE
``data: {json}`` messages, one per token batch, each with ``content``, ``index`` (the completion,
when ``n_cmpl`` > 1) and ``stop: false``. The final object of each completion has ``stop: true``,
``model``, ``tokens_predicted``, ``tokens_evaluated``, ``tokens_cached``, ``stop_type`` and
``timings``; there is no ``[DONE]``. Without streaming the body is that final object (or, for
several completions, a list of them). An error mid-stream is ``data: {"error": {"code",
"message", "type"}}``; a non-streamed error is the same object with an HTTP error status.

Usage: ``tokens_evaluated`` is the whole prompt, cached part included (the server's own
OpenAI-compatible ``usage.prompt_tokens`` is the same number); it equals ``timings.prompt_n +
timings.cache_n``, used when ``tokens_evaluated`` is absent. ``tokens_cached`` counts every token
in the slot's cache (prompt and generated) and is not a cache-read count; ``timings.cache_n`` (the
prompt tokens reused from the cache) is. Output = ``tokens_predicted``, summed over completions.

Finish reasons are the server's own words: ``stop_type`` as sent (``eos``, ``word`` for a stop
string, ``limit`` for ``n_predict``, ``none``); older servers send ``stopped_eos`` /
``stopped_word`` / ``stopped_limit`` booleans instead, and the one that is true is the reason
(``stopped_limit``). :mod:`sidecar.genai.finish` gives the counter its normalised label
(``none`` -> ``length``, as the server's own OpenAI-compatible endpoints report it).

Server timing from ``timings``: time to first token = ``prompt_ms`` (prompt processing),
time per output token = ``predicted_per_token_ms``.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai._fields import get_bool, get_dict, get_float, get_int, get_stop, get_str
from sidecar.genai._request import non_negative
from sidecar.genai.accumulator import CallAccumulator
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo
from sidecar.genai.observer import Observer, native_error
from sidecar.genai.provider import LLAMA_CPP, is_llamacpp_timings
from sidecar.wire.events import SSEMessage

_STOPPED: Final = ("stopped_eos", "stopped_word", "stopped_limit")
_MS: Final = 1000.0


def _output_type(body: dict[str, Any]) -> str | None:
    if "json_schema" in body:
        return "json"
    kind = get_str(get_dict(body, "response_format"), "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


class LlamaCppObserver(Observer):
    """SSE ``data:`` objects of a ``/completion`` stream, or the non-streamed JSON body."""

    __slots__ = ("_cache_read", "_input", "_output")

    def __init__(
        self, request: RequestInfo, *, streaming: bool, accumulator: CallAccumulator | None = None
    ) -> None:
        super().__init__(request, streaming=streaming, accumulator=accumulator)
        self._output: dict[int, int] = {}
        self._input: int | None = None
        self._cache_read: int | None = None

    def _on_value(self, value: Any, message: SSEMessage | None) -> None:
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, dict):
                self._result(item)

    def _result(self, obj: dict[str, Any]) -> None:
        acc = self.acc
        error = native_error(obj.get("error"))
        if error is not None:
            acc.error(*error)
            return
        choice = get_int(obj, "index") or 0
        text = get_str(obj, "content")
        if text:
            acc.output(OutputKind.TEXT, text, choice)
        if get_bool(obj, "stop") is True:
            self._final(obj, choice)

    def _final(self, obj: dict[str, Any], choice: int) -> None:
        acc = self.acc
        acc.identify(get_str(obj, "model"))
        timings = get_dict(obj, "timings")
        cache_n = get_int(timings, "cache_n")
        evaluated = get_int(obj, "tokens_evaluated")
        if evaluated is None:
            prompt_n = get_int(timings, "prompt_n")
            if prompt_n is not None:
                evaluated = prompt_n + (cache_n or 0)
        predicted = get_int(obj, "tokens_predicted")
        if predicted is None:
            predicted = get_int(timings, "predicted_n")
        self._output[choice] = predicted or 0
        self._input = evaluated if evaluated is not None else self._input
        self._cache_read = cache_n if cache_n is not None else self._cache_read
        acc.usage(
            input_tokens=self._input,
            output_tokens=sum(self._output.values()) if predicted is not None else None,
            cache_read_tokens=self._cache_read,
        )
        stop_type = get_str(obj, "stop_type") or _stopped(obj)
        if stop_type:
            acc.finish_reason(stop_type, choice)
        if stop_type or is_llamacpp_timings(timings):
            acc.reveal(LLAMA_CPP)
        prompt_ms = get_float(timings, "prompt_ms")
        per_token_ms = get_float(timings, "predicted_per_token_ms")
        acc.server_timing(
            time_to_first_token_s=prompt_ms / _MS if prompt_ms is not None else None,
            time_per_output_token_s=(per_token_ms / _MS if per_token_ms is not None and predicted else None),
        )
        if self.streaming and len(self._output) >= (self.request.choice_count or 1):
            acc.terminal()


def _stopped(obj: dict[str, Any]) -> str | None:
    """Older servers' ``stopped_eos`` / ``stopped_word`` / ``stopped_limit`` booleans: the name
    of the one that is true."""
    for key in _STOPPED:
        if get_bool(obj, key) is True:
            return key
    return None


class LlamaCppDialect(ObjectRequestDialect):
    """The ``llamacpp`` dialect."""

    name: str = "llamacpp"
    observer_class = LlamaCppObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        max_tokens = get_int(obj, "n_predict")
        if max_tokens is None:
            max_tokens = get_int(obj, "max_tokens")
        choices = get_int(obj, "n_cmpl")
        return RequestInfo(
            operation=Operation.TEXT_COMPLETION,
            provider=provider,
            model=get_str(obj, "model"),
            stream=get_bool(obj, "stream") is True,
            temperature=get_float(obj, "temperature"),
            top_p=get_float(obj, "top_p"),
            top_k=get_int(obj, "top_k"),
            max_tokens=non_negative(max_tokens),
            stop_sequences=get_stop(obj, "stop"),
            seed=get_int(obj, "seed"),
            choice_count=choices if choices is not None else get_int(obj, "n"),
            frequency_penalty=get_float(obj, "frequency_penalty"),
            presence_penalty=get_float(obj, "presence_penalty"),
            output_type=_output_type(obj),
            content=RequestContent("prompt", obj),
        )


DIALECT: Final = LlamaCppDialect()
