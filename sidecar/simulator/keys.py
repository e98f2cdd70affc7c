"""Typed keys under which the simulator app keeps its settings and state."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from sidecar.simulator.settings import SimulatorSettings
from sidecar.simulator.state import SimulatorState

SETTINGS_KEY: Final = web.AppKey("simulator_settings", SimulatorSettings)
STATE_KEY: Final = web.AppKey("simulator_state", SimulatorState)
RECEIVED_AT: Final = "simulator_received_at"
"""Request-dict key: ``time.monotonic()`` when the request reached the simulator."""
