"""Build the proxy and admin aiohttp applications; every resource is owned by a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from sidecar.config import Config
from sidecar.proxy.admin import admin_routes, install_exposition
from sidecar.proxy.handler import proxy
from sidecar.proxy.state import STATE, ProxyState


def _client_session(config: Config, *, pooled: bool) -> aiohttp.ClientSession:
    up = config.upstream
    if pooled:
        connector = aiohttp.TCPConnector(limit=up.max_connections, keepalive_timeout=up.keepalive_timeout_s)
    else:
        connector = aiohttp.TCPConnector(limit=up.max_connections, force_close=True)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, connect=up.connect_timeout_s, sock_read=up.read_timeout_s),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=(),
        trust_env=False,
    )


def build_proxy_app(state: ProxyState) -> web.Application:
    app = web.Application(client_max_size=state.config.listener.max_body_bytes)
    app[STATE] = state

    async def sessions(app: web.Application) -> AsyncIterator[None]:
        state.session = _client_session(state.config, pooled=True)
        state.fresh_session = _client_session(state.config, pooled=False)
        yield
        await state.session.close()
        await state.fresh_session.close()

    app.cleanup_ctx.append(sessions)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def build_admin_app(state: ProxyState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    install_exposition(app, state.telemetry.prometheus_exposition)
    app.router.add_routes(admin_routes)
    return app
