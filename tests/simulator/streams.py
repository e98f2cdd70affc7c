"""Reading raw simulator streams in tests: frames, output tokens and terminal events per API."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass(frozen=True)
class Api:
    """One streaming route and how to read its frames."""

    name: str
    path: str
    body: dict[str, object]
    sse: bool

    def frames(self, raw: bytes) -> list[bytes]:
        separator = b"\n\n" if self.sse else b"\n"
        return [f for f in raw.split(separator) if f.strip()]

    def payload(self, frame: bytes) -> object:
        """The frame's JSON (raises ValueError when malformed); ``[DONE]`` as the string."""
        data = frame
        if self.sse:
            lines = [line for line in frame.split(b"\n") if line.startswith(b"data: ")]
            data = lines[0][6:]
            if data == b"[DONE]":
                return "[DONE]"
        return json.loads(data)

    def is_token(self, payload: object) -> bool:
        if not isinstance(payload, dict):
            return False
        if self.name == "openai-chat":
            choices = payload.get("choices") or [{}]
            return bool(choices[0].get("delta", {}).get("content"))
        if self.name == "openai-completions":
            choices = payload.get("choices") or [{}]
            return bool(choices[0].get("text"))
        if self.name == "openai-responses":
            return payload.get("type") == "response.output_text.delta"
        if self.name == "anthropic":
            return payload.get("type") == "content_block_delta"
        if self.name == "llamacpp":
            return payload.get("stop") is False and bool(payload.get("content"))
        message = payload.get("message") or {}
        return not payload.get("done") and bool(payload.get("response") or message.get("content"))

    def is_terminal(self, payload: object) -> bool:
        if self.name in ("openai-chat", "openai-completions"):
            return payload == "[DONE]"
        if not isinstance(payload, dict):
            return False
        if self.name == "openai-responses":
            return payload.get("type") in ("response.completed", "response.incomplete")
        if self.name == "anthropic":
            return payload.get("type") == "message_stop"
        if self.name == "llamacpp":
            return payload.get("stop") is True
        return payload.get("done") is True

    def is_error(self, payload: object) -> bool:
        return isinstance(payload, dict) and ("error" in payload or payload.get("type") == "error")


def _chat(stream: bool = True) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": "hello there"}], "stream": stream}


APIS = [
    Api("openai-chat", "/v1/chat/completions", _chat(), sse=True),
    Api("openai-completions", "/v1/completions", {"model": "m", "prompt": "hi", "stream": True}, sse=True),
    Api("openai-responses", "/v1/responses", {"model": "m", "input": "hi", "stream": True}, sse=True),
    Api("anthropic", "/v1/messages", {**_chat(), "max_tokens": 100}, sse=True),
    Api("ollama-chat", "/api/chat", _chat(), sse=False),
    Api("ollama-generate", "/api/generate", {"model": "m", "prompt": "hi"}, sse=False),
    Api("llamacpp", "/completion", {"prompt": "hi", "stream": True}, sse=True),
]


@dataclass
class Received:
    """A raw response read chunk by chunk, with arrival times."""

    status: int
    body: bytes = b""
    arrivals: list[tuple[float, bytes]] = field(default_factory=list)
    error: BaseException | None = None
    started: float = 0.0
    ended: float = 0.0


async def fetch(session: aiohttp.ClientSession, api: Api, headers: dict[str, str]) -> Received:
    """POST the API's streaming request and read until EOF or a transport error."""
    started = time.monotonic()
    async with session.post(api.path, json=api.body, headers=headers) as resp:
        received = Received(status=resp.status, started=started)
        try:
            async for chunk in resp.content.iter_any():
                received.arrivals.append((time.monotonic(), chunk))
                received.body += chunk
        except aiohttp.ClientPayloadError as exc:
            received.error = exc
        received.ended = time.monotonic()
    return received


def token_times(api: Api, received: Received) -> list[float]:
    """Arrival time of each output token: when the read that completed its frame arrived."""
    separator = b"\n\n" if api.sse else b"\n"
    pending = b""
    times: list[float] = []
    for arrived, chunk in received.arrivals:
        pending += chunk
        *complete, pending = pending.split(separator)
        for frame in complete:
            if frame.strip() and api.is_token(api.payload(frame)):
                times.append(arrived)
    return times
