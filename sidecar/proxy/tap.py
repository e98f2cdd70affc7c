"""StreamTap: decoder + dialect observer on the copy loop, timing the output chunks. ``feed`` never raises.

Per chunk the tap does only what the numbers need: it decodes, lets the dialect's observer fold
each event into the call's accumulator (``recorder.call``), and tells the recorder when output
chunks arrived. Everything else is read from the accumulator once, when the recorder finishes.

The handler writes each chunk to the client first and only then hands it to the tap, so decoding
adds no latency to the stream. Any exception in the tap switches telemetry off for this stream only,
counts one ``genai_sidecar.tap.errors{reason}`` and lets the bytes keep flowing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sidecar.genai.observer import Observer
from sidecar.telemetry.pipeline import Telemetry
from sidecar.telemetry.recorder import StreamRecorder
from sidecar.wire.decoder import Decoder
from sidecar.wire.errors import WireError
from sidecar.wire.events import WireEvent

log = logging.getLogger(__name__)


class StreamTap:
    __slots__ = ("_decoder", "_observer", "_recorder", "_telemetry", "active")

    def __init__(
        self,
        decoder: Decoder,
        observer: Observer,
        recorder: StreamRecorder,
        telemetry: Telemetry,
    ) -> None:
        self._decoder = decoder
        self._observer = observer
        self._recorder = recorder
        self._telemetry = telemetry
        self.active = True

    @property
    def complete(self) -> bool:
        """The stream's terminal event (``[DONE]``, ``message_stop``, ``done: true``) was read: the
        response is complete whatever happens after it (a client gone, a late chunked terminator)."""
        return self._observer.acc.complete

    def feed(self, chunk: bytes, t: float) -> None:
        """Decode one chunk that has already been sent to the client; ``t`` is its arrival time."""
        if not self.active:
            return
        try:
            self._observe(self._decoder.feed(chunk), t)
        except Exception as e:
            self._disable(e)

    def close(self, t: float) -> None:
        """End of body: flush the decoder and let the observer note a missing terminal event."""
        if not self.active:
            return
        try:
            self._observe(self._decoder.close(), t)
            self._observer.close()
        except Exception as e:
            self._disable(e)

    def _observe(self, events: Iterable[WireEvent], t: float) -> None:
        observe = self._observer.observe
        for event in events:
            count = observe(event)
            if count:
                self._recorder.output(t, count)

    def _disable(self, error: Exception) -> None:
        self.active = False
        reason = "wire_error" if isinstance(error, WireError) else type(error).__name__
        log.debug("telemetry tap disabled for one stream: %r", error)
        self._telemetry.tap_error(reason)
