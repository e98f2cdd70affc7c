"""CPU per chunk of the telemetry tap and recorder alone, without sockets.

``python -m bench.tap_micro [--streams N] [--chunks N] [--repeat N]``

Each stream is an OpenAI chat completion streamed as SSE, one ``data:`` event per chunk (the
shape the benchmark's simulator sends), through the real decoder, dialect observer, recorder and
a telemetry pipeline with two metric readers (the Prometheus reader and an in-memory reader
standing in for the OTLP one: each reader is one aggregation per measurement) and an in-memory
span exporter. Printed: CPU microseconds per chunk inside ``tap.feed`` (the per-chunk path),
and per stream for start + close + finish (the per-call path), best of ``--repeat`` runs. With
``--usage-filter`` each chunk also goes through the filter that removes the usage chunk of an
injected ``include_usage`` (the client did not ask for usage), timed on its own.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sidecar.config import OTLPConfig, PrometheusConfig, TelemetryConfig
from sidecar.genai.include_usage import UsageChunkFilter
from sidecar.genai.openai_chat import DIALECT
from sidecar.proxy.tap import StreamTap
from sidecar.telemetry.pipeline import Telemetry
from sidecar.wire.sse import SSEDecoder

REQUEST = json.dumps(
    {"model": "llama3", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
).encode()


def _chunk(i: int) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "llama3",
        "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _tail() -> list[bytes]:
    final = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "llama3",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 100, "total_tokens": 112},
    }
    return [b"data: " + json.dumps(final).encode() + b"\n\n", b"data: [DONE]\n\n"]


def _telemetry() -> Telemetry:
    return Telemetry.build(
        TelemetryConfig(),
        OTLPConfig(enabled=False),
        PrometheusConfig(enabled=True),
        server_address="127.0.0.1",
        server_port=11434,
        environ={},
        extra_metric_readers=(InMemoryMetricReader(),),
        extra_span_exporters=(InMemorySpanExporter(),),
    )


def _observer(info: Any, recorder: Any) -> Any:
    """The dialect's observer, writing into the recorder's accumulator where the API has one."""
    if "accumulator" in inspect.signature(DIALECT.observer).parameters:
        return DIALECT.observer(info, streaming=True, accumulator=recorder.call)
    return DIALECT.observer(info, streaming=True)


def filter_run(streams: int, chunks: int) -> float:
    """CPU µs per chunk in ``UsageChunkFilter.feed`` (the usage chunk removed at the end)."""
    body = [_chunk(i) for i in range(chunks)] + _tail()
    clock = time.process_time
    c0 = clock()
    for _ in range(streams):
        usage_filter = UsageChunkFilter()
        for piece in body:
            usage_filter.feed(piece)
        usage_filter.close()
    return (clock() - c0) / (streams * len(body)) * 1e6


def run(streams: int, chunks: int) -> tuple[float, float]:
    """(CPU µs per chunk in tap.feed, CPU µs per stream for start + close + finish)."""
    telemetry = _telemetry()
    body = [_chunk(i) for i in range(chunks)] + _tail()
    info = DIALECT.parse_request("/v1/chat/completions", REQUEST, "openai")
    feed_s = 0.0
    call_s = 0.0
    clock = time.process_time
    try:
        for _ in range(streams):
            c0 = clock()
            recorder = telemetry.start(request=info, method="POST", headers={}, t0=time.perf_counter())
            recorder.response_started(200, time.perf_counter())
            tap = StreamTap(
                SSEDecoder(max_line_bytes=1 << 20, max_event_bytes=1 << 22),
                _observer(info, recorder),
                recorder,
                telemetry,
            )
            c1 = clock()
            feed = tap.feed
            perf = time.perf_counter
            for piece in body:
                feed(piece, perf())
            c2 = clock()
            tap.close(perf())
            recorder.finish(perf(), status=200, response_bytes=sum(map(len, body)))
            c3 = clock()
            feed_s += c2 - c1
            call_s += (c1 - c0) + (c3 - c2)
    finally:
        telemetry.shutdown(1.0)
    return feed_s / (streams * len(body)) * 1e6, call_s / streams * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tap_micro", description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=200, help="output chunks per stream")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--usage-filter", action="store_true", help="also time the usage-chunk filter")
    args = parser.parse_args()
    results = [run(args.streams, args.chunks) for _ in range(args.repeat)]
    per_chunk = min(r[0] for r in results)
    per_stream = min(r[1] for r in results)
    print(
        f"tap.feed: {per_chunk:.2f} µs CPU per chunk; start + close + finish: {per_stream:.0f} µs CPU "
        f"per stream ({args.streams} streams x {args.chunks + 2} chunks, best of {args.repeat})"
    )
    if args.usage_filter:
        best = min(filter_run(args.streams, args.chunks) for _ in range(args.repeat))
        print(f"usage filter: {best:.2f} µs CPU per chunk")


if __name__ == "__main__":
    main()
