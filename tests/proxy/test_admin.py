"""/metrics: one render shared by concurrent scrapes, a bound on concurrent scrapes, never stale."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sidecar.proxy.admin import EXPOSITION, MAX_SCRAPES, Exposition, metrics
from sidecar.simulator.server import RunningSimulator
from tests.conftest import StartSidecar
from tests.proxy.upstreams import serve_app


class GatedRender:
    """A render that runs on a real thread and finishes only when the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls = 0

    def render(self) -> tuple[bytes, str]:
        self.calls += 1
        number = self.calls
        self.gate.wait(30)
        return f"render {number}\n".encode(), "text/plain"

    async def __call__(self) -> tuple[bytes, str]:
        return await asyncio.to_thread(self.render)


async def test_concurrent_scrapes_share_one_render() -> None:
    gated = GatedRender()
    exposition = Exposition(gated, interval_s=0.0)
    scrapes = [asyncio.ensure_future(exposition.get()) for _ in range(16)]
    while gated.calls == 0:  # noqa: ASYNC110 - polling a thread's counter
        await asyncio.sleep(0.01)
    late = asyncio.ensure_future(exposition.get())  # arrives while the first render runs
    gated.gate.set()
    results = await asyncio.gather(*scrapes)
    assert {body for body, _ in results} == {b"render 1\n"}
    assert (await late)[0] == b"render 2\n", "a scrape never gets a render that started before it"
    assert exposition.renders == 2


async def test_scrapes_beyond_the_bound_get_429() -> None:
    gated = GatedRender()
    app = web.Application()
    app[EXPOSITION] = Exposition(gated, interval_s=0.0)
    app.router.add_get("/metrics", metrics)
    async with serve_app(app) as url, aiohttp.ClientSession() as client:
        waiting = [asyncio.ensure_future(client.get(f"{url}/metrics")) for _ in range(MAX_SCRAPES)]
        while app[EXPOSITION].active < MAX_SCRAPES:  # noqa: ASYNC110 - polling the server's counter
            await asyncio.sleep(0.01)
        async with client.get(f"{url}/metrics") as refused:
            assert refused.status == 429
            assert refused.headers["Retry-After"] == "1"
        gated.gate.set()
        for response in await asyncio.gather(*waiting):
            assert response.status == 200
            assert await response.read() == b"render 1\n"
            response.release()
    assert gated.calls == 1


async def test_a_scrape_sees_every_request_finished_before_it(
    simulator: RunningSimulator, start_sidecar: StartSidecar
) -> None:
    sidecar = await start_sidecar(simulator.url)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    name = "gen_ai_client_operation_duration_seconds"
    async with aiohttp.ClientSession() as client:
        counts = []
        for _ in range(3):
            async with client.post(f"{sidecar.url}/v1/chat/completions", json=body) as r:
                await r.read()
            async with client.get(f"{sidecar.admin_url}/metrics") as m:
                text = await m.text()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            counts.append(sum(s.value for s in families[name].samples if s.name == f"{name}_count"))
    assert counts == [1, 2, 3]
