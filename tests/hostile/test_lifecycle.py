"""Shutdown and stream ends: a cut at drain + grace, a second signal, and a stream complete at its
terminal event whatever the client or the chunked terminator do after it."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from opentelemetry.trace import StatusCode

from tests.conftest import StartSidecar
from tests.hostile.raw import read_request, recording_upstream, sidecar_process

SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _endless_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray
) -> None:
    await read_request(reader, record)
    writer.write(SSE_HEAD)
    while True:
        writer.write(_chunk(b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'))
        await writer.drain()
        await asyncio.sleep(0.1)


async def _open_stream(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"model":"m","stream":true,"messages":[]}'
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def _until_closed(reader: asyncio.StreamReader, timeout_s: float) -> float:
    """Seconds until the server closes the stream (monotonic)."""
    async with asyncio.timeout(timeout_s):
        while await reader.read(65536):
            pass
    return time.monotonic()


async def test_in_flight_stream_is_cut_at_drain_plus_grace(tmp_path: Path) -> None:
    drain, grace = 1.0, 4.0
    env = {"SIDECAR_LISTENER__DRAIN_DELAY_S": str(drain), "SIDECAR_LISTENER__SHUTDOWN_GRACE_S": str(grace)}
    async with (
        recording_upstream(_endless_stream) as (url, _),
        sidecar_process(url, tmp_path, env=env) as sidecar,
    ):
        reader, writer = await _open_stream(sidecar.url)
        t0 = time.monotonic()
        sidecar.signal(signal.SIGTERM)
        cut_at = await _until_closed(reader, 30)
        writer.close()
        code = await asyncio.wait_for(sidecar.process.wait(), 30)
    elapsed = cut_at - t0
    print(f"\ncut {elapsed:.2f} s after SIGTERM (drain {drain} + grace {grace})")
    assert code == 0
    assert elapsed >= drain + grace - 0.5
    # aiohttp's own shutdown waited the grace twice (drain + 2 x grace = 9 s).
    assert elapsed < drain + 1.5 * grace


async def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    env = {"SIDECAR_LISTENER__SHUTDOWN_GRACE_S": "60"}
    async with (
        recording_upstream(_endless_stream) as (url, _),
        sidecar_process(url, tmp_path, env=env) as sidecar,
    ):
        _, writer = await _open_stream(sidecar.url)
        sidecar.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        sidecar.signal(signal.SIGINT)
        code = await asyncio.wait_for(sidecar.process.wait(), 30)
        elapsed = time.monotonic() - t0
        writer.close()
    print(f"\nexited {elapsed:.2f} s after the second signal (grace 60 s)")
    assert code == 0
    assert elapsed < 15


async def test_stream_past_its_terminal_event_is_complete(start_sidecar: StartSidecar) -> None:
    """The client stops reading at ``[DONE]`` and closes; the upstream sends the chunked terminator
    a second later. The call is complete, not ``client_cancel``."""

    async def late_terminator(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray
    ) -> None:
        await read_request(reader, record)
        writer.write(SSE_HEAD)
        writer.write(_chunk(b'data: {"choices":[{"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'))
        writer.write(_chunk(b"data: [DONE]\n\n"))
        await writer.drain()
        await asyncio.sleep(1.0)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with recording_upstream(late_terminator) as (url, _):
        sidecar = await start_sidecar(url)
        reader, writer = await _open_stream(sidecar.url)
        await reader.readuntil(b"data: [DONE]\n\n\r\n")
        writer.close()
        for _ in range(100):
            if sidecar.sink.spans.get_finished_spans():
                break
            await asyncio.sleep(0.05)
    (span,) = sidecar.sink.spans.get_finished_spans()
    assert span.status.status_code != StatusCode.ERROR
    assert "error.type" not in (span.attributes or {})
    assert span.attributes is not None
    assert span.attributes.get("gen_ai.response.finish_reasons") == ("stop",)
