"""The upstream side: pooled sessions, and a send that never delivers a request twice.

A request is sent again (once, on a fresh connection) only when the first attempt failed on a
*reused* pooled connection and either nothing of it was written (the connection was already
closing when the first byte went out), or the method is idempotent (RFC 9110 §9.2.2) or carries an
``Idempotency-Key``, and its body can be sent again. A non-idempotent request that was written is
never repeated: the server may have read it (one prompt, two generations, billed twice).

Timeouts: ``connect_timeout_s`` times the TCP connect alone; with a bounded pool it also bounds the
wait for a free connection, reported as the sidecar's own ``upstream_pool_exhausted`` (503), not as
an upstream timeout.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Final, Protocol

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection
from multidict import CIMultiDict
from yarl import URL

from sidecar.config import UpstreamConfig

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_IDEMPOTENCY_HEADERS: Final = ("Idempotency-Key", "X-Idempotency-Key")
#: What aiohttp's writer says when the transport was already closing: no byte was written.
_CLOSING_TRANSPORT: Final = "Cannot write to closing transport"


class PoolExhausted(Exception):
    """Every upstream connection (``upstream.max_connections``) stayed busy for ``connect_timeout_s``."""


@dataclass(slots=True)
class Attempt:
    """What the trace hooks saw of one attempt."""

    reused: bool = False
    queued: bool = False


async def _on_queued_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    _attempt(ctx).queued = True


async def _on_queued_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    _attempt(ctx).queued = False


async def _on_reuse(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
    _attempt(ctx).reused = True


def _attempt(ctx: SimpleNamespace) -> Attempt:
    attempt = ctx.trace_request_ctx
    assert isinstance(attempt, Attempt)
    return attempt


def _trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_queued_start.append(_on_queued_start)
    trace.on_connection_queued_end.append(_on_queued_end)
    trace.on_connection_reuseconn.append(_on_reuse)
    return trace


class HeadCheckingProtocol(ResponseHandler):
    """Notes line folding in a response head, which aiohttp's lenient parser unfolds silently."""

    __slots__ = ("_head_tail", "_in_head", "folded")

    def __init__(self, loop: Any) -> None:
        super().__init__(loop=loop)
        self._in_head = True
        self._head_tail = b""
        #: The current response's head had an obs-fold line (RFC 9112 §5.2): the client gets 502.
        self.folded = False

    def set_response_params(self, **kwargs: Any) -> None:
        self._in_head = True
        self._head_tail = b""
        self.folded = False
        super().set_response_params(**kwargs)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            seen = self._head_tail + data
            end = seen.find(b"\r\n\r\n")
            head = seen if end < 0 else seen[:end]
            if b"\n " in head or b"\n\t" in head:
                self.folded = True
            if end >= 0:
                self._in_head = False
            self._head_tail = seen[-3:]
        super().data_received(data)


class CheckedResponse(aiohttp.ClientResponse):
    """A ``ClientResponse`` that keeps what :class:`HeadCheckingProtocol` saw of its head (the
    connection may be released before the handler looks, when the body is empty)."""

    folded = False

    async def start(self, connection: Connection) -> CheckedResponse:
        protocol = connection.protocol
        await super().start(connection)
        self.folded = isinstance(protocol, HeadCheckingProtocol) and protocol.folded
        return self


def make_session(config: UpstreamConfig, *, pooled: bool) -> aiohttp.ClientSession:
    limit = config.max_connections
    if pooled:
        connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=config.keepalive_timeout_s)
    else:
        connector = aiohttp.TCPConnector(limit=limit, force_close=True)
    loop = connector._loop
    connector._factory = functools.partial(HeadCheckingProtocol, loop=loop)  # type: ignore[assignment]
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=None,
            connect=config.connect_timeout_s if limit else None,
            sock_connect=config.connect_timeout_s,
            sock_read=config.read_timeout_s,
        ),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=(),
        trust_env=False,
        trace_configs=[_trace()],
        response_class=CheckedResponse,
    )


class Body(Protocol):
    """What :func:`send` needs of a request body (:class:`sidecar.proxy.body.RequestBody`)."""

    @property
    def replayable(self) -> bool: ...

    @property
    def pieces(self) -> int: ...

    def payload(self) -> bytes | AsyncIterator[bytes] | None: ...


async def send(
    pooled: aiohttp.ClientSession,
    fresh: aiohttp.ClientSession,
    *,
    method: str,
    url: URL,
    headers: CIMultiDict[str],
    body: Body,
    skip_auto_headers: tuple[str, ...],
) -> aiohttp.ClientResponse:
    """Send upstream (see the module docstring for when a request is sent a second time)."""
    attempt = Attempt()
    try:
        return await _request(pooled, method, url, headers, body, skip_auto_headers, attempt)
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
        if not may_resend(method, headers, attempt, e, body):
            raise
    return await _request(fresh, method, url, headers, body, skip_auto_headers, Attempt())


async def _request(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    headers: CIMultiDict[str],
    body: Body,
    skip: tuple[str, ...],
    attempt: Attempt,
) -> aiohttp.ClientResponse:
    try:
        return await session.request(
            method,
            url,
            headers=headers,
            data=body.payload(),
            allow_redirects=False,
            skip_auto_headers=skip,
            trace_request_ctx=attempt,
        )
    except aiohttp.ConnectionTimeoutError:
        if attempt.queued:
            raise PoolExhausted from None
        raise


def may_resend(
    method: str, headers: Mapping[str, str], attempt: Attempt, error: BaseException, body: Body
) -> bool:
    """A failed first attempt may be repeated on a fresh connection (module docstring)."""
    if not attempt.reused or not body.replayable:
        return False
    if nothing_written(error, body):
        return True
    return method.upper() in IDEMPOTENT_METHODS or any(h in headers for h in _IDEMPOTENCY_HEADERS)


def nothing_written(error: BaseException, body: Body) -> bool:
    """The connection was already closing at the first write (request head and first body piece
    go out in one write, so nothing of the request reached the server)."""
    cause = error if isinstance(error, aiohttp.ClientConnectionResetError) else error.__cause__
    return (
        isinstance(cause, aiohttp.ClientConnectionResetError)
        and str(cause) == _CLOSING_TRANSPORT
        and body.pieces <= 1
    )
