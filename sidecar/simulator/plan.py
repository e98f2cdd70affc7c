"""What one generation will produce: token pieces, finish reason, fault and timing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sidecar.simulator.body import first_tool_name, get_str
from sidecar.simulator.controls import Controls
from sidecar.simulator.settings import FaultName, FinishName, StreamVariant
from sidecar.simulator.text import (
    TOOL_NAME,
    count_words,
    output_words,
    oversize_text,
    text_pieces,
    tool_argument_pieces,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The whole output of one request, decided before the first byte is sent."""

    model: str
    input_tokens: int
    words: tuple[str, ...]
    """The output words, one per token."""
    pieces: tuple[str, ...]
    """One fragment per output token: text, or tool-call argument JSON when ``tool_call``."""
    finish: FinishName
    tool_call: bool
    tool_name: str
    fault: FaultName | None
    ttfc_s: float
    itl_s: float
    stall_s: float
    oversize_bytes: int
    stream: frozenset[StreamVariant] = frozenset()
    """The stream variants asked for (``x-sim-stream``)."""
    choices: int = 1
    """Completions generated (OpenAI's ``n``): each gets the same pieces."""

    @property
    def output_tokens(self) -> int:
        """Output tokens of one choice."""
        return len(self.pieces)

    @property
    def all_output_tokens(self) -> int:
        """Output tokens of every choice together (what the usage reports)."""
        return len(self.pieces) * self.choices

    @property
    def fault_index(self) -> int:
        """Mid-stream faults strike after this many output tokens were sent (half, rounded down)."""
        return len(self.pieces) // 2

    def piece_at(self, index: int) -> str:
        """The fragment to send for token ``index``: huge for the ``oversize`` fault's token."""
        piece = self.pieces[index]
        if self.fault != "oversize" or index != self.fault_index:
            return piece
        word = self.words[index]
        head, _, tail = piece.rpartition(word)
        return head + oversize_text(self.oversize_bytes) + word + tail

    @property
    def generation_s(self) -> float:
        """Time from request receipt to the last output token."""
        if not self.pieces:
            return self.ttfc_s
        return self.ttfc_s + self.itl_s * (len(self.pieces) - 1)


def make_plan(
    *,
    controls: Controls,
    model: str,
    prompt: Sequence[str],
    max_tokens: int | None,
    tools_supported: bool = True,
    tool_name: str | None = None,
    choices: int = 1,
) -> Plan:
    """Apply the request's max-tokens cap and the forced finish reason to the controls."""
    count = controls.tokens
    cut = max_tokens is not None and max_tokens >= 0 and max_tokens < count
    if cut and max_tokens is not None:
        count = max_tokens
    finish: FinishName = controls.finish or ("length" if cut else "stop")
    if finish == "tool_calls" and not tools_supported:
        finish = "stop"
    tool_call = finish == "tool_calls" and count > 0
    words = output_words(count, prompt)
    pieces = tool_argument_pieces(words) if tool_call else text_pieces(words)
    return Plan(
        model=model,
        input_tokens=count_words(prompt),
        words=tuple(words),
        pieces=tuple(pieces),
        finish=finish,
        tool_call=tool_call,
        tool_name=tool_name or TOOL_NAME,
        fault=controls.fault,
        ttfc_s=controls.ttfc_ms / 1000.0,
        itl_s=controls.itl_ms / 1000.0,
        stall_s=controls.stall_ms / 1000.0,
        oversize_bytes=controls.oversize_bytes,
        stream=controls.stream,
        choices=choices,
    )


def plan_request(
    body: Mapping[str, object],
    controls: Controls,
    default_model: str,
    *,
    prompt: Sequence[str],
    max_tokens: int | None,
    tools_supported: bool = True,
    choices: int = 1,
) -> Plan:
    """:func:`make_plan` for a request body: its ``model`` (else ``default_model``) and, where the
    API has tools, the name of its first declared tool."""
    return make_plan(
        controls=controls,
        model=get_str(body, "model") or default_model,
        prompt=prompt,
        max_tokens=max_tokens,
        tools_supported=tools_supported,
        tool_name=first_tool_name(body.get("tools")) if tools_supported else None,
        choices=choices,
    )
