"""Command line: the only module that calls ``sys.exit`` (through ``main``'s return code)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from sidecar import __version__, _json
from sidecar.config import Config, ConfigError, as_dict, load_config

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genai-sidecar",
        description="Streaming reverse proxy that turns LLM traffic into OpenTelemetry GenAI telemetry.",
    )
    parser.add_argument("--version", action="version", version=f"genai-sidecar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="proxy the upstream model server")
    run.add_argument("--config", metavar="FILE", help="TOML config file (or SIDECAR_CONFIG)")
    run.add_argument("--upstream", metavar="URL", help="model server base URL (upstream.url)")
    run.add_argument("--listen", metavar="HOST:PORT", help="proxy listener (listener.address)")
    run.add_argument("--admin-listen", metavar="HOST:PORT", help="admin listener (listener.admin_address)")

    check = sub.add_parser("check-config", help="validate a config file and print the effective config")
    check.add_argument("file", metavar="FILE")

    demo = sub.add_parser("demo", help="simulator + sidecar + labelled traffic, with a live summary")
    demo.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)"
    )
    demo.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="run only this scenario (normal, expensive, low_quality, errors, no_usage); repeatable",
    )
    demo.add_argument("--rate", type=float, default=2.0, help="requests per second per scenario (default 2)")
    demo.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT")
    demo.add_argument("--admin-listen", default="127.0.0.1:9464", metavar="HOST:PORT")

    sim = sub.add_parser("simulate", help="run the built-in simulated model server")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=11434)

    # Kubernetes: `inject` (YAML streams, Helm post-renderer) and `webhook` (admission webhook).
    from sidecar.k8s.commands import add_subcommands

    add_subcommands(sub)
    return parser


def _load(args: argparse.Namespace, path: str | None) -> Config:
    overrides = {
        "upstream.url": getattr(args, "upstream", None),
        "listener.address": getattr(args, "listen", None),
        "listener.admin_address": getattr(args, "admin_listen", None),
    }
    config = load_config(path, environ=os.environ, overrides=overrides)
    # The OTEL_* environment is part of the effective configuration: check it here too, so that
    # check-config catches what `run` would stop on.
    from sidecar.telemetry.settings import resolve

    exporters = config.exporters
    resolve(config.telemetry, exporters.otlp, exporters.prometheus, os.environ)
    # So are the HMAC key and the price file.
    from sidecar.telemetry.cost import PriceTable
    from sidecar.telemetry.identity import load_key

    load_key(config.telemetry.identity, os.environ)
    if config.telemetry.cost.prices:
        PriceTable.load(config.telemetry.cost.prices)
    return config


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _demo(args: argparse.Namespace) -> int:
    from sidecar.demo.processes import DemoStartError
    from sidecar.demo.runner import pick, run_demo
    from sidecar.demo.traffic import MissingSDK, check_sdks

    if args.rate <= 0:
        raise ConfigError("--rate", f"must be greater than 0, got {args.rate}")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration", f"must be greater than 0, got {args.duration}")
    try:
        pick(args.scenario)
    except ValueError as e:
        raise ConfigError("--scenario", str(e)) from None
    try:
        check_sdks()
    except MissingSDK as e:
        print(f"genai-sidecar demo: {e}", file=sys.stderr)
        return 1
    _setup_logging("warning")
    _install_uvloop()
    try:
        asyncio.run(
            run_demo(
                out=sys.stdout,
                duration_s=args.duration,
                scenarios=args.scenario,
                rate=args.rate,
                listen=args.listen,
                admin_listen=args.admin_listen,
            )
        )
    except DemoStartError as e:
        print(f"genai-sidecar demo: cannot start: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return EXIT_CONFIG
    try:
        if args.command == "check-config":
            config = _load(args, args.file)
            sys.stdout.buffer.write(_json.dumps(as_dict(config)) + b"\n")
            return 0
        if args.command == "simulate":
            from sidecar.simulator.server import run_simulator

            _setup_logging("info")
            _install_uvloop()
            run_simulator(args.host, args.port)
            return 0
        if args.command == "demo":
            return _demo(args)
        if args.command in ("inject", "webhook"):
            from sidecar.k8s.commands import run_command

            return run_command(args)
        config = _load(args, args.config)
    except ConfigError as e:
        print(f"genai-sidecar: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    from sidecar.proxy.server import serve

    _setup_logging(config.logging.level)
    _install_uvloop()
    try:
        asyncio.run(serve(config))
    except ConfigError as e:
        print(f"genai-sidecar: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:
        print(f"genai-sidecar: cannot start: {e}", file=sys.stderr)
        return 1
    return 0
