"""Client connections: bounded in number and in time, and quiet about client mistakes.

aiohttp's server has no timeout for a request head and keeps idle connections for an hour; a few
hundred slow or silent connections would hold every file descriptor. Here each listener gets:

* a cap on open connections (``listener.max_connections``, kept under the process's file limit):
  one more gets ``503`` and is closed at once;
* a header timeout (``listener.header_timeout_s``): from the connection's first moment, or the first
  byte of a later request head, to the complete head; then the connection is closed;
* the keep-alive idle timeout (``listener.keepalive_timeout_s``, aiohttp's own timer);
* malformed requests answered with a JSON 400 naming the kind of error, logged as one debug line
  without the request's bytes (no header value, no query string), and counted.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from sidecar import _json

log = logging.getLogger(__name__)

#: File descriptors kept free for everything but client connections (upstream connections are
#: counted separately: each client connection may hold one).
_FD_RESERVE: Final = 64


def _json_error(status: int, reason: str, error_type: str, message: str) -> bytes:
    body = _json.dumps({"error": {"type": error_type, "message": message}})
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_FULL: Final = _json_error(
    503, "Service Unavailable", "too_many_connections", "the sidecar holds its maximum of client connections"
)


def connection_cap(configured: int, *, share: int = 2) -> int:
    """``configured``, lowered so that ``share`` descriptors per client connection (its own and an
    upstream one) fit under the soft ``RLIMIT_NOFILE`` with a reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, (soft - _FD_RESERVE) // share))


class ConnectionGuard:
    """Shared by every connection of one listener: the count, the limits, the rejection counter."""

    __slots__ = ("header_timeout_s", "max_connections", "on_reject", "open")

    def __init__(
        self, *, max_connections: int, header_timeout_s: float, on_reject: Callable[[str], None]
    ) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.on_reject = on_reject
        self.open = 0

    def reject(self, reason: str) -> None:
        try:
            self.on_reject(reason)
        except Exception:  # counting must never break a connection
            log.debug("rejection count failed", exc_info=True)


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection protocol with the limits of :class:`ConnectionGuard`."""

    __slots__ = ("_counted", "_guard", "_head_timer")

    def __init__(self, manager: web.Server, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._head_timer: asyncio.TimerHandle | None = None
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.reject("too_many_connections")
            if self.transport is not None:
                self.transport.write(_FULL)
            self.force_close()
            return
        guard.open += 1
        self._counted = True
        self._arm_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._guard.open -= 1
            self._counted = False
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:  # a request head (or a parse error) is complete
            self._disarm_head_timer()
        elif data and self._head_timer is None and not self._request_in_progress and not self._messages:
            self._arm_head_timer()  # the first bytes of the next request head

    @property
    def busy(self) -> bool:
        """A request is being handled on this connection."""
        return self._request_in_progress

    def cut(self) -> asyncio.Task[None] | None:
        """Cancel the request being handled (shutdown's grace is over); the task to wait for."""
        task = self._task_handler
        if not self._request_in_progress or task is None or task.done():
            return None
        task.cancel()
        return task

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self._loop.call_later(self._guard.header_timeout_s, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._request_in_progress or self._messages:
            return
        self._guard.reject("header_timeout")
        log.debug("closed a connection whose request head did not arrive in time")
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A JSON error instead of aiohttp's text page, one debug line for a client's mistake, and
        no request bytes in either (aiohttp quotes the offending line, headers included)."""
        if status >= 500:
            # The traceback's messages may quote request bytes: only at debug level.
            log.error("internal error handling a request: %s", type(exc).__name__)
            log.debug("internal error handling a request", exc_info=exc)
            error_type, text = "internal_error", "the sidecar failed to handle the request"
        else:
            kind = type(exc).__name__ if exc is not None else "BadRequest"
            self._guard.reject("malformed_request")
            log.debug("malformed request rejected: %s", kind)
            error_type, text = "bad_request", f"malformed request ({kind})"
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        body = _json.dumps({"error": {"type": error_type, "message": text}})
        response = web.Response(status=status, body=body, content_type="application/json")
        response.force_close()
        return response


class GuardedServer(web.Server):
    """An aiohttp ``Server`` whose connections are :class:`GuardedRequestHandler`."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, guard=self.guard, **self._kwargs)

    def _guarded(self) -> list[GuardedRequestHandler]:
        return [c for c in self.connections if isinstance(c, GuardedRequestHandler)]

    def busy(self) -> bool:
        """Any connection is handling a request."""
        return any(c.busy for c in self._guarded())

    def cut(self) -> set[asyncio.Task[None]]:
        """Cancel every request being handled; the tasks to wait for."""
        return {task for c in self._guarded() if (task := c.cut()) is not None}


class GuardedRunner(web.AppRunner):
    """An ``AppRunner`` serving its application through a :class:`GuardedServer`."""

    def __init__(self, app: web.Application, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.guard = guard

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            guard=self.guard,
            **plain._kwargs,
        )
