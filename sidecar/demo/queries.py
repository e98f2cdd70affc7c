"""The PromQL behind each figure of the demo's table: the same numbers a Prometheus that scrapes
the sidecar gives (the demo computes them from one scrape of /metrics, cumulative since start).

Names are the released (v1.41) semantic-convention names as the Prometheus exporter renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sidecar.telemetry import semconv
from sidecar.telemetry.semconv import Signal


def _name(signal: Signal) -> str:
    return semconv.prometheus_name(semconv.SIGNALS[signal][semconv.V1_41])


MODEL: Final = semconv.GEN_AI_REQUEST_MODEL.replace(".", "_")
ERROR: Final = semconv.ERROR_TYPE.replace(".", "_")
TOKEN_TYPE: Final = semconv.GEN_AI_TOKEN_TYPE.replace(".", "_")
FINISH: Final = semconv.FINISH_REASON.replace(".", "_")

DURATION: Final = _name(Signal.OPERATION_DURATION)
TTFC: Final = _name(Signal.TIME_TO_FIRST_CHUNK)
TOKENS: Final = _name(Signal.INPUT_TOKENS)
FINISH_REASONS: Final = semconv.prometheus_name(semconv.FINISH_REASONS)

WINDOW: Final = "5m"


def _rate(series: str, selector: str = "") -> str:
    return f"sum by ({MODEL}) (rate({series}{selector}[{WINDOW}]))"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    legend: str
    promql: str


def _ttfc(q: float) -> str:
    return f"histogram_quantile({q}, sum by (le, {MODEL}) (rate({TTFC}_bucket[{WINDOW}]))) * 1000"


_OUT = f'{{{TOKEN_TYPE}="output"}}'
_IN = f'{{{TOKEN_TYPE}="input"}}'
_FAILED = f'{{{ERROR}!=""}}'
_OK = f'{{{ERROR}=""}}'
_CALLS = _rate(f"{DURATION}_count")

COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "TTFC p50", "median time from request to first output chunk, as the sidecar saw it (ms)", _ttfc(0.5)
    ),
    Column("TTFC p95", "95th percentile of the same (ms)", _ttfc(0.95)),
    Column(
        "calls",
        "GenAI calls the sidecar recorded",
        f"sum by ({MODEL}) (increase({DURATION}_count[{WINDOW}]))",
    ),
    Column(
        "err%",
        "share of calls that ended with an error.type",
        f"100 * {_rate(f'{DURATION}_count', _FAILED)} / {_CALLS}",
    ),
    Column(
        "in/call",
        "input tokens per call, as the model server reported them",
        f"{_rate(f'{TOKENS}_sum', _IN)} / {_rate(f'{TOKENS}_count', _IN)}",
    ),
    Column(
        "out/call",
        "output tokens per call",
        f"{_rate(f'{TOKENS}_sum', _OUT)} / {_rate(f'{TOKENS}_count', _OUT)}",
    ),
    Column(
        "tok/s",
        "decode speed: output tokens per second of call time (successful calls)",
        f"{_rate(f'{TOKENS}_sum', _OUT)} / {_rate(f'{DURATION}_sum', _OK)}",
    ),
    Column(
        "usage",
        "calls whose token usage the sidecar recorded / all calls",
        f"{_rate(f'{TOKENS}_count', _OUT)} / {_CALLS}",
    ),
)

FINISH_PROMQL: Final = f"sum by ({MODEL}, {FINISH}) (increase({FINISH_REASONS}_total[{WINDOW}]))"
ERRORS_PROMQL: Final = f"sum by ({MODEL}, {ERROR}) (increase({DURATION}_count{_FAILED}[{WINDOW}]))"
HISTOGRAM_PROMQL: Final = f"sum by (le, {MODEL}) (increase({TTFC}_bucket[{WINDOW}]))"
