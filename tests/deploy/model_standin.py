"""A model server stand-in for the rollout test: OpenAI-style SSE chat streams of CHUNKS chunks,
one every INTERVAL seconds. On SIGTERM it does what a model server must do in Kubernetes: stop
accepting, finish the streams in flight, exit 0 (aiohttp's graceful shutdown).

Usage: python model_standin.py PORT CHUNKS INTERVAL
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web


def main() -> None:
    port, chunks, interval = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(chunks):
            delta = {"choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}]}
            await response.write(b"data: " + json.dumps({"model": "m", **delta}).encode() + b"\n\n")
            await asyncio.sleep(interval)
        done = {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(b"data: " + json.dumps(done).encode() + b"\n\ndata: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None, shutdown_timeout=120)


if __name__ == "__main__":
    main()
