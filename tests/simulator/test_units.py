"""Pure parts of the simulator: settings, controls, text, plans and pseudorandom bytes."""

from __future__ import annotations

import json
import math

import pytest

from sidecar.simulator import SimulatorSettings, iter_pseudorandom, pseudorandom_bytes
from sidecar.simulator.controls import ControlError, Controls, parse_controls
from sidecar.simulator.plan import make_plan
from sidecar.simulator.text import (
    VOCABULARY,
    collect_text,
    count_words,
    embedding,
    output_words,
    text_pieces,
    tool_argument_pieces,
)

SETTINGS = SimulatorSettings(ttfc_ms=5, itl_ms=1, tokens=10, oversize_bytes=50)


def controls(**headers: str) -> Controls:
    return parse_controls(headers, SETTINGS)


def test_controls_default_to_settings() -> None:
    parsed = controls()
    assert (parsed.ttfc_ms, parsed.itl_ms, parsed.tokens) == (5, 1, 10)
    assert parsed.finish is None
    assert parsed.fault is None
    assert parsed.oversize_bytes == 50


def test_controls_read_headers() -> None:
    parsed = controls(
        **{
            "x-sim-ttfc-ms": "12.5",
            "x-sim-itl-ms": "0",
            "x-sim-tokens": "3",
            "x-sim-finish": "Tool_Calls",
            "x-sim-fault": "error-event",
            "x-sim-stall-ms": "7",
        }
    )
    assert (parsed.ttfc_ms, parsed.itl_ms, parsed.tokens, parsed.stall_ms) == (12.5, 0, 3, 7)
    assert parsed.finish == "tool_calls"
    assert parsed.fault == "error-event"
    assert controls(**{"x-sim-fault": "none"}).fault is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-sim-ttfc-ms", "soon"),
        ("x-sim-ttfc-ms", "nan"),
        ("x-sim-itl-ms", "-1"),
        ("x-sim-tokens", "1.5"),
        ("x-sim-tokens", "-2"),
        ("x-sim-finish", "eos"),
        ("x-sim-fault", "502"),
        ("x-sim-oversize-bytes", "big"),
        ("x-sim-stream", "no-done,sometimes"),
    ],
)
def test_controls_reject_bad_values(name: str, value: str) -> None:
    with pytest.raises(ControlError, match=name):
        controls(**{name: value})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttfc_ms": -1},
        {"tokens": -1},
        {"history": 0},
        {"finish": "eos"},
        {"fault": "boom"},
        {"models": ()},
    ],
)
def test_settings_validate(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each field has its own message
        SimulatorSettings(**kwargs)  # type: ignore[arg-type]


def test_prompt_text_and_word_counts() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "two words"}, {"type": "image"}]},
        {"role": "tool", "content": [{"type": "tool_result", "content": "three more words"}]},
    ]
    texts = list(collect_text(messages))
    assert texts == ["be brief", "two words", "three more words"]
    assert count_words(texts) == 7
    assert count_words([]) == 1
    assert count_words(["   "]) == 1


def test_output_words_are_deterministic_vocabulary_words() -> None:
    words = output_words(100, ["a prompt"])
    assert words == output_words(100, ["a prompt"])
    assert set(words) <= set(VOCABULARY)
    pieces = text_pieces(words)
    assert "".join(pieces).split() == words


@pytest.mark.parametrize("count", [1, 2, 5])
def test_tool_argument_pieces_form_json(count: int) -> None:
    words = output_words(count)
    pieces = tool_argument_pieces(words)
    assert len(pieces) == count
    assert json.loads("".join(pieces)) == {"query": " ".join(words)}


def test_plan_caps_at_max_tokens_with_length() -> None:
    plan = make_plan(controls=controls(), model="m", prompt=["a b"], max_tokens=4)
    assert (plan.output_tokens, plan.finish, plan.input_tokens) == (4, "length", 2)
    uncapped = make_plan(controls=controls(), model="m", prompt=["a"], max_tokens=10)
    assert (uncapped.output_tokens, uncapped.finish) == (10, "stop")
    assert plan.generation_s == pytest.approx(0.005 + 3 * 0.001)


def test_plan_forced_finish_and_tools() -> None:
    forced = controls(**{"x-sim-finish": "tool_calls"})
    plan = make_plan(controls=forced, model="m", prompt=[], max_tokens=None, tool_name="f")
    assert plan.tool_call
    assert plan.tool_name == "f"
    no_tools = make_plan(controls=forced, model="m", prompt=[], max_tokens=None, tools_supported=False)
    assert (no_tools.finish, no_tools.tool_call) == ("stop", False)
    empty = make_plan(controls=forced, model="m", prompt=[], max_tokens=0)
    assert (empty.output_tokens, empty.tool_call) == (0, False)


@pytest.mark.parametrize("finish", ["stop", "tool_calls"])
def test_oversize_piece_stays_one_valid_word(finish: str) -> None:
    forced = controls(**{"x-sim-fault": "oversize", "x-sim-finish": finish})
    plan = make_plan(controls=forced, model="m", prompt=[], max_tokens=None)
    pieces = [plan.piece_at(i) for i in range(plan.output_tokens)]
    assert [len(p) > 50 for p in pieces] == [i == plan.fault_index for i in range(10)]
    text = "".join(pieces)
    if finish == "tool_calls":
        text = json.loads(text)["query"]
    assert len(text.split()) == 10


def test_embedding_is_unit_length_and_deterministic() -> None:
    vector = embedding("hello", 16)
    assert vector == embedding("hello", 16)
    assert vector != embedding("world", 16)
    assert math.isclose(sum(v * v for v in vector), 1.0)


def test_pseudorandom_bytes_do_not_depend_on_chunking() -> None:
    whole = pseudorandom_bytes(200_000, seed=3)
    assert len(whole) == 200_000
    for chunk in (1, 999, 65536, 300_000):
        parts = list(iter_pseudorandom(200_000 if chunk > 1 else 3000, chunk, seed=3))
        assert all(len(p) == chunk for p in parts[:-1])
        assert b"".join(parts) == whole[: sum(map(len, parts))]
    with pytest.raises(ValueError, match="chunk"):
        next(iter_pseudorandom(10, 0))
