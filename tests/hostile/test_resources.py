"""Bounded resources: connections, time, memory and the event loop, whatever the clients do.

The process-level figures (file descriptors, RSS) come from ``genai-sidecar run`` as a child process
(``/proc/PID``); the rest from a sidecar in this process. Each case is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import aiohttp
import orjson

from tests.conftest import StartSidecar
from tests.hostile.raw import (
    answer,
    body_of,
    exchange,
    read_request,
    recording_upstream,
    sidecar_process,
    status_of,
)


async def _closed_by_server(reader: asyncio.StreamReader, timeout_s: float) -> bytes | None:
    """What the server sent before it closed the connection; None if it kept it open."""
    got = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await reader.read(65536):
                got += chunk
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return bytes(got)


async def test_flood_of_slow_silent_idle_connections_is_bounded(tmp_path: Path) -> None:
    """320 hostile connections at a 256-descriptor limit: /healthz keeps answering, the cap turns
    the excess away with 503, the timeouts close the rest, and the descriptors come back."""
    env = {
        "SIDECAR_LISTENER__HEADER_TIMEOUT_S": "2",
        "SIDECAR_LISTENER__BODY_TIMEOUT_S": "2",
        "SIDECAR_LISTENER__KEEPALIVE_TIMEOUT_S": "2",
    }
    async with (
        recording_upstream() as (url, _),
        sidecar_process(url, tmp_path, env=env, nofile=256) as sidecar,
    ):
        fds_before = sidecar.fds()
        host, port = "127.0.0.1", int(sidecar.url.rsplit(":", 1)[1])
        kinds = ("silent", "slowloris", "idle", "slow_body")
        conns: list[tuple[str, asyncio.StreamReader, asyncio.StreamWriter]] = []
        for i in range(320):
            reader, writer = await asyncio.open_connection(host, port)
            kind = kinds[i % 4]
            if kind == "slowloris":
                writer.write(b"GET /v1/models HTTP/1.1\r\nHost: a\r\nX-")
            elif kind == "idle":
                writer.write(b"GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n")
            elif kind == "slow_body":
                writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{")
            conns.append((kind, reader, writer))
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as client, client.get(f"{sidecar.admin_url}/healthz") as r:
            healthz_during = r.status
        fds_during = sidecar.fds()
        results = await asyncio.gather(*(_closed_by_server(r, 15) for _, r, _ in conns))
        for _, _, writer in conns:
            writer.close()
        await asyncio.sleep(0.5)
        fds_after = sidecar.fds()
        real = await exchange(sidecar.url, b"GET /v1/models HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        async with aiohttp.ClientSession() as client, client.get(f"{sidecar.admin_url}/metrics") as r:
            metrics = await r.text()
    turned_away = sum(1 for r in results if r is not None and r.startswith(b"HTTP/1.1 503 "))
    print(f"\nflood: fds before {fds_before}, during {fds_during}, after {fds_after}; 503 {turned_away}/320")
    assert healthz_during == 200
    assert all(r is not None for r in results), "every hostile connection is closed by the sidecar"
    assert turned_away > 0
    assert fds_during < 256
    assert fds_after <= fds_before + 4
    assert status_of(real) == 200
    assert 'reason="too_many_connections"' in metrics
    assert 'reason="header_timeout"' in metrics


async def test_slow_request_body_gets_408(start_sidecar: StartSidecar) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url, listener={"body_timeout_s": 0.5})
        response = await exchange(
            sidecar.url,
            b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{",
            timeout_s=10,
        )
    assert status_of(response) == 408
    assert b'"request_timeout"' in body_of(response)
    assert recorded.connections == []


async def test_concurrent_large_uploads_keep_memory_bounded(tmp_path: Path) -> None:
    """Eight 31 MiB uploads at once are streamed: RSS grows by far less than their size, and the
    upstream receives every byte (compared by SHA-256)."""
    size = 31 * 1024 * 1024
    payload = os.urandom(size)
    digests: list[str] = []

    async def hash_body(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(
                b":"
            )[1]
        )
        digest = hashlib.sha256()
        left = length
        while left:
            chunk = await reader.read(min(left, 1 << 20))
            digest.update(chunk)
            left -= len(chunk)
        digests.append(digest.hexdigest())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()

    async def upload(url: str) -> int:
        host, port = url.split("//")[1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size
        )
        view = memoryview(payload)
        for i in range(0, size, 1 << 20):
            writer.write(view[i : i + (1 << 20)])
            await writer.drain()
        response = await reader.read()
        writer.close()
        return status_of(response)

    async with recording_upstream(hash_body) as (url, _), sidecar_process(url, tmp_path) as sidecar:
        rss_before = sidecar.rss_kib()
        statuses = await asyncio.gather(*(upload(sidecar.url) for _ in range(8)))
        peak = sidecar.peak_rss_kib()
        rss_after = sidecar.rss_kib()
    expected = hashlib.sha256(payload).hexdigest()
    print(f"\nuploads: RSS before {rss_before} KiB, peak {peak} KiB, after {rss_after} KiB")
    assert statuses == [200] * 8
    assert digests == [expected] * 8
    assert peak - rss_before < 48 * 1024, "eight 31 MiB bodies must not be held (248 MiB)"


async def test_body_over_the_parse_cap_is_not_parsed(start_sidecar: StartSidecar) -> None:
    """The loop never parses more than ``max_parse_bytes``: a larger body is forwarded unparsed
    (HTTP telemetry only), a smaller one gets its GenAI span."""
    small = orjson.dumps({"model": "small-model", "messages": [{"role": "user", "content": "hi"}]})
    # Over 64 KiB and under the cap: parsed on a thread.
    medium = orjson.dumps({"model": "medium-model", "messages": [{"role": "user", "content": "x" * 100_000}]})
    large = orjson.dumps({"model": "large-model", "messages": [{"role": "user", "content": "x" * 300_000}]})
    async with recording_upstream(answer()) as (url, recorded):
        sidecar = await start_sidecar(url, listener={"max_parse_bytes": 200_000})
        async with aiohttp.ClientSession() as client:
            for body in (small, medium, large):
                async with client.post(f"{sidecar.url}/v1/chat/completions", data=body) as r:
                    assert r.status == 200
    names = [span.name for span in sidecar.sink.spans.get_finished_spans()]
    assert names == ["chat small-model", "chat medium-model"]
    received = recorded.requests()
    assert len(received) == 3
    assert all(r.endswith(b"\r\n\r\n" + b) for r, b in zip(received, (small, medium, large), strict=True))


async def test_pool_exhaustion_is_503_not_a_timeout(start_sidecar: StartSidecar) -> None:
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray) -> None:
        await read_request(reader, record)
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with recording_upstream(hold) as (url, _):
        sidecar = await start_sidecar(url, upstream={"max_connections": 1, "connect_timeout_s": 0.5})
        first = asyncio.create_task(
            exchange(sidecar.url, b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        )
        await asyncio.sleep(0.3)
        second = await exchange(sidecar.url, b"GET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        release.set()
        first_response = await first
    assert status_of(second) == 503
    assert b'"upstream_pool_exhausted"' in body_of(second)
    assert status_of(first_response) == 200


async def test_malformed_requests_are_one_debug_line_and_counted(tmp_path: Path) -> None:
    bad = (
        b"GET /v1/models?key=QUERYSECRET HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer HEADERSECRET\r\n"
        b"x-api-key: APIKEYSECRET\r\nBad Header: \x01\r\n\r\n"
    )
    async with recording_upstream() as (url, recorded), sidecar_process(url, tmp_path) as sidecar:
        lines_before = len(sidecar.stderr().splitlines())
        sem = asyncio.Semaphore(50)

        async def one() -> int:
            async with sem:
                return status_of(await exchange(sidecar.url, bad))

        statuses = await asyncio.gather(*(one() for _ in range(1000)))
        async with aiohttp.ClientSession() as client, client.get(f"{sidecar.admin_url}/metrics") as r:
            metrics = await r.text()
        stderr = sidecar.stderr()
    new_lines = len(stderr.splitlines()) - lines_before
    print(f"\n1000 malformed requests: {new_lines} new log lines")
    assert statuses == [400] * 1000
    assert new_lines == 0
    for secret in ("QUERYSECRET", "HEADERSECRET", "APIKEYSECRET"):
        assert secret not in stderr
    count = [
        line
        for line in metrics.splitlines()
        if line.startswith("genai_sidecar_requests_rejected_total") and 'reason="malformed_request"' in line
    ]
    assert len(count) == 1
    assert float(count[0].rsplit(" ", 1)[1]) == 1000
    assert recorded.connections == []


async def test_listen_defaults_are_loopback() -> None:
    from sidecar.config import default_config

    listener = default_config().listener
    assert listener.address.startswith("127.0.0.1:")
    assert listener.admin_address.startswith("127.0.0.1:")
