"""Run the proxy and admin listeners; shut down in a fixed order on SIGTERM / SIGINT.

Shutdown order: /readyz turns 503 -> wait ``drain_delay_s`` (endpoints update) -> stop accepting
-> in-flight streams get up to ``shutdown_grace_s`` (once: cut at drain + grace) -> the rest are
cancelled -> upstream sessions close -> telemetry is flushed -> the admin port closes. A second
signal skips the remaining waits and flushes telemetry with a 1 s bound. A port that cannot be
bound ends start-up at once, without the drain delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from sidecar.config import Config, parse_host_port, upstream_origin
from sidecar.proxy.app import build_admin_app, build_proxy_app
from sidecar.proxy.protocol import ConnectionGuard, GuardedRunner, GuardedServer, connection_cap
from sidecar.proxy.state import ProxyState, make_state
from sidecar.telemetry.pipeline import Telemetry
from sidecar.telemetry.providers import log_exporters

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


#: Connections the admin port keeps open at once (probes and scrapers; the rest get 503).
_ADMIN_CONNECTIONS = 64
#: aiohttp's own wait for handlers at cleanup; by then the grace has run and in-flight work is cut.
_CLEANUP_S = 1.0
#: How long cut handlers get to record their end before the listener closes.
_CUT_WAIT_S = 2.0
#: Telemetry flush bound at exit, and after a second signal.
_FLUSH_S = 5.0
_FORCED_FLUSH_S = 1.0


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
        listener = config.listener
        self.guard = ConnectionGuard(
            max_connections=connection_cap(listener.max_connections),
            header_timeout_s=listener.header_timeout_s,
            on_reject=telemetry.request_rejected,
        )
        admin_guard = ConnectionGuard(
            max_connections=_ADMIN_CONNECTIONS,
            header_timeout_s=listener.header_timeout_s,
            on_reject=telemetry.request_rejected,
        )
        limits: dict[str, Any] = {
            "access_log": None,
            "handle_signals": False,
            "shutdown_timeout": _CLEANUP_S,
            "keepalive_timeout": listener.keepalive_timeout_s,
            # Request bodies pass as received: never decompressed (max_body_bytes counts wire bytes).
            "auto_decompress": False,
        }
        self._proxy = GuardedRunner(
            build_proxy_app(self.state),
            guard=self.guard,
            # A client that leaves cancels its handler at once, so the upstream request is
            # closed even before its response head arrives (no model time spent on nobody).
            handler_cancellation=True,
            **limits,
        )
        self._admin = GuardedRunner(build_admin_app(self.state), guard=admin_guard, **limits)
        self._stopped = False
        self._force = asyncio.Event()

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
        log_exporters(self.telemetry.settings)  # one line per exporter and its target

    @property
    def proxy_url(self) -> str:
        return _url(self._proxy)

    @property
    def admin_url(self) -> str:
        return _url(self._admin)

    def force(self) -> None:
        """Skip what is left of the drain delay and the grace: cut in-flight streams now."""
        self._force.set()

    async def close_now(self) -> None:
        """Close at once (start-up failed): no drain delay, no grace, a short telemetry flush."""
        self.force()
        await self.shutdown()

    async def shutdown(self) -> None:
        """/readyz turns 503 -> ``drain_delay_s`` -> stop accepting -> in-flight requests get up to
        ``shutdown_grace_s`` -> the rest are cut -> telemetry flush -> the admin port closes.
        :meth:`force` (a second signal) cuts the waits short."""
        if self._stopped:
            return
        self._stopped = True
        self.state.draining = True
        listener = self.config.listener
        await self._wait(listener.drain_delay_s)
        for site in list(self._proxy.sites):
            await site.stop()
        server = self._proxy.server
        if isinstance(server, GuardedServer):
            server.pre_shutdown()  # idle keep-alive connections close now
            loop = asyncio.get_running_loop()
            deadline = loop.time() + listener.shutdown_grace_s
            while server.busy() and not self._force.is_set() and loop.time() < deadline:
                await self._wait(min(0.05, deadline - loop.time()))
            cut = server.cut()
            if cut:
                await asyncio.wait(cut, timeout=_CUT_WAIT_S)
        await self._proxy.cleanup()
        bound = _FORCED_FLUSH_S if self._force.is_set() else _FLUSH_S
        await asyncio.to_thread(self.telemetry.shutdown, bound)
        await self._admin.cleanup()

    async def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; a :meth:`force` ends the sleep at once."""
        if seconds <= 0 or self._force.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._force.wait(), seconds)


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
    """Run until SIGTERM / SIGINT, then drain and exit; a second signal cuts the drain short
    (one worker's arguments: see ``Sidecar``)."""
    telemetry = build_telemetry(config, environ if environ is not None else os.environ)
    sidecar = Sidecar(config, telemetry, reuse_port=reuse_port, admin_path=admin_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            log.info("second signal: cutting in-flight streams now")
            sidecar.force()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await sidecar.start()
    except OSError:
        await sidecar.close_now()
        raise
    await stop.wait()
    log.info("shutting down: draining %d in-flight stream(s)", sidecar.state.in_flight)
    await sidecar.shutdown()


def raise_file_limit() -> None:
    """Lift the soft open-files limit to the hard one (more client connections fit under it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
