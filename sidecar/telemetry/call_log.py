"""One structured record per GenAI call: models, status, timings, tokens, finish reasons, and
(when configured) its cost and attribution attributes: tenant headers and the hashed user id and
API key, never the raw ones.

Never content, never per chunk. The record goes to the OTLP log pipeline (when there is one) as a
``genai_sidecar.call`` event carrying the span's trace and span ids, and, with
``telemetry.call_log = "stdout"``, to stdout as one JSON line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

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


class CallLog:
    """Writes call records to the OTLP logger and, optionally, to stdout."""

    def __init__(self, logger: Logger | None, *, stdout: bool, stream: TextIO | None = None):
        self._logger = logger
        self._stdout = stdout
        self._stream = stream
        self.enabled = logger is not None or stdout

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
        if self._stdout:
            line: dict[str, Any] = {"event": semconv.CALL_RECORD_EVENT, "time_unix_ns": timestamp_ns}
            if span is not None and span.is_valid:
                line["trace_id"] = format(span.trace_id, "032x")
                line["span_id"] = format(span.span_id, "016x")
            line.update(body)
            stream = self._stream or sys.stdout
            stream.write(_json.dumps_str(line) + "\n")
            stream.flush()
