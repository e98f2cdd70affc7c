"""Child processes of the benchmark: started in their own session, always stopped and reaped.

Each child gets its own process group, so stopping it also stops what it forked (nginx's workers).
``Processes.stop_all()`` runs on every exit path, Ctrl-C and errors included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

STOP_TIMEOUT_S = 10.0
"""How long a child may take to exit after SIGTERM before its group gets SIGKILL."""


class StartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM to the child's group, then SIGKILL if it has not exited in ``timeout_s``."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout_s)
        # Whatever is left in the group (a worker that outlived its master) goes too.
        _signal_group(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=timeout_s)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Processes:
    """The children started so far; ``stop_all()`` stops them newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        log = self.log_dir / f"{name}.log"
        full_env = {**os.environ, **(env or {})}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
            )
        child = Child(name=name, proc=proc, log=log)
        self._children.append(child)
        return child

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        while self._children:
            self._children.pop().stop()


async def wait_for_port(child: Child, port: int, timeout_s: float = 20.0) -> None:
    """Until something accepts TCP connections on 127.0.0.1:``port``; fail if ``child`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise StartError(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise StartError(f"{child.name} did not listen on port {port} in {timeout_s:.0f}s:\n{child.log_tail()}")


async def wait_for_http(child: Child, url: str, timeout_s: float = 20.0) -> None:
    """Until ``GET url`` answers 200; fail if ``child`` exits."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if not child.alive():
                raise StartError(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
    raise StartError(f"{child.name}: {url} did not answer 200 in {timeout_s:.0f}s:\n{child.log_tail()}")
