"""WARN log lines for upstream failures, rate-limited: at most one line per kind of failure every
:data:`INTERVAL_S`, saying how many more of that kind were left out since the last line. The line
names the error kind, the configured upstream origin and the OS reason, never a request's URL,
headers or body."""

from __future__ import annotations

import logging
import time
from typing import Final

log = logging.getLogger("sidecar.proxy.upstream")

INTERVAL_S: Final = 10.0


class UpstreamWarnings:
    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def reset(self) -> None:
        """Forget what was logged: the next failure of each kind is logged at once."""
        self._last.clear()
        self._left_out.clear()

    def warn(self, kind: str, origin: str, reason: str) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval_s:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return
        self._last[kind] = now
        more = self._left_out.pop(kind, 0)
        suffix = f" ({more} more since the last such line)" if more else ""
        log.warning("upstream %s: %s: %s%s", kind, origin, reason, suffix)


#: One per process: the limit holds across requests.
UPSTREAM_WARNINGS: Final = UpstreamWarnings()
