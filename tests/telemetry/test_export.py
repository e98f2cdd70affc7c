"""A dead or unresponsive collector never blocks recording; what is lost is counted.

Assertions are on counts (items dropped, calls completed), not on elapsed time; thread joins
carry a generous limit only so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from sidecar.config import OTLPConfig, PrometheusConfig, TelemetryConfig
from sidecar.genai.observations import OutputKind, Usage
from sidecar.telemetry.pipeline import Telemetry
from tests.steps import OutputChunk
from tests.telemetry.conftest import chat, observe

HANG_LIMIT_S = 60.0


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that completes TCP handshakes (kernel backlog) but never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def build(port: int, reader: InMemoryMetricReader, *, max_queue_size: int) -> Telemetry:
    return Telemetry.build(
        TelemetryConfig(),
        OTLPConfig(
            enabled=True,
            endpoint=f"http://127.0.0.1:{port}",
            timeout_s=0.5,
            export_interval_s=3600.0,
            max_queue_size=max_queue_size,
        ),
        PrometheusConfig(),
        server_address="127.0.0.1",
        server_port=8000,
        environ={},
        extra_metric_readers=(reader,),
    )


def record_calls(telemetry: Telemetry, count: int) -> int:
    """Run ``count`` GenAI calls on a worker thread; returns how many completed."""
    done: list[int] = []

    def work() -> None:
        for i in range(count):
            recorder = telemetry.start(request=chat(), method="POST", headers={}, t0=float(i))
            observe(recorder, OutputChunk(kind=OutputKind.TEXT, text="x"), i + 0.1)
            observe(recorder, Usage(input_tokens=1, output_tokens=1), i + 0.2)
            recorder.finish(i + 0.3, status=200, response_bytes=10)
            done.append(i)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(HANG_LIMIT_S)
    assert not worker.is_alive(), "recording blocked on the collector"
    return len(done)


def dropped(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    data = reader.get_metrics_data()
    out: dict[tuple[str, str], int] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != "genai_sidecar.export.dropped":
                    continue
                for point in metric.data.data_points:
                    key = (str(point.attributes["signal"]), str(point.attributes["reason"]))
                    out[key] = int(point.value)  # type: ignore[union-attr]
    return out


def shutdown(telemetry: Telemetry) -> None:
    worker = threading.Thread(target=telemetry.shutdown, args=(1.0,), daemon=True)
    worker.start()
    worker.join(HANG_LIMIT_S)
    assert not worker.is_alive(), "shutdown ignored its timeout"


def test_blackhole_collector_fills_the_queue_and_drops_are_counted(blackhole: int) -> None:
    reader = InMemoryMetricReader()
    telemetry = build(blackhole, reader, max_queue_size=4)
    try:
        assert record_calls(telemetry, 200) == 200
        counts = dropped(reader)
        # The exporter holds each batch until its deadline (0.5 s), so the queue (4) fills at once
        # and most later spans and call records are refused: accepting 100 of them would take
        # the 200 calls over 12 s, far slower than even a loaded machine records them.
        assert counts[("traces", "queue_full")] >= 100
        assert counts[("logs", "queue_full")] >= 100
    finally:
        shutdown(telemetry)


def test_refused_connection_counts_every_lost_item(closed_port: int) -> None:
    reader = InMemoryMetricReader()
    telemetry = build(closed_port, reader, max_queue_size=2048)
    try:
        assert record_calls(telemetry, 10) == 10
        telemetry.force_flush(2.0)
        counts = dropped(reader)
        # Every span reached the exporter (queue large enough) and every export failed.
        assert counts.get(("traces", "queue_full"), 0) + counts[("traces", "export_failed")] == 10
        assert counts[("logs", "export_failed")] == 10
        assert counts[("metrics", "export_failed")] > 0
    finally:
        shutdown(telemetry)


def test_disabled_sdk_records_nothing_and_never_fails() -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry.build(
        TelemetryConfig(),
        OTLPConfig(endpoint="http://127.0.0.1:1"),
        PrometheusConfig(),
        server_address="127.0.0.1",
        server_port=8000,
        environ={"OTEL_SDK_DISABLED": "true"},
        extra_metric_readers=(reader,),
    )
    recorder = telemetry.start(request=chat(), method="POST", headers={}, t0=0.0)
    carrier: dict[str, str] = {}
    recorder.inject(carrier)
    recorder.finish(1.0, status=200, response_bytes=1)
    telemetry.tap_error("decoder")
    assert telemetry.prometheus_exposition()[0] == b""
    assert carrier == {}
    assert reader.get_metrics_data() is None
    telemetry.shutdown(1.0)
