"""The same hostile probes through Debian nginx (``proxy_buffering off``) and through the sidecar:
where nginx is the reference, the status codes agree and neither forwards anything."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench import nginx
from tests.conftest import StartSidecar
from tests.hostile.raw import exchange, free_port, recording_upstream, status_of

PROBES = {
    "Transfer-Encoding: gzip, chunked": (
        b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    ),
    "Transfer-Encoding: identity, chunked": (
        b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    ),
    "HTTP/2.0 request line": b"GET /v1/models HTTP/2.0\r\nHost: a\r\n\r\n",
    "Content-Length 1 GiB, no body": (
        b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\n"
    ),
    "Content-Length 1 GiB, Expect: 100-continue": (
        b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n"
        b"Expect: 100-continue\r\n\r\n"
    ),
    "Content-Length and Transfer-Encoding": (
        b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    ),
}


@asynccontextmanager
async def nginx_in_front(upstream_url: str, prefix: Path) -> AsyncIterator[str]:
    binary = nginx.nginx_binary()
    assert binary is not None, "nginx is missing: make test installs it (scripts/e2e-deps.sh)"
    port = free_port()
    upstream_port = int(upstream_url.rsplit(":", 1)[1])
    config = nginx.write_config(prefix, listen_port=port, upstream_port=upstream_port)
    process = await asyncio.create_subprocess_exec(
        *nginx.argv(binary, prefix, config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


async def test_hostile_probes_match_nginx(start_sidecar: StartSidecar, tmp_path: Path) -> None:
    async with recording_upstream() as (url, recorded):
        sidecar = await start_sidecar(url)
        async with nginx_in_front(url, tmp_path / "nginx") as front:
            through_nginx = {
                name: status_of(await exchange(front, probe, timeout_s=5)) for name, probe in PROBES.items()
            }
        through_sidecar = {
            name: status_of(await exchange(sidecar.url, probe, timeout_s=5)) for name, probe in PROBES.items()
        }
    print(f"\nnginx: {through_nginx}\nsidecar: {through_sidecar}")
    assert through_sidecar == through_nginx
    assert recorded.connections == []
