"""CPU time and memory of a process (and its children) read from ``/proc``."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid``, in seconds (resolution: one clock tick)."""
    fields = _stat_fields(pid)
    # Fields after the name start at 3 (state); utime is field 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (e.g. nginx's worker processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and its direct children."""
    return [pid, *children(pid)]


def tree_cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_seconds(p) for p in pids)


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    rss_bytes: int
    """VmRSS: resident now."""
    hwm_bytes: int
    """VmHWM: the resident peak since the process started."""


def memory(pid: int) -> Memory:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024  # kB
    return Memory(rss_bytes=values["VmRSS"], hwm_bytes=values["VmHWM"])


def tree_rss(pids: list[int]) -> int:
    return sum(memory(p).rss_bytes for p in pids)


class RssSampler:
    """Samples the summed VmRSS of ``pids`` every ``interval_s`` until stopped; keeps the peak."""

    def __init__(self, pids: list[int], interval_s: float = 0.02, max_s: float = 600.0) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.max_s = max_s
        self.peak_bytes = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        try:
            rss = tree_rss(self.pids)
        except (OSError, KeyError):
            return
        self.samples += 1
        self.peak_bytes = max(self.peak_bytes, rss)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_s
        while loop.time() < deadline:
            self._sample()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._sample()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> int:
        """Stop sampling (one last sample first); return the peak in bytes."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._sample()
        return self.peak_bytes


def pin(pids: list[int], cpus: set[int]) -> None:
    """Restrict every thread of every process in ``pids`` to ``cpus`` (new threads inherit it)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except (ProcessLookupError, PermissionError):
                continue
