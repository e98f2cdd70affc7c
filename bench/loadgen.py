"""The load client, run as its own process: ``python -m bench.loadgen --mode ... --out FILE``.

It measures at the client what a user of the stream feels: time to the first content chunk of each
stream (from just before the request is sent) and the gaps between content chunks, and counts every
SSE event it receives. Results go to ``--out`` as one JSON object (see :func:`bench.client.run_loadgen`).

Modes:
- ``paced``: ``--concurrency`` workers each run streams back to back, first for ``--warmup-s``
  (counted only in the totals), then for ``--duration-s`` (recorded). Workers start staggered over
  one stream's length (at most the warm-up), so requests arrive evenly; ``--burst`` starts them
  all at once, so they stay in step and every request arrives in a burst of ``--concurrency``.
- ``hold``: ``--concurrency`` streams opened at once, each run once (the 1,000-stream memory test).
- ``bytes``: one ``GET /sim/bytes`` of ``--bytes`` bytes, read and dropped (the 256 MiB test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

CHAT_PATH = "/v1/chat/completions"
MAX_STREAMS_PER_WORKER = 10_000
"""A bound on the paced loop whatever the timings (a stream takes at least one round trip)."""


@dataclass(slots=True)
class Record:
    """What every stream of this process observed."""

    ttfc_s: list[float] = field(default_factory=list)
    gaps_s: list[float] = field(default_factory=list)
    events_total: int = 0
    """SSE events received, warm-up included (the CPU-per-chunk denominator)."""
    events: int = 0
    """SSE events received by recorded streams."""
    content_chunks: int = 0
    streams_ok: int = 0
    """Streams that delivered content, warm-up included."""
    streams_recorded: int = 0
    streams_total: int = 0
    bytes_total: int = 0
    open_now: int = 0
    max_open: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def as_json(self, elapsed_s: float) -> dict[str, object]:
        return {
            "ttfc_s": self.ttfc_s,
            "gaps_s": self.gaps_s,
            "events_total": self.events_total,
            "events": self.events,
            "content_chunks": self.content_chunks,
            "streams_ok": self.streams_ok,
            "streams_recorded": self.streams_recorded,
            "streams_total": self.streams_total,
            "bytes_total": self.bytes_total,
            "max_open": self.max_open,
            "errors": dict(self.errors),
            "elapsed_s": elapsed_s,
        }


def has_content(event: bytes) -> bool:
    """Whether one SSE event of an OpenAI chat stream carries output text (not the role-only chunk,
    the finish chunk, the usage chunk or ``[DONE]``)."""
    for line in event.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]" or b'"content"' not in data:
            return False
        try:
            choices = orjson.loads(data).get("choices") or []
        except orjson.JSONDecodeError:
            return False
        return any((c.get("delta") or {}).get("content") for c in choices)
    return False


def chat_request(*, ttfc_ms: float, itl_ms: float, tokens: int) -> tuple[bytes, dict[str, str]]:
    body = {
        "model": "sim-model",
        "messages": [{"role": "user", "content": "Say something for the benchmark."}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {
        "Content-Type": "application/json",
        "x-sim-ttfc-ms": str(ttfc_ms),
        "x-sim-itl-ms": str(itl_ms),
        "x-sim-tokens": str(tokens),
    }
    return orjson.dumps(body), headers


async def one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], rec: Record, keep: bool
) -> None:
    """One streamed chat completion; ``keep`` records its timings (warm-up streams only count)."""
    rec.streams_total += 1
    t0 = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                rec.errors[f"http_{resp.status}"] += 1
                await resp.read()
                return
            rec.open_now += 1
            rec.max_open = max(rec.max_open, rec.open_now)
            try:
                await _read_events(resp, t0, rec, keep)
            finally:
                rec.open_now -= 1
    except (aiohttp.ClientError, TimeoutError) as e:
        rec.errors[type(e).__name__] += 1


async def _read_events(resp: aiohttp.ClientResponse, t0: float, rec: Record, keep: bool) -> None:
    pending = b""
    first: float | None = None
    last = 0.0
    ttfc: float | None = None
    gaps: list[float] = []
    events = 0
    async for chunk in resp.content.iter_any():
        t = time.perf_counter()
        rec.bytes_total += len(chunk)
        pending += chunk
        while (end := pending.find(b"\n\n")) >= 0:
            event, pending = pending[:end], pending[end + 2 :]
            events += 1
            if not has_content(event):
                continue
            if first is None:
                first = t
                ttfc = t - t0
            else:
                gaps.append(t - last)
            last = t
    rec.events_total += events
    if ttfc is None:
        rec.errors["no_content"] += 1
        return
    rec.streams_ok += 1
    if keep:
        rec.streams_recorded += 1
        rec.events += events
        rec.content_chunks += len(gaps) + 1
        rec.ttfc_s.append(ttfc)
        rec.gaps_s.extend(gaps)


def _session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)


async def paced(args: argparse.Namespace, rec: Record) -> None:
    body, headers = chat_request(ttfc_ms=args.ttfc_ms, itl_ms=args.itl_ms, tokens=args.tokens)
    url = args.url + CHAT_PATH
    start = time.monotonic()
    warm_until = start + args.warmup_s
    stop_at = warm_until + args.duration_s

    # Staggered starts spread the requests evenly over one stream's length, as steady traffic
    # arrives; with --burst every worker starts at once and stays in step (requests in bursts).
    spread_s = 0.0 if args.burst else min((args.ttfc_ms + args.tokens * args.itl_ms) / 1e3, args.warmup_s)

    async def worker(session: aiohttp.ClientSession, index: int) -> None:
        await asyncio.sleep(spread_s * index / args.concurrency)
        for _ in range(MAX_STREAMS_PER_WORKER):
            now = time.monotonic()
            if now >= stop_at:
                return
            await one_stream(session, url, body, headers, rec, keep=now >= warm_until)

    async with _session(args.concurrency) as session:
        await asyncio.gather(*(worker(session, i) for i in range(args.concurrency)))


async def hold(args: argparse.Namespace, rec: Record) -> None:
    body, headers = chat_request(ttfc_ms=args.ttfc_ms, itl_ms=args.itl_ms, tokens=args.tokens)
    url = args.url + CHAT_PATH
    async with _session(args.concurrency) as session:
        await asyncio.gather(
            *(one_stream(session, url, body, headers, rec, keep=True) for _ in range(args.concurrency))
        )


async def read_bytes(args: argparse.Namespace, rec: Record) -> None:
    url = f"{args.url}/sim/bytes?n={args.bytes}&chunk={args.chunk}"
    rec.streams_total += 1
    async with _session(1) as session, session.get(url) as resp:
        if resp.status != 200:
            rec.errors[f"http_{resp.status}"] += 1
            return
        async for chunk in resp.content.iter_any():
            rec.bytes_total += len(chunk)
    if rec.bytes_total == args.bytes:
        rec.streams_ok += 1
    else:
        rec.errors["short_body"] += 1


MODES = {"paced": paced, "hold": hold, "bytes": read_bytes}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=sorted(MODES), required=True)
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--out", required=True, type=Path, help="where to write the JSON result")
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--duration-s", type=float, default=10.0)
    p.add_argument("--warmup-s", type=float, default=2.0)
    p.add_argument("--burst", action="store_true", help="paced: start every worker at once")
    p.add_argument("--ttfc-ms", type=float, default=100.0)
    p.add_argument("--itl-ms", type=float, default=20.0)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--bytes", type=int, default=256 * 1024 * 1024)
    p.add_argument("--chunk", type=int, default=65536)
    p.add_argument("--limit-s", type=float, default=300.0, help="hard limit on the whole run")
    p.add_argument("--cpus", help="comma-separated CPUs this process may run on (default: any)")
    return p


async def _main(args: argparse.Namespace) -> dict[str, object]:
    rec = Record()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(args.limit_s):
            await MODES[args.mode](args, rec)
    except TimeoutError:
        rec.errors["run_time_limit"] += 1
    return rec.as_json(time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    result = asyncio.run(_main(args))
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
