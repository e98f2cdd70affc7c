"""The in-memory telemetry sinks of the telemetry tests, shared here."""

from tests.telemetry.conftest import make_sink, sink

__all__ = ["make_sink", "sink"]
