"""The admin port: Prometheus exposition, liveness and readiness. Never proxied."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sidecar import _json
from sidecar.proxy.state import STATE

admin_routes = web.RouteTableDef()


@admin_routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    # Rendering walks every series under the SDK's lock: keep it off the event loop.
    body, content_type = await asyncio.to_thread(request.app[STATE].telemetry.prometheus_exposition)
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
