"""OpenAI legacy Completions (``POST /v1/completions``), operation ``text_completion``.

Same framing, usage and finish reasons as chat (see :mod:`sidecar.genai._openai`); output is
``choices[].text``, streamed or whole. The request's ``prompt`` (a string or a list of strings)
is kept as user messages for opt-in capture; token-id prompts are left out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from sidecar.genai import _fields
from sidecar.genai._openai import ChoicesObserver, Outputs
from sidecar.genai.content import RequestContent
from sidecar.genai.dialect import ObjectRequestDialect
from sidecar.genai.observations import Operation, OutputKind, RequestInfo
from sidecar.genai.openai_chat import chat_request


class CompletionsObserver(ChoicesObserver):
    """``text_completion`` chunks or a whole body: output is each choice's ``text``."""

    __slots__ = ()
    text_key = '"text":"'

    def _text_of(self, choice: dict[str, Any]) -> str | None:
        return _fields.get_str(choice, "text")

    def _outputs(self, choice: dict[str, Any], index: int, *, whole: bool) -> Outputs:
        text = _fields.get_str(choice, "text")
        return [(OutputKind.TEXT, text)] if text else []


class OpenAICompletionsDialect(ObjectRequestDialect):
    """The ``openai_completions`` dialect."""

    name: str = "openai_completions"
    observer_class = CompletionsObserver

    def read_request(self, path: str, obj: dict[str, Any], provider: str) -> RequestInfo:
        info = chat_request(obj, provider, Operation.TEXT_COMPLETION)
        return replace(info, content=RequestContent("prompt", obj))


DIALECT: Final = OpenAICompletionsDialect()
