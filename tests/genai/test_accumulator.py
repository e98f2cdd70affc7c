"""The accumulator's rules, once for every dialect: replace-not-add, last wins, bounded choices and
capture, complete / failed / premature."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sidecar.genai.accumulator import MAX_CHOICES, CallAccumulator
from sidecar.genai.observations import OutputKind, ServerTiming, UpstreamError, Usage


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
    assert acc.captured_output() == {MAX_CHOICES - 1: {OutputKind.TEXT: "c"}}


@given(st.lists(st.text(max_size=7), max_size=20), st.integers(0, 30))
def test_capture_keeps_at_most_the_limit_per_choice_and_kind(parts: list[str], limit: int) -> None:
    acc = CallAccumulator(capture_bytes=limit)
    for part in parts:
        acc.output(OutputKind.TEXT, part)
        acc.output(OutputKind.REASONING, part)
    kept = acc.captured_output().get(0, {})
    for kind in (OutputKind.TEXT, OutputKind.REASONING):
        assert kept.get(kind, "") == "".join(parts)[:limit]


def test_no_capture_keeps_nothing() -> None:
    acc = CallAccumulator()
    acc.output(OutputKind.TEXT, "secret")
    assert not acc.capturing
    assert acc.captured_output() == {}


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
