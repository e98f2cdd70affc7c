"""Per-request controls: ``x-sim-*`` request headers resolved against the app's settings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, cast

from sidecar.simulator.settings import (
    FAULT_NAMES,
    FINISH_NAMES,
    STREAM_VARIANTS,
    FaultName,
    FinishName,
    SimulatorSettings,
    StreamVariant,
)

TTFC_HEADER: Final = "x-sim-ttfc-ms"
ITL_HEADER: Final = "x-sim-itl-ms"
TOKENS_HEADER: Final = "x-sim-tokens"
FINISH_HEADER: Final = "x-sim-finish"
FAULT_HEADER: Final = "x-sim-fault"
OVERSIZE_HEADER: Final = "x-sim-oversize-bytes"
STALL_HEADER: Final = "x-sim-stall-ms"
STREAM_HEADER: Final = "x-sim-stream"
BODY_BYTES_HEADER: Final = "x-sim-body-bytes"


class ControlError(ValueError):
    """A control header has a value the simulator does not understand (answered with 400)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Controls:
    """What one request asked for, after defaults were applied."""

    ttfc_ms: float
    itl_ms: float
    tokens: int
    finish: FinishName | None
    fault: FaultName | None
    oversize_bytes: int
    stall_ms: float
    stream: frozenset[StreamVariant] = frozenset()


def _number(headers: Mapping[str, str], name: str, default: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ControlError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ControlError(f"{name} must be a finite number >= 0, got {raw!r}")
    return value


def _count(headers: Mapping[str, str], name: str, default: int) -> int:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ControlError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ControlError(f"{name} must be >= 0, got {raw!r}")
    return value


def parse_controls(headers: Mapping[str, str], settings: SimulatorSettings) -> Controls:
    """Read the ``x-sim-*`` headers (case-insensitive mapping); raise :class:`ControlError`."""
    finish: str | None = headers.get(FINISH_HEADER, settings.finish)
    if finish is not None:
        finish = finish.strip().lower()
        if finish not in FINISH_NAMES:
            raise ControlError(f"{FINISH_HEADER} must be one of {sorted(FINISH_NAMES)}")
    fault: str | None = headers.get(FAULT_HEADER, settings.fault)
    if fault is not None:
        fault = fault.strip().lower()
        if fault in ("", "none"):
            fault = None
        elif fault not in FAULT_NAMES:
            raise ControlError(f"{FAULT_HEADER} must be one of {sorted(FAULT_NAMES)}")
    stream = settings.stream
    raw_stream = headers.get(STREAM_HEADER)
    if raw_stream is not None:
        names = {name.strip().lower() for name in raw_stream.split(",")} - {"", "none"}
        if not names <= STREAM_VARIANTS:
            raise ControlError(f"{STREAM_HEADER} must be a comma-separated list of {sorted(STREAM_VARIANTS)}")
        stream = cast("frozenset[StreamVariant]", frozenset(names))
    return Controls(
        ttfc_ms=_number(headers, TTFC_HEADER, settings.ttfc_ms),
        itl_ms=_number(headers, ITL_HEADER, settings.itl_ms),
        tokens=_count(headers, TOKENS_HEADER, settings.tokens),
        finish=cast("FinishName | None", finish),
        fault=cast("FaultName | None", fault),
        oversize_bytes=_count(headers, OVERSIZE_HEADER, settings.oversize_bytes),
        stall_ms=_number(headers, STALL_HEADER, settings.stall_ms),
        stream=stream,
    )
