"""Connection-level faults: an abrupt close and a stalled connection."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

_DISCONNECT_POLL_S = 0.05


def close_connection(request: web.BaseRequest) -> None:
    """Close the TCP connection now: what was written is flushed, nothing more follows.

    A chunked body then lacks its final zero-length chunk, so the client sees a truncated response
    with no terminal event, as when a model server process dies mid-stream.
    """
    transport = request.transport
    if transport is not None:
        transport.close()


async def hold_open(request: web.BaseRequest, seconds: float) -> None:
    """Send nothing for ``seconds``, returning early if the client goes away."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if request.transport is None or request.transport.is_closing():
            return
        await asyncio.sleep(min(remaining, _DISCONNECT_POLL_S))
