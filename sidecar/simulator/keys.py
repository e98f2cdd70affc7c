"""Typed keys for the simulator app's settings and state, and the current request's arrival time."""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Final

from aiohttp import web

from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState

SETTINGS_KEY: Final = web.AppKey("simulator_settings", SimulatorSettings)
STATE_KEY: Final = web.AppKey("simulator_state", SimulatorState)
RECEIVED_AT: Final[ContextVar[float]] = ContextVar("simulator_received_at")
"""``time.monotonic()`` when the current request reached the simulator (set by the middleware;
the handler runs in the same task, so it sees the value)."""


def received_at() -> float:
    """Arrival time of the request being handled; now, when called outside a request."""
    return RECEIVED_AT.get(time.monotonic())
