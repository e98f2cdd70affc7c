"""The admin port: Prometheus exposition, liveness and readiness. Never proxied.

``/metrics`` is rendered on one thread of its own, and every scrape that arrives before a render
starts shares that render: many scrapers cost one render, not one each. A scrape never gets data
older than its own arrival (it waits for the next render instead of taking an older one). Renders
start at least ``RENDER_INTERVAL_S`` apart, and at least ``1 / RENDER_DUTY`` times the last
render's duration apart (at most ``MAX_SPACING_S``), so rendering a large exposition takes at most
about a fifth of a core whatever the number of scrapers. At most ``MAX_SCRAPES`` are served at
once; more get 429.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from sidecar import _json
from sidecar.proxy.state import STATE

RENDER_INTERVAL_S = 1.0
"""Two renders start at least this far apart."""
RENDER_DUTY = 0.2
"""The share of wall time renders may take: the next starts 1 / RENDER_DUTY render-durations later."""
MAX_SPACING_S = 5.0
"""The spacing never grows past this, so a scrape waits at most this plus one render."""
MAX_SCRAPES = 8
"""Concurrent ``/metrics`` requests served; the rest are answered 429 at once."""

Render = Callable[[], Awaitable[tuple[bytes, str]]]
"""Produces the exposition body and its content type."""


class Exposition:
    """One render shared by every scrape waiting for it; see the module docstring."""

    def __init__(self, render: Render, *, interval_s: float = RENDER_INTERVAL_S) -> None:
        self._render = render
        self._interval_s = interval_s
        self._last_start = -math.inf
        self._last_duration = 0.0
        self._next: asyncio.Task[tuple[bytes, str]] | None = None
        #: Scrapes being served now.
        self.active = 0
        #: Renders started (for tests and for the curious).
        self.renders = 0

    async def get(self) -> tuple[bytes, str]:
        """A render that starts after this call: the one already scheduled, or a new one."""
        if self._next is None:
            spacing = min(MAX_SPACING_S, max(self._interval_s, self._last_duration / RENDER_DUTY))
            delay = max(0.0, self._last_start + spacing - time.monotonic())
            self._next = asyncio.get_running_loop().create_task(self._render_after(delay))
        return await asyncio.shield(self._next)

    async def _render_after(self, delay: float) -> tuple[bytes, str]:
        if delay > 0:
            await asyncio.sleep(delay)
        self._next = None  # scrapes from now on wait for the next render
        self._last_start = time.monotonic()
        self.renders += 1
        try:
            return await self._render()
        finally:
            self._last_duration = time.monotonic() - self._last_start


EXPOSITION: web.AppKey[Exposition] = web.AppKey("exposition", Exposition)


def install_exposition(app: web.Application, render: Callable[[], tuple[bytes, str]]) -> None:
    """Serve ``render`` on ``/metrics`` through one shared ``Exposition``; ``render`` runs on a
    thread of its own (it walks every series under the SDK's lock), closed with the app."""

    async def exposition(app: web.Application) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-render")

        async def in_thread() -> tuple[bytes, str]:
            return await asyncio.get_running_loop().run_in_executor(executor, render)

        app[EXPOSITION] = Exposition(in_thread)
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app.cleanup_ctx.append(exposition)


admin_routes = web.RouteTableDef()


@admin_routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    exposition = request.app[EXPOSITION]
    if exposition.active >= MAX_SCRAPES:
        return web.json_response(
            {"error": {"type": "too_many_scrapes", "message": f"more than {MAX_SCRAPES} concurrent scrapes"}},
            status=429,
            headers={"Retry-After": "1"},
            dumps=_json.dumps_str,
        )
    exposition.active += 1
    try:
        body, content_type = await exposition.get()
    finally:
        exposition.active -= 1
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


@admin_routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return web.json_response({"status": "ok"}, dumps=_json.dumps_str)


@admin_routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic; 503 once draining began so load balancers stop sending new requests."""
    state = request.app[STATE]
    if state.draining:
        return web.json_response({"status": "draining"}, status=503, dumps=_json.dumps_str)
    return web.json_response({"status": "ready", "in_flight": state.in_flight}, dumps=_json.dumps_str)
