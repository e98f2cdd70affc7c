"""Run :mod:`bench.loadgen` in its own process and read back what it measured."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(slots=True, kw_only=True)
class LoadResult:
    """One load-client run (or several merged): raw samples in seconds, counts."""

    ttfc_s: list[float] = field(default_factory=list)
    gaps_s: list[float] = field(default_factory=list)
    events_total: int = 0
    events: int = 0
    content_chunks: int = 0
    streams_ok: int = 0
    streams_recorded: int = 0
    streams_total: int = 0
    bytes_total: int = 0
    max_open: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.ttfc_s += other.ttfc_s
        self.gaps_s += other.gaps_s
        self.events_total += other.events_total
        self.events += other.events
        self.content_chunks += other.content_chunks
        self.streams_ok += other.streams_ok
        self.streams_recorded += other.streams_recorded
        self.streams_total += other.streams_total
        self.bytes_total += other.bytes_total
        self.max_open = max(self.max_open, other.max_open)
        for name, count in other.errors.items():
            self.errors[name] = self.errors.get(name, 0) + count
        self.elapsed_s += other.elapsed_s

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class LoadgenError(RuntimeError):
    """The load client failed or produced no result."""


async def run_loadgen(args: list[str], *, limit_s: float) -> LoadResult:
    """Run ``python -m bench.loadgen ARGS`` from the repository root and return its result.

    The client gets ``limit_s`` for its own work and is killed a little after that.
    """
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "bench.loadgen", *args, "--out", str(out), "--limit-s", str(limit_s)]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=REPO_ROOT
        )
        try:
            async with asyncio.timeout(limit_s + 30):
                _, stderr = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0 or not out.exists():
            tail = stderr.decode(errors="replace")[-2000:]
            raise LoadgenError(f"load client exited with {proc.returncode}:\n{tail}")
        raw = json.loads(out.read_text())
    return LoadResult(**raw)
