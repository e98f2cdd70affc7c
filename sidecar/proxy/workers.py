"""``genai-sidecar run --workers N``: N proxy processes on one port, one admin port for the group.

- Each worker is a forked process running the whole sidecar (``server.serve``) with its proxy
  listener bound with ``SO_REUSEPORT``, so the kernel spreads connections across them, and its
  admin endpoints on a private Unix socket.
- Each worker has its own telemetry pipeline: OTLP is pushed per worker, with its own
  ``service.instance.id`` resource attribute (the value from ``OTEL_RESOURCE_ATTRIBUTES``, if any,
  plus ``-<index>``; otherwise a fresh UUID per worker).
- This process (the supervisor) serves ``listener.admin_address``: ``/metrics`` fetches every
  worker's exposition and returns their exact sums (``merge.merge_expositions``), rendered at
  most once per interval and off every proxy loop; ``/readyz`` is ready when every worker is;
  ``/healthz`` is ok while every worker lives.
- SIGTERM / SIGINT: ``/readyz`` turns 503 and every worker gets SIGTERM and drains on its own
  (the shutdown order of ``server.py``). The supervisor exits when all have, with status 1 if a
  worker had died on its own (the supervisor then stops the others: a half-sized group is not
  silently kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

import aiohttp
from aiohttp import web

from sidecar import _json
from sidecar.config import Config, parse_host_port
from sidecar.proxy.admin import EXPOSITION, Exposition, metrics
from sidecar.proxy.merge import merge_expositions

log = logging.getLogger(__name__)

_INSTANCE_ID = "service.instance.id"
_SCRAPE_TIMEOUT_S = 10.0
_KILL_AFTER_S = 10.0
"""After a worker's own drain bound (drain delay + grace), how long it still gets before SIGKILL."""


def worker_environ(environ: Mapping[str, str], index: int) -> dict[str, str]:
    """The environment of worker ``index``: its own ``service.instance.id``."""
    env = dict(environ)
    raw = env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    base = ""
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == _INSTANCE_ID:
            base = value.strip()
    instance = f"{base}-{index}" if base else str(uuid.uuid4())
    extra = f"{_INSTANCE_ID}={instance}"
    env["OTEL_RESOURCE_ATTRIBUTES"] = f"{raw},{extra}" if raw.strip() else extra
    return env


def _worker_main(config: Config, environ: dict[str, str], admin_path: str) -> None:
    from sidecar.proxy.server import serve

    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(config, environ, reuse_port=True, admin_path=admin_path))


@dataclass(slots=True)
class _Worker:
    index: int
    process: BaseProcess
    admin_path: str
    session: aiohttp.ClientSession | None = None

    async def get(self, path: str) -> aiohttp.ClientResponse:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.admin_path),
                timeout=aiohttp.ClientTimeout(total=_SCRAPE_TIMEOUT_S),
            )
        return await self.session.get(f"http://worker-{self.index}{path}")


@dataclass(slots=True)
class _Group:
    config: Config
    workers: list[_Worker] = field(default_factory=list)
    draining: bool = False
    died: bool = False


GROUP: web.AppKey[_Group] = web.AppKey("group", _Group)


async def _merged(group: _Group) -> tuple[bytes, str]:
    async def one(worker: _Worker) -> tuple[str, str]:
        async with await worker.get("/metrics") as r:
            r.raise_for_status()
            return await r.text(), r.headers.get("Content-Type", "text/plain")

    results = await asyncio.gather(*(one(w) for w in group.workers))
    body = await asyncio.to_thread(merge_expositions, [text for text, _ in results])
    return body, results[0][1]


async def _healthz(request: web.Request) -> web.Response:
    group = request.app[GROUP]
    alive = sum(w.process.is_alive() for w in group.workers)
    status = 200 if alive == len(group.workers) else 503
    body = {"status": "ok" if status == 200 else "worker_down", "workers": len(group.workers), "alive": alive}
    return web.json_response(body, status=status, dumps=_json.dumps_str)


async def _readyz(request: web.Request) -> web.Response:
    group = request.app[GROUP]
    if group.draining:
        return web.json_response({"status": "draining"}, status=503, dumps=_json.dumps_str)
    in_flight, ready = 0, 0
    for worker in group.workers:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
            async with await worker.get("/readyz") as r:
                if r.status == 200:
                    ready += 1
                    in_flight += int((await r.json()).get("in_flight", 0))
    body = {"workers": len(group.workers), "ready": ready, "in_flight": in_flight}
    if ready < len(group.workers):
        return web.json_response({"status": "starting", **body}, status=503, dumps=_json.dumps_str)
    return web.json_response({"status": "ready", **body}, dumps=_json.dumps_str)


def _admin_app(group: _Group) -> web.Application:
    app = web.Application()
    app[GROUP] = group

    async def merged() -> tuple[bytes, str]:
        return await _merged(group)

    app[EXPOSITION] = Exposition(merged)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app


def run_workers(config: Config, count: int, environ: Mapping[str, str]) -> int:
    """Fork ``count`` workers, serve the group's admin port until SIGTERM / SIGINT; the exit status."""
    work = tempfile.mkdtemp(prefix="genai-sidecar-workers-")
    context = multiprocessing.get_context("fork")
    group = _Group(config=config)
    try:
        for index in range(count):
            path = str(Path(work) / f"worker-{index}.sock")
            process = context.Process(
                target=_worker_main,
                args=(config, worker_environ(environ, index), path),
                name=f"genai-sidecar-worker-{index}",
            )
            process.start()
            group.workers.append(_Worker(index=index, process=process, admin_path=path))
        asyncio.run(_supervise(group))
    finally:
        for worker in group.workers:
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if group.died else 0


async def _supervise(group: _Group) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(_admin_app(group), access_log=None, handle_signals=False)
    await runner.setup()
    host, port = parse_host_port(group.config.listener.admin_address, "listener.admin_address")
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    address = group.config.listener.address
    log.info("%d workers on %s; admin on %s:%s", len(group.workers), address, host, port)

    async def watch(worker: _Worker) -> None:
        await asyncio.to_thread(worker.process.join)
        if not group.draining:
            log.error("worker %d exited with %s: stopping the group", worker.index, worker.process.exitcode)
            group.died = True
            stop.set()

    watchers = [loop.create_task(watch(w)) for w in group.workers]
    try:
        await stop.wait()
        group.draining = True
        for worker in group.workers:
            if worker.process.pid is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        listener = group.config.listener
        bound = listener.drain_delay_s + listener.shutdown_grace_s + _KILL_AFTER_S
        _, late = await asyncio.wait(watchers, timeout=bound)
        for worker in group.workers:
            if worker.process.is_alive():
                log.error("worker %d did not stop within %.0f s: killed", worker.index, bound)
                worker.process.kill()
        if late:
            await asyncio.wait(late)
    finally:
        for worker in group.workers:
            if worker.session is not None:
                await worker.session.close()
        await runner.cleanup()
