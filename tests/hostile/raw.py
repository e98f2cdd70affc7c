"""Raw-socket tools for the hostile-client suite: a client that sends exact bytes, an upstream that
records the exact bytes it receives, and the sidecar as a separate process (for memory, file
descriptors, logs and signals)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp


async def exchange(url: str, data: bytes, *, timeout_s: float = 10.0) -> bytes:
    """Send ``data`` on a new connection, half-close nothing, read until the server closes (or
    ``timeout_s``); return every byte the server sent."""
    host, port = _host_port(url)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    out = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await reader.read(65536):
                out += chunk
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    return bytes(out)


def status_of(response: bytes) -> int:
    """The status code of the first (non-1xx unless it is the only) response in ``response``."""
    return int(response.split(b" ", 2)[1])


def head_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[0]


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def _host_port(url: str) -> tuple[str, int]:
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return host, int(port)


@dataclass
class Recorded:
    """What a recording upstream received, per connection, byte for byte."""

    connections: list[bytearray] = field(default_factory=list)

    @property
    def all_bytes(self) -> bytes:
        return b"".join(bytes(c) for c in self.connections)

    def requests(self) -> list[bytes]:
        """Each request (head + body) received, in order, split on request heads."""
        out: list[bytes] = []
        for conn in self.connections:
            data = bytes(conn)
            while data:
                head, sep, rest = data.partition(b"\r\n\r\n")
                if not sep:
                    out.append(data)
                    break
                length, chunked = _framing(head)
                if chunked:
                    end = rest.find(b"\r\n0\r\n\r\n")
                    size = end + 7 if end >= 0 else len(rest)
                else:
                    size = length
                out.append(head + sep + rest[:size])
                data = rest[size:]
        return out


def _framing(head: bytes) -> tuple[int, bool]:
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


Responder = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytearray], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader, record: bytearray) -> bytes | None:
    """Read one request (Content-Length or chunked body) into ``record``; None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        if isinstance(e, asyncio.IncompleteReadError):
            record += e.partial
        return None
    record += head
    length, chunked = _framing(head)
    body = bytearray()
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            body += size_line
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk
            if size == 0:
                break
    elif length:
        body += await reader.readexactly(length)
    record += body
    return head + bytes(body)


OK_JSON = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def answer(response: bytes = OK_JSON) -> Responder:
    """A responder answering every request on a connection with ``response``."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray) -> None:
        while await read_request(reader, record) is not None:
            writer.write(response)
            await writer.drain()

    return respond


@asynccontextmanager
async def recording_upstream(respond: Responder | None = None) -> AsyncIterator[tuple[str, Recorded]]:
    """A raw upstream on loopback recording every byte it receives; yields (url, record)."""
    recorded = Recorded()
    responder = respond or answer()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = bytearray()
        recorded.connections.append(record)
        try:
            await responder(reader, writer, record)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", recorded
    finally:
        server.close()
        await server.wait_closed()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SidecarProcess:
    process: asyncio.subprocess.Process
    url: str
    admin_url: str
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        return _status_field(self.pid, "VmRSS")

    def peak_rss_kib(self) -> int:
        return _status_field(self.pid, "VmHWM")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{name} not in /proc/{pid}/status")


@asynccontextmanager
async def sidecar_process(
    upstream_url: str,
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    nofile: int | None = None,
) -> AsyncIterator[SidecarProcess]:
    """``genai-sidecar run`` as a child process on free loopback ports, ready when /healthz answers."""
    port, admin = free_port(), free_port()
    stderr_path = tmp_path / f"sidecar-{port}.stderr"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "OTEL_"))}
    environ.update(env or {})
    cmd = [
        sys.executable,
        "-m",
        "sidecar",
        "run",
        "--upstream",
        upstream_url,
        "--listen",
        f"127.0.0.1:{port}",
        "--admin-listen",
        f"127.0.0.1:{admin}",
        *args,
    ]

    def limit() -> None:
        if nofile is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with stderr_path.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            *cmd, env=environ, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit
        )
    handle = SidecarProcess(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", stderr_path)
    try:
        await wait_healthy(handle)
        yield handle
    finally:
        if process.returncode is None:
            with suppress(ProcessLookupError):
                process.kill()
        await process.wait()


async def wait_healthy(handle: SidecarProcess, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if handle.process.returncode is not None:
                raise AssertionError(f"sidecar exited {handle.process.returncode}: {handle.stderr()}")
            with suppress(aiohttp.ClientError):
                async with client.get(f"{handle.admin_url}/healthz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError("sidecar did not become healthy")
