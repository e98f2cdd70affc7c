"""The accumulator's rules, once for every dialect: replace-not-add, last wins, bounded choices and
capture, complete / failed / premature."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.accumulator import MAX_CHOICES, MAX_TOOL_CALLS, CallAccumulator
from sidecar.genai.observations import (
    CapturedChoice,
    CapturedToolCall,
    Modality,
    OutputKind,
    ServerTiming,
    UpstreamError,
    Usage,
    modality_counts,
)


def test_usage_and_timing_replace_the_fields_they_set() -> None:
    acc = CallAccumulator()
    assert acc.usage_report() is None
    assert acc.server_timing_report() is None
    acc.usage(input_tokens=10, output_tokens=1)
    acc.usage(output_tokens=5)
    acc.usage(output_tokens=7, cache_read_tokens=3)
    acc.usage()
    assert acc.usage_report() == Usage(input_tokens=10, output_tokens=7, cache_read_tokens=3)
    acc.server_timing(time_to_first_token_s=0.1)
    acc.server_timing(request_duration_s=2.0)
    assert acc.server_timing_report() == ServerTiming(time_to_first_token_s=0.1, request_duration_s=2.0)


def test_last_values_win_and_empty_ones_are_ignored() -> None:
    acc = CallAccumulator()
    acc.identify("m1", "id1")
    acc.identify("", None)
    acc.identify(5, "id2")
    acc.finish_reason("length", 1)
    acc.finish_reason("stop", 1)
    acc.finish_reason("", 0)
    assert (acc.response_model, acc.response_id, acc.finish_reasons) == ("m1", "id2", {1: "stop"})
    acc.error("overloaded", "busy")
    acc.error(None, "later")
    assert acc.error_report() == UpstreamError(message="later")


def test_choices_outside_the_bound_are_counted_but_not_kept() -> None:
    acc = CallAccumulator(capture_bytes=100)
    acc.output(OutputKind.TEXT, "a", MAX_CHOICES)
    acc.output(OutputKind.TEXT, "b", -1)
    acc.finish_reason("stop", MAX_CHOICES)
    acc.output(OutputKind.TEXT, "c", MAX_CHOICES - 1)
    assert acc.output_chunks == 3
    assert acc.choices == {MAX_CHOICES - 1}
    assert acc.finish_reasons == {}
    acc.tool_call(0, name="f", choice=MAX_CHOICES)
    assert acc.captured_output() == {MAX_CHOICES - 1: CapturedChoice(text="c")}


@given(st.lists(st.text(max_size=7), max_size=20), st.integers(0, 30))
def test_capture_keeps_at_most_the_limit_per_choice_and_kind(parts: list[str], limit: int) -> None:
    acc = CallAccumulator(capture_bytes=limit)
    for part in parts:
        acc.output(OutputKind.TEXT, part)
        acc.output(OutputKind.REASONING, part)
    kept = acc.captured_output().get(0, CapturedChoice())
    assert kept.text == kept.reasoning == "".join(parts)[:limit]


def test_no_capture_keeps_nothing() -> None:
    acc = CallAccumulator()
    acc.output(OutputKind.TEXT, "secret")
    acc.tool_call(0, call_id="c", name="f", delta="{}")
    assert not acc.capturing
    assert acc.captured_output() == {}


def test_tool_calls_are_kept_apart_by_index_with_their_id_and_name() -> None:
    """Two calls of one choice whose deltas interleave (parallel tool calls) stay two calls; the
    first id and name stay; whole arguments replace the deltas kept."""
    acc = CallAccumulator(capture_bytes=100)
    acc.tool_call(0, call_id="call_a", name="weather", delta="", choice=1)
    acc.tool_call(1, call_id="call_b", name="time", choice=1)
    acc.tool_call(0, delta='{"city":', choice=1)
    acc.tool_call(1, delta='{"tz": "UTC"}', choice=1)
    acc.tool_call(0, name="other", delta=' "Paris"}', choice=1)
    acc.tool_call(2, call_id="call_c", name="search", delta="{partial", choice=1)
    acc.tool_call(2, arguments={"q": "x"}, choice=1)
    assert acc.captured_output() == {
        1: CapturedChoice(
            tool_calls=(
                CapturedToolCall(id="call_a", name="weather", arguments='{"city": "Paris"}'),
                CapturedToolCall(id="call_b", name="time", arguments='{"tz": "UTC"}'),
                CapturedToolCall(id="call_c", name="search", arguments='{"q":"x"}'),
            )
        )
    }


def test_a_new_id_at_an_index_or_a_whole_call_is_a_new_call() -> None:
    acc = CallAccumulator(capture_bytes=100)
    acc.tool_call(0, call_id="a", name="f", delta="{}")
    acc.tool_call(0, call_id="b", name="g", delta="[]")
    acc.tool_call(None, name="h", arguments={})
    acc.tool_call(None, name="h", arguments={"n": 1})
    calls = acc.captured_output()[0].tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("a", "f", "{}"),
        ("b", "g", "[]"),
        (None, "h", "{}"),
        (None, "h", '{"n":1}'),
    ]


@given(st.lists(st.tuples(st.integers(0, 3), st.text(max_size=9)), max_size=30), st.integers(0, 40))
def test_tool_call_arguments_keep_at_most_the_limit_per_choice(
    deltas: list[tuple[int, str]], limit: int
) -> None:
    acc = CallAccumulator(capture_bytes=limit)
    sent: dict[int, str] = {}
    for index, delta in deltas:
        acc.tool_call(index, delta=delta)
        sent[index] = sent.get(index, "") + delta
    calls = acc.captured_output().get(0, CapturedChoice()).tool_calls
    assert sum(len(call.arguments) for call in calls) <= limit
    for call, full in zip(calls, sent.values(), strict=True):  # in the order the calls started
        assert full.startswith(call.arguments)
        assert call.truncated == (call.arguments != full)


def test_tool_calls_per_choice_are_bounded() -> None:
    acc = CallAccumulator(capture_bytes=10)
    for index in range(MAX_TOOL_CALLS + 5):
        acc.tool_call(index, name=f"f{index}", delta="x" * 20)
    calls = acc.captured_output()[0].tool_calls
    assert len(calls) == MAX_TOOL_CALLS
    assert calls[0] == CapturedToolCall(name="f0", arguments="x" * 10, truncated=True)
    assert calls[1] == CapturedToolCall(name="f1", truncated=True)


def test_usage_by_modality_replaces_when_given() -> None:
    acc = CallAccumulator()
    text_audio = ((Modality.TEXT, 8), (Modality.AUDIO, 4))
    acc.usage(input_tokens=12, input_modalities=text_audio)
    acc.usage(output_tokens=3, output_modalities=((Modality.AUDIO, 3),))
    acc.usage(output_tokens=5)
    report = acc.usage_report()
    assert report is not None
    assert (report.input_modalities, report.output_modalities) == (text_audio, ((Modality.AUDIO, 3),))
    acc.usage(input_modalities=())
    assert acc.usage_report() == Usage(
        input_tokens=12, output_tokens=5, output_modalities=((Modality.AUDIO, 3),)
    )


def test_modality_counts_sum_drop_zeros_and_keep_one_order() -> None:
    assert modality_counts(
        [(Modality.AUDIO, 2), (Modality.TEXT, 0), (Modality.AUDIO, 3), (Modality.TEXT, None)]
    ) == ((Modality.AUDIO, 5),)
    assert modality_counts([(Modality.AUDIO, 1), (Modality.IMAGE, 2), (Modality.TEXT, 3)]) == (
        (Modality.TEXT, 3),
        (Modality.IMAGE, 2),
        (Modality.AUDIO, 1),
    )


def test_end_of_body_rules() -> None:
    streamed = CallAccumulator()
    streamed.end(streaming=True)
    assert streamed.premature
    assert not streamed.ended

    done = CallAccumulator()
    done.terminal()
    done.end(streaming=True)
    assert done.ended
    assert not done.premature

    failed = CallAccumulator()
    failed.error("x", None)
    failed.end(streaming=True)
    assert failed.ended
    assert not failed.premature

    too_large = CallAccumulator()
    too_large.oversize = True
    too_large.end(streaming=False)
    assert not too_large.premature
    too_large.end(streaming=True)
    assert too_large.premature
