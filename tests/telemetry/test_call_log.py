"""One call record per GenAI call (OTLP logs and optional stdout JSON line), never content."""

from __future__ import annotations

import io
import json
import threading

import pytest

from sidecar.genai.content import RequestContent
from sidecar.telemetry.call_log import LineWriter
from tests.telemetry.conftest import MakeSink, Sink, chat
from tests.telemetry.test_recorder_metrics import STREAM, run

CALL = "genai_sidecar.call"


def call_records(sink: Sink) -> list[object]:
    return [r for r in sink.logs.get_finished_logs() if r.log_record.event_name == CALL]


def test_one_record_per_call_with_trace_context(sink: Sink) -> None:
    run(sink, STREAM)
    (record,) = call_records(sink)
    log = record.log_record  # type: ignore[attr-defined]
    span = sink.span()
    assert log.trace_id == span.context.trace_id
    assert log.span_id == span.context.span_id
    assert log.body == {
        "operation": "chat",
        "provider": "ollama",
        "request_model": "llama3",
        "response_model": "llama3:8b",
        "response_id": "resp-1",
        "stream": True,
        "status": 200,
        "duration_s": 1.0,
        "ttfc_s": 0.25,
        "input_tokens": 12,
        "output_tokens": 4,
        "finish_reasons": ["stop"],
        "output_chunks": 4,
        "response_bytes": 321,
    }
    assert log.attributes["gen_ai.operation.name"] == "chat"
    assert log.severity_text == "INFO"


def test_failed_call_record(sink: Sink) -> None:
    recorder = sink.telemetry.start(request=chat(), method="POST", headers={}, t0=0.0)
    recorder.fail("connection_error", 0.2, status=502)
    (record,) = call_records(sink)
    log = record.log_record  # type: ignore[attr-defined]
    assert log.body["error_type"] == "connection_error"
    assert log.body["status"] == 502
    assert log.body["finish_reasons"] == ["error"]
    assert log.severity_text == "WARN"


def test_no_record_for_non_genai_requests(sink: Sink) -> None:
    sink.telemetry.start(request=None, method="GET", headers={}, t0=0.0).finish(
        0.1, status=200, response_bytes=0
    )
    assert call_records(sink) == []


def test_stdout_json_line(make_sink: MakeSink, capsys: pytest.CaptureFixture[str]) -> None:
    sink = make_sink(call_log="stdout")
    secret_prompt = "tell me the launch codes"
    body = {"messages": [{"role": "user", "content": secret_prompt}]}
    run(sink, STREAM, request=chat(content=RequestContent("openai_chat", body)))
    sink.telemetry.call_log.close(5.0)  # the writer thread has written what was queued
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # one per call, never one per chunk
    line = json.loads(lines[0])
    span = sink.span()
    assert line["event"] == CALL
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")
    assert line["output_tokens"] == 4
    assert line["finish_reasons"] == ["stop"]
    assert secret_prompt not in lines[0]
    assert "Hel" not in lines[0]


def test_stdout_off_by_default(sink: Sink, capsys: pytest.CaptureFixture[str]) -> None:
    run(sink, STREAM)
    assert capsys.readouterr().out == ""


class BlockedPipe(io.StringIO):
    """A stdout whose reader stopped reading: every write waits until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait()
        return super().write(text)


def test_a_blocked_stdout_never_blocks_the_caller_and_full_queue_drops_are_counted() -> None:
    pipe = BlockedPipe()
    drops: list[int] = []
    writer = LineWriter(pipe, on_drop=drops.append, max_pending=3)
    started = threading.Event()

    def emit_all() -> None:
        started.set()
        for i in range(10):
            writer.write(f"{i}\n")

    caller = threading.Thread(target=emit_all)
    caller.start()
    caller.join(30.0)  # returns although the pipe takes nothing
    assert started.is_set()
    assert not caller.is_alive()
    pipe.release.set()
    writer.close(30.0)
    written = pipe.getvalue().splitlines()
    # The writer thread took one line before blocking, the queue held three: the rest were dropped.
    assert len(written) + sum(drops) == 10
    assert sum(drops) >= 6
    assert written == sorted(written, key=int)
