"""The proxy handler: one request in, the same bytes out, telemetry on the side.

Order per chunk: take the time, write to the client, then feed the tap. Decoding never delays a byte.
The body itself is copied by ``body.copy_body`` (from the upstream socket's data callback).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sidecar import _json
from sidecar.genai.include_usage import INJECTABLE, UsageChunkFilter, add_include_usage
from sidecar.genai.observations import RequestInfo
from sidecar.genai.registry import JSON_ARRAY_STREAMS, Selection, select_dialect
from sidecar.proxy.body import copy_body
from sidecar.proxy.headers import (
    client_response_headers,
    skipped_auto_headers,
    upstream_request_headers,
)
from sidecar.proxy.response import PassThroughResponse
from sidecar.proxy.state import STATE, ProxyState
from sidecar.proxy.tap import StreamTap
from sidecar.telemetry.recorder import StreamRecorder
from sidecar.wire.decoder import decoder_for, media_type
from sidecar.wire.jsonbody import JSONBodyDecoder

#: ``error.type`` values the proxy itself reports (the recorder adds HTTP status codes and stream errors).
CONNECTION_ERROR = "connection_error"
TIMEOUT = "timeout"
UPSTREAM_DISCONNECTED = "upstream_disconnected"
CLIENT_CANCEL = "client_cancel"
SHUTDOWN = "shutdown"
INTERNAL_ERROR = "internal_error"

_LARGE_BODY = 1024 * 1024
_RETRYABLE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


def error_response(status: int, error_type: str, message: str) -> web.Response:
    """A JSON error the proxy itself produced: ``{"error": {"type": ..., "message": ...}}``."""
    body = _json.dumps({"error": {"type": error_type, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")


def _refuse(recorder: StreamRecorder, status: int, error_type: str, message: str) -> web.Response:
    """Answer a request the proxy will not forward, and record it as such."""
    recorder.finish(time.perf_counter(), status=status, response_bytes=0)
    return error_response(status, error_type, message)


async def proxy(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    t0 = time.perf_counter()
    telemetry = state.telemetry
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        recorder = telemetry.start(request=None, method=request.method, headers=request.headers, t0=t0)
        limit = state.config.listener.max_body_bytes
        message = f"request body exceeds listener.max_body_bytes ({limit} bytes)"
        return _refuse(recorder, 413, "request_too_large", message)
    selection = _select(state, request, body)
    info = _parse_request(state, selection, request.path, body)
    body, strip_usage = _inject_usage(state, selection, info, body)
    recorder = telemetry.start(request=info, method=request.method, headers=request.headers, t0=t0)
    state.in_flight += 1
    try:
        return await _forward(state, request, body, selection, info, recorder, strip_usage)
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


def _inject_usage(
    state: ProxyState, selection: Selection | None, info: RequestInfo | None, body: bytes
) -> tuple[bytes, bool]:
    """With ``genai.inject_include_usage``, ask an OpenAI-format stream for usage the client did not
    ask for; the returned flag says the extra usage chunk must be removed from the response."""
    if (
        not state.config.genai.inject_include_usage
        or selection is None
        or info is None
        or not info.stream
        or info.include_usage
        or selection.dialect.name not in INJECTABLE
    ):
        return body, False
    rewritten = add_include_usage(body)
    return (body, False) if rewritten is None else (rewritten, True)


def _select(state: ProxyState, request: web.Request, body: bytes) -> Selection | None:
    if not body:
        return None
    provider = state.config.genai.provider or None
    return select_dialect(request.method, request.path, state.routes, default_provider=provider)


def _parse_request(
    state: ProxyState, selection: Selection | None, path: str, body: bytes
) -> RequestInfo | None:
    if selection is None:
        return None
    try:
        return selection.dialect.parse_request(path, body, selection.provider)
    except Exception:  # a dialect bug must not fail the request: forward it, measure HTTP only
        state.telemetry.tap_error("request_parse")
        return None


async def _forward(
    state: ProxyState,
    request: web.Request,
    body: bytes,
    selection: Selection | None,
    info: RequestInfo | None,
    recorder: StreamRecorder,
    strip_usage: bool,
) -> web.StreamResponse:
    raw_path = request.raw_path
    if not raw_path.startswith("/"):  # absolute-form targets never choose the upstream
        return _refuse(recorder, 400, "bad_request", "request target must be a path")
    if state.upstream.path not in ("", "/") and _has_dot_segments(request.path):
        # The upstream URL's path is a boundary: ``..`` must not step out of it.
        return _refuse(recorder, 400, "bad_request", "request path must not contain '.' or '..' segments")
    headers = upstream_request_headers(
        request.headers,
        upstream_host=state.upstream_host_header,
        client_ip=request.remote,
        scheme=request.scheme,
    )
    recorder.inject(headers)
    if strip_usage:
        # The usage chunk is removed from the bytes, which needs them uncompressed.
        headers["Accept-Encoding"] = "identity"
    url = URL(str(state.upstream) + raw_path, encoded=True)
    try:
        upstream = await _send(state, request.method, url, headers, body, request)
    except aiohttp.ClientConnectorError as e:
        recorder.fail(CONNECTION_ERROR, time.perf_counter(), status=502)
        reason = e.os_error.strerror or type(e.os_error).__name__
        return error_response(
            502, "upstream_unreachable", f"cannot connect to upstream {state.upstream_origin}: {reason}"
        )
    except TimeoutError:
        recorder.fail(TIMEOUT, time.perf_counter(), status=504)
        return error_response(
            504, "upstream_timeout", f"upstream {state.upstream_origin} did not answer in time"
        )
    except aiohttp.ClientError as e:
        # The message names the kind of failure and the configured origin only: an exception's
        # text can quote the request URL, its headers or raw upstream bytes.
        recorder.fail(CONNECTION_ERROR, time.perf_counter(), status=502)
        return error_response(
            502, "upstream_error", f"upstream {state.upstream_origin} failed: {type(e).__name__}"
        )
    try:
        return await _stream(state, request, upstream, selection, info, recorder, strip_usage)
    finally:
        upstream.release()


async def _send(
    state: ProxyState,
    method: str,
    url: URL,
    headers: CIMultiDict[str],
    body: bytes,
    request: web.Request,
) -> aiohttp.ClientResponse:
    """Send upstream over the pool; a pooled connection the server already closed is retried once,
    on a fresh connection, because no response byte has been received yet."""
    assert state.session is not None
    assert state.fresh_session is not None
    skip = skipped_auto_headers(request.headers)
    try:
        return await state.session.request(
            method, url, headers=headers, data=_payload(body), allow_redirects=False, skip_auto_headers=skip
        )
    except aiohttp.ClientConnectorError:
        raise
    except _RETRYABLE:
        return await state.fresh_session.request(
            method, url, headers=headers, data=_payload(body), allow_redirects=False, skip_auto_headers=skip
        )


def _has_dot_segments(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


def _payload(body: bytes) -> bytes | io.BytesIO | None:
    """Large bodies go out as a stream so that one write does not hold the event loop."""
    if not body:
        return None
    return io.BytesIO(body) if len(body) > _LARGE_BODY else body


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
        recorder.fail(CLIENT_CANCEL, time.perf_counter(), status=upstream.status)
        return response
    except asyncio.CancelledError:
        upstream.close()
        recorder.fail(_cancelled(state), time.perf_counter(), status=upstream.status)
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
