"""Hostile clients and upstreams, on raw sockets: the upstream receives exactly what the client sent,
or the client gets a 4xx/5xx and the upstream nothing."""

from __future__ import annotations

import asyncio
import gzip
import os

from tests.conftest import StartSidecar
from tests.hostile.raw import (
    Recorded,
    answer,
    body_of,
    exchange,
    head_of,
    read_request,
    recording_upstream,
    status_of,
)


def _only_request(recorded: Recorded) -> bytes:
    requests = recorded.requests()
    assert len(requests) == 1, requests
    return requests[0]


async def test_gzip_request_body_passes_compressed(start_sidecar: StartSidecar) -> None:
    body = gzip.compress(b'{"model":"m","prompt":"' + b"x" * 30_000_000 + b'"}')
    assert len(body) < 64 * 1024  # 30 MB of text, tens of KB on the wire
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        request = (
            b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        ) + body
        response = await exchange(sidecar.url, request)
    assert status_of(response) == 200
    received = _only_request(recorded)
    assert received.endswith(b"\r\n\r\n" + body)
    assert b"\r\nContent-Encoding: gzip\r\n" in received
    assert b"\r\nContent-Length: %d\r\n" % len(body) in received


async def test_post_read_then_dropped_is_never_sent_twice(start_sidecar: StartSidecar) -> None:
    async def read_and_drop(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray
    ) -> None:
        await read_request(reader, record)  # read the POST whole, then close without a word

    async with recording_upstream(read_and_drop) as (url, recorded):
        sidecar = await start_sidecar(url)
        request = (
            b"POST /v1/chat/completions?key=SECRETQUERY HTTP/1.1\r\nHost: a\r\n"
            b"Authorization: Bearer SECRET\r\n"
            b'Content-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{"model":"m"}'
        )
        response = await exchange(sidecar.url, request)
    assert len(recorded.requests()) == 1, "a POST the upstream read must reach it exactly once"
    assert status_of(response) == 502
    body = body_of(response)
    assert b'"upstream_error"' in body
    assert url.encode() in body  # the configured origin, and nothing of the request
    for secret in (b"SECRET", b"key=", b"Authorization", b"chat/completions"):
        assert secret not in body


async def test_header_bytes_that_are_not_utf8_are_refused(start_sidecar: StartSidecar) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        bad = await exchange(
            sidecar.url, b"GET /v1/models HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc\xffdef\r\n\r\n"
        )
        good = await exchange(
            sidecar.url,
            b"GET /v1/models HTTP/1.1\r\nHost: a\r\nX-User: caf\xc3\xa9\r\nConnection: close\r\n\r\n",
        )
    assert status_of(bad) == 400
    assert b"Authorization is not valid UTF-8" in body_of(bad)
    assert b"abc" not in body_of(bad)
    assert status_of(good) == 200
    received = _only_request(recorded)  # only the valid one arrived, its bytes unchanged
    assert b"\r\nX-User: caf\xc3\xa9\r\n" in received


async def test_no_content_type_is_invented(start_sidecar: StartSidecar) -> None:
    bare = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    async with recording_upstream(answer(bare)) as (url, recorded):
        sidecar = await start_sidecar(url)
        response = await exchange(
            sidecar.url,
            b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
    received = _only_request(recorded)
    assert b"content-type" not in received.lower()
    assert status_of(response) == 200
    assert b"content-type" not in head_of(response).lower()
    assert b"\r\nserver:" not in head_of(response).lower()
    assert body_of(response) == b"hello"


async def test_unknown_transfer_coding_gets_501(start_sidecar: StartSidecar) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        statuses = []
        for coding in (b"gzip, chunked", b"identity, chunked"):
            response = await exchange(
                sidecar.url,
                b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                + coding
                + b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            )
            statuses.append(status_of(response))
    assert statuses == [501, 501]
    assert recorded.connections == []


async def test_declared_length_over_the_limit_gets_413_at_once(start_sidecar: StartSidecar) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        head = b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n"
        plain = await exchange(sidecar.url, head + b"\r\n", timeout_s=5)
        expecting = await exchange(sidecar.url, head + b"Expect: 100-continue\r\n\r\n", timeout_s=5)
    assert status_of(plain) == 413
    assert status_of(expecting) == 413, "no 100 Continue for a body that will be refused"
    assert b"100 Continue" not in expecting
    assert recorded.connections == []


async def test_expect_continue_within_the_limit_is_forwarded(start_sidecar: StartSidecar) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        host, port = sidecar.url.split("//")[1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\n\r\n"
        )
        interim = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"{}")
        final = await reader.read()
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert status_of(final) == 200
    received = _only_request(recorded)
    assert received.endswith(b"\r\n\r\n{}")
    assert b"expect:" not in received.lower()


async def test_http2_and_http09_request_lines_are_refused(start_sidecar: StartSidecar) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        h2 = await exchange(sidecar.url, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
        h09 = await exchange(sidecar.url, b"GET / HTTP/0.9\r\nHost: a\r\n\r\n")
        simple = await exchange(sidecar.url, b"GET /\r\n\r\n")
    assert b" 505 " in h2.split(b"\r\n", 1)[0]
    assert b" 400 " in h09.split(b"\r\n", 1)[0]
    assert b" 400 " in simple.split(b"\r\n", 1)[0]
    assert recorded.connections == []


async def test_upstream_protocol_violations_give_502(start_sidecar: StartSidecar) -> None:
    heads = {
        "status 999": b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
        "status 099": b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
        "unrequested 101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
        "control char": b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n",
        "DEL": b"HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n",
    }
    got = {}
    for name, head in heads.items():
        async with recording_upstream(answer(head)) as (url, _):
            sidecar = await start_sidecar(url)
            response = await exchange(sidecar.url, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            got[name] = (status_of(response), b"upstream_invalid_response" in body_of(response))
    assert got == dict.fromkeys(heads, (502, True))


async def test_forwarding_headers_are_appended_and_host_validated(start_sidecar: StartSidecar) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        ok = await exchange(
            sidecar.url,
            b"GET /v1/models HTTP/1.1\r\nHost: front.example:8080\r\nX-Forwarded-For: 203.0.113.9\r\n"
            b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: api.example\r\nForwarded: for=203.0.113.9\r\n"
            b"Connection: close\r\n\r\n",
        )
        bad = await exchange(
            sidecar.url,
            b"GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Forwarded-Host: evil.example/<script>\r\n\r\n",
        )
    assert status_of(ok) == 200
    assert status_of(bad) == 400
    assert b"X-Forwarded-Host is not a valid host" in body_of(bad)
    received = _only_request(recorded).decode()
    assert "\r\nX-Forwarded-For: 203.0.113.9, 127.0.0.1\r\n" in received
    assert "\r\nX-Forwarded-Proto: https, http\r\n" in received
    assert "\r\nX-Forwarded-Host: api.example, front.example:8080\r\n" in received
    assert (
        '\r\nForwarded: for=203.0.113.9, for=127.0.0.1;host="front.example:8080";proto=http\r\n' in received
    )


async def test_request_body_streams_with_its_own_framing(start_sidecar: StartSidecar) -> None:
    """Over the parse cap, a body is streamed: same bytes, same framing, any size."""
    body = os.urandom(3 * 1024 * 1024)
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url, listener={"max_parse_bytes": 65536})
        response = await exchange(
            sidecar.url,
            b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % len(body)
            + body,
        )
    assert status_of(response) == 200
    received = _only_request(recorded)
    assert received.endswith(b"\r\n\r\n" + body)
    assert b"\r\nContent-Length: %d\r\n" % len(body) in received
