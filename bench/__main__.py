"""``python -m bench [--quick]``: run the benchmark, print the table, write bench/results/latest.md."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import resource
import signal
import sys
from pathlib import Path
from types import FrameType

from bench.runner import run
from bench.settings import FULL, QUICK

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="one short round (about a minute)")
    p.add_argument("--rounds", type=int, help="latency rounds (default 3, --quick 1)")
    p.add_argument("--duration-s", type=float, help="recorded seconds per target per round")
    p.add_argument("--concurrency", type=int, help="concurrent paced streams (default 100)")
    p.add_argument(
        "--burst",
        action="store_true",
        help="start all paced streams at once, so requests arrive in bursts (default: staggered)",
    )
    p.add_argument(
        "--pin", action="store_true", help="run the proxies on the last CPU and the rest on the others"
    )
    p.add_argument(
        "--sidecar-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the sidecar, e.g. OTEL_SDK_DISABLED=true (repeatable)",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help=f"Markdown report (default {RESULTS})")
    return p


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _raise_fd_limit(wanted: int = 20_000) -> None:
    """1,000 streams through a proxy need ~2,000 descriptors in it; children inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.rounds is not None:
        settings = dataclasses.replace(settings, rounds=max(1, args.rounds))
    if args.duration_s is not None:
        settings = dataclasses.replace(settings, duration_s=max(1.0, args.duration_s))
    if args.concurrency is not None:
        latency = dataclasses.replace(settings.latency, concurrency=max(1, args.concurrency))
        settings = dataclasses.replace(settings, latency=latency)
    pairs = []
    for item in args.sidecar_env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _parser().error(f"--sidecar-env wants KEY=VALUE, got {item!r}")
        pairs.append((key, value))
    settings = dataclasses.replace(settings, pin=args.pin, burst=args.burst, sidecar_env=tuple(pairs))
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    signal.signal(signal.SIGTERM, _raise_interrupt)
    _raise_fd_limit()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        report = asyncio.run(run(settings, command=command, log=log))
    except KeyboardInterrupt:
        print("bench: interrupted; every server was stopped", file=sys.stderr)
        return 130
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"bench: written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
