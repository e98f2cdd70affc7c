"""One structured record per GenAI call: models, status, timings, tokens, finish reasons, and
(when configured) its cost and attribution attributes: tenant headers and the hashed user id and
API key, never the raw ones.

Never content, never per chunk. The record goes to the OTLP log pipeline (when there is one) as a
``genai_sidecar.call`` event carrying the span's trace and span ids, and, with
``telemetry.call_log = "stdout"``, to stdout as one JSON line. Stdout lines go through a bounded
queue to a writer thread: a slow or blocked stdout pipe never stalls the event loop; a line the
full queue cannot take is counted as ``genai_sidecar.export.dropped{signal="call_log",
reason="queue_full"}``.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext

from sidecar import _json
from sidecar.genai.observations import Usage
from sidecar.telemetry import semconv

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """The facts of one finished GenAI call."""

    operation: str
    provider: str
    request_model: str | None
    response_model: str | None
    response_id: str | None
    stream: bool
    status: int | None
    error_type: str | None
    duration_s: float
    ttfc_s: float | None
    usage: Usage | None
    finish_reasons: tuple[str, ...]
    output_chunks: int
    response_bytes: int | None
    #: Attribution attributes of the call (tenant headers, hashed user id and API key).
    attribution: Mapping[str, str] = field(default_factory=dict)
    #: The call's ``gen_ai.usage.cost.*`` attributes when it was priced.
    cost: Mapping[str, str | float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        usage = self.usage or Usage()
        fields: dict[str, Any] = {
            "operation": self.operation,
            "provider": self.provider,
            "request_model": self.request_model,
            "response_model": self.response_model,
            "response_id": self.response_id,
            "stream": self.stream,
            "status": self.status,
            "error_type": self.error_type,
            "duration_s": round(self.duration_s, 6),
            "ttfc_s": None if self.ttfc_s is None else round(self.ttfc_s, 6),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "finish_reasons": list(self.finish_reasons),
            "output_chunks": self.output_chunks,
            "response_bytes": self.response_bytes,
            "cost": self.cost.get(semconv.GEN_AI_USAGE_COST_AMOUNT),
            "currency": self.cost.get(semconv.GEN_AI_USAGE_COST_CURRENCY),
            **self.attribution,
        }
        return {key: value for key, value in fields.items() if value is not None}


#: Stdout lines waiting for the writer thread at most.
MAX_PENDING_LINES: Final = 10_000


class LineWriter:
    """Writes lines to a text stream from its own thread, through a bounded queue."""

    def __init__(
        self, stream: TextIO | None, *, on_drop: Callable[[int], None], max_pending: int = MAX_PENDING_LINES
    ) -> None:
        self._stream = stream
        self._on_drop = on_drop
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="call-log-stdout", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        """Queue one line; never blocks (a line the full queue cannot take is counted)."""
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self._on_drop(1)

    def close(self, timeout_s: float) -> None:
        """Write what is queued, then stop the thread (waits at most ``timeout_s``)."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            if line is None:
                return
            stream = self._stream or sys.stdout
            try:
                stream.write(line)
                if self._queue.empty():
                    stream.flush()
            except Exception:
                _log.debug("call log write failed", exc_info=True)
                self._on_drop(1)


class CallLog:
    """Writes call records to the OTLP logger and, optionally, to stdout (off the event loop)."""

    def __init__(
        self,
        logger: Logger | None,
        *,
        stdout: bool,
        stream: TextIO | None = None,
        on_drop: Callable[[int], None] = lambda count: None,
    ):
        self._logger = logger
        self._writer = LineWriter(stream, on_drop=on_drop) if stdout else None
        self.enabled = logger is not None or stdout

    def close(self, timeout_s: float) -> None:
        """Write the queued stdout lines and stop the writer thread."""
        if self._writer is not None:
            self._writer.close(timeout_s)

    def emit(
        self, record: CallRecord, *, timestamp_ns: int, ctx: Context | None, span: SpanContext | None
    ) -> None:
        body = record.as_dict()
        if self._logger is not None:
            attributes: dict[str, str] = {semconv.GEN_AI_OPERATION_NAME: record.operation}
            attributes[semconv.GEN_AI_PROVIDER_NAME] = record.provider
            if record.request_model:
                attributes[semconv.GEN_AI_REQUEST_MODEL] = record.request_model
            if record.error_type:
                attributes[semconv.ERROR_TYPE] = record.error_type
            self._logger.emit(
                timestamp=timestamp_ns,
                context=ctx,
                severity_number=SeverityNumber.WARN if record.error_type else SeverityNumber.INFO,
                severity_text="WARN" if record.error_type else "INFO",
                body=body,
                attributes=attributes,
                event_name=semconv.CALL_RECORD_EVENT,
            )
        if self._writer is not None:
            line: dict[str, Any] = {"event": semconv.CALL_RECORD_EVENT, "time_unix_ns": timestamp_ns}
            if span is not None and span.is_valid:
                line["trace_id"] = format(span.trace_id, "032x")
                line["span_id"] = format(span.span_id, "016x")
            line.update(body)
            self._writer.write(_json.dumps_str(line) + "\n")
