"""StreamTap: decoder + dialect observer + recorder on the copy loop. ``feed`` never raises.

The handler writes each chunk to the client first and only then hands it to the tap, so decoding
adds no latency to the stream. Any exception in the tap switches telemetry off for this stream only,
counts one ``genai_sidecar.tap.errors{reason}`` and lets the bytes keep flowing.
"""

from __future__ import annotations

import logging

from sidecar.genai.dialect import ResponseObserver
from sidecar.telemetry.pipeline import Telemetry
from sidecar.telemetry.recorder import StreamRecorder
from sidecar.wire.decoder import Decoder
from sidecar.wire.errors import WireError

log = logging.getLogger(__name__)


class StreamTap:
    __slots__ = ("_decoder", "_observer", "_recorder", "_telemetry", "active")

    def __init__(
        self,
        decoder: Decoder,
        observer: ResponseObserver,
        recorder: StreamRecorder,
        telemetry: Telemetry,
    ) -> None:
        self._decoder = decoder
        self._observer = observer
        self._recorder = recorder
        self._telemetry = telemetry
        self.active = True

    def feed(self, chunk: bytes, t: float) -> None:
        """Decode one chunk that has already been sent to the client; ``t`` is its arrival time."""
        if not self.active:
            return
        try:
            for event in self._decoder.feed(chunk):
                for obs in self._observer.observe(event):
                    self._recorder.observe(obs, t)
        except Exception as e:
            self._disable(e)

    def close(self, t: float) -> None:
        """End of body: flush the decoder and let the observer note a missing terminal event."""
        if not self.active:
            return
        try:
            for event in self._decoder.close():
                for obs in self._observer.observe(event):
                    self._recorder.observe(obs, t)
            for obs in self._observer.close():
                self._recorder.observe(obs, t)
        except Exception as e:
            self._disable(e)

    def _disable(self, error: Exception) -> None:
        self.active = False
        reason = "wire_error" if isinstance(error, WireError) else type(error).__name__
        log.debug("telemetry tap disabled for one stream: %r", error)
        self._telemetry.tap_error(reason)
