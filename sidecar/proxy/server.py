"""Run the proxy and admin listeners; shut down in a fixed order on SIGTERM / SIGINT.

Shutdown order: /readyz turns 503 -> wait ``drain_delay_s`` (endpoints update) -> stop accepting
-> in-flight streams get up to ``shutdown_grace_s`` -> the rest are cancelled -> upstream sessions
close -> telemetry is flushed -> the admin port closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping

from aiohttp import web

from sidecar.config import Config, parse_host_port, upstream_origin
from sidecar.proxy.app import build_admin_app, build_proxy_app
from sidecar.proxy.state import ProxyState, make_state
from sidecar.telemetry.pipeline import Telemetry

log = logging.getLogger(__name__)


def build_telemetry(config: Config, environ: Mapping[str, str]) -> Telemetry:
    _, host, port = upstream_origin(config.upstream.url)
    return Telemetry.build(
        config.telemetry,
        config.exporters.otlp,
        config.exporters.prometheus,
        server_address=host,
        server_port=port,
        environ=environ,
    )


class Sidecar:
    """The running proxy: start(), then shutdown(). Ports 0 pick free ports (see the ``*_url`` properties)."""

    def __init__(
        self, config: Config, telemetry: Telemetry, *, reuse_port: bool = False, admin_path: str | None = None
    ) -> None:
        """``reuse_port``: share the proxy port with other processes (``--workers``); ``admin_path``:
        serve the admin endpoints on this Unix socket instead of ``listener.admin_address``."""
        self.config = config
        self._reuse_port = reuse_port
        self._admin_path = admin_path
        self.telemetry = telemetry
        self.state: ProxyState = make_state(config, telemetry)
        self._proxy = web.AppRunner(
            build_proxy_app(self.state),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=config.listener.shutdown_grace_s,
            # A client that leaves cancels its handler at once, so the upstream request is
            # closed even before its response head arrives (no model time spent on nobody).
            handler_cancellation=True,
        )
        self._admin = web.AppRunner(build_admin_app(self.state), access_log=None, handle_signals=False)
        self._stopped = False

    async def start(self) -> None:
        listener = self.config.listener
        await self._proxy.setup()
        await self._admin.setup()
        host, port = parse_host_port(listener.address, "listener.address")
        site = web.TCPSite(
            self._proxy, host, port, backlog=1024, reuse_address=True, reuse_port=self._reuse_port or None
        )
        await site.start()
        if self._admin_path is not None:
            await web.UnixSite(self._admin, self._admin_path).start()
        else:
            host, port = parse_host_port(listener.admin_address, "listener.admin_address")
            await web.TCPSite(self._admin, host, port, reuse_address=True).start()
        log.info("proxying %s -> %s; admin on %s", self.proxy_url, self.config.upstream.url, self.admin_url)

    @property
    def proxy_url(self) -> str:
        return _url(self._proxy)

    @property
    def admin_url(self) -> str:
        return _url(self._admin)

    async def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.state.draining = True
        if self.config.listener.drain_delay_s > 0:
            await asyncio.sleep(self.config.listener.drain_delay_s)
        await self._proxy.cleanup()
        await asyncio.to_thread(self.telemetry.shutdown, 5.0)
        await self._admin.cleanup()


def _url(runner: web.AppRunner) -> str:
    address = runner.addresses[0]
    if isinstance(address, str):  # a Unix socket
        return f"unix:{address}"
    host, port = address[:2]
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    config: Config,
    environ: Mapping[str, str] | None = None,
    *,
    reuse_port: bool = False,
    admin_path: str | None = None,
) -> None:
    """Run until SIGTERM / SIGINT, then drain and exit (one worker's arguments: see ``Sidecar``)."""
    telemetry = build_telemetry(config, environ if environ is not None else os.environ)
    sidecar = Sidecar(config, telemetry, reuse_port=reuse_port, admin_path=admin_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sidecar.start()
    except OSError:
        await sidecar.shutdown()
        raise
    await stop.wait()
    log.info("shutting down: draining %d in-flight stream(s)", sidecar.state.in_flight)
    await sidecar.shutdown()
