"""Build the proxy and admin aiohttp applications; every resource is owned by a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from sidecar.proxy.admin import admin_routes, install_exposition
from sidecar.proxy.client import make_session
from sidecar.proxy.handler import expect_continue, proxy
from sidecar.proxy.state import STATE, ProxyState


def build_proxy_app(state: ProxyState) -> web.Application:
    app = web.Application()
    app[STATE] = state

    async def sessions(app: web.Application) -> AsyncIterator[None]:
        state.session = make_session(state.config.upstream, pooled=True)
        state.fresh_session = make_session(state.config.upstream, pooled=False)
        yield
        await state.session.close()
        await state.fresh_session.close()

    app.cleanup_ctx.append(sessions)
    app.router.add_route("*", "/{tail:.*}", proxy, expect_handler=expect_continue)
    return app


def build_admin_app(state: ProxyState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    install_exposition(app, state.telemetry.prometheus_exposition)
    app.router.add_routes(admin_routes)
    return app
