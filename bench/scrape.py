"""Scrape the sidecar's Prometheus endpoint while it carries load, as a Prometheus server would."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

TTFC_COUNT = "gen_ai_client_operation_time_to_first_chunk_seconds_count"
"""The sample that counts streams whose time to first chunk the sidecar recorded (v1.41 names)."""


def sample_total(exposition: str, name: str) -> float:
    """Sum of every sample of ``name`` (all label sets) in a Prometheus text exposition."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def fetch_metrics(admin_url: str) -> str:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession() as session, session.get(admin_url + "/metrics", timeout=timeout) as r:
        r.raise_for_status()
        return await r.text()


class Scraper:
    """GET ``/metrics`` every ``interval_s`` until stopped (bounded by ``max_scrapes``)."""

    def __init__(self, admin_url: str, interval_s: float, max_scrapes: int = 1000) -> None:
        self.admin_url = admin_url
        self.interval_s = interval_s
        self.max_scrapes = max_scrapes
        self.scrapes = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        for _ in range(self.max_scrapes):
            await asyncio.sleep(self.interval_s)
            try:
                await fetch_metrics(self.admin_url)
                self.scrapes += 1
            except (aiohttp.ClientError, TimeoutError):
                self.failures += 1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
