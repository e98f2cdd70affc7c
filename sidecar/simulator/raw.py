"""Raw routes for proxy tests: ``GET /sim/bytes``, ``POST /sim/echo``, ``GET /sim/requests``."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Final

from aiohttp import web

from sidecar import _json
from sidecar.simulator.controls import BODY_BYTES_HEADER
from sidecar.simulator.keys import STATE_KEY
from sidecar.simulator.pacing import sleep_until
from sidecar.simulator.rawbytes import iter_pseudorandom

ECHO_HEADERS_HEADER: Final = "x-sim-echo-headers"
"""Response header of ``/sim/echo``: the request headers as a JSON object (ASCII-escaped)."""
DEFAULT_CHUNK_BYTES: Final = 64 * 1024


def ascii_json(obj: object) -> str:
    """Compact JSON with every non-ASCII character escaped, so it fits in an HTTP header."""
    text = _json.dumps_str(obj)
    if text.isascii():
        return text
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code < 0x80:
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    return "".join(out)


def header_summary(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased header names to values; repeated headers joined with ``", "``."""
    summary: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        summary[key] = f"{summary[key]}, {value}" if key in summary else value
    return summary


def _int_param(request: web.Request, name: str, default: int, minimum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None
    if value < minimum:
        raise web.HTTPBadRequest(text=f"{name} must be >= {minimum}")
    return value


async def stream_bytes(request: web.Request) -> web.StreamResponse:
    """``GET /sim/bytes?n=N&chunk=K&delay_ms=D&seed=S&chunked=0|1``.

    Streams ``n`` (or the ``x-sim-body-bytes`` header) pseudorandom bytes in ``chunk``-byte writes,
    ``delay_ms`` apart, as ``application/octet-stream``: with ``Content-Length`` by default, chunked
    when ``chunked=1``.
    """
    header_n = request.headers.get(BODY_BYTES_HEADER)
    default_n = int(header_n) if header_n and header_n.isdigit() else 0
    n = _int_param(request, "n", default_n, 0)
    chunk = _int_param(request, "chunk", DEFAULT_CHUNK_BYTES, 1)
    delay_s = _int_param(request, "delay_ms", 0, 0) / 1000.0
    seed = _int_param(request, "seed", 0, 0)
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    if request.query.get("chunked") == "1":
        resp.enable_chunked_encoding()
    else:
        resp.content_length = n
    await resp.prepare(request)
    state = request.app[STATE_KEY]
    state.active_streams += 1
    try:
        start = time.monotonic()
        for index, data in enumerate(iter_pseudorandom(n, chunk, seed)):
            if delay_s and index:
                await sleep_until(start + index * delay_s)
            await resp.write(data)
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away
    finally:
        state.active_streams -= 1
        state.completed_streams += 1
    return resp


async def echo(request: web.Request) -> web.StreamResponse:
    """``POST /sim/echo``: the request body back, and the request headers in a response header.

    With ``?format=json`` the body is a JSON summary instead: method, path, query, headers,
    body size and SHA-256.
    """
    body = await request.read()
    headers = header_summary(request.headers.items())
    if request.query.get("format") == "json":
        summary = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": headers,
            "body_size": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return web.Response(body=_json.dumps(summary), headers={"Content-Type": "application/json"})
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return web.Response(
        body=body,
        headers={"Content-Type": content_type, ECHO_HEADERS_HEADER: ascii_json(headers)},
    )


async def recent_requests(request: web.Request) -> web.Response:
    """``GET /sim/requests``: the recorded requests, oldest first, and the stream counters."""
    state = request.app[STATE_KEY]
    payload = {
        "active_streams": state.active_streams,
        "completed_streams": state.completed_streams,
        "requests": [
            {
                "method": r.method,
                "path": r.path,
                "query": r.query_string,
                "headers": header_summary(r.headers),
                "body_size": r.body_size,
            }
            for r in state.requests
        ],
    }
    return web.Response(body=_json.dumps(payload), headers={"Content-Type": "application/json"})
