"""A bare aiohttp pass-through, the copy loop alone: ``python -m bench.passthrough --body MODE ...``.

No telemetry, no decoding, no request parsing: read the request, send it upstream over a pooled
keep-alive session, copy status and end-to-end headers, then copy the body with:

- ``iter_any``: ``async for chunk in upstream.content.iter_any(): await response.write(chunk)``,
  the textbook aiohttp loop (and the sidecar's loop before ``proxy/body.py``);
- ``pump``: ``sidecar.proxy.body.copy_body``, the sidecar's own body path.

The sidecar with full telemetry minus the ``pump`` figure is what telemetry and the request side cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import aiohttp
from aiohttp import web

from sidecar.proxy.body import copy_body
from sidecar.proxy.headers import client_response_headers

STATE: web.AppKey[dict[str, object]] = web.AppKey("state", dict)
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length"})


async def _handle(request: web.Request) -> web.StreamResponse:
    session = request.app[STATE]["session"]
    assert isinstance(session, aiohttp.ClientSession)
    upstream_url = request.app[STATE]["upstream"]
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
    async with session.request(
        request.method, f"{upstream_url}{request.raw_path}", data=body or None, headers=headers
    ) as upstream:
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=client_response_headers(upstream.headers)
        )
        await response.prepare(request)
        if request.app[STATE]["body"] == "pump":
            await copy_body(request, response, upstream, transform=None, observe=None)
        else:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        await response.write_eof()
        return response


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.passthrough", description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--body", choices=("iter_any", "pump"), default="iter_any")
    args = p.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def session_ctx(app: web.Application) -> object:
        connector = aiohttp.TCPConnector(limit=0)
        session = aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False)
        app[STATE]["session"] = session
        yield
        await session.close()

    app = web.Application()
    app[STATE] = {"upstream": args.upstream.rstrip("/"), "body": args.body}
    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", _handle)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, handler_cancellation=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
