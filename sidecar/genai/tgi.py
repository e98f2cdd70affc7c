"""Hugging Face Text Generation Inference: ``/generate_stream`` (SSE) and ``/generate`` (JSON).

Wire facts (``huggingface/text-generation-inference`` ``router/src/lib.rs``, ``server.rs``): the
request is ``{"inputs": ..., "parameters": {...}}``; the path decides streaming. Each stream event
is ``data:{"index", "token": {"id", "text", "logprob", "special"}, "generated_text", "details"}``
(``index`` counts tokens: a stream carries one sequence). ``generated_text`` (and ``details`` when
the request asked for ``details``) are set only on the last event, which makes it the terminal
one. ``details`` carries ``finish_reason`` (``length``, ``eos_token``, ``stop_sequence``) and
``generated_tokens``; newer servers add ``input_length`` (older ones ``prompt_tokens``), the prompt
count, used when present. Errors are ``{"error": "...", "error_type": "..."}``, as an event or as
the body. The compatibility route may answer a JSON list of responses, one per input.

Special tokens (``token.special``) carry no user-visible output and are not output chunks.
Finish reasons are TGI's own values, as sent (``eos_token``, ``stop_sequence``, ``length``);
:mod:`sidecar.genai.finish` gives the counter its normalised label.
"""

from __future__ import annotations

from typing import Any, Final

from sidecar.genai._fields import get_bool, get_dict, get_float, get_int, get_stop, get_str
from sidecar.genai._request import route
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo
from sidecar.genai.observer import Observer
from sidecar.genai.provider import TGI
from sidecar.wire.events import SSEMessage


def _output_type(parameters: dict[str, Any] | None) -> str | None:
    kind = get_str(get_dict(parameters, "grammar"), "type")
    return "json" if kind == "json" else None


class TGIObserver(Observer):
    """SSE events of ``/generate_stream``, or the ``/generate`` JSON body (an object, or a list
    of objects from the compatibility route)."""

    __slots__ = ()

    def _on_value(self, value: Any, message: SSEMessage | None) -> None:
        items = enumerate(value) if isinstance(value, list) else ((0, value),)
        terminal = False
        for choice, item in items:
            if isinstance(item, dict):
                terminal = self._response(item, choice) or terminal
        if terminal:
            self.acc.terminal()

    def _response(self, obj: dict[str, Any], choice: int) -> bool:
        """Read one response object; whether it was a last one."""
        acc = self.acc
        error = get_str(obj, "error")
        if error is not None:
            acc.error(get_str(obj, "error_type"), error)
            return False
        generated = get_str(obj, "generated_text")
        token = get_dict(obj, "token")
        if token is not None:
            text = get_str(token, "text")
            if text and get_bool(token, "special") is not True:
                acc.output(OutputKind.TEXT, text, choice)
        elif generated:
            acc.output(OutputKind.TEXT, generated, choice)
        details = get_dict(obj, "details")
        if details is not None:
            acc.reveal(TGI)
            prompt = get_int(details, "input_length")
            acc.usage(
                input_tokens=prompt if prompt is not None else get_int(details, "prompt_tokens"),
                output_tokens=get_int(details, "generated_tokens"),
            )
            reason = get_str(details, "finish_reason")
            if reason:
                acc.finish_reason(reason, choice)
        return generated is not None or details is not None


class TGIDialect(ObjectRequestDialect):
    """The ``tgi`` dialect."""

    name: str = "tgi"
    observer_class = TGIObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        parameters = get_dict(obj, "parameters")
        return RequestInfo(
            operation=Operation.TEXT_COMPLETION,
            provider=provider,
            model=get_str(obj, "model"),
            stream=route(path).endswith("/generate_stream") or get_bool(obj, "stream") is True,
            temperature=get_float(parameters, "temperature"),
            top_p=get_float(parameters, "top_p"),
            top_k=get_int(parameters, "top_k"),
            max_tokens=get_int(parameters, "max_new_tokens"),
            stop_sequences=get_stop(parameters, "stop"),
            seed=get_int(parameters, "seed"),
            frequency_penalty=get_float(parameters, "frequency_penalty"),
            output_type=_output_type(parameters),
            content=RequestContent("prompt", obj),
        )


DIALECT: Final = TGIDialect()
