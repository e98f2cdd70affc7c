"""The proxy handler: one request in, the same bytes out, telemetry on the side.

Order per chunk: take the time, write to the client, then feed the tap. Decoding never delays a byte.
The body itself is copied by ``body.copy_body`` (from the upstream socket's data callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Final

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sidecar import _json
from sidecar.genai.include_usage import UsageChunkFilter
from sidecar.genai.observations import RequestInfo
from sidecar.genai.provider import LLAMA_CPP, is_llamacpp_server
from sidecar.genai.registry import JSON_ARRAY_STREAMS, Selection, select_dialect
from sidecar.proxy.body import copy_body
from sidecar.proxy.checks import check_head
from sidecar.proxy.client import CheckedResponse, PoolExhausted, send
from sidecar.proxy.headers import (
    client_response_headers,
    skipped_auto_headers,
    upstream_head_problem,
    upstream_request_headers,
)
from sidecar.proxy.request_body import BodyError, RequestBody
from sidecar.proxy.response import PassThroughResponse
from sidecar.proxy.state import STATE, ProxyState
from sidecar.proxy.tap import StreamTap
from sidecar.proxy.upstream_log import UPSTREAM_WARNINGS
from sidecar.proxy.usage_injection import REJECTED, Injection, unmodified_headers
from sidecar.telemetry.recorder import StreamRecorder
from sidecar.wire.decoder import decoder_for, media_type
from sidecar.wire.jsonbody import JSONBodyDecoder

log = logging.getLogger(__name__)

#: ``error.type`` values the proxy itself reports (the recorder adds HTTP status codes and stream errors).
CONNECTION_ERROR = "connection_error"
TIMEOUT = "timeout"
UPSTREAM_DISCONNECTED = "upstream_disconnected"
CLIENT_CANCEL = "client_cancel"
SHUTDOWN = "shutdown"
INTERNAL_ERROR = "internal_error"

UPSTREAM_INVALID = "upstream_invalid_response"
#: Request bodies up to this size are parsed on the loop (well under a millisecond).
_PARSE_INLINE_BYTES = 64 * 1024
POOL_EXHAUSTED = "upstream_pool_exhausted"


def error_response(status: int, error_type: str, message: str) -> web.Response:
    """A JSON error the proxy itself produced: ``{"error": {"type": ..., "message": ...}}``."""
    body = _json.dumps({"error": {"type": error_type, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")


def _refuse(recorder: StreamRecorder, status: int, error_type: str, message: str) -> web.Response:
    """Answer a request the proxy will not forward, record it as such, and close the connection
    (the rest of a refused body is never read)."""
    recorder.finish(time.perf_counter(), status=status, response_bytes=0)
    response = error_response(status, error_type, message)
    response.force_close()
    return response


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue``: say ``100 Continue`` only to a request that will be forwarded."""
    state = request.app[STATE]
    refusal = check_head(request, max_body_bytes=state.config.listener.max_body_bytes)
    if refusal is not None:
        recorder = _start_plain(state, request)
        return _refuse(recorder, refusal.status, refusal.error_type, refusal.message)
    if request.version == aiohttp.HttpVersion11:
        if request.headers.get("Expect", "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text="only Expect: 100-continue is understood")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not started
    return None


def _start_plain(state: ProxyState, request: web.Request) -> StreamRecorder:
    return state.telemetry.start(
        request=None, method=request.method, headers=request.headers, t0=time.perf_counter()
    )


async def proxy(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    t0 = time.perf_counter()
    telemetry = state.telemetry
    refusal = check_head(request, max_body_bytes=state.config.listener.max_body_bytes)
    if refusal is not None:
        recorder = telemetry.start(request=None, method=request.method, headers=request.headers, t0=t0)
        return _refuse(recorder, refusal.status, refusal.error_type, refusal.message)
    body = RequestBody(request, state.body_limits, state.budget)
    try:
        return await _proxy(state, request, body, t0)
    finally:
        body.release()


async def _proxy(state: ProxyState, request: web.Request, body: RequestBody, t0: float) -> web.StreamResponse:
    telemetry = state.telemetry
    try:
        await body.read_head()
    except BodyError as e:
        recorder = telemetry.start(request=None, method=request.method, headers=request.headers, t0=t0)
        return _refuse(recorder, e.status, e.error_type, e.message)
    data = body.for_parsing()
    selection = _select(state, request, data)
    info = await _parse_request(state, selection, request.path, data)
    injection = None if data is None else state.usage.prepare(selection, info, request.path, data)
    if injection is not None and info is not None:
        body.replace(injection.body)
        info = dataclasses.replace(info, include_usage=True, usage_requested=True)
    recorder = telemetry.start(request=info, method=request.method, headers=request.headers, t0=t0)
    state.in_flight += 1
    try:
        return await _forward(state, request, body, selection, info, recorder, injection)
    except asyncio.CancelledError:
        # The client left (or shutdown's grace ran out) before the response was complete.
        recorder.fail(_cancelled(state), time.perf_counter())
        raise
    except Exception:
        recorder.fail(INTERNAL_ERROR, time.perf_counter())
        raise
    finally:
        state.in_flight -= 1


def _cancelled(state: ProxyState) -> str:
    return SHUTDOWN if state.draining else CLIENT_CANCEL


def _select(state: ProxyState, request: web.Request, body: bytes | None) -> Selection | None:
    """The dialect for a body that may be parsed (held whole, under ``listener.max_parse_bytes``)."""
    if not body:
        return None
    provider = state.config.genai.provider or None
    return select_dialect(
        request.method,
        request.path,
        state.routes,
        default_provider=provider,
        body=body,
        upstream_path=state.upstream.path,
        inferred_provider=state.provider.name,
    )


async def _parse_request(
    state: ProxyState, selection: Selection | None, path: str, body: bytes | None
) -> RequestInfo | None:
    """The request's GenAI facts. A body over ``_PARSE_INLINE_BYTES`` is parsed on a thread: the
    dialect's walk over its messages then shares the interpreter with the loop instead of holding it
    (bodies over ``listener.max_parse_bytes`` are never parsed at all)."""
    if selection is None or body is None:
        return None
    try:
        if len(body) <= _PARSE_INLINE_BYTES:
            return selection.dialect.parse_request(path, body, selection.provider)
        return await asyncio.to_thread(selection.dialect.parse_request, path, body, selection.provider)
    except Exception:  # a dialect bug must not fail the request: forward it, measure HTTP only
        state.telemetry.tap_error("request_parse")
        return None


async def _forward(
    state: ProxyState,
    request: web.Request,
    body: RequestBody,
    selection: Selection | None,
    info: RequestInfo | None,
    recorder: StreamRecorder,
    injection: Injection | None,
) -> web.StreamResponse:
    raw_path = request.raw_path
    if state.upstream.path not in ("", "/") and _has_dot_segments(request.path):
        # The upstream URL's path is a boundary: ``..`` must not step out of it.
        return _refuse(recorder, 400, "bad_request", "request path must not contain '.' or '..' segments")
    headers = upstream_request_headers(
        request.headers,
        upstream_host=state.upstream_host_header,
        client_ip=request.remote,
        scheme=request.scheme,
    )
    if not body.whole and request.content_length is not None:
        # A streamed body keeps the client's framing: the length it declared.
        headers["Content-Length"] = str(request.content_length)
    recorder.inject(headers)
    if injection is not None:
        # The usage chunk is removed from the bytes, which needs them uncompressed.
        headers["Accept-Encoding"] = "identity"
    url = URL(str(state.upstream) + raw_path, encoded=True)
    origin = state.upstream_origin
    try:
        upstream = await _send(state, request, url, headers, body)
        if injection is not None and upstream.status in REJECTED:
            upstream = await _resend_unmodified(state, request, url, headers, body, upstream, injection)
            injection = None
    except PoolExhausted:
        recorder.fail(POOL_EXHAUSTED, time.perf_counter(), status=503)
        limit = state.config.upstream.max_connections
        return error_response(
            503, POOL_EXHAUSTED, f"all {limit} upstream connections (upstream.max_connections) are busy"
        )
    except aiohttp.ClientConnectorError as e:
        recorder.fail(CONNECTION_ERROR, time.perf_counter(), status=502)
        reason = e.os_error.strerror or type(e.os_error).__name__
        UPSTREAM_WARNINGS.warn("upstream_unreachable", origin, reason)
        return error_response(502, "upstream_unreachable", f"cannot connect to upstream {origin}: {reason}")
    except TimeoutError:
        if body.error is not None:
            return _refuse(recorder, body.error.status, body.error.error_type, body.error.message)
        recorder.fail(TIMEOUT, time.perf_counter(), status=504)
        UPSTREAM_WARNINGS.warn("upstream_timeout", origin, "no answer in time")
        return error_response(504, "upstream_timeout", f"upstream {origin} did not answer in time")
    except aiohttp.ClientError as e:
        if body.error is not None:  # the client's side of the body failed, not the upstream
            return _refuse(recorder, body.error.status, body.error.error_type, body.error.message)
        # The message names the kind of failure and the configured origin only: an exception's
        # text can quote the request URL, its headers or raw upstream bytes.
        kind = UPSTREAM_DISCONNECTED if isinstance(e, aiohttp.ServerDisconnectedError) else CONNECTION_ERROR
        recorder.fail(kind, time.perf_counter(), status=502)
        UPSTREAM_WARNINGS.warn(kind, origin, type(e).__name__)
        return error_response(502, "upstream_error", f"upstream {origin} failed: {type(e).__name__}")
    _not_pooled_after_a_stream(upstream, state.config.genai.provider or state.provider.name or "")
    try:
        problem = _head_problem(upstream)
        if problem is not None:
            upstream.close()
            recorder.fail(UPSTREAM_INVALID, time.perf_counter(), status=502)
            return error_response(502, UPSTREAM_INVALID, f"upstream {origin} sent an {problem}")
        response = await _stream(state, request, upstream, selection, info, recorder, injection is not None)
        if info is not None and not state.config.genai.provider:
            _learn_provider(state, recorder, upstream.headers.get("Server"))
        if injection is not None and recorder.call.server_timing_report() is not None:
            # llama.cpp: its timings carry the counts unasked, and asking moves them off the
            # client's last chunk. Stop asking there.
            state.usage.counts_unasked(injection)
        return response
    finally:
        upstream.release()


def _learn_provider(state: ProxyState, recorder: StreamRecorder, server: str | None) -> None:
    """Remember the provider this call's response revealed, for the calls that start after it
    (this one keeps the label it started with, in every metric and on its span)."""
    name = state.provider.learn(recorder.call, server)
    if name is not None:
        log.info(
            "the upstream's responses say it is %s: GenAI calls from now on are labelled "
            "gen_ai.provider.name=%s (set genai.provider to name it from the first call)",
            name,
            name,
        )


#: Response media types that a model server streams.
_STREAMED_TYPES: Final = frozenset({"text/event-stream", "application/x-ndjson"})


def _not_pooled_after_a_stream(upstream: aiohttp.ClientResponse, provider: str) -> None:
    """Close llama.cpp's upstream connection after a streamed response instead of pooling it.

    llama.cpp's server answers a stream with ``Keep-Alive: timeout=5`` and then closes the
    connection 0.3-2.5 s after the stream ended, without saying so. A pooled connection reused
    in that window fails after the next request was written, and a written POST is never sent
    again (``client.py``). So when the response head says ``Server: llama.cpp`` (or the provider,
    configured or inferred, is ``llama_cpp``), a streamed response's connection is closed when its
    body ends. Every other server keeps its connections pooled: a new upstream connection per
    stream took 8% of the proxy loop's busy time at 100 streams (BENCHMARKS.md). aiohttp returns
    a connection to its pool as the body ends, so this is decided at the response head.
    """
    if provider != LLAMA_CPP and not is_llamacpp_server(upstream.headers.get("Server")):
        return
    if media_type(upstream.headers.get("Content-Type")) in _STREAMED_TYPES:
        connection = upstream.connection
        if connection is not None and connection.protocol is not None:
            connection.protocol.force_close()


async def _send(
    state: ProxyState, request: web.Request, url: URL, headers: CIMultiDict[str], body: RequestBody
) -> aiohttp.ClientResponse:
    assert state.session is not None
    assert state.fresh_session is not None
    return await send(
        state.session,
        state.fresh_session,
        method=request.method,
        url=url,
        headers=headers,
        body=body,
        skip_auto_headers=skipped_auto_headers(request.headers),
    )


async def _resend_unmodified(
    state: ProxyState,
    request: web.Request,
    url: URL,
    headers: CIMultiDict[str],
    body: RequestBody,
    refused: aiohttp.ClientResponse,
    injection: Injection,
) -> aiohttp.ClientResponse:
    """The upstream rejected the request with ``include_usage`` added, before any byte reached
    the client: send the client's own request once more; its answer is the client's."""
    refused.close()
    body.replace(injection.original)
    upstream = await _send(state, request, url, unmodified_headers(headers, request.headers), body)
    if state.usage.refused(injection, upstream.status):
        state.telemetry.usage_injection_refused()
    return upstream


def _head_problem(upstream: aiohttp.ClientResponse) -> str | None:
    if isinstance(upstream, CheckedResponse) and upstream.folded:
        return "invalid header (line folding)"
    return upstream_head_problem(upstream.status, upstream.raw_headers)


def _has_dot_segments(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


async def _stream(
    state: ProxyState,
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    selection: Selection | None,
    info: RequestInfo | None,
    recorder: StreamRecorder,
    strip_usage: bool,
) -> web.StreamResponse:
    recorder.response_started(upstream.status, time.perf_counter())
    tap = _make_tap(state, upstream, selection, info, recorder)
    headers = client_response_headers(upstream.headers)
    usage_filter = None
    if (
        strip_usage
        and media_type(upstream.headers.get("Content-Type")) == "text/event-stream"
        and upstream.headers.get("Content-Encoding", "identity").lower() == "identity"
    ):
        usage_filter = UsageChunkFilter()
        headers.popall("Content-Length", None)
    response = PassThroughResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    sent = 0
    try:
        await response.prepare(request)
        sent = await copy_body(
            request,
            response,
            upstream,
            transform=None if usage_filter is None else usage_filter.feed,
            observe=None if tap is None else tap.feed,
        )
        if usage_filter is not None and (rest := usage_filter.close()):
            await response.write(rest)
            sent += len(rest)
    except ConnectionResetError:
        # The client went away: stop reading the upstream at once and drop its connection.
        upstream.close()
        _end_early(recorder, tap, CLIENT_CANCEL, upstream.status, sent)
        return response
    except asyncio.CancelledError:
        upstream.close()
        _end_early(recorder, tap, _cancelled(state), upstream.status, sent)
        raise
    except (aiohttp.ClientError, TimeoutError) as e:
        # The upstream died or stalled mid-body: end the client's response the same way (cut, not ended).
        t = time.perf_counter()
        if tap is not None:
            tap.close(t)
        recorder.fail(
            TIMEOUT if isinstance(e, TimeoutError) else UPSTREAM_DISCONNECTED, t, status=upstream.status
        )
        upstream.close()
        if request.transport is not None:
            request.transport.close()
        return response
    t_end = time.perf_counter()
    if tap is not None:
        tap.close(t_end)
    # A client that stops reading at the terminal event (the openai SDK at ``[DONE]``) may close
    # before the chunked-encoding terminator: the body itself was delivered whole.
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    recorder.finish(time.perf_counter(), status=upstream.status, response_bytes=sent)
    return response


def _end_early(
    recorder: StreamRecorder, tap: StreamTap | None, error_type: str, status: int, sent: int
) -> None:
    """The copy loop stopped before the upstream body ended. A stream whose terminal event already
    arrived (``[DONE]``, ``message_stop``, ``done: true``) is complete: only the chunked terminator
    was missing (the client stopped reading at the event, or the upstream sent the end late)."""
    t = time.perf_counter()
    if tap is not None and tap.complete:
        tap.close(t)
        recorder.finish(t, status=status, response_bytes=sent)
    else:
        recorder.fail(error_type, t, status=status)


def _make_tap(
    state: ProxyState,
    upstream: aiohttp.ClientResponse,
    selection: Selection | None,
    info: RequestInfo | None,
    recorder: StreamRecorder,
) -> StreamTap | None:
    if selection is None or info is None:
        return None
    if upstream.headers.get("Content-Encoding", "identity").lower() != "identity":
        state.telemetry.tap_error("compressed_body")
        return None
    genai = state.config.genai
    decoder = decoder_for(
        upstream.headers.get("Content-Type"),
        max_line_bytes=genai.max_line_bytes,
        max_event_bytes=genai.max_event_bytes,
        stream_hint=info.stream and selection.dialect.name in JSON_ARRAY_STREAMS,
    )
    if decoder is None:
        return None
    streaming = not isinstance(decoder, JSONBodyDecoder)
    observer = selection.dialect.observer(info, streaming=streaming, accumulator=recorder.call)
    return StreamTap(decoder, observer, recorder, state.telemetry)
